//! Technician logins for the page: made, re-passworded and removed by an operator, each with
//! an audit row. The password is hashed by the caller (`crate::passwords::hash_password`,
//! tens of milliseconds of argon2) before the write, not on the writer thread.

use serde::Deserialize;

use super::error::ensure;
use super::{DomainError, Named};
use crate::clock::Timestamp;
use crate::model::event::payload::TechnicianAction;
use crate::model::event::{Actor, NewEvent};
use crate::model::technician::Role;
use crate::store::{Tx, web as sql};

/// A login to make.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTechnician {
    /// Login name: 1-64 characters without spaces.
    pub name: String,
    /// What they may do.
    pub role: Role,
}

/// Makes a login with the argon2id `password_hash`.
pub(crate) fn add(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: NewTechnician,
    password_hash: &str,
) -> Result<(), DomainError> {
    let NewTechnician { name, role } = args;
    ensure(
        (1..=64).contains(&name.len()) && !name.contains(char::is_whitespace),
        || "a name is 1-64 characters without spaces".into(),
    )?;
    if !sql::add_technician(tx, &name, password_hash, role, now)? {
        return Err(DomainError::Exists(format!("technician `{name}`")));
    }
    audit(
        tx,
        actor,
        now,
        &name.clone(),
        TechnicianAction::TechnicianAdded { name, role },
    )
}

/// Removes a login (and its sessions).
pub(crate) fn remove(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Named,
) -> Result<(), DomainError> {
    let Named { name } = args;
    if !sql::remove_technician(tx, &name)? {
        return Err(DomainError::NotFound(format!("technician `{name}`")));
    }
    audit(
        tx,
        actor,
        now,
        &name.clone(),
        TechnicianAction::TechnicianRemoved { name },
    )
}

/// Gives a login the argon2id `password_hash` and ends its sessions.
pub(crate) fn set_password(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Named,
    password_hash: &str,
) -> Result<(), DomainError> {
    let Named { name } = args;
    if !sql::set_password(tx, &name, password_hash, now)? {
        return Err(DomainError::NotFound(format!("technician `{name}`")));
    }
    audit(
        tx,
        actor,
        now,
        &name.clone(),
        TechnicianAction::PasswordChanged { name },
    )
}

fn audit(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    name: &str,
    action: TechnicianAction,
) -> Result<(), DomainError> {
    tx.emit(
        now,
        actor,
        NewEvent::new(format!("technician:{name}"), &action),
    )?;
    Ok(())
}
