//! Accounting records a real router can send that the box once mishandled, through the real
//! binary: counters at the gigawords maximum (a panic in debug builds, a negative usage in
//! release builds), and an Acct-Session-Id that is not UTF-8 or is empty (dropped as
//! malformed, so the session was never recorded).

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use sitebox_radius::crypto::{sign_request, verify_reply};
use sitebox_radius::dictionary::attr;
use sitebox_radius::{Attribute, Code, Packet, Secret};
use sitebox_tests::siteboxd::Siteboxd;

use crate::hotspot::{SECRET, accounting, add_router, cli, login};

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

fn site() -> (Siteboxd, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let daemon = Siteboxd::start(
        SITEBOXD.as_ref(),
        dir.path(),
        &Siteboxd::base_config(dir.path()),
    );
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    // No NAS listens for Disconnect-Requests there: the cut-off job only retries.
    add_router(&daemon, sitebox_tests::ports::free_udp_port());
    (daemon, dir)
}

/// The stored sessions: (Acct-Session-Id as stored, user, state, input octets, output octets).
fn sessions(daemon: &Siteboxd) -> Vec<(String, String, String, i64, i64)> {
    let db = rusqlite::Connection::open(daemon.database()).expect("open");
    let mut stmt = db
        .prepare(
            "SELECT acct_session_id, username, state, input_octets, output_octets
             FROM sessions ORDER BY id",
        )
        .expect("prepare");
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .expect("query")
    .map(|row| row.expect("row"))
    .collect()
}

#[test]
fn counters_at_the_gigawords_maximum_use_up_the_data_limit_without_a_panic() {
    let (daemon, _dir) = site();
    let (auth, acct) = daemon.radius_ports();
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
            "1GB",
        ],
    );
    cli(
        &daemon,
        &["subscribers", "add", "bob", "--password", "flopsy-pass"],
    );
    cli(
        &daemon,
        &["subscribers", "grant", "bob", "--plan", "capped"],
    );
    let accepted = login(auth, "bob", "User-Password = \"flopsy-pass\"");
    assert!(accepted.contains("Access-Accept"), "{accepted}");
    assert!(accounting(acct, "Start", "bob", "B-1", "").contains("Accounting-Response"));
    let huge = "Acct-Session-Time = 60\nAcct-Input-Octets = 4294967295\nAcct-Input-Gigawords = 4294967295\n\
                Acct-Output-Octets = 4294967295\nAcct-Output-Gigawords = 4294967295\n";
    for _resent in 0..2 {
        let interim = accounting(acct, "Interim-Update", "bob", "B-1", huge);
        assert!(
            interim.contains("Accounting-Response"),
            "{interim}\n{}",
            daemon.log()
        );
    }
    assert_eq!(daemon.count_log("panicked"), 0, "{}", daemon.log());
    assert_eq!(
        sessions(&daemon),
        vec![(
            "B-1".to_string(),
            "bob".to_string(),
            "open".to_string(),
            i64::MAX,
            i64::MAX
        )]
    );
    let db = rusqlite::Connection::open(daemon.database()).expect("open");
    let (state, used): (String, i64) = db
        .query_row(
            "SELECT state, used_bytes FROM subscriptions ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("subscription");
    assert_eq!((state.as_str(), used), ("exhausted", i64::MAX));
    let over = login(auth, "bob", "User-Password = \"flopsy-pass\"");
    assert!(
        over.contains("Access-Reject") && over.contains("data is used up"),
        "{over}"
    );
}

/// Sends an Accounting-Request Start with `session_id` as raw octets (radclient leaves an
/// empty string attribute out, so the empty case is built with the project's codec).
fn start_with_raw_session_id(port: u16, user: &str, session_id: &[u8]) -> bool {
    let secret = Secret::from(SECRET);
    let mut packet = Packet::new(Code::AccountingRequest, 7, [0; 16]);
    packet.push(Attribute::integer(attr::ACCT_STATUS_TYPE, 1));
    packet.push(Attribute::new(attr::ACCT_SESSION_ID, session_id).expect("id"));
    packet.push(Attribute::text(attr::USER_NAME, user).expect("name"));
    packet.push(Attribute::text(attr::CALLING_STATION_ID, "AA-BB-CC-00-00-02").expect("mac"));
    packet.push(Attribute::ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::LOCALHOST));
    let bytes = sign_request(&packet, &secret).expect("encode");
    let authenticator: [u8; 16] = bytes[4..20].try_into().expect("authenticator");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    for _attempt in 0..2 {
        socket.send_to(&bytes, ("127.0.0.1", port)).expect("send");
        let mut reply = [0; 4096];
        if let Ok(len) = socket.recv(&mut reply) {
            let reply = &reply[..len];
            return verify_reply(reply, Code::AccountingRequest, &authenticator, &secret).is_ok()
                && reply.first() == Some(&Code::AccountingResponse.as_u8());
        }
    }
    false
}

#[test]
fn an_acct_session_id_that_is_not_utf8_or_is_empty_is_recorded() {
    let (daemon, _dir) = site();
    let (_, acct) = daemon.radius_ports();
    cli(
        &daemon,
        &["subscribers", "add", "alice", "--password", "arctangent"],
    );
    // radclient's octal escapes: the octets ff fe 'a' '\'.
    let start = accounting(acct, "Start", "alice", "\\377\\376a\\\\", "");
    assert!(start.contains("Accounting-Response"), "{start}");
    let stop = accounting(
        acct,
        "Stop",
        "alice",
        "\\377\\376a\\\\",
        "Acct-Session-Time = 30\nAcct-Input-Octets = 1000\nAcct-Terminate-Cause = User-Request\n",
    );
    assert!(stop.contains("Accounting-Response"), "{stop}");
    assert!(
        start_with_raw_session_id(acct, "alice", b""),
        "{}",
        daemon.log()
    );
    // Resent: the same session, not a second one.
    assert!(start_with_raw_session_id(acct, "alice", b""));
    assert_eq!(
        sessions(&daemon),
        vec![
            (
                "\\xff\\xfea\\\\".to_string(),
                "alice".to_string(),
                "closed".to_string(),
                1000,
                0
            ),
            (
                "\\empty:alice:AA:BB:CC:00:00:02".to_string(),
                "alice".to_string(),
                "open".to_string(),
                0,
                0
            ),
        ]
    );
    // The open one is on the list of sessions online.
    let listed = cli(&daemon, &["sessions", "list"]);
    assert!(
        listed.contains("\\empty:alice:AA:BB:CC:00:00:02"),
        "{listed}"
    );
}
