//! Payments: M-Pesa confirmations relayed by the cloud and cash taken at the site, as stored.

use serde::Serialize;

use super::stored::stored_enum;
use crate::clock::Timestamp;

stored_enum! {
    /// Who took the money. A confirmation naming another provider is recorded as sent and
    /// rejected, so the stored `provider` column stays text.
    pub(crate) enum Provider {
        /// M-Pesa, confirmed by the cloud.
        Mpesa = "mpesa",
        /// Cash at the site.
        Cash = "cash",
    }
}

stored_enum! {
    /// What became of a payment.
    pub(crate) enum PaymentState {
        /// A subscription was granted.
        Applied = "applied",
        /// Kept, and refused with a reason for a technician.
        Rejected = "rejected",
    }
}

/// A stored payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Payment {
    /// Row id.
    pub id: i64,
    /// `mpesa`, `cash` or `voucher`.
    pub provider: String,
    /// Receipt.
    pub receipt: String,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Phone (masked when shown).
    pub phone: Option<String>,
    /// Applied or rejected.
    pub state: PaymentState,
    /// Why rejected.
    pub reason: Option<String>,
    /// The subscription granted.
    pub subscription_id: Option<i64>,
    /// When received.
    pub received_at: Timestamp,
}

/// A payment row to insert.
#[derive(Debug)]
pub(crate) struct NewPayment<'a> {
    pub provider: &'a str,
    pub receipt: &'a str,
    pub checkout_request_id: Option<&'a str>,
    pub amount: i64,
    pub currency: &'a str,
    pub phone: Option<&'a str>,
    pub plan_id: Option<i64>,
    pub subscriber_id: Option<i64>,
    pub mac: Option<String>,
    pub state: PaymentState,
    pub reason: Option<&'a str>,
    pub raw: &'a str,
    pub received_at: Timestamp,
}
