//! The technician page in headless Chromium, on a phone-sized screen, against the real
//! binary: log in, see the dashboard, a radclient login shows in the sessions list within a
//! second without a reload, a failed job is retried from the page, and a screenshot of the
//! dashboard is saved to `$SITEBOX_ARTIFACTS/dashboard.png`.

use std::time::{Duration, Instant};

use sitebox_tests::browser::{Browser, artifacts_dir};

use crate::web_site::{Site, TECHNICIAN, cli, failed_job, radclient};

#[test]
fn a_technician_logs_in_watches_a_login_arrive_and_retries_a_failed_job() {
    let mut site = Site::start();
    // Alice was online earlier; the job that was to cut her off failed (the router did not
    // answer) and waits in the failed store.
    site.alice_logs_in("OLD-1");
    let (_, acct) = site.daemon.radius_ports();
    radclient(
        acct,
        "acct",
        "Acct-Status-Type = Stop\nUser-Name = \"alice\"\nAcct-Session-Id = \"OLD-1\"\nNAS-IP-Address = 127.0.0.1\nAcct-Session-Time = 60\n",
    );
    let job = failed_job(
        &site.daemon,
        1,
        "Disconnect-Request: no answer from gw1 within 3 tries",
    );

    let mut browser = Browser::start(412, 915, true);
    browser.goto(&format!("http://{}/", site.web));
    browser.wait_for(
        "!document.querySelector('#login-view').classList.contains('hidden')",
        Duration::from_secs(5),
    );
    browser.type_into("#name", TECHNICIAN.0);
    browser.type_into("#password", "not-her-password");
    browser.press_enter();
    browser.wait_for(
        "document.querySelector('#login-error').textContent.includes('wrong name or password')",
        Duration::from_secs(5),
    );
    browser.eval("document.querySelector('#password').value = ''");
    browser.type_into("#password", TECHNICIAN.1);
    browser.click("#login-form button[type=submit]");

    // The dashboard, live.
    browser.wait_for(
        "!document.querySelector('#dashboard').classList.contains('hidden')",
        Duration::from_secs(5),
    );
    browser.wait_for(
        "document.querySelector('#link').textContent === 'live'",
        Duration::from_secs(5),
    );
    let header = browser.eval("document.querySelector('#me').textContent");
    assert_eq!(header, "tina (operator)");
    browser.wait_for(
        "document.querySelector('#routers tbody').textContent.includes('gw1')",
        Duration::from_secs(2),
    );
    browser.wait_for(
        &format!("document.querySelector('#failed tr[data-job=\"{job}\"]')"),
        Duration::from_secs(2),
    );
    assert!(
        browser
            .eval("document.querySelector('#failed tbody').textContent")
            .as_str()
            .is_some_and(|t| t.contains("no answer from gw1")),
        "the failed job's error is shown"
    );
    // Nothing on a phone-sized page is wider than the screen.
    let overflow = browser.eval("document.documentElement.scrollWidth - window.innerWidth");
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "page wider than the phone by {overflow} px"
    );

    // A marker that a reload would wipe.
    browser.eval("window.stillTheSamePage = true");

    // Alice logs in through radclient: the session shows within a second, pushed.
    let (auth, acct) = site.daemon.radius_ports();
    let accept = radclient(
        auth,
        "auth",
        "User-Name = \"alice\"\nUser-Password = \"alice-pass\"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n",
    );
    assert!(accept.contains("Access-Accept"), "{accept}");
    let start = radclient(
        acct,
        "acct",
        "Acct-Status-Type = Start\nUser-Name = \"alice\"\nAcct-Session-Id = \"NEW-2\"\nCalling-Station-Id = \"AA-BB-CC-00-00-02\"\nFramed-IP-Address = 10.5.50.9\nNAS-IP-Address = 127.0.0.1\n",
    );
    assert!(start.contains("Accounting-Response"), "{start}");
    // The Accounting-Response is sent after the commit: from here the page has a second.
    let committed = Instant::now();
    browser.wait_for(
        "document.querySelector('#sessions tr[data-user=\"alice\"]') && document.querySelector('#sessions tbody').textContent.includes('10.5.50.9')",
        Duration::from_secs(5),
    );
    let shown_after = committed.elapsed();
    eprintln!("web_browser: session on the page {shown_after:?} after the Accounting-Response");
    assert!(
        shown_after < Duration::from_secs(1),
        "session shown {shown_after:?} after the commit"
    );
    assert_eq!(
        browser.eval("window.stillTheSamePage === true"),
        serde_json::json!(true),
        "the page was reloaded"
    );
    assert!(
        browser
            .eval("document.querySelector('#sessions tbody').textContent")
            .as_str()
            .is_some_and(|t| t.contains("1.0 GB")),
        "the plan's data left is shown"
    );

    // Retry the failed job from the page: it leaves the list, and runs (alice's old session
    // is closed, so there is nothing left to cut).
    browser.click(&format!("#failed button[data-retry=\"{job}\"]"));
    browser.wait_for(
        &format!("!document.querySelector('#failed tr[data-job=\"{job}\"]')"),
        Duration::from_secs(2),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jobs: serde_json::Value =
            serde_json::from_str(&cli(&site.daemon, &["queue", "list", "--json"])).expect("json");
        if jobs
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["id"] == job && j["state"] == "completed")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retried job did not complete: {jobs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let db = rusqlite::Connection::open(site.daemon.database()).expect("db");
    let retried_by: String = db
        .query_row(
            "SELECT actor FROM audit_log WHERE action = 'JobRetried' ORDER BY id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .expect("audit row");
    assert_eq!(retried_by, "technician:tina");

    // The page does not poll: one snapshot request for the whole visit, and nothing while
    // it sits idle (the figures keep coming over the socket).
    assert_eq!(
        site.daemon.count_log("/api/v1/snapshot"),
        1,
        "{}",
        site.daemon.log()
    );
    let requests = site.daemon.count_log("web request");
    let figures = browser.eval("document.querySelector('#box').textContent");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        site.daemon.count_log("web request"),
        requests,
        "the idle page made requests"
    );
    assert_ne!(
        browser.eval("document.querySelector('#box').textContent"),
        figures,
        "the status figures (uptime, clock) were pushed while idle"
    );

    // A power cut: the page notices, and when the box is back it reconnects by itself and
    // resyncs, showing what changed while it was away (a job that failed meanwhile, which no
    // event will ever announce to it).
    site.daemon.kill9();
    browser.wait_for(
        "document.querySelector('#link').textContent !== 'live'",
        Duration::from_secs(5),
    );
    let while_away = failed_job(&site.daemon, 1, "RouterOS API: connection refused");
    site.daemon.restart();
    browser.wait_for(
        "document.querySelector('#link').textContent === 'live'",
        Duration::from_secs(30),
    );
    browser.wait_for(
        &format!("document.querySelector('#failed tr[data-job=\"{while_away}\"]')"),
        Duration::from_secs(2),
    );
    assert_eq!(
        browser.eval("window.stillTheSamePage === true"),
        serde_json::json!(true),
        "the page was reloaded"
    );

    // Screenshots: the phone view, then the dashboard on a laptop-sized screen.
    let dir = artifacts_dir();
    browser.screenshot(&dir.join("dashboard-phone.png"));
    browser.resize(1280, 900, false);
    browser.eval("window.scrollTo(0, 0)");
    std::thread::sleep(Duration::from_millis(300));
    let path = dir.join("dashboard.png");
    browser.screenshot(&path);
    let png = std::fs::read(&path).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
