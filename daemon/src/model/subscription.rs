//! Subscriptions: a plan bought by (or given to) a subscriber, queued or active, until it
//! expires or its limits are used up.

use serde::Serialize;

use super::{PlanId, SubscriberId, SubscriptionId};
use crate::clock::Timestamp;

/// Where a subscription came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An M-Pesa payment.
    Mpesa,
    /// Cash taken at the site.
    Cash,
    /// A voucher code.
    Voucher,
    /// Given by an operator.
    Manual,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mpesa => "mpesa",
            Source::Cash => "cash",
            Source::Voucher => "voucher",
            Source::Manual => "manual",
        }
    }
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// Id.
    pub id: SubscriptionId,
    /// Whose.
    pub subscriber_id: SubscriberId,
    /// Which plan.
    pub plan_id: PlanId,
    /// `queued`, `active`, `expired`, `exhausted` or `cancelled`.
    pub state: String,
    /// Where it came from.
    pub source: String,
    /// Activation time.
    pub starts_at: Option<Timestamp>,
    /// Expiry, computed at activation.
    pub expires_at: Option<Timestamp>,
    /// Online seconds allowed.
    pub time_limit_s: Option<i64>,
    /// Bytes allowed.
    pub data_limit: Option<i64>,
    /// Online seconds used.
    pub used_seconds: i64,
    /// Bytes used.
    pub used_bytes: i64,
}

impl Subscription {
    /// Seconds of online time left, if limited.
    pub fn time_left(&self) -> Option<i64> {
        self.time_limit_s
            .map(|limit| (limit - self.used_seconds).max(0))
    }

    /// Bytes left, if limited.
    pub fn data_left(&self) -> Option<i64> {
        self.data_limit
            .map(|limit| (limit - self.used_bytes).max(0))
    }
}

/// What started a subscription.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The kind of source.
    pub source: Source,
    /// The payment, if paid.
    pub payment_id: Option<i64>,
    /// The voucher, if redeemed.
    pub voucher_id: Option<i64>,
}
