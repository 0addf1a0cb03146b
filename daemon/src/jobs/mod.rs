//! The daemon's job handlers: what runs on the queue for the domain (expiry, disconnects,
//! provisioning). Each is idempotent: a job held at a crash runs again.

pub(crate) mod disconnect;
pub(crate) mod expiry;
pub(crate) mod health;
pub(crate) mod provision;
