//! Fault knobs a test flips at run time through [`SimHandle`](super::SimHandle).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// The faults currently injected. All start off.
#[derive(Debug)]
pub(crate) struct Faults {
    /// Hold every reply (new and existing connections) until cleared: a hung router.
    pub stall: watch::Sender<bool>,
    /// Cut the connection halfway through the next reply sentence (one shot).
    pub drop_next_reply: AtomicBool,
    /// Send replies one byte at a time with this many microseconds between bytes (0 = off).
    pub drip_micros: AtomicU64,
    /// Reset every new connection at once: the router is down.
    pub refuse: AtomicBool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            stall: watch::Sender::new(false),
            drop_next_reply: AtomicBool::new(false),
            drip_micros: AtomicU64::new(0),
            refuse: AtomicBool::new(false),
        }
    }
}

impl Faults {
    pub(crate) fn drip(&self) -> Option<Duration> {
        match self.drip_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    pub(crate) fn refusing(&self) -> bool {
        self.refuse.load(Ordering::Relaxed)
    }

    pub(crate) fn take_drop(&self) -> bool {
        self.drop_next_reply.swap(false, Ordering::Relaxed)
    }
}
