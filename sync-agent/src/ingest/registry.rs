//! The site registry: adding sites and service accounts, and reading them back for the broker
//! files.

use tokio_postgres::Client;

use crate::acl::{self, ServiceAccount, SiteIdentity};

/// Adds (or re-keys) a site; returns its new MQTT password (shown once, stored only hashed).
pub async fn add_site(
    client: &Client,
    tenant: &str,
    site: &str,
    password: Option<&str>,
) -> Result<String, tokio_postgres::Error> {
    let password = password.map_or_else(acl::new_password, str::to_string);
    let hash = acl::password_hash(&password);
    client
        .execute(
            "INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&tenant],
        )
        .await?;
    client
        .execute(
            "INSERT INTO sites (tenant_id, site_id, mqtt_username, mqtt_password_hash)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, site_id) DO UPDATE SET
                 mqtt_password_hash = excluded.mqtt_password_hash, enabled = true",
            &[&tenant, &site, &acl::site_username(tenant, site), &hash],
        )
        .await?;
    Ok(password)
}

/// Adds (or re-keys) a service account; returns its password.
pub async fn add_account(
    client: &Client,
    username: &str,
    password: Option<&str>,
) -> Result<String, tokio_postgres::Error> {
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

/// Every enabled site and every service account, in a stable order.
pub async fn identities(
    client: &Client,
) -> Result<(Vec<SiteIdentity>, Vec<ServiceAccount>), tokio_postgres::Error> {
    let sites = client
        .query(
            "SELECT tenant_id, site_id, mqtt_password_hash FROM sites WHERE enabled
             ORDER BY tenant_id, site_id",
            &[],
        )
        .await?
        .iter()
        .map(|row| SiteIdentity {
            tenant: row.get(0),
            site: row.get(1),
            password_hash: row.get(2),
        })
        .collect();
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
