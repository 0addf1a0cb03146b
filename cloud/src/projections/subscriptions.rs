//! `subscriptions`: each subscription that started at a site (`SubscriptionStarted`), and how
//! it ended (`SubscriptionExpired`: expired or exhausted, with what was used). A subscription
//! queued behind another has no event until it starts.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Decoded, Event, Projection, first_of};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct Subscriptions;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Started {
    subscription_id: i64,
    subscriber_id: Option<i64>,
    plan: Option<String>,
    starts_at: Option<i64>,
    expires_at: Option<i64>,
    source: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Ended {
    subscription_id: i64,
    subscriber_id: Option<i64>,
    reason: String,
    used_seconds: Option<i64>,
    used_bytes: Option<i64>,
}

pub(crate) enum Change {
    Started(Started),
    Ended(Ended),
}

#[derive(Default)]
pub(crate) struct Row {
    started: Option<(i64, Started)>,
    /// The end, with its site time.
    ended: Option<(i64, (Ended, i64))>,
}

impl Projection for Subscriptions {
    const NAME: &'static str = "subscriptions";
    const TOPIC: Topic = Topic::Subscriptions;
    type Key = i64;
    type Change = Change;
    type Row = Row;

    fn change(event: &Event<'_>) -> Option<Decoded<i64, Change>> {
        match event.kind {
            "SubscriptionStarted" => Some(
                event
                    .decode::<Started>()
                    .map(|s| (s.subscription_id, Change::Started(s))),
            ),
            "SubscriptionExpired" => Some(
                event
                    .decode::<Ended>()
                    .map(|e| (e.subscription_id, Change::Ended(e))),
            ),
            _ => None,
        }
    }

    fn fold(row: Option<Row>, change: Change, event: &Event<'_>) -> Row {
        let mut row = row.unwrap_or_default();
        match change {
            Change::Started(started) => {
                row.started = first_of(row.started.take(), Some((event.seq, started)));
            }
            Change::Ended(ended) => {
                row.ended = first_of(
                    row.ended.take(),
                    Some((event.seq, (ended, event.occurred_at))),
                );
            }
        }
        row
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[i64],
    ) -> Result<HashMap<i64, Row>, DbError> {
        let rows = tx
            .query(
                "SELECT subscription_id, subscriber_id, plan, source, state, starts_site,
                        expires_site, ended_site, used_seconds, used_bytes, started_seq, ended_seq
                 FROM subscriptions
                 WHERE tenant_id = $1 AND site_id = $2 AND subscription_id = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let id: i64 = r.get(0);
                let started = r.get::<_, Option<i64>>(10).map(|seq| {
                    (
                        seq,
                        Started {
                            subscription_id: id,
                            subscriber_id: r.get(1),
                            plan: r.get(2),
                            starts_at: r.get(5),
                            expires_at: r.get(6),
                            source: r.get(3),
                        },
                    )
                });
                let ended = r.get::<_, Option<i64>>(11).map(|seq| {
                    (
                        seq,
                        (
                            Ended {
                                subscription_id: id,
                                subscriber_id: r.get(1),
                                reason: r.get(4),
                                used_seconds: r.get(8),
                                used_bytes: r.get(9),
                            },
                            r.get::<_, Option<i64>>(7).unwrap_or(0),
                        ),
                    )
                });
                (id, Row { started, ended })
            })
            .collect())
    }

    async fn store(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        rows: Vec<(i64, Row)>,
    ) -> Result<(), DbError> {
        let n = rows.len();
        let mut id = Vec::with_capacity(n);
        let mut subscriber = Vec::with_capacity(n);
        let mut plan = Vec::with_capacity(n);
        let mut source = Vec::with_capacity(n);
        let mut state = Vec::with_capacity(n);
        let mut starts = Vec::with_capacity(n);
        let mut expires = Vec::with_capacity(n);
        let mut ended_site = Vec::with_capacity(n);
        let mut used_seconds = Vec::with_capacity(n);
        let mut used_bytes = Vec::with_capacity(n);
        let mut started_seq = Vec::with_capacity(n);
        let mut ended_seq = Vec::with_capacity(n);
        for (key, row) in rows {
            let started = row.started.as_ref().map(|(_, s)| s);
            let ended = row.ended.as_ref().map(|(_, e)| e);
            id.push(key);
            subscriber.push(
                started
                    .and_then(|s| s.subscriber_id)
                    .or_else(|| ended.and_then(|(e, _)| e.subscriber_id)),
            );
            plan.push(started.and_then(|s| s.plan.clone()));
            source.push(started.and_then(|s| s.source.clone()));
            state.push(ended.map_or_else(|| "active".to_string(), |(e, _)| e.reason.clone()));
            starts.push(started.and_then(|s| s.starts_at));
            expires.push(started.and_then(|s| s.expires_at));
            ended_site.push(ended.map(|(_, at)| *at));
            used_seconds.push(ended.and_then(|(e, _)| e.used_seconds));
            used_bytes.push(ended.and_then(|(e, _)| e.used_bytes));
            started_seq.push(row.started.as_ref().map(|(s, _)| *s));
            ended_seq.push(row.ended.as_ref().map(|(s, _)| *s));
        }
        tx.execute(
            "INSERT INTO subscriptions (tenant_id, site_id, subscription_id, subscriber_id, plan,
                 source, state, starts_site, expires_site, ended_site, used_seconds, used_bytes,
                 started_seq, ended_seq)
             SELECT $1, $2, * FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[],
                 $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                 $12::bigint[], $13::bigint[], $14::bigint[])
             ON CONFLICT (tenant_id, site_id, subscription_id) DO UPDATE SET
                 subscriber_id = excluded.subscriber_id, plan = excluded.plan,
                 source = excluded.source, state = excluded.state,
                 starts_site = excluded.starts_site, expires_site = excluded.expires_site,
                 ended_site = excluded.ended_site, used_seconds = excluded.used_seconds,
                 used_bytes = excluded.used_bytes, started_seq = excluded.started_seq,
                 ended_seq = excluded.ended_seq",
            &[
                &tenant,
                &site,
                &id,
                &subscriber,
                &plan,
                &source,
                &state,
                &starts,
                &expires,
                &ended_site,
                &used_seconds,
                &used_bytes,
                &started_seq,
                &ended_seq,
            ],
        )
        .await?;
        Ok(())
    }
}
