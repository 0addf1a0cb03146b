//! Jittered exponential backoff between reconnect attempts.

use std::time::Duration;

/// How many times and how patiently a [`Router`](super::Router) reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Connect attempts per call, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt; doubles after each failure.
    pub base: Duration,
    /// Upper bound on one delay.
    pub max: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl ReconnectPolicy {
    /// The delay after `failures` failed attempts (1-based): `base * 2^(failures-1)` capped at
    /// `max`, then scaled by a random factor in [0.5, 1.0) so many boxes do not retry in step.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1 << exp).min(self.max);
        full.mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_capped_and_jitter() {
        let policy = ReconnectPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        for _ in 0..100 {
            let first = policy.delay(1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
            let late = policy.delay(30);
            assert!(late >= Duration::from_millis(250) && late < Duration::from_millis(500));
        }
    }
}
