//! The listener: bound (and its TLS files read) at start-up, before READY=1; then an accept
//! loop with a bounded number of connections, each served by hyper's HTTP/1.1 with upgrades
//! (for the WebSocket), all stopped by the shutdown token.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Web;
use crate::config::WebConfig;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 128;

/// The bound listener and, with TLS, its acceptor.
pub(crate) struct Bound {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Bound {
    /// The address actually bound.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `http` or `https`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Binds `[web] listen` and reads the TLS certificate and key when set.
pub(crate) async fn bind(config: &WebConfig) -> anyhow::Result<Bound> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the web page on {}", config.listen))?;
    Ok(Bound { listener, tls })
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading web.tls_cert {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "web.tls_cert {}: no certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading web.tls_key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS versions")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("web.tls_cert and web.tls_key do not make a usable pair")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the page on `bound` until `shutdown`; connection tasks go on `tasks`.
pub(crate) async fn serve(
    bound: Bound,
    web: Arc<Web>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
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
                    tracing::debug!(error = %err, "web: accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (web, tls, stop) = (Arc::clone(&web), bound.tls.clone(), shutdown.clone());
        let inner_tasks = tasks.clone();
        tasks.spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => connection(stream, peer, web, inner_tasks, stop).await,
                    Err(err) => tracing::debug!(%peer, error = %err, "web: TLS handshake failed"),
                },
                None => connection(stream, peer, web, inner_tasks, stop).await,
            }
        });
    }
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    web: Arc<Web>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stop = shutdown.clone();
    let service = service_fn(move |request| {
        let (web, tasks, stop) = (Arc::clone(&web), tasks.clone(), stop.clone());
        async move { Ok::<_, Infallible>(super::http::handle(web, request, peer, tasks, stop).await) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(err) = served {
                tracing::debug!(%peer, error = %err, "web: connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), conn).await;
        }
    }
}
