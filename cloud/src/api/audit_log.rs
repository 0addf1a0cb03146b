//! `GET /api/v1/audit`: who did what in this tenant, newest first (operator tokens).

use hyper::StatusCode;
use serde_json::{Value, json};

use super::page::{decode, limit, page};
use super::{ApiError, Ctx};
use crate::db;
use crate::http::{Response, json as respond};

/// `GET /api/v1/audit?site=&cursor=&limit=`.
pub(super) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["site", "cursor", "limit"])?;
    let limit = limit(ctx.query("limit"))?;
    let after: Option<i64> = decode(ctx.query("cursor"))?;
    let sites = ctx.site_filter().await?;
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    // A token limited to some sites sees only what happened at them.
    let rows = tx
        .query(
            "SELECT id, (extract(epoch FROM at) * 1000)::bigint, actor, action, site_id, subject, detail
             FROM audit_log
             WHERE tenant_id = $1 AND ($2::text[] IS NULL OR site_id = ANY($2))
               AND ($3::bigint IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
            &[&ctx.principal.tenant, &sites, &after, &(limit + 1)],
        )
        .await?;
    tx.commit().await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.get::<_, i64>(0), "at": r.get::<_, i64>(1), "actor": r.get::<_, String>(2),
                "action": r.get::<_, String>(3), "site": r.get::<_, Option<String>>(4),
                "subject": r.get::<_, Option<String>>(5), "detail": r.get::<_, Value>(6),
            })
        })
        .collect();
    Ok(respond(
        StatusCode::OK,
        &page(items, limit, |v| v["id"].as_i64().unwrap_or(0)),
    ))
}
