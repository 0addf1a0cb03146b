//! The technician page's doors, through the real binary: every action refuses a request
//! without a session or without the CSRF token, a read-only login cannot act, the WebSocket
//! refuses a request without a session, the cookie carries its flags, repeated failures lock
//! a name out, and every action lands in the audit log.

use std::time::Duration;

use futures_util::StreamExt as _;
use sitebox_tests::http::{self, Login};
use sitebox_tests::siteboxd::Siteboxd;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

/// Every action (POST) the API has, with a body that would pass validation.
const ACTIONS: &[(&str, &str)] = &[
    ("/api/v1/logout", "{}"),
    ("/api/v1/sessions/kick", r#"{"session_id": 1}"#),
    ("/api/v1/jobs/retry", r#"{"job_id": 1}"#),
    ("/api/v1/jobs/discard", r#"{"job_id": 1}"#),
    ("/api/v1/vouchers", r#"{"plan": "day", "count": 1}"#),
    ("/api/v1/diagnostics/router-login", r#"{"router": "gw1"}"#),
    ("/api/v1/routers/reprovision", r#"{"router": "gw1"}"#),
    (
        "/api/v1/diagnostics/radius-auth",
        r#"{"username": "alice", "password": "alice-pass"}"#,
    ),
];

fn add_technician(daemon: &Siteboxd, name: &str, role: &str, password: &str) {
    let output = daemon.cli_with_stdin(
        &["technicians", "add", name, "--role", role],
        &format!("{password}\n"),
    );
    assert!(
        output.status.success(),
        "technicians add: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn start() -> (Siteboxd, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let config = Siteboxd::base_config(dir.path()).replacen(
        "[web]\n",
        "[web]\nlockout_failures = 3\nlockout_window = \"1m\"\n",
        1,
    );
    let daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    (daemon, dir)
}

#[test]
fn actions_need_a_session_and_the_csrf_token_and_the_operator_role() {
    let (daemon, _dir) = start();
    let addr = daemon.web_addr();
    add_technician(&daemon, "tina", "operator", "tina-password-1");
    add_technician(&daemon, "rita", "read-only", "rita-password-1");

    // No session: the page's files and /healthz are open; the API is not.
    assert_eq!(http::request(addr, "GET", "/", &[], None).status, 200);
    assert_eq!(
        http::request(addr, "GET", "/healthz", &[], None).status,
        200
    );
    for path in ["/api/v1/snapshot", "/api/v1/session", "/api/v1/log"] {
        let response = http::request(addr, "GET", path, &[], None);
        assert_eq!(response.status, 401, "GET {path}: {}", response.text());
    }
    for (path, body) in ACTIONS {
        let body: serde_json::Value = serde_json::from_str(body).expect("body");
        let response = http::request(addr, "POST", path, &[], Some(&body));
        assert_eq!(response.status, 401, "POST {path} without a session");
        // A made-up cookie is no session either.
        let forged = http::request(
            addr,
            "POST",
            path,
            &[("Cookie", "sitebox_session=00ff"), ("X-CSRF-Token", "00ff")],
            Some(&body),
        );
        assert_eq!(forged.status, 401, "POST {path} with a forged cookie");
    }

    // A session, but no CSRF token or a wrong one: refused, and nothing was done.
    let tina = http::login(addr, "tina", "tina-password-1");
    for (path, body) in ACTIONS {
        let body: serde_json::Value = serde_json::from_str(body).expect("body");
        let bare = http::request(addr, "POST", path, &[("Cookie", &tina.cookie)], Some(&body));
        assert_eq!(
            bare.status,
            403,
            "POST {path} without CSRF: {}",
            bare.text()
        );
        let wrong = Login {
            cookie: tina.cookie.clone(),
            csrf: "0".repeat(64),
        };
        assert_eq!(
            wrong.post(addr, path, &body).status,
            403,
            "POST {path} wrong CSRF"
        );
    }
    // The session still works: logout was refused above.
    assert_eq!(tina.get(addr, "/api/v1/session").status, 200);
    // With both, the request reaches the handler (no such failed job here).
    let through = tina.post(
        addr,
        "/api/v1/jobs/retry",
        &serde_json::json!({ "job_id": 4242 }),
    );
    assert_eq!(through.status, 404, "{}", through.text());

    // A read-only login may look but not act, even with its CSRF token.
    let rita = http::login(addr, "rita", "rita-password-1");
    assert_eq!(rita.get(addr, "/api/v1/snapshot").status, 200);
    for (path, body) in ACTIONS.iter().filter(|(p, _)| *p != "/api/v1/logout") {
        let body: serde_json::Value = serde_json::from_str(body).expect("body");
        let response = rita.post(addr, path, &body);
        assert_eq!(
            response.status,
            403,
            "read-only POST {path}: {}",
            response.text()
        );
    }

    // Logout ends the session for good.
    assert_eq!(
        tina.post(addr, "/api/v1/logout", &serde_json::json!({}))
            .status,
        200
    );
    assert_eq!(tina.get(addr, "/api/v1/snapshot").status, 401);

    // Each login, logout and the action that went through are in the audit log.
    let db = rusqlite::Connection::open(daemon.database()).expect("db");
    let actions: Vec<(String, String)> = db
        .prepare("SELECT actor, json_extract(detail, '$.action') FROM audit_log WHERE action = 'TechnicianAction' ORDER BY id")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for expected in [
        ("technician:tina", "login"),
        ("technician:rita", "login"),
        ("technician:tina", "logout"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, d)| (a.as_str(), d.as_str()) == expected),
            "{expected:?} not in {actions:?}"
        );
    }
    // The outbox carries them too (so the cloud sees them).
    let synced: i64 = db
        .query_row(
            "SELECT count(*) FROM outbox WHERE type = 'TechnicianAction'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert!(synced >= 3, "{synced}");
}

#[test]
fn the_cookie_is_http_only_and_strict_and_a_name_is_locked_out_after_failures() {
    let (daemon, _dir) = start();
    let addr = daemon.web_addr();
    add_technician(&daemon, "olga", "operator", "olga-password-1");
    add_technician(&daemon, "paul", "operator", "paul-password-1");

    let ok = http::try_login(addr, "olga", "olga-password-1");
    assert_eq!(ok.status, 200);
    let cookie = ok.header("set-cookie").expect("cookie");
    assert!(cookie.starts_with("sitebox_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");

    // Three wrong passwords (lockout_failures = 3), then even the right one is refused.
    for _ in 0..3 {
        assert_eq!(http::try_login(addr, "olga", "guess-guess").status, 401);
    }
    let locked = http::try_login(addr, "olga", "olga-password-1");
    assert_eq!(locked.status, 429, "{}", locked.text());
    // An unknown name fails the same way as a wrong password.
    assert_eq!(http::try_login(addr, "nobody", "guess-guess").status, 401);
    // Another name from the same address is not locked (below 4x the limit).
    assert_eq!(http::try_login(addr, "paul", "paul-password-1").status, 200);
    daemon.wait_for_log("login refused, locked out", Duration::from_secs(1));
}

#[test]
fn the_websocket_refuses_a_request_without_a_session() {
    let (daemon, _dir) = start();
    let addr = daemon.web_addr();
    add_technician(&daemon, "wendy", "read-only", "wendy-password-1");
    let url = format!("ws://{addr}/api/v1/ws");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 401);
            }
            other => panic!(
                "expected a refusal, got {:?}",
                other.map(|(_, r)| r.status())
            ),
        }
        let mut forged = url.as_str().into_client_request().expect("request");
        forged
            .headers_mut()
            .insert("Cookie", "sitebox_session=1234".parse().expect("header"));
        assert!(
            tokio_tungstenite::connect_async(forged).await.is_err(),
            "a forged cookie must not open the socket"
        );

        // With a session it opens and starts with the snapshot.
        let wendy = http::login(addr, "wendy", "wendy-password-1");
        let mut request = url.as_str().into_client_request().expect("request");
        request
            .headers_mut()
            .insert("Cookie", wendy.cookie.parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("socket with a session");
        let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a first frame")
            .expect("open")
            .expect("frame");
        let first: serde_json::Value =
            serde_json::from_str(first.to_text().expect("text")).expect("json");
        assert_eq!(first["type"], "snapshot", "{first}");
        assert!(first["data"]["sessions"].is_array(), "{first}");
    });
}
