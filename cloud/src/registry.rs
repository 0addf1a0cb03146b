//! The registry: tenants, their sites (with each site's MQTT identity) and the cloud's own
//! MQTT service accounts. One function per operator action, shared by the command line and
//! anything else that registers; each writes its audit row in its own transaction.

use tokio_postgres::Client;

use crate::acl::{self, ServiceAccount, SiteIdentity};
use crate::audit::{self, Actor};
use crate::db::{self, DbError};
use sitebox_sync::wire::valid_id;

/// Why a registry action was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] DbError),
    /// An id that is not 1-64 of a-z, 0-9, `-` and `_`.
    #[error("`{0}` is not a valid id (1-64 of a-z, 0-9, - and _)")]
    BadId(String),
    /// The tenant is not registered.
    #[error("tenant `{0}` is not registered (sitebox-cloud tenants add)")]
    UnknownTenant(String),
    /// The site is not registered.
    #[error("site `{0}` is not registered")]
    UnknownSite(String),
    /// An alert policy that does not fit (docs/CLOUD.md, alerts).
    #[error("alert policy: {0}")]
    BadPolicy(String),
}

fn check(id: &str) -> Result<(), RegistryError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(RegistryError::BadId(id.to_string()))
    }
}

/// A site as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteEntry {
    /// Site id.
    pub site: String,
    /// Display name.
    pub name: String,
    /// MQTT username.
    pub mqtt_username: String,
    /// Whether it may send.
    pub enabled: bool,
}

/// Adds a tenant (or renames it). Returns whether it is new.
pub async fn add_tenant(
    client: &mut Client,
    actor: &Actor,
    tenant: &str,
    name: &str,
) -> Result<bool, RegistryError> {
    check(tenant)?;
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let new = tx
        .query_one(
            "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)
             ON CONFLICT (tenant_id) DO UPDATE SET name = CASE WHEN excluded.name = ''
                 THEN tenants.name ELSE excluded.name END
             RETURNING (xmax = 0)",
            &[&tenant, &name],
        )
        .await?
        .get::<_, bool>(0);
    tx.execute(
        "INSERT INTO tenant_directory (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&tenant],
    )
    .await?;
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: if new { "tenant.add" } else { "tenant.rename" },
            site: None,
            subject: Some(tenant),
            detail: serde_json::json!({ "name": name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(new)
}

/// Every tenant id, from the sweeps' directory.
pub async fn tenant_ids(client: &Client) -> Result<Vec<String>, DbError> {
    Ok(client
        .query("SELECT tenant_id FROM tenant_directory ORDER BY 1", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Adds (or re-keys and re-enables) a site; returns its new MQTT password (shown once,
/// stored only hashed).
pub async fn add_site(
    client: &mut Client,
    actor: &Actor,
    tenant: &str,
    site: &str,
    name: &str,
    password: Option<&str>,
) -> Result<String, RegistryError> {
    check(tenant)?;
    check(site)?;
    let password = password.map_or_else(acl::new_password, str::to_string);
    let hash = acl::password_hash(&password);
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    if tx
        .query_opt("SELECT 1 FROM tenants WHERE tenant_id = $1", &[&tenant])
        .await?
        .is_none()
    {
        return Err(RegistryError::UnknownTenant(tenant.to_string()));
    }
    tx.execute(
        "INSERT INTO sites (tenant_id, site_id, name, mqtt_username, mqtt_password_hash)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, site_id) DO UPDATE SET
             mqtt_password_hash = excluded.mqtt_password_hash, enabled = true,
             name = CASE WHEN excluded.name = '' THEN sites.name ELSE excluded.name END",
        &[
            &tenant,
            &site,
            &name,
            &acl::site_username(tenant, site),
            &hash,
        ],
    )
    .await?;
    for table in ["site_cursors", "site_liveness"] {
        tx.execute(
            &format!(
                "INSERT INTO {table} (tenant_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            ),
            &[&tenant, &site],
        )
        .await?;
    }
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: "site.add",
            site: Some(site),
            subject: Some(site),
            detail: serde_json::json!({ "name": name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(password)
}

/// Enables or disables a site (a disabled site's batches are refused; regenerate the ACL to
/// shut it out of the broker as well).
pub async fn set_site_enabled(
    client: &mut Client,
    actor: &Actor,
    tenant: &str,
    site: &str,
    enabled: bool,
) -> Result<(), RegistryError> {
    check(tenant)?;
    check(site)?;
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let changed = tx
        .execute(
            "UPDATE sites SET enabled = $3 WHERE tenant_id = $1 AND site_id = $2",
            &[&tenant, &site, &enabled],
        )
        .await?;
    if changed == 0 {
        return Err(RegistryError::UnknownSite(format!("{tenant}/{site}")));
    }
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: if enabled {
                "site.enable"
            } else {
                "site.disable"
            },
            site: Some(site),
            subject: Some(site),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The sites of `tenant`.
pub async fn list_sites(
    client: &mut Client,
    tenant: &str,
) -> Result<Vec<SiteEntry>, RegistryError> {
    check(tenant)?;
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let rows = tx
        .query(
            "SELECT site_id, name, mqtt_username, enabled FROM sites WHERE tenant_id = $1 ORDER BY 1",
            &[&tenant],
        )
        .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|row| SiteEntry {
            site: row.get(0),
            name: row.get(1),
            mqtt_username: row.get(2),
            enabled: row.get(3),
        })
        .collect())
}

/// Adds (or re-keys) a service account; returns its password.
pub async fn add_account(
    client: &Client,
    username: &str,
    password: Option<&str>,
) -> Result<String, RegistryError> {
    let password = password.map_or_else(acl::new_password, str::to_string);
    let hash = acl::password_hash(&password);
    client
        .execute(
            "INSERT INTO service_accounts (mqtt_username, mqtt_password_hash) VALUES ($1, $2)
             ON CONFLICT (mqtt_username) DO UPDATE SET mqtt_password_hash = excluded.mqtt_password_hash",
            &[&username, &hash],
        )
        .await?;
    Ok(password)
}

/// Every enabled site of every tenant and every service account, in a stable order: what the
/// broker's files are generated from. Visits the tenants one transaction each.
pub async fn identities(
    client: &mut Client,
) -> Result<(Vec<SiteIdentity>, Vec<ServiceAccount>), DbError> {
    let mut sites = Vec::new();
    for tenant in tenant_ids(client).await? {
        let tx = client.transaction().await?;
        db::set_tenant(&tx, &tenant).await?;
        let rows = tx
            .query(
                "SELECT tenant_id, site_id, mqtt_password_hash FROM sites
                 WHERE tenant_id = $1 AND enabled ORDER BY site_id",
                &[&tenant],
            )
            .await?;
        tx.commit().await?;
        sites.extend(rows.iter().map(|row| SiteIdentity {
            tenant: row.get(0),
            site: row.get(1),
            password_hash: row.get(2),
        }));
    }
    let accounts = client
        .query(
            "SELECT mqtt_username, mqtt_password_hash FROM service_accounts ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|row| ServiceAccount {
            username: row.get(0),
            password_hash: row.get(1),
        })
        .collect();
    Ok((sites, accounts))
}

/// Replaces `tenant`'s alert rule overrides (checked: every reason known, every field one of the
/// rule's), audited.
pub async fn set_alert_policy(
    client: &mut Client,
    actor: &Actor,
    tenant: &str,
    policy: &serde_json::Value,
) -> Result<(), RegistryError> {
    check(tenant)?;
    if !policy.is_object() {
        return Err(RegistryError::BadPolicy("not a JSON object".into()));
    }
    let (_, problems) = crate::alerts::Rules::from_policy(policy);
    if !problems.is_empty() {
        return Err(RegistryError::BadPolicy(problems.join("; ")));
    }
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let changed = tx
        .execute(
            "UPDATE tenants SET alert_policy = $2 WHERE tenant_id = $1",
            &[&tenant, policy],
        )
        .await?;
    if changed == 0 {
        return Err(RegistryError::UnknownTenant(tenant.to_string()));
    }
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: "tenant.alert_policy",
            site: None,
            subject: Some(tenant),
            detail: policy.clone(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
