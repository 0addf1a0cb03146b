//! Numbered schema migrations, embedded in the binary and applied in order at start-up.
//!
//! The applied version is SQLite's `user_version`. Each migration runs in its own transaction
//! with the version bump, so a crash mid-migration leaves the previous version intact.

use rusqlite::Connection;

use super::StoreError;

/// (version, name, SQL). Versions start at 1 and only go up. Never edit a released one, and
/// never slot one in below the latest: add the next (a database already past a lower number
/// would never run it).
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "job queue", include_str!("migrations/0001_queue.sql")),
    (
        2,
        "outbox and audit log",
        include_str!("migrations/0002_outbox.sql"),
    ),
    (3, "cloud sync", include_str!("migrations/0003_sync.sql")),
    (
        5,
        "hotspot domain",
        include_str!("migrations/0005_domain.sql"),
    ),
    (
        6,
        "router health",
        include_str!("migrations/0006_provisioning.sql"),
    ),
    // 4 was never released: a database already past it would have skipped it.
    (
        7,
        "technician page",
        include_str!("migrations/0007_web.sql"),
    ),
    (
        8,
        "clock standing",
        include_str!("migrations/0008_clock.sql"),
    ),
    (
        9,
        "outbox rewind",
        include_str!("migrations/0009_outbox_rewind.sql"),
    ),
];

/// The schema version this build writes.
pub const LATEST_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database to [`LATEST_VERSION`]; refuses a file from a newer build.
pub(crate) fn apply(conn: &Connection) -> Result<u32, StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > LATEST_VERSION {
        return Err(StoreError::TooNew {
            found: current,
            known: LATEST_VERSION,
        });
    }
    for &(version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let applied = conn
            .execute_batch(sql)
            .and_then(|()| conn.execute_batch(&format!("PRAGMA user_version = {version}")));
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(err) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(err.into());
            }
        }
        tracing::info!(version, name, "applied migration");
    }
    Ok(LATEST_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_only_go_up() {
        assert_eq!(MIGRATIONS[0].0, 1);
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} then {}", pair[0].0, pair[1].0);
        }
    }

    #[test]
    fn a_database_from_the_build_before_the_page_gets_the_page_tables() {
        let conn = Connection::open_in_memory().expect("memory db");
        apply(&conn).expect("first");
        conn.execute_batch(
            "DROP TABLE login_attempts; DROP TABLE web_sessions; DROP TABLE technicians;
             DROP TABLE clock_state; DROP TABLE outbox_rewind;
             PRAGMA user_version = 6;",
        )
        .expect("back to 6");
        assert_eq!(apply(&conn).expect("upgrade"), LATEST_VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'
                 AND name IN ('technicians', 'web_sessions', 'login_attempts')",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(tables, 3);
    }

    #[test]
    fn applying_twice_changes_nothing_and_a_newer_file_is_refused() {
        let conn = Connection::open_in_memory().expect("memory db");
        assert_eq!(apply(&conn).expect("first"), LATEST_VERSION);
        assert_eq!(apply(&conn).expect("second"), LATEST_VERSION);
        conn.execute_batch(&format!("PRAGMA user_version = {}", LATEST_VERSION + 1))
            .expect("bump");
        assert!(matches!(apply(&conn), Err(StoreError::TooNew { .. })));
    }
}
