//! The subscribers and subscriber_macs tables.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::SubscriberId;
use crate::model::subscriber::{NewSubscriber, Subscriber, SubscriberState};

/// Inserts a subscriber with its sealed credentials.
pub(crate) fn insert(
    conn: &Connection,
    new: &NewSubscriber,
    password: Option<&[u8]>,
    nt_hash: Option<&[u8]>,
    now: Timestamp,
) -> Result<SubscriberId, StoreError> {
    conn.prepare_cached(
        "INSERT INTO subscribers (username, kind, password, nt_hash, mac_auth, phone, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![new.username, new.kind, password, nt_hash, new.mac_auth, new.phone, now])?;
    Ok(SubscriberId(conn.last_insert_rowid()))
}

fn macs(conn: &Connection, id: SubscriberId) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT mac FROM subscriber_macs WHERE subscriber_id = ?1 ORDER BY bound_at, mac",
    )?;
    let rows = stmt.query_map([id.0], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

type Row = (Subscriber, Option<Vec<u8>>, Option<Vec<u8>>);

fn fetch(
    conn: &Connection,
    clause: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<Row>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT id, username, kind, mac_auth, phone, state, password, nt_hash FROM subscribers WHERE {clause}"
        ))?
        .query_row([key], |row| {
            Ok((
                Subscriber {
                    id: SubscriberId(row.get(0)?),
                    username: row.get(1)?,
                    kind: row.get(2)?,
                    mac_auth: row.get(3)?,
                    phone: row.get(4)?,
                    state: row.get(5)?,
                    macs: Vec::new(),
                },
                row.get(6)?,
                row.get(7)?,
            ))
        })
        .optional()?;
    match row {
        Some((mut subscriber, password, nt_hash)) => {
            subscriber.macs = macs(conn, subscriber.id)?;
            Ok(Some((subscriber, password, nt_hash)))
        }
        None => Ok(None),
    }
}

/// A subscriber by id.
pub(crate) fn get(conn: &Connection, id: SubscriberId) -> Result<Option<Subscriber>, StoreError> {
    Ok(fetch(conn, "id = ?1", &id.0)?.map(|(s, _, _)| s))
}

/// A subscriber by username.
pub(crate) fn by_username(
    conn: &Connection,
    username: &str,
) -> Result<Option<Subscriber>, StoreError> {
    Ok(fetch(conn, "username = ?1", &username)?.map(|(s, _, _)| s))
}

/// A subscriber with its sealed password and NT hash.
pub(crate) fn with_credentials(
    conn: &Connection,
    username: &str,
) -> Result<Option<Row>, StoreError> {
    fetch(conn, "username = ?1 AND state != 'deleted'", &username)
}

/// Subscribers whose username or phone contains `search`, by username.
pub(crate) fn search(
    conn: &Connection,
    search: &str,
    limit: u32,
) -> Result<Vec<Subscriber>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM subscribers WHERE username LIKE '%' || ?1 || '%' OR phone LIKE '%' || ?1 || '%'
         ORDER BY username LIMIT ?2",
    )?;
    let ids: Vec<i64> = stmt
        .query_map(params![search, limit], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(subscriber) = get(conn, SubscriberId(id))? {
            found.push(subscriber);
        }
    }
    Ok(found)
}

/// Sets the state.
pub(crate) fn set_state(
    conn: &Connection,
    id: SubscriberId,
    state: SubscriberState,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE subscribers SET state = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute(params![state, now, id.0])?;
    Ok(())
}

/// Binds a MAC (no-op when bound already).
pub(crate) fn bind_mac(
    conn: &Connection,
    id: SubscriberId,
    mac: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO subscriber_macs (subscriber_id, mac, bound_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id.0, mac, now])?;
    Ok(())
}
