//! `/metrics` in the Prometheus text format and `/healthz`, plus the process and disk figures
//! the page shares with them.

use std::fmt::Write as _;
use std::time::Duration;

use hyper::{Response, StatusCode};

use sitebox_radius::CountersSnapshot;

use super::Web;
use super::host::{disk, rss_bytes};
use super::response::{self, ApiResult, Body};
use crate::model::job::QueueStats;
use crate::model::router::{RouterHealth, RouterStatus};
use crate::store::sync::SyncStatus;
use crate::store::{StoreError, jobs, web as sql};

/// `GET /healthz`: 200 when a write reaches the disk now (a row through the writer thread, a
/// synced file in the data directory) and writes are not failing, else 503 with the cause.
pub(super) async fn healthz(web: &Web) -> Response<Body> {
    let probe = web.store.probe_writes();
    let path = web.store.path().display();
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(())) => match web.store.health().fault() {
            None => response::content("text/plain; charset=utf-8", "ok\n"),
            Some(fault) => unhealthy(&format!(
                "writes to {path} are failing since {}s: {}\n",
                fault.failing_for().as_secs(),
                fault.cause
            )),
        },
        Ok(Err(cause)) => unhealthy(&format!("writes to {path} fail: {cause}\n")),
        Err(_) => unhealthy(&format!(
            "a write to {path} did not reach the disk within 5 s\n"
        )),
    }
}

fn unhealthy(why: &str) -> Response<Body> {
    let mut response = response::content("text/plain; charset=utf-8", why.to_string());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// `GET /metrics`: the RADIUS counters, the queues, sync, the routers and the process, one
/// group of families each.
pub(super) async fn metrics(web: &Web) -> ApiResult {
    let now = web.clock.now();
    let (queues, sync, routers) = web
        .store
        .read(move |conn| {
            Ok::<_, StoreError>((
                jobs::stats(conn, now)?,
                crate::store::sync::status(conn)?,
                crate::store::router_health::list(conn)?,
            ))
        })
        .await?;
    let oldest_unsent = web.store.read(sql::oldest_unacked).await?;
    let mut m = Exposition::default();
    if let Some(counters) = &web.radius {
        radius_families(&mut m, &counters.snapshot());
    }
    queue_families(&mut m, &queues);
    sync_families(&mut m, &sync, oldest_unsent.map(|at| now.since(at)));
    router_families(&mut m, &routers);
    process_families(&mut m, web);
    Ok(response::content(
        "text/plain; version=0.0.4; charset=utf-8",
        m.out,
    ))
}

/// Accepts, rejects, accounting and drops, per NAS.
fn radius_families(m: &mut Exposition, snapshot: &CountersSnapshot) {
    m.family(
        "sitebox_radius_accepts_total",
        "counter",
        "Access-Accepts sent, per NAS.",
    );
    for (nas, c) in &snapshot.nas {
        m.sample("sitebox_radius_accepts_total", &[("nas", nas)], c.accepts);
    }
    m.family(
        "sitebox_radius_rejects_total",
        "counter",
        "Access-Rejects sent, per NAS and reason.",
    );
    for (nas, c) in &snapshot.nas {
        for (reason, n) in &c.rejects {
            m.sample(
                "sitebox_radius_rejects_total",
                &[("nas", nas), ("reason", reason.as_str())],
                n,
            );
        }
    }
    m.family(
        "sitebox_radius_accounting_total",
        "counter",
        "Accounting records stored, per NAS.",
    );
    for (nas, c) in &snapshot.nas {
        m.sample(
            "sitebox_radius_accounting_total",
            &[("nas", nas)],
            c.acct_writes,
        );
    }
    m.family(
        "sitebox_radius_drops_total",
        "counter",
        "Packets dropped, per NAS and cause.",
    );
    for (nas, c) in &snapshot.nas {
        for (cause, n) in &c.drops {
            m.sample(
                "sitebox_radius_drops_total",
                &[("nas", nas), ("cause", cause.as_str())],
                n,
            );
        }
    }
    m.sample(
        "sitebox_radius_drops_total",
        &[("nas", ""), ("cause", "unknown_client")],
        snapshot.unknown_client_drops,
    );
}

/// Jobs per queue and state, the failed store, the oldest due job.
fn queue_families(m: &mut Exposition, queues: &[QueueStats]) {
    m.family("sitebox_queue_jobs", "gauge", "Jobs per queue and state.");
    for q in queues {
        for (state, n) in [
            ("due", q.due),
            ("scheduled", q.scheduled),
            ("running", q.running),
            ("completed", q.completed),
            ("failed", q.failed),
        ] {
            m.sample(
                "sitebox_queue_jobs",
                &[("queue", &q.queue), ("state", state)],
                n,
            );
        }
    }
    m.family(
        "sitebox_queue_failed_jobs",
        "gauge",
        "Jobs in the failed store.",
    );
    m.sample(
        "sitebox_queue_failed_jobs",
        &[],
        queues.iter().map(|q| q.failed).sum::<u64>(),
    );
    m.family(
        "sitebox_queue_oldest_pending_seconds",
        "gauge",
        "Age of the oldest job due and not yet started, per queue.",
    );
    for q in queues {
        m.sample(
            "sitebox_queue_oldest_pending_seconds",
            &[("queue", &q.queue)],
            q.oldest_due_ms as f64 / 1000.0,
        );
    }
}

/// The unacked backlog, the link, the last ack, the oldest unsent event.
fn sync_families(m: &mut Exposition, sync: &SyncStatus, oldest_unsent: Option<Duration>) {
    m.family(
        "sitebox_sync_backlog_events",
        "gauge",
        "Events not yet acked by the cloud, per lane.",
    );
    for (lane, n) in &sync.unacked {
        m.sample("sitebox_sync_backlog_events", &[("lane", lane)], n);
    }
    m.family(
        "sitebox_sync_connected",
        "gauge",
        "1 while the sync agent is connected to the broker.",
    );
    m.sample(
        "sitebox_sync_connected",
        &[],
        u8::from(sitebox_sync::edge::link_up()),
    );
    m.family(
        "sitebox_sync_last_ack_timestamp_seconds",
        "gauge",
        "Box time of the cloud's last ack (0: never).",
    );
    m.sample(
        "sitebox_sync_last_ack_timestamp_seconds",
        &[],
        sync.acked_at
            .map_or(0.0, |at| at.as_millis() as f64 / 1000.0),
    );
    m.family(
        "sitebox_sync_oldest_unsent_seconds",
        "gauge",
        "Age of the oldest event the cloud has not acked (0: none).",
    );
    m.sample(
        "sitebox_sync_oldest_unsent_seconds",
        &[],
        oldest_unsent.map_or(0.0, |age| age.as_secs_f64()),
    );
}

/// Each router's last health poll.
fn router_families(m: &mut Exposition, routers: &[RouterHealth]) {
    m.family(
        "sitebox_router_up",
        "gauge",
        "1 when the router's last health check found it up.",
    );
    for r in routers {
        m.sample(
            "sitebox_router_up",
            &[("router", &r.name)],
            u8::from(r.status == RouterStatus::Up),
        );
    }
}

/// Memory, uptime and the data disk.
fn process_families(m: &mut Exposition, web: &Web) {
    if let Some(trust) = web.clock.trust() {
        m.family(
            "sitebox_clock_trusted",
            "gauge",
            "1 when the wall clock is synchronised and not earlier than the newest time seen; 0 while the box runs on its monotonic timeline.",
        );
        m.sample("sitebox_clock_trusted", &[], u64::from(trust.trusted));
    }
    m.family(
        "sitebox_process_resident_memory_bytes",
        "gauge",
        "Resident set size.",
    );
    m.sample(
        "sitebox_process_resident_memory_bytes",
        &[],
        rss_bytes().unwrap_or(0),
    );
    m.family(
        "sitebox_process_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
    );
    m.sample(
        "sitebox_process_uptime_seconds",
        &[],
        web.started.elapsed().as_secs_f64(),
    );
    store_families(m, web);
    if let Some((total, free)) = disk(&web.data_dir) {
        m.family(
            "sitebox_data_disk_bytes",
            "gauge",
            "The data directory's filesystem: total and free bytes.",
        );
        m.sample("sitebox_data_disk_bytes", &[("kind", "total")], total);
        m.sample("sitebox_data_disk_bytes", &[("kind", "free")], free);
    }
}

/// Whether writes reach the disk: failing or not, the failures so far, low space, a writer
/// stalled in a commit.
fn store_families(m: &mut Exposition, web: &Web) {
    let health = web.store.health();
    let fault = health.fault();
    m.family(
        "sitebox_store_writes_failing",
        "gauge",
        "1 while writes to the database fail (label: why), else 0.",
    );
    let kind = fault.as_ref().map_or("", |f| f.kind.as_str());
    m.sample(
        "sitebox_store_writes_failing",
        &[("kind", kind)],
        u8::from(fault.is_some()),
    );
    m.family(
        "sitebox_store_write_failures_total",
        "counter",
        "Commits and disk probes that failed since start.",
    );
    m.sample("sitebox_store_write_failures_total", &[], health.failures());
    m.family(
        "sitebox_store_low_space",
        "gauge",
        "1 while the data directory's free space is under the warning threshold.",
    );
    m.sample("sitebox_store_low_space", &[], u8::from(health.low_space()));
    m.family(
        "sitebox_store_writer_busy_seconds",
        "gauge",
        "How long the writer thread has been in its current commit (0 when idle).",
    );
    m.sample(
        "sitebox_store_writer_busy_seconds",
        &[],
        health.writer_busy_for().unwrap_or_default().as_secs_f64(),
    );
}

/// Text exposition being written.
#[derive(Debug, Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", label(value)))
                .collect();
            let _ = write!(self.out, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"gw "1"\n"#), r#"gw \"1\"\\n"#);
        assert_eq!(label("a\nb"), "a\\nb");
    }
}
