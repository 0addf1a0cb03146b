//! PostgreSQL: connections, the pool, the per-transaction tenant, and the migrations.
//!
//! Every table that holds a tenant's data has row-level security forced on it and a policy
//! that shows a row only when its `tenant_id` equals the transaction's `sitebox.tenant`
//! setting. The service connects as a role that owns no table ([`migrate`] checks it), and
//! every transaction that touches tenant data starts with [`set_tenant`]: a query that forgot
//! its `WHERE tenant_id = …` still sees one tenant, and a connection that forgot the tenant
//! sees nothing.

pub mod migrate;

use tokio_postgres::{Client, NoTls};

pub use migrate::{MIGRATIONS, Migration, migrate};

/// The setting that row-level security compares `tenant_id` with.
pub const TENANT_SETTING: &str = "sitebox.tenant";

/// A database failure (typed for the library; the binary adds context).
pub type DbError = tokio_postgres::Error;

/// Connects and spawns the connection task.
pub async fn connect(url: &str) -> Result<Client, DbError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "postgres connection closed");
        }
    });
    Ok(client)
}

/// A pool of connections for the API and the sweeps. `size` bounds it.
pub fn pool(url: &str, size: usize) -> Result<deadpool_postgres::Pool, anyhow::Error> {
    let config: tokio_postgres::Config = url.parse()?;
    let manager = deadpool_postgres::Manager::from_config(
        config,
        NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    Ok(deadpool_postgres::Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()?)
}

/// Sets the tenant for the rest of the transaction `tx` (`set_config(…, true)`: local to the
/// transaction, so a pooled connection never carries it into the next one).
pub async fn set_tenant(tx: &tokio_postgres::Transaction<'_>, tenant: &str) -> Result<(), DbError> {
    tx.execute("SELECT set_config('sitebox.tenant', $1, true)", &[&tenant])
        .await
        .map(drop)
}

/// Milliseconds since the Unix epoch of the cloud's clock (the cloud is not the daemon: its
/// wall clock is the system's).
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A u64 seq as PostgreSQL's bigint.
pub fn seq(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored bigint seq as u64.
pub fn unseq(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
