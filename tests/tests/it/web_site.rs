//! A small site behind the real `siteboxd` for the web page's tests: a technician, a router
//! (RADIUS from radclient on 127.0.0.1, its RouterOS API on the in-process simulator), a plan
//! and a subscriber; and the radclient calls that log someone in.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use sitebox_routeros::sim::{CancellationToken, SimConfig, Simulator};
use sitebox_tests::peers::program;
use sitebox_tests::siteboxd::Siteboxd;

pub(crate) const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
pub(crate) const SECRET: &str = "testing123";
pub(crate) const TECHNICIAN: (&str, &str) = ("tina", "tina-password-1");

/// The daemon, its temp dir, and the simulated router's runtime (kept alive).
pub(crate) struct Site {
    pub(crate) daemon: Siteboxd,
    pub(crate) web: SocketAddr,
    _dir: tempfile::TempDir,
    _router: tokio::runtime::Runtime,
    stop: CancellationToken,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Site {
    /// Starts the daemon and sets the site up: technician `tina` (operator), router `gw1`,
    /// plan `day` (1 day, 1 GB) and subscriber `alice` with that plan.
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        // Router health is polled every second, so the page shows it without a long wait.
        let config = format!(
            "{}\n[provisioning]\nhealth_every = \"1s\"\n",
            Siteboxd::base_config(dir.path())
        );
        let daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
        daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
        let web = daemon.web_addr();

        let router = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let stop = CancellationToken::new();
        let api_port = router.block_on(async {
            let sim = Simulator::new(SimConfig {
                version: "7.16.1".parse().expect("version"),
                ..SimConfig::default()
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let token = stop.clone();
            tokio::spawn(async move { sim.serve(listener, token).await });
            port
        });
        let coa = sitebox_tests::ports::free_udp_port();
        let output = daemon.cli_with_stdin(
            &["technicians", "add", TECHNICIAN.0, "--role", "operator"],
            &format!("{}\n", TECHNICIAN.1),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
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
                &coa.to_string(),
                "--api-host",
                "127.0.0.1",
                "--api-port",
                &api_port.to_string(),
                "--api-user",
                "admin",
                "--api-password",
                "admin",
            ],
        );
        daemon.wait_for_log("RADIUS client table reloaded", Duration::from_secs(5));
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
                "--data-limit",
                "1GB",
            ],
        );
        cli(
            &daemon,
            &["subscribers", "add", "alice", "--password", "alice-pass"],
        );
        cli(&daemon, &["subscribers", "grant", "alice", "--plan", "day"]);
        Self {
            daemon,
            web,
            _dir: dir,
            _router: router,
            stop,
        }
    }

    /// An Access-Request for alice, then an Accounting Start of session `session`.
    pub(crate) fn alice_logs_in(&self, session: &str) {
        let (auth, acct) = self.daemon.radius_ports();
        let accept = radclient(
            auth,
            "auth",
            "User-Name = \"alice\"\nUser-Password = \"alice-pass\"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n",
        );
        assert!(accept.contains("Access-Accept"), "{accept}");
        let start = radclient(
            acct,
            "acct",
            &format!(
                "Acct-Status-Type = Start\nUser-Name = \"alice\"\nAcct-Session-Id = \"{session}\"\nCalling-Station-Id = \"AA-BB-CC-00-00-01\"\nFramed-IP-Address = 10.5.50.7\nNAS-IP-Address = 127.0.0.1\n"
            ),
        );
        assert!(start.contains("Accounting-Response"), "{start}");
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

/// Runs a CLI command beside the daemon; panics when it fails.
pub(crate) fn cli(daemon: &Siteboxd, args: &[&str]) -> String {
    let output = daemon.cli(args);
    assert!(
        output.status.success(),
        "siteboxd {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Puts a job straight into the failed store, as the queue does when a job used up its
/// attempts: `session.disconnect` of session `session_id`, with `error`.
pub(crate) fn failed_job(daemon: &Siteboxd, session_id: i64, error: &str) -> i64 {
    let db = rusqlite::Connection::open(daemon.database()).expect("db");
    db.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    db.execute(
        // An id past every job's: the id is kept when the job is retried.
        "INSERT INTO failed_jobs (id, queue, kind, args, priority, attempts, max_attempts, timeout_ms,
                                  unique_key, error, errors, created_at, failed_at)
         VALUES ((SELECT coalesce(max(seq), 0) + 1000 + (SELECT count(*) FROM failed_jobs)
                  FROM sqlite_sequence WHERE name = 'jobs'),
                 'provisioning', 'session.disconnect', json_object('session_id', ?1), -1, 10, 10,
                 30000, NULL, ?2, json_array(json_object('attempt', 10, 'error', ?2)),
                 unixepoch('subsec') * 1000, unixepoch('subsec') * 1000)",
        rusqlite::params![session_id, error],
    )
    .expect("insert a failed job");
    db.last_insert_rowid()
}
