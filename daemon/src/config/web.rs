//! `[web]`: where the technician page listens, TLS, sessions and the login lockout.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigDuration;

/// `[web]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the page at all.
    pub enabled: bool,
    /// Address and port. Keep it on the site LAN (or loopback): never a WAN address.
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the page is served over HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How long a login lasts.
    pub session_ttl: ConfigDuration,
    /// Failed logins for one name (or 4× this from one address) within `lockout_window` that
    /// lock further attempts out until the window has passed.
    pub lockout_failures: u32,
    /// See `lockout_failures`.
    pub lockout_window: ConfigDuration,
    /// How often the page's figures (queues, counters, sync) are pushed over the WebSocket.
    pub status_every: ConfigDuration,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            session_ttl: ConfigDuration::secs(12 * 3600),
            lockout_failures: 5,
            lockout_window: ConfigDuration::secs(15 * 60),
            status_every: ConfigDuration::secs(2),
        }
    }
}

impl WebConfig {
    /// Whether the page is served over TLS.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// Every problem, as (dotted key, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push((key.to_string(), message.to_string()));
            }
        };
        check(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "web.tls_key",
            "web.tls_cert and web.tls_key go together: set both or neither",
        );
        check(
            self.session_ttl.get().as_secs() >= 60,
            "web.session_ttl",
            "must be at least 1m",
        );
        check(
            (1..=1000).contains(&self.lockout_failures),
            "web.lockout_failures",
            "must be between 1 and 1000",
        );
        check(
            self.lockout_window.get().as_secs() >= 1,
            "web.lockout_window",
            "must be at least 1s",
        );
        check(
            self.status_every.get().as_millis() >= 100,
            "web.status_every",
            "must be at least 100ms",
        );
        problems
    }
}
