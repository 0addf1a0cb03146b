//! The hotspot business core that RADIUS, provisioning, sync and the web page act on: routers,
//! plans, subscribers, vouchers, subscriptions, payments, accounting sessions, the access policy
//! and expiry enforcement.
//!
//! Every change runs inside one store write with its events and the jobs it causes. SQL lives in
//! the store; this module holds the rules.
//!
//! **Operator actions.** What an operator can do (from the command line, the technician page
//! or a cloud command) is one function here, `fn(tx, [secrets,] actor, now, args)`, whose `args`
//! is a `Deserialize` struct (the cloud command's payload and the page's request body parse
//! straight into it) and which writes its event and audit row itself: `plans::create`,
//! `plans::edit`, `plans::enable`/`disable`, `routers::add`, `routers::enable`/`disable`,
//! `routers::reprovision`, `subscribers::create`, `subscribers::suspend`/`reinstate`,
//! `subscriptions::give`, `vouchers::issue`, `payments::apply`, `sessions::kick`,
//! `jobs::retry`/`retry_all`/`discard`, `technicians::add`/`remove`/`set_password`. The CLI
//! (`crate::cli`), the page (`crate::web`) and cloud commands (`crate::sync::domain`) only
//! parse, call one of these and print or answer the result.

pub(crate) mod accounting;
pub(crate) mod credentials;
pub(crate) mod error;
pub(crate) mod expiry;
pub(crate) mod jobs;
pub(crate) mod mac;
pub(crate) mod payments;
pub mod plans;
pub(crate) mod policy;
pub(crate) mod provisioning;
pub(crate) mod rate_limit;
pub mod routers;
pub(crate) mod sessions;
pub mod subscribers;
pub mod subscriptions;
pub(crate) mod technicians;
pub(crate) mod vouchers;

use serde::Deserialize;

pub use error::DomainError;

/// The arguments of an action on a thing known by its name (a router, a plan, a technician).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    /// Its name.
    pub name: String,
}

/// The arguments of an action on a subscriber's account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Its login name.
    pub username: String,
}

#[cfg(test)]
mod tests;
