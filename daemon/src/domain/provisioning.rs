//! Provisioning: keeping each managed router's own tables (hotspot users and user profiles,
//! PPP secrets and profiles, its `/radius` entry, the fallback scripts) in line with the store.
//!
//! Two paths decide a login. RouterOS asks RADIUS only when no enabled local user matches,
//! so the local users Sitebox provisions are kept **disabled** while the box answers: every
//! login is the box's decision (its policy, its reject texts). When the box stops answering,
//! the router's netwatch entry runs [`FALLBACK_ON`], which enables the local users whose plan
//! has not ended; they carry what is left of the plan (`limit-uptime`, `limit-bytes-total`,
//! `mac-address`) and its end in their comment (`sitebox sub=N until=EPOCH`). The scheduler
//! runs [`EXPIRY_SWEEP`] every [`EXPIRY_SWEEP_EVERY`]: a user whose `until` has passed is
//! disabled and its local sessions ended, so a fallback login outlasts its plan by at most
//! that interval (on the router's clock). When the box answers again [`FALLBACK_OFF`]
//! disables them and ends the sessions they started, and the next login is the box's again.
//!
//! Jobs are enqueued in the transaction of the change that causes them, one per router and
//! subscriber under a unique key (a burst of changes collapses into one waiting job). A job
//! carries no state: it reads what the subscriber should look like when it runs
//! ([`desired`]) and converges the router to it, so running it twice has one effect.

use super::DomainError;
use crate::clock::Timestamp;
use crate::model::RouterId;
use crate::model::SubscriberId;
use crate::model::job::{
    ConfigureRadius, Enqueued, JobKind, JobSpec, KickUser, ProvisionSubscriber,
};
use crate::model::plan::Plan;
use crate::model::subscriber::{StoredCredential, SubscriberKind, SubscriberState};
use crate::model::subscription::SubscriptionState;
use crate::secrets::Secrets;
use crate::store::subscriptions as subscription_sql;
use crate::store::{Tx, plans as plan_sql, router_health, subscribers as subscriber_sql};

/// The comment Sitebox puts on what it adds to a router, so an operator can tell.
pub(crate) const COMMENT: &str = "sitebox";

/// How often the router's scheduler runs [`EXPIRY_SWEEP`]: the bound by which a login the
/// router decided on its own can outlast the plan's end.
pub(crate) const EXPIRY_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// `/system/script` name: enables the local users whose plan has not ended (netwatch, box down).
pub(crate) const FALLBACK_ON_NAME: &str = "sitebox-fallback-on";
/// `/system/script` name: disables them again and ends their sessions (netwatch, box up).
pub(crate) const FALLBACK_OFF_NAME: &str = "sitebox-fallback-off";
/// `/system/script` and `/system/scheduler` name of the expiry sweep.
pub(crate) const EXPIRY_SWEEP_NAME: &str = "sitebox-expiry";
/// The policy the scripts need (netwatch may run scripts within `read,write,test,reboot`).
pub(crate) const SCRIPT_POLICY: &str = "read,write,test";

/// RouterOS script: the box does not answer. Enables every Sitebox user (hotspot and PPP)
/// whose `until=` lies ahead on the router's clock; the others stay disabled.
pub(crate) const FALLBACK_ON: &str = r#":local now [:tonum [:timestamp]]
:foreach u in=[/ip hotspot user find where comment~"^sitebox .*until="] do={
  :local c [/ip hotspot user get $u comment]
  :if ([:tonum [:pick $c ([:find $c "until="] + 6) [:len $c]]] > $now) do={ /ip hotspot user enable $u }
}
:foreach u in=[/ppp secret find where comment~"^sitebox .*until="] do={
  :local c [/ppp secret get $u comment]
  :if ([:tonum [:pick $c ([:find $c "until="] + 6) [:len $c]]] > $now) do={ /ppp secret enable $u }
}
:log warning "sitebox: the box does not answer; customers with a running plan log in on this router"
"#;

/// RouterOS script: the box answers again. Disables every Sitebox user and ends the sessions
/// the router granted them on its own (`radius=no`), so the next login is the box's decision.
pub(crate) const FALLBACK_OFF: &str = r#":foreach u in=[/ip hotspot user find where comment~"^sitebox "] do={
  :local n [/ip hotspot user get $u name]
  /ip hotspot user disable $u
  /ip hotspot active remove [/ip hotspot active find where user=$n !radius]
}
:foreach u in=[/ppp secret find where comment~"^sitebox "] do={
  :local n [/ppp secret get $u name]
  /ppp secret disable $u
  /ppp active remove [/ppp active find where name=$n !radius]
}
:log warning "sitebox: the box answers again; logins are its decision"
"#;

/// RouterOS script run by the scheduler: a Sitebox user that is enabled past its `until=`
/// is disabled and its local sessions ended.
pub(crate) const EXPIRY_SWEEP: &str = r#":local now [:tonum [:timestamp]]
:foreach u in=[/ip hotspot user find where comment~"^sitebox .*until=" !disabled] do={
  :local c [/ip hotspot user get $u comment]
  :if ([:tonum [:pick $c ([:find $c "until="] + 6) [:len $c]]] <= $now) do={
    :local n [/ip hotspot user get $u name]
    /ip hotspot user disable $u
    /ip hotspot active remove [/ip hotspot active find where user=$n !radius]
  }
}
:foreach u in=[/ppp secret find where comment~"^sitebox .*until=" !disabled] do={
  :local c [/ppp secret get $u comment]
  :if ([:tonum [:pick $c ([:find $c "until="] + 6) [:len $c]]] <= $now) do={
    :local n [/ppp secret get $u name]
    /ppp secret disable $u
    /ppp active remove [/ppp active find where name=$n !radius]
  }
}
"#;

/// What the router may grant a subscriber on its own while it cannot reach the box: what is
/// left of the running plan when the job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fallback {
    /// The running subscription (a new one resets the user's counters on the router).
    pub subscription: i64,
    /// The plan's end.
    pub until: Timestamp,
    /// Online time: the plan's time left when it has a time limit, at most its whole span
    /// (start to end); at least 1 s. The router's cumulative `uptime` counts against it.
    pub limit_uptime_s: u64,
    /// Data left, when the plan has a cap (never 0: a used-up plan has no fallback).
    pub limit_bytes: Option<u64>,
    /// The device the plan is bound to (the first registered MAC), when it binds.
    pub mac: Option<String>,
}

/// The comment on a subscriber's local user: `sitebox sub=N until=EPOCH` with a fallback,
/// `sitebox until=0` without (the scripts never enable it).
pub(crate) fn user_comment(fallback: Option<&Fallback>) -> String {
    match fallback {
        Some(f) => format!(
            "{COMMENT} sub={} until={}",
            f.subscription,
            f.until.as_millis().div_euclid(1000)
        ),
        None => format!("{COMMENT} until=0"),
    }
}

/// The subscription a user comment names, if any.
pub(crate) fn comment_subscription(comment: &str) -> Option<i64> {
    comment
        .strip_prefix(COMMENT)?
        .split_whitespace()
        .find_map(|word| word.strip_prefix("sub="))?
        .parse()
        .ok()
}

/// A time as RouterOS prints it: `1w2d3h4m5s`, zero units left out, `0s` for zero.
pub(crate) fn routeros_time(seconds: u64) -> String {
    let mut out = String::new();
    let mut left = seconds;
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        let n = left / size;
        left %= size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// The job converging `subscriber` on `router`.
fn provision_job(router: RouterId, subscriber: SubscriberId) -> JobSpec {
    ProvisionSubscriber {
        router_id: router,
        subscriber_id: subscriber,
    }
    .spec()
}

/// After a change to `subscriber` (created, suspended, reinstated, a subscription started or
/// ended): a provisioning job per managed router. Returns how many were new.
pub(crate) fn subscriber_changed(
    tx: &mut Tx<'_>,
    now: Timestamp,
    subscriber: SubscriberId,
) -> Result<usize, DomainError> {
    let mut new = 0;
    for router in router_health::managed(tx)? {
        router_health::bump_wanted(tx, router, subscriber)?;
        if matches!(
            tx.enqueue(&provision_job(router, subscriber), now)?,
            Enqueued::New(_)
        ) {
            new += 1;
        }
    }
    Ok(new)
}

/// After a subscriber was suspended: provisioning (the user is disabled) and a kick of its
/// sessions on every managed router.
pub(crate) fn subscriber_suspended(
    tx: &mut Tx<'_>,
    now: Timestamp,
    subscriber: SubscriberId,
    username: &str,
) -> Result<(), DomainError> {
    subscriber_changed(tx, now, subscriber)?;
    for router in router_health::managed(tx)? {
        tx.enqueue(
            &KickUser {
                router_id: router,
                username: username.to_string(),
            }
            .spec(),
            now,
        )?;
    }
    Ok(())
}

/// Everything a router should have: its RADIUS configuration and every subscriber. Returns
/// how many subscriber jobs were enqueued (new or already waiting).
pub(crate) fn reprovision_router(
    tx: &mut Tx<'_>,
    now: Timestamp,
    router: RouterId,
) -> Result<usize, DomainError> {
    tx.enqueue(&ConfigureRadius { router_id: router }.spec(), now)?;
    let subscribers = router_health::subscriber_ids(tx)?;
    for subscriber in &subscribers {
        router_health::bump_wanted(tx, router, *subscriber)?;
        tx.enqueue(&provision_job(router, *subscriber), now)?;
    }
    Ok(subscribers.len())
}

/// The service a subscriber uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// A hotspot user (`/ip/hotspot/user`).
    Hotspot,
    /// A PPP secret (`/ppp/secret`, service pppoe).
    Pppoe,
}

/// A plan as a router profile: `/ip/hotspot/user/profile` or `/ppp/profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    /// `sitebox-{plan}`.
    pub name: String,
    /// Mikrotik rate limit, `rx/tx`.
    pub rate_limit: Option<String>,
    /// Devices at once (hotspot only).
    pub shared_users: u32,
}

impl Profile {
    /// The profile of `plan`.
    pub(crate) fn of(plan: &Plan) -> Self {
        Self {
            name: format!("sitebox-{}", plan.name),
            rate_limit: plan.rate_limit.clone(),
            shared_users: plan.shared_users,
        }
    }
}

/// What a subscriber should look like on a router.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Desired {
    /// Present, enabled or disabled, with its plan's profile.
    Present {
        /// Login name.
        username: String,
        /// Hotspot or PPPoE.
        service: Service,
        /// The cleartext password; None leaves the router's as it is (NT hash only).
        password: Option<String>,
        /// Its current plan's profile; None for the router's `default`.
        profile: Option<Profile>,
        /// What the router may grant on its own while the box does not answer; None when
        /// suspended or without a running plan (the router refuses it then too).
        fallback: Option<Fallback>,
    },
    /// Deleted: removed from the router.
    Absent {
        /// Login name.
        username: String,
    },
}

impl std::fmt::Debug for Desired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Desired::Present {
                username,
                service,
                profile,
                fallback,
                ..
            } => f
                .debug_struct("Present")
                .field("username", username)
                .field("service", service)
                .field("profile", profile)
                .field("fallback", fallback)
                .finish_non_exhaustive(),
            Desired::Absent { username } => f
                .debug_struct("Absent")
                .field("username", username)
                .finish(),
        }
    }
}

/// Provisioning jobs for the subscribers whose latest change `router` does not have (at most
/// `limit`); returns how many. A pair whose job still waits is not doubled (unique key).
pub(crate) fn catch_up(
    tx: &mut Tx<'_>,
    now: Timestamp,
    router: RouterId,
    limit: u32,
) -> Result<usize, DomainError> {
    let behind = router_health::behind(tx, router, limit)?;
    for subscriber in &behind {
        tx.enqueue(&provision_job(router, *subscriber), now)?;
    }
    Ok(behind.len())
}

/// What `subscriber` should look like on a router at `now`; None when there is no such
/// subscriber.
pub(crate) fn desired(
    conn: &rusqlite::Connection,
    secrets: &Secrets,
    subscriber: SubscriberId,
    now: Timestamp,
) -> Result<Option<Desired>, DomainError> {
    let Some(stored) = subscriber_sql::get(conn, subscriber)? else {
        return Ok(None);
    };
    if stored.state == SubscriberState::Deleted {
        return Ok(Some(Desired::Absent {
            username: stored.username,
        }));
    }
    let password = match super::credentials::credential(conn, secrets, &stored.username)? {
        Some((_, StoredCredential::Password(password))) => Some(password),
        Some((_, StoredCredential::MacAuth)) => Some(String::new()),
        Some((_, StoredCredential::NtHash(_))) | None => None,
    };
    let running = subscription_sql::current(conn, stored.id)?.filter(|s| {
        s.state == SubscriptionState::Active && s.expires_at.is_some_and(|at| at > now)
    });
    let plan = match &running {
        Some(subscription) => plan_sql::get(conn, subscription.plan_id)?,
        None => None,
    };
    let fallback = match (&running, &plan) {
        (Some(subscription), Some(plan)) if stored.state == SubscriberState::Active => {
            fallback(subscription, plan, &stored.macs, now)
        }
        _ => None,
    };
    Ok(Some(Desired::Present {
        service: if stored.kind == SubscriberKind::Pppoe {
            Service::Pppoe
        } else {
            Service::Hotspot
        },
        fallback,
        username: stored.username,
        password,
        profile: plan.as_ref().map(Profile::of),
    }))
}

/// What is left of a running plan at `now`, as the router's local limits; None when nothing
/// is (time or data used up, or past its end).
fn fallback(
    subscription: &crate::model::subscription::Subscription,
    plan: &Plan,
    macs: &[String],
    now: Timestamp,
) -> Option<Fallback> {
    let until = subscription.expires_at.filter(|at| *at > now)?;
    // The plan's whole span, not the time to its end from now: the same on every run of a
    // job (a job run again after a crash changes nothing), and what the customer paid for.
    // The wall-clock end is the expiry sweep's.
    let span = until
        .since(subscription.starts_at.unwrap_or(now))
        .as_secs()
        .max(1);
    let limit_uptime_s = match subscription.time_left() {
        Some(0) => return None,
        Some(left) => span.min(u64::try_from(left).unwrap_or(u64::MAX)),
        None => span,
    };
    let limit_bytes = match subscription.data_left() {
        Some(0) => return None,
        Some(left) => Some(u64::try_from(left).unwrap_or(u64::MAX)),
        None => None,
    };
    Some(Fallback {
        subscription: subscription.id.0,
        until,
        limit_uptime_s,
        limit_bytes,
        mac: if plan.mac_binding {
            macs.first().cloned()
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::domain::plans;
    use crate::domain::routers;
    use crate::domain::subscribers;
    use crate::domain::subscriptions;
    use crate::model::event::Actor;
    use crate::model::job::PROVISIONING_QUEUE;
    use crate::model::plan::NewPlan;
    use crate::model::router::{ApiAccess, NewRouter};
    use crate::model::subscriber::NewSubscriber;
    use crate::model::subscription::{Origin, Source};
    use crate::store::jobs::{self, ListFilter};
    use crate::store::testing::temp_store;

    const T0: Timestamp = Timestamp::from_millis(1_769_860_800_000);

    fn router(name: &str, ip: &str, managed: bool) -> NewRouter {
        NewRouter {
            name: name.into(),
            nas_ip: ip.parse().expect("ip"),
            nas_identifier: None,
            radius_secret: "testing123".into(),
            coa_port: 3799,
            api: managed.then(|| ApiAccess {
                host: "10.0.0.1".into(),
                port: 8728,
                tls: false,
                fingerprint: None,
                user: "sitebox".into(),
                password: "pw".into(),
            }),
            codepage: "windows-1252".into(),
        }
    }

    fn pending(conn: &rusqlite::Connection) -> Vec<(String, String)> {
        let filter = ListFilter {
            limit: 1000,
            ..ListFilter::default()
        };
        let mut keys: Vec<(String, String)> = jobs::list(conn, &filter)
            .expect("jobs")
            .into_iter()
            .filter(|j| j.queue == PROVISIONING_QUEUE)
            .map(|j| (j.kind, j.unique_key.unwrap_or_default()))
            .collect();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn changes_enqueue_one_job_per_managed_router_and_desired_follows_the_store() {
        let (store, _dir) = temp_store();
        let secrets = Secrets::from_key([7; 32]);
        let s = secrets.clone();
        let (managed, alice) = store
            .write(move |tx| {
                let managed =
                    routers::add(tx, &s, &Actor::Cli, T0, router("gw1", "10.0.0.1", true))?;
                routers::add(tx, &s, &Actor::Cli, T0, router("nas2", "10.0.0.2", false))?;
                let mut plan = NewPlan::hotspot("1h", 50, "KES", 3600);
                plan.rate_limit = Some("2M/4M".into());
                plan.shared_users = 2;
                let plan = plans::create(tx, &Actor::Cli, T0, plan)?;
                let alice = subscribers::create(
                    tx,
                    &s,
                    &Actor::Cli,
                    T0,
                    NewSubscriber {
                        username: "alice".into(),
                        kind: SubscriberKind::Hotspot,
                        password: Some("alice-pw".into()),
                        ..NewSubscriber::default()
                    },
                )?;
                // A second change before the job ran collapses into the waiting job.
                let origin = Origin {
                    source: Source::Manual,
                    payment_id: None,
                    voucher_id: None,
                };
                subscriptions::grant(tx, &Actor::Cli, T0, &alice, &plan, origin)?;
                Ok::<_, DomainError>((managed.id, alice.id))
            })
            .await
            .expect("setup");
        let keys = store
            .read(|conn| Ok::<_, DomainError>(pending(conn)))
            .await
            .unwrap();
        assert_eq!(
            keys,
            [
                (
                    ConfigureRadius::KIND.to_string(),
                    format!("configure:{}", managed.0),
                ),
                (
                    ProvisionSubscriber::KIND.to_string(),
                    format!("provision:{}:{}", managed.0, alice.0)
                ),
            ]
        );

        let s = secrets.clone();
        let store2 = store.clone();
        let at = move |t: Timestamp| {
            let (s, store) = (s.clone(), store.clone());
            async move {
                store
                    .read(move |conn| desired(conn, &s, alice, t))
                    .await
                    .expect("desired")
                    .expect("alice")
            }
        };
        let Desired::Present {
            password,
            profile,
            fallback,
            service,
            ..
        } = at(T0.after(Duration::from_secs(600))).await
        else {
            panic!("alice is present");
        };
        assert_eq!(
            (service, password.as_deref()),
            (Service::Hotspot, Some("alice-pw"))
        );
        // What the router may grant alone: the hour's online time, until its end; the same
        // whenever the job runs.
        let fallback = fallback.expect("a running plan has a fallback");
        assert_eq!(fallback.limit_uptime_s, 3600);
        assert_eq!(fallback.limit_bytes, None);
        assert_eq!(fallback.until, T0.after(Duration::from_secs(3600)));
        assert_eq!(
            user_comment(Some(&fallback)),
            format!(
                "sitebox sub={} until={}",
                fallback.subscription,
                T0.as_millis() / 1000 + 3600
            )
        );
        assert_eq!(
            comment_subscription(&user_comment(Some(&fallback))),
            Some(fallback.subscription)
        );
        assert_eq!(user_comment(None), "sitebox until=0");
        assert_eq!(routeros_time(3000), "50m");
        assert_eq!(routeros_time(694_861), "1w1d1h1m1s");
        assert_eq!(routeros_time(0), "0s");
        assert_eq!(
            profile,
            Some(Profile {
                name: "sitebox-1h".into(),
                rate_limit: Some("2M/4M".into()),
                shared_users: 2
            })
        );
        // Past its expiry the plan no longer counts: no fallback, the router's default profile.
        let later = at(T0.after(Duration::from_secs(3601))).await;
        assert!(
            matches!(
                &later,
                Desired::Present {
                    fallback: None,
                    profile: None,
                    ..
                }
            ),
            "{later:?}"
        );

        // Revisions: the router is behind until a job records the latest one it converged to;
        // a change that lands after that puts it behind again, and catch-up enqueues it.
        let behind = |store: crate::store::Store| async move {
            store
                .read(move |conn| router_health::behind(conn, managed, 10))
                .await
        };
        assert_eq!(behind(store2.clone()).await.unwrap(), [alice]);
        store2
            .write(move |tx| {
                let revision = router_health::wanted(tx, managed, alice)?;
                assert_eq!(revision, 2, "created, then granted");
                router_health::mark_applied(tx, managed, alice, revision)
            })
            .await
            .unwrap();
        assert_eq!(behind(store2.clone()).await.unwrap(), []);
        let caught = store2
            .write(move |tx| {
                let alice = crate::domain::Account {
                    username: "alice".into(),
                };
                subscribers::suspend(tx, &Actor::Cli, T0, alice)?;
                catch_up(tx, T0, managed, 10)
            })
            .await
            .unwrap();
        assert_eq!(caught, 1);
        assert_eq!(behind(store2.clone()).await.unwrap(), [alice]);
    }
}
