//! Telling systemd how the daemon is doing: `READY=1` once it really serves, `STOPPING=1` when
//! the drain starts, and `WATCHDOG=1` pings that are sent only while the daemon's loops answer.
//!
//! The protocol (a datagram to `$NOTIFY_SOCKET`, which may be an abstract socket) is the
//! `sd-notify` crate's: small, no dependencies beyond libc, and it checks `WATCHDOG_PID`. Without
//! `NOTIFY_SOCKET` (not under systemd) every call here does nothing.
//!
//! The watchdog is not a bare timer: each ping follows a liveness probe that must come back in
//! time. The probe has a fresh task scheduled on the runtime (so a runtime whose workers are all
//! blocked stops the pings), borrows a read connection, and looks at the store's writer thread
//! (kept busy with an empty write of the watchdog's own, one at a time): one that has stopped,
//! or that has been inside one group of writes for longer than the watchdog period, stops the
//! pings, and systemd restarts the daemon a period later. A disk that stalls for less than the
//! period (an SD card's garbage collection, a frozen file system) therefore never restarts the
//! daemon: the writer is only waiting, logins are still answered from the read connections, and
//! a restart would not make the disk faster.
//!
//! A disk that refuses writes (full, read-only) does not stop the pings either: a restart frees
//! no space and would leave the site without RADIUS while it starts. That fault is told by
//! `/healthz` (503), `/metrics`, one log line, and the watchdog's `STATUS=` line, which
//! `systemctl status siteboxd` shows.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

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
    // A writer inside one commit for up to a whole period is a slow disk, not a hang: a stall
    // shorter than the period never misses a ping window. Past that the pings stop, and systemd
    // restarts the daemon one period later.
    let stall_tolerance = period;
    let mut failing = false;
    let mut status = String::new();
    // The empty write that keeps the writer exercised: one at a time, never awaited here, so a
    // stalled disk holds it without holding the probe; the probe looks at how long the writer
    // has been at it.
    let mut exercise: Option<tokio::task::JoinHandle<()>> = None;
    tracing::info!(?period, ?every, ?stall_tolerance, "systemd watchdog on");
    loop {
        if exercise
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
        {
            let store = store.clone();
            exercise = Some(tokio::spawn(async move {
                let _ = store
                    .write(|_tx| Ok::<_, crate::store::StoreError>(()))
                    .await;
            }));
        }
        match tokio::time::timeout(every, probe(&store, stall_tolerance)).await {
            Ok(Ok(())) => {
                if failing {
                    tracing::info!("liveness probe answers again");
                    failing = false;
                }
                let now = write_status(&store);
                if now == status {
                    send(&[NotifyState::Watchdog]);
                } else {
                    send(&[NotifyState::Watchdog, NotifyState::Status(&now)]);
                    status = now;
                }
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

/// The `STATUS=` line: serving, or serving while writes fail and why.
fn write_status(store: &Store) -> String {
    match store.health().fault() {
        None => "serving".to_string(),
        Some(fault) => format!(
            "serving, but writes to {} fail ({}): see the log",
            store.path().display(),
            fault.cause
        ),
    }
}

/// One round through the parts of the daemon that must keep moving: a task scheduled on the
/// runtime, the writer thread (alive, and not inside one group of writes for longer than
/// `stall_tolerance`), and a read connection.
pub(crate) async fn probe(store: &Store, stall_tolerance: Duration) -> Result<(), String> {
    tokio::spawn(async {})
        .await
        .map_err(|_| "the runtime did not run a task".to_string())?;
    if store.writer_stopped() {
        return Err("the store's writer thread has stopped".into());
    }
    if let Some(busy) = store.health().writer_busy_for()
        && busy > stall_tolerance
    {
        return Err(format!(
            "the store's writer has been in one commit for {}s (a stalled disk?)",
            busy.as_secs()
        ));
    }
    store
        .read(|_conn| Ok::<_, crate::store::StoreError>(()))
        .await
        .map_err(|err| err.to_string())
}
