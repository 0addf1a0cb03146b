//! A RADIUS load generator on loopback, built on the `sitebox-radius` codec: PAP
//! Access-Requests with Message-Authenticator and Accounting-Request Start/Stop pairs, each
//! reply checked (Response Authenticator and Message-Authenticator).
//!
//! Two shapes of load:
//! - closed loop: N workers, each with its own socket (its own source port), send a request and
//!   wait for its reply before sending the next; the rate reached is the server's throughput at
//!   that concurrency;
//! - open loop: requests leave at a fixed rate whatever the replies do (a pacing thread sends,
//!   tokio tasks receive), spread over several sockets with distinct identifiers, so latency is
//!   measured at a given load rather than at saturation.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sitebox_radius::auth::pap;
use sitebox_radius::crypto::{sign_access_request, sign_request, verify_reply};
use sitebox_radius::dictionary::attr;
use sitebox_radius::{Attribute, Code, Packet, Secret};
use tokio::net::UdpSocket;

/// The open loop reuses a source port and identifier no sooner than this (FreeRADIUS keeps an
/// answered request for `cleanup_delay`, 5 s, to catch duplicates).
pub const ID_REUSE_AFTER: Duration = Duration::from_secs(6);

/// How long a request may wait for its reply before it counts as lost.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// A server under load: where to send and the shared secret.
#[derive(Debug, Clone)]
pub struct Target {
    /// Access-Request port.
    pub auth: SocketAddr,
    /// Accounting-Request port.
    pub acct: SocketAddr,
    /// The shared secret.
    pub secret: Secret,
}

/// A user the server knows: User-Name and cleartext password.
#[derive(Debug, Clone)]
pub struct Login {
    /// User-Name.
    pub name: String,
    /// Its password.
    pub password: String,
}

/// What is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// PAP Access-Requests for random users; an Access-Accept is a success.
    Auth,
    /// Accounting-Request Start then Stop for a new session of a random user; each
    /// Accounting-Response is one accounting write.
    Acct,
}

/// What came back.
#[derive(Clone, Default)]
pub struct Outcome {
    /// Requests sent.
    pub sent: u64,
    /// Access-Accept or Accounting-Response, checked.
    pub ok: u64,
    /// Access-Reject (checked), or any other code.
    pub refused: u64,
    /// Replies whose authenticators did not check.
    pub bad: u64,
    /// Requests with no reply within the timeout.
    pub lost: u64,
    /// How long sending lasted.
    pub elapsed: Duration,
    /// Request-to-reply times of the successes, sorted.
    pub latencies: Vec<Duration>,
}

impl std::fmt::Debug for Outcome {
    // The latencies are summed up: there can be hundreds of thousands.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome")
            .field("sent", &self.sent)
            .field("ok", &self.ok)
            .field("refused", &self.refused)
            .field("bad", &self.bad)
            .field("lost", &self.lost)
            .field("elapsed", &self.elapsed)
            .field("p50", &self.percentile(50.0))
            .field("p99", &self.percentile(99.0))
            .finish_non_exhaustive()
    }
}

impl Outcome {
    /// Successful replies per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Requests sent per second.
    pub fn offered(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The `p`-th percentile (0–100) of the latencies; zero when there are none.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }

    fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.refused += other.refused;
        self.bad += other.bad;
        self.lost += other.lost;
        self.latencies.extend(other.latencies);
    }

    fn finish(mut self, elapsed: Duration) -> Self {
        self.elapsed = elapsed;
        self.latencies.sort_unstable();
        self
    }
}

/// A request ready to send, with what its reply is checked against.
struct Request {
    bytes: Vec<u8>,
    code: Code,
    authenticator: [u8; 16],
}

/// The MAC a NAS would report for user number `n`.
fn mac_of(n: usize) -> String {
    format!("02-00-00-00-{:02X}-{:02X}", (n >> 8) & 0xff, n & 0xff)
}

fn attribute(result: Result<Attribute, sitebox_radius::attribute::ValueTooLong>) -> Attribute {
    result.expect("attribute values in the load fit")
}

/// A PAP Access-Request with Message-Authenticator, as a MikroTik hotspot sends it.
fn access_request(identifier: u8, users: &[Login], secret: &Secret) -> Request {
    let n = fastrand::usize(..users.len());
    let user = &users[n];
    let authenticator = fastrand::u128(..).to_be_bytes();
    let mut packet = Packet::new(Code::AccessRequest, identifier, authenticator);
    packet.push(attribute(Attribute::text(attr::USER_NAME, &user.name)));
    packet.push(attribute(Attribute::new(
        attr::USER_PASSWORD,
        pap::encrypt(user.password.as_bytes(), &authenticator, secret),
    )));
    packet.push(Attribute::ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::LOCALHOST));
    packet.push(Attribute::integer(attr::NAS_PORT, n as u32));
    packet.push(attribute(Attribute::text(
        attr::CALLING_STATION_ID,
        &mac_of(n),
    )));
    let bytes = sign_access_request(&packet, secret).expect("Access-Request fits");
    Request {
        bytes,
        code: Code::AccessRequest,
        authenticator,
    }
}

/// An Accounting-Request Start or Stop of session `session` for user number `n`.
fn accounting_request(
    identifier: u8,
    users: &[Login],
    n: usize,
    session: &str,
    stop: bool,
    secret: &Secret,
) -> Request {
    let mut packet = Packet::new(Code::AccountingRequest, identifier, [0; 16]);
    packet.push(Attribute::integer(
        attr::ACCT_STATUS_TYPE,
        if stop { 2 } else { 1 },
    ));
    packet.push(attribute(Attribute::text(attr::ACCT_SESSION_ID, session)));
    packet.push(attribute(Attribute::text(attr::USER_NAME, &users[n].name)));
    packet.push(Attribute::ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::LOCALHOST));
    packet.push(Attribute::integer(attr::NAS_PORT, n as u32));
    packet.push(Attribute::ipv4(
        attr::FRAMED_IP_ADDRESS,
        Ipv4Addr::new(10, 5, (n >> 8) as u8, n as u8),
    ));
    packet.push(attribute(Attribute::text(
        attr::CALLING_STATION_ID,
        &mac_of(n),
    )));
    if stop {
        packet.push(Attribute::integer(attr::ACCT_SESSION_TIME, 60));
        packet.push(Attribute::integer(attr::ACCT_INPUT_OCTETS, 123_456));
        packet.push(Attribute::integer(attr::ACCT_OUTPUT_OCTETS, 654_321));
        // User-Request.
        packet.push(Attribute::integer(attr::ACCT_TERMINATE_CAUSE, 1));
    }
    let bytes = sign_request(&packet, secret).expect("Accounting-Request fits");
    let mut authenticator = [0; 16];
    authenticator.copy_from_slice(&bytes[4..20]);
    Request {
        bytes,
        code: Code::AccountingRequest,
        authenticator,
    }
}

/// How a reply to `request` is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Refused,
    Bad,
}

fn judge(reply: &[u8], code: Code, authenticator: &[u8; 16], secret: &Secret) -> Verdict {
    if verify_reply(reply, code, authenticator, secret).is_err() {
        return Verdict::Bad;
    }
    let wanted = match code {
        Code::AccessRequest => Code::AccessAccept,
        _ => Code::AccountingResponse,
    };
    match Code::from_u8(reply[0]) {
        Some(got) if got == wanted => Verdict::Ok,
        _ => Verdict::Refused,
    }
}

/// `concurrency` workers, each on its own socket, send for `duration` and wait for each reply.
pub async fn closed_loop(
    target: &Target,
    users: Arc<Vec<Login>>,
    load: Load,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let (users, secret) = (users.clone(), target.secret.clone());
        let server = match load {
            Load::Auth => target.auth,
            Load::Acct => target.acct,
        };
        workers.push(tokio::spawn(async move {
            let mut socket = fresh_socket(server).await;
            let mut outcome = Outcome::default();
            let mut buffer = vec![0u8; 4096];
            let mut identifier = 0u8;
            let mut session = 0u64;
            while Instant::now() < deadline {
                // A NAS takes a new source port before an identifier comes round again:
                // servers (FreeRADIUS among them) treat a packet with the source port and
                // identifier of one answered in the last few seconds as a duplicate.
                if identifier >= 254 {
                    socket = fresh_socket(server).await;
                    identifier = 0;
                }
                let requests = match load {
                    Load::Auth => vec![access_request(identifier, &users, &secret)],
                    Load::Acct => {
                        session += 1;
                        let n = fastrand::usize(..users.len());
                        let id = format!("W{worker}-{session}");
                        let start = accounting_request(identifier, &users, n, &id, false, &secret);
                        identifier = identifier.wrapping_add(1);
                        let stop = accounting_request(identifier, &users, n, &id, true, &secret);
                        vec![start, stop]
                    }
                };
                for request in requests {
                    identifier = identifier.wrapping_add(1);
                    exchange(&socket, &request, &secret, &mut buffer, &mut outcome).await;
                }
            }
            outcome
        }));
    }
    let mut total = Outcome::default();
    for worker in workers {
        total.merge(worker.await.expect("load worker"));
    }
    total.finish(duration)
}

async fn fresh_socket(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.connect(server).await.expect("connect");
    socket
}

/// Sends one request and waits for the reply with its identifier.
async fn exchange(
    socket: &UdpSocket,
    request: &Request,
    secret: &Secret,
    buffer: &mut [u8],
    outcome: &mut Outcome,
) {
    let sent = Instant::now();
    outcome.sent += 1;
    if socket.send(&request.bytes).await.is_err() {
        outcome.lost += 1;
        return;
    }
    let identifier = request.bytes[1];
    let wait_until = sent + REPLY_TIMEOUT;
    loop {
        let received = tokio::time::timeout_at(wait_until.into(), socket.recv(buffer)).await;
        let Ok(Ok(len)) = received else {
            outcome.lost += 1;
            return;
        };
        // A late reply to an earlier (lost) request: not this one.
        if len < 20 || buffer[1] != identifier {
            continue;
        }
        match judge(&buffer[..len], request.code, &request.authenticator, secret) {
            Verdict::Ok => {
                outcome.ok += 1;
                outcome.latencies.push(sent.elapsed());
            }
            Verdict::Refused => outcome.refused += 1,
            Verdict::Bad => outcome.bad += 1,
        }
        return;
    }
}

/// A request in flight in the open loop: when it left and what the reply is checked against.
struct InFlight {
    sent: Instant,
    code: Code,
    authenticator: [u8; 16],
}

/// One socket of the open loop: its requests in flight, by identifier.
struct Lane {
    socket: std::net::UdpSocket,
    in_flight: Mutex<Vec<Option<InFlight>>>,
    outcome: Mutex<Outcome>,
}

/// Access-Requests at `rate` per second for `duration`, over enough sockets that a source port
/// and identifier come round again only after [`ID_REUSE_AFTER`] (servers treat a packet that
/// repeats them within a few seconds as a duplicate).
pub async fn open_loop(
    target: &Target,
    users: Arc<Vec<Login>>,
    rate: u32,
    duration: Duration,
) -> Outcome {
    let sockets = ((f64::from(rate) * ID_REUSE_AFTER.as_secs_f64() / 256.0).ceil() as usize).max(1);
    let mut lanes = Vec::with_capacity(sockets);
    let mut receivers = Vec::with_capacity(sockets);
    let done = Arc::new(AtomicBool::new(false));
    for _ in 0..sockets {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.connect(target.auth).expect("connect");
        let receive = socket.try_clone().expect("clone socket");
        receive.set_nonblocking(true).expect("nonblocking");
        let lane = Arc::new(Lane {
            socket,
            in_flight: Mutex::new((0..256).map(|_| None).collect()),
            outcome: Mutex::new(Outcome::default()),
        });
        let receive = UdpSocket::from_std(receive).expect("tokio socket");
        let (lane_in_task, secret, done) = (lane.clone(), target.secret.clone(), done.clone());
        receivers.push(tokio::spawn(async move {
            receive_lane(receive, &lane_in_task, &secret, &done).await;
        }));
        lanes.push(lane);
    }
    // Sending is paced by a thread of its own: its sleeps are precise to tens of microseconds,
    // where tokio's timers tick in milliseconds.
    let pacer = {
        let (lanes, secret) = (lanes.clone(), target.secret.clone());
        std::thread::spawn(move || pace(&lanes, &users, &secret, rate, duration))
    };
    let elapsed = tokio::task::spawn_blocking(move || pacer.join().expect("pacer"))
        .await
        .expect("pacer thread");
    // The last replies: until none is outstanding, or the reply timeout.
    let waited = Instant::now();
    while waited.elapsed() < REPLY_TIMEOUT
        && lanes.iter().any(|lane| {
            lane.in_flight
                .lock()
                .expect("in flight")
                .iter()
                .any(Option::is_some)
        })
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::Release);
    let mut total = Outcome::default();
    for receiver in receivers {
        receiver.abort();
        let _ = receiver.await;
    }
    for lane in &lanes {
        let mut outcome = std::mem::take(&mut *lane.outcome.lock().expect("outcome"));
        outcome.lost += lane
            .in_flight
            .lock()
            .expect("in flight")
            .iter()
            .filter(|slot| slot.is_some())
            .count() as u64;
        total.merge(outcome);
    }
    total.finish(elapsed)
}

/// Sends Access-Requests on the lanes in turn at `rate` per second; returns how long it took.
fn pace(
    lanes: &[Arc<Lane>],
    users: &[Login],
    secret: &Secret,
    rate: u32,
    duration: Duration,
) -> Duration {
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now();
    let mut identifiers = vec![0u8; lanes.len()];
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let index = (i % lanes.len() as u64) as usize;
        let lane = &lanes[index];
        let identifier = identifiers[index];
        identifiers[index] = identifier.wrapping_add(1);
        let request = access_request(identifier, users, secret);
        let mut outcome = lane.outcome.lock().expect("outcome");
        outcome.sent += 1;
        {
            let mut in_flight = lane.in_flight.lock().expect("in flight");
            // The identifier comes round again only after 256 requests on this lane: one still
            // unanswered by then is lost.
            if in_flight[usize::from(identifier)].is_some() {
                outcome.lost += 1;
            }
            in_flight[usize::from(identifier)] = Some(InFlight {
                sent: Instant::now(),
                code: request.code,
                authenticator: request.authenticator,
            });
        }
        drop(outcome);
        if lane.socket.send(&request.bytes).is_err() {
            lane.in_flight.lock().expect("in flight")[usize::from(identifier)] = None;
            lane.outcome.lock().expect("outcome").lost += 1;
        }
    }
    start.elapsed()
}

async fn receive_lane(socket: UdpSocket, lane: &Lane, secret: &Secret, done: &AtomicBool) {
    let mut buffer = vec![0u8; 4096];
    while !done.load(Ordering::Acquire) {
        let Ok(len) = socket.recv(&mut buffer).await else {
            continue;
        };
        let received = Instant::now();
        if len < 20 {
            continue;
        }
        let Some(request) =
            lane.in_flight.lock().expect("in flight")[usize::from(buffer[1])].take()
        else {
            continue;
        };
        let verdict = judge(&buffer[..len], request.code, &request.authenticator, secret);
        let mut outcome = lane.outcome.lock().expect("outcome");
        match verdict {
            Verdict::Ok => {
                outcome.ok += 1;
                outcome.latencies.push(received - request.sent);
            }
            Verdict::Refused => outcome.refused += 1,
            Verdict::Bad => outcome.bad += 1,
        }
    }
}
