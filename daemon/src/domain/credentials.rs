//! A subscriber's credentials, opened: what a login (RADIUS) and a router's copy of the
//! account (provisioning) are checked against. Sealed at rest; opened only here.

use super::DomainError;
use crate::model::subscriber::{StoredCredential, Subscriber};
use crate::secrets::{Field, Secrets};
use crate::store::subscribers as sql;

/// The subscriber named `username` and what its login is checked against.
pub(crate) fn credential(
    conn: &rusqlite::Connection,
    secrets: &Secrets,
    username: &str,
) -> Result<Option<(Subscriber, StoredCredential)>, DomainError> {
    let Some((subscriber, password, nt_hash)) = sql::with_credentials(conn, username)? else {
        return Ok(None);
    };
    let credential = if subscriber.mac_auth {
        StoredCredential::MacAuth
    } else if let Some(sealed) = password {
        StoredCredential::Password(secrets.open_text(Field::SubscriberPassword, &sealed)?)
    } else if let Some(sealed) = nt_hash {
        let bytes = secrets.open(Field::SubscriberNtHash, &sealed)?;
        StoredCredential::NtHash(bytes.try_into().map_err(|_| {
            DomainError::Invalid(format!(
                "subscriber `{username}`: stored NT hash is not 16 bytes"
            ))
        })?)
    } else {
        return Ok(None);
    };
    Ok(Some((subscriber, credential)))
}
