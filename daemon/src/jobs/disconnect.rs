//! Cutting a session off when its subscription ends: a Disconnect-Request (RFC 5176) to the
//! router's port 3799, and when the router does not confirm (NAK, no answer) or the session is
//! still there after `verify_after`, a kick through the RouterOS API. A session the router no
//! longer has is closed in the store. After a plan's rate limit is edited, its online sessions
//! get the new one by CoA-Request.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sitebox_radius::dictionary::{mikrotik, vendor};
use sitebox_radius::disconnect::{self, DynamicKind, DynamicOutcome, RetryPolicy, SessionSelector};
use sitebox_radius::{Attribute, Secret};
use sitebox_routeros::ops;
use tokio::net::UdpSocket;

use crate::clock::{SharedClock, Timestamp};
use crate::domain::DomainError;
use crate::domain::accounting;
use crate::domain::routers;
use crate::links::RouterLinks;
use crate::model::RouterId;
use crate::model::job::{DisconnectSession, JobKind, SessionRateLimit, VerifySessionGone};
use crate::model::router::Router;
use crate::model::session::{Session, SessionState, acct_session_octets};
use crate::queue::{Handlers, JobError};
use crate::secrets::Secrets;
use crate::store::{
    Store, plans, routers as router_sql, sessions, subscriptions as subscription_sql,
};

/// What the disconnect handlers need.
#[derive(Debug, Clone)]
pub(crate) struct Enforcer {
    /// The store.
    pub store: Store,
    /// To open RADIUS secrets.
    pub secrets: Secrets,
    /// The clock.
    pub clock: SharedClock,
    /// RouterOS API clients.
    pub links: RouterLinks,
    /// Source address of Disconnect-Requests.
    pub coa_source: IpAddr,
    /// How long after a Disconnect-ACK the session must be gone.
    pub verify_after: Duration,
    /// Routers that left a Disconnect-Request unanswered lately (start with the default).
    pub silent: SilentRouters,
}

/// How long a router that left a Disconnect-Request unanswered is not sent another (clock time):
/// its next cut-offs go straight to the API kick, so a dead router's sessions do not each hold
/// an enforcement slot through three timed-out tries while other routers' cut-offs wait.
const SILENT_FOR: Duration = Duration::from_secs(60);

/// The routers that left a Disconnect-Request unanswered, and when.
#[derive(Debug, Clone, Default)]
pub(crate) struct SilentRouters(Arc<std::sync::Mutex<HashMap<RouterId, Timestamp>>>);

impl SilentRouters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RouterId, Timestamp>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `router` was silent within [`SILENT_FOR`] of `now`.
    fn is_silent(&self, router: RouterId, now: Timestamp) -> bool {
        self.lock()
            .get(&router)
            .is_some_and(|&since| now < since.after(SILENT_FOR))
    }

    fn record(&self, router: RouterId, now: Timestamp, answered: bool) {
        let mut silent = self.lock();
        if answered {
            silent.remove(&router);
        } else {
            silent.insert(router, now);
        }
    }
}

/// Registers the disconnect and verify handlers.
pub(crate) fn register(handlers: &mut Handlers, enforcer: Enforcer) {
    let enforcer = Arc::new(enforcer);
    let e = Arc::clone(&enforcer);
    handlers.register_kind(move |job: DisconnectSession| {
        let enforcer = Arc::clone(&e);
        async move { enforcer.disconnect(job.session_id).await }
    });
    let e = Arc::clone(&enforcer);
    handlers.register_kind(move |job: VerifySessionGone| {
        let enforcer = Arc::clone(&e);
        async move { enforcer.verify(job.session_id).await }
    });
    handlers.register_kind(move |job: SessionRateLimit| {
        let enforcer = Arc::clone(&enforcer);
        async move { enforcer.rate_limit(job.session_id).await }
    });
}

impl Enforcer {
    async fn load(&self, id: i64) -> Result<Option<(Session, Router, String)>, JobError> {
        let secrets = self.secrets.clone();
        self.store
            .read(move |conn| {
                let Some(session) = sessions::by_id(conn, id)? else {
                    return Ok(None);
                };
                let router = router_sql::get(conn, session.router_id)?.ok_or_else(|| {
                    DomainError::NotFound(format!("router {}", session.router_id.0))
                })?;
                let secret = routers::radius_secret(conn, &secrets, router.id)?;
                Ok::<_, DomainError>(Some((session, router, secret)))
            })
            .await
            .map_err(JobError::retry)
    }

    async fn disconnect(&self, id: i64) -> Result<(), JobError> {
        let Some((session, router, secret)) = self.load(id).await? else {
            return Err(JobError::discard(format!("no session {id}")));
        };
        if session.state != SessionState::Open {
            return Ok(());
        }
        if self.silent.is_silent(router.id, self.clock.now()) {
            let why = "the router left a Disconnect-Request unanswered lately";
            tracing::info!(session = id, router = %router.name, user = %session.username, "{why}; kicking through the API");
            return self.kick(&session, &router, why).await;
        }
        let outcome = self
            .send(
                &session,
                &router,
                secret,
                DynamicKind::Disconnect,
                Vec::new(),
            )
            .await;
        // Any answer (ACK or NAK) shows the router's dynamic-authorization port is alive.
        self.silent
            .record(router.id, self.clock.now(), outcome.is_ok());
        match outcome {
            Ok(DynamicOutcome::Ack) => {
                tracing::info!(session = id, router = %router.name, user = %session.username, "Disconnect-ACK");
                let now = self.clock.now();
                let verify = VerifySessionGone { session_id: id }
                    .spec()
                    .delay(self.verify_after);
                self.store
                    .write(move |tx| tx.enqueue(&verify, now))
                    .await
                    .map_err(|e: crate::store::StoreError| JobError::retry(e))?;
                Ok(())
            }
            other => {
                let why = match other {
                    Ok(answer) => format!("router answered {answer:?}"),
                    Err(err) => err,
                };
                tracing::warn!(session = id, router = %router.name, %why, "Disconnect-Request not confirmed; kicking through the API");
                self.kick(&session, &router, &why).await
            }
        }
    }

    /// Sends an online session its plan's rate limit as it is now (after a plan edit). A router
    /// that NAKs or does not answer keeps the old limit until the next login, which gets the new
    /// one from RADIUS: that is logged, not retried for ever.
    async fn rate_limit(&self, id: i64) -> Result<(), JobError> {
        let Some((session, router, secret)) = self.load(id).await? else {
            return Ok(());
        };
        if session.state != SessionState::Open {
            return Ok(());
        }
        let subscription = session.subscription_id;
        let rate = self
            .store
            .read(move |conn| {
                let Some(subscription) = subscription else {
                    return Ok(None);
                };
                let plan = subscription_sql::get(conn, subscription)?
                    .map(|s| plans::get(conn, s.plan_id))
                    .transpose()?
                    .flatten();
                Ok::<_, DomainError>(plan.and_then(|p| p.rate_limit))
            })
            .await
            .map_err(JobError::retry)?;
        let Some(rate) = rate else {
            // No limit to send: RouterOS has no attribute that lifts one; the next login has none.
            tracing::info!(session = id, user = %session.username, "plan has no rate limit now; applies at the next login");
            return Ok(());
        };
        let attribute = Attribute::vendor(vendor::MIKROTIK, mikrotik::RATE_LIMIT, rate.as_bytes())
            .map_err(|e| JobError::discard(format!("rate limit `{rate}`: {e}")))?;
        if self.silent.is_silent(router.id, self.clock.now()) {
            tracing::info!(session = id, router = %router.name, user = %session.username, "the router left a Disconnect or CoA unanswered lately; the new rate limit applies at the next login");
            return Ok(());
        }
        let outcome = self
            .send(&session, &router, secret, DynamicKind::Coa, vec![attribute])
            .await;
        self.silent
            .record(router.id, self.clock.now(), outcome.is_ok());
        match outcome {
            Ok(DynamicOutcome::Ack) => {
                tracing::info!(session = id, router = %router.name, user = %session.username, %rate, "CoA-ACK: new rate limit");
                Ok(())
            }
            Ok(answer) => {
                tracing::warn!(session = id, router = %router.name, user = %session.username, ?answer, "CoA refused; the new rate limit applies at the next login");
                Ok(())
            }
            Err(why) => Err(JobError::retry(format!("CoA to `{}`: {why}", router.name))),
        }
    }

    async fn send(
        &self,
        session: &Session,
        router: &Router,
        secret: String,
        kind: DynamicKind,
        extra: Vec<Attribute>,
    ) -> Result<DynamicOutcome, String> {
        let address: IpAddr = router
            .nas_ip
            .parse()
            .map_err(|_| format!("router address `{}` is not an IP", router.nas_ip))?;
        let socket = UdpSocket::bind(SocketAddr::new(self.coa_source, 0))
            .await
            .map_err(|e| format!("cannot open a socket on {}: {e}", self.coa_source))?;
        let selector = SessionSelector {
            user_name: Some(session.username.clone()),
            acct_session_id: acct_session_octets(&session.acct_session_id),
            framed_ip: session.framed_ip.as_deref().and_then(|ip| ip.parse().ok()),
            calling_station_id: None,
        };
        let retry = RetryPolicy {
            attempts: 3,
            timeout: Duration::from_secs(2),
        };
        let mut attributes = selector.to_attributes().map_err(|e| e.to_string())?;
        attributes.extend(extra);
        disconnect::send(
            &socket,
            SocketAddr::new(address, router.coa_port),
            &Secret::new(secret.into_bytes()),
            kind,
            attributes,
            retry,
        )
        .await
        .map_err(|e| e.to_string())
    }

    async fn verify(&self, id: i64) -> Result<(), JobError> {
        let Some((session, router, _)) = self.load(id).await? else {
            return Ok(());
        };
        if session.state != SessionState::Open {
            return Ok(());
        }
        self.kick(&session, &router, "session still open after Disconnect-ACK")
            .await
    }

    /// Removes the session's user from the router's active lists; closes the session in the
    /// store when the router no longer has it.
    async fn kick(&self, session: &Session, router: &Router, why: &str) -> Result<(), JobError> {
        let link = self.links.get(router).await.map_err(JobError::retry)?;
        let Some(link) = link else {
            return Err(JobError::retry(format!(
                "{why}; router `{}` has no API access to kick it",
                router.name
            )));
        };
        let hotspot = ops::kick_hotspot_user(&*link, &session.username).await;
        let ppp = ops::kick_ppp_user(&*link, &session.username).await;
        let kicked = match (hotspot, ppp) {
            (Ok(a), Ok(b)) => a + b,
            (Err(err), _) | (_, Err(err)) => {
                return Err(JobError::retry(format!("{why}; API kick failed: {err}")));
            }
        };
        tracing::info!(session = session.id, router = %router.name, user = %session.username, kicked, "kicked through the API");
        let (id, now) = (session.id, self.clock.now());
        self.store
            .write(move |tx| accounting::close_gone(tx, now, id))
            .await
            .map_err(JobError::retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_is_silent_for_a_while_after_an_unanswered_request_and_not_after_an_answer() {
        let silent = SilentRouters::default();
        let (gw1, gw2) = (RouterId(1), RouterId(2));
        let t0 = Timestamp::from_millis(1_000_000);
        assert!(!silent.is_silent(gw1, t0));
        silent.record(gw1, t0, false);
        assert!(silent.is_silent(gw1, t0.after(Duration::from_secs(59))));
        assert!(!silent.is_silent(gw1, t0.after(SILENT_FOR)));
        assert!(!silent.is_silent(gw2, t0), "per router");
        silent.record(gw1, t0.after(Duration::from_secs(1)), true);
        assert!(!silent.is_silent(gw1, t0.after(Duration::from_secs(2))));
    }
}
