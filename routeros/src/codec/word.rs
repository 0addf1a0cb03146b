//! Words: raw bytes, never assumed to be UTF-8, and the `=key=value` attribute form.

/// One API word. RouterOS declares no charset, so words stay bytes until the edge decodes them
/// with the router's [`Codepage`](super::Codepage).
pub type Word = Vec<u8>;

/// Splits an attribute word `=key=value` into key and value on the first two `=` only, so the
/// value may itself contain `=` or be empty. `=key` without a second `=` has an empty value.
/// Returns `None` when the word does not start with `=`.
pub fn split_attribute(word: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = word.strip_prefix(b"=")?;
    match rest.iter().position(|&b| b == b'=') {
        Some(at) => Some((&rest[..at], &rest[at + 1..])),
        None => Some((rest, &[])),
    }
}

/// Builds the attribute word `=key=value`.
pub(crate) fn attribute(key: &[u8], value: &[u8]) -> Word {
    let mut word = Vec::with_capacity(key.len() + value.len() + 2);
    word.push(b'=');
    word.extend_from_slice(key);
    word.push(b'=');
    word.extend_from_slice(value);
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(word: &[u8], expect: Option<(&[u8], &[u8])>) {
        assert_eq!(
            split_attribute(word),
            expect,
            "{}",
            String::from_utf8_lossy(word)
        );
    }

    #[test]
    fn splits_on_the_first_two_equals_only() {
        check(b"=name=alice", Some((b"name", b"alice")));
        check(b"=comment=", Some((b"comment", b"")));
        check(b"=comment=a=b==c", Some((b"comment", b"a=b==c")));
        check(b"=disabled", Some((b"disabled", b"")));
        check(b"=.id=*1A", Some((b".id", b"*1A")));
        check(b"==x", Some((b"", b"x")));
        check(b"!done", None);
        check(b".tag=4", None);
    }
}
