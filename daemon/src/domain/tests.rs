//! The hotspot domain against a real store: payments, vouchers, accounting, expiry.

use std::sync::Arc;
use std::time::Duration;

use super::accounting::{self, Record, Status};
use super::payments::{self, Confirmation, Outcome};
use super::plans;
use super::policy::{self, Facts, Proof, Reason, Verdict};
use super::routers;
use super::subscribers;
use super::subscriptions;
use super::{DomainError, expiry, vouchers};
use crate::clock::{ManualClock, SharedClock, Timestamp};
use crate::model::RouterId;
use crate::model::SubscriptionId;
use crate::model::event::Actor;
use crate::model::job::{DisconnectSession, JobKind};
use crate::model::payment::PaymentState;
use crate::model::plan::{NewPlan, Plan, PlanKind, PlanState};
use crate::model::router::NewRouter;
use crate::model::subscriber::{NewSubscriber, Subscriber, SubscriberKind, SubscriberState};
use crate::model::subscription::{Origin, Source, Subscription, SubscriptionState};
use crate::model::voucher::VoucherState;
use crate::queue::{Backoff, Handlers, QueueRunner, RunnerSettings};
use crate::secrets::Secrets;
use crate::store::testing::temp_store;
use crate::store::{
    Store, jobs, payments as payment_sql, sessions, subscriptions as subscription_sql,
};

/// 2026-01-31T12:00:00Z.
const T0: Timestamp = Timestamp::from_millis(1_769_860_800_000);
const HOUR: Duration = Duration::from_secs(3600);

struct Site {
    store: Store,
    secrets: Secrets,
    router: RouterId,
    _dir: tempfile::TempDir,
}

async fn site() -> Site {
    let (store, dir) = temp_store();
    let secrets = Secrets::from_key([42; 32]);
    let s = secrets.clone();
    let router = store
        .write(move |tx| {
            let router = routers::add(
                tx,
                &s,
                &Actor::Cli,
                T0,
                NewRouter {
                    name: "gw1".into(),
                    nas_ip: "10.0.0.1".parse().expect("ip"),
                    nas_identifier: Some("GW1".into()),
                    radius_secret: "testing123".into(),
                    coa_port: 3799,
                    api: None,
                    codepage: "windows-1252".into(),
                },
            )?;
            let mut hour = NewPlan::hotspot("1h", 5000, "KES", 3600);
            hour.rate_limit = Some("2M/4M".into());
            plans::create(tx, &Actor::Cli, T0, hour)?;
            let mut capped = NewPlan::hotspot("1gb", 10000, "KES", 86_400);
            capped.data_limit = Some(1_000_000_000);
            capped.time_limit_s = Some(7200);
            capped.shared_users = 2;
            plans::create(tx, &Actor::Cli, T0, capped)?;
            Ok::<_, DomainError>(router.id)
        })
        .await
        .expect("fixture");
    Site {
        store,
        secrets,
        router,
        _dir: dir,
    }
}

fn mpesa(receipt: &str, amount: &str, plan: &str, mac: &str) -> Confirmation {
    serde_json::from_value(serde_json::json!({
        "provider": "mpesa", "receipt": receipt, "checkout_request_id": format!("ws_CO_{receipt}"),
        "amount": serde_json::from_str::<serde_json::Number>(amount).expect("number"),
        "phone": "254712345678", "transaction_date": "20260131120000", "plan": plan, "mac": mac,
    }))
    .expect("confirmation")
}

async fn pay(site: &Site, confirmation: Confirmation, now: Timestamp) -> Outcome {
    let secrets = site.secrets.clone();
    site.store
        .write(move |tx| payments::apply(tx, &secrets, &Actor::Cloud, now, &confirmation))
        .await
        .expect("apply")
}

async fn account(site: &Site, record: Record, now: Timestamp) {
    site.store
        .write(move |tx| accounting::record(tx, now, &record))
        .await
        .expect("accounting");
}

fn acct(
    site: &Site,
    status: Status,
    session: &str,
    user: &str,
    mac: &str,
    seconds: i64,
    bytes: i64,
) -> Record {
    Record {
        router_id: site.router,
        status,
        acct_session_id: session.into(),
        username: user.into(),
        mac: Some(mac.into()),
        framed_ip: Some("10.5.50.10".into()),
        nas_port_id: Some("bridge-hotspot".into()),
        session_time_s: seconds,
        input_octets: bytes / 4,
        output_octets: bytes - bytes / 4,
    }
}

fn current(store: &Store, username: &str) -> Option<Subscription> {
    let username = username.to_string();
    store
        .read_blocking(move |conn| {
            let subscriber =
                crate::store::subscribers::by_username(conn, &username)?.expect("subscriber");
            subscription_sql::current(conn, subscriber.id)
        })
        .expect("current")
}

// ---- policy: every reject reason, and what an accept carries ----

fn subscriber(macs: &[&str]) -> Subscriber {
    Subscriber {
        id: crate::model::SubscriberId(1),
        username: "alice".into(),
        kind: SubscriberKind::Hotspot,
        mac_auth: false,
        phone: None,
        state: SubscriberState::Active,
        macs: macs.iter().map(|m| m.to_string()).collect(),
    }
}

fn plan(shared: u32, binding: bool) -> Plan {
    Plan {
        id: crate::model::PlanId(1),
        name: "1gb".into(),
        kind: PlanKind::Hotspot,
        price: 10000,
        currency: "KES".into(),
        validity_s: 86_400,
        time_limit_s: Some(7200),
        data_limit: Some(6 * 1024 * 1024 * 1024),
        rate_limit: Some("2M/4M".into()),
        shared_users: shared,
        mac_binding: binding,
        idle_timeout_s: Some(600),
        interim_s: 300,
        state: PlanState::Active,
    }
}

fn subscription(expires_in: Duration, used_seconds: i64, used_bytes: i64) -> Subscription {
    Subscription {
        id: SubscriptionId(7),
        subscriber_id: crate::model::SubscriberId(1),
        plan_id: crate::model::PlanId(1),
        state: SubscriptionState::Active,
        source: Source::Mpesa,
        starts_at: Some(T0),
        expires_at: Some(T0.after(expires_in)),
        time_limit_s: Some(7200),
        data_limit: Some(6 * 1024 * 1024 * 1024),
        used_seconds,
        used_bytes,
    }
}

fn decide(
    proof: Proof,
    who: &Subscriber,
    sub: Option<&Subscription>,
    plan: &Plan,
    others: &[&str],
    mac: &str,
) -> Verdict {
    let others: Vec<String> = others.iter().map(|m| m.to_string()).collect();
    policy::decide(
        proof,
        Some(Facts {
            subscriber: who,
            subscription: sub,
            plan: sub.map(|_| plan),
            other_devices: &others,
            mac: Some(mac),
            now: T0,
        }),
    )
}

fn reason(verdict: Verdict) -> (Reason, String) {
    match verdict {
        Verdict::Reject(refusal) => (refusal.reason, refusal.message),
        Verdict::Accept(grant) => panic!("accepted: {grant:?}"),
    }
}

#[test]
fn every_reject_reason_comes_with_a_message() {
    const MAC: &str = "AA:BB:CC:00:00:01";
    let who = subscriber(&[]);
    let p = plan(1, false);
    let fresh = subscription(HOUR, 0, 0);
    let cases: Vec<(Reason, Verdict)> = vec![
        (
            Reason::UnknownUser,
            policy::decide(Proof::UnknownUser, None),
        ),
        (
            Reason::WrongPassword,
            decide(Proof::WrongPassword, &who, Some(&fresh), &p, &[], MAC),
        ),
        (
            Reason::MacNotBound,
            decide(Proof::MacMismatch, &who, Some(&fresh), &p, &[], MAC),
        ),
        (
            Reason::BadRequest,
            decide(Proof::Unusable, &who, Some(&fresh), &p, &[], MAC),
        ),
        (
            Reason::Suspended,
            decide(
                Proof::Verified,
                &Subscriber {
                    state: SubscriberState::Suspended,
                    ..who.clone()
                },
                Some(&fresh),
                &p,
                &[],
                MAC,
            ),
        ),
        (
            Reason::NoPlan,
            decide(Proof::Verified, &who, None, &p, &[], MAC),
        ),
        (
            Reason::Expired,
            decide(
                Proof::Verified,
                &who,
                Some(&subscription(Duration::ZERO, 0, 0)),
                &p,
                &[],
                MAC,
            ),
        ),
        (
            Reason::TimeUsedUp,
            decide(
                Proof::Verified,
                &who,
                Some(&subscription(HOUR, 7200, 0)),
                &p,
                &[],
                MAC,
            ),
        ),
        (
            Reason::DataUsedUp,
            decide(
                Proof::Verified,
                &who,
                Some(&subscription(HOUR, 0, 6 * 1024 * 1024 * 1024)),
                &p,
                &[],
                MAC,
            ),
        ),
        (
            Reason::TooManyDevices,
            decide(
                Proof::Verified,
                &who,
                Some(&fresh),
                &p,
                &["AA:BB:CC:00:00:02"],
                MAC,
            ),
        ),
        (
            Reason::MacNotBound,
            decide(
                Proof::Verified,
                &subscriber(&["AA:BB:CC:00:00:09"]),
                Some(&fresh),
                &plan(1, true),
                &[],
                MAC,
            ),
        ),
    ];
    let ended = |state: SubscriptionState, used_bytes: i64| Subscription {
        state,
        ..subscription(HOUR, 0, used_bytes)
    };
    let cases = [
        cases,
        vec![
            (
                Reason::Expired,
                decide(
                    Proof::Verified,
                    &who,
                    Some(&ended(SubscriptionState::Expired, 0)),
                    &p,
                    &[],
                    MAC,
                ),
            ),
            (
                Reason::DataUsedUp,
                decide(
                    Proof::Verified,
                    &who,
                    Some(&ended(SubscriptionState::Exhausted, 6 * 1024 * 1024 * 1024)),
                    &p,
                    &[],
                    MAC,
                ),
            ),
            (
                Reason::NoPlan,
                decide(
                    Proof::Verified,
                    &who,
                    Some(&ended(SubscriptionState::Cancelled, 0)),
                    &p,
                    &[],
                    MAC,
                ),
            ),
        ],
    ]
    .concat();
    for (want, verdict) in cases {
        let (got, message) = reason(verdict);
        assert_eq!(got, want);
        assert!(message.len() > 10, "{want:?}: {message:?}");
    }
}

#[test]
fn an_accept_carries_the_lesser_timeout_the_speed_and_the_data_left_with_gigawords() {
    let who = subscriber(&[]);
    let p = plan(1, false);
    // 1 h to expiry but only 20 minutes of online time left.
    let Verdict::Accept(grant) = decide(
        Proof::Verified,
        &who,
        Some(&subscription(HOUR, 6000, 1_000)),
        &p,
        &[],
        "AA:BB:CC:00:00:01",
    ) else {
        panic!("rejected")
    };
    assert_eq!(grant.session_timeout, 1200);
    assert_eq!(grant.rate_limit.as_deref(), Some("2M/4M"));
    assert_eq!(
        grant.total_limit,
        Some(6 * 1024 * 1024 * 1024 - 1_000),
        "more than 4 GiB: needs gigawords"
    );
    assert_eq!((grant.interim, grant.idle_timeout), (300, Some(600)));
    assert_eq!(grant.class, "sitebox:subscription:7");
    // 10 minutes to expiry, plenty of time: expiry wins.
    let Verdict::Accept(grant) = decide(
        Proof::Verified,
        &who,
        Some(&subscription(Duration::from_secs(600), 0, 0)),
        &p,
        &[],
        "AA:BB:CC:00:00:01",
    ) else {
        panic!("rejected")
    };
    assert_eq!(grant.session_timeout, 600);
}

#[test]
fn shared_users_counts_other_devices_and_mac_binding_binds_the_first() {
    let who = subscriber(&[]);
    let fresh = subscription(HOUR, 0, 0);
    let two = plan(2, false);
    // The same device logging in again (a stale session of its own) is not a second device.
    assert!(matches!(
        decide(
            Proof::Verified,
            &who,
            Some(&fresh),
            &plan(1, false),
            &["AA:00:00:00:00:01"],
            "AA:00:00:00:00:01"
        ),
        Verdict::Accept(_)
    ));
    assert!(matches!(
        decide(
            Proof::Verified,
            &who,
            Some(&fresh),
            &two,
            &["AA:00:00:00:00:02"],
            "AA:00:00:00:00:01"
        ),
        Verdict::Accept(_)
    ));
    let (why, _) = reason(decide(
        Proof::Verified,
        &who,
        Some(&fresh),
        &two,
        &["AA:00:00:00:00:02", "AA:00:00:00:00:03"],
        "AA:00:00:00:00:01",
    ));
    assert_eq!(why, Reason::TooManyDevices);
    let Verdict::Accept(grant) = decide(
        Proof::Verified,
        &who,
        Some(&fresh),
        &plan(1, true),
        &[],
        "AA:00:00:00:00:01",
    ) else {
        panic!("first device must be accepted")
    };
    assert_eq!(grant.bind_mac.as_deref(), Some("AA:00:00:00:00:01"));
    let bound = subscriber(&["AA:00:00:00:00:01"]);
    let Verdict::Accept(grant) = decide(
        Proof::Verified,
        &bound,
        Some(&fresh),
        &plan(1, true),
        &[],
        "AA:00:00:00:00:01",
    ) else {
        panic!("bound device must be accepted")
    };
    assert_eq!(grant.bind_mac, None);
}

// ---- expiry arithmetic ----

#[test]
fn expiry_is_plain_utc_arithmetic_across_month_and_year_ends() {
    let cases = [
        // 2024-01-31T12:00Z + 30 days = 2024-03-01T12:00Z (leap year).
        (1_706_702_400_000, 30 * 86_400, 1_709_294_400_000),
        // 2023-12-31T23:30Z + 1 h = 2024-01-01T00:30Z.
        (1_704_065_400_000, 3600, 1_704_069_000_000),
        // 2026-03-29T00:30Z (the night Europe moves its clocks) + 1 day = exactly 24 h later.
        (1_774_744_200_000, 86_400, 1_774_830_600_000),
        // 2025-02-28T23:59:59Z + 1 s = 2025-03-01T00:00:00Z (no leap day).
        (1_740_787_199_000, 1, 1_740_787_200_000),
    ];
    for (start, validity, end) in cases {
        assert_eq!(
            subscriptions::expires_at(Timestamp::from_millis(start), validity),
            Timestamp::from_millis(end)
        );
    }
}

// ---- payments ----

#[tokio::test]
async fn the_same_receipt_applied_concurrently_makes_one_subscription() {
    let site = site().await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = site.store.clone();
        let secrets = site.secrets.clone();
        tasks.push(tokio::spawn(async move {
            let confirmation = mpesa("QKJ81ABCDE", "50.00", "1h", "aa-bb-cc-00-00-01");
            store
                .write(move |tx| payments::apply(tx, &secrets, &Actor::Cloud, T0, &confirmation))
                .await
                .expect("apply")
        }));
    }
    let mut applied = 0;
    let mut duplicates = 0;
    for task in tasks {
        match task.await.expect("task") {
            Outcome::Applied { username, .. } => {
                applied += 1;
                assert_eq!(username, "AA:BB:CC:00:00:01", "credited to the device");
            }
            Outcome::Duplicate { state, .. } => {
                duplicates += 1;
                assert_eq!(state, PaymentState::Applied);
            }
            Outcome::Rejected { reason, .. } => panic!("rejected: {reason}"),
        }
    }
    assert_eq!((applied, duplicates), (1, 9));
    let count = site
        .store
        .read_blocking(|conn| payment_sql::subscriptions_per_receipt(conn, "QKJ81ABCDE"))
        .expect("count");
    assert_eq!(count, 1);
    let sub = current(&site.store, "AA:BB:CC:00:00:01").expect("subscription");
    assert_eq!(
        (sub.state.as_str(), sub.expires_at),
        ("active", Some(T0.after(HOUR)))
    );
}

#[tokio::test]
async fn a_payment_that_does_not_match_its_plan_is_kept_and_rejected_with_a_reason() {
    let site = site().await;
    let mut events = site.store.bus().subscribe();
    let outcome = pay(
        &site,
        mpesa("QKJ81WRONG", "40", "1h", "AA:BB:CC:00:00:02"),
        T0,
    )
    .await;
    let Outcome::Rejected { reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        reason,
        "amount 40.00 KES does not match the price of plan `1h` (50.00 KES)"
    );
    let unknown = pay(
        &site,
        mpesa("QKJ81NOPLN", "50", "2h", "AA:BB:CC:00:00:02"),
        T0,
    )
    .await;
    assert!(
        matches!(unknown, Outcome::Rejected { ref reason, .. } if reason == "unknown plan `2h`"),
        "{unknown:?}"
    );
    let kept = site
        .store
        .read_blocking(|conn| payment_sql::list(conn, true, 10))
        .expect("list");
    assert_eq!(kept.len(), 2);
    assert!(
        kept.iter()
            .all(|p| p.state == PaymentState::Rejected && p.reason.is_some())
    );
    assert_eq!(
        pay(
            &site,
            mpesa("QKJ81WRONG", "50", "1h", "AA:BB:CC:00:00:02"),
            T0
        )
        .await,
        Outcome::Duplicate {
            payment_id: kept[1].id,
            state: PaymentState::Rejected
        }
    );
    let kinds: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.kind.as_str().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "PaymentReceived",
            "PaymentRejected",
            "PaymentReceived",
            "PaymentRejected"
        ]
    );
    let audit = site
        .store
        .read_blocking(|conn| crate::store::outbox::recent_audit(conn, 1))
        .expect("audit");
    assert_eq!(
        audit[0].detail["phone"], "2547*****678",
        "phone numbers are masked in events"
    );
}

#[tokio::test]
async fn a_second_purchase_queues_behind_the_first_and_starts_when_it_ends() {
    let site = site().await;
    pay(&site, mpesa("R1", "50", "1h", "AA:BB:CC:00:00:03"), T0).await;
    let later = T0.after(Duration::from_secs(600));
    let second = pay(&site, mpesa("R2", "50", "1h", "AA:BB:CC:00:00:03"), later).await;
    let Outcome::Applied {
        subscription_id, ..
    } = second
    else {
        panic!("{second:?}")
    };
    let first = current(&site.store, "AA:BB:CC:00:00:03").expect("current");
    assert_eq!(first.expires_at, Some(T0.after(HOUR)));
    let end = T0.after(HOUR);
    let ended = site
        .store
        .write(move |tx| expiry::expire(tx, end, first.id))
        .await
        .expect("expire");
    assert!(ended);
    let now_current = current(&site.store, "AA:BB:CC:00:00:03").expect("current");
    assert_eq!(now_current.id.0, subscription_id);
    assert_eq!(
        (now_current.starts_at, now_current.expires_at),
        (Some(end), Some(end.after(HOUR)))
    );
}

// ---- vouchers ----

#[tokio::test]
async fn a_voucher_is_redeemed_once_only_even_when_raced() {
    let site = site().await;
    let (batch, made) = site
        .store
        .write(|tx| {
            let plan = plans::find(tx, "1h")?;
            vouchers::generate(tx, &Actor::Cli, T0, &plan, 50, 8)
        })
        .await
        .expect("generate");
    assert_eq!(made.len(), 50);
    assert!(
        made.iter()
            .all(|v| v.batch == batch && v.state == VoucherState::Unused && v.code.len() == 8)
    );
    assert!(
        made.iter()
            .all(|v| v.code.bytes().all(|b| vouchers::ALPHABET.contains(&b)))
    );
    let code = made[0].code.clone();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, secrets, code) = (
            site.store.clone(),
            site.secrets.clone(),
            code.to_lowercase(),
        );
        tasks.push(tokio::spawn(async move {
            store
                .write(move |tx| vouchers::redeem(tx, &secrets, T0, &code))
                .await
                .expect("redeem")
        }));
    }
    let mut redeemed = 0;
    for task in tasks {
        if let Some(subscriber) = task.await.expect("task") {
            redeemed += 1;
            assert_eq!(subscriber.username, code);
        }
    }
    assert_eq!(redeemed, 1);
    let sub = current(&site.store, &code).expect("subscription");
    assert_eq!(
        (sub.source.as_str(), sub.expires_at),
        ("voucher", Some(T0.after(HOUR)))
    );
    let csv = vouchers::csv(&made);
    assert_eq!(csv.lines().count(), 51);
    assert!(csv.starts_with("code,plan,batch,state\n"));
}

// ---- accounting ----

#[tokio::test]
async fn accounting_is_idempotent_and_charges_usage_once_then_enforces_the_data_limit() {
    let site = site().await;
    let (store, secrets) = (site.store.clone(), site.secrets.clone());
    store
        .write(move |tx| {
            let subscriber = subscribers::create(
                tx,
                &secrets,
                &Actor::Cli,
                T0,
                NewSubscriber {
                    username: "bob".into(),
                    kind: SubscriberKind::Hotspot,
                    password: Some("hunter22".into()),
                    ..NewSubscriber::default()
                },
            )?;
            let plan = plans::find(tx, "1gb")?;
            subscriptions::grant(
                tx,
                &Actor::Cli,
                T0,
                &subscriber,
                &plan,
                Origin {
                    source: Source::Manual,
                    payment_id: None,
                    voucher_id: None,
                },
            )
        })
        .await
        .expect("grant");
    const PHONE: &str = "AA:BB:CC:00:00:10";
    const LAPTOP: &str = "AA:BB:CC:00:00:11";
    account(
        &site,
        acct(&site, Status::Start, "81000001", "bob", PHONE, 0, 0),
        T0,
    )
    .await;
    account(
        &site,
        acct(&site, Status::Start, "81000001", "bob", PHONE, 0, 0),
        T0,
    )
    .await;
    account(
        &site,
        acct(&site, Status::Start, "81000002", "bob", LAPTOP, 0, 0),
        T0,
    )
    .await;
    let interim = acct(
        &site,
        Status::Interim,
        "81000001",
        "bob",
        PHONE,
        300,
        400_000_000,
    );
    account(&site, interim.clone(), T0).await;
    account(&site, interim, T0).await; // resent: no double charge
    let sub = current(&site.store, "bob").expect("subscription");
    assert_eq!((sub.used_seconds, sub.used_bytes), (300, 400_000_000));
    // Counters only go up: a late, lower interim changes nothing.
    account(
        &site,
        acct(&site, Status::Interim, "81000001", "bob", PHONE, 200, 100),
        T0,
    )
    .await;
    assert_eq!(
        current(&site.store, "bob").expect("sub").used_bytes,
        400_000_000
    );
    // The laptop uses the rest: the subscription is exhausted, both sessions are cut.
    account(
        &site,
        acct(
            &site,
            Status::Stop(Some(1)),
            "81000002",
            "bob",
            LAPTOP,
            60,
            600_000_000,
        ),
        T0,
    )
    .await;
    let after = site
        .store
        .read_blocking(move |conn| subscription_sql::get(conn, sub.id))
        .expect("get")
        .expect("sub");
    assert_eq!(
        (after.state.as_str(), after.used_bytes),
        ("exhausted", 1_000_000_000)
    );
    let disconnects = site
        .store
        .read_blocking(|conn| {
            jobs::list(
                conn,
                &jobs::ListFilter {
                    queue: Some("enforcement".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .expect("jobs");
    assert_eq!(
        disconnects.len(),
        1,
        "the phone's session is still open: one disconnect"
    );
    assert_eq!(disconnects[0].kind, DisconnectSession::KIND);
    // A Stop resent after the fact changes nothing.
    account(
        &site,
        acct(
            &site,
            Status::Stop(Some(1)),
            "81000002",
            "bob",
            LAPTOP,
            60,
            600_000_000,
        ),
        T0,
    )
    .await;
    assert_eq!(
        site.store
            .read_blocking(move |conn| subscription_sql::get(conn, sub.id))
            .expect("get")
            .expect("sub")
            .used_bytes,
        1_000_000_000
    );
    // The router reboots: its sessions are all closed.
    account(
        &site,
        Record {
            status: Status::NasRestart,
            ..acct(&site, Status::Start, "", "", PHONE, 0, 0)
        },
        T0,
    )
    .await;
    let router = site.router;
    let open = site
        .store
        .read_blocking(move |conn| sessions::open_for_router(conn, router))
        .expect("open");
    assert!(open.is_empty());
    // The phone's own Stop arrives after the reboot closed it: its final counters are the
    // router's word on what was used. Counted once, even when resent; the session stays
    // closed with the cause the box recorded.
    let late = acct(
        &site,
        Status::Stop(Some(1)),
        "81000001",
        "bob",
        PHONE,
        360,
        450_000_000,
    );
    account(&site, late.clone(), T0).await;
    account(&site, late, T0).await;
    let used = site
        .store
        .read_blocking(move |conn| subscription_sql::get(conn, sub.id))
        .expect("get")
        .expect("sub")
        .used_bytes;
    assert_eq!(used, 1_050_000_000);
    let phone = site
        .store
        .read_blocking(move |conn| sessions::get(conn, router, "81000001"))
        .expect("get")
        .expect("session");
    assert_eq!(
        (
            phone.state.as_str(),
            phone.session_time_s,
            phone.input_octets + phone.output_octets,
            phone.terminate_cause
        ),
        ("closed", 360, 450_000_000, Some(11))
    );
}

#[tokio::test]
async fn counters_at_the_gigawords_maximum_saturate_and_reach_the_data_limit() {
    let site = site().await;
    let (store, secrets) = (site.store.clone(), site.secrets.clone());
    store
        .write(move |tx| {
            let subscriber = subscribers::create(
                tx,
                &secrets,
                &Actor::Cli,
                T0,
                NewSubscriber {
                    username: "bob".into(),
                    kind: SubscriberKind::Hotspot,
                    password: Some("hunter22".into()),
                    ..NewSubscriber::default()
                },
            )?;
            let plan = plans::find(tx, "1gb")?;
            subscriptions::grant(
                tx,
                &Actor::Cli,
                T0,
                &subscriber,
                &plan,
                Origin {
                    source: Source::Manual,
                    payment_id: None,
                    voucher_id: None,
                },
            )
        })
        .await
        .expect("grant");
    const PHONE: &str = "AA:BB:CC:00:00:10";
    account(
        &site,
        acct(&site, Status::Start, "81000001", "bob", PHONE, 0, 0),
        T0,
    )
    .await;
    // Acct-Input-Gigawords = Acct-Output-Gigawords = 0xFFFFFFFF: each counter is past
    // i64::MAX, which is what the RADIUS policy hands the domain.
    let huge = Record {
        input_octets: i64::MAX,
        output_octets: i64::MAX,
        ..acct(&site, Status::Interim, "81000001", "bob", PHONE, 60, 0)
    };
    account(&site, huge.clone(), T0).await;
    account(&site, huge, T0).await;
    let router = site.router;
    let (session, used) = site
        .store
        .read_blocking(move |conn| {
            let session = sessions::get(conn, router, "81000001")?.expect("session");
            let id = session.subscription_id.expect("charged");
            let used = subscription_sql::get(conn, id)?.expect("sub");
            Ok::<_, crate::store::StoreError>((session, used))
        })
        .expect("read");
    assert_eq!(
        (session.input_octets, session.output_octets),
        (i64::MAX, i64::MAX)
    );
    assert_eq!(
        (used.state.as_str(), used.used_bytes, used.data_left()),
        ("exhausted", i64::MAX, Some(0))
    );
}

// ---- the 1,000-subscriber expiry scenario ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscriptions_expire_at_their_instants_and_open_sessions_get_disconnects() {
    let site = site().await;
    let clock = ManualClock::new(T0);
    let shared: SharedClock = Arc::new(clock.clone());
    // Four plans of different lengths; 100 purchase instants, 10 buyers each.
    site.store
        .write(move |tx| {
            for (name, validity) in [
                ("30m", 1800),
                ("2h", 7200),
                ("1d", 86_400),
                ("7d", 7 * 86_400),
            ] {
                plans::create(
                    tx,
                    &Actor::Cli,
                    T0,
                    NewPlan::hotspot(name, 1000, "KES", validity),
                )?;
            }
            Ok::<_, DomainError>(())
        })
        .await
        .expect("plans");
    let plan_names = ["30m", "2h", "1d", "7d", "1h"];
    let mut expected: Vec<(String, Timestamp, bool)> = Vec::new(); // (username, expiry, has open session)
    for n in 0..1000usize {
        let bought = T0.after(Duration::from_secs((n / 10) as u64 * 397));
        clock.set(bought);
        let plan = plan_names[n % plan_names.len()];
        let mac = format!("02:00:00:00:{:02X}:{:02X}", n / 256, n % 256);
        let outcome = pay(
            &site,
            mpesa(&format!("RCPT{n:05}"), "10", plan, &mac),
            bought,
        )
        .await;
        let outcome = match outcome {
            Outcome::Rejected { .. } => {
                pay(
                    &site,
                    mpesa(&format!("RCPT{n:05}X"), "50", plan, &mac),
                    bought,
                )
                .await
            }
            other => other,
        };
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
        let online = n % 2 == 0;
        if online {
            account(
                &site,
                acct(&site, Status::Start, &format!("S{n:05}"), &mac, &mac, 0, 0),
                bought,
            )
            .await;
        }
        let validity = match plan {
            "30m" => 1800,
            "2h" => 7200,
            "1d" => 86_400,
            "7d" => 7 * 86_400,
            _ => 3600,
        };
        expected.push((mac, bought.after(Duration::from_secs(validity)), online));
    }
    let mut handlers = Handlers::new();
    crate::jobs::expiry::register(
        &mut handlers,
        &site.store,
        &shared,
        Duration::from_secs(3600),
    );
    let settings = RunnerSettings {
        lease: Duration::from_secs(30),
        backoff: Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(1),
        },
        rescue_every: Duration::from_secs(3600),
        // Only the expiry queue runs: disconnect jobs stay queued for the oracle to count.
        concurrency: [("default".to_string(), 4)].into(),
        grace: Duration::from_secs(1),
    };
    // Back to the first purchase: nothing has expired yet.
    clock.set(T0);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner = tokio::spawn(
        QueueRunner::new(site.store.clone(), shared.clone(), handlers, settings)
            .run(shutdown.clone()),
    );

    let mut instants: Vec<Timestamp> = expected.iter().map(|(_, at, _)| *at).collect();
    instants.sort();
    instants.dedup();
    for at in &instants {
        for (probe, should_be_active) in [(at.before(Duration::from_millis(1)), true), (*at, false)]
        {
            clock.set(probe);
            settle(&site.store, probe).await;
            let states = states(&site.store);
            for (mac, expiry, _) in expected.iter().filter(|(_, e, _)| e == at) {
                let active = states
                    .iter()
                    .any(|(user, state)| user == mac && state == "active");
                assert_eq!(
                    active, should_be_active,
                    "{mac} at {probe} (expires {expiry})"
                );
            }
        }
    }
    shutdown.cancel();
    runner.await.expect("runner");
    let states = states(&site.store);
    assert_eq!(states.iter().filter(|(_, s)| s == "expired").count(), 1000);
    let disconnects = site
        .store
        .read_blocking(|conn| {
            jobs::list(
                conn,
                &jobs::ListFilter {
                    queue: Some("enforcement".into()),
                    limit: 5000,
                    ..Default::default()
                },
            )
        })
        .expect("jobs");
    let online = expected.iter().filter(|(_, _, online)| *online).count();
    assert_eq!(disconnects.len(), online, "one disconnect per open session");
    assert!(
        disconnects
            .iter()
            .all(|j| j.kind == DisconnectSession::KIND)
    );
}

/// Wakes the queue and waits until every expiry job due at `now` has run.
async fn settle(store: &Store, now: Timestamp) {
    store.wakeups().wake_all();
    for _ in 0..2000 {
        let stats = store
            .read_blocking(move |conn| jobs::stats(conn, now))
            .expect("stats");
        let busy = stats
            .iter()
            .filter(|s| s.queue == "default")
            .any(|s| s.due + s.running > 0);
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("expiry jobs did not settle at {now}");
}

fn states(store: &Store) -> Vec<(String, String)> {
    store
        .read_blocking(|conn| {
            let mut stmt = conn.prepare(
                "SELECT s.username, sub.state FROM subscriptions sub JOIN subscribers s ON s.id = sub.subscriber_id",
            )?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok::<_, crate::store::StoreError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("states")
}
