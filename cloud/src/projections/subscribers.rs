//! `subscribers`: each subscriber of a site, by user name, as its newest full record says
//! (`SubscriberCreated`, `SubscriberUpdated`), with the MACs bound since
//! (`SubscriberMacBound`).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Decoded, Event, Projection, first_of, newest};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct Subscribers;

/// The public record of a subscriber (daemon/src/domain/subscribers.rs `public`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Record {
    id: i64,
    username: String,
    kind: Option<String>,
    mac_auth: Option<bool>,
    phone: Option<String>,
    state: Option<String>,
    #[serde(default)]
    macs: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct MacBound {
    username: String,
    mac: String,
}

pub(crate) enum Change {
    Record { record: Record, created: bool },
    MacBound(String),
}

pub(crate) struct Row {
    /// The newest full record, its seq and site time; None while only MAC bindings are known.
    record: Option<(i64, (Record, i64))>,
    /// `SubscriberCreated`'s site time (the first).
    created: Option<(i64, i64)>,
    /// MACs bound, each with the seq that bound it.
    bound: BTreeMap<String, i64>,
}

impl Row {
    fn record_seq(&self) -> i64 {
        self.record.as_ref().map_or(0, |(seq, _)| *seq)
    }
}

impl Projection for Subscribers {
    const NAME: &'static str = "subscribers";
    const TOPIC: Topic = Topic::Subscribers;
    type Key = String;
    type Change = Change;
    type Row = Row;

    fn change(event: &Event<'_>) -> Option<Decoded<String, Change>> {
        match event.kind {
            "SubscriberCreated" | "SubscriberUpdated" => Some(event.decode::<Record>().map(|r| {
                (
                    r.username.clone(),
                    Change::Record {
                        record: r,
                        created: event.kind == "SubscriberCreated",
                    },
                )
            })),
            "SubscriberMacBound" => Some(
                event
                    .decode::<MacBound>()
                    .map(|b| (b.username, Change::MacBound(b.mac))),
            ),
            _ => None,
        }
    }

    fn fold(row: Option<Row>, change: Change, event: &Event<'_>) -> Row {
        let mut row = row.unwrap_or(Row {
            record: None,
            created: None,
            bound: BTreeMap::new(),
        });
        match change {
            Change::Record { record, created } => {
                let new = (event.seq, (record, event.occurred_at));
                row.record = Some(match row.record.take() {
                    Some(old) => newest(old, new),
                    None => new,
                });
                if created {
                    row.created = first_of(row.created, Some((event.seq, event.occurred_at)));
                }
            }
            Change::MacBound(mac) => {
                let seq = row
                    .bound
                    .get(&mac)
                    .map_or(event.seq, |s| (*s).max(event.seq));
                row.bound.insert(mac, seq);
            }
        }
        // A binding older than the full record is already in it.
        let since = row.record_seq();
        row.bound.retain(|_, seq| *seq > since);
        row
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Row>, DbError> {
        let rows = tx
            .query(
                "SELECT username, subscriber_id, kind, state, phone, mac_auth, macs, macs_bound,
                        created_site, updated_site, seq
                 FROM subscribers WHERE tenant_id = $1 AND site_id = $2 AND username = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let username: String = r.get(0);
                let seq: i64 = r.get(10);
                let record = r.get::<_, Option<i64>>(1).map(|id| {
                    (
                        seq,
                        (
                            Record {
                                id,
                                username: username.clone(),
                                kind: r.get(2),
                                state: r.get(3),
                                phone: r.get(4),
                                mac_auth: r.get(5),
                                macs: serde_json::from_value(r.get(6)).unwrap_or_default(),
                            },
                            r.get::<_, Option<i64>>(9).unwrap_or(0),
                        ),
                    )
                });
                let bound: BTreeMap<String, i64> =
                    serde_json::from_value(r.get(7)).unwrap_or_default();
                // The created record's seq is not kept; any seq below the record's works.
                let created = r.get::<_, Option<i64>>(8).map(|at| (0, at));
                (
                    username,
                    Row {
                        record,
                        created,
                        bound,
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
        let mut username = Vec::with_capacity(n);
        let mut subscriber_id = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut state = Vec::with_capacity(n);
        let mut phone = Vec::with_capacity(n);
        let mut mac_auth = Vec::with_capacity(n);
        let mut macs = Vec::with_capacity(n);
        let mut bound = Vec::with_capacity(n);
        let mut created = Vec::with_capacity(n);
        let mut updated = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        for (key, row) in rows {
            let record_seq = row.record_seq();
            username.push(key);
            let record = row.record.map(|(_, r)| r);
            subscriber_id.push(record.as_ref().map(|(r, _)| r.id));
            kind.push(record.as_ref().and_then(|(r, _)| r.kind.clone()));
            state.push(record.as_ref().and_then(|(r, _)| r.state.clone()));
            phone.push(record.as_ref().and_then(|(r, _)| r.phone.clone()));
            mac_auth.push(record.as_ref().and_then(|(r, _)| r.mac_auth));
            macs.push(serde_json::json!(
                record
                    .as_ref()
                    .map(|(r, _)| r.macs.clone())
                    .unwrap_or_default()
            ));
            bound.push(serde_json::json!(row.bound));
            created.push(row.created.map(|(_, at)| at));
            updated.push(record.as_ref().map(|(_, at)| *at));
            seq.push(record_seq);
        }
        tx.execute(
            "INSERT INTO subscribers (tenant_id, site_id, username, subscriber_id, kind, state,
                 phone, mac_auth, macs, macs_bound, created_site, updated_site, seq)
             SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[],
                 $7::text[], $8::bool[], $9::jsonb[], $10::jsonb[], $11::bigint[], $12::bigint[],
                 $13::bigint[])
             ON CONFLICT (tenant_id, site_id, username) DO UPDATE SET
                 subscriber_id = excluded.subscriber_id, kind = excluded.kind,
                 state = excluded.state, phone = excluded.phone, mac_auth = excluded.mac_auth,
                 macs = excluded.macs, macs_bound = excluded.macs_bound,
                 created_site = excluded.created_site, updated_site = excluded.updated_site,
                 seq = excluded.seq",
            &[
                &tenant,
                &site,
                &username,
                &subscriber_id,
                &kind,
                &state,
                &phone,
                &mac_auth,
                &macs,
                &bound,
                &created,
                &updated,
                &seq,
            ],
        )
        .await?;
        Ok(())
    }
}
