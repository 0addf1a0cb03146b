//! Commands a client sends: a path, attributes, query words and `.proplist`.

use super::{Sentence, Word, word::attribute};

/// A command sentence under construction. Values are bytes; encode text with the router's
/// [`Codepage`](super::Codepage) first when it may be non-ASCII. The `.tag` is added by the
/// connection that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    words: Vec<Word>,
}

impl Command {
    /// A command for `path`, e.g. `/ip/hotspot/user/print`.
    pub fn new(path: &str) -> Self {
        Self {
            words: vec![path.as_bytes().to_vec()],
        }
    }

    /// The command path.
    pub fn path(&self) -> &[u8] {
        &self.words[0]
    }

    /// Adds `=key=value`.
    pub fn attr(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.words.push(attribute(key.as_bytes(), value.as_ref()));
        self
    }

    /// Adds `=.proplist=a,b,c`: only these properties come back from print.
    pub fn proplist(self, keys: &[&str]) -> Self {
        let list = keys.join(",");
        self.attr(".proplist", list)
    }

    /// Adds the query word `?key=value` (equal).
    pub fn where_eq(self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.query(b"?", key, Some(value.as_ref()))
    }

    /// Adds `?>key=value` (greater than).
    pub fn where_gt(self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.query(b"?>", key, Some(value.as_ref()))
    }

    /// Adds `?<key=value` (less than).
    pub fn where_lt(self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.query(b"?<", key, Some(value.as_ref()))
    }

    /// Adds `?key` (the property exists).
    pub fn where_has(self, key: &str) -> Self {
        self.query(b"?", key, None)
    }

    /// Adds `?-key` (the property is absent).
    pub fn where_lacks(self, key: &str) -> Self {
        self.query(b"?-", key, None)
    }

    /// Adds `?#ops`: stack operations `|` (or), `&` (and), `!` (not), `.` (dup).
    pub fn where_ops(mut self, ops: &str) -> Self {
        self.words.push(format!("?#{ops}").into_bytes());
        self
    }

    /// Adds a raw word as it is.
    pub fn word(mut self, word: impl Into<Word>) -> Self {
        self.words.push(word.into());
        self
    }

    fn query(mut self, prefix: &[u8], key: &str, value: Option<&[u8]>) -> Self {
        let mut word = prefix.to_vec();
        word.extend_from_slice(key.as_bytes());
        if let Some(value) = value {
            word.push(b'=');
            word.extend_from_slice(value);
        }
        self.words.push(word);
        self
    }

    /// The sentence, with `.tag=tag` appended when given.
    pub fn to_sentence(&self, tag: Option<&str>) -> Sentence {
        let mut words = self.words.clone();
        if let Some(tag) = tag {
            words.push(format!(".tag={tag}").into_bytes());
        }
        Sentence::new(words)
    }
}

/// Same redaction as [`Sentence`]'s Debug: passwords never reach a log.
impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_sentence(None), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_print_with_queries_and_proplist() {
        let cmd = Command::new("/interface/print")
            .proplist(&["name", "type"])
            .where_eq("type", "ether")
            .where_eq("type", "vlan")
            .where_ops("|")
            .where_has("running")
            .where_lacks("comment")
            .where_gt("mtu", "1500")
            .where_lt("mtu", "9000");
        let words: Vec<String> = cmd
            .to_sentence(Some("3"))
            .words
            .iter()
            .map(|w| String::from_utf8(w.clone()).unwrap())
            .collect();
        assert_eq!(
            words,
            [
                "/interface/print",
                "=.proplist=name,type",
                "?type=ether",
                "?type=vlan",
                "?#|",
                "?running",
                "?-comment",
                "?>mtu=1500",
                "?<mtu=9000",
                ".tag=3"
            ]
        );
    }
}
