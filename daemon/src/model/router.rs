//! Routers: the site's MikroTiks, each a RADIUS client (NAS) and optionally managed over the
//! RouterOS API.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::RouterId;
use super::stored::stored_enum;
use crate::clock::Timestamp;

stored_enum! {
    /// Whether a router is in service: a disabled one gets no RADIUS answers and no jobs.
    pub enum RouterState {
        /// In service.
        Active = "active",
        /// Out of service.
        Disabled = "disabled",
    }
}

stored_enum! {
    /// What the last health poll found.
    pub enum RouterStatus {
        /// Never polled.
        Unknown = "unknown",
        /// It answered.
        Up = "up",
        /// It did not.
        Down = "down",
    }
}

/// A router to add (the arguments of `siteboxd routers add`). `Debug` leaves its secrets out.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRouter {
    /// Unique name; also its RADIUS client name.
    pub name: String,
    /// The address its RADIUS packets come from.
    pub nas_ip: IpAddr,
    /// Its NAS-Identifier (system identity), if known.
    pub nas_identifier: Option<String>,
    /// The RADIUS shared secret (sealed at rest).
    pub radius_secret: String,
    /// Where it takes Disconnect/CoA requests (3799).
    pub coa_port: u16,
    /// RouterOS API access, when the box manages the router.
    pub api: Option<ApiAccess>,
    /// Codepage of its non-UTF-8 texts (e.g. `windows-1251`).
    pub codepage: String,
}

/// RouterOS API access.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiAccess {
    /// Host name or address.
    pub host: String,
    /// 8728, or 8729 with TLS.
    pub port: u16,
    /// API-SSL.
    pub tls: bool,
    /// SHA-256 fingerprint of its certificate, for pinning.
    pub fingerprint: Option<String>,
    /// API user.
    pub user: String,
    /// API password (sealed at rest).
    pub password: String,
}

impl std::fmt::Debug for NewRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRouter")
            .field("name", &self.name)
            .field("nas_ip", &self.nas_ip)
            .field("nas_identifier", &self.nas_identifier)
            .field("coa_port", &self.coa_port)
            .field("api", &self.api)
            .field("codepage", &self.codepage)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAccess")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A router as stored (secrets left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Router {
    /// Id.
    pub id: RouterId,
    /// Name.
    pub name: String,
    /// RADIUS source address.
    pub nas_ip: String,
    /// NAS-Identifier.
    pub nas_identifier: Option<String>,
    /// Disconnect/CoA port.
    pub coa_port: u16,
    /// Whether its requests must carry Message-Authenticator (only ever relaxed explicitly).
    pub require_message_authenticator: bool,
    /// RouterOS API host.
    pub api_host: Option<String>,
    /// RouterOS API port.
    pub api_port: Option<u16>,
    /// API-SSL.
    pub api_tls: bool,
    /// Pinned certificate fingerprint.
    pub api_fingerprint: Option<String>,
    /// API user.
    pub api_user: Option<String>,
    /// Codepage.
    pub codepage: String,
    /// In service or not.
    pub state: RouterState,
    /// What the last health poll found.
    pub status: RouterStatus,
    /// The last health detail or error.
    pub status_detail: Option<String>,
}

impl Router {
    /// Whether the router takes RADIUS requests and jobs.
    pub fn is_active(&self) -> bool {
        self.state == RouterState::Active
    }
}

/// A router's health as the periodic poll last saw it (what the technician page and
/// `siteboxd routers list --json` show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterHealth {
    /// Id.
    pub id: RouterId,
    /// Name.
    pub name: String,
    /// In service or not.
    pub state: RouterState,
    /// What the last poll found.
    pub status: RouterStatus,
    /// Why it is down.
    pub status_detail: Option<String>,
    /// Whether the box manages it over the RouterOS API (only those are polled).
    pub managed: bool,
    /// RouterOS version, e.g. `7.18 (stable)`.
    pub ros_version: Option<String>,
    /// `/system/identity` name.
    pub identity: Option<String>,
    /// One API round trip at the last poll, ms.
    pub latency_ms: Option<i64>,
    /// Router uptime, s.
    pub uptime_s: Option<i64>,
    /// CPU load, percent.
    pub cpu_load: Option<i64>,
    /// Free memory, bytes.
    pub free_memory: Option<i64>,
    /// Hotspot and PPP sessions the router has.
    pub active_sessions: Option<i64>,
    /// The last poll that reached it.
    pub last_seen_at: Option<Timestamp>,
    /// The last error from the router or the link (poll or job).
    pub last_error: Option<String>,
    /// The last poll, reached or not.
    pub checked_at: Option<Timestamp>,
}

/// What a poll that reached the router saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reached {
    /// RouterOS version.
    pub ros_version: String,
    /// Identity.
    pub identity: Option<String>,
    /// One round trip, ms.
    pub latency_ms: i64,
    /// Uptime, s.
    pub uptime_s: Option<i64>,
    /// CPU load, percent.
    pub cpu_load: Option<i64>,
    /// Free memory, bytes.
    pub free_memory: Option<i64>,
    /// Hotspot + PPP active sessions.
    pub active_sessions: i64,
}
