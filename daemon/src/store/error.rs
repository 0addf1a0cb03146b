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
    /// The file failed its integrity check at start.
    #[error("{path}: integrity check failed: {detail}")]
    Corrupt {
        /// The database file.
        path: String,
        /// What SQLite reported.
        detail: String,
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
