//! An incremental sentence decoder: feed it whatever bytes arrived, take out whole sentences.

use super::{CodecError, Sentence, Word, decode_length};

/// Bounds on what a peer may make us buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single word, in bytes.
    pub max_word: usize,
    /// Largest sentence, in bytes of words (prefixes not counted).
    pub max_sentence: usize,
    /// Most words in one sentence.
    pub max_words: usize,
}

impl Limits {
    /// Generous bounds for a logged-in session: a print row of a few hundred attributes.
    pub const SESSION: Self = Self {
        max_word: 1 << 20,
        max_sentence: 4 << 20,
        max_words: 4096,
    };
    /// Tight bounds for a peer that has not logged in yet, as a router applies them.
    pub const LOGIN: Self = Self {
        max_word: 1024,
        max_sentence: 4096,
        max_words: 16,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::SESSION
    }
}

/// Turns a byte stream into sentences, whatever the chunking.
///
/// Errors are sticky: once the stream is found malformed every later call repeats the error,
/// since no resynchronisation is possible in this framing.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    words: Vec<Word>,
    sentence_bytes: usize,
    limits: Limits,
    failed: Option<CodecError>,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Changes the bounds, e.g. from [`Limits::LOGIN`] to [`Limits::SESSION`] after login.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Appends bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 4096 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed but not yet part of a returned sentence's words.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Takes out the next whole sentence, or `Ok(None)` when more bytes are needed.
    /// Empty sentences (a lone zero byte) are skipped.
    pub fn decode(&mut self) -> Result<Option<Sentence>, CodecError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match self.decode_inner() {
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
            ok => ok,
        }
    }

    fn decode_inner(&mut self) -> Result<Option<Sentence>, CodecError> {
        loop {
            let pending = &self.buf[self.start..];
            let Some((len, prefix)) = decode_length(pending)? else {
                return Ok(None);
            };
            if len == 0 {
                self.start += prefix;
                self.sentence_bytes = 0;
                let words = std::mem::take(&mut self.words);
                if words.is_empty() {
                    continue;
                }
                return Ok(Some(Sentence::new(words)));
            }
            if len > self.limits.max_word {
                return Err(CodecError::WordTooLong {
                    len,
                    limit: self.limits.max_word,
                });
            }
            if self.sentence_bytes + len > self.limits.max_sentence {
                return Err(CodecError::SentenceTooLarge {
                    limit: self.limits.max_sentence,
                });
            }
            if self.words.len() >= self.limits.max_words {
                return Err(CodecError::TooManyWords {
                    limit: self.limits.max_words,
                });
            }
            if pending.len() < prefix + len {
                return Ok(None);
            }
            self.words.push(pending[prefix..prefix + len].to_vec());
            self.sentence_bytes += len;
            self.start += prefix + len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(words: &[&[u8]]) -> Sentence {
        Sentence::new(words.iter().map(|w| w.to_vec()).collect())
    }

    #[test]
    fn decodes_byte_by_byte() {
        let wire = b"\x03!re\x0b=name=alice\x00\x05!done\x00";
        let mut decoder = Decoder::default();
        let mut got = Vec::new();
        for byte in wire {
            decoder.feed(&[*byte]);
            while let Some(s) = decoder.decode().unwrap() {
                got.push(s);
            }
        }
        assert_eq!(
            got,
            vec![sentence(&[b"!re", b"=name=alice"]), sentence(&[b"!done"])]
        );
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn skips_empty_sentences() {
        let mut decoder = Decoder::default();
        decoder.feed(b"\x00\x00\x05!done\x00");
        assert_eq!(decoder.decode().unwrap(), Some(sentence(&[b"!done"])));
        assert_eq!(decoder.decode().unwrap(), None);
    }

    #[test]
    fn control_byte_is_a_sticky_error() {
        let mut decoder = Decoder::default();
        decoder.feed(b"\x03!re\xF8");
        assert_eq!(decoder.decode(), Err(CodecError::ControlByte(0xF8)));
        decoder.feed(b"\x00");
        assert_eq!(decoder.decode(), Err(CodecError::ControlByte(0xF8)));
    }

    #[test]
    fn oversized_word_fails_before_its_bytes_arrive() {
        let mut decoder = Decoder::new(Limits::LOGIN);
        decoder.feed(&[0x80 | 0x08, 0x00]);
        assert_eq!(
            decoder.decode(),
            Err(CodecError::WordTooLong {
                len: 2048,
                limit: 1024
            })
        );
    }

    #[test]
    fn too_many_words_fails() {
        let mut decoder = Decoder::new(Limits {
            max_word: 10,
            max_sentence: 100,
            max_words: 2,
        });
        decoder.feed(b"\x01a\x01b\x01c\x00");
        assert_eq!(decoder.decode(), Err(CodecError::TooManyWords { limit: 2 }));
    }

    #[test]
    fn oversized_sentence_fails() {
        let mut decoder = Decoder::new(Limits {
            max_word: 10,
            max_sentence: 15,
            max_words: 10,
        });
        decoder.feed(b"\x08aaaaaaaa\x08bbbbbbbb\x00");
        assert_eq!(
            decoder.decode(),
            Err(CodecError::SentenceTooLarge { limit: 15 })
        );
    }
}
