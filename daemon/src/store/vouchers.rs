//! The vouchers table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::plans;
use crate::clock::Timestamp;
use crate::model::PlanId;
use crate::model::plan::Plan;
use crate::model::voucher::Voucher;

fn voucher(row: &Row<'_>) -> rusqlite::Result<Voucher> {
    Ok(Voucher {
        id: row.get(0)?,
        code: row.get(1)?,
        plan_id: row.get(2)?,
        plan: row.get(3)?,
        batch: row.get(4)?,
        state: row.get(5)?,
    })
}

const SELECT: &str = "SELECT v.id, v.code, v.plan_id, p.name, v.batch, v.state FROM vouchers v JOIN plans p ON p.id = v.plan_id";

/// Inserts a voucher; false when the code is taken.
pub(crate) fn insert(
    conn: &Connection,
    code: &str,
    plan: i64,
    batch: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached("INSERT OR IGNORE INTO vouchers (code, plan_id, batch, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![code, plan, batch, now])?;
    Ok(inserted == 1)
}

/// A batch's vouchers, by id.
pub(crate) fn batch(conn: &Connection, batch: &str) -> Result<Vec<Voucher>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE v.batch = ?1 ORDER BY v.id"))?;
    let rows = stmt.query_map([batch], voucher)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Vouchers, newest first.
pub(crate) fn list(conn: &Connection, limit: u32) -> Result<Vec<Voucher>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY v.id DESC LIMIT ?1"))?;
    let rows = stmt.query_map([limit], voucher)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The unused voucher `code` (codes are matched without regard to case) and its plan.
pub(crate) fn unused(conn: &Connection, code: &str) -> Result<Option<(Voucher, Plan)>, StoreError> {
    let found = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE v.code = upper(?1) AND v.state = 'unused'"
        ))?
        .query_row([code], voucher)
        .optional()?;
    match found {
        Some(v) => {
            let plan = plans::get(conn, PlanId(v.plan_id))?;
            Ok(plan.map(|plan| (v, plan)))
        }
        None => Ok(None),
    }
}

/// Marks a voucher redeemed; false when it was not unused (redeemed once only).
pub(crate) fn mark_redeemed(
    conn: &Connection,
    id: i64,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("UPDATE vouchers SET state = 'redeemed', redeemed_at = ?1 WHERE id = ?2 AND state = 'unused'")?
        .execute(params![now, id])?;
    Ok(changed == 1)
}

/// Links the subscriber a voucher became.
pub(crate) fn set_subscriber(
    conn: &Connection,
    id: i64,
    subscriber: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE vouchers SET subscriber_id = ?1 WHERE id = ?2")?
        .execute(params![subscriber, id])?;
    Ok(())
}
