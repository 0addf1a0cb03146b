//! When each periodic job is next due.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::clock::Timestamp;

/// When periodic job `name` is next due; None when it never ran.
pub(crate) fn next_at(conn: &Connection, name: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT next_at FROM periodic_jobs WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?)
}

/// Records when periodic job `name` is next due.
pub(crate) fn set_next_at(conn: &Connection, name: &str, at: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO periodic_jobs (name, next_at) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET next_at = excluded.next_at",
    )?
    .execute(params![name, at])?;
    Ok(())
}
