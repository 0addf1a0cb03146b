//! Alerts: named reasons (a site offline, a router unreachable, a payment not applied, failed
//! jobs, a RADIUS reject spike, a growing sync backlog, clock skew), each evaluated per site
//! (and per router) by the sweep against its rule ([`policy`]): a tolerance before an alert
//! opens, flap damping before it resolves ([`rule`]), maintenance windows that hold alerts back
//! ([`maintenance`]). An alert goes detected → acknowledged (by an operator, audited) →
//! resolved (when its condition has cleared).

pub mod maintenance;
pub mod policy;
pub mod rule;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tokio_postgres::{Client, Row, Transaction};

use crate::audit::{self, Actor};
use crate::db::{self, DbError};
use crate::liveness;
use crate::notify::{self, Hub, Topic};
pub use policy::{Reason, Rules};
use rule::{Condition, Transition};

/// Where an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Open, nobody has said they are on it.
    Detected,
    /// Open, an operator is on it.
    Acknowledged,
    /// Its condition cleared.
    Resolved,
}

impl AlertState {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertState::Detected => "detected",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// The state stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            AlertState::Detected,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// An alert as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Id (within the tenant).
    pub id: i64,
    /// Site.
    pub site: String,
    /// Why.
    pub reason: Reason,
    /// What (a router's name), or empty.
    pub subject: String,
    /// State.
    pub state: AlertState,
    /// Cloud clock, ms.
    pub detected_at: i64,
    /// Cloud clock, ms.
    pub acknowledged_at: Option<i64>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// Their note.
    pub ack_note: Option<String>,
    /// Cloud clock, ms.
    pub resolved_at: Option<i64>,
    /// Times the condition came back while it was open, or reopened it.
    pub flaps: i32,
    /// The figures behind it.
    pub detail: serde_json::Value,
    /// The site time those figures are as of, ms.
    pub as_of_site: Option<i64>,
}

/// The columns [`alert`] reads, in order.
pub const ALERT_COLUMNS: &str = "alert_id, site_id, reason, subject, state,
    (extract(epoch FROM detected_at) * 1000)::bigint,
    (extract(epoch FROM acknowledged_at) * 1000)::bigint, acknowledged_by, ack_note,
    (extract(epoch FROM resolved_at) * 1000)::bigint, flaps, detail, as_of_site";

/// An alert read with [`ALERT_COLUMNS`].
pub fn alert(row: &Row) -> Alert {
    Alert {
        id: row.get(0),
        site: row.get(1),
        reason: Reason::parse(row.get(2)).unwrap_or(Reason::SiteOffline),
        subject: row.get(3),
        state: AlertState::parse(row.get(4)).unwrap_or(AlertState::Detected),
        detected_at: row.get(5),
        acknowledged_at: row.get(6),
        acknowledged_by: row.get(7),
        ack_note: row.get(8),
        resolved_at: row.get(9),
        flaps: row.get(10),
        detail: row.get(11),
        as_of_site: row.get(12),
    }
}

/// A condition that is bad now.
#[derive(Debug, Clone)]
struct Bad {
    detail: serde_json::Value,
    as_of_site: Option<i64>,
}

type Key = (String, Reason, String);

/// Evaluates every alert rule of `tenant` at cloud time `now` (ms) in `tx`; returns whether any
/// alert changed.
pub async fn evaluate(
    tx: &Transaction<'_>,
    tenant: &str,
    now: i64,
    sites: &BTreeMap<String, liveness::SiteView>,
) -> Result<bool, DbError> {
    let policy: serde_json::Value = tx
        .query_opt(
            "SELECT alert_policy FROM tenants WHERE tenant_id = $1",
            &[&tenant],
        )
        .await?
        .map_or(serde_json::Value::Null, |r| r.get(0));
    let (rules, problems) = Rules::from_policy(&policy);
    for problem in problems {
        tracing::warn!(%tenant, %problem, "alerts: tenant policy entry ignored");
    }
    let mut bad: BTreeMap<Key, Bad> = BTreeMap::new();
    for (site, live) in sites {
        let reasons = &live.assessment.reasons;
        for (reason, when) in [
            (
                Reason::SiteOffline,
                live.assessment.state == liveness::State::Offline,
            ),
            (
                Reason::SyncBacklogGrowing,
                reasons.contains(&liveness::Reason::BacklogGrowing),
            ),
            (
                Reason::ClockSkew,
                live.detail["skew_ms"]
                    .as_i64()
                    .is_some_and(|s| s.abs() > rules.get(Reason::ClockSkew).threshold),
            ),
        ] {
            if when {
                bad.insert(
                    (site.clone(), reason, String::new()),
                    Bad {
                        detail: live.detail.clone(),
                        as_of_site: live.as_of_site,
                    },
                );
            }
        }
    }
    for row in tx
        .query(
            "SELECT site_id, name, status_detail, status_site FROM routers
             WHERE tenant_id = $1 AND status = 'down' AND coalesce(state, 'active') = 'active'",
            &[&tenant],
        )
        .await?
    {
        bad.insert(
            (row.get(0), Reason::RouterUnreachable, row.get(1)),
            Bad {
                detail: serde_json::json!({ "status": "down", "detail": row.get::<_, Option<String>>(2) }),
                as_of_site: row.get(3),
            },
        );
    }
    for row in tx
        .query(
            "SELECT site_id, count(*), max(failed_site),
                    (array_agg(error ORDER BY failed_site DESC))[1]
             FROM failed_jobs WHERE tenant_id = $1 AND state = 'failed' GROUP BY site_id",
            &[&tenant],
        )
        .await?
    {
        bad.insert(
            (row.get(0), Reason::FailedJobs, String::new()),
            Bad {
                detail: serde_json::json!({ "failed_jobs": row.get::<_, i64>(1), "last_error": row.get::<_, Option<String>>(3) }),
                as_of_site: row.get(2),
            },
        );
    }
    let minutes = rules.get(Reason::PaymentNotApplied).threshold.max(0);
    for row in tx
        .query(
            "SELECT site_id, count(*), (extract(epoch FROM now() - min(issued_at)))::bigint,
                    array_agg(payload->>'receipt' ORDER BY issued_at)
             FROM commands
             WHERE tenant_id = $1 AND type = 'payment.confirmed'
               AND state IN ('queued', 'delivered')
               AND issued_at < now() - make_interval(mins => $2::int)
             GROUP BY site_id",
            &[&tenant, &i32::try_from(minutes).unwrap_or(i32::MAX)],
        )
        .await?
    {
        let receipts: Vec<Option<String>> = row.get(3);
        bad.insert(
            (row.get(0), Reason::PaymentNotApplied, String::new()),
            Bad {
                detail: serde_json::json!({
                    "payments": row.get::<_, i64>(1),
                    "oldest_s": row.get::<_, i64>(2),
                    "receipts": receipts.into_iter().flatten().take(20).collect::<Vec<_>>(),
                }),
                as_of_site: None,
            },
        );
    }
    let spike = rules.get(Reason::RadiusRejectSpike).threshold;
    for row in tx
        .query(
            "SELECT r.site_id, sum(r.total)::bigint, max(h.last_event_site)
             FROM auth_rejects r JOIN site_health h
               ON h.tenant_id = r.tenant_id AND h.site_id = r.site_id
             WHERE r.tenant_id = $1 AND r.minute_site >= h.last_event_site - 300000
             GROUP BY r.site_id HAVING sum(r.total)::bigint > $2::bigint",
            &[&tenant, &spike],
        )
        .await?
    {
        bad.insert(
            (row.get(0), Reason::RadiusRejectSpike, String::new()),
            Bad {
                detail: serde_json::json!({ "rejects_in_5_min": row.get::<_, i64>(1), "threshold": spike }),
                as_of_site: row.get(2),
            },
        );
    }

    let maintenance = maintenance::active_sites(tx, tenant).await?;
    let mut conditions: BTreeMap<Key, Condition> = BTreeMap::new();
    for row in tx
        .query(
            "SELECT site_id, reason, subject,
                    (extract(epoch FROM bad_since) * 1000)::bigint,
                    (extract(epoch FROM good_since) * 1000)::bigint, alert_id, last_alert_id,
                    (extract(epoch FROM last_resolved) * 1000)::bigint
             FROM alert_conditions WHERE tenant_id = $1",
            &[&tenant],
        )
        .await?
    {
        let Some(reason) = Reason::parse(row.get(1)) else {
            continue;
        };
        let last = match (row.get::<_, Option<i64>>(6), row.get::<_, Option<i64>>(7)) {
            (Some(id), Some(at)) => Some((id, at)),
            _ => None,
        };
        conditions.insert(
            (row.get(0), reason, row.get(2)),
            Condition {
                bad_since: row.get(3),
                good_since: row.get(4),
                alert: row.get(5),
                last_resolved: last,
            },
        );
    }
    let keys: BTreeSet<Key> = bad.keys().chain(conditions.keys()).cloned().collect();
    let mut changed = false;
    for key in keys {
        let (site, reason, subject) = &key;
        if !sites.contains_key(site) {
            continue; // a disabled or removed site: leave its conditions as they are
        }
        let before = conditions.get(&key).copied().unwrap_or_default();
        let mut condition = before;
        let now_bad = bad.get(&key);
        let in_maintenance = maintenance.covers(site);
        let transition = rule::step(
            &mut condition,
            now_bad.is_some(),
            now,
            &rules.get(*reason).timing,
            in_maintenance,
        );
        match transition {
            Transition::None | Transition::Suppressed => {}
            Transition::Open => {
                let detail = now_bad.map(|b| b.detail.clone()).unwrap_or_default();
                let as_of = now_bad.and_then(|b| b.as_of_site);
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO alerts (tenant_id, site_id, reason, subject, detail, as_of_site)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING alert_id",
                        &[&tenant, site, &reason.as_str(), subject, &detail, &as_of],
                    )
                    .await?
                    .get(0);
                condition.alert = Some(id);
                tracing::info!(%tenant, %site, reason = reason.as_str(), %subject, id, "alert detected");
                changed = true;
            }
            Transition::Flap(id) => {
                tx.execute(
                    "UPDATE alerts SET flaps = flaps + 1 WHERE tenant_id = $1 AND alert_id = $2",
                    &[&tenant, &id],
                )
                .await?;
                changed = true;
            }
            Transition::Reopen(id) => {
                tx.execute(
                    "UPDATE alerts SET state = 'detected', resolved_at = NULL, flaps = flaps + 1,
                         acknowledged_at = NULL, acknowledged_by = NULL, ack_note = NULL
                     WHERE tenant_id = $1 AND alert_id = $2",
                    &[&tenant, &id],
                )
                .await?;
                tracing::info!(%tenant, %site, reason = reason.as_str(), id, "alert reopened");
                changed = true;
            }
            Transition::Resolve(id) => {
                tx.execute(
                    "UPDATE alerts SET state = 'resolved', resolved_at = now()
                     WHERE tenant_id = $1 AND alert_id = $2",
                    &[&tenant, &id],
                )
                .await?;
                tracing::info!(%tenant, %site, reason = reason.as_str(), id, "alert resolved");
                changed = true;
            }
        }
        // An open alert follows its figures.
        if let (Some(id), Some(now_bad)) = (condition.alert, now_bad)
            && transition != Transition::Open
        {
            let updated = tx
                .execute(
                    "UPDATE alerts SET detail = $3, as_of_site = $4
                     WHERE tenant_id = $1 AND alert_id = $2
                       AND (detail IS DISTINCT FROM $3 OR as_of_site IS DISTINCT FROM $4)",
                    &[&tenant, &id, &now_bad.detail, &now_bad.as_of_site],
                )
                .await?;
            changed |= updated > 0;
        }
        if condition != before {
            store_condition(tx, tenant, &key, &condition, &rules).await?;
        }
    }
    Ok(changed)
}

async fn store_condition(
    tx: &Transaction<'_>,
    tenant: &str,
    (site, reason, subject): &Key,
    c: &Condition,
    rules: &Rules,
) -> Result<(), DbError> {
    let reopen = i64::try_from(rules.get(*reason).timing.reopen_within.as_millis()).unwrap_or(0);
    let idle = c.bad_since.is_none()
        && c.good_since.is_none()
        && c.alert.is_none()
        && c.last_resolved
            .is_none_or(|(_, at)| db::now_ms() - at > reopen);
    if idle {
        tx.execute(
            "DELETE FROM alert_conditions
             WHERE tenant_id = $1 AND site_id = $2 AND reason = $3 AND subject = $4",
            &[&tenant, site, &reason.as_str(), subject],
        )
        .await?;
        return Ok(());
    }
    let to_ts = |ms: Option<i64>| ms.map(|ms| ms as f64 / 1000.0);
    tx.execute(
        "INSERT INTO alert_conditions (tenant_id, site_id, reason, subject, bad_since, good_since,
             alert_id, last_alert_id, last_resolved)
         VALUES ($1, $2, $3, $4, to_timestamp($5), to_timestamp($6), $7, $8, to_timestamp($9))
         ON CONFLICT (tenant_id, site_id, reason, subject) DO UPDATE SET
             bad_since = excluded.bad_since, good_since = excluded.good_since,
             alert_id = excluded.alert_id, last_alert_id = excluded.last_alert_id,
             last_resolved = excluded.last_resolved",
        &[
            &tenant,
            site,
            &reason.as_str(),
            subject,
            &to_ts(c.bad_since),
            &to_ts(c.good_since),
            &c.alert,
            &c.last_resolved.map(|(id, _)| id),
            &to_ts(c.last_resolved.map(|(_, at)| at)),
        ],
    )
    .await?;
    Ok(())
}

/// Why an alert action was refused.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] DbError),
    /// No such alert for this tenant (or outside the caller's sites).
    #[error("no alert {0}")]
    NotFound(i64),
    /// It is not in a state the action applies to.
    #[error("alert {id} is {state}: only a detected alert can be acknowledged")]
    Conflict {
        /// The alert.
        id: i64,
        /// Its state.
        state: &'static str,
    },
}

/// Acknowledges alert `id` of `tenant` (within `sites`, when given): detected → acknowledged,
/// with the actor and note, audited.
pub async fn acknowledge(
    client: &mut Client,
    hub: &Hub,
    actor: &Actor,
    tenant: &str,
    sites: Option<&[String]>,
    id: i64,
    note: &str,
) -> Result<Alert, AlertError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let current = tx
        .query_opt(
            "SELECT state, site_id FROM alerts WHERE tenant_id = $1 AND alert_id = $2 FOR UPDATE",
            &[&tenant, &id],
        )
        .await?;
    let Some(current) = current else {
        return Err(AlertError::NotFound(id));
    };
    let site: String = current.get(1);
    if sites.is_some_and(|sites| !sites.contains(&site)) {
        return Err(AlertError::NotFound(id));
    }
    let state = AlertState::parse(current.get(0)).unwrap_or(AlertState::Detected);
    if state != AlertState::Detected {
        return Err(AlertError::Conflict {
            id,
            state: state.as_str(),
        });
    }
    let row = tx
        .query_one(
            &format!(
                "UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(),
                     acknowledged_by = $3, ack_note = $4
                 WHERE tenant_id = $1 AND alert_id = $2 RETURNING {ALERT_COLUMNS}"
            ),
            &[&tenant, &id, &actor.as_str(), &note],
        )
        .await?;
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: "alert.acknowledge",
            site: Some(&site),
            subject: Some(&id.to_string()),
            detail: serde_json::json!({ "note": note }),
        },
    )
    .await?;
    let change = hub.change(tenant, Some(&site), vec![Topic::Alerts]);
    notify::notify_in(&tx, &change).await?;
    tx.commit().await?;
    hub.publish(change);
    Ok(alert(&row))
}
