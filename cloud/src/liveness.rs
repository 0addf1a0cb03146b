//! A site's liveness: its MQTT presence (the retained status and the last will).

use sitebox_sync::wire::{Presence, Status};
use tokio_postgres::Client;

use crate::db;
use crate::ingest::IngestError;
use crate::notify::{self, Hub, Topic};

/// The stored name of a presence.
pub const fn presence_name(presence: Presence) -> &'static str {
    match presence {
        Presence::Online => "online",
        Presence::Offline => "offline",
    }
}

/// Records a site's retained status (its presence at the broker). Returns the site's cursor
/// when it came online: the ingest sends it to the site as an ack on its own, so that the site
/// does not send again what the cloud committed while acks could not reach it.
pub async fn record_presence(
    client: &mut Client,
    hub: &Hub,
    tenant: &str,
    site: &str,
    status: &Status,
) -> Result<Option<u64>, IngestError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let updated = tx
        .execute(
            "UPDATE site_liveness SET presence = $3, presence_at = now(), presence_site_at = $4,
                 boot_id = coalesce($5, boot_id), version = coalesce($6, version)
             WHERE tenant_id = $1 AND site_id = $2",
            &[
                &tenant,
                &site,
                &presence_name(status.state),
                &status.at,
                &status.boot_id,
                &status.version,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(IngestError::Rejected(format!(
            "status of {tenant}/{site}, which is not in the registry"
        )));
    }
    let through = match status.state {
        Presence::Online => tx
            .query_opt(
                "SELECT through FROM site_cursors WHERE tenant_id = $1 AND site_id = $2",
                &[&tenant, &site],
            )
            .await?
            .map(|row| db::unseq(row.get(0))),
        Presence::Offline => None,
    };
    let change = hub.change(tenant, Some(site), vec![Topic::Liveness]);
    notify::notify_in(&tx, &change).await?;
    tx.commit().await?;
    hub.publish(change);
    Ok(through)
}

/// A site's liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Never heard from (no status, no batch).
    Unknown,
    /// Connected, and its events arrive.
    Online,
    /// Connected, but something in its sync is wrong (see the reasons).
    Degraded,
    /// Not connected (its last will or its own goodbye); it buffers what it writes.
    Offline,
}

impl State {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Online => "online",
            State::Degraded => "degraded",
            State::Offline => "offline",
        }
    }

    /// The state stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            State::Unknown,
            State::Online,
            State::Degraded,
            State::Offline,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// Why a site is not simply online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its status is offline (last will, or a clean stop).
    StatusOffline,
    /// Its backlog is above the policy's bound.
    BacklogLarge,
    /// Its backlog has grown over the last samples.
    BacklogGrowing,
    /// Its clock is off the cloud's by more than the policy allows.
    ClockSkew,
    /// The cloud's cursor has stood still behind stored seqs (a gap).
    SyncGap,
    /// Connected, with a backlog, but no batch has arrived for a while.
    Stalled,
}

impl Reason {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::StatusOffline => "status_offline",
            Reason::BacklogLarge => "backlog_large",
            Reason::BacklogGrowing => "backlog_growing",
            Reason::ClockSkew => "clock_skew",
            Reason::SyncGap => "sync_gap",
            Reason::Stalled => "stalled",
        }
    }
}

/// Bounds of the assessment.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// A backlog above this many events is degraded.
    pub backlog_large: u64,
    /// |skew| above this is degraded, ms.
    pub skew_max_ms: i64,
    /// A cursor standing still behind stored seqs for this long is a gap, ms.
    pub gap_after_ms: i64,
    /// Connected with a backlog and no batch for this long is stalled, ms.
    pub stalled_after_ms: i64,
    /// Backlog samples are at least this far apart, ms.
    pub sample_every_ms: i64,
    /// Samples kept (the last ones growing means growing).
    pub samples: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            backlog_large: 10_000,
            skew_max_ms: 120_000,
            gap_after_ms: 60_000,
            stalled_after_ms: 300_000,
            sample_every_ms: 60_000,
            samples: 5,
        }
    }
}

/// What the cloud knows of a site, from the link and its batches.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Its MQTT status and when the cloud received it (cloud ms).
    pub presence: Option<(Presence, i64)>,
    /// When the last batch arrived (cloud ms).
    pub last_batch_at: Option<i64>,
    /// The cloud's cursor.
    pub through: u64,
    /// The highest seq stored.
    pub max_seen: u64,
    /// When the cursor last moved (cloud ms).
    pub progressed_at: i64,
    /// The site's newest seq as it last reported, and its clock then.
    pub head: Option<(u64, i64)>,
    /// The site's clock minus the cloud's, ms, as it last reported.
    pub skew_ms: Option<i64>,
    /// Backlog samples (cloud ms, events), oldest first.
    pub samples: Vec<(i64, u64)>,
}

/// A site's assessed liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The state.
    pub state: State,
    /// Why it is not plain online.
    pub reasons: Vec<Reason>,
    /// Events the site still has to send, as of its clock `head.1` (None: it never said).
    pub backlog: Option<u64>,
    /// The samples to keep (the new one appended when due).
    pub samples: Vec<(i64, u64)>,
}

/// Assesses `signals` at cloud time `now` (ms).
pub fn assess(signals: &Signals, now: i64, policy: &Policy) -> Assessment {
    let backlog = signals
        .head
        .map(|(head, _)| head.saturating_sub(signals.through));
    let mut samples = signals.samples.clone();
    if let Some(backlog) = backlog
        && samples
            .last()
            .is_none_or(|(at, _)| now - at >= policy.sample_every_ms)
    {
        samples.push((now, backlog));
    }
    if samples.len() > policy.samples {
        samples.drain(..samples.len() - policy.samples);
    }
    let mut reasons = Vec::new();
    let heard = signals.presence.is_some() || signals.last_batch_at.is_some();
    let state = match signals.presence {
        _ if !heard => State::Unknown,
        Some((Presence::Offline, _)) => {
            reasons.push(Reason::StatusOffline);
            State::Offline
        }
        _ => {
            if backlog.is_some_and(|b| b > policy.backlog_large) {
                reasons.push(Reason::BacklogLarge);
            }
            let growing = samples.len() >= 3
                && samples.windows(2).all(|w| w[1].1 > w[0].1)
                && samples.last().is_some_and(|(_, b)| *b > 0);
            if growing {
                reasons.push(Reason::BacklogGrowing);
            }
            if signals
                .skew_ms
                .is_some_and(|s| s.abs() > policy.skew_max_ms)
            {
                reasons.push(Reason::ClockSkew);
            }
            if signals.max_seen > signals.through
                && now - signals.progressed_at >= policy.gap_after_ms
            {
                reasons.push(Reason::SyncGap);
            }
            let quiet_since = signals
                .last_batch_at
                .max(signals.presence.map(|(_, at)| at))
                .unwrap_or(now);
            if backlog.is_some_and(|b| b > 0) && now - quiet_since >= policy.stalled_after_ms {
                reasons.push(Reason::Stalled);
            }
            if reasons.is_empty() {
                State::Online
            } else {
                State::Degraded
            }
        }
    };
    Assessment {
        state,
        reasons,
        backlog,
        samples,
    }
}

/// A site's assessed liveness with the figures behind it, for the sweep's alerts and the API.
#[derive(Debug, Clone)]
pub struct SiteView {
    /// The assessment.
    pub assessment: Assessment,
    /// The figures behind it: presence, backlog, skew, last batch.
    pub detail: serde_json::Value,
    /// The site time the site's own figures are as of (its last report), ms.
    pub as_of_site: Option<i64>,
}

fn ms_of(row: &tokio_postgres::Row, i: usize) -> Option<i64> {
    row.get::<_, Option<i64>>(i)
}

/// Assesses every enabled site of `tenant` at cloud time `now` (ms) in `tx`, writes what
/// changed (state, reasons, backlog samples), and returns the views and whether any state or
/// figure changed.
pub async fn assess_tenant(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
    now: i64,
    policy: &Policy,
) -> Result<(std::collections::BTreeMap<String, SiteView>, bool), tokio_postgres::Error> {
    let rows = tx
        .query(
            "SELECT s.site_id, l.presence, (extract(epoch FROM l.presence_at) * 1000)::bigint,
                    (extract(epoch FROM c.last_batch_at) * 1000)::bigint, c.through, c.max_seen,
                    (extract(epoch FROM c.progressed_at) * 1000)::bigint, c.head, c.head_site_at,
                    c.skew_ms, c.backlog_samples, l.state, l.reasons, l.backlog, c.through_at_site,
                    l.presence_site_at
             FROM sites s
               JOIN site_cursors c ON c.tenant_id = s.tenant_id AND c.site_id = s.site_id
               JOIN site_liveness l ON l.tenant_id = s.tenant_id AND l.site_id = s.site_id
             WHERE s.tenant_id = $1 AND s.enabled",
            &[&tenant],
        )
        .await?;
    let mut views = std::collections::BTreeMap::new();
    let mut changed = false;
    for row in rows {
        let site: String = row.get(0);
        let presence = match row.get::<_, Option<&str>>(1) {
            Some("online") => ms_of(&row, 2).map(|at| (Presence::Online, at)),
            Some("offline") => ms_of(&row, 2).map(|at| (Presence::Offline, at)),
            _ => None,
        };
        let samples: Vec<(i64, u64)> = serde_json::from_value(row.get(10)).unwrap_or_default();
        let head = match (row.get::<_, Option<i64>>(7), ms_of(&row, 8)) {
            (Some(head), at) => Some((db::unseq(head), at.unwrap_or(0))),
            _ => None,
        };
        let signals = Signals {
            presence,
            last_batch_at: ms_of(&row, 3),
            through: db::unseq(row.get(4)),
            max_seen: db::unseq(row.get(5)),
            progressed_at: row.get::<_, Option<i64>>(6).unwrap_or(now),
            head,
            skew_ms: row.get(9),
            samples: samples.clone(),
        };
        let assessment = assess(&signals, now, policy);
        let reasons: Vec<&str> = assessment.reasons.iter().map(|r| r.as_str()).collect();
        let old_state: &str = row.get(11);
        let old_reasons: Vec<String> = row.get(12);
        let old_backlog: Option<i64> = row.get(13);
        let backlog = assessment.backlog.map(db::seq);
        if old_state != assessment.state.as_str()
            || old_reasons != reasons
            || old_backlog != backlog
        {
            tx.execute(
                "UPDATE site_liveness SET
                     state_since = CASE WHEN state <> $3 THEN now() ELSE state_since END,
                     state = $3, reasons = $4, backlog = $5, assessed_at = now()
                 WHERE tenant_id = $1 AND site_id = $2",
                &[
                    &tenant,
                    &site,
                    &assessment.state.as_str(),
                    &reasons,
                    &backlog,
                ],
            )
            .await?;
            if old_state != assessment.state.as_str() {
                tracing::info!(%tenant, %site, from = old_state, to = assessment.state.as_str(), ?reasons, "site liveness changed");
            }
            changed = true;
        }
        if assessment.samples != samples {
            tx.execute(
                "UPDATE site_cursors SET backlog_samples = $3 WHERE tenant_id = $1 AND site_id = $2",
                &[&tenant, &site, &serde_json::json!(assessment.samples)],
            )
            .await?;
        }
        let as_of_site = head.map(|(_, at)| at).or(ms_of(&row, 14));
        let detail = serde_json::json!({
            "state": assessment.state,
            "reasons": assessment.reasons,
            "presence": row.get::<_, Option<&str>>(1),
            "presence_at": ms_of(&row, 2),
            "backlog": assessment.backlog,
            "skew_ms": signals.skew_ms,
            "last_batch_at": signals.last_batch_at,
            "through": signals.through,
        });
        views.insert(
            site,
            SiteView {
                assessment,
                detail,
                as_of_site,
            },
        );
    }
    Ok((views, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(now: i64) -> Signals {
        Signals {
            presence: Some((Presence::Online, now - 1_000)),
            last_batch_at: Some(now - 500),
            through: 100,
            max_seen: 100,
            progressed_at: now - 500,
            head: Some((100, 0)),
            skew_ms: Some(30),
            samples: Vec::new(),
        }
    }

    #[test]
    fn every_signal_counts_and_says_why() {
        let policy = Policy::default();
        let now = 10_000_000;
        assert_eq!(
            assess(&Signals::default(), now, &policy).state,
            State::Unknown
        );
        let ok = assess(&online(now), now, &policy);
        assert_eq!((ok.state, ok.backlog), (State::Online, Some(0)));
        let mut offline = online(now);
        offline.presence = Some((Presence::Offline, now));
        offline.head = Some((4_100, 0));
        let a = assess(&offline, now, &policy);
        assert_eq!(
            (a.state, a.reasons.as_slice(), a.backlog),
            (State::Offline, &[Reason::StatusOffline][..], Some(4_000))
        );
        let mut skewed = online(now);
        skewed.skew_ms = Some(-200_000);
        assert_eq!(assess(&skewed, now, &policy).reasons, [Reason::ClockSkew]);
        let mut gap = online(now);
        gap.max_seen = 150;
        gap.progressed_at = now - 61_000;
        assert_eq!(assess(&gap, now, &policy).reasons, [Reason::SyncGap]);
        let mut big = online(now);
        big.head = Some((20_100, 0));
        big.last_batch_at = Some(now - 400_000);
        big.presence = Some((Presence::Online, now - 500_000));
        let a = assess(&big, now, &policy);
        assert_eq!(a.state, State::Degraded);
        assert_eq!(a.reasons, [Reason::BacklogLarge, Reason::Stalled]);
        // Batches alone (no status seen yet) count as heard.
        let mut quiet = online(now);
        quiet.presence = None;
        assert_eq!(assess(&quiet, now, &policy).state, State::Online);
    }

    #[test]
    fn a_backlog_growing_over_three_samples_a_minute_apart_is_degraded() {
        let policy = Policy::default();
        let mut s = online(0);
        let mut now = 1_000_000;
        for (i, head) in [150, 200, 260].into_iter().enumerate() {
            s.head = Some((head, 0));
            s.presence = Some((Presence::Online, now));
            s.last_batch_at = Some(now);
            s.progressed_at = now;
            let a = assess(&s, now, &policy);
            assert_eq!(a.samples.len(), i + 1);
            s.samples = a.samples;
            if i == 2 {
                assert_eq!(a.reasons, [Reason::BacklogGrowing]);
            } else {
                assert_eq!(a.state, State::Online);
            }
            // Within the minute: no new sample.
            assert_eq!(assess(&s, now + 10_000, &policy).samples.len(), i + 1);
            now += 60_000;
        }
        s.head = Some((120, 0));
        assert_eq!(assess(&s, now, &policy).state, State::Online, "shrank");
    }
}
