//! One simulated MikroTik as the box sees it over RADIUS: a NAS that sends Access-Requests
//! (PAP or CHAP, with Message-Authenticator) and accounting from its own loopback address, and
//! answers Disconnect-Requests (RFC 5176) on its CoA port, recording each one for the oracle.
//! Its RouterOS API side is the in-process simulator, switched off with the router. A customer
//! may instead log in on the simulator's login page ([`Nas::login_via_router`]): the simulated
//! RouterOS decides (a local user, or RADIUS to the box from the router's address) and says
//! who did.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sitebox_radius::auth::{chap, pap};
use sitebox_radius::crypto::{MessageAuthenticator, sign_access_request, sign_reply, sign_request};
use sitebox_radius::crypto::{verify_reply, verify_request};
use sitebox_radius::dictionary::attr;
use sitebox_radius::{Attribute, Code, Packet, Secret};
use sitebox_routeros::sim::{DecidedBy, HotspotAuth, HotspotLogin, SimHandle, TerminateCause};
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::clock::SimClock;

/// How a hotspot client proves its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// User-Password.
    Pap,
    /// CHAP-Password with a CHAP-Challenge (the MikroTik hotspot default).
    Chap,
}

/// The box's answer to an Access-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// Access-Accept with its Session-Timeout (seconds) and Acct-Interim-Interval.
    Accept {
        /// Session-Timeout.
        session_timeout: Option<u32>,
        /// Acct-Interim-Interval.
        interim: Option<u32>,
    },
    /// Access-Reject with its Reply-Message.
    Reject(String),
    /// No (valid) answer after every retransmit.
    NoAnswer,
}

/// Acct-Status-Type values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcctStatus {
    /// Start.
    Start,
    /// Interim-Update.
    Interim,
    /// Stop with an Acct-Terminate-Cause.
    Stop(u32),
    /// Accounting-On (the router came up).
    On,
}

/// Acct-Terminate-Cause User-Request.
pub const USER_REQUEST: u32 = 1;
/// Acct-Terminate-Cause Admin-Reset.
pub const ADMIN_RESET: u32 = 6;

/// One accounting record as the router sends it.
#[derive(Debug, Clone)]
pub struct AcctRecord {
    /// Acct-Status-Type.
    pub status: AcctStatus,
    /// User-Name.
    pub user: String,
    /// Acct-Session-Id.
    pub session: String,
    /// Calling-Station-Id.
    pub mac: String,
    /// Framed-IP-Address.
    pub ip: Ipv4Addr,
    /// Acct-Session-Time.
    pub seconds: u32,
    /// Acct-Input-Octets.
    pub input: u32,
    /// Acct-Output-Octets.
    pub output: u32,
}

/// A Disconnect-Request the router received.
#[derive(Debug, Clone)]
pub struct DisconnectSeen {
    /// User-Name in it.
    pub user: String,
    /// Acct-Session-Id in it.
    pub session: String,
    /// Simulated time it arrived.
    pub at: i64,
    /// Whether it was ACKed (the session was there) or NAKed.
    pub acked: bool,
}

/// One simulated router.
#[derive(Debug)]
pub struct Nas {
    /// 0-based index.
    pub index: usize,
    /// Router name in the box.
    pub name: String,
    /// Its address (RADIUS source, CoA destination).
    pub ip: Ipv4Addr,
    /// Its CoA port.
    pub coa_port: u16,
    /// Its RouterOS API port (on `ip`).
    pub api_port: u16,
    secret: Secret,
    auth: SocketAddr,
    acct: SocketAddr,
    up: AtomicBool,
    epoch: watch::Sender<u64>,
    cut_notices: Mutex<HashMap<String, oneshot::Sender<i64>>>,
    disconnects: Mutex<Vec<DisconnectSeen>>,
    in_flight: Semaphore,
    next_session: AtomicU64,
    api: SimHandle,
}

/// Timeouts of the router's RADIUS client.
const TIMEOUT: Duration = Duration::from_millis(1500);
const TRIES: u32 = 3;

impl Nas {
    /// A router at `ip` talking to the box's `auth`/`acct` ports; its CoA socket is `coa`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        name: &str,
        ip: Ipv4Addr,
        secret: &str,
        auth: SocketAddr,
        acct: SocketAddr,
        coa_port: u16,
        api_port: u16,
        api: SimHandle,
    ) -> Self {
        Self {
            index,
            name: name.to_string(),
            ip,
            coa_port,
            api_port,
            secret: Secret::from(secret),
            auth,
            acct,
            up: AtomicBool::new(true),
            epoch: watch::Sender::new(0),
            cut_notices: Mutex::new(HashMap::new()),
            disconnects: Mutex::new(Vec::new()),
            // A NAS has a bounded number of requests outstanding.
            in_flight: Semaphore::new(256),
            next_session: AtomicU64::new(1),
            api,
        }
    }

    /// Whether the router is powered.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Power off: every session on it is gone without a Stop, its CoA port and API go silent.
    pub fn power_off(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.api.set_refuse(true);
        self.api.set_stall(true);
        self.cut_notices.lock().expect("notices").clear();
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Power on: the API answers again; the caller sends Accounting-On.
    pub fn power_on(&self) {
        self.api.set_stall(false);
        self.api.set_refuse(false);
        self.up.store(true, Ordering::SeqCst);
    }

    /// Changes each time the router loses its sessions.
    pub fn epoch(&self) -> watch::Receiver<u64> {
        self.epoch.subscribe()
    }

    /// A new Acct-Session-Id on this router.
    pub fn new_session_id(&self) -> String {
        format!(
            "{}-{:08X}",
            self.index + 1,
            self.next_session.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Register an open session: a Disconnect-Request for it is ACKed and reported on the
    /// returned channel (with the simulated time it arrived).
    pub fn watch_session(&self, session: &str) -> oneshot::Receiver<i64> {
        let (send, receive) = oneshot::channel();
        self.cut_notices
            .lock()
            .expect("notices")
            .insert(session.to_string(), send);
        receive
    }

    /// The session ended on the router's side (logout or Stop sent).
    pub fn forget_session(&self, session: &str) {
        self.cut_notices.lock().expect("notices").remove(session);
    }

    /// The Disconnect-Requests received so far.
    pub fn disconnects(&self) -> Vec<DisconnectSeen> {
        self.disconnects.lock().expect("disconnects").clone()
    }

    /// Sends an Access-Request; returns the answer and the time from the first send to it.
    pub async fn authenticate(
        &self,
        user: &str,
        password: &str,
        method: Method,
        mac: &str,
    ) -> (AuthAnswer, Duration) {
        let authenticator: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
        let mut packet = Packet::new(Code::AccessRequest, fastrand::u8(..), authenticator);
        packet.push(Attribute::text(attr::USER_NAME, user).expect("name"));
        match method {
            Method::Pap => packet.push(
                Attribute::new(
                    attr::USER_PASSWORD,
                    pap::encrypt(password.as_bytes(), &authenticator, &self.secret),
                )
                .expect("password"),
            ),
            Method::Chap => {
                let challenge: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
                let ident = fastrand::u8(..);
                let proof = chap::response(ident, &challenge, password.as_bytes());
                packet.push(Attribute::new(attr::CHAP_PASSWORD, proof.to_vec()).expect("chap"));
                packet
                    .push(Attribute::new(attr::CHAP_CHALLENGE, challenge.to_vec()).expect("chap"));
            }
        }
        self.push_nas(&mut packet);
        packet.push(Attribute::text(attr::CALLING_STATION_ID, mac).expect("mac"));
        packet.push(Attribute::integer(attr::NAS_PORT_TYPE, 19));
        let bytes = sign_access_request(&packet, &self.secret).expect("encode");
        let started = Instant::now();
        let Some(reply) = self.exchange(&bytes, self.auth).await else {
            return (AuthAnswer::NoAnswer, started.elapsed());
        };
        let latency = started.elapsed();
        if verify_reply(&reply, Code::AccessRequest, &authenticator, &self.secret)
            != Ok(MessageAuthenticator::Valid)
        {
            return (AuthAnswer::NoAnswer, latency);
        }
        let Ok(reply) = Packet::decode(&reply) else {
            return (AuthAnswer::NoAnswer, latency);
        };
        let answer = match reply.code {
            Code::AccessAccept => AuthAnswer::Accept {
                session_timeout: reply.get(attr::SESSION_TIMEOUT).and_then(Attribute::as_u32),
                interim: reply
                    .get(attr::ACCT_INTERIM_INTERVAL)
                    .and_then(Attribute::as_u32),
            },
            Code::AccessReject => AuthAnswer::Reject(
                reply
                    .get(attr::REPLY_MESSAGE)
                    .and_then(Attribute::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => AuthAnswer::NoAnswer,
        };
        (answer, latency)
    }

    /// Logs in on the router's hotspot login page (`http-chap` or `http-pap` as `method`): the
    /// simulated RouterOS decides, with a local user or by asking the box over RADIUS. Returns
    /// the answer as the NAS model reads it, who decided, and the time to the decision. The
    /// router's own session is ended at once (its hotspot profile sends no accounting): the
    /// session the box accounts is the one [`Nas::account`] runs.
    pub async fn login_via_router(
        &self,
        user: &str,
        password: &str,
        method: Method,
        mac: &str,
        ip: Ipv4Addr,
    ) -> (AuthAnswer, Duration, DecidedBy) {
        let mut login = HotspotLogin::new(user, password, mac, ip);
        login.auth = match method {
            Method::Pap => HotspotAuth::HttpPap,
            Method::Chap => HotspotAuth::HttpChap,
        };
        let started = Instant::now();
        let result = self.api.login_hotspot(login).await;
        let latency = started.elapsed();
        match result {
            Ok(login) => {
                let session_timeout = self
                    .api
                    .sessions()
                    .into_iter()
                    .find(|s| s.id == login.id)
                    .and_then(|s| s.time_left)
                    .map(|left| u32::try_from(left.as_secs()).unwrap_or(u32::MAX));
                self.api.logout(&login.id, TerminateCause::UserRequest);
                let answer = AuthAnswer::Accept {
                    session_timeout,
                    interim: None,
                };
                (answer, latency, login.decided_by)
            }
            Err(refused) if refused.decided_by == DecidedBy::RadiusSilent => {
                (AuthAnswer::NoAnswer, latency, refused.decided_by)
            }
            Err(refused) => (
                AuthAnswer::Reject(refused.message),
                latency,
                refused.decided_by,
            ),
        }
    }

    /// Sends an Accounting-Request; true when the box acknowledged it.
    pub async fn account(&self, record: &AcctRecord) -> bool {
        let mut packet = Packet::new(Code::AccountingRequest, fastrand::u8(..), [0; 16]);
        let status = match record.status {
            AcctStatus::Start => 1,
            AcctStatus::Stop(_) => 2,
            AcctStatus::Interim => 3,
            AcctStatus::On => 7,
        };
        packet.push(Attribute::integer(attr::ACCT_STATUS_TYPE, status));
        self.push_nas(&mut packet);
        if record.status != AcctStatus::On {
            packet.push(Attribute::text(attr::USER_NAME, &record.user).expect("name"));
            packet.push(Attribute::text(attr::ACCT_SESSION_ID, &record.session).expect("id"));
            packet.push(Attribute::text(attr::CALLING_STATION_ID, &record.mac).expect("mac"));
            packet.push(Attribute::ipv4(attr::FRAMED_IP_ADDRESS, record.ip));
            packet.push(Attribute::integer(attr::ACCT_SESSION_TIME, record.seconds));
            packet.push(Attribute::integer(attr::ACCT_INPUT_OCTETS, record.input));
            packet.push(Attribute::integer(attr::ACCT_OUTPUT_OCTETS, record.output));
        }
        if let AcctStatus::Stop(cause) = record.status {
            packet.push(Attribute::integer(attr::ACCT_TERMINATE_CAUSE, cause));
        }
        let bytes = sign_request(&packet, &self.secret).expect("encode");
        let authenticator: [u8; 16] = bytes[4..20].try_into().expect("authenticator");
        let Some(reply) = self.exchange(&bytes, self.acct).await else {
            return false;
        };
        verify_reply(
            &reply,
            Code::AccountingRequest,
            &authenticator,
            &self.secret,
        ) == Ok(MessageAuthenticator::Valid)
            && reply.first() == Some(&Code::AccountingResponse.as_u8())
    }

    fn push_nas(&self, packet: &mut Packet) {
        packet.push(Attribute::ipv4(attr::NAS_IP_ADDRESS, self.ip));
        packet.push(Attribute::text(attr::NAS_IDENTIFIER, &self.name).expect("identifier"));
    }

    /// Sends `bytes` from this router's address and waits for a reply, retransmitting the same
    /// bytes on timeout as a NAS does.
    async fn exchange(&self, bytes: &[u8], to: SocketAddr) -> Option<Vec<u8>> {
        if !self.is_up() {
            return None;
        }
        let _permit = self.in_flight.acquire().await.ok()?;
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(self.ip), 0))
            .await
            .ok()?;
        let mut buffer = vec![0u8; 4096];
        for _ in 0..TRIES {
            socket.send_to(bytes, to).await.ok()?;
            let deadline = tokio::time::Instant::now() + TIMEOUT;
            loop {
                match tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await {
                    Ok(Ok((n, from))) if from == to && n >= 20 && buffer[1] == bytes[1] => {
                        return Some(buffer[..n].to_vec());
                    }
                    Ok(Ok(_)) => {}
                    // ICMP port unreachable while the box is down: wait out the timeout.
                    Ok(Err(_)) => {
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        None
    }

    /// Answers Disconnect-Requests on `socket` until `stop`: ACK for a session it has (and the
    /// session's holder is told), NAK (Session-Context-Not-Found) otherwise; silent while off.
    pub async fn serve_coa(
        self: Arc<Self>,
        socket: UdpSocket,
        clock: SimClock,
        stop: CancellationToken,
    ) {
        let mut buffer = vec![0u8; 4096];
        loop {
            let (n, from) = tokio::select! {
                () = stop.cancelled() => return,
                received = socket.recv_from(&mut buffer) => match received {
                    Ok(received) => received,
                    Err(_) => continue,
                },
            };
            if !self.is_up() {
                continue;
            }
            let bytes = &buffer[..n];
            let Ok(request) = Packet::decode(bytes) else {
                continue;
            };
            if request.code != Code::DisconnectRequest
                || verify_request(bytes, &request, &self.secret) != Ok(MessageAuthenticator::Valid)
            {
                continue;
            }
            let text = |kind| {
                request
                    .get(kind)
                    .and_then(Attribute::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let (user, session) = (text(attr::USER_NAME), text(attr::ACCT_SESSION_ID));
            let at = clock.now();
            let holder = self.cut_notices.lock().expect("notices").remove(&session);
            let acked = holder.is_some_and(|holder| holder.send(at).is_ok());
            let mut reply = Packet::new(
                if acked {
                    Code::DisconnectAck
                } else {
                    Code::DisconnectNak
                },
                request.identifier,
                [0; 16],
            );
            if !acked {
                // Session-Context-Not-Found.
                reply.push(Attribute::integer(attr::ERROR_CAUSE, 503));
            }
            self.disconnects
                .lock()
                .expect("disconnects")
                .push(DisconnectSeen {
                    user,
                    session,
                    at,
                    acked,
                });
            if let Ok(reply) = sign_reply(&reply, &request, &self.secret) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    }
}
