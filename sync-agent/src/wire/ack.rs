//! Cloud acks (cloud → edge on `…/acks`).

use serde::{Deserialize, Serialize};

use super::{VERSION, WireError};

/// "Everything up to `through` is stored", sent after the cloud's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Contract version.
    pub v: u32,
    /// The highest seq such that every seq from 1 to it is stored (or known dropped).
    pub through: u64,
    /// The batch whose commit produced this ack (None for an ack sent on its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    /// The server's wall clock at the commit, ms since the Unix epoch.
    pub server_time: i64,
}

impl Ack {
    /// Encodes as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks the version.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let ack: Ack = serde_json::from_slice(bytes).map_err(WireError::Json)?;
        if ack.v != VERSION {
            return Err(WireError::Version(ack.v));
        }
        Ok(ack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_a_batch() {
        let bytes = br#"{"v":1,"through":42,"batch":9,"server_time":1700000000000}"#;
        let ack = Ack::decode(bytes).expect("decode");
        assert_eq!(ack.through, 42);
        assert_eq!(ack.batch, Some(9));
        assert_eq!(ack.encode(), bytes.to_vec());
        let bare = Ack::decode(br#"{"v":1,"through":0,"server_time":5}"#).expect("decode");
        assert_eq!(bare.batch, None);
        assert!(Ack::decode(br#"{"v":3,"through":0,"server_time":5}"#).is_err());
    }
}
