//! Maintenance windows: while one is open no alert opens for its site (or for every site of
//! the tenant); alerts already open stay open and resolve as usual.

use serde::Serialize;
use tokio_postgres::{Client, Row, Transaction};

use crate::audit::{self, Actor};
use crate::db::{self, DbError};
use crate::notify::{self, Hub, Topic};

/// The sites under maintenance now.
#[derive(Debug, Clone, Default)]
pub struct Active {
    all: bool,
    sites: Vec<String>,
}

impl Active {
    /// Whether `site` is under maintenance.
    pub fn covers(&self, site: &str) -> bool {
        self.all || self.sites.iter().any(|s| s == site)
    }
}

/// The windows of `tenant` open now.
pub async fn active_sites(tx: &Transaction<'_>, tenant: &str) -> Result<Active, DbError> {
    let mut active = Active::default();
    for row in tx
        .query(
            "SELECT site_id FROM maintenance_windows
             WHERE tenant_id = $1 AND starts_at <= now() AND ends_at > now()",
            &[&tenant],
        )
        .await?
    {
        match row.get::<_, Option<String>>(0) {
            Some(site) => active.sites.push(site),
            None => active.all = true,
        }
    }
    Ok(active)
}

/// A window as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Id.
    pub id: i64,
    /// The site, or null for every site.
    pub site: Option<String>,
    /// Cloud clock, ms.
    pub starts_at: i64,
    /// Cloud clock, ms.
    pub ends_at: i64,
    /// Why.
    pub reason: String,
    /// Who opened it.
    pub created_by: String,
}

/// The columns [`window`] reads.
pub const WINDOW_COLUMNS: &str =
    "window_id, site_id, (extract(epoch FROM starts_at) * 1000)::bigint,
    (extract(epoch FROM ends_at) * 1000)::bigint, reason, created_by";

/// A window read with [`WINDOW_COLUMNS`].
pub fn window(row: &Row) -> Window {
    Window {
        id: row.get(0),
        site: row.get(1),
        starts_at: row.get(2),
        ends_at: row.get(3),
        reason: row.get(4),
        created_by: row.get(5),
    }
}

/// Why a window action was refused.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] DbError),
    /// The site is not this tenant's.
    #[error("no site `{0}`")]
    UnknownSite(String),
    /// No such window.
    #[error("no maintenance window {0}")]
    NotFound(i64),
    /// Bad times.
    #[error("{0}")]
    Invalid(String),
}

/// A window to open.
#[derive(Debug, Clone)]
pub struct NewWindow {
    /// One site, or every site of the tenant.
    pub site: Option<String>,
    /// Cloud clock, ms.
    pub starts_at: i64,
    /// Cloud clock, ms.
    pub ends_at: i64,
    /// Why.
    pub reason: String,
}

/// Opens a maintenance window for `tenant`, audited.
pub async fn open(
    client: &mut Client,
    hub: &Hub,
    actor: &Actor,
    tenant: &str,
    new: &NewWindow,
) -> Result<Window, WindowError> {
    if new.ends_at <= new.starts_at {
        return Err(WindowError::Invalid(
            "ends_at must be after starts_at".into(),
        ));
    }
    if new.ends_at - new.starts_at > 31 * 86_400_000 {
        return Err(WindowError::Invalid("a window is at most 31 days".into()));
    }
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    if let Some(site) = &new.site
        && tx
            .query_opt(
                "SELECT 1 FROM sites WHERE tenant_id = $1 AND site_id = $2",
                &[&tenant, site],
            )
            .await?
            .is_none()
    {
        return Err(WindowError::UnknownSite(site.clone()));
    }
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO maintenance_windows (tenant_id, site_id, starts_at, ends_at, reason, created_by)
                 VALUES ($1, $2, to_timestamp($3::float8 / 1000), to_timestamp($4::float8 / 1000), $5, $6)
                 RETURNING {WINDOW_COLUMNS}"
            ),
            &[
                &tenant,
                &new.site,
                &(new.starts_at as f64),
                &(new.ends_at as f64),
                &new.reason,
                &actor.as_str(),
            ],
        )
        .await?;
    let window = window(&row);
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: "maintenance.open",
            site: new.site.as_deref(),
            subject: Some(&window.id.to_string()),
            detail: serde_json::json!({ "starts_at": new.starts_at, "ends_at": new.ends_at, "reason": new.reason }),
        },
    )
    .await?;
    let change = hub.change(tenant, new.site.as_deref(), vec![Topic::Alerts]);
    notify::notify_in(&tx, &change).await?;
    tx.commit().await?;
    hub.publish(change);
    Ok(window)
}

/// Closes (deletes) window `id` of `tenant`, audited.
pub async fn close(
    client: &mut Client,
    hub: &Hub,
    actor: &Actor,
    tenant: &str,
    sites: Option<&[String]>,
    id: i64,
) -> Result<(), WindowError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let row = tx
        .query_opt(
            "SELECT site_id FROM maintenance_windows WHERE tenant_id = $1 AND window_id = $2",
            &[&tenant, &id],
        )
        .await?
        .ok_or(WindowError::NotFound(id))?;
    let site: Option<String> = row.get(0);
    // A token scoped to some sites sees only their windows (not the tenant-wide ones).
    if let Some(sites) = sites
        && site.as_ref().is_none_or(|s| !sites.contains(s))
    {
        return Err(WindowError::NotFound(id));
    }
    tx.execute(
        "DELETE FROM maintenance_windows WHERE tenant_id = $1 AND window_id = $2",
        &[&tenant, &id],
    )
    .await?;
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: "maintenance.close",
            site: site.as_deref(),
            subject: Some(&id.to_string()),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    let change = hub.change(tenant, site.as_deref(), vec![Topic::Alerts]);
    notify::notify_in(&tx, &change).await?;
    tx.commit().await?;
    hub.publish(change);
    Ok(())
}
