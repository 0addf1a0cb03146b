//! The event types and the sync lane each travels in.

use serde::Serialize;
/// The sync lanes are the wire contract's ([`sitebox_sync::wire::Lane`]): one definition.
pub use sitebox_sync::wire::Lane;

/// What happened. The names are the wire names (docs/PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[allow(missing_docs)]
pub enum EventKind {
    PaymentReceived,
    PaymentApplied,
    PaymentRejected,
    SubscriberCreated,
    SubscriberUpdated,
    SubscriberDeleted,
    SubscriptionStarted,
    SubscriptionExpired,
    VoucherRedeemed,
    SessionStarted,
    SessionUpdated,
    SessionStopped,
    AuthRejected,
    ProvisioningSucceeded,
    ProvisioningFailed,
    RouterStatusChanged,
    RouterAdded,
    RouterUpdated,
    PlanCreated,
    PlanUpdated,
    VouchersGenerated,
    SubscriberMacBound,
    JobFailed,
    JobRetried,
    JobDiscarded,
    TechnicianAction,
}

impl EventKind {
    /// Every kind, for parsing stored names.
    pub const ALL: [EventKind; 26] = [
        EventKind::PaymentReceived,
        EventKind::PaymentApplied,
        EventKind::PaymentRejected,
        EventKind::SubscriberCreated,
        EventKind::SubscriberUpdated,
        EventKind::SubscriberDeleted,
        EventKind::SubscriptionStarted,
        EventKind::SubscriptionExpired,
        EventKind::VoucherRedeemed,
        EventKind::SessionStarted,
        EventKind::SessionUpdated,
        EventKind::SessionStopped,
        EventKind::AuthRejected,
        EventKind::ProvisioningSucceeded,
        EventKind::ProvisioningFailed,
        EventKind::RouterStatusChanged,
        EventKind::RouterAdded,
        EventKind::RouterUpdated,
        EventKind::PlanCreated,
        EventKind::PlanUpdated,
        EventKind::VouchersGenerated,
        EventKind::SubscriberMacBound,
        EventKind::JobFailed,
        EventKind::JobRetried,
        EventKind::JobDiscarded,
        EventKind::TechnicianAction,
    ];

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PaymentReceived => "PaymentReceived",
            EventKind::PaymentApplied => "PaymentApplied",
            EventKind::PaymentRejected => "PaymentRejected",
            EventKind::SubscriberCreated => "SubscriberCreated",
            EventKind::SubscriberUpdated => "SubscriberUpdated",
            EventKind::SubscriberDeleted => "SubscriberDeleted",
            EventKind::SubscriptionStarted => "SubscriptionStarted",
            EventKind::SubscriptionExpired => "SubscriptionExpired",
            EventKind::VoucherRedeemed => "VoucherRedeemed",
            EventKind::SessionStarted => "SessionStarted",
            EventKind::SessionUpdated => "SessionUpdated",
            EventKind::SessionStopped => "SessionStopped",
            EventKind::AuthRejected => "AuthRejected",
            EventKind::ProvisioningSucceeded => "ProvisioningSucceeded",
            EventKind::ProvisioningFailed => "ProvisioningFailed",
            EventKind::RouterStatusChanged => "RouterStatusChanged",
            EventKind::RouterAdded => "RouterAdded",
            EventKind::RouterUpdated => "RouterUpdated",
            EventKind::PlanCreated => "PlanCreated",
            EventKind::PlanUpdated => "PlanUpdated",
            EventKind::VouchersGenerated => "VouchersGenerated",
            EventKind::SubscriberMacBound => "SubscriberMacBound",
            EventKind::JobFailed => "JobFailed",
            EventKind::JobRetried => "JobRetried",
            EventKind::JobDiscarded => "JobDiscarded",
            EventKind::TechnicianAction => "TechnicianAction",
        }
    }

    /// The kind stored under `name`.
    pub fn parse(name: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The lane it syncs in.
    pub fn lane(self) -> Lane {
        match self {
            EventKind::PaymentReceived | EventKind::PaymentApplied | EventKind::PaymentRejected => {
                Lane::Payments
            }
            EventKind::SessionUpdated
            | EventKind::AuthRejected
            | EventKind::RouterStatusChanged => Lane::Telemetry,
            _ => Lane::Events,
        }
    }

    /// The payload's schema version; bump it when a payload changes shape.
    pub fn schema_version(self) -> u32 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serialize");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(EventKind::parse("NoSuchEvent"), None);
    }

    #[test]
    fn payments_never_travel_as_telemetry() {
        assert_eq!(EventKind::PaymentApplied.lane(), Lane::Payments);
        assert_eq!(EventKind::RouterStatusChanged.lane(), Lane::Telemetry);
        assert_eq!(EventKind::JobFailed.lane(), Lane::Events);
    }
}
