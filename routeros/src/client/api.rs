//! What the typed operations need from a connection: run a command, know the codepage.

use std::future::Future;

use crate::codec::{Codepage, Command};

use super::{Connection, Error, Response, Router};

/// Something that runs commands on one router: a [`Connection`] or a [`Router`].
pub trait Api: Send + Sync {
    /// Sends a command and collects its rows.
    fn run(&self, command: &Command) -> impl Future<Output = Result<Response, Error>> + Send;
    /// The router's codepage, to encode text values.
    fn codepage(&self) -> Codepage;
}

impl Api for Connection {
    fn run(&self, command: &Command) -> impl Future<Output = Result<Response, Error>> + Send {
        Connection::run(self, command)
    }

    fn codepage(&self) -> Codepage {
        Connection::codepage(self)
    }
}

impl Api for Router {
    fn run(&self, command: &Command) -> impl Future<Output = Result<Response, Error>> + Send {
        Router::run(self, command)
    }

    fn codepage(&self) -> Codepage {
        Router::codepage(self)
    }
}
