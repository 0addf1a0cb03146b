//! The simulator decides hotspot and PPPoE logins as RouterOS does, against Sitebox's own RADIUS
//! server (the `sitebox-radius` crate over loopback UDP) as the box: local records first and
//! alone, RADIUS only without one, the RouterOS refusal texts, the attributes a MikroTik sends,
//! the Accept applied to the session, accounting, and Disconnect-Requests from the box.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sitebox_radius::disconnect::{self, DynamicOutcome, RetryPolicy, SessionSelector};
use sitebox_radius::{
    AcceptAttributes, AccessRequest, AccountingRecord, AcctStatusType, AuthMethod, Check, Client,
    Clients, Credential, Decision, Policy, PolicyError, RejectReason, Rejection, Secret, Server,
    ServerConfig, Verification,
};
use sitebox_routeros::client::{ClientConfig, Connection, Error, Password};
use sitebox_routeros::codec::Command;
use sitebox_routeros::sim::{
    AcctStatus, DecidedBy, HotspotAuth, HotspotLogin, PppAuth, PppLogin, SessionKind, SimClock,
    SimConfig, SimHandle, Simulator, TerminateCause,
};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "router-secret";
const MAC: &str = "aa:bb:cc:00:00:01";
const START_MS: i64 = 1_750_000_000_000;

/// What the box decides for a user: the password and the Accept's attributes, or a Reject.
#[derive(Clone)]
enum Verdict {
    Accept(&'static str, AcceptAttributes),
    Reject(&'static str),
}

/// The box: Sitebox's RADIUS server with an in-memory policy that records what it is asked.
#[derive(Default)]
struct BoxPolicy {
    users: Mutex<HashMap<String, Verdict>>,
    asked: Mutex<Vec<AccessRequest>>,
    records: Mutex<Vec<AccountingRecord>>,
}

impl Policy for BoxPolicy {
    async fn login(&self, check: Check) -> Result<Decision, PolicyError> {
        self.asked
            .lock()
            .expect("test setup")
            .push(check.request().clone());
        let verdict = self
            .users
            .lock()
            .expect("test setup")
            .get(&check.request().user_name)
            .cloned();
        Ok(match verdict {
            Some(Verdict::Accept(password, attributes)) => {
                let credential = Credential::Password(Secret::from(password));
                if check.verify(&credential) == Verification::Verified {
                    Decision::Accept(attributes)
                } else {
                    Decision::Reject(Rejection::new(
                        RejectReason::BadCredentials,
                        "Wrong password",
                    ))
                }
            }
            Some(Verdict::Reject(message)) => {
                check.verify(&Credential::UnknownUser);
                Decision::Reject(Rejection::new(RejectReason::Expired, message))
            }
            None => {
                check.verify(&Credential::UnknownUser);
                Decision::Reject(Rejection::new(RejectReason::UnknownUser, ""))
            }
        })
    }

    async fn account(&self, record: &AccountingRecord) -> Result<(), PolicyError> {
        self.records
            .lock()
            .expect("test setup")
            .push(record.clone());
        Ok(())
    }
}

struct TheBox {
    auth: SocketAddr,
    acct: SocketAddr,
    policy: Arc<BoxPolicy>,
    stop: CancellationToken,
}

impl TheBox {
    async fn start(old_nas: bool) -> Self {
        let policy = Arc::new(BoxPolicy::default());
        let clients = Arc::new(Clients::new());
        let mut client = Client::new("gw1", Secret::from(SECRET)).expect("test setup");
        if old_nas {
            client = client.allow_missing_message_authenticator();
        }
        clients.insert(IpAddr::V4(Ipv4Addr::LOCALHOST), client);
        let auth = UdpSocket::bind("127.0.0.1:0").await.expect("test setup");
        let acct = UdpSocket::bind("127.0.0.1:0").await.expect("test setup");
        let (auth_addr, acct_addr) = (
            auth.local_addr().expect("test setup"),
            acct.local_addr().expect("test setup"),
        );
        let server = Server::new(policy.clone(), clients, ServerConfig::default());
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move { server.run(auth, acct, token).await });
        Self {
            auth: auth_addr,
            acct: acct_addr,
            policy,
            stop,
        }
    }

    fn user(&self, name: &str, verdict: Verdict) {
        self.policy
            .users
            .lock()
            .expect("test setup")
            .insert(name.to_owned(), verdict);
    }

    fn asked(&self) -> Vec<AccessRequest> {
        self.policy.asked.lock().expect("test setup").clone()
    }

    fn records(&self) -> Vec<AccountingRecord> {
        self.policy.records.lock().expect("test setup").clone()
    }

    /// Waits (real time) for `n` accounting records.
    async fn wait_records(&self, n: usize) -> Vec<AccountingRecord> {
        for _ in 0..200 {
            let records = self.records();
            if records.len() >= n {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{n} accounting records expected, got {:?}", self.records());
    }
}

impl Drop for TheBox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

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

/// A router on a manual clock with `/radius` pointing at the box (timeout 200 ms) and RADIUS
/// in use for hotspot and PPP.
async fn router(the_box: &TheBox, version: &str) -> Router {
    router_with(
        the_box,
        SimConfig {
            version: version.parse().expect("test setup"),
            ..SimConfig::default()
        },
    )
    .await
}

async fn router_with(the_box: &TheBox, config: SimConfig) -> Router {
    let sim = Simulator::new(SimConfig {
        identity: "gw1".to_owned(),
        clock: SimClock::manual(START_MS),
        ..config
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("test setup");
    let api = listener.local_addr().expect("test setup");
    let stop = CancellationToken::new();
    let handle = sim.handle();
    let token = stop.clone();
    tokio::spawn(async move { sim.serve(listener, token).await });
    let router = Router { handle, api, stop };
    let conn = router.connect().await;
    conn.run(
        &Command::new("/radius/add")
            .attr("service", "hotspot,ppp")
            .attr("address", "127.0.0.1")
            .attr("secret", SECRET)
            .attr("authentication-port", the_box.auth.port().to_string())
            .attr("accounting-port", the_box.acct.port().to_string())
            .attr("timeout", "200ms"),
    )
    .await
    .expect("test setup");
    conn.run(
        &Command::new("/ip/hotspot/profile/set")
            .attr("numbers", "default")
            .attr("use-radius", "yes"),
    )
    .await
    .expect("test setup");
    conn.run(&Command::new("/ppp/aaa/set").attr("use-radius", "yes"))
        .await
        .expect("test setup");
    router
}

impl Router {
    async fn connect(&self) -> Connection {
        let mut config = ClientConfig::new(
            "127.0.0.1",
            self.api.port(),
            "admin",
            Password::new("admin"),
        );
        config.reply_idle_timeout = Duration::from_secs(10);
        Connection::connect(&config).await.expect("test setup")
    }

    async fn run(&self, command: Command) {
        self.connect()
            .await
            .run(&command)
            .await
            .expect("test setup");
    }

    async fn login(&self, user: &str, password: &str, mac: &str, last: u8) -> HotspotLoginResult {
        self.handle
            .login_hotspot(HotspotLogin::new(
                user,
                password,
                mac,
                Ipv4Addr::new(10, 5, 50, last),
            ))
            .await
    }
}

type HotspotLoginResult = Result<sitebox_routeros::sim::Login, sitebox_routeros::sim::LoginRefused>;

fn refused(result: HotspotLoginResult) -> (String, DecidedBy) {
    let refusal = result.expect_err("the login must be refused");
    (refusal.message, refusal.decided_by)
}

#[tokio::test]
async fn a_local_user_decides_alone_even_when_radius_would_say_otherwise() {
    let the_box = TheBox::start(false).await;
    the_box.user(
        "alice",
        Verdict::Accept("box-pw", AcceptAttributes::default()),
    );
    let router = router(&the_box, "7.18").await;
    router
        .run(
            Command::new("/ip/hotspot/user/add")
                .attr("name", "alice")
                .attr("password", "local-pw"),
        )
        .await;

    // The box's password does not help: the local record matched, so RADIUS is not asked.
    let (message, by) = refused(router.login("alice", "box-pw", MAC, 2).await);
    assert_eq!(
        (message.as_str(), by),
        ("invalid username or password", DecidedBy::LocalUser)
    );
    let login = router.login("alice", "local-pw", MAC, 2).await.unwrap();
    assert_eq!(login.decided_by, DecidedBy::LocalUser);
    assert!(
        the_box.asked().is_empty(),
        "RADIUS asked: {:?}",
        the_box.asked()
    );
    let active = router.handle.find("/ip/hotspot/active", "alice").unwrap();
    assert_eq!(active["radius"], b"false");
    assert_eq!(active["mac-address"], b"AA:BB:CC:00:00:01");
    // A local hotspot login sends no accounting (the default choice, see Behaviour).
    router.handle.logout(&login.id, TerminateCause::UserRequest);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(the_box.records().is_empty(), "{:?}", the_box.records());
    assert!(router.handle.accounting_sent().is_empty());
}

#[tokio::test]
async fn local_refusals_carry_the_routeros_texts() {
    let the_box = TheBox::start(false).await;
    let router = router(&the_box, "7.18").await;
    router
        .run(
            Command::new("/ip/hotspot/user/profile/add")
                .attr("name", "two")
                .attr("shared-users", "2"),
        )
        .await;
    for (name, extra) in [
        ("bound", ("mac-address", "AA:BB:CC:00:00:09")),
        ("shared", ("profile", "two")),
        ("timed", ("limit-uptime", "1h")),
        ("capped", ("limit-bytes-total", "1000000")),
    ] {
        router
            .run(
                Command::new("/ip/hotspot/user/add")
                    .attr("name", name)
                    .attr("password", "pw")
                    .attr(extra.0, extra.1),
            )
            .await;
    }

    // MAC binding.
    let (message, by) = refused(router.login("bound", "pw", MAC, 2).await);
    assert_eq!(
        (message.as_str(), by),
        (
            "user bound is not allowed to log in from this MAC address",
            DecidedBy::LocalUser
        )
    );
    router
        .login("bound", "pw", "AA-BB-CC-00-00-09", 3)
        .await
        .unwrap();

    // shared-users=2: a third device is refused.
    router
        .login("shared", "pw", "02:00:00:00:00:01", 10)
        .await
        .unwrap();
    router
        .login("shared", "pw", "02:00:00:00:00:02", 11)
        .await
        .unwrap();
    let (message, _) = refused(router.login("shared", "pw", "02:00:00:00:00:03", 12).await);
    assert_eq!(message, "no more sessions are allowed for user shared");

    // limit-uptime is cumulative: 40 min, then 20 min more ends by Session-Timeout at the
    // hour, and the next login is refused.
    let first = router.login("timed", "pw", MAC, 20).await.unwrap();
    router.handle.advance(Duration::from_secs(40 * 60));
    router.handle.logout(&first.id, TerminateCause::UserRequest);
    let user = router.handle.find("/ip/hotspot/user", "timed").unwrap();
    assert_eq!(user["uptime"], b"40m");
    let second = router.login("timed", "pw", MAC, 20).await.unwrap();
    let session = router
        .handle
        .sessions()
        .into_iter()
        .find(|s| s.id == second.id)
        .unwrap();
    assert_eq!(session.time_left, Some(Duration::from_secs(20 * 60)));
    router.handle.advance(Duration::from_secs(20 * 60));
    assert!(
        router.handle.find("/ip/hotspot/active", "timed").is_none(),
        "the session outlived limit-uptime"
    );
    let user = router.handle.find("/ip/hotspot/user", "timed").unwrap();
    assert_eq!(user["uptime"], b"1h");
    let (message, _) = refused(router.login("timed", "pw", MAC, 20).await);
    assert_eq!(message, "user timed has reached uptime limit");

    // limit-bytes-total: traffic over it ends the session; the counters keep it used.
    let capped = router.login("capped", "pw", MAC, 30).await.unwrap();
    assert!(router.handle.add_traffic(&capped.id, 300_000, 400_000));
    assert!(router.handle.find("/ip/hotspot/active", "capped").is_some());
    assert!(
        router
            .handle
            .add_traffic(&capped.acct_session_id, 100_000, 250_000)
    );
    assert!(router.handle.find("/ip/hotspot/active", "capped").is_none());
    let user = router.handle.find("/ip/hotspot/user", "capped").unwrap();
    assert_eq!(
        (user["bytes-in"].as_slice(), user["bytes-out"].as_slice()),
        (&b"400000"[..], &b"650000"[..])
    );
    let (message, _) = refused(router.login("capped", "pw", MAC, 30).await);
    assert_eq!(message, "user capped has reached traffic limit");
    // reset-counters gives the allowance back.
    router
        .run(Command::new("/ip/hotspot/user/reset-counters").attr("numbers", "capped"))
        .await;
    router.login("capped", "pw", MAC, 30).await.unwrap();

    // None of these asked RADIUS.
    assert!(the_box.asked().is_empty());
}

#[tokio::test]
async fn without_a_matching_record_radius_decides() {
    let the_box = TheBox::start(false).await;
    the_box.user(
        "dora",
        Verdict::Accept("box-pw", AcceptAttributes::default()),
    );
    the_box.user(
        "erin",
        Verdict::Accept("box-pw", AcceptAttributes::default()),
    );
    let router = router(&the_box, "7.18").await;
    router
        .run(
            Command::new("/ip/hotspot/add")
                .attr("name", "hotspot2")
                .attr("interface", "ether1"),
        )
        .await;
    // dora has a local user on another server; erin's is disabled.
    router
        .run(
            Command::new("/ip/hotspot/user/add")
                .attr("name", "dora")
                .attr("password", "local")
                .attr("server", "hotspot2"),
        )
        .await;
    router
        .run(
            Command::new("/ip/hotspot/user/add")
                .attr("name", "erin")
                .attr("password", "local")
                .attr("disabled", "yes"),
        )
        .await;
    let dora = router.login("dora", "box-pw", MAC, 2).await.unwrap();
    assert_eq!(dora.decided_by, DecidedBy::Radius);
    let erin = router
        .login("erin", "box-pw", "02:00:00:00:00:07", 3)
        .await
        .unwrap();
    assert_eq!(erin.decided_by, DecidedBy::Radius);
    assert_eq!(the_box.asked().len(), 2);
    // Nobody at all, and the box has never heard of them either.
    let (message, by) = refused(router.login("nobody", "x", MAC, 4).await);
    assert_eq!(
        (message.as_str(), by),
        ("invalid username or password", DecidedBy::Radius)
    );
    // Without use-radius, no record is the end of it.
    router
        .run(
            Command::new("/ip/hotspot/profile/set")
                .attr("numbers", "default")
                .attr("use-radius", "no"),
        )
        .await;
    let (message, by) = refused(router.login("dora", "box-pw", MAC, 5).await);
    assert_eq!(
        (message.as_str(), by),
        ("invalid username or password", DecidedBy::NoRecord)
    );
    assert_eq!(the_box.asked().len(), 3);
}

#[tokio::test]
async fn the_access_request_carries_what_a_mikrotik_sends_and_the_accept_is_applied() {
    let the_box = TheBox::start(false).await;
    the_box.user(
        "bob",
        Verdict::Accept(
            "flopsy",
            AcceptAttributes {
                session_timeout: Some(600),
                acct_interim_interval: Some(60),
                rate_limit: Some("1M/2M".into()),
                total_limit: Some(6_000_000_000),
                class: Some(b"sitebox:42".to_vec()),
                ..AcceptAttributes::default()
            },
        ),
    );
    let router = router(&the_box, "7.18").await;
    let login = router.login("bob", "flopsy", MAC, 7).await.unwrap();
    assert_eq!(login.decided_by, DecidedBy::Radius);
    assert!(
        login.acct_session_id.starts_with("801"),
        "{}",
        login.acct_session_id
    );

    let asked = the_box.asked();
    let request = &asked[0];
    assert_eq!(request.nas.identifier.as_deref(), Some("gw1"));
    assert_eq!(request.nas.ip_address, Some(Ipv4Addr::LOCALHOST));
    assert_eq!(request.called_station_id.as_deref(), Some("hotspot1"));
    assert_eq!(
        request.calling_station_id.as_deref(),
        Some("AA:BB:CC:00:00:01")
    );
    assert_eq!(request.nas_port_type, Some(19));
    assert_eq!(request.nas_port_id.as_deref(), Some("bridge-hotspot"));
    assert_eq!(request.service_type, Some(1));
    assert_eq!(request.framed_ip, Some(Ipv4Addr::new(10, 5, 50, 7)));
    assert_eq!(
        request.acct_session_id.as_deref(),
        Some(login.acct_session_id.as_str())
    );
    assert_eq!(request.method, AuthMethod::Chap);

    // The Accept, applied: time left, the rate limit's dynamic queue, the data limit.
    let session = &router.handle.sessions()[0];
    assert!(session.radius);
    assert_eq!(session.time_left, Some(Duration::from_secs(600)));
    assert_eq!(session.limit_bytes_total, Some(6_000_000_000));
    assert_eq!(session.interim, Some(Duration::from_secs(60)));
    let queue = router
        .handle
        .find("/queue/simple", "<hotspot-bob>")
        .unwrap();
    assert_eq!(queue["max-limit"], b"1M/2M");
    assert_eq!(queue["target"], b"10.5.50.7/32");

    // Accounting: Start, an Interim a minute later, Stop when the data limit is used up,
    // with the octets split into gigawords.
    let start = &the_box.wait_records(1).await[0];
    assert_eq!(start.status, AcctStatusType::Start);
    assert_eq!(start.session_id, login.acct_session_id.as_bytes());
    assert_eq!(start.class.as_deref(), Some(&b"sitebox:42"[..]));
    assert_eq!(start.nas.identifier.as_deref(), Some("gw1"));
    router
        .handle
        .add_traffic(&login.id, 1_000_000_000, 4_500_000_000);
    router.handle.advance(Duration::from_secs(61));
    let interim = &the_box.wait_records(2).await[1];
    assert_eq!(interim.status, AcctStatusType::InterimUpdate);
    assert_eq!(
        (interim.input_octets, interim.output_octets),
        (1_000_000_000, 4_500_000_000)
    );
    assert_eq!(interim.session_time, Some(61));
    router.handle.add_traffic(&login.id, 0, 600_000_000);
    assert!(
        router.handle.sessions().is_empty(),
        "over Mikrotik-Total-Limit"
    );
    assert!(
        router
            .handle
            .find("/queue/simple", "<hotspot-bob>")
            .is_none()
    );
    let stop = &the_box.wait_records(3).await[2];
    assert_eq!(stop.status, AcctStatusType::Stop);
    assert_eq!(
        stop.terminate_cause,
        Some(TerminateCause::NasRequest.value())
    );
    assert_eq!(stop.output_octets, 5_100_000_000);
    let sent = router.handle.accounting_sent();
    assert!(sent.iter().all(|s| s.answered && s.sends == 1), "{sent:?}");
    assert_eq!(
        sent.iter().map(|s| s.status).collect::<Vec<_>>(),
        [
            AcctStatus::Start,
            AcctStatus::Interim,
            AcctStatus::Stop(TerminateCause::NasRequest)
        ]
    );
}

#[tokio::test]
async fn session_timeout_and_reject_messages() {
    let the_box = TheBox::start(false).await;
    the_box.user(
        "carol",
        Verdict::Accept(
            "pw",
            AcceptAttributes {
                session_timeout: Some(300),
                ..AcceptAttributes::default()
            },
        ),
    );
    the_box.user("expired", Verdict::Reject("Your plan has expired"));
    let router = router(&the_box, "7.18").await;
    let (message, by) = refused(router.login("expired", "pw", MAC, 2).await);
    assert_eq!(
        (message.as_str(), by),
        ("Your plan has expired", DecidedBy::Radius)
    );
    // A wrong password: the box's Reply-Message replaces the stock text.
    let (message, _) = refused(router.login("carol", "nope", MAC, 2).await);
    assert_eq!(message, "Wrong password");
    let mut page = HotspotLogin::new("carol", "pw", MAC, Ipv4Addr::new(10, 5, 50, 3));
    page.auth = HotspotAuth::HttpPap;
    router.handle.login_hotspot(page).await.unwrap();
    assert_eq!(the_box.asked().last().unwrap().method, AuthMethod::Pap);
    router.handle.advance(Duration::from_secs(299));
    assert_eq!(router.handle.sessions().len(), 1);
    router.handle.advance(Duration::from_secs(1));
    assert!(router.handle.sessions().is_empty());
    let stop = &the_box.wait_records(2).await[1];
    assert_eq!(
        stop.terminate_cause,
        Some(TerminateCause::SessionTimeout.value())
    );
    assert_eq!(stop.session_time, Some(300));
}

#[tokio::test]
async fn a_silent_box_is_radius_server_is_not_responding() {
    let the_box = TheBox::start(false).await;
    the_box.user("dave", Verdict::Accept("pw", AcceptAttributes::default()));
    let router = router(&the_box, "7.18").await;
    router
        .handle
        .set_unreachable(IpAddr::V4(Ipv4Addr::LOCALHOST), true);
    let started = std::time::Instant::now();
    let (message, by) = refused(router.login("dave", "pw", MAC, 2).await);
    assert_eq!(
        (message.as_str(), by),
        ("RADIUS server is not responding", DecidedBy::RadiusSilent)
    );
    // Three sends 200 ms apart.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let monitor = router.handle.radius_monitor();
    assert_eq!(
        (monitor.requests, monitor.resends, monitor.timeouts),
        (1, 2, 1),
        "{monitor:?}"
    );
    assert!(the_box.asked().is_empty());
    // A second login from the same host while the first waits for RADIUS.
    let (first, second) = tokio::join!(router.login("dave", "pw", MAC, 3), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        router.login("dave", "pw", MAC, 3).await
    });
    assert_eq!(refused(first).1, DecidedBy::RadiusSilent);
    assert_eq!(
        refused(second),
        (
            "already authorizing, retry later".to_owned(),
            DecidedBy::Router
        )
    );
    // A caller that gives up half way does not leave the host stuck.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        router.login("dave", "pw", MAC, 4),
    )
    .await;
    assert!(abandoned.is_err());
    router
        .handle
        .set_unreachable(IpAddr::V4(Ipv4Addr::LOCALHOST), false);
    router.login("dave", "pw", MAC, 4).await.unwrap();
    let journal = router.handle.login_journal();
    assert_eq!(
        journal.iter().map(|a| a.decided_by).collect::<Vec<_>>(),
        [
            DecidedBy::RadiusSilent,
            DecidedBy::Router,
            DecidedBy::RadiusSilent,
            DecidedBy::Radius
        ]
    );
}

/// A RADIUS server that answers every Access-Request with an Access-Accept whose Response
/// Authenticator is right but which has no Message-Authenticator (an old FreeRADIUS).
async fn unsigned_acceptor() -> (SocketAddr, CancellationToken) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("test setup");
    let address = socket.local_addr().expect("test setup");
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let (n, from) = tokio::select! {
                () = token.cancelled() => return,
                received = socket.recv_from(&mut buffer) => received.expect("test setup"),
            };
            let request = &buffer[..n];
            let mut reply = vec![2, request[1], 0, 20];
            reply.extend_from_slice(&request[4..20]);
            use md5::Digest;
            let mut hasher = md5::Md5::new();
            hasher.update(&reply);
            hasher.update(SECRET.as_bytes());
            let digest: [u8; 16] = hasher.finalize().into();
            reply[4..20].copy_from_slice(&digest);
            socket.send_to(&reply, from).await.expect("test setup");
        }
    });
    (address, stop)
}

#[tokio::test]
async fn from_7_15_replies_without_message_authenticator_are_dropped() {
    let (acceptor, stop) = unsigned_acceptor().await;
    let the_box = TheBox {
        auth: acceptor,
        acct: acceptor,
        policy: Arc::default(),
        stop,
    };
    let new = router(&the_box, "7.15").await;
    let (message, _) = refused(new.login("eve", "pw", MAC, 2).await);
    assert_eq!(message, "RADIUS server is not responding");
    assert_eq!(new.handle.radius_monitor().bad_replies, 3);
    let radius = &new.handle.items("/radius")[0];
    assert_eq!(radius["require-message-auth"], b"yes-for-request-resp");
    assert_eq!(radius["timeout"], b"200ms");

    // With require-message-auth=no, or before 7.15, the same reply is taken.
    new.run(
        Command::new("/radius/set")
            .attr("numbers", "*1")
            .attr("require-message-auth", "no"),
    )
    .await;
    new.login("eve", "pw", MAC, 2).await.unwrap();
    let old = router(&the_box, "7.14").await;
    old.login("eve", "pw", MAC, 2).await.unwrap();
    let refusal = old
        .connect()
        .await
        .run(
            &Command::new("/radius/set")
                .attr("numbers", "*1")
                .attr("require-message-auth", "no"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refusal, Error::Trap(trap) if trap.message == "unknown parameter require-message-auth"),
        "{refusal:?}"
    );
}

#[tokio::test]
async fn the_api_login_needs_a_host_and_active_remove_is_admin_reset() {
    let the_box = TheBox::start(false).await;
    the_box.user("fay", Verdict::Accept("pw", AcceptAttributes::default()));
    let router = router(&the_box, "7.18").await;
    let conn = router.connect().await;
    let login = Command::new("/ip/hotspot/active/login")
        .attr("user", "fay")
        .attr("password", "pw")
        .attr("ip", "10.5.50.9");
    let error = conn.run(&login).await.unwrap_err();
    assert!(
        matches!(&error, Error::Trap(trap) if trap.message == "unknown host IP"),
        "{error:?}"
    );
    router
        .handle
        .hotspot_host(None, MAC, Ipv4Addr::new(10, 5, 50, 9));
    conn.run(&login).await.unwrap();
    // The API login sends PAP (the router holds the password).
    assert_eq!(the_box.asked()[0].method, AuthMethod::Pap);
    let active = conn
        .run(&Command::new("/ip/hotspot/active/print"))
        .await
        .unwrap();
    assert_eq!(active.rows.len(), 1);
    let row = &active.rows[0];
    assert_eq!(row.string("user").as_deref(), Some("fay"));
    assert_eq!(row.string("radius").as_deref(), Some("true"));
    let host = &router.handle.items("/ip/hotspot/host")[0];
    assert_eq!(host["authorized"], b"true");
    the_box.wait_records(1).await;
    conn.run(&Command::new("/ip/hotspot/active/remove").attr(".id", row.id().unwrap()))
        .await
        .unwrap();
    let stop = &the_box.wait_records(2).await[1];
    assert_eq!(
        stop.terminate_cause,
        Some(TerminateCause::AdminReset.value())
    );
    let host = &router.handle.items("/ip/hotspot/host")[0];
    assert_eq!(host["authorized"], b"false");
}

#[tokio::test]
async fn ppp_logins_local_secret_first_then_radius_with_ms_chap_v2() {
    let the_box = TheBox::start(false).await;
    the_box.user(
        "gus",
        Verdict::Accept(
            "box-pw",
            AcceptAttributes {
                framed_ip: Some(Ipv4Addr::new(10, 77, 0, 5)),
                ..AcceptAttributes::default()
            },
        ),
    );
    let router = router(&the_box, "7.18").await;
    router
        .run(
            Command::new("/ppp/secret/add")
                .attr("name", "hal")
                .attr("password", "pw")
                .attr("service", "pppoe")
                .attr("caller-id", "AA:BB:CC:00:00:01")
                .attr("remote-address", "10.66.0.2"),
        )
        .await;
    let hal = router
        .handle
        .login_ppp(PppLogin::new("hal", "pw", MAC))
        .await
        .unwrap();
    assert_eq!(
        (hal.decided_by, hal.address),
        (DecidedBy::LocalUser, Ipv4Addr::new(10, 66, 0, 2))
    );
    assert!(
        hal.acct_session_id.starts_with("811"),
        "{}",
        hal.acct_session_id
    );
    let refused = router
        .handle
        .login_ppp(PppLogin::new("hal", "pw", "02:00:00:00:00:02"))
        .await
        .unwrap_err();
    assert_eq!(refused.decided_by, DecidedBy::LocalUser);
    assert!(refused.message.contains("caller id"), "{}", refused.message);
    // Local PPP logins are accounted (Acct-Authentic Local).
    let start = &the_box.wait_records(1).await[0];
    assert_eq!(
        (start.status, start.user_name.as_deref()),
        (AcctStatusType::Start, Some("hal"))
    );

    let gus = router
        .handle
        .login_ppp(PppLogin::new("gus", "box-pw", "02:00:00:00:00:03"))
        .await
        .unwrap();
    assert_eq!(
        (gus.decided_by, gus.address),
        (DecidedBy::Radius, Ipv4Addr::new(10, 77, 0, 5))
    );
    let request = the_box.asked().pop().unwrap();
    assert_eq!(request.method, AuthMethod::MsChapV2);
    assert_eq!(request.service_type, Some(2));
    assert_eq!(request.nas_port_type, Some(15));
    assert_eq!(request.called_station_id.as_deref(), Some("service1"));
    assert_eq!(request.nas_port_id.as_deref(), Some("ether2"));
    let wrong = router
        .handle
        .login_ppp(PppLogin::new("gus", "guess", "02:00:00:00:00:03"))
        .await
        .unwrap_err();
    assert_eq!(wrong.decided_by, DecidedBy::Radius);
    let mut chap = PppLogin::new("gus", "box-pw", "02:00:00:00:00:04");
    chap.auth = PppAuth::Chap;
    router.handle.login_ppp(chap).await.unwrap();
    let sessions = router.handle.sessions();
    assert_eq!(
        sessions
            .iter()
            .filter(|s| s.kind == SessionKind::Ppp)
            .count(),
        3
    );
    let active = router.handle.items("/ppp/active");
    assert_eq!(active.len(), 3);
}

#[tokio::test]
async fn a_disconnect_request_from_the_box_ends_the_session() {
    let the_box = TheBox::start(false).await;
    the_box.user("ivy", Verdict::Accept("pw", AcceptAttributes::default()));
    let router = router(&the_box, "7.18").await;
    let port = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    router
        .run(
            Command::new("/radius/incoming/set")
                .attr("accept", "yes")
                .attr("port", port.to_string()),
        )
        .await;
    let login = router.login("ivy", "pw", MAC, 4).await.unwrap();
    the_box.wait_records(1).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let retry = RetryPolicy {
        timeout: Duration::from_millis(300),
        attempts: 10,
    };
    let selector = SessionSelector {
        user_name: Some("ivy".into()),
        acct_session_id: Some(login.acct_session_id.clone().into_bytes()),
        ..SessionSelector::default()
    };
    let outcome = disconnect::disconnect(&socket, target, &Secret::from(SECRET), &selector, retry)
        .await
        .unwrap();
    assert_eq!(outcome, DynamicOutcome::Ack);
    assert!(router.handle.sessions().is_empty());
    let stop = &the_box.wait_records(2).await[1];
    assert_eq!(
        stop.terminate_cause,
        Some(TerminateCause::AdminReset.value())
    );
    // The session is gone now: NAK with Session-Context-Not-Found.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let outcome = disconnect::disconnect(&socket, target, &Secret::from(SECRET), &selector, retry)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        DynamicOutcome::Nak {
            error_cause: Some(503)
        }
    );
    // A wrong secret gets nothing at all.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let quick = RetryPolicy {
        timeout: Duration::from_millis(200),
        attempts: 1,
    };
    assert!(
        disconnect::disconnect(&socket, target, &Secret::from("wrong"), &selector, quick)
            .await
            .is_err()
    );
    assert_eq!(router.handle.radius_monitor().incoming_dropped, 1);
}

#[tokio::test]
async fn unanswered_accounting_is_resent_with_the_same_bytes() {
    let mut the_box = TheBox::start(false).await;
    the_box.user("jo", Verdict::Accept("pw", AcceptAttributes::default()));
    // Accounting goes to a socket that reads but never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    the_box.acct = silent.local_addr().unwrap();
    let config = SimConfig {
        behaviour: sitebox_routeros::sim::Behaviour {
            accounting_resend_every: Duration::from_millis(100),
            accounting_sends_per_server: 3,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let router = router_with(&the_box, config).await;
    router.login("jo", "pw", MAC, 2).await.unwrap();
    let mut copies = Vec::new();
    let mut buffer = vec![0u8; 4096];
    for _ in 0..3 {
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), silent.recv_from(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        copies.push(buffer[..n].to_vec());
    }
    assert!(
        copies.windows(2).all(|w| w[0] == w[1]),
        "retransmits differ"
    );
    assert_eq!(copies[0][0], 4, "Accounting-Request");
    // After the last send the record is given up and counted.
    for _ in 0..40 {
        if router.handle.radius_monitor().accounting_dropped == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let sent = router.handle.accounting_sent();
    assert_eq!((sent[0].sends, sent[0].answered), (3, false), "{sent:?}");
    assert_eq!(router.handle.radius_monitor().accounting_dropped, 1);
}

#[tokio::test]
async fn radius_users_get_the_default_profiles_shared_users_unless_port_limit_says_more() {
    let the_box = TheBox::start(false).await;
    the_box.user("kim", Verdict::Accept("pw", AcceptAttributes::default()));
    the_box.user(
        "lee",
        Verdict::Accept(
            "pw",
            AcceptAttributes {
                extra: vec![sitebox_radius::Attribute::integer(62, 2)],
                ..AcceptAttributes::default()
            },
        ),
    );
    let router = router(&the_box, "7.18").await;
    router.login("kim", "pw", MAC, 2).await.unwrap();
    // The box accepts the second device, the router's `default` profile (shared-users=1)
    // does not.
    let (message, by) = refused(router.login("kim", "pw", "02:00:00:00:00:02", 3).await);
    assert_eq!(
        (message.as_str(), by),
        (
            "no more sessions are allowed for user kim",
            DecidedBy::Router
        )
    );
    assert_eq!(the_box.asked().len(), 2);
    // Port-Limit 2 overrides it.
    router.login("lee", "pw", MAC, 4).await.unwrap();
    router
        .login("lee", "pw", "02:00:00:00:00:05", 5)
        .await
        .unwrap();
    let (message, _) = refused(router.login("lee", "pw", "02:00:00:00:00:06", 6).await);
    assert_eq!(message, "no more sessions are allowed for user lee");
}

#[tokio::test]
async fn coa_changes_a_session_and_idle_timeouts_end_sessions() {
    let the_box = TheBox::start(false).await;
    the_box.user(
        "mia",
        Verdict::Accept(
            "pw",
            AcceptAttributes {
                rate_limit: Some("1M/2M".into()),
                idle_timeout: Some(300),
                ..AcceptAttributes::default()
            },
        ),
    );
    let router = router(&the_box, "7.18").await;
    let port = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    router
        .run(
            Command::new("/radius/incoming/set")
                .attr("accept", "yes")
                .attr("port", port.to_string()),
        )
        .await;
    let login = router.login("mia", "pw", MAC, 2).await.unwrap();
    // Let the router's own loop bind /radius incoming.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let outcome = disconnect::send(
        &socket,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        &Secret::from(SECRET),
        disconnect::DynamicKind::Coa,
        vec![
            sitebox_radius::Attribute::text(1, "mia").unwrap(),
            sitebox_radius::Attribute::vendor(14988, 8, b"5M/10M").unwrap(),
            sitebox_radius::Attribute::integer(27, 3600),
        ],
        RetryPolicy {
            timeout: Duration::from_millis(300),
            attempts: 5,
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome, DynamicOutcome::Ack);
    let queue = router
        .handle
        .find("/queue/simple", "<hotspot-mia>")
        .unwrap();
    assert_eq!(queue["max-limit"], b"5M/10M");
    let session = &router.handle.sessions()[0];
    assert_eq!(session.time_left, Some(Duration::from_secs(3600)));
    // Traffic keeps it alive; 300 s without any ends it with Idle-Timeout.
    router.handle.advance(Duration::from_secs(200));
    router.handle.add_traffic(&login.id, 10, 10);
    router.handle.advance(Duration::from_secs(200));
    assert_eq!(router.handle.sessions().len(), 1);
    router.handle.advance(Duration::from_secs(100));
    assert!(router.handle.sessions().is_empty());
    let stop = &the_box.wait_records(2).await[1];
    assert_eq!(
        stop.terminate_cause,
        Some(TerminateCause::IdleTimeout.value())
    );
    assert_eq!(stop.session_time, Some(500));
}

#[tokio::test]
async fn a_power_cut_loses_sessions_without_a_stop_and_without_their_counters() {
    let the_box = TheBox::start(false).await;
    the_box.user("ned", Verdict::Accept("pw", AcceptAttributes::default()));
    let router = router(&the_box, "7.18").await;
    router
        .run(
            Command::new("/ip/hotspot/user/add")
                .attr("name", "ola")
                .attr("password", "pw")
                .attr("limit-uptime", "1h"),
        )
        .await;
    router
        .run(
            Command::new("/ppp/aaa/set")
                .attr("interim-update", "5m")
                .attr("use-radius", "no"),
        )
        .await;
    router
        .run(
            Command::new("/ppp/secret/add")
                .attr("name", "pia")
                .attr("password", "pw"),
        )
        .await;
    let radius = router.login("ned", "pw", MAC, 2).await.unwrap();
    router
        .login("ola", "pw", "02:00:00:00:00:03", 3)
        .await
        .unwrap();
    router
        .handle
        .login_ppp(PppLogin::new("pia", "pw", "02:00:00:00:00:04"))
        .await
        .unwrap();
    router.handle.advance(Duration::from_secs(301));
    // Start ned, Start pia, Interim pia (local PPP logins are accounted; /ppp aaa interim-update).
    let records = the_box.wait_records(3).await;
    let mut seen: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r.user_name.clone().unwrap_or_default(),
                format!("{:?}", r.status),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("ned".to_owned(), "Start".to_owned()),
            ("pia".to_owned(), "InterimUpdate".to_owned()),
            ("pia".to_owned(), "Start".to_owned()),
        ]
    );
    router.handle.power_off();
    assert!(router.handle.sessions().is_empty());
    let ola = router.handle.find("/ip/hotspot/user", "ola").unwrap();
    assert_eq!(
        ola["uptime"], b"0s",
        "a hard reboot gives the session's time back"
    );
    router.handle.power_on();
    let again = router.login("ned", "pw", MAC, 2).await.unwrap();
    assert_ne!(again.acct_session_id, radius.acct_session_id);
    assert!(
        again.acct_session_id.starts_with("802"),
        "{}",
        again.acct_session_id
    );
    let records = the_box.wait_records(4).await;
    assert!(
        records.iter().all(|r| r.status != AcctStatusType::Stop),
        "{records:?}"
    );
}
