//! The async client: one [`Connection`] multiplexes tagged commands over TCP or API-SSL, and a
//! [`Router`] keeps one live connection per router, replacing it when it dies or times out.

mod api;
mod backoff;
mod config;
mod connection;
mod error;
pub(crate) mod login;
mod router;
mod row;
mod stream;
mod tls;
mod transport;
mod trap;

pub use api::Api;
pub use backoff::ReconnectPolicy;
pub use config::{ClientConfig, Password};
pub use connection::Connection;
pub use error::{Error, Stage};
pub use router::Router;
pub use row::{Response, Row};
pub use stream::ReplyStream;
#[cfg(feature = "simulator")]
pub(crate) use tls::provider as tls_provider;
pub use tls::{Fingerprint, FingerprintError};
pub use trap::{Trap, TrapCategory};
