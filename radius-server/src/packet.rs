//! The RADIUS packet: header (code, identifier, length, authenticator) and attributes
//! (RFC 2865 §3). Pure decode and encode; authenticators are computed in [`crate::crypto`].

use crate::attribute::{Attribute, VendorAttribute};
use crate::code::Code;

/// Bytes before the first attribute.
pub const HEADER_LEN: usize = 20;
/// The largest packet RFC 2865 allows.
pub const MAX_PACKET_LEN: usize = 4096;

/// A decoded packet. The authenticator is kept as it was received or as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet's code.
    pub code: Code,
    /// The identifier that matches replies to requests.
    pub identifier: u8,
    /// The Request or Response Authenticator.
    pub authenticator: [u8; 16],
    /// Attributes in wire order (order matters for Proxy-State).
    pub attributes: Vec<Attribute>,
}

/// Why bytes are not a RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0} bytes is shorter than a RADIUS header")]
    TooShort(usize),
    #[error("length field {field} is outside 20..=4096 or beyond the {received} bytes received")]
    BadLength { field: usize, received: usize },
    #[error("unknown code {0}")]
    UnknownCode(u8),
    #[error("attribute at offset {offset} overruns the packet")]
    BadAttribute { offset: usize },
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("packet would be {0} bytes, more than 4096")]
    TooLong(usize),
}

impl Packet {
    /// A packet with no attributes.
    pub fn new(code: Code, identifier: u8, authenticator: [u8; 16]) -> Self {
        Self {
            code,
            identifier,
            authenticator,
            attributes: Vec::new(),
        }
    }

    /// Decodes the structure of a packet. Bytes after the Length field are padding and are
    /// ignored (RFC 2865 §3). Nothing is authenticated here.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort(bytes.len()));
        }
        let field = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&field) || field > bytes.len() {
            return Err(DecodeError::BadLength {
                field,
                received: bytes.len(),
            });
        }
        let code = Code::from_u8(bytes[0]).ok_or(DecodeError::UnknownCode(bytes[0]))?;
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&bytes[4..HEADER_LEN]);
        let attributes = decode_attributes(&bytes[HEADER_LEN..field])?;
        Ok(Self {
            code,
            identifier: bytes[1],
            authenticator,
            attributes,
        })
    }

    /// Encodes the packet with its authenticator as it is.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let len = HEADER_LEN
            + self
                .attributes
                .iter()
                .map(|a| 2 + a.value().len())
                .sum::<usize>();
        if len > MAX_PACKET_LEN {
            return Err(EncodeError::TooLong(len));
        }
        let mut bytes = Vec::with_capacity(len);
        bytes.push(self.code.as_u8());
        bytes.push(self.identifier);
        // len <= 4096 was checked above.
        bytes.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        bytes.extend_from_slice(&self.authenticator);
        for attribute in &self.attributes {
            bytes.push(attribute.kind());
            // Attribute values are at most 253 bytes by construction.
            bytes.push(u8::try_from(attribute.value().len() + 2).unwrap_or(u8::MAX));
            bytes.extend_from_slice(attribute.value());
        }
        Ok(bytes)
    }

    /// The first attribute of the given type.
    pub fn get(&self, kind: u8) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.kind() == kind)
    }

    /// Every attribute of the given type, in order.
    pub fn all(&self, kind: u8) -> impl Iterator<Item = &Attribute> {
        self.attributes.iter().filter(move |a| a.kind() == kind)
    }

    /// The first vendor sub-attribute with the given vendor and type.
    pub fn vendor_attribute(&self, vendor_id: u32, vendor_type: u8) -> Option<VendorAttribute<'_>> {
        self.attributes
            .iter()
            .flat_map(Attribute::vendor_attributes)
            .find(|v| v.vendor_id == vendor_id && v.vendor_type == vendor_type)
    }

    /// Appends an attribute.
    pub fn push(&mut self, attribute: Attribute) {
        self.attributes.push(attribute);
    }
}

fn decode_attributes(mut bytes: &[u8]) -> Result<Vec<Attribute>, DecodeError> {
    let mut attributes = Vec::new();
    let mut offset = HEADER_LEN;
    while !bytes.is_empty() {
        let [kind, len, ..] = *bytes else {
            return Err(DecodeError::BadAttribute { offset });
        };
        let len = usize::from(len);
        if len < 2 || len > bytes.len() {
            return Err(DecodeError::BadAttribute { offset });
        }
        // len <= 255, so the value is at most 253 bytes and `new` cannot fail.
        let attribute = Attribute::new(kind, &bytes[2..len])
            .map_err(|_| DecodeError::BadAttribute { offset })?;
        attributes.push(attribute);
        bytes = &bytes[len..];
        offset += len;
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::attr;
    use crate::testutil::{hex, unhex};
    use proptest::prelude::*;

    const RFC2865_7_1: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003";

    #[test]
    fn decodes_rfc2865_access_request() {
        let bytes = unhex(RFC2865_7_1);
        let packet = Packet::decode(&bytes).unwrap();
        assert_eq!(packet.code, Code::AccessRequest);
        assert_eq!(packet.identifier, 0);
        assert_eq!(
            hex(&packet.authenticator),
            "0f403f9473978057bd83d5cb98f4227a"
        );
        assert_eq!(packet.get(attr::USER_NAME).unwrap().as_str(), Some("nemo"));
        assert_eq!(
            packet.get(attr::NAS_IP_ADDRESS).unwrap().as_ipv4(),
            Some("192.168.1.16".parse().unwrap())
        );
        assert_eq!(packet.get(attr::NAS_PORT).unwrap().as_u32(), Some(3));
        assert_eq!(packet.encode().unwrap(), bytes);
    }

    #[test]
    fn padding_after_length_is_ignored() {
        let mut bytes = unhex(RFC2865_7_1);
        bytes.extend_from_slice(&[0xff; 7]);
        let packet = Packet::decode(&bytes).unwrap();
        assert_eq!(packet.encode().unwrap(), unhex(RFC2865_7_1));
    }

    #[test]
    fn rejects_malformed_packets() {
        let good = unhex(RFC2865_7_1);
        let cases: Vec<(Vec<u8>, DecodeError)> = vec![
            (good[..19].to_vec(), DecodeError::TooShort(19)),
            (
                [&[1, 0, 0, 0x39], &good[4..]].concat(),
                DecodeError::BadLength {
                    field: 57,
                    received: 56,
                },
            ),
            (
                [&[1, 0, 0, 19], &good[4..]].concat(),
                DecodeError::BadLength {
                    field: 19,
                    received: 56,
                },
            ),
            ([&[9], &good[1..]].concat(), DecodeError::UnknownCode(9)),
            (
                [&good[..20], &[1, 1], &good[22..]].concat(),
                DecodeError::BadAttribute { offset: 20 },
            ),
            (
                [&good[..20], &[1, 60], &good[22..]].concat(),
                DecodeError::BadAttribute { offset: 20 },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Packet::decode(&bytes), Err(expected), "{}", hex(&bytes));
        }
    }

    #[test]
    fn refuses_to_encode_over_4096_bytes() {
        let mut packet = Packet::new(Code::AccessAccept, 1, [0; 16]);
        for _ in 0..17 {
            packet.push(Attribute::new(attr::CLASS, vec![0; 253]).unwrap());
        }
        assert_eq!(packet.encode(), Err(EncodeError::TooLong(20 + 17 * 255)));
    }

    fn arb_attribute() -> impl Strategy<Value = Attribute> {
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..=253))
            .prop_map(|(kind, value)| Attribute::new(kind, value).unwrap())
    }

    fn arb_packet() -> impl Strategy<Value = Packet> {
        (
            prop::sample::select(vec![
                Code::AccessRequest,
                Code::AccessAccept,
                Code::AccountingRequest,
                Code::DisconnectRequest,
                Code::CoaNak,
            ]),
            any::<u8>(),
            any::<[u8; 16]>(),
            proptest::collection::vec(arb_attribute(), 0..15),
        )
            .prop_map(|(code, identifier, authenticator, attributes)| Packet {
                code,
                identifier,
                authenticator,
                attributes,
            })
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(packet) = Packet::decode(&bytes) {
                for attribute in &packet.attributes {
                    let _ = attribute.vendor_attributes();
                }
            }
        }

        #[test]
        fn decoding_arbitrary_attributes_never_panics(
            header in any::<[u8; 4]>(),
            body in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            // Valid code and length, random attribute bytes: exercises the attribute walk.
            let len = u16::try_from(20 + body.len()).unwrap();
            let mut bytes = vec![4, header[0]];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&[header[1]; 16]);
            bytes.extend_from_slice(&body);
            if let Ok(packet) = Packet::decode(&bytes) {
                prop_assert_eq!(packet.encode().unwrap(), bytes);
            }
        }

        #[test]
        fn encode_then_decode_round_trips(packet in arb_packet()) {
            match packet.encode() {
                Ok(bytes) => prop_assert_eq!(Packet::decode(&bytes).unwrap(), packet),
                Err(EncodeError::TooLong(len)) => prop_assert!(len > MAX_PACKET_LEN),
            }
        }
    }
}
