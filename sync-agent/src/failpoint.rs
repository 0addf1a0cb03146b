//! Crash points for the fault tests: `SITEBOX_SYNC_FAILPOINT=NAME[:N]` aborts the process
//! (no unwinding, no flush, like a power cut) the N-th time (default 1st) the code passes the
//! point named NAME. Unset, a check is one relaxed atomic load.
//!
//! Points: `before_publish` (batch read from the committed outbox, not yet handed to MQTT),
//! `after_publish` (handed to MQTT, no PUBACK yet), `after_puback` (broker PUBACK, no cloud
//! ack yet), `after_cloud_ack` (cloud ack received, rows not yet marked), `after_mark` (rows
//! marked), `after_command_commit` (inbox committed, MQTT ack not yet sent).
//!
//! Only with the cargo feature `failpoints` (enabled by the tests crate): without it [`hit`]
//! is empty and the variable is never read, so no environment can make a shipped binary abort.

#[cfg(feature = "failpoints")]
use std::sync::OnceLock;
#[cfg(feature = "failpoints")]
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the point.
pub const ENV: &str = "SITEBOX_SYNC_FAILPOINT";

#[cfg(feature = "failpoints")]
struct Armed {
    name: String,
    at: u64,
    hits: AtomicU64,
}

#[cfg(feature = "failpoints")]
fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok()?;
            let (name, at) = match spec.split_once(':') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Armed {
                name,
                at: at.max(1),
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process if `name` is the armed point and this is its N-th pass.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    if let Some(armed) = armed()
        && armed.name == name
        && armed.hits.fetch_add(1, Ordering::Relaxed) + 1 == armed.at
    {
        tracing::error!(point = name, "failpoint: aborting");
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Without the `failpoints` feature a point is nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
