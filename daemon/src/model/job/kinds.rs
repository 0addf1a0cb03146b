//! The daemon's kinds of job, one struct each: its arguments (what is stored in the job's
//! `args`), the kind name its handler is registered under, and how it is enqueued (queue,
//! priority, attempts, timeout, unique key). A job carries ids, never desired state: its
//! handler reads what should be when it runs.
//!
//! Enqueue with `tx.enqueue(&ExpireSubscription { .. }.spec().run_at(at), now)`; handle with
//! `Handlers::register_kind::<ExpireSubscription>(..)` (`crate::queue`), which parses the
//! arguments into the same struct: the two sides cannot disagree on a name or a field.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::JobSpec;
use crate::model::{PlanId, RouterId, SubscriberId, SubscriptionId};

/// A kind of job with typed arguments.
pub trait JobKind: Serialize + DeserializeOwned + Send + 'static {
    /// The `kind` stored in the jobs table.
    const KIND: &'static str;

    /// The job to enqueue for these arguments.
    fn spec(&self) -> JobSpec;
}

/// The queue of disconnects, rate-limit changes and their checks: its own workers, so a
/// cut-off never waits behind provisioning jobs held by a router that is down.
pub const ENFORCEMENT_QUEUE: &str = "enforcement";

/// The queue all router work runs on.
pub const PROVISIONING_QUEUE: &str = "provisioning";

/// `JobSpec::new(queue, J::KIND, args)`.
fn spec<J: JobKind>(queue: &str, job: &J) -> JobSpec {
    // Plain structs of ids and strings: serde_json cannot fail on them.
    let args = serde_json::to_value(job).unwrap_or_default();
    JobSpec::new(queue, J::KIND, args)
}

/// Ends one subscription at its expiry instant (enqueue with `.run_at(expiry)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireSubscription {
    /// The subscription.
    pub subscription_id: SubscriptionId,
}

impl JobKind for ExpireSubscription {
    const KIND: &'static str = "subscription.expire";

    fn spec(&self) -> JobSpec {
        spec("default", self).priority(-1).unique(format!(
            "{}:{}",
            Self::KIND,
            self.subscription_id.0
        ))
    }
}

/// Ends every active subscription past its expiry (periodic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSubscriptions {}

impl JobKind for SweepSubscriptions {
    const KIND: &'static str = "subscription.sweep";

    fn spec(&self) -> JobSpec {
        spec("default", self).max_attempts(3)
    }
}

/// Cuts one session off: a Disconnect-Request, then the RouterOS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectSession {
    /// The sessions table's id.
    pub session_id: i64,
}

impl JobKind for DisconnectSession {
    const KIND: &'static str = "session.disconnect";

    fn spec(&self) -> JobSpec {
        spec(ENFORCEMENT_QUEUE, self)
            .priority(-1)
            .max_attempts(10)
            .timeout(Duration::from_secs(30))
            .unique(format!("{}:{}", Self::KIND, self.session_id))
    }
}

/// Checks that a disconnected session is gone, and kicks it when it is not (enqueue with
/// `.delay(verify_after)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifySessionGone {
    /// The sessions table's id.
    pub session_id: i64,
}

impl JobKind for VerifySessionGone {
    const KIND: &'static str = "session.verify_gone";

    fn spec(&self) -> JobSpec {
        spec(ENFORCEMENT_QUEUE, self)
            .max_attempts(10)
            .unique(format!("{}:{}", Self::KIND, self.session_id))
    }
}

/// Sends an online session its plan's rate limit as it is when the job runs (a CoA-Request),
/// so several edits in a row send the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRateLimit {
    /// The sessions table's id.
    pub session_id: i64,
}

impl JobKind for SessionRateLimit {
    const KIND: &'static str = "session.rate_limit";

    fn spec(&self) -> JobSpec {
        spec(ENFORCEMENT_QUEUE, self)
            .max_attempts(5)
            .timeout(Duration::from_secs(30))
            .unique(format!("{}:{}", Self::KIND, self.session_id))
    }
}

/// Converges one subscriber's hotspot user or PPP secret (and its plan's profile) on one
/// router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionSubscriber {
    /// The router.
    pub router_id: RouterId,
    /// The subscriber.
    pub subscriber_id: SubscriberId,
}

impl JobKind for ProvisionSubscriber {
    const KIND: &'static str = "router.provision_subscriber";

    fn spec(&self) -> JobSpec {
        spec(PROVISIONING_QUEUE, self)
            .max_attempts(25)
            .timeout(Duration::from_secs(60))
            .unique(format!(
                "provision:{}:{}",
                self.router_id.0, self.subscriber_id.0
            ))
    }
}

/// Converges one plan's profiles on one router (after the plan was edited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionPlan {
    /// The router.
    pub router_id: RouterId,
    /// The plan.
    pub plan_id: PlanId,
}

impl JobKind for ProvisionPlan {
    const KIND: &'static str = "router.provision_plan";

    fn spec(&self) -> JobSpec {
        spec(PROVISIONING_QUEUE, self)
            .priority(-1)
            .max_attempts(25)
            .timeout(Duration::from_secs(60))
            .unique(format!(
                "provision-plan:{}:{}",
                self.router_id.0, self.plan_id.0
            ))
    }
}

/// Removes a user's active sessions from one router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KickUser {
    /// The router.
    pub router_id: RouterId,
    /// The user's login name.
    pub username: String,
}

impl JobKind for KickUser {
    const KIND: &'static str = "router.kick";

    fn spec(&self) -> JobSpec {
        spec(PROVISIONING_QUEUE, self)
            .priority(-1)
            .max_attempts(10)
            .timeout(Duration::from_secs(60))
            .unique(format!("kick:{}:{}", self.router_id.0, self.username))
    }
}

/// Points a router's `/radius` entry and `/radius/incoming` at this box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigureRadius {
    /// The router.
    pub router_id: RouterId,
}

impl JobKind for ConfigureRadius {
    const KIND: &'static str = "router.configure_radius";

    fn spec(&self) -> JobSpec {
        spec(PROVISIONING_QUEUE, self)
            .priority(-2)
            .max_attempts(25)
            .timeout(Duration::from_secs(60))
            .unique(format!("configure:{}", self.router_id.0))
    }
}

/// Polls one router's health (enqueue with `.timeout(deadline)`: a poll has its own). A router
/// that does not answer is recorded down, which is not a failure; a poll cut off by a stop of
/// the daemon runs again after the restart instead of landing among the failed jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollHealth {
    /// The router.
    pub router_id: RouterId,
}

impl JobKind for PollHealth {
    const KIND: &'static str = "router.health";

    fn spec(&self) -> JobSpec {
        spec(PROVISIONING_QUEUE, self)
            .priority(-3)
            .max_attempts(3)
            .unique(format!("health:{}", self.router_id.0))
    }
}

/// Enqueues a health poll of every managed router (periodic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSweep {}

impl JobKind for HealthSweep {
    const KIND: &'static str = "router.health_sweep";

    fn spec(&self) -> JobSpec {
        spec(PROVISIONING_QUEUE, self).priority(-3).max_attempts(3)
    }
}

/// Deletes old completed and failed jobs (periodic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prune {}

impl JobKind for Prune {
    const KIND: &'static str = "queue.prune";

    fn spec(&self) -> JobSpec {
        spec("maintenance", self).max_attempts(3)
    }
}

#[cfg(test)]
mod tests {
    //! What each kind stores, pinned: jobs outlive an upgrade in the database, so a new build
    //! must read the arguments an old one wrote (and unique keys must not change, or a waiting
    //! job would be doubled).

    use super::*;

    fn stored<J: JobKind>(job: &J) -> (String, String, String, i32, u32, Duration, String) {
        let spec = job.spec();
        let args = serde_json::to_string(&spec.args).expect("args");
        let again: J = serde_json::from_value(spec.args.clone()).expect("parses back");
        assert_eq!(serde_json::to_value(&again).expect("value"), spec.args);
        (
            spec.queue,
            spec.kind,
            args,
            spec.priority,
            spec.max_attempts,
            spec.timeout,
            spec.unique_key.unwrap_or_default(),
        )
    }

    #[test]
    fn every_kind_stores_what_it_always_stored() {
        let minute = Duration::from_secs(60);
        let half = Duration::from_secs(30);
        let (r, s) = (RouterId(2), SubscriberId(7));
        let cases = [
            (
                stored(&ExpireSubscription {
                    subscription_id: SubscriptionId(5),
                }),
                (
                    "default",
                    "subscription.expire",
                    r#"{"subscription_id":5}"#,
                    -1,
                    20,
                    minute,
                    "subscription.expire:5",
                ),
            ),
            (
                stored(&SweepSubscriptions {}),
                ("default", "subscription.sweep", "{}", 0, 3, minute, ""),
            ),
            (
                stored(&DisconnectSession { session_id: 9 }),
                (
                    "enforcement",
                    "session.disconnect",
                    r#"{"session_id":9}"#,
                    -1,
                    10,
                    half,
                    "session.disconnect:9",
                ),
            ),
            (
                stored(&VerifySessionGone { session_id: 9 }),
                (
                    "enforcement",
                    "session.verify_gone",
                    r#"{"session_id":9}"#,
                    0,
                    10,
                    minute,
                    "session.verify_gone:9",
                ),
            ),
            (
                stored(&SessionRateLimit { session_id: 9 }),
                (
                    "enforcement",
                    "session.rate_limit",
                    r#"{"session_id":9}"#,
                    0,
                    5,
                    half,
                    "session.rate_limit:9",
                ),
            ),
            (
                stored(&ProvisionSubscriber {
                    router_id: r,
                    subscriber_id: s,
                }),
                (
                    "provisioning",
                    "router.provision_subscriber",
                    r#"{"router_id":2,"subscriber_id":7}"#,
                    0,
                    25,
                    minute,
                    "provision:2:7",
                ),
            ),
            (
                stored(&ProvisionPlan {
                    router_id: r,
                    plan_id: PlanId(3),
                }),
                (
                    "provisioning",
                    "router.provision_plan",
                    r#"{"plan_id":3,"router_id":2}"#,
                    -1,
                    25,
                    minute,
                    "provision-plan:2:3",
                ),
            ),
            (
                stored(&KickUser {
                    router_id: r,
                    username: "alice".into(),
                }),
                (
                    "provisioning",
                    "router.kick",
                    r#"{"router_id":2,"username":"alice"}"#,
                    -1,
                    10,
                    minute,
                    "kick:2:alice",
                ),
            ),
            (
                stored(&ConfigureRadius { router_id: r }),
                (
                    "provisioning",
                    "router.configure_radius",
                    r#"{"router_id":2}"#,
                    -2,
                    25,
                    minute,
                    "configure:2",
                ),
            ),
            (
                stored(&PollHealth { router_id: r }),
                (
                    "provisioning",
                    "router.health",
                    r#"{"router_id":2}"#,
                    -3,
                    3,
                    minute,
                    "health:2",
                ),
            ),
            (
                stored(&HealthSweep {}),
                (
                    "provisioning",
                    "router.health_sweep",
                    "{}",
                    -3,
                    3,
                    minute,
                    "",
                ),
            ),
            (
                stored(&Prune {}),
                ("maintenance", "queue.prune", "{}", 0, 3, minute, ""),
            ),
        ];
        for (got, want) in cases {
            let want = (
                want.0.to_string(),
                want.1.to_string(),
                want.2.to_string(),
                want.3,
                want.4,
                want.5,
                want.6.to_string(),
            );
            assert_eq!(got, want);
        }
    }
}
