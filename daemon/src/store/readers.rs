//! A small pool of read-only connections for the web page, metrics and CLI reads. WAL lets them
//! read while the writer writes.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use crate::config::StoreConfig;

#[derive(Debug)]
pub(crate) struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
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
            idle.push(conn);
        }
        Ok(Self {
            idle: Mutex::new(idle),
            returned: Condvar::new(),
        })
    }

    /// Runs `work` on a blocking-pool thread, which waits there for a free connection.
    pub(crate) async fn read<T, E, F>(self: Arc<Self>, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        tokio::task::spawn_blocking(move || self.read_blocking(work))
            .await
            .unwrap_or_else(|_| Err(E::from(StoreError::Panicked)))
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
        let result = work(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        self.returned.notify_one();
        result
    }
}
