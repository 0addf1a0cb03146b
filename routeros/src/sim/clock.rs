//! The simulated router's clock: what its uptimes, session timeouts, `limit-uptime`, interim
//! updates, netwatch intervals and scheduler runs are measured on.
//!
//! Three sources: the system clock; a scaled clock (`anchor + (real − anchor) · speed`, the same
//! formula the daemon uses for `[daemon] clock_speed`/`clock_anchor`, so a scenario's router and
//! box agree on the instant); and a manual clock that moves only when a test advances it.
//! Network waits (RADIUS timeouts and retransmits, probe timeouts) are real time on every
//! source: they are what the peer on the other end of a socket sees.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the simulated router reads the time. Cheap to clone; clones share a manual clock.
#[derive(Clone)]
pub struct SimClock(Arc<Source>);

enum Source {
    System,
    Scaled { anchor_ms: i64, speed: f64 },
    Manual(AtomicI64),
}

/// The simulated router's own wall clock (a router has one; this crate knows no daemon clock).
#[allow(clippy::disallowed_methods)]
fn real_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl SimClock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Source::System))
    }

    /// `anchor_ms + (real − anchor_ms) · speed`: runs `speed` times faster than real time from
    /// the anchor on (the daemon's `clock_anchor` and `clock_speed`).
    pub fn scaled(anchor_ms: i64, speed: f64) -> Self {
        Self(Arc::new(Source::Scaled {
            anchor_ms,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }))
    }

    /// A clock that reads `start_ms` until [`SimClock::advance`] moves it.
    pub fn manual(start_ms: i64) -> Self {
        Self(Arc::new(Source::Manual(AtomicI64::new(start_ms))))
    }

    /// Milliseconds since the Unix epoch on this clock.
    pub fn now_ms(&self) -> i64 {
        match &*self.0 {
            Source::System => real_ms(),
            Source::Scaled { anchor_ms, speed } => {
                let real = real_ms();
                anchor_ms + ((real - anchor_ms) as f64 * speed) as i64
            }
            Source::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; false (and nothing moves) for the other sources.
    pub fn advance(&self, by: Duration) -> bool {
        match &*self.0 {
            Source::Manual(now) => {
                let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
                now.fetch_add(by, Ordering::SeqCst);
                true
            }
            _ => false,
        }
    }

    /// True for a clock that moves only when advanced.
    pub fn is_manual(&self) -> bool {
        matches!(&*self.0, Source::Manual(_))
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("SimClock::system"),
            Source::Scaled { anchor_ms, speed } => f
                .debug_struct("SimClock::scaled")
                .field("anchor_ms", anchor_ms)
                .field("speed", speed)
                .finish(),
            Source::Manual(now) => f
                .debug_tuple("SimClock::manual")
                .field(&now.load(Ordering::SeqCst))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_moves_only_when_advanced_and_clones_share_it() {
        let clock = SimClock::manual(1_000);
        let other = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        assert!(other.advance(Duration::from_secs(90)));
        assert_eq!(clock.now_ms(), 91_000);
        assert!(!SimClock::system().advance(Duration::from_secs(1)));
    }

    #[test]
    fn scaled_runs_faster_from_its_anchor() {
        let anchor = real_ms() - 1_000;
        let clock = SimClock::scaled(anchor, 60.0);
        let ahead = clock.now_ms() - anchor;
        // At least one real second has passed since the anchor: a simulated minute or more.
        assert!(ahead >= 60_000, "{ahead}");
        assert!(ahead < 60 * 60_000, "{ahead}");
    }
}
