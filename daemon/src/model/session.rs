//! Accounting sessions (RFC 2866) as stored, and the page's view of the open ones.

use serde::Serialize;

use super::stored::stored_enum;
use super::{RouterId, SubscriberId, SubscriptionId};
use crate::clock::Timestamp;

stored_enum! {
    /// Whether the router still has a session.
    pub enum SessionState {
        /// Online.
        Open = "open",
        /// Stopped (by the router, a NAS reboot or a kick).
        Closed = "closed",
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// The NAS.
    pub router_id: RouterId,
    /// Acct-Session-Id (unique per router).
    pub acct_session_id: String,
    /// Whose, when known.
    pub subscriber_id: Option<SubscriberId>,
    /// The subscription it is charged to.
    pub subscription_id: Option<SubscriptionId>,
    /// User-Name.
    pub username: String,
    /// Calling-Station-Id.
    pub mac: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Online or stopped.
    pub state: SessionState,
    /// First seen.
    pub started_at: Timestamp,
    /// Last accounting packet.
    pub updated_at: Timestamp,
    /// Stop time.
    pub stopped_at: Option<Timestamp>,
    /// Acct-Session-Time.
    pub session_time_s: i64,
    /// Bytes from the client.
    pub input_octets: i64,
    /// Bytes to the client.
    pub output_octets: i64,
    /// Acct-Terminate-Cause.
    pub terminate_cause: Option<u32>,
}

/// An open accounting session with what its subscription has left.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LiveSession {
    /// The sessions table's id (what the kick button sends).
    pub id: i64,
    /// The router's name.
    pub router: String,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Calling-Station-Id.
    pub mac: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
    /// Accounting Start.
    pub started_at: Timestamp,
    /// Last accounting record.
    pub updated_at: Timestamp,
    /// Seconds online in this session.
    pub session_time_s: i64,
    /// Octets in + out in this session.
    pub octets: i64,
    /// When the subscription ends.
    pub expires_at: Option<Timestamp>,
    /// Online seconds left on the subscription (None: no time limit).
    pub time_left_s: Option<i64>,
    /// Bytes left on the subscription (None: no data limit).
    pub data_left: Option<i64>,
}
