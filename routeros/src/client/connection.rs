//! One logged-in API connection: a writer task sends tagged commands, a reader task routes
//! every reply sentence to the command whose `.tag` it carries, so many commands share the link.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::codec::{Codepage, Command, Decoder, Reply, ReplyKind};

use super::{ClientConfig, Error, ReplyStream, Response, Stage, login, transport};

/// Reply sentences buffered per command before the reader waits for the consumer.
const REPLY_BUFFER: usize = 256;
/// Encoded commands queued for the writer.
const OUTGOING_BUFFER: usize = 64;

/// A logged-in connection to one router. Cheap to clone; closes when the last clone (and the
/// last [`ReplyStream`]) is dropped, on `!fatal`, on any IO or protocol error, and when a
/// command's reply idle timeout expires.
#[derive(Clone)]
pub struct Connection {
    pub(crate) shared: Arc<Shared>,
    _guard: Arc<CloseOnDrop>,
}

pub(crate) struct Shared {
    outgoing: mpsc::Sender<Vec<u8>>,
    pending: Mutex<HashMap<u64, mpsc::Sender<Reply>>>,
    next_tag: AtomicU64,
    pub(crate) closed: CancellationToken,
    close_reason: Mutex<Option<Error>>,
    pub(crate) codepage: Codepage,
    pub(crate) reply_idle_timeout: Duration,
    pub(crate) peer: String,
}

struct CloseOnDrop(CancellationToken);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Connection {
    /// Connects and logs in, each step under its own deadline from `config`.
    pub async fn connect(config: &ClientConfig) -> Result<Self, Error> {
        let mut stream = timeout(config.connect_timeout, transport::open(config))
            .await
            .map_err(|_| Error::Timeout {
                stage: Stage::Connect,
                after: config.connect_timeout,
            })??;
        let mut decoder = Decoder::new(config.limits);
        let mode = timeout(
            config.login_timeout,
            login::login(&mut stream, &mut decoder, config),
        )
        .await
        .map_err(|_| Error::Timeout {
            stage: Stage::Login,
            after: config.login_timeout,
        })??;
        tracing::debug!(router = %config.address(), user = %config.username, ?mode, "logged in");
        Ok(Self::start(stream, decoder, config))
    }

    fn start<S>(stream: S, decoder: Decoder, config: &ClientConfig) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(stream);
        let (outgoing, rx) = mpsc::channel(OUTGOING_BUFFER);
        let closed = CancellationToken::new();
        let shared = Arc::new(Shared {
            outgoing,
            pending: Mutex::new(HashMap::new()),
            next_tag: AtomicU64::new(1),
            closed: closed.clone(),
            close_reason: Mutex::new(None),
            codepage: config.codepage,
            reply_idle_timeout: config.reply_idle_timeout,
            peer: config.address(),
        });
        tokio::spawn(read_loop(read, decoder, shared.clone()));
        tokio::spawn(write_loop(write, rx, shared.clone()));
        Self {
            shared,
            _guard: Arc::new(CloseOnDrop(closed)),
        }
    }

    /// Sends a command and returns the stream of its replies. Rows arrive as the router sends
    /// them; the stream fails if the router is silent for longer than the reply idle timeout.
    pub async fn execute(&self, command: &Command) -> Result<ReplyStream, Error> {
        let (tag, rx) = self.shared.register()?;
        let sentence = command.to_sentence(Some(&tag.to_string()));
        let bytes = sentence.to_bytes()?;
        tracing::debug!(
            router = %self.shared.peer,
            tag,
            command = %String::from_utf8_lossy(command.path()),
            "sending command"
        );
        let idle = self.shared.reply_idle_timeout;
        match timeout(idle, self.shared.outgoing.send(bytes)).await {
            Ok(Ok(())) => Ok(ReplyStream::new(self.clone(), tag, rx)),
            Ok(Err(_)) => Err(self.shared.closed_error()),
            Err(_) => {
                let error = Error::Timeout {
                    stage: Stage::Send,
                    after: idle,
                };
                self.shared.close(error.clone());
                Err(error)
            }
        }
    }

    /// Sends a command and collects every row until `!done`.
    pub async fn run(&self, command: &Command) -> Result<Response, Error> {
        self.execute(command).await?.collect().await
    }

    /// True once the connection can carry no more commands.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Why the connection closed, if it has.
    pub fn close_reason(&self) -> Option<Error> {
        self.is_closed().then(|| self.shared.closed_error())
    }

    /// Closes the connection now; commands in flight fail with [`Error::Closed`].
    pub fn close(&self) {
        self.shared
            .close(Error::Closed("closed by the client".to_owned()));
    }

    /// The router's codepage.
    pub fn codepage(&self) -> Codepage {
        self.shared.codepage
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("router", &self.shared.peer)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn register(&self) -> Result<(u64, mpsc::Receiver<Reply>), Error> {
        if self.closed.is_cancelled() {
            return Err(self.closed_error());
        }
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(REPLY_BUFFER);
        self.pending
            .lock()
            .expect("pending map poisoned")
            .insert(tag, tx);
        Ok((tag, rx))
    }

    pub(crate) fn forget(&self, tag: u64) {
        self.pending
            .lock()
            .expect("pending map poisoned")
            .remove(&tag);
    }

    /// Queues a sentence without waiting (used from Drop to `/cancel` an abandoned command).
    pub(crate) fn try_send(&self, command: &Command) {
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        if let Ok(bytes) = command.to_sentence(Some(&tag.to_string())).to_bytes() {
            let _ = self.outgoing.try_send(bytes);
        }
    }

    /// Marks the connection closed with the first reason given and wakes every waiter.
    pub(crate) fn close(&self, reason: Error) {
        {
            let mut slot = self.close_reason.lock().expect("close reason poisoned");
            if slot.is_none() {
                tracing::debug!(router = %self.peer, reason = %reason, "connection closed");
                *slot = Some(reason);
            }
        }
        self.closed.cancel();
        self.pending.lock().expect("pending map poisoned").clear();
    }

    pub(crate) fn closed_error(&self) -> Error {
        self.close_reason
            .lock()
            .expect("close reason poisoned")
            .clone()
            .unwrap_or_else(|| Error::Closed("connection closed".to_owned()))
    }

    async fn dispatch(&self, reply: Reply) {
        let tag = reply
            .tag
            .as_deref()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<u64>().ok());
        match (&reply.kind, tag) {
            (ReplyKind::Fatal, _) => {
                // The reason is a bare word; accept `=message=` too.
                let reason = reply
                    .bare
                    .first()
                    .map(Vec::as_slice)
                    .or_else(|| reply.attribute("message"))
                    .map(|w| self.codepage.decode(w).into_owned())
                    .unwrap_or_default();
                self.close(Error::Fatal(reason));
            }
            (ReplyKind::Unknown(word), _) => {
                tracing::debug!(
                    router = %self.peer,
                    word = %String::from_utf8_lossy(word),
                    "ignoring unknown reply word"
                );
            }
            (_, None) => {
                tracing::debug!(router = %self.peer, ?reply.kind, "ignoring untagged reply");
            }
            (kind, Some(tag)) => {
                let sender = self
                    .pending
                    .lock()
                    .expect("pending map poisoned")
                    .get(&tag)
                    .cloned();
                let done = *kind == ReplyKind::Done;
                match sender {
                    Some(sender) => {
                        if sender.send(reply).await.is_err() || done {
                            self.forget(tag);
                        }
                    }
                    None => tracing::trace!(router = %self.peer, tag, "reply for no command"),
                }
            }
        }
    }
}

async fn read_loop<R: AsyncRead>(read: R, mut decoder: Decoder, shared: Arc<Shared>) {
    tokio::pin!(read);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        loop {
            match decoder.decode() {
                Ok(Some(sentence)) => shared.dispatch(Reply::from_sentence(sentence)).await,
                Ok(None) => break,
                Err(error) => {
                    shared.close(Error::Protocol(error));
                    return;
                }
            }
        }
        let read = tokio::select! {
            _ = shared.closed.cancelled() => return,
            read = read.read(&mut buf) => read,
        };
        match read {
            Ok(0) => {
                shared.close(Error::Closed("router closed the connection".to_owned()));
                return;
            }
            Ok(n) => decoder.feed(&buf[..n]),
            Err(error) => {
                shared.close(Error::Closed(error.to_string()));
                return;
            }
        }
    }
}

async fn write_loop<W: AsyncWrite>(
    write: W,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    shared: Arc<Shared>,
) {
    tokio::pin!(write);
    loop {
        let bytes = tokio::select! {
            _ = shared.closed.cancelled() => break,
            bytes = outgoing.recv() => match bytes {
                Some(bytes) => bytes,
                None => break,
            },
        };
        let written = tokio::select! {
            _ = shared.closed.cancelled() => break,
            written = async {
                write.write_all(&bytes).await?;
                write.flush().await
            } => written,
        };
        if let Err(error) = written {
            shared.close(Error::Closed(error.to_string()));
            break;
        }
    }
    let _ = timeout(Duration::from_secs(1), write.shutdown()).await;
}
