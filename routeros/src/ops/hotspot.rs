//! Hotspot users, user profiles, active sessions (kick) and hosts.

use crate::client::{Api, Error, Password, Row};

use super::{Ensured, Menu, Props, push_opt, yes_no};

const USERS: Menu = Menu::new("/ip/hotspot/user");
const PROFILES: Menu = Menu::new("/ip/hotspot/user/profile");
const ACTIVE: Menu = Menu::new("/ip/hotspot/active");
const HOSTS: Menu = Menu::new("/ip/hotspot/host");

/// A hotspot user as Sitebox wants it. `None` fields are left as the router has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HotspotUserSpec {
    pub name: String,
    pub password: Option<Password>,
    pub profile: Option<String>,
    /// Hotspot server, `all` on the router when not given.
    pub server: Option<String>,
    /// e.g. `1h`, `1d00:00:00`.
    pub limit_uptime: Option<String>,
    pub limit_bytes_total: Option<u64>,
    pub mac_address: Option<String>,
    pub comment: Option<String>,
    pub disabled: Option<bool>,
}

impl HotspotUserSpec {
    /// The properties sent to the router.
    pub fn props(&self) -> Props {
        let mut props: Props = vec![("name", self.name.clone())];
        push_opt(
            &mut props,
            "password",
            self.password.as_ref().map(Password::expose),
        );
        push_opt(&mut props, "profile", self.profile.as_ref());
        push_opt(&mut props, "server", self.server.as_ref());
        push_opt(&mut props, "limit-uptime", self.limit_uptime.as_ref());
        push_opt(&mut props, "limit-bytes-total", self.limit_bytes_total);
        push_opt(&mut props, "mac-address", self.mac_address.as_ref());
        push_opt(&mut props, "comment", self.comment.as_ref());
        push_opt(&mut props, "disabled", self.disabled.map(yes_no));
        props
    }
}

/// A hotspot user as the router shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotUser {
    pub id: String,
    pub name: String,
    pub profile: Option<String>,
    pub server: Option<String>,
    pub comment: Option<String>,
    pub disabled: bool,
    pub uptime: Option<String>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
}

impl HotspotUser {
    fn from_row(row: &Row) -> Option<Self> {
        Some(Self {
            id: row.id()?,
            name: row.string("name")?,
            profile: row.string("profile"),
            server: row.string("server"),
            comment: row.string("comment"),
            disabled: row.bool("disabled").unwrap_or(false),
            uptime: row.string("uptime"),
            bytes_in: row.u64("bytes-in"),
            bytes_out: row.u64("bytes-out"),
        })
    }
}

/// Adds the user or brings it to `spec` (found by name).
pub async fn ensure_hotspot_user<A: Api>(
    api: &A,
    spec: &HotspotUserSpec,
) -> Result<Ensured, Error> {
    USERS.ensure(api, "name", &spec.props()).await
}

/// Removes the user `name`; `false` when there was none.
pub async fn remove_hotspot_user<A: Api>(api: &A, name: &str) -> Result<bool, Error> {
    Ok(USERS.remove_where(api, "name", name).await? > 0)
}

/// `reset-counters` of the user with id `id`: its cumulative `uptime` and byte counters (what
/// `limit-uptime` and `limit-bytes-*` are checked against) go back to zero.
pub async fn reset_hotspot_user_counters<A: Api>(api: &A, id: &str) -> Result<(), Error> {
    let command = crate::codec::Command::new("/ip/hotspot/user/reset-counters").attr("numbers", id);
    api.run(&command).await.map(drop)
}

/// Every hotspot user.
pub async fn hotspot_users<A: Api>(api: &A) -> Result<Vec<HotspotUser>, Error> {
    Ok(USERS
        .print(api, &[])
        .await?
        .iter()
        .filter_map(HotspotUser::from_row)
        .collect())
}

/// The hotspot user `name`, if any.
pub async fn hotspot_user<A: Api>(api: &A, name: &str) -> Result<Option<HotspotUser>, Error> {
    Ok(USERS
        .find(api, "name", name)
        .await?
        .as_ref()
        .and_then(HotspotUser::from_row))
}

/// A hotspot user profile (a plan's rate limit and sharing rules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HotspotUserProfileSpec {
    pub name: String,
    /// "rx/tx" from the router's view (upload/download), e.g. `1M/5M`.
    pub rate_limit: Option<String>,
    pub shared_users: Option<u32>,
    pub session_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub address_pool: Option<String>,
}

impl HotspotUserProfileSpec {
    /// The properties sent to the router.
    pub fn props(&self) -> Props {
        let mut props: Props = vec![("name", self.name.clone())];
        push_opt(&mut props, "rate-limit", self.rate_limit.as_ref());
        push_opt(&mut props, "shared-users", self.shared_users);
        push_opt(&mut props, "session-timeout", self.session_timeout.as_ref());
        push_opt(&mut props, "idle-timeout", self.idle_timeout.as_ref());
        push_opt(&mut props, "address-pool", self.address_pool.as_ref());
        props
    }
}

/// Adds the profile or brings it to `spec` (found by name).
pub async fn ensure_hotspot_user_profile<A: Api>(
    api: &A,
    spec: &HotspotUserProfileSpec,
) -> Result<Ensured, Error> {
    PROFILES.ensure(api, "name", &spec.props()).await
}

/// A logged-in hotspot session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotActive {
    pub id: String,
    pub user: String,
    pub address: Option<String>,
    pub mac_address: Option<String>,
    pub uptime: Option<String>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    pub server: Option<String>,
}

/// Every active hotspot session.
pub async fn hotspot_active<A: Api>(api: &A) -> Result<Vec<HotspotActive>, Error> {
    let rows = ACTIVE.print(api, &[]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(HotspotActive {
                id: row.id()?,
                user: row.string("user")?,
                address: row.string("address"),
                mac_address: row.string("mac-address"),
                uptime: row.string("uptime"),
                bytes_in: row.u64("bytes-in"),
                bytes_out: row.u64("bytes-out"),
                server: row.string("server"),
            })
        })
        .collect())
}

/// Disconnects every active session of `user`; returns how many were removed.
pub async fn kick_hotspot_user<A: Api>(api: &A, user: &str) -> Result<usize, Error> {
    ACTIVE.remove_where(api, "user", user).await
}

/// Every hotspot host (devices seen behind the hotspot).
pub async fn hotspot_hosts<A: Api>(api: &A) -> Result<Vec<Row>, Error> {
    HOSTS.print(api, &[]).await
}

/// Forgets the host with this MAC address; returns how many entries were removed.
pub async fn remove_hotspot_host<A: Api>(api: &A, mac_address: &str) -> Result<usize, Error> {
    HOSTS.remove_where(api, "mac-address", mac_address).await
}
