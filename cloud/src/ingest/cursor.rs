//! A site's cursor: the highest seq such that every seq from 1 to it is stored.

use crate::db::{Db, DbError};

/// Seqs read per step of [`contiguous_end`].
const STEP: i64 = 4096;

/// The end of the contiguous run of stored seqs that starts right after `old`: `old` itself
/// when `old + 1` is missing.
///
/// `known` holds seqs the caller knows are stored (the batch just inserted, ascending): a run
/// of them starting at `old + 1` is taken without reading it back. The rest is read from the
/// primary key in bounded ranges, so each step is an index range scan whatever the table's
/// statistics say (a `NOT EXISTS (… seq = e.seq + 1)` anti-join was planned as a nested loop
/// over every row of the site while the table was young: seconds per batch in a drain).
pub async fn contiguous_end(
    tx: &Db<'_>,
    tenant: &str,
    site: &str,
    old: i64,
    known: &[i64],
) -> Result<i64, DbError> {
    let mut through = old;
    for seq in known {
        if *seq == through + 1 {
            through = *seq;
        } else if *seq > through + 1 {
            break;
        }
    }
    loop {
        let rows = tx
            .query(
                "SELECT seq FROM events
                 WHERE tenant_id = $1 AND site_id = $2 AND seq > $3 AND seq <= $3 + $4
                 ORDER BY seq",
                &[&tenant, &site, &through, &STEP],
            )
            .await?;
        let start = through;
        for row in &rows {
            let seq: i64 = row.get(0);
            if seq != through + 1 {
                return Ok(through);
            }
            through = seq;
        }
        if through - start < STEP {
            return Ok(through);
        }
    }
}
