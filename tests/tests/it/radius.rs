//! sitebox-radius against real RADIUS clients: FreeRADIUS's `radclient`/`radtest` (Debian
//! freeradius-utils) and pyrad (PyPI). Each test starts the server in-process on 127.0.0.1
//! port 0 with an in-memory policy.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sitebox_radius::auth::mschap::nt_password_hash;
use sitebox_radius::disconnect::{self, DynamicKind, DynamicOutcome, RetryPolicy, SessionSelector};
use sitebox_radius::{
    AcceptAttributes, AccountingRecord, AcctStatusType, CancellationToken, Check, Client, Clients,
    Counters, Credential, Decision, DropCause, NtHash, Policy, PolicyError, RejectReason,
    Rejection, Secret, Server, ServerConfig, Verification,
};
use sitebox_tests::peers::{program, python};

const SECRET: &str = "testing123";

/// Users: alice (cleartext, PAP/CHAP/MS-CHAP), User (NT hash only, RFC 2759 vector), and a
/// MAC-auth device.
#[derive(Default)]
struct MemoryPolicy {
    records: Mutex<Vec<AccountingRecord>>,
    logins: Mutex<u32>,
}

impl Policy for MemoryPolicy {
    async fn login(&self, check: Check) -> Result<Decision, PolicyError> {
        *self.logins.lock().expect("lock") += 1;
        let credential = match check.request().user_name.as_str() {
            "alice" => Credential::Password(Secret::from("hotspot-pass")),
            "User" => Credential::NtHash(NtHash(nt_password_hash("clientPass"))),
            "AA:BB:CC:00:11:22" => Credential::MacAuth,
            _ => Credential::UnknownUser,
        };
        Ok(match check.verify(&credential) {
            Verification::Verified => Decision::Accept(AcceptAttributes {
                session_timeout: Some(3600),
                idle_timeout: Some(300),
                acct_interim_interval: Some(60),
                rate_limit: Some("2M/4M".into()),
                total_limit: Some(5 * (1 << 32) + 1000),
                class: Some(b"plan-7".to_vec()),
                ..AcceptAttributes::default()
            }),
            Verification::UnknownUser => {
                Decision::Reject(Rejection::new(RejectReason::UnknownUser, "Unknown user"))
            }
            _ => Decision::Reject(Rejection::new(
                RejectReason::BadCredentials,
                "Invalid username or password",
            )),
        })
    }

    async fn account(&self, record: &AccountingRecord) -> Result<(), PolicyError> {
        self.records.lock().expect("lock").push(record.clone());
        Ok(())
    }
}

/// The server running on its own runtime; dropped, it shuts down.
struct RunningServer {
    auth: SocketAddr,
    acct: SocketAddr,
    policy: Arc<MemoryPolicy>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let policy = Arc::new(MemoryPolicy::default());
        let clients = Arc::new(Clients::new());
        clients.insert(
            "127.0.0.1".parse().expect("address"),
            Client::new("test-nas", Secret::from(SECRET)).expect("client"),
        );
        let (auth, acct) = runtime.block_on(async {
            (
                tokio::net::UdpSocket::bind("127.0.0.1:0")
                    .await
                    .expect("bind"),
                tokio::net::UdpSocket::bind("127.0.0.1:0")
                    .await
                    .expect("bind"),
            )
        });
        let (auth_addr, acct_addr) = (
            auth.local_addr().expect("address"),
            acct.local_addr().expect("address"),
        );
        let server = Server::new(policy.clone(), clients, ServerConfig::default());
        let counters = server.counters();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task =
            runtime.spawn(async move { server.run(auth, acct, token).await.expect("server") });
        Self {
            auth: auth_addr,
            acct: acct_addr,
            policy,
            counters,
            shutdown,
            runtime: Some(runtime),
            task: Some(task),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) {
            let _ = runtime.block_on(task);
        }
    }
}

/// Runs a program with `input` on stdin.
fn run(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

/// `radclient -x` to the given port; returns everything it printed.
fn radclient(target: SocketAddr, command: &str, secret: &str, input: &str) -> String {
    let mut radclient = Command::new(program("radclient", "freeradius-utils"));
    radclient.args(["-x", "-r", "1", "-t", "2"]);
    radclient.arg(target.to_string()).arg(command).arg(secret);
    let output = run(radclient, input);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn radtest(method: &str, user: &str, password: &str, target: SocketAddr) -> String {
    let mut radtest = Command::new(program("radtest", "freeradius-utils"));
    radtest.args([
        "-t",
        method,
        user,
        password,
        &target.to_string(),
        "0",
        SECRET,
    ]);
    let output = run(radtest, "");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn radclient_pap_accept_with_reply_attributes_and_reject() {
    let server = RunningServer::start();
    let accept = radclient(
        server.auth,
        "auth",
        SECRET,
        "User-Name = \"alice\"\nUser-Password = \"hotspot-pass\"\n\
         Calling-Station-Id = \"AA:BB:CC:00:11:22\"\nNAS-Identifier = \"hAP-lobby\"\n\
         Message-Authenticator = 0x00\n",
    );
    assert!(accept.contains("Received Access-Accept"), "{accept}");
    for expected in [
        "Session-Timeout = 3600",
        "Idle-Timeout = 300",
        "Acct-Interim-Interval = 60",
        "Mikrotik-Rate-Limit = \"2M/4M\"",
        "Mikrotik-Total-Limit = 1000",
        "Mikrotik-Total-Limit-Gigawords = 5",
        "Class = 0x706c616e2d37",
        "Message-Authenticator = 0x",
    ] {
        assert!(
            accept.contains(expected),
            "missing {expected:?} in:\n{accept}"
        );
    }

    let reject = radclient(
        server.auth,
        "auth",
        SECRET,
        "User-Name = \"alice\"\nUser-Password = \"nope\"\nMessage-Authenticator = 0x00\n",
    );
    assert!(reject.contains("Received Access-Reject"), "{reject}");
    assert!(
        reject.contains("Reply-Message = \"Invalid username or password\""),
        "{reject}"
    );
    let unknown = radclient(
        server.auth,
        "auth",
        SECRET,
        "User-Name = \"mallory\"\nUser-Password = \"x\"\nMessage-Authenticator = 0x00\n",
    );
    assert!(unknown.contains("Received Access-Reject"), "{unknown}");

    let snapshot = server.counters.snapshot();
    let nas = &snapshot.nas["test-nas"];
    assert_eq!(nas.accepts, 1);
    assert_eq!(nas.rejects[&RejectReason::BadCredentials], 1);
    assert_eq!(nas.rejects[&RejectReason::UnknownUser], 1);
}

#[test]
fn radclient_without_message_authenticator_or_with_wrong_secret_gets_no_reply() {
    let server = RunningServer::start();
    let unsigned = radclient(
        server.auth,
        "auth",
        SECRET,
        "User-Name = \"alice\"\nUser-Password = \"hotspot-pass\"\n",
    );
    assert!(unsigned.contains("No reply from server"), "{unsigned}");
    let forged = radclient(
        server.auth,
        "auth",
        "not-the-secret",
        "User-Name = \"alice\"\nUser-Password = \"hotspot-pass\"\nMessage-Authenticator = 0x00\n",
    );
    assert!(forged.contains("No reply from server"), "{forged}");
    let snapshot = server.counters.snapshot();
    assert!(snapshot.drops(DropCause::MissingMessageAuthenticator) >= 1);
    assert!(snapshot.drops(DropCause::BadMessageAuthenticator) >= 1);
    assert_eq!(*server.policy.logins.lock().unwrap(), 0);
}

#[test]
fn radtest_pap_chap_and_mschap() {
    let server = RunningServer::start();
    for method in ["pap", "chap", "mschap"] {
        let ok = radtest(method, "alice", "hotspot-pass", server.auth);
        assert!(ok.contains("Received Access-Accept"), "{method}:\n{ok}");
        let bad = radtest(method, "alice", "wrong-pass", server.auth);
        assert!(bad.contains("Received Access-Reject"), "{method}:\n{bad}");
    }
    // MAC-auth: the MAC is the User-Name and the Calling-Station-Id.
    let mac = radclient(
        server.auth,
        "auth",
        SECRET,
        "User-Name = \"AA:BB:CC:00:11:22\"\nUser-Password = \"\"\n\
         Calling-Station-Id = \"AA:BB:CC:00:11:22\"\nMessage-Authenticator = 0x00\n",
    );
    assert!(mac.contains("Received Access-Accept"), "{mac}");
    let spoofed = radclient(
        server.auth,
        "auth",
        SECRET,
        "User-Name = \"AA:BB:CC:00:11:22\"\nUser-Password = \"\"\n\
         Calling-Station-Id = \"AA:BB:CC:00:11:99\"\nMessage-Authenticator = 0x00\n",
    );
    assert!(spoofed.contains("Received Access-Reject"), "{spoofed}");
    let snapshot = server.counters.snapshot();
    assert_eq!(snapshot.nas["test-nas"].accepts, 4);
}

#[test]
fn radclient_accounting_and_status_server() {
    let server = RunningServer::start();
    let common = "User-Name = \"alice\"\nAcct-Session-Id = \"81000001\"\n\
                  Calling-Station-Id = \"AA:BB:CC:00:11:22\"\nFramed-IP-Address = 10.5.50.2\n\
                  NAS-IP-Address = 192.168.88.1\n";
    let requests = [
        "Acct-Status-Type = Start\n".to_owned(),
        "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 60\n\
         Acct-Input-Octets = 1000\nAcct-Input-Gigawords = 1\nAcct-Output-Octets = 2000\n"
            .to_owned(),
        "Acct-Status-Type = Stop\nAcct-Session-Time = 120\nAcct-Input-Octets = 3000\n\
         Acct-Input-Gigawords = 1\nAcct-Output-Octets = 4000\nAcct-Output-Gigawords = 2\n\
         Acct-Terminate-Cause = Session-Timeout\n"
            .to_owned(),
    ];
    for request in &requests {
        let output = radclient(server.acct, "acct", SECRET, &format!("{common}{request}"));
        assert!(output.contains("Received Accounting-Response"), "{output}");
    }
    let records = server.policy.records.lock().unwrap().clone();
    let statuses: Vec<AcctStatusType> = records.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            AcctStatusType::Start,
            AcctStatusType::InterimUpdate,
            AcctStatusType::Stop
        ]
    );
    let stop = &records[2];
    assert_eq!(stop.session_id, b"81000001");
    assert_eq!(stop.input_octets, (1 << 32) + 3000);
    assert_eq!(stop.output_octets, (2 << 32) + 4000);
    assert_eq!(stop.session_time, Some(120));
    assert_eq!(stop.terminate_cause, Some(5));
    assert_eq!(stop.mac.unwrap().to_string(), "AA:BB:CC:00:11:22");
    assert_eq!(stop.framed_ip, Some("10.5.50.2".parse().unwrap()));
    assert_eq!(stop.nas.ip_address, Some("192.168.88.1".parse().unwrap()));

    let status = radclient(
        server.auth,
        "status",
        SECRET,
        "Message-Authenticator = 0x00\n",
    );
    assert!(status.contains("Received Access-Accept"), "{status}");
    assert_eq!(server.counters.snapshot().nas["test-nas"].acct_writes, 3);
}

/// The pyrad dictionary (pyrad reads FreeRADIUS-format files).
const PYRAD_DICTIONARY: &str = "\
ATTRIBUTE User-Name 1 string
ATTRIBUTE User-Password 2 string encrypt=1
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE Service-Type 6 integer
ATTRIBUTE Framed-Protocol 7 integer
ATTRIBUTE Framed-IP-Address 8 ipaddr
ATTRIBUTE Reply-Message 18 string
ATTRIBUTE Class 25 octets
ATTRIBUTE Vendor-Specific 26 octets
ATTRIBUTE Session-Timeout 27 integer
ATTRIBUTE Idle-Timeout 28 integer
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Proxy-State 33 octets
ATTRIBUTE Acct-Status-Type 40 integer
ATTRIBUTE Acct-Delay-Time 41 integer
ATTRIBUTE Acct-Input-Octets 42 integer
ATTRIBUTE Acct-Output-Octets 43 integer
ATTRIBUTE Acct-Session-Id 44 string
ATTRIBUTE Acct-Session-Time 46 integer
ATTRIBUTE Acct-Terminate-Cause 49 integer
ATTRIBUTE Acct-Input-Gigawords 52 integer
ATTRIBUTE Acct-Output-Gigawords 53 integer
ATTRIBUTE Message-Authenticator 80 octets
ATTRIBUTE Acct-Interim-Interval 85 integer
ATTRIBUTE Error-Cause 101 integer
VALUE Service-Type Framed-User 2
VALUE Framed-Protocol PPP 1
VALUE Acct-Status-Type Start 1
VALUE Acct-Status-Type Stop 2
VALUE Acct-Status-Type Interim-Update 3
VALUE Acct-Terminate-Cause Session-Timeout 5
VENDOR Microsoft 311
BEGIN-VENDOR Microsoft
ATTRIBUTE MS-CHAP-Challenge 11 octets
ATTRIBUTE MS-MPPE-Send-Key 16 octets
ATTRIBUTE MS-MPPE-Recv-Key 17 octets
ATTRIBUTE MS-CHAP2-Response 25 octets
ATTRIBUTE MS-CHAP2-Success 26 octets
END-VENDOR Microsoft
VENDOR Mikrotik 14988
BEGIN-VENDOR Mikrotik
ATTRIBUTE Mikrotik-Rate-Limit 8 string
ATTRIBUTE Mikrotik-Total-Limit 17 integer
ATTRIBUTE Mikrotik-Total-Limit-Gigawords 18 integer
END-VENDOR Mikrotik
";

#[test]
fn pyrad_pap_mschapv2_retransmit_proxy_state_and_accounting() {
    let server = RunningServer::start();
    let dir = tempfile::tempdir().unwrap();
    let dictionary = dir.path().join("dictionary");
    std::fs::write(&dictionary, PYRAD_DICTIONARY).unwrap();
    let script = dir.path().join("radius_pyrad.py");
    std::fs::write(&script, include_str!("radius_pyrad.py")).unwrap();
    let mut command = Command::new(python());
    command
        .arg(&script)
        .arg(server.auth.port().to_string())
        .arg(server.acct.port().to_string())
        .arg(SECRET)
        .arg(&dictionary);
    let output = run(command, "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pyrad driver failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: HashMap<String, serde_json::Value> = serde_json::from_str(stdout.trim()).unwrap();
    let expect = |key: &str, value: serde_json::Value| {
        assert_eq!(seen.get(key), Some(&value), "{key} in {stdout}");
    };
    use serde_json::json;
    expect("pap_code", json!(2));
    expect("pap_session_timeout", json!(3600));
    expect("pap_rate_limit", json!("2M/4M"));
    expect("pap_total_limit", json!(1000));
    expect("pap_total_limit_gigawords", json!(5));
    expect("wrong_code", json!(3));
    expect("wrong_reply_message", json!("Invalid username or password"));
    expect("mschapv2_code", json!(2));
    // Ident 7, then the RFC 2759 §9.2 authenticator response.
    expect(
        "mschapv2_success",
        json!(format!(
            "07{}",
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )),
    );
    // RFC 3079 §3.5.3 keys, decrypted by the client per RFC 2548.
    expect(
        "mschapv2_send_key",
        json!("8b7cdc149b993a1ba118cb153f56dccb"),
    );
    expect(
        "mschapv2_recv_key",
        json!("d5f0e9521e3ea9589645e86051c82226"),
    );
    expect("retransmit_identical", json!(true));
    expect("unsigned_reply", json!(false));
    expect("proxy_state", json!(["hop-one", "hop-two"]));
    expect("acct_Start", json!(5));
    expect("acct_Interim-Update", json!(5));
    expect("acct_Stop", json!(5));
    expect("status_server_code", json!(2));

    let records = server.policy.records.lock().unwrap().clone();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[2].input_octets, (2 << 32) + 200);
    let snapshot = server.counters.snapshot();
    let nas = &snapshot.nas["test-nas"];
    assert_eq!(
        nas.duplicates, 1,
        "the retransmit was answered from the cache"
    );
    assert_eq!(nas.drops[&DropCause::MissingMessageAuthenticator], 1);
}

#[test]
fn disconnect_and_coa_against_a_pyrad_nas() {
    let dir = tempfile::tempdir().unwrap();
    let dictionary = dir.path().join("dictionary");
    std::fs::write(&dictionary, PYRAD_DICTIONARY).unwrap();
    let script = dir.path().join("radius_pyrad_nas.py");
    std::fs::write(&script, include_str!("radius_pyrad_nas.py")).unwrap();
    let mut nas = Command::new(python())
        .arg(&script)
        .arg(SECRET)
        .arg(&dictionary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(nas.stdout.take().unwrap());
    let mut port = String::new();
    stdout.read_line(&mut port).unwrap();
    let port: u16 = port.trim().parse().unwrap_or_else(|_| {
        let mut stderr = String::new();
        nas.stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        panic!("pyrad NAS did not start: {port:?}\n{stderr}")
    });
    let target: SocketAddr = ([127, 0, 0, 1], port).into();
    let secret = Secret::from(SECRET);
    let retry = RetryPolicy {
        timeout: Duration::from_millis(500),
        attempts: 3,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (disconnected, changed) = runtime.block_on(async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let session = SessionSelector {
            user_name: Some("alice".into()),
            acct_session_id: Some(b"81000001".to_vec()),
            ..SessionSelector::default()
        };
        let disconnected = disconnect::disconnect(&socket, target, &secret, &session, retry).await;
        let dictionary = sitebox_radius::Dictionary::builtin();
        let mut attributes = session.to_attributes().unwrap();
        attributes.push(dictionary.encode("Mikrotik-Rate-Limit", "1M/2M").unwrap());
        let changed = disconnect::send(
            &socket,
            target,
            &secret,
            DynamicKind::Coa,
            attributes,
            retry,
        )
        .await;
        (disconnected, changed)
    });
    let output = nas.wait_with_output().unwrap();
    let mut observed = String::new();
    stdout.read_to_string(&mut observed).unwrap();
    assert!(
        output.status.success(),
        "pyrad NAS failed:\n{observed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        disconnected.unwrap(),
        DynamicOutcome::Nak {
            error_cause: Some(503)
        }
    );
    assert_eq!(changed.unwrap(), DynamicOutcome::Ack);
    let seen: HashMap<String, serde_json::Value> = serde_json::from_str(observed.trim()).unwrap();
    use serde_json::json;
    for (key, value) in [
        ("retransmit_identical", json!(true)),
        ("disconnect_code", json!(40)),
        ("disconnect_authenticator_ok", json!(true)),
        ("disconnect_has_message_authenticator", json!(true)),
        ("disconnect_message_authenticator_ok", json!(true)),
        ("disconnect_user_name", json!("alice")),
        ("disconnect_session_id", json!("81000001")),
        ("coa_code", json!(43)),
        ("coa_authenticator_ok", json!(true)),
        ("coa_message_authenticator_ok", json!(true)),
        ("coa_rate_limit", json!("1M/2M")),
    ] {
        assert_eq!(seen.get(key), Some(&value), "{key} in {observed}");
    }
}

/// The dictionary loader reads the vendor files FreeRADIUS itself ships (Debian
/// freeradius-common), and agrees with the built-in definitions.
#[test]
fn dictionary_loads_freeradius_vendor_files() {
    let share = std::path::Path::new("/usr/share/freeradius");
    let mut dictionary = sitebox_radius::Dictionary::default();
    for file in [
        "dictionary.rfc2865",
        "dictionary.rfc2866",
        "dictionary.rfc2869",
        "dictionary.rfc3162",
        "dictionary.rfc3576",
        "dictionary.rfc5176",
        "dictionary.microsoft",
        "dictionary.mikrotik",
        "dictionary.wispr",
    ] {
        let path = share.join(file);
        assert!(
            path.is_file(),
            "{} is missing: run the tests through tests/run.sh, or `apt-get install freeradius-common`",
            path.display()
        );
        dictionary
            .load_file(&path)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let builtin = sitebox_radius::Dictionary::builtin();
    for name in [
        "User-Name",
        "Acct-Interim-Interval",
        "Error-Cause",
        "Framed-IPv6-Prefix",
        "MS-CHAP2-Success",
        "MS-MPPE-Send-Key",
        "Mikrotik-Rate-Limit",
        "Mikrotik-Total-Limit-Gigawords",
        "Mikrotik-Address-List",
        "WISPr-Bandwidth-Max-Down",
    ] {
        let theirs = dictionary.by_name(name).unwrap_or_else(|| panic!("{name}"));
        let ours = builtin.by_name(name).unwrap();
        assert_eq!((theirs.key, theirs.kind), (ours.key, ours.kind), "{name}");
    }
    let status = dictionary.by_name("Acct-Status-Type").unwrap();
    assert_eq!(status.value_of("Interim-Update"), Some(3));
}
