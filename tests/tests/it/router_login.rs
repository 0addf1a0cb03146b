//! Customers log in through the simulated MikroTik, which decides as RouterOS does and asks
//! RADIUS as a MikroTik does: against the real `siteboxd` (its policy decides, its Disconnect-
//! Request ends a session on the router) and against a pyrad server (third-party code reads
//! every packet the simulator sends and checks its authenticators).

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value as Json;
use sitebox_routeros::client::{ClientConfig, Connection, Password};
use sitebox_routeros::codec::Command as Api;
use sitebox_routeros::sim::{
    DecidedBy, HotspotAuth, HotspotLogin, PppAuth, PppLogin, SimClock, SimConfig, SimHandle,
    Simulator, TerminateCause,
};
use sitebox_tests::peers::python;
use sitebox_tests::ports::free_udp_port;
use sitebox_tests::siteboxd::Siteboxd;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
const SECRET: &str = "gw1-secret";
const MAC: &str = "AA:BB:CC:00:00:01";

struct Router {
    handle: SimHandle,
    api: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Router {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Router {
    /// A RouterOS 7.18 router named gw1 on a manual clock, its `/radius` entry pointing at
    /// `auth`/`acct` with RADIUS in use for hotspot and PPP, `/radius incoming` on `coa_port`.
    async fn start(auth: u16, acct: u16, coa_port: Option<u16>) -> Self {
        let sim = Simulator::new(SimConfig {
            identity: "gw1".to_owned(),
            clock: SimClock::manual(1_750_000_000_000),
            ..SimConfig::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the API");
        let api = listener.local_addr().expect("API address");
        let stop = CancellationToken::new();
        let handle = sim.handle();
        let token = stop.clone();
        tokio::spawn(async move { sim.serve(listener, token).await });
        let router = Self { handle, api, stop };
        let conn = router.connect().await;
        let mut commands = vec![
            Api::new("/radius/add")
                .attr("service", "hotspot,ppp")
                .attr("address", "127.0.0.1")
                .attr("secret", SECRET)
                .attr("authentication-port", auth.to_string())
                .attr("accounting-port", acct.to_string())
                .attr("timeout", "1s"),
            Api::new("/ip/hotspot/profile/set")
                .attr("numbers", "default")
                .attr("use-radius", "yes")
                .attr("hotspot-address", "10.5.50.1"),
            Api::new("/ppp/aaa/set").attr("use-radius", "yes"),
        ];
        if let Some(port) = coa_port {
            commands.push(
                Api::new("/radius/incoming/set")
                    .attr("accept", "yes")
                    .attr("port", port.to_string()),
            );
        }
        for command in commands {
            conn.run(&command).await.expect("configure the router");
        }
        router
    }

    async fn connect(&self) -> Connection {
        let config = ClientConfig::new(
            "127.0.0.1",
            self.api.port(),
            "admin",
            Password::new("admin"),
        );
        Connection::connect(&config)
            .await
            .expect("connect to the router")
    }
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

fn sessions(daemon: &Siteboxd) -> Vec<Json> {
    let listed: Json =
        serde_json::from_str(&cli(daemon, &["sessions", "list", "--json"])).expect("json");
    listed.as_array().cloned().unwrap_or_default()
}

/// Polls (real time) until `check` holds.
async fn until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_log_in_through_the_router_and_siteboxd_decides() {
    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        "{}\n[expiry]\nsweep_every = \"1s\"\nverify_after = \"30s\"\n",
        Siteboxd::base_config(dir.path())
    );
    let daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    let (auth, acct) = daemon.radius_ports();
    let coa_port = free_udp_port();
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
            &coa_port.to_string(),
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
            "--rate-limit",
            "1M/2M",
            "--data-limit",
            "1MB",
            "--interim",
            "1m",
            "--mac-binding",
        ],
    );
    cli(
        &daemon,
        &[
            "plans",
            "add",
            "blink",
            "--price",
            "5",
            "--validity",
            "4s",
            "--kind",
            "pppoe",
        ],
    );
    cli(
        &daemon,
        &[
            "subscribers",
            "add",
            "alice",
            "--password",
            "alice-pw",
            "--mac",
            MAC,
        ],
    );
    cli(&daemon, &["subscribers", "grant", "alice", "--plan", "day"]);
    cli(
        &daemon,
        &[
            "subscribers",
            "add",
            "bob",
            "--password",
            "bob-pw",
            "--kind",
            "pppoe",
        ],
    );
    let router = Router::start(auth, acct, Some(coa_port)).await;
    let login = |user: &str, password: &str, mac: &str, last: u8| {
        router.handle.login_hotspot(HotspotLogin::new(
            user,
            password,
            mac,
            Ipv4Addr::new(10, 5, 50, last),
        ))
    };

    // The box decides: its Accept applied on the router, its Reject's text shown.
    let alice = login("alice", "alice-pw", MAC, 7).await.unwrap();
    assert_eq!(alice.decided_by, DecidedBy::Radius);
    let session = router.handle.sessions()[0].clone();
    assert_eq!(session.limit_bytes_total, Some(1_000_000));
    assert_eq!(session.rate_limit.as_deref(), Some("1M/2M"));
    assert_eq!(session.interim, Some(Duration::from_secs(60)));
    until("the Start reached the box", Duration::from_secs(10), || {
        sessions(&daemon).len() == 1
    })
    .await;
    let other_device = login("alice", "alice-pw", "AA:BB:CC:00:00:99", 8)
        .await
        .unwrap_err();
    assert_eq!(
        (other_device.decided_by, other_device.message.as_str()),
        (
            DecidedBy::Radius,
            "This account is registered to another device"
        )
    );
    let wrong = login("alice", "guess", MAC, 9).await.unwrap_err();
    assert_eq!(
        (wrong.decided_by, wrong.message.as_str()),
        (DecidedBy::Radius, "Wrong password")
    );

    // An interim a minute later carries the usage; past the Mikrotik-Total-Limit the router
    // ends the session itself and the box is told in the Stop; the next login is refused.
    router.handle.add_traffic(&alice.id, 100_000, 500_000);
    router.handle.advance(Duration::from_secs(61));
    router.handle.add_traffic(&alice.id, 0, 450_000);
    assert!(
        router.handle.sessions().is_empty(),
        "the router ends it at the data limit"
    );
    until("the Stop reached the box", Duration::from_secs(10), || {
        sessions(&daemon).is_empty()
    })
    .await;
    let used_up = login("alice", "alice-pw", MAC, 7).await.unwrap_err();
    assert_eq!(used_up.decided_by, DecidedBy::Radius);
    assert!(used_up.message.contains("data"), "{}", used_up.message);

    // A local user of the same name shadows the box entirely (issue 20): the router decides.
    router
        .connect()
        .await
        .run(
            &Api::new("/ip/hotspot/user/add")
                .attr("name", "alice")
                .attr("password", "old-pw"),
        )
        .await
        .unwrap();
    let shadowed = login("alice", "old-pw", MAC, 7).await.unwrap();
    assert_eq!(shadowed.decided_by, DecidedBy::LocalUser);
    router
        .handle
        .logout(&shadowed.id, TerminateCause::UserRequest);

    // PPPoE with MS-CHAPv2: the box's MS-CHAP2-Success satisfies the client; when the plan
    // expires the box sends a Disconnect-Request and the router ends the session.
    cli(&daemon, &["subscribers", "grant", "bob", "--plan", "blink"]);
    let bob = router
        .handle
        .login_ppp(PppLogin::new("bob", "bob-pw", "02:00:00:00:00:02"))
        .await
        .unwrap();
    assert_eq!(bob.decided_by, DecidedBy::Radius);
    let mut chap = PppLogin::new("bob", "wrong", "02:00:00:00:00:03");
    chap.auth = PppAuth::Chap;
    assert_eq!(
        router.handle.login_ppp(chap).await.unwrap_err().decided_by,
        DecidedBy::Radius
    );
    until(
        "bob's plan ended and the box cut him off",
        Duration::from_secs(15),
        || router.handle.sessions().is_empty(),
    )
    .await;
    assert!(router.handle.radius_monitor().incoming >= 1);
    let sent = router.handle.accounting_sent();
    let bob_stop = sent.iter().find(|s| {
        s.user == "bob"
            && s.status == sitebox_routeros::sim::AcctStatus::Stop(TerminateCause::AdminReset)
    });
    assert!(bob_stop.is_some(), "{sent:?}");
    until("every record answered", Duration::from_secs(10), || {
        router.handle.accounting_sent().iter().all(|s| s.answered)
    })
    .await;
    let journal = router.handle.login_journal();
    let by_router = journal
        .iter()
        .filter(|a| a.decided_by == DecidedBy::LocalUser)
        .count();
    let by_box = journal
        .iter()
        .filter(|a| a.decided_by == DecidedBy::Radius)
        .count();
    assert_eq!((by_router, by_box), (1, 6), "{journal:?}");
}

const PYRAD_DICTIONARY: &str = "\
ATTRIBUTE User-Name 1 string
ATTRIBUTE User-Password 2 string encrypt=1
ATTRIBUTE CHAP-Password 3 octets
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE NAS-Port 5 integer
ATTRIBUTE Service-Type 6 integer
VALUE Service-Type Login-User 1
VALUE Service-Type Framed-User 2
ATTRIBUTE Framed-Protocol 7 integer
VALUE Framed-Protocol PPP 1
ATTRIBUTE Framed-IP-Address 8 ipaddr
ATTRIBUTE Reply-Message 18 string
ATTRIBUTE Class 25 octets
ATTRIBUTE Vendor-Specific 26 octets
ATTRIBUTE Session-Timeout 27 integer
ATTRIBUTE Idle-Timeout 28 integer
ATTRIBUTE Called-Station-Id 30 string
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Acct-Status-Type 40 integer
VALUE Acct-Status-Type Start 1
VALUE Acct-Status-Type Stop 2
VALUE Acct-Status-Type Interim-Update 3
ATTRIBUTE Acct-Delay-Time 41 integer
ATTRIBUTE Acct-Input-Octets 42 integer
ATTRIBUTE Acct-Output-Octets 43 integer
ATTRIBUTE Acct-Session-Id 44 string
ATTRIBUTE Acct-Authentic 45 integer
VALUE Acct-Authentic RADIUS 1
VALUE Acct-Authentic Local 2
ATTRIBUTE Acct-Session-Time 46 integer
ATTRIBUTE Acct-Input-Packets 47 integer
ATTRIBUTE Acct-Output-Packets 48 integer
ATTRIBUTE Acct-Terminate-Cause 49 integer
VALUE Acct-Terminate-Cause User-Request 1
VALUE Acct-Terminate-Cause Session-Timeout 5
VALUE Acct-Terminate-Cause Admin-Reset 6
VALUE Acct-Terminate-Cause NAS-Request 10
ATTRIBUTE Acct-Input-Gigawords 52 integer
ATTRIBUTE Acct-Output-Gigawords 53 integer
ATTRIBUTE Event-Timestamp 55 date
ATTRIBUTE CHAP-Challenge 60 octets
ATTRIBUTE NAS-Port-Type 61 integer
VALUE NAS-Port-Type Ethernet 15
VALUE NAS-Port-Type Wireless-802.11 19
ATTRIBUTE Message-Authenticator 80 octets
ATTRIBUTE Acct-Interim-Interval 85 integer
ATTRIBUTE NAS-Port-Id 87 string
VENDOR Microsoft 311
BEGIN-VENDOR Microsoft
ATTRIBUTE MS-CHAP-Challenge 11 octets
ATTRIBUTE MS-CHAP2-Response 25 octets
ATTRIBUTE MS-CHAP2-Success 26 octets
END-VENDOR Microsoft
VENDOR Mikrotik 14988
BEGIN-VENDOR Mikrotik
ATTRIBUTE Mikrotik-Rate-Limit 8 string
ATTRIBUTE Mikrotik-Host-IP 10 ipaddr
ATTRIBUTE Mikrotik-Total-Limit 17 integer
END-VENDOR Mikrotik
VENDOR WISPr 14122
BEGIN-VENDOR WISPr
ATTRIBUTE WISPr-Logoff-URL 3 string
END-VENDOR WISPr
";

/// The pyrad server: its ports and what it saw, one JSON object per request.
struct PyradServer {
    child: Child,
    auth: u16,
    acct: u16,
    seen: mpsc::Receiver<Json>,
    _dir: tempfile::TempDir,
}

impl PyradServer {
    fn start(user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let dictionary = dir.path().join("dictionary");
        std::fs::write(&dictionary, PYRAD_DICTIONARY).expect("dictionary");
        let script = dir.path().join("router_pyrad.py");
        std::fs::write(&script, include_str!("router_pyrad.py")).expect("script");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(SECRET)
            .arg(&dictionary)
            .arg(user)
            .arg(password)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the pyrad server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ports = lines.next().expect("ports line").expect("read");
        let mut ports = ports
            .split_whitespace()
            .map(|p| p.parse::<u16>().expect("port"));
        let (auth, acct) = (ports.next().expect("auth"), ports.next().expect("acct"));
        let (send, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line)
                    && send.send(value).is_err()
                {
                    break;
                }
            }
        });
        Self {
            child,
            auth,
            acct,
            seen,
            _dir: dir,
        }
    }

    /// The next request pyrad saw.
    async fn next(&self) -> Json {
        for _ in 0..200 {
            if let Ok(value) = self.seen.try_recv() {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("pyrad saw no request within 5 s");
    }
}

impl Drop for PyradServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn attribute<'a>(seen: &'a Json, name: &str) -> &'a str {
    seen["attributes"][name][0]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {seen}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyrad_reads_and_verifies_what_the_router_sends() {
    let pyrad = PyradServer::start("pat", "pat-pw");
    let router = Router::start(pyrad.auth, pyrad.acct, None).await;

    // A hotspot CHAP login: every attribute a RouterOS 7 hotspot sends, signed.
    let login = router
        .handle
        .login_hotspot(HotspotLogin::new(
            "pat",
            "pat-pw",
            "aa:bb:cc:00:00:01",
            Ipv4Addr::new(10, 5, 50, 7),
        ))
        .await
        .unwrap();
    let request = pyrad.next().await;
    assert_eq!(request["code"], 1, "{request}");
    assert_eq!(request["message_authenticator"], true, "{request}");
    assert_eq!(request["message_authenticator_ok"], true, "{request}");
    assert_eq!(
        (request["method"].as_str(), request["proof_ok"].as_bool()),
        (Some("chap"), Some(true))
    );
    for (name, value) in [
        ("User-Name", "pat"),
        ("NAS-Identifier", "gw1"),
        ("NAS-IP-Address", "127.0.0.1"),
        ("Called-Station-Id", "hotspot1"),
        ("Calling-Station-Id", MAC),
        ("NAS-Port-Id", "bridge-hotspot"),
        ("NAS-Port-Type", "Wireless-802.11"),
        ("Service-Type", "Login-User"),
        ("Framed-IP-Address", "10.5.50.7"),
        ("Mikrotik-Host-IP", "10.5.50.7"),
        ("WISPr-Logoff-URL", "http://10.5.50.1/logout"),
        ("Acct-Session-Id", login.acct_session_id.as_str()),
    ] {
        assert_eq!(attribute(&request, name), value, "{name} in {request}");
    }
    let nas_port = u32::from_str_radix(&login.acct_session_id, 16).unwrap();
    assert_eq!(attribute(&request, "NAS-Port"), nas_port.to_string());
    assert_eq!(
        router.handle.sessions()[0].rate_limit.as_deref(),
        Some("3M/6M")
    );

    // Accounting: pyrad verifies the Request Authenticator; no Message-Authenticator; the
    // Stop's octets split into gigawords.
    let start = pyrad.next().await;
    assert_eq!(start["port"], "acct");
    assert_eq!(start["authenticator_ok"], true, "{start}");
    assert_eq!(start["message_authenticator"], false, "{start}");
    assert_eq!(attribute(&start, "Acct-Status-Type"), "Start");
    assert_eq!(attribute(&start, "Acct-Session-Id"), login.acct_session_id);
    assert_eq!(attribute(&start, "Acct-Delay-Time"), "0");
    assert!(start["attributes"]["Event-Timestamp"].is_array(), "{start}");
    router.handle.add_traffic(&login.id, 1_000, 5_000_000_000);
    router.handle.advance(Duration::from_secs(42));
    assert!(
        router
            .handle
            .logout(&login.acct_session_id, TerminateCause::UserRequest)
    );
    let stop = pyrad.next().await;
    assert_eq!(stop["authenticator_ok"], true, "{stop}");
    assert_eq!(attribute(&stop, "Acct-Status-Type"), "Stop");
    assert_eq!(attribute(&stop, "Acct-Terminate-Cause"), "User-Request");
    assert_eq!(attribute(&stop, "Acct-Session-Time"), "42");
    assert_eq!(attribute(&stop, "Acct-Output-Gigawords"), "1");
    assert_eq!(
        attribute(&stop, "Acct-Output-Octets"),
        (5_000_000_000u64 - (1 << 32)).to_string()
    );
    assert_eq!(attribute(&stop, "Acct-Input-Octets"), "1000");

    // The API login sends PAP, which pyrad decrypts; a reject's Reply-Message is the text.
    router
        .handle
        .hotspot_host(None, "aa:bb:cc:00:00:02", Ipv4Addr::new(10, 5, 50, 8));
    let api = router.connect().await;
    api.run(
        &Api::new("/ip/hotspot/active/login")
            .attr("user", "pat")
            .attr("password", "pat-pw")
            .attr("ip", "10.5.50.8"),
    )
    .await
    .unwrap();
    let request = pyrad.next().await;
    assert_eq!(
        (request["method"].as_str(), request["proof_ok"].as_bool()),
        (Some("pap"), Some(true)),
        "{request}"
    );
    let _start = pyrad.next().await;
    let mut page = HotspotLogin::new(
        "pat",
        "nope",
        "aa:bb:cc:00:00:03",
        Ipv4Addr::new(10, 5, 50, 9),
    );
    page.auth = HotspotAuth::HttpPap;
    let refused = router.handle.login_hotspot(page).await.unwrap_err();
    assert_eq!(
        (refused.decided_by, refused.message.as_str()),
        (DecidedBy::Radius, "pyrad says no")
    );
    let request = pyrad.next().await;
    assert_eq!(request["proof_ok"], false);

    // PPPoE: CHAP verified by pyrad, accounted with Acct-Authentic RADIUS; MS-CHAPv2 is well
    // formed, but pyrad sends no MS-CHAP2-Success, so the PPP client refuses the Accept.
    let mut chap = PppLogin::new("pat", "pat-pw", "02:00:00:00:00:05");
    chap.auth = PppAuth::Chap;
    router.handle.login_ppp(chap).await.unwrap();
    let request = pyrad.next().await;
    assert_eq!(request["proof_ok"], true, "{request}");
    for (name, value) in [
        ("Service-Type", "Framed-User"),
        ("Framed-Protocol", "PPP"),
        ("NAS-Port-Type", "Ethernet"),
        ("Called-Station-Id", "service1"),
        ("NAS-Port-Id", "ether2"),
        ("Calling-Station-Id", "02:00:00:00:00:05"),
    ] {
        assert_eq!(attribute(&request, name), value, "{name} in {request}");
    }
    assert!(
        request["attributes"].get("Framed-IP-Address").is_none(),
        "{request}"
    );
    let start = pyrad.next().await;
    assert_eq!(attribute(&start, "Acct-Authentic"), "RADIUS");
    let refused = router
        .handle
        .login_ppp(PppLogin::new("pat", "pat-pw", "02:00:00:00:00:06"))
        .await
        .unwrap_err();
    assert_eq!(refused.decided_by, DecidedBy::Router, "{refused:?}");
    let request = pyrad.next().await;
    assert_eq!(request["method"], "mschapv2");
    assert_eq!(
        attribute(&request, "MS-CHAP2-Response").len(),
        100,
        "50 bytes in hex"
    );
    assert_eq!(
        attribute(&request, "MS-CHAP-Challenge").len(),
        32,
        "16 bytes in hex"
    );

    // The box unreachable: nothing reaches pyrad, and the customer reads the RouterOS text.
    router
        .handle
        .set_unreachable(IpAddr::V4(Ipv4Addr::LOCALHOST), true);
    let silent = router
        .handle
        .login_hotspot(HotspotLogin::new(
            "pat",
            "pat-pw",
            "aa:bb:cc:00:00:04",
            Ipv4Addr::new(10, 5, 50, 10),
        ))
        .await
        .unwrap_err();
    assert_eq!(silent.message, "RADIUS server is not responding");
    assert!(pyrad.seen.try_recv().is_err());
}
