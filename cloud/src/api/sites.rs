//! `/api/v1/sites…`: each site's liveness (with the signals behind it), sync cursor and health,
//! as of the site's time; and per site its routers, failed jobs, sessions, subscribers,
//! subscriptions and vouchers.

use hyper::StatusCode;
use serde_json::{Value, json};
use tokio_postgres::Row;

use super::page::{decode, limit, page};
use super::{ApiError, Ctx};
use crate::db;
use crate::http::{Response, json as respond};

const SITE_COLUMNS: &str = "s.site_id, s.name, s.enabled,
    l.state, l.reasons, (extract(epoch FROM l.state_since) * 1000)::bigint, l.presence,
    (extract(epoch FROM l.presence_at) * 1000)::bigint, l.backlog, c.head_site_at, c.skew_ms,
    (extract(epoch FROM c.last_batch_at) * 1000)::bigint, c.through, c.through_at_site,
    c.duplicates, coalesce(h.events, 0), h.last_event_site,
    coalesce(h.payments_applied, 0), coalesce(h.amount_applied, 0),
    (SELECT count(*) FROM sessions x WHERE x.tenant_id = s.tenant_id AND x.site_id = s.site_id AND x.state = 'open'),
    (SELECT count(*) FROM routers x WHERE x.tenant_id = s.tenant_id AND x.site_id = s.site_id AND x.status = 'down'),
    (SELECT count(*) FROM failed_jobs x WHERE x.tenant_id = s.tenant_id AND x.site_id = s.site_id AND x.state = 'failed'),
    (SELECT count(*) FROM alerts x WHERE x.tenant_id = s.tenant_id AND x.site_id = s.site_id AND x.state <> 'resolved')";

const SITE_FROM: &str = "FROM sites s
    JOIN site_liveness l ON l.tenant_id = s.tenant_id AND l.site_id = s.site_id
    JOIN site_cursors c ON c.tenant_id = s.tenant_id AND c.site_id = s.site_id
    LEFT JOIN site_health h ON h.tenant_id = s.tenant_id AND h.site_id = s.site_id";

fn site(row: &Row) -> Value {
    json!({
        "site": row.get::<_, String>(0),
        "name": row.get::<_, String>(1),
        "enabled": row.get::<_, bool>(2),
        "liveness": {
            "state": row.get::<_, String>(3),
            "reasons": row.get::<_, Vec<String>>(4),
            "since": row.get::<_, Option<i64>>(5),
            "presence": row.get::<_, Option<String>>(6),
            "presence_at": row.get::<_, Option<i64>>(7),
            "backlog": row.get::<_, Option<i64>>(8),
            "backlog_as_of_site": row.get::<_, Option<i64>>(9),
            "skew_ms": row.get::<_, Option<i64>>(10),
            "last_batch_at": row.get::<_, Option<i64>>(11),
        },
        "sync": {
            "through": row.get::<_, i64>(12),
            "through_as_of_site": row.get::<_, Option<i64>>(13),
            "duplicates": row.get::<_, i64>(14),
        },
        "health": {
            "events": row.get::<_, i64>(15),
            "last_event_site": row.get::<_, Option<i64>>(16),
            "payments_applied": row.get::<_, i64>(17),
            "amount_applied": row.get::<_, i64>(18),
            "sessions_open": row.get::<_, i64>(19),
            "routers_down": row.get::<_, i64>(20),
            "failed_jobs": row.get::<_, i64>(21),
            "alerts_open": row.get::<_, i64>(22),
        },
    })
}

/// `GET /api/v1/sites`: the tenant's (or the token's) sites, by id.
pub(super) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["cursor", "limit", "state"])?;
    let limit = limit(ctx.query("limit"))?;
    let after: Option<String> = decode(ctx.query("cursor"))?;
    let state = ctx.query("state");
    if state.is_some_and(|s| crate::liveness::State::parse(s).is_none()) {
        return Err(ApiError::bad_request(
            "state must be unknown, online, degraded or offline",
        ));
    }
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {SITE_COLUMNS} {SITE_FROM}
                 WHERE s.tenant_id = $1 AND ($2::text[] IS NULL OR s.site_id = ANY($2))
                   AND ($3::text IS NULL OR s.site_id > $3) AND ($4::text IS NULL OR l.state = $4)
                 ORDER BY s.site_id LIMIT $5"
            ),
            &[
                &ctx.principal.tenant,
                &ctx.principal.sites,
                &after,
                &state,
                &(limit + 1),
            ],
        )
        .await?;
    tx.commit().await?;
    let sites: Vec<Value> = rows.iter().map(site).collect();
    Ok(respond(
        StatusCode::OK,
        &page(sites, limit, |s| {
            s["site"].as_str().unwrap_or("").to_string()
        }),
    ))
}

/// `GET /api/v1/sites/{site}`.
pub(super) async fn detail(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let id = ctx.site()?;
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let row = tx
        .query_opt(
            &format!("SELECT {SITE_COLUMNS} {SITE_FROM} WHERE s.tenant_id = $1 AND s.site_id = $2"),
            &[&ctx.principal.tenant, &id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no site `{id}`")))?;
    let unprojected: Option<Value> = tx
        .query_opt(
            "SELECT unprojected FROM site_health WHERE tenant_id = $1 AND site_id = $2",
            &[&ctx.principal.tenant, &id],
        )
        .await?
        .map(|r| r.get(0));
    let failures: i64 = tx
        .query_one(
            "SELECT count(*) FROM projection_failures WHERE tenant_id = $1 AND site_id = $2",
            &[&ctx.principal.tenant, &id],
        )
        .await?
        .get(0);
    tx.commit().await?;
    let mut body = site(&row);
    body["health"]["unprojected_types"] = unprojected.unwrap_or(json!({}));
    body["health"]["projection_failures"] = json!(failures);
    Ok(respond(StatusCode::OK, &body))
}

/// A per-site listing: `sql` selects rows of the site ($1 tenant, $2 site, $3 the cursor key
/// or NULL, $4 the limit + 1, then `extra`), `row` turns one into JSON, `key` gives its cursor.
async fn per_site<K>(
    ctx: &Ctx,
    sql: &str,
    extra: Option<&str>,
    row: impl Fn(&Row) -> Value,
    key: impl Fn(&Value) -> K,
) -> Result<Response, ApiError>
where
    K: serde::Serialize + serde::de::DeserializeOwned + tokio_postgres::types::ToSql + Sync,
{
    let id = ctx.site()?;
    let limit = limit(ctx.query("limit"))?;
    let after: Option<K> = decode(ctx.query("cursor"))?;
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM sites WHERE tenant_id = $1 AND site_id = $2",
            &[&ctx.principal.tenant, &id],
        )
        .await?;
    if exists.is_none() {
        return Err(ApiError::not_found(format!("no site `{id}`")));
    }
    let rows = tx
        .query(
            sql,
            &[&ctx.principal.tenant, &id, &after, &(limit + 1), &extra],
        )
        .await?;
    tx.commit().await?;
    let items: Vec<Value> = rows.iter().map(row).collect();
    Ok(respond(StatusCode::OK, &page(items, limit, key)))
}

fn one_of(value: Option<&str>, allowed: &[&str], name: &str) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ApiError::bad_request(format!(
            "{name} must be one of {allowed:?}"
        ))),
        _ => Ok(()),
    }
}

/// `GET /api/v1/sites/{site}/routers`.
pub(super) async fn routers(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["cursor", "limit"])?;
    per_site(
        &ctx,
        "SELECT name, router_id, nas_ip, state, status, status_detail, ros_version, identity,
                latency_ms, status_site
         FROM routers WHERE tenant_id = $1 AND site_id = $2 AND ($3::text IS NULL OR name > $3)
           AND $5::text IS NULL
         ORDER BY name LIMIT $4",
        None,
        |r| {
            json!({
                "name": r.get::<_, String>(0), "router_id": r.get::<_, Option<i64>>(1),
                "nas_ip": r.get::<_, Option<String>>(2), "state": r.get::<_, Option<String>>(3),
                "status": r.get::<_, Option<String>>(4), "status_detail": r.get::<_, Option<String>>(5),
                "ros_version": r.get::<_, Option<String>>(6), "identity": r.get::<_, Option<String>>(7),
                "latency_ms": r.get::<_, Option<i64>>(8), "status_as_of_site": r.get::<_, Option<i64>>(9),
            })
        },
        |v| v["name"].as_str().unwrap_or("").to_string(),
    )
    .await
}

/// `GET /api/v1/sites/{site}/failed-jobs?state=failed|retried|discarded`.
pub(super) async fn failed_jobs(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["cursor", "limit", "state"])?;
    one_of(
        ctx.query("state"),
        &["failed", "retried", "discarded"],
        "state",
    )?;
    per_site(
        &ctx,
        "SELECT job_id, queue, kind, attempts, error, state, failed_site, changed_site
         FROM failed_jobs WHERE tenant_id = $1 AND site_id = $2
           AND ($3::bigint IS NULL OR job_id < $3) AND ($5::text IS NULL OR state = $5)
         ORDER BY job_id DESC LIMIT $4",
        ctx.query("state"),
        |r| {
            json!({
                "job_id": r.get::<_, i64>(0), "queue": r.get::<_, Option<String>>(1),
                "kind": r.get::<_, Option<String>>(2), "attempts": r.get::<_, Option<i64>>(3),
                "error": r.get::<_, Option<String>>(4), "state": r.get::<_, String>(5),
                "failed_at_site": r.get::<_, Option<i64>>(6), "changed_at_site": r.get::<_, Option<i64>>(7),
            })
        },
        |v| v["job_id"].as_i64().unwrap_or(0),
    )
    .await
}

/// `GET /api/v1/sites/{site}/sessions?state=open|closed`, newest first.
pub(super) async fn sessions(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["cursor", "limit", "state"])?;
    one_of(ctx.query("state"), &["open", "closed"], "state")?;
    per_site(
        &ctx,
        "SELECT session_id, router_id, acct_session_id, username, mac, framed_ip, subscriber_id,
                state, session_time_s, input_octets, output_octets, terminate_cause,
                started_site, ended_site, updated_site
         FROM sessions WHERE tenant_id = $1 AND site_id = $2
           AND ($3::bigint IS NULL OR session_id < $3) AND ($5::text IS NULL OR state = $5)
         ORDER BY session_id DESC LIMIT $4",
        ctx.query("state"),
        |r| {
            json!({
                "session_id": r.get::<_, i64>(0), "router_id": r.get::<_, Option<i64>>(1),
                "acct_session_id": r.get::<_, Option<String>>(2), "username": r.get::<_, Option<String>>(3),
                "mac": r.get::<_, Option<String>>(4), "framed_ip": r.get::<_, Option<String>>(5),
                "subscriber_id": r.get::<_, Option<i64>>(6), "state": r.get::<_, String>(7),
                "session_time_s": r.get::<_, Option<i64>>(8), "input_octets": r.get::<_, Option<i64>>(9),
                "output_octets": r.get::<_, Option<i64>>(10), "terminate_cause": r.get::<_, Option<i64>>(11),
                "started_at_site": r.get::<_, Option<i64>>(12), "ended_at_site": r.get::<_, Option<i64>>(13),
                "as_of_site": r.get::<_, Option<i64>>(14),
            })
        },
        |v| v["session_id"].as_i64().unwrap_or(0),
    )
    .await
}

/// `GET /api/v1/sites/{site}/subscribers`.
pub(super) async fn subscribers(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["cursor", "limit"])?;
    per_site(
        &ctx,
        "SELECT username, subscriber_id, kind, state, phone, mac_auth, macs, macs_bound,
                created_site, updated_site
         FROM subscribers WHERE tenant_id = $1 AND site_id = $2
           AND ($3::text IS NULL OR username > $3) AND $5::text IS NULL
         ORDER BY username LIMIT $4",
        None,
        |r| {
            let mut macs: Vec<String> = serde_json::from_value(r.get(6)).unwrap_or_default();
            let bound: std::collections::BTreeMap<String, i64> =
                serde_json::from_value(r.get(7)).unwrap_or_default();
            macs.extend(bound.into_keys());
            json!({
                "username": r.get::<_, String>(0), "subscriber_id": r.get::<_, Option<i64>>(1),
                "kind": r.get::<_, Option<String>>(2), "state": r.get::<_, Option<String>>(3),
                "phone": r.get::<_, Option<String>>(4), "mac_auth": r.get::<_, Option<bool>>(5),
                "macs": macs, "created_at_site": r.get::<_, Option<i64>>(8),
                "as_of_site": r.get::<_, Option<i64>>(9),
            })
        },
        |v| v["username"].as_str().unwrap_or("").to_string(),
    )
    .await
}

/// `GET /api/v1/sites/{site}/subscriptions?state=active|expired|exhausted`, newest first.
pub(super) async fn subscriptions(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["cursor", "limit", "state"])?;
    one_of(
        ctx.query("state"),
        &["active", "expired", "exhausted"],
        "state",
    )?;
    per_site(
        &ctx,
        "SELECT subscription_id, subscriber_id, plan, source, state, starts_site, expires_site,
                ended_site, used_seconds, used_bytes
         FROM subscriptions WHERE tenant_id = $1 AND site_id = $2
           AND ($3::bigint IS NULL OR subscription_id < $3) AND ($5::text IS NULL OR state = $5)
         ORDER BY subscription_id DESC LIMIT $4",
        ctx.query("state"),
        |r| {
            json!({
                "subscription_id": r.get::<_, i64>(0), "subscriber_id": r.get::<_, Option<i64>>(1),
                "plan": r.get::<_, Option<String>>(2), "source": r.get::<_, Option<String>>(3),
                "state": r.get::<_, String>(4), "starts_at_site": r.get::<_, Option<i64>>(5),
                "expires_at_site": r.get::<_, Option<i64>>(6), "ended_at_site": r.get::<_, Option<i64>>(7),
                "used_seconds": r.get::<_, Option<i64>>(8), "used_bytes": r.get::<_, Option<i64>>(9),
            })
        },
        |v| v["subscription_id"].as_i64().unwrap_or(0),
    )
    .await
}

/// `GET /api/v1/sites/{site}/vouchers`: the codes sold (redeemed), by code.
pub(super) async fn vouchers(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["cursor", "limit"])?;
    per_site(
        &ctx,
        "SELECT code, voucher_id, batch, plan, subscriber_id, subscription_id, redeemed_site
         FROM vouchers WHERE tenant_id = $1 AND site_id = $2
           AND ($3::text IS NULL OR code > $3) AND $5::text IS NULL
         ORDER BY code LIMIT $4",
        None,
        |r| {
            json!({
                "code": r.get::<_, String>(0), "voucher_id": r.get::<_, Option<i64>>(1),
                "batch": r.get::<_, Option<String>>(2), "plan": r.get::<_, Option<String>>(3),
                "subscriber_id": r.get::<_, Option<i64>>(4), "subscription_id": r.get::<_, Option<i64>>(5),
                "redeemed_at_site": r.get::<_, Option<i64>>(6),
            })
        },
        |v| v["code"].as_str().unwrap_or("").to_string(),
    )
    .await
}
