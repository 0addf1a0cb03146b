//! Wall-clock time as the store records it: milliseconds since the Unix epoch, UTC.
//!
//! Everything that schedules (job run-at, leases, expiries) takes the time from a [`Clock`], so
//! tests and the site scenario can drive a simulated clock instead of waiting.
//!
//! A box without a real-time clock boots at a stale time until NTP answers, and a clock can
//! be set wrong or jump while the daemon runs. The daemon's clock is a [`TrustedClock`]: the
//! wall clock while it can be trusted (synchronised, and never earlier than the newest time
//! seen), otherwise a timeline that runs on the monotonic clock from the newest time seen.
//! When trust comes (back), the time lived on that timeline is re-anchored: see [`Reanchor`].

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

    /// Whether the wall clock can be trusted, for clocks that know ([`TrustedClock`]).
    fn trust(&self) -> Option<Trust> {
        None
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

/// What tells the daemon that the wall clock is synchronised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// Always trusted: a box with a battery-backed real-time clock.
    Always,
    /// Trusted while this file exists: systemd-timesyncd's
    /// `/run/systemd/timesync/synchronized`, or a flag another NTP client's hook touches.
    Flag(std::path::PathBuf),
}

/// The wall clock's standing, for the page, `/metrics` and the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Trust {
    /// Whether the wall clock is used as it is.
    pub trusted: bool,
    /// The newest trusted wall time seen (the clock never reads earlier while trusted).
    pub floor: Option<Timestamp>,
    /// While untrusted (or not yet re-anchored): when the monotonic timeline began.
    pub untrusted_since: Option<Timestamp>,
    /// The newest time the untrusted timeline has shown.
    pub untrusted_last: Option<Timestamp>,
}

/// A stretch of time lived on the monotonic timeline, to be moved onto the wall clock once
/// it is trusted: every instant from `since` on that was recorded on that timeline (an
/// activation, an expiry, a job's run-at) is moved by `offset_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reanchor {
    /// The first instant of the untrusted timeline.
    pub since: Timestamp,
    /// How far the wall clock stands from the untrusted timeline (negative: the timeline ran
    /// ahead, e.g. a box that started under a clock in the future).
    pub offset_ms: i64,
}

/// The daemon's clock: the wall clock while it can be trusted, a monotonic timeline while it
/// cannot. Never goes back; a jump of the wall clock neither expires nor prolongs anything.
#[derive(Debug)]
pub struct TrustedClock {
    sources: Vec<TrustSource>,
    state: std::sync::Mutex<TrustState>,
}

#[derive(Debug)]
struct TrustState {
    /// The untrusted timeline: it read `.0` at monotonic instant `.1`.
    base: (Timestamp, std::time::Instant),
    trusted: bool,
    floor: Option<Timestamp>,
    untrusted_since: Option<Timestamp>,
    untrusted_last: Option<Timestamp>,
    last: Timestamp,
    pending: Option<Reanchor>,
    logged_untrusted: bool,
    flag: Option<(std::time::Instant, bool)>,
}

/// How long a look at the flag files is good for (`now()` is called per RADIUS request).
const FLAG_RECHECK: Duration = Duration::from_secs(1);

impl TrustedClock {
    /// A clock trusting `sources`, which has seen `known` before (from the store): the newest
    /// trusted time, and an untrusted timeline not yet re-anchored.
    pub fn new(sources: Vec<TrustSource>, known: Trust) -> Self {
        let wall = SystemClock.now();
        let start = [Some(wall), known.floor, known.untrusted_last]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(wall);
        Self {
            sources,
            state: std::sync::Mutex::new(TrustState {
                base: (start, std::time::Instant::now()),
                trusted: false,
                floor: known.floor,
                untrusted_since: known.untrusted_since,
                untrusted_last: known.untrusted_last,
                last: Timestamp(i64::MIN),
                pending: None,
                logged_untrusted: false,
                flag: None,
            }),
        }
    }

    /// The clock's standing now.
    pub fn trust(&self) -> Trust {
        let _ = self.now();
        let state = self.lock();
        Trust {
            trusted: state.trusted,
            floor: state.floor,
            untrusted_since: state.untrusted_since,
            untrusted_last: state.untrusted_last,
        }
    }

    /// The re-anchoring due now that the wall clock can be trusted. Until
    /// [`TrustedClock::reanchored`] is called the clock stays on its timeline, so nothing is
    /// judged against the wall clock before the instants recorded on the timeline are moved.
    pub fn reanchor_due(&self) -> Option<Reanchor> {
        let _ = self.now();
        self.lock().pending
    }

    /// The instants recorded on the timeline were moved by `done`: from now on the wall clock
    /// is used.
    pub fn reanchored(&self, done: Reanchor) {
        let wall = SystemClock.now();
        let mut state = self.lock();
        if state.pending != Some(done) {
            return;
        }
        state.pending = None;
        state.trusted = true;
        state.untrusted_since = None;
        state.untrusted_last = None;
        state.floor = Some(state.floor.map_or(wall, |floor| floor.max(wall)));
        state.base = (wall, std::time::Instant::now());
        // The one step back the clock takes: the timeline ran ahead and what it recorded
        // was just moved back with it.
        state.last = wall;
        tracing::info!(
            wall = wall.0,
            offset_ms = done.offset_ms,
            "wall clock trusted: activations and expiries made while it was not were moved onto it"
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrustState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a source says the wall clock is synchronised (the flags looked at once a second).
    fn synchronised(&self, state: &mut TrustState, mono: std::time::Instant) -> bool {
        if self.sources.contains(&TrustSource::Always) {
            return true;
        }
        if let Some((at, ok)) = state.flag
            && mono.duration_since(at) < FLAG_RECHECK
        {
            return ok;
        }
        let ok = self.sources.iter().any(|source| match source {
            TrustSource::Always => true,
            TrustSource::Flag(path) => path.exists(),
        });
        state.flag = Some((mono, ok));
        ok
    }
}

impl Clock for TrustedClock {
    fn trust(&self) -> Option<Trust> {
        Some(TrustedClock::trust(self))
    }

    fn now(&self) -> Timestamp {
        let wall = SystemClock.now();
        let mono = std::time::Instant::now();
        let mut state = self.lock();
        let state = &mut *state;
        let timeline = state.base.0.after(mono.duration_since(state.base.1));
        let synchronised = self.synchronised(state, mono);
        let wall_ok = synchronised && state.floor.is_none_or(|floor| wall >= floor);
        let now = if wall_ok && state.trusted {
            state.floor = Some(state.floor.map_or(wall, |floor| floor.max(wall)));
            state.base = (wall, mono);
            wall
        } else if wall_ok {
            match state.untrusted_since {
                None => {
                    tracing::info!(wall = wall.0, "wall clock trusted");
                    state.trusted = true;
                    state.floor = Some(state.floor.map_or(wall, |floor| floor.max(wall)));
                    state.base = (wall, mono);
                    wall
                }
                Some(since) => {
                    // Across a restart the timeline resumes where it stopped: the time the box
                    // was off is not taken from anyone.
                    let offset_ms = wall.0.saturating_sub(timeline.0);
                    state.pending.get_or_insert(Reanchor { since, offset_ms });
                    state.untrusted_last = Some(timeline);
                    timeline
                }
            }
        } else {
            if state.trusted || !state.logged_untrusted {
                let why = if synchronised {
                    "it is earlier than the newest time already seen"
                } else {
                    "it is not synchronised (no NTP yet)"
                };
                tracing::warn!(
                    wall = wall.0,
                    using = timeline.0,
                    "wall clock not trusted: {why}; running on the monotonic clock from the newest time seen"
                );
                state.logged_untrusted = true;
            }
            state.trusted = false;
            state.pending = None;
            state.untrusted_since.get_or_insert(timeline);
            state.untrusted_last = Some(timeline);
            timeline
        };
        state.last = state.last.max(now);
        state.last
    }
}

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
