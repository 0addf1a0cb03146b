//! `/tool/netwatch` and `/system/scheduler` on the router's clock.
//!
//! Netwatch probes each enabled entry every `interval` (the first probe after `startup-delay`
//! from boot and `start-delay` from when the entry appeared), and on a change of status runs
//! `up-script` (unknown/down → up) or `down-script` (unknown/up → down) as the `*sys` user with
//! the policy `read,write,test,reboot`, unless `ignore-initial-up`/`-down` says to skip the first
//! one; `test-script` runs after every probe. Probes are real: `tcp-conn` connects to
//! `host:port`, `http-get` sends `GET /` to `host:port` and wants a status within `http-codes`
//! (default 100-299), both within `timeout` of real time. `simple` and `icmp` cannot send ICMP
//! from a test: they answer "up" unless the test made the host unreachable
//! (`SimHandle::set_unreachable`); `https-get` and `dns` are not modelled (always down).
//!
//! The scheduler runs `on-event` (a script's name, or script source) every `interval`, with the
//! entry's `policy`. `start-time=startup` runs 3 s after boot (an entry added later first runs
//! one interval after it appeared); other start times are not modelled: the first run is one
//! interval after the entry appeared.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Inner;
use super::live::{self, Effect, duration, prop};
use super::script::{self, Origin};
use super::state::RouterState;

/// The policy netwatch scripts run with.
const NETWATCH_POLICY: &[&str] = &["read", "write", "test", "reboot"];

/// A netwatch entry's run-time state.
#[derive(Debug, Default)]
pub(crate) struct WatchState {
    next_ms: Option<i64>,
    in_flight: bool,
}

/// How an entry probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Ping,
    Tcp,
    Http,
    NotModelled,
}

/// A probe to run outside the state lock.
#[derive(Debug)]
pub(crate) struct NetwatchRun {
    id: u32,
    probe: Probe,
    host: Option<IpAddr>,
    port: u16,
    timeout: Duration,
    codes: String,
}

fn enabled(
    state: &RouterState,
    menu: &str,
) -> Vec<(u32, std::collections::BTreeMap<String, Vec<u8>>)> {
    state
        .rows(menu)
        .filter(|(_, p)| prop(p, "disabled") != "true")
        .map(|(id, p)| (id, p.clone()))
        .collect()
}

/// Starts the netwatch probes that are due and runs the scheduler entries that are due.
pub(crate) fn due(inner: &Inner, state: &mut RouterState, now: i64) {
    let booted = state.live.booted_ms;
    let watches = enabled(state, "/tool/netwatch");
    state
        .live
        .netwatch
        .retain(|id, _| watches.iter().any(|(w, _)| w == id));
    for (id, p) in watches {
        let interval = live::nonzero(duration(&p, "interval")).unwrap_or(Duration::from_secs(10));
        let entry = state.live.netwatch.entry(id).or_default();
        let next = *entry.next_ms.get_or_insert_with(|| {
            let after_boot = booted + live::millis(duration(&p, "startup-delay"));
            let after_add = now + live::millis(duration(&p, "start-delay"));
            after_boot.max(after_add)
        });
        if entry.in_flight || now < next {
            continue;
        }
        entry.in_flight = true;
        entry.next_ms = Some(now + live::millis(interval));
        let run = planned(id, &p);
        state.live.effects.push(Effect::Probe(run));
    }
    scheduler(inner, state, now);
}

fn planned(id: u32, p: &std::collections::BTreeMap<String, Vec<u8>>) -> NetwatchRun {
    let probe = match prop(p, "type") {
        "simple" | "icmp" | "" => Probe::Ping,
        "tcp-conn" => Probe::Tcp,
        "http-get" => Probe::Http,
        _ => Probe::NotModelled,
    };
    NetwatchRun {
        id,
        probe,
        host: prop(p, "host").parse().ok(),
        port: prop(p, "port").parse().unwrap_or(80),
        timeout: live::nonzero(duration(p, "timeout")).unwrap_or(Duration::from_secs(3)),
        codes: match prop(p, "http-codes") {
            "" => "100-299".to_owned(),
            codes => codes.to_owned(),
        },
    }
}

/// Runs one probe (real network time) and applies its result.
pub(crate) async fn probe(inner: Arc<Inner>, run: NetwatchRun) {
    let up = check(&inner, &run).await;
    let now = inner.now_ms();
    inner.locked(|state| apply(&inner, state, run.id, up, now));
}

async fn check(inner: &Inner, run: &NetwatchRun) -> bool {
    let Some(host) = run.host else {
        return false;
    };
    if inner.unreachable(host) {
        return false;
    }
    let address = SocketAddr::new(host, run.port);
    match run.probe {
        Probe::Ping => true,
        Probe::NotModelled => false,
        Probe::Tcp => tokio::time::timeout(run.timeout, TcpStream::connect(address))
            .await
            .is_ok_and(|c| c.is_ok()),
        Probe::Http => tokio::time::timeout(run.timeout, http_status(address))
            .await
            .ok()
            .flatten()
            .is_some_and(|code| code_allowed(&run.codes, code)),
    }
}

/// The status code of `GET /` at `address`.
async fn http_status(address: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: MikroTik netwatch\r\nConnection: close\r\n\r\n",
        address.ip()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

/// Whether `code` is within `codes` (`100-299`, `200,301-302`).
fn code_allowed(codes: &str, code: u16) -> bool {
    codes.split(',').any(|range| {
        let range = range.trim();
        match range.split_once('-') {
            Some((low, high)) => match (low.parse::<u16>(), high.parse::<u16>()) {
                (Ok(low), Ok(high)) => (low..=high).contains(&code),
                _ => false,
            },
            None => range.parse() == Ok(code),
        }
    })
}

fn apply(inner: &Inner, state: &mut RouterState, id: u32, up: bool, now: i64) {
    let Some(entry) = state.live.netwatch.get_mut(&id) else {
        return;
    };
    entry.in_flight = false;
    if state.live.powered_off {
        return;
    }
    let Some(p) = state.row("/tool/netwatch", id).cloned() else {
        return;
    };
    let before = prop(&p, "status").to_owned();
    let after = if up { "up" } else { "down" };
    if let Some(row) = state.row_quiet("/tool/netwatch", id) {
        let done = live::number(row, "done-tests") + 1;
        row.insert("done-tests".into(), done.to_string().into_bytes());
        if !up {
            let failed = live::number(row, "failed-tests") + 1;
            row.insert("failed-tests".into(), failed.to_string().into_bytes());
        }
    }
    let policy: Vec<String> = NETWATCH_POLICY.iter().map(|p| (*p).to_owned()).collect();
    if before != after {
        state.update("/tool/netwatch", id, |row| {
            row.insert("status".into(), after.as_bytes().to_vec());
            row.insert("since".into(), script::civil(now).into_bytes());
        });
        let initial = before == "unknown" || before.is_empty();
        let (which, ignore) = if up {
            ("up-script", "ignore-initial-up")
        } else {
            ("down-script", "ignore-initial-down")
        };
        let source = prop(&p, which).to_owned();
        let skipped = initial && prop(&p, ignore) == "true";
        if !source.is_empty() && !skipped {
            let _ = script::run_source(
                inner,
                state,
                now,
                &source,
                &policy,
                &Origin::Netwatch(id, which),
            );
        }
    }
    let test = prop(&p, "test-script").to_owned();
    if !test.is_empty() {
        let _ = script::run_source(
            inner,
            state,
            now,
            &test,
            &policy,
            &Origin::Netwatch(id, "test-script"),
        );
    }
}

/// Runs the scheduler entries that are due.
fn scheduler(inner: &Inner, state: &mut RouterState, now: i64) {
    let booted = state.live.booted_ms;
    let entries = enabled(state, "/system/scheduler");
    state
        .live
        .scheduled
        .retain(|id, _| entries.iter().any(|(e, _)| e == id));
    for (id, p) in entries {
        let interval = live::nonzero(duration(&p, "interval"));
        let next = *state.live.scheduled.entry(id).or_insert_with(|| {
            let startup = booted + 3_000;
            match (prop(&p, "start-time"), interval) {
                ("startup", _) if now <= startup => startup,
                (_, Some(every)) => now + live::millis(every),
                _ => i64::MAX,
            }
        });
        if now < next {
            continue;
        }
        let following = interval.map_or(i64::MAX, |every| now + live::millis(every));
        state.live.scheduled.insert(id, following);
        let policy: Vec<String> = prop(&p, "policy")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let name = prop(&p, "name").to_owned();
        let event = prop(&p, "on-event").trim().to_owned();
        state.update("/system/scheduler", id, |row| {
            let runs = live::number(row, "run-count") + 1;
            row.insert("run-count".into(), runs.to_string().into_bytes());
        });
        let origin = Origin::Scheduler(name);
        let is_script = state
            .rows("/system/script")
            .any(|(_, s)| prop(s, "name") == event);
        let _ = if is_script {
            script::run_script_named(inner, state, now, &event, &policy, &origin)
        } else {
            script::run_source(inner, state, now, &event, &policy, &origin)
        };
    }
}

/// Whether a probe is running.
pub(crate) fn probing(state: &RouterState) -> bool {
    state.live.netwatch.values().any(|w| w.in_flight)
}

/// Netwatch probes of every enabled entry, now, for a test that cannot wait for the interval
/// (the next one is an interval from now).
pub(crate) fn all_now(state: &mut RouterState, now: i64) -> Vec<NetwatchRun> {
    let watches = enabled(state, "/tool/netwatch");
    let mut runs = Vec::new();
    for (id, p) in watches {
        let interval = live::nonzero(duration(&p, "interval")).unwrap_or(Duration::from_secs(10));
        let entry = state.live.netwatch.entry(id).or_default();
        entry.in_flight = true;
        entry.next_ms = Some(now + live::millis(interval));
        runs.push(planned(id, &p));
    }
    runs
}

/// After a boot every entry is `unknown` and waits for its `startup-delay` again; scheduler
/// entries start over.
pub(crate) fn boot(state: &mut RouterState) {
    state.live.netwatch.clear();
    state.live.scheduled.clear();
    let ids: Vec<u32> = state.rows("/tool/netwatch").map(|(id, _)| id).collect();
    for id in ids {
        state.update("/tool/netwatch", id, |row| {
            row.insert("status".into(), b"unknown".to_vec());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_codes_ranges_and_lists() {
        assert!(code_allowed("100-299", 200));
        assert!(!code_allowed("100-299", 503));
        assert!(code_allowed("200,301-302", 302));
        assert!(!code_allowed("200,301-302", 204));
        assert!(!code_allowed("junk", 200));
    }
}
