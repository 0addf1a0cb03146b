//! Sentences: a run of words closed by a zero-length word.

use super::{CodecError, Word, encode_length, split_attribute};

/// One sentence: a command (or reply word) and its words, without the closing empty word.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sentence {
    /// The words in order; the first names the command or reply.
    pub words: Vec<Word>,
}

impl Sentence {
    /// A sentence of the given words.
    pub fn new(words: Vec<Word>) -> Self {
        Self { words }
    }

    /// The first word (command or reply word), empty for an empty sentence.
    pub fn first(&self) -> &[u8] {
        self.words.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// The value of `.tag=` if the sentence carries one.
    pub fn tag(&self) -> Option<&[u8]> {
        self.words
            .iter()
            .skip(1)
            .find_map(|w| w.strip_prefix(b".tag="))
    }

    /// The `=key=value` attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.words.iter().skip(1).filter_map(|w| split_attribute(w))
    }

    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&[u8]> {
        self.attributes()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// Appends the wire form (each word length-prefixed, then a zero byte) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        for word in &self.words {
            encode_length(word.len(), out)?;
            out.extend_from_slice(word);
        }
        out.push(0);
        Ok(())
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(self.words.iter().map(|w| w.len() + 2).sum::<usize>() + 1);
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// Shows words lossily as text; attribute values named like secrets are redacted so a sentence
/// can be logged safely.
impl std::fmt::Debug for Sentence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for word in &self.words {
            match split_attribute(word) {
                Some((key, _)) if is_secret_key(key) => list.entry(&format_args!(
                    "={}=<redacted>",
                    String::from_utf8_lossy(key)
                )),
                _ => list.entry(&String::from_utf8_lossy(word)),
            };
        }
        list.finish()
    }
}

fn is_secret_key(key: &[u8]) -> bool {
    matches!(key, b"password" | b"response" | b"secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_words_then_a_zero_byte() {
        let sentence = Sentence::new(vec![b"/login".to_vec(), b"=name=admin".to_vec()]);
        let bytes = sentence.to_bytes().unwrap();
        assert_eq!(bytes, b"\x06/login\x0b=name=admin\x00");
    }

    #[test]
    fn reads_tag_and_attributes() {
        let sentence = Sentence::new(vec![
            b"!re".to_vec(),
            b"=name=a=b".to_vec(),
            b".tag=7".to_vec(),
        ]);
        assert_eq!(sentence.tag(), Some(&b"7"[..]));
        assert_eq!(sentence.attribute("name"), Some(&b"a=b"[..]));
    }

    #[test]
    fn debug_redacts_secrets() {
        let sentence = Sentence::new(vec![
            b"/login".to_vec(),
            b"=name=admin".to_vec(),
            b"=password=hunter2".to_vec(),
        ]);
        let shown = format!("{sentence:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("=password=<redacted>"), "{shown}");
    }
}
