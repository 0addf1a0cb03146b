//! Projections: the business tables built from a site's events, in the transaction that
//! stores them (and again by [`rebuild`]).
//!
//! Each projection decodes the events it reads into a typed change, loads the rows those
//! changes touch, folds the changes in and stores the rows back. The fold is built so that the
//! order of events does not matter: a field comes from the event with the highest seq that
//! carries it, a state that only moves forward (a session closed, a payment settled) comes
//! from the presence of the event that moves it, and counters only ever add events stored for
//! the first time. Replayed events are never projected twice (only rows the insert returned
//! are new), so the same events in any batches, in any order, give the same tables.
//!
//! An event a projection cannot read (a payload that does not fit its type, a schema version
//! it does not know) is recorded in `projection_failures` with the reason; the event stays in
//! `events` and the batch commits. Should the projection step itself fail in PostgreSQL, it is
//! rolled back to its savepoint and every new event of the batch is recorded as failed.
//! Either way a rebuild tries again.

mod auth_rejects;
mod failed_jobs;
mod payments;
mod rebuild;
mod routers;
mod sessions;
mod site_health;
mod subscribers;
mod subscriptions;
mod vouchers;

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use tokio_postgres::Transaction;

use crate::db::{Db, DbError, Statements};
use crate::notify::Topic;

pub use rebuild::{RebuildReport, rebuild_site, rebuild_tenant};

/// The projection tables, in the order a rebuild clears them.
pub const TABLES: &[&str] = &[
    "payments",
    "subscribers",
    "subscriptions",
    "voucher_batches",
    "vouchers",
    "sessions",
    "routers",
    "failed_jobs",
    "auth_rejects",
    "site_health",
];

/// One stored event as the projections read it (from a batch, or from `events`).
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The site's seq.
    pub seq: i64,
    /// The event type, e.g. `PaymentApplied`.
    pub kind: &'a str,
    /// Its payload's schema version.
    pub schema_version: i32,
    /// The box's clock when it happened, ms.
    pub occurred_at: i64,
    /// What it happened to.
    pub subject: &'a str,
    /// The payload, JSON text.
    pub payload: &'a str,
    /// When the cloud stored it.
    pub received_at: SystemTime,
}

impl Event<'_> {
    /// The payload as `T`, when this event's schema version is one the projections know.
    fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        if self.schema_version != 1 {
            return Err(format!(
                "schema version {} of {} is not known to this build",
                self.schema_version, self.kind
            ));
        }
        serde_json::from_str(self.payload).map_err(|e| {
            // Without serde's position: the stored payload (jsonb) is spaced differently from
            // the one the site sent, and a rebuild must record the same reason.
            let text = e.to_string();
            let reason = text.split(" at line ").next().unwrap_or(&text);
            format!("payload: {reason}")
        })
    }
}

/// An event a projection could not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its seq.
    pub seq: i64,
    /// Which projection.
    pub projection: &'static str,
    /// Its type.
    pub kind: String,
    /// Why.
    pub error: String,
}

/// What projecting some events did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// The projections that changed.
    pub topics: BTreeSet<Topic>,
    /// Events recorded as failed.
    pub failures: u64,
}

/// What a projection read from one event: the row's key and the change, or why it could not.
pub(crate) type Decoded<K, C> = Result<(K, C), String>;

/// One projection: how it reads events, folds them into rows and stores the rows.
pub(crate) trait Projection {
    /// Its name in `projection_failures`.
    const NAME: &'static str;
    /// What a change to it is announced as.
    const TOPIC: Topic;
    /// The row's key within the site.
    type Key: Clone + Eq + Hash + Ord + Send + Sync;
    /// What one event says.
    type Change;
    /// The row.
    type Row;

    /// The change `event` makes, None when the projection does not read its type.
    fn change(event: &Event<'_>) -> Option<Decoded<Self::Key, Self::Change>>;

    /// `row` (None when new) with `change`, made by `event`, folded in.
    fn fold(row: Option<Self::Row>, change: Self::Change, event: &Event<'_>) -> Self::Row;

    /// The stored rows of `keys`.
    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[Self::Key],
    ) -> Result<HashMap<Self::Key, Self::Row>, DbError>;

    /// Writes `rows` (inserted or replaced).
    async fn store(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        rows: Vec<(Self::Key, Self::Row)>,
    ) -> Result<(), DbError>;
}

/// What one projection did with a batch: whether it changed, and the events it could not
/// apply.
type Outcome = (Option<Topic>, Vec<Failure>);

async fn run<P: Projection>(
    tx: &Db<'_>,
    tenant: &str,
    site: &str,
    events: &[Event<'_>],
) -> Result<Outcome, DbError> {
    let mut failures = Vec::new();
    let mut changes = Vec::new();
    for event in events {
        match P::change(event) {
            None => {}
            Some(Ok((key, change))) => changes.push((key, change, event)),
            Some(Err(error)) => failures.push(Failure {
                seq: event.seq,
                projection: P::NAME,
                kind: event.kind.to_string(),
                error,
            }),
        }
    }
    if changes.is_empty() {
        return Ok((None, failures));
    }
    let mut keys: Vec<P::Key> = changes.iter().map(|(key, ..)| key.clone()).collect();
    keys.sort();
    keys.dedup();
    let mut rows = P::load(tx, tenant, site, &keys).await?;
    for (key, change, event) in changes {
        let row = rows.remove(&key);
        rows.insert(key, P::fold(row, change, event));
    }
    let mut rows: Vec<(P::Key, P::Row)> = rows.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    P::store(tx, tenant, site, rows).await?;
    Ok((Some(P::TOPIC), failures))
}

/// Projects `events` (new to `events`, any order) of `tenant`/`site` inside `tx`, with the
/// statements prepared on its connection.
pub async fn project(
    tx: &mut Transaction<'_>,
    statements: &Statements,
    tenant: &str,
    site: &str,
    events: &[Event<'_>],
) -> Result<Report, DbError> {
    let mut report = Report::default();
    if events.is_empty() {
        return Ok(report);
    }
    let mut failures = Vec::new();
    let savepoint = tx.savepoint("projections").await?;
    let outcome = project_all(
        &Db::new(&savepoint, statements),
        tenant,
        site,
        events,
        &mut report,
        &mut failures,
    )
    .await;
    match outcome {
        Ok(()) => savepoint.commit().await?,
        Err(err) => {
            savepoint.rollback().await?;
            tracing::error!(%tenant, %site, error = %err, "projections failed; the batch's events are recorded as failed");
            report = Report::default();
            failures = events
                .iter()
                .map(|event| Failure {
                    seq: event.seq,
                    projection: "all",
                    kind: event.kind.to_string(),
                    error: format!("projection step failed: {err}"),
                })
                .collect();
        }
    }
    record_failures(&Db::new(tx, statements), tenant, site, &failures).await?;
    report.failures = failures.len() as u64;
    Ok(report)
}

/// Runs every projection over `events`. They write disjoint tables, so they run concurrently:
/// their statements are pipelined on the one connection (a round trip for all the loads, one
/// for all the stores, rather than two per projection). Failures are merged in the order of the
/// projections, whatever order their statements completed in.
async fn project_all(
    tx: &Db<'_>,
    tenant: &str,
    site: &str,
    events: &[Event<'_>],
    report: &mut Report,
    failures: &mut Vec<Failure>,
) -> Result<(), DbError> {
    // Ten projections' futures side by side are ~20 KiB: on the heap, once per batch.
    let outcomes: [Outcome; 10] = {
        let (a, b, c, d, e, f, g, h, i, j) = Box::pin(async {
            tokio::try_join!(
                run::<payments::Payments>(tx, tenant, site, events),
                run::<subscribers::Subscribers>(tx, tenant, site, events),
                run::<subscriptions::Subscriptions>(tx, tenant, site, events),
                run::<vouchers::VoucherBatches>(tx, tenant, site, events),
                run::<vouchers::Vouchers>(tx, tenant, site, events),
                run::<sessions::Sessions>(tx, tenant, site, events),
                run::<routers::Routers>(tx, tenant, site, events),
                run::<failed_jobs::FailedJobs>(tx, tenant, site, events),
                run::<auth_rejects::AuthRejects>(tx, tenant, site, events),
                run::<site_health::SiteHealth>(tx, tenant, site, events),
            )
        })
        .await?;
        [a, b, c, d, e, f, g, h, i, j]
    };
    for (topic, mut failed) in outcomes {
        report.topics.extend(topic);
        failures.append(&mut failed);
    }
    Ok(())
}

async fn record_failures(
    tx: &Db<'_>,
    tenant: &str,
    site: &str,
    failures: &[Failure],
) -> Result<(), DbError> {
    if failures.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = failures.iter().map(|f| f.seq).collect();
    let projections: Vec<&str> = failures.iter().map(|f| f.projection).collect();
    let kinds: Vec<&str> = failures.iter().map(|f| f.kind.as_str()).collect();
    let errors: Vec<&str> = failures.iter().map(|f| f.error.as_str()).collect();
    tx.execute(
        "INSERT INTO projection_failures (tenant_id, site_id, seq, projection, type, error)
         SELECT $1, $2, s, p, t, e FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[])
              AS x(s, p, t, e)
         ON CONFLICT (tenant_id, site_id, seq, projection)
         DO UPDATE SET error = excluded.error, at = now()",
        &[&tenant, &site, &seqs, &projections, &kinds, &errors],
    )
    .await?;
    for failure in failures {
        tracing::warn!(%tenant, %site, seq = failure.seq, projection = failure.projection,
            kind = %failure.kind, error = %failure.error, "projection could not apply an event");
    }
    Ok(())
}

/// The value `later` (from seq `later_seq`) or `earlier` (from `earlier_seq`): the one from
/// the higher seq.
fn newest<T>(earlier: (i64, T), later: (i64, T)) -> (i64, T) {
    if later.0 > earlier.0 { later } else { earlier }
}

/// Of two optional (seq, value), the one with the lower seq (the first of its kind).
fn first_of<T>(a: Option<(i64, T)>, b: Option<(i64, T)>) -> Option<(i64, T)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// `row` if it came from a lower seq than `new`, else `new`.
fn keep_first<T>(row: Option<(i64, T)>, new: (i64, T)) -> (i64, T) {
    match row {
        Some(old) if old.0 < new.0 => old,
        _ => new,
    }
}
