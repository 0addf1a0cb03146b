//! Wake-ups of a queue's workers after a commit that gave them work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One [`Notify`] per queue name. `notify_one` keeps a permit when no worker is waiting, so a
/// wake-up sent while the worker is busy claiming is not lost.
#[derive(Clone, Debug, Default)]
pub struct Wakeups {
    queues: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl Wakeups {
    /// The notifier of `queue`.
    pub fn notifier(&self, queue: &str) -> Arc<Notify> {
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(queues.entry(queue.to_string()).or_default())
    }

    /// Wakes `queue`'s worker.
    pub fn wake(&self, queue: &str) {
        self.notifier(queue).notify_one();
    }

    /// Wakes every queue's worker (after a rescue, or when a simulated clock jumps).
    pub fn wake_all(&self) {
        let queues = self
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for notify in queues.values() {
            notify.notify_one();
        }
    }
}
