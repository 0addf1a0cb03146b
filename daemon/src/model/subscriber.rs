//! Subscribers: hotspot or PPPoE accounts, with the MACs they are bound to. Their credentials
//! are sealed at rest and never part of these records.

use serde::{Deserialize, Serialize};

use super::SubscriberId;
use super::stored::stored_enum;

stored_enum! {
    /// The service an account logs in to.
    pub enum SubscriberKind {
        /// A hotspot user.
        Hotspot = "hotspot",
        /// A PPPoE account.
        Pppoe = "pppoe",
    }
}

impl Default for SubscriberKind {
    /// Hotspot: what vouchers, M-Pesa purchases and cloud commands make unless told otherwise.
    fn default() -> Self {
        SubscriberKind::Hotspot
    }
}

stored_enum! {
    /// Whether an account may log in.
    pub enum SubscriberState {
        /// It may.
        Active = "active",
        /// Suspended by an operator.
        Suspended = "suspended",
        /// Deleted (kept for its history).
        Deleted = "deleted",
    }
}

/// A subscriber as stored (no credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscriber {
    /// Id.
    pub id: SubscriberId,
    /// Login name (a MAC for MAC-auth accounts, the code for voucher accounts).
    pub username: String,
    /// Hotspot or PPPoE.
    pub kind: SubscriberKind,
    /// Logs in by MAC.
    pub mac_auth: bool,
    /// Phone number, if known.
    pub phone: Option<String>,
    /// Active, suspended or deleted.
    pub state: SubscriberState,
    /// Bound MACs.
    pub macs: Vec<String>,
}

/// A subscriber to create (the arguments of `subscriber.create` and `siteboxd subscribers
/// add`). Left out: a hotspot account, no password, not MAC-auth, no phone, no MACs.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriber {
    /// Login name.
    pub username: String,
    /// Hotspot or PPPoE.
    #[serde(default)]
    pub kind: SubscriberKind,
    /// Cleartext password (CHAP needs it).
    #[serde(default)]
    pub password: Option<String>,
    /// NT hash, when only that is known (PPPoE accounts imported from elsewhere). Never taken
    /// from a command's arguments.
    #[serde(skip)]
    pub nt_hash: Option<[u8; 16]>,
    /// Logs in by MAC: the username must be a MAC.
    #[serde(default)]
    pub mac_auth: bool,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// MACs to bind now.
    #[serde(default)]
    pub macs: Vec<String>,
}

impl std::fmt::Debug for NewSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscriber")
            .field("username", &self.username)
            .field("kind", &self.kind)
            .field("mac_auth", &self.mac_auth)
            .finish_non_exhaustive()
    }
}

/// What a login is checked against.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredCredential {
    /// The cleartext password.
    Password(String),
    /// The NT hash only.
    NtHash([u8; 16]),
    /// MAC-auth: no password.
    MacAuth,
}

impl std::fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredCredential::Password(_) => "Password(<redacted>)",
            StoredCredential::NtHash(_) => "NtHash(<redacted>)",
            StoredCredential::MacAuth => "MacAuth",
        })
    }
}

/// `254712345678` → `2547*****678`: enough for a technician to recognise, not to call.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let (head, tail) = (4, 3);
    let middle = chars.len() - head - tail;
    format!(
        "{}{}{}",
        chars[..head].iter().collect::<String>(),
        "*".repeat(middle),
        chars[chars.len() - tail..].iter().collect::<String>()
    )
}
