//! Sitebox's RADIUS server (RFC 2865/2866/5176). Protocol code is sans-IO; the UDP layer is thin.
//! Policy comes in through a trait the daemon implements: this crate knows no SQLite.
//!
//! Invariants: every Access-Request and Status-Server is checked for a valid
//! Message-Authenticator (a client may be relaxed only explicitly); every packet sent carries
//! one; credentials are verified here, never by the policy; a retransmit never reaches the
//! policy twice; an Accounting-Response is sent only after the policy stored the record.

pub mod accounting;
pub mod attribute;
pub mod auth;
pub mod cache;
pub mod clients;
pub mod code;
pub mod counters;
pub mod crypto;
pub mod dictionary;
pub mod disconnect;
pub mod mac;
pub mod numbers;
pub mod packet;
pub mod policy;
pub mod reply;
pub mod request;
pub mod secret;
pub mod server;
mod verify;

#[cfg(test)]
mod props;
#[cfg(test)]
mod testutil;

pub use accounting::{AccountingRecord, AcctStatusType};
pub use attribute::{Attribute, VendorAttribute};
pub use clients::{Client, Clients};
pub use code::Code;
pub use counters::{Counters, CountersSnapshot, DropCause, NasCounters};
pub use dictionary::Dictionary;
pub use mac::MacAddress;
pub use packet::{DecodeError, EncodeError, Packet};
pub use policy::{
    Check, Credential, Decision, NtHash, Policy, PolicyError, RejectReason, Rejection, Verification,
};
pub use reply::AcceptAttributes;
pub use request::{AccessRequest, AuthMethod, Nas};
pub use secret::Secret;
pub use server::{Server, ServerConfig, ServerError};
/// The shutdown signal [`Server::run`] takes, re-exported so callers need not name tokio-util.
pub use tokio_util::sync::CancellationToken;
