//! Text at the edge: words are bytes; a router's codepage turns them into text and back.
//!
//! RouterOS stores bytes and declares no charset. Winbox writes the Windows codepage of the
//! operator's machine (CP1251, CP1250, ...), newer setups write UTF-8. So decoding tries UTF-8
//! first and falls back to the router's configured codepage; it never fails.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// How one router's text is decoded and encoded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Codepage {
    fallback: &'static Encoding,
    encode_in_fallback: bool,
}

impl Codepage {
    /// UTF-8 first, then windows-1252 for anything that is not UTF-8; outgoing text in UTF-8.
    pub const fn utf8() -> Self {
        Self {
            fallback: encoding_rs::WINDOWS_1252,
            encode_in_fallback: false,
        }
    }

    /// UTF-8 first, then the codepage named by `label` (a WHATWG label such as `windows-1251`,
    /// `cp1250`, `koi8-r`). Outgoing text is written in that codepage when it can represent it,
    /// so Winbox users see what they expect. `None` for an unknown label.
    pub fn with_fallback(label: &str) -> Option<Self> {
        let fallback = Encoding::for_label(label.trim().as_bytes())?;
        if fallback == encoding_rs::UTF_8 {
            return Some(Self::utf8());
        }
        Some(Self {
            fallback,
            encode_in_fallback: true,
        })
    }

    /// The fallback codepage's name.
    pub fn fallback_name(&self) -> &'static str {
        self.fallback.name()
    }

    /// Bytes from the router as text: UTF-8 when valid, else the fallback codepage.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => self.fallback.decode_without_bom_handling(bytes).0,
        }
    }

    /// Text for the router: in the fallback codepage when configured and it has every
    /// character, otherwise UTF-8.
    pub fn encode<'a>(&self, text: &'a str) -> Cow<'a, [u8]> {
        if self.encode_in_fallback && !text.is_ascii() {
            let (bytes, _, unmappable) = self.fallback.encode(text);
            if !unmappable {
                return bytes;
            }
        }
        Cow::Borrowed(text.as_bytes())
    }
}

impl Default for Codepage {
    fn default() -> Self {
        Self::utf8()
    }
}

impl std::fmt::Debug for Codepage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Codepage(utf-8, fallback {})", self.fallback.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_tried_first() {
        let cp = Codepage::with_fallback("windows-1251").unwrap();
        assert_eq!(cp.decode("Привет".as_bytes()), "Привет");
    }

    #[test]
    fn cp1251_bytes_decode_through_the_fallback() {
        let cp = Codepage::with_fallback("cp1251").unwrap();
        // "Привет" in CP1251.
        let bytes = [0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2];
        assert_eq!(cp.decode(&bytes), "Привет");
        assert_eq!(cp.encode("Привет").as_ref(), &bytes);
    }

    #[test]
    fn any_bytes_decode_without_panic() {
        let cp = Codepage::default();
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(cp.decode(&all).chars().count(), 256);
    }

    #[test]
    fn unmappable_text_is_sent_as_utf8() {
        let cp = Codepage::with_fallback("windows-1250").unwrap();
        assert_eq!(cp.encode("日本").as_ref(), "日本".as_bytes());
        assert!(Codepage::with_fallback("no-such-codepage").is_none());
    }
}
