//! PostgreSQL: connections, the pool, the per-transaction tenant, and the migrations.
//!
//! Every table that holds a tenant's data has row-level security forced on it and a policy
//! that shows a row only when its `tenant_id` equals the transaction's `sitebox.tenant`
//! setting. The service connects as a role that owns no table ([`migrate`] checks it), and
//! every transaction that touches tenant data starts with [`set_tenant`]: a query that forgot
//! its `WHERE tenant_id = …` still sees one tenant, and a connection that forgot the tenant
//! sees nothing.

pub mod migrate;

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement, Transaction};

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

/// The statements prepared on one connection, by their SQL text: each is parsed and planned
/// once per connection and then only bound and executed, one round trip per use instead of two
/// (tokio-postgres prepares an unnamed statement for every query given as text). Belongs to
/// the connection it was filled on: a new connection needs a new one.
#[derive(Debug, Default)]
pub struct Statements {
    prepared: Mutex<HashMap<&'static str, Statement>>,
}

impl Statements {
    fn cached(&self, sql: &str) -> Option<Statement> {
        self.prepared.lock().ok()?.get(sql).cloned()
    }
}

/// A transaction with its connection's [`Statements`]: the queries of the ingest's hot path
/// (storing a batch, the projections) go through it.
#[derive(Clone, Copy)]
pub struct Db<'a> {
    tx: &'a Transaction<'a>,
    statements: &'a Statements,
}

impl std::fmt::Debug for Db<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("statements", self.statements)
            .finish()
    }
}

impl<'a> Db<'a> {
    /// `tx` on the connection `statements` belongs to.
    pub fn new(tx: &'a Transaction<'a>, statements: &'a Statements) -> Self {
        Self { tx, statements }
    }

    /// The transaction.
    pub fn tx(&self) -> &'a Transaction<'a> {
        self.tx
    }

    async fn prepared(&self, sql: &'static str) -> Result<Statement, DbError> {
        if let Some(statement) = self.statements.cached(sql) {
            return Ok(statement);
        }
        let statement = self.tx.prepare(sql).await?;
        if let Ok(mut prepared) = self.statements.prepared.lock() {
            prepared.insert(sql, statement.clone());
        }
        Ok(statement)
    }

    /// Runs `sql` (prepared once per connection) and returns its rows.
    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        let statement = self.prepared(sql).await?;
        self.tx.query(&statement, params).await
    }

    /// Runs `sql` (prepared once per connection) and returns its row if there is one.
    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, DbError> {
        let statement = self.prepared(sql).await?;
        self.tx.query_opt(&statement, params).await
    }

    /// Runs `sql` (prepared once per connection) and returns the rows it changed.
    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, DbError> {
        let statement = self.prepared(sql).await?;
        self.tx.execute(&statement, params).await
    }
}

/// Sets the tenant for the rest of the transaction `tx` (`SET LOCAL`: local to the
/// transaction, so a pooled connection never carries it into the next one). A valid id (a-z,
/// 0-9, `-`, `_`: nothing to quote) goes as one simple-protocol statement, one round trip;
/// anything else as a parameter of `set_config(…, true)`, never spliced into SQL.
pub async fn set_tenant(tx: &Transaction<'_>, tenant: &str) -> Result<(), DbError> {
    if sitebox_sync::wire::valid_id(tenant) {
        return tx
            .batch_execute(&format!("SET LOCAL {TENANT_SETTING} = '{tenant}'"))
            .await;
    }
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
