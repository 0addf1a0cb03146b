//! The client against the simulator: login modes, tags, traps, `!empty`, API-SSL pinning, and
//! every fault the simulator can inject.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sitebox_routeros::client::{
    ClientConfig, Connection, Error, Password, ReconnectPolicy, Router,
};
use sitebox_routeros::codec::{Codepage, Command, Decoder, Limits, Reply, ReplyKind};
use sitebox_routeros::ops::{self, Ensured, HotspotUserSpec};
use sitebox_routeros::sim::{RouterOsVersion, SimConfig, SimHandle, SimTls, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

struct Running {
    addr: SocketAddr,
    handle: SimHandle,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(version: &str) -> Running {
    let sim = Simulator::new(SimConfig {
        version: version.parse().expect("version"),
        ..SimConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    let handle = sim.handle();
    let token = shutdown.clone();
    tokio::spawn(async move { sim.serve(listener, token).await });
    Running {
        addr,
        handle,
        shutdown,
    }
}

fn config(addr: SocketAddr) -> ClientConfig {
    let mut config = ClientConfig::new("127.0.0.1", addr.port(), "admin", Password::new("admin"));
    config.reply_idle_timeout = Duration::from_secs(5);
    config.reconnect = ReconnectPolicy {
        attempts: 2,
        base: Duration::from_millis(20),
        max: Duration::from_millis(50),
    };
    config
}

fn user(name: &str) -> HotspotUserSpec {
    HotspotUserSpec {
        name: name.to_owned(),
        password: Some(Password::new("pw")),
        profile: Some("default".to_owned()),
        ..HotspotUserSpec::default()
    }
}

#[tokio::test]
async fn plain_login_add_and_print_with_query() {
    let sim = start("7.16").await;
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    for name in ["alice", "bob", "carol"] {
        let id = conn
            .run(
                &Command::new("/ip/hotspot/user/add")
                    .attr("name", name)
                    .attr("password", "x"),
            )
            .await
            .unwrap()
            .ret()
            .unwrap();
        assert!(id.starts_with('*'), "{id}");
    }
    let rows = conn
        .run(
            &Command::new("/ip/hotspot/user/print")
                .proplist(&["name", "server"])
                .where_eq("name", "alice")
                .where_eq("name", "carol")
                .where_ops("|"),
        )
        .await
        .unwrap()
        .rows;
    let names: Vec<String> = rows.iter().map(|r| r.string("name").unwrap()).collect();
    assert_eq!(names, ["alice", "carol"]);
    assert_eq!(rows[0].string("server").as_deref(), Some("all"));
    assert!(rows[0].get(".id").is_none(), "proplist leaves out .id");
    assert_eq!(sim.handle.logins(), 1);
}

#[tokio::test]
async fn legacy_challenge_login_on_an_old_router() {
    let sim = start("6.42.12").await;
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    assert_eq!(ops::identity(&conn).await.unwrap(), "MikroTik");
    let resource = ops::system_resource(&conn).await.unwrap();
    assert_eq!(resource.version, "6.42.12 (stable)");
}

#[tokio::test]
async fn wrong_password_is_refused_in_both_login_modes() {
    for version in ["7.18", "6.40"] {
        let sim = start(version).await;
        let mut bad = config(sim.addr);
        bad.password = Password::new("wrong");
        match Connection::connect(&bad).await {
            Err(Error::LoginRefused(message)) => assert!(!message.is_empty()),
            other => panic!("{version}: expected a refused login, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn tagged_commands_interleave_on_one_connection() {
    let sim = start("7.18").await;
    sim.handle.fill_hotspot_users("bulk", 500);
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let rows = conn
                    .run(&Command::new("/ip/hotspot/user/print"))
                    .await
                    .unwrap()
                    .rows;
                assert!(rows.len() >= 500);
            } else {
                let name = format!("tagged{i}");
                ops::ensure_hotspot_user(&conn, &user(&name)).await.unwrap();
                let found = ops::hotspot_user(&conn, &name).await.unwrap().unwrap();
                assert_eq!(found.name, name);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(sim.handle.connections_accepted(), 1);
}

#[tokio::test]
async fn trap_is_a_result_and_the_connection_goes_on() {
    let sim = start("7.18").await;
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    let add = Command::new("/ip/hotspot/user/add").attr("name", "dup");
    conn.run(&add).await.unwrap();
    let cases = [
        (
            add.clone(),
            "failure: already have user with this name for this server",
        ),
        (
            Command::new("/ip/hotspot/user/add")
                .attr("name", "x")
                .attr("profile", "no-such-plan"),
            "input does not match any value of profile",
        ),
        (
            Command::new("/ip/hotspot/user/remove").attr(".id", "*FFFF"),
            "no such item",
        ),
        (
            Command::new("/queue/simple/add")
                .attr("name", "q")
                .attr("target", "10.0.0.1/32"),
            "",
        ),
        (
            Command::new("/queue/simple/add")
                .attr("name", "q")
                .attr("target", "10.0.0.2/32"),
            "failure: already have such name",
        ),
    ];
    for (command, message) in cases {
        let result = conn.run(&command).await;
        if message.is_empty() {
            result.unwrap();
            continue;
        }
        match result {
            Err(Error::Trap(trap)) => assert_eq!(trap.message, message),
            other => panic!("expected a trap {message:?}, got {other:?}"),
        }
        assert!(!conn.is_closed());
        assert_eq!(ops::identity(&conn).await.unwrap(), "MikroTik");
    }
}

/// Logs in on a raw socket and returns the replies to one print, to see the exact reply words.
async fn raw_print_replies(addr: SocketAddr, query: &str) -> Vec<Reply> {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    let mut decoder = Decoder::new(Limits::SESSION);
    let login = Command::new("/login")
        .attr("name", "admin")
        .attr("password", "admin");
    socket
        .write_all(&login.to_sentence(None).to_bytes().expect("login sentence"))
        .await
        .expect("send login");
    let print = Command::new("/ip/hotspot/user/print").where_eq("name", query);
    socket
        .write_all(
            &print
                .to_sentence(Some("t1"))
                .to_bytes()
                .expect("print sentence"),
        )
        .await
        .expect("send print");
    let mut replies = Vec::new();
    let mut buf = [0u8; 4096];
    while replies.len() < 10 {
        while let Some(sentence) = decoder.decode().expect("decode") {
            let reply = Reply::from_sentence(sentence);
            let tagged_done = reply.kind == ReplyKind::Done && reply.tag.is_some();
            replies.push(reply);
            if tagged_done {
                return replies;
            }
        }
        let n = socket.read(&mut buf).await.expect("read");
        assert!(n > 0, "simulator closed early");
        decoder.feed(&buf[..n]);
    }
    replies
}

#[tokio::test]
async fn empty_reply_only_from_7_18() {
    let sim = start("7.18").await;
    let replies = raw_print_replies(sim.addr, "nobody").await;
    let kinds: Vec<_> = replies.iter().map(|r| r.kind.clone()).collect();
    assert_eq!(kinds, [ReplyKind::Done, ReplyKind::Empty, ReplyKind::Done]);
    assert_eq!(replies[1].tag.as_deref(), Some(&b"t1"[..]));

    sim.handle.set_version(RouterOsVersion::new(7, 17, 2));
    let kinds: Vec<_> = raw_print_replies(sim.addr, "nobody")
        .await
        .iter()
        .map(|r| r.kind.clone())
        .collect();
    assert_eq!(kinds, [ReplyKind::Done, ReplyKind::Done]);

    sim.handle.set_version(RouterOsVersion::new(7, 18, 0));
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    assert!(ops::hotspot_users(&conn).await.unwrap().is_empty());
}

async fn start_tls() -> (Running, SimTls) {
    let sim = Simulator::new(SimConfig::default());
    let tls = SimTls::generate().expect("certificate");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    let handle = sim.handle();
    let (token, served) = (shutdown.clone(), tls.clone());
    tokio::spawn(async move { sim.serve_tls(listener, served, token).await });
    (
        Running {
            addr,
            handle,
            shutdown,
        },
        tls,
    )
}

#[tokio::test]
async fn api_ssl_with_the_right_pin_connects() {
    let (sim, tls) = start_tls().await;
    let mut config = config(sim.addr);
    config.tls = Some(tls.fingerprint());
    let conn = Connection::connect(&config).await.unwrap();
    assert_eq!(ops::identity(&conn).await.unwrap(), "MikroTik");
}

#[tokio::test]
async fn api_ssl_with_a_wrong_pin_is_refused() {
    let (sim, _tls) = start_tls().await;
    let mut config = config(sim.addr);
    config.tls = Some("00".repeat(32).parse().unwrap());
    match Connection::connect(&config).await {
        Err(Error::Tls { reason, .. }) => assert!(reason.contains("fingerprint"), "{reason}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert_eq!(sim.handle.logins(), 0);
}

#[tokio::test]
async fn stalled_router_times_out_within_the_deadline_and_is_replaced() {
    let sim = start("7.18").await;
    let mut config = config(sim.addr);
    config.reply_idle_timeout = Duration::from_millis(300);
    config.login_timeout = Duration::from_millis(500);
    let router = Router::new(config);
    ops::identity(&router).await.unwrap();

    sim.handle.set_stall(true);
    let started = Instant::now();
    let result = ops::identity(&router).await;
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(Error::Timeout { .. })),
        "expected a timeout, got {result:?}"
    );
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "{waited:?}"
    );

    sim.handle.set_stall(false);
    assert_eq!(ops::identity(&router).await.unwrap(), "MikroTik");
    assert_eq!(
        sim.handle.connections_accepted(),
        2,
        "the stalled connection was replaced"
    );
}

#[tokio::test]
async fn drop_mid_sentence_fails_the_command_and_the_next_one_reconnects() {
    let sim = start("7.18").await;
    let router = Router::new(config(sim.addr));
    ops::identity(&router).await.unwrap();
    sim.handle.drop_next_reply();
    let result = ops::system_resource(&router).await;
    assert!(
        matches!(result, Err(ref e) if e.is_transient()),
        "expected a closed connection, got {result:?}"
    );
    assert!(ops::system_resource(&router).await.is_ok());
    assert_eq!(sim.handle.connections_accepted(), 2);
}

#[tokio::test]
async fn huge_print_is_streamed_row_by_row() {
    let sim = start("7.18").await;
    sim.handle.fill_hotspot_users("u", 10_000);
    let mut config = config(sim.addr);
    config.reply_idle_timeout = Duration::from_secs(2);
    let conn = Connection::connect(&config).await.unwrap();
    let mut stream = conn
        .execute(&Command::new("/ip/hotspot/user/print").proplist(&[".id", "name"]))
        .await
        .unwrap();
    let mut count = 0;
    while let Some(row) = stream.next().await.unwrap() {
        assert_eq!(row.len(), 2);
        count += 1;
    }
    assert_eq!(count, 10_000);
}

#[tokio::test]
async fn slow_drip_replies_are_decoded_across_tiny_reads() {
    let sim = start("7.18").await;
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    sim.handle.set_slow_drip(Some(Duration::from_millis(1)));
    assert_eq!(ops::identity(&conn).await.unwrap(), "MikroTik");
    sim.handle.set_slow_drip(None);
}

#[tokio::test]
async fn refused_router_fails_then_comes_back() {
    let sim = start("7.18").await;
    let router = Router::new(config(sim.addr));
    sim.handle.set_refuse(true);
    let result = ops::identity(&router).await;
    assert!(
        matches!(result, Err(ref e) if e.is_transient()),
        "{result:?}"
    );
    sim.handle.set_refuse(false);
    assert_eq!(ops::identity(&router).await.unwrap(), "MikroTik");
}

#[tokio::test]
async fn quit_gets_fatal_and_closes() {
    let sim = start("7.18").await;
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    match conn.run(&Command::new("/quit")).await {
        Err(Error::Fatal(reason)) => assert_eq!(reason, "session terminated on request"),
        other => panic!("expected !fatal, got {other:?}"),
    }
    assert!(conn.is_closed());
}

#[tokio::test]
async fn listen_streams_changes_until_cancelled() {
    let sim = start("7.18").await;
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    let mut listen = conn
        .execute(&Command::new("/ip/hotspot/user/listen"))
        .await
        .unwrap();
    ops::ensure_hotspot_user(&conn, &user("watched"))
        .await
        .unwrap();
    let row = listen.next().await.unwrap().unwrap();
    assert_eq!(row.string("name").as_deref(), Some("watched"));
    listen.cancel().await.unwrap();
    assert_eq!(ops::identity(&conn).await.unwrap(), "MikroTik");
}

#[tokio::test]
async fn non_utf8_comments_are_kept_and_decoded_by_codepage() {
    let sim = start("7.18").await;
    let mut config = config(sim.addr);
    config.codepage = Codepage::with_fallback("windows-1251").unwrap();
    let conn = Connection::connect(&config).await.unwrap();
    let cp1251 = [0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2];
    conn.run(
        &Command::new("/ip/hotspot/user/add")
            .attr("name", "ivan")
            .attr("comment", cp1251),
    )
    .await
    .unwrap();
    let stored = sim.handle.find("/ip/hotspot/user", "ivan").unwrap();
    assert_eq!(stored["comment"], cp1251);
    let found = ops::hotspot_user(&conn, "ivan").await.unwrap().unwrap();
    assert_eq!(found.comment.as_deref(), Some("Привет"));
}

#[tokio::test]
async fn ensure_operations_are_idempotent() {
    let sim = start("7.18").await;
    let router = Router::new(config(sim.addr));
    let plan = ops::HotspotUserProfileSpec {
        name: "1h-5M".to_owned(),
        rate_limit: Some("1M/5M".to_owned()),
        shared_users: Some(1),
        ..Default::default()
    };
    assert!(matches!(
        ops::ensure_hotspot_user_profile(&router, &plan)
            .await
            .unwrap(),
        Ensured::Created(_)
    ));
    let mut spec = user("v-1234");
    spec.profile = Some("1h-5M".to_owned());
    spec.disabled = Some(false);
    let created = ops::ensure_hotspot_user(&router, &spec).await.unwrap();
    assert!(matches!(created, Ensured::Created(_)), "{created:?}");
    let again = ops::ensure_hotspot_user(&router, &spec).await.unwrap();
    assert_eq!(again, Ensured::Unchanged(created.id().to_owned()));
    spec.limit_uptime = Some("1h".to_owned());
    let updated = ops::ensure_hotspot_user(&router, &spec).await.unwrap();
    assert_eq!(updated, Ensured::Updated(created.id().to_owned()));
    assert_eq!(sim.handle.items("/ip/hotspot/user").len(), 1);

    sim.handle.insert(
        "/ip/hotspot/active",
        &[("user", b"v-1234"), ("address", b"10.5.50.7")],
    );
    assert_eq!(ops::hotspot_active(&router).await.unwrap().len(), 1);
    assert_eq!(ops::kick_hotspot_user(&router, "v-1234").await.unwrap(), 1);
    assert!(ops::hotspot_active(&router).await.unwrap().is_empty());
    assert!(ops::remove_hotspot_user(&router, "v-1234").await.unwrap());
    assert!(!ops::remove_hotspot_user(&router, "v-1234").await.unwrap());

    let secret = ops::PppSecretSpec {
        name: "pppoe-1".to_owned(),
        password: Some(Password::new("p")),
        service: Some("pppoe".to_owned()),
        ..Default::default()
    };
    assert!(matches!(
        ops::ensure_ppp_secret(&router, &secret).await.unwrap(),
        Ensured::Created(_)
    ));
    assert!(matches!(
        ops::ensure_ppp_secret(&router, &secret).await.unwrap(),
        Ensured::Unchanged(_)
    ));
    let bad = ops::PppSecretSpec {
        profile: Some("gold".to_owned()),
        ..secret.clone()
    };
    let refused = ops::ensure_ppp_secret(&router, &bad).await.unwrap_err();
    assert!(refused.is_trap(), "{refused:?}");
    sim.handle.insert("/ppp/active", &[("name", b"pppoe-1")]);
    assert_eq!(ops::ppp_active(&router).await.unwrap().len(), 1);
    assert_eq!(ops::kick_ppp_user(&router, "pppoe-1").await.unwrap(), 1);

    let queue = ops::SimpleQueueSpec {
        name: "sub-7".to_owned(),
        target: Some("10.5.50.7/32".to_owned()),
        max_limit: Some("2M/10M".to_owned()),
        ..Default::default()
    };
    assert!(matches!(
        ops::ensure_simple_queue(&router, &queue).await.unwrap(),
        Ensured::Created(_)
    ));
    assert!(matches!(
        ops::ensure_simple_queue(&router, &queue).await.unwrap(),
        Ensured::Unchanged(_)
    ));

    let radius = ops::RadiusClientSpec {
        address: "10.5.50.2".to_owned(),
        service: "hotspot,ppp".to_owned(),
        secret: Password::new("radius-secret"),
        authentication_port: None,
        accounting_port: None,
        timeout: Some("3s".to_owned()),
        comment: None,
    };
    assert!(matches!(
        ops::ensure_radius_client(&router, &radius).await.unwrap(),
        Ensured::Created(_)
    ));
    assert!(matches!(
        ops::ensure_radius_client(&router, &radius).await.unwrap(),
        Ensured::Unchanged(_)
    ));
    ops::set_radius_incoming(&router, true, 3799).await.unwrap();
    let incoming = &sim.handle.items("/radius/incoming")[0];
    assert_eq!(incoming["accept"], b"true");

    ops::set_identity(&router, "site-7").await.unwrap();
    assert_eq!(ops::identity(&router).await.unwrap(), "site-7");
    let interfaces = ops::interfaces(&router).await.unwrap();
    assert!(interfaces.iter().any(|i| i.name == "ether1" && i.running));
}

#[tokio::test]
async fn the_write_journal_keeps_only_changes_the_router_carried_out() {
    let sim = start("7.18").await;
    let conn = Connection::connect(&config(sim.addr)).await.unwrap();
    for _ in 0..3 {
        ops::ensure_hotspot_user(&conn, &user("once"))
            .await
            .unwrap();
    }
    // A refused add (the name is taken) is not a change.
    let taken = conn
        .run(
            &Command::new("/ip/hotspot/user/add")
                .attr("name", "once")
                .attr("password", "x"),
        )
        .await;
    assert!(matches!(taken, Err(Error::Trap(_))), "{taken:?}");
    let mut spec = user("once");
    spec.disabled = Some(true);
    ops::ensure_hotspot_user(&conn, &spec).await.unwrap();
    assert!(ops::remove_hotspot_user(&conn, "once").await.unwrap());
    let writes = sim.handle.writes();
    let seen: Vec<(&str, &str)> = writes
        .iter()
        .map(|w| (w.menu.as_str(), w.verb.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("/ip/hotspot/user", "add"),
            ("/ip/hotspot/user", "set"),
            ("/ip/hotspot/user", "remove")
        ]
    );
    assert_eq!(writes[0].target, "once");
    assert_eq!(sim.handle.write_count("/ip/hotspot/user", "add"), 1);
}
