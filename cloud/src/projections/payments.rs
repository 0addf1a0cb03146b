//! `payments`: each payment a site recorded, by receipt, with its state at the site
//! (`received`, then `applied` or `rejected`) and the site's result (the subscription it
//! granted, or why it refused).

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Deserialize;

use super::{Decoded, Event, Projection, first_of, newest};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct Payments;

/// What every payment event carries (daemon/src/domain/payments.rs).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Record {
    payment_id: i64,
    provider: String,
    receipt: String,
    amount: i64,
    currency: String,
    phone: Option<String>,
    plan: Option<String>,
    username: Option<String>,
    #[serde(default)]
    subscription_id: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Received,
    Applied,
    Rejected,
}

pub(crate) struct Change {
    step: Step,
    record: Record,
}

/// Where the site's result came from.
#[derive(Debug, Clone)]
struct Settled {
    applied: bool,
    at_site: i64,
    subscription_id: Option<i64>,
    reason: Option<String>,
}

pub(crate) struct Row {
    /// The newest record and its seq.
    record: (i64, Record),
    /// PaymentReceived: seq, site time, cloud time.
    received: Option<(i64, (i64, Option<SystemTime>))>,
    /// PaymentApplied or PaymentRejected (the first).
    settled: Option<(i64, Settled)>,
}

impl Projection for Payments {
    const NAME: &'static str = "payments";
    const TOPIC: Topic = Topic::Payments;
    type Key = String;
    type Change = Change;
    type Row = Row;

    fn change(event: &Event<'_>) -> Option<Decoded<String, Change>> {
        let step = match event.kind {
            "PaymentReceived" => Step::Received,
            "PaymentApplied" => Step::Applied,
            "PaymentRejected" => Step::Rejected,
            _ => return None,
        };
        Some(
            event
                .decode::<Record>()
                .map(|record| (record.receipt.clone(), Change { step, record })),
        )
    }

    fn fold(row: Option<Row>, change: Change, event: &Event<'_>) -> Row {
        let Change { step, record } = change;
        let received = (step == Step::Received)
            .then_some((event.seq, (event.occurred_at, Some(event.received_at))));
        let settled = (step != Step::Received).then(|| {
            (
                event.seq,
                Settled {
                    applied: step == Step::Applied,
                    at_site: event.occurred_at,
                    subscription_id: record.subscription_id,
                    reason: record.reason.clone(),
                },
            )
        });
        match row {
            None => Row {
                record: (event.seq, record),
                received,
                settled,
            },
            Some(row) => Row {
                record: newest(row.record, (event.seq, record)),
                received: first_of(row.received, received),
                settled: first_of(row.settled, settled),
            },
        }
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Row>, DbError> {
        let rows = tx
            .query(
                "SELECT receipt, payment_id, provider, amount, currency, phone, plan, username,
                        subscription_id, state, reason, received_site, settled_site, received_at,
                        seq, received_seq, settled_seq
                 FROM payments WHERE tenant_id = $1 AND site_id = $2 AND receipt = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let receipt: String = r.get(0);
                let record = Record {
                    payment_id: r.get::<_, Option<i64>>(1).unwrap_or(0),
                    provider: r.get::<_, Option<String>>(2).unwrap_or_default(),
                    receipt: receipt.clone(),
                    amount: r.get::<_, Option<i64>>(3).unwrap_or(0),
                    currency: r.get::<_, Option<String>>(4).unwrap_or_default(),
                    phone: r.get(5),
                    plan: r.get(6),
                    username: r.get(7),
                    subscription_id: None,
                    reason: None,
                };
                let state: String = r.get(9);
                let received = r
                    .get::<_, Option<i64>>(15)
                    .map(|seq| (seq, (r.get::<_, Option<i64>>(11).unwrap_or(0), r.get(13))));
                let settled = r.get::<_, Option<i64>>(16).map(|seq| {
                    (
                        seq,
                        Settled {
                            applied: state == "applied",
                            at_site: r.get::<_, Option<i64>>(12).unwrap_or(0),
                            subscription_id: r.get(8),
                            reason: r.get(10),
                        },
                    )
                });
                (
                    receipt,
                    Row {
                        record: (r.get(14), record),
                        received,
                        settled,
                    },
                )
            })
            .collect())
    }

    async fn store(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        rows: Vec<(String, Row)>,
    ) -> Result<(), DbError> {
        let n = rows.len();
        let mut receipt = Vec::with_capacity(n);
        let mut payment_id = Vec::with_capacity(n);
        let mut provider = Vec::with_capacity(n);
        let mut amount = Vec::with_capacity(n);
        let mut currency = Vec::with_capacity(n);
        let mut phone = Vec::with_capacity(n);
        let mut plan = Vec::with_capacity(n);
        let mut username = Vec::with_capacity(n);
        let mut subscription_id = Vec::with_capacity(n);
        let mut state = Vec::with_capacity(n);
        let mut reason = Vec::with_capacity(n);
        let mut received_site = Vec::with_capacity(n);
        let mut settled_site = Vec::with_capacity(n);
        let mut received_at = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        let mut received_seq = Vec::with_capacity(n);
        let mut settled_seq = Vec::with_capacity(n);
        for (key, row) in rows {
            let (record_seq, record) = row.record;
            receipt.push(key);
            payment_id.push(record.payment_id);
            provider.push(record.provider);
            amount.push(record.amount);
            currency.push(record.currency);
            phone.push(record.phone);
            plan.push(record.plan);
            username.push(record.username);
            let settled = row.settled.as_ref().map(|(_, s)| s);
            subscription_id.push(settled.and_then(|s| s.subscription_id));
            state.push(match settled {
                Some(s) if s.applied => "applied",
                Some(_) => "rejected",
                None => "received",
            });
            reason.push(settled.and_then(|s| s.reason.clone()));
            received_site.push(row.received.as_ref().map(|(_, (at, _))| *at));
            settled_site.push(settled.map(|s| s.at_site));
            received_at.push(row.received.as_ref().and_then(|(_, (_, at))| *at));
            seq.push(record_seq);
            received_seq.push(row.received.as_ref().map(|(s, _)| *s));
            settled_seq.push(row.settled.as_ref().map(|(s, _)| *s));
        }
        tx.execute(
            "INSERT INTO payments (tenant_id, site_id, receipt, payment_id, provider, amount,
                 currency, phone, plan, username, subscription_id, state, reason, received_site,
                 settled_site, received_at, seq, received_seq, settled_seq)
             SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::text[], $6::bigint[],
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[],
                 $13::text[], $14::bigint[], $15::bigint[], $16::timestamptz[], $17::bigint[],
                 $18::bigint[], $19::bigint[])
             ON CONFLICT (tenant_id, site_id, receipt) DO UPDATE SET
                 payment_id = excluded.payment_id, provider = excluded.provider,
                 amount = excluded.amount, currency = excluded.currency, phone = excluded.phone,
                 plan = excluded.plan, username = excluded.username,
                 subscription_id = excluded.subscription_id, state = excluded.state,
                 reason = excluded.reason, received_site = excluded.received_site,
                 settled_site = excluded.settled_site, received_at = excluded.received_at,
                 seq = excluded.seq, received_seq = excluded.received_seq,
                 settled_seq = excluded.settled_seq",
            &[
                &tenant,
                &site,
                &receipt,
                &payment_id,
                &provider,
                &amount,
                &currency,
                &phone,
                &plan,
                &username,
                &subscription_id,
                &state,
                &reason,
                &received_site,
                &settled_site,
                &received_at,
                &seq,
                &received_seq,
                &settled_seq,
            ],
        )
        .await?;
        Ok(())
    }
}
