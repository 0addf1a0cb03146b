//! Technicians: the logins of the local web page.

use serde::Serialize;

use super::stored::stored_enum;
use crate::clock::Timestamp;

stored_enum! {
    /// What a technician may do on the page.
    pub enum Role {
        /// Look and act (kick, retry, discard, vouchers, diagnostics).
        Operator = "operator",
        /// Look only.
        ReadOnly = "read-only",
    }
}

/// A technician account (without its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Technician {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Operator or read-only.
    pub role: Role,
    /// When the account was made.
    pub created_at: Timestamp,
}
