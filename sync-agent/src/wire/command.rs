//! Commands (cloud → edge on `…/commands`) and their results (edge → cloud on `…/results`).

use serde::{Deserialize, Serialize};

use super::{VERSION, WireError};

/// The built-in command that makes the edge send again from a seq (gap repair).
pub const RESEND_FROM: &str = "resend_from";

/// A command from the cloud. `id` is the idempotency key: the edge applies an id once and
/// answers a repeat with the first result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Contract version.
    pub v: u32,
    /// Unique id (UUID).
    pub id: String,
    /// What to do, e.g. `payment.confirmed`, `queue.retry_failed`, `resend_from`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The arguments, shaped by `type`.
    #[serde(default)]
    pub payload: serde_json::Value,
    /// When the cloud issued it, ms since the Unix epoch.
    #[serde(default)]
    pub issued_at: i64,
}

impl Command {
    /// Encodes as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks version and id.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let command: Command = serde_json::from_slice(bytes).map_err(WireError::Json)?;
        if command.v != VERSION {
            return Err(WireError::Version(command.v));
        }
        if command.id.is_empty() || command.id.len() > 128 || command.kind.is_empty() {
            return Err(WireError::Invalid("command id and type are required"));
        }
        Ok(command)
    }
}

/// How a command ended at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandState {
    /// Applied; `result` is the applier's answer.
    Applied,
    /// Dead-lettered: never applied; `result.error` says why.
    Rejected,
}

impl CommandState {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CommandState::Applied => "applied",
            CommandState::Rejected => "rejected",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "applied" => Some(CommandState::Applied),
            "rejected" => Some(CommandState::Rejected),
            _ => None,
        }
    }
}

/// The edge's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// Contract version.
    pub v: u32,
    /// The command's id.
    pub id: String,
    /// The command's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Applied or rejected.
    pub state: CommandState,
    /// The applier's answer, or `{"error": "..."}` when rejected.
    pub result: serde_json::Value,
    /// When the edge first handled it (box clock, ms).
    pub handled_at: i64,
    /// True when this answers a repeat of an id already handled (the first result, unchanged).
    #[serde(default)]
    pub repeat: bool,
}

impl CommandResult {
    /// Encodes as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks the version.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let result: CommandResult = serde_json::from_slice(bytes).map_err(WireError::Json)?;
        if result.v != VERSION {
            return Err(WireError::Version(result.v));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_result_round_trip() {
        let bytes = br#"{"v":1,"id":"c-1","type":"resend_from","payload":{"seq":5},"issued_at":9}"#;
        let command = Command::decode(bytes).expect("decode");
        assert_eq!(command.kind, RESEND_FROM);
        assert_eq!(command.encode(), bytes.to_vec());
        assert!(Command::decode(br#"{"v":1,"id":"","type":"x"}"#).is_err());
        let result = CommandResult {
            v: VERSION,
            id: "c-1".into(),
            kind: RESEND_FROM.into(),
            state: CommandState::Rejected,
            result: serde_json::json!({"error": "bad seq"}),
            handled_at: 3,
            repeat: true,
        };
        let encoded = String::from_utf8(result.encode()).expect("utf8");
        assert_eq!(
            encoded,
            r#"{"v":1,"id":"c-1","type":"resend_from","state":"rejected","result":{"error":"bad seq"},"handled_at":3,"repeat":true}"#
        );
        assert_eq!(
            CommandResult::decode(encoded.as_bytes()).expect("decode"),
            result
        );
    }
}
