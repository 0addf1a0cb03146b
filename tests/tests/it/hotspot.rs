//! A hotspot at work, end to end through the real binary: an operator sets the site up with the
//! CLI, clients log in through FreeRADIUS's `radclient` (PAP, CHAP, a voucher), the router
//! accounts, a data cap and an expiry cut sessions off with Disconnect-Requests that a pyrad
//! NAS checks and acknowledges, and expired users are refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sitebox_tests::peers::{program, python};
use sitebox_tests::siteboxd::Siteboxd;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
pub(crate) const SECRET: &str = "testing123";

const DICTIONARY: &str = "\
ATTRIBUTE User-Name 1 string
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE Framed-IP-Address 8 ipaddr
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE Acct-Session-Id 44 string
ATTRIBUTE Message-Authenticator 80 octets
ATTRIBUTE Error-Cause 101 integer
VENDOR Mikrotik 14988
BEGIN-VENDOR Mikrotik
ATTRIBUTE Mikrotik-Rate-Limit 8 string
END-VENDOR Mikrotik
";

/// The pyrad NAS: its port and the requests it saw, one JSON value per line.
struct Nas {
    child: Child,
    port: u16,
    seen: mpsc::Receiver<serde_json::Value>,
    _dir: tempfile::TempDir,
}

impl Nas {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let dictionary = dir.path().join("dictionary");
        std::fs::write(&dictionary, DICTIONARY).expect("dictionary");
        let script = dir.path().join("hotspot_nas.py");
        std::fs::write(&script, include_str!("hotspot_nas.py")).expect("script");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(SECRET)
            .arg(&dictionary)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the pyrad NAS");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let port = lines
            .next()
            .expect("port line")
            .expect("read")
            .trim()
            .parse()
            .expect("port");
        let (send, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line)
                    && send.send(value).is_err()
                {
                    break;
                }
            }
        });
        Self {
            child,
            port,
            seen,
            _dir: dir,
        }
    }

    /// The next Disconnect-Request, within `timeout`.
    fn next(&self, timeout: Duration) -> serde_json::Value {
        self.seen
            .recv_timeout(timeout)
            .expect("a Disconnect-Request from the daemon")
    }
}

impl Drop for Nas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// radclient to `port`; returns what it printed (`-x`).
pub(crate) fn radclient(port: u16, kind: &str, attributes: &str) -> String {
    let mut child = Command::new(program("radclient", "freeradius-utils"))
        .args(["-x", "-r", "2", "-t", "2"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(kind)
        .arg(SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), attributes.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("radclient output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub(crate) fn login(port: u16, user: &str, proof: &str) -> String {
    radclient(
        port,
        "auth",
        &format!(
            "User-Name = \"{user}\"\n{proof}\nCalling-Station-Id = \"AA-BB-CC-00-00-01\"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n"
        ),
    )
}

pub(crate) fn accounting(
    port: u16,
    status: &str,
    user: &str,
    session: &str,
    extra: &str,
) -> String {
    radclient(
        port,
        "acct",
        &format!(
            "Acct-Status-Type = {status}\nUser-Name = \"{user}\"\nAcct-Session-Id = \"{session}\"\nCalling-Station-Id = \"AA-BB-CC-00-00-01\"\nFramed-IP-Address = 10.5.50.7\nNAS-IP-Address = 127.0.0.1\n{extra}"
        ),
    )
}

pub(crate) fn cli(daemon: &Siteboxd, args: &[&str]) -> String {
    let output = daemon.cli(args);
    assert!(
        output.status.success(),
        "siteboxd {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Adds the router and waits until the daemon's RADIUS client table has it (the daemon hears
/// of the CLI's commit within a second).
pub(crate) fn add_router(daemon: &Siteboxd, nas_port: u16) {
    cli(
        daemon,
        &[
            "routers",
            "add",
            "gw1",
            "--address",
            "127.0.0.1",
            "--secret",
            SECRET,
            "--coa-port",
            &nas_port.to_string(),
        ],
    );
    daemon.wait_for_log("RADIUS client table reloaded", Duration::from_secs(5));
}

#[test]
fn a_site_sells_logs_in_caps_and_cuts_off() {
    let nas = Nas::start();
    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        "{}\n[expiry]\nsweep_every = \"1s\"\nverify_after = \"30s\"\n",
        Siteboxd::base_config(dir.path())
    );
    let daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    let (auth, acct) = daemon.radius_ports();

    cli(
        &daemon,
        &[
            "routers",
            "add",
            "gw1",
            "--address",
            "127.0.0.1",
            "--secret",
            SECRET,
            "--coa-port",
            &nas.port.to_string(),
        ],
    );
    cli(
        &daemon,
        &[
            "plans",
            "add",
            "short",
            "--price",
            "10",
            "--validity",
            "6s",
            "--rate-limit",
            "1M/2M",
        ],
    );
    cli(
        &daemon,
        &[
            "plans",
            "add",
            "capped",
            "--price",
            "50",
            "--validity",
            "1d",
            "--data-limit",
            "1MB",
        ],
    );
    cli(
        &daemon,
        &["subscribers", "add", "alice", "--password", "arctangent"],
    );
    cli(
        &daemon,
        &["subscribers", "add", "bob", "--password", "flopsy-pass"],
    );
    cli(
        &daemon,
        &["subscribers", "grant", "bob", "--plan", "capped"],
    );
    let vouchers = cli(
        &daemon,
        &["vouchers", "generate", "--plan", "capped", "--count", "2"],
    );
    let code = vouchers
        .lines()
        .nth(1)
        .and_then(|line| line.split(',').next())
        .expect("a voucher code")
        .to_string();

    // Alice has no plan yet: refused with a reason, then she pays cash and gets in.
    let refused = login(auth, "alice", "User-Password = \"arctangent\"");
    assert!(
        refused.contains("Access-Reject") && refused.contains("No active plan"),
        "{refused}"
    );
    cli(
        &daemon,
        &[
            "payments",
            "cash",
            "--receipt",
            "CASH-0001",
            "--amount",
            "10",
            "--plan",
            "short",
            "--username",
            "alice",
        ],
    );
    let paid_at = Instant::now();
    let alice = login(auth, "alice", "User-Password = \"arctangent\"");
    assert!(alice.contains("Access-Accept"), "{alice}");
    assert!(alice.contains("Mikrotik-Rate-Limit = \"1M/2M\""), "{alice}");
    let timeout: u32 = alice
        .lines()
        .find_map(|l| l.trim().strip_prefix("Session-Timeout = "))
        .and_then(|t| t.parse().ok())
        .expect("Session-Timeout");
    assert!(
        (1..=6).contains(&timeout),
        "Session-Timeout {timeout} must not pass the expiry"
    );

    // CHAP (the hotspot default) with a data cap; a wrong password; an unknown user.
    let bob = login(auth, "bob", "CHAP-Password = \"flopsy-pass\"");
    assert!(
        bob.contains("Access-Accept") && bob.contains("Mikrotik-Total-Limit = 1000000"),
        "{bob}\n{}\n{}",
        cli(&daemon, &["subscribers", "show", "bob"]),
        daemon.log()
    );
    let wrong = login(auth, "bob", "CHAP-Password = \"guess\"");
    assert!(
        wrong.contains("Access-Reject") && wrong.contains("Wrong password"),
        "{wrong}"
    );
    let nobody = login(auth, "mallory", "User-Password = \"x\"");
    assert!(nobody.contains("Access-Reject"), "{nobody}");
    // A voucher code logs in as name and password, typed in lower case.
    let lower = code.to_lowercase();
    let voucher = login(auth, &lower, &format!("User-Password = \"{lower}\""));
    assert!(voucher.contains("Access-Accept"), "{voucher}");

    // The router accounts both sessions; bob goes over his cap in an interim update.
    assert!(accounting(acct, "Start", "alice", "A-1", "").contains("Accounting-Response"));
    assert!(accounting(acct, "Start", "bob", "B-1", "").contains("Accounting-Response"));
    let interim = accounting(
        acct,
        "Interim-Update",
        "bob",
        "B-1",
        "Acct-Session-Time = 60\nAcct-Output-Octets = 1200000\n",
    );
    assert!(interim.contains("Accounting-Response"), "{interim}");
    let cut = nas.next(Duration::from_secs(10));
    assert_eq!(
        (
            cut["valid"].as_bool(),
            cut["user"].as_str(),
            cut["session"].as_str()
        ),
        (Some(true), Some("bob"), Some("B-1")),
        "{cut}"
    );
    accounting(
        acct,
        "Stop",
        "bob",
        "B-1",
        "Acct-Session-Time = 61\nAcct-Output-Octets = 1200000\nAcct-Terminate-Cause = Admin-Reset\n",
    );
    let over = login(auth, "bob", "CHAP-Password = \"flopsy-pass\"");
    assert!(
        over.contains("Access-Reject") && over.contains("data is used up"),
        "{over}"
    );

    // Alice's plan runs out: her session is cut at the expiry instant, and she is refused.
    let cut = nas.next(Duration::from_secs(15));
    assert_eq!(
        (cut["user"].as_str(), cut["session"].as_str()),
        (Some("alice"), Some("A-1")),
        "{cut}"
    );
    let after = paid_at.elapsed();
    assert!(
        after >= Duration::from_secs(5) && after < Duration::from_secs(12),
        "cut after {after:?}, plan lasts 6 s"
    );
    accounting(
        acct,
        "Stop",
        "alice",
        "A-1",
        "Acct-Session-Time = 6\nAcct-Terminate-Cause = Admin-Reset\n",
    );
    let expired = login(auth, "alice", "User-Password = \"arctangent\"");
    assert!(expired.contains("Access-Reject"), "{expired}");
    assert!(
        nas.seen.recv_timeout(Duration::from_millis(500)).is_err(),
        "each session is cut once"
    );

    // What the operator sees: the sessions closed, the payment, nothing failed.
    let sessions: serde_json::Value =
        serde_json::from_str(&cli(&daemon, &["sessions", "list", "--json"])).expect("json");
    assert_eq!(sessions.as_array().map(Vec::len), Some(0), "{sessions}");
    let payments: serde_json::Value =
        serde_json::from_str(&cli(&daemon, &["payments", "list", "--json"])).expect("json");
    assert_eq!(payments[0]["receipt"], "CASH-0001");
    let failed: serde_json::Value =
        serde_json::from_str(&cli(&daemon, &["queue", "failed", "--json"])).expect("json");
    assert_eq!(failed.as_array().map(Vec::len), Some(0), "{failed}");
}

#[test]
fn what_fell_due_while_the_box_was_off_is_enforced_at_start() {
    let nas = Nas::start();
    let dir = tempfile::tempdir().expect("dir");
    let mut daemon = Siteboxd::start(
        SITEBOXD.as_ref(),
        dir.path(),
        &Siteboxd::base_config(dir.path()),
    );
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    let (auth, acct) = daemon.radius_ports();
    add_router(&daemon, nas.port);
    cli(
        &daemon,
        &["plans", "add", "blink", "--price", "5", "--validity", "5s"],
    );
    cli(
        &daemon,
        &["subscribers", "add", "dave", "--password", "dave-pass"],
    );
    cli(
        &daemon,
        &["subscribers", "grant", "dave", "--plan", "blink"],
    );
    assert!(login(auth, "dave", "User-Password = \"dave-pass\"").contains("Access-Accept"));
    assert!(accounting(acct, "Start", "dave", "D-1", "").contains("Accounting-Response"));
    // Power cut, and the box stays off past the expiry.
    daemon.kill9();
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        nas.seen.try_recv().is_err(),
        "nothing can be sent while the box is off"
    );
    let started = Instant::now();
    daemon.restart();
    let cut = nas.next(Duration::from_secs(10));
    assert_eq!(
        (cut["user"].as_str(), cut["session"].as_str()),
        (Some("dave"), Some("D-1")),
        "{cut}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "caught up {:?} after the start",
        started.elapsed()
    );
    let refused = login(auth, "dave", "User-Password = \"dave-pass\"");
    assert!(
        refused.contains("Access-Reject") && refused.contains("expired"),
        "{refused}"
    );
}

#[test]
fn a_new_rate_limit_reaches_online_sessions_and_the_next_login() {
    let nas = Nas::start();
    let dir = tempfile::tempdir().expect("dir");
    let daemon = Siteboxd::start(
        SITEBOXD.as_ref(),
        dir.path(),
        &Siteboxd::base_config(dir.path()),
    );
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    let (auth, acct) = daemon.radius_ports();
    add_router(&daemon, nas.port);
    cli(
        &daemon,
        &[
            "plans",
            "add",
            "day",
            "--price",
            "50",
            "--validity",
            "1d",
            "--rate-limit",
            "1M/2M",
        ],
    );
    for user in ["carol", "dave"] {
        cli(
            &daemon,
            &["subscribers", "add", user, "--password", "pw-12345"],
        );
        cli(&daemon, &["subscribers", "grant", user, "--plan", "day"]);
    }
    let carol = login(auth, "carol", "User-Password = \"pw-12345\"");
    assert!(carol.contains("Mikrotik-Rate-Limit = \"1M/2M\""), "{carol}");
    assert!(accounting(acct, "Start", "carol", "C-1", "").contains("Accounting-Response"));

    // The operator raises the plan's speed: carol, online, gets it by CoA; dave, offline, gets
    // it when he logs in. The price applies to what is bought from now on.
    let said = cli(
        &daemon,
        &[
            "plans",
            "edit",
            "day",
            "--rate-limit",
            "3M/6M",
            "--price",
            "60",
        ],
    );
    assert!(said.contains("1 online session(s)"), "{said}");
    let coa = nas.next(Duration::from_secs(10));
    assert_eq!(
        (
            coa["code"].as_i64(),
            coa["valid"].as_bool(),
            coa["user"].as_str(),
            coa["session"].as_str(),
            coa["rate"].as_str()
        ),
        (
            Some(43),
            Some(true),
            Some("carol"),
            Some("C-1"),
            Some("3M/6M")
        ),
        "{coa}"
    );
    daemon.wait_for_log("CoA-ACK: new rate limit", Duration::from_secs(10));
    let dave = login(auth, "dave", "User-Password = \"pw-12345\"");
    assert!(dave.contains("Mikrotik-Rate-Limit = \"3M/6M\""), "{dave}");
    let plans = cli(&daemon, &["plans", "list"]);
    assert!(plans.contains("60") && plans.contains("3M/6M"), "{plans}");

    // Nothing changed: no event, no CoA. A bad value is refused and changes nothing.
    let same = cli(&daemon, &["plans", "edit", "day", "--rate-limit", "3M/6M"]);
    assert!(same.contains("0 online session(s)"), "{same}");
    let bad = daemon.cli(&["plans", "edit", "day", "--rate-limit", "fast"]);
    assert!(!bad.status.success());
    assert!(
        nas.seen.recv_timeout(Duration::from_millis(500)).is_err(),
        "no second CoA"
    );
    let db = rusqlite::Connection::open(daemon.database()).expect("db");
    let changes: Vec<String> = db
        .prepare("SELECT json_extract(payload, '$.changes') FROM outbox WHERE type = 'PlanUpdated'")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        changes,
        vec![r#"{"price":[5000,6000],"rate_limit":["1M/2M","3M/6M"]}"#.to_string()],
        "one event, with what changed"
    );
}
