//! `site_health`: what a site's events add up to (how many, the newest, payments applied and
//! their amount, RADIUS rejects, event types no projection knows). Sums and maxima only, so
//! each event counts once in any order. Liveness (presence, backlog, skew) is not here: it
//! comes from the link, not from events (src/liveness.rs).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Decoded, Event, Projection};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct SiteHealth;

/// Every type some projection reads, or that carries nothing to project.
const KNOWN: &[&str] = &[
    "PaymentReceived",
    "PaymentApplied",
    "PaymentRejected",
    "SubscriberCreated",
    "SubscriberUpdated",
    "SubscriberDeleted",
    "SubscriberMacBound",
    "SubscriptionStarted",
    "SubscriptionExpired",
    "VoucherRedeemed",
    "VouchersGenerated",
    "SessionStarted",
    "SessionUpdated",
    "SessionStopped",
    "AuthRejected",
    "ProvisioningSucceeded",
    "ProvisioningFailed",
    "RouterStatusChanged",
    "RouterAdded",
    "RouterUpdated",
    "PlanCreated",
    "PlanUpdated",
    "JobFailed",
    "JobRetried",
    "JobDiscarded",
    "TechnicianAction",
    "_dropped",
];

#[derive(Debug, Deserialize)]
struct Amount {
    amount: i64,
}

#[derive(Debug, Deserialize)]
struct Rejects {
    total: i64,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Row {
    events: i64,
    last_seq: i64,
    last_event_site: Option<i64>,
    payments_applied: i64,
    amount_applied: i64,
    auth_rejects: i64,
    unprojected: BTreeMap<String, i64>,
}

impl Row {
    fn add(mut self, other: &Row) -> Row {
        self.events += other.events;
        self.last_seq = self.last_seq.max(other.last_seq);
        self.last_event_site = self.last_event_site.max(other.last_event_site);
        self.payments_applied += other.payments_applied;
        self.amount_applied += other.amount_applied;
        self.auth_rejects += other.auth_rejects;
        for (kind, n) in &other.unprojected {
            *self.unprojected.entry(kind.clone()).or_default() += n;
        }
        self
    }
}

impl Projection for SiteHealth {
    const NAME: &'static str = "site_health";
    const TOPIC: Topic = Topic::Health;
    type Key = ();
    type Change = Row;
    type Row = Row;

    fn change(event: &Event<'_>) -> Option<Decoded<(), Row>> {
        let mut row = Row {
            events: 1,
            last_seq: event.seq,
            last_event_site: (event.kind != "_dropped").then_some(event.occurred_at),
            ..Row::default()
        };
        match event.kind {
            "PaymentApplied" => match event.decode::<Amount>() {
                Ok(a) => {
                    row.payments_applied = 1;
                    row.amount_applied = a.amount;
                }
                Err(e) => return Some(Err(e)),
            },
            "AuthRejected" => match event.decode::<Rejects>() {
                Ok(r) => row.auth_rejects = r.total,
                Err(e) => return Some(Err(e)),
            },
            kind if !KNOWN.contains(&kind) => {
                row.unprojected.insert(kind.to_string(), 1);
            }
            _ => {}
        }
        Some(Ok(((), row)))
    }

    fn fold(row: Option<Row>, change: Row, _event: &Event<'_>) -> Row {
        row.unwrap_or_default().add(&change)
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        _keys: &[()],
    ) -> Result<HashMap<(), Row>, DbError> {
        Ok(tx
            .query(
                "SELECT events, last_seq, last_event_site, payments_applied, amount_applied,
                        auth_rejects, unprojected
                 FROM site_health WHERE tenant_id = $1 AND site_id = $2",
                &[&tenant, &site],
            )
            .await?
            .iter()
            .map(|r| {
                (
                    (),
                    Row {
                        events: r.get(0),
                        last_seq: r.get(1),
                        last_event_site: r.get(2),
                        payments_applied: r.get(3),
                        amount_applied: r.get(4),
                        auth_rejects: r.get(5),
                        unprojected: serde_json::from_value(r.get(6)).unwrap_or_default(),
                    },
                )
            })
            .collect())
    }

    async fn store(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        rows: Vec<((), Row)>,
    ) -> Result<(), DbError> {
        for ((), row) in rows {
            tx.execute(
                "INSERT INTO site_health (tenant_id, site_id, events, last_seq, last_event_site,
                     payments_applied, amount_applied, auth_rejects, unprojected)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (tenant_id, site_id) DO UPDATE SET
                     events = excluded.events, last_seq = excluded.last_seq,
                     last_event_site = excluded.last_event_site,
                     payments_applied = excluded.payments_applied,
                     amount_applied = excluded.amount_applied,
                     auth_rejects = excluded.auth_rejects, unprojected = excluded.unprojected",
                &[
                    &tenant,
                    &site,
                    &row.events,
                    &row.last_seq,
                    &row.last_event_site,
                    &row.payments_applied,
                    &row.amount_applied,
                    &row.auth_rejects,
                    &serde_json::json!(row.unprojected),
                ],
            )
            .await?;
        }
        Ok(())
    }
}
