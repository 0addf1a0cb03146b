//! Text to attribute value, per dictionary type (the way a FreeRADIUS users file writes values),
//! so that the daemon can keep extra reply attributes as name/value text.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{AttributeDef, AttributeType};
use crate::attribute::Attribute;

/// A value that does not fit its attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("unknown attribute `{0}`")]
    UnknownAttribute(String),
    #[error("`{value}` is not a valid {kind:?} value for {attribute}")]
    Invalid {
        attribute: String,
        kind: AttributeType,
        value: String,
    },
    #[error("value for {0} is longer than an attribute can carry")]
    TooLong(String),
}

pub(super) fn encode(def: &AttributeDef, text: &str) -> Result<Attribute, ValueError> {
    let invalid = || ValueError::Invalid {
        attribute: def.name.clone(),
        kind: def.kind,
        value: text.to_owned(),
    };
    let bytes: Vec<u8> = match def.kind {
        AttributeType::String => text.as_bytes().to_vec(),
        AttributeType::Octets => match text.strip_prefix("0x") {
            Some(hex) => decode_hex(hex).ok_or_else(invalid)?,
            None => text.as_bytes().to_vec(),
        },
        AttributeType::Integer | AttributeType::Date => {
            let value = def
                .value_of(text)
                .or_else(|| text.parse().ok())
                .ok_or_else(invalid)?;
            value.to_be_bytes().to_vec()
        }
        AttributeType::Integer64 => text
            .parse::<u64>()
            .map_err(|_| invalid())?
            .to_be_bytes()
            .to_vec(),
        AttributeType::Signed => text
            .parse::<i32>()
            .map_err(|_| invalid())?
            .to_be_bytes()
            .to_vec(),
        AttributeType::Short => text
            .parse::<u16>()
            .map_err(|_| invalid())?
            .to_be_bytes()
            .to_vec(),
        AttributeType::Byte => vec![text.parse::<u8>().map_err(|_| invalid())?],
        AttributeType::IpAddr => text
            .parse::<Ipv4Addr>()
            .map_err(|_| invalid())?
            .octets()
            .to_vec(),
        AttributeType::Ipv6Addr => text
            .parse::<Ipv6Addr>()
            .map_err(|_| invalid())?
            .octets()
            .to_vec(),
        AttributeType::Ipv6Prefix => {
            let (address, len) = text.split_once('/').ok_or_else(invalid)?;
            let address: Ipv6Addr = address.parse().map_err(|_| invalid())?;
            let len: u8 = len.parse().ok().filter(|l| *l <= 128).ok_or_else(invalid)?;
            // RFC 3162 §2.3: reserved byte, prefix length, then only the prefix's bytes.
            let used = usize::from(len).div_ceil(8);
            let mut bytes = vec![0, len];
            bytes.extend_from_slice(&address.octets()[..used]);
            bytes
        }
        AttributeType::InterfaceId => {
            let hex: String = text.chars().filter(|c| *c != ':').collect();
            decode_hex(&hex)
                .filter(|b| b.len() == 8)
                .ok_or_else(invalid)?
        }
        AttributeType::Ether => {
            let hex: String = text
                .chars()
                .filter(|c| !matches!(c, ':' | '-' | '.'))
                .collect();
            decode_hex(&hex)
                .filter(|b| b.len() == 6)
                .ok_or_else(invalid)?
        }
    };
    let too_long = |_| ValueError::TooLong(def.name.clone());
    if def.key.vendor == 0 {
        Attribute::new(def.key.code, bytes).map_err(too_long)
    } else {
        Attribute::vendor(def.key.vendor, def.key.code, &bytes).map_err(too_long)
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::dictionary::Dictionary;
    use crate::testutil::hex;

    #[test]
    fn encodes_text_values_by_type() {
        let dictionary = Dictionary::builtin();
        let cases = [
            ("Mikrotik-Rate-Limit", "1M/2M", "1a0d00003a8c0807314d2f324d"),
            ("Session-Timeout", "3600", "1b0600000e10"),
            ("Acct-Status-Type", "Interim-Update", "280600000003"),
            ("Framed-IP-Address", "10.5.50.2", "08060a053202"),
            ("Class", "0x0102", "19040102"),
            ("Framed-IPv6-Prefix", "2001:db8::/32", "6108002020010db8"),
            ("Mikrotik-Address-List", "vip", "1a0b00003a8c1305766970"),
        ];
        for (name, value, expected) in cases {
            let attribute = dictionary.encode(name, value).unwrap();
            let mut wire = vec![
                attribute.kind(),
                u8::try_from(attribute.value().len() + 2).unwrap(),
            ];
            wire.extend_from_slice(attribute.value());
            assert_eq!(hex(&wire), expected, "{name} = {value}");
        }
        for (name, value) in [
            ("Session-Timeout", "soon"),
            ("Framed-IP-Address", "10.5"),
            ("Class", "0xzz"),
        ] {
            assert!(dictionary.encode(name, value).is_err(), "{name} = {value}");
        }
        assert_eq!(
            dictionary.encode("No-Such", "1").unwrap_err().to_string(),
            "unknown attribute `No-Such`"
        );
    }
}
