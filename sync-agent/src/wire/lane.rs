//! Priority lanes: the order in which the edge sends what it has not sent yet.

use serde::{Deserialize, Serialize};

/// A sync lane. Lanes order sending only; the cloud's cursor is over the site's one seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// Payments: sent first, never dropped.
    Payments,
    /// Results of cloud commands that were recorded as events.
    Results,
    /// Domain events.
    Events,
    /// Telemetry: sent last; dropped (and counted) when the backlog exceeds its disk budget.
    Telemetry,
}

impl Lane {
    /// Every lane, in sending priority (highest first).
    pub const ALL: [Lane; 4] = [Lane::Payments, Lane::Results, Lane::Events, Lane::Telemetry];

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Lane::Payments => "payments",
            Lane::Results => "results",
            Lane::Events => "events",
            Lane::Telemetry => "telemetry",
        }
    }

    /// The lane named `name`.
    pub fn parse(name: &str) -> Option<Lane> {
        Self::ALL.into_iter().find(|lane| lane.as_str() == name)
    }

    /// Index in [`Lane::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}
