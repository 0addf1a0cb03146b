//! `/api/v1/alerts` (list, one, acknowledge) and `/api/v1/maintenance-windows` (list, open,
//! close).

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::page::{decode, limit, page};
use super::{ApiError, Ctx};
use crate::alerts::maintenance::{self, NewWindow, WindowError};
use crate::alerts::{self, ALERT_COLUMNS, AlertError, Reason};
use crate::db;
use crate::http::{Response, json as respond};

fn alert_id(ctx: &Ctx) -> Result<i64, ApiError> {
    let id = ctx.param("id");
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no alert `{id}`")))
}

/// `GET /api/v1/alerts?state=open|detected|acknowledged|resolved&site=&reason=`, newest first.
pub(super) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["state", "site", "reason", "cursor", "limit"])?;
    let limit = limit(ctx.query("limit"))?;
    let after: Option<i64> = decode(ctx.query("cursor"))?;
    let states: Option<Vec<&str>> = match ctx.query("state") {
        None => None,
        Some("open") => Some(vec!["detected", "acknowledged"]),
        Some(s @ ("detected" | "acknowledged" | "resolved")) => Some(vec![s]),
        Some(_) => {
            return Err(ApiError::bad_request(
                "state must be open, detected, acknowledged or resolved",
            ));
        }
    };
    let reason = ctx.query("reason");
    if reason.is_some_and(|r| Reason::parse(r).is_none()) {
        return Err(ApiError::bad_request(format!(
            "reason must be one of {:?}",
            Reason::ALL.map(Reason::as_str)
        )));
    }
    let sites = ctx.site_filter().await?;
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {ALERT_COLUMNS} FROM alerts
                 WHERE tenant_id = $1 AND ($2::text[] IS NULL OR site_id = ANY($2))
                   AND ($3::text[] IS NULL OR state = ANY($3)) AND ($4::text IS NULL OR reason = $4)
                   AND ($5::bigint IS NULL OR alert_id < $5)
                 ORDER BY alert_id DESC LIMIT $6"
            ),
            &[
                &ctx.principal.tenant,
                &sites,
                &states,
                &reason,
                &after,
                &(limit + 1),
            ],
        )
        .await?;
    tx.commit().await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::to_value(alerts::alert(r)).unwrap_or_default())
        .collect();
    Ok(respond(
        StatusCode::OK,
        &page(items, limit, |v| v["id"].as_i64().unwrap_or(0)),
    ))
}

/// `GET /api/v1/alerts/{id}`.
pub(super) async fn detail(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let id = alert_id(&ctx)?;
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let row = tx
        .query_opt(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND alert_id = $2"),
            &[&ctx.principal.tenant, &id],
        )
        .await?;
    tx.commit().await?;
    let alert = row
        .map(|r| alerts::alert(&r))
        .filter(|a| ctx.principal.sees(&a.site))
        .ok_or_else(|| ApiError::not_found(format!("no alert `{id}`")))?;
    Ok(respond(
        StatusCode::OK,
        &serde_json::to_value(alert).unwrap_or_default(),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/alerts/{id}/acknowledge {"note": "…"}`: detected → acknowledged.
pub(super) async fn acknowledge(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let id = alert_id(&ctx)?;
    let body: AckBody = if ctx.body.is_empty() {
        AckBody::default()
    } else {
        ctx.json()?
    };
    if body.note.len() > 1000 {
        return Err(ApiError::bad_request("note is at most 1,000 characters"));
    }
    let mut conn = ctx.conn().await?;
    let alert = alerts::acknowledge(
        &mut conn,
        &ctx.state.hub,
        &ctx.principal.actor(),
        &ctx.principal.tenant,
        ctx.principal.sites.as_deref(),
        id,
        &body.note,
    )
    .await
    .map_err(|err| match err {
        AlertError::NotFound(id) => ApiError::not_found(format!("no alert `{id}`")),
        AlertError::Conflict { .. } => ApiError::conflict(err.to_string()),
        AlertError::Postgres(err) => err.into(),
    })?;
    Ok(respond(
        StatusCode::OK,
        &serde_json::to_value(alert).unwrap_or_default(),
    ))
}

/// `GET /api/v1/maintenance-windows?site=`: windows not yet over.
pub(super) async fn windows(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["site"])?;
    let sites = ctx.site_filter().await?;
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    // A token limited to some sites sees their windows, not the tenant-wide ones.
    let rows = tx
        .query(
            &format!(
                "SELECT {} FROM maintenance_windows
                 WHERE tenant_id = $1 AND ends_at > now()
                   AND ($2::text[] IS NULL OR site_id = ANY($2))
                 ORDER BY starts_at, window_id",
                maintenance::WINDOW_COLUMNS
            ),
            &[&ctx.principal.tenant, &sites],
        )
        .await?;
    tx.commit().await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::to_value(maintenance::window(r)).unwrap_or_default())
        .collect();
    Ok(respond(
        StatusCode::OK,
        &serde_json::json!({ "data": items }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowBody {
    site: Option<String>,
    starts_at: Option<i64>,
    ends_at: i64,
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/maintenance-windows {"site"?, "starts_at"?, "ends_at", "reason"}` (ms).
pub(super) async fn open_window(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let body: WindowBody = ctx.json()?;
    let site = match &body.site {
        Some(site) => Some(ctx.site_named(site)?),
        // A token limited to some sites cannot silence the whole tenant.
        None if ctx.principal.sites.is_some() => {
            return Err(ApiError::bad_request(
                "this token is limited to some sites: name the site",
            ));
        }
        None => None,
    };
    let mut conn = ctx.conn().await?;
    let window = maintenance::open(
        &mut conn,
        &ctx.state.hub,
        &ctx.principal.actor(),
        &ctx.principal.tenant,
        &NewWindow {
            site,
            starts_at: body.starts_at.unwrap_or_else(db::now_ms),
            ends_at: body.ends_at,
            reason: body.reason,
        },
    )
    .await
    .map_err(window_error)?;
    Ok(respond(
        StatusCode::CREATED,
        &serde_json::to_value(window).unwrap_or_default(),
    ))
}

/// `DELETE /api/v1/maintenance-windows/{id}`.
pub(super) async fn close_window(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let id: i64 = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::not_found("no such maintenance window"))?;
    let mut conn = ctx.conn().await?;
    maintenance::close(
        &mut conn,
        &ctx.state.hub,
        &ctx.principal.actor(),
        &ctx.principal.tenant,
        ctx.principal.sites.as_deref(),
        id,
    )
    .await
    .map_err(window_error)?;
    Ok(respond(
        StatusCode::OK,
        &serde_json::json!({ "closed": id }),
    ))
}

fn window_error(err: WindowError) -> ApiError {
    match err {
        WindowError::UnknownSite(site) => ApiError::not_found(format!("no site `{site}`")),
        WindowError::NotFound(id) => ApiError::not_found(format!("no maintenance window `{id}`")),
        WindowError::Invalid(message) => ApiError::bad_request(message),
        WindowError::Postgres(err) => err.into(),
    }
}
