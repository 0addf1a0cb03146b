//! What the simulated router does at run time: active hotspot and PPP sessions (counters,
//! timeouts, limits, the dynamic queue of a rate limit), their accounting records, and the
//! effects (RADIUS accounting to send, probes to run) that wait for the state lock to be let go.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use sitebox_radius::Attribute;
use sitebox_radius::dictionary::{attr, mikrotik, vendor};

use super::menus::MenuSpec;
use super::netwatch::{NetwatchRun, WatchState};
use super::radius::{AcctJob, RadiusServer};
use super::script::Value;
use super::state::{RouterState, SimTrap};
use super::time;

/// Which kind of login a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionKind {
    /// A hotspot login (`/ip/hotspot/active`).
    Hotspot,
    /// A PPPoE login (`/ppp/active`).
    Ppp,
}

impl SessionKind {
    /// The menu that lists these sessions.
    pub fn menu(self) -> &'static str {
        match self {
            Self::Hotspot => "/ip/hotspot/active",
            Self::Ppp => "/ppp/active",
        }
    }
}

/// Why a session ended: RFC 2866 §5.10 Acct-Terminate-Cause, as RouterOS sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminateCause {
    /// The user logged out (the hotspot logout page, a PPP client hanging up).
    UserRequest,
    /// The client went away (keepalive timeout, PPPoE link lost).
    LostCarrier,
    /// Idle-Timeout.
    IdleTimeout,
    /// Session-Timeout, and a local user's `limit-uptime`.
    SessionTimeout,
    /// Removed from the active menu, or a Disconnect-Request.
    AdminReset,
    /// The router was rebooted from its menu.
    AdminReboot,
    /// A traffic limit was reached.
    NasRequest,
}

impl TerminateCause {
    /// The attribute value.
    pub fn value(self) -> u32 {
        match self {
            Self::UserRequest => 1,
            Self::LostCarrier => 2,
            Self::IdleTimeout => 4,
            Self::SessionTimeout => 5,
            Self::AdminReset => 6,
            Self::AdminReboot => 7,
            Self::NasRequest => 10,
        }
    }
}

/// Acct-Status-Type of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcctStatus {
    /// Start.
    Start,
    /// Interim-Update.
    Interim,
    /// Stop with its cause.
    Stop(TerminateCause),
}

impl AcctStatus {
    fn value(self) -> u32 {
        match self {
            Self::Start => 1,
            Self::Stop(_) => 2,
            Self::Interim => 3,
        }
    }
}

/// One active session's run-time data (its row in the active menu shows part of it).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub kind: SessionKind,
    /// The row's id in the active menu.
    pub item: u32,
    /// Hotspot server name, or PPPoE service name (Called-Station-Id).
    pub server: String,
    /// NAS-Port-Id: the hotspot or PPPoE server's interface.
    pub interface: String,
    pub user: String,
    /// Upper case, colon separated.
    pub mac: String,
    pub ip: Ipv4Addr,
    /// NAS-Port; Acct-Session-Id is its 8 hex digits.
    pub acct_id: u32,
    pub started_ms: i64,
    pub last_activity_ms: i64,
    /// From the client (upload): Acct-Input-*.
    pub bytes_in: u64,
    /// To the client (download): Acct-Output-*.
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Decided by RADIUS (the `R` flag) rather than a local record.
    pub radius: bool,
    pub login_by: String,
    /// When the session ends by time (Session-Timeout, profile session-timeout, limit-uptime).
    pub deadline_ms: Option<i64>,
    pub idle_timeout: Option<Duration>,
    /// Byte allowances of this session, counted on its own counters.
    pub limit_in: Option<u64>,
    pub limit_out: Option<u64>,
    pub limit_total: Option<u64>,
    pub rate_limit: Option<String>,
    /// The `/queue/simple` row the rate limit made.
    pub queue: Option<u32>,
    pub interim: Option<Duration>,
    pub next_interim_ms: Option<i64>,
    pub class: Vec<Vec<u8>>,
    /// Whether Start/Interim/Stop go to RADIUS.
    pub accounting: bool,
    /// The local hotspot user whose cumulative counters the session adds to when it ends.
    pub local_user: Option<u32>,
    /// NAS-Port-Type value.
    pub nas_port_type: u32,
    /// The RADIUS entries for this session's service when it started (accounting goes there).
    pub servers: Vec<RadiusServer>,
}

impl Session {
    /// The Acct-Session-Id.
    pub(crate) fn acct_session_id(&self) -> String {
        format!("{:08x}", self.acct_id)
    }

    fn uptime(&self, now: i64) -> Duration {
        Duration::from_millis(u64::try_from(now - self.started_ms).unwrap_or(0))
    }

    /// The attributes that name the session and the NAS, in the order a RouterOS 7 hotspot
    /// sends them (a FreeRADIUS capture: NAS-Port-Type, Calling-Station-Id,
    /// Called-Station-Id, NAS-Port-Id, User-Name, NAS-Port, Acct-Session-Id,
    /// Framed-IP-Address, Mikrotik-Host-IP); PPP puts Service-Type and Framed-Protocol first.
    pub(crate) fn identity_attributes(&self) -> Vec<Attribute> {
        let mut out = Vec::new();
        if self.kind == SessionKind::Ppp {
            out.push(Attribute::integer(attr::SERVICE_TYPE, 2));
            out.push(Attribute::integer(attr::FRAMED_PROTOCOL, 1));
        }
        out.push(Attribute::integer(attr::NAS_PORT_TYPE, self.nas_port_type));
        out.extend(text(attr::CALLING_STATION_ID, &self.mac));
        out.extend(text(attr::CALLED_STATION_ID, &self.server));
        out.extend(text(attr::NAS_PORT_ID, &self.interface));
        out.extend(text(attr::USER_NAME, &self.user));
        out.push(Attribute::integer(attr::NAS_PORT, self.acct_id));
        out.extend(text(attr::ACCT_SESSION_ID, &self.acct_session_id()));
        // A PPP client has no address until IPCP, after authentication.
        if !self.ip.is_unspecified() {
            out.push(Attribute::ipv4(attr::FRAMED_IP_ADDRESS, self.ip));
        }
        if self.kind == SessionKind::Hotspot {
            out.extend(
                Attribute::vendor(vendor::MIKROTIK, mikrotik::HOST_IP, &self.ip.octets()).ok(),
            );
        }
        out
    }

    /// An Accounting-Request's attributes (without the header), as a MikroTik sends them:
    /// identity, Acct-Authentic (PPP only), Class as received, Event-Timestamp, the counters
    /// with their Gigawords on Interim and Stop, Acct-Terminate-Cause on Stop, NAS-Identifier,
    /// Acct-Delay-Time 0, NAS-IP-Address. No Message-Authenticator.
    pub(crate) fn accounting(
        &self,
        status: AcctStatus,
        now: i64,
        nas: &NasIdentity,
    ) -> Vec<Attribute> {
        let mut out = vec![Attribute::integer(attr::ACCT_STATUS_TYPE, status.value())];
        out.extend(self.identity_attributes());
        if self.kind == SessionKind::Ppp {
            // Acct-Authentic: RADIUS 1, Local 2 ("PPPs only").
            let authentic = if self.radius { 1 } else { 2 };
            out.push(Attribute::integer(attr::ACCT_AUTHENTIC, authentic));
        }
        for class in &self.class {
            out.extend(Attribute::new(attr::CLASS, class.clone()).ok());
        }
        let seconds = u32::try_from(now.max(0) / 1000).unwrap_or(u32::MAX);
        out.push(Attribute::integer(attr::EVENT_TIMESTAMP, seconds));
        if status != AcctStatus::Start {
            let split = |n: u64| ((n & 0xffff_ffff) as u32, (n >> 32) as u32);
            let (in_low, in_high) = split(self.bytes_in);
            let (out_low, out_high) = split(self.bytes_out);
            let packets = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
            let session_time = u32::try_from(self.uptime(now).as_secs()).unwrap_or(u32::MAX);
            out.extend([
                Attribute::integer(attr::ACCT_INPUT_OCTETS, in_low),
                Attribute::integer(attr::ACCT_OUTPUT_OCTETS, out_low),
                Attribute::integer(attr::ACCT_INPUT_GIGAWORDS, in_high),
                Attribute::integer(attr::ACCT_OUTPUT_GIGAWORDS, out_high),
                Attribute::integer(attr::ACCT_INPUT_PACKETS, packets(self.packets_in)),
                Attribute::integer(attr::ACCT_OUTPUT_PACKETS, packets(self.packets_out)),
                Attribute::integer(attr::ACCT_SESSION_TIME, session_time),
            ]);
        }
        if let AcctStatus::Stop(cause) = status {
            out.push(Attribute::integer(
                attr::ACCT_TERMINATE_CAUSE,
                cause.value(),
            ));
        }
        out.extend(text(attr::NAS_IDENTIFIER, &nas.identifier));
        out.push(Attribute::integer(attr::ACCT_DELAY_TIME, 0));
        out.push(Attribute::ipv4(attr::NAS_IP_ADDRESS, nas.address));
        out
    }

    /// What a test reads about the session.
    pub(crate) fn info(&self, now: i64) -> ActiveSession {
        ActiveSession {
            id: format!("*{:X}", self.item),
            kind: self.kind,
            server: self.server.clone(),
            user: self.user.clone(),
            mac: self.mac.clone(),
            address: self.ip,
            acct_session_id: self.acct_session_id(),
            radius: self.radius,
            uptime: self.uptime(now),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            time_left: self
                .deadline_ms
                .map(|end| Duration::from_millis(u64::try_from(end - now).unwrap_or(0))),
            idle_timeout: self.idle_timeout,
            limit_bytes_total: self.limit_total,
            rate_limit: self.rate_limit.clone(),
            interim: self.interim,
        }
    }
}

fn text(kind: u8, value: &str) -> Option<Attribute> {
    Attribute::text(kind, value).ok()
}

/// How the router names itself to RADIUS.
#[derive(Debug, Clone)]
pub(crate) struct NasIdentity {
    /// NAS-Identifier: `/system/identity`.
    pub identifier: String,
    /// NAS-IP-Address.
    pub address: Ipv4Addr,
}

/// An active session as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    /// Its `.id` in the active menu.
    pub id: String,
    /// Hotspot or PPP.
    pub kind: SessionKind,
    /// Hotspot server or PPPoE service name.
    pub server: String,
    /// User name.
    pub user: String,
    /// Client MAC, upper case.
    pub mac: String,
    /// Client address.
    pub address: Ipv4Addr,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// Decided by RADIUS.
    pub radius: bool,
    /// Time since login on the router's clock.
    pub uptime: Duration,
    /// Bytes from the client.
    pub bytes_in: u64,
    /// Bytes to the client.
    pub bytes_out: u64,
    /// Time until the session ends by time, if it does.
    pub time_left: Option<Duration>,
    /// Idle timeout in force.
    pub idle_timeout: Option<Duration>,
    /// The session's total byte allowance, if any.
    pub limit_bytes_total: Option<u64>,
    /// The rate limit in force (`rx/tx`).
    pub rate_limit: Option<String>,
    /// Interim-Update interval, if interims are sent.
    pub interim: Option<Duration>,
}

/// Something to do once the state lock is released.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Send an Accounting-Request.
    Accounting(AcctJob),
    /// Run a netwatch probe.
    Probe(NetwatchRun),
}

/// The router's run-time state beside its tables.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub sessions: BTreeMap<(SessionKind, u32), Session>,
    pub effects: Vec<Effect>,
    next_session: u32,
    /// Incremented on each boot; the third hex digit of every Acct-Session-Id.
    pub boots: u32,
    /// When the router last booted, on its clock.
    pub booted_ms: i64,
    pub powered_off: bool,
    /// Hosts with a login being decided (`already authorizing`).
    pub authorizing: HashSet<Ipv4Addr>,
    next_ppp_address: u32,
    /// Netwatch entries' run-time state by id.
    pub netwatch: HashMap<u32, WatchState>,
    /// Scheduler entries' next run by id (`i64::MAX`: not again).
    pub scheduled: HashMap<u32, i64>,
    /// Script `:global` variables.
    pub globals: HashMap<String, Value>,
}

impl Live {
    /// A new Acct-Session-Id number: the service prefix, the boot digit, then a counter.
    pub(crate) fn next_acct_id(&mut self, prefix: u8) -> u32 {
        self.next_session = (self.next_session + 1) & 0xf_ffff;
        (u32::from(prefix) << 24) | ((self.boots & 0xf) << 20) | self.next_session
    }

    /// The next address a PPP client gets when neither secret nor profile names one.
    pub(crate) fn next_ppp_address(&mut self) -> Ipv4Addr {
        self.next_ppp_address = self.next_ppp_address % 65_000 + 1;
        let n = self.next_ppp_address;
        Ipv4Addr::new(10, 99, (n / 250) as u8, (n % 250 + 2) as u8)
    }
}

/// A property as text ("" when absent).
pub(crate) fn prop<'a>(props: &'a BTreeMap<String, Vec<u8>>, key: &str) -> &'a str {
    props
        .get(key)
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("")
}

/// A property as a number (0 when absent or not a number).
pub(crate) fn number(props: &BTreeMap<String, Vec<u8>>, key: &str) -> u64 {
    prop(props, key).parse().unwrap_or(0)
}

/// A property as a time (zero when absent, `none` or not a time).
pub(crate) fn duration(props: &BTreeMap<String, Vec<u8>>, key: &str) -> Duration {
    time::parse(prop(props, key)).unwrap_or_default()
}

/// `Some(t)` for a time above zero.
pub(crate) fn nonzero(value: Duration) -> Option<Duration> {
    (!value.is_zero()).then_some(value)
}

/// A MAC address as RouterOS shows it: upper case, colon separated.
pub(crate) fn mac_upper(mac: &str) -> String {
    mac.trim().replace('-', ":").to_ascii_uppercase()
}

/// NAS-Port-Type for a hotspot profile's `nas-port-type`.
pub(crate) fn nas_port_type(name: &str) -> u32 {
    match name {
        "ethernet" => 15,
        "cable" => 17,
        "async" => 0,
        "virtual" => 5,
        _ => 19,
    }
}

/// Adds a session: its row in the active menu, the dynamic queue of its rate limit, the host
/// marked authorized, and the Start record when it is accounted.
pub(crate) fn open(state: &mut RouterState, mut session: Session, now: i64, nas: &NasIdentity) {
    let menu = session.kind.menu();
    let mut props: Vec<(&str, Vec<u8>)> = Vec::new();
    let ip = session.ip.to_string();
    match session.kind {
        SessionKind::Hotspot => {
            props.extend([
                ("server", session.server.clone().into_bytes()),
                ("user", session.user.clone().into_bytes()),
                ("address", ip.clone().into_bytes()),
                ("mac-address", session.mac.clone().into_bytes()),
                ("login-by", session.login_by.clone().into_bytes()),
                ("radius", bool_text(session.radius)),
            ]);
        }
        SessionKind::Ppp => {
            props.extend([
                ("name", session.user.clone().into_bytes()),
                ("service", b"pppoe".to_vec()),
                ("caller-id", session.mac.clone().into_bytes()),
                ("address", ip.clone().into_bytes()),
                ("encoding", Vec::new()),
                ("radius", bool_text(session.radius)),
                (
                    "session-id",
                    format!("0x{:08X}", session.acct_id).into_bytes(),
                ),
            ]);
        }
    }
    let pairs: Vec<(&str, &[u8])> = props.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    let id_text = state.insert_raw(menu, &pairs);
    session.item = parse_id(&id_text).unwrap_or_default();
    if let Some(rate) = session.rate_limit.clone() {
        session.queue = Some(add_queue(state, &session, &rate));
    }
    if session.kind == SessionKind::Hotspot {
        mark_host(state, &session, true);
    }
    if session.accounting {
        queue_accounting(state, &session, AcctStatus::Start, now, nas);
    }
    if let Some(every) = session.interim {
        session.next_interim_ms = Some(now + millis(every));
    }
    state
        .live
        .sessions
        .insert((session.kind, session.item), session);
    refresh(state, now);
}

fn bool_text(value: bool) -> Vec<u8> {
    if value {
        b"true".to_vec()
    } else {
        b"false".to_vec()
    }
}

/// `*1F` to 31.
pub(crate) fn parse_id(text: &str) -> Option<u32> {
    u32::from_str_radix(text.strip_prefix('*')?, 16).ok()
}

pub(crate) fn millis(value: Duration) -> i64 {
    i64::try_from(value.as_millis()).unwrap_or(i64::MAX)
}

/// The dynamic simple queue RouterOS makes for a session's rate limit: `<hotspot-USER>` or
/// `<pppoe-USER>`, target the client's /32, `max-limit` the rate limit's `rx/tx` part.
fn add_queue(state: &mut RouterState, session: &Session, rate: &str) -> u32 {
    let name = match session.kind {
        SessionKind::Hotspot => format!("<hotspot-{}>", session.user),
        SessionKind::Ppp => format!("<pppoe-{}>", session.user),
    };
    let max_limit = rate.split_whitespace().next().unwrap_or(rate).to_owned();
    let target = format!("{}/32", session.ip);
    let id = state.insert_raw(
        "/queue/simple",
        &[
            ("name", name.as_bytes()),
            ("target", target.as_bytes()),
            ("max-limit", max_limit.as_bytes()),
            ("dynamic", b"true"),
        ],
    );
    parse_id(&id).unwrap_or_default()
}

fn mark_host(state: &mut RouterState, session: &Session, authorized: bool) {
    let ip = session.ip.to_string();
    let host = state
        .rows("/ip/hotspot/host")
        .find(|(_, p)| prop(p, "address") == ip)
        .map(|(id, _)| id);
    if let Some(host) = host {
        state.update("/ip/hotspot/host", host, |p| {
            p.insert("authorized".into(), bool_text(authorized));
        });
    }
}

/// Queues an Accounting-Request for the session.
pub(crate) fn queue_accounting(
    state: &mut RouterState,
    session: &Session,
    status: AcctStatus,
    now: i64,
    nas: &NasIdentity,
) {
    let job = AcctJob {
        servers: session.servers.clone(),
        attributes: session.accounting(status, now, nas),
        status,
        user: session.user.clone(),
        acct_session_id: session.acct_session_id(),
    };
    state.live.effects.push(Effect::Accounting(job));
}

/// How a session ends with respect to the router's own records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Counters written back to the local user, Stop sent.
    Orderly(TerminateCause),
    /// Power lost: nothing written back, no Stop.
    PowerLoss,
}

/// Ends a session: its row and queue go, the host is no longer authorized, a local user's
/// cumulative counters grow by what the session used, and the Stop goes out when accounted.
pub(crate) fn close(
    state: &mut RouterState,
    key: (SessionKind, u32),
    ending: Ending,
    now: i64,
    nas: &NasIdentity,
) -> bool {
    let Some(session) = state.live.sessions.remove(&key) else {
        return false;
    };
    state.remove_id(session.kind.menu(), session.item);
    if let Some(queue) = session.queue {
        state.remove_id("/queue/simple", queue);
    }
    if session.kind == SessionKind::Hotspot {
        mark_host(state, &session, false);
    }
    if let Ending::Orderly(cause) = ending {
        if let Some(user) = session.local_user {
            let used = session.uptime(now);
            state.update("/ip/hotspot/user", user, |p| {
                let uptime = duration(p, "uptime") + used;
                p.insert("uptime".into(), time::format(uptime).into_bytes());
                for (key, add) in [
                    ("bytes-in", session.bytes_in),
                    ("bytes-out", session.bytes_out),
                    ("packets-in", session.packets_in),
                    ("packets-out", session.packets_out),
                ] {
                    let total = number(p, key).saturating_add(add);
                    p.insert(key.into(), total.to_string().into_bytes());
                }
            });
        }
        if session.accounting {
            queue_accounting(state, &session, AcctStatus::Stop(cause), now, nas);
        }
    }
    true
}

/// Ends what is due by time and sends the interims that are due.
pub(crate) fn enforce(state: &mut RouterState, now: i64, nas: &NasIdentity) {
    let mut ending = Vec::new();
    let mut interims = Vec::new();
    for (key, session) in &mut state.live.sessions {
        if session.deadline_ms.is_some_and(|end| now >= end) {
            ending.push((*key, TerminateCause::SessionTimeout));
        } else if session
            .idle_timeout
            .is_some_and(|idle| now - session.last_activity_ms >= millis(idle))
        {
            ending.push((*key, TerminateCause::IdleTimeout));
        } else if let (Some(every), Some(next)) = (session.interim, session.next_interim_ms)
            && now >= next
        {
            session.next_interim_ms = Some(now + millis(every));
            if session.accounting {
                interims.push(*key);
            }
        }
    }
    for key in interims {
        if let Some(session) = state.live.sessions.get(&key).cloned() {
            queue_accounting(state, &session, AcctStatus::Interim, now, nas);
        }
    }
    for (key, cause) in ending {
        close(state, key, Ending::Orderly(cause), now, nas);
    }
}

/// Counts traffic on a session; ends it (NAS-Request) when a byte allowance is used up.
pub(crate) fn add_traffic(
    state: &mut RouterState,
    key: (SessionKind, u32),
    from_client: u64,
    to_client: u64,
    now: i64,
    nas: &NasIdentity,
) -> bool {
    let Some(session) = state.live.sessions.get_mut(&key) else {
        return false;
    };
    session.bytes_in = session.bytes_in.saturating_add(from_client);
    session.bytes_out = session.bytes_out.saturating_add(to_client);
    session.packets_in += from_client.div_ceil(1500);
    session.packets_out += to_client.div_ceil(1500);
    session.last_activity_ms = now;
    if over_limit(session) {
        close(
            state,
            key,
            Ending::Orderly(TerminateCause::NasRequest),
            now,
            nas,
        );
    }
    true
}

/// Whether a byte allowance of the session is used up.
pub(crate) fn over_limit(session: &Session) -> bool {
    session.limit_in.is_some_and(|l| session.bytes_in >= l)
        || session.limit_out.is_some_and(|l| session.bytes_out >= l)
        || session
            .limit_total
            .is_some_and(|l| session.bytes_in.saturating_add(session.bytes_out) >= l)
}

/// Live columns of one row, as shown.
type Columns = Vec<(&'static str, String)>;

/// Brings the live columns of the active rows (uptime, idle time, counters, time left) and the
/// router's uptime up to `now`, as a print shows them.
pub(crate) fn refresh(state: &mut RouterState, now: i64) {
    let rows: Vec<(&'static str, u32, Columns)> = state
        .live
        .sessions
        .values()
        .map(|s| {
            let mut columns = vec![
                ("uptime", time::format(s.uptime(now))),
                ("bytes-in", s.bytes_in.to_string()),
                ("bytes-out", s.bytes_out.to_string()),
                ("packets-in", s.packets_in.to_string()),
                ("packets-out", s.packets_out.to_string()),
            ];
            if s.kind == SessionKind::Hotspot {
                let idle =
                    Duration::from_millis(u64::try_from(now - s.last_activity_ms).unwrap_or(0));
                columns.push(("idle-time", time::format(idle)));
                if let Some(idle) = s.idle_timeout {
                    columns.push(("idle-timeout", time::format(idle)));
                }
                if let Some(end) = s.deadline_ms {
                    let left = Duration::from_millis(u64::try_from(end - now).unwrap_or(0));
                    columns.push(("session-time-left", time::format(left)));
                }
                if let Some(total) = s.limit_total {
                    let used = s.bytes_in.saturating_add(s.bytes_out);
                    columns.push(("limit-bytes-total", total.saturating_sub(used).to_string()));
                }
            }
            (s.kind.menu(), s.item, columns)
        })
        .collect();
    for (menu, id, columns) in rows {
        if let Some(row) = state.row_quiet(menu, id) {
            for (key, value) in columns {
                row.insert(key.to_owned(), value.into_bytes());
            }
        }
    }
    let up = Duration::from_millis(u64::try_from(now - state.live.booted_ms).unwrap_or(0));
    if let Some(resource) = state.single_quiet("/system/resource") {
        resource.insert("uptime".into(), time::format(up).into_bytes());
    }
}

/// `remove` as the router carries it out: an active session removed ends with Admin-Reset
/// (Stop sent, counters written back); a local user or secret removed takes its sessions with
/// it only if [`Behaviour::removing_a_user_ends_its_sessions`](super::Behaviour) says so.
pub(crate) fn remove(
    inner: &super::Inner,
    state: &mut RouterState,
    spec: &'static MenuSpec,
    ids: Option<&[u8]>,
    now: i64,
) -> Result<(), SimTrap> {
    let nas = inner.nas_identity(state);
    let kind = match spec.path {
        "/ip/hotspot/active" => Some(SessionKind::Hotspot),
        "/ppp/active" => Some(SessionKind::Ppp),
        _ => None,
    };
    if let Some(kind) = kind {
        for id in state.resolve_ids(spec, ids)? {
            if !close(
                state,
                (kind, id),
                Ending::Orderly(TerminateCause::AdminReset),
                now,
                &nas,
            ) {
                state.remove_id(spec.path, id);
            }
        }
        return Ok(());
    }
    let owner = match spec.path {
        "/ip/hotspot/user" => Some(SessionKind::Hotspot),
        "/ppp/secret" => Some(SessionKind::Ppp),
        _ => None,
    };
    let names: Vec<String> = match owner {
        Some(_) if inner.behaviour.removing_a_user_ends_its_sessions => state
            .resolve_ids(spec, ids)?
            .into_iter()
            .filter_map(|id| state.row(spec.path, id).map(|p| prop(p, "name").to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    state.remove(spec, ids)?;
    if let Some(kind) = owner {
        let ending: Vec<_> = state
            .live
            .sessions
            .iter()
            .filter(|(_, s)| s.kind == kind && names.contains(&s.user))
            .map(|(key, _)| *key)
            .collect();
        for key in ending {
            close(
                state,
                key,
                Ending::Orderly(TerminateCause::AdminReset),
                now,
                &nas,
            );
        }
    }
    Ok(())
}

/// `/ip/hotspot/user reset-counters`: the cumulative uptime and counters go back to zero.
pub(crate) fn reset_counters(
    state: &mut RouterState,
    spec: &'static MenuSpec,
    ids: Option<&[u8]>,
) -> Result<(), SimTrap> {
    for id in state.resolve_ids(spec, ids)? {
        state.update(spec.path, id, |p| {
            p.insert("uptime".into(), b"0s".to_vec());
            for key in ["bytes-in", "bytes-out", "packets-in", "packets-out"] {
                p.insert(key.into(), b"0".to_vec());
            }
        });
    }
    Ok(())
}

/// The session keys a selector names (RFC 5176 session identification as RouterOS does it:
/// every attribute given must match).
pub(crate) fn matching(
    state: &RouterState,
    user: Option<&str>,
    acct_session_id: Option<&str>,
    address: Option<Ipv4Addr>,
) -> Vec<(SessionKind, u32)> {
    if user.is_none() && acct_session_id.is_none() && address.is_none() {
        return Vec::new();
    }
    state
        .live
        .sessions
        .iter()
        .filter(|(_, s)| {
            user.is_none_or(|u| s.user == u)
                && acct_session_id.is_none_or(|id| s.acct_session_id().eq_ignore_ascii_case(id))
                && address.is_none_or(|a| s.ip == a)
        })
        .map(|(key, _)| *key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acct_session_ids_carry_prefix_boot_and_counter() {
        let mut live = Live {
            boots: 1,
            ..Live::default()
        };
        assert_eq!(format!("{:08x}", live.next_acct_id(0x80)), "80100001");
        assert_eq!(format!("{:08x}", live.next_acct_id(0x81)), "81100002");
    }

    #[test]
    fn macs_show_upper_case_with_colons() {
        assert_eq!(mac_upper("aa-bb-cc-00-00-0f"), "AA:BB:CC:00:00:0F");
    }
}
