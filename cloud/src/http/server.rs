//! The listener: bound before anything else starts (a port in use is a startup error), then an
//! accept loop with a bounded number of connections, each served by hyper's HTTP/1.1 with
//! upgrades, all stopped by the shutdown token.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Router;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;

/// A bound listener.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
}

impl Bound {
    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<Bound> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the HTTP server on {addr}"))?;
    Ok(Bound { listener })
}

/// Serves `router` on `bound` until `shutdown`; connection tasks go on `tasks`.
pub async fn serve(bound: Bound, router: Router, tasks: TaskTracker, shutdown: CancellationToken) {
    let router = Arc::new(router);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = bound.listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(error = %err, "http: accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (router, stop) = (Arc::clone(&router), shutdown.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request| {
                let router = Arc::clone(&router);
                async move { Ok::<_, Infallible>(router.handle(request).await) }
            });
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!(%peer, error = %err, "http: connection ended with an error");
                    }
                }
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
        });
    }
}
