//! The edge's store-and-forward state machine, without IO.
//!
//! The outbox in SQLite is the source of truth; this only decides what to read and send next
//! and what an ack means. The cloud's cursor is over the site's single seq (global across
//! lanes): "every seq from 1 to `through` is stored". Lanes order *sending* only: each send
//! takes the highest-priority lane that still has unsent events past its own position, so a
//! payment written after a million telemetry rows goes out in the next batch, while the cursor
//! (and the marking of rows as acked) still advances only over contiguous seqs.
//!
//! Positions are per connection: on every (re)connect, ack timeout or `resend_from`, each lane
//! starts again right after the cursor, so anything not yet covered by an ack is sent again and
//! the cloud's `(site, seq)` key drops the copies. A batch in flight is retired by the ack that
//! names its id (that frees the window); rows are marked only by `through`.
//!
//! Strict priority alone would let a long events backlog hold the cursor (and every acked
//! mark) behind one old telemetry row, so every [`FAIR_EVERY`]-th batch goes to the lane that
//! is furthest behind: the cursor keeps moving during a drain.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::{Ack, Batch, Lane, VERSION, WireEvent};

/// One batch in this many is taken from the lane furthest behind rather than by priority.
pub const FAIR_EVERY: u64 = 4;

/// While acks keep coming, the oldest batch in flight is only given up on after this many ack
/// timeouts: a cloud working through a site's window acks one batch after another, and sending
/// the whole window again because its last batch waited its turn would only double its work.
pub const STALE_FACTOR: u32 = 4;

/// After connecting, how long the relay waits for the cloud's ack on its own (sent when the
/// cloud sees the site come online) before it sends anything. The ack tells it what the cloud
/// committed while acks could not get through, so a reconnect does not send that again.
pub const HELLO_WAIT: Duration = Duration::from_secs(1);

/// How the relay batches and paces.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Most events in one batch.
    pub max_batch_events: usize,
    /// Most bytes of one batch before compression (keep well under the broker's
    /// `message_size_limit`).
    pub max_batch_bytes: usize,
    /// Batches sent and not yet acked, at most.
    pub window: usize,
    /// When no ack has come for this long while batches are in flight (or the oldest batch in
    /// flight has waited [`STALE_FACTOR`] times this), send again from the cursor.
    pub ack_timeout: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            // Bigger batches compress better (zstd finds more of a session's earlier events to
            // refer to) and cost the ingest fewer transactions.
            max_batch_events: 2000,
            max_batch_bytes: 1024 * 1024,
            window: 8,
            ack_timeout: Duration::from_secs(30),
        }
    }
}

/// What the driver should read from the outbox next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    /// The lane to read.
    pub lane: Lane,
    /// Unacked events of the lane with seq strictly greater than this.
    pub after: u64,
    /// At most this many.
    pub limit: usize,
}

/// What the store returned for a [`ReadRequest`].
#[derive(Debug, Default)]
pub struct ReadBatch {
    /// Unacked events of the lane, ascending seq.
    pub events: Vec<WireEvent>,
    /// Telemetry lane only: seqs dropped under the disk budget, ascending, after `after`.
    pub dropped: Vec<u64>,
}

/// What an ack changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckOutcome {
    /// The new cursor when it advanced: mark rows through it as acked.
    pub advanced_to: Option<u64>,
    /// This box's clock minus the server's, ms (from the ack's server time).
    pub skew_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    batch: u64,
    sent_at: Instant,
}

/// The relay's state. See the module docs.
#[derive(Debug)]
pub struct Relay {
    settings: RelaySettings,
    tenant: String,
    site: String,
    boot_id: String,
    cursor: u64,
    connected: bool,
    /// Per lane: the highest seq sent on this connection (or the cursor).
    sent_through: [u64; 4],
    /// Per lane: the last read came back empty; cleared by new events and rewinds.
    drained: [bool; 4],
    in_flight: VecDeque<InFlight>,
    next_batch: u64,
    batches: u64,
    highest_sent: u64,
    skew_ms: Option<i64>,
    /// Connected, waiting for the cloud's first ack until then (see [`HELLO_WAIT`]).
    hello_until: Option<Instant>,
    /// When the last ack came.
    last_ack: Option<Instant>,
    /// The site's newest seq, as the store last said.
    head: Option<u64>,
    /// The outbox was rewound: nothing is sent until the cloud's cursor is known and the
    /// events written since are moved above it ([`Relay::resume_at`]).
    held: bool,
}

impl Relay {
    /// A relay for `tenant`/`site` whose cloud cursor (from the store) is `cursor`.
    pub fn new(
        settings: RelaySettings,
        tenant: &str,
        site: &str,
        boot_id: &str,
        cursor: u64,
    ) -> Self {
        Self {
            settings,
            tenant: tenant.into(),
            site: site.into(),
            boot_id: boot_id.into(),
            cursor,
            connected: false,
            sent_through: [cursor; 4],
            drained: [false; 4],
            in_flight: VecDeque::new(),
            // Unique enough across restarts that a stale ack left in the broker session from
            // an earlier run cannot retire a batch of this one.
            next_batch: fastrand::u64(1..u64::MAX / 2),
            batches: 0,
            highest_sent: cursor,
            skew_ms: None,
            hello_until: None,
            last_ack: None,
            head: None,
            held: false,
        }
    }

    /// The outbox was rewound (a restore): send nothing until [`Relay::resume_at`].
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Whether sending waits for the cloud's cursor after a rewind.
    pub fn held(&self) -> bool {
        self.held
    }

    /// The highest seq sent (or the cursor).
    pub fn highest_sent(&self) -> u64 {
        self.highest_sent
    }

    /// The events written since a rewind now stand above the cloud's cursor `cloud_cursor`:
    /// an ack through it may mark every row up to it (the cloud holds them all), and sending
    /// goes on from the cursor.
    pub fn resume_at(&mut self, cloud_cursor: u64) {
        self.held = false;
        self.highest_sent = self.highest_sent.max(cloud_cursor);
        self.head = None;
        self.rewind();
    }

    /// The cloud's cursor as this relay knows it.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Batches sent and not yet acked.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The last clock skew estimate (box − server), ms.
    pub fn skew_ms(&self) -> Option<i64> {
        self.skew_ms
    }

    /// Whether every lane was found empty since the last wake-up and nothing is in flight.
    pub fn idle(&self) -> bool {
        self.drained.iter().all(|d| *d) && self.in_flight.is_empty()
    }

    /// The connection (and its session) is up at `now`: send again from the cursor, after the
    /// cloud's first ack or [`HELLO_WAIT`], whichever comes first.
    pub fn connected(&mut self, now: Instant) {
        self.connected = true;
        self.hello_until = Some(now + HELLO_WAIT);
        self.rewind();
    }

    /// The connection is down: nothing is in flight any more.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.in_flight.clear();
    }

    /// The outbox's newest seq now (sent in the next batches, so the cloud knows the backlog).
    pub fn set_head(&mut self, head: Option<u64>) {
        self.head = head.or(self.head);
    }

    /// New events were committed: look at every lane again.
    pub fn wake(&mut self) {
        self.drained = [false; 4];
    }

    /// The cloud asked for everything from `seq` on again (it lost or never got it). It has
    /// everything below `seq`, so each lane goes back to `seq - 1` at most, never to the
    /// cursor below it: a lane that has not sent that far yet keeps its place.
    pub fn resend_from(&mut self, seq: u64) {
        let target = seq.saturating_sub(1);
        self.cursor = self.cursor.min(target);
        for position in &mut self.sent_through {
            *position = (*position).min(target).max(self.cursor);
        }
        self.drained = [false; 4];
        self.in_flight.clear();
    }

    fn rewind(&mut self) {
        self.sent_through = [self.cursor; 4];
        self.drained = [false; 4];
        self.in_flight.clear();
    }

    /// The next read to make, when connected and the window has room.
    pub fn next_read(&self) -> Option<ReadRequest> {
        if !self.connected
            || self.held
            || self.hello_until.is_some()
            || self.in_flight.len() >= self.settings.window
        {
            return None;
        }
        let mut open = Lane::ALL
            .into_iter()
            .filter(|lane| !self.drained[lane.index()]);
        let lane = if self.batches % FAIR_EVERY == FAIR_EVERY - 1 {
            open.min_by_key(|lane| self.sent_through[lane.index()])?
        } else {
            open.next()?
        };
        Some(ReadRequest {
            lane,
            after: self.sent_through[lane.index()],
            limit: self.settings.max_batch_events,
        })
    }

    /// Turns what was read for `request` into a batch to publish (None when the lane is empty,
    /// which marks it drained). Events past the byte cap are left for the next batch.
    pub fn on_read(
        &mut self,
        request: ReadRequest,
        read: ReadBatch,
        now: Instant,
        wall_ms: i64,
    ) -> Option<Batch> {
        let lane = request.lane.index();
        if read.events.is_empty() && read.dropped.is_empty() {
            self.drained[lane] = true;
            return None;
        }
        let mut events = read.events;
        let mut bytes = 200;
        let mut keep = 0;
        for event in &events {
            let size = 160 + event.subject.len() + event.payload.get().len() + event.kind.len();
            if keep > 0 && bytes + size > self.settings.max_batch_bytes {
                break;
            }
            bytes += size;
            keep += 1;
        }
        let cut = events.len() > keep;
        events.truncate(keep);
        let mut dropped = read.dropped;
        if cut {
            // Only tombstones below the last event kept; the rest go with the next batch.
            let last = events.last().map_or(0, |e| e.seq);
            dropped.retain(|seq| *seq < last);
        }
        let batch_id = self.next_batch;
        self.next_batch += 1;
        self.batches += 1;
        let batch = Batch {
            v: VERSION,
            tenant: self.tenant.clone(),
            site: self.site.clone(),
            batch: batch_id,
            lane: request.lane,
            boot_id: self.boot_id.clone(),
            sent_at: wall_ms,
            skew_ms: self.skew_ms,
            events,
            dropped,
            head: None,
        };
        let last = batch.last_seq().unwrap_or(request.after);
        let head = self.head.map(|h| h.max(last));
        let batch = Batch { head, ..batch };
        self.sent_through[lane] = last;
        self.highest_sent = self.highest_sent.max(last);
        self.in_flight.push_back(InFlight {
            batch: batch_id,
            sent_at: now,
        });
        Some(batch)
    }

    /// The cloud acked. `through` is clamped to what this relay has sent (an ack must never
    /// cover rows it has not seen: a cloud that remembers a wiped box would otherwise make it
    /// mark unsent rows).
    pub fn on_ack(&mut self, ack: &Ack, now: Instant, wall_ms: i64) -> AckOutcome {
        self.hello_until = None;
        self.last_ack = Some(now);
        if let Some(batch) = ack.batch {
            self.in_flight.retain(|f| f.batch != batch);
        }
        let skew_ms = wall_ms.saturating_sub(ack.server_time);
        self.skew_ms = Some(skew_ms);
        let through = ack.through.min(self.highest_sent);
        let advanced_to = (through > self.cursor).then(|| {
            self.cursor = through;
            for position in &mut self.sent_through {
                *position = (*position).max(through);
            }
            through
        });
        AckOutcome {
            advanced_to,
            skew_ms,
        }
    }

    /// Call now and then: when batches are in flight and no ack has come for the ack timeout
    /// (counted from the oldest batch's send when that is later), or the oldest batch has
    /// waited [`STALE_FACTOR`] ack timeouts, rewinds to the cursor and returns true.
    pub fn on_tick(&mut self, now: Instant) -> bool {
        if self.hello_until.is_some_and(|until| now >= until) {
            self.hello_until = None;
        }
        let timeout = self.settings.ack_timeout;
        let overdue = self.in_flight.front().is_some_and(|oldest| {
            let quiet_since = self
                .last_ack
                .map_or(oldest.sent_at, |at| at.max(oldest.sent_at));
            now.duration_since(quiet_since) >= timeout
                || now.duration_since(oldest.sent_at) >= timeout * STALE_FACTOR
        });
        if overdue {
            self.rewind();
        }
        overdue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn event(seq: u64) -> WireEvent {
        WireEvent {
            seq,
            id: format!("id-{seq}"),
            kind: "JobFailed".into(),
            schema_version: 1,
            occurred_at: 0,
            boot_id: "b".into(),
            uptime_ms: 0,
            subject: "job:1".into(),
            payload: RawValue::from_string("{}".into()).expect("raw"),
        }
    }

    fn read(seqs: &[u64]) -> ReadBatch {
        ReadBatch {
            events: seqs.iter().copied().map(event).collect(),
            dropped: vec![],
        }
    }

    fn ack(through: u64, batch: Option<u64>) -> Ack {
        Ack {
            v: VERSION,
            through,
            batch,
            server_time: 1_000,
        }
    }

    fn relay(window: usize) -> Relay {
        let settings = RelaySettings {
            window,
            max_batch_events: 3,
            ..RelaySettings::default()
        };
        Relay::new(settings, "t", "s", "boot", 0)
    }

    #[test]
    fn after_connecting_it_waits_for_the_clouds_ack_or_the_hello_wait() {
        let mut relay = relay(8);
        let start = Instant::now();
        relay.connected(start);
        assert_eq!(relay.next_read(), None, "waiting for the cloud's ack");
        relay.on_tick(start + HELLO_WAIT / 2);
        assert_eq!(relay.next_read(), None);
        relay.on_tick(start + HELLO_WAIT);
        assert!(relay.next_read().is_some(), "no ack came: send anyway");
        // An ack ends the wait at once, and what it covers is not sent again.
        let mut relay = Relay::new(RelaySettings::default(), "t", "s", "b", 10);
        relay.connected(start);
        assert_eq!(relay.next_read(), None);
        relay.on_ack(&ack(10, None), Instant::now(), 0);
        assert_eq!(relay.next_read().expect("read").after, 10);
    }

    #[test]
    fn sends_nothing_until_connected_and_lanes_in_priority_order() {
        let mut relay = relay(8);
        assert_eq!(relay.next_read(), None);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        let now = Instant::now();
        let first = relay.next_read().expect("read");
        assert_eq!(
            (first.lane, first.after, first.limit),
            (Lane::Payments, 0, 3)
        );
        let batch = relay.on_read(first, read(&[5]), now, 0).expect("batch");
        assert_eq!(batch.lane, Lane::Payments);
        // Payments again (there may be more), then empty → results → events.
        let again = relay.next_read().expect("read");
        assert_eq!((again.lane, again.after), (Lane::Payments, 5));
        assert!(relay.on_read(again, read(&[]), now, 0).is_none());
        let results = relay.next_read().expect("read");
        assert_eq!(results.lane, Lane::Results);
        assert!(relay.on_read(results, read(&[]), now, 0).is_none());
        let events = relay.next_read().expect("read");
        assert_eq!((events.lane, events.after), (Lane::Events, 0));
    }

    #[test]
    fn the_cursor_moves_only_by_through_and_never_past_what_was_sent() {
        let mut relay = relay(8);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        let now = Instant::now();
        let r = relay.next_read().expect("read");
        let b = relay.on_read(r, read(&[1, 2, 3]), now, 0).expect("batch");
        let outcome = relay.on_ack(&ack(10, Some(b.batch)), Instant::now(), 1_500);
        assert_eq!(
            outcome.advanced_to,
            Some(3),
            "clamped to the highest seq sent"
        );
        assert_eq!(outcome.skew_ms, 500);
        assert_eq!(relay.in_flight(), 0);
        assert_eq!(
            relay.on_ack(&ack(2, None), Instant::now(), 0).advanced_to,
            None
        );
        assert_eq!(relay.cursor(), 3);
    }

    #[test]
    fn window_full_waits_and_an_ack_for_the_batch_frees_it() {
        let mut relay = relay(1);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        let now = Instant::now();
        let r = relay.next_read().expect("read");
        let b = relay.on_read(r, read(&[7]), now, 0).expect("batch");
        assert_eq!(relay.next_read(), None, "window of one is full");
        // The cursor cannot pass 6 (seqs 1..6 are in other lanes), yet the window frees.
        assert_eq!(
            relay
                .on_ack(&ack(0, Some(b.batch)), Instant::now(), 0)
                .advanced_to,
            None
        );
        assert!(relay.next_read().is_some());
    }

    #[test]
    fn reconnect_and_ack_timeout_send_again_from_the_cursor() {
        let mut relay = relay(8);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        let start = Instant::now();
        let r = relay.next_read().expect("read");
        relay.on_read(r, read(&[1, 2]), start, 0).expect("batch");
        relay.disconnected();
        assert_eq!(relay.next_read(), None);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        assert_eq!(relay.next_read().expect("read").after, 0);
        let r = relay.next_read().expect("read");
        relay.on_read(r, read(&[1, 2]), start, 0).expect("batch");
        assert!(!relay.on_tick(start + Duration::from_secs(29)));
        assert!(relay.on_tick(start + Duration::from_secs(30)));
        assert_eq!(relay.next_read().expect("read").after, 0);
        assert_eq!(relay.in_flight(), 0);
    }

    #[test]
    fn acks_that_keep_coming_hold_off_the_rewind_of_a_batch_waiting_its_turn() {
        let mut relay = relay(2);
        relay.connected(Instant::now() - HELLO_WAIT);
        let start = Instant::now();
        relay.on_tick(start);
        let r = relay.next_read().expect("read");
        let first = relay.on_read(r, read(&[1]), start, 0).expect("batch");
        let r = relay.next_read().expect("read");
        relay.on_read(r, read(&[2]), start, 0).expect("batch");
        // The first is acked at 20 s; the second (now the oldest) waits its turn.
        relay.on_ack(
            &ack(1, Some(first.batch)),
            start + Duration::from_secs(20),
            0,
        );
        assert!(
            !relay.on_tick(start + Duration::from_secs(45)),
            "acked 25 s ago"
        );
        assert!(
            relay.on_tick(start + Duration::from_secs(50)),
            "30 s without an ack"
        );
        // However long acks keep coming, a batch is given up on after 4 ack timeouts.
        let mut relay = relay_with(1);
        let r = relay.next_read().expect("read");
        relay.on_read(r, read(&[1]), start, 0).expect("batch");
        for s in (10..120).step_by(10) {
            relay.on_ack(&ack(0, Some(0)), start + Duration::from_secs(s), 0);
            assert!(!relay.on_tick(start + Duration::from_secs(s)), "{s}");
        }
        assert!(relay.on_tick(start + Duration::from_secs(120)));
    }

    fn relay_with(window: usize) -> Relay {
        let mut relay = relay(window);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        relay
    }

    #[test]
    fn every_fourth_batch_serves_the_lane_furthest_behind() {
        let mut relay = relay(8);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        let now = Instant::now();
        for lane in [Lane::Payments, Lane::Results] {
            let r = relay.next_read().expect("read");
            assert_eq!(r.lane, lane);
            relay.on_read(r, read(&[]), now, 0);
        }
        for n in [10, 13, 16] {
            let r = relay.next_read().expect("read");
            assert_eq!(r.lane, Lane::Events);
            relay
                .on_read(r, read(&[n, n + 1, n + 2]), now, 0)
                .expect("batch");
        }
        let fourth = relay.next_read().expect("read");
        assert_eq!((fourth.lane, fourth.after), (Lane::Telemetry, 0));
        relay.on_read(fourth, read(&[1, 2]), now, 0).expect("batch");
        assert_eq!(relay.next_read().expect("read").lane, Lane::Events);
    }

    #[test]
    fn a_rewound_outbox_sends_nothing_until_resumed_then_takes_the_clouds_cursor() {
        let mut relay = Relay::new(RelaySettings::default(), "t", "s", "b", 30);
        relay.hold();
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        assert!(relay.next_read().is_none(), "held after a restore");
        // The cloud holds through 50; the events written since were moved above it.
        relay.resume_at(50);
        let outcome = relay.on_ack(&ack(50, None), Instant::now(), 0);
        assert_eq!(outcome.advanced_to, Some(50));
        assert_eq!(relay.next_read().expect("read").after, 50);
    }

    #[test]
    fn resend_from_lowers_the_cursor_and_rewinds() {
        let mut relay = Relay::new(RelaySettings::default(), "t", "s", "b", 50);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        relay.resend_from(20);
        assert_eq!(relay.cursor(), 19);
        assert_eq!(relay.next_read().expect("read").after, 19);
        relay.resend_from(90);
        assert_eq!(relay.cursor(), 19, "never raises the cursor");
    }

    #[test]
    fn resend_from_above_the_cursor_rewinds_only_lanes_past_it() {
        let mut relay = relay(8);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        let now = Instant::now();
        // Payments sent 10..12, results and events empty, telemetry 1..3; the cursor is 0.
        let r = relay.next_read().expect("read");
        relay
            .on_read(r, read(&[10, 11, 12]), now, 0)
            .expect("batch");
        for _ in 0..5 {
            let r = relay.next_read().expect("read");
            if r.lane == Lane::Telemetry {
                relay.on_read(r, read(&[1, 2, 3]), now, 0).expect("batch");
                break;
            }
            relay.on_read(r, read(&[]), now, 0);
        }
        // The cloud has everything below 11.
        relay.resend_from(11);
        assert_eq!(relay.cursor(), 0);
        assert_eq!(relay.in_flight(), 0);
        let again = relay.next_read().expect("read");
        assert_eq!((again.lane, again.after), (Lane::Payments, 10));
        relay.on_read(again, read(&[]), now, 0);
        for _ in 0..2 {
            let r = relay.next_read().expect("read");
            relay.on_read(r, read(&[]), now, 0);
        }
        let telemetry = relay.next_read().expect("read");
        assert_eq!((telemetry.lane, telemetry.after), (Lane::Telemetry, 3));
    }

    #[test]
    fn the_byte_cap_splits_a_read_and_keeps_later_tombstones() {
        let settings = RelaySettings {
            max_batch_bytes: 200 + 2 * 180,
            ..RelaySettings::default()
        };
        let mut relay = Relay::new(settings, "t", "s", "b", 0);
        relay.connected(Instant::now() - HELLO_WAIT);
        relay.on_tick(Instant::now());
        for lane in 0..3 {
            let r = relay.next_read().expect("read");
            assert_eq!(r.lane.index(), lane);
            relay.on_read(r, ReadBatch::default(), Instant::now(), 0);
        }
        let r = relay.next_read().expect("read");
        assert_eq!(r.lane, Lane::Telemetry);
        let mut got = read(&[2, 4, 6, 8]);
        got.dropped = vec![1, 3, 5, 9];
        let batch = relay.on_read(r, got, Instant::now(), 0).expect("batch");
        let seqs: Vec<u64> = batch.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 4]);
        assert_eq!(batch.dropped, [1, 3]);
        assert_eq!(relay.next_read().expect("read").after, 4);
    }
}
