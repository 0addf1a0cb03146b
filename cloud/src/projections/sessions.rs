//! `sessions`: each accounting session of a site (`SessionStarted`, `SessionUpdated`,
//! `SessionStopped`), open or closed, with its usage. Counters come from the newest event (a
//! router's late Stop after the site closed the session arrives as a later `SessionUpdated`);
//! a session is closed once any `SessionStopped` is seen, whatever came after it.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Decoded, Event, Projection, first_of, newest};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct Sessions;

/// What every session event carries (daemon/src/domain/accounting.rs).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Record {
    session_id: i64,
    router_id: Option<i64>,
    acct_session_id: Option<String>,
    username: Option<String>,
    mac: Option<String>,
    framed_ip: Option<String>,
    subscriber_id: Option<i64>,
    session_time_s: Option<i64>,
    input_octets: Option<i64>,
    output_octets: Option<i64>,
    terminate_cause: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Started,
    Updated,
    Stopped,
}

pub(crate) struct Change {
    step: Step,
    record: Record,
}

pub(crate) struct Row {
    /// The newest record (counters), its seq and site time.
    record: (i64, (Record, i64)),
    /// `SessionStarted`: seq, site time.
    started: Option<(i64, i64)>,
    /// The first `SessionStopped`: seq, (site time, cause).
    stopped: Option<(i64, (i64, Option<i64>))>,
}

impl Projection for Sessions {
    const NAME: &'static str = "sessions";
    const TOPIC: Topic = Topic::Sessions;
    type Key = i64;
    type Change = Change;
    type Row = Row;

    fn change(event: &Event<'_>) -> Option<Decoded<i64, Change>> {
        let step = match event.kind {
            "SessionStarted" => Step::Started,
            "SessionUpdated" => Step::Updated,
            "SessionStopped" => Step::Stopped,
            _ => return None,
        };
        Some(
            event
                .decode::<Record>()
                .map(|record| (record.session_id, Change { step, record })),
        )
    }

    fn fold(row: Option<Row>, change: Change, event: &Event<'_>) -> Row {
        let Change { step, record } = change;
        let started = (step == Step::Started).then_some((event.seq, event.occurred_at));
        let stopped = (step == Step::Stopped)
            .then_some((event.seq, (event.occurred_at, record.terminate_cause)));
        let new = (event.seq, (record, event.occurred_at));
        match row {
            None => Row {
                record: new,
                started,
                stopped,
            },
            Some(row) => Row {
                record: newest(row.record, new),
                started: first_of(row.started, started),
                stopped: first_of(row.stopped, stopped),
            },
        }
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[i64],
    ) -> Result<HashMap<i64, Row>, DbError> {
        let rows = tx
            .query(
                "SELECT session_id, router_id, acct_session_id, username, mac, framed_ip,
                        subscriber_id, session_time_s, input_octets, output_octets,
                        terminate_cause, started_site, ended_site, updated_site, seq,
                        started_seq, stopped_seq
                 FROM sessions WHERE tenant_id = $1 AND site_id = $2 AND session_id = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let id: i64 = r.get(0);
                let record = Record {
                    session_id: id,
                    router_id: r.get(1),
                    acct_session_id: r.get(2),
                    username: r.get(3),
                    mac: r.get(4),
                    framed_ip: r.get(5),
                    subscriber_id: r.get(6),
                    session_time_s: r.get(7),
                    input_octets: r.get(8),
                    output_octets: r.get(9),
                    terminate_cause: None,
                };
                let started = r
                    .get::<_, Option<i64>>(15)
                    .map(|seq| (seq, r.get::<_, Option<i64>>(11).unwrap_or(0)));
                let stopped = r.get::<_, Option<i64>>(16).map(|seq| {
                    (
                        seq,
                        (
                            r.get::<_, Option<i64>>(12).unwrap_or(0),
                            r.get::<_, Option<i64>>(10),
                        ),
                    )
                });
                (
                    id,
                    Row {
                        record: (
                            r.get(14),
                            (record, r.get::<_, Option<i64>>(13).unwrap_or(0)),
                        ),
                        started,
                        stopped,
                    },
                )
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
        let mut router = Vec::with_capacity(n);
        let mut acct = Vec::with_capacity(n);
        let mut username = Vec::with_capacity(n);
        let mut mac = Vec::with_capacity(n);
        let mut ip = Vec::with_capacity(n);
        let mut subscriber = Vec::with_capacity(n);
        let mut state = Vec::with_capacity(n);
        let mut time = Vec::with_capacity(n);
        let mut input = Vec::with_capacity(n);
        let mut output = Vec::with_capacity(n);
        let mut cause = Vec::with_capacity(n);
        let mut started_site = Vec::with_capacity(n);
        let mut ended_site = Vec::with_capacity(n);
        let mut updated_site = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        let mut started_seq = Vec::with_capacity(n);
        let mut stopped_seq = Vec::with_capacity(n);
        for (key, row) in rows {
            let (record_seq, (record, at)) = row.record;
            id.push(key);
            router.push(record.router_id);
            acct.push(record.acct_session_id);
            username.push(record.username);
            mac.push(record.mac);
            ip.push(record.framed_ip);
            subscriber.push(record.subscriber_id);
            state.push(if row.stopped.is_some() {
                "closed"
            } else {
                "open"
            });
            time.push(record.session_time_s);
            input.push(record.input_octets);
            output.push(record.output_octets);
            cause.push(row.stopped.and_then(|(_, (_, cause))| cause));
            started_site.push(row.started.map(|(_, at)| at));
            ended_site.push(row.stopped.map(|(_, (at, _))| at));
            updated_site.push(at);
            seq.push(record_seq);
            started_seq.push(row.started.map(|(s, _)| s));
            stopped_seq.push(row.stopped.map(|(s, _)| s));
        }
        tx.execute(
            "INSERT INTO sessions (tenant_id, site_id, session_id, router_id, acct_session_id,
                 username, mac, framed_ip, subscriber_id, state, session_time_s, input_octets,
                 output_octets, terminate_cause, started_site, ended_site, updated_site, seq,
                 started_seq, stopped_seq)
             SELECT $1, $2, * FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[],
                 $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[],
                 $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
                 $18::bigint[], $19::bigint[], $20::bigint[])
             ON CONFLICT (tenant_id, site_id, session_id) DO UPDATE SET
                 router_id = excluded.router_id, acct_session_id = excluded.acct_session_id,
                 username = excluded.username, mac = excluded.mac,
                 framed_ip = excluded.framed_ip, subscriber_id = excluded.subscriber_id,
                 state = excluded.state, session_time_s = excluded.session_time_s,
                 input_octets = excluded.input_octets, output_octets = excluded.output_octets,
                 terminate_cause = excluded.terminate_cause,
                 started_site = excluded.started_site, ended_site = excluded.ended_site,
                 updated_site = excluded.updated_site, seq = excluded.seq,
                 started_seq = excluded.started_seq, stopped_seq = excluded.stopped_seq",
            &[
                &tenant,
                &site,
                &id,
                &router,
                &acct,
                &username,
                &mac,
                &ip,
                &subscriber,
                &state,
                &time,
                &input,
                &output,
                &cause,
                &started_site,
                &ended_site,
                &updated_site,
                &seq,
                &started_seq,
                &stopped_seq,
            ],
        )
        .await?;
        Ok(())
    }
}
