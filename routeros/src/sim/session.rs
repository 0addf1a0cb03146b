//! One API session on the simulated router: login, then commands, each reply echoing `.tag`.
//! Tagged prints and `listen` run as their own tasks so `/cancel` can reach them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::login::challenge_response;
use crate::codec::{Decoder, Limits, Sentence, Word, encode_length, split_attribute};

use super::live;
use super::login::{self, HotspotLogin};
use super::menus::{self, MenuSpec};
use super::query::QueryWord;
use super::script;
use super::state::{Props, SimTrap};
use super::{Inner, RouterOsVersion, SimWrite, writer};

/// Reply sentences queued for the writer.
const QUEUE: usize = 256;

type Running = Arc<Mutex<HashMap<Word, CancellationToken>>>;

/// Serves one connection until the peer leaves, `/quit`, a fault, or shutdown.
pub(crate) async fn run<S>(stream: S, inner: Arc<Inner>, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let end = shutdown.child_token();
    let (read, write) = tokio::io::split(stream);
    let (queue, rx) = mpsc::channel(QUEUE);
    let writer = tokio::spawn(writer::write_loop(write, rx, inner.clone(), end.clone()));
    let mut session = Session {
        inner,
        queue,
        end: end.clone(),
        logged_in: false,
        challenge: None,
        running: Arc::default(),
    };
    let mut decoder = Decoder::new(Limits::LOGIN);
    let mut buf = vec![0u8; 8192];
    tokio::pin!(read);
    'session: loop {
        loop {
            match decoder.decode() {
                Ok(Some(sentence)) => {
                    if session.handle(sentence).await.is_break() {
                        break 'session;
                    }
                    if session.logged_in {
                        decoder.set_limits(Limits::SESSION);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "simulator closing a session on a protocol error");
                    end.cancel();
                    break 'session;
                }
            }
        }
        let n = tokio::select! {
            _ = end.cancelled() => break,
            n = read.read(&mut buf) => n,
        };
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => decoder.feed(&buf[..n]),
        }
    }
    for token in session.running.lock().expect("running map").values() {
        token.cancel();
    }
    drop(session);
    // Let queued replies (the `!fatal` of `/quit`) drain, then stop everything.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    end.cancel();
}

struct Session {
    inner: Arc<Inner>,
    queue: mpsc::Sender<Vec<u8>>,
    end: CancellationToken,
    logged_in: bool,
    challenge: Option<[u8; 16]>,
    running: Running,
}

/// A command taken apart.
struct Request {
    path: String,
    tag: Option<Word>,
    attrs: Vec<(String, Vec<u8>)>,
    query: Vec<QueryWord>,
}

impl Request {
    fn parse(sentence: Sentence) -> Self {
        let mut words = sentence.words.into_iter();
        let path = String::from_utf8_lossy(&words.next().unwrap_or_default()).into_owned();
        let mut request = Request {
            path,
            tag: None,
            attrs: Vec::new(),
            query: Vec::new(),
        };
        for word in words {
            if let Some(tag) = word.strip_prefix(b".tag=") {
                request.tag = Some(tag.to_vec());
            } else if let Some(q) = QueryWord::parse(&word) {
                request.query.push(q);
            } else if let Some((key, value)) = split_attribute(&word) {
                request
                    .attrs
                    .push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
            }
        }
        request
    }

    fn attr(&self, key: &str) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Attributes that are properties (not `.id`, `numbers`, `.proplist` and print options).
    fn properties(&self) -> Vec<(String, Vec<u8>)> {
        self.attrs
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), ".id" | "numbers" | ".proplist"))
            .cloned()
            .collect()
    }

    fn ids(&self) -> Option<&[u8]> {
        self.attr(".id").or_else(|| self.attr("numbers"))
    }
}

/// Encodes one reply sentence.
pub(crate) fn reply(word: &str, attrs: &[(&str, &[u8])], tag: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |w: &[u8]| {
        encode_length(w.len(), &mut out).expect("reply word fits a length prefix");
        out.extend_from_slice(w);
    };
    push(word.as_bytes());
    for (key, value) in attrs {
        let mut w = Vec::with_capacity(key.len() + value.len() + 2);
        w.push(b'=');
        w.extend_from_slice(key.as_bytes());
        w.push(b'=');
        w.extend_from_slice(value);
        push(&w);
    }
    if let Some(tag) = tag {
        let mut w = b".tag=".to_vec();
        w.extend_from_slice(tag);
        push(&w);
    }
    out.push(0);
    out
}

fn row(props: &Props, extra: &[(&str, &[u8])], tag: Option<&[u8]>) -> Vec<u8> {
    let mut attrs: Vec<(&str, &[u8])> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    attrs.extend_from_slice(extra);
    reply("!re", &attrs, tag)
}

fn trap(trap: &SimTrap, tag: Option<&[u8]>) -> Vec<u8> {
    let category = trap.category.map(|c| c.to_string());
    let mut attrs: Vec<(&str, &[u8])> = Vec::new();
    if let Some(category) = &category {
        attrs.push(("category", category.as_bytes()));
    }
    attrs.push(("message", trap.message.as_bytes()));
    reply("!trap", &attrs, tag)
}

impl Session {
    async fn send(&self, bytes: Vec<u8>) {
        let _ = self.queue.send(bytes).await;
    }

    async fn done(&self, attrs: &[(&str, &[u8])], tag: Option<&[u8]>) {
        self.send(reply("!done", attrs, tag)).await;
    }

    async fn refuse(&self, refusal: SimTrap, tag: Option<&[u8]>) {
        self.send(trap(&refusal, tag)).await;
        self.done(&[], tag).await;
    }

    async fn handle(&mut self, sentence: Sentence) -> std::ops::ControlFlow<()> {
        let request = Request::parse(sentence);
        let tag = request.tag.as_deref();
        if request.path == "/login" {
            self.login(&request).await;
            return std::ops::ControlFlow::Continue(());
        }
        if !self.logged_in {
            self.refuse(SimTrap::new("not logged in"), tag).await;
            return std::ops::ControlFlow::Continue(());
        }
        match request.path.as_str() {
            "/quit" => {
                self.send(fatal("session terminated on request")).await;
                return std::ops::ControlFlow::Break(());
            }
            "/cancel" => self.cancel(&request).await,
            path => self.command(path, &request).await,
        }
        std::ops::ControlFlow::Continue(())
    }

    async fn login(&mut self, request: &Request) {
        let tag = request.tag.as_deref();
        let version = self.inner.version();
        let name = request.attr("name");
        let user_password = name.and_then(|n| self.inner.password_of(n));
        let ok = match (request.attr("password"), request.attr("response")) {
            (_, Some(response)) => match (self.challenge.take(), &user_password) {
                (Some(challenge), Some(password)) => {
                    let hex: String = challenge.iter().map(|b| format!("{b:02x}")).collect();
                    challenge_response(password.as_bytes(), hex.as_bytes()).as_deref()
                        == std::str::from_utf8(response).ok()
                }
                _ => false,
            },
            (Some(password), None) if version.plain_login() && name.is_some() => {
                user_password.as_deref().map(str::as_bytes) == Some(password)
            }
            _ if !version.plain_login() || version < RouterOsVersion::new(6, 45, 1) => {
                // Before 6.43 any /login without a response gets the MD5 challenge (the
                // plain form's password is ignored); 6.43 to 6.45 still offered it.
                let challenge: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
                self.challenge = Some(challenge);
                let hex: String = challenge.iter().map(|b| format!("{b:02x}")).collect();
                self.done(&[("ret", hex.as_bytes())], tag).await;
                return;
            }
            _ => false,
        };
        if ok {
            self.logged_in = true;
            self.inner.logins.fetch_add(1, Ordering::Relaxed);
            self.done(&[], tag).await;
        } else if version.plain_login() && request.attr("response").is_none() {
            self.refuse(
                SimTrap::with_category("invalid user name or password (6)", 1),
                tag,
            )
            .await;
        } else {
            self.refuse(SimTrap::new("cannot log in"), tag).await;
        }
    }

    async fn cancel(&mut self, request: &Request) {
        let tag = request.tag.as_deref();
        let running = self.running.lock().expect("running map").clone();
        match request.attr("tag") {
            Some(target) => match running.get(target) {
                Some(token) => token.cancel(),
                None => {
                    drop(running);
                    self.refuse(SimTrap::new("no such command or directory (tag)"), tag)
                        .await;
                    return;
                }
            },
            None => running.values().for_each(CancellationToken::cancel),
        }
        self.done(&[], tag).await;
    }

    async fn command(&mut self, path: &str, request: &Request) {
        let tag = request.tag.as_deref();
        let (menu, verb) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(spec) = menus::find(menu) else {
            self.refuse(SimTrap::with_category("no such command prefix", 0), tag)
                .await;
            return;
        };
        if spec.path == "/system/script" && verb == "run" {
            let name = request
                .attr("number")
                .or_else(|| request.attr(".id"))
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default();
            let now = self.inner.now_ms();
            let policy: Vec<String> = menus::DEFAULT_POLICY
                .split(',')
                .map(str::to_owned)
                .collect();
            let inner = self.inner.clone();
            let ran = inner.locked(|state| {
                script::run_script_named(&inner, state, now, &name, &policy, &script::Origin::Api)
            });
            match ran {
                Ok(_) => self.done(&[], tag).await,
                Err(error) => self.refuse(SimTrap::new(error.to_string()), tag).await,
            }
            return;
        }
        if spec.path == "/ip/hotspot/active" && verb == "login" {
            let outcome = self.hotspot_login(request).await;
            match outcome {
                Ok(()) => self.done(&[], tag).await,
                Err(refusal) => self.refuse(refusal, tag).await,
            }
            return;
        }
        let now = self.inner.now_ms();
        let inner = self.inner.clone();
        let outcome = inner.locked(|state| {
            live::refresh(state, now);
            match verb {
                "print" | "getall" => {
                    let proplist = request.attr(".proplist").map(|p| {
                        String::from_utf8_lossy(p)
                            .split(',')
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    });
                    let rows = state.print(spec, &request.query, proplist.as_deref());
                    if request.attr("count-only").is_some() {
                        Ok(Outcome::Done(Some(rows.len().to_string())))
                    } else {
                        Ok(Outcome::Rows(rows))
                    }
                }
                "add" => state
                    .add(spec, &request.properties())
                    .map(|id| Outcome::Done(Some(id))),
                "set" => state
                    .set(spec, request.ids(), &request.properties())
                    .map(|()| Outcome::Done(None)),
                "remove" => live::remove(&inner, state, spec, request.ids(), now)
                    .map(|()| Outcome::Done(None)),
                "reset-counters" if spec.path == "/ip/hotspot/user" => {
                    live::reset_counters(state, spec, request.ids()).map(|()| Outcome::Done(None))
                }
                "enable" | "disable" => {
                    let value = if verb == "disable" { "yes" } else { "no" };
                    state
                        .set(
                            spec,
                            request.ids(),
                            &[("disabled".to_owned(), value.into())],
                        )
                        .map(|()| Outcome::Done(None))
                }
                "listen" => Ok(Outcome::Listen(state.subscribe())),
                _ => Err(SimTrap::with_category("no such command", 0)),
            }
        });
        if let Ok(Outcome::Done(ret)) = &outcome
            && matches!(
                verb,
                "add" | "set" | "remove" | "enable" | "disable" | "reset-counters"
            )
        {
            let lossy = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            let target = if verb == "add" {
                request.attr("name").map(lossy).or_else(|| ret.clone())
            } else {
                request.ids().map(lossy)
            };
            self.inner.writes.lock().expect("writes").push(SimWrite {
                menu: spec.path.to_owned(),
                verb: verb.to_owned(),
                target: target.unwrap_or_default(),
            });
        }
        match outcome {
            Err(refusal) => self.refuse(refusal, tag).await,
            Ok(Outcome::Done(ret)) => {
                let attrs: Vec<(&str, &[u8])> = ret.iter().map(|r| ("ret", r.as_bytes())).collect();
                self.done(&attrs, tag).await;
            }
            Ok(Outcome::Rows(rows)) => {
                let empty = rows.is_empty() && self.inner.version().sends_empty();
                let job = Job::Rows { rows, empty };
                self.start(job, request.tag.clone()).await;
            }
            Ok(Outcome::Listen(changes)) => {
                let job = Job::Listen {
                    menu: spec,
                    changes,
                };
                self.start(job, request.tag.clone()).await;
            }
        }
    }

    /// `/ip/hotspot/active/login =user= =password= =ip= [=mac-address=]`: logs the existing
    /// host at `ip` in, decided as a login page's would be.
    async fn hotspot_login(&self, request: &Request) -> Result<(), SimTrap> {
        let text = |key| {
            request
                .attr(key)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let user = text("user").ok_or_else(|| SimTrap::new("missing value for argument user"))?;
        let ip: std::net::Ipv4Addr = text("ip")
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| SimTrap::new("invalid value for argument ip"))?;
        let mac = text("mac-address").unwrap_or_default();
        let mut login = HotspotLogin::new(&user, &text("password").unwrap_or_default(), &mac, ip);
        login.auth = self.inner.behaviour.api_login_auth;
        login::hotspot(&self.inner, login, login::Via::Api)
            .await
            .map(|_| ())
            .map_err(|refused| SimTrap::new(refused.message))
    }

    /// Runs a streaming job: as a task when tagged (so `/cancel` and other commands can proceed),
    /// inline when not (an untagged client reads strictly in order anyway).
    async fn start(&self, job: Job, tag: Option<Word>) {
        let cancel = self.end.child_token();
        let queue = self.queue.clone();
        match tag {
            Some(tag) => {
                self.running
                    .lock()
                    .expect("running map")
                    .insert(tag.clone(), cancel.clone());
                let running = self.running.clone();
                tokio::spawn(async move {
                    job.run(&queue, Some(&tag), &cancel).await;
                    running.lock().expect("running map").remove(&tag);
                });
            }
            None => job.run(&queue, None, &cancel).await,
        }
    }
}

fn fatal(reason: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [&b"!fatal"[..], reason.as_bytes()] {
        encode_length(word.len(), &mut out).expect("short word");
        out.extend_from_slice(word);
    }
    out.push(0);
    out
}

enum Outcome {
    Done(Option<String>),
    Rows(Vec<Props>),
    Listen(tokio::sync::broadcast::Receiver<super::state::Change>),
}

enum Job {
    Rows {
        rows: Vec<Props>,
        empty: bool,
    },
    Listen {
        menu: &'static MenuSpec,
        changes: tokio::sync::broadcast::Receiver<super::state::Change>,
    },
}

impl Job {
    async fn run(
        self,
        queue: &mpsc::Sender<Vec<u8>>,
        tag: Option<&[u8]>,
        cancel: &CancellationToken,
    ) {
        let interrupted = || async {
            let refusal = SimTrap::with_category("interrupted", 2);
            let _ = queue.send(trap(&refusal, tag)).await;
            let _ = queue.send(reply("!done", &[], tag)).await;
        };
        match self {
            Job::Rows { rows, empty } => {
                for props in rows {
                    tokio::select! {
                        _ = cancel.cancelled() => return interrupted().await,
                        sent = queue.send(row(&props, &[], tag)) => if sent.is_err() { return },
                    }
                }
                if empty {
                    let _ = queue.send(reply("!empty", &[], tag)).await;
                }
                let _ = queue.send(reply("!done", &[], tag)).await;
            }
            Job::Listen { menu, mut changes } => loop {
                tokio::select! {
                    _ = cancel.cancelled() => return interrupted().await,
                    change = changes.recv() => match change {
                        Ok(change) if change.menu == menu.path => {
                            let dead: &[(&str, &[u8])] = if change.dead { &[(".dead", b"yes")] } else { &[] };
                            if queue.send(row(&change.props, dead, tag)).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                }
            },
        }
    }
}
