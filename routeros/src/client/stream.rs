//! The replies to one command, consumed row by row with an idle timeout.

use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use crate::codec::{Command, Reply, ReplyKind};

use super::{Connection, Error, Response, Row, Stage, Trap};

/// The replies to one tagged command. Rows come as the router streams them, so a print of
/// thousands of rows needs no more memory than the caller keeps. Dropping the stream before
/// `!done` sends `/cancel` for its tag.
pub struct ReplyStream {
    connection: Connection,
    tag: u64,
    rx: mpsc::Receiver<Reply>,
    deadline: Option<Instant>,
    trap: Option<Trap>,
    done: Option<Row>,
    finished: bool,
}

impl ReplyStream {
    pub(crate) fn new(connection: Connection, tag: u64, rx: mpsc::Receiver<Reply>) -> Self {
        Self {
            connection,
            tag,
            rx,
            deadline: None,
            trap: None,
            done: None,
            finished: false,
        }
    }

    /// Adds a total deadline on top of the idle timeout. When it passes the command is
    /// cancelled (the connection stays open) and [`Error::Timeout`] is returned.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The tag the command was sent with.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The next row, `Ok(None)` after `!done`, or the command's `!trap` as [`Error::Trap`]
    /// (returned only once the `!done` that follows a trap has been read, so the connection is
    /// left clean for the next command).
    pub async fn next(&mut self) -> Result<Option<Row>, Error> {
        if self.finished {
            return Ok(None);
        }
        let shared = &self.connection.shared;
        loop {
            let idle = shared.reply_idle_timeout;
            let (wait, stage) = match self.deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left < idle {
                        (left, Stage::Deadline)
                    } else {
                        (idle, Stage::Reply)
                    }
                }
                None => (idle, Stage::Reply),
            };
            let reply = match timeout(wait, self.rx.recv()).await {
                Ok(Some(reply)) => reply,
                Ok(None) => {
                    self.finished = true;
                    return Err(shared.closed_error());
                }
                Err(_) => {
                    let error = Error::Timeout { stage, after: wait };
                    if stage == Stage::Reply {
                        // Silence past the idle timeout: the router or link is stalled, and
                        // nothing else on this connection can be trusted to arrive either.
                        shared.close(error.clone());
                        self.finished = true;
                    }
                    return Err(error);
                }
            };
            match reply.kind {
                ReplyKind::Re => return Ok(Some(Row::new(reply.attributes, shared.codepage))),
                ReplyKind::Trap => self.trap = Some(Trap::from_reply(&reply, shared.codepage)),
                ReplyKind::Done => {
                    self.finished = true;
                    self.done = Some(Row::new(reply.attributes, shared.codepage));
                    return match self.trap.take() {
                        Some(trap) => Err(Error::Trap(trap)),
                        None => Ok(None),
                    };
                }
                ReplyKind::Empty | ReplyKind::Fatal | ReplyKind::Unknown(_) => {}
            }
        }
    }

    /// Reads every row until `!done`.
    pub async fn collect(mut self) -> Result<Response, Error> {
        let mut rows = Vec::new();
        while let Some(row) = self.next().await? {
            rows.push(row);
        }
        Ok(Response {
            rows,
            done: self.done.take().unwrap_or_default(),
        })
    }

    /// Cancels the command (`/cancel =tag=N`) and waits for its end. The `interrupted` trap a
    /// cancelled command ends with is the expected outcome, not an error.
    pub async fn cancel(mut self) -> Result<(), Error> {
        if self.finished {
            return Ok(());
        }
        let cancel = Command::new("/cancel").attr("tag", self.tag.to_string());
        let cancel_replies = self.connection.execute(&cancel).await?;
        loop {
            match self.next().await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(Error::Trap(_)) => break,
                Err(other) => return Err(other),
            }
        }
        match cancel_replies.collect().await {
            Ok(_) | Err(Error::Trap(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }
}

impl Drop for ReplyStream {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let shared = &self.connection.shared;
        shared.forget(self.tag);
        if !shared.closed.is_cancelled() {
            shared.try_send(&Command::new("/cancel").attr("tag", self.tag.to_string()));
        }
    }
}

impl std::fmt::Debug for ReplyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyStream")
            .field("tag", &self.tag)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
