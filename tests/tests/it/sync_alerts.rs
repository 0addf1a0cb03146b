//! Site liveness and alerts through the real broker and PostgreSQL, with protocol-level sites
//! (tests/src/fleet.rs): a blip opens nothing; a site that vanishes (its last will) is offline
//! and, after the tolerance, alerted; coming back and vanishing again before the clear time is
//! a flap on the same alert, which resolves once the site stays back; a maintenance window
//! holds an alert back until it closes; a site's batches raise router, failed-job, RADIUS and
//! clock alerts as of the site's own time, and its reported head makes it degraded; a payment
//! confirmed to a site that never applies it is alerted.

use std::time::{Duration, Instant};

use serde_json::json;
use serde_json::value::RawValue;
use sitebox_cloud::alerts::maintenance::{self, NewWindow};
use sitebox_cloud::audit::Actor;
use sitebox_cloud::notify::Hub;
use sitebox_sync::wire::{Batch, Lane, VERSION, WireEvent};
use sitebox_tests::cloud::Cloud;
use sitebox_tests::fleet::FakeSite;

const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");

fn wait_until(cloud: &Cloud, what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        if Instant::now() >= deadline {
            let log = cloud.process_log(0);
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "{what}: not within {within:?}; sitebox-cloud log, newest first:\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state(cloud: &Cloud, site: &str) -> String {
    cloud
        .query(&format!(
            "SELECT state FROM site_liveness WHERE tenant_id = 't1' AND site_id = '{site}'"
        ))
        .first()
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_default()
}

fn alerts(cloud: &Cloud, site: &str, reason: &str) -> Vec<(i64, String, i32)> {
    cloud
        .query(&format!(
            "SELECT alert_id, state, flaps FROM alerts
             WHERE tenant_id = 't1' AND site_id = '{site}' AND reason = '{reason}' ORDER BY 1"
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn event(seq: u64, at: i64, kind: &str, subject: &str, payload: serde_json::Value) -> WireEvent {
    WireEvent {
        seq,
        id: format!("0198d2c4-7a00-7000-8000-{seq:012x}"),
        kind: kind.into(),
        schema_version: 1,
        occurred_at: at,
        boot_id: "b".into(),
        uptime_ms: seq as i64,
        subject: subject.into(),
        payload: RawValue::from_string(payload.to_string()).expect("json"),
    }
}

#[test]
fn liveness_and_alerts_follow_the_sites_with_tolerance_flaps_and_maintenance() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cloud = Cloud::start(
        CLOUD.as_ref(),
        dir.path(),
        &[("t1", "s1"), ("t1", "s2"), ("t1", "s3")],
    );
    cloud.run(&[
        "tenants",
        "policy",
        "--tenant",
        "t1",
        "--policy",
        &json!({
            "site_offline": {"tolerance_s": 3, "clear_after_s": 2, "reopen_within_s": 30},
            "router_unreachable": {"tolerance_s": 1, "clear_after_s": 1},
            "failed_jobs": {"tolerance_s": 1},
            "clock_skew": {"tolerance_s": 1, "threshold": 60000},
            "radius_reject_spike": {"threshold": 50},
            "payment_not_applied": {"threshold": 0},
        })
        .to_string(),
    ]);
    cloud.start_process(2, 60, &[]);
    cloud.wait_ready(0);
    let port = cloud.broker.port();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // Online, then a one-second blip: no alert.
    let s1 = runtime
        .block_on(FakeSite::connect(port, "t1", "s1"))
        .expect("s1");
    runtime.block_on(s1.status(true)).expect("status");
    wait_until(&cloud, "s1 online", Duration::from_secs(10), || {
        state(&cloud, "s1") == "online"
    });
    runtime.block_on(s1.status(false)).expect("status");
    wait_until(&cloud, "s1 offline", Duration::from_secs(10), || {
        state(&cloud, "s1") == "offline"
    });
    std::thread::sleep(Duration::from_millis(1000));
    runtime.block_on(s1.status(true)).expect("status");
    wait_until(&cloud, "s1 online again", Duration::from_secs(10), || {
        state(&cloud, "s1") == "online"
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        alerts(&cloud, "s1", "site_offline").is_empty(),
        "a blip opened an alert"
    );

    // Vanished: the last will makes it offline, and after the tolerance an alert opens.
    s1.vanish();
    wait_until(
        &cloud,
        "s1 offline by its will",
        Duration::from_secs(15),
        || state(&cloud, "s1") == "offline",
    );
    wait_until(
        &cloud,
        "site_offline alert",
        Duration::from_secs(15),
        || alerts(&cloud, "s1", "site_offline").len() == 1,
    );
    let gap = cloud.query_i64(
        "SELECT (extract(epoch FROM a.detected_at - l.presence_at) * 1000)::bigint
         FROM alerts a JOIN site_liveness l USING (tenant_id, site_id)
         WHERE a.tenant_id = 't1' AND a.site_id = 's1'",
    );
    assert!(
        gap >= 3000,
        "alert {gap} ms after the site went offline; tolerance 3 s"
    );

    // Back, and gone again before the 2 s clear time: a flap on the same alert.
    let s1 = runtime
        .block_on(FakeSite::connect(port, "t1", "s1"))
        .expect("s1");
    runtime.block_on(s1.status(true)).expect("status");
    wait_until(&cloud, "s1 back", Duration::from_secs(10), || {
        state(&cloud, "s1") == "online"
    });
    s1.vanish();
    wait_until(&cloud, "flap counted", Duration::from_secs(15), || {
        alerts(&cloud, "s1", "site_offline")
            .first()
            .is_some_and(|a| a.2 >= 1)
    });
    let s1 = runtime
        .block_on(FakeSite::connect(port, "t1", "s1"))
        .expect("s1");
    runtime.block_on(s1.status(true)).expect("status");
    wait_until(&cloud, "resolved", Duration::from_secs(15), || {
        alerts(&cloud, "s1", "site_offline")
            .first()
            .is_some_and(|a| a.1 == "resolved")
    });
    assert_eq!(
        alerts(&cloud, "s1", "site_offline").len(),
        1,
        "one alert for the episode"
    );

    // A maintenance window on s2 holds its alert back until it closes.
    let hub = Hub::new();
    let window = runtime.block_on(async {
        let mut client = sitebox_cloud::db::connect(cloud.app_database())
            .await
            .expect("db");
        let now = sitebox_cloud::db::now_ms();
        maintenance::open(
            &mut client,
            &hub,
            &Actor::system(),
            "t1",
            &NewWindow {
                site: Some("s2".into()),
                starts_at: now - 1000,
                ends_at: now + 3_600_000,
                reason: "replacing the router".into(),
            },
        )
        .await
        .expect("window")
    });
    let s2 = runtime
        .block_on(FakeSite::connect(port, "t1", "s2"))
        .expect("s2");
    runtime.block_on(s2.status(true)).expect("status");
    wait_until(&cloud, "s2 online", Duration::from_secs(10), || {
        state(&cloud, "s2") == "online"
    });
    s2.vanish();
    wait_until(&cloud, "s2 offline", Duration::from_secs(15), || {
        state(&cloud, "s2") == "offline"
    });
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        alerts(&cloud, "s2", "site_offline").is_empty(),
        "opened in maintenance"
    );
    runtime.block_on(async {
        let mut client = sitebox_cloud::db::connect(cloud.app_database())
            .await
            .expect("db");
        maintenance::close(&mut client, &hub, &Actor::system(), "t1", None, window.id)
            .await
            .expect("close");
    });
    wait_until(
        &cloud,
        "s2 alert after the window",
        Duration::from_secs(10),
        || alerts(&cloud, "s2", "site_offline").len() == 1,
    );

    // s3's own figures: a router down, a failed job, a reject spike, a clock 5 minutes off,
    // and a backlog of 20,000 it has not sent.
    let mut s3 = runtime
        .block_on(FakeSite::connect(port, "t1", "s3"))
        .expect("s3");
    runtime.block_on(s3.status(true)).expect("status");
    let at = 1_764_000_000_000;
    let batch = Batch {
        v: VERSION,
        tenant: "t1".into(),
        site: "s3".into(),
        batch: 1,
        lane: Lane::Events,
        boot_id: "b".into(),
        sent_at: at + 60_000,
        skew_ms: Some(300_000),
        events: vec![
            event(
                1,
                at,
                "RouterAdded",
                "router:gw1",
                json!({"id": 1, "name": "gw1", "state": "active", "status": "unknown"}),
            ),
            event(
                2,
                at + 10_000,
                "RouterStatusChanged",
                "router:gw1",
                json!({"router": "gw1", "status": "down", "detail": "connect timed out"}),
            ),
            event(
                3,
                at + 20_000,
                "JobFailed",
                "job:9",
                json!({"job_id": 9, "queue": "provisioning", "kind": "provision.subscriber", "attempts": 8, "error": "router gw1: timed out"}),
            ),
            event(
                4,
                at + 30_000,
                "AuthRejected",
                "radius",
                json!({"period_s": 60, "total": 80, "by_router": {"gw1": {"bad_password": 80}}}),
            ),
        ],
        dropped: vec![],
        head: Some(20_004),
    };
    runtime.block_on(s3.send(&batch)).expect("send");
    let ack = runtime
        .block_on(async {
            loop {
                let ack = s3.next_ack(Duration::from_secs(10)).await?;
                if ack.batch == Some(1) {
                    return Some(ack);
                }
            }
        })
        .expect("ack");
    assert_eq!(ack.through, 4);
    for (reason, subject, as_of) in [
        ("router_unreachable", "gw1", Some(at + 10_000)),
        ("failed_jobs", "", Some(at + 20_000)),
        ("radius_reject_spike", "", Some(at + 30_000)),
        ("clock_skew", "", Some(at + 60_000)),
    ] {
        wait_until(&cloud, reason, Duration::from_secs(15), || {
            !alerts(&cloud, "s3", reason).is_empty()
        });
        let row = &cloud.query(&format!(
            "SELECT subject, as_of_site, detail::text FROM alerts
             WHERE tenant_id = 't1' AND site_id = 's3' AND reason = '{reason}'"
        ))[0];
        assert_eq!(row.get::<_, String>(0), subject, "{reason}");
        assert_eq!(
            row.get::<_, Option<i64>>(1),
            as_of,
            "{reason}: as of the site's time"
        );
    }
    wait_until(&cloud, "s3 degraded", Duration::from_secs(10), || {
        state(&cloud, "s3") == "degraded"
    });
    let liveness = &cloud.query(
        "SELECT reasons, backlog FROM site_liveness WHERE tenant_id = 't1' AND site_id = 's3'",
    )[0];
    let reasons: Vec<String> = liveness.get(0);
    assert!(
        reasons.contains(&"backlog_large".to_string())
            && reasons.contains(&"clock_skew".to_string()),
        "{reasons:?}"
    );
    assert_eq!(liveness.get::<_, Option<i64>>(1), Some(20_000));

    // The router comes back: its alert resolves.
    let up = Batch {
        batch: 2,
        events: vec![event(
            5,
            at + 70_000,
            "RouterStatusChanged",
            "router:gw1",
            json!({"router": "gw1", "status": "up"}),
        )],
        skew_ms: Some(0),
        head: Some(20_005),
        ..batch
    };
    runtime.block_on(s3.send(&up)).expect("send");
    wait_until(
        &cloud,
        "router alert resolved",
        Duration::from_secs(15),
        || {
            alerts(&cloud, "s3", "router_unreachable")
                .first()
                .is_some_and(|a| a.1 == "resolved")
        },
    );
    // Its clock is right again; it still has its backlog to send.
    wait_until(&cloud, "s3's clock right", Duration::from_secs(10), || {
        cloud.query("SELECT reasons FROM site_liveness WHERE tenant_id = 't1' AND site_id = 's3'")
            [0]
        .get::<_, Vec<String>>(0)
            == ["backlog_large"]
    });

    // A payment confirmed to s2, which is away and never answers.
    cloud.command(
        "t1",
        "s2",
        "payment.confirmed",
        r#"{"provider": "mpesa", "receipt": "QK7XH2M9PL", "amount": 50, "plan": "day"}"#,
        Some("pay-1"),
    );
    wait_until(
        &cloud,
        "payment_not_applied",
        Duration::from_secs(15),
        || !alerts(&cloud, "s2", "payment_not_applied").is_empty(),
    );
    let detail: String = cloud.query(
        "SELECT detail::text FROM alerts WHERE tenant_id = 't1' AND reason = 'payment_not_applied'",
    )[0]
    .get(0);
    assert!(detail.contains("QK7XH2M9PL"), "{detail}");
    drop(s1);
}
