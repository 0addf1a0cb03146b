//! Wall-clock time as the store records it: milliseconds since the Unix epoch, UTC.
//!
//! Everything that schedules (job run-at, leases, expiries) takes the time from a [`Clock`], so
//! tests and the site scenario can drive a simulated clock instead of waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in UTC, in milliseconds since the Unix epoch.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant moved forward by `duration` (saturating).
    pub fn after(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// This instant moved back by `duration` (saturating).
    pub fn before(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(millis))
    }

    /// How long after `earlier` this instant is; zero when it is not after it.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where the current time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;

    /// How many times faster than real time this clock runs (1 except in scenario runs).
    fn speed(&self) -> f64 {
        1.0
    }

    /// The real time to wait for `span` of this clock's time to pass.
    fn to_real(&self, span: Duration) -> Duration {
        span.div_f64(self.speed())
    }

    /// How much of this clock's time passes in `real` real time.
    fn to_clock(&self, real: Duration) -> Duration {
        real.mul_f64(self.speed())
    }
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one read of the system's wall clock (clippy.toml disallows it everywhere else).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that starts at the real time and runs `speed` times faster: a scenario replays a
/// site's day in minutes. Never used in production (speed 1 is the [`SystemClock`]).
#[derive(Debug, Clone)]
pub struct ScaledClock {
    origin: Timestamp,
    started: std::time::Instant,
    speed: f64,
}

impl ScaledClock {
    /// A clock at the current time, running `speed` times faster from now on.
    pub fn new(speed: f64) -> Self {
        Self {
            origin: SystemClock.now(),
            started: std::time::Instant::now(),
            speed: speed.max(1.0),
        }
    }

    /// A clock running `speed` times faster that stood at the real time at `anchor`: every
    /// process given the same anchor and speed reads the same time, so a scenario's day goes on
    /// across a restart of the daemon instead of jumping back to the real time.
    pub fn anchored(anchor: Timestamp, speed: f64) -> Self {
        let real = SystemClock.now();
        let speed = speed.max(1.0);
        let elapsed = real.since(anchor);
        Self {
            origin: anchor.after(elapsed.mul_f64(speed)),
            started: std::time::Instant::now(),
            speed,
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        self.origin
            .after(self.started.elapsed().mul_f64(self.speed))
    }

    fn speed(&self) -> f64 {
        self.speed
    }
}

/// A clock that only moves when told to: for tests and simulated site days.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.0)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

impl rusqlite::ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.0.into())
    }
}

impl rusqlite::types::FromSql for Timestamp {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value.as_i64().map(Timestamp)
    }
}

/// This run of the process: a random id and the instant it started.
fn boot() -> &'static (String, std::time::Instant) {
    static BOOT: std::sync::OnceLock<(String, std::time::Instant)> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| (uuid::Uuid::now_v7().to_string(), std::time::Instant::now()))
}

/// The id of this run of the process.
pub fn boot_id() -> &'static str {
    &boot().0
}

/// Milliseconds since this run of the process started.
pub fn uptime_ms() -> i64 {
    i64::try_from(boot().1.elapsed().as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchored_clock_counts_from_its_anchor() {
        let anchor = SystemClock.now().before(Duration::from_secs(10));
        let clock = ScaledClock::anchored(anchor, 60.0);
        let ahead = clock.now().since(anchor);
        // 10 s of real time at 60x is 10 minutes of clock time (a little more by now).
        assert!(ahead >= Duration::from_secs(600), "{ahead:?}");
        assert!(ahead < Duration::from_secs(660), "{ahead:?}");
    }

    #[test]
    fn a_scaled_clock_runs_faster_and_converts_waits() {
        let clock = ScaledClock::new(3600.0);
        let start = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        let passed = clock.now().since(start);
        assert!(passed >= Duration::from_secs(60), "{passed:?}");
        assert_eq!(
            clock.to_real(Duration::from_secs(3600)),
            Duration::from_secs(1)
        );
        assert_eq!(
            clock.to_clock(Duration::from_secs(1)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            SystemClock.to_real(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }
}
