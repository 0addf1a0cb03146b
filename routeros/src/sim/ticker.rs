//! The router's own work loop: every tick (50 ms of real time) it ends sessions that are due,
//! sends interims, runs netwatch probes and scheduler entries that are due, and keeps the
//! `/radius incoming` socket bound as the menu says. It stops when the simulator is dropped.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::live::prop;
use super::radius;

/// Real time between rounds.
const TICK: Duration = Duration::from_millis(50);

/// Starts the loop once per simulator, if a tokio runtime is there to run it.
pub(crate) fn start(inner: &Arc<Inner>) {
    if inner.ticking.swap(true, Ordering::SeqCst) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        inner.ticking.store(false, Ordering::SeqCst);
        return;
    };
    runtime.spawn(run(Arc::downgrade(inner)));
}

async fn run(weak: Weak<Inner>) {
    let mut incoming: Option<(SocketAddr, CancellationToken)> = None;
    let mut failed: Option<SocketAddr> = None;
    loop {
        tokio::time::sleep(TICK).await;
        let Some(inner) = weak.upgrade() else {
            break;
        };
        inner.tick();
        let wanted = inner.locked(|state| {
            let settings = state.single("/radius/incoming")?;
            let port: u16 = prop(settings, "port").parse().ok()?;
            (!state.live.powered_off && prop(settings, "accept") == "true").then_some(port)
        });
        let wanted = wanted.map(|port| SocketAddr::new(IpAddr::V4(inner.address), port));
        if incoming.as_ref().map(|(address, _)| *address) != wanted {
            if let Some((_, stop)) = incoming.take() {
                stop.cancel();
            }
            if let Some(address) = wanted {
                match UdpSocket::bind(address).await {
                    Ok(socket) => {
                        let stop = CancellationToken::new();
                        tokio::spawn(radius::serve_incoming(
                            Arc::downgrade(&inner),
                            socket,
                            stop.clone(),
                        ));
                        incoming = Some((address, stop));
                        failed = None;
                    }
                    Err(error) => {
                        if failed != Some(address) {
                            tracing::warn!(%address, %error, "simulated router cannot listen for /radius incoming");
                            failed = Some(address);
                        }
                    }
                }
            }
        }
    }
    if let Some((_, stop)) = incoming {
        stop.cancel();
    }
}
