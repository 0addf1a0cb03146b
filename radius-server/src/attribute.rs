//! One RADIUS attribute (type, length, value) and Vendor-Specific sub-attributes (RFC 2865 §5.26).
//! Values are raw bytes here; [`crate::dictionary`] knows names and types.

use std::net::Ipv4Addr;

use crate::numbers::{attr, vendor};

/// The largest value one attribute can carry (the length byte counts the 2 header bytes).
pub const MAX_VALUE_LEN: usize = 253;

/// A standard attribute as it is on the wire. The value is at most [`MAX_VALUE_LEN`] bytes:
/// the constructors refuse longer values, and [`crate::Packet::decode`] cannot produce them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    kind: u8,
    value: Vec<u8>,
}

/// An attribute value that does not fit in one attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute {kind} value is {len} bytes, more than the 253 an attribute can carry")]
pub struct ValueTooLong {
    /// The attribute type (26 for a VSA).
    pub kind: u8,
    /// The value's length.
    pub len: usize,
}

impl Attribute {
    /// An attribute with raw value bytes.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Result<Self, ValueTooLong> {
        let value = value.into();
        if value.len() > MAX_VALUE_LEN {
            return Err(ValueTooLong {
                kind,
                len: value.len(),
            });
        }
        Ok(Self { kind, value })
    }

    /// An `integer` attribute (4 bytes, network order).
    pub fn integer(kind: u8, value: u32) -> Self {
        Self {
            kind,
            value: value.to_be_bytes().to_vec(),
        }
    }

    /// An `ipaddr` attribute.
    pub fn ipv4(kind: u8, value: Ipv4Addr) -> Self {
        Self {
            kind,
            value: value.octets().to_vec(),
        }
    }

    /// A `string` attribute from text.
    pub fn text(kind: u8, value: &str) -> Result<Self, ValueTooLong> {
        Self::new(kind, value.as_bytes())
    }

    /// A Vendor-Specific attribute (type 26) holding one sub-attribute in the RFC 2865 format
    /// that Microsoft, MikroTik and WISPr use (1-byte type, 1-byte length).
    pub fn vendor(vendor_id: u32, vendor_type: u8, value: &[u8]) -> Result<Self, ValueTooLong> {
        // 4 bytes Vendor-Id, then type and length of the sub-attribute.
        let len = value.len() + 6;
        if len > MAX_VALUE_LEN {
            return Err(ValueTooLong {
                kind: attr::VENDOR_SPECIFIC,
                len,
            });
        }
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(&vendor_id.to_be_bytes());
        bytes.push(vendor_type);
        // Fits: len <= 253, so value.len() + 2 <= 249.
        bytes.push(u8::try_from(value.len() + 2).unwrap_or(u8::MAX));
        bytes.extend_from_slice(value);
        Ok(Self {
            kind: attr::VENDOR_SPECIFIC,
            value: bytes,
        })
    }

    /// The attribute type.
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// The raw value.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The value as an `integer`, if it is 4 bytes.
    pub fn as_u32(&self) -> Option<u32> {
        be_u32(&self.value)
    }

    /// The value as an `ipaddr`, if it is 4 bytes.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value.as_slice())
            .ok()
            .map(Ipv4Addr::from)
    }

    /// The value as UTF-8 text, if it is.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// The sub-attributes of a Vendor-Specific attribute, or an empty list for any other
    /// attribute or a VSA that is not in the RFC 2865 recommended format.
    pub fn vendor_attributes(&self) -> Vec<VendorAttribute<'_>> {
        if self.kind != attr::VENDOR_SPECIFIC || self.value.len() < 4 {
            return Vec::new();
        }
        let vendor_id = be_u32(&self.value[..4]).unwrap_or_default();
        let mut rest = &self.value[4..];
        let mut found = Vec::new();
        while !rest.is_empty() {
            let [vendor_type, len, ..] = *rest else {
                return Vec::new();
            };
            let len = usize::from(len);
            if len < 2 || len > rest.len() {
                return Vec::new();
            }
            found.push(VendorAttribute {
                vendor_id,
                vendor_type,
                value: &rest[2..len],
            });
            rest = &rest[len..];
        }
        found
    }
}

/// One sub-attribute of a Vendor-Specific attribute, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAttribute<'a> {
    /// The SMI Private Enterprise Number, e.g. [`vendor::MIKROTIK`].
    pub vendor_id: u32,
    /// The vendor's attribute type.
    pub vendor_type: u8,
    /// The raw value.
    pub value: &'a [u8],
}

impl VendorAttribute<'_> {
    /// The value as an `integer`, if it is 4 bytes.
    pub fn as_u32(&self) -> Option<u32> {
        be_u32(self.value)
    }

    /// True for a MikroTik attribute of the given type.
    pub fn is_mikrotik(&self, vendor_type: u8) -> bool {
        self.vendor_id == vendor::MIKROTIK && self.vendor_type == vendor_type
    }
}

fn be_u32(bytes: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(bytes).ok().map(u32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::mikrotik;
    use crate::testutil::hex;

    #[test]
    fn mikrotik_rate_limit_vsa_bytes() {
        // notes/radius.md: Mikrotik-Rate-Limit="1M/2M".
        let vsa = Attribute::vendor(vendor::MIKROTIK, mikrotik::RATE_LIMIT, b"1M/2M").unwrap();
        let mut wire = vec![vsa.kind(), u8::try_from(vsa.value().len() + 2).unwrap()];
        wire.extend_from_slice(vsa.value());
        assert_eq!(hex(&wire), "1a0d00003a8c0807314d2f324d");
        let subs = vsa.vendor_attributes();
        assert_eq!(subs.len(), 1);
        assert!(subs[0].is_mikrotik(mikrotik::RATE_LIMIT));
        assert_eq!(subs[0].value, b"1M/2M");
    }

    #[test]
    fn malformed_vsa_yields_nothing() {
        let attribute = Attribute::new(26, vec![0, 0, 0x3a, 0x8c, 8, 9, b'x']).unwrap();
        assert!(attribute.vendor_attributes().is_empty());
        let attribute = Attribute::new(26, vec![0, 0, 0x3a]).unwrap();
        assert!(attribute.vendor_attributes().is_empty());
    }

    #[test]
    fn long_values_are_refused() {
        assert!(Attribute::new(1, vec![0; 253]).is_ok());
        assert_eq!(
            Attribute::new(1, vec![0; 254]),
            Err(ValueTooLong { kind: 1, len: 254 })
        );
        assert!(Attribute::vendor(1, 1, &[0; 247]).is_ok());
        assert!(Attribute::vendor(1, 1, &[0; 248]).is_err());
    }
}
