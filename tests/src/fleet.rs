//! Protocol-level sites: an MQTT 3.1.1 client with a site's own credentials, client id, last
//! will and subscriptions, as `siteboxd`'s agent has (docs/PROTOCOL.md §1, §8), that a test or
//! the fleet benchmark drives batch by batch. Not a daemon: no outbox, no inbox.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, LastWill, MqttOptions, QoS};
use sitebox_sync::wire::{Ack, Batch, Presence, Status, Topic, TopicKind, VERSION};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cloud::site_password;

/// One simulated site's link.
#[derive(Debug)]
pub struct FakeSite {
    /// Tenant.
    pub tenant: String,
    /// Site.
    pub site: String,
    client: AsyncClient,
    incoming: mpsc::UnboundedReceiver<rumqttc::Publish>,
    link: JoinHandle<()>,
}

fn status(state: Presence) -> Vec<u8> {
    Status {
        v: VERSION,
        state,
        boot_id: Some("0198d2c4-0000-7000-8000-00000000fake".into()),
        version: (state == Presence::Online).then(|| "fake".into()),
        at: 0,
    }
    .encode()
}

impl FakeSite {
    /// Connects as `tenant`/`site` (password [`site_password`]) to the broker on `port` and
    /// subscribes to its acks and commands; does not publish its status yet.
    pub async fn connect(port: u16, tenant: &str, site: &str) -> anyhow::Result<Self> {
        let mut options = MqttOptions::new(format!("sitebox-{tenant}-{site}"), "127.0.0.1", port);
        let will = Topic::new(tenant, site, TopicKind::Status).to_string();
        options
            .set_credentials(format!("{tenant}.{site}"), site_password(tenant, site))
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(false)
            .set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024)
            .set_last_will(LastWill::new(
                will,
                status(Presence::Offline),
                QoS::AtLeastOnce,
                true,
            ));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(ack))))
                if ack.code == rumqttc::ConnectReturnCode::Success => {}
            other => anyhow::bail!("{tenant}/{site} not connected: {other:?}"),
        }
        let (tx, incoming) = mpsc::unbounded_channel();
        let link = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        let _ = tx.send(publish);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        for kind in [TopicKind::Acks, TopicKind::Commands] {
            client
                .subscribe(Topic::new(tenant, site, kind).to_string(), QoS::AtLeastOnce)
                .await?;
        }
        Ok(Self {
            tenant: tenant.to_string(),
            site: site.to_string(),
            client,
            incoming,
            link,
        })
    }

    /// Publishes its retained status.
    pub async fn status(&self, online: bool) -> anyhow::Result<()> {
        let state = if online {
            Presence::Online
        } else {
            Presence::Offline
        };
        self.client
            .publish(
                self.topic(TopicKind::Status),
                QoS::AtLeastOnce,
                true,
                status(state),
            )
            .await?;
        Ok(())
    }

    /// Publishes `batch` (zstd) on its events topic.
    pub async fn send(&self, batch: &Batch) -> anyhow::Result<()> {
        self.client
            .publish(
                self.topic(TopicKind::Events),
                QoS::AtLeastOnce,
                false,
                batch.encode(true)?,
            )
            .await?;
        Ok(())
    }

    /// Publishes an already encoded batch on its events topic (a benchmark encodes its
    /// batches before the clock starts).
    pub async fn send_encoded(&self, payload: Vec<u8>) -> anyhow::Result<()> {
        self.client
            .publish(
                self.topic(TopicKind::Events),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await?;
        Ok(())
    }

    /// The next ack within `within`.
    pub async fn next_ack(&mut self, within: Duration) -> Option<Ack> {
        let deadline = tokio::time::Instant::now() + within;
        let acks = self.topic(TopicKind::Acks);
        loop {
            let publish = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .ok()??;
            if publish.topic == acks
                && let Ok(ack) = Ack::decode(&publish.payload)
            {
                return Some(ack);
            }
        }
    }

    /// Drops the connection without a DISCONNECT: the broker publishes the last will.
    pub fn vanish(self) {
        self.link.abort();
    }

    fn topic(&self, kind: TopicKind) -> String {
        Topic::new(&self.tenant, &self.site, kind).to_string()
    }
}
