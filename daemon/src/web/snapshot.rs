//! What the page shows, read in parts: the page loads all of them once, and the WebSocket
//! pushes again only the parts an event or the status timer changed.

use serde_json::{Value, json};

use super::Web;
use super::host;
use super::response::ApiError;
use crate::store::web as sql;
use crate::store::{StoreError, jobs};

/// A part of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Part {
    /// Box health, queue depth, RADIUS counters, sync: figures that change all the time.
    Status,
    /// Open sessions.
    Sessions,
    /// Failed jobs.
    Failed,
    /// Routers.
    Routers,
    /// Payments that granted nothing.
    Payments,
    /// The newest log lines.
    Log,
}

impl Part {
    pub(super) const ALL: [Part; 6] = [
        Part::Status,
        Part::Sessions,
        Part::Failed,
        Part::Routers,
        Part::Payments,
        Part::Log,
    ];

    fn key(self) -> &'static str {
        match self {
            Part::Status => "status",
            Part::Sessions => "sessions",
            Part::Failed => "failed",
            Part::Routers => "routers",
            Part::Payments => "payments",
            Part::Log => "log",
        }
    }
}

/// Every part.
pub(super) async fn snapshot(web: &Web) -> Result<Value, ApiError> {
    parts(web, &Part::ALL).await
}

/// The parts asked for, as one object keyed by part.
pub(super) async fn parts(web: &Web, wanted: &[Part]) -> Result<Value, ApiError> {
    let mut out = serde_json::Map::new();
    for &part in wanted {
        let value = match part {
            Part::Status => status(web).await?,
            Part::Sessions => json!(web.store.read(|conn| sql::live_sessions(conn, 500)).await?),
            Part::Failed => json!(web.store.read(|conn| jobs::failed(conn, 100)).await?),
            Part::Routers => json!(web.store.read(routers_now).await?),
            Part::Payments => {
                let mut rows = web
                    .store
                    .read(|conn| crate::store::payments::unprovisioned(conn, 50))
                    .await?;
                for row in &mut rows {
                    row.phone = row
                        .phone
                        .as_deref()
                        .map(crate::model::subscriber::mask_phone);
                }
                json!(rows)
            }
            Part::Log => json!(super::log_ring::LogRing::global().tail(100)),
        };
        out.insert(part.key().to_string(), value);
    }
    Ok(Value::Object(out))
}

fn routers_now(
    conn: &rusqlite::Connection,
) -> Result<Vec<crate::model::router::RouterHealth>, crate::domain::DomainError> {
    crate::domain::routers::health(conn)
}

/// The figures part: box, queues, RADIUS counters, sync.
async fn status(web: &Web) -> Result<Value, ApiError> {
    let now = web.clock.now();
    let (queues, sync) = web
        .store
        .read(move |conn| {
            Ok::<_, StoreError>((jobs::stats(conn, now)?, crate::store::sync::status(conn)?))
        })
        .await?;
    let disk = host::disk(&web.data_dir);
    let radius = web.radius.as_ref().map(|counters| {
        let snapshot = counters.snapshot();
        let nas: Vec<Value> = snapshot
            .nas
            .iter()
            .map(|(name, c)| {
                json!({
                    "nas": name, "accepts": c.accepts,
                    "rejects": c.rejects.values().sum::<u64>(),
                    "acct_writes": c.acct_writes, "duplicates": c.duplicates,
                    "drops": c.drops.values().sum::<u64>(),
                })
            })
            .collect();
        let mut reasons: Vec<(String, u64)> = snapshot
            .rejects_by_reason()
            .into_iter()
            .map(|(reason, n)| (reason.as_str().to_string(), n))
            .collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        reasons.truncate(5);
        json!({
            "nas": nas,
            "top_rejects": reasons.into_iter().map(|(reason, n)| json!({ "reason": reason, "count": n })).collect::<Vec<_>>(),
            "unknown_client_drops": snapshot.unknown_client_drops,
        })
    });
    let oldest_pending_ms = queues.iter().map(|q| q.oldest_due_ms).max().unwrap_or(0);
    let oldest_unsent_ms = web
        .store
        .read(oldest_unsent)
        .await?
        .map(|at| now.since(at).as_millis() as u64);
    Ok(json!({
        "box": {
            "site": web.site_name,
            "version": env!("CARGO_PKG_VERSION"),
            "now": now,
            "clock_trusted": web.clock.trust().is_none_or(|trust| trust.trusted),
            "uptime_s": web.started.elapsed().as_secs(),
            "disk_total": disk.map(|d| d.0),
            "disk_free": disk.map(|d| d.1),
            "rss_bytes": host::rss_bytes(),
        },
        "queues": queues,
        "oldest_pending_ms": oldest_pending_ms,
        "radius": radius,
        "sync": {
            "connected": sitebox_sync::edge::link_up(),
            "backlog": sync.unacked.iter().map(|(lane, n)| json!({ "lane": lane, "unacked": n })).collect::<Vec<_>>(),
            "oldest_unsent_ms": oldest_unsent_ms,
            "last_ack": sync.acked_at,
            "cloud_cursor": sync.cloud_cursor,
            "last_seq": sync.last_seq,
            "skew_ms": sync.skew_ms,
        },
    }))
}

fn oldest_unsent(
    conn: &rusqlite::Connection,
) -> Result<Option<crate::clock::Timestamp>, StoreError> {
    sql::oldest_unacked(conn)
}
