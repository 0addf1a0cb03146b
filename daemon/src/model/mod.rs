//! The bottom layer: the records the store reads and writes, their ids and states, job specs
//! and events, as plain data. Everything above (store, queue, domain, the adapters) speaks in
//! these types; this module knows nothing of SQL, IO or any layer above it.

pub mod event;
mod ids;
pub mod job;
pub(crate) mod payment;
pub mod plan;
pub mod router;
pub mod session;
mod stored;
pub mod subscriber;
pub mod subscription;
pub mod technician;
pub(crate) mod voucher;

pub use ids::{PlanId, RouterId, SubscriberId, SubscriptionId};
