//! Rows (`!re` attributes) and whole responses, with text decoded by the router's codepage.

use std::borrow::Cow;

use crate::codec::{Codepage, Word};

/// One `!re` row (or the attributes of `!done`): properties as bytes, read as text through the
/// router's codepage. RouterOS sends every value as a string, booleans as `true`/`false`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Row {
    attributes: Vec<(Word, Word)>,
    codepage: Codepage,
}

impl Row {
    /// A row of attributes.
    pub fn new(attributes: Vec<(Word, Word)>, codepage: Codepage) -> Self {
        Self {
            attributes,
            codepage,
        }
    }

    /// The raw bytes of a property.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// A property as text (never fails: non-UTF-8 goes through the fallback codepage).
    pub fn text(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).map(|v| self.codepage.decode(v))
    }

    /// A property as an owned string.
    pub fn string(&self, key: &str) -> Option<String> {
        self.text(key).map(Cow::into_owned)
    }

    /// A boolean property: `true`/`yes` or `false`/`no`.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            b"true" | b"yes" => Some(true),
            b"false" | b"no" => Some(false),
            _ => None,
        }
    }

    /// A numeric property.
    pub fn u64(&self, key: &str) -> Option<u64> {
        std::str::from_utf8(self.get(key)?).ok()?.parse().ok()
    }

    /// The item id (`.id`, `*hex`).
    pub fn id(&self) -> Option<String> {
        self.string(".id")
    }

    /// All properties in the order the router sent them.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.attributes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// True when the row has no properties.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }
}

/// Shows properties as text; secrets (`password`, `secret`) are redacted.
impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.attributes {
            let key_text = String::from_utf8_lossy(key);
            if matches!(key.as_slice(), b"password" | b"secret") {
                map.entry(&key_text, &"<redacted>");
            } else {
                map.entry(&key_text, &self.codepage.decode(value));
            }
        }
        map.finish()
    }
}

/// Everything a command returned: its rows, and the attributes of `!done` (e.g. `=ret=`).
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The `!re` rows in order.
    pub rows: Vec<Row>,
    /// The attributes of the closing `!done`.
    pub done: Row,
}

impl Response {
    /// `=ret=` of `!done`: the new `.id` after `add`, the count after `count-only`.
    pub fn ret(&self) -> Option<String> {
        self.done.string("ret")
    }
}
