//! A small connection manager: one live connection per router, replaced when it dies.

use tokio::sync::Mutex;

use crate::codec::{Codepage, Command};

use super::{ClientConfig, Connection, Error, ReplyStream, Response};

/// The way to talk to one router. Hands out its live [`Connection`]; when that connection has
/// closed (fatal, IO error, reply idle timeout) the next call connects anew, retrying a failed
/// connect with jittered exponential backoff. Commands are never retried here: an `add` that may
/// have reached the router is the caller's to judge (the `ensure_*` operations make that safe).
pub struct Router {
    config: ClientConfig,
    current: Mutex<Option<Connection>>,
}

impl Router {
    /// A manager for the router in `config`. Nothing connects until the first command.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            current: Mutex::new(None),
        }
    }

    /// The router's config.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The live connection, connecting (with backoff between failed attempts) if there is none.
    pub async fn connection(&self) -> Result<Connection, Error> {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref() {
            if !connection.is_closed() {
                return Ok(connection.clone());
            }
            tracing::info!(
                router = %self.config.address(),
                reason = %connection.shared.closed_error(),
                "replacing closed connection"
            );
            *current = None;
        }
        let policy = self.config.reconnect;
        let mut failures = 0;
        loop {
            match Connection::connect(&self.config).await {
                Ok(connection) => {
                    *current = Some(connection.clone());
                    return Ok(connection);
                }
                Err(error) => {
                    failures += 1;
                    if !error.is_transient() || failures >= policy.attempts.max(1) {
                        tracing::warn!(router = %self.config.address(), %error, failures, "router unreachable");
                        return Err(error);
                    }
                    let delay = policy.delay(failures);
                    tracing::debug!(router = %self.config.address(), %error, ?delay, "connect failed, retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Sends a command on the live connection and returns its reply stream.
    pub async fn execute(&self, command: &Command) -> Result<ReplyStream, Error> {
        self.connection().await?.execute(command).await
    }

    /// Sends a command and collects every row.
    pub async fn run(&self, command: &Command) -> Result<Response, Error> {
        self.connection().await?.run(command).await
    }

    /// Closes the current connection, if any.
    pub async fn disconnect(&self) {
        if let Some(connection) = self.current.lock().await.take() {
            connection.close();
        }
    }

    /// The router's codepage.
    pub fn codepage(&self) -> Codepage {
        self.config.codepage
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
