//! A box whose wall clock is wrong, through the real binary with its clock faked by
//! libfaketime: started in the past (a board without a real-time clock before NTP answers),
//! in the future, and jumping while it runs. A paid plan keeps its full time, no
//! Session-Timeout outlasts the plan, and the scheduler keeps running. Whether the clock is
//! synchronised is told by a flag file (`[daemon] clock_trust`), as systemd-timesyncd's
//! `/run/systemd/timesync/synchronized` tells it on a real box; the monotonic clock is not
//! faked (it never jumps on a real box either).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sitebox_tests::peers::libfaketime;
use sitebox_tests::siteboxd::Siteboxd;

use crate::hotspot::{add_router, cli, login};

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

/// About 25 years back (2001) and 13 years ahead (2039-2040), as libfaketime offsets.
const PAST: &str = "-9100d";
const FUTURE: &str = "+4770d";
const RIGHT: &str = "+0";

const DAY_S: i64 = 86_400;

/// A daemon whose wall clock is offset by what `faketime` holds (re-read every second),
/// trusting the wall clock while `synchronized` exists.
struct FakedBox {
    daemon: Siteboxd,
    faketime: PathBuf,
    synchronized: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakedBox {
    fn start(offset: &str, synchronized: bool) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let faketime = dir.path().join("faketime");
        let flag = dir.path().join("synchronized");
        std::fs::write(&faketime, offset).expect("faketime");
        if synchronized {
            std::fs::write(&flag, "").expect("flag");
        }
        let config = format!(
            "{}\n[daemon]\nclock_trust = [\"{}\"]\n\n[expiry]\nsweep_every = \"1s\"\n",
            Siteboxd::base_config(dir.path()),
            flag.display()
        );
        let library = libfaketime();
        let daemon = Siteboxd::start_with_env(
            SITEBOXD.as_ref(),
            dir.path(),
            &config,
            &[
                ("LD_PRELOAD", library.to_str().expect("utf-8")),
                ("FAKETIME_TIMESTAMP_FILE", faketime.to_str().expect("utf-8")),
                ("FAKETIME_CACHE_DURATION", "1"),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
                ("NO_FAKE_STAT", "1"),
            ],
        );
        daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
        Self {
            daemon,
            faketime,
            synchronized: flag,
            _dir: dir,
        }
    }

    /// Sets the wall clock's offset (the daemon sees it within about a second).
    fn set_clock(&self, offset: &str) {
        std::fs::write(&self.faketime, offset).expect("faketime");
    }

    /// Says whether NTP has synchronised the clock.
    fn set_synchronized(&self, yes: bool) {
        if yes {
            std::fs::write(&self.synchronized, "").expect("flag");
        } else if self.synchronized.exists() {
            std::fs::remove_file(&self.synchronized).expect("flag");
        }
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.daemon.database()).expect("open")
    }

    /// Every subscription: (state, starts_at s, expires_at s).
    fn subscriptions(&self) -> Vec<(String, i64, i64)> {
        let db = self.db();
        let mut stmt = db
            .prepare(
                "SELECT state, COALESCE(starts_at, 0) / 1000, COALESCE(expires_at, 0) / 1000
                 FROM subscriptions ORDER BY id",
            )
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .map(|row| row.expect("row"))
            .collect()
    }

    /// The one subscription.
    fn only_subscription(&self) -> (String, i64, i64) {
        let mut all = self.subscriptions();
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    /// How many expiry sweeps have completed.
    fn sweeps(&self) -> i64 {
        self.db()
            .query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'subscription.sweep' AND state = 'completed'",
                [],
                |r| r.get(0),
            )
            .expect("sweeps")
    }

    /// Periodic jobs' next runs, in seconds from the real now.
    fn periodic_ahead_s(&self) -> Vec<(String, i64)> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT name, next_at / 1000 FROM periodic_jobs ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .expect("query")
            .map(|row| {
                let (name, at) = row.expect("row");
                (name, at - real_now_s())
            })
            .collect()
    }
}

fn real_now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn voucher(daemon: &Siteboxd, plan: &str, validity: &str) -> String {
    cli(
        daemon,
        &[
            "plans",
            "add",
            plan,
            "--price",
            "20",
            "--validity",
            validity,
        ],
    );
    let vouchers = cli(
        daemon,
        &["vouchers", "generate", "--plan", plan, "--count", "1"],
    );
    vouchers
        .lines()
        .nth(1)
        .and_then(|line| line.split(',').next())
        .expect("a voucher code")
        .to_string()
}

/// Logs in with `code` and returns the Session-Timeout of the Access-Accept.
fn session_timeout(daemon: &Siteboxd, code: &str) -> i64 {
    let (auth, _) = daemon.radius_ports();
    let reply = login(auth, code, &format!("User-Password = \"{code}\""));
    assert!(reply.contains("Access-Accept"), "{reply}\n{}", daemon.log());
    reply
        .lines()
        .find_map(|l| l.trim().strip_prefix("Session-Timeout = "))
        .and_then(|t| t.parse().ok())
        .expect("Session-Timeout")
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assert_near(what: &str, value: i64, expected: i64, tolerance: i64) {
    assert!(
        (value - expected).abs() <= tolerance,
        "{what}: {value}, expected {expected} ± {tolerance}"
    );
}

#[test]
fn a_voucher_used_before_ntp_answers_in_2001_keeps_its_full_30_days() {
    let mut fb = FakedBox::start(RIGHT, true);
    fb.daemon
        .wait_for_log("wall clock trusted", Duration::from_secs(5));
    add_router(&fb.daemon, sitebox_tests::ports::free_udp_port());
    let code = voucher(&fb.daemon, "month", "30d");
    // The box is switched off; it boots without NTP at a clock in 2001.
    assert!(fb.daemon.stop().success());
    fb.set_synchronized(false);
    fb.set_clock(PAST);
    fb.daemon.restart();
    fb.daemon
        .wait_for_log("wall clock not trusted", Duration::from_secs(30));
    let timeout = session_timeout(&fb.daemon, &code);
    assert_near("Session-Timeout", timeout, 30 * DAY_S, 120);
    let (state, starts, expires) = fb.only_subscription();
    assert_eq!(state, "active");
    assert_near("activation (not 2001)", starts, real_now_s(), 120);
    assert_eq!(expires - starts, 30 * DAY_S);

    // NTP answers: the clock is right and synchronised.
    fb.set_clock(RIGHT);
    fb.set_synchronized(true);
    fb.daemon
        .wait_for_log("re-anchored on the wall clock", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let (state, starts, expires) = fb.only_subscription();
    assert_eq!(state, "active", "the customer who paid is not refused");
    assert_near("activation", starts, real_now_s(), 120);
    assert_eq!(expires - starts, 30 * DAY_S);

    // And at the next start, with the right time from the first second.
    assert!(fb.daemon.stop().success());
    fb.daemon.restart();
    fb.daemon
        .wait_for_log("siteboxd running", Duration::from_secs(30));
    let timeout = session_timeout(&fb.daemon, &code);
    assert_near("Session-Timeout after restart", timeout, 30 * DAY_S, 180);
    assert_eq!(
        fb.daemon.count_log("wall clock not trusted"),
        1,
        "said once:\n{}",
        fb.daemon.log()
    );
}

#[test]
fn a_voucher_used_under_a_clock_in_2040_gets_one_hour_and_the_scheduler_comes_back() {
    let mut fb = FakedBox::start(FUTURE, false);
    fb.daemon
        .wait_for_log("wall clock not trusted", Duration::from_secs(5));
    add_router(&fb.daemon, sitebox_tests::ports::free_udp_port());
    let code = voucher(&fb.daemon, "hour", "1h");
    let timeout = session_timeout(&fb.daemon, &code);
    assert!((3500..=3600).contains(&timeout), "{timeout}");
    let (_, starts, _) = fb.only_subscription();
    assert!(
        starts > real_now_s() + 4000 * DAY_S,
        "activated on the 2040 timeline"
    );
    wait_until("a sweep under 2040", Duration::from_secs(10), || {
        fb.sweeps() > 0
    });
    // Back to the right time, synchronised, after a restart.
    assert!(fb.daemon.stop().success());
    fb.set_clock(RIGHT);
    fb.set_synchronized(true);
    fb.daemon.restart();
    fb.daemon
        .wait_for_log("re-anchored on the wall clock", Duration::from_secs(30));
    let (state, starts, expires) = fb.only_subscription();
    assert_eq!(state, "active");
    assert_near("activation moved back", starts, real_now_s(), 120);
    assert_eq!(expires - starts, 3600);
    let timeout = session_timeout(&fb.daemon, &code);
    assert!((3300..=3600).contains(&timeout), "not 13 years: {timeout}");
    // Periodic jobs are due within their interval, and run.
    let ahead = fb.periodic_ahead_s();
    assert!(!ahead.is_empty());
    for (name, ahead_s) in &ahead {
        assert!(*ahead_s <= 3600, "{name} is due {ahead_s} s ahead");
    }
    let before = fb.sweeps();
    wait_until(
        "expiry sweeps after coming back",
        Duration::from_secs(10),
        || fb.sweeps() >= before + 3,
    );
}

#[test]
fn clock_jumps_while_running_neither_expire_nor_stall() {
    let fb = FakedBox::start(RIGHT, true);
    fb.daemon
        .wait_for_log("wall clock trusted", Duration::from_secs(5));
    add_router(&fb.daemon, sitebox_tests::ports::free_udp_port());
    let first = voucher(&fb.daemon, "hour", "1h");
    let second = voucher(&fb.daemon, "hour2", "1h");
    session_timeout(&fb.daemon, &first);
    session_timeout(&fb.daemon, &second);

    // Back to 2001 with the flag still there: earlier than the newest time seen.
    fb.set_clock(PAST);
    fb.daemon
        .wait_for_log("wall clock not trusted", Duration::from_secs(10));
    let before = fb.sweeps();
    wait_until(
        "expiry sweeps after the jump back",
        Duration::from_secs(10),
        || fb.sweeps() >= before + 3,
    );
    let states: Vec<String> = fb.subscriptions().into_iter().map(|s| s.0).collect();
    assert_eq!(states, ["active", "active"]);
    let timeout = session_timeout(&fb.daemon, &first);
    assert!((3300..=3600).contains(&timeout), "{timeout}");

    // Forward to 2040, NTP lost: still nothing expires.
    fb.set_synchronized(false);
    fb.set_clock(FUTURE);
    std::thread::sleep(Duration::from_secs(4));
    let states: Vec<String> = fb.subscriptions().into_iter().map(|s| s.0).collect();
    assert_eq!(states, ["active", "active"], "{}", fb.daemon.log());
    let timeout = session_timeout(&fb.daemon, &second);
    assert!((3300..=3600).contains(&timeout), "{timeout}");

    // Right again and synchronised: both keep their hour.
    fb.set_clock(RIGHT);
    fb.set_synchronized(true);
    fb.daemon
        .wait_for_log("re-anchored on the wall clock", Duration::from_secs(10));
    for (state, starts, expires) in fb.subscriptions() {
        assert_eq!(state, "active");
        assert_near("activation", starts, real_now_s(), 120);
        assert_eq!(expires - starts, 3600);
    }
    let metrics =
        sitebox_tests::http::request(fb.daemon.web_addr(), "GET", "/metrics", &[], None).text();
    assert!(metrics.contains("sitebox_clock_trusted 1"), "{metrics}");
}
