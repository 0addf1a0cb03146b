//! Authenticators (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3) and Message-Authenticator
//! (RFC 3579 §3.2), over encoded packet bytes. Every encode of a packet we send goes through
//! [`sign_reply`] or [`sign_request`], so every packet we send carries a Message-Authenticator,
//! placed first (the Blast-RADIUS advice, CVE-2024-3596).

use hmac::Mac;
use md5::{Digest, Md5};

use crate::attribute::Attribute;
use crate::code::Code;
use crate::numbers::attr;
use crate::packet::{EncodeError, HEADER_LEN, Packet};
use crate::secret::Secret;

/// Why a received packet failed authentication. The server drops such packets silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Request or Response Authenticator does not match the shared secret")]
    BadAuthenticator,
    #[error("Message-Authenticator does not match the shared secret")]
    BadMessageAuthenticator,
    #[error("Message-Authenticator is required but absent")]
    MissingMessageAuthenticator,
}

/// Whether a verified packet carried a Message-Authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAuthenticator {
    /// Present and valid.
    Valid,
    /// Absent (the caller decides whether that is allowed).
    Absent,
}

/// MD5 over the concatenated parts.
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// HMAC-MD5 keyed with the shared secret (RFC 3579 §3.2).
pub(crate) fn hmac_md5(secret: &Secret, bytes: &[u8]) -> [u8; 16] {
    let mut mac = secret.hmac_md5();
    mac.update(bytes);
    mac.finalize().into_bytes().into()
}

/// Equality that takes the same time wherever the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Encodes a reply to `request`: Message-Authenticator first, then the Response Authenticator
/// MD5(Code+Identifier+Length+RequestAuth+Attributes+Secret).
///
/// The Message-Authenticator HMAC is taken with the Request Authenticator in the header, except
/// for an Accounting-Response to an Accounting-Request, where it is taken with 16 zero octets as
/// FreeRADIUS and pyrad compute it (the request's own authenticator is itself a hash).
pub fn sign_reply(
    reply: &Packet,
    request: &Packet,
    secret: &Secret,
) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = encode_with_blank_message_authenticator(
        reply,
        reply_hmac_header(reply.code, request.code, &request.authenticator),
    )?;
    fill_message_authenticator(&mut bytes, secret);
    bytes[4..HEADER_LEN].copy_from_slice(&request.authenticator);
    let response = md5(&[&bytes, secret.expose()]);
    bytes[4..HEADER_LEN].copy_from_slice(&response);
    Ok(bytes)
}

/// The authenticator field used when computing a reply's Message-Authenticator.
fn reply_hmac_header(reply: Code, request: Code, request_authenticator: &[u8; 16]) -> [u8; 16] {
    if reply == Code::AccountingResponse && request != Code::StatusServer {
        [0; 16]
    } else {
        *request_authenticator
    }
}

/// Encodes a request we originate (Disconnect-Request, CoA-Request, Accounting-Request):
/// Message-Authenticator first (HMAC over the packet with a zero authenticator), then the Request
/// Authenticator MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret).
pub fn sign_request(request: &Packet, secret: &Secret) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = encode_with_blank_message_authenticator(request, [0; 16])?;
    fill_message_authenticator(&mut bytes, secret);
    let authenticator = md5(&[&bytes, secret.expose()]);
    bytes[4..HEADER_LEN].copy_from_slice(&authenticator);
    Ok(bytes)
}

/// Encodes an Access-Request or Status-Server with the given random Request Authenticator and a
/// Message-Authenticator (used by tests and tools that play the NAS).
pub fn sign_access_request(request: &Packet, secret: &Secret) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = encode_with_blank_message_authenticator(request, request.authenticator)?;
    fill_message_authenticator(&mut bytes, secret);
    Ok(bytes)
}

/// Checks a received request (`bytes` as received, `packet` decoded from them): the computed
/// Request Authenticator for Accounting/Disconnect/CoA requests, and the Message-Authenticator
/// wherever it is present.
pub fn verify_request(
    bytes: &[u8],
    packet: &Packet,
    secret: &Secret,
) -> Result<MessageAuthenticator, AuthError> {
    let bytes = packet_bytes(bytes);
    let computed = packet.code.has_computed_request_authenticator();
    if computed {
        let mut zeroed = bytes.to_vec();
        zeroed[4..HEADER_LEN].fill(0);
        let expected = md5(&[&zeroed, secret.expose()]);
        if !constant_time_eq(&expected, &packet.authenticator) {
            return Err(AuthError::BadAuthenticator);
        }
    }
    let header = if computed {
        [0; 16]
    } else {
        packet.authenticator
    };
    check_message_authenticator(bytes, header, secret)
}

/// Checks a reply to a request we sent (code `request_code`, authenticator
/// `request_authenticator`): the Response Authenticator, and the Message-Authenticator if present.
pub fn verify_reply(
    bytes: &[u8],
    request_code: Code,
    request_authenticator: &[u8; 16],
    secret: &Secret,
) -> Result<MessageAuthenticator, AuthError> {
    let bytes = packet_bytes(bytes);
    if bytes.len() < HEADER_LEN {
        return Err(AuthError::BadAuthenticator);
    }
    let mut with_request = bytes.to_vec();
    with_request[4..HEADER_LEN].copy_from_slice(request_authenticator);
    let expected = md5(&[&with_request, secret.expose()]);
    if !constant_time_eq(&expected, &bytes[4..HEADER_LEN]) {
        return Err(AuthError::BadAuthenticator);
    }
    let reply_code = Code::from_u8(bytes[0]).ok_or(AuthError::BadAuthenticator)?;
    let header = reply_hmac_header(reply_code, request_code, request_authenticator);
    check_message_authenticator(bytes, header, secret)
}

/// The bytes up to the Length field (padding after it is not part of the packet).
fn packet_bytes(bytes: &[u8]) -> &[u8] {
    if bytes.len() < HEADER_LEN {
        return bytes;
    }
    let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    &bytes[..len.min(bytes.len())]
}

/// Verifies the Message-Authenticator, computed with `header` in the authenticator field and
/// the attribute's value zeroed. The HMAC takes the packet in pieces around those two fields
/// rather than a copy of it.
fn check_message_authenticator(
    bytes: &[u8],
    header: [u8; 16],
    secret: &Secret,
) -> Result<MessageAuthenticator, AuthError> {
    let Some(offset) = message_authenticator_offset(bytes)? else {
        return Ok(MessageAuthenticator::Absent);
    };
    let received = bytes
        .get(offset..offset + 16)
        .ok_or(AuthError::BadMessageAuthenticator)?;
    let mut mac = secret.hmac_md5();
    mac.update(&bytes[..4]);
    mac.update(&header);
    mac.update(&bytes[HEADER_LEN..offset]);
    mac.update(&[0; 16]);
    mac.update(&bytes[offset + 16..]);
    let computed: [u8; 16] = mac.finalize().into_bytes().into();
    if constant_time_eq(&computed, received) {
        Ok(MessageAuthenticator::Valid)
    } else {
        Err(AuthError::BadMessageAuthenticator)
    }
}

/// The value offset of the packet's Message-Authenticator, if it has one. Two of them, or one
/// of the wrong length, are never valid (RFC 3579 §3.2).
fn message_authenticator_offset(bytes: &[u8]) -> Result<Option<usize>, AuthError> {
    let mut found = None;
    let mut at = HEADER_LEN;
    while at + 2 <= bytes.len() {
        let len = usize::from(bytes[at + 1]);
        if len < 2 || at + len > bytes.len() {
            break;
        }
        if bytes[at] == attr::MESSAGE_AUTHENTICATOR {
            if len != 18 || found.is_some() {
                return Err(AuthError::BadMessageAuthenticator);
            }
            found = Some(at + 2);
        }
        at += len;
    }
    Ok(found)
}

/// Encodes with `header` as authenticator and one zeroed Message-Authenticator as the first
/// attribute (any Message-Authenticator already in the packet is dropped).
fn encode_with_blank_message_authenticator(
    packet: &Packet,
    header: [u8; 16],
) -> Result<Vec<u8>, EncodeError> {
    let mut signed = Packet::new(packet.code, packet.identifier, header);
    signed.attributes.reserve(packet.attributes.len() + 1);
    signed.push(blank_message_authenticator());
    signed.attributes.extend(
        packet
            .attributes
            .iter()
            .filter(|a| a.kind() != attr::MESSAGE_AUTHENTICATOR)
            .cloned(),
    );
    signed.encode()
}

fn blank_message_authenticator() -> Attribute {
    Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 16])
        .unwrap_or_else(|_| unreachable!("16 bytes fit in an attribute"))
}

/// Computes and writes the Message-Authenticator at its place (the first attribute).
fn fill_message_authenticator(bytes: &mut [u8], secret: &Secret) {
    let mac = hmac_md5(secret, bytes);
    bytes[HEADER_LEN + 2..HEADER_LEN + 18].copy_from_slice(&mac);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{hex, unhex, unhex_array};
    use std::net::Ipv4Addr;

    fn secret() -> Secret {
        Secret::from("xyzzy5461")
    }

    const RFC2865_7_1: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003";

    /// Encodes without Message-Authenticator, to check the RFC's own response authenticators.
    fn response_authenticator(reply: &Packet, request_auth: [u8; 16]) -> String {
        let mut plain = reply.clone();
        plain.authenticator = request_auth;
        let bytes = plain.encode().unwrap();
        hex(&md5(&[&bytes, secret().expose()]))
    }

    #[test]
    fn rfc2865_7_1_access_accept_response_authenticator() {
        let request = Packet::decode(&unhex(RFC2865_7_1)).unwrap();
        let mut accept = Packet::new(Code::AccessAccept, 0, [0; 16]);
        accept.push(Attribute::integer(attr::SERVICE_TYPE, 1));
        accept.push(Attribute::integer(attr::LOGIN_SERVICE, 0));
        accept.push(Attribute::ipv4(
            attr::LOGIN_IP_HOST,
            Ipv4Addr::new(192, 168, 1, 3),
        ));
        assert_eq!(
            response_authenticator(&accept, request.authenticator),
            "86fe220e7624ba2a1005f6bf9b55e0b2"
        );
    }

    #[test]
    fn rfc2865_7_2_chap_access_accept_response_authenticator() {
        // Service-Type=Framed, Framed-Protocol=PPP, Framed-IP-Address=255.255.255.254,
        // Framed-Routing=Listen, Framed-Compression=VJ, Framed-MTU=1500.
        let request_auth = unhex_array("2aee86f08d0d55969ca5978e0d3367a2");
        let mut accept = Packet::new(Code::AccessAccept, 1, [0; 16]);
        accept.push(Attribute::integer(attr::SERVICE_TYPE, 2));
        accept.push(Attribute::integer(attr::FRAMED_PROTOCOL, 1));
        accept.push(Attribute::ipv4(
            attr::FRAMED_IP_ADDRESS,
            Ipv4Addr::new(255, 255, 255, 254),
        ));
        accept.push(Attribute::integer(attr::FRAMED_ROUTING, 2));
        accept.push(Attribute::integer(attr::FRAMED_COMPRESSION, 1));
        accept.push(Attribute::integer(attr::FRAMED_MTU, 1500));
        assert_eq!(
            response_authenticator(&accept, request_auth),
            "15efbc7dab26cfa3dc34d9c03c8601a4"
        );
    }

    #[test]
    fn message_authenticator_vectors() {
        // notes/radius.md: the §7.1 request with a Message-Authenticator appended (length 0x4a).
        let mut bytes = unhex(RFC2865_7_1);
        bytes.extend_from_slice(&[attr::MESSAGE_AUTHENTICATOR, 18]);
        bytes.extend_from_slice(&[0; 16]);
        bytes[3] = 0x4a;
        let mac = hmac_md5(&secret(), &bytes);
        assert_eq!(hex(&mac), "63b78a6b9d2f149989fbf57ea21d194c");
        bytes[0x3a..].copy_from_slice(&mac);
        let request = Packet::decode(&bytes).unwrap();
        assert_eq!(
            verify_request(&bytes, &request, &secret()),
            Ok(MessageAuthenticator::Valid)
        );
        // One flipped bit anywhere fails.
        let mut tampered = bytes.clone();
        tampered[25] ^= 1;
        let packet = Packet::decode(&tampered).unwrap();
        assert_eq!(
            verify_request(&tampered, &packet, &secret()),
            Err(AuthError::BadMessageAuthenticator)
        );
        assert_eq!(
            verify_request(&bytes, &request, &Secret::from("other")),
            Err(AuthError::BadMessageAuthenticator)
        );

        // The Access-Accept with a Message-Authenticator appended after the attributes.
        let mut accept = unhex("0200004a00000000000000000000000000000000060600000001");
        accept.extend_from_slice(&unhex("0f06000000000e06c0a80103"));
        accept.extend_from_slice(&[attr::MESSAGE_AUTHENTICATOR, 18]);
        accept.extend_from_slice(&[0; 16]);
        accept[3] = u8::try_from(accept.len()).unwrap();
        accept[4..20].copy_from_slice(&request.authenticator);
        let mac = hmac_md5(&secret(), &accept);
        assert_eq!(hex(&mac), "21498eb0fb73825e2183df0ef3878f91");
        let at = accept.len() - 16;
        accept[at..].copy_from_slice(&mac);
        let response = md5(&[&accept, secret().expose()]);
        assert_eq!(hex(&response), "f79c0e9ea1d0f6fad6ed99d3f8524f76");
        accept[4..20].copy_from_slice(&response);
        assert_eq!(
            verify_reply(
                &accept,
                Code::AccessRequest,
                &request.authenticator,
                &secret()
            ),
            Ok(MessageAuthenticator::Valid)
        );
    }

    #[test]
    fn accounting_request_authenticator_vector() {
        let bytes = unhex(
            "04010030a09bafc763bcaefdeb2ecdeff763dec72806000000012c0a383130303030303101066e656d6f0406c0a80110",
        );
        let request = Packet::decode(&bytes).unwrap();
        assert_eq!(
            verify_request(&bytes, &request, &secret()),
            Ok(MessageAuthenticator::Absent)
        );
        let mut tampered = bytes.clone();
        tampered[30] ^= 1;
        let packet = Packet::decode(&tampered).unwrap();
        assert_eq!(
            verify_request(&tampered, &packet, &secret()),
            Err(AuthError::BadAuthenticator)
        );
        let response = Packet::new(Code::AccountingResponse, 1, [0; 16]);
        assert_eq!(
            response_authenticator(&response, request.authenticator),
            "23ac3a79eab24ef2bb48b004de90cc9d"
        );
    }

    #[test]
    fn disconnect_request_authenticator_vector() {
        let bytes =
            unhex("2802002429c2148ccedc35914b3e0735e73d572001066e656d6f2c0a3831303030303031");
        let request = Packet::decode(&bytes).unwrap();
        assert_eq!(
            verify_request(&bytes, &request, &secret()),
            Ok(MessageAuthenticator::Absent)
        );
        let ack = Packet::new(Code::DisconnectAck, 2, [0; 16]);
        assert_eq!(
            response_authenticator(&ack, request.authenticator),
            "8a18880957cf647fe7973b52d9ec6889"
        );
    }

    #[test]
    fn signed_packets_verify_and_carry_message_authenticator_first() {
        let mut request = Packet::new(Code::DisconnectRequest, 7, [0; 16]);
        request.push(Attribute::text(attr::USER_NAME, "nemo").unwrap());
        let bytes = sign_request(&request, &secret()).unwrap();
        let decoded = Packet::decode(&bytes).unwrap();
        assert_eq!(decoded.attributes[0].kind(), attr::MESSAGE_AUTHENTICATOR);
        assert_eq!(
            verify_request(&bytes, &decoded, &secret()),
            Ok(MessageAuthenticator::Valid)
        );

        let ack = Packet::new(Code::DisconnectAck, 7, [0; 16]);
        let reply = sign_reply(&ack, &decoded, &secret()).unwrap();
        assert_eq!(
            verify_reply(&reply, decoded.code, &decoded.authenticator, &secret()),
            Ok(MessageAuthenticator::Valid)
        );
        assert_eq!(
            verify_reply(&reply, decoded.code, &[1; 16], &secret()),
            Err(AuthError::BadAuthenticator)
        );

        // Accounting-Response: the HMAC is over a zero authenticator; to Status-Server it is
        // over the request's.
        let mut accounting = Packet::new(Code::AccountingRequest, 8, [0; 16]);
        accounting.push(Attribute::integer(attr::ACCT_STATUS_TYPE, 1));
        let accounting = Packet::decode(&sign_request(&accounting, &secret()).unwrap()).unwrap();
        let response = Packet::new(Code::AccountingResponse, 8, [0; 16]);
        let bytes = sign_reply(&response, &accounting, &secret()).unwrap();
        let mut zeroed = bytes.clone();
        zeroed[4..20].fill(0);
        zeroed[22..38].fill(0);
        assert_eq!(bytes[22..38], hmac_md5(&secret(), &zeroed));
        assert_eq!(
            verify_reply(
                &bytes,
                accounting.code,
                &accounting.authenticator,
                &secret()
            ),
            Ok(MessageAuthenticator::Valid)
        );
        let status = Packet::new(Code::StatusServer, 9, [4; 16]);
        let response = Packet::new(Code::AccountingResponse, 9, [0; 16]);
        let bytes = sign_reply(&response, &status, &secret()).unwrap();
        assert_eq!(
            verify_reply(&bytes, status.code, &status.authenticator, &secret()),
            Ok(MessageAuthenticator::Valid)
        );
    }

    #[test]
    fn duplicate_or_short_message_authenticator_is_invalid() {
        let mut request = Packet::new(Code::AccessRequest, 1, [9; 16]);
        request.push(Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 4]).unwrap());
        let bytes = request.encode().unwrap();
        assert_eq!(
            verify_request(&bytes, &request, &secret()),
            Err(AuthError::BadMessageAuthenticator)
        );
    }
}
