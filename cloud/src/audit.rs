//! The audit log: who did what, written in the transaction of the action itself.

use serde::Serialize;
use tokio_postgres::Transaction;

/// Who acts: an API token, a person at the command line, or the service itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Actor(String);

impl Actor {
    /// An API token, by its public id and name.
    pub fn token(id: &str, name: &str) -> Self {
        Self(format!("token:{id} ({name})"))
    }

    /// The operator at the command line (their login name, when the environment says it).
    pub fn cli() -> Self {
        let user = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        Self(format!("cli:{user}"))
    }

    /// The service (gap repair, sweeps).
    pub fn system() -> Self {
        Self("system".into())
    }

    /// As stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One audit row.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The tenant acted on.
    pub tenant: &'a str,
    /// Who.
    pub actor: &'a Actor,
    /// What, e.g. `command.send`.
    pub action: &'a str,
    /// At which site, if one.
    pub site: Option<&'a str>,
    /// On what, e.g. a command or alert id.
    pub subject: Option<&'a str>,
    /// The arguments (never secrets).
    pub detail: serde_json::Value,
}

/// Records `entry` in `tx` (whose tenant is set).
pub async fn record(tx: &Transaction<'_>, entry: Entry<'_>) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, site_id, subject, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &entry.tenant,
            &entry.actor.as_str(),
            &entry.action,
            &entry.site,
            &entry.subject,
            &entry.detail,
        ],
    )
    .await
    .map(drop)
}
