//! The edge's retained status (`…/status`): `online` on connect, `offline` as the last will.

use serde::{Deserialize, Serialize};

use super::{VERSION, WireError};

/// Online or offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Connected.
    Online,
    /// Disconnected (the broker publishes the last will when the edge vanishes).
    Offline,
}

/// The retained status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Contract version.
    pub v: u32,
    /// Online or offline.
    pub state: Presence,
    /// The run of siteboxd (absent in the last will when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// siteboxd's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Box clock when published, ms.
    #[serde(default)]
    pub at: i64,
}

impl Status {
    /// Encodes as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks the version.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let status: Status = serde_json::from_slice(bytes).map_err(WireError::Json)?;
        if status.v != VERSION {
            return Err(WireError::Version(status.v));
        }
        Ok(status)
    }
}
