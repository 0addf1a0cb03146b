//! The hotspot business core that RADIUS, provisioning, sync and the web page act on: routers,
//! plans, subscribers, vouchers, subscriptions, payments, accounting sessions, the access policy
//! and expiry enforcement.
//!
//! Every change runs inside one store write with its events and the jobs it causes. SQL lives in
//! the store; this module holds the rules.

pub mod accounting;
pub mod credentials;
pub mod error;
pub mod expiry;
pub mod mac;
pub mod payments;
pub mod plans;
pub mod policy;
pub mod provisioning;
pub mod rate_limit;
pub mod routers;
pub mod subscribers;
pub mod subscriptions;
pub mod vouchers;

pub use error::DomainError;

#[cfg(test)]
mod tests;
