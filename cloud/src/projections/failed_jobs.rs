//! `failed_jobs`: jobs that failed at a site (`JobFailed`) and what became of them
//! (`JobRetried`, `JobDiscarded`); the newest event says the state, the newest failure the
//! details.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Decoded, Event, Projection, newest};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct FailedJobs;

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Failed {
    job_id: i64,
    queue: Option<String>,
    kind: Option<String>,
    attempts: Option<i64>,
    error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Settled {
    job_id: i64,
}

pub(crate) enum Change {
    Failed(Failed),
    Retried,
    Discarded,
}

#[derive(Default)]
pub(crate) struct Row {
    /// The newest event: its seq and (state, site time).
    state: Option<(i64, (&'static str, i64))>,
    /// The newest failure: its seq, details and site time.
    failure: Option<(i64, (Failed, i64))>,
}

fn pick<T>(a: Option<(i64, T)>, b: (i64, T)) -> Option<(i64, T)> {
    Some(match a {
        Some(a) => newest(a, b),
        None => b,
    })
}

impl Projection for FailedJobs {
    const NAME: &'static str = "failed_jobs";
    const TOPIC: Topic = Topic::FailedJobs;
    type Key = i64;
    type Change = Change;
    type Row = Row;

    fn change(event: &Event<'_>) -> Option<Decoded<i64, Change>> {
        match event.kind {
            "JobFailed" => Some(
                event
                    .decode::<Failed>()
                    .map(|f| (f.job_id, Change::Failed(f))),
            ),
            "JobRetried" => Some(
                event
                    .decode::<Settled>()
                    .map(|s| (s.job_id, Change::Retried)),
            ),
            "JobDiscarded" => Some(
                event
                    .decode::<Settled>()
                    .map(|s| (s.job_id, Change::Discarded)),
            ),
            _ => None,
        }
    }

    fn fold(row: Option<Row>, change: Change, event: &Event<'_>) -> Row {
        let mut row = row.unwrap_or_default();
        let (seq, at) = (event.seq, event.occurred_at);
        match change {
            Change::Failed(failed) => {
                row.state = pick(row.state.take(), (seq, ("failed", at)));
                row.failure = pick(row.failure.take(), (seq, (failed, at)));
            }
            Change::Retried => row.state = pick(row.state.take(), (seq, ("retried", at))),
            Change::Discarded => row.state = pick(row.state.take(), (seq, ("discarded", at))),
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
                "SELECT job_id, queue, kind, attempts, error, state, failed_site, changed_site,
                        seq, failed_seq
                 FROM failed_jobs WHERE tenant_id = $1 AND site_id = $2 AND job_id = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let id: i64 = r.get(0);
                let state = match r.get::<_, &str>(5) {
                    "retried" => "retried",
                    "discarded" => "discarded",
                    _ => "failed",
                };
                let failure = r.get::<_, Option<i64>>(9).map(|seq| {
                    (
                        seq,
                        (
                            Failed {
                                job_id: id,
                                queue: r.get(1),
                                kind: r.get(2),
                                attempts: r.get(3),
                                error: r.get(4),
                            },
                            r.get::<_, Option<i64>>(6).unwrap_or(0),
                        ),
                    )
                });
                let state = Some((
                    r.get::<_, i64>(8),
                    (state, r.get::<_, Option<i64>>(7).unwrap_or(0)),
                ));
                (id, Row { state, failure })
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
        let mut queue = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut error = Vec::with_capacity(n);
        let mut state = Vec::with_capacity(n);
        let mut failed_site = Vec::with_capacity(n);
        let mut changed_site = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        let mut failed_seq = Vec::with_capacity(n);
        for (key, row) in rows {
            let (s, (st, at)) = row.state.unwrap_or((0, ("failed", 0)));
            let (fseq, (details, failed_at)) = row
                .failure
                .map_or((None, (Failed::default(), None)), |(s, (d, at))| {
                    (Some(s), (d, Some(at)))
                });
            id.push(key);
            queue.push(details.queue);
            kind.push(details.kind);
            attempts.push(details.attempts);
            error.push(details.error);
            state.push(st);
            failed_site.push(failed_at);
            changed_site.push(at);
            seq.push(s);
            failed_seq.push(fseq);
        }
        tx.execute(
            "INSERT INTO failed_jobs (tenant_id, site_id, job_id, queue, kind, attempts, error,
                 state, failed_site, changed_site, seq, failed_seq)
             SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[],
                 $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],
                 $12::bigint[])
             ON CONFLICT (tenant_id, site_id, job_id) DO UPDATE SET
                 queue = excluded.queue, kind = excluded.kind, attempts = excluded.attempts,
                 error = excluded.error, state = excluded.state,
                 failed_site = excluded.failed_site, changed_site = excluded.changed_site,
                 seq = excluded.seq, failed_seq = excluded.failed_seq",
            &[
                &tenant,
                &site,
                &id,
                &queue,
                &kind,
                &attempts,
                &error,
                &state,
                &failed_site,
                &changed_site,
                &seq,
                &failed_seq,
            ],
        )
        .await?;
        Ok(())
    }
}
