//! Operator actions on accounting sessions: cutting one off.

use serde::{Deserialize, Serialize};

use super::DomainError;
use crate::clock::Timestamp;
use crate::model::event::payload::TechnicianAction;
use crate::model::event::{Actor, NewEvent};
use crate::model::job::{DisconnectSession, Enqueued, JobKind};
use crate::model::session::SessionState;
use crate::store::{Tx, sessions as sql};

/// Which session to cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Kick {
    /// The sessions table's id.
    pub session_id: i64,
}

/// What a kick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Kicked {
    /// The session.
    pub session_id: i64,
    /// Its disconnect job (Disconnect-Request, then the RouterOS API).
    pub job: Enqueued,
}

/// Cuts an open session off: a disconnect job, with an audit row. Refused for a session that
/// is closed already.
pub(crate) fn kick(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Kick,
) -> Result<Kicked, DomainError> {
    let id = args.session_id;
    let Some(session) = sql::by_id(tx, id)? else {
        return Err(DomainError::NotFound(format!("session {id}")));
    };
    if session.state != SessionState::Open {
        return Err(DomainError::Invalid(format!(
            "session {id} is already closed"
        )));
    }
    let job = tx.enqueue(&DisconnectSession { session_id: id }.spec(), now)?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("session:{id}"),
            &TechnicianAction::Kick {
                session_id: id,
                username: session.username,
                job,
            },
        ),
    )?;
    Ok(Kicked {
        session_id: id,
        job,
    })
}
