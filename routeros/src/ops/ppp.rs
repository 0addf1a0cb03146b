//! PPP (PPPoE) secrets, profiles and active sessions.

use crate::client::{Api, Error, Password, Row};

use super::{Ensured, Menu, Props, push_opt, yes_no};

const SECRETS: Menu = Menu::new("/ppp/secret");
const PROFILES: Menu = Menu::new("/ppp/profile");
const ACTIVE: Menu = Menu::new("/ppp/active");
const AAA: Menu = Menu::new("/ppp/aaa");

/// A PPP secret (a PPPoE subscriber's login).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PppSecretSpec {
    pub name: String,
    pub password: Option<Password>,
    /// `pppoe`, `any`...
    pub service: Option<String>,
    pub profile: Option<String>,
    pub remote_address: Option<String>,
    /// The caller (the PPPoE client's MAC) the secret is bound to; empty for any.
    pub caller_id: Option<String>,
    pub comment: Option<String>,
    pub disabled: Option<bool>,
}

impl PppSecretSpec {
    /// The properties sent to the router.
    pub fn props(&self) -> Props {
        let mut props: Props = vec![("name", self.name.clone())];
        push_opt(
            &mut props,
            "password",
            self.password.as_ref().map(Password::expose),
        );
        push_opt(&mut props, "service", self.service.as_ref());
        push_opt(&mut props, "profile", self.profile.as_ref());
        push_opt(&mut props, "remote-address", self.remote_address.as_ref());
        push_opt(&mut props, "caller-id", self.caller_id.as_ref());
        push_opt(&mut props, "comment", self.comment.as_ref());
        push_opt(&mut props, "disabled", self.disabled.map(yes_no));
        props
    }
}

/// Adds the secret or brings it to `spec` (found by name).
pub async fn ensure_ppp_secret<A: Api>(api: &A, spec: &PppSecretSpec) -> Result<Ensured, Error> {
    SECRETS.ensure(api, "name", &spec.props()).await
}

/// Removes the secret `name`; `false` when there was none.
pub async fn remove_ppp_secret<A: Api>(api: &A, name: &str) -> Result<bool, Error> {
    Ok(SECRETS.remove_where(api, "name", name).await? > 0)
}

/// The secret `name`, if any.
pub async fn ppp_secret<A: Api>(api: &A, name: &str) -> Result<Option<Row>, Error> {
    SECRETS.find(api, "name", name).await
}

/// Every PPP secret.
pub async fn ppp_secrets<A: Api>(api: &A) -> Result<Vec<Row>, Error> {
    SECRETS.print(api, &[]).await
}

/// A PPP profile (rate limit and addressing of a plan).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PppProfileSpec {
    pub name: String,
    pub rate_limit: Option<String>,
    pub local_address: Option<String>,
    pub remote_address: Option<String>,
    /// `yes`, `no` or `default`.
    pub only_one: Option<String>,
}

impl PppProfileSpec {
    /// The properties sent to the router.
    pub fn props(&self) -> Props {
        let mut props: Props = vec![("name", self.name.clone())];
        push_opt(&mut props, "rate-limit", self.rate_limit.as_ref());
        push_opt(&mut props, "local-address", self.local_address.as_ref());
        push_opt(&mut props, "remote-address", self.remote_address.as_ref());
        push_opt(&mut props, "only-one", self.only_one.as_ref());
        props
    }
}

/// Adds the profile or brings it to `spec` (found by name).
pub async fn ensure_ppp_profile<A: Api>(api: &A, spec: &PppProfileSpec) -> Result<Ensured, Error> {
    PROFILES.ensure(api, "name", &spec.props()).await
}

/// A connected PPP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PppActive {
    pub id: String,
    pub name: String,
    pub service: Option<String>,
    pub caller_id: Option<String>,
    pub address: Option<String>,
    pub uptime: Option<String>,
}

/// Every connected PPP session.
pub async fn ppp_active<A: Api>(api: &A) -> Result<Vec<PppActive>, Error> {
    let rows = ACTIVE.print(api, &[]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(PppActive {
                id: row.id()?,
                name: row.string("name")?,
                service: row.string("service"),
                caller_id: row.string("caller-id"),
                address: row.string("address"),
                uptime: row.string("uptime"),
            })
        })
        .collect())
}

/// Disconnects every PPP session of `name`; returns how many were removed.
pub async fn kick_ppp_user<A: Api>(api: &A, name: &str) -> Result<usize, Error> {
    ACTIVE.remove_where(api, "name", name).await
}

/// `/ppp/aaa set use-radius=… accounting=…`: whether PPP logins (PPPoE secrets not found
/// locally) are asked of RADIUS and accounted there.
pub async fn set_ppp_aaa<A: Api>(api: &A, use_radius: bool, accounting: bool) -> Result<(), Error> {
    let props: Props = vec![
        ("use-radius", yes_no(use_radius).to_owned()),
        ("accounting", yes_no(accounting).to_owned()),
    ];
    AAA.set_single(api, &props).await
}
