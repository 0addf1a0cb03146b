//! The JSON API, /metrics and /healthz through the real binary, as a script would use them:
//! the snapshot shows a session radclient opened, with what its plan has left; lookups;
//! vouchers; kick; retry and discard of failed jobs; the router API login test against the
//! simulator; Prometheus figures.

use std::time::{Duration, Instant};

use serde_json::json;
use sitebox_tests::http;

use crate::web_site::{Site, TECHNICIAN, cli, failed_job};

fn audit_actions(site: &Site) -> Vec<(String, String, String)> {
    let db = rusqlite::Connection::open(site.daemon.database()).expect("db");
    db.prepare("SELECT actor, action, coalesce(json_extract(detail, '$.action'), '') FROM audit_log ORDER BY id")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn the_api_shows_the_site_and_acts_on_it() {
    let site = Site::start();
    let addr = site.web;
    let tina = http::login(addr, TECHNICIAN.0, TECHNICIAN.1);
    site.alice_logs_in("A-1");

    // The snapshot: the open session with the plan's data left and expiry; the router.
    let snapshot = tina.get(addr, "/api/v1/snapshot").json();
    let sessions = snapshot["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{snapshot}");
    let session = &sessions[0];
    assert_eq!(
        (
            session["username"].as_str(),
            session["router"].as_str(),
            session["acct_session_id"].as_str()
        ),
        (Some("alice"), Some("gw1"), Some("A-1"))
    );
    assert_eq!(session["data_left"], 1_000_000_000, "{session}");
    assert!(session["expires_at"].as_i64().is_some(), "{session}");
    assert_eq!(snapshot["routers"][0]["name"], "gw1");
    let status = &snapshot["status"];
    assert_eq!(status["radius"]["nas"][0]["nas"], "gw1", "{status}");
    assert_eq!(status["radius"]["nas"][0]["accepts"], 1, "{status}");
    assert!(status["box"]["uptime_s"].as_u64().is_some(), "{status}");
    assert!(
        status["box"]["disk_free"]
            .as_u64()
            .is_some_and(|free| free > 0),
        "{status}"
    );
    assert!(
        status["sync"]["backlog"]
            .as_array()
            .is_some_and(|lanes| lanes.len() == 4),
        "{status}"
    );

    // Lookups: a subscriber by part of the name, a payment by receipt (any case).
    let found = tina.get(addr, "/api/v1/subscribers?q=lic").json();
    assert_eq!(found[0]["username"], "alice", "{found}");
    assert_eq!(found[0]["subscription"]["state"], "active", "{found}");
    assert_eq!(found[0]["open_sessions"], 1, "{found}");
    cli(
        &site.daemon,
        &[
            "payments",
            "cash",
            "--receipt",
            "CASH-0042",
            "--amount",
            "50",
            "--plan",
            "day",
            "--username",
            "alice",
        ],
    );
    let payment = tina.get(addr, "/api/v1/payments?receipt=cash-0042").json();
    assert_eq!(
        (payment["receipt"].as_str(), payment["state"].as_str()),
        (Some("CASH-0042"), Some("applied")),
        "{payment}"
    );
    assert_eq!(tina.get(addr, "/api/v1/payments?receipt=NOPE").status, 404);

    // Vouchers: a batch, and its print sheet.
    let batch = tina
        .post(
            addr,
            "/api/v1/vouchers",
            &json!({ "plan": "day", "count": 3 }),
        )
        .json();
    let codes: Vec<&str> = batch["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(codes.len(), 3, "{batch}");
    let sheet = tina.get(
        addr,
        &format!(
            "/api/v1/vouchers/sheet?batch={}",
            batch["batch"].as_str().expect("batch")
        ),
    );
    assert_eq!(sheet.status, 200);
    assert!(
        sheet
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    for code in &codes {
        assert!(sheet.text().contains(code), "{code} not on the sheet");
    }
    assert_eq!(
        tina.post(
            addr,
            "/api/v1/vouchers",
            &json!({ "plan": "nope", "count": 3 })
        )
        .status,
        404
    );

    // Kick: a disconnect job for the session, as the technician.
    let id = session["id"].as_i64().expect("id");
    let kicked = tina.post(addr, "/api/v1/sessions/kick", &json!({ "session_id": id }));
    assert_eq!(kicked.status, 200, "{}", kicked.text());
    let jobs: serde_json::Value =
        serde_json::from_str(&cli(&site.daemon, &["queue", "list", "--json"])).expect("json");
    assert!(
        jobs.as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["kind"] == "session.disconnect" && j["args"]["session_id"] == id),
        "{jobs}"
    );

    // Failed jobs: one retried (its session is closed, so the disconnect completes), one
    // discarded.
    let (_, acct) = site.daemon.radius_ports();
    crate::web_site::radclient(
        acct,
        "acct",
        "Acct-Status-Type = Stop\nUser-Name = \"alice\"\nAcct-Session-Id = \"A-1\"\nNAS-IP-Address = 127.0.0.1\nAcct-Session-Time = 5\n",
    );
    let retry = failed_job(&site.daemon, id, "Disconnect-Request: no answer from gw1");
    let discard = failed_job(&site.daemon, id, "Disconnect-Request: no answer from gw1");
    let failed = tina.get(addr, "/api/v1/snapshot").json()["failed"].clone();
    assert_eq!(failed.as_array().map(Vec::len), Some(2), "{failed}");
    assert_eq!(failed[0]["error"], "Disconnect-Request: no answer from gw1");
    let retried = tina.post(addr, "/api/v1/jobs/retry", &json!({ "job_id": retry }));
    assert_eq!(retried.json()["outcome"], "requeued", "{}", retried.text());
    assert_eq!(
        tina.post(addr, "/api/v1/jobs/discard", &json!({ "job_id": discard }))
            .status,
        200
    );
    assert_eq!(
        tina.post(addr, "/api/v1/jobs/discard", &json!({ "job_id": discard }))
            .status,
        404
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jobs: serde_json::Value =
            serde_json::from_str(&cli(&site.daemon, &["queue", "list", "--json"])).expect("json");
        let state = jobs
            .as_array()
            .expect("jobs")
            .iter()
            .find(|j| j["id"] == retry)
            .map(|j| j["state"].clone());
        if state == Some(json!("completed")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retried job not completed: {jobs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        tina.get(addr, "/api/v1/snapshot").json()["failed"],
        json!([])
    );

    // Diagnostics: an API login to the simulated router.
    let login = tina
        .post(
            addr,
            "/api/v1/diagnostics/router-login",
            &json!({ "router": "gw1" }),
        )
        .json();
    assert_eq!(login["ok"].as_bool(), Some(true), "{login}");
    assert!(
        login["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("7.16.1")),
        "{login}"
    );
    assert!(
        login["login_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{login}"
    );

    // RADIUS test login against the running server: accepted with her plan, and a wrong
    // password rejected with the reason; the password is not in the audit log.
    let accepted = tina
        .post(
            addr,
            "/api/v1/diagnostics/radius-auth",
            &json!({ "username": "alice", "password": "alice-pass" }),
        )
        .json();
    assert_eq!(accepted["answer"], "Access-Accept", "{accepted}");
    assert!(
        accepted["session_timeout_s"]
            .as_u64()
            .is_some_and(|s| s > 0 && s <= 86_400),
        "{accepted}"
    );
    let rejected = tina
        .post(
            addr,
            "/api/v1/diagnostics/radius-auth",
            &json!({ "username": "alice", "password": "nope" }),
        )
        .json();
    assert_eq!(rejected["answer"], "Access-Reject", "{rejected}");
    assert!(
        rejected["reply_message"]
            .as_str()
            .is_some_and(|m| m.contains("Wrong password")),
        "{rejected}"
    );

    // Re-provision: the router's RADIUS settings and alice queued again.
    let queued = tina
        .post(
            addr,
            "/api/v1/routers/reprovision",
            &json!({ "router": "gw1" }),
        )
        .json();
    assert_eq!(queued["subscriber_jobs"], 1, "{queued}");
    assert_eq!(
        tina.post(
            addr,
            "/api/v1/routers/reprovision",
            &json!({ "router": "nope" })
        )
        .status,
        404
    );

    // The health poll's figures reach the page: version, latency, last seen.
    let deadline = Instant::now() + Duration::from_secs(15);
    let router = loop {
        let routers = tina.get(addr, "/api/v1/snapshot").json()["routers"].clone();
        if routers[0]["status"] == "up" && routers[0]["ros_version"].is_string() {
            break routers[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no health poll reached the page: {routers}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        router["ros_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("7.16.1")),
        "{router}"
    );
    assert!(router["latency_ms"].as_i64().is_some(), "{router}");
    assert!(router["last_seen_at"].as_i64().is_some(), "{router}");

    // Everything the technician did is in the audit log under their name.
    let audit = audit_actions(&site);
    for (action, detail) in [
        ("TechnicianAction", "login"),
        ("VouchersGenerated", ""),
        ("TechnicianAction", "kick"),
        ("JobRetried", ""),
        ("JobDiscarded", ""),
        ("TechnicianAction", "diagnostics.router_login"),
        ("TechnicianAction", "router.reprovision"),
        ("TechnicianAction", "diagnostics.radius_auth"),
    ] {
        assert!(
            audit
                .iter()
                .any(|(actor, a, d)| actor == "technician:tina" && a == action && d == detail),
            "{action}/{detail} by tina missing: {audit:?}"
        );
    }

    let db = rusqlite::Connection::open(site.daemon.database()).expect("db");
    let leaked: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE detail LIKE '%alice-pass%'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(leaked, 0, "a password reached the audit log");

    // The log tail has the daemon's own lines.
    let log = tina.get(addr, "/api/v1/log?lines=500").json();
    assert!(
        log.as_array()
            .expect("lines")
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("siteboxd running"))),
        "{log}"
    );
}

#[test]
fn metrics_and_healthz_speak_for_scrapers() {
    let site = Site::start();
    let addr = site.web;
    site.alice_logs_in("M-1");
    crate::web_site::radclient(
        site.daemon.radius_ports().0,
        "auth",
        "User-Name = \"alice\"\nUser-Password = \"wrong\"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n",
    );
    let healthz = http::request(addr, "GET", "/healthz", &[], None);
    assert_eq!((healthz.status, healthz.text().as_str()), (200, "ok\n"));

    let metrics = http::request(addr, "GET", "/metrics", &[], None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
    );
    let text = metrics.text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value("sitebox_radius_accepts_total{nas=\"gw1\"}"), 1.0);
    assert_eq!(
        value("sitebox_radius_rejects_total{nas=\"gw1\",reason=\"bad_credentials\"}"),
        1.0
    );
    assert_eq!(value("sitebox_radius_accounting_total{nas=\"gw1\"}"), 1.0);
    assert_eq!(value("sitebox_queue_failed_jobs"), 0.0);
    assert!(value("sitebox_sync_backlog_events{lane=\"events\"}") >= 1.0);
    assert_eq!(
        value("sitebox_sync_connected"),
        0.0,
        "no broker in this test"
    );
    assert!(text.contains("sitebox_router_up{router=\"gw1\"}"), "{text}");
    assert!(value("sitebox_process_resident_memory_bytes") > 1e6);
    assert!(value("sitebox_process_uptime_seconds") > 0.0);
    assert!(text.contains("# TYPE sitebox_queue_jobs gauge"), "{text}");
    // Every sample line is `name{labels} number`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let number = line.rsplit(' ').next().unwrap_or_default();
        assert!(number.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

#[test]
fn healthz_says_503_while_the_database_cannot_be_written_and_recovers() {
    let mut site = Site::start();
    let addr = site.web;
    assert_eq!(
        http::request(addr, "GET", "/healthz", &[], None).status,
        200
    );

    // Another process holds SQLite's write lock longer than the daemon's busy timeout (5 s),
    // as a stuck maintenance tool would.
    let db = rusqlite::Connection::open(site.daemon.database()).expect("db");
    db.execute_batch("BEGIN IMMEDIATE").expect("write lock");
    let started = Instant::now();
    let healthz = http::request(addr, "GET", "/healthz", &[], None);
    assert_eq!(healthz.status, 503, "{}", healthz.text());
    let why = healthz.text();
    // The answer names the database and why: the probe's write failed or did not finish.
    let db_path = site.daemon.database().display().to_string();
    assert!(
        (why.starts_with("writes to ") || why.starts_with("a write to ")) && why.contains(&db_path),
        "{why}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    db.execute_batch("ROLLBACK").expect("release");
    drop(db);

    // Released, the daemon writes again: nothing had to be restarted.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let healthz = http::request(addr, "GET", "/healthz", &[], None);
        if healthz.status == 200 {
            assert_eq!(healthz.text(), "ok\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {}: {}",
            healthz.status,
            healthz.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !site.daemon.exited(),
        "the daemon died while the lock was held"
    );
}
