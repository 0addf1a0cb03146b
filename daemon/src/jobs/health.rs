//! Router health: a periodic sweep enqueues one poll per managed router; a poll reads
//! `/system/resource`, `/system/identity` (timed: the API round trip), and the hotspot and PPP
//! active lists, and records them on the router's row. RouterStatusChanged goes out (through
//! the outbox, in the same transaction) only when the router goes up or down or its RouterOS
//! version changes, not on every poll.
//!
//! A poll has its own deadline: a router that accepts but never answers is marked down with
//! the timeout, and its connection is dropped so the next poll connects anew.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sitebox_routeros::client::{Error as ApiError, Router as ApiRouter};
use sitebox_routeros::ops;

use crate::clock::SharedClock;
use crate::domain::DomainError;
use crate::domain::provisioning;
use crate::links::RouterLinks;
use crate::model::RouterId;
use crate::model::event::{Actor, NewEvent, payload};
use crate::model::job::{HealthSweep, JobKind, PollHealth};
use crate::model::router::Reached;
use crate::model::router::Router;
use crate::queue::{Handlers, JobError, PeriodicJob};
use crate::store::router_health;
use crate::store::{Store, routers as router_sql};

/// What the health handlers need.
#[derive(Debug, Clone)]
pub(crate) struct Poller {
    /// The store.
    pub store: Store,
    /// The clock.
    pub clock: SharedClock,
    /// RouterOS API clients.
    pub links: RouterLinks,
    /// How often every router is polled.
    pub every: Duration,
    /// The client's deadline per step; a poll gets a few of them.
    pub command_timeout: Duration,
    /// `[provisioning] enabled`: a router that answers gets the changes it missed.
    pub provisioning: bool,
}

impl Poller {
    /// The deadline of one whole poll (connect, login, four commands).
    pub(crate) fn deadline(&self) -> Duration {
        self.command_timeout * 3
    }
}

/// Registers the sweep and poll handlers; returns the sweep's schedule.
pub(crate) fn register(handlers: &mut Handlers, poller: Poller) -> Vec<PeriodicJob> {
    let poller = Arc::new(poller);
    let p = Arc::clone(&poller);
    handlers.register_kind(move |_job: HealthSweep| {
        let p = Arc::clone(&p);
        async move {
            let (now, timeout) = (p.clock.now(), p.deadline() + Duration::from_secs(5));
            p.store
                .write(move |tx| {
                    let routers = router_health::managed(tx)?;
                    for router in &routers {
                        let poll = PollHealth { router_id: *router }.spec().timeout(timeout);
                        tx.enqueue(&poll, now)?;
                    }
                    Ok::<_, DomainError>(routers.len())
                })
                .await
                .map(drop)
                .map_err(JobError::retry)
        }
    });
    let every = poller.every;
    handlers.register_kind(move |job: PollHealth| {
        let p = Arc::clone(&poller);
        async move { p.poll(job.router_id).await }
    });
    vec![PeriodicJob::of(every, &HealthSweep {})]
}

impl Poller {
    /// Polls router `id` and records what it found; a router that cannot be reached is
    /// recorded down, which is not a job failure.
    pub(crate) async fn poll(&self, id: RouterId) -> Result<(), JobError> {
        let router = self
            .store
            .read(move |conn| router_sql::get(conn, id))
            .await
            .map_err(JobError::retry)?;
        let Some(router) = router.filter(Router::is_active) else {
            return Ok(());
        };
        let link = match self.links.get(&router).await {
            Ok(Some(link)) => link,
            Ok(None) => return Ok(()),
            Err(err) => {
                return self.record(&router, Err(err.to_string())).await;
            }
        };
        let outcome = match tokio::time::timeout(self.deadline(), probe(&link)).await {
            Ok(Ok(seen)) => Ok(seen),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => {
                // The client bounds each step; this is the backstop for the whole poll.
                link.disconnect().await;
                Err(format!(
                    "timed out after {:?} without an answer",
                    self.deadline()
                ))
            }
        };
        if let Err(error) = &outcome {
            tracing::warn!(router = %router.name, %error, "router health poll failed");
        }
        self.record(&router, outcome).await
    }

    async fn record(
        &self,
        router: &Router,
        outcome: Result<Reached, String>,
    ) -> Result<(), JobError> {
        let (id, name, now) = (router.id, router.name.clone(), self.clock.now());
        let catch_up = self.provisioning && outcome.is_ok();
        self.store
            .write(move |tx| {
                let before = router_health::get(tx, id)?
                    .ok_or_else(|| DomainError::NotFound(format!("router {}", id.0)))?;
                match &outcome {
                    Ok(seen) => router_health::record_up(tx, id, seen, now)?,
                    Err(error) => router_health::record_down(tx, id, error, now)?,
                }
                let after = router_health::get(tx, id)?
                    .ok_or_else(|| DomainError::NotFound(format!("router {}", id.0)))?;
                if before.status != after.status || before.ros_version != after.ros_version {
                    tracing::info!(router = %name, from = %before.status, to = %after.status,
                        version = ?after.ros_version, "router status changed");
                    tx.emit(
                        now,
                        &Actor::System,
                        NewEvent::new(
                            format!("router:{name}"),
                            &payload::RouterStatusChanged {
                                router: name.clone(),
                                status: after.status,
                                previous_status: before.status,
                                ros_version: after.ros_version.clone(),
                                previous_version: before.ros_version.clone(),
                                identity: after.identity.clone(),
                                latency_ms: after.latency_ms,
                                detail: after.status_detail.clone(),
                            },
                        ),
                    )?;
                }
                if catch_up {
                    let behind = provisioning::catch_up(tx, now, id, 500)?;
                    if behind > 0 {
                        tracing::debug!(router = %name, behind, "provisioning catch-up");
                    }
                }
                Ok::<_, DomainError>(())
            })
            .await
            .map_err(JobError::retry)
    }
}

/// One poll's commands.
async fn probe(link: &ApiRouter) -> Result<Reached, ApiError> {
    let resource = ops::system_resource(link).await?;
    // The connection is up now: this round trip is the router's answer time alone.
    let started = Instant::now();
    let identity = ops::identity(link).await?;
    let latency = started.elapsed();
    let hotspot = ops::hotspot_active(link).await?.len();
    let ppp = ops::ppp_active(link).await?.len();
    Ok(Reached {
        ros_version: resource.version,
        identity: Some(identity),
        latency_ms: i64::try_from(latency.as_millis()).unwrap_or(i64::MAX),
        uptime_s: resource.uptime.as_deref().and_then(uptime_seconds),
        cpu_load: resource.cpu_load.and_then(|v| i64::try_from(v).ok()),
        free_memory: resource.free_memory.and_then(|v| i64::try_from(v).ok()),
        active_sessions: i64::try_from(hotspot + ppp).unwrap_or(i64::MAX),
    })
}

/// RouterOS uptime (`2w1d03:04:05`, `1d2h3m4s`, `45s`) in seconds.
pub(crate) fn uptime_seconds(text: &str) -> Option<i64> {
    if text.trim().is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut number: i64 = 0;
    let mut digits = false;
    let mut clock: Vec<i64> = Vec::new();
    for c in text.trim().chars() {
        if let Some(d) = c.to_digit(10) {
            number = number.checked_mul(10)?.checked_add(i64::from(d))?;
            digits = true;
            continue;
        }
        if !digits {
            return None;
        }
        let unit = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            ':' => {
                clock.push(number);
                number = 0;
                digits = false;
                continue;
            }
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(unit)?)?;
        number = 0;
        digits = false;
    }
    if !clock.is_empty() {
        if !digits || clock.len() != 2 {
            return None;
        }
        total += clock[0] * 3_600 + clock[1] * 60 + number;
    } else if digits {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::uptime_seconds;

    #[test]
    fn reads_routeros_uptimes() {
        for (text, want) in [
            ("45s", Some(45)),
            ("1d2h3m4s", Some(86_400 + 7_200 + 180 + 4)),
            ("2w1d03:04:05", Some(15 * 86_400 + 3 * 3_600 + 4 * 60 + 5)),
            ("00:00:10", Some(10)),
            ("", None),
            ("12", None),
            ("1x", None),
            ("1:2", None),
        ] {
            assert_eq!(uptime_seconds(text), want, "{text:?}");
        }
    }
}
