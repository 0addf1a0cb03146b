//! Sends commands to sites: one MQTT 5 client per process, QoS 1 on each site's `…/commands`
//! topic, `resend_from` with a message expiry. When the broker's PUBACK comes back the ledger
//! marks the command `delivered`. rumqttc does not return a publish's packet id, so each
//! command is matched to the id its `Outgoing::Publish` event reports, in the order they were
//! handed over. A lost connection forgets what was in flight: those commands stay `queued` and
//! the sweep sends them again (the site applies an id once).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use rumqttc::v5::{AsyncClient, Event, Incoming, MqttOptions};
use sitebox_sync::backoff::Backoff;
use sitebox_sync::wire::{Command, Topic, TopicKind};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::commands;

/// Where the publisher connects.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Service account.
    pub credentials: Option<(String, String)>,
    /// MQTT client id (unique per process).
    pub client_id: String,
    /// The service role's PostgreSQL connection string (to mark deliveries).
    pub database_url: String,
}

struct Job {
    tenant: String,
    site: String,
    command: Command,
    expiry: Option<Duration>,
    delivered: Option<oneshot::Sender<()>>,
}

/// A handle to the process's publisher.
#[derive(Debug, Clone)]
pub struct Publisher {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("tenant", &self.tenant)
            .field("id", &self.command.id)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Starts the publisher task; it stops at `shutdown`.
    pub fn spawn(
        settings: PublisherSettings,
        tasks: &tokio_util::task::TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let (jobs, rx) = mpsc::channel(4096);
        tasks.spawn(run(settings, rx, shutdown));
        Self { jobs }
    }

    /// Hands `command` for `tenant`/`site` over for sending; the receiver resolves when the
    /// broker has taken it and the ledger says so (dropped if the link went down first).
    pub async fn send(
        &self,
        tenant: &str,
        site: &str,
        command: Command,
        expiry: Option<Duration>,
    ) -> oneshot::Receiver<()> {
        let (delivered, receiver) = oneshot::channel();
        let _ = self
            .jobs
            .send(Job {
                tenant: tenant.to_string(),
                site: site.to_string(),
                command,
                expiry,
                delivered: Some(delivered),
            })
            .await;
        receiver
    }
}

async fn run(
    settings: PublisherSettings,
    mut jobs: mpsc::Receiver<Job>,
    shutdown: CancellationToken,
) {
    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_start(true);
    if let Some((user, password)) = &settings.credentials {
        options.set_credentials(user, password);
    }
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let mut pg: Option<tokio_postgres::Client> = None;
    // Handed to rumqttc, packet id not seen yet; then by packet id, until the PUBACK.
    let mut unnumbered: VecDeque<Job> = VecDeque::new();
    let mut in_flight: HashMap<u16, Job> = HashMap::new();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            job = jobs.recv() => {
                let Some(job) = job else { break };
                let topic = Topic::new(&job.tenant, &job.site, TopicKind::Commands).to_string();
                let properties = PublishProperties {
                    message_expiry_interval: job.expiry.map(|e| u32::try_from(e.as_secs().max(1)).unwrap_or(u32::MAX)),
                    ..PublishProperties::default()
                };
                let payload = job.command.encode();
                // Never waits: the event loop is polled by this same task. A full request
                // queue leaves the command `queued` for the sweep.
                if client
                    .try_publish_with_properties(topic, QoS::AtLeastOnce, false, payload, properties)
                    .is_ok()
                {
                    unnumbered.push_back(job);
                }
            }
            polled = eventloop.poll() => match polled {
                Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) => {
                    if let Some(job) = unnumbered.pop_front() {
                        in_flight.insert(pkid, job);
                    }
                }
                Ok(Event::Incoming(Incoming::PubAck(ack))) => {
                    if let Some(mut job) = in_flight.remove(&ack.pkid) {
                        if pg.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
                            pg = crate::db::connect(&settings.database_url).await.ok();
                        }
                        if let Some(client) = pg.as_mut() {
                            match commands::mark_delivered(client, &job.tenant, &job.command.id).await {
                                Ok(()) => {
                                    if let Some(done) = job.delivered.take() {
                                        let _ = done.send(());
                                    }
                                }
                                Err(err) => tracing::warn!(error = %err, "publisher: cannot mark a command delivered"),
                            }
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::ConnAck(_))) => backoff.reset(),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "publisher: broker connection lost");
                    // What was in flight stays `queued` in the ledger: the sweep sends it again.
                    unnumbered.clear();
                    in_flight.clear();
                    eventloop.pending.clear();
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            },
        }
    }
    let _ = client.try_disconnect();
}
