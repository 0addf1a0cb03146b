//! Sitebox's RADIUS server (RFC 2865/2866/5176). Protocol code is sans-IO; the UDP layer is thin.
//! Policy comes in through a trait the daemon implements: this crate knows no SQLite.

pub mod attribute;
pub mod auth;
pub mod code;
pub mod crypto;
pub mod dictionary;
pub mod packet;
pub mod secret;

#[cfg(test)]
mod testutil;

pub use attribute::{Attribute, VendorAttribute};
pub use code::Code;
pub use dictionary::Dictionary;
pub use packet::{DecodeError, EncodeError, Packet};
pub use secret::Secret;
