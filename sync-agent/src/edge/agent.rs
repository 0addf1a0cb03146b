//! The driver: one task owns the rumqttc event loop (poll under a timeout, jittered backoff),
//! another runs the relay against the store. The outbox is the source of truth, so anything
//! rumqttc holds in memory (pending publishes of a dead connection) is dropped and sent again
//! from the cursor.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, LastWill, MqttOptions, Publish, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::{AgentSettings, EdgeStore, TlsError, client_config};
use crate::backoff::Backoff;
use crate::failpoint;
use crate::relay::Relay;
use crate::wire::{
    Ack, Command, CommandResult, CommandState, Presence, RESEND_FROM, ResendOutcome, Status, Topic,
    TopicKind, VERSION,
};

/// What the event-loop task tells the relay task.
#[derive(Debug)]
enum LinkEvent {
    Connected,
    Disconnected(String),
    Message(Publish),
    PubAck,
}

/// Runs the agent until `shutdown`. `wake` is notified when events are committed.
pub async fn run<S: EdgeStore>(
    settings: AgentSettings,
    store: S,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> Result<(), TlsError> {
    let options = mqtt_options(&settings)?;
    // Room for a full window of batches plus acks and results.
    let capacity = settings.relay.window + 64;
    let (client, eventloop) = AsyncClient::new(options, capacity);
    // Unbounded on purpose: what arrives is bounded by the broker (it sends at most its
    // max_inflight unacked QoS 1 messages, and we ack manually), and a bounded channel here
    // could deadlock against `client.publish` filling the request channel.
    let (link_tx, link_rx) = mpsc::unbounded_channel();
    let link = tokio::spawn(drive_link(
        eventloop,
        link_tx,
        Backoff::new(settings.backoff_min, settings.backoff_max),
        LinkTimeouts {
            connect: settings.connect_timeout,
            stall: settings.keep_alive * 2 + settings.connect_timeout,
        },
        shutdown.clone(),
    ));
    let agent = Agent {
        topics: Topics::new(&settings),
        settings,
        store,
        client,
    };
    agent.run(link_rx, wake, shutdown).await;
    let _ = link.await;
    Ok(())
}

fn mqtt_options(settings: &AgentSettings) -> Result<MqttOptions, TlsError> {
    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    let status = Topic::new(&settings.tenant, &settings.site, TopicKind::Status).to_string();
    let will = Status {
        v: VERSION,
        state: Presence::Offline,
        boot_id: Some(settings.boot_id.clone()),
        version: None,
        at: 0,
    };
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_inflight(u16::try_from(settings.relay.window.clamp(1, 1000) + 16).unwrap_or(100))
        .set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024)
        .set_last_will(LastWill::new(status, will.encode(), QoS::AtLeastOnce, true));
    if let Some((user, password)) = &settings.credentials {
        options.set_credentials(user, password);
    }
    if let Some(tls) = &settings.tls {
        let config = client_config(tls)?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    }
    Ok(options)
}

/// How long the link waits before it gives up on an attempt.
struct LinkTimeouts {
    /// TCP, TLS and MQTT CONNECT to CONNACK: a broker that is blackholed (packets dropped, no
    /// reset) is given up on after this, not after the stall timeout.
    connect: Duration,
    /// A connected link with no event at all (not even a PINGRESP) for this long is dead.
    stall: Duration,
}

/// Polls the event loop; on an error or a stalled poll, drops what rumqttc holds and waits a
/// jittered backoff before the next attempt (rumqttc itself would retry at once).
async fn drive_link(
    mut eventloop: EventLoop,
    link: mpsc::UnboundedSender<LinkEvent>,
    mut backoff: Backoff,
    timeouts: LinkTimeouts,
    shutdown: CancellationToken,
) {
    // rumqttc bounds its connect and each socket flush by one figure; the stall timeout keeps a
    // big batch on a slow uplink from being cut off. The connect deadline is applied here.
    eventloop
        .network_options
        .set_connection_timeout(timeouts.stall.as_secs().max(1));
    let mut connected = false;
    loop {
        let poll_timeout = if connected {
            timeouts.stall
        } else {
            timeouts.connect
        };
        let polled = tokio::select! {
            () = shutdown.cancelled() => break,
            polled = tokio::time::timeout(poll_timeout, eventloop.poll()) => polled,
        };
        let error = match polled {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(connack)))) => {
                if connack.code == rumqttc::ConnectReturnCode::Success {
                    connected = true;
                    backoff.reset();
                    let _ = link.send(LinkEvent::Connected);
                    continue;
                }
                format!("broker refused the connection: {:?}", connack.code)
            }
            Ok(Ok(Event::Incoming(Incoming::Publish(publish)))) => {
                let _ = link.send(LinkEvent::Message(publish));
                continue;
            }
            Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => {
                let _ = link.send(LinkEvent::PubAck);
                continue;
            }
            Ok(Ok(_)) => continue,
            Ok(Err(ConnectionError::RequestsDone)) => break,
            Ok(Err(err)) => err.to_string(),
            Err(_) => {
                eventloop.clean();
                if connected {
                    format!("no progress for {poll_timeout:?}")
                } else {
                    format!("not connected within {poll_timeout:?}")
                }
            }
        };
        connected = false;
        // The outbox will send it all again; rumqttc's leftovers would only be duplicates.
        eventloop.pending.clear();
        let _ = link.send(LinkEvent::Disconnected(error));
        let delay = backoff.next_delay();
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

struct Topics {
    events: String,
    acks: String,
    commands: String,
    results: String,
    status: String,
}

impl Topics {
    fn new(settings: &AgentSettings) -> Self {
        let topic = |kind| Topic::new(&settings.tenant, &settings.site, kind).to_string();
        Self {
            events: topic(TopicKind::Events),
            acks: topic(TopicKind::Acks),
            commands: topic(TopicKind::Commands),
            results: topic(TopicKind::Results),
            status: topic(TopicKind::Status),
        }
    }
}

struct Agent<S> {
    settings: AgentSettings,
    topics: Topics,
    store: S,
    client: AsyncClient,
}

impl<S: EdgeStore> Agent<S> {
    async fn run(
        self,
        mut link: mpsc::UnboundedReceiver<LinkEvent>,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
    ) {
        let cursor = loop {
            match self.store.cursor().await {
                Ok(cursor) => break cursor,
                Err(err) => {
                    tracing::warn!(error = %err, "sync: cannot read the cursor; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let mut relay = Relay::new(
            self.settings.relay.clone(),
            &self.settings.tenant,
            &self.settings.site,
            &self.settings.boot_id,
            cursor,
        );
        match self.store.rewound().await {
            Ok(Some(restored_head)) => {
                tracing::warn!(
                    restored_head,
                    "sync: the outbox was restored; nothing is sent until the cloud's cursor is known"
                );
                relay.hold();
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "sync: cannot read the outbox's rewind mark");
                relay.hold();
            }
        }
        tracing::info!(
            cursor,
            broker = %format!("{}:{}", self.settings.host, self.settings.port),
            "sync agent started"
        );
        let mut tick = tokio::time::interval(self.settings.poll_every.min(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_poll = Instant::now();
        let mut budget = tokio::time::interval(self.settings.budget_every);
        budget.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Err(err) = self.fill_window(&mut relay).await {
                tracing::warn!(error = %err, "sync: reading the outbox failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = link.recv() => match event {
                    Some(event) => self.on_link(&mut relay, event).await,
                    None => break,
                },
                () = wake.notified() => relay.wake(),
                _ = tick.tick() => {
                    if relay.on_tick(Instant::now()) {
                        tracing::info!(cursor = relay.cursor(), "sync: no ack in time; sending again from the cursor");
                    }
                    if last_poll.elapsed() >= self.settings.poll_every {
                        last_poll = Instant::now();
                        relay.wake();
                    }
                }
                _ = budget.tick() => match self.store.enforce_budget().await {
                    Ok(report) if report.dropped > 0 || report.pruned > 0 => tracing::info!(
                        backlog_bytes = report.backlog_bytes,
                        dropped_telemetry = report.dropped,
                        pruned = report.pruned,
                        "sync: backlog budget enforced"
                    ),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "sync: budget pass failed"),
                },
            }
        }
        // A clean stop: say so now rather than leaving it to the will after keep-alive.
        let offline = Status {
            v: VERSION,
            state: Presence::Offline,
            boot_id: Some(self.settings.boot_id.clone()),
            version: Some(self.settings.version.clone()),
            at: wall_ms(),
        };
        let _ = self.client.try_publish(
            &self.topics.status,
            QoS::AtLeastOnce,
            true,
            offline.encode(),
        );
        let _ = self.client.try_disconnect();
        tracing::info!(cursor = relay.cursor(), "sync agent stopped");
    }

    /// Reads and publishes batches while the relay's window has room.
    async fn fill_window(&self, relay: &mut Relay) -> Result<(), S::Error> {
        if relay.next_read().is_some() {
            relay.set_head(self.store.head().await?);
        }
        while let Some(request) = relay.next_read() {
            let read = self.store.read(request).await?;
            let Some(batch) = relay.on_read(request, read, Instant::now(), wall_ms()) else {
                continue;
            };
            failpoint::hit("before_publish");
            let (lane, first, last, events) = (
                batch.lane,
                batch.first_seq(),
                batch.last_seq(),
                batch.events.len(),
            );
            let compress = self.settings.compress;
            // Compressing a big batch takes milliseconds: not on an async worker, which the
            // daemon's other servers share.
            let bytes = match tokio::task::spawn_blocking(move || batch.encode(compress)).await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "sync: cannot encode a batch");
                    continue;
                }
                Err(err) => {
                    tracing::error!(error = %err, "sync: the batch encoder failed");
                    continue;
                }
            };
            tracing::debug!(
                lane = lane.as_str(),
                first,
                last,
                events,
                bytes = bytes.len(),
                "sync: publishing batch"
            );
            if self
                .client
                .publish(&self.topics.events, QoS::AtLeastOnce, false, bytes)
                .await
                .is_err()
            {
                return Ok(());
            }
            failpoint::hit("after_publish");
        }
        Ok(())
    }

    async fn on_link(&self, relay: &mut Relay, event: LinkEvent) {
        match event {
            LinkEvent::Connected => {
                tracing::info!(cursor = relay.cursor(), "sync: connected to the broker");
                relay.connected(Instant::now());
                super::LINK_UP.store(true, std::sync::atomic::Ordering::Relaxed);
                for topic in [&self.topics.acks, &self.topics.commands] {
                    let _ = self
                        .client
                        .subscribe(topic.as_str(), QoS::AtLeastOnce)
                        .await;
                }
                let online = Status {
                    v: VERSION,
                    state: Presence::Online,
                    boot_id: Some(self.settings.boot_id.clone()),
                    version: Some(self.settings.version.clone()),
                    at: wall_ms(),
                };
                let _ = self
                    .client
                    .publish(&self.topics.status, QoS::AtLeastOnce, true, online.encode())
                    .await;
            }
            LinkEvent::Disconnected(reason) => {
                tracing::warn!(%reason, cursor = relay.cursor(), "sync: broker connection lost");
                relay.disconnected();
                super::LINK_UP.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            LinkEvent::PubAck => failpoint::hit("after_puback"),
            LinkEvent::Message(publish) if publish.topic == self.topics.acks => {
                self.on_ack(relay, &publish).await;
            }
            LinkEvent::Message(publish) if publish.topic == self.topics.commands => {
                self.on_command(relay, &publish).await;
            }
            LinkEvent::Message(publish) => {
                tracing::debug!(topic = %publish.topic, "sync: message on an unexpected topic");
                let _ = self.client.ack(&publish).await;
            }
        }
    }

    async fn on_ack(&self, relay: &mut Relay, publish: &Publish) {
        match Ack::decode(&publish.payload) {
            Ok(ack) => {
                if !self.resume_after_rewind(relay, &ack).await {
                    let _ = self.client.ack(publish).await;
                    return;
                }
                let outcome = relay.on_ack(&ack, Instant::now(), wall_ms());
                if let Some(through) = outcome.advanced_to {
                    failpoint::hit("after_cloud_ack");
                    if let Err(err) = self
                        .store
                        .mark_acked(through, ack.server_time, outcome.skew_ms)
                        .await
                    {
                        // The rows stay unacked and are sent again; the cloud drops copies.
                        tracing::warn!(error = %err, through, "sync: marking acked rows failed");
                    }
                    failpoint::hit("after_mark");
                }
            }
            Err(err) => tracing::debug!(error = %err, "sync: bad ack dropped"),
        }
        let _ = self.client.ack(publish).await;
    }

    /// Before an ack is taken: when the outbox was rewound (a restore), or the cloud holds
    /// more than this outbox ever wrote (a lost WAL, a wiped box), moves the events written
    /// since above the cloud's cursor and resumes from it, so none reuses a seq the cloud
    /// holds (docs/PROTOCOL.md, "Outbox rewind"). False when that failed (nothing is sent; the
    /// next ack tries again).
    async fn resume_after_rewind(&self, relay: &mut Relay, ack: &Ack) -> bool {
        let restored_head = if relay.held() {
            match self.store.rewound().await {
                Ok(head) => head,
                Err(err) => {
                    tracing::warn!(error = %err, "sync: cannot read the outbox's rewind mark");
                    return false;
                }
            }
        } else if ack.through > relay.highest_sent() {
            // An ack past everything sent: normal after a restart that lost the last mark,
            // a rewind when it is past everything ever written.
            match self.store.head().await {
                Ok(Some(head)) if ack.through > head => Some(head),
                Ok(_) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "sync: cannot read the outbox's head");
                    return false;
                }
            }
        } else {
            None
        };
        let Some(restored_head) = restored_head else {
            if relay.held() {
                relay.resume_at(relay.cursor());
            }
            return true;
        };
        match self.store.resume_above(restored_head, ack.through).await {
            Ok(moved) => {
                tracing::warn!(
                    restored_head,
                    cloud_cursor = ack.through,
                    moved,
                    "sync: the outbox was behind the cloud (restored, or its last writes lost); events written since were moved above the cloud's cursor"
                );
                relay.resume_at(ack.through);
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "sync: moving events above the cloud's cursor failed");
                relay.hold();
                false
            }
        }
    }

    async fn on_command(&self, relay: &mut Relay, publish: &Publish) {
        let command = match Command::decode(&publish.payload) {
            Ok(command) => command,
            Err(err) => {
                // Without an id it cannot be dead-lettered or answered: drop it, loudly.
                tracing::warn!(error = %err, "sync: undecodable command dropped");
                let _ = self.client.ack(publish).await;
                return;
            }
        };
        let result = match self.store.apply_command(command).await {
            Ok(result) => result,
            Err(err) => {
                // Not stored: leave it unacked so the broker delivers it again.
                tracing::warn!(error = %err, "sync: command not applied; it will be redelivered");
                return;
            }
        };
        failpoint::hit("after_command_commit");
        let _ = self.client.ack(publish).await;
        tracing::info!(
            id = %result.id,
            kind = %result.kind,
            state = result.state.as_str(),
            repeat = result.repeat,
            "sync: command handled"
        );
        if result.kind == RESEND_FROM && result.state == CommandState::Applied && !result.repeat {
            match serde_json::from_value::<ResendOutcome>(result.result.clone()) {
                // The cloud has had everything since it asked: rewinding would only send the
                // window (and everything after the cursor) again as duplicates.
                Ok(outcome) if outcome.overtaken => tracing::info!(
                    from = outcome.from,
                    cursor = outcome.cursor,
                    "sync: resend_from overtaken by a later ack; nothing resent"
                ),
                Ok(outcome) => relay.resend_from(outcome.from),
                Err(err) => {
                    tracing::warn!(error = %err, "sync: resend_from result unreadable; sending again from the cursor");
                    match self.store.cursor().await {
                        Ok(cursor) => relay.resend_from(cursor + 1),
                        Err(err) => tracing::warn!(error = %err, "sync: cannot read the cursor"),
                    }
                }
            }
        }
        self.publish_result(&result).await;
    }

    async fn publish_result(&self, result: &CommandResult) {
        let _ = self
            .client
            .publish(
                &self.topics.results,
                QoS::AtLeastOnce,
                false,
                result.encode(),
            )
            .await;
    }
}

/// The box's wall clock for what the edge tells the cloud (`status`, batches' `sent_at`): this
/// crate knows no daemon clock, and the cloud estimates the skew from these readings.
#[allow(clippy::disallowed_methods)]
fn wall_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
