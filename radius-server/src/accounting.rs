//! The typed accounting record handed to the policy (RFC 2866, RFC 2869 gigawords). Octet
//! counters are combined with their Gigawords attributes into u64.

use std::net::{Ipv4Addr, SocketAddr};

use crate::mac::MacAddress;
use crate::numbers::attr;
use crate::packet::Packet;
use crate::request::{Nas, nas};

/// Acct-Status-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcctStatusType {
    Start,
    Stop,
    InterimUpdate,
    AccountingOn,
    AccountingOff,
    /// Any other value (e.g. Failed = 15), passed through.
    Other(u32),
}

impl AcctStatusType {
    /// From the attribute's integer.
    pub fn from_u32(value: u32) -> Self {
        match value {
            1 => Self::Start,
            2 => Self::Stop,
            3 => Self::InterimUpdate,
            7 => Self::AccountingOn,
            8 => Self::AccountingOff,
            other => Self::Other(other),
        }
    }

    /// True for the types that describe one session (and so need an Acct-Session-Id).
    pub fn is_session(self) -> bool {
        matches!(self, Self::Start | Self::Stop | Self::InterimUpdate)
    }
}

/// One Accounting-Request, as the policy stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingRecord {
    /// Where it came from.
    pub nas: Nas,
    /// Acct-Status-Type.
    pub status: AcctStatusType,
    /// Acct-Session-Id as the NAS sent it: octets, which RFC 2866 only says SHOULD be UTF-8
    /// (FreeRADIUS keeps them as octets too). Empty when the NAS sent it empty, or none with
    /// Accounting-On/Off.
    pub session_id: Vec<u8>,
    /// User-Name.
    pub user_name: Option<String>,
    /// Calling-Station-Id as sent.
    pub calling_station_id: Option<String>,
    /// Calling-Station-Id read as a MAC address.
    pub mac: Option<MacAddress>,
    /// Framed-IP-Address.
    pub framed_ip: Option<Ipv4Addr>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// NAS-Port-Type.
    pub nas_port_type: Option<u32>,
    /// Acct-Session-Time in seconds.
    pub session_time: Option<u32>,
    /// Acct-Input-Octets + Acct-Input-Gigawords × 2³² (bytes from the client).
    pub input_octets: u64,
    /// Acct-Output-Octets + Acct-Output-Gigawords × 2³² (bytes to the client).
    pub output_octets: u64,
    /// Acct-Input-Packets.
    pub input_packets: Option<u32>,
    /// Acct-Output-Packets.
    pub output_packets: Option<u32>,
    /// Acct-Terminate-Cause (1 User-Request, 4 Idle-Timeout, 5 Session-Timeout, 6 Admin-Reset…).
    pub terminate_cause: Option<u32>,
    /// Acct-Delay-Time: seconds the NAS has been trying to send this.
    pub delay_time: Option<u32>,
    /// Event-Timestamp (seconds since the Unix epoch).
    pub event_timestamp: Option<u32>,
    /// Class as echoed from the Access-Accept.
    pub class: Option<Vec<u8>>,
}

/// An Accounting-Request the policy cannot be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountingError {
    #[error("Acct-Status-Type is missing")]
    MissingStatusType,
    #[error("Acct-Session-Id is missing")]
    MissingSessionId,
}

impl AccountingRecord {
    /// Reads the record from an authenticated Accounting-Request.
    pub fn from_packet(
        packet: &Packet,
        nas_name: &str,
        source: SocketAddr,
    ) -> Result<Self, AccountingError> {
        let int = |kind| packet.get(kind).and_then(|a| a.as_u32());
        let text = |kind| packet.get(kind).and_then(|a| a.as_str()).map(str::to_owned);
        let status = int(attr::ACCT_STATUS_TYPE)
            .map(AcctStatusType::from_u32)
            .ok_or(AccountingError::MissingStatusType)?;
        let session_id = packet
            .get(attr::ACCT_SESSION_ID)
            .map(|a| a.value().to_vec());
        if status.is_session() && session_id.is_none() {
            return Err(AccountingError::MissingSessionId);
        }
        let octets =
            |low, high| u64::from(int(high).unwrap_or(0)) << 32 | u64::from(int(low).unwrap_or(0));
        let calling_station_id = text(attr::CALLING_STATION_ID);
        Ok(Self {
            nas: nas(packet, nas_name, source),
            status,
            session_id: session_id.unwrap_or_default(),
            user_name: text(attr::USER_NAME),
            mac: calling_station_id.as_deref().and_then(|c| c.parse().ok()),
            calling_station_id,
            framed_ip: packet
                .get(attr::FRAMED_IP_ADDRESS)
                .and_then(|a| a.as_ipv4()),
            nas_port_id: text(attr::NAS_PORT_ID),
            nas_port_type: int(attr::NAS_PORT_TYPE),
            session_time: int(attr::ACCT_SESSION_TIME),
            input_octets: octets(attr::ACCT_INPUT_OCTETS, attr::ACCT_INPUT_GIGAWORDS),
            output_octets: octets(attr::ACCT_OUTPUT_OCTETS, attr::ACCT_OUTPUT_GIGAWORDS),
            input_packets: int(attr::ACCT_INPUT_PACKETS),
            output_packets: int(attr::ACCT_OUTPUT_PACKETS),
            terminate_cause: int(attr::ACCT_TERMINATE_CAUSE),
            delay_time: int(attr::ACCT_DELAY_TIME),
            event_timestamp: int(attr::EVENT_TIMESTAMP),
            class: packet.get(attr::CLASS).map(|a| a.value().to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::Attribute;
    use crate::code::Code;

    fn source() -> SocketAddr {
        "10.0.0.1:1813".parse().unwrap()
    }

    #[test]
    fn stop_record_combines_gigawords() {
        let mut packet = Packet::new(Code::AccountingRequest, 1, [0; 16]);
        packet.push(Attribute::integer(attr::ACCT_STATUS_TYPE, 2));
        packet.push(Attribute::text(attr::ACCT_SESSION_ID, "81000001").unwrap());
        packet.push(Attribute::text(attr::USER_NAME, "nemo").unwrap());
        packet.push(Attribute::text(attr::CALLING_STATION_ID, "AA:BB:CC:00:11:22").unwrap());
        packet.push(Attribute::integer(attr::ACCT_INPUT_OCTETS, 5));
        packet.push(Attribute::integer(attr::ACCT_INPUT_GIGAWORDS, 2));
        packet.push(Attribute::integer(attr::ACCT_OUTPUT_OCTETS, u32::MAX));
        packet.push(Attribute::integer(attr::ACCT_TERMINATE_CAUSE, 5));
        packet.push(Attribute::text(attr::NAS_IDENTIFIER, "hAP-1").unwrap());
        let record = AccountingRecord::from_packet(&packet, "site-router", source()).unwrap();
        assert_eq!(record.status, AcctStatusType::Stop);
        assert_eq!(record.session_id, b"81000001");
        assert_eq!(record.input_octets, 2 * (1 << 32) + 5);
        assert_eq!(record.output_octets, u64::from(u32::MAX));
        assert_eq!(record.mac.unwrap().to_string(), "AA:BB:CC:00:11:22");
        assert_eq!(record.terminate_cause, Some(5));
        assert_eq!(record.nas.identifier.as_deref(), Some("hAP-1"));
        assert_eq!(record.nas.name, "site-router");
    }

    #[test]
    fn session_types_need_a_session_id() {
        let mut packet = Packet::new(Code::AccountingRequest, 1, [0; 16]);
        assert_eq!(
            AccountingRecord::from_packet(&packet, "r", source()),
            Err(AccountingError::MissingStatusType)
        );
        packet.push(Attribute::integer(attr::ACCT_STATUS_TYPE, 3));
        assert_eq!(
            AccountingRecord::from_packet(&packet, "r", source()),
            Err(AccountingError::MissingSessionId)
        );
        packet.attributes[0] = Attribute::integer(attr::ACCT_STATUS_TYPE, 7);
        let on = AccountingRecord::from_packet(&packet, "r", source()).unwrap();
        assert_eq!(on.status, AcctStatusType::AccountingOn);
        assert_eq!(on.session_id, b"");
    }

    #[test]
    fn a_session_id_that_is_not_utf8_or_is_empty_is_kept_as_octets() {
        for id in [&[0xff, 0xfe, b'a', 0x00][..], b""] {
            let mut packet = Packet::new(Code::AccountingRequest, 1, [0; 16]);
            packet.push(Attribute::integer(attr::ACCT_STATUS_TYPE, 1));
            packet.push(Attribute::new(attr::ACCT_SESSION_ID, id).unwrap());
            let record = AccountingRecord::from_packet(&packet, "r", source()).unwrap();
            assert_eq!(record.session_id, id);
        }
    }
}
