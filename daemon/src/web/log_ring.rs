//! The daemon's recent log lines, kept in memory for the page's log tail: a tracing layer
//! that formats each event into one line and keeps the last [`CAPACITY`] of them.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Lines kept.
pub(crate) const CAPACITY: usize = 500;

/// The process's ring of log lines.
#[derive(Debug, Default)]
pub(crate) struct LogRing {
    lines: Mutex<VecDeque<String>>,
}

impl LogRing {
    /// The process-wide ring (filled once [`layer`] is installed).
    pub(crate) fn global() -> &'static LogRing {
        static RING: OnceLock<LogRing> = OnceLock::new();
        RING.get_or_init(LogRing::default)
    }

    /// Adds a line, dropping the oldest past [`CAPACITY`].
    pub(crate) fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == CAPACITY {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The newest `n` lines, oldest first.
    pub(crate) fn tail(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }
}

/// The layer that feeds [`LogRing::global`].
pub(crate) fn layer() -> RingLayer {
    RingLayer
}

/// See [`layer`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let ms = wall_ms();
        let secs = ms / 1000;
        let mut line = format!(
            "{:02}:{:02}:{:02}.{:03}Z {:>5} {}:",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            ms % 1000,
            meta.level(),
            meta.target()
        );
        let mut fields = Fields {
            message: String::new(),
            rest: String::new(),
        };
        event.record(&mut fields);
        let _ = write!(line, " {}{}", fields.message, fields.rest);
        LogRing::global().push(line);
    }
}

/// A log line is stamped with the real time, as journald stamps it (not the daemon's clock,
/// which runs fast in a scenario).
fn wall_ms() -> i64 {
    use crate::clock::Clock as _;
    crate::clock::SystemClock.now().as_millis()
}

struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_in_order() {
        let ring = LogRing::default();
        for i in 0..CAPACITY + 3 {
            ring.push(format!("line {i}"));
        }
        let tail = ring.tail(2);
        assert_eq!(
            tail,
            vec![
                format!("line {}", CAPACITY + 1),
                format!("line {}", CAPACITY + 2)
            ]
        );
        assert_eq!(ring.tail(usize::MAX).len(), CAPACITY);
        assert_eq!(ring.tail(usize::MAX)[0], "line 3");
    }
}
