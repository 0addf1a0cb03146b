//! Jittered exponential reconnect backoff ("full jitter" between half and all of the step).

use std::time::Duration;

/// Delays between reconnect attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `min`, doubles each attempt, never exceeds `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The delay before the next attempt: uniformly between half and all of min·2^attempt
    /// (capped at max), so many boxes cut off at once do not reconnect in step.
    pub fn next_delay(&mut self) -> Duration {
        let step = self
            .min
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let millis = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(fastrand::u64(0..=millis))
    }

    /// A connection succeeded: start again from `min`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_and_caps() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        for step in [1u64, 2, 4, 8, 8, 8] {
            let delay = backoff.next_delay();
            assert!(
                delay >= Duration::from_millis(step * 500) && delay <= Duration::from_secs(step),
                "{delay:?} for step {step}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(1));
    }
}
