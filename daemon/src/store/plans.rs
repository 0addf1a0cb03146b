//! The plans table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::clock::Timestamp;
use crate::model::PlanId;
use crate::model::plan::{NewPlan, Plan, PlanState};

const COLUMNS: &str = "id, name, kind, price, currency, validity_s, time_limit_s, data_limit, rate_limit, shared_users,
     mac_binding, idle_timeout_s, interim_s, state";

fn plan(row: &Row<'_>) -> rusqlite::Result<Plan> {
    Ok(Plan {
        id: PlanId(row.get(0)?),
        name: row.get(1)?,
        kind: row.get(2)?,
        price: row.get(3)?,
        currency: row.get(4)?,
        validity_s: row.get(5)?,
        time_limit_s: row.get(6)?,
        data_limit: row.get(7)?,
        rate_limit: row.get(8)?,
        shared_users: row.get(9)?,
        mac_binding: row.get(10)?,
        idle_timeout_s: row.get(11)?,
        interim_s: row.get(12)?,
        state: row.get(13)?,
    })
}

/// Inserts a validated plan.
pub(crate) fn insert(
    conn: &Connection,
    plan: &NewPlan,
    now: Timestamp,
) -> Result<PlanId, StoreError> {
    conn.prepare_cached(
        "INSERT INTO plans (name, kind, price, currency, validity_s, time_limit_s, data_limit, rate_limit, shared_users,
                            mac_binding, idle_timeout_s, interim_s, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
    )?
    .execute(params![
        plan.name,
        plan.kind,
        plan.price,
        plan.currency,
        plan.validity_s,
        plan.time_limit_s,
        plan.data_limit,
        plan.rate_limit,
        plan.shared_users,
        plan.mac_binding,
        plan.idle_timeout_s,
        plan.interim_s,
        now
    ])?;
    Ok(PlanId(conn.last_insert_rowid()))
}

/// A plan by id.
pub(crate) fn get(conn: &Connection, id: PlanId) -> Result<Option<Plan>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM plans WHERE id = ?1"))?
        .query_row([id.0], plan)
        .optional()?)
}

/// A plan by name.
pub(crate) fn by_name(conn: &Connection, name: &str) -> Result<Option<Plan>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM plans WHERE name = ?1"))?
        .query_row([name], plan)
        .optional()?)
}

/// Every plan, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<Plan>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM plans ORDER BY name"))?;
    let rows = stmt.query_map([], plan)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets `active` or `disabled`.
pub(crate) fn set_state(
    conn: &Connection,
    id: PlanId,
    state: PlanState,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE plans SET state = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute(params![state, now, id.0])?;
    Ok(())
}

/// Writes a plan's editable fields (everything but name, kind, currency and state).
pub(crate) fn update(conn: &Connection, plan: &Plan, now: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE plans SET price = ?1, validity_s = ?2, time_limit_s = ?3, data_limit = ?4, rate_limit = ?5,
                          shared_users = ?6, mac_binding = ?7, idle_timeout_s = ?8, interim_s = ?9,
                          updated_at = ?10
         WHERE id = ?11",
    )?
    .execute(params![
        plan.price,
        plan.validity_s,
        plan.time_limit_s,
        plan.data_limit,
        plan.rate_limit,
        plan.shared_users,
        plan.mac_binding,
        plan.idle_timeout_s,
        plan.interim_s,
        now,
        plan.id.0
    ])?;
    Ok(())
}
