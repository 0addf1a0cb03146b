//! All end-to-end tests in one binary (shared helpers live in the `sitebox-tests` library).
mod daemon;
mod hotspot;
mod notify;
mod packaging_backup;
mod provisioning;
mod queue_crash;
mod radius;
mod routeros;
mod scenario;
mod sync_e2e;
mod sync_isolation;
mod web_api;
mod web_browser;
mod web_security;
mod web_site;
mod web_tls;
