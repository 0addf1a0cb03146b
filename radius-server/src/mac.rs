//! MAC addresses as NASes write them in Calling-Station-Id (MikroTik: `AA:BB:CC:DD:EE:FF`) and
//! in User-Name for MAC-auth logins.

use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address. Displays as upper-case, colon-separated hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress(pub [u8; 6]);

/// Text that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address")]
pub struct NotAMac;

impl FromStr for MacAddress {
    type Err = NotAMac;

    /// Accepts `AA:BB:CC:DD:EE:FF`, `aa-bb-cc-dd-ee-ff`, `aabb.ccdd.eeff` and `aabbccddeeff`.
    fn from_str(text: &str) -> Result<Self, NotAMac> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(|b| !matches!(b, b':' | b'-' | b'.'))
            .collect();
        let separators = text.len() - digits.len();
        if digits.len() != 12 || ![0, 2, 5].contains(&separators) {
            return Err(NotAMac);
        }
        let mut mac = [0u8; 6];
        for (byte, pair) in mac.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| NotAMac)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| NotAMac)?;
        }
        Ok(Self(mac))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let expected = MacAddress([0xaa, 0xbb, 0xcc, 0x01, 0x02, 0x03]);
        for text in [
            "AA:BB:CC:01:02:03",
            "aa-bb-cc-01-02-03",
            "aabb.cc01.0203",
            "AABBCC010203",
        ] {
            assert_eq!(text.parse::<MacAddress>(), Ok(expected), "{text}");
        }
        assert_eq!(expected.to_string(), "AA:BB:CC:01:02:03");
        for text in [
            "",
            "AA:BB:CC:01:02",
            "AA:BB:CC:01:02:0G",
            "user",
            "AABBCC01020304",
        ] {
            assert_eq!(text.parse::<MacAddress>(), Err(NotAMac), "{text}");
        }
    }
}
