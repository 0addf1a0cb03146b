//! Word length prefixes: five big-endian forms, chosen by the value's size.
//!
//! | length | bytes | encoding |
//! |---|---|---|
//! | 0..0x7F | 1 | `len` |
//! | 0x80..0x3FFF | 2 | `len \| 0x8000` |
//! | 0x4000..0x1F_FFFF | 3 | `len \| 0xC0_0000` |
//! | 0x20_0000..0xFFF_FFFF | 4 | `len \| 0xE000_0000` |
//! | 0x1000_0000.. | 5 | `0xF0` then `len` as 4 bytes |

use super::CodecError;

/// The largest length the five-byte form can carry.
pub const MAX_WORD_LEN: usize = u32::MAX as usize;

/// Appends the shortest length prefix for `len` to `out`.
pub fn encode_length(len: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let value = u32::try_from(len).map_err(|_| CodecError::Unencodable(len))?;
    let bytes = value.to_be_bytes();
    match value {
        0..=0x7F => out.push(bytes[3]),
        0x80..=0x3FFF => out.extend_from_slice(&(value | 0x8000).to_be_bytes()[2..]),
        0x4000..=0x1F_FFFF => out.extend_from_slice(&(value | 0xC0_0000).to_be_bytes()[1..]),
        0x20_0000..=0xFFF_FFFF => out.extend_from_slice(&(value | 0xE000_0000).to_be_bytes()),
        _ => {
            out.push(0xF0);
            out.extend_from_slice(&bytes);
        }
    }
    Ok(())
}

/// Reads a length prefix from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of the prefix, otherwise the length and the
/// number of prefix bytes. Non-shortest forms are accepted, as routers and clients may send them.
pub fn decode_length(buf: &[u8]) -> Result<Option<(usize, usize)>, CodecError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (size, mask): (usize, u32) = match first {
        0x00..=0x7F => (1, 0x7F),
        0x80..=0xBF => (2, 0x3FFF),
        0xC0..=0xDF => (3, 0x1F_FFFF),
        0xE0..=0xEF => (4, 0xFFF_FFFF),
        0xF0 => (5, u32::MAX),
        0xF8..=0xFF => return Err(CodecError::ControlByte(first)),
        _ => return Err(CodecError::InvalidPrefix(first)),
    };
    if buf.len() < size {
        return Ok(None);
    }
    let value = if size == 5 {
        u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]])
    } else {
        buf[..size]
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
            & mask
    };
    Ok(Some((value as usize, size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(len: usize, expect: &[u8]) {
        let mut out = Vec::new();
        encode_length(len, &mut out).unwrap();
        assert_eq!(out, expect, "encoding {len:#x}");
        assert_eq!(decode_length(&out).unwrap(), Some((len, expect.len())));
        for cut in 0..expect.len() {
            assert_eq!(
                decode_length(&out[..cut]).unwrap(),
                None,
                "prefix cut at {cut}"
            );
        }
    }

    #[test]
    fn every_form_at_its_edges() {
        check(0, &[0x00]);
        check(0x7F, &[0x7F]);
        check(0x80, &[0x80, 0x80]);
        check(0x3FFF, &[0xBF, 0xFF]);
        check(0x4000, &[0xC0, 0x40, 0x00]);
        check(0x1F_FFFF, &[0xDF, 0xFF, 0xFF]);
        check(0x20_0000, &[0xE0, 0x20, 0x00, 0x00]);
        check(0xFFF_FFFF, &[0xEF, 0xFF, 0xFF, 0xFF]);
        check(0x1000_0000, &[0xF0, 0x10, 0x00, 0x00, 0x00]);
        check(u32::MAX as usize, &[0xF0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn non_shortest_forms_decode() {
        assert_eq!(decode_length(&[0x80, 0x05]).unwrap(), Some((5, 2)));
        assert_eq!(decode_length(&[0xF0, 0, 0, 0, 1]).unwrap(), Some((1, 5)));
    }

    #[test]
    fn control_and_invalid_bytes_are_errors() {
        assert_eq!(decode_length(&[0xF8]), Err(CodecError::ControlByte(0xF8)));
        assert_eq!(decode_length(&[0xFF]), Err(CodecError::ControlByte(0xFF)));
        assert_eq!(decode_length(&[0xF3]), Err(CodecError::InvalidPrefix(0xF3)));
    }

    #[test]
    fn oversized_lengths_are_unencodable() {
        let mut out = Vec::new();
        assert_eq!(
            encode_length(u32::MAX as usize + 1, &mut out),
            Err(CodecError::Unencodable(u32::MAX as usize + 1))
        );
    }
}
