//! Technicians: the logins of the local web page.

use serde::Serialize;

use crate::clock::Timestamp;

/// A technician account (without its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Technician {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// `operator` or `read-only`.
    pub role: String,
    /// When the account was made.
    pub created_at: Timestamp,
}
