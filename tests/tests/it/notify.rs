//! The daemon under a service manager: READY=1 only once it really serves, STOPPING=1 at the
//! drain, watchdog pings only while its loops answer, a drain bounded by the grace period, and
//! who it runs as when started as root.
//!
//! systemd is played by a Unix datagram socket named in `NOTIFY_SOCKET`, as systemd does.

use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use sitebox::config::{Config, Protocol};
use sitebox::store::LATEST_VERSION;
use sitebox_tests::siteboxd::Siteboxd;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

/// The service manager's end of the notify protocol.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        Self { socket, path }
    }

    fn env(&self) -> (&'static str, &str) {
        ("NOTIFY_SOCKET", self.path.to_str().expect("utf-8 path"))
    }

    /// The next datagram, or `None` after `timeout`.
    fn recv(&self, timeout: Duration) -> Option<String> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(err) => panic!("notify socket: {err}"),
        }
    }

    /// Reads datagrams until one has the line `line`; returns that datagram.
    fn wait_for(&self, line: &str, timeout: Duration, daemon: &Siteboxd) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {line:?} within {timeout:?}; log:\n{}",
                daemon.log()
            );
            if let Some(message) = self.recv(left)
                && message.lines().any(|l| l == line)
            {
                return message;
            }
        }
    }

    /// Every datagram that arrives within `window`.
    fn collect(&self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut messages = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return messages;
            }
            if let Some(message) = self.recv(left) {
                messages.push(message);
            }
        }
    }
}

fn schema_version(database: &Path) -> u32 {
    let db = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the daemon's database");
    db.query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("user_version")
}

#[test]
fn ready_comes_once_the_store_is_open_and_every_listener_is_bound_and_stopping_at_the_drain() {
    let dir = tempfile::tempdir().expect("dir");
    let notify = NotifySocket::bind(dir.path());
    let config_toml = Siteboxd::base_config(dir.path());
    let mut daemon =
        Siteboxd::start_with_env(SITEBOXD.as_ref(), dir.path(), &config_toml, &[notify.env()]);

    let ready = notify.wait_for("READY=1", Duration::from_secs(30), &daemon);
    // At this very moment, before anything else: the store is open, migrated and locked ...
    assert_eq!(schema_version(&daemon.database()), LATEST_VERSION);
    let lock = std::fs::File::open(daemon.database().with_extension("lock")).expect("lock file");
    assert!(
        matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        "the daemon holds its lock when it says READY"
    );
    // ... and every listener the config enables is already there.
    let config = Config::load(&dir.path().join("sitebox.toml")).expect("config");
    for listener in config.listeners() {
        match listener.protocol {
            Protocol::Tcp => {
                TcpStream::connect_timeout(&listener.address, Duration::from_secs(1))
                    .unwrap_or_else(|err| {
                        panic!(
                            "{} ({}) not accepting at READY: {err}",
                            listener.name, listener.address
                        )
                    });
            }
            Protocol::Udp => {
                let err = UdpSocket::bind(listener.address)
                    .expect_err("the daemon's UDP port must already be bound at READY");
                assert_eq!(
                    err.kind(),
                    std::io::ErrorKind::AddrInUse,
                    "{}",
                    listener.name
                );
            }
        }
    }
    assert!(ready.lines().any(|l| l.starts_with("STATUS=")), "{ready:?}");
    daemon.wait_for_log("siteboxd running", Duration::from_secs(2));

    let started = Instant::now();
    let status = daemon.stop();
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert!(started.elapsed() < Duration::from_secs(10));
    let stopping = notify.wait_for("STOPPING=1", Duration::from_secs(1), &daemon);
    assert!(stopping.contains("STATUS=draining"), "{stopping:?}");
}

#[test]
fn watchdog_pings_only_while_the_store_writer_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let notify = NotifySocket::bind(dir.path());
    // A long busy_timeout: a writer kept waiting by a lock looks wedged to the probe.
    let config_toml =
        store_section_with(&Siteboxd::base_config(dir.path()), "busy_timeout = \"60s\"");
    let mut daemon = Siteboxd::start_with_env(
        SITEBOXD.as_ref(),
        dir.path(),
        &config_toml,
        &[notify.env(), ("WATCHDOG_USEC", "400000")],
    );
    notify.wait_for("READY=1", Duration::from_secs(30), &daemon);
    // Every 100 ms (a quarter of 400 ms) while all is well.
    let pings = notify
        .collect(Duration::from_millis(1200))
        .iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    assert!(pings >= 5, "{pings} pings in 1.2 s\n{}", daemon.log());

    // Another process takes the write lock: the writer thread is stuck in BEGIN IMMEDIATE.
    let holder = Connection::open(daemon.database()).expect("open");
    holder.busy_timeout(Duration::from_secs(10)).expect("busy");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    // A writer may be slow for up to one period (a stalled disk); stuck past it, the pings stop.
    std::thread::sleep(Duration::from_millis(1000));
    let _ = notify.collect(Duration::from_millis(50));
    let stuck = notify.collect(Duration::from_millis(1500));
    assert!(
        !stuck.iter().any(|m| m.lines().any(|l| l == "WATCHDOG=1")),
        "pinged while the writer could not write: {stuck:?}"
    );
    holder.execute_batch("ROLLBACK").expect("release");
    notify.wait_for("WATCHDOG=1", Duration::from_secs(5), &daemon);
    daemon.wait_for_log("liveness probe", Duration::from_secs(1));
    assert!(daemon.stop().success(), "{}", daemon.log());
}

/// `base` with `line` added to its `[store]` section.
fn store_section_with(base: &str, line: &str) -> String {
    base.replacen("[store]\n", &format!("[store]\n{line}\n"), 1)
}

#[test]
fn sigterm_during_a_running_job_stops_within_the_grace_period_and_the_job_runs_at_the_next_start() {
    // The job: the maintenance prune, made slow the way it is slow on a real box, with a large
    // backlog of old completed jobs to delete (a box that was off for months, an SD card).
    let dir = tempfile::tempdir().expect("dir");
    let grace = Duration::from_millis(300);
    let config_toml = format!(
        "{}\n[daemon]\nshutdown_grace = \"300ms\"\n",
        Siteboxd::base_config(dir.path())
    );
    let config_path = dir.path().join("sitebox.toml");
    std::fs::write(&config_path, &config_toml).expect("config");
    let migrate = Command::new(SITEBOXD)
        .arg("--config")
        .arg(&config_path)
        .arg("migrate")
        .output()
        .expect("migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let database = dir.path().join("data/sitebox.db");
    let backlog: i64 = 600_000;
    {
        let db = Connection::open(&database).expect("open");
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO jobs (queue, kind, args, state, max_attempts, run_at, timeout_ms,
                               created_at, finished_at)
             SELECT 'default', 'old.backlog', '{}', 'completed', 1, i, 1000, i, i FROM n",
            [backlog],
        )
        .expect("seed the backlog");
    }

    let mut daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config_toml);
    let reader =
        Connection::open_with_flags(&database, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("reader");
    let running = |reader: &Connection| -> Option<i64> {
        reader
            .query_row(
                "SELECT id FROM jobs WHERE kind = 'queue.prune' AND state = 'running'",
                [],
                |row| row.get(0),
            )
            .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let job = loop {
        if let Some(id) = running(&reader) {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "prune never ran:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(2));
    };

    let stopped = Instant::now();
    let status = daemon.stop();
    let took = stopped.elapsed();
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    daemon.wait_for_log("waiting for running jobs", Duration::from_secs(1));
    // The drain gives running jobs the grace period; a job whose work cannot be interrupted
    // (one SQLite statement) is then put back, and the backstop (grace + 5 s) bounds the exit.
    assert!(
        took < grace + Duration::from_secs(5) + Duration::from_secs(2),
        "stopping took {took:?}\n{}",
        daemon.log()
    );
    let state: String = reader
        .query_row("SELECT state FROM jobs WHERE id = ?1", [job], |row| {
            row.get(0)
        })
        .expect("the job is still there");
    assert_ne!(
        state, "completed",
        "the job finished inside {grace:?}: make the backlog larger so it is still running at the drain"
    );

    // At least the prune's queue put its job back (another queue may be holding a job of its
    // own at the stop, e.g. a router health poll).
    assert!(
        daemon.count_log("grace period over: put running jobs back") >= 1
            || daemon.count_log("tasks did not stop in time") == 1,
        "{}",
        daemon.log()
    );
    daemon.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state: String = reader
            .query_row("SELECT state FROM jobs WHERE id = ?1", [job], |row| {
                row.get(0)
            })
            .expect("state");
        if state == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} is {state} a minute after the restart:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: i64 = reader
        .query_row(
            "SELECT count(*) FROM jobs WHERE kind = 'old.backlog'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(left, 0, "the resumed prune did its work");
    assert!(daemon.stop().success(), "{}", daemon.log());
}

#[test]
fn started_as_root_the_daemon_switches_to_its_user_or_refuses() {
    let dir = tempfile::tempdir().expect("dir");
    let config_path = dir.path().join("sitebox.toml");
    let run = |config: &str, env_allow_root: bool| {
        std::fs::write(&config_path, config).expect("config");
        let mut command = Command::new(SITEBOXD);
        command.arg("--config").arg(&config_path).arg("run");
        command.env_remove("SITEBOX_ALLOW_ROOT");
        if env_allow_root {
            command.env("SITEBOX_ALLOW_ROOT", "1");
        }
        command
    };
    let base = Siteboxd::base_config(dir.path());
    let as_nobody = format!("{base}\n[daemon]\nuser = \"nobody\"\n");

    if !nix::unistd::Uid::effective().is_root() {
        // Not root: naming another user cannot be honoured, and says so.
        let output = run(&as_nobody, false).output().expect("run");
        assert!(!output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("only root can switch users"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }

    // Root with no user: refused, with what to do.
    let output = run(&base, false).output().expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to run the daemon as root") && stderr.contains("[daemon] user"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "refused before creating anything"
    );

    // Root with `user = "nobody"`: runs as nobody, and its files belong to nobody.
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("the nobody user");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    std::os::unix::fs::chown(&data, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw()))
        .expect("chown");
    let notify = NotifySocket::bind(dir.path());
    std::fs::set_permissions(&notify.path, std::fs::Permissions::from_mode(0o777))
        .expect("chmod socket");
    std::fs::write(&config_path, &as_nobody).expect("config");
    let child = run(&as_nobody, false)
        .env("NOTIFY_SOCKET", &notify.path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let ready = notify.recv(Duration::from_secs(30));
    // SIGTERM right after READY=1 (as systemd may send it): the drain must run, not the
    // default action.
    let pid = child.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    );
    let output = child.wait_with_output().expect("wait");
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(ready.is_some_and(|m| m.contains("READY=1")), "{stderr}");
    assert!(output.status.success(), "{stderr}");
    let ids = |key: &str| -> Vec<String> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .expect(key)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let uid = nobody.uid.to_string();
    let gid = nobody.gid.to_string();
    assert_eq!(
        ids("Uid:"),
        vec![uid.clone(); 4],
        "real, effective, saved, fs"
    );
    assert_eq!(ids("Gid:"), vec![gid; 4]);
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(data.join("sitebox.db")).expect("database");
    assert_eq!(meta.uid().to_string(), uid);
    assert_eq!(
        meta.mode() & 0o777,
        0o640,
        "umask 0027: not readable by others"
    );
}
