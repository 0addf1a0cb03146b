//! Provisioning handlers: converge a subscriber's hotspot user or PPP secret (with its plan's
//! profile and what the router may grant alone while the box does not answer) on one router,
//! converge an edited plan's profiles, kick a user's sessions, configure a router for RADIUS
//! and for the fallback (scripts, the netwatch entry watching the box, the expiry scheduler).
//!
//! Each reads what the router should have from the store when it runs and converges the
//! router to it with the `ensure_*` operations (print by name, then add, set only what
//! differs, or nothing): a job that runs twice, or after a newer change, has one effect.
//! Router errors surface in the job's error with the router's own message; an unreachable
//! router is retried with the queue's backoff, a refusal goes to the failed store.

use std::sync::Arc;

use sitebox_routeros::client::{Error as ApiError, Password, Router as ApiRouter};
use sitebox_routeros::ops::{
    self, Ensured, HotspotUserProfileSpec, HotspotUserSpec, Menu, PppProfileSpec, PppSecretSpec,
    Props, RadiusClientSpec,
};

use crate::clock::SharedClock;
use crate::config::ProvisioningConfig;
use crate::domain::DomainError;
use crate::domain::provisioning::{
    self, COMMENT, Desired, EXPIRY_SWEEP, EXPIRY_SWEEP_EVERY, EXPIRY_SWEEP_NAME, FALLBACK_OFF,
    FALLBACK_OFF_NAME, FALLBACK_ON, FALLBACK_ON_NAME, Profile, SCRIPT_POLICY, Service,
};
use crate::domain::routers;
use crate::links::RouterLinks;
use crate::model::PlanId;
use crate::model::RouterId;
use crate::model::SubscriberId;
use crate::model::job::{ConfigureRadius, KickUser, ProvisionPlan, ProvisionSubscriber};
use crate::model::plan::PlanKind;
use crate::model::router::Router;
use crate::queue::{Handlers, JobError};
use crate::secrets::Secrets;
use crate::store::{Store, StoreError, plans as plan_sql, router_health, routers as router_sql};

/// How many times one job converges again when the subscriber changed while it ran.
const ROUNDS: usize = 3;

/// What the provisioning handlers need.
#[derive(Debug, Clone)]
pub(crate) struct Provisioner {
    /// The store.
    pub store: Store,
    /// To open passwords and RADIUS secrets.
    pub secrets: Secrets,
    /// The clock.
    pub clock: SharedClock,
    /// RouterOS API clients.
    pub links: RouterLinks,
    /// `[provisioning]`.
    pub config: ProvisioningConfig,
    /// RADIUS ports the routers' `/radius` entry points at.
    pub radius_ports: (u16, u16),
    /// How the routers' netwatch entry probes the box.
    pub watch: Watch,
}

/// How a router's netwatch entry tells whether the box answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watch {
    /// `http-get` of the technician page (`GET /`, answered by the daemon itself).
    HttpGet(u16),
    /// `tcp-conn` to the page's port (served over TLS: netwatch's `http-get` speaks plain HTTP).
    TcpConn(u16),
    /// `icmp` to the box's address (no page the routers can reach).
    Icmp,
}

impl Watch {
    /// The probe for a box whose page is `web` and that the routers reach at `address`: the
    /// page when it listens there (or on every address), else a ping (a page on loopback or
    /// another address would look down to the routers and turn the fallback on for good).
    pub(crate) fn of(web: &crate::config::WebConfig, address: Option<std::net::IpAddr>) -> Self {
        let listen = web.listen.ip();
        let reachable = web.enabled && (listen.is_unspecified() || Some(listen) == address);
        match (reachable, web.tls_cert.is_some()) {
            (false, _) => Self::Icmp,
            (true, false) => Self::HttpGet(web.listen.port()),
            (true, true) => Self::TcpConn(web.listen.port()),
        }
    }

    /// The `/tool/netwatch` properties of the entry probing `host`.
    fn props(self, host: &str) -> Props {
        let (kind, port) = match self {
            Self::HttpGet(port) => ("http-get", Some(port)),
            Self::TcpConn(port) => ("tcp-conn", Some(port)),
            Self::Icmp => ("icmp", None),
        };
        let mut props: Props = vec![
            ("comment", COMMENT.to_owned()),
            ("host", host.to_owned()),
            ("type", kind.to_owned()),
        ];
        if let Some(port) = port {
            props.push(("port", port.to_string()));
        }
        props.extend([
            ("interval", "10s".to_owned()),
            ("timeout", "3s".to_owned()),
            (
                "down-script",
                format!("/system script run {FALLBACK_ON_NAME}"),
            ),
            (
                "up-script",
                format!("/system script run {FALLBACK_OFF_NAME}"),
            ),
            ("disabled", "no".to_owned()),
        ]);
        props
    }
}

/// Sitebox's netwatch entry on a router: `/tool/netwatch`, keyed by its comment.
const NETWATCH: Menu = Menu::new("/tool/netwatch");
/// `/system/script`, keyed by name.
const SCRIPTS: Menu = Menu::new("/system/script");
/// `/system/scheduler`, keyed by name.
const SCHEDULER: Menu = Menu::new("/system/scheduler");

/// The fallback machinery on a router: the three scripts, the scheduler entry running the
/// expiry sweep, and the netwatch entry probing the box at `host`. Returns whether anything
/// had to change.
async fn ensure_fallback(link: &ApiRouter, host: &str, watch: Watch) -> Result<bool, ApiError> {
    let mut changed = false;
    for (name, source) in [
        (FALLBACK_ON_NAME, FALLBACK_ON),
        (FALLBACK_OFF_NAME, FALLBACK_OFF),
        (EXPIRY_SWEEP_NAME, EXPIRY_SWEEP),
    ] {
        let props: Props = vec![
            ("name", name.to_owned()),
            ("source", source.to_owned()),
            ("policy", SCRIPT_POLICY.to_owned()),
            ("comment", COMMENT.to_owned()),
        ];
        changed |= !matches!(
            SCRIPTS.ensure(link, "name", &props).await?,
            Ensured::Unchanged(_)
        );
    }
    let schedule: Props = vec![
        ("name", EXPIRY_SWEEP_NAME.to_owned()),
        ("on-event", EXPIRY_SWEEP_NAME.to_owned()),
        (
            "interval",
            provisioning::routeros_time(EXPIRY_SWEEP_EVERY.as_secs()),
        ),
        ("start-time", "startup".to_owned()),
        ("policy", SCRIPT_POLICY.to_owned()),
        ("comment", COMMENT.to_owned()),
        ("disabled", "no".to_owned()),
    ];
    changed |= !matches!(
        SCHEDULER.ensure(link, "name", &schedule).await?,
        Ensured::Unchanged(_)
    );
    changed |= !matches!(
        NETWATCH.ensure(link, "comment", &watch.props(host)).await?,
        Ensured::Unchanged(_)
    );
    Ok(changed)
}

/// Registers the provision, plan, kick and configure handlers.
pub(crate) fn register(handlers: &mut Handlers, provisioner: Provisioner) {
    let provisioner = Arc::new(provisioner);
    let p = Arc::clone(&provisioner);
    handlers.register_kind(move |job: ProvisionSubscriber| {
        let p = Arc::clone(&p);
        async move { p.provision(job.router_id, job.subscriber_id).await }
    });
    let p = Arc::clone(&provisioner);
    handlers.register_kind(move |job: ProvisionPlan| {
        let p = Arc::clone(&p);
        async move { p.provision_plan(job.router_id, job.plan_id).await }
    });
    let p = Arc::clone(&provisioner);
    handlers.register_kind(move |job: KickUser| {
        let p = Arc::clone(&p);
        async move { p.kick(job.router_id, &job.username).await }
    });
    handlers.register_kind(move |job: ConfigureRadius| {
        let p = Arc::clone(&provisioner);
        async move { p.configure(job.router_id).await }
    });
}

impl Provisioner {
    /// The router and its API client; None when the router is gone, disabled or no longer
    /// managed (nothing to do).
    pub(crate) async fn link(
        &self,
        id: RouterId,
    ) -> Result<Option<(Router, Arc<ApiRouter>)>, JobError> {
        let router = self
            .store
            .read(move |conn| router_sql::get(conn, id))
            .await
            .map_err(JobError::retry)?;
        let Some(router) = router.filter(Router::is_active) else {
            return Ok(None);
        };
        match self.links.get(&router).await {
            Ok(Some(link)) => Ok(Some((router, link))),
            Ok(None) => Ok(None),
            Err(err) => Err(JobError::discard(format!(
                "router `{}`: {err}",
                router.name
            ))),
        }
    }

    /// A router error as a job error (kept on the router row for the technician page too):
    /// failed at once when the router refused (a trap, the login, a certificate that does not
    /// match the pin: retrying cannot help until someone fixes it), retried otherwise (down,
    /// hung, a link that cut a reply short).
    pub(crate) async fn router_error(&self, router: &Router, err: &ApiError) -> JobError {
        let message = format!("router `{}`: {err}", router.name);
        let (id, recorded) = (router.id, message.clone());
        let _ = self
            .store
            .write(move |tx| router_health::record_error(tx, id, &recorded))
            .await
            .inspect_err(
                |e: &StoreError| tracing::warn!(error = %e, "could not record the router error"),
            );
        match err {
            ApiError::Trap(_) | ApiError::LoginRefused(_) | ApiError::Tls { .. } => {
                JobError::discard(message)
            }
            _ => JobError::retry(message),
        }
    }

    async fn provision(&self, id: RouterId, subscriber: SubscriberId) -> Result<(), JobError> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some((router, link)) = self.link(id).await? else {
            return Ok(());
        };
        let mut applied: Option<i64> = None;
        for _ in 0..ROUNDS {
            let (secrets, now) = (self.secrets.clone(), self.clock.now());
            let read = self
                .store
                .read(move |conn| {
                    let revision = router_health::wanted(conn, id, subscriber)?;
                    let wanted = provisioning::desired(conn, &secrets, subscriber, now)?;
                    Ok::<_, DomainError>(wanted.map(|w| (revision, w)))
                })
                .await
                .map_err(JobError::retry)?;
            let Some((revision, wanted)) = read else {
                return Ok(());
            };
            // A change committed while this job ran found it running and did not enqueue
            // another: converge again until the router has the latest revision. (One that
            // commits after this read is left behind in the table; the health sweep finds it.)
            if applied == Some(revision) {
                return Ok(());
            }
            match apply(&link, &wanted).await {
                Ok(true) => {
                    tracing::info!(router = %router.name, subscriber = ?wanted, revision, "provisioned")
                }
                Ok(false) => {
                    tracing::debug!(router = %router.name, subscriber = ?wanted, revision, "already provisioned")
                }
                Err(err) => return Err(self.router_error(&router, &err).await),
            }
            self.store
                .write(move |tx| router_health::mark_applied(tx, id, subscriber, revision))
                .await
                .map_err(|e: StoreError| JobError::retry(e))?;
            applied = Some(revision);
        }
        Ok(())
    }

    /// Converges a plan's profiles on a router after the plan was edited: the hotspot user
    /// profile for hotspot plans, the PPP profile for PPPoE plans, both for `any`.
    async fn provision_plan(&self, id: RouterId, plan: PlanId) -> Result<(), JobError> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some((router, link)) = self.link(id).await? else {
            return Ok(());
        };
        let Some(plan) = self
            .store
            .read(move |conn| plan_sql::get(conn, plan))
            .await
            .map_err(|e: StoreError| JobError::retry(e))?
        else {
            return Err(JobError::discard(format!("no plan {}", plan.0)));
        };
        let profile = Profile::of(&plan);
        let services: &[Service] = match plan.kind {
            PlanKind::Hotspot => &[Service::Hotspot],
            PlanKind::Pppoe => &[Service::Pppoe],
            PlanKind::Any => &[Service::Hotspot, Service::Pppoe],
        };
        for service in services {
            match ensure_profile(&link, *service, &profile).await {
                Ok(ensured) => {
                    tracing::info!(router = %router.name, profile = %profile.name, ?service, changed = !matches!(ensured, Ensured::Unchanged(_)), "plan profile provisioned")
                }
                Err(err) => return Err(self.router_error(&router, &err).await),
            }
        }
        Ok(())
    }

    async fn kick(&self, id: RouterId, username: &str) -> Result<(), JobError> {
        let Some((router, link)) = self.link(id).await? else {
            return Ok(());
        };
        let kicked = async {
            Ok::<_, ApiError>(
                ops::kick_hotspot_user(&*link, username).await?
                    + ops::kick_ppp_user(&*link, username).await?,
            )
        }
        .await;
        match kicked {
            Ok(kicked) => {
                tracing::info!(router = %router.name, user = username, kicked, "kicked");
                Ok(())
            }
            Err(err) => Err(self.router_error(&router, &err).await),
        }
    }

    async fn configure(&self, id: RouterId) -> Result<(), JobError> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some(address) = self.config.radius_address else {
            tracing::info!(
                router = id.0,
                "provisioning.radius_address is not set: the router's /radius entry is left as it is"
            );
            return Ok(());
        };
        let Some((router, link)) = self.link(id).await? else {
            return Ok(());
        };
        let secrets = self.secrets.clone();
        let secret = self
            .store
            .read(move |conn| routers::radius_secret(conn, &secrets, id))
            .await
            .map_err(JobError::retry)?;
        let spec = RadiusClientSpec {
            address: address.to_string(),
            service: "hotspot,ppp".into(),
            secret: Password::new(secret),
            authentication_port: Some(self.radius_ports.0),
            accounting_port: Some(self.radius_ports.1),
            timeout: Some("3s".into()),
            comment: Some(COMMENT.into()),
        };
        let result = async {
            ops::ensure_radius_client(&*link, &spec).await?;
            ops::set_radius_incoming(&*link, true, router.coa_port).await?;
            // PPPoE logins and their accounting go to RADIUS too.
            ops::set_ppp_aaa(&*link, true, true).await?;
            // Every hotspot server profile asks RADIUS.
            let profiles = Menu::new("/ip/hotspot/profile");
            for row in profiles.print(&*link, &[]).await? {
                if row.bool("use-radius") != Some(true)
                    && let Some(id) = row.id()
                {
                    profiles
                        .set(&*link, &id, &vec![("use-radius", "yes".to_owned())])
                        .await?;
                }
            }
            // The fallback: local users on while the box does not answer, and their end.
            ensure_fallback(&link, &address.to_string(), self.watch).await?;
            Ok::<_, ApiError>(())
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(router = %router.name, %address, "router configured for RADIUS");
                Ok(())
            }
            Err(err) => Err(self.router_error(&router, &err).await),
        }
    }
}

/// Adds or updates a plan's profile: `/ip/hotspot/user/profile` or `/ppp/profile`.
async fn ensure_profile(
    link: &ApiRouter,
    service: Service,
    profile: &Profile,
) -> Result<Ensured, ApiError> {
    match service {
        Service::Hotspot => {
            ops::ensure_hotspot_user_profile(
                link,
                &HotspotUserProfileSpec {
                    name: profile.name.clone(),
                    rate_limit: profile.rate_limit.clone(),
                    shared_users: Some(profile.shared_users),
                    ..HotspotUserProfileSpec::default()
                },
            )
            .await
        }
        Service::Pppoe => {
            ops::ensure_ppp_profile(
                link,
                &PppProfileSpec {
                    name: profile.name.clone(),
                    rate_limit: profile.rate_limit.clone(),
                    ..PppProfileSpec::default()
                },
            )
            .await
        }
    }
}

/// Brings the router to `wanted`; returns whether anything had to change.
///
/// A new user is added disabled (the box decides its logins), and a user without a running
/// plan is disabled; a user with one keeps the `disabled` the router gave it, because only the
/// router's netwatch scripts know whether the box answers it (a job never enables a user:
/// during an outage the down-script did, and a job racing the up-script cannot undo it).
async fn apply(link: &ApiRouter, wanted: &Desired) -> Result<bool, ApiError> {
    let mut changed = false;
    let mut reset = false;
    let mut note = |ensured: Ensured| changed |= !matches!(ensured, Ensured::Unchanged(_));
    match wanted {
        Desired::Absent { username } => {
            changed |= ops::remove_hotspot_user(link, username).await?;
            changed |= ops::remove_ppp_secret(link, username).await?;
        }
        Desired::Present {
            username,
            service,
            password,
            profile,
            fallback,
        } => {
            let profile_name = profile
                .as_ref()
                .map_or_else(|| "default".to_owned(), |p| p.name.clone());
            let password = password.clone().map(Password::new);
            let comment = provisioning::user_comment(fallback.as_ref());
            // Some(true) to disable; None to leave the router's. A user from before the
            // fallback (its comment without `until=`) was enabled for good: disabled once.
            let disabled = |before: Option<Option<String>>| {
                let ours = before
                    .flatten()
                    .is_some_and(|c| c.starts_with(COMMENT) && c.contains(" until="));
                (!ours || fallback.is_none()).then_some(true)
            };
            match service {
                Service::Hotspot => {
                    if let Some(profile) = profile {
                        note(ensure_profile(link, Service::Hotspot, profile).await?);
                    }
                    let before = ops::hotspot_user(link, username).await?;
                    let ensured = ops::ensure_hotspot_user(
                        link,
                        &HotspotUserSpec {
                            name: username.clone(),
                            password,
                            profile: Some(profile_name),
                            limit_uptime: Some(provisioning::routeros_time(
                                fallback.as_ref().map_or(0, |f| f.limit_uptime_s),
                            )),
                            limit_bytes_total: Some(
                                fallback.as_ref().and_then(|f| f.limit_bytes).unwrap_or(0),
                            ),
                            mac_address: Some(
                                fallback
                                    .as_ref()
                                    .and_then(|f| f.mac.clone())
                                    .unwrap_or_else(|| ANY_MAC.to_owned()),
                            ),
                            comment: Some(comment),
                            disabled: disabled(before.as_ref().map(|b| b.comment.clone())),
                            ..HotspotUserSpec::default()
                        },
                    )
                    .await?;
                    // A new plan starts with the router's counters at zero; within one plan
                    // they keep what fallback sessions used, which the limits then subtract.
                    if let (Some(before), Some(fallback)) = (before, fallback)
                        && counted(&before)
                        && before
                            .comment
                            .as_deref()
                            .and_then(provisioning::comment_subscription)
                            != Some(fallback.subscription)
                    {
                        ops::reset_hotspot_user_counters(link, &before.id).await?;
                        reset = true;
                    }
                    note(ensured);
                }
                Service::Pppoe => {
                    if let Some(profile) = profile {
                        note(ensure_profile(link, Service::Pppoe, profile).await?);
                    }
                    let before = ops::ppp_secret(link, username)
                        .await?
                        .map(|row| row.string("comment"));
                    note(
                        ops::ensure_ppp_secret(
                            link,
                            &PppSecretSpec {
                                name: username.clone(),
                                password,
                                service: Some("pppoe".into()),
                                profile: Some(profile_name),
                                caller_id: Some(
                                    fallback
                                        .as_ref()
                                        .and_then(|f| f.mac.clone())
                                        .unwrap_or_default(),
                                ),
                                comment: Some(comment),
                                disabled: disabled(before),
                                ..PppSecretSpec::default()
                            },
                        )
                        .await?,
                    );
                }
            }
        }
    }
    Ok(changed || reset)
}

/// `mac-address` of a hotspot user that may log in from any device.
const ANY_MAC: &str = "00:00:00:00:00:00";

/// Whether a hotspot user's counters hold anything.
fn counted(user: &ops::HotspotUser) -> bool {
    user.bytes_in.unwrap_or(0) > 0
        || user.bytes_out.unwrap_or(0) > 0
        || user
            .uptime
            .as_deref()
            .is_some_and(|u| u != "0s" && !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WebConfig;

    #[test]
    fn netwatch_probes_the_page_only_where_the_routers_reach_it() {
        let box_ip: std::net::IpAddr = "10.0.0.2".parse().expect("ip");
        let web = |listen: &str, tls: bool| WebConfig {
            listen: listen.parse().expect("listen"),
            tls_cert: tls.then(|| "cert.pem".into()),
            ..WebConfig::default()
        };
        assert_eq!(
            Watch::of(&web("10.0.0.2:8080", false), Some(box_ip)),
            Watch::HttpGet(8080)
        );
        assert_eq!(
            Watch::of(&web("0.0.0.0:8443", true), Some(box_ip)),
            Watch::TcpConn(8443)
        );
        // The default, loopback: the routers cannot reach it, so they ping the box.
        assert_eq!(
            Watch::of(&web("127.0.0.1:8080", false), Some(box_ip)),
            Watch::Icmp
        );
        let off = WebConfig {
            enabled: false,
            ..web("0.0.0.0:8080", false)
        };
        assert_eq!(Watch::of(&off, Some(box_ip)), Watch::Icmp);
        let props = Watch::Icmp.props("10.0.0.2");
        assert!(props.contains(&("type", "icmp".to_owned())));
        assert!(!props.iter().any(|(k, _)| *k == "port"));
    }
}
