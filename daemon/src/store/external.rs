//! Commits by other processes on the same file (the CLI beside the daemon: a router added, a
//! failed job retried) are noticed through `PRAGMA data_version` on a connection of our own,
//! checked twice a second; their events are published on the bus in order and every queue is
//! woken. In-process commits never wait on this: the writer publishes them at once.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{Inner, StoreError, outbox};

/// How often another process's commit is looked for.
const EVERY: Duration = Duration::from_millis(500);

/// Starts the watcher thread; it ends when the store is dropped.
pub(crate) fn watch(path: &Path, store: &Arc<Inner>) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // The version now, before any other process can commit: a commit that lands before the
    // first check still counts as a change.
    let version: i64 = conn.query_row("PRAGMA data_version", [], |row| row.get(0))?;
    let store = Arc::downgrade(store);
    std::thread::Builder::new()
        .name("store-external".into())
        .spawn(move || run(&conn, &store, version))
        .map_err(|source| StoreError::Io {
            path: "store-external thread".into(),
            source,
        })?;
    Ok(())
}

fn run(conn: &Connection, store: &Weak<Inner>, mut version: i64) {
    loop {
        std::thread::sleep(EVERY);
        let Some(store) = store.upgrade() else { return };
        let now: i64 = match conn.query_row("PRAGMA data_version", [], |row| row.get(0)) {
            Ok(now) => now,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read data_version");
                continue;
            }
        };
        if std::mem::replace(&mut version, now) == now {
            continue;
        }
        let after = store.bus.published();
        let published = outbox::after(conn, after, 10_000).and_then(|events| {
            let events = events.into_iter().map(Arc::new).collect();
            store
                .bus
                .publish_in_order(events, |after, before| outbox::between(conn, after, before))
        });
        match published {
            Ok(0) => {}
            Ok(count) => {
                tracing::debug!(count, "published events committed by another process");
                store.wakeups.wake_all();
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read events committed by another process")
            }
        }
    }
}
