//! `[provisioning]` (keeping the managed routers' tables right, polling their health) and
//! `[simulator]` (a RouterOS simulator inside the daemon, for development).

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::ConfigDuration;

/// `[provisioning]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisioningConfig {
    /// Converge the managed routers' hotspot users, PPP secrets, profiles and `/radius` entry.
    /// Off: provisioning jobs complete without touching the router (health is still polled).
    pub enabled: bool,
    /// How often every managed router's health is polled.
    pub health_every: ConfigDuration,
    /// Deadline for connecting and logging in to a router, and for the silence between the
    /// reply sentences of one command; a router silent for longer is presumed hung and its
    /// connection is replaced.
    pub command_timeout: ConfigDuration,
    /// This box's address as the routers reach it: their `/radius` entry points here. Unset:
    /// routers are not configured for RADIUS (set it by hand on each router).
    pub radius_address: Option<IpAddr>,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            health_every: ConfigDuration::secs(30),
            command_timeout: ConfigDuration::secs(10),
            radius_address: None,
        }
    }
}

/// `[simulator]`: for development only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Start a simulated MikroTik inside the daemon and register it as a managed router.
    pub enabled: bool,
    /// Its RouterOS API address (loopback only).
    pub listen: SocketAddr,
    /// The router's name in the routers table.
    pub router: String,
    /// The RouterOS version it plays (before 6.43: MD5 login; from 7.18: `!empty`).
    pub version: String,
    /// Its API user.
    pub user: String,
    /// Its API password.
    pub password: String,
    /// The RADIUS secret registered for it.
    pub radius_secret: String,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 18728)),
            router: "simulator".into(),
            version: "7.18".into(),
            user: "admin".into(),
            password: "admin".into(),
            radius_secret: "simulator-secret".into(),
        }
    }
}

/// Problems in both sections, as (dotted key, message).
pub(super) fn validate(
    provisioning: &ProvisioningConfig,
    simulator: &SimulatorConfig,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, key: &str, message: &str| {
        if !ok {
            problems.push((key.to_string(), message.to_string()));
        }
    };
    check(
        provisioning.health_every.get().as_secs() >= 1,
        "provisioning.health_every",
        "must be at least 1s",
    );
    check(
        provisioning.command_timeout.get().as_millis() >= 100
            && provisioning.command_timeout.get().as_secs() <= 300,
        "provisioning.command_timeout",
        "must be between 100ms and 5m",
    );
    check(
        provisioning
            .radius_address
            .is_none_or(|ip| !ip.is_unspecified()),
        "provisioning.radius_address",
        "must be this box's address as the routers reach it, not 0.0.0.0",
    );
    if simulator.enabled {
        check(
            cfg!(feature = "simulator"),
            "simulator.enabled",
            "this siteboxd is built without the RouterOS simulator (cargo feature `simulator`, \
             left out of the Debian package): set it to false",
        );
        check(
            simulator.listen.ip().is_loopback(),
            "simulator.listen",
            "must be a loopback address (the simulator is for development)",
        );
        check(
            !simulator.router.trim().is_empty() && simulator.router.len() <= 64,
            "simulator.router",
            "must be 1-64 characters",
        );
        #[cfg(feature = "simulator")]
        check(
            simulator
                .version
                .parse::<sitebox_routeros::sim::RouterOsVersion>()
                .is_ok(),
            "simulator.version",
            "must be a RouterOS version such as 7.18 or 6.42.12",
        );
        check(
            !simulator.user.is_empty(),
            "simulator.user",
            "must not be empty",
        );
        check(
            simulator.radius_secret.len() >= 8,
            "simulator.radius_secret",
            "must be at least 8 characters",
        );
    }
    problems
}
