//! What can go wrong talking to a router.

use std::time::Duration;

use crate::codec::CodecError;

use super::Trap;

/// Which step of talking to a router ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// TCP connect and the TLS handshake.
    Connect,
    /// The `/login` exchange.
    Login,
    /// Sending a command.
    Send,
    /// Waiting for the next reply sentence of a command (the idle timeout).
    Reply,
    /// A command's total deadline.
    Deadline,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Login => "login",
            Stage::Send => "sending the command",
            Stage::Reply => "waiting for a reply",
            Stage::Deadline => "the command deadline",
        })
    }
}

/// An error from the client. A [`Trap`] is the router refusing one command; the connection
/// stays usable. Every other variant means the connection is gone or never came up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The router answered the command with `!trap`.
    #[error("router refused: {0}")]
    Trap(#[from] Trap),
    /// TCP connect failed (router down, refused, unreachable).
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The TLS handshake failed, including a certificate that does not match the pin.
    #[error("API-SSL handshake with {addr}: {reason}")]
    Tls { addr: String, reason: String },
    /// The router did not accept the user name and password.
    #[error("login refused: {0}")]
    LoginRefused(String),
    /// A step ran out of time. A stalled connection is closed when this happens.
    #[error("{stage} timed out after {after:?}")]
    Timeout { stage: Stage, after: Duration },
    /// The router sent `!fatal` and closed the connection.
    #[error("router closed the session: {0}")]
    Fatal(String),
    /// The connection is closed (EOF, IO error, protocol error, timeout elsewhere).
    #[error("connection closed: {0}")]
    Closed(String),
    /// The router's bytes broke the framing.
    #[error("protocol error: {0}")]
    Protocol(#[from] CodecError),
    /// A reply lacked something the operation needs, or carried a value it cannot use.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
}

impl Error {
    /// True when the router refused the command but the connection is fine.
    pub fn is_trap(&self) -> bool {
        matches!(self, Error::Trap(_))
    }

    /// True when trying again later may succeed (the router or link was down or slow).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Timeout { .. } | Error::Fatal(_) | Error::Closed(_)
        )
    }
}
