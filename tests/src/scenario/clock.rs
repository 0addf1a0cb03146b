//! The scenario's simulated time: the same fast clock the daemon runs (`[daemon] clock_speed`
//! and `clock_anchor`), read on this side to pace the day.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Simulated time, in ms since the Unix epoch: `anchor + (real − anchor) · speed`. The daemon
/// computes the same from the same anchor and speed, so both sides agree on the instant.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    anchor_ms: i64,
    speed: f64,
}

fn real_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

impl SimClock {
    /// A clock anchored at the current real time.
    pub fn start(speed: f64) -> Self {
        Self {
            anchor_ms: real_ms(),
            speed,
        }
    }

    /// The anchor (for the daemon's config).
    pub fn anchor_ms(&self) -> i64 {
        self.anchor_ms
    }

    /// How many times faster than real time.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The simulated now, ms since the epoch.
    pub fn now(&self) -> i64 {
        let real = real_ms();
        self.anchor_ms + ((real - self.anchor_ms) as f64 * self.speed) as i64
    }

    /// Real time for a simulated span.
    pub fn to_real(&self, span: Duration) -> Duration {
        span.div_f64(self.speed)
    }

    /// The real instant at which the simulated clock reads `sim_ms`.
    pub fn instant_of(&self, sim_ms: i64) -> Instant {
        let ahead = sim_ms - self.now();
        if ahead <= 0 {
            return Instant::now();
        }
        Instant::now()
            + Duration::from_millis(u64::try_from(ahead).unwrap_or(0)).div_f64(self.speed)
    }

    /// Sleeps until the simulated clock reads `sim_ms`.
    pub async fn sleep_until(&self, sim_ms: i64) {
        tokio::time::sleep_until(self.instant_of(sim_ms).into()).await;
    }
}

/// Minutes of simulated time, in ms.
pub const fn minutes(n: i64) -> i64 {
    n * 60_000
}
