//! The daemon's job handlers: what runs on the queue for the domain (expiry, disconnects,
//! provisioning). Each is idempotent: a job held at a crash runs again.

pub mod disconnect;
pub mod expiry;
pub mod health;
pub mod provision;
