//! Properties of the typed readers behind the packet decoder: whatever attributes a NAS (or an
//! attacker holding its secret) puts in a well-formed packet, reading the Access-Request, its
//! proof and the accounting record, and verifying the proof against any credential, end in a
//! value or an error, never a panic.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use proptest::prelude::*;

use crate::accounting::{AccountingRecord, AcctStatusType};
use crate::attribute::Attribute;
use crate::clients::Client;
use crate::code::Code;
use crate::numbers::{attr, microsoft, mikrotik, vendor};
use crate::packet::Packet;
use crate::policy::{Check, Credential, NtHash};
use crate::request::AccessRequest;
use crate::secret::Secret;

/// The attributes the readers look at, and a few they do not.
const KINDS: &[u8] = &[
    attr::USER_NAME,
    attr::USER_PASSWORD,
    attr::CHAP_PASSWORD,
    attr::NAS_IP_ADDRESS,
    attr::SERVICE_TYPE,
    attr::FRAMED_IP_ADDRESS,
    attr::CALLED_STATION_ID,
    attr::CALLING_STATION_ID,
    attr::NAS_IDENTIFIER,
    attr::PROXY_STATE,
    attr::ACCT_STATUS_TYPE,
    attr::ACCT_DELAY_TIME,
    attr::ACCT_INPUT_OCTETS,
    attr::ACCT_OUTPUT_OCTETS,
    attr::ACCT_SESSION_ID,
    attr::ACCT_SESSION_TIME,
    attr::ACCT_TERMINATE_CAUSE,
    attr::ACCT_INPUT_GIGAWORDS,
    attr::ACCT_OUTPUT_GIGAWORDS,
    attr::CHAP_CHALLENGE,
    attr::NAS_PORT_TYPE,
    attr::EAP_MESSAGE,
    attr::NAS_PORT_ID,
    attr::NAS_IPV6_ADDRESS,
    attr::EVENT_TIMESTAMP,
    77,
];

fn attribute() -> impl Strategy<Value = Attribute> {
    let value = || prop::collection::vec(any::<u8>(), 0..70);
    prop_oneof![
        4 => (prop::sample::select(KINDS), value())
            .prop_map(|(kind, value)| Attribute::new(kind, value).expect("short value")),
        // Microsoft VSAs: MS-CHAP-Response, MS-CHAP-Challenge, MS-CHAP2-Response, others.
        2 => (
            prop::sample::select(vec![
                microsoft::MS_CHAP_RESPONSE,
                microsoft::MS_CHAP_CHALLENGE,
                microsoft::MS_CHAP2_RESPONSE,
                microsoft::MS_CHAP_ERROR,
            ]),
            value(),
        )
            .prop_map(|(kind, value)| {
                Attribute::vendor(vendor::MICROSOFT, kind, &value).expect("short value")
            }),
        1 => value().prop_map(|value| {
            Attribute::vendor(vendor::MIKROTIK, mikrotik::RATE_LIMIT, &value).expect("short value")
        }),
        // A Vendor-Specific attribute whose inside is anything.
        1 => value().prop_map(|value| {
            Attribute::new(attr::VENDOR_SPECIFIC, value).expect("short value")
        }),
    ]
}

fn packet(code: Code) -> impl Strategy<Value = Packet> {
    (
        any::<u8>(),
        any::<[u8; 16]>(),
        prop::collection::vec(attribute(), 0..14),
    )
        .prop_map(move |(identifier, authenticator, attributes)| {
            let mut packet = Packet::new(code, identifier, authenticator);
            packet.attributes = attributes;
            packet
        })
}

fn credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|p| Credential::Password(Secret::new(p))),
        ".{0,20}".prop_map(|p| Credential::Password(Secret::from(p.as_str()))),
        any::<[u8; 16]>().prop_map(|h| Credential::NtHash(NtHash(h))),
        Just(Credential::MacAuth),
        Just(Credential::UnknownUser),
    ]
}

fn source() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 3000))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_access_request_is_read_and_checked_without_a_panic(
        packet in packet(Code::AccessRequest),
        credentials in prop::collection::vec(credential(), 1..4),
        secret in prop::collection::vec(any::<u8>(), 1..30),
    ) {
        let (request, proof) = AccessRequest::from_packet(&packet, "nas1", source());
        let client = Arc::new(Client::new("nas1", Secret::new(secret)).expect("client"));
        let check = Check::new(request, proof, client, packet.authenticator);
        for credential in &credentials {
            let verification = check.verify(credential);
            // The server keeps exactly what the last check said.
            prop_assert_eq!(check.outcome().map(|o| o.verification), Some(verification));
        }
    }

    #[test]
    fn any_accounting_request_is_read_without_a_panic(packet in packet(Code::AccountingRequest)) {
        if let Ok(record) = AccountingRecord::from_packet(&packet, "nas1", source()) {
            // A session's record always came with an Acct-Session-Id (Accounting-On/Off need
            // not); its octets may be empty or not UTF-8.
            let session = matches!(
                record.status,
                AcctStatusType::Start | AcctStatusType::InterimUpdate | AcctStatusType::Stop
            );
            prop_assert!(!session || packet.get(attr::ACCT_SESSION_ID).is_some());
        }
    }
}
