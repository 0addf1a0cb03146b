//! The two paths of a login on a managed router, through the simulated MikroTik's login path
//! against the real `siteboxd`. While the box answers, the local users Sitebox provisioned are
//! disabled, so every login is the box's decision: its MAC binding, devices at once, data cap,
//! time limit and expiry hold for a provisioned customer exactly as on a router that has no
//! local user at all. When the box stops answering, the router's netwatch entry enables the
//! users whose plan has not ended (their limits set from what is left), the router decides
//! alone, and the scheduler's expiry sweep ends a fallback login at most a minute after its
//! plan's end. When the box answers again, the router hands the decision back.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use sitebox_routeros::client::{ClientConfig, Connection, Error as ApiError, Password};
use sitebox_routeros::codec::Command as Api;
use sitebox_routeros::sim::{
    DecidedBy, HotspotLogin, PppLogin, SimClock, SimConfig, SimHandle, Simulator, TerminateCause,
};
use sitebox_tests::ports::free_udp_port;
use sitebox_tests::siteboxd::Siteboxd;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
const HOTSPOT_USER: &str = "/ip/hotspot/user";
/// The bound the design states: the scheduler's sweep runs every minute.
const SWEEP_BOUND: Duration = Duration::from_secs(60);

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
    /// A RouterOS 7.18 router at `address` on a manual clock that starts at the real time
    /// (the box's clock), with an API user for the box.
    async fn start(identity: &str, address: Ipv4Addr) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        let sim = Simulator::new(SimConfig {
            identity: identity.to_owned(),
            users: vec![
                ("admin".into(), "admin".into()),
                ("sitebox".into(), "api-secret".into()),
            ],
            clock: SimClock::manual(i64::try_from(now).expect("now")),
            address,
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
        Self { handle, api, stop }
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

    /// Configured by hand for RADIUS, as an unmanaged router is.
    async fn configure_by_hand(&self, auth: u16, acct: u16, secret: &str) {
        let conn = self.connect().await;
        for command in [
            Api::new("/radius/add")
                .attr("service", "hotspot,ppp")
                .attr("address", "127.0.0.1")
                .attr("secret", secret)
                .attr("authentication-port", auth.to_string())
                .attr("accounting-port", acct.to_string())
                .attr("timeout", "3s"),
            Api::new("/ip/hotspot/profile/set")
                .attr("numbers", "default")
                .attr("use-radius", "yes"),
        ] {
            conn.run(&command).await.expect("configure the router");
        }
    }

    fn prop(&self, name: &str, key: &str) -> Option<String> {
        self.handle.find(HOTSPOT_USER, name).and_then(|item| {
            item.get(key)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    }

    fn session_of(&self, user: &str) -> Option<sitebox_routeros::sim::ActiveSession> {
        self.handle.sessions().into_iter().find(|s| s.user == user)
    }

    fn now_ms(&self) -> i64 {
        self.handle.clock().now_ms()
    }

    /// A login on the login page: `Ok(decided_by)` or `Err((decided_by, message))`.
    async fn login(
        &self,
        user: &str,
        password: &str,
        mac: &str,
        last: u8,
    ) -> Result<(DecidedBy, String), (DecidedBy, String)> {
        self.handle
            .login_hotspot(HotspotLogin::new(
                user,
                password,
                mac,
                Ipv4Addr::new(10, 5, 50, last),
            ))
            .await
            .map(|login| (login.decided_by, login.id))
            .map_err(|refused| (refused.decided_by, refused.message))
    }

    /// The API login (`/ip/hotspot/active/login`) of the host at `ip`/`mac`: the trap's
    /// message when refused.
    async fn api_login(
        &self,
        user: &str,
        password: &str,
        mac: &str,
        last: u8,
    ) -> Result<(), String> {
        let ip = Ipv4Addr::new(10, 5, 50, last);
        self.handle.hotspot_host(None, mac, ip);
        let result = self
            .connect()
            .await
            .run(
                &Api::new("/ip/hotspot/active/login")
                    .attr("user", user)
                    .attr("password", password)
                    .attr("ip", ip.to_string())
                    .attr("mac-address", mac),
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(ApiError::Trap(trap)) => Err(trap.message),
            Err(other) => panic!("the API login failed: {other}"),
        }
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

fn open_sessions(daemon: &Siteboxd, user: &str) -> usize {
    let listed: Json =
        serde_json::from_str(&cli(daemon, &["sessions", "list", "--json"])).expect("json");
    listed
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|s| s["username"].as_str() == Some(user))
                .count()
        })
        .unwrap_or_default()
}

/// Polls (real time) until `check` holds.
async fn until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The plans: each policy rule on its own.
fn plans(daemon: &Siteboxd) {
    for args in [
        &["bind", "--validity", "1d", "--mac-binding"][..],
        &["single", "--validity", "1d", "--shared-users", "1"],
        &[
            "mb",
            "--validity",
            "1d",
            "--data-limit",
            "1MB",
            "--interim",
            "1m",
        ],
        &["minute", "--validity", "1d", "--time-limit", "1m"],
        &["blink", "--validity", "3s"],
        &["home", "--validity", "1d", "--kind", "pppoe"],
        &[
            "hour",
            "--validity",
            "1h",
            "--mac-binding",
            "--data-limit",
            "100MB",
        ],
    ] {
        let mut full = vec!["plans", "add", args[0], "--price", "10"];
        full.extend_from_slice(&args[1..]);
        cli(daemon, &full);
    }
}

fn customer(daemon: &Siteboxd, name: &str, mac: Option<&str>, plan: &str) {
    let password = format!("{name}-pw");
    let mut args = vec!["subscribers", "add", name, "--password", &password];
    if let Some(mac) = mac {
        args.extend(["--mac", mac]);
    }
    cli(daemon, &args);
    cli(daemon, &["subscribers", "grant", name, "--plan", plan]);
}

/// Every rule of the box's policy, tried through `router`'s login path by customers named
/// `{rule}-{tag}`; returns what each attempt came to, for the two routers to be compared.
async fn box_rules(daemon: &Siteboxd, router: &Router, tag: &str) -> Vec<String> {
    let name = |rule: &str| format!("{rule}-{tag}");
    let pw = |rule: &str| format!("{rule}-{tag}-pw");
    let mut seen = Vec::new();
    let mut note = |what: &str, result: Result<(DecidedBy, String), (DecidedBy, String)>| {
        let line = match result {
            Ok((by, _)) => format!("{what}: in ({by:?})"),
            Err((by, message)) => format!("{what}: refused ({by:?}) {message}"),
        };
        seen.push(line);
    };

    // MAC binding: the registered device gets in, another does not.
    let bound = router
        .login(&name("bind"), &pw("bind"), "AA:00:00:00:01:01", 10)
        .await;
    if let Ok((_, id)) = &bound {
        router.handle.logout(id, TerminateCause::UserRequest);
    }
    note("bind, its device", bound);
    note(
        "bind, another device",
        router
            .login(&name("bind"), &pw("bind"), "AA:00:00:00:01:99", 11)
            .await,
    );

    // One device at a time: the second is refused while the first is online.
    let first = router
        .login(&name("single"), &pw("single"), "AA:00:00:00:02:01", 12)
        .await;
    note("single, first device", first);
    until(
        "the first device's Start reached the box",
        Duration::from_secs(10),
        || open_sessions(daemon, &name("single")) == 1,
    )
    .await;
    note(
        "single, second device",
        router
            .login(&name("single"), &pw("single"), "AA:00:00:00:02:02", 13)
            .await,
    );

    // The data cap: the router ends the session at the box's Mikrotik-Total-Limit, and the
    // box refuses the next login.
    let capped = router
        .login(&name("mb"), &pw("mb"), "AA:00:00:00:03:01", 14)
        .await;
    let capped_id = capped.as_ref().map(|(_, id)| id.clone()).ok();
    note("mb, first login", capped);
    until(
        "the capped session's Start reached the box",
        Duration::from_secs(10),
        || open_sessions(daemon, &name("mb")) == 1,
    )
    .await;
    if let Some(id) = capped_id {
        router.handle.add_traffic(&id, 100_000, 950_000);
        assert!(
            router.session_of(&name("mb")).is_none(),
            "the router ends it at the data limit"
        );
    }
    until(
        "the data cap's Stop reached the box",
        Duration::from_secs(10),
        || open_sessions(daemon, &name("mb")) == 0,
    )
    .await;
    note(
        "mb, after the cap",
        router
            .login(&name("mb"), &pw("mb"), "AA:00:00:00:03:01", 14)
            .await,
    );

    // The time limit: the router ends the session at the box's Session-Timeout (a minute on
    // its clock), and the box refuses the next login.
    let timed = router
        .login(&name("minute"), &pw("minute"), "AA:00:00:00:04:01", 15)
        .await;
    note("minute, first login", timed);
    until(
        "the timed session's Start reached the box",
        Duration::from_secs(10),
        || open_sessions(daemon, &name("minute")) == 1,
    )
    .await;
    router.handle.advance(Duration::from_secs(61));
    assert!(router.session_of(&name("minute")).is_none());
    until(
        "the time limit's Stop reached the box",
        Duration::from_secs(10),
        || open_sessions(daemon, &name("minute")) == 0,
    )
    .await;
    note(
        "minute, after the limit",
        router
            .login(&name("minute"), &pw("minute"), "AA:00:00:00:04:01", 15)
            .await,
    );

    // Expiry: the plan's three seconds are over.
    note(
        "blink, after its end",
        router
            .login(&name("blink"), &pw("blink"), "AA:00:00:00:05:01", 16)
            .await,
    );

    // Through the API login too.
    let api = router
        .api_login(&name("bind"), &pw("bind"), "AA:00:00:00:01:98", 17)
        .await;
    seen.push(format!("bind, API login from another device: {api:?}"));
    seen
}

/// Seconds since the epoch in a user comment's `until=`.
fn until_of(comment: &str) -> i64 {
    comment
        .rsplit_once("until=")
        .and_then(|(_, at)| at.parse().ok())
        .unwrap_or_else(|| panic!("no until= in {comment:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_box_decides_while_it_answers_and_the_router_falls_back_within_the_plan() {
    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        "{}\n[expiry]\nsweep_every = \"1s\"\nverify_after = \"30s\"\n\n\
         [provisioning]\nhealth_every = \"2s\"\ncommand_timeout = \"5s\"\nradius_address = \"127.0.0.1\"\n",
        Siteboxd::base_config(dir.path())
    );
    let mut daemon = Siteboxd::start(Path::new(SITEBOXD), dir.path(), &config);
    daemon.wait_for_log("siteboxd running", Duration::from_secs(20));
    let (auth, acct) = daemon.radius_ports();
    plans(&daemon);
    let rules = ["bind", "single", "mb", "minute", "blink"];
    for tag in ["managed", "plain"] {
        for rule in rules {
            let mac = (rule == "bind").then_some("AA:00:00:00:01:01");
            customer(&daemon, &format!("{rule}-{tag}"), mac, rule);
        }
    }
    customer(&daemon, "paying", Some("AA:00:00:00:0A:01"), "hour");
    cli(
        &daemon,
        &[
            "subscribers",
            "add",
            "dial",
            "--password",
            "dial-pw",
            "--kind",
            "pppoe",
        ],
    );
    cli(&daemon, &["subscribers", "grant", "dial", "--plan", "home"]);

    // The managed router is configured and provisioned by the box; the plain one is set up
    // by hand for RADIUS and has no local user.
    let managed = Router::start("gw-managed", Ipv4Addr::new(127, 0, 0, 1)).await;
    let plain = Router::start("gw-plain", Ipv4Addr::new(127, 0, 0, 2)).await;
    cli(
        &daemon,
        &[
            "routers",
            "add",
            "gw-managed",
            "--address",
            "127.0.0.1",
            "--secret",
            "managed-secret",
            "--coa-port",
            &free_udp_port().to_string(),
            "--api-host",
            "127.0.0.1",
            "--api-port",
            &managed.api.port().to_string(),
            "--api-user",
            "sitebox",
            "--api-password",
            "api-secret",
        ],
    );
    cli(
        &daemon,
        &[
            "routers",
            "add",
            "gw-plain",
            "--address",
            "127.0.0.2",
            "--secret",
            "plain-secret",
        ],
    );
    plain.configure_by_hand(auth, acct, "plain-secret").await;
    let names: Vec<String> = ["managed", "plain"]
        .iter()
        .flat_map(|tag| rules.iter().map(move |rule| format!("{rule}-{tag}")))
        .chain(["paying".to_owned()])
        .collect();
    until(
        "every customer provisioned, disabled, with the fallback machinery",
        Duration::from_secs(30),
        || {
            names.iter().all(|n| {
                managed.prop(n, "disabled").as_deref() == Some("true")
                    && managed
                        .prop(n, "comment")
                        .is_some_and(|c| c.starts_with("sitebox "))
            }) && managed
                .handle
                .find("/system/scheduler", "sitebox-expiry")
                .is_some()
                && !managed.handle.items("/tool/netwatch").is_empty()
        },
    )
    .await;
    // What the router may grant alone: the paying customer's remaining plan.
    assert_eq!(
        managed.prop("paying", "mac-address").as_deref(),
        Some("AA:00:00:00:0A:01")
    );
    assert_eq!(
        managed.prop("paying", "limit-bytes-total").as_deref(),
        Some("100000000")
    );
    let limit_uptime = managed
        .prop("paying", "limit-uptime")
        .expect("limit-uptime");
    assert!(
        ["59m", "1h"].iter().any(|p| limit_uptime.starts_with(p)),
        "{limit_uptime}"
    );
    let watch = &managed.handle.items("/tool/netwatch")[0];
    let text = |key: &str| String::from_utf8_lossy(&watch[key]).into_owned();
    assert_eq!(
        (text("type"), text("host"), text("port")),
        (
            "http-get".to_owned(),
            "127.0.0.1".to_owned(),
            daemon.web_addr().port().to_string()
        )
    );

    // The box up: every rule holds through the managed router exactly as through the plain
    // one, each attempt decided by the box (its texts), none by a local user.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let through_managed = box_rules(&daemon, &managed, "managed").await;
    let through_plain = box_rules(&daemon, &plain, "plain").await;
    assert_eq!(through_managed, through_plain);
    let expected = [
        "bind, its device: in (Radius)",
        "bind, another device: refused (Radius) This account is registered to another device",
        "single, first device: in (Radius)",
        "mb, first login: in (Radius)",
        "mb, after the cap: refused (Radius) Your plan's data is used up",
        "minute, first login: in (Radius)",
        "minute, after the limit: refused (Radius) Your plan's time is used up",
        "blink, after its end: refused (Radius) Your plan has expired: buy a new one to continue",
        "bind, API login from another device: Err(\"This account is registered to another device\")",
    ];
    for line in expected {
        assert!(
            through_managed.iter().any(|seen| seen == line),
            "{line:?} not in {through_managed:#?}"
        );
    }
    let second = through_managed
        .iter()
        .find(|l| l.starts_with("single, second device"))
        .expect("single");
    assert!(
        second.contains("refused") && !second.contains("LocalUser"),
        "{second}"
    );
    assert!(
        managed
            .handle
            .login_journal()
            .iter()
            .all(|a| a.decided_by != DecidedBy::LocalUser),
        "no login decided by a local user while the box answers"
    );

    // What the box knows reaches the router: the used-up and ended plans leave no fallback.
    until(
        "the used-up and ended plans provisioned without a fallback",
        Duration::from_secs(30),
        || {
            ["mb-managed", "minute-managed", "blink-managed"]
                .iter()
                .all(|n| managed.prop(n, "comment").as_deref() == Some("sitebox until=0"))
        },
    )
    .await;

    // The box's process dies (RADIUS and its page gone): netwatch sees it down and the down-script
    // enables the local users whose plan runs, and only those.
    daemon.kill9();
    managed.handle.probe_netwatch().await;
    until("the fallback is on", Duration::from_secs(10), || {
        managed.prop("paying", "disabled").as_deref() == Some("false")
    })
    .await;
    assert_eq!(
        String::from_utf8_lossy(&managed.handle.items("/tool/netwatch")[0]["status"]),
        "down"
    );
    // PPPoE too: the secret is enabled and the router decides.
    let dial = managed
        .handle
        .login_ppp(PppLogin::new("dial", "dial-pw", "02:00:00:00:00:07"))
        .await
        .expect("a paying PPPoE customer connects while the box is down");
    assert_eq!(dial.decided_by, DecidedBy::LocalUser);
    for (user, disabled) in [
        ("paying", "false"),
        ("bind-managed", "false"),
        ("single-managed", "false"),
        ("mb-managed", "true"),
        ("minute-managed", "true"),
        ("blink-managed", "true"),
    ] {
        assert_eq!(
            managed.prop(user, "disabled").as_deref(),
            Some(disabled),
            "{user}"
        );
    }

    // A customer whose plan ended is not let in (its user stays disabled, RADIUS is silent).
    let ended = managed
        .login("blink-managed", "blink-managed-pw", "AA:00:00:00:05:01", 30)
        .await
        .unwrap_err();
    assert_eq!(
        ended,
        (
            DecidedBy::RadiusSilent,
            "RADIUS server is not responding".to_owned()
        )
    );

    // Twenty minutes into the outage the paying customer logs in on the router: from the
    // bound device only.
    let until_ms = until_of(&managed.prop("paying", "comment").unwrap()) * 1000;
    managed.handle.advance(Duration::from_secs(20 * 60));
    let other = managed
        .login("paying", "paying-pw", "AA:00:00:00:0A:99", 31)
        .await
        .unwrap_err();
    assert_eq!(
        other,
        (
            DecidedBy::LocalUser,
            "user paying is not allowed to log in from this MAC address".to_owned()
        )
    );
    let (by, _) = managed
        .login("paying", "paying-pw", "AA:00:00:00:0A:01", 32)
        .await
        .expect("a paying customer logs in while the box is down");
    assert_eq!(by, DecidedBy::LocalUser);
    let session = managed.session_of("paying").expect("session");
    assert!(!session.radius);
    // Its limit-uptime alone would let it run past the plan's end.
    let left = session.time_left.expect("limited");
    assert!(
        managed.now_ms() + i64::try_from(left.as_millis()).unwrap() > until_ms + 10 * 60 * 1000,
        "{left:?}"
    );

    // The router's clock runs on: the session lasts while the plan does, and the expiry sweep
    // ends it within a minute of the plan's end.
    let step = Duration::from_secs(5);
    let mut ended_by = None;
    let mut last_seen = managed.now_ms();
    while managed.now_ms() < until_ms + 5 * 60 * 1000 {
        managed.handle.advance(step);
        if managed.session_of("paying").is_none() {
            ended_by = Some(managed.now_ms());
            break;
        }
        last_seen = managed.now_ms();
    }
    let ended_by = ended_by.expect("the fallback session ended");
    assert!(
        last_seen >= until_ms - i64::try_from(step.as_millis()).unwrap(),
        "the session lasted while the plan ran: last seen {last_seen}, plan until {until_ms}"
    );
    assert!(
        ended_by <= until_ms + i64::try_from(SWEEP_BOUND.as_millis()).unwrap(),
        "ended by {ended_by}: more than {SWEEP_BOUND:?} after the plan's end {until_ms}"
    );
    assert_eq!(managed.prop("paying", "disabled").as_deref(), Some("true"));
    let after = managed
        .login("paying", "paying-pw", "AA:00:00:00:0A:01", 32)
        .await
        .unwrap_err();
    assert_eq!(after.0, DecidedBy::RadiusSilent);

    // The box answers again: the up-script hands the decision back to it.
    let runs = daemon.count_log("siteboxd running");
    daemon.restart();
    until("the box runs again", Duration::from_secs(20), || {
        daemon.count_log("siteboxd running") > runs
    })
    .await;
    managed.handle.probe_netwatch().await;
    until("netwatch sees the box up", Duration::from_secs(10), || {
        String::from_utf8_lossy(&managed.handle.items("/tool/netwatch")[0]["status"]) == "up"
    })
    .await;
    for menu in [HOTSPOT_USER, "/ppp/secret"] {
        assert!(
            managed
                .handle
                .items(menu)
                .iter()
                .all(|u| u.get("disabled").map(Vec::as_slice) == Some(b"true".as_slice())),
            "every local user disabled again: {menu}"
        );
    }
    assert!(
        managed.handle.sessions().iter().all(|s| s.radius),
        "the sessions the router granted alone are ended"
    );
    let back = managed
        .login(
            "single-managed",
            "single-managed-pw",
            "AA:00:00:00:02:09",
            40,
        )
        .await;
    assert!(
        matches!(
            back,
            Err((DecidedBy::Radius, _)) | Ok((DecidedBy::Radius, _))
        ),
        "{back:?}"
    );
}
