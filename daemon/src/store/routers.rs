//! The routers table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::RouterId;
use crate::model::router::{NewRouter, Router, RouterState};

const COLUMNS: &str =
    "id, name, nas_ip, nas_identifier, coa_port, require_message_authenticator, api_host, api_port,
     api_tls, api_fingerprint, api_user, codepage, state, status, status_detail";

fn router(row: &Row<'_>) -> rusqlite::Result<Router> {
    Ok(Router {
        id: RouterId(row.get(0)?),
        name: row.get(1)?,
        nas_ip: row.get(2)?,
        nas_identifier: row.get(3)?,
        coa_port: row.get(4)?,
        require_message_authenticator: row.get(5)?,
        api_host: row.get(6)?,
        api_port: row.get(7)?,
        api_tls: row.get(8)?,
        api_fingerprint: row.get(9)?,
        api_user: row.get(10)?,
        codepage: row.get(11)?,
        state: row.get(12)?,
        status: row.get(13)?,
        status_detail: row.get(14)?,
    })
}

/// Inserts a router with its sealed secrets.
pub(crate) fn insert(
    conn: &Connection,
    router: &NewRouter,
    secret: &[u8],
    api_password: Option<&[u8]>,
    now: Timestamp,
) -> Result<RouterId, StoreError> {
    let api = router.api.as_ref();
    conn.prepare_cached(
        "INSERT INTO routers (name, nas_ip, nas_identifier, radius_secret, coa_port, api_host, api_port, api_tls,
                              api_fingerprint, api_user, api_password, codepage, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
    )?
    .execute(params![
        router.name,
        router.nas_ip.to_string(),
        router.nas_identifier,
        secret,
        router.coa_port,
        api.map(|a| a.host.clone()),
        api.map(|a| a.port),
        api.is_some_and(|a| a.tls),
        api.and_then(|a| a.fingerprint.clone()),
        api.map(|a| a.user.clone()),
        api_password,
        router.codepage,
        now
    ])?;
    Ok(RouterId(conn.last_insert_rowid()))
}

/// A router by id.
pub(crate) fn get(conn: &Connection, id: RouterId) -> Result<Option<Router>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM routers WHERE id = ?1"))?
        .query_row([id.0], router)
        .optional()?)
}

/// A router by name.
pub(crate) fn by_name(conn: &Connection, name: &str) -> Result<Option<Router>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM routers WHERE name = ?1"))?
        .query_row([name], router)
        .optional()?)
}

/// A router by its RADIUS source address.
pub(crate) fn by_nas_ip(conn: &Connection, ip: &str) -> Result<Option<Router>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM routers WHERE nas_ip = ?1"))?
        .query_row([ip], router)
        .optional()?)
}

/// Every router, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<Router>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM routers ORDER BY name"))?;
    let rows = stmt.query_map([], router)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets `active` or `disabled`.
pub(crate) fn set_state(
    conn: &Connection,
    id: RouterId,
    state: RouterState,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE routers SET state = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute(params![state, now, id.0])?;
    Ok(())
}

/// The sealed RADIUS secret.
pub(crate) fn radius_secret(
    conn: &Connection,
    id: RouterId,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT radius_secret FROM routers WHERE id = ?1")?
        .query_row([id.0], |row| row.get(0))
        .optional()?)
}

/// The sealed API password, if any.
pub(crate) fn api_password(conn: &Connection, id: RouterId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT api_password FROM routers WHERE id = ?1")?
        .query_row([id.0], |row| row.get(0))
        .optional()?
        .flatten())
}
