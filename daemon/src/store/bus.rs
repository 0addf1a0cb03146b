//! In-process publication of committed events, in site sequence order.
//!
//! Events reach the bus from two sides: the writer thread after each commit, and the watcher of
//! other processes' commits (the CLI writes to the same file). Both go through
//! [`EventBus::publish_in_order`], which publishes each sequence number exactly once and in
//! order, asking its caller to fill any gap from the outbox.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::model::event::EventRecord;

/// How many events a slow listener may fall behind before it is told it lagged (and must
/// resync from the outbox).
const CAPACITY: usize = 4096;

/// Fan-out of committed events to in-process listeners.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<EventRecord>>,
    published: Arc<Mutex<i64>>,
}

impl EventBus {
    /// A bus with no listeners, whose next event is the one after `last_seq`.
    pub fn new(last_seq: i64) -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self {
            sender,
            published: Arc::new(Mutex::new(last_seq)),
        }
    }

    /// A new listener; it sees events committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.sender.subscribe()
    }

    /// The last sequence number published.
    pub fn published(&self) -> i64 {
        *self.published.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `events` (ascending seq) in order, skipping those already published. When the
    /// first new one is not the next number, `fill(after, before)` is asked for the events in
    /// between (committed by another process) and they go first.
    pub(crate) fn publish_in_order<E>(
        &self,
        events: Vec<Arc<EventRecord>>,
        fill: impl FnOnce(i64, i64) -> Result<Vec<EventRecord>, E>,
    ) -> Result<usize, E> {
        let mut last = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let fresh: Vec<Arc<EventRecord>> = events.into_iter().filter(|e| e.seq > *last).collect();
        let mut sent = 0;
        if let Some(first) = fresh.first()
            && first.seq > *last + 1
        {
            for event in fill(*last, first.seq)? {
                if event.seq == *last + 1 {
                    let _ = self.sender.send(Arc::new(event));
                    *last += 1;
                    sent += 1;
                }
            }
        }
        for event in fresh {
            if event.seq > *last {
                *last = event.seq;
                let _ = self.sender.send(event);
                sent += 1;
            }
        }
        Ok(sent)
    }
}
