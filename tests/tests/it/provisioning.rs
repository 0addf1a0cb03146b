//! Provisioning and router health through the real `siteboxd`, against the RouterOS simulator
//! running in this process as a real TCP peer: an operator sets the site up with the CLI, the
//! daemon converges the router (profiles with rate limits, hotspot users, PPP secrets, the
//! `/radius` entry), polls its health, rides out a router that is down for minutes or hung, and
//! never carries a change out twice (the simulator's journal of changes says so).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use sitebox_routeros::sim::{CancellationToken, SimConfig, SimHandle, Simulator};
use sitebox_tests::siteboxd::Siteboxd;
use tokio::net::TcpListener;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
const HOTSPOT_USER: &str = "/ip/hotspot/user";
const HOTSPOT_PROFILE: &str = "/ip/hotspot/user/profile";
const PPP_SECRET: &str = "/ppp/secret";

/// The simulated router, served on 127.0.0.1 port 0 by this test's runtime.
struct Sim {
    addr: SocketAddr,
    handle: SimHandle,
    shutdown: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn simulator() -> Sim {
    let sim = Simulator::new(SimConfig {
        users: vec![("sitebox".into(), "api-secret".into())],
        identity: "kibera-core".into(),
        ..SimConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = sim.handle();
    let token = shutdown.clone();
    tokio::spawn(async move { sim.serve(listener, token).await });
    Sim {
        addr,
        handle,
        shutdown,
    }
}

/// A daemon whose clock runs `clock_speed` times faster than real time (queue backoff and
/// health periods are clock time; router deadlines are real time).
fn daemon(dir: &Path, clock_speed: f64, extra: &str) -> Siteboxd {
    let config = format!(
        "{}\n[daemon]\nclock_speed = {clock_speed}\nshutdown_grace = \"2s\"\n\n\
         [queue]\nbackoff_base = \"10s\"\nbackoff_max = \"10m\"\n\n{extra}",
        Siteboxd::base_config(dir)
    );
    let daemon = Siteboxd::start(Path::new(SITEBOXD), dir, &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));
    daemon
}

/// Runs a CLI command beside the daemon; panics with its output when it fails.
fn cli(daemon: &Siteboxd, args: &[&str]) -> String {
    let output = daemon.cli(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "siteboxd {args:?} failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn cli_json(daemon: &Siteboxd, args: &[&str]) -> Value {
    serde_json::from_str(&cli(daemon, args)).expect("JSON")
}

fn add_router(daemon: &Siteboxd, name: &str, address: &str, sim: &Sim, password: &str) {
    let port = sim.addr.port().to_string();
    cli(
        daemon,
        &[
            "routers",
            "add",
            name,
            "--address",
            address,
            "--secret",
            "radius-secret-1",
            "--api-host",
            "127.0.0.1",
            "--api-port",
            &port,
            "--api-user",
            "sitebox",
            "--api-password",
            password,
        ],
    );
}

/// The router's row with its health, from `routers list --json`.
fn router(daemon: &Siteboxd, name: &str) -> Value {
    cli_json(daemon, &["routers", "list", "--json"])
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no router {name}"))
}

/// Polls `check` every 100 ms until it holds; panics with `what` and the daemon's log after
/// `timeout`.
async fn until(daemon: &Siteboxd, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "not within {timeout:?}: {what}\nlog:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn text(item: &std::collections::BTreeMap<String, Vec<u8>>, key: &str) -> String {
    item.get(key)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn prop(sim: &Sim, menu: &str, name: &str, key: &str) -> Option<String> {
    sim.handle.find(menu, name).map(|item| text(&item, key))
}

/// How many changes of `verb` on `menu` the router carried out for the item `target`.
fn writes_to(sim: &Sim, menu: &str, verb: &str, target: &str) -> usize {
    sim.handle
        .writes()
        .iter()
        .filter(|w| w.menu == menu && w.verb == verb && w.target == target)
        .count()
}

fn status_events(daemon: &Siteboxd) -> Vec<Value> {
    let db = rusqlite::Connection::open_with_flags(
        daemon.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open db");
    let mut stmt = db
        .prepare("SELECT payload FROM outbox WHERE type = 'RouterStatusChanged' ORDER BY seq")
        .expect("prepare");
    stmt.query_map([], |row| row.get::<_, String>(0))
        .expect("query")
        .map(|p| serde_json::from_str(&p.expect("row")).expect("payload"))
        .collect()
}

fn jobs_of_kind(daemon: &Siteboxd, kind: &str) -> Vec<Value> {
    cli_json(daemon, &["queue", "list", "--json", "--limit", "500"])
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| j["kind"] == kind)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_are_provisioned_and_ride_out_minutes_down_without_a_double_effect() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("dir");
    // 20x: the queue's 10 s backoff is 0.5 s real, three minutes down are 9 s.
    let daemon = daemon(
        dir.path(),
        20.0,
        "[provisioning]\nhealth_every = \"20s\"\ncommand_timeout = \"2s\"\nradius_address = \"127.0.0.1\"\n",
    );
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
            "2M/4M",
            "--shared-users",
            "2",
        ],
    );
    cli(
        &daemon,
        &[
            "plans",
            "add",
            "home",
            "--price",
            "1500",
            "--validity",
            "30d",
            "--rate-limit",
            "5M/10M",
            "--kind",
            "pppoe",
        ],
    );
    for (user, kind, plan) in [
        ("alice", "hotspot", Some("day")),
        ("bob", "pppoe", Some("home")),
        ("carol", "hotspot", None),
    ] {
        let password = format!("{user}-pw");
        cli(
            &daemon,
            &[
                "subscribers",
                "add",
                user,
                "--password",
                &password,
                "--kind",
                kind,
            ],
        );
        if let Some(plan) = plan {
            cli(&daemon, &["subscribers", "grant", user, "--plan", plan]);
        }
    }
    // The router comes last: adding it queues its RADIUS configuration and every subscriber
    // once, each converged in one step.
    add_router(&daemon, "core", "10.5.0.1", &sim, "api-secret");

    // Converged: a profile per plan with its rate limit, users with their plan's profile, a
    // subscriber without a running plan disabled, the /radius entry pointing at this box.
    until(
        &daemon,
        "every subscriber on the router",
        Duration::from_secs(20),
        || {
            prop(&sim, HOTSPOT_USER, "alice", "profile").as_deref() == Some("sitebox-day")
                && prop(&sim, PPP_SECRET, "bob", "profile").as_deref() == Some("sitebox-home")
                && prop(&sim, HOTSPOT_USER, "carol", "disabled").as_deref() == Some("true")
                && !sim.handle.items("/radius").is_empty()
        },
    )
    .await;
    assert_eq!(
        prop(&sim, HOTSPOT_USER, "alice", "password").as_deref(),
        Some("alice-pw")
    );
    // Disabled while the box answers (RouterOS asks RADIUS only when no enabled local user
    // matches), with the plan's end for the router's fallback; carol has none.
    assert_eq!(
        prop(&sim, HOTSPOT_USER, "alice", "disabled").as_deref(),
        Some("true")
    );
    assert!(
        prop(&sim, HOTSPOT_USER, "alice", "comment")
            .is_some_and(|c| c.starts_with("sitebox sub=") && c.contains(" until=")),
        "{:?}",
        prop(&sim, HOTSPOT_USER, "alice", "comment")
    );
    assert_eq!(
        prop(&sim, HOTSPOT_USER, "carol", "comment").as_deref(),
        Some("sitebox until=0")
    );
    assert_eq!(
        prop(&sim, HOTSPOT_USER, "carol", "profile").as_deref(),
        Some("default")
    );
    assert_eq!(
        prop(&sim, HOTSPOT_PROFILE, "sitebox-day", "rate-limit").as_deref(),
        Some("2M/4M")
    );
    assert_eq!(
        prop(&sim, HOTSPOT_PROFILE, "sitebox-day", "shared-users").as_deref(),
        Some("2")
    );
    assert_eq!(
        prop(&sim, "/ppp/profile", "sitebox-home", "rate-limit").as_deref(),
        Some("5M/10M")
    );
    assert_eq!(
        prop(&sim, PPP_SECRET, "bob", "service").as_deref(),
        Some("pppoe")
    );
    let radius = &sim.handle.items("/radius")[0];
    assert_eq!(text(radius, "address"), "127.0.0.1");
    assert_eq!(text(radius, "secret"), "radius-secret-1");
    assert_eq!(text(radius, "service"), "hotspot,ppp");
    assert_eq!(
        text(&sim.handle.items("/radius/incoming")[0], "accept"),
        "true"
    );
    let aaa = &sim.handle.items("/ppp/aaa")[0];
    assert_eq!(
        (
            text(aaa, "use-radius").as_str(),
            text(aaa, "accounting").as_str()
        ),
        ("true", "true"),
        "PPPoE logins go to RADIUS"
    );

    // A plan edit reaches the routers' profiles without touching a user.
    let users_set = sim.handle.write_count(HOTSPOT_USER, "set");
    let said = cli(
        &daemon,
        &[
            "plans",
            "edit",
            "day",
            "--rate-limit",
            "4M/8M",
            "--shared-users",
            "3",
        ],
    );
    assert!(said.contains("1 router profile job(s)"), "{said}");
    cli(
        &daemon,
        &["plans", "edit", "home", "--rate-limit", "10M/20M"],
    );
    until(
        &daemon,
        "the edited profiles",
        Duration::from_secs(20),
        || {
            prop(&sim, HOTSPOT_PROFILE, "sitebox-day", "rate-limit").as_deref() == Some("4M/8M")
                && prop(&sim, HOTSPOT_PROFILE, "sitebox-day", "shared-users").as_deref()
                    == Some("3")
                && prop(&sim, "/ppp/profile", "sitebox-home", "rate-limit").as_deref()
                    == Some("10M/20M")
        },
    )
    .await;
    assert_eq!(sim.handle.write_count(HOTSPOT_USER, "set"), users_set);

    // Health: up, with the router's own figures; an active session shows in the count.
    sim.handle.insert(
        "/ip/hotspot/active",
        &[
            ("user", b"alice"),
            ("address", b"10.5.50.7"),
            ("mac-address", b"AA:BB:CC:00:00:01"),
        ],
    );
    until(
        &daemon,
        "health with one active session",
        Duration::from_secs(20),
        || router(&daemon, "core")["health"]["active_sessions"] == 1,
    )
    .await;
    let health = router(&daemon, "core")["health"].clone();
    assert_eq!(health["status"], "up");
    assert_eq!(health["ros_version"], "7.18 (stable)");
    assert_eq!(health["identity"], "kibera-core");
    assert!(
        health["latency_ms"].as_i64().is_some_and(|ms| ms < 1000),
        "{health}"
    );
    assert!(health["last_seen_at"].as_i64().is_some(), "{health}");

    // Down for three clock minutes (the live connection cut, new ones reset): a suspension
    // made meanwhile waits in the queue, retried with backoff, the router's error on the job.
    sim.handle.set_refuse(true);
    sim.handle.drop_next_reply();
    until(
        &daemon,
        "router marked down",
        Duration::from_secs(20),
        || router(&daemon, "core")["status"] == "down",
    )
    .await;
    let down_at = Instant::now();
    cli(&daemon, &["subscribers", "disable", "alice"]);
    until(
        &daemon,
        "provisioning retried while the router is down",
        Duration::from_secs(20),
        || {
            jobs_of_kind(&daemon, "router.provision_subscriber")
                .iter()
                .any(|j| {
                    j["state"] == "available"
                        && j["attempt"].as_u64().is_some_and(|a| a >= 3)
                        && j["last_error"]
                            .as_str()
                            .is_some_and(|e| e.starts_with("router `core`: "))
                })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(9).saturating_sub(down_at.elapsed())).await;
    assert!(
        prop(&sim, HOTSPOT_USER, "alice", "comment").is_some_and(|c| c.contains(" sub=")),
        "the router still has alice's plan"
    );
    let failed = cli_json(&daemon, &["queue", "failed", "--json"]);
    assert_eq!(
        failed,
        Value::Array(vec![]),
        "nothing gives up while the router is down"
    );

    sim.handle.set_refuse(false);
    until(
        &daemon,
        "the suspension reaches the router",
        Duration::from_secs(30),
        || {
            prop(&sim, HOTSPOT_USER, "alice", "comment").as_deref() == Some("sitebox until=0")
                && sim.handle.find("/ip/hotspot/active", "alice").is_none()
                && router(&daemon, "core")["status"] == "up"
        },
    )
    .await;
    let provision_jobs = jobs_of_kind(&daemon, "router.provision_subscriber");
    let attempts = provision_jobs
        .iter()
        .filter(|j| j["state"] == "completed")
        .map(|j| j["attempt"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    assert!(
        attempts >= 4,
        "the outage cost the suspension several attempts: {provision_jobs:#?}"
    );
    let failed = cli_json(&daemon, &["queue", "failed", "--json"]);
    assert_eq!(failed, Value::Array(vec![]), "no job gave up");

    // Re-provisioning everything again changes nothing on the router.
    let out = cli(&daemon, &["routers", "provision", "core"]);
    assert!(out.contains("3 subscriber(s)"), "{out}");
    until(
        &daemon,
        "re-provisioning done",
        Duration::from_secs(20),
        || {
            jobs_of_kind(&daemon, "router.provision_subscriber")
                .iter()
                .all(|j| j["state"] == "completed")
                && jobs_of_kind(&daemon, "router.configure_radius")
                    .iter()
                    .all(|j| j["state"] == "completed")
        },
    )
    .await;

    // One effect per change: each item added once, alice set once (the suspension), the
    // session removed once, nothing else touched.
    let alice_id = text(
        &sim.handle.find(HOTSPOT_USER, "alice").expect("alice"),
        ".id",
    );
    for (menu, name) in [
        (HOTSPOT_USER, "alice"),
        (HOTSPOT_USER, "carol"),
        (PPP_SECRET, "bob"),
        (HOTSPOT_PROFILE, "sitebox-day"),
        ("/ppp/profile", "sitebox-home"),
    ] {
        assert_eq!(
            writes_to(&sim, menu, "add", name),
            1,
            "{menu} {name}: {:#?}",
            sim.handle.writes()
        );
    }
    assert_eq!(
        writes_to(&sim, HOTSPOT_USER, "set", &alice_id),
        1,
        "{:#?}",
        sim.handle.writes()
    );
    assert_eq!(sim.handle.write_count(HOTSPOT_USER, "set"), 1);
    assert_eq!(sim.handle.write_count(PPP_SECRET, "set"), 0);
    assert_eq!(sim.handle.write_count("/ip/hotspot/active", "remove"), 1);
    assert_eq!(sim.handle.write_count("/radius", "add"), 1);
    assert_eq!(sim.handle.write_count("/radius", "set"), 0);
    assert_eq!(
        sim.handle.write_count("/radius/incoming", "set"),
        2,
        "set each time, it has no key to compare"
    );

    // RouterStatusChanged only on a change: up, down, up, whatever the number of polls.
    let events: Vec<(String, String)> = status_events(&daemon)
        .iter()
        .map(|e| {
            (
                e["previous_status"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("unknown".into(), "up".into()),
            ("up".into(), "down".into()),
            ("down".into(), "up".into())
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_in_the_middle_of_provisioning_adds_nobody_twice() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut daemon = daemon(
        dir.path(),
        1.0,
        "[provisioning]\nhealth_every = \"1h\"\ncommand_timeout = \"5s\"\n",
    );
    // The daemon is stopped while the site is set up: 30 subscribers' jobs wait in the queue.
    assert!(daemon.stop().success());
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
    add_router(&daemon, "core", "10.5.0.1", &sim, "api-secret");
    const USERS: usize = 30;
    for n in 0..USERS {
        let user = format!("user{n:02}");
        cli(
            &daemon,
            &["subscribers", "add", &user, "--password", "pw-12345"],
        );
        cli(&daemon, &["subscribers", "grant", &user, "--plan", "day"]);
    }
    // A slow router (each reply byte dripped): kill -9 once some users are on it and others
    // are not, so that jobs die between the router's add and their completion.
    sim.handle.set_slow_drip(Some(Duration::from_millis(1)));
    daemon.restart();
    until(
        &daemon,
        "a few users provisioned",
        Duration::from_secs(60),
        || sim.handle.write_count(HOTSPOT_USER, "add") >= 5,
    )
    .await;
    daemon.kill9();
    let before_restart = sim.handle.write_count(HOTSPOT_USER, "add");
    assert!(
        before_restart < USERS,
        "killed too late: {before_restart} users already added"
    );
    sim.handle.set_slow_drip(None);
    daemon.restart();
    until(
        &daemon,
        "every user provisioned",
        Duration::from_secs(60),
        || {
            sim.handle.write_count(HOTSPOT_USER, "add") >= USERS
                && jobs_of_kind(&daemon, "router.provision_subscriber")
                    .iter()
                    .all(|j| j["state"] == "completed")
        },
    )
    .await;
    for n in 0..USERS {
        let user = format!("user{n:02}");
        assert_eq!(writes_to(&sim, HOTSPOT_USER, "add", &user), 1, "{user}");
        assert_eq!(
            prop(&sim, HOTSPOT_USER, &user, "profile").as_deref(),
            Some("sitebox-day")
        );
    }
    assert_eq!(sim.handle.items(HOTSPOT_USER).len(), USERS);
    assert_eq!(sim.handle.write_count(HOTSPOT_USER, "add"), USERS);
    assert_eq!(
        sim.handle.write_count(HOTSPOT_USER, "set"),
        0,
        "{:#?}",
        sim.handle.writes()
    );
    assert_eq!(sim.handle.write_count(HOTSPOT_PROFILE, "add"), 1);
    assert_eq!(
        cli_json(&daemon, &["queue", "failed", "--json"]),
        Value::Array(vec![])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_router_times_out_within_its_deadline_and_gets_a_new_connection() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("dir");
    let daemon = daemon(
        dir.path(),
        1.0,
        "[provisioning]\nhealth_every = \"1s\"\ncommand_timeout = \"1s\"\n",
    );
    add_router(&daemon, "core", "10.5.0.1", &sim, "api-secret");
    // A router whose API password is wrong: its error is the router's own, in the failed
    // store at once (retrying cannot fix a refused login).
    add_router(&daemon, "lobby", "10.5.0.2", &sim, "not-the-password");
    cli(
        &daemon,
        &["subscribers", "add", "dave", "--password", "dave-pw"],
    );
    until(
        &daemon,
        "core up, dave on it",
        Duration::from_secs(20),
        || {
            router(&daemon, "core")["status"] == "up"
                && sim.handle.find(HOTSPOT_USER, "dave").is_some()
        },
    )
    .await;
    until(
        &daemon,
        "lobby's job failed with the router's message",
        Duration::from_secs(20),
        || {
            cli_json(&daemon, &["queue", "failed", "--json"])
                .as_array()
                .expect("failed")
                .iter()
                .any(|j| {
                    j["error"].as_str().is_some_and(|e| {
                        e == "router `lobby`: login refused: invalid user name or password (6)"
                    })
                })
        },
    )
    .await;
    let lobby = router(&daemon, "lobby");
    assert_eq!(lobby["status"], "down");
    assert!(
        lobby["health"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid user name or password")),
        "{lobby}"
    );

    // Hung: the router takes the command and never answers.
    sim.handle.set_stall(true);
    let stalled_at = Instant::now();
    cli(&daemon, &["subscribers", "disable", "dave"]);
    until(
        &daemon,
        "the provisioning attempt timed out",
        Duration::from_secs(10),
        || {
            jobs_of_kind(&daemon, "router.provision_subscriber")
                .iter()
                .any(|j| {
                    j["last_error"].as_str().is_some_and(|e| {
                        e.contains("router `core`") && e.contains("timed out after 1s")
                    })
                })
        },
    )
    .await;
    let timed_out = stalled_at.elapsed();
    // The client's 1 s deadline per step (a health poll's reconnect may hold the link for one
    // of them first), the CLI and the polling here; far from the job's own 60 s timeout.
    assert!(timed_out < Duration::from_secs(10), "took {timed_out:?}");
    until(&daemon, "core marked down", Duration::from_secs(10), || {
        router(&daemon, "core")["status"] == "down"
    })
    .await;
    let detail = router(&daemon, "core")["status_detail"].clone();
    assert!(
        detail.as_str().is_some_and(|d| d.contains("timed out")),
        "{detail}"
    );

    let connections = sim.handle.connections_accepted();
    sim.handle.set_stall(false);
    until(
        &daemon,
        "dave disabled once the router answers",
        Duration::from_secs(30),
        || {
            prop(&sim, HOTSPOT_USER, "dave", "comment").as_deref() == Some("sitebox until=0")
                && router(&daemon, "core")["status"] == "up"
        },
    )
    .await;
    assert!(
        sim.handle.connections_accepted() > connections,
        "the hung connection was replaced by a new one"
    );
    let dave_id = text(&sim.handle.find(HOTSPOT_USER, "dave").expect("dave"), ".id");
    assert_eq!(writes_to(&sim, HOTSPOT_USER, "add", "dave"), 1);
    assert!(writes_to(&sim, HOTSPOT_USER, "set", &dave_id) <= 1);

    // An upgrade is a status change too; the polls between changes are not.
    sim.handle.set_version("7.19".parse().expect("version"));
    until(
        &daemon,
        "the upgrade reported",
        Duration::from_secs(10),
        || {
            status_events(&daemon)
                .iter()
                .any(|e| e["router"] == "core" && e["ros_version"] == "7.19 (stable)")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let core: Vec<(String, String, String)> = status_events(&daemon)
        .iter()
        .filter(|e| e["router"] == "core")
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (
                field("previous_status"),
                field("status"),
                field("ros_version"),
            )
        })
        .collect();
    let up = |from: &str, version: &str| (from.to_owned(), "up".to_owned(), version.to_owned());
    assert_eq!(core.len(), 4, "{core:?}");
    assert_eq!(core[0], up("unknown", "7.18 (stable)"));
    assert_eq!((core[1].0.as_str(), core[1].1.as_str()), ("up", "down"));
    assert_eq!(core[2], up("down", "7.18 (stable)"));
    assert_eq!(core[3], up("up", "7.19 (stable)"));
}

/// `siteboxd run` with no config (the embedded config/dev.toml, what the README's
/// `cargo run -p sitebox -- run` uses) starts its simulated router, registers it, configures
/// its RADIUS entry and polls it. Its ports are fixed by that file, so this is the only test
/// that runs it.
#[test]
fn the_development_config_runs_a_simulated_router() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(SITEBOXD)
        .arg("run")
        .current_dir(dir.path())
        .env("SITEBOX_ALLOW_ROOT", "1")
        .env_remove("RUST_LOG")
        .env_remove("SITEBOX_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start siteboxd");
    let stdout = child.stdout.take().expect("stdout");
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let wanted = [
        "simulator registered as a managed router",
        "router configured for RADIUS",
        "router status changed",
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !wanted
        .iter()
        .all(|w| seen.iter().any(|l: &String| l.contains(w)))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(
                    &mut child.stderr.take().expect("stderr"),
                    &mut err,
                );
                panic!(
                    "not all of {wanted:?} in the log:\n{}\n{err}",
                    seen.join("\n")
                );
            }
        }
    }
    // The log line is written inside the poll's transaction: read until the commit shows.
    let list = || -> Value {
        let output = Command::new(SITEBOXD)
            .args(["routers", "list", "--json"])
            .current_dir(dir.path())
            .env("SITEBOX_ALLOW_ROOT", "1")
            .env_remove("SITEBOX_CONFIG")
            .output()
            .expect("routers list");
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let mut routers = list();
    while routers[0]["health"]["status"] != "up" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        routers = list();
    }
    let _ = child.kill();
    let _ = child.wait();
    let dev = &routers[0];
    assert_eq!(dev["name"], "dev-router", "{routers:#}");
    assert_eq!(dev["health"]["managed"], true);
    assert_eq!(dev["health"]["status"], "up");
    assert_eq!(dev["health"]["identity"], "dev-router");
    assert!(
        dev["health"]["ros_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("7.18"))
    );
}
