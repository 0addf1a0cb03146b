//! The faults a site box's disk meets, on the real `siteboxd`: a data directory frozen under
//! accounting load (logins still answered, the watchdog still fed), a full file system (told
//! once, by `/healthz` and `/metrics`; a voucher's first login answered), a damaged page in the
//! database (a distinct exit, one message with the fix), and a data directory the daemon cannot
//! write (read-only, or another user's).
//!
//! Mounting (tmpfs, a loop device with ext4, `fsfreeze`) needs root, which the suite has in CI;
//! without it those tests say so and do nothing.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sitebox_radius::auth::pap;
use sitebox_radius::crypto::{sign_access_request, sign_request, verify_reply};
use sitebox_radius::dictionary::attr;
use sitebox_radius::{Attribute, Code, Packet, Secret};
use sitebox_tests::http::request;
use sitebox_tests::siteboxd::Siteboxd;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
const SECRET: &str = "testing123";

fn root_or_skip(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("{test}: skipped: mounting a file system for the data directory needs root");
    }
    root
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A file system mounted for one test, unmounted (and thawed) when dropped.
struct Mount {
    point: PathBuf,
    image: Option<PathBuf>,
}

impl Mount {
    /// A tmpfs of `size` (e.g. `16m`).
    fn tmpfs(point: &Path, size: &str) -> Self {
        std::fs::create_dir_all(point).expect("mount point");
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
                point.to_str().expect("utf-8"),
            ],
        );
        Self {
            point: point.to_path_buf(),
            image: None,
        }
    }

    /// ext4 on a loop device: a file system `fsfreeze` can freeze.
    fn ext4(point: &Path, image: &Path) -> Self {
        std::fs::create_dir_all(point).expect("mount point");
        let file = std::fs::File::create(image).expect("image");
        file.set_len(128 << 20).expect("size the image");
        run("mkfs.ext4", &["-q", "-F", image.to_str().expect("utf-8")]);
        run(
            "mount",
            &[
                "-o",
                "loop",
                image.to_str().expect("utf-8"),
                point.to_str().expect("utf-8"),
            ],
        );
        Self {
            point: point.to_path_buf(),
            image: Some(image.to_path_buf()),
        }
    }

    fn path(&self) -> &str {
        self.point.to_str().expect("utf-8")
    }

    fn freeze(&self) {
        run("fsfreeze", &["--freeze", self.path()]);
    }

    fn thaw(&self) {
        let _ = Command::new("fsfreeze")
            .args(["--unfreeze", self.path()])
            .output();
    }

    fn remount(&self, option: &str) {
        run("mount", &["-o", &format!("remount,{option}"), self.path()]);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.image.is_some() {
            self.thaw();
        }
        let _ = Command::new("umount").arg("-l").arg(&self.point).output();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

/// The base config with its data directory at `data`.
fn config_with_data(dir: &Path, data: &Path, extra: &str) -> String {
    let base = Siteboxd::base_config(dir);
    let default = dir.join("data");
    format!(
        "{}\n{extra}",
        base.replace(
            &format!("data_dir = \"{}\"", default.display()),
            &format!("data_dir = \"{}\"", data.display()),
        )
    )
}

fn cli(daemon: &Siteboxd, args: &[&str]) -> String {
    let output = daemon.cli(args);
    assert!(
        output.status.success(),
        "siteboxd {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The router at 127.0.0.1, a plan, `users` subscribers `user0…` with password `pass-N` and
/// the plan, and `vouchers` unused voucher codes (returned).
fn site(daemon: &Siteboxd, users: usize, vouchers: usize) -> Vec<String> {
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
            "9",
        ],
    );
    daemon.wait_for_log("RADIUS client table reloaded", Duration::from_secs(10));
    cli(
        daemon,
        &["plans", "add", "day", "--price", "10", "--validity", "1d"],
    );
    for n in 0..users {
        let (name, password) = (format!("user{n}"), format!("pass-{n}"));
        cli(
            daemon,
            &["subscribers", "add", &name, "--password", &password],
        );
        cli(daemon, &["subscribers", "grant", &name, "--plan", "day"]);
    }
    if vouchers == 0 {
        return Vec::new();
    }
    let listed = cli(
        daemon,
        &[
            "vouchers",
            "generate",
            "--plan",
            "day",
            "--count",
            &vouchers.to_string(),
        ],
    );
    listed
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .map(str::to_string)
        .collect()
}

/// A PAP Access-Request; the reply (checked) and how long it took, or `None` after `timeout`.
fn login(
    socket: &UdpSocket,
    auth: SocketAddr,
    id: u8,
    user: &str,
    password: &str,
    timeout: Duration,
) -> Option<(Packet, Duration)> {
    let secret = Secret::from(SECRET);
    // Request Authenticators must not repeat: a counter and the time.
    static SENT: AtomicU64 = AtomicU64::new(0);
    let mut authenticator = [id; 16];
    authenticator[..8].copy_from_slice(&SENT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos();
    authenticator[8..15].copy_from_slice(&now.to_le_bytes()[..7]);
    let mut packet = Packet::new(Code::AccessRequest, id, authenticator);
    packet.push(Attribute::text(attr::USER_NAME, user).expect("name"));
    let hidden = pap::encrypt(password.as_bytes(), &packet.authenticator, &secret);
    packet.push(Attribute::new(attr::USER_PASSWORD, hidden).expect("password"));
    packet.push(Attribute::text(attr::CALLING_STATION_ID, "AA-BB-CC-00-00-01").expect("mac"));
    let bytes = sign_access_request(&packet, &secret).expect("sign");
    let started = Instant::now();
    socket.send_to(&bytes, auth).expect("send");
    let mut buffer = [0u8; 4096];
    loop {
        let left = timeout.checked_sub(started.elapsed())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let Ok(len) = socket.recv(&mut buffer) else {
            return None;
        };
        if buffer[1] != id {
            continue; // a late answer to an earlier request
        }
        verify_reply(
            &buffer[..len],
            Code::AccessRequest,
            &packet.authenticator,
            &secret,
        )
        .expect("the reply authenticates");
        return Some((
            Packet::decode(&buffer[..len]).expect("reply"),
            started.elapsed(),
        ));
    }
}

fn reply_message(packet: &Packet) -> String {
    packet
        .all(attr::REPLY_MESSAGE)
        .map(|a| String::from_utf8_lossy(a.value()).into_owned())
        .collect()
}

/// An Accounting-Request Start for a new session.
fn accounting_start(id: u8, user: &str, session: &str) -> Vec<u8> {
    let mut packet = Packet::new(Code::AccountingRequest, id, [0; 16]);
    packet.push(Attribute::integer(attr::ACCT_STATUS_TYPE, 1));
    packet.push(Attribute::text(attr::ACCT_SESSION_ID, session).expect("session"));
    packet.push(Attribute::text(attr::USER_NAME, user).expect("name"));
    packet.push(Attribute::text(attr::CALLING_STATION_ID, "AA-BB-CC-00-00-02").expect("mac"));
    sign_request(&packet, &Secret::from(SECRET)).expect("sign")
}

/// Accounting at `rate` per second from 16 sockets until stopped; counts the answers.
struct AccountingLoad {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl AccountingLoad {
    /// Sessions for `user{first}` … `user{first + users - 1}`.
    fn start(acct: SocketAddr, rate: u64, first: usize, users: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let sockets: Vec<Arc<UdpSocket>> = (0..16)
            .map(|_| Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind")))
            .collect();
        let mut threads = Vec::new();
        for socket in &sockets {
            let (socket, stop, answered) = (socket.clone(), stop.clone(), answered.clone());
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            threads.push(std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if socket.recv(&mut buffer).is_ok() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        {
            let (stop, sent) = (stop.clone(), sent.clone());
            threads.push(std::thread::spawn(move || {
                let every = Duration::from_secs(1) / u32::try_from(rate).expect("rate");
                let started = Instant::now();
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let socket = &sockets[usize::try_from(n % 16).expect("index")];
                    let id = u8::try_from((n / 16) % 256).expect("id");
                    let user = format!("user{}", first as u64 + n % users as u64);
                    let request = accounting_start(id, &user, &format!("load-{n}"));
                    let _ = socket.send_to(&request, acct);
                    sent.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    let due = started + every * u32::try_from(n).expect("count");
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            }));
        }
        Self {
            stop,
            sent,
            answered,
            threads,
        }
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("load thread");
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.answered.load(Ordering::Relaxed),
        )
    }
}

/// The service manager's end of the notify protocol, timing each `WATCHDOG=1`.
struct Watchdog {
    pings: Arc<std::sync::Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    path: PathBuf,
}

impl Watchdog {
    fn listen(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let pings = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (pings.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buffer)
                    && String::from_utf8_lossy(&buffer[..n])
                        .lines()
                        .any(|l| l == "WATCHDOG=1")
                {
                    seen.lock().expect("pings").push(Instant::now());
                }
            }
        });
        Self { pings, stop, path }
    }

    /// The longest time without a ping between `from` and `to`.
    fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let pings = self.pings.lock().expect("pings");
        let mut last = pings
            .iter()
            .rev()
            .find(|at| **at <= from)
            .copied()
            .unwrap_or(from);
        let mut longest = Duration::ZERO;
        for at in pings.iter().filter(|at| **at > from && **at <= to) {
            longest = longest.max(*at - last);
            last = *at;
        }
        longest.max(to.saturating_duration_since(last))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_frozen_data_directory_leaves_logins_answered_within_100ms_and_the_watchdog_fed() {
    if !root_or_skip("frozen data directory") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let mount = Mount::ext4(&dir.path().join("disk"), &dir.path().join("disk.img"));
    let data = dir.path().join("disk/data");
    let watchdog = Watchdog::listen(dir.path());
    let period = Duration::from_secs(10);
    let config = config_with_data(dir.path(), &data, "");
    let daemon = Siteboxd::start_with_env(
        SITEBOXD.as_ref(),
        dir.path(),
        &config,
        &[
            ("NOTIFY_SOCKET", watchdog.path.to_str().expect("utf-8")),
            ("WATCHDOG_USEC", &period.as_micros().to_string()),
        ],
    );
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
    // Logins for user0…19; accounting for user20…39 (a session of its own would make a
    // login from another device a second device).
    let users = 20;
    site(&daemon, 2 * users, 0);
    let (auth, acct) = daemon.radius_ports();
    let (auth, acct): (SocketAddr, SocketAddr) = (
        format!("127.0.0.1:{auth}").parse().expect("auth"),
        format!("127.0.0.1:{acct}").parse().expect("acct"),
    );
    let nas = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (warm, _) = login(&nas, auth, 0, "user0", "pass-0", Duration::from_secs(2))
        .expect("a login before the stall");
    assert_eq!(warm.code, Code::AccessAccept, "{}", daemon.log());

    // 300 accounting requests a second, then the data directory's file system frozen for 8 s
    // (under the 10 s watchdog period): every accounting write waits for it.
    let load = AccountingLoad::start(acct, 300, users, users);
    std::thread::sleep(Duration::from_secs(1));
    let stall = Duration::from_secs(8);
    mount.freeze();
    let frozen = Instant::now();
    let answered_at_freeze = load.answered();
    let mut slow = Vec::new();
    let mut unanswered = Vec::new();
    let mut latencies = Vec::new();
    let mut logins = 0;
    let mut id: u8 = 1;
    while frozen.elapsed() < stall {
        let n = usize::from(id) % users;
        let outcome = login(
            &nas,
            auth,
            id,
            &format!("user{n}"),
            &format!("pass-{n}"),
            Duration::from_secs(1),
        );
        logins += 1;
        match outcome {
            Some((reply, took)) if reply.code == Code::AccessAccept => {
                latencies.push(took);
                if took > Duration::from_millis(100) {
                    slow.push(format!("login {id}: {took:?}"));
                }
            }
            Some((reply, _)) => unanswered.push(format!("login {id}: {:?}", reply.code)),
            None => unanswered.push(format!("login {id}: no answer within 1 s")),
        }
        id = id.wrapping_add(1).max(1);
        std::thread::sleep(Duration::from_millis(150));
    }
    // Accounting waited: hardly anything was answered while frozen (what was in flight at the
    // freeze may still have made it).
    let answered_while_frozen = load.answered() - answered_at_freeze;
    mount.thaw();
    let thawed = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let (sent, answered) = load.finish();
    let gap = watchdog.longest_gap(frozen, Instant::now());
    let log = daemon.log();
    // Every login answered; on a machine shared with other builds a few may miss the 100 ms
    // by the scheduler's delay, so the bar is nine in ten within 100 ms, all within 1 s.
    latencies.sort();
    let p90 = latencies[latencies.len() * 9 / 10];
    eprintln!(
        "logins while frozen: {logins}, median {:?}, p90 {p90:?}, max {:?}; accounting \
         answered while frozen: {answered_while_frozen}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(
        unanswered.is_empty(),
        "{} of {logins} logins unanswered or refused while the disk was frozen: \
         {unanswered:?}\n{log}",
        unanswered.len()
    );
    assert!(
        p90 <= Duration::from_millis(100),
        "logins slower than 100 ms while the disk was frozen: {slow:?}; p90 {p90:?}"
    );
    assert!(logins >= 30, "{logins} logins");
    assert!(
        answered_while_frozen < 300,
        "{answered_while_frozen} accounting answers while frozen: the stall did not hold them"
    );
    assert!(
        answered > answered_at_freeze + answered_while_frozen,
        "accounting answered again after the thaw ({answered} of {sent} in all)"
    );
    // The watchdog kept being fed: no gap of its period, at which systemd restarts.
    assert!(
        gap < period,
        "the watchdog went {gap:?} without a ping during an {stall:?} stall; log:\n{log}"
    );
    assert!(thawed.elapsed() < Duration::from_secs(10));
    // And the daemon is well: a login, and the health check.
    let (after, _) = login(&nas, auth, 0, "user1", "pass-1", Duration::from_secs(2))
        .expect("a login after the stall");
    assert_eq!(after.code, Code::AccessAccept);
    // Healthy again once the backlog the stall left has reached the disk.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = request(daemon.web_addr(), "GET", "/healthz", &[], None);
        if health.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} {}\n{}",
            health.status,
            health.text(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn metric(daemon: &Siteboxd, name: &str) -> String {
    let text = request(daemon.web_addr(), "GET", "/metrics", &[], None).text();
    text.lines()
        .filter(|line| line.starts_with(name))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fills the file system holding `dir` with a file there, until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0x5au8; 64 << 10];
    while file.write_all(&chunk).is_ok() {}
    let small = vec![0x5au8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
    path
}

#[test]
fn a_full_disk_is_told_once_by_healthz_and_metrics_and_a_first_voucher_login_is_answered() {
    if !root_or_skip("full disk") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let mount = Mount::tmpfs(&dir.path().join("disk"), "16m");
    let data = dir.path().join("disk/data");
    let config = config_with_data(dir.path(), &data, "");
    let daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
    let vouchers = site(&daemon, 2, 3);
    assert_eq!(vouchers.len(), 3, "{vouchers:?}");
    let (auth, acct) = daemon.radius_ports();
    let (auth, acct): (SocketAddr, SocketAddr) = (
        format!("127.0.0.1:{auth}").parse().expect("auth"),
        format!("127.0.0.1:{acct}").parse().expect("acct"),
    );
    let web = daemon.web_addr();
    assert_eq!(request(web, "GET", "/healthz", &[], None).status, 200);

    let filler = fill(mount.point.as_path());
    // Accounting keeps coming: its writes fail, one after the other.
    let nas = UdpSocket::bind("127.0.0.1:0").expect("bind");
    nas.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buffer = [0u8; 4096];
    for n in 0..100u8 {
        let _ = nas.send_to(&accounting_start(n, "user0", &format!("full-{n}")), acct);
        let _ = nas.recv(&mut buffer);
    }
    daemon.wait_for_log("are failing", Duration::from_secs(15));
    daemon.wait_for_log("low disk space", Duration::from_secs(15));
    let health = request(web, "GET", "/healthz", &[], None);
    assert_eq!(health.status, 503, "{}", health.text());
    assert!(
        health.text().contains(data.to_str().expect("utf-8")),
        "{}",
        health.text()
    );
    let failing = metric(&daemon, "sitebox_store_writes_failing");
    assert!(
        failing.contains("kind=\"disk_full\"} 1"),
        "{failing}\n{}",
        daemon.log()
    );
    // One line for the whole fault, with the path and the fix, not one per failed commit.
    assert_eq!(daemon.count_log("are failing"), 1, "{}", daemon.log());
    assert!(
        daemon.log().contains("free space on it"),
        "{}",
        daemon.log()
    );
    assert!(
        !daemon
            .log()
            .lines()
            .any(|line| line.contains("commit failed") && !line.contains("DEBUG")),
        "{}",
        daemon.log()
    );

    // A subscriber with a plan still logs in; a voucher's first login is answered, not dropped.
    let radius = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (existing, _) = login(&radius, auth, 1, "user1", "pass-1", Duration::from_secs(3))
        .expect("an existing account's login is answered on a full disk");
    assert_eq!(existing.code, Code::AccessAccept);
    let code = &vouchers[0];
    let (first, _) = login(&radius, auth, 2, code, code, Duration::from_secs(3))
        .unwrap_or_else(|| panic!("a first voucher login was dropped\n{}", daemon.log()));
    // Its redemption cannot be written: refused with the reason, which the device shows.
    assert_eq!(first.code, Code::AccessReject, "{}", daemon.log());
    assert_eq!(
        reply_message(&first),
        "Login unavailable right now, please try again in a few minutes"
    );
    daemon.wait_for_log("a login that needs a write", Duration::from_secs(1));

    // Space comes back: one line says so, the health check and accounting recover by
    // themselves.
    std::fs::remove_file(&filler).expect("free the space");
    daemon.wait_for_log("reach the disk again", Duration::from_secs(30));
    daemon.wait_for_log("disk space on", Duration::from_secs(10));
    assert_eq!(request(web, "GET", "/healthz", &[], None).status, 200);
    assert!(
        metric(&daemon, "sitebox_store_writes_failing").contains("kind=\"\"} 0"),
        "{}",
        metric(&daemon, "sitebox_store_writes_failing")
    );
    let _ = nas.send_to(&accounting_start(200, "user0", "after-full"), acct);
    nas.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let len = loop {
        let len = nas
            .recv(&mut buffer)
            .expect("accounting answered after recovery");
        if buffer[1] == 200 {
            break len;
        }
    };
    assert_eq!(buffer[0], 5, "Accounting-Response, {len} bytes");
    let (voucher, _) = login(
        &radius,
        auth,
        3,
        &vouchers[1],
        &vouchers[1],
        Duration::from_secs(3),
    )
    .expect("a voucher login after recovery");
    assert_eq!(
        voucher.code,
        Code::AccessAccept,
        "{}",
        reply_message(&voucher)
    );
    assert_eq!(daemon.count_log("are failing"), 1, "{}", daemon.log());
}

/// Runs `siteboxd run` to its exit (it must exit within 30 s); status and everything printed.
fn run_to_exit(dir: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(SITEBOXD)
        .arg("--config")
        .arg(dir.join("sitebox.toml"))
        .arg("run")
        .env("SITEBOX_ALLOW_ROOT", "1")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start siteboxd");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "siteboxd did not exit: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status,
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn a_damaged_page_stops_the_start_with_exit_65_one_message_and_a_fix_that_works() {
    let dir = tempfile::tempdir().expect("dir");
    let config = Siteboxd::base_config(dir.path());
    let mut daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
    site(&daemon, 3, 300);
    assert!(daemon.stop().success(), "{}", daemon.log());
    let database = daemon.database();
    {
        let db = rusqlite::Connection::open(&database).expect("open");
        db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
    }
    let pages = std::fs::metadata(&database).expect("size").len() / 4096;
    assert!(pages > 8, "{pages} pages");
    // A 4 KiB page in the middle of the file overwritten with garbage, as a card does.
    {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&database)
            .expect("open the file");
        file.seek(SeekFrom::Start((pages / 2) * 4096))
            .expect("seek");
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).expect("byte"))
            .collect();
        file.write_all(&garbage).expect("overwrite a page");
        file.sync_all().expect("sync");
    }

    let (status, output) = run_to_exit(dir.path());
    assert_eq!(status.code(), Some(65), "{output}");
    let path = database.to_str().expect("utf-8");
    assert_eq!(
        output.matches("is damaged").count(),
        1,
        "one message, said once:\n{output}"
    );
    assert!(
        output.contains(&format!("{path} is damaged"))
            && output.contains("siteboxd restore")
            && output.contains(".dump"),
        "{output}"
    );

    // The fix it names works: salvage with the sqlite3 commands it prints, restore, start.
    let recovered = dir.path().join("sitebox-salvaged.db");
    let salvage = output
        .split('`')
        .find(|part| part.starts_with("sqlite3 ") && part.contains(".dump"))
        .expect("the salvage command")
        .replace(
            "/root/sitebox-salvaged.db",
            recovered.to_str().expect("utf-8"),
        );
    let done = Command::new("sh")
        .args(["-c", &salvage])
        .output()
        .expect("sqlite3");
    assert!(done.status.success(), "{done:?}");
    let restore = daemon.cli(&["restore", recovered.to_str().expect("utf-8")]);
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    daemon.restart();
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
    let list = cli(&daemon, &["subscribers", "list"]);
    assert!(list.contains("user0"), "{list}");
    let vouchers = cli(&daemon, &["vouchers", "list", "--limit", "1000"]);
    assert!(vouchers.lines().count() > 250, "{vouchers}");
}

#[test]
fn a_read_only_data_directory_stops_the_start_with_exit_73_and_the_remount_to_do() {
    if !root_or_skip("read-only data directory") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let mount = Mount::tmpfs(&dir.path().join("disk"), "16m");
    let data = dir.path().join("disk/data");
    let config = config_with_data(dir.path(), &data, "");
    let mut daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
    assert!(daemon.stop().success(), "{}", daemon.log());
    mount.remount("ro");

    let (status, output) = run_to_exit(dir.path());
    assert_eq!(status.code(), Some(73), "{output}");
    assert_eq!(
        output.matches("read-only file system").count(),
        1,
        "{output}"
    );
    assert!(
        output.contains(data.to_str().expect("utf-8")) && output.contains("remount,rw"),
        "{output}"
    );
    mount.remount("rw");
}

#[test]
fn a_data_directory_of_another_user_is_one_message_with_the_chown_to_run() {
    if !root_or_skip("data directory of another user") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // Owned by root; the daemon runs as nobody.
    let config = format!(
        "{}\n[daemon]\nuser = \"nobody\"\n",
        Siteboxd::base_config(dir.path())
    );
    std::fs::write(dir.path().join("sitebox.toml"), config).expect("config");
    let (status, output) = run_to_exit(dir.path());
    assert_eq!(status.code(), Some(73), "{output}");
    let fix = format!("chown -R nobody: {}", data.display());
    assert_eq!(output.matches(&fix).count(), 1, "{output}");
    assert!(output.contains("owned by `root`"), "{output}");
    assert!(!output.contains("Permission denied"), "{output}");
}
