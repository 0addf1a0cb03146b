//! `/api/v1/payments`: the tenant's payments as its sites recorded them, newest first by the
//! site's time, filtered by site, state and time; `payments.csv` streams the same rows as CSV
//! (RFC 4180, page by page, so any number of rows costs the same memory).

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::StatusCode;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_postgres::Row;

use super::page::{decode, limit, page};
use super::{ApiError, Ctx};
use crate::db;
use crate::http::{Response, json as respond};

const COLUMNS: &str = "site_id, receipt, state, amount, currency, provider, plan, username, phone,
    subscription_id, reason, received_site, settled_site,
    (extract(epoch FROM received_at) * 1000)::bigint, payment_id";

fn payment(r: &Row) -> Value {
    json!({
        "site": r.get::<_, String>(0),
        "receipt": r.get::<_, String>(1),
        "state": r.get::<_, String>(2),
        "amount": r.get::<_, Option<i64>>(3),
        "currency": r.get::<_, Option<String>>(4),
        "provider": r.get::<_, Option<String>>(5),
        "plan": r.get::<_, Option<String>>(6),
        "username": r.get::<_, Option<String>>(7),
        "phone": r.get::<_, Option<String>>(8),
        "subscription_id": r.get::<_, Option<i64>>(9),
        "reason": r.get::<_, Option<String>>(10),
        "received_at_site": r.get::<_, Option<i64>>(11),
        "settled_at_site": r.get::<_, Option<i64>>(12),
        "received_in_cloud_at": r.get::<_, Option<i64>>(13),
        "payment_id": r.get::<_, Option<i64>>(14),
    })
}

/// The filters both forms take.
#[derive(Debug, Clone)]
struct Filter {
    sites: Option<Vec<String>>,
    state: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

async fn filter(ctx: &Ctx) -> Result<Filter, ApiError> {
    let state = ctx.query("state").map(str::to_string);
    if state
        .as_deref()
        .is_some_and(|s| !["received", "applied", "rejected"].contains(&s))
    {
        return Err(ApiError::bad_request(
            "state must be received, applied or rejected",
        ));
    }
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        ctx.query(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("{name} is ms since the Unix epoch (site time)"))
                })
            })
            .transpose()
    };
    Ok(Filter {
        sites: ctx.site_filter().await?,
        state,
        from: time("from")?,
        to: time("to")?,
    })
}

/// The sort key: (received at the site, site, receipt), newest first.
type Key = (i64, String, String);

async fn read(
    client: &mut tokio_postgres::Client,
    tenant: &str,
    filter: &Filter,
    after: Option<&Key>,
    limit: i64,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let (at, site, receipt) = match after {
        Some((at, site, receipt)) => (Some(*at), Some(site.as_str()), Some(receipt.as_str())),
        None => (None, None, None),
    };
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM payments
                 WHERE tenant_id = $1 AND ($2::text[] IS NULL OR site_id = ANY($2))
                   AND ($3::text IS NULL OR state = $3)
                   AND ($4::bigint IS NULL OR received_site >= $4)
                   AND ($5::bigint IS NULL OR received_site < $5)
                   AND ($6::bigint IS NULL
                        OR (coalesce(received_site, 0), site_id, receipt) < ($6, $7, $8))
                 ORDER BY coalesce(received_site, 0) DESC, site_id DESC, receipt DESC
                 LIMIT $9"
            ),
            &[
                &tenant,
                &filter.sites,
                &filter.state,
                &filter.from,
                &filter.to,
                &at,
                &site,
                &receipt,
                &limit,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(rows)
}

fn key(v: &Value) -> Key {
    (
        v["received_at_site"].as_i64().unwrap_or(0),
        v["site"].as_str().unwrap_or("").to_string(),
        v["receipt"].as_str().unwrap_or("").to_string(),
    )
}

/// `GET /api/v1/payments?site=&state=&from=&to=&cursor=&limit=`.
pub(super) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["site", "state", "from", "to", "cursor", "limit"])?;
    let filter = filter(&ctx).await?;
    let limit = limit(ctx.query("limit"))?;
    let after: Option<Key> = decode(ctx.query("cursor"))?;
    let mut conn = ctx.conn().await?;
    let rows = read(
        &mut conn,
        &ctx.principal.tenant,
        &filter,
        after.as_ref(),
        limit + 1,
    )
    .await?;
    let items: Vec<Value> = rows.iter().map(payment).collect();
    Ok(respond(StatusCode::OK, &page(items, limit, key)))
}

/// `GET /api/v1/sites/{site}/payments/{receipt}`.
pub(super) async fn detail(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&[])?;
    let site = ctx.site()?;
    let receipt = ctx.param("receipt").to_string();
    let mut conn = ctx.conn().await?;
    let tx = conn.transaction().await?;
    db::set_tenant(&tx, &ctx.principal.tenant).await?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM payments WHERE tenant_id = $1 AND site_id = $2 AND receipt = $3"
            ),
            &[&ctx.principal.tenant, &site, &receipt],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no payment `{receipt}` at `{site}`")))?;
    tx.commit().await?;
    Ok(respond(StatusCode::OK, &payment(&row)))
}

/// A CSV field: quoted when it holds a comma, quote or line break; a text cell a spreadsheet
/// would take for a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`.
fn field(out: &mut String, value: &Value) {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

/// The ISO 8601 UTC form of a time in ms.
fn iso(ms: Option<i64>) -> Value {
    let Some(ms) = ms else { return Value::Null };
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Value::String(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    ))
}

const HEADER: &str = "site,receipt,state,amount,currency,provider,plan,username,phone,subscription_id,reason,received_at_site,settled_at_site,received_in_cloud_at\r\n";

fn csv_line(v: &Value) -> String {
    let mut line = String::new();
    let cells = [
        v["site"].clone(),
        v["receipt"].clone(),
        v["state"].clone(),
        v["amount"].clone(),
        v["currency"].clone(),
        v["provider"].clone(),
        v["plan"].clone(),
        v["username"].clone(),
        v["phone"].clone(),
        v["subscription_id"].clone(),
        v["reason"].clone(),
        iso(v["received_at_site"].as_i64()),
        iso(v["settled_at_site"].as_i64()),
        iso(v["received_in_cloud_at"].as_i64()),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        field(&mut line, cell);
    }
    line.push_str("\r\n");
    line
}

/// `GET /api/v1/payments.csv?site=&state=&from=&to=`: every matching payment, streamed.
pub(super) async fn csv(ctx: Ctx) -> Result<Response, ApiError> {
    ctx.only(&["site", "state", "from", "to"])?;
    let filter = filter(&ctx).await?;
    let tenant = ctx.principal.tenant.clone();
    // The first page is read before answering, so a database failure is a 503, not a cut body.
    let mut conn = ctx.conn().await?;
    let first = read(&mut conn, &tenant, &filter, None, 1000).await?;
    let (tx, mut rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let _ = tx
            .send(Ok(Frame::data(Bytes::from_static(HEADER.as_bytes()))))
            .await;
        let mut rows = first;
        loop {
            let items: Vec<Value> = rows.iter().map(payment).collect();
            let mut chunk = String::new();
            for item in &items {
                chunk.push_str(&csv_line(item));
            }
            if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                return; // the client went away
            }
            let Some(last) = items.last() else { return };
            if items.len() < 1000 {
                return;
            }
            let after = key(last);
            match read(&mut conn, &tenant, &filter, Some(&after), 1000).await {
                Ok(next) => rows = next,
                Err(err) => {
                    tracing::error!(error = %err, "api: payments.csv cut short");
                    let _ = tx.send(Err(std::io::Error::other("database failed"))).await;
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = hyper::Response::new(StreamBody::new(stream).boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response.headers_mut().insert(
        hyper::header::CONTENT_DISPOSITION,
        hyper::header::HeaderValue::from_static("attachment; filename=\"payments.csv\""),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let line = csv_line(&json!({
            "site": "s1", "receipt": "QK7", "state": "applied", "amount": 50,
            "currency": "KES", "provider": "mpesa", "plan": "day, unlimited",
            "username": "=HYPERLINK(\"x\")", "phone": null, "subscription_id": 3,
            "reason": null, "received_at_site": 1_764_000_000_123i64,
        }));
        assert_eq!(
            line,
            "s1,QK7,applied,50,KES,mpesa,\"day, unlimited\",\"'=HYPERLINK(\"\"x\"\")\",,3,,2025-11-24T16:00:00.123Z,,\r\n"
        );
        assert_eq!(iso(Some(0)), json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            iso(Some(951_782_400_000)),
            json!("2000-02-29T00:00:00.000Z")
        );
    }
}
