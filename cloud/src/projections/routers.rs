//! `routers`: each router of a site by name, its configuration state (`RouterAdded`,
//! `RouterUpdated`) and its health as the site's poll last saw it (`RouterStatusChanged`),
//! with the site time of that sighting.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Decoded, Event, Projection, first_of, newest};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct Routers;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Added {
    id: Option<i64>,
    name: String,
    nas_ip: Option<String>,
    state: Option<String>,
    status: Option<String>,
    status_detail: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Updated {
    name: String,
    state: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StatusChanged {
    router: String,
    status: Option<String>,
    ros_version: Option<String>,
    identity: Option<String>,
    latency_ms: Option<i64>,
    detail: Option<String>,
}

pub(crate) enum Change {
    Added(Added),
    Updated(Updated),
    Status(StatusChanged),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Health {
    status: Option<String>,
    detail: Option<String>,
    ros_version: Option<String>,
    identity: Option<String>,
    latency_ms: Option<i64>,
    at_site: i64,
}

/// The site's id of a router and its RADIUS address.
type Identity = (Option<i64>, Option<String>);

#[derive(Default)]
pub(crate) struct Row {
    /// From `RouterAdded`.
    identity: Option<(i64, Identity)>,
    /// `active` / `disabled`, from the newest Added or Updated.
    state: Option<(i64, Option<String>)>,
    /// From the newest Added or StatusChanged.
    health: Option<(i64, Health)>,
}

fn pick<T>(a: Option<(i64, T)>, b: Option<(i64, T)>) -> Option<(i64, T)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(newest(a, b)),
        (a, b) => a.or(b),
    }
}

impl Projection for Routers {
    const NAME: &'static str = "routers";
    const TOPIC: Topic = Topic::Routers;
    type Key = String;
    type Change = Change;
    type Row = Row;

    fn change(event: &Event<'_>) -> Option<Decoded<String, Change>> {
        match event.kind {
            "RouterAdded" => Some(
                event
                    .decode::<Added>()
                    .map(|a| (a.name.clone(), Change::Added(a))),
            ),
            "RouterUpdated" => Some(
                event
                    .decode::<Updated>()
                    .map(|u| (u.name.clone(), Change::Updated(u))),
            ),
            "RouterStatusChanged" => Some(
                event
                    .decode::<StatusChanged>()
                    .map(|s| (s.router.clone(), Change::Status(s))),
            ),
            _ => None,
        }
    }

    fn fold(row: Option<Row>, change: Change, event: &Event<'_>) -> Row {
        let mut row = row.unwrap_or_default();
        let seq = event.seq;
        match change {
            Change::Added(added) => {
                row.identity = first_of(row.identity.take(), Some((seq, (added.id, added.nas_ip))));
                row.state = pick(row.state.take(), Some((seq, added.state)));
                let health = Health {
                    status: added.status,
                    detail: added.status_detail,
                    at_site: event.occurred_at,
                    ..Health::default()
                };
                row.health = pick(row.health.take(), Some((seq, health)));
            }
            Change::Updated(updated) => {
                row.state = pick(row.state.take(), Some((seq, updated.state)));
            }
            Change::Status(status) => {
                let health = Health {
                    status: status.status,
                    detail: status.detail,
                    ros_version: status.ros_version,
                    identity: status.identity,
                    latency_ms: status.latency_ms,
                    at_site: event.occurred_at,
                };
                row.health = pick(row.health.take(), Some((seq, health)));
            }
        }
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
                "SELECT name, router_id, nas_ip, state, status, status_detail, ros_version,
                        identity, latency_ms, status_site, config_seq, status_seq, identity_seq
                 FROM routers WHERE tenant_id = $1 AND site_id = $2 AND name = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let row = Row {
                    identity: r
                        .get::<_, Option<i64>>(12)
                        .map(|seq| (seq, (r.get(1), r.get(2)))),
                    state: r.get::<_, Option<i64>>(10).map(|seq| (seq, r.get(3))),
                    health: r.get::<_, Option<i64>>(11).map(|seq| {
                        (
                            seq,
                            Health {
                                status: r.get(4),
                                detail: r.get(5),
                                ros_version: r.get(6),
                                identity: r.get(7),
                                latency_ms: r.get(8),
                                at_site: r.get::<_, Option<i64>>(9).unwrap_or(0),
                            },
                        )
                    }),
                };
                (name, row)
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
        let mut name = Vec::with_capacity(n);
        let mut router_id = Vec::with_capacity(n);
        let mut nas_ip = Vec::with_capacity(n);
        let mut state = Vec::with_capacity(n);
        let mut status = Vec::with_capacity(n);
        let mut detail = Vec::with_capacity(n);
        let mut version = Vec::with_capacity(n);
        let mut identity = Vec::with_capacity(n);
        let mut latency = Vec::with_capacity(n);
        let mut status_site = Vec::with_capacity(n);
        let mut config_seq = Vec::with_capacity(n);
        let mut status_seq = Vec::with_capacity(n);
        let mut identity_seq = Vec::with_capacity(n);
        for (key, row) in rows {
            name.push(key);
            let (ident_seq, (id, ip)) = row
                .identity
                .map_or((None, (None, None)), |(s, v)| (Some(s), v));
            router_id.push(id);
            nas_ip.push(ip);
            identity_seq.push(ident_seq);
            let (cseq, st) = row.state.map_or((None, None), |(s, v)| (Some(s), v));
            config_seq.push(cseq);
            state.push(st);
            let (sseq, health) = row.health.map_or((None, None), |(s, h)| (Some(s), Some(h)));
            status_seq.push(sseq);
            let health = health.unwrap_or_default();
            status.push(health.status);
            detail.push(health.detail);
            version.push(health.ros_version);
            identity.push(health.identity);
            latency.push(health.latency_ms);
            status_site.push(sseq.map(|_| health.at_site));
        }
        tx.execute(
            "INSERT INTO routers (tenant_id, site_id, name, router_id, nas_ip, state, status,
                 status_detail, ros_version, identity, latency_ms, status_site, config_seq,
                 status_seq, identity_seq)
             SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[],
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[],
                 $13::bigint[], $14::bigint[], $15::bigint[])
             ON CONFLICT (tenant_id, site_id, name) DO UPDATE SET
                 router_id = excluded.router_id, nas_ip = excluded.nas_ip, state = excluded.state,
                 status = excluded.status, status_detail = excluded.status_detail,
                 ros_version = excluded.ros_version, identity = excluded.identity,
                 latency_ms = excluded.latency_ms, status_site = excluded.status_site,
                 config_seq = excluded.config_seq, status_seq = excluded.status_seq,
                 identity_seq = excluded.identity_seq",
            &[
                &tenant,
                &site,
                &name,
                &router_id,
                &nas_ip,
                &state,
                &status,
                &detail,
                &version,
                &identity,
                &latency,
                &status_site,
                &config_seq,
                &status_seq,
                &identity_seq,
            ],
        )
        .await?;
        Ok(())
    }
}
