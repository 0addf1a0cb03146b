//! Reply sentences: `!re`, `!done`, `!trap`, `!fatal`, `!empty`, and words we do not know yet.

use super::{Sentence, Word, split_attribute};

/// The kind of a reply sentence, from its first word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// `!re`: one data row.
    Re,
    /// `!done`: the last reply to a command; may carry `=ret=`.
    Done,
    /// `!trap`: the command failed; `!done` still follows.
    Trap,
    /// `!fatal`: the router is closing the connection.
    Fatal,
    /// `!empty` (RouterOS 7.18+): the command matched nothing; `!done` follows.
    Empty,
    /// A reply word this code does not know. Ignored rather than fatal, so the next new word
    /// RouterOS adds does not break us as `!empty` broke other clients.
    Unknown(Word),
}

/// One reply sentence taken apart.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// What the first word says.
    pub kind: ReplyKind,
    /// `.tag=` value, if the command was tagged.
    pub tag: Option<Word>,
    /// `=key=value` words in order.
    pub attributes: Vec<(Word, Word)>,
    /// Words that are neither attributes nor API attributes (the reason after `!fatal`).
    pub bare: Vec<Word>,
}

impl Reply {
    /// Classifies a sentence read from a router.
    pub fn from_sentence(sentence: Sentence) -> Self {
        let mut words = sentence.words.into_iter();
        let first = words.next().unwrap_or_default();
        let kind = match first.as_slice() {
            b"!re" => ReplyKind::Re,
            b"!done" => ReplyKind::Done,
            b"!trap" => ReplyKind::Trap,
            b"!fatal" => ReplyKind::Fatal,
            b"!empty" => ReplyKind::Empty,
            _ => ReplyKind::Unknown(first),
        };
        let mut reply = Reply {
            kind,
            tag: None,
            attributes: Vec::new(),
            bare: Vec::new(),
        };
        for word in words {
            if let Some(tag) = word.strip_prefix(b".tag=") {
                reply.tag = Some(tag.to_vec());
            } else if let Some((key, value)) = split_attribute(&word) {
                reply.attributes.push((key.to_vec(), value.to_vec()));
            } else {
                reply.bare.push(word);
            }
        }
        reply
    }

    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |w: &Word| String::from_utf8_lossy(w).into_owned();
        f.debug_struct("Reply")
            .field("kind", &self.kind)
            .field("tag", &self.tag.as_ref().map(text))
            .field(
                "attributes",
                &self
                    .attributes
                    .iter()
                    .map(|(k, v)| (text(k), text(v)))
                    .collect::<Vec<_>>(),
            )
            .field("bare", &self.bare.iter().map(text).collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(words: &[&[u8]]) -> Reply {
        Reply::from_sentence(Sentence::new(words.iter().map(|w| w.to_vec()).collect()))
    }

    #[test]
    fn classifies_reply_words() {
        assert_eq!(reply(&[b"!re"]).kind, ReplyKind::Re);
        assert_eq!(reply(&[b"!done"]).kind, ReplyKind::Done);
        assert_eq!(reply(&[b"!trap"]).kind, ReplyKind::Trap);
        assert_eq!(reply(&[b"!fatal"]).kind, ReplyKind::Fatal);
        assert_eq!(reply(&[b"!empty"]).kind, ReplyKind::Empty);
        assert_eq!(
            reply(&[b"!future"]).kind,
            ReplyKind::Unknown(b"!future".to_vec())
        );
    }

    #[test]
    fn separates_tag_attributes_and_bare_words() {
        let r = reply(&[
            b"!trap",
            b"=category=1",
            b".tag=12",
            b"=message=failure: already have such name",
        ]);
        assert_eq!(r.tag.as_deref(), Some(&b"12"[..]));
        assert_eq!(
            r.attribute("message"),
            Some(&b"failure: already have such name"[..])
        );
        let fatal = reply(&[b"!fatal", b"session terminated on request"]);
        assert_eq!(fatal.bare, vec![b"session terminated on request".to_vec()]);
    }
}
