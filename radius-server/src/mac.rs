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
        let mut mac = [0u8; 6];
        let (mut digits, mut separators) = (0usize, 0usize);
        for byte in text.bytes() {
            let nibble = match byte {
                b':' | b'-' | b'.' => {
                    separators += 1;
                    continue;
                }
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                _ => return Err(NotAMac),
            };
            let slot = mac.get_mut(digits / 2).ok_or(NotAMac)?;
            *slot = *slot << 4 | nibble;
            digits += 1;
        }
        if digits != 12 || ![0, 2, 5].contains(&separators) {
            return Err(NotAMac);
        }
        Ok(Self(mac))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut text = [b':'; 17];
        for (i, byte) in self.0.iter().enumerate() {
            text[3 * i] = HEX[usize::from(byte >> 4)];
            text[3 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        // Only ASCII was written.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
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
            "AA:BB:CC:01:02:+3",
            "AA:BB:CC:01:02:03:",
            "AA::BB:CC:01:02:03",
        ] {
            assert_eq!(text.parse::<MacAddress>(), Err(NotAMac), "{text}");
        }
    }

    proptest::proptest! {
        /// Any text: parsed or refused, never a panic; what parses displays as 17 characters.
        #[test]
        fn any_text_parses_or_is_refused(text in ".{0,40}") {
            if let Ok(mac) = text.parse::<MacAddress>() {
                proptest::prop_assert_eq!(mac.to_string().len(), 17);
            }
        }

        /// Every address displays in the MikroTik form and parses back from it and from the
        /// other forms NASes use.
        #[test]
        fn every_address_round_trips(bytes in proptest::prelude::any::<[u8; 6]>()) {
            let mac = MacAddress(bytes);
            let shown = mac.to_string();
            proptest::prop_assert_eq!(shown.parse::<MacAddress>(), Ok(mac));
            proptest::prop_assert_eq!(shown.replace(':', "-").to_lowercase().parse::<MacAddress>(), Ok(mac));
            proptest::prop_assert_eq!(shown.replace(':', "").parse::<MacAddress>(), Ok(mac));
            let plain = shown.replace(':', "");
            let dotted = format!("{}.{}.{}", &plain[..4], &plain[4..8], &plain[8..]);
            proptest::prop_assert_eq!(dotted.parse::<MacAddress>(), Ok(mac));
        }
    }
}
