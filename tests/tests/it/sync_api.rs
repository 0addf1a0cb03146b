//! The tenant-scoped API on the real service (`sitebox-cloud run`) and PostgreSQL: tokens and
//! roles, site scoping, 404 across tenants even for guessed ids, cursor pagination, the CSV
//! export, audited operator actions, bad input answered 4xx with a reason and changing
//! nothing; and row-level security as the second wall: the service role without a tenant set
//! sees no row, and the service refuses to run as the owner.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde_json::{Value, json};
use sitebox_cloud::ingest::store_batch;
use sitebox_cloud::notify::Hub;
use sitebox_tests::cloud::{Cloud, OWNER_ROLE};
use sitebox_tests::http::{Response, request, request_raw};
use sitebox_tests::site_events::{Extras, batches, site_day};

const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");

fn get(api: SocketAddr, token: &str, path: &str) -> Response {
    request(
        api,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
}

fn post(api: SocketAddr, token: &str, path: &str, body: &Value) -> Response {
    request(
        api,
        "POST",
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        Some(body),
    )
}

fn code(response: &Response) -> String {
    response.json()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A day of `size` events at the site, ending with a job that failed and stays failed.
fn feed(cloud: &Cloud, tenant: &str, site: &str, seed: u64, size: usize) {
    let mut events = site_day(seed, size, 1_764_000_000_000, Extras::default());
    let mut last = events.last().expect("events").clone();
    last.event.seq += 1;
    last.event.kind = "JobFailed".into();
    last.event.subject = "job:999999".into();
    last.event.payload = serde_json::value::RawValue::from_string(
        json!({"job_id": 999_999, "queue": "provisioning", "kind": "provision.subscriber", "attempts": 8, "error": "router gw1: timed out"}).to_string(),
    )
    .expect("json");
    last.lane = sitebox_sync::wire::Lane::Events;
    events.push(last);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = sitebox_cloud::db::connect(cloud.app_database())
            .await
            .expect("db");
        let hub = Hub::new();
        let statements = sitebox_cloud::db::Statements::default();
        for batch in batches(tenant, site, &events, 200, seed) {
            store_batch(&mut client, &statements, &hub, tenant, site, &batch)
                .await
                .expect("store");
        }
    });
}

#[test]
fn tokens_see_their_tenant_and_sites_only_and_rls_holds_when_a_query_forgets() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cloud = Cloud::start(
        CLOUD.as_ref(),
        dir.path(),
        &[("acme", "a1"), ("acme", "a2"), ("bravo", "b1")],
    );
    feed(&cloud, "acme", "a1", 1, 1500);
    feed(&cloud, "acme", "a2", 2, 300);
    feed(&cloud, "bravo", "b1", 3, 800);
    for tenant in ["acme", "bravo"] {
        cloud.run(&[
            "tenants",
            "policy",
            "--tenant",
            tenant,
            "--policy",
            r#"{"failed_jobs": {"tolerance_s": 0}}"#,
        ]);
    }
    let read = cloud.token("acme", "dashboard", "read", &[]);
    let operator = cloud.token("acme", "noc", "operator", &[]);
    let a2_only = cloud.token("acme", "field team", "operator", &["a2"]);
    let bravo = cloud.token("bravo", "bravo dashboard", "read", &[]);
    let bravo_command = cloud.command(
        "bravo",
        "b1",
        "queue.retry_failed",
        r#"{"job_id": 1}"#,
        Some("bravo-cmd-1"),
    );
    cloud.start_process(1, 60, &[]);
    cloud.wait_ready(0);
    let api = cloud.api_addr(0);
    // The sweep opens failed_jobs alerts at once (tolerance 0).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while cloud.query_i64("SELECT count(DISTINCT site_id) FROM alerts WHERE reason = 'failed_jobs'")
        < 3
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no alerts:\n{}",
            cloud.process_log(0)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let bravo_alert =
        cloud.query_i64("SELECT alert_id FROM alerts WHERE tenant_id = 'bravo' LIMIT 1");
    let acme_alert = cloud.query_i64(
        "SELECT alert_id FROM alerts WHERE tenant_id = 'acme' AND site_id = 'a1' LIMIT 1",
    );
    let bravo_receipt: String =
        cloud.query("SELECT receipt FROM payments WHERE tenant_id = 'bravo' LIMIT 1")[0].get(0);

    // No token, a malformed one, a right tenant and id with the wrong secret: 401.
    let none = request(api, "GET", "/api/v1/sites", &[], None);
    assert_eq!(
        (none.status, none.header("www-authenticate")),
        (401, Some("Bearer"))
    );
    assert_eq!(get(api, "nonsense", "/api/v1/sites").status, 401);
    let forged = format!(
        "{}{}",
        &read[..read.len() - 1],
        if read.ends_with('A') { 'B' } else { 'A' }
    );
    assert_eq!(get(api, &forged, "/api/v1/sites").status, 401);
    assert_eq!(request(api, "GET", "/healthz", &[], None).status, 200);

    // Each token lists its own sites.
    let sites = |token: &str| -> BTreeSet<String> {
        get(api, token, "/api/v1/sites").json()["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|s| s["site"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(sites(&read), BTreeSet::from(["a1".into(), "a2".into()]));
    assert_eq!(sites(&a2_only), BTreeSet::from(["a2".into()]));
    assert_eq!(sites(&bravo), BTreeSet::from(["b1".into()]));
    let a1 = get(api, &read, "/api/v1/sites/a1").json();
    assert_eq!(a1["health"]["events"], json!(1501));
    assert!(a1["sync"]["through_as_of_site"].as_i64().is_some(), "{a1}");

    // Another tenant's resources are 404, never 403, even by their exact ids.
    for path in [
        "/api/v1/sites/b1".to_string(),
        "/api/v1/sites/b1/sessions".into(),
        "/api/v1/sites/b1/routers".into(),
        format!("/api/v1/sites/b1/payments/{bravo_receipt}"),
        format!("/api/v1/alerts/{bravo_alert}"),
        "/api/v1/commands/bravo-cmd-1".into(),
        "/api/v1/payments?site=b1".into(),
        "/api/v1/alerts?site=b1".into(),
    ] {
        let response = get(api, &operator, &path);
        assert_eq!(
            (response.status, code(&response)),
            (404, "not_found".into()),
            "{path}: {}",
            response.text()
        );
    }
    assert_eq!(bravo_command, "bravo-cmd-1");
    let ack = post(
        api,
        &operator,
        &format!("/api/v1/alerts/{bravo_alert}/acknowledge"),
        &json!({"note": "mine?"}),
    );
    assert_eq!(ack.status, 404);
    let commands_before = cloud.query_i64("SELECT count(*) FROM commands");
    assert_eq!(
        post(
            api,
            &operator,
            "/api/v1/sites/b1/commands",
            &json!({"type": "queue.retry_failed", "payload": {"job_id": 1}})
        )
        .status,
        404
    );
    // Guessing ids: every alert id there is, read with acme's token, shows acme's only.
    let max_alert = cloud.query_i64("SELECT max(alert_id) FROM alerts");
    for id in 1..=max_alert + 2 {
        let response = get(api, &read, &format!("/api/v1/alerts/{id}"));
        let acme = cloud.query_i64(&format!(
            "SELECT count(*) FROM alerts WHERE tenant_id = 'acme' AND alert_id = {id}"
        ));
        assert_eq!(
            response.status,
            if acme == 1 { 200 } else { 404 },
            "alert {id}"
        );
    }
    // bravo's token cannot see acme either.
    assert_eq!(get(api, &bravo, "/api/v1/sites/a1").status, 404);
    assert_eq!(
        get(api, &bravo, &format!("/api/v1/alerts/{acme_alert}")).status,
        404
    );

    // Pagination: pages of 7 cover every payment of acme once, newest first.
    let mut seen = Vec::new();
    let mut path = "/api/v1/payments?limit=7".to_string();
    loop {
        let page = get(api, &read, &path).json();
        for p in page["data"].as_array().expect("data") {
            seen.push((
                p["received_at_site"].as_i64().unwrap_or(0),
                p["site"].as_str().unwrap_or("").to_string(),
                p["receipt"].as_str().unwrap_or("").to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/payments?limit=7&cursor={cursor}"),
            None => break,
        }
    }
    let total = cloud.query_i64("SELECT count(*) FROM payments WHERE tenant_id = 'acme'");
    assert!(total > 14, "{total} payments");
    assert_eq!(seen.len() as i64, total);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len() as i64,
        total,
        "no row twice"
    );
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(seen.iter().all(|p| p.1 != "b1"));

    // CSV: a header and one line per payment of the site.
    let csv = get(api, &read, "/api/v1/payments.csv?site=a1");
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv"))
    );
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("site,receipt,state,amount"));
    assert_eq!(
        lines.len() as i64 - 1,
        cloud
            .query_i64("SELECT count(*) FROM payments WHERE tenant_id = 'acme' AND site_id = 'a1'")
    );
    assert!(lines[1..].iter().all(|l| l.starts_with("a1,")));

    // Roles: a read token may not act (on its own tenant: 403 says so); an operator may, once.
    let denied = post(
        api,
        &read,
        &format!("/api/v1/alerts/{acme_alert}/acknowledge"),
        &json!({}),
    );
    assert_eq!((denied.status, code(&denied)), (403, "forbidden".into()));
    let acked = post(
        api,
        &operator,
        &format!("/api/v1/alerts/{acme_alert}/acknowledge"),
        &json!({"note": "on it"}),
    );
    assert_eq!(acked.status, 200, "{}", acked.text());
    assert_eq!(acked.json()["state"], json!("acknowledged"));
    let again = post(
        api,
        &operator,
        &format!("/api/v1/alerts/{acme_alert}/acknowledge"),
        &json!({}),
    );
    assert_eq!((again.status, code(&again)), (409, "conflict".into()));
    let actor: String = cloud.query(&format!(
        "SELECT actor FROM audit_log WHERE tenant_id = 'acme' AND action = 'alert.acknowledge' AND subject = '{acme_alert}'"
    ))[0].get(0);
    assert!(
        actor.starts_with("token:") && actor.ends_with("(noc)"),
        "{actor}"
    );

    // A token limited to a2: a1 is as good as another tenant's.
    assert_eq!(get(api, &a2_only, "/api/v1/sites/a1").status, 404);
    assert_eq!(
        post(
            api,
            &a2_only,
            &format!("/api/v1/alerts/{acme_alert}/acknowledge"),
            &json!({})
        )
        .status,
        404
    );
    assert_eq!(
        post(
            api,
            &a2_only,
            "/api/v1/sites/a1/commands",
            &json!({"type": "queue.retry_failed", "payload": {"job_id": 1}})
        )
        .status,
        404
    );
    assert_eq!(
        cloud.query_i64("SELECT count(*) FROM commands"),
        commands_before,
        "nothing recorded"
    );
    let sent = post(
        api,
        &a2_only,
        "/api/v1/sites/a2/commands",
        &json!({"type": "queue.retry_failed", "payload": {"job_id": 5}, "id": "retry-5"}),
    );
    assert_eq!(sent.status, 202, "{}", sent.text());
    assert_eq!(sent.json()["id"], json!("retry-5"));
    assert_eq!(
        get(api, &read, "/api/v1/commands/retry-5").json()["issued_by"],
        sent.json()["issued_by"]
    );
    let audited = cloud.query_i64("SELECT count(*) FROM audit_log WHERE tenant_id = 'acme' AND action = 'command.send' AND subject = 'retry-5' AND actor LIKE 'token:%(field team)'");
    assert_eq!(audited, 1);
    let window = post(
        api,
        &a2_only,
        "/api/v1/maintenance-windows",
        &json!({"ends_at": sitebox_cloud::db::now_ms() + 60_000}),
    );
    assert_eq!(
        window.status,
        400,
        "a scoped token must name its site: {}",
        window.text()
    );

    // Bad input: 4xx with a reason, nothing recorded.
    let commands_before = cloud.query_i64("SELECT count(*) FROM commands");
    let auth = format!("Bearer {operator}");
    let cases: Vec<(Response, u16)> = vec![
        (
            request_raw(
                api,
                "POST",
                "/api/v1/sites/a2/commands",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                b"{\"type\":",
            ),
            400,
        ),
        (
            post(
                api,
                &operator,
                "/api/v1/sites/a2/commands",
                &json!({"type": "x", "payload": {}, "extra": 1}),
            ),
            400,
        ),
        (
            post(
                api,
                &operator,
                "/api/v1/sites/a2/commands",
                &json!({"type": "x", "payload": [1]}),
            ),
            400,
        ),
        (
            post(
                api,
                &operator,
                "/api/v1/sites/a2/commands",
                &json!({"type": "resend_from", "payload": {"seq": 1}}),
            ),
            400,
        ),
        (
            request_raw(
                api,
                "POST",
                "/api/v1/sites/a2/commands",
                &[("Authorization", &auth), ("Content-Type", "text/plain")],
                b"hello",
            ),
            415,
        ),
        (
            request_raw(
                api,
                "POST",
                "/api/v1/sites/a2/commands",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                &vec![b' '; 70_000],
            ),
            413,
        ),
        (get(api, &read, "/api/v1/payments?colour=red"), 400),
        (get(api, &read, "/api/v1/payments?cursor=bogus"), 400),
        (get(api, &read, "/api/v1/payments?limit=5000"), 400),
        (get(api, &read, "/api/v1/payments?state=paid"), 400),
        (get(api, &read, "/api/v1/payments?limit=1&limit=2"), 400),
        (get(api, &read, "/api/v1/alerts?state=%ZZ"), 400),
        (
            get(api, &read, "/api/v1/sites/a1/sessions?state=sleeping"),
            400,
        ),
        (
            request(
                api,
                "DELETE",
                "/api/v1/payments",
                &[("Authorization", &auth)],
                None,
            ),
            405,
        ),
        (get(api, &read, "/api/v1/nothing-here"), 404),
    ];
    for (i, (response, status)) in cases.iter().enumerate() {
        assert_eq!(response.status, *status, "case {i}: {}", response.text());
        let message = response.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(!message.is_empty(), "case {i} has no reason");
    }
    assert_eq!(
        cloud.query_i64("SELECT count(*) FROM commands"),
        commands_before
    );

    // Row-level security: the service role, without a tenant, sees nothing at all.
    let tables = [
        "events",
        "payments",
        "sessions",
        "sites",
        "alerts",
        "commands",
        "api_tokens",
        "audit_log",
        "tenants",
        "site_cursors",
    ];
    for table in tables {
        let all = cloud.query_i64(&format!("SELECT count(*) FROM {table}"));
        assert!(all > 0, "{table} is empty: the check would prove nothing");
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let app = sitebox_cloud::db::connect(cloud.app_database()).await.expect("db");
        for table in tables {
            let seen: i64 = app.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("query").get(0);
            assert_eq!(seen, 0, "{table}: {seen} rows without a tenant");
        }
        let mut app = app;
        let tx = app.transaction().await.expect("tx");
        sitebox_cloud::db::set_tenant(&tx, "acme").await.expect("tenant");
        let tenants: Vec<String> = tx
            .query("SELECT DISTINCT tenant_id FROM events UNION SELECT DISTINCT tenant_id FROM payments", &[])
            .await
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(tenants, ["acme"]);
        // Writing another tenant's row is refused too.
        let wrote = tx
            .execute("INSERT INTO audit_log (tenant_id, actor, action) VALUES ('bravo', 'x', 'y')", &[])
            .await;
        assert!(wrote.is_err(), "wrote a row of another tenant");
    });
    let bare = cloud.query(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'tenant_directory'
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
    );
    assert!(
        bare.is_empty(),
        "{:?}",
        bare.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        cloud.query_i64("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = 'sitebox_app')"),
        0,
        "the service role owns nothing"
    );
    // Run as the owner, the service refuses to start.
    let owner = cloud.postgres.url_as(OWNER_ROLE, "sitebox");
    let refused = std::process::Command::new(CLOUD)
        .args(["--database", &owner, "run", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("owns"), "{stderr}");
}
