//! The cloud's projections on a real PostgreSQL: a site's day of events (every type the daemon
//! writes, a router's late Stop, an event of an unknown type, one that does not fit its type)
//! stored through the ingest's own `store_batch`, in batches of different sizes and orders and
//! replayed, must give the same tables; a rebuild from `events` gives the tables the live
//! ingest built; the event no projection can apply is recorded and stays.

use std::collections::BTreeMap;

use sitebox_cloud::ingest::store_batch;
use sitebox_cloud::notify::Hub;
use sitebox_cloud::projections::TABLES;
use sitebox_tests::cloud::Cloud;
use sitebox_tests::site_events::{Extras, SiteEvent, batches, site_day};

const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");

/// Every projection table of `tenant`, row by row as JSON, without the columns that say when
/// the cloud stored something (they differ between tenants fed at different times).
fn dump(cloud: &Cloud, tenant: &str, with_times: bool) -> BTreeMap<&'static str, Vec<String>> {
    // `at` is when a failure was recorded (again, by a rebuild).
    let drop = if with_times {
        "- 'tenant_id' - 'at'"
    } else {
        "- 'tenant_id' - 'at' - 'received_at'"
    };
    TABLES
        .iter()
        .chain(&["projection_failures"])
        .map(|table| {
            let rows = cloud.query(&format!(
                "SELECT (to_jsonb(t) {drop})::text FROM {table} t WHERE tenant_id = '{tenant}' ORDER BY 1"
            ));
            (*table, rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
        .collect()
}

fn store_all(cloud: &Cloud, tenant: &str, batches: &[sitebox_sync::wire::Batch]) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = sitebox_cloud::db::connect(cloud.app_database())
            .await
            .expect("connect as the service role");
        let hub = Hub::new();
        let statements = sitebox_cloud::db::Statements::default();
        for batch in batches {
            store_batch(&mut client, &statements, &hub, tenant, "s1", batch)
                .await
                .unwrap_or_else(|e| panic!("batch {}: {e}", batch.batch));
        }
    });
}

/// Per session: (state, seconds, input octets, cause) as the events say, newest counters.
fn expected_sessions(events: &[SiteEvent]) -> BTreeMap<i64, (String, i64, i64, Option<i64>)> {
    let mut out: BTreeMap<i64, (String, i64, i64, Option<i64>, u64)> = BTreeMap::new();
    for e in events {
        let kind = e.event.kind.as_str();
        if !kind.starts_with("Session") {
            continue;
        }
        let p: serde_json::Value = serde_json::from_str(e.event.payload.get()).expect("json");
        let Some(id) = p["session_id"].as_i64() else {
            continue;
        };
        let entry = out.entry(id).or_insert(("open".into(), 0, 0, None, 0));
        if e.event.seq > entry.4 {
            entry.1 = p["session_time_s"].as_i64().unwrap_or(0);
            entry.2 = p["input_octets"].as_i64().unwrap_or(0);
            entry.4 = e.event.seq;
        }
        if kind == "SessionStopped" {
            entry.0 = "closed".into();
            entry.3 = p["terminate_cause"].as_i64();
        }
    }
    out.into_iter()
        .map(|(id, (state, s, i, c, _))| (id, (state, s, i, c)))
        .collect()
}

#[test]
fn any_batch_split_order_and_replay_gives_the_same_tables_and_a_rebuild_gives_them_again() {
    let dir = tempfile::tempdir().expect("dir");
    let tenants = ["t-a", "t-b", "t-c", "t-d"];
    let sites: Vec<(&str, &str)> = tenants.iter().map(|t| (*t, "s1")).collect();
    let cloud = Cloud::start(CLOUD.as_ref(), dir.path(), &sites);
    let events = site_day(
        7,
        3000,
        1_764_000_000_000,
        Extras {
            unknown_type: true,
            malformed: true,
        },
    );
    let last = events.len() as i64;
    // t-a: big batches. t-b: small ones, then all of them again in another order (a replay).
    // t-c: medium, shuffled. t-d: one event per batch, newest first.
    store_all(&cloud, "t-a", &batches("t-a", "s1", &events, 500, 1));
    let mut b = batches("t-b", "s1", &events, 7, 2);
    b.extend(batches("t-b", "s1", &events, 40, 22));
    store_all(&cloud, "t-b", &b);
    store_all(&cloud, "t-c", &batches("t-c", "s1", &events, 50, 3));
    let mut d = batches("t-d", "s1", &events, 1, 4);
    d.sort_by_key(|batch| std::cmp::Reverse(batch.events[0].seq));
    store_all(&cloud, "t-d", &d);

    for tenant in tenants {
        assert_eq!(
            cloud.query_i64(&format!(
                "SELECT through FROM site_cursors WHERE tenant_id = '{tenant}'"
            )),
            last,
            "{tenant}: every event stored"
        );
    }
    assert_eq!(
        cloud.query_i64("SELECT duplicates FROM site_cursors WHERE tenant_id = 't-b'"),
        last,
        "the replay was all duplicates"
    );

    // Not equal because empty: the tables hold what the events say.
    let count = |kind: &str| events.iter().filter(|e| e.event.kind == kind).count() as i64;
    let a = |sql: &str| cloud.query_i64(&sql.replace("$T", "tenant_id = 't-a'"));
    assert_eq!(
        a("SELECT count(*) FROM payments WHERE $T"),
        count("PaymentReceived")
    );
    assert_eq!(
        a(
            "SELECT count(*) FROM payments WHERE $T AND state = 'applied' AND subscription_id IS NOT NULL"
        ),
        count("PaymentApplied")
    );
    assert_eq!(
        a("SELECT count(*) FROM payments WHERE $T AND state = 'rejected' AND reason IS NOT NULL"),
        count("PaymentRejected")
    );
    assert_eq!(
        a("SELECT count(*) FROM subscriptions WHERE $T"),
        count("SubscriptionStarted")
    );
    assert_eq!(
        a("SELECT count(*) FROM subscriptions WHERE $T AND state <> 'active'"),
        count("SubscriptionExpired")
    );
    assert_eq!(
        a("SELECT count(*) FROM subscribers WHERE $T"),
        count("SubscriberCreated")
    );
    assert_eq!(
        a("SELECT count(*) FROM vouchers WHERE $T"),
        count("VoucherRedeemed")
    );
    assert_eq!(a("SELECT count(*) FROM voucher_batches WHERE $T"), 1);
    assert_eq!(a("SELECT count(*) FROM routers WHERE $T"), 2);
    assert_eq!(
        a("SELECT count(*) FROM failed_jobs WHERE $T"),
        count("JobFailed")
    );
    assert!(count("JobRetried") + count("JobDiscarded") > 0);
    assert_eq!(
        a("SELECT count(*) FROM failed_jobs WHERE $T AND state <> 'failed'"),
        count("JobRetried") + count("JobDiscarded")
    );
    assert_eq!(a("SELECT events FROM site_health WHERE $T"), last);
    assert_eq!(
        a("SELECT (unprojected->>'FutureThing')::bigint FROM site_health WHERE $T"),
        1
    );
    let sessions: BTreeMap<i64, (String, i64, i64, Option<i64>)> = cloud
        .query("SELECT session_id, state, session_time_s, input_octets, terminate_cause FROM sessions WHERE tenant_id = 't-a'")
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect();
    assert_eq!(sessions, expected_sessions(&events));
    assert!(count("SessionUpdated") > 100 && sessions.values().any(|s| s.0 == "closed"));

    // The malformed event: recorded once, kept in `events`, nothing else failed.
    let failures = cloud.query(
        "SELECT seq, projection, type, error FROM projection_failures WHERE tenant_id = 't-a'",
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].get::<_, i64>(0), last);
    assert_eq!(failures[0].get::<_, &str>(1), "sessions");
    assert!(
        failures[0].get::<_, &str>(3).contains("session_id"),
        "{}",
        failures[0].get::<_, &str>(3)
    );
    assert_eq!(
        a(&format!(
            "SELECT count(*) FROM events WHERE $T AND seq = {last}"
        )),
        1
    );

    let reference = dump(&cloud, "t-a", false);
    assert!(
        reference.values().all(|rows| !rows.is_empty()),
        "{reference:?}"
    );
    for tenant in &tenants[1..] {
        let got = dump(&cloud, tenant, false);
        for table in reference.keys() {
            assert!(
                reference[table] == got[table],
                "{table} of {tenant} differs from t-a's: {:?} ≠ {:?}",
                got[table].iter().find(|r| !reference[table].contains(r)),
                reference[table].iter().find(|r| !got[table].contains(r)),
            );
        }
    }

    // Rebuild from events: the same tables, times of storage included.
    let live = dump(&cloud, "t-a", true);
    let printed = cloud.run(&["projections", "rebuild", "--tenant", "t-a"]);
    assert!(
        printed.contains(&format!(
            "rebuilt 1 site(s) from {last} event(s); 1 event(s)"
        )),
        "{printed}"
    );
    let rebuilt = dump(&cloud, "t-a", true);
    for table in live.keys() {
        assert!(
            live[table] == rebuilt[table],
            "{table} differs after the rebuild"
        );
    }
}
