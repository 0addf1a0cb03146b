//! The MikroTik RouterOS API (TCP 8728, API-SSL 8729): a sans-IO word/sentence codec, an async
//! client, and a stateful simulator that behaves like a router for tests and the dev config.
//!
//! - [`codec`]: bytes to sentences and back; no IO, no await.
//! - [`client`]: a tokio connection multiplexing tagged commands, login, API-SSL with a pinned
//!   certificate, deadlines, and a [`client::Router`] that replaces dead connections.
//! - [`ops`]: typed, idempotent operations on the menus Sitebox provisions.
//! - `sim` (cargo feature `simulator`, on by default): a RouterOS simulator with fault
//!   injection, the test oracle for all of the above. Builds that ship leave it out.

pub mod client;
pub mod codec;
pub mod ops;
#[cfg(feature = "simulator")]
pub mod sim;
