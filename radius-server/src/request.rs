//! The typed view of an Access-Request that the policy sees, and the proof of identity the server
//! verifies itself (PAP, CHAP, MS-CHAPv1/v2). Built from a packet already authenticated.

use std::net::{Ipv4Addr, SocketAddr};

use crate::auth::mschap::MsChapV2Response;
use crate::mac::MacAddress;
use crate::numbers::{attr, microsoft, vendor};
use crate::packet::Packet;

/// The NAS a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nas {
    /// The client table's name for this NAS.
    pub name: String,
    /// The UDP source of the request.
    pub source: SocketAddr,
    /// NAS-IP-Address, if sent.
    pub ip_address: Option<Ipv4Addr>,
    /// NAS-Identifier (the MikroTik's identity), if sent.
    pub identifier: Option<String>,
}

/// How the user proved their identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// User-Password (RFC 2865 §5.2).
    Pap,
    /// CHAP-Password (the hotspot default).
    Chap,
    /// MS-CHAP-Response (RFC 2433).
    MsChapV1,
    /// MS-CHAP2-Response (RFC 2759), PPP/PPPoE.
    MsChapV2,
    /// No password at all (only a MAC-auth login can succeed).
    None,
}

/// What the policy is told about an Access-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// Where it came from.
    pub nas: Nas,
    /// User-Name (the MAC for MAC-auth logins). Empty when absent.
    pub user_name: String,
    /// Calling-Station-Id as sent.
    pub calling_station_id: Option<String>,
    /// Calling-Station-Id read as a MAC address.
    pub mac: Option<MacAddress>,
    /// Called-Station-Id (hotspot server name, or PPPoE service name).
    pub called_station_id: Option<String>,
    /// NAS-Port-Type (15 Ethernet, 19 Wireless-802.11, …).
    pub nas_port_type: Option<u32>,
    /// NAS-Port-Id (the interface).
    pub nas_port_id: Option<String>,
    /// Service-Type (2 Framed for PPP).
    pub service_type: Option<u32>,
    /// Framed-IP-Address (the hotspot client's IP).
    pub framed_ip: Option<Ipv4Addr>,
    /// Acct-Session-Id, which MikroTik also sends in Access-Requests.
    pub acct_session_id: Option<String>,
    /// The authentication method.
    pub method: AuthMethod,
}

/// The credential material in a request, kept by the server for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proof {
    Pap {
        hidden: Vec<u8>,
    },
    Chap {
        password: Vec<u8>,
        challenge: Vec<u8>,
    },
    MsChapV1 {
        challenge: Vec<u8>,
        response: Vec<u8>,
    },
    MsChapV2(MsChapV2Response),
    /// A method was attempted with malformed values (e.g. a 49-byte MS-CHAP2-Response).
    Malformed,
    None,
}

impl AccessRequest {
    /// Reads the view and the proof from an authenticated Access-Request.
    pub(crate) fn from_packet(
        packet: &Packet,
        nas_name: &str,
        source: SocketAddr,
    ) -> (Self, Proof) {
        let text = |kind| packet.get(kind).and_then(|a| a.as_str()).map(str::to_owned);
        let calling_station_id = text(attr::CALLING_STATION_ID);
        let proof = proof(packet);
        let method = match &proof {
            Proof::Pap { .. } => AuthMethod::Pap,
            Proof::Chap { .. } => AuthMethod::Chap,
            Proof::MsChapV1 { .. } => AuthMethod::MsChapV1,
            Proof::MsChapV2(_) => AuthMethod::MsChapV2,
            Proof::Malformed | Proof::None => method_attempted(packet),
        };
        let request = Self {
            nas: nas(packet, nas_name, source),
            user_name: text(attr::USER_NAME).unwrap_or_default(),
            mac: calling_station_id.as_deref().and_then(|c| c.parse().ok()),
            calling_station_id,
            called_station_id: text(attr::CALLED_STATION_ID),
            nas_port_type: packet.get(attr::NAS_PORT_TYPE).and_then(|a| a.as_u32()),
            nas_port_id: text(attr::NAS_PORT_ID),
            service_type: packet.get(attr::SERVICE_TYPE).and_then(|a| a.as_u32()),
            framed_ip: packet
                .get(attr::FRAMED_IP_ADDRESS)
                .and_then(|a| a.as_ipv4()),
            acct_session_id: text(attr::ACCT_SESSION_ID),
            method,
        };
        (request, proof)
    }
}

pub(crate) fn nas(packet: &Packet, name: &str, source: SocketAddr) -> Nas {
    Nas {
        name: name.to_owned(),
        source,
        ip_address: packet.get(attr::NAS_IP_ADDRESS).and_then(|a| a.as_ipv4()),
        identifier: packet
            .get(attr::NAS_IDENTIFIER)
            .and_then(|a| a.as_str())
            .map(str::to_owned),
    }
}

fn proof(packet: &Packet) -> Proof {
    if let Some(hidden) = packet.get(attr::USER_PASSWORD) {
        return Proof::Pap {
            hidden: hidden.value().to_vec(),
        };
    }
    if let Some(password) = packet.get(attr::CHAP_PASSWORD) {
        let challenge = packet
            .get(attr::CHAP_CHALLENGE)
            .map_or_else(|| packet.authenticator.to_vec(), |c| c.value().to_vec());
        return Proof::Chap {
            password: password.value().to_vec(),
            challenge,
        };
    }
    let challenge = packet.vendor_attribute(vendor::MICROSOFT, microsoft::MS_CHAP_CHALLENGE);
    if let Some(response) = packet.vendor_attribute(vendor::MICROSOFT, microsoft::MS_CHAP2_RESPONSE)
    {
        return challenge
            .and_then(|c| MsChapV2Response::parse(c.value, response.value))
            .map_or(Proof::Malformed, Proof::MsChapV2);
    }
    if let Some(response) = packet.vendor_attribute(vendor::MICROSOFT, microsoft::MS_CHAP_RESPONSE)
    {
        return challenge.map_or(Proof::Malformed, |c| Proof::MsChapV1 {
            challenge: c.value.to_vec(),
            response: response.value.to_vec(),
        });
    }
    Proof::None
}

fn method_attempted(packet: &Packet) -> AuthMethod {
    if packet
        .vendor_attribute(vendor::MICROSOFT, microsoft::MS_CHAP2_RESPONSE)
        .is_some()
    {
        AuthMethod::MsChapV2
    } else if packet
        .vendor_attribute(vendor::MICROSOFT, microsoft::MS_CHAP_RESPONSE)
        .is_some()
    {
        AuthMethod::MsChapV1
    } else {
        AuthMethod::None
    }
}
