//! Errors of the store.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused a statement.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction's COMMIT failed, so nothing of it was kept.
    #[error("commit failed, nothing was written: {0}")]
    Commit(String),
    /// BEGIN failed (the database stayed locked by another process past busy_timeout).
    #[error("could not start a write transaction: {0}")]
    Begin(String),
    /// A write closure panicked; its changes were rolled back.
    #[error("a write panicked and was rolled back")]
    Panicked,
    /// The writer thread has stopped (the store is closing).
    #[error("the store is closed")]
    Closed,
    /// A file (a backup, a copy) failed its integrity check.
    #[error("{path}: integrity check failed: {detail}")]
    Corrupt {
        /// The database file.
        path: String,
        /// What SQLite reported.
        detail: String,
    },
    /// The daemon's own database is damaged: it failed its integrity check at start, or SQLite
    /// found a malformed page while opening it. The message is the whole story for the
    /// operator: what, where, and the two ways out.
    #[error(
        "{path} is damaged: {detail}. siteboxd will not run on it (exit 65; systemd does not \
         restart it). Restore the newest backup: `siteboxd restore BACKUP` (as root, with the \
         daemon stopped). Without a backup, salvage what can still be read (apt install \
         sqlite3; the sed keeps what was read past a damaged table): `sqlite3 {path} .dump | \
         sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' | sqlite3 /root/sitebox-salvaged.db && \
         sqlite3 /root/sitebox-salvaged.db 'PRAGMA user_version = {version}'`, then `siteboxd restore \
         /root/sitebox-salvaged.db`; the damaged file is kept beside it as .pre-restore-*. \
         Then replace the SD card."
    )]
    Damaged {
        /// The database file.
        path: String,
        /// What SQLite reported.
        detail: String,
        /// The schema version in the file's header (the salvaged copy must carry it).
        version: u32,
    },
    /// Another siteboxd holds the database.
    #[error("{0} is locked by another running siteboxd")]
    Locked(String),
    /// The database was written by a newer Sitebox.
    #[error(
        "database schema version {found} is newer than this siteboxd knows ({known}); upgrade siteboxd"
    )]
    TooNew {
        /// The file's schema version.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// The data directory cannot be written (owner, read-only file system).
    #[error("data directory {dir}: {problem}")]
    DataDir {
        /// The directory.
        dir: String,
        /// What is wrong and the fix.
        problem: String,
    },
    /// Opening the file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// What was being opened.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stored value could not be decoded (e.g. JSON that is not what this version writes).
    #[error("bad stored value: {0}")]
    Decode(String),
}
