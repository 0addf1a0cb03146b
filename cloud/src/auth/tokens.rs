//! API tokens: `sbx.{tenant}.{id}.{secret}` with 32 random bytes of secret; only SHA-256 of the
//! secret is stored and compared in constant time. The tenant in the token lets the lookup run
//! under that tenant's row-level security like every other query; a token of another tenant,
//! a revoked or expired one, a wrong secret and a malformed string are all refused alike.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio_postgres::Client;

use super::{Principal, Role};
use crate::audit::{self, Actor};
use crate::db::{self, DbError};
use sitebox_sync::wire::valid_id;

const PREFIX: &str = "sbx";

/// Why a presented token was refused (one message for all, on purpose).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] DbError),
    /// Malformed, unknown, revoked, expired, wrong secret, or a disabled tenant.
    #[error("invalid or expired token")]
    Invalid,
}

/// Why a token action was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] DbError),
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
    /// No such token.
    #[error("no token `{0}`")]
    NotFound(String),
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Sites it may see (None: all).
    pub sites: Option<Vec<String>>,
    /// Cloud clock, ms.
    pub created_at: i64,
    /// Cloud clock, ms.
    pub expires_at: Option<i64>,
    /// Cloud clock, ms.
    pub revoked_at: Option<i64>,
    /// Cloud clock, ms (to the minute).
    pub last_used_at: Option<i64>,
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The sites it may see (None: all).
    pub sites: Option<Vec<String>>,
    /// It stops working after this.
    pub expires_in: Option<Duration>,
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn random(bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes];
    getrandom::fill(&mut out).unwrap_or_else(|_| out.fill_with(|| fastrand::u8(..)));
    out
}

/// The parts of a presented token: (tenant, id, secret).
pub fn parse(token: &str) -> Option<(&str, &str, &str)> {
    let mut parts = token.split('.');
    let (prefix, tenant, id, secret) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (parts.next().is_none() && prefix == PREFIX && valid_id(tenant) && id_ok && secret.len() == 43)
        .then_some((tenant, id, secret))
}

/// Creates a token for `tenant`; returns it as listed and the token string, shown once.
pub async fn create(
    client: &mut Client,
    actor: &Actor,
    tenant: &str,
    new: &NewToken,
) -> Result<(TokenInfo, String), TokenError> {
    if new.name.trim().is_empty() || new.name.len() > 100 {
        return Err(TokenError::Invalid(
            "a token's name is 1-100 characters".into(),
        ));
    }
    let id: String = random(8).iter().map(|b| format!("{b:02x}")).collect();
    let secret = URL_SAFE_NO_PAD.encode(random(32));
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    if tx
        .query_opt("SELECT 1 FROM tenants WHERE tenant_id = $1", &[&tenant])
        .await?
        .is_none()
    {
        return Err(TokenError::Invalid(format!("no tenant `{tenant}`")));
    }
    if let Some(sites) = &new.sites {
        let known: i64 = tx
            .query_one(
                "SELECT count(*) FROM sites WHERE tenant_id = $1 AND site_id = ANY($2)",
                &[&tenant, sites],
            )
            .await?
            .get(0);
        if known != sites.len() as i64 || sites.is_empty() {
            return Err(TokenError::Invalid(format!(
                "the sites {sites:?} are not all sites of {tenant}"
            )));
        }
    }
    let expires = new.expires_in.map(|d| d.as_secs_f64());
    let row = tx
        .query_one(
            "INSERT INTO api_tokens (tenant_id, token_id, name, role, sites, secret_hash, created_by,
                                     expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
             RETURNING (extract(epoch FROM created_at) * 1000)::bigint,
                       (extract(epoch FROM expires_at) * 1000)::bigint",
            &[
                &tenant,
                &id,
                &new.name,
                &new.role.as_str(),
                &new.sites,
                &hash(&secret),
                &actor.as_str(),
                &expires,
            ],
        )
        .await?;
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: "token.create",
            site: None,
            subject: Some(&id),
            detail: serde_json::json!({ "name": new.name, "role": new.role, "sites": new.sites }),
        },
    )
    .await?;
    tx.commit().await?;
    let info = TokenInfo {
        id: id.clone(),
        name: new.name.clone(),
        role: new.role,
        sites: new.sites.clone(),
        created_at: row.get(0),
        expires_at: row.get(1),
        revoked_at: None,
        last_used_at: None,
    };
    Ok((info, format!("{PREFIX}.{tenant}.{id}.{secret}")))
}

/// The tokens of `tenant`.
pub async fn list(client: &mut Client, tenant: &str) -> Result<Vec<TokenInfo>, TokenError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let rows = tx
        .query(
            "SELECT token_id, name, role, sites,
                    (extract(epoch FROM created_at) * 1000)::bigint,
                    (extract(epoch FROM expires_at) * 1000)::bigint,
                    (extract(epoch FROM revoked_at) * 1000)::bigint,
                    (extract(epoch FROM last_used_at) * 1000)::bigint
             FROM api_tokens WHERE tenant_id = $1 ORDER BY created_at",
            &[&tenant],
        )
        .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| TokenInfo {
            id: r.get(0),
            name: r.get(1),
            role: Role::parse(r.get(2)).unwrap_or(Role::Read),
            sites: r.get(3),
            created_at: r.get(4),
            expires_at: r.get(5),
            revoked_at: r.get(6),
            last_used_at: r.get(7),
        })
        .collect())
}

/// Revokes token `id` of `tenant`, audited.
pub async fn revoke(
    client: &mut Client,
    actor: &Actor,
    tenant: &str,
    id: &str,
) -> Result<(), TokenError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let changed = tx
        .execute(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
             WHERE tenant_id = $1 AND token_id = $2",
            &[&tenant, &id],
        )
        .await?;
    if changed == 0 {
        return Err(TokenError::NotFound(id.to_string()));
    }
    audit::record(
        &tx,
        audit::Entry {
            tenant,
            actor,
            action: "token.revoke",
            site: None,
            subject: Some(id),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The caller `token` belongs to.
pub async fn authenticate(client: &mut Client, token: &str) -> Result<Principal, AuthError> {
    let (tenant, id, secret) = parse(token).ok_or(AuthError::Invalid)?;
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let row = tx
        .query_opt(
            "SELECT k.name, k.role, k.sites, k.secret_hash,
                    k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute'
             FROM api_tokens k JOIN tenants t ON t.tenant_id = k.tenant_id
             WHERE k.tenant_id = $1 AND k.token_id = $2 AND k.revoked_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT t.disabled",
            &[&tenant, &id],
        )
        .await?;
    let presented = hash(secret);
    let Some(row) = row else {
        // Same work as a found token, so timing does not tell unknown ids apart.
        let _ = presented.ct_eq(&[0u8; 32]);
        return Err(AuthError::Invalid);
    };
    let stored: Vec<u8> = row.get(3);
    if !bool::from(presented.ct_eq(&stored)) {
        return Err(AuthError::Invalid);
    }
    let role = Role::parse(row.get(1)).ok_or(AuthError::Invalid)?;
    if row.get::<_, bool>(4) {
        tx.execute(
            "UPDATE api_tokens SET last_used_at = now() WHERE tenant_id = $1 AND token_id = $2",
            &[&tenant, &id],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Principal {
        tenant: tenant.to_string(),
        token_id: id.to_string(),
        name: row.get(0),
        role,
        sites: row.get(2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_parse() {
        let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let good = format!("sbx.acme.0123456789abcdef.{secret}");
        assert_eq!(
            parse(&good),
            Some(("acme", "0123456789abcdef", secret.as_str()))
        );
        for bad in [
            format!("sbx.ACME.0123456789abcdef.{secret}"),
            format!("xyz.acme.0123456789abcdef.{secret}"),
            format!("sbx.acme.0123456789abcdeg.{secret}"),
            format!("sbx.acme.0123456789abcdef.{secret}.x"),
            format!("sbx.acme.0123456789abcdef.{}", &secret[1..]),
            "sbx.acme".to_string(),
            String::new(),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
        assert_eq!(hash("x").len(), 32);
    }
}
