//! Support for Sitebox's end-to-end tests: finding the real peers that `tests/run.sh` installs
//! (radclient, the Python clients, mosquitto, PostgreSQL, Chromium), free ports and temp dirs.
//!
//! A test that needs a peer asks for it here. A missing peer is a failure with the name of the
//! package to install, never a silent skip: run the suite through `tests/run.sh`, which installs
//! and starts every peer.

// Tests and benchmarks stand outside the daemon: they measure and stamp with the real wall
// clock (timestamps to compare with the daemon's, deadlines), which the daemon reads only
// through its `Clock`.
#![allow(clippy::disallowed_methods)]

pub mod browser;
pub mod cloud;
pub mod fleet;
pub mod freeradius;
pub mod http;
pub mod mosquitto;
pub mod peers;
pub mod ports;
pub mod postgres;
pub mod proxy;
pub mod radius_bench;
pub mod radius_load;
pub mod scenario;
pub mod sdcard;
pub mod site_events;
pub mod siteboxd;
pub mod storm;
