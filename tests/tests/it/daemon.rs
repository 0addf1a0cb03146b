//! The `siteboxd` binary as an operator meets it: start, CLI beside it, bad config, shutdown.

use std::time::{Duration, Instant};

use sitebox_tests::siteboxd::Siteboxd;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

#[test]
fn starts_serves_the_cli_beside_it_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let mut daemon = Siteboxd::start(
        SITEBOXD.as_ref(),
        dir.path(),
        &Siteboxd::base_config(dir.path()),
    );
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    let stats = daemon.cli(&["queue", "stats", "--json"]);
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("json");
    assert!(stats.as_array().is_some(), "{stats}");
    let second = std::process::Command::new(SITEBOXD)
        .args([
            "--config",
            &dir.path().join("sitebox.toml").display().to_string(),
            "run",
        ])
        .output()
        .expect("second daemon");
    assert!(
        !second.status.success(),
        "a second daemon on the same database must refuse to start"
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("locked by another running siteboxd"));
    let started = Instant::now();
    let status = daemon.stop();
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert!(started.elapsed() < Duration::from_secs(10));
    daemon.wait_for_log("siteboxd stopped", Duration::from_secs(1));
}

#[test]
fn a_bad_config_exits_64_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("sitebox.toml");
    std::fs::write(
        &config,
        "[site]\ntenant = \"acme\"\nsite = \"s1\"\n\n[queue]\nlease = \"thirty\"\n",
    )
    .expect("write");
    for command in [&["run"][..], &["check-config"], &["queue", "stats"]] {
        let output = std::process::Command::new(SITEBOXD)
            .arg("--config")
            .arg(&config)
            .args(command)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(64), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("{}:6:9: key `queue.lease`", config.display())),
            "{command:?}: {stderr}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "nothing may be created before the config is valid"
        );
    }
}

#[test]
fn a_config_with_three_mistakes_gets_all_three_named_in_file_order() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("sitebox.toml");
    std::fs::write(
        &config,
        "[store]\nreaders = \"four\"\n\n[queue]\nleese = \"30s\"\n\n[radius]\nrequest_timeout = \"soon\"\n",
    )
    .expect("write");
    let output = std::process::Command::new(SITEBOXD)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = config.display().to_string();
    let found: Vec<usize> = [
        format!("{file}:2:11: key `store.readers`"),
        format!("{file}:5:1: key `queue.leese`"),
        format!("{file}:8:19: key `radius.request_timeout`"),
        format!("{file}: key `site`: missing field `site`"),
    ]
    .iter()
    .map(|needle| {
        stderr
            .find(needle.as_str())
            .unwrap_or_else(|| panic!("{needle} not in:\n{stderr}"))
    })
    .collect();
    assert!(found.is_sorted(), "not in file order:\n{stderr}");
}
