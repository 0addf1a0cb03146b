//! Opening the byte stream to a router: TCP with keepalive, then optionally API-SSL.

use std::pin::Pin;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{ClientConfig, Error, tls};

/// A byte stream to a router, plain or TLS.
pub(crate) trait RouterStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> RouterStream for T {}

pub(crate) type BoxedStream = Pin<Box<dyn RouterStream>>;

/// Connects (no deadline here: the caller wraps this in the connect timeout).
pub(crate) async fn open(config: &ClientConfig) -> Result<BoxedStream, Error> {
    let addr = config.address();
    let tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(|e| Error::Connect {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    if let Some(idle) = config.keepalive {
        // A link that dies silently (the router drops our packets) is noticed by the kernel
        // even while no command is waiting.
        let keepalive = TcpKeepalive::new()
            .with_time(idle)
            .with_interval(idle / 3)
            .with_retries(3);
        if let Err(error) = SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
            tracing::debug!(router = %addr, %error, "could not enable TCP keepalive");
        }
    }
    let Some(pin) = config.tls else {
        return Ok(Box::pin(tcp));
    };
    let tls_error = |reason: String| Error::Tls {
        addr: addr.clone(),
        reason,
    };
    let connector = tls::connector(pin).map_err(|e| tls_error(e.to_string()))?;
    let stream = connector
        .connect(tls::server_name(&config.host), tcp)
        .await
        .map_err(|e| tls_error(e.to_string()))?;
    Ok(Box::pin(stream))
}
