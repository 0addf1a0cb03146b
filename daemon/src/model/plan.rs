//! Plans: what a subscriber buys (price, validity, time and data limits, speed, devices).

use serde::{Deserialize, Serialize};

use super::PlanId;
use super::stored::stored_enum;

stored_enum! {
    /// Who a plan is sold to.
    pub enum PlanKind {
        /// Hotspot users.
        Hotspot = "hotspot",
        /// PPPoE accounts.
        Pppoe = "pppoe",
        /// Both.
        Any = "any",
    }
}

stored_enum! {
    /// Whether a plan is on sale.
    pub enum PlanState {
        /// On sale.
        Active = "active",
        /// Not sold any more (running subscriptions keep it).
        Disabled = "disabled",
    }
}

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Id.
    pub id: PlanId,
    /// Unique name, e.g. `1h-50`.
    pub name: String,
    /// Who it is sold to.
    pub kind: PlanKind,
    /// Price in minor units.
    pub price: i64,
    /// ISO 4217 code, e.g. `KES`.
    pub currency: String,
    /// Seconds from activation to expiry.
    pub validity_s: i64,
    /// Online seconds allowed, if limited.
    pub time_limit_s: Option<i64>,
    /// Bytes (in + out) allowed, if limited.
    pub data_limit: Option<i64>,
    /// Mikrotik-Rate-Limit.
    pub rate_limit: Option<String>,
    /// Devices online at once.
    pub shared_users: u32,
    /// Bind the subscriber to the MACs of its first logins.
    pub mac_binding: bool,
    /// Idle-Timeout seconds.
    pub idle_timeout_s: Option<u32>,
    /// Acct-Interim-Interval seconds.
    pub interim_s: u32,
    /// On sale or not (disabled plans cannot be bought).
    pub state: PlanState,
}

/// A plan to create (the arguments of `plan.create` and `siteboxd plans add`). Left out: a
/// hotspot plan, no limits, one device, no MAC binding, 5-minute interim updates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// Unique name.
    pub name: String,
    /// Who it is sold to.
    #[serde(default = "hotspot")]
    pub kind: PlanKind,
    /// Price in minor units.
    pub price: i64,
    /// Currency code.
    pub currency: String,
    /// Validity in seconds.
    pub validity_s: i64,
    /// Online time limit in seconds.
    #[serde(default)]
    pub time_limit_s: Option<i64>,
    /// Data limit in bytes.
    #[serde(default)]
    pub data_limit: Option<i64>,
    /// Rate limit, MikroTik syntax.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// Devices at once.
    #[serde(default = "one")]
    pub shared_users: u32,
    /// MAC binding on first login.
    #[serde(default)]
    pub mac_binding: bool,
    /// Idle timeout in seconds.
    #[serde(default)]
    pub idle_timeout_s: Option<u32>,
    /// Interim interval in seconds.
    #[serde(default = "five_minutes")]
    pub interim_s: u32,
}

fn hotspot() -> PlanKind {
    PlanKind::Hotspot
}

fn one() -> u32 {
    1
}

fn five_minutes() -> u32 {
    300
}

impl NewPlan {
    /// A hotspot plan with no limits but its validity: 1 device, 5-minute interim updates.
    pub fn hotspot(name: &str, price: i64, currency: &str, validity_s: i64) -> Self {
        Self {
            name: name.into(),
            kind: PlanKind::Hotspot,
            price,
            currency: currency.into(),
            validity_s,
            time_limit_s: None,
            data_limit: None,
            rate_limit: None,
            shared_users: 1,
            mac_binding: false,
            idle_timeout_s: None,
            interim_s: 300,
        }
    }
}
