//! A small pool of read-only connections for RADIUS logins, the web page, metrics and CLI reads.
//! WAL lets them read while the writer writes.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::StoreError;
use crate::config::StoreConfig;

#[derive(Debug)]
pub(crate) struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
    /// One permit per connection: an async read waits here, on the runtime, rather than on a
    /// blocking thread parked on `returned` (under a RADIUS burst that was dozens of threads
    /// woken and put back to sleep for every connection handed back).
    permits: Arc<Semaphore>,
}

impl ReaderPool {
    pub(crate) fn open(path: &Path, config: &StoreConfig) -> Result<Self, StoreError> {
        let count = usize::try_from(config.readers).unwrap_or(1).max(1);
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(config.busy_timeout.get())?;
            conn.execute_batch("PRAGMA query_only = ON;")?;
            super::prepare_statements_once(&conn)?;
            idle.push(conn);
        }
        Ok(Self {
            idle: Mutex::new(idle),
            returned: Condvar::new(),
            permits: Arc::new(Semaphore::new(count)),
        })
    }

    /// Runs `work` on a blocking-pool thread once a connection is free (waiting for one
    /// asynchronously).
    pub(crate) async fn read<T, E, F>(self: Arc<Self>, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return Err(E::from(StoreError::Closed));
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            self.read_blocking(work)
        })
        .await
        .unwrap_or_else(|_| Err(E::from(StoreError::Panicked)))
    }

    /// Runs a short read on the calling task's thread when a connection is free, else as
    /// [`ReaderPool::read`]. For reads of a few rows by index (a RADIUS login reads about ten in
    /// some tens of microseconds), where handing the work to a blocking thread and back costs
    /// more than the read. Never for a scan.
    pub(crate) async fn read_short<T, E, F>(self: Arc<Self>, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match self.permits.clone().try_acquire_owned() {
            Ok(_permit) => self.read_blocking(work),
            Err(_) => self.read(work).await,
        }
    }

    /// Runs `work` on this thread, waiting for a free connection.
    pub(crate) fn read_blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E>,
        E: From<StoreError>,
    {
        let conn = {
            let mut idle = self
                .idle
                .lock()
                .map_err(|_| E::from(StoreError::Panicked))?;
            loop {
                if let Some(conn) = idle.pop() {
                    break conn;
                }
                idle = self
                    .returned
                    .wait(idle)
                    .map_err(|_| E::from(StoreError::Panicked))?;
            }
        };
        let result = in_snapshot(&conn, work);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        self.returned.notify_one();
        result
    }
}

/// Runs `work` in one read transaction: its statements see one snapshot of the database (a
/// login's account, subscription and sessions as of one commit), and the WAL read lock is taken
/// once rather than per statement.
fn in_snapshot<T, E, F>(conn: &Connection, work: F) -> Result<T, E>
where
    F: FnOnce(&Connection) -> Result<T, E>,
    E: From<StoreError>,
{
    let began = conn
        .prepare_cached("BEGIN")
        .and_then(|mut begin| begin.execute([]));
    if let Err(error) = began {
        return Err(E::from(error.into()));
    }
    let result = work(conn);
    // A read-only transaction has nothing to keep: COMMIT and ROLLBACK only end it.
    let ended = conn
        .prepare_cached("COMMIT")
        .and_then(|mut commit| commit.execute([]));
    if ended.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    match (result, ended) {
        (Ok(_), Err(error)) => Err(E::from(error.into())),
        (result, _) => result,
    }
}
