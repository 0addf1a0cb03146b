//! Telling systemd how the daemon is doing: `READY=1` once it really serves, `STOPPING=1` when
//! the drain starts, and `WATCHDOG=1` pings that are sent only while the daemon's loops answer.
//!
//! The protocol (a datagram to `$NOTIFY_SOCKET`, which may be an abstract socket) is the
//! `sd-notify` crate's: small, no dependencies beyond libc, and it checks `WATCHDOG_PID`. Without
//! `NOTIFY_SOCKET` (not under systemd) every call here does nothing.
//!
//! The watchdog is not a bare timer: each ping follows a liveness probe that must come back in
//! time. The probe sends an empty write through the store's one writer thread (so a wedged or
//! dead writer stops the pings), borrows a read connection, and has a fresh task scheduled on
//! the runtime (so a runtime whose workers are all blocked stops the pings too). systemd then
//! kills and restarts the daemon; leases make the jobs it held safe.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// Sends `READY=1` with a status line. Call when start-up is over: the store is open and every
/// server socket is bound.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Sends `STOPPING=1`: the drain has begun.
pub(crate) fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "could not notify systemd");
    }
}

/// The watchdog period systemd asked for (`WatchdogSec=`), if any.
pub(crate) fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Pings the systemd watchdog until `stop`, each ping only after a liveness probe succeeded.
/// Pings every quarter of `period`; a probe gets that long to answer, so a daemon that is
/// merely slow once still pings in time, and one that is stuck misses three pings and is
/// restarted.
pub(crate) async fn watchdog(store: Store, period: Duration, stop: CancellationToken) {
    let every = (period / 4).max(Duration::from_millis(100));
    let mut failing = false;
    tracing::info!(?period, ?every, "systemd watchdog on");
    loop {
        match tokio::time::timeout(every, probe(&store)).await {
            Ok(Ok(())) => {
                if failing {
                    tracing::info!("liveness probe answers again");
                    failing = false;
                }
                send(&[NotifyState::Watchdog]);
            }
            Ok(Err(err)) => {
                tracing::error!(error = %err, "liveness probe failed; not pinging the watchdog");
                failing = true;
            }
            Err(_) => {
                tracing::error!(timeout = ?every, "liveness probe timed out; not pinging the watchdog");
                failing = true;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// One round through the parts of the daemon that must keep moving: a task scheduled on the
/// runtime, an (empty) write transaction on the writer thread, and a read connection.
pub(crate) async fn probe(store: &Store) -> Result<(), StoreError> {
    tokio::spawn(async {})
        .await
        .map_err(|_| StoreError::Closed)?;
    match store.write(|_tx| Ok::<_, StoreError>(())).await {
        // Another process (a CLI command) held the database past busy_timeout: the writer
        // thread answered, so it is alive.
        Ok(()) | Err(StoreError::Begin(_)) => {}
        Err(err) => return Err(err),
    }
    store.read(|_conn| Ok::<_, StoreError>(())).await?;
    Ok(())
}
