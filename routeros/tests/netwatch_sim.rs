//! The simulator runs what a router runs on its own: RouterOS scripts (the documented subset),
//! netwatch entries that probe a real HTTP or TCP port and run `up-script`/`down-script` on a
//! change, and scheduler entries on its clock. This is the machinery a router needs to fall back
//! to local users while the box is unreachable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use sitebox_routeros::client::{ClientConfig, Connection, Error, Password};
use sitebox_routeros::codec::Command;
use sitebox_routeros::sim::script::{ScriptError, Value};
use sitebox_routeros::sim::{DecidedBy, HotspotLogin, SimClock, SimConfig, SimHandle, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const START_MS: i64 = 1_750_000_000_000;

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

async fn router() -> Router {
    let sim = Simulator::new(SimConfig {
        clock: SimClock::manual(START_MS),
        ..SimConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("test setup");
    let api = listener.local_addr().expect("test setup");
    let stop = CancellationToken::new();
    let handle = sim.handle();
    let token = stop.clone();
    tokio::spawn(async move { sim.serve(listener, token).await });
    Router { handle, api, stop }
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

    fn prop(&self, menu: &str, name: &str, key: &str) -> Option<String> {
        self.handle.find(menu, name).and_then(|item| {
            item.get(key)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    }
}

/// A health page: answers `GET /` with 200 until stopped (then the port is closed).
async fn health_page() -> (u16, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("test setup");
    let port = listener.local_addr().expect("test setup").port();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = tokio::select! {
                () = token.cancelled() => return,
                accepted = listener.accept() => accepted.expect("test setup"),
            };
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await;
        }
    });
    (port, stop)
}

#[tokio::test]
async fn scripts_run_the_documented_subset() {
    let router = router().await;
    let value = router
        .handle
        .run_script(
            r#"
# Fallback users carry the seconds they have left in their comment.
:local checked 0
/ip hotspot user add name=ann password=0123 comment="sitebox-fallback 120" limit-uptime=1h
/ip hotspot user add name=ben password=pb comment="sitebox-fallback 30"
/ip hotspot user add name=cat password=pc comment="someone else"
:foreach u in=[/ip hotspot user find comment~"^sitebox-fallback"] do={
    :local c [/ip hotspot user get $u comment]
    :local left [:tonum [:pick $c 17 [:len $c]]]
    :set left ($left - 60)
    :if ($left <= 0) do={ /ip hotspot user remove $u } else={
        /ip hotspot user set $u comment=("sitebox-fallback " . $left)
    }
    :set checked ($checked + 1)
}
:log info "checked $checked, ann has $[/ip hotspot user get [find name=ann] limit-uptime]"
:if ([/ip hotspot user get [find name=ann] limit-uptime] > 30m && !false) do={ :global seen yes }
$checked
"#,
        )
        .unwrap();
    assert_eq!(value, Value::Num(2));
    assert_eq!(
        router.prop("/ip/hotspot/user", "ann", "comment").as_deref(),
        Some("sitebox-fallback 60")
    );
    // A bare value is passed as written: the password keeps its leading zero.
    assert_eq!(
        router
            .prop("/ip/hotspot/user", "ann", "password")
            .as_deref(),
        Some("0123")
    );
    assert!(router.handle.find("/ip/hotspot/user", "ben").is_none());
    assert!(router.handle.find("/ip/hotspot/user", "cat").is_some());
    let log = router.handle.items("/log");
    let messages: Vec<String> = log
        .iter()
        .map(|entry| String::from_utf8_lossy(&entry["message"]).into_owned())
        .collect();
    assert_eq!(messages, ["checked 2, ann has 1h"]);
    assert_eq!(
        router.handle.run_script(":return").unwrap_err().to_string(),
        "bad command name :return (not in the simulator's subset)"
    );
    assert_eq!(router.handle.run_script(":put $seen").unwrap(), Value::Nil);

    // Context menus, for, while, count-only, a refused add with the router's message.
    let value = router
        .handle
        .run_script(
            r#"
/ppp secret
:for i from=1 to=3 do={ add name="p$i" password=x }
:local n 0
:while ($n < 2) do={ :set n ($n + 1) }
:if ([print count-only where name~"^p"] = 3 and $n = 2) do={ disable [find name=p2] }
[/ppp secret get [find name=p2] disabled]
"#,
        )
        .unwrap();
    assert_eq!(value, Value::Bool(true));
    let error = router
        .handle
        .run_script("/ip hotspot user add name=ann password=again")
        .unwrap_err();
    assert_eq!(
        error,
        ScriptError::Failed("failure: already have user with this name for this server".into())
    );
    let error = router
        .handle
        .run_script("/ip hotspot user add name=zed limit-uptime=soon")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid time value for argument limit-uptime"
    );
    assert!(matches!(
        router.handle.run_script(":if ($x = ) do={}"),
        Err(ScriptError::Syntax(_))
    ));
    assert!(matches!(
        router.handle.run_script(":while (true) do={}"),
        Err(ScriptError::Failed(message)) if message == "script ran too long"
    ));
    let runs = router.handle.script_runs();
    assert_eq!(
        runs.iter().filter(|r| r.error.is_some()).count(),
        5,
        "{runs:?}"
    );
}

#[tokio::test]
async fn netwatch_runs_the_down_and_up_scripts_as_the_health_page_goes_and_comes() {
    let router = router().await;
    let (port, page) = health_page().await;
    // The scripts a fallback would be made of: add local users while the box is down, take
    // them away when it is back.
    for (name, source) in [
        (
            "sitebox-fallback-on",
            r#"/ip hotspot user add name=amy password=amy-pw limit-uptime=30m comment=sitebox-fallback"#,
        ),
        (
            "sitebox-fallback-off",
            r#"/ip hotspot user remove [find comment=sitebox-fallback]"#,
        ),
    ] {
        router
            .run(
                Command::new("/system/script/add")
                    .attr("name", name)
                    .attr("source", source)
                    .attr("policy", "read,write,test"),
            )
            .await;
    }
    router
        .run(
            Command::new("/tool/netwatch/add")
                .attr("type", "http-get")
                .attr("host", "127.0.0.1")
                .attr("port", port.to_string())
                .attr("interval", "10s")
                .attr("timeout", "1s")
                .attr("start-delay", "0s")
                .attr("startup-delay", "0s")
                .attr("up-script", "/system script run sitebox-fallback-off")
                .attr("down-script", "/system script run sitebox-fallback-on")
                .attr("comment", "sitebox"),
        )
        .await;
    router.handle.probe_netwatch().await;
    let watch = &router.handle.items("/tool/netwatch")[0];
    assert_eq!(watch["status"], b"up");
    assert!(router.handle.find("/ip/hotspot/user", "amy").is_none());

    // The health page goes away: down-script, and the customer logs in on the router.
    page.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    router.handle.probe_netwatch().await;
    let watch = &router.handle.items("/tool/netwatch")[0];
    assert_eq!(watch["status"], b"down");
    assert_eq!(watch["failed-tests"], b"1");
    let login = router
        .handle
        .login_hotspot(HotspotLogin::new(
            "amy",
            "amy-pw",
            "aa:bb:cc:00:00:05",
            Ipv4Addr::new(10, 5, 50, 5),
        ))
        .await
        .unwrap();
    assert_eq!(login.decided_by, DecidedBy::LocalUser);
    let script = router
        .handle
        .find("/system/script", "sitebox-fallback-on")
        .unwrap();
    assert_eq!(script["run-count"], b"1");

    // A second probe that agrees changes nothing (scripts run on a change only).
    router.handle.probe_netwatch().await;
    assert_eq!(
        router
            .handle
            .find("/system/script", "sitebox-fallback-on")
            .unwrap()["run-count"],
        b"1"
    );

    // Back up, found by the router's own interval on its clock: the fallback user goes; her
    // session runs on (removing a user does not end its sessions).
    let (port, _page) = health_page().await;
    router
        .run(
            Command::new("/tool/netwatch/set")
                .attr("numbers", "*1")
                .attr("port", port.to_string()),
        )
        .await;
    router.handle.advance(Duration::from_secs(10));
    for _ in 0..100 {
        if router.handle.items("/tool/netwatch")[0]["status"] == b"up" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(router.handle.items("/tool/netwatch")[0]["status"], b"up");
    assert!(router.handle.find("/ip/hotspot/user", "amy").is_none());
    assert_eq!(router.handle.sessions().len(), 1);
}

#[tokio::test]
async fn netwatch_refuses_scripts_with_more_than_its_policy_and_a_power_cut_forgets_status() {
    let router = router().await;
    // Added without a policy: RouterOS gives it every policy, more than netwatch may run.
    router
        .run(
            Command::new("/system/script/add")
                .attr("name", "wide")
                .attr("source", "/ip hotspot user add name=wide"),
        )
        .await;
    router
        .run(
            Command::new("/tool/netwatch/add")
                .attr("host", "192.0.2.1")
                .attr("startup-delay", "0s")
                .attr("down-script", "/system script run wide"),
        )
        .await;
    router
        .handle
        .set_unreachable(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), true);
    router.handle.probe_netwatch().await;
    assert_eq!(router.handle.items("/tool/netwatch")[0]["status"], b"down");
    assert!(router.handle.find("/ip/hotspot/user", "wide").is_none());
    let runs = router.handle.script_runs();
    let error = runs.last().unwrap().error.clone().unwrap();
    assert!(error.contains("not enough permissions"), "{runs:?}");
    // dont-require-permissions lets it run.
    router
        .run(
            Command::new("/system/script/set")
                .attr("numbers", "wide")
                .attr("dont-require-permissions", "yes"),
        )
        .await;
    router
        .handle
        .set_unreachable(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), false);
    router.handle.probe_netwatch().await;
    router
        .handle
        .set_unreachable(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), true);
    router.handle.probe_netwatch().await;
    assert!(router.handle.find("/ip/hotspot/user", "wide").is_some());

    router.handle.power_off();
    router.handle.power_on();
    assert_eq!(
        router.handle.items("/tool/netwatch")[0]["status"],
        b"unknown"
    );
}

#[tokio::test]
async fn the_scheduler_runs_on_the_router_clock_with_its_policy() {
    let router = router().await;
    router
        .run(
            Command::new("/system/script/add")
                .attr("name", "tick")
                .attr("source", ":global ticks; :if ([:typeof $ticks] = \"nil\") do={ :set ticks 0 }; :set ticks ($ticks + 1); /ip hotspot user set [find name=t] comment=\"ticks $ticks\"")
                .attr("policy", "read,write"),
        )
        .await;
    router
        .run(Command::new("/ip/hotspot/user/add").attr("name", "t"))
        .await;
    router
        .run(
            Command::new("/system/scheduler/add")
                .attr("name", "every-minute")
                .attr("interval", "1m")
                .attr("on-event", "tick")
                .attr("policy", "read,write,test"),
        )
        .await;
    router.handle.advance(Duration::from_secs(30));
    assert_eq!(
        router
            .prop("/system/scheduler", "every-minute", "run-count")
            .as_deref(),
        Some("0")
    );
    router.handle.advance(Duration::from_secs(30));
    router.handle.advance(Duration::from_secs(60));
    assert_eq!(
        router
            .prop("/system/scheduler", "every-minute", "run-count")
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        router.prop("/ip/hotspot/user", "t", "comment").as_deref(),
        Some("ticks 2")
    );
    // A read-only scheduler cannot change the router.
    router
        .run(
            Command::new("/system/scheduler/add")
                .attr("name", "reader")
                .attr("interval", "1m")
                .attr("on-event", "/ip hotspot user remove [find name=t]")
                .attr("policy", "read"),
        )
        .await;
    router.handle.advance(Duration::from_secs(60));
    assert!(router.handle.find("/ip/hotspot/user", "t").is_some());
    let runs = router.handle.script_runs();
    assert!(
        runs.iter().any(|r| r.origin == "scheduler reader"
            && r.error.as_deref() == Some("not enough permissions (needs write)")),
        "{runs:?}"
    );
    // The API runs a script by name; an unknown one is a trap.
    let conn = router.connect().await;
    conn.run(&Command::new("/system/script/run").attr("number", "tick"))
        .await
        .unwrap();
    // every-minute ran a third time meanwhile; this is the fourth.
    assert_eq!(
        router.prop("/ip/hotspot/user", "t", "comment").as_deref(),
        Some("ticks 4")
    );
    assert_eq!(
        router
            .prop("/system/script", "tick", "run-count")
            .as_deref(),
        Some("4")
    );
    let error = conn
        .run(&Command::new("/system/script/run").attr("number", "nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Trap(trap) if trap.message == "no such script nope"),
        "{error:?}"
    );
}

#[tokio::test]
async fn timestamp_reads_the_routers_clock_in_seconds_since_the_epoch() {
    let router = router().await;
    let now = |r: &Router| {
        r.handle
            .run_script(":local t [:tonum [:timestamp]]\n$t")
            .unwrap()
    };
    assert_eq!(now(&router), Value::Num(START_MS / 1000));
    router.handle.advance(Duration::from_secs(90));
    assert_eq!(now(&router), Value::Num(START_MS / 1000 + 90));
    assert_eq!(
        router
            .handle
            .run_script(":local t [:typeof [:timestamp]]\n$t")
            .unwrap(),
        Value::Str("time".into())
    );
}
