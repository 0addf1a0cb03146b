//! Vouchers: codes printed in batches, each redeemed once into a subscriber.

use serde::Serialize;

/// A voucher as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Voucher {
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
    /// `unused`, `redeemed` or `void`.
    pub state: String,
}
