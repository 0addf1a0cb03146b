//! The UDP server: handed its bound auth and accounting sockets and a shutdown token (only `main`
//! binds). Each datagram is handled in its own task under its port's semaphore; a bad packet is
//! logged at debug, counted and dropped, never fatal.
//!
//! The two ports have budgets of their own: an Accounting-Request waits for a durable write, so
//! on a stalled disk every accounting slot can be taken for the whole request timeout. Logins
//! only read, and must still be answered then; with one shared budget they were starved.

mod handle;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::cache::ReplyCache;
use crate::clients::Clients;
use crate::counters::{Counters, DropCause};
use crate::packet::MAX_PACKET_LEN;
use crate::policy::Policy;

/// Limits and timers. `Default` gives values fit for a site of a few thousand subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Requests handled at once per port (a semaphore each for the auth and the accounting
    /// socket); further datagrams wait in their socket's buffer.
    pub max_in_flight: usize,
    /// How long a reply is kept for retransmits (FreeRADIUS `cleanup_delay`).
    pub reply_cache_ttl: Duration,
    /// Most requests the duplicate cache holds.
    pub reply_cache_capacity: usize,
    /// Longest wait for the policy before a request is dropped (the NAS retries).
    pub request_timeout: Duration,
    /// How long shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            reply_cache_ttl: Duration::from_secs(5),
            reply_cache_capacity: 16_384,
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A failure that stops the server (only failing to read a socket's address; packet and policy
/// errors are counted, never fatal).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the {port} socket's address: {source}")]
    Socket {
        port: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Which socket a datagram arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// Access-Request and Status-Server (1812).
    Auth,
    /// Accounting-Request and Status-Server (1813).
    Acct,
}

/// The RADIUS server.
#[derive(Debug)]
pub struct Server<P> {
    shared: Arc<Shared<P>>,
}

#[derive(Debug)]
pub(crate) struct Shared<P> {
    policy: Arc<P>,
    clients: Arc<Clients>,
    counters: Arc<Counters>,
    cache: Mutex<ReplyCache>,
    config: ServerConfig,
}

impl<P: Policy> Server<P> {
    /// A server answering the given clients with the given policy.
    pub fn new(policy: Arc<P>, clients: Arc<Clients>, config: ServerConfig) -> Self {
        let cache = ReplyCache::new(config.reply_cache_ttl, config.reply_cache_capacity);
        Self {
            shared: Arc::new(Shared {
                policy,
                clients,
                counters: Arc::new(Counters::default()),
                cache: Mutex::new(cache),
                config,
            }),
        }
    }

    /// The live counters (take [`Counters::snapshot`] for metrics).
    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    /// Serves until `shutdown` is cancelled, then waits up to the grace period for requests in
    /// progress (their replies are still sent).
    pub async fn run(
        self,
        auth: UdpSocket,
        acct: UdpSocket,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        let auth_addr = auth.local_addr().map_err(|source| ServerError::Socket {
            port: "auth",
            source,
        })?;
        let acct_addr = acct.local_addr().map_err(|source| ServerError::Socket {
            port: "acct",
            source,
        })?;
        info!(%auth_addr, %acct_addr, "RADIUS server listening");
        let tracker = TaskTracker::new();
        let budget = self.shared.config.max_in_flight.max(1);
        let loops = [(auth, Port::Auth), (acct, Port::Acct)].map(|(socket, port)| {
            let listener = Listener {
                shared: self.shared.clone(),
                socket: Arc::new(socket),
                port,
                permits: Arc::new(Semaphore::new(budget)),
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
            };
            tokio::spawn(listener.run())
        });
        for receive_loop in loops {
            if let Err(error) = receive_loop.await {
                warn!(%error, "RADIUS receive loop ended abnormally");
            }
        }
        tracker.close();
        if tokio::time::timeout(self.shared.config.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            warn!(
                in_progress = tracker.len(),
                "RADIUS shutdown grace period over; abandoning requests in progress"
            );
        }
        info!("RADIUS server stopped");
        Ok(())
    }
}

struct Listener<P> {
    shared: Arc<Shared<P>>,
    socket: Arc<UdpSocket>,
    port: Port,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl<P: Policy> Listener<P> {
    async fn run(self) {
        let mut buffer = vec![0u8; MAX_PACKET_LEN];
        loop {
            let received = tokio::select! {
                () = self.shutdown.cancelled() => return,
                received = self.socket.recv_from(&mut buffer) => received,
            };
            let (len, source) = match received {
                Ok(received) => received,
                Err(error) => {
                    // ICMP errors surface here on Linux; they concern a past send, not us.
                    debug!(%error, "RADIUS receive error");
                    continue;
                }
            };
            let Some(client) = self.shared.clients.get(source.ip()) else {
                debug!(%source, cause = DropCause::UnknownClient.as_str(), "RADIUS packet dropped");
                self.shared.counters.unknown_client();
                continue;
            };
            let permit = tokio::select! {
                () = self.shutdown.cancelled() => return,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let datagram = buffer[..len].to_vec();
            let shared = self.shared.clone();
            let socket = self.socket.clone();
            let port = self.port;
            self.tracker.spawn(async move {
                let _permit = permit;
                let reply = handle::handle(&shared, port, &client, source, &datagram).await;
                if let Some(reply) = reply {
                    send(&socket, &reply, source).await;
                }
            });
        }
    }
}

async fn send(socket: &UdpSocket, reply: &[u8], target: SocketAddr) {
    if let Err(error) = socket.send_to(reply, target).await {
        debug!(%error, %target, "RADIUS reply not sent");
    }
}
