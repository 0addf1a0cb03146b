//! Retry delays: exponential with jitter, capped.

use std::time::Duration;

/// `base · 2^(attempt-1)`, capped at `max`, then spread by ±20 % so that jobs that failed
/// together (a router went down) do not all retry in the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failed attempt.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

/// The jitter's half-width, as a fraction of the delay.
pub(super) const JITTER: f64 = 0.2;

impl Backoff {
    /// The delay after failed attempt `attempt` (from 1), with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, fastrand::f64())
    }

    /// The delay after failed attempt `attempt` with jitter position `unit` in [0, 1): 0 gives
    /// the shortest (−20 %), 0.5 the nominal delay, near 1 the longest (+20 %).
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        self.nominal(attempt)
            .mul_f64(1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0))
    }

    /// The delay without jitter.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(10),
        max: Duration::from_secs(3600),
    };

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        let nominal: Vec<u64> = (1..=11).map(|a| BACKOFF.nominal(a).as_secs()).collect();
        assert_eq!(
            nominal,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(BACKOFF.nominal(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(BACKOFF.delay_with(1, 0.0), Duration::from_secs(8));
        assert_eq!(BACKOFF.delay_with(1, 0.5), Duration::from_secs(10));
        assert_eq!(BACKOFF.delay_with(3, 1.0), Duration::from_secs(48));
        for attempt in 1..=12 {
            for _ in 0..200 {
                let delay = BACKOFF.delay(attempt);
                let nominal = BACKOFF.nominal(attempt);
                assert!(
                    delay >= nominal.mul_f64(0.8) && delay <= nominal.mul_f64(1.2),
                    "{delay:?}"
                );
            }
        }
    }
}
