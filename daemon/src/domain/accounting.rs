//! Accounting sessions (RFC 2866): Start / Interim-Update / Stop and Accounting-On/Off,
//! recorded idempotently, with usage charged to the session's subscription and limits enforced.

use super::DomainError;
use super::expiry;
use crate::clock::Timestamp;
use crate::model::RouterId;
use crate::model::event::payload::{SessionFacts, SessionStarted, SessionStopped, SessionUpdated};
use crate::model::event::{Actor, NewEvent, Payload};
use crate::model::session::{Session, SessionState};
use crate::model::subscription::SubscriptionState;
use crate::store::{Tx, sessions as sql, subscribers, subscriptions};

/// Acct-Status-Type, as the domain needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Start.
    Start,
    /// Interim-Update.
    Interim,
    /// Stop, with its Acct-Terminate-Cause.
    Stop(Option<u32>),
    /// Accounting-On or -Off: the NAS (re)started; all its sessions are gone.
    NasRestart,
}

/// One accounting record from a known router.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// The router it came from.
    pub router_id: RouterId,
    /// What it reports.
    pub status: Status,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Calling-Station-Id, normalized.
    pub mac: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Acct-Session-Time.
    pub session_time_s: i64,
    /// Bytes from the client (gigawords folded in).
    pub input_octets: i64,
    /// Bytes to the client.
    pub output_octets: i64,
}

/// Acct-Terminate-Cause NAS-Reboot.
const NAS_REBOOT: u32 = 11;

/// Records `record` durably (idempotent: a resent record changes nothing twice).
pub(crate) fn record(tx: &mut Tx<'_>, now: Timestamp, record: &Record) -> Result<(), DomainError> {
    if record.status == Status::NasRestart {
        for open in sql::open_for_router(tx, record.router_id)? {
            sql::update(
                tx,
                open.id,
                open.session_time_s,
                open.input_octets,
                open.output_octets,
                now,
                Some(Some(NAS_REBOOT)),
            )?;
            emit(tx, now, SessionStopped, &open, Some(NAS_REBOOT))?;
        }
        return Ok(());
    }
    let existing = sql::get(tx, record.router_id, &record.acct_session_id)?;
    let session = match existing {
        Some(session) => session,
        None => {
            let subscriber = subscribers::by_username(tx, &record.username)?;
            let subscription = match &subscriber {
                Some(s) => subscriptions::current(tx, s.id)?
                    .filter(|sub| sub.state == SubscriptionState::Active),
                None => None,
            };
            let mut session = Session {
                id: 0,
                router_id: record.router_id,
                acct_session_id: record.acct_session_id.clone(),
                subscriber_id: subscriber.map(|s| s.id),
                subscription_id: subscription.map(|s| s.id),
                username: record.username.clone(),
                mac: record.mac.clone(),
                framed_ip: record.framed_ip.clone(),
                nas_port_id: record.nas_port_id.clone(),
                state: SessionState::Open,
                started_at: now,
                updated_at: now,
                stopped_at: None,
                session_time_s: 0,
                input_octets: 0,
                output_octets: 0,
                terminate_cause: None,
            };
            session.id = sql::insert(tx, &session)?;
            emit(tx, now, SessionStarted, &session, None)?;
            session
        }
    };
    if session.state == SessionState::Closed {
        return record_late(tx, now, record, &session);
    }
    let Growth {
        seconds,
        input,
        output,
        delta_seconds,
        delta_bytes,
    } = Growth::of(record, &session);
    let stop = match record.status {
        Status::Stop(cause) => Some(cause),
        _ => None,
    };
    if record.status != Status::Start || delta_seconds > 0 || delta_bytes > 0 {
        sql::update(tx, session.id, seconds, input, output, now, stop)?;
    }
    if let Some(subscription) = session.subscription_id
        && (delta_seconds > 0 || delta_bytes > 0)
    {
        subscriptions::add_usage(tx, subscription, delta_seconds, delta_bytes)?;
        expiry::enforce_limits(tx, now, subscription)?;
    }
    let updated = sql::by_id(tx, session.id)?.unwrap_or(session);
    match record.status {
        Status::Stop(cause) => emit(tx, now, SessionStopped, &updated, cause)?,
        Status::Interim => emit(tx, now, SessionUpdated, &updated, None)?,
        Status::Start | Status::NasRestart => {}
    }
    Ok(())
}

/// A session's counters after `record` (they only go up: a late, lower record changes
/// nothing) and how much they grew. The arithmetic saturates: a router may report up to
/// 2³² gigawords per direction, whose sum does not fit an `i64`; a saturated counter still
/// reaches every data limit, where a wrapped one would go negative and never reach it.
struct Growth {
    seconds: i64,
    input: i64,
    output: i64,
    delta_seconds: i64,
    delta_bytes: i64,
}

impl Growth {
    fn of(record: &Record, session: &Session) -> Self {
        let seconds = record.session_time_s.max(session.session_time_s);
        let input = record.input_octets.max(session.input_octets);
        let output = record.output_octets.max(session.output_octets);
        Self {
            seconds,
            input,
            output,
            delta_seconds: seconds.saturating_sub(session.session_time_s),
            delta_bytes: input
                .saturating_add(output)
                .saturating_sub(session.input_octets.saturating_add(session.output_octets)),
        }
    }
}

/// A record for a session already closed: a resend (counted already, nothing changes) or the
/// router's own Stop or last Interim arriving after the box closed the session itself (kicked
/// at expiry, NAS reboot). Its counters are the router's final word on what was used: the
/// difference is added to the session and its subscription, and a SessionUpdated event
/// carries the final figures; the stop time and cause the box recorded stay.
fn record_late(
    tx: &mut Tx<'_>,
    now: Timestamp,
    record: &Record,
    session: &Session,
) -> Result<(), DomainError> {
    if !matches!(record.status, Status::Stop(_) | Status::Interim) {
        return Ok(());
    }
    let Growth {
        seconds,
        input,
        output,
        delta_seconds,
        delta_bytes,
    } = Growth::of(record, session);
    if delta_seconds == 0 && delta_bytes == 0 {
        return Ok(());
    }
    sql::update(tx, session.id, seconds, input, output, now, None)?;
    if let Some(subscription) = session.subscription_id {
        subscriptions::add_usage(tx, subscription, delta_seconds, delta_bytes)?;
    }
    let updated = sql::by_id(tx, session.id)?.unwrap_or_else(|| session.clone());
    emit(tx, now, SessionUpdated, &updated, None)
}

/// A session event: `kind` makes the payload from the session's facts.
fn emit<P: Payload>(
    tx: &mut Tx<'_>,
    now: Timestamp,
    kind: fn(SessionFacts) -> P,
    session: &Session,
    cause: Option<u32>,
) -> Result<(), DomainError> {
    tx.emit(
        now,
        &Actor::System,
        NewEvent::new(
            format!("session:{}", session.id),
            &kind(SessionFacts::of(session, cause)),
        ),
    )?;
    Ok(())
}

/// Acct-Terminate-Cause Admin-Reset.
const ADMIN_RESET: u32 = 6;

/// Closes session `id` as gone from its router (kicked, or found missing), when still open.
pub(crate) fn close_gone(tx: &mut Tx<'_>, now: Timestamp, id: i64) -> Result<(), DomainError> {
    let Some(session) = sql::by_id(tx, id)? else {
        return Ok(());
    };
    if session.state == SessionState::Open {
        sql::update(
            tx,
            id,
            session.session_time_s,
            session.input_octets,
            session.output_octets,
            now,
            Some(Some(ADMIN_RESET)),
        )?;
        emit(tx, now, SessionStopped, &session, Some(ADMIN_RESET))?;
    }
    Ok(())
}
