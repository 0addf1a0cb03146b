//! What the simulator does where RouterOS's documentation is silent, in one place so a check
//! on a real router (a CHR) can change it, plus the texts RouterOS shows when it refuses a login.
//!
//! Sources are in docs/routeros.md ("How the simulator decides a login"). Everything in
//! [`Behaviour`] is marked there as an assumption; everything else the simulator does at login is
//! documented RouterOS behaviour.

use std::time::Duration;

/// How a hotspot client's password reaches the RADIUS server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotspotAuth {
    /// CHAP-Password with a CHAP-Challenge: the `http-chap` login page (the profile default).
    HttpChap,
    /// User-Password: `http-pap`.
    HttpPap,
}

/// Choices on undocumented RouterOS behaviour. The defaults are the most plausible reading of
/// the documentation; each field says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// Whether a disabled local hotspot user or PPP secret counts as a "matching record" (and
    /// so refuses the login without asking RADIUS) or as no record (RADIUS is asked). RouterOS
    /// documents neither; `/ppp secret disabled` reads "Whether secret will be used", which
    /// suggests a disabled record is not used at all. Default: not a record.
    pub disabled_user_is_a_record: bool,
    /// How `/ip/hotspot/active/login` (the API login) sends the password to RADIUS. The router
    /// holds the cleartext password, so PAP is the plausible choice. Default: PAP.
    pub api_login_auth: HotspotAuth,
    /// Whether a hotspot login decided by a local user sends RADIUS accounting. The accounting
    /// documentation speaks of RADIUS-authenticated hotspot sessions only (`Acct-Authentic`
    /// "Local" is documented for PPP only). Default: no accounting for local hotspot logins.
    pub local_hotspot_accounting: bool,
    /// Whether removing a local hotspot user or PPP secret ends its active sessions. Not
    /// documented; RouterOS keeps the session's own copy of the limits. Default: they run on.
    pub removing_a_user_ends_its_sessions: bool,
    /// Sends of one Access-Request to one `/radius` entry (the first and the retransmits, each
    /// after the entry's `timeout`) before the next entry is tried. Default: 3.
    pub access_sends_per_server: u32,
    /// Time between sends of an unanswered Accounting-Request (the same bytes, the same
    /// Identifier; seen about 1 s apart in captures).
    pub accounting_resend_every: Duration,
    /// Sends of one Accounting-Request to one entry before the next entry is tried; after the
    /// last entry the record is dropped and counted. Default: 10.
    pub accounting_sends_per_server: u32,
    /// The first two hex digits of a PPP `Acct-Session-Id` (hotspot's `80` is seen in every
    /// capture; "the first two symbols represent service"). Default: `81`.
    pub ppp_session_prefix: u8,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            disabled_user_is_a_record: false,
            api_login_auth: HotspotAuth::HttpPap,
            local_hotspot_accounting: false,
            removing_a_user_ends_its_sessions: false,
            access_sends_per_server: 3,
            accounting_resend_every: Duration::from_secs(1),
            accounting_sends_per_server: 10,
            ppp_session_prefix: 0x81,
        }
    }
}

/// The texts a refused hotspot login shows (`$(error)` of the stock `errors.txt`, English).
pub(crate) mod text {
    /// `invalid-username`: no such user, or a wrong password.
    pub(crate) const INVALID: &str = "invalid username or password";
    /// `radius-timeout`: RADIUS was asked and no (valid) answer came.
    pub(crate) const RADIUS_TIMEOUT: &str = "RADIUS server is not responding";
    /// `auth-in-progress`: a login for this host is being decided.
    pub(crate) const IN_PROGRESS: &str = "already authorizing, retry later";
    /// The API login for an address the hotspot has no host entry for.
    pub(crate) const UNKNOWN_HOST: &str = "unknown host IP";
    /// The API login with a MAC address other than the host's.
    pub(crate) const WRONG_MAC: &str = "wrong MAC provided";

    /// `invalid-mac`: the local user is bound to another MAC address.
    pub(crate) fn invalid_mac(user: &str) -> String {
        format!("user {user} is not allowed to log in from this MAC address")
    }

    /// `uptime-limit`: the local user's `limit-uptime` is used up.
    pub(crate) fn uptime_limit(user: &str) -> String {
        format!("user {user} has reached uptime limit")
    }

    /// `traffic-limit`: a `limit-bytes-*` of the local user is used up.
    pub(crate) fn traffic_limit(user: &str) -> String {
        format!("user {user} has reached traffic limit")
    }

    /// `user-session-limit`: the profile's `shared-users` (or RADIUS Port-Limit) is reached.
    pub(crate) fn session_limit(user: &str) -> String {
        format!("no more sessions are allowed for user {user}")
    }

    /// A PPP login refused: PPP shows the client no text; this is the router's log line.
    pub(crate) fn ppp_refused(user: &str, why: &str) -> String {
        format!("user {user} authentication failed: {why}")
    }
}
