//! Conformance of the RouterOS simulator with the real Python clients `librouteros` and
//! `routeros-api`: the simulator runs in-process on 127.0.0.1 port 0 and each client is driven
//! by a script under `routeros/`, which prints what it saw as JSON.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use sitebox_routeros::sim::{CancellationToken, SimConfig, SimHandle, Simulator};
use tokio::net::TcpListener;

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

async fn start(version: &str) -> Sim {
    let sim = Simulator::new(SimConfig {
        version: version.parse().expect("version"),
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

/// Runs a driver script with the virtualenv's Python (a missing peer fails the test).
async fn drive(script: &str, addr: SocketAddr, mode: &str) -> Value {
    let python = sitebox_tests::peers::python();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/routeros")
        .join(script);
    let (port, mode) = (addr.port().to_string(), mode.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(&path)
            .args(["127.0.0.1", &port, &mode])
            .output()
            .expect("run python")
    })
    .await
    .expect("driver task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed:\n{stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} output {stdout:?}: {e}"))
}

async fn check_librouteros(version: &str, mode: &str) {
    let sim = start(version).await;
    let seen = drive("librouteros_driver.py", sim.addr, mode).await;
    let bad_login = if mode == "plain" {
        "invalid user name or password (6)"
    } else {
        "cannot log in"
    };
    assert_eq!(seen["bad_login"], bad_login, "{seen}");
    assert_eq!(seen["identity"], "MikroTik");
    assert_eq!(seen["added_ids"], json!(["*1", "*2", "*3"]));
    assert_eq!(
        seen["query_rows"],
        json!([{"name": "alice", "profile": "default"}, {"name": "carol", "profile": "default"}])
    );
    assert_eq!(
        seen["duplicate"],
        "failure: already have user with this name for this server"
    );
    assert_eq!(
        seen["bad_profile"],
        "input does not match any value of profile"
    );
    assert_eq!(seen["after_traps"], json!(["alice", "bob", "carol"]));
    assert_eq!(seen["empty_print"], json!([]));
    // librouteros turns the router's "false" into a Python bool.
    assert_eq!(seen["disabled"], json!([false]));
    assert_eq!(seen["updated_comment"], "changed");
    assert_eq!(seen["remove_missing"], "no such item");
    assert!(sim.handle.find("/ip/hotspot/user", "bob").is_none());
    assert_eq!(sim.handle.logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librouteros_plain_login_queries_and_traps() {
    check_librouteros("7.16", "plain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librouteros_token_login_on_a_pre_643_router() {
    check_librouteros("6.42.12", "token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librouteros_ignores_empty_on_7_18() {
    check_librouteros("7.18", "plain").await;
}

async fn check_routeros_api(version: &str, mode: &str) {
    let sim = start(version).await;
    let seen = drive("routeros_api_driver.py", sim.addr, mode).await;
    assert_eq!(seen["identity"], "MikroTik");
    assert_eq!(
        seen["query_rows"],
        json!([{"name": "erin", "comment": "first", "server": "all"}])
    );
    assert_eq!(
        seen["duplicate"],
        "failure: already have user with this name for this server"
    );
    assert_eq!(seen["tagged"]["frank"], json!(["frank"]));
    assert_eq!(seen["tagged"]["users"], json!(["erin", "frank"]));
    assert_eq!(
        seen["tagged"]["interfaces"],
        json!(["bridge-hotspot", "ether1", "ether2"])
    );
    assert_eq!(seen["empty_print"], json!([]));
    assert_eq!(seen["after_empty"], json!(["frank"]));
    assert!(sim.handle.find("/queue/simple", "q1").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routeros_api_tags_and_empty_on_7_18() {
    check_routeros_api("7.18", "plain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routeros_api_challenge_login_on_a_pre_643_router() {
    check_routeros_api("6.40", "challenge").await;
}
