//! Typed operations on the menus Sitebox provisions, built on one generic [`Menu`].
//!
//! The `ensure_*` operations are idempotent: they find the item by its key (a print with a
//! query), add it when absent and set only the properties that differ. A provisioning job that
//! runs twice after a crash therefore has one effect.

mod hotspot;
mod menu;
mod ppp;
mod queue;
mod radius;
mod system;

pub use hotspot::{
    HotspotActive, HotspotUser, HotspotUserProfileSpec, HotspotUserSpec, ensure_hotspot_user,
    ensure_hotspot_user_profile, hotspot_active, hotspot_hosts, hotspot_user, hotspot_users,
    kick_hotspot_user, remove_hotspot_host, remove_hotspot_user, reset_hotspot_user_counters,
};
pub use menu::{Ensured, Menu, Props};
pub use ppp::{
    PppActive, PppProfileSpec, PppSecretSpec, ensure_ppp_profile, ensure_ppp_secret, kick_ppp_user,
    ppp_active, ppp_secret, ppp_secrets, remove_ppp_secret, set_ppp_aaa,
};
pub use queue::{SimpleQueueSpec, ensure_simple_queue, remove_simple_queue, simple_queues};
pub use radius::{RadiusClientSpec, ensure_radius_client, radius_clients, set_radius_incoming};
pub use system::{Interface, SystemResource, identity, interfaces, set_identity, system_resource};

/// Appends `(key, value)` when the value is set.
pub(crate) fn push_opt(props: &mut Props, key: &'static str, value: Option<impl ToString>) {
    if let Some(value) = value {
        props.push((key, value.to_string()));
    }
}

/// `yes`/`no` as the router takes booleans.
pub(crate) fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}
