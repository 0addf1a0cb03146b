//! `auth_rejects`: RADIUS rejects per minute of the site's clock, from the site's aggregated
//! `AuthRejected` reports. A sum: each event is counted once, when it is first stored.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Decoded, Event, Projection};
use crate::db::{Db, DbError};
use crate::notify::Topic;

pub(crate) struct AuthRejects;

#[derive(Debug, Deserialize)]
struct Report {
    total: i64,
}

const MINUTE: i64 = 60_000;

impl Projection for AuthRejects {
    const NAME: &'static str = "auth_rejects";
    const TOPIC: Topic = Topic::AuthRejects;
    type Key = i64;
    type Change = i64;
    type Row = i64;

    fn change(event: &Event<'_>) -> Option<Decoded<i64, i64>> {
        (event.kind == "AuthRejected").then(|| {
            event
                .decode::<Report>()
                .map(|r| (event.occurred_at.div_euclid(MINUTE) * MINUTE, r.total))
        })
    }

    fn fold(row: Option<i64>, change: i64, _event: &Event<'_>) -> i64 {
        row.unwrap_or(0).saturating_add(change)
    }

    async fn load(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        keys: &[i64],
    ) -> Result<HashMap<i64, i64>, DbError> {
        Ok(tx
            .query(
                "SELECT minute_site, total FROM auth_rejects
                 WHERE tenant_id = $1 AND site_id = $2 AND minute_site = ANY($3)",
                &[&tenant, &site, &keys],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn store(
        tx: &Db<'_>,
        tenant: &str,
        site: &str,
        rows: Vec<(i64, i64)>,
    ) -> Result<(), DbError> {
        let (minutes, totals): (Vec<i64>, Vec<i64>) = rows.into_iter().unzip();
        tx.execute(
            "INSERT INTO auth_rejects (tenant_id, site_id, minute_site, total)
             SELECT $1, $2, * FROM unnest($3::bigint[], $4::bigint[])
             ON CONFLICT (tenant_id, site_id, minute_site) DO UPDATE SET total = excluded.total",
            &[&tenant, &site, &minutes, &totals],
        )
        .await?;
        Ok(())
    }
}
