//! The daemon's side of RADIUS: the store-backed policy the `sitebox-radius` server asks, the
//! client table built from the routers, and the summary of rejected logins.

mod clients;
mod policy;
mod summary;

pub(crate) use clients::{load_clients, watch_routers};
pub(crate) use policy::StorePolicy;
pub(crate) use summary::summarize_rejects;
