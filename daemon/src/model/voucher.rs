//! Vouchers: codes printed in batches, each redeemed once into a subscriber.

use serde::Serialize;

use super::stored::stored_enum;

stored_enum! {
    /// Whether a voucher can still be used.
    pub(crate) enum VoucherState {
        /// Not used yet.
        Unused = "unused",
        /// Redeemed by its first login.
        Redeemed = "redeemed",
        /// Cancelled.
        Void = "void",
    }
}

/// A voucher as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Voucher {
    /// Row id.
    pub id: i64,
    /// The code.
    pub code: String,
    /// Its plan's id.
    pub plan_id: i64,
    /// Its plan's name.
    pub plan: String,
    /// The batch it was printed in.
    pub batch: String,
    /// Unused, redeemed or void.
    pub state: VoucherState,
}
