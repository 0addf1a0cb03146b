//! The cloud dashboard's side of commands: records each command in the ingest database and
//! publishes it on the site's `…/commands` topic (QoS 1) as the `ingest` service account, the
//! way `sitebox-ingest command` does, over one connection for the whole day.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, MqttOptions};
use sitebox_sync::ingest::db;
use sitebox_sync::wire::{Command, Topic, TopicKind, VERSION};

/// Sends commands to one site.
pub struct Issuer {
    pg: tokio_postgres::Client,
    mqtt: AsyncClient,
    topic: String,
    tenant: String,
    site: String,
    sent: u64,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("topic", &self.topic)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Connects to the ingest database and to the broker at `broker_port`.
    pub async fn connect(
        database: &str,
        broker_port: u16,
        user: &str,
        password: &str,
        tenant: &str,
        site: &str,
    ) -> anyhow::Result<Self> {
        let pg = db::connect(database).await?;
        let mut options = MqttOptions::new(
            format!("scenario-issuer-{}", fastrand::u32(..)),
            "127.0.0.1",
            broker_port,
        );
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_credentials(user, password);
        let (mqtt, mut eventloop) = AsyncClient::new(options, 1024);
        tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Ok(Self {
            pg,
            mqtt,
            topic: Topic::new(tenant, site, TopicKind::Commands).to_string(),
            tenant: tenant.to_string(),
            site: site.to_string(),
            sent: 0,
        })
    }

    /// Records and publishes a command with id `id`.
    pub async fn send(
        &mut self,
        id: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> anyhow::Result<()> {
        let command = Command {
            v: VERSION,
            id: id.to_string(),
            kind: kind.to_string(),
            payload,
            issued_at: 0,
        };
        db::insert_command(&self.pg, &self.tenant, &self.site, &command).await?;
        self.mqtt
            .publish(
                self.topic.clone(),
                QoS::AtLeastOnce,
                false,
                command.encode(),
            )
            .await?;
        self.sent += 1;
        Ok(())
    }

    /// How many commands have been published (repeats included).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Runs a query on the ingest database.
    pub async fn query(&self, sql: &str) -> anyhow::Result<Vec<tokio_postgres::Row>> {
        Ok(self.pg.query(sql, &[]).await?)
    }

    /// How many of the commands whose id starts with `prefix` are still unanswered.
    pub async fn unanswered(&self, prefix: &str) -> anyhow::Result<i64> {
        let row = self
            .pg
            .query_one(
                "SELECT count(*) FROM commands WHERE state IS NULL AND command_id LIKE $1 || '%'",
                &[&prefix],
            )
            .await?;
        Ok(row.get(0))
    }
}
