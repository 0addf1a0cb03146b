//! One ingest worker: an MQTT 5 client in the shared group and a PostgreSQL connection of its
//! own. Messages are handled one at a time in arrival order and PUBACKed only after the
//! database commit; the site's ack is published after the commit too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::{AsyncClient, Event, EventLoop, Incoming, MqttOptions};
use sitebox_sync::backoff::Backoff;
use sitebox_sync::failpoint;
use sitebox_sync::wire::{
    Ack, Batch, CommandResult, Status, Topic, TopicKind, VERSION, WireError, all_sites,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{IngestError, IngestSettings, IngestStats, batch};
use crate::notify::Hub;
use crate::{commands, db, liveness};

/// Runs `settings.workers` workers until `shutdown`. Worker 0 also follows every site's
/// status (a plain subscription: it gets the retained ones on connect).
pub async fn run(
    settings: IngestSettings,
    hub: Hub,
    stats: Arc<IngestStats>,
    shutdown: CancellationToken,
) -> Result<(), tokio_postgres::Error> {
    let mut tasks = Vec::new();
    for index in 0..settings.workers.max(1) {
        tasks.push(tokio::spawn(worker(
            settings.clone(),
            index,
            hub.clone(),
            stats.clone(),
            shutdown.clone(),
        )));
    }
    let mut result = Ok(());
    for task in tasks {
        if let Ok(Err(err)) = task.await {
            result = Err(err);
        }
    }
    result
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
    hub: Hub,
    stats: Arc<IngestStats>,
    shutdown: CancellationToken,
) -> Result<(), tokio_postgres::Error> {
    let mut pg = db::connect(&settings.database_url).await?;
    let mut statements = db::Statements::default();
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
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            message = rx.recv() => match message {
                None => break,
                Some(Link::Connected) => {
                    for kind in [TopicKind::Events, TopicKind::Results] {
                        let filter = format!("$share/{}/{}", settings.group, all_sites(kind));
                        let _ = mqtt.subscribe(filter, QoS::AtLeastOnce).await;
                    }
                    if index == 0 {
                        let _ = mqtt.subscribe(all_sites(TopicKind::Status), QoS::AtLeastOnce).await;
                    }
                    tracing::info!(worker = %client_id, "ingest worker subscribed");
                }
                Some(Link::Message(publish)) => {
                    if pg.is_closed() {
                        pg = db::connect(&settings.database_url).await?;
                        statements = db::Statements::default();
                    }
                    match handle(&mut pg, &statements, &hub, &mqtt, &publish, &stats).await {
                        Ok(()) => {}
                        Err(IngestError::Rejected(reason)) => {
                            stats.rejected.fetch_add(1, Ordering::Relaxed);
                            let topic = String::from_utf8_lossy(&publish.topic).to_string();
                            tracing::warn!(%topic, %reason, "ingest: message rejected");
                            if let Err(err) = store_rejection(&mut pg, &topic, &reason, publish.payload.len()).await {
                                tracing::error!(error = %err, "ingest: cannot record a rejection");
                                continue;
                            }
                        }
                        Err(IngestError::Postgres(err)) => {
                            // Not acked: redelivered, or sent again by the edge after its
                            // ack timeout.
                            tracing::error!(error = %err, "ingest: database write failed");
                            continue;
                        }
                    }
                    let _ = mqtt.ack(&publish).await;
                }
            },
        }
    }
    let _ = mqtt.disconnect().await;
    let _ = link.await;
    Ok(())
}

async fn handle(
    pg: &mut tokio_postgres::Client,
    statements: &db::Statements,
    hub: &Hub,
    mqtt: &AsyncClient,
    publish: &Publish,
    stats: &IngestStats,
) -> Result<(), IngestError> {
    let name = std::str::from_utf8(&publish.topic)
        .map_err(|_| IngestError::Rejected("topic is not UTF-8".into()))?;
    let topic =
        Topic::parse(name).ok_or_else(|| IngestError::Rejected("not a sitebox/v1 topic".into()))?;
    let bad = |e: WireError| IngestError::Rejected(e.to_string());
    match topic.kind {
        TopicKind::Events => {
            let batch = Batch::decode(&publish.payload).map_err(bad)?;
            let stored =
                batch::store_batch(pg, statements, hub, &topic.tenant, &topic.site, &batch).await?;
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.inserted.fetch_add(stored.inserted, Ordering::Relaxed);
            stats
                .duplicates
                .fetch_add(stored.duplicates, Ordering::Relaxed);
            stats
                .projection_failures
                .fetch_add(stored.projection_failures, Ordering::Relaxed);
            failpoint::hit("ingest_after_commit");
            let ack = Ack {
                v: VERSION,
                through: stored.through,
                batch: Some(batch.batch),
                server_time: db::now_ms(),
            };
            let acks = Topic::new(&topic.tenant, &topic.site, TopicKind::Acks).to_string();
            let _ = mqtt
                .publish(acks, QoS::AtLeastOnce, false, ack.encode())
                .await;
            tracing::debug!(tenant = %topic.tenant, site = %topic.site, through = stored.through, inserted = stored.inserted, duplicates = stored.duplicates, "ingest: batch stored");
        }
        TopicKind::Results => {
            let result = CommandResult::decode(&publish.payload).map_err(bad)?;
            commands::store_result(pg, hub, &topic.tenant, &topic.site, &result).await?;
        }
        TopicKind::Status => {
            if publish.payload.is_empty() {
                return Ok(()); // a cleared retained message
            }
            let status = Status::decode(&publish.payload).map_err(bad)?;
            let online =
                liveness::record_presence(pg, hub, &topic.tenant, &topic.site, &status).await?;
            if let Some(through) = online {
                // The site waits briefly for this after connecting (PROTOCOL.md §5).
                let ack = Ack {
                    v: VERSION,
                    through,
                    batch: None,
                    server_time: db::now_ms(),
                };
                let acks = Topic::new(&topic.tenant, &topic.site, TopicKind::Acks).to_string();
                let _ = mqtt
                    .publish(acks, QoS::AtLeastOnce, false, ack.encode())
                    .await;
            }
        }
        TopicKind::Acks | TopicKind::Commands => {
            return Err(IngestError::Rejected("a cloud → edge topic".into()));
        }
    }
    Ok(())
}

/// Records a refused message: with its tenant when the topic names one, else for the operator.
async fn store_rejection(
    pg: &mut tokio_postgres::Client,
    topic: &str,
    reason: &str,
    bytes: usize,
) -> Result<(), tokio_postgres::Error> {
    let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
    match Topic::parse(topic) {
        Some(parsed) => {
            let tx = pg.transaction().await?;
            db::set_tenant(&tx, &parsed.tenant).await?;
            tx.execute(
                "INSERT INTO rejected_messages (tenant_id, site_id, topic, reason, bytes)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&parsed.tenant, &parsed.site, &topic, &reason, &bytes],
            )
            .await?;
            tx.commit().await
        }
        None => pg
            .execute(
                "INSERT INTO rejected_foreign (topic, reason, bytes) VALUES ($1, $2, $3)",
                &[&topic, &reason, &bytes],
            )
            .await
            .map(drop),
    }
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
