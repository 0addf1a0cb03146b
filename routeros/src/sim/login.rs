//! How the simulated router decides a hotspot or PPPoE login, as RouterOS documents it: a
//! matching local record (`/ip/hotspot/user` for the server or `all`, `/ppp/secret`) decides
//! alone, and RADIUS is asked only when no local record matches. The refusal texts are those of
//! the stock hotspot `errors.txt`. What the documentation leaves open is in
//! [`Behaviour`](super::Behaviour).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use sitebox_radius::auth::{chap, mschap, pap};
use sitebox_radius::dictionary::{attr, microsoft, vendor, wispr};
use sitebox_radius::{Attribute, Code, Packet};

use super::behaviour::{Behaviour, HotspotAuth, text};
use super::live::{self, NasIdentity, Session, SessionKind, duration, nonzero, number, prop};
use super::radius::{self, Answer, Grant, RadiusServer};
use super::state::RouterState;
use super::{Inner, time};

/// A hotspot client logging in.
#[derive(Clone, PartialEq, Eq)]
pub struct HotspotLogin {
    /// The hotspot server; `None` for the host's server, else the first enabled one.
    pub server: Option<String>,
    /// User name as typed.
    pub user: String,
    /// Password as typed.
    pub password: String,
    /// The client's MAC address.
    pub mac: String,
    /// The client's address.
    pub ip: Ipv4Addr,
    /// How the login page sends the password (CHAP by default).
    pub auth: HotspotAuth,
}

impl HotspotLogin {
    /// A login through the default `http-chap` page of the host's server.
    pub fn new(user: &str, password: &str, mac: &str, ip: Ipv4Addr) -> Self {
        Self {
            server: None,
            user: user.to_owned(),
            password: password.to_owned(),
            mac: mac.to_owned(),
            ip,
            auth: HotspotAuth::HttpChap,
        }
    }
}

impl std::fmt::Debug for HotspotLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotspotLogin")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("mac", &self.mac)
            .field("ip", &self.ip)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// How a PPPoE client proves its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PppAuth {
    /// MS-CHAPv2: what Windows and most routers pick first from the server's default list.
    MsChapV2,
    /// CHAP.
    Chap,
    /// PAP.
    Pap,
}

/// A PPPoE client dialling in.
#[derive(Clone, PartialEq, Eq)]
pub struct PppLogin {
    /// The PPPoE service; `None` for the first enabled server.
    pub service: Option<String>,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The client's MAC address (Calling-Station-Id, the secret's `caller-id`).
    pub mac: String,
    /// Authentication protocol the client picks.
    pub auth: PppAuth,
}

impl PppLogin {
    /// An MS-CHAPv2 dial-in to the first PPPoE server.
    pub fn new(user: &str, password: &str, mac: &str) -> Self {
        Self {
            service: None,
            user: user.to_owned(),
            password: password.to_owned(),
            mac: mac.to_owned(),
            auth: PppAuth::MsChapV2,
        }
    }
}

impl std::fmt::Debug for PppLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PppLogin")
            .field("service", &self.service)
            .field("user", &self.user)
            .field("mac", &self.mac)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Who decided a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecidedBy {
    /// A local record (`/ip/hotspot/user`, `/ppp/secret`) matched and decided; RADIUS was not
    /// asked.
    LocalUser,
    /// RADIUS answered (Access-Accept or Access-Reject).
    Radius,
    /// RADIUS was asked and no entry gave a valid answer.
    RadiusSilent,
    /// No local record and RADIUS not in use for the service.
    NoRecord,
    /// The router itself before or after asking anyone: unknown host, a login already being
    /// decided, a RADIUS user over its `shared-users`, a wrong MS-CHAPv2 answer, power off.
    Router,
}

/// A login the router let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// Its `.id` in `/ip/hotspot/active` or `/ppp/active`.
    pub id: String,
    /// Acct-Session-Id (and NAS-Port) of the session.
    pub acct_session_id: String,
    /// Who decided.
    pub decided_by: DecidedBy,
    /// The client's address (a PPP client's is assigned).
    pub address: Ipv4Addr,
}

/// A login the router refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoginRefused {
    /// What the customer sees (hotspot) or the router logs (PPP).
    pub message: String,
    /// Who decided.
    pub decided_by: DecidedBy,
}

impl LoginRefused {
    fn new(message: impl Into<String>, decided_by: DecidedBy) -> Self {
        Self {
            message: message.into(),
            decided_by,
        }
    }
}

/// One login attempt in the router's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    /// Hotspot or PPP.
    pub kind: SessionKind,
    /// User name.
    pub user: String,
    /// Client MAC, upper case.
    pub mac: String,
    /// On the router's clock.
    pub at_ms: i64,
    /// Who decided.
    pub decided_by: DecidedBy,
    /// `None` when let in, else the refusal text.
    pub refused: Option<String>,
}

/// Where a hotspot login comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// The login page: the client's traffic made the host entry.
    Page,
    /// `/ip/hotspot/active/login`: the host must exist.
    Api,
}

/// What a matching local record says.
enum Local {
    Grant(LocalGrant),
    Refuse(String),
    NoRecord,
}

#[derive(Default)]
struct LocalGrant {
    user_id: Option<u32>,
    time_left: Option<Duration>,
    idle_timeout: Option<Duration>,
    limit_in: Option<u64>,
    limit_out: Option<u64>,
    limit_total: Option<u64>,
    rate_limit: Option<String>,
    address: Option<Ipv4Addr>,
}

/// A login waiting for RADIUS.
struct Ask {
    session: Session,
    servers: Vec<RadiusServer>,
    nas: NasIdentity,
    /// WISPr-Logoff-URL (hotspot).
    logoff_url: Option<String>,
    /// The hotspot profile's `radius-interim-update`, or `/ppp aaa interim-update`.
    interim_setting: String,
    /// Hotspot `radius-accounting`, or `/ppp aaa accounting`.
    accounting: bool,
}

enum Step {
    Done(Result<Login, LoginRefused>),
    Ask(Box<Ask>),
}

/// A hotspot login, decided as RouterOS does.
pub(crate) async fn hotspot(
    inner: &Arc<Inner>,
    login: HotspotLogin,
    via: Via,
) -> Result<Login, LoginRefused> {
    let now = inner.now_ms();
    let step = inner.locked(|state| hotspot_first(inner, state, &login, via, now));
    let result = match step {
        Step::Done(result) => result,
        Step::Ask(ask) => {
            let _authorizing = Authorizing {
                inner,
                ip: ask.session.ip,
            };
            let auth = match via {
                Via::Api => inner.behaviour.api_login_auth,
                Via::Page => login.auth,
            };
            let answer = radius::ask(inner, &ask.servers, |server, authenticator| {
                hotspot_request(&ask, &login.password, auth, server, authenticator)
            })
            .await;
            let now = inner.now_ms();
            inner.locked(|state| settle(state, *ask, answer, now, |_| Ok(())))
        }
    };
    inner.journal(SessionKind::Hotspot, &login.user, &login.mac, now, &result);
    result
}

/// A host's login being decided: `already authorizing` until this is dropped (also when the
/// caller gives up on the login half way).
struct Authorizing<'a> {
    inner: &'a Inner,
    ip: Ipv4Addr,
}

impl Drop for Authorizing<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.inner.state.lock() {
            state.live.authorizing.remove(&self.ip);
        }
    }
}

fn hotspot_first(
    inner: &Inner,
    state: &mut RouterState,
    login: &HotspotLogin,
    via: Via,
    now: i64,
) -> Step {
    let refuse = |text: &str, by| Step::Done(Err(LoginRefused::new(text, by)));
    if state.live.powered_off {
        return refuse("router is powered off", DecidedBy::Router);
    }
    let host = state
        .rows("/ip/hotspot/host")
        .find(|(_, p)| prop(p, "address") == login.ip.to_string())
        .map(|(id, p)| {
            (
                id,
                prop(p, "mac-address").to_owned(),
                prop(p, "server").to_owned(),
            )
        });
    let mac = match (&host, via) {
        (None, Via::Api) => return refuse(text::UNKNOWN_HOST, DecidedBy::Router),
        (Some((_, host_mac, _)), Via::Api) => {
            if !login.mac.is_empty() && live::mac_upper(&login.mac) != live::mac_upper(host_mac) {
                return refuse(text::WRONG_MAC, DecidedBy::Router);
            }
            live::mac_upper(host_mac)
        }
        (_, Via::Page) => live::mac_upper(&login.mac),
    };
    let wanted = login
        .server
        .clone()
        .or_else(|| host.as_ref().map(|(_, _, server)| server.clone()));
    let Some((server, interface, profile)) = hotspot_server(state, wanted.as_deref()) else {
        return refuse("no such hotspot server", DecidedBy::Router);
    };
    if host.is_none() {
        // The client's first packets made the host entry before it reached the login page.
        state.insert_raw(
            "/ip/hotspot/host",
            &[
                ("mac-address", mac.as_bytes()),
                ("address", login.ip.to_string().as_bytes()),
                ("to-address", login.ip.to_string().as_bytes()),
                ("server", server.as_bytes()),
            ],
        );
    }
    if state.live.authorizing.contains(&login.ip) {
        return refuse(text::IN_PROGRESS, DecidedBy::Router);
    }
    let hs_profile = state
        .rows("/ip/hotspot/profile")
        .find(|(_, p)| prop(p, "name") == profile)
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    let login_by = match (via, login.auth) {
        (Via::Api, _) => "api",
        (Via::Page, HotspotAuth::HttpChap) => "http-chap",
        (Via::Page, HotspotAuth::HttpPap) => "http-pap",
    };
    let nas = inner.nas_identity(state);
    let acct_id = state.live.next_acct_id(0x80);
    let mut session = Session {
        kind: SessionKind::Hotspot,
        item: 0,
        server: server.clone(),
        interface,
        user: login.user.clone(),
        mac: mac.clone(),
        ip: login.ip,
        acct_id,
        started_ms: now,
        last_activity_ms: now,
        bytes_in: 0,
        bytes_out: 0,
        packets_in: 0,
        packets_out: 0,
        radius: false,
        login_by: login_by.to_owned(),
        deadline_ms: None,
        idle_timeout: None,
        limit_in: None,
        limit_out: None,
        limit_total: None,
        rate_limit: None,
        queue: None,
        interim: None,
        next_interim_ms: None,
        class: Vec::new(),
        accounting: false,
        local_user: None,
        nas_port_type: live::nas_port_type(prop(&hs_profile, "nas-port-type")),
        servers: radius::servers_for(state, "hotspot", inner.address),
    };
    let accounting = prop(&hs_profile, "radius-accounting") != "false";
    match local_hotspot(
        state,
        &inner.behaviour,
        &server,
        &login.user,
        &login.password,
        &mac,
    ) {
        Local::Refuse(message) => refuse(&message, DecidedBy::LocalUser),
        Local::Grant(grant) => {
            session.local_user = grant.user_id;
            apply_local(&mut session, &grant, now);
            session.accounting = accounting && inner.behaviour.local_hotspot_accounting;
            if session.accounting {
                session.interim = interim(prop(&hs_profile, "radius-interim-update"), None);
            }
            Step::Done(Ok(open(state, session, DecidedBy::LocalUser, now, &nas)))
        }
        Local::NoRecord if prop(&hs_profile, "use-radius") != "true" => {
            refuse(text::INVALID, DecidedBy::NoRecord)
        }
        Local::NoRecord => {
            state.live.authorizing.insert(login.ip);
            let address = prop(&hs_profile, "hotspot-address");
            let host = if address.is_empty() {
                prop(&hs_profile, "dns-name")
            } else {
                address.split('/').next().unwrap_or(address)
            };
            let logoff_url = (!host.is_empty()).then(|| format!("http://{host}/logout"));
            Step::Ask(Box::new(Ask {
                servers: session.servers.clone(),
                session,
                nas,
                logoff_url,
                interim_setting: prop(&hs_profile, "radius-interim-update").to_owned(),
                accounting,
            }))
        }
    }
}

/// The hotspot server a login is for: (name, interface, profile).
fn hotspot_server(state: &RouterState, wanted: Option<&str>) -> Option<(String, String, String)> {
    state
        .rows("/ip/hotspot")
        .filter(|(_, p)| prop(p, "disabled") != "true")
        .find(|(_, p)| wanted.is_none_or(|w| prop(p, "name") == w))
        .map(|(_, p)| {
            (
                prop(p, "name").to_owned(),
                prop(p, "interface").to_owned(),
                prop(p, "profile").to_owned(),
            )
        })
}

/// The local-user decision, checks in this order (the order among the MAC, limit and
/// shared-users checks is not documented): record, password, MAC binding, `limit-uptime`,
/// `limit-bytes-in/out/total` against the user's cumulative counters, the profile's
/// `shared-users` against the user's active sessions.
fn local_hotspot(
    state: &RouterState,
    behaviour: &Behaviour,
    server: &str,
    user: &str,
    password: &str,
    mac: &str,
) -> Local {
    let record = state.rows("/ip/hotspot/user").find(|(_, p)| {
        prop(p, "name") == user
            && matches!(prop(p, "server"), s if s == server || s == "all")
            && (behaviour.disabled_user_is_a_record || prop(p, "disabled") != "true")
    });
    let Some((id, user_props)) = record else {
        return Local::NoRecord;
    };
    if prop(user_props, "disabled") == "true"
        || user_props
            .get("password")
            .map(Vec::as_slice)
            .unwrap_or_default()
            != password.as_bytes()
    {
        return Local::Refuse(text::INVALID.to_owned());
    }
    let bound = prop(user_props, "mac-address");
    if !bound.is_empty() && bound != "00:00:00:00:00:00" && live::mac_upper(bound) != mac {
        return Local::Refuse(text::invalid_mac(user));
    }
    let limit_uptime = duration(user_props, "limit-uptime");
    let uptime = duration(user_props, "uptime");
    if !limit_uptime.is_zero() && uptime >= limit_uptime {
        return Local::Refuse(text::uptime_limit(user));
    }
    let (used_in, used_out) = (
        number(user_props, "bytes-in"),
        number(user_props, "bytes-out"),
    );
    let limit = |key| Some(number(user_props, key)).filter(|n| *n > 0);
    let (limit_in, limit_out, limit_total) = (
        limit("limit-bytes-in"),
        limit("limit-bytes-out"),
        limit("limit-bytes-total"),
    );
    if limit_in.is_some_and(|l| used_in >= l)
        || limit_out.is_some_and(|l| used_out >= l)
        || limit_total.is_some_and(|l| used_in.saturating_add(used_out) >= l)
    {
        return Local::Refuse(text::traffic_limit(user));
    }
    let profile = user_profile(state, prop(user_props, "profile"));
    if shared_users_reached(state, SessionKind::Hotspot, user, shared_users(&profile)) {
        return Local::Refuse(text::session_limit(user));
    }
    let session_timeout = nonzero(duration(&profile, "session-timeout"));
    let uptime_left = nonzero(limit_uptime).map(|l| l.saturating_sub(uptime));
    Local::Grant(LocalGrant {
        user_id: Some(id),
        time_left: min_some(session_timeout, uptime_left),
        idle_timeout: nonzero(duration(&profile, "idle-timeout")),
        limit_in: limit_in.map(|l| l - used_in),
        limit_out: limit_out.map(|l| l - used_out),
        limit_total: limit_total.map(|l| l - used_in - used_out),
        rate_limit: Some(prop(&profile, "rate-limit").to_owned()).filter(|r| !r.is_empty()),
        address: None,
    })
}

fn min_some(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A `/ip/hotspot/user/profile` by name (the `default` one when it is missing).
fn user_profile(state: &RouterState, name: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let find = |name: &str| {
        state
            .rows("/ip/hotspot/user/profile")
            .find(|(_, p)| prop(p, "name") == name)
            .map(|(_, p)| p.clone())
    };
    find(name).or_else(|| find("default")).unwrap_or_default()
}

/// The profile's `shared-users`: `None` for unlimited.
fn shared_users(profile: &std::collections::BTreeMap<String, Vec<u8>>) -> Option<u64> {
    match prop(profile, "shared-users") {
        "unlimited" => None,
        "" => Some(1),
        n => Some(n.parse().unwrap_or(1)),
    }
}

fn shared_users_reached(
    state: &RouterState,
    kind: SessionKind,
    user: &str,
    limit: Option<u64>,
) -> bool {
    let Some(limit) = limit else {
        return false;
    };
    let active = state
        .live
        .sessions
        .values()
        .filter(|s| s.kind == kind && s.user == user)
        .count();
    u64::try_from(active).unwrap_or(u64::MAX) >= limit
}

fn apply_local(session: &mut Session, grant: &LocalGrant, now: i64) {
    session.deadline_ms = grant.time_left.map(|left| now + live::millis(left));
    session.idle_timeout = grant.idle_timeout;
    session.limit_in = grant.limit_in;
    session.limit_out = grant.limit_out;
    session.limit_total = grant.limit_total;
    session.rate_limit = grant.rate_limit.clone();
    if let Some(address) = grant.address {
        session.ip = address;
    }
}

/// The interim interval: the setting's time, or with `received` the Accept's
/// Acct-Interim-Interval; none for `0s`/`none`.
fn interim(setting: &str, received: Option<Duration>) -> Option<Duration> {
    match setting {
        "received" | "" => received.and_then(nonzero),
        other => time::parse(other)
            .and_then(nonzero)
            .or(received.and_then(nonzero)),
    }
}

fn open(
    state: &mut RouterState,
    session: Session,
    decided_by: DecidedBy,
    now: i64,
    nas: &NasIdentity,
) -> Login {
    let acct_session_id = session.acct_session_id();
    let (kind, ip, acct) = (session.kind, session.ip, session.acct_id);
    live::open(state, session, now, nas);
    let id = state
        .live
        .sessions
        .values()
        .find(|s| s.kind == kind && s.acct_id == acct)
        .map(|s| format!("*{:X}", s.item))
        .unwrap_or_default();
    Login {
        id,
        acct_session_id,
        decided_by,
        address: ip,
    }
}

/// A hotspot Access-Request in the order a RouterOS 7 hotspot sends it: the session's identity
/// attributes, the credentials, Service-Type Login-User, WISPr-Logoff-URL, NAS-Identifier,
/// NAS-IP-Address (Message-Authenticator is added when the entry requires it).
fn hotspot_request(
    ask: &Ask,
    password: &str,
    auth: HotspotAuth,
    server: &RadiusServer,
    authenticator: &[u8; 16],
) -> Packet {
    let mut packet = Packet::new(Code::AccessRequest, 0, *authenticator);
    packet.attributes = ask.session.identity_attributes();
    match auth {
        HotspotAuth::HttpChap => {
            let challenge: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
            let proof = chap::response(fastrand::u8(..), &challenge, password.as_bytes());
            packet
                .attributes
                .extend(Attribute::new(attr::CHAP_CHALLENGE, challenge.to_vec()).ok());
            packet
                .attributes
                .extend(Attribute::new(attr::CHAP_PASSWORD, proof.to_vec()).ok());
        }
        HotspotAuth::HttpPap => push_pap(&mut packet, password, server, authenticator),
    }
    // Service-Type Login-User: what hotspot logins carry in every capture.
    packet.push(Attribute::integer(attr::SERVICE_TYPE, 1));
    if let Some(url) = &ask.logoff_url {
        packet
            .attributes
            .extend(Attribute::vendor(vendor::WISPR, WISPR_LOGOFF_URL, url.as_bytes()).ok());
    }
    push_nas(&mut packet, &ask.nas);
    packet
}

/// WISPr-Logoff-URL (WISPr vendor type 3).
const WISPR_LOGOFF_URL: u8 = 3;
const _: u8 = wispr::BANDWIDTH_MAX_UP;

fn push_pap(packet: &mut Packet, password: &str, server: &RadiusServer, authenticator: &[u8; 16]) {
    let hidden = pap::encrypt(password.as_bytes(), authenticator, &server.secret);
    packet
        .attributes
        .extend(Attribute::new(attr::USER_PASSWORD, hidden).ok());
}

fn push_nas(packet: &mut Packet, nas: &NasIdentity) {
    packet
        .attributes
        .extend(Attribute::text(attr::NAS_IDENTIFIER, &nas.identifier).ok());
    packet.push(Attribute::ipv4(attr::NAS_IP_ADDRESS, nas.address));
}

/// Takes RADIUS's answer under the lock: a session for an Accept the router can honour.
/// `check` refuses an Accept the client itself would not take (a wrong MS-CHAPv2 answer).
fn settle(
    state: &mut RouterState,
    ask: Ask,
    answer: Answer,
    now: i64,
    check: impl Fn(&Grant) -> Result<(), String>,
) -> Result<Login, LoginRefused> {
    let reply = match answer {
        Answer::Silent => {
            return Err(LoginRefused::new(
                text::RADIUS_TIMEOUT,
                DecidedBy::RadiusSilent,
            ));
        }
        Answer::Reject(reply) => {
            let message = Grant::from_reply(&reply)
                .reply_message
                .unwrap_or_else(|| text::INVALID.to_owned());
            return Err(LoginRefused::new(message, DecidedBy::Radius));
        }
        Answer::Accept(reply) => reply,
    };
    let grant = Grant::from_reply(&reply);
    if let Err(why) = check(&grant) {
        return Err(LoginRefused::new(why, DecidedBy::Router));
    }
    if state.live.powered_off {
        return Err(LoginRefused::new(
            "router is powered off",
            DecidedBy::Router,
        ));
    }
    let Ask {
        mut session,
        nas,
        interim_setting,
        accounting,
        ..
    } = ask;
    let user = session.user.clone();
    if session.kind == SessionKind::Hotspot {
        // RADIUS users get the profile Mikrotik-Group names (else `default`); Port-Limit
        // overrides its shared-users.
        let profile = user_profile(state, grant.group.as_deref().unwrap_or("default"));
        let limit = match grant.port_limit {
            Some(n) => Some(u64::from(n)),
            None => shared_users(&profile),
        };
        if shared_users_reached(state, SessionKind::Hotspot, &user, limit) {
            return Err(LoginRefused::new(
                text::session_limit(&user),
                DecidedBy::Router,
            ));
        }
        session.deadline_ms = grant
            .session_timeout
            .and_then(nonzero)
            .or(nonzero(duration(&profile, "session-timeout")))
            .map(|t| now + live::millis(t));
        session.idle_timeout = grant
            .idle_timeout
            .map(nonzero)
            .unwrap_or(nonzero(duration(&profile, "idle-timeout")));
        session.rate_limit = grant
            .rate_limit
            .clone()
            .or(Some(prop(&profile, "rate-limit").to_owned()).filter(|r| !r.is_empty()));
    } else {
        session.deadline_ms = grant
            .session_timeout
            .and_then(nonzero)
            .map(|t| now + live::millis(t));
        session.idle_timeout = grant.idle_timeout.and_then(nonzero);
        if grant.rate_limit.is_some() {
            session.rate_limit = grant.rate_limit.clone();
        }
        if let Some(ip) = grant.framed_ip {
            session.ip = ip;
        } else if session.ip.is_unspecified() {
            session.ip = state.live.next_ppp_address();
        }
    }
    session.limit_in = grant.limit_in;
    session.limit_out = grant.limit_out;
    session.limit_total = grant.limit_total;
    session.class = grant.class.clone();
    session.radius = true;
    session.started_ms = now;
    session.last_activity_ms = now;
    session.accounting = accounting;
    session.interim = if accounting {
        interim(&interim_setting, grant.interim)
    } else {
        None
    };
    Ok(open(state, session, DecidedBy::Radius, now, &nas))
}

/// A PPPoE dial-in, decided as RouterOS does.
pub(crate) async fn ppp(inner: &Arc<Inner>, login: PppLogin) -> Result<Login, LoginRefused> {
    let now = inner.now_ms();
    let step = inner.locked(|state| ppp_first(inner, state, &login, now));
    let result = match step {
        Step::Done(result) => result,
        Step::Ask(ask) => {
            let ident = fastrand::u8(..);
            let auth_challenge: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
            let peer_challenge: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
            let peer = mschap::MsChapV2Response::from_password(
                ident,
                auth_challenge,
                peer_challenge,
                &login.user,
                &login.password,
            );
            let answer = radius::ask(inner, &ask.servers, |server, authenticator| {
                ppp_request(&ask, &login, &peer, server, authenticator)
            })
            .await;
            let now = inner.now_ms();
            let expected = peer
                .verify(&login.user, &mschap::nt_password_hash(&login.password))
                .map(|success| mschap::success_value(ident, &success));
            let auth = login.auth;
            inner.locked(|state| {
                settle(state, *ask, answer, now, |grant| {
                    // The PPP client checks the server's MS-CHAPv2 authenticator response.
                    if auth == PppAuth::MsChapV2 && grant.ms_chap2_success != expected {
                        Err(text::ppp_refused(
                            &login.user,
                            "MS-CHAPv2 authenticator response is missing or wrong",
                        ))
                    } else {
                        Ok(())
                    }
                })
            })
        }
    };
    inner.journal(SessionKind::Ppp, &login.user, &login.mac, now, &result);
    result
}

fn ppp_first(inner: &Inner, state: &mut RouterState, login: &PppLogin, now: i64) -> Step {
    let refuse = |text: String, by| Step::Done(Err(LoginRefused::new(text, by)));
    if state.live.powered_off {
        return refuse("router is powered off".to_owned(), DecidedBy::Router);
    }
    let server = state
        .rows("/interface/pppoe-server/server")
        .filter(|(_, p)| prop(p, "disabled") != "true")
        .find(|(_, p)| {
            login
                .service
                .as_deref()
                .is_none_or(|s| prop(p, "service-name") == s)
        })
        .map(|(_, p)| {
            (
                prop(p, "service-name").to_owned(),
                prop(p, "interface").to_owned(),
                prop(p, "default-profile").to_owned(),
            )
        });
    let Some((service, interface, default_profile)) = server else {
        return refuse("no such PPPoE service".to_owned(), DecidedBy::Router);
    };
    let mac = live::mac_upper(&login.mac);
    let aaa = state.single("/ppp/aaa").cloned().unwrap_or_default();
    let nas = inner.nas_identity(state);
    let prefix = inner.behaviour.ppp_session_prefix;
    let acct_id = state.live.next_acct_id(prefix);
    let mut session = Session {
        kind: SessionKind::Ppp,
        item: 0,
        server: service,
        interface,
        user: login.user.clone(),
        mac: mac.clone(),
        ip: Ipv4Addr::UNSPECIFIED,
        acct_id,
        started_ms: now,
        last_activity_ms: now,
        bytes_in: 0,
        bytes_out: 0,
        packets_in: 0,
        packets_out: 0,
        radius: false,
        login_by: ppp_auth_name(login.auth).to_owned(),
        deadline_ms: None,
        idle_timeout: None,
        limit_in: None,
        limit_out: None,
        limit_total: None,
        rate_limit: None,
        queue: None,
        interim: None,
        next_interim_ms: None,
        class: Vec::new(),
        accounting: false,
        local_user: None,
        // Ethernet: what PPPoE sends.
        nas_port_type: 15,
        servers: radius::servers_for(state, "ppp", inner.address),
    };
    let accounting = prop(&aaa, "accounting") != "false";
    let interim_setting = prop(&aaa, "interim-update").to_owned();
    match local_ppp(state, &inner.behaviour, login, &mac, &default_profile) {
        Local::Refuse(message) => refuse(message, DecidedBy::LocalUser),
        Local::Grant(grant) => {
            apply_local(&mut session, &grant, now);
            if session.ip.is_unspecified() {
                session.ip = state.live.next_ppp_address();
            }
            // Local PPP logins are accounted too (Acct-Authentic Local).
            session.accounting = accounting;
            if accounting {
                session.interim = interim(&interim_setting, None);
            }
            Step::Done(Ok(open(state, session, DecidedBy::LocalUser, now, &nas)))
        }
        Local::NoRecord if prop(&aaa, "use-radius") != "true" => refuse(
            text::ppp_refused(&login.user, "no such user"),
            DecidedBy::NoRecord,
        ),
        Local::NoRecord => Step::Ask(Box::new(Ask {
            servers: session.servers.clone(),
            session,
            nas,
            logoff_url: None,
            interim_setting,
            accounting,
        })),
    }
}

fn ppp_auth_name(auth: PppAuth) -> &'static str {
    match auth {
        PppAuth::MsChapV2 => "mschap2",
        PppAuth::Chap => "chap",
        PppAuth::Pap => "pap",
    }
}

/// The local-secret decision: an enabled secret for `pppoe` or `any` with the name; then the
/// password, `caller-id`, and the profile's `only-one`. Byte limits and the profile's
/// session-timeout are per session (PPP keeps no cumulative counters).
fn local_ppp(
    state: &RouterState,
    behaviour: &Behaviour,
    login: &PppLogin,
    mac: &str,
    default_profile: &str,
) -> Local {
    let record = state.rows("/ppp/secret").find(|(_, p)| {
        prop(p, "name") == login.user
            && matches!(prop(p, "service"), "any" | "pppoe" | "")
            && (behaviour.disabled_user_is_a_record || prop(p, "disabled") != "true")
    });
    let Some((_, secret)) = record else {
        return Local::NoRecord;
    };
    let user = &login.user;
    if prop(secret, "disabled") == "true"
        || secret
            .get("password")
            .map(Vec::as_slice)
            .unwrap_or_default()
            != login.password.as_bytes()
    {
        return Local::Refuse(text::ppp_refused(user, "wrong password"));
    }
    let caller = prop(secret, "caller-id");
    if !caller.is_empty() && live::mac_upper(caller) != mac {
        return Local::Refuse(text::ppp_refused(user, "caller id mismatch"));
    }
    let profile_name = match prop(secret, "profile") {
        "" => default_profile,
        name => name,
    };
    let profile = |name: &str| {
        state
            .rows("/ppp/profile")
            .find(|(_, p)| prop(p, "name") == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    };
    let chosen = profile(profile_name);
    let only_one = match prop(&chosen, "only-one") {
        "default" | "" => prop(&profile("default"), "only-one") == "yes",
        value => value == "yes",
    };
    if only_one && shared_users_reached(state, SessionKind::Ppp, user, Some(1)) {
        return Local::Refuse(text::ppp_refused(user, "already logged in (only-one)"));
    }
    let address = prop(secret, "remote-address")
        .parse()
        .ok()
        .or_else(|| prop(&chosen, "remote-address").parse().ok());
    let limit = |key| Some(number(secret, key)).filter(|n| *n > 0);
    Local::Grant(LocalGrant {
        user_id: None,
        time_left: nonzero(duration(&chosen, "session-timeout")),
        idle_timeout: nonzero(duration(&chosen, "idle-timeout")),
        limit_in: limit("limit-bytes-in"),
        limit_out: limit("limit-bytes-out"),
        limit_total: None,
        rate_limit: Some(prop(&chosen, "rate-limit").to_owned()).filter(|r| !r.is_empty()),
        address,
    })
}

/// A PPP Access-Request: Service-Type Framed, Framed-Protocol PPP, NAS-Port-Type Ethernet,
/// Calling-Station-Id (MAC), Called-Station-Id (service name), NAS-Port-Id (interface),
/// User-Name, NAS-Port, Acct-Session-Id, the credentials the client chose, NAS-Identifier,
/// NAS-IP-Address.
fn ppp_request(
    ask: &Ask,
    login: &PppLogin,
    peer: &mschap::MsChapV2Response,
    server: &RadiusServer,
    authenticator: &[u8; 16],
) -> Packet {
    let mut packet = Packet::new(Code::AccessRequest, 0, *authenticator);
    packet.attributes = ask.session.identity_attributes();
    match login.auth {
        PppAuth::MsChapV2 => {
            packet.attributes.extend(
                Attribute::vendor(
                    vendor::MICROSOFT,
                    microsoft::MS_CHAP_CHALLENGE,
                    &peer.auth_challenge,
                )
                .ok(),
            );
            packet.attributes.extend(
                Attribute::vendor(
                    vendor::MICROSOFT,
                    microsoft::MS_CHAP2_RESPONSE,
                    &peer.to_value(),
                )
                .ok(),
            );
        }
        PppAuth::Chap => {
            let challenge: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
            let proof = chap::response(peer.ident, &challenge, login.password.as_bytes());
            packet
                .attributes
                .extend(Attribute::new(attr::CHAP_CHALLENGE, challenge.to_vec()).ok());
            packet
                .attributes
                .extend(Attribute::new(attr::CHAP_PASSWORD, proof.to_vec()).ok());
        }
        PppAuth::Pap => push_pap(&mut packet, &login.password, server, authenticator),
    }
    push_nas(&mut packet, &ask.nas);
    packet
}
