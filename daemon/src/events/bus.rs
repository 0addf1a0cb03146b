//! In-process publication of committed events.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::EventRecord;

/// How many events a slow listener may fall behind before it is told it lagged (and must
/// resync from the outbox).
const CAPACITY: usize = 4096;

/// Fan-out of committed events to in-process listeners.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<EventRecord>>,
}

impl EventBus {
    /// A bus with no listeners.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender }
    }

    /// A new listener; it sees events committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.sender.subscribe()
    }

    /// Publishes a committed event (no listeners is fine).
    pub(crate) fn publish(&self, event: Arc<EventRecord>) {
        let _ = self.sender.send(event);
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}
