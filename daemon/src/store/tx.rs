//! The handle a write closure gets: the connection inside the open transaction, and the effects
//! to publish once it commits.

use std::ops::Deref;
use std::sync::Arc;

use rusqlite::Connection;

use super::{EventBus, Wakeups};
use crate::model::event::EventRecord;

/// A write in progress. Dereferences to the connection; everything done through it commits or
/// rolls back together, with its events and jobs.
#[derive(Debug)]
pub struct Tx<'a> {
    conn: &'a Connection,
    effects: &'a mut Effects,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(conn: &'a Connection, effects: &'a mut Effects) -> Self {
        Self { conn, effects }
    }

    /// Announces `event` to in-process listeners once (and only if) this write commits.
    pub(crate) fn publish_after_commit(&mut self, event: EventRecord) {
        self.effects.events.push(Arc::new(event));
    }

    /// Wakes the workers of `queue` once this write commits.
    pub(crate) fn wake_after_commit(&mut self, queue: &str) {
        if !self.effects.queues.iter().any(|q| q == queue) {
            self.effects.queues.push(queue.to_string());
        }
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// What a committed write announces.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    events: Vec<Arc<EventRecord>>,
    queues: Vec<String>,
}

impl Effects {
    /// Adds another write's effects (writes committed together publish together).
    pub(crate) fn absorb(&mut self, other: Effects) {
        self.events.extend(other.events);
        for queue in other.queues {
            if !self.queues.contains(&queue) {
                self.queues.push(queue);
            }
        }
    }

    /// Publishes the events in seq order (filling gaps left by other processes' commits from
    /// the outbox through `conn`) and wakes the queues.
    pub(crate) fn publish(self, conn: &Connection, bus: &EventBus, wakeups: &Wakeups) {
        let mut events = self.events;
        events.sort_by_key(|e| e.seq);
        let published = bus.publish_in_order(events, |after, before| {
            super::outbox::between(conn, after, before)
        });
        if let Err(err) = published {
            tracing::error!(error = %err, "could not read the outbox to publish events in order");
        }
        for queue in &self.queues {
            wakeups.wake(queue);
        }
    }
}
