//! How to reach and log in to one router, with deadlines. Secrets never appear in Debug output.

use std::time::Duration;

use crate::codec::{Codepage, Limits};

use super::{Fingerprint, ReconnectPolicy};

/// A router's API password. Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the login exchange only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Everything the client needs for one router.
#[derive(Clone)]
pub struct ClientConfig {
    /// Host name or address of the router.
    pub host: String,
    /// API port: 8728 plain, 8729 API-SSL.
    pub port: u16,
    /// API user.
    pub username: String,
    /// API password.
    pub password: Password,
    /// API-SSL with the router's certificate pinned by SHA-256 fingerprint; `None` for plain TCP.
    pub tls: Option<Fingerprint>,
    /// Deadline for TCP connect plus the TLS handshake.
    pub connect_timeout: Duration,
    /// Deadline for the whole login exchange.
    pub login_timeout: Duration,
    /// Longest silence allowed while waiting for a command's next reply sentence. A long print
    /// that keeps streaming rows never hits it; a stalled router does, and its connection is
    /// closed.
    pub reply_idle_timeout: Duration,
    /// TCP keepalive idle time; `None` disables keepalive.
    pub keepalive: Option<Duration>,
    /// How the router's bytes become text.
    pub codepage: Codepage,
    /// Bounds on reply words and sentences.
    pub limits: Limits,
    /// How [`Router`](super::Router) retries a failed connect.
    pub reconnect: ReconnectPolicy,
}

impl ClientConfig {
    /// A plain-TCP config with default deadlines: connect 5 s, login 10 s, reply idle 15 s,
    /// keepalive 30 s.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        password: Password,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            username: username.into(),
            password,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            login_timeout: Duration::from_secs(10),
            reply_idle_timeout: Duration::from_secs(15),
            keepalive: Some(Duration::from_secs(30)),
            codepage: Codepage::default(),
            limits: Limits::SESSION,
            reconnect: ReconnectPolicy::default(),
        }
    }

    /// `host:port` for messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("address", &self.address())
            .field("username", &self.username)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("login_timeout", &self.login_timeout)
            .field("reply_idle_timeout", &self.reply_idle_timeout)
            .field("keepalive", &self.keepalive)
            .field("codepage", &self.codepage)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let config = ClientConfig::new("10.0.0.1", 8728, "api", Password::new("s3cret-pw"));
        let shown = format!("{config:?} {:?}", config.password);
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
