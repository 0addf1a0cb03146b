//! Subscriptions: a plan bought by (or given to) a subscriber, queued or active, until it
//! expires or its limits are used up.

use serde::Serialize;

use super::stored::stored_enum;
use super::{PlanId, SubscriberId, SubscriptionId};
use crate::clock::Timestamp;

stored_enum! {
    /// Where a subscription is in its life.
    pub enum SubscriptionState {
        /// Bought, waiting for the running one to end.
        Queued = "queued",
        /// Running: its expiry is fixed.
        Active = "active",
        /// Its validity ran out.
        Expired = "expired",
        /// Its time or data was used up.
        Exhausted = "exhausted",
        /// Cancelled by an operator.
        Cancelled = "cancelled",
    }
}

stored_enum! {
    /// Why a subscription ended.
    pub enum EndReason {
        /// Its validity ran out.
        Expired = "expired",
        /// Its time or data limit was used up.
        Exhausted = "exhausted",
    }
}

impl EndReason {
    /// The state a subscription ended for this reason is left in.
    pub const fn state(self) -> SubscriptionState {
        match self {
            EndReason::Expired => SubscriptionState::Expired,
            EndReason::Exhausted => SubscriptionState::Exhausted,
        }
    }
}

stored_enum! {
    /// Where a subscription came from.
    pub enum Source {
        /// An M-Pesa payment.
        Mpesa = "mpesa",
        /// Cash taken at the site.
        Cash = "cash",
        /// A voucher code.
        Voucher = "voucher",
        /// Given by an operator.
        Manual = "manual",
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
    /// Where it is in its life.
    pub state: SubscriptionState,
    /// Where it came from.
    pub source: Source,
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
            .map(|limit| limit.saturating_sub(self.used_seconds).max(0))
    }

    /// Bytes left, if limited.
    pub fn data_left(&self) -> Option<i64> {
        self.data_limit
            .map(|limit| limit.saturating_sub(self.used_bytes).max(0))
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
