//! The cloud dashboard's side of commands: each command is recorded in the ledger and
//! published by `sitebox-cloud`'s own library functions (`commands::issue`, the `Publisher`),
//! as the service role, over one connection for the whole day. Queries for the oracle go
//! through a superuser connection that sees every tenant.

use std::time::Duration;

use sitebox_cloud::audit::Actor;
use sitebox_cloud::commands::{self, NewCommand};
use sitebox_cloud::notify::Hub;
use sitebox_cloud::publisher::{Publisher, PublisherSettings};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Sends commands to one site.
pub struct Issuer {
    app: tokio_postgres::Client,
    oracle: tokio_postgres::Client,
    hub: Hub,
    publisher: Publisher,
    tasks: TaskTracker,
    stop: CancellationToken,
    tenant: String,
    site: String,
    sent: u64,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("tenant", &self.tenant)
            .field("site", &self.site)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Issuer {
    /// Connects to the cloud database (`app_database` to issue, `database` to query) and to
    /// the broker at `broker_port` as `user`.
    pub async fn connect(
        database: &str,
        app_database: &str,
        broker_port: u16,
        (user, password): (&str, &str),
        tenant: &str,
        site: &str,
    ) -> anyhow::Result<Self> {
        let app = sitebox_cloud::db::connect(app_database).await?;
        let oracle = sitebox_cloud::db::connect(database).await?;
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        let publisher = Publisher::spawn(
            PublisherSettings {
                host: "127.0.0.1".into(),
                port: broker_port,
                credentials: Some((user.to_string(), password.to_string())),
                client_id: format!("scenario-issuer-{}", fastrand::u32(..)),
                database_url: app_database.to_string(),
            },
            &tasks,
            stop.clone(),
        );
        Ok(Self {
            app,
            oracle,
            hub: Hub::new(),
            publisher,
            tasks,
            stop,
            tenant: tenant.to_string(),
            site: site.to_string(),
            sent: 0,
        })
    }

    /// Records and publishes a command with id `id` (the same id again sends the first
    /// command again).
    pub async fn send(
        &mut self,
        id: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> anyhow::Result<()> {
        let command = commands::issue(
            &mut self.app,
            &self.hub,
            &Actor::system(),
            &self.tenant,
            &NewCommand {
                site: self.site.clone(),
                kind: kind.to_string(),
                payload,
                id: Some(id.to_string()),
                expires: None,
            },
        )
        .await?;
        drop(
            self.publisher
                .send(&self.tenant, &self.site, command, None)
                .await,
        );
        self.sent += 1;
        Ok(())
    }

    /// How many commands have been published (repeats included).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Runs a query on the cloud database (as the superuser: every tenant).
    pub async fn query(&self, sql: &str) -> anyhow::Result<Vec<tokio_postgres::Row>> {
        Ok(self.oracle.query(sql, &[]).await?)
    }

    /// How many of the commands whose id starts with `prefix` are still unanswered.
    pub async fn unanswered(&self, prefix: &str) -> anyhow::Result<i64> {
        let row = self
            .oracle
            .query_one(
                "SELECT count(*) FROM commands WHERE state IN ('queued', 'delivered')
                   AND command_id LIKE $1 || '%'",
                &[&prefix],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Stops the publisher.
    pub async fn close(self) {
        self.stop.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
    }
}
