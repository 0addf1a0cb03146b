//! `siteboxd technicians …` beside the running daemon: the password comes from standard
//! input only, a changed password or a removed login ends that login's sessions at once.

use std::time::Duration;

use sitebox_tests::http;
use sitebox_tests::siteboxd::Siteboxd;

use crate::web_site::SITEBOXD;

#[test]
fn logins_are_added_listed_changed_and_removed_from_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let daemon = Siteboxd::start(
        SITEBOXD.as_ref(),
        dir.path(),
        &Siteboxd::base_config(dir.path()),
    );
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    let addr = daemon.web_addr();
    let run = |args: &[&str], stdin: &str| daemon.cli_with_stdin(args, stdin);

    assert!(
        run(&["technicians", "add", "ann"], "ann-password-1\n")
            .status
            .success()
    );
    assert!(
        run(
            &["technicians", "add", "ben", "--role", "read-only"],
            "ben-password-1\n"
        )
        .status
        .success()
    );
    let again = run(&["technicians", "add", "ann"], "another-password\n");
    assert!(!again.status.success(), "a name is taken once");
    let short = run(&["technicians", "add", "cat"], "short\n");
    assert!(!short.status.success(), "a short password is refused");
    let bad_role = run(
        &["technicians", "add", "dan", "--role", "admin"],
        "dan-password-1\n",
    );
    assert!(!bad_role.status.success());

    let listed = run(&["technicians", "list", "--json"], "");
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    let pairs: Vec<(&str, &str)> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or(""),
                t["role"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(pairs, [("ann", "operator"), ("ben", "read-only")]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("argon2"),
        "no hashes listed"
    );

    // A new password: the old one and the old session stop working.
    let ann = http::login(addr, "ann", "ann-password-1");
    assert_eq!(ann.get(addr, "/api/v1/session").status, 200);
    assert!(
        run(&["technicians", "passwd", "ann"], "ann-password-2\n")
            .status
            .success()
    );
    assert_eq!(ann.get(addr, "/api/v1/session").status, 401);
    assert_eq!(http::try_login(addr, "ann", "ann-password-1").status, 401);
    http::login(addr, "ann", "ann-password-2");

    // Removed: the session ends, the login is gone.
    let ben = http::login(addr, "ben", "ben-password-1");
    assert!(run(&["technicians", "remove", "ben"], "").status.success());
    assert_eq!(ben.get(addr, "/api/v1/snapshot").status, 401);
    assert_eq!(http::try_login(addr, "ben", "ben-password-1").status, 401);
    assert!(!run(&["technicians", "remove", "ben"], "").status.success());
}
