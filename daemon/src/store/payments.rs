//! The payments table.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::model::payment::{NewPayment, Payment, PaymentState};

/// The payment with `receipt`: (id, state).
pub(crate) fn by_receipt(
    conn: &Connection,
    receipt: &str,
) -> Result<Option<(i64, PaymentState)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, state FROM payments WHERE receipt = ?1")?
        .query_row([receipt], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// Inserts a payment.
pub(crate) fn insert(conn: &Connection, p: &NewPayment<'_>) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO payments (provider, receipt, checkout_request_id, amount, currency, phone, plan_id, subscriber_id,
                               mac, state, reason, raw, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        p.provider,
        p.receipt,
        p.checkout_request_id,
        p.amount,
        p.currency,
        p.phone,
        p.plan_id,
        p.subscriber_id,
        p.mac,
        p.state,
        p.reason,
        p.raw,
        p.received_at
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Links the subscription a payment granted.
pub(crate) fn set_subscription(
    conn: &Connection,
    payment: i64,
    subscription: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE payments SET subscription_id = ?1 WHERE id = ?2")?
        .execute(params![subscription, payment])?;
    Ok(())
}

/// The columns [`payment`] reads, in its order.
const COLUMNS: &str =
    "id, provider, receipt, amount, currency, phone, state, reason, subscription_id, received_at";

fn payment(row: &rusqlite::Row<'_>) -> rusqlite::Result<Payment> {
    Ok(Payment {
        id: row.get(0)?,
        provider: row.get(1)?,
        receipt: row.get(2)?,
        amount: row.get(3)?,
        currency: row.get(4)?,
        phone: row.get(5)?,
        state: row.get(6)?,
        reason: row.get(7)?,
        subscription_id: row.get(8)?,
        received_at: row.get(9)?,
    })
}

/// Payments, newest first; only rejected ones when `rejected_only`.
pub(crate) fn list(
    conn: &Connection,
    rejected_only: bool,
    limit: u32,
) -> Result<Vec<Payment>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM payments WHERE (?1 = 0 OR state = 'rejected') ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![rejected_only, limit], payment)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Payments that took money but granted nothing (rejected, or no subscription), newest first.
pub(crate) fn unprovisioned(conn: &Connection, limit: u32) -> Result<Vec<Payment>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM payments
         WHERE state = 'rejected' OR subscription_id IS NULL ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit], payment)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The payment with `receipt` (matched without regard to case).
pub(crate) fn find(conn: &Connection, receipt: &str) -> Result<Option<Payment>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM payments WHERE receipt = ?1 COLLATE NOCASE"
        ))?
        .query_row([receipt], payment)
        .optional()?)
}

#[cfg(test)]
/// How many subscriptions were granted from payment receipts (for the oracle: one per receipt).
pub(crate) fn subscriptions_per_receipt(
    conn: &Connection,
    receipt: &str,
) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM subscriptions s JOIN payments p ON s.payment_id = p.id WHERE p.receipt = ?1",
        [receipt],
        |row| row.get(0),
    )?)
}
