//! All end-to-end tests in one binary (shared helpers live in the `sitebox-tests` library).

// Tests and benchmarks stand outside the daemon: they measure and stamp with the real wall
// clock (timestamps to compare with the daemon's, deadlines), which the daemon reads only
// through its `Clock`.
#![allow(clippy::disallowed_methods)]
mod accounting_faults;
mod clock_faults;
mod daemon;
mod disk_faults;
mod hotspot;
mod notify;
mod packaging_backup;
mod provisioning;
mod queue_crash;
mod radius;
mod radius_bench;
mod router_fallback;
mod router_login;
mod routeros;
mod scenario;
mod sdcard;
mod sync_alerts;
mod sync_api;
mod sync_e2e;
mod sync_isolation;
mod sync_projections;
mod sync_restore;
mod web_api;
mod web_browser;
mod web_security;
mod web_site;
mod web_technicians;
mod web_tls;
