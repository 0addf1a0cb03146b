//! The edge↔cloud wire contract (docs/PROTOCOL.md): topics and payload codecs. Pure: no IO.

mod ack;
mod batch;
mod command;
mod lane;
mod resend;
mod status;
mod topic;

pub use ack::Ack;
pub use batch::{Batch, MAX_DECODED_BYTES, WireEvent, ZSTD_MAGIC};
pub use command::{Command, CommandResult, CommandState, RESEND_FROM};
pub use lane::Lane;
pub use resend::ResendOutcome;
pub use status::{Presence, Status};
pub use topic::{PREFIX, Topic, TopicKind, all_sites, valid_id};

/// The contract version carried in every payload (`v`) and in the topic prefix (`v1`).
pub const VERSION: u32 = 1;

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not the JSON the contract describes.
    #[error("bad JSON: {0}")]
    Json(serde_json::Error),
    /// zstd failed.
    #[error("zstd: {0}")]
    Compress(std::io::Error),
    /// Decompressed past the cap.
    #[error("batch larger than {0} bytes once decompressed")]
    TooLarge(usize),
    /// A version this build does not speak.
    #[error("unknown contract version {0}")]
    Version(u32),
    /// Well-formed but breaking a rule.
    #[error("invalid: {0}")]
    Invalid(&'static str),
}
