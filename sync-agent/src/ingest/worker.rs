//! One ingest worker: an MQTT 5 client in the shared group and a PostgreSQL connection.
//! Messages are handled one at a time in arrival order and acked (MQTT) only after the
//! database commit; the site's ack is published after the commit too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::{AsyncClient, Event, EventLoop, Incoming, MqttOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::IngestSettings;
use super::db::{self, IngestError};
use crate::backoff::Backoff;
use crate::failpoint;
use crate::wire::{
    Ack, Batch, Command, CommandResult, RESEND_FROM, Status, Topic, TopicKind, VERSION, all_sites,
};

/// Counters shared by the workers of a process.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Events newly stored.
    pub inserted: AtomicU64,
    /// Events received again and skipped.
    pub duplicates: AtomicU64,
    /// Messages refused.
    pub rejected: AtomicU64,
    /// Batches stored.
    pub batches: AtomicU64,
    /// resend_from commands sent by the gap check.
    pub resends: AtomicU64,
}

/// Runs `settings.workers` workers and the gap check until `shutdown`.
pub async fn run(
    settings: IngestSettings,
    stats: Arc<IngestStats>,
    shutdown: CancellationToken,
) -> Result<(), tokio_postgres::Error> {
    let client = db::connect(&settings.database_url).await?;
    db::migrate(&client).await?;
    drop(client);
    let mut tasks = Vec::new();
    for index in 0..settings.workers.max(1) {
        tasks.push(tokio::spawn(worker(
            settings.clone(),
            index,
            stats.clone(),
            shutdown.clone(),
        )));
    }
    for task in tasks {
        if let Ok(Err(err)) = task.await {
            return Err(err);
        }
    }
    Ok(())
}

fn options(settings: &IngestSettings, client_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, &settings.host, settings.port);
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_start(true)
        .set_manual_acks(true)
        .set_max_packet_size(Some(16 * 1024 * 1024 + 1024));
    if let Some((user, password)) = &settings.credentials {
        options.set_credentials(user, password);
    }
    options
}

async fn worker(
    settings: IngestSettings,
    index: usize,
    stats: Arc<IngestStats>,
    shutdown: CancellationToken,
) -> Result<(), tokio_postgres::Error> {
    let mut pg = db::connect(&settings.database_url).await?;
    let client_id = format!("{}-{index}", settings.client_prefix);
    let (mqtt, eventloop) = AsyncClient::new(options(&settings, &client_id), 256);
    // Unbounded: the broker bounds what is in flight to us (we ack manually).
    let (tx, mut rx) = mpsc::unbounded_channel();
    let link = tokio::spawn(drive(
        eventloop,
        tx,
        settings.keep_alive * 3,
        shutdown.clone(),
    ));
    let mut gap_check = tokio::time::interval(settings.gap_timeout.max(Duration::from_secs(1)) / 2);
    gap_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            message = rx.recv() => match message {
                None => break,
                Some(Link::Connected) => {
                    for kind in [TopicKind::Events, TopicKind::Results, TopicKind::Status] {
                        let filter = format!("$share/{}/{}", settings.group, all_sites(kind));
                        let _ = mqtt.subscribe(filter, QoS::AtLeastOnce).await;
                    }
                    tracing::info!(worker = %client_id, "ingest worker subscribed");
                }
                Some(Link::Message(publish)) => {
                    match handle(&mut pg, &mqtt, &publish, &stats).await {
                        Ok(()) => {}
                        Err(IngestError::Rejected(reason)) => {
                            stats.rejected.fetch_add(1, Ordering::Relaxed);
                            let topic = String::from_utf8_lossy(&publish.topic).to_string();
                            tracing::warn!(%topic, %reason, "ingest: message rejected");
                            db::store_rejection(&pg, &topic, &reason, publish.payload.len()).await?;
                        }
                        Err(IngestError::Postgres(err)) => {
                            // Not acked: redelivered, or sent again by the edge after its
                            // ack timeout.
                            tracing::error!(error = %err, "ingest: database write failed");
                            if pg.is_closed() {
                                return Err(err);
                            }
                            continue;
                        }
                    }
                    let _ = mqtt.ack(&publish).await;
                }
            },
            _ = gap_check.tick() => {
                let secs = settings.gap_timeout.as_secs_f64();
                for gap in db::claim_gaps(&pg, secs).await? {
                    tracing::info!(tenant = %gap.tenant, site = %gap.site, from = gap.from, "ingest: gap; asking the site to resend");
                    let command = Command {
                        v: VERSION,
                        id: uuid::Uuid::now_v7().to_string(),
                        kind: RESEND_FROM.into(),
                        payload: serde_json::json!({ "seq": gap.from }),
                        issued_at: now_ms(),
                    };
                    db::insert_command(&pg, &gap.tenant, &gap.site, &command).await?;
                    let topic = Topic::new(&gap.tenant, &gap.site, TopicKind::Commands).to_string();
                    let _ = mqtt.publish(topic, QoS::AtLeastOnce, false, command.encode()).await;
                    stats.resends.fetch_add(1, Ordering::Relaxed);
                }
                for (tenant, site, command) in db::claim_unanswered(&pg, secs).await? {
                    tracing::info!(%tenant, %site, id = %command.id, "ingest: no result yet; sending the command again");
                    let topic = Topic::new(&tenant, &site, TopicKind::Commands).to_string();
                    let _ = mqtt.publish(topic, QoS::AtLeastOnce, false, command.encode()).await;
                }
            }
        }
    }
    let _ = mqtt.disconnect().await;
    let _ = link.await;
    Ok(())
}

async fn handle(
    pg: &mut tokio_postgres::Client,
    mqtt: &AsyncClient,
    publish: &Publish,
    stats: &IngestStats,
) -> Result<(), IngestError> {
    let name = std::str::from_utf8(&publish.topic)
        .map_err(|_| IngestError::Rejected("topic is not UTF-8".into()))?;
    let topic =
        Topic::parse(name).ok_or_else(|| IngestError::Rejected("not a sitebox/v1 topic".into()))?;
    let bad = |e: crate::wire::WireError| IngestError::Rejected(e.to_string());
    match topic.kind {
        TopicKind::Events => {
            let batch = Batch::decode(&publish.payload).map_err(bad)?;
            let stored = db::store_batch(pg, &topic.tenant, &topic.site, &batch).await?;
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.inserted.fetch_add(stored.inserted, Ordering::Relaxed);
            stats
                .duplicates
                .fetch_add(stored.duplicates, Ordering::Relaxed);
            failpoint::hit("ingest_after_commit");
            let ack = Ack {
                v: VERSION,
                through: stored.through,
                batch: Some(batch.batch),
                server_time: now_ms(),
            };
            let acks = Topic::new(&topic.tenant, &topic.site, TopicKind::Acks).to_string();
            let _ = mqtt
                .publish(acks, QoS::AtLeastOnce, false, ack.encode())
                .await;
            tracing::debug!(tenant = %topic.tenant, site = %topic.site, through = stored.through, inserted = stored.inserted, duplicates = stored.duplicates, "ingest: batch stored");
        }
        TopicKind::Results => {
            let result = CommandResult::decode(&publish.payload).map_err(bad)?;
            db::store_result(pg, &topic.tenant, &topic.site, &result).await?;
        }
        TopicKind::Status => {
            if publish.payload.is_empty() {
                return Ok(()); // a cleared retained message
            }
            let status = Status::decode(&publish.payload).map_err(bad)?;
            db::store_status(pg, &topic.tenant, &topic.site, &status).await?;
        }
        TopicKind::Acks | TopicKind::Commands => {
            return Err(IngestError::Rejected("a cloud → edge topic".into()));
        }
    }
    Ok(())
}

enum Link {
    Connected,
    Message(Box<Publish>),
}

async fn drive(
    mut eventloop: EventLoop,
    link: mpsc::UnboundedSender<Link>,
    poll_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let polled = tokio::select! {
            () = shutdown.cancelled() => break,
            polled = tokio::time::timeout(poll_timeout, eventloop.poll()) => polled,
        };
        let error = match polled {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {
                backoff.reset();
                let _ = link.send(Link::Connected);
                continue;
            }
            Ok(Ok(Event::Incoming(Incoming::Publish(publish)))) => {
                let _ = link.send(Link::Message(Box::new(publish)));
                continue;
            }
            Ok(Ok(_)) => continue,
            Ok(Err(err)) => err.to_string(),
            Err(_) => {
                eventloop.clean();
                "poll timed out".to_string()
            }
        };
        eventloop.pending.clear();
        tracing::warn!(%error, "ingest: broker connection lost");
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// Records `command` for `tenant`/`site` and publishes it (QoS 1), waiting for the broker's
/// PUBACK. Used by `sitebox-ingest command` and by operators' tooling.
pub async fn issue_command(
    settings: &IngestSettings,
    tenant: &str,
    site: &str,
    command: &Command,
) -> anyhow::Result<()> {
    let pg = db::connect(&settings.database_url).await?;
    db::insert_command(&pg, tenant, site, command).await?;
    let client_id = format!("{}-cmd-{}", settings.client_prefix, fastrand::u32(..));
    let mut options = options(settings, &client_id);
    options.set_manual_acks(false);
    let (mqtt, mut eventloop) = AsyncClient::new(options, 8);
    let topic = Topic::new(tenant, site, TopicKind::Commands).to_string();
    mqtt.publish(topic, QoS::AtLeastOnce, false, command.encode())
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(err)) => anyhow::bail!("broker: {err}"),
            Err(_) => anyhow::bail!("no PUBACK from the broker within 10s"),
        }
    }
    let _ = mqtt.disconnect().await;
    Ok(())
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
