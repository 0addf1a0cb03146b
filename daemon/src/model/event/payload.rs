//! One payload struct per event kind: what each event says, serialised in one place
//! ([`super::NewEvent::new`]). The JSON is the wire contract (docs/PROTOCOL.md) and the audit
//! log's detail: the tests below pin the serialised form of each kind.
//!
//! Payloads carry no secrets; phone numbers are masked.

use std::collections::BTreeMap;

use serde::Serialize;

use super::EventKind;
use crate::clock::Timestamp;
use crate::model::job::{Enqueued, JobId, RetryOutcome};
use crate::model::plan::{Plan, PlanState};
use crate::model::router::{Router, RouterState, RouterStatus};
use crate::model::session::Session;
use crate::model::subscriber::{Subscriber, SubscriberKind, SubscriberState, mask_phone};
use crate::model::subscription::{EndReason, Source};
use crate::model::technician::Role;
use crate::model::{RouterId, SubscriberId, SubscriptionId};

/// An event's payload: its kind is part of its type.
pub trait Payload: Serialize {
    /// The kind of event this payload makes.
    const KIND: EventKind;
}

macro_rules! payload {
    ($($name:ident),+ $(,)?) => {
        $(impl Payload for $name {
            const KIND: EventKind = EventKind::$name;
        })+
    };
}

/// A router was added: the router as stored (no secrets).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct RouterAdded(pub Router);

/// A router was enabled or disabled.
#[derive(Debug, Clone, Serialize)]
pub struct RouterUpdated {
    /// Its name.
    pub name: String,
    /// Its state now.
    pub state: RouterState,
}

/// A router's health poll found it up or down, or running another RouterOS version.
#[derive(Debug, Clone, Serialize)]
pub struct RouterStatusChanged {
    /// Its name.
    pub router: String,
    /// Up or down now.
    pub status: RouterStatus,
    /// Before this poll.
    pub previous_status: RouterStatus,
    /// RouterOS version now.
    pub ros_version: Option<String>,
    /// Before this poll.
    pub previous_version: Option<String>,
    /// `/system/identity`.
    pub identity: Option<String>,
    /// One API round trip, ms.
    pub latency_ms: Option<i64>,
    /// Why it is down.
    pub detail: Option<String>,
}

/// A plan was created: the plan as stored.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct PlanCreated(pub Plan);

/// A plan was edited (`changes`: `{field: [before, after]}`) or enabled or disabled (`state`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanUpdated {
    /// Its name.
    pub name: String,
    /// The fields an edit changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Its state after an enable or disable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PlanState>,
}

/// What events say of a subscriber: no credentials, the phone masked.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriberFacts {
    /// Id.
    pub id: SubscriberId,
    /// Login name.
    pub username: String,
    /// Hotspot or PPPoE.
    pub kind: SubscriberKind,
    /// Logs in by MAC.
    pub mac_auth: bool,
    /// Masked phone number.
    pub phone: Option<String>,
    /// Its state.
    pub state: SubscriberState,
    /// Bound MACs.
    pub macs: Vec<String>,
}

impl SubscriberFacts {
    /// The public facts of `subscriber`.
    pub fn of(subscriber: &Subscriber) -> Self {
        Self {
            id: subscriber.id,
            username: subscriber.username.clone(),
            kind: subscriber.kind,
            mac_auth: subscriber.mac_auth,
            phone: subscriber.phone.as_deref().map(mask_phone),
            state: subscriber.state,
            macs: subscriber.macs.clone(),
        }
    }
}

/// A subscriber was created.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SubscriberCreated(pub SubscriberFacts);

/// A subscriber was suspended or reinstated.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SubscriberUpdated(pub SubscriberFacts);

/// A device's MAC was bound to an account at its first login.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriberMacBound {
    /// The account.
    pub username: String,
    /// The MAC bound.
    pub mac: String,
}

/// A subscription became active.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionStarted {
    /// Its id.
    pub subscription_id: SubscriptionId,
    /// Whose.
    pub subscriber_id: SubscriberId,
    /// The plan's name.
    pub plan: String,
    /// Activation time.
    pub starts_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Where it came from.
    pub source: Source,
}

/// A subscription ended.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionExpired {
    /// Its id.
    pub subscription_id: SubscriptionId,
    /// Whose.
    pub subscriber_id: SubscriberId,
    /// Expired or exhausted.
    pub reason: EndReason,
    /// Its expiry.
    pub expires_at: Option<Timestamp>,
    /// Online seconds used.
    pub used_seconds: i64,
    /// Bytes used.
    pub used_bytes: i64,
    /// Open sessions given a disconnect job.
    pub sessions_to_disconnect: usize,
}

/// A batch of vouchers was printed.
#[derive(Debug, Clone, Serialize)]
pub struct VouchersGenerated {
    /// The batch's name.
    pub batch: String,
    /// The plan's name.
    pub plan: String,
    /// How many.
    pub count: u32,
}

/// A voucher's first login redeemed it into a subscriber with its plan.
#[derive(Debug, Clone, Serialize)]
pub struct VoucherRedeemed {
    /// The voucher's row id.
    pub voucher_id: i64,
    /// Its code.
    pub code: String,
    /// Its batch.
    pub batch: String,
    /// The plan's name.
    pub plan: String,
    /// The subscriber it became.
    pub subscriber_id: SubscriberId,
    /// The subscription granted.
    pub subscription_id: SubscriptionId,
}

/// What the payment events say of a payment (the phone masked).
#[derive(Debug, Clone, Serialize)]
pub struct PaymentFacts {
    /// The payment row.
    pub payment_id: i64,
    /// `mpesa` or `cash` (as sent, for a refused one).
    pub provider: String,
    /// The receipt.
    pub receipt: String,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Masked phone.
    pub phone: Option<String>,
    /// The plan's name, when known.
    pub plan: Option<String>,
    /// The account credited, when known.
    pub username: Option<String>,
}

/// A payment was recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct PaymentReceived(pub PaymentFacts);

/// A payment granted a subscription.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentApplied {
    /// The payment.
    #[serde(flatten)]
    pub payment: PaymentFacts,
    /// The subscription granted.
    pub subscription_id: SubscriptionId,
}

/// A payment was kept but refused, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentRejected {
    /// The payment.
    #[serde(flatten)]
    pub payment: PaymentFacts,
    /// Why.
    pub reason: String,
}

/// What the session events say of an accounting session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionFacts {
    /// The sessions table's id.
    pub session_id: i64,
    /// The NAS.
    pub router_id: RouterId,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Calling-Station-Id.
    pub mac: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
    /// The account, when known.
    pub subscriber_id: Option<SubscriberId>,
    /// Acct-Session-Time.
    pub session_time_s: i64,
    /// Bytes from the client.
    pub input_octets: i64,
    /// Bytes to the client.
    pub output_octets: i64,
    /// Acct-Terminate-Cause (Stop only).
    pub terminate_cause: Option<u32>,
}

impl SessionFacts {
    /// The facts of `session`, with `terminate_cause` for a Stop.
    pub fn of(session: &Session, terminate_cause: Option<u32>) -> Self {
        Self {
            session_id: session.id,
            router_id: session.router_id,
            acct_session_id: session.acct_session_id.clone(),
            username: session.username.clone(),
            mac: session.mac.clone(),
            framed_ip: session.framed_ip.clone(),
            subscriber_id: session.subscriber_id,
            session_time_s: session.session_time_s,
            input_octets: session.input_octets,
            output_octets: session.output_octets,
            terminate_cause,
        }
    }
}

/// Accounting Start.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SessionStarted(pub SessionFacts);

/// Interim-Update, or the router's late final figures for a session already closed.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SessionUpdated(pub SessionFacts);

/// Stop, a NAS reboot, or the box closing a session its router no longer has.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SessionStopped(pub SessionFacts);

/// Rejected logins of one period, per router and reason.
#[derive(Debug, Clone, Serialize)]
pub struct AuthRejected {
    /// The period, seconds.
    pub period_s: u64,
    /// Rejects in it.
    pub total: u64,
    /// Router name → reason → count.
    pub by_router: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A job ran out of attempts (or could not be retried) and went to the failed store.
#[derive(Debug, Clone, Serialize)]
pub struct JobFailed {
    /// Its id.
    pub job_id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

/// A failed job was put back on its queue.
#[derive(Debug, Clone, Serialize)]
pub struct JobRetried {
    /// Its id.
    pub job_id: JobId,
    /// Requeued, or merged into the waiting job with its key.
    pub outcome: RetryOutcome,
}

/// A failed job was deleted for good.
#[derive(Debug, Clone, Serialize)]
pub struct JobDiscarded {
    /// Its id.
    pub job_id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// Its last error.
    pub error: String,
}

/// An operator's action that has no event of its own (logins, diagnostics, a kick, a
/// reprovision, technician accounts), for the audit log and the cloud.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action")]
pub enum TechnicianAction {
    /// A web login with a wrong name or password.
    #[serde(rename = "login_failed")]
    LoginFailed {
        /// The name typed.
        name: String,
        /// The client's address.
        peer: String,
    },
    /// A web login.
    #[serde(rename = "login")]
    Login {
        /// The client's address.
        peer: String,
    },
    /// A web logout.
    #[serde(rename = "logout")]
    Logout,
    /// A session cut off on request.
    #[serde(rename = "kick")]
    Kick {
        /// The sessions table's id.
        session_id: i64,
        /// Its User-Name.
        username: String,
        /// The disconnect job.
        job: Enqueued,
    },
    /// A test login to a router over its API.
    #[serde(rename = "diagnostics.router_login")]
    RouterLogin {
        /// The router's name.
        router: String,
        /// Whether it answered.
        ok: bool,
    },
    /// A test RADIUS login.
    #[serde(rename = "diagnostics.radius_auth")]
    RadiusAuth {
        /// The user name tried (never the password).
        username: String,
        /// Access-Accept, Access-Reject or no answer.
        answer: serde_json::Value,
        /// The Reply-Message.
        reply_message: serde_json::Value,
    },
    /// A router's configuration and every subscriber queued again.
    #[serde(rename = "router.reprovision")]
    Reprovision {
        /// The router's name.
        router: String,
        /// Subscriber jobs queued.
        subscriber_jobs: usize,
    },
    /// A technician login was made.
    #[serde(rename = "technician.add")]
    TechnicianAdded {
        /// The login name.
        name: String,
        /// Operator or read-only.
        role: Role,
    },
    /// A technician login was removed.
    #[serde(rename = "technician.remove")]
    TechnicianRemoved {
        /// The login name.
        name: String,
    },
    /// A technician's password was changed.
    #[serde(rename = "technician.passwd")]
    PasswordChanged {
        /// The login name.
        name: String,
    },
}

payload!(
    RouterAdded,
    RouterUpdated,
    RouterStatusChanged,
    PlanCreated,
    PlanUpdated,
    SubscriberCreated,
    SubscriberUpdated,
    SubscriberMacBound,
    SubscriptionStarted,
    SubscriptionExpired,
    VouchersGenerated,
    VoucherRedeemed,
    PaymentReceived,
    PaymentApplied,
    PaymentRejected,
    SessionStarted,
    SessionUpdated,
    SessionStopped,
    AuthRejected,
    JobFailed,
    JobRetried,
    JobDiscarded,
    TechnicianAction,
);

#[cfg(test)]
mod tests {
    //! The serialised form of every payload, pinned: these strings are what the outbox, the
    //! audit log and the cloud (docs/PROTOCOL.md) have received from each kind so far. A change
    //! here is a change of the wire contract: bump the kind's schema version and say so in
    //! PROTOCOL.md.

    use super::*;
    use crate::model::event::NewEvent;
    use crate::model::plan::PlanKind;

    /// The payload as stored in the outbox and sent to the cloud.
    fn stored<P: Payload>(payload: &P) -> (EventKind, String) {
        let event = NewEvent::new("subject", payload);
        let text = serde_json::to_string(event.payload()).expect("serialise");
        (event.kind(), text)
    }

    fn check<P: Payload>(payload: P, kind: EventKind, want: &str) {
        assert_eq!(stored(&payload), (kind, want.to_string()));
    }

    fn session(
        id: i64,
        acct: &str,
        user: &str,
        mac: &str,
        seconds: i64,
        bytes: i64,
    ) -> SessionFacts {
        SessionFacts {
            session_id: id,
            router_id: RouterId(1),
            acct_session_id: acct.into(),
            username: user.into(),
            mac: Some(mac.into()),
            framed_ip: Some("10.5.50.10".into()),
            subscriber_id: Some(SubscriberId(1)),
            session_time_s: seconds,
            input_octets: bytes / 4,
            output_octets: bytes - bytes / 4,
            terminate_cause: None,
        }
    }

    fn payment(amount: i64, receipt: &str, username: Option<&str>) -> PaymentFacts {
        PaymentFacts {
            payment_id: 1,
            provider: "mpesa".into(),
            receipt: receipt.into(),
            amount,
            currency: "KES".into(),
            phone: Some(mask_phone("254712345678")),
            plan: Some("1h".into()),
            username: username.map(str::to_string),
        }
    }

    #[test]
    fn router_payloads() {
        let router = Router {
            id: RouterId(1),
            name: "gw1".into(),
            nas_ip: "10.0.0.1".into(),
            nas_identifier: None,
            coa_port: 3799,
            require_message_authenticator: true,
            api_host: Some("10.0.0.1".into()),
            api_port: Some(8728),
            api_tls: false,
            api_fingerprint: None,
            api_user: Some("sitebox".into()),
            codepage: "windows-1252".into(),
            state: RouterState::Active,
            status: RouterStatus::Unknown,
            status_detail: None,
        };
        check(
            RouterAdded(router),
            EventKind::RouterAdded,
            r#"{"api_fingerprint":null,"api_host":"10.0.0.1","api_port":8728,"api_tls":false,"api_user":"sitebox","coa_port":3799,"codepage":"windows-1252","id":1,"name":"gw1","nas_identifier":null,"nas_ip":"10.0.0.1","require_message_authenticator":true,"state":"active","status":"unknown","status_detail":null}"#,
        );
        check(
            RouterUpdated {
                name: "gw1".into(),
                state: RouterState::Disabled,
            },
            EventKind::RouterUpdated,
            r#"{"name":"gw1","state":"disabled"}"#,
        );
        check(
            RouterStatusChanged {
                router: "lobby".into(),
                status: RouterStatus::Down,
                previous_status: RouterStatus::Unknown,
                ros_version: None,
                previous_version: None,
                identity: None,
                latency_ms: None,
                detail: Some("login refused: invalid user name or password (6)".into()),
            },
            EventKind::RouterStatusChanged,
            r#"{"detail":"login refused: invalid user name or password (6)","identity":null,"latency_ms":null,"previous_status":"unknown","previous_version":null,"ros_version":null,"router":"lobby","status":"down"}"#,
        );
    }

    #[test]
    fn plan_payloads() {
        let plan = Plan {
            id: crate::model::PlanId(1),
            name: "1h".into(),
            kind: PlanKind::Hotspot,
            price: 50,
            currency: "KES".into(),
            validity_s: 3600,
            time_limit_s: None,
            data_limit: None,
            rate_limit: Some("2M/4M".into()),
            shared_users: 2,
            mac_binding: false,
            idle_timeout_s: None,
            interim_s: 300,
            state: PlanState::Active,
        };
        check(
            PlanCreated(plan),
            EventKind::PlanCreated,
            r#"{"currency":"KES","data_limit":null,"id":1,"idle_timeout_s":null,"interim_s":300,"kind":"hotspot","mac_binding":false,"name":"1h","price":50,"rate_limit":"2M/4M","shared_users":2,"state":"active","time_limit_s":null,"validity_s":3600}"#,
        );
        let changes = serde_json::json!({
            "data_limit": [1_000_000, null], "price": [5000, 6000], "rate_limit": ["1M/2M", "2M/4M"],
        });
        let serde_json::Value::Object(changes) = changes else {
            panic!("an object");
        };
        check(
            PlanUpdated {
                name: "day".into(),
                changes: Some(changes),
                state: None,
            },
            EventKind::PlanUpdated,
            r#"{"changes":{"data_limit":[1000000,null],"price":[5000,6000],"rate_limit":["1M/2M","2M/4M"]},"name":"day"}"#,
        );
        check(
            PlanUpdated {
                name: "1h".into(),
                changes: None,
                state: Some(PlanState::Disabled),
            },
            EventKind::PlanUpdated,
            r#"{"name":"1h","state":"disabled"}"#,
        );
    }

    #[test]
    fn subscriber_and_subscription_payloads() {
        let mut alice = Subscriber {
            id: SubscriberId(1),
            username: "alice".into(),
            kind: SubscriberKind::Hotspot,
            mac_auth: false,
            phone: None,
            state: SubscriberState::Active,
            macs: Vec::new(),
        };
        check(
            SubscriberCreated(SubscriberFacts::of(&alice)),
            EventKind::SubscriberCreated,
            r#"{"id":1,"kind":"hotspot","mac_auth":false,"macs":[],"phone":null,"state":"active","username":"alice"}"#,
        );
        alice.state = SubscriberState::Suspended;
        alice.phone = Some("254712345678".into());
        alice.macs = vec!["AA:BB:CC:00:00:01".into()];
        check(
            SubscriberUpdated(SubscriberFacts::of(&alice)),
            EventKind::SubscriberUpdated,
            r#"{"id":1,"kind":"hotspot","mac_auth":false,"macs":["AA:BB:CC:00:00:01"],"phone":"2547*****678","state":"suspended","username":"alice"}"#,
        );
        check(
            SubscriberMacBound {
                username: "alice".into(),
                mac: "AA:BB:CC:00:00:01".into(),
            },
            EventKind::SubscriberMacBound,
            r#"{"mac":"AA:BB:CC:00:00:01","username":"alice"}"#,
        );
        check(
            SubscriptionStarted {
                subscription_id: SubscriptionId(1),
                subscriber_id: SubscriberId(1),
                plan: "1h".into(),
                starts_at: Timestamp::from_millis(1_769_860_800_000),
                expires_at: Timestamp::from_millis(1_769_864_400_000),
                source: Source::Manual,
            },
            EventKind::SubscriptionStarted,
            r#"{"expires_at":1769864400000,"plan":"1h","source":"manual","starts_at":1769860800000,"subscriber_id":1,"subscription_id":1}"#,
        );
        check(
            SubscriptionExpired {
                subscription_id: SubscriptionId(1),
                subscriber_id: SubscriberId(1),
                reason: EndReason::Expired,
                expires_at: Some(Timestamp::from_millis(1_769_864_400_000)),
                used_seconds: 0,
                used_bytes: 0,
                sessions_to_disconnect: 0,
            },
            EventKind::SubscriptionExpired,
            r#"{"expires_at":1769864400000,"reason":"expired","sessions_to_disconnect":0,"subscriber_id":1,"subscription_id":1,"used_bytes":0,"used_seconds":0}"#,
        );
    }

    #[test]
    fn voucher_payloads() {
        check(
            VouchersGenerated {
                batch: "B1769860800-JTR6".into(),
                plan: "1h".into(),
                count: 50,
            },
            EventKind::VouchersGenerated,
            r#"{"batch":"B1769860800-JTR6","count":50,"plan":"1h"}"#,
        );
        check(
            VoucherRedeemed {
                voucher_id: 1,
                code: "DPDNTXH4".into(),
                batch: "B1769860800-JTR6".into(),
                plan: "1h".into(),
                subscriber_id: SubscriberId(1),
                subscription_id: SubscriptionId(1),
            },
            EventKind::VoucherRedeemed,
            r#"{"batch":"B1769860800-JTR6","code":"DPDNTXH4","plan":"1h","subscriber_id":1,"subscription_id":1,"voucher_id":1}"#,
        );
    }

    #[test]
    fn payment_payloads() {
        check(
            PaymentReceived(payment(5000, "R1", Some("AA:BB:CC:00:00:03"))),
            EventKind::PaymentReceived,
            r#"{"amount":5000,"currency":"KES","payment_id":1,"phone":"2547*****678","plan":"1h","provider":"mpesa","receipt":"R1","username":"AA:BB:CC:00:00:03"}"#,
        );
        check(
            PaymentApplied {
                payment: payment(5000, "R1", Some("AA:BB:CC:00:00:03")),
                subscription_id: SubscriptionId(1),
            },
            EventKind::PaymentApplied,
            r#"{"amount":5000,"currency":"KES","payment_id":1,"phone":"2547*****678","plan":"1h","provider":"mpesa","receipt":"R1","subscription_id":1,"username":"AA:BB:CC:00:00:03"}"#,
        );
        check(
            PaymentRejected {
                payment: payment(4000, "QKJ81WRONG", None),
                reason: "amount 40.00 KES does not match the price of plan `1h` (50.00 KES)".into(),
            },
            EventKind::PaymentRejected,
            r#"{"amount":4000,"currency":"KES","payment_id":1,"phone":"2547*****678","plan":"1h","provider":"mpesa","reason":"amount 40.00 KES does not match the price of plan `1h` (50.00 KES)","receipt":"QKJ81WRONG","username":null}"#,
        );
    }

    #[test]
    fn session_payloads() {
        let mut started = session(1, "S00000", "02:00:00:00:00:00", "02:00:00:00:00:00", 0, 0);
        started.input_octets = 0;
        check(
            SessionStarted(started),
            EventKind::SessionStarted,
            r#"{"acct_session_id":"S00000","framed_ip":"10.5.50.10","input_octets":0,"mac":"02:00:00:00:00:00","output_octets":0,"router_id":1,"session_id":1,"session_time_s":0,"subscriber_id":1,"terminate_cause":null,"username":"02:00:00:00:00:00"}"#,
        );
        check(
            SessionUpdated(session(
                1,
                "81000001",
                "bob",
                "AA:BB:CC:00:00:10",
                300,
                400_000_000,
            )),
            EventKind::SessionUpdated,
            r#"{"acct_session_id":"81000001","framed_ip":"10.5.50.10","input_octets":100000000,"mac":"AA:BB:CC:00:00:10","output_octets":300000000,"router_id":1,"session_id":1,"session_time_s":300,"subscriber_id":1,"terminate_cause":null,"username":"bob"}"#,
        );
        let mut stopped = session(2, "81000002", "bob", "AA:BB:CC:00:00:11", 60, 600_000_000);
        stopped.terminate_cause = Some(1);
        check(
            SessionStopped(stopped),
            EventKind::SessionStopped,
            r#"{"acct_session_id":"81000002","framed_ip":"10.5.50.10","input_octets":150000000,"mac":"AA:BB:CC:00:00:11","output_octets":450000000,"router_id":1,"session_id":2,"session_time_s":60,"subscriber_id":1,"terminate_cause":1,"username":"bob"}"#,
        );
        check(
            AuthRejected {
                period_s: 60,
                total: 3,
                by_router: [(
                    "gw1".to_string(),
                    [("wrong_password".to_string(), 3)].into(),
                )]
                .into(),
            },
            EventKind::AuthRejected,
            r#"{"by_router":{"gw1":{"wrong_password":3}},"period_s":60,"total":3}"#,
        );
    }

    #[test]
    fn job_payloads() {
        check(
            JobFailed {
                job_id: JobId(1),
                queue: "default".into(),
                kind: "send".into(),
                attempts: 1,
                error: "bad receipt".into(),
            },
            EventKind::JobFailed,
            r#"{"attempts":1,"error":"bad receipt","job_id":1,"kind":"send","queue":"default"}"#,
        );
        check(
            JobRetried {
                job_id: JobId(1),
                outcome: RetryOutcome::Requeued(JobId(1)),
            },
            EventKind::JobRetried,
            r#"{"job_id":1,"outcome":{"id":1,"outcome":"requeued"}}"#,
        );
        check(
            JobDiscarded {
                job_id: JobId(2),
                queue: "default".into(),
                kind: "k".into(),
                error: "boom".into(),
            },
            EventKind::JobDiscarded,
            r#"{"error":"boom","job_id":2,"kind":"k","queue":"default"}"#,
        );
    }

    #[test]
    fn every_technician_action_keeps_its_action_name() {
        use TechnicianAction as A;
        for (action, want) in [
            (
                A::TechnicianAdded {
                    name: "tina".into(),
                    role: Role::Operator,
                },
                r#"{"action":"technician.add","name":"tina","role":"operator"}"#,
            ),
            (
                A::Login {
                    peer: "127.0.0.1".into(),
                },
                r#"{"action":"login","peer":"127.0.0.1"}"#,
            ),
            (
                A::Kick {
                    session_id: 1,
                    username: "alice".into(),
                    job: Enqueued::New(JobId(8)),
                },
                r#"{"action":"kick","job":{"id":8,"outcome":"new"},"session_id":1,"username":"alice"}"#,
            ),
            (
                A::RouterLogin {
                    router: "gw1".into(),
                    ok: true,
                },
                r#"{"action":"diagnostics.router_login","ok":true,"router":"gw1"}"#,
            ),
            (
                A::RadiusAuth {
                    username: "alice".into(),
                    answer: serde_json::json!("Access-Accept"),
                    reply_message: serde_json::json!(""),
                },
                r#"{"action":"diagnostics.radius_auth","answer":"Access-Accept","reply_message":"","username":"alice"}"#,
            ),
            (
                A::Reprovision {
                    router: "gw1".into(),
                    subscriber_jobs: 1,
                },
                r#"{"action":"router.reprovision","router":"gw1","subscriber_jobs":1}"#,
            ),
            (
                A::LoginFailed {
                    name: "tina".into(),
                    peer: "127.0.0.1".into(),
                },
                r#"{"action":"login_failed","name":"tina","peer":"127.0.0.1"}"#,
            ),
            (A::Logout, r#"{"action":"logout"}"#),
            (
                A::PasswordChanged { name: "ann".into() },
                r#"{"action":"technician.passwd","name":"ann"}"#,
            ),
            (
                A::TechnicianRemoved { name: "ben".into() },
                r#"{"action":"technician.remove","name":"ben"}"#,
            ),
        ] {
            check(action, EventKind::TechnicianAction, want);
        }
    }
}
