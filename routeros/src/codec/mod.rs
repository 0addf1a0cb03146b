//! The RouterOS API wire format, sans-IO: word lengths, words, sentences, an incremental decoder
//! and the reply words a router sends. Nothing here awaits or touches a socket.

mod codepage;
mod command;
mod decoder;
mod error;
mod length;
mod reply;
mod sentence;
mod word;

pub use codepage::Codepage;
pub use command::Command;
pub use decoder::{Decoder, Limits};
pub use error::CodecError;
pub use length::{MAX_WORD_LEN, decode_length, encode_length};
pub use reply::{Reply, ReplyKind};
pub use sentence::Sentence;
pub use word::{Word, split_attribute};
