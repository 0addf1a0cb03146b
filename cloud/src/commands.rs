//! The command ledger: commands to sites, `queued` (recorded) → `delivered` (the broker took
//! it) → `applied` | `rejected` (the site's result), each with its times, and `expired` for a
//! `resend_from` the broker dropped unsent. [`issue`] is the one operator action that sends a
//! command (the CLI and the API call it); the publisher sends, [`mark_delivered`] and
//! [`store_result`] move it on, the sweep re-sends what waits too long.

use std::time::Duration;

use serde::Serialize;
use sitebox_sync::wire::{Command, CommandResult, RESEND_FROM, VERSION, valid_id};
use tokio_postgres::{Client, Row, Transaction};

use crate::audit::{self, Actor};
use crate::db::{self, DbError};
use crate::ingest::IngestError;
use crate::notify::{self, Hub, Topic};

/// Where a command is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerState {
    /// Recorded, handed to the publisher.
    Queued,
    /// The broker took it (QoS 1 PUBACK); the site gets it when it is connected.
    Delivered,
    /// The site applied it.
    Applied,
    /// The site refused it (dead-lettered with a reason).
    Rejected,
    /// A `resend_from` the broker dropped unsent after its expiry.
    Expired,
}

impl LedgerState {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LedgerState::Queued => "queued",
            LedgerState::Delivered => "delivered",
            LedgerState::Applied => "applied",
            LedgerState::Rejected => "rejected",
            LedgerState::Expired => "expired",
        }
    }

    /// The state stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            LedgerState::Queued,
            LedgerState::Delivered,
            LedgerState::Applied,
            LedgerState::Rejected,
            LedgerState::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Whether the site has answered (or never will).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            LedgerState::Applied | LedgerState::Rejected | LedgerState::Expired
        )
    }
}

/// Why a command was not issued.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] DbError),
    /// The site is not this tenant's (or does not exist).
    #[error("no site `{0}`")]
    UnknownSite(String),
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
    /// The id was used before for another site or type.
    #[error("command id `{0}` was already used for another command")]
    IdReused(String),
}

/// A command to issue.
#[derive(Debug, Clone)]
pub struct NewCommand {
    /// The site.
    pub site: String,
    /// The command type, e.g. `payment.confirmed`.
    pub kind: String,
    /// Its arguments.
    pub payload: serde_json::Value,
    /// Its idempotency key (None: a new UUIDv7). Issuing an id again sends the same command
    /// again, and the site answers with its first result.
    pub id: Option<String>,
    /// For a `resend_from`: the broker drops it unsent after this (MQTT 5 message expiry).
    pub expires: Option<Duration>,
}

/// A command as the ledger holds it.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    /// Id.
    pub id: String,
    /// Site.
    pub site: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Arguments.
    pub payload: serde_json::Value,
    /// Who issued it.
    pub issued_by: String,
    /// State.
    pub state: LedgerState,
    /// Cloud clock, ms.
    pub issued_at: i64,
    /// When the broker took it, ms.
    pub delivered_at: Option<i64>,
    /// When the result arrived, ms.
    pub result_at: Option<i64>,
    /// The box's clock when it handled it, ms.
    pub handled_at_site: Option<i64>,
    /// How often it was published.
    pub sends: i32,
    /// The site's answer.
    pub result: Option<serde_json::Value>,
    /// Ms from issue to now (open) or to the result.
    pub age_ms: i64,
}

/// The columns [`entry`] reads, in order.
pub const ENTRY_COLUMNS: &str = "command_id, site_id, type, payload, issued_by, state,
    (extract(epoch FROM issued_at) * 1000)::bigint,
    (extract(epoch FROM delivered_at) * 1000)::bigint,
    (extract(epoch FROM result_at) * 1000)::bigint,
    handled_at_site, sends, result,
    (extract(epoch FROM coalesce(result_at, now()) - issued_at) * 1000)::bigint";

/// A ledger row read with [`ENTRY_COLUMNS`].
pub fn entry(row: &Row) -> LedgerEntry {
    LedgerEntry {
        id: row.get(0),
        site: row.get(1),
        kind: row.get(2),
        payload: row.get(3),
        issued_by: row.get(4),
        state: LedgerState::parse(row.get(5)).unwrap_or(LedgerState::Queued),
        issued_at: row.get(6),
        delivered_at: row.get(7),
        result_at: row.get(8),
        handled_at_site: row.get(9),
        sends: row.get(10),
        result: row.get(11),
        age_ms: row.get(12),
    }
}

fn wire(id: String, kind: String, payload: serde_json::Value, issued_at: i64) -> Command {
    Command {
        v: VERSION,
        id,
        kind,
        payload,
        issued_at,
    }
}

/// Records `new` for `tenant` in `tx` (tenant set) and returns it as it goes on the wire.
/// An id issued before comes back as first recorded (to be sent again) when it names the same
/// site and type.
pub async fn issue_in(
    tx: &Transaction<'_>,
    actor: &Actor,
    tenant: &str,
    new: &NewCommand,
) -> Result<Command, CommandError> {
    if !valid_id(&new.site) {
        return Err(CommandError::UnknownSite(new.site.clone()));
    }
    if new.kind.is_empty() || new.kind.len() > 64 {
        return Err(CommandError::Invalid("type must be 1-64 characters".into()));
    }
    let id = new
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    if id.is_empty() || id.len() > 128 {
        return Err(CommandError::Invalid("id must be 1-128 characters".into()));
    }
    if tx
        .query_opt(
            "SELECT 1 FROM sites WHERE tenant_id = $1 AND site_id = $2",
            &[&tenant, &new.site],
        )
        .await?
        .is_none()
    {
        return Err(CommandError::UnknownSite(new.site.clone()));
    }
    let expires = new.expires.map(|d| d.as_secs_f64());
    let row = tx
        .query_opt(
            "INSERT INTO commands (tenant_id, command_id, site_id, type, payload, issued_by,
                                   expires_at, sends, last_sent_at)
             VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), 1, now())
             ON CONFLICT (tenant_id, command_id) DO NOTHING
             RETURNING (extract(epoch FROM issued_at) * 1000)::bigint",
            &[
                &tenant,
                &id,
                &new.site,
                &new.kind,
                &new.payload,
                &actor.as_str(),
                &expires,
            ],
        )
        .await?;
    let command = match row {
        Some(row) => wire(id, new.kind.clone(), new.payload.clone(), row.get(0)),
        None => {
            let first = tx
                .query_one(
                    "UPDATE commands SET sends = sends + 1, last_sent_at = now()
                     WHERE tenant_id = $1 AND command_id = $2
                     RETURNING site_id, type, payload, (extract(epoch FROM issued_at) * 1000)::bigint",
                    &[&tenant, &id],
                )
                .await?;
            let (site, kind): (String, String) = (first.get(0), first.get(1));
            if site != new.site || kind != new.kind {
                return Err(CommandError::IdReused(id));
            }
            wire(id, kind, first.get(2), first.get(3))
        }
    };
    if new.kind != RESEND_FROM {
        audit::record(
            tx,
            audit::Entry {
                tenant,
                actor,
                action: "command.send",
                site: Some(&new.site),
                subject: Some(&command.id),
                detail: serde_json::json!({ "type": new.kind, "payload": new.payload }),
            },
        )
        .await?;
    }
    Ok(command)
}

/// [`issue_in`] in a transaction of its own, with the change notified.
pub async fn issue(
    client: &mut Client,
    hub: &Hub,
    actor: &Actor,
    tenant: &str,
    new: &NewCommand,
) -> Result<Command, CommandError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let command = issue_in(&tx, actor, tenant, new).await?;
    let change = hub.change(tenant, Some(&new.site), vec![Topic::Commands]);
    notify::notify_in(&tx, &change).await?;
    tx.commit().await?;
    hub.publish(change);
    Ok(command)
}

/// The broker took the command: `queued` → `delivered`.
pub async fn mark_delivered(client: &mut Client, tenant: &str, id: &str) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    tx.execute(
        "UPDATE commands SET state = 'delivered', delivered_at = coalesce(delivered_at, now())
         WHERE tenant_id = $1 AND command_id = $2 AND state = 'queued'",
        &[&tenant, &id],
    )
    .await?;
    tx.commit().await
}

/// Records a result from `tenant`/`site`: the first one wins (a result after `expired` too),
/// repeats are counted. A result for a command this site was never sent is refused.
pub async fn store_result(
    client: &mut Client,
    hub: &Hub,
    tenant: &str,
    site: &str,
    result: &CommandResult,
) -> Result<(), IngestError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let updated = tx
        .execute(
            "UPDATE commands SET
                 state = CASE WHEN state IN ('queued', 'delivered', 'expired') THEN $4 ELSE state END,
                 result = CASE WHEN state IN ('queued', 'delivered', 'expired') THEN $5 ELSE result END,
                 result_at = CASE WHEN state IN ('queued', 'delivered', 'expired') THEN now() ELSE result_at END,
                 handled_at_site = coalesce(handled_at_site, $6),
                 delivered_at = coalesce(delivered_at, now()),
                 results_received = results_received + 1
             WHERE tenant_id = $1 AND site_id = $2 AND command_id = $3",
            &[
                &tenant,
                &site,
                &result.id,
                &result.state.as_str(),
                &result.result,
                &result.handled_at,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(IngestError::Rejected(format!(
            "result for command {} which {tenant}/{site} was never sent",
            result.id
        )));
    }
    let change = hub.change(tenant, Some(site), vec![Topic::Commands]);
    notify::notify_in(&tx, &change).await?;
    tx.commit().await?;
    hub.publish(change);
    Ok(())
}

/// Commands of `tenant` to send again, claimed (`last_sent_at` moved on) so that one process
/// sends each: `queued` ones not sent for `queued_after` (the publisher that had them may be
/// gone), and `delivered` ones without a result for `unanswered_after` (the site may have been
/// away longer than the broker kept its session). A `resend_from` is never sent again: a new
/// gap check asks afresh if the gap is still there.
pub async fn claim_resends(
    tx: &Transaction<'_>,
    tenant: &str,
    queued_after: Duration,
    unanswered_after: Duration,
) -> Result<Vec<(String, Command)>, DbError> {
    let rows = tx
        .query(
            "UPDATE commands c SET last_sent_at = now(), sends = sends + 1
             FROM (SELECT command_id FROM commands
                   WHERE tenant_id = $1 AND type <> $4
                     AND ((state = 'queued' AND last_sent_at < now() - make_interval(secs => $2))
                       OR (state = 'delivered' AND last_sent_at < now() - make_interval(secs => $3)))
                   ORDER BY issued_at LIMIT 1000
                   FOR UPDATE SKIP LOCKED) due
             WHERE c.tenant_id = $1 AND c.command_id = due.command_id
             RETURNING c.site_id, c.command_id, c.type, c.payload,
                       (extract(epoch FROM c.issued_at) * 1000)::bigint",
            &[
                &tenant,
                &queued_after.as_secs_f64(),
                &unanswered_after.as_secs_f64(),
                &RESEND_FROM,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                wire(row.get(1), row.get(2), row.get(3), row.get(4)),
            )
        })
        .collect())
}

/// Marks `resend_from` commands past their expiry (and a grace) without a result `expired`;
/// returns how many.
pub async fn expire(tx: &Transaction<'_>, tenant: &str, grace: Duration) -> Result<u64, DbError> {
    tx.execute(
        "UPDATE commands SET state = 'expired'
         WHERE tenant_id = $1 AND state IN ('queued', 'delivered')
           AND expires_at < now() - make_interval(secs => $2)",
        &[&tenant, &grace.as_secs_f64()],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_know_which_are_final() {
        for state in [
            LedgerState::Queued,
            LedgerState::Delivered,
            LedgerState::Applied,
            LedgerState::Rejected,
            LedgerState::Expired,
        ] {
            assert_eq!(LedgerState::parse(state.as_str()), Some(state));
        }
        assert_eq!(LedgerState::parse("applied "), None);
        assert!(!LedgerState::Delivered.is_final());
        assert!(LedgerState::Expired.is_final());
    }
}
