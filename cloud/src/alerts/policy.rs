//! The alert reasons and their rules: timing (tolerance, clear, reopen) and thresholds, with
//! defaults that a tenant can override (`tenants.alert_policy`, by reason).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rule::Timing;

/// Why an alert is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The site is offline (its last will, or its goodbye).
    SiteOffline,
    /// A router the site polls does not answer.
    RouterUnreachable,
    /// A payment confirmed to the site has not been applied there after the threshold.
    PaymentNotApplied,
    /// Jobs failed at the site and wait for someone.
    FailedJobs,
    /// More RADIUS rejects in five minutes of the site's clock than the threshold.
    RadiusRejectSpike,
    /// The site's backlog keeps growing.
    SyncBacklogGrowing,
    /// The site's clock is off by more than the threshold.
    ClockSkew,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 7] = [
        Reason::SiteOffline,
        Reason::RouterUnreachable,
        Reason::PaymentNotApplied,
        Reason::FailedJobs,
        Reason::RadiusRejectSpike,
        Reason::SyncBacklogGrowing,
        Reason::ClockSkew,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::SiteOffline => "site_offline",
            Reason::RouterUnreachable => "router_unreachable",
            Reason::PaymentNotApplied => "payment_not_applied",
            Reason::FailedJobs => "failed_jobs",
            Reason::RadiusRejectSpike => "radius_reject_spike",
            Reason::SyncBacklogGrowing => "sync_backlog_growing",
            Reason::ClockSkew => "clock_skew",
        }
    }

    /// The reason stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// One reason's rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Tolerance, clear time and reopen window.
    pub timing: Timing,
    /// The reason's threshold: minutes unapplied (payments), rejects in five minutes (RADIUS),
    /// ms of skew (clock); unused by the others.
    pub threshold: i64,
}

/// A tenant's override of one rule (seconds; absent fields keep the default).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Tolerance, s.
    pub tolerance_s: Option<u64>,
    /// Clear time, s.
    pub clear_after_s: Option<u64>,
    /// Reopen window, s.
    pub reopen_within_s: Option<u64>,
    /// Threshold.
    pub threshold: Option<i64>,
}

const fn rule(tolerance: u64, clear_after: u64, reopen_within: u64, threshold: i64) -> Rule {
    Rule {
        timing: Timing {
            tolerance: Duration::from_secs(tolerance),
            clear_after: Duration::from_secs(clear_after),
            reopen_within: Duration::from_secs(reopen_within),
        },
        threshold,
    }
}

/// The default rule of `reason`.
pub const fn default_rule(reason: Reason) -> Rule {
    match reason {
        // Two minutes of silence: a site's reconnect after a blip takes seconds.
        Reason::SiteOffline => rule(120, 60, 600, 0),
        // The site polls its routers every few minutes; one failed poll is not an outage.
        Reason::RouterUnreachable => rule(300, 120, 1800, 0),
        // 15 minutes after the cloud confirmed it.
        Reason::PaymentNotApplied => rule(0, 0, 0, 15),
        Reason::FailedJobs => rule(60, 0, 0, 0),
        // 100 rejects in five minutes of the site's clock.
        Reason::RadiusRejectSpike => rule(0, 300, 900, 100),
        Reason::SyncBacklogGrowing => rule(600, 300, 1800, 0),
        // Two minutes off, for ten minutes.
        Reason::ClockSkew => rule(600, 300, 3600, 120_000),
    }
}

/// A tenant's rules: the defaults with its overrides.
#[derive(Debug, Clone)]
pub struct Rules(BTreeMap<Reason, Rule>);

impl Rules {
    /// The rules from the tenant's `alert_policy` (a JSON object of [`Override`]s by reason
    /// name); a malformed entry keeps the default and is reported.
    pub fn from_policy(policy: &serde_json::Value) -> (Self, Vec<String>) {
        let mut rules: BTreeMap<Reason, Rule> = Reason::ALL
            .into_iter()
            .map(|r| (r, default_rule(r)))
            .collect();
        let mut problems = Vec::new();
        if let Some(map) = policy.as_object() {
            for (name, value) in map {
                let Some(reason) = Reason::parse(name) else {
                    problems.push(format!("unknown alert reason `{name}`"));
                    continue;
                };
                match serde_json::from_value::<Override>(value.clone()) {
                    Ok(o) => {
                        let rule = rules.entry(reason).or_insert(default_rule(reason));
                        if let Some(s) = o.tolerance_s {
                            rule.timing.tolerance = Duration::from_secs(s);
                        }
                        if let Some(s) = o.clear_after_s {
                            rule.timing.clear_after = Duration::from_secs(s);
                        }
                        if let Some(s) = o.reopen_within_s {
                            rule.timing.reopen_within = Duration::from_secs(s);
                        }
                        if let Some(t) = o.threshold {
                            rule.threshold = t;
                        }
                    }
                    Err(err) => problems.push(format!("alert_policy.{name}: {err}")),
                }
            }
        }
        (Self(rules), problems)
    }

    /// The rule of `reason`.
    pub fn get(&self, reason: Reason) -> Rule {
        self.0.get(&reason).copied().unwrap_or(default_rule(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_only_what_they_name_and_bad_ones_are_reported() {
        let (rules, problems) = Rules::from_policy(&serde_json::json!({
            "site_offline": {"tolerance_s": 5, "clear_after_s": 2},
            "radius_reject_spike": {"threshold": 10},
            "no_such": {},
            "clock_skew": {"tolerance": 1},
        }));
        let offline = rules.get(Reason::SiteOffline);
        assert_eq!(offline.timing.tolerance, Duration::from_secs(5));
        assert_eq!(offline.timing.clear_after, Duration::from_secs(2));
        assert_eq!(offline.timing.reopen_within, Duration::from_secs(600));
        assert_eq!(rules.get(Reason::RadiusRejectSpike).threshold, 10);
        assert_eq!(
            rules.get(Reason::ClockSkew),
            default_rule(Reason::ClockSkew)
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
    }
}
