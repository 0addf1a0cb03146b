//! All end-to-end tests in one binary (shared helpers live in the `sitebox-tests` library).
mod daemon;
mod hotspot;
mod notify;
mod packaging_backup;
mod queue_crash;
mod radius;
mod radius_bench;
mod routeros;
mod sync_e2e;
mod sync_isolation;
