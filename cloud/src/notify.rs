//! "A projection changed": after a commit, per tenant, to whoever in this process subscribed
//! (the live feed, tests), and through PostgreSQL `LISTEN`/`NOTIFY` to every other process.
//!
//! A writer calls [`notify_in`] inside its transaction (PostgreSQL delivers a `NOTIFY` only
//! when the transaction commits, and never when it rolls back) and [`Hub::publish`] after the
//! commit. Each process runs [`listen`], which forwards the notifications of the other
//! processes to its own hub, so every process's subscribers see every change exactly once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use sitebox_sync::backoff::Backoff;

/// The PostgreSQL channel.
pub const CHANNEL: &str = "sitebox_changes";

/// Changes kept for a subscriber that falls behind; it then sees `Lagged` and re-reads.
const CAPACITY: usize = 4096;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// New events stored.
    Events,
    /// Payments projection.
    Payments,
    /// Subscribers projection.
    Subscribers,
    /// Subscriptions projection.
    Subscriptions,
    /// Vouchers projection.
    Vouchers,
    /// Sessions projection.
    Sessions,
    /// Routers and their health.
    Routers,
    /// Failed jobs at the site.
    FailedJobs,
    /// RADIUS rejects.
    AuthRejects,
    /// What a site's events add up to (site_health).
    Health,
    /// The command ledger.
    Commands,
    /// A site's liveness (state, presence, backlog, skew).
    Liveness,
    /// Alerts opened, acknowledged or resolved.
    Alerts,
}

/// One committed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The process that committed it.
    #[serde(rename = "o")]
    pub origin: String,
    /// The tenant.
    #[serde(rename = "t")]
    pub tenant: String,
    /// The site, when it is one site's.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// What changed.
    #[serde(rename = "p")]
    pub topics: Vec<Topic>,
    /// The range of new event seqs, when events came in.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub seqs: Option<(u64, u64)>,
    /// Cloud clock at the commit, ms.
    #[serde(rename = "at")]
    pub at: i64,
}

/// The process's fan-out of changes.
#[derive(Debug, Clone)]
pub struct Hub {
    origin: Arc<str>,
    sender: broadcast::Sender<Arc<Change>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub for this process, with a new origin id.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self {
            origin: uuid::Uuid::now_v7().to_string().into(),
            sender,
        }
    }

    /// This process's origin id.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A change of `tenant` (and `site`) about `topics`, from this process, now.
    pub fn change(&self, tenant: &str, site: Option<&str>, topics: Vec<Topic>) -> Change {
        Change {
            origin: self.origin.to_string(),
            tenant: tenant.to_string(),
            site: site.map(str::to_string),
            topics,
            seqs: None,
            at: crate::db::now_ms(),
        }
    }

    /// Every change from now on, of every tenant (a subscriber filters by its tenant).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }

    /// Hands a committed change to this process's subscribers.
    pub fn publish(&self, change: Change) {
        let _ = self.sender.send(Arc::new(change));
    }
}

/// Queues the `NOTIFY` for `change` in `tx`: sent to the other processes if `tx` commits.
pub async fn notify_in(
    tx: &tokio_postgres::Transaction<'_>,
    change: &Change,
) -> Result<(), tokio_postgres::Error> {
    let payload = serde_json::to_string(change).unwrap_or_default();
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
        .map(drop)
}

/// [`notify_in`] with the statement prepared once on the connection (the ingest, per batch).
pub async fn notify_prepared(
    db: &crate::db::Db<'_>,
    change: &Change,
) -> Result<(), tokio_postgres::Error> {
    let payload = serde_json::to_string(change).unwrap_or_default();
    db.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
        .map(drop)
}

/// Listens on [`CHANNEL`] and hands the other processes' changes to `hub`, reconnecting with
/// backoff, until `shutdown`.
pub async fn listen(
    url: String,
    hub: Hub,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
    shutdown: CancellationToken,
) {
    let mut ready = ready;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match listen_once(&url, &hub, &mut ready, &shutdown).await {
            Ok(()) => return,
            Err(err) => tracing::warn!(error = %err, "notify: listener connection lost"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

async fn listen_once(
    url: &str,
    hub: &Hub,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
    shutdown: &CancellationToken,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
    let stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let driver = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(message) = stream.next().await {
            match message {
                Ok(message) => {
                    if messages_tx.send(Ok(message)).is_err() {
                        return;
                    }
                }
                Err(err) => {
                    let _ = messages_tx.send(Err(err));
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    let result = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            message = messages.recv() => match message {
                Some(Ok(AsyncMessage::Notification(note))) => {
                    match serde_json::from_str::<Change>(note.payload()) {
                        Ok(change) if change.origin != hub.origin() => hub.publish(change),
                        Ok(_) => {}
                        Err(err) => tracing::debug!(error = %err, "notify: unreadable change dropped"),
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => break Err(err),
                None => break Ok(()),
            }
        }
    };
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_travels_as_short_json() {
        let hub = Hub::new();
        let mut change = hub.change("acme", Some("s1"), vec![Topic::Events, Topic::Payments]);
        change.seqs = Some((5, 9));
        change.at = 7;
        let text = serde_json::to_string(&change).expect("encode");
        assert_eq!(
            text,
            format!(
                r#"{{"o":"{}","t":"acme","s":"s1","p":["events","payments"],"r":[5,9],"at":7}}"#,
                hub.origin()
            )
        );
        assert_eq!(
            serde_json::from_str::<Change>(&text).expect("decode"),
            change
        );
    }
}
