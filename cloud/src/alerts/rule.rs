//! One alert condition's state machine, without IO: a condition must stay bad for the rule's
//! tolerance before an alert opens (no alert for a 30-second blip); an open alert resolves only
//! after the condition has stayed good for `clear_after` (a condition that comes back before
//! that is a flap, counted on the same alert); a condition that comes back within
//! `reopen_within` of its alert's resolution reopens that alert rather than opening another.
//! While a maintenance window covers the site, nothing opens.

use std::time::Duration;

/// A rule's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Bad for this long before an alert opens.
    pub tolerance: Duration,
    /// Good for this long before an open alert resolves.
    pub clear_after: Duration,
    /// A condition bad again within this of its alert's resolution reopens it.
    pub reopen_within: Duration,
}

/// What is remembered of one condition between evaluations (cloud ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Condition {
    /// Bad since (None while good).
    pub bad_since: Option<i64>,
    /// Good again since, while an alert is open.
    pub good_since: Option<i64>,
    /// The open alert.
    pub alert: Option<i64>,
    /// The last alert resolved, and when.
    pub last_resolved: Option<(i64, i64)>,
}

/// What an evaluation does to the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing.
    None,
    /// Open a new alert (the caller assigns it an id and sets `Condition::alert`).
    Open,
    /// The open alert's condition came back before it resolved.
    Flap(i64),
    /// Reopen the alert resolved a moment ago.
    Reopen(i64),
    /// Resolve the open alert.
    Resolve(i64),
    /// The condition is bad long enough, but a maintenance window holds the alert back.
    Suppressed,
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Evaluates `condition` with the condition now `bad` at `now`.
pub fn step(
    condition: &mut Condition,
    bad: bool,
    now: i64,
    timing: &Timing,
    in_maintenance: bool,
) -> Transition {
    if bad {
        let recovering = condition.good_since.take().is_some();
        let since = *condition.bad_since.get_or_insert(now);
        if let Some(id) = condition.alert {
            return if recovering {
                Transition::Flap(id)
            } else {
                Transition::None
            };
        }
        if now - since < ms(timing.tolerance) {
            return Transition::None;
        }
        if in_maintenance {
            return Transition::Suppressed;
        }
        if let Some((id, at)) = condition.last_resolved
            && now - at <= ms(timing.reopen_within)
        {
            condition.alert = Some(id);
            condition.last_resolved = None;
            return Transition::Reopen(id);
        }
        Transition::Open
    } else {
        condition.bad_since = None;
        let Some(id) = condition.alert else {
            condition.good_since = None;
            return Transition::None;
        };
        let since = *condition.good_since.get_or_insert(now);
        if now - since >= ms(timing.clear_after) {
            condition.alert = None;
            condition.good_since = None;
            condition.last_resolved = Some((id, now));
            Transition::Resolve(id)
        } else {
            Transition::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing {
        tolerance: Duration::from_secs(120),
        clear_after: Duration::from_secs(60),
        reopen_within: Duration::from_secs(600),
    };

    fn run(condition: &mut Condition, steps: &[(i64, bool)]) -> Vec<Transition> {
        steps
            .iter()
            .map(|&(s, bad)| {
                let t = step(condition, bad, s * 1000, &T, false);
                if t == Transition::Open {
                    condition.alert = Some(7);
                }
                t
            })
            .collect()
    }

    #[test]
    fn a_blip_shorter_than_the_tolerance_opens_nothing() {
        let mut c = Condition::default();
        let got = run(&mut c, &[(0, true), (30, true), (60, false), (200, false)]);
        assert!(got.iter().all(|t| *t == Transition::None), "{got:?}");
        assert_eq!(c, Condition::default());
    }

    #[test]
    fn bad_past_the_tolerance_opens_once_and_resolves_after_the_clear_time() {
        let mut c = Condition::default();
        let got = run(
            &mut c,
            &[
                (0, true),
                (119, true),
                (120, true),
                (500, true),
                (600, false),
                (659, false),
                (660, false),
            ],
        );
        use Transition::*;
        assert_eq!(got, [None, None, Open, None, None, None, Resolve(7)]);
        assert_eq!(c.last_resolved, Some((7, 660_000)));
    }

    #[test]
    fn flapping_counts_on_one_alert_and_a_quick_return_reopens_it() {
        use Transition::*;
        let mut c = Condition::default();
        let got = run(
            &mut c,
            &[
                (0, true),
                (120, true),
                (130, false),
                (140, true),
                (150, false),
                (210, false),
                (300, true),
                (420, true),
            ],
        );
        assert_eq!(
            got,
            [None, Open, None, Flap(7), None, Resolve(7), None, Reopen(7)]
        );
        // Long after the resolution: a new alert.
        let mut c = Condition {
            last_resolved: Some((7, 0)),
            ..Condition::default()
        };
        assert_eq!(run(&mut c, &[(1000, true), (1120, true)]), [None, Open]);
    }

    #[test]
    fn maintenance_holds_back_opening_but_not_resolving() {
        let mut c = Condition::default();
        assert_eq!(step(&mut c, true, 0, &T, true), Transition::None);
        assert_eq!(
            step(&mut c, true, 200_000, &T, true),
            Transition::Suppressed
        );
        // The window ends with the condition still bad: it opens at once.
        assert_eq!(step(&mut c, true, 210_000, &T, false), Transition::Open);
        c.alert = Some(3);
        assert_eq!(step(&mut c, false, 220_000, &T, true), Transition::None);
        assert_eq!(
            step(&mut c, false, 280_000, &T, true),
            Transition::Resolve(3)
        );
    }
}
