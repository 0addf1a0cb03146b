//! What can be wrong with bytes on the wire.

/// A violation of the API framing. After one of these the byte stream cannot be trusted: the
/// connection that produced it must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A first length byte of 0xF8 or more: a control byte no client can continue after.
    #[error("control byte {0:#04x} in the word stream")]
    ControlByte(u8),
    /// A first length byte 0xF1..=0xF7, which no length form uses.
    #[error("invalid length prefix {0:#04x}")]
    InvalidPrefix(u8),
    /// A word longer than the configured bound.
    #[error("word of {len} bytes exceeds the limit of {limit}")]
    WordTooLong { len: usize, limit: usize },
    /// A sentence larger (in bytes) than the configured bound.
    #[error("sentence exceeds the limit of {limit} bytes")]
    SentenceTooLarge { limit: usize },
    /// A sentence with more words than the configured bound.
    #[error("sentence exceeds the limit of {limit} words")]
    TooManyWords { limit: usize },
    /// A word too long for any length form (4 GiB or more).
    #[error("word of {0} bytes cannot be encoded")]
    Unencodable(usize),
}
