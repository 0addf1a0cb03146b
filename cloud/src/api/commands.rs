//! `/api/v1/commands` (the ledger: list, one) and `POST /api/v1/sites/{site}/commands`.

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::page::{decode, limit, page};
use super::{ApiError, Ctx};
use crate::commands::{self, CommandError, ENTRY_COLUMNS, LedgerState, NewCommand};
use crate::db;
use crate::http::{Response, json as respond};

/// `GET /api/v1/commands?site=&state=&type=`, newest first.
pub(super) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["site", "state", "type", "cursor", "limit"])?;
    let limit = limit(ctx.query("limit"))?;
    let after: Option<(i64, String)> = decode(ctx.query("cursor"))?;
    let state = ctx.query("state");
    if state.is_some_and(|s| LedgerState::parse(s).is_none()) {
        return Err(ApiError::bad_request(
            "state must be queued, delivered, applied, rejected or expired",
        ));
    }
    let sites = ctx.site_filter().await?;
    let (at, id) = match &after {
        Some((at, id)) => (Some(*at), Some(id.as_str())),
        None => (None, None),
    };
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM commands
                 WHERE tenant_id = $1 AND ($2::text[] IS NULL OR site_id = ANY($2))
                   AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR type = $4)
                   AND ($5::bigint IS NULL
                        OR ((extract(epoch FROM issued_at) * 1000)::bigint, command_id) < ($5, $6))
                 ORDER BY (extract(epoch FROM issued_at) * 1000)::bigint DESC, command_id DESC
                 LIMIT $7"
            ),
            &[
                &ctx.principal.tenant,
                &sites,
                &state,
                &ctx.query("type"),
                &at,
                &id,
                &(limit + 1),
            ],
        )
        .await?;
    tx.commit().await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::to_value(commands::entry(r)).unwrap_or_default())
        .collect();
    Ok(respond(
        StatusCode::OK,
        &page(items, limit, |v| {
            (
                v["issued_at"].as_i64().unwrap_or(0),
                v["id"].as_str().unwrap_or("").to_string(),
            )
        }),
    ))
}

/// `GET /api/v1/commands/{id}`.
pub(super) async fn detail(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let id = ctx.param("id").to_string();
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM commands WHERE tenant_id = $1 AND command_id = $2"
            ),
            &[&ctx.principal.tenant, &id],
        )
        .await?;
    tx.commit().await?;
    let entry = row
        .map(|r| commands::entry(&r))
        .filter(|e| ctx.principal.sees(&e.site))
        .ok_or_else(|| ApiError::not_found(format!("no command `{id}`")))?;
    Ok(respond(
        StatusCode::OK,
        &serde_json::to_value(entry).unwrap_or_default(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    id: Option<String>,
}

/// `POST /api/v1/sites/{site}/commands {"type", "payload", "id"?}`: recorded in the ledger
/// (audited with the token) and handed to the publisher; 202 with the ledger entry.
pub(super) async fn send(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let site = ctx.site()?;
    let body: SendBody = ctx.json()?;
    if body.kind == sitebox_sync::wire::RESEND_FROM {
        return Err(ApiError::bad_request(
            "resend_from is the cloud's own gap repair, not an operator command",
        ));
    }
    if !body.payload.is_object() && !body.payload.is_null() {
        return Err(ApiError::bad_request("payload must be a JSON object"));
    }
    let mut conn = ctx.conn().await?;
    let command = commands::issue(
        &mut conn,
        &ctx.state.hub,
        &ctx.principal.actor(),
        &ctx.principal.tenant,
        &NewCommand {
            site: site.clone(),
            kind: body.kind,
            payload: if body.payload.is_null() {
                serde_json::json!({})
            } else {
                body.payload
            },
            id: body.id,
            expires: None,
        },
    )
    .await
    .map_err(|err| match err {
        CommandError::UnknownSite(site) => ApiError::not_found(format!("no site `{site}`")),
        CommandError::Invalid(message) => ApiError::bad_request(message),
        CommandError::IdReused(_) => ApiError::conflict(err.to_string()),
        CommandError::Postgres(err) => err.into(),
    })?;
    let id = command.id.clone();
    if let Some(publisher) = &ctx.state.publisher {
        drop(
            publisher
                .send(&ctx.principal.tenant, &site, command, None)
                .await,
        );
    }
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let row = tx
        .query_one(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM commands WHERE tenant_id = $1 AND command_id = $2"
            ),
            &[&ctx.principal.tenant, &id],
        )
        .await?;
    tx.commit().await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        &serde_json::to_value(commands::entry(&row)).unwrap_or_default(),
    ))
}
