//! The SQLite store: one file in WAL mode, one writer thread, a few read-only connections.
//!
//! Architecture Invariant: only this module speaks SQL. Everything that changes state does so in
//! one write transaction with the domain rows, the jobs it causes, its outbox event and its audit
//! row; nothing is announced that did not commit.

pub(crate) mod backup;
mod bus;
pub(crate) mod clock;
mod error;
mod external;
pub(crate) mod health;
pub mod jobs;
mod migrations;
pub(crate) mod outbox;
pub(crate) mod payments;
pub(crate) mod periodic;
pub(crate) mod plans;
mod readers;
pub(crate) mod router_health;
pub(crate) mod routers;
pub(crate) mod sessions;
pub(crate) mod subscribers;
pub(crate) mod subscriptions;
pub(crate) mod sync;
mod tx;
pub(crate) mod vouchers;
mod wakeups;
pub(crate) mod web;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

pub use bus::EventBus;
pub use error::StoreError;
pub use migrations::LATEST_VERSION;
pub use tx::Tx;
pub use wakeups::Wakeups;

use crate::config::{IntegrityCheck, StoreConfig, Synchronous};
use health::{FaultKind, WriteHealth};
use readers::ReaderPool;
use writer::{Hooks, Pending, WriteJob};

/// How many writes may wait for the writer thread before callers wait to enqueue theirs.
const WRITE_QUEUE: usize = 4096;

/// Who opens the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// The daemon: takes the lock file so that only one daemon runs on a database.
    Daemon,
    /// A CLI command run beside a daemon (or alone): no lock file.
    Tool,
}

/// A handle on the open database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    writes: mpsc::Sender<WriteJob>,
    readers: Arc<ReaderPool>,
    path: PathBuf,
    bus: EventBus,
    wakeups: Wakeups,
    health: Arc<WriteHealth>,
    // Held for the process's life: dropping it releases the daemon lock.
    _lock: Option<File>,
}

impl Store {
    /// Opens (creating if needed) the database, checks it, applies migrations and starts the
    /// writer thread.
    pub fn open(config: &StoreConfig, opener: Opener) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| data_dir_error(&config.data_dir, source))?;
        let path = config.database_path();
        let lock = match opener {
            Opener::Daemon => {
                check_writable(&config.data_dir)?;
                Some(take_lock(&path)?)
            }
            Opener::Tool => None,
        };
        // A damaged page can surface at any step of opening, not only in the integrity check:
        // each one names the file and the fix the same way.
        let damaged = |err: StoreError| damaged(&path, err);
        let conn = open_writer(&path, config).map_err(damaged)?;
        check_integrity(&conn, &path, config.integrity_check).map_err(damaged)?;
        migrations::apply(&conn).map_err(damaged)?;
        let readers = Arc::new(ReaderPool::open(&path, config).map_err(damaged)?);

        let bus = EventBus::new(outbox::last_seq(&conn).map_err(damaged)?);
        let wakeups = Wakeups::default();
        let (writes, jobs) = mpsc::channel(WRITE_QUEUE);
        let health = Arc::new(WriteHealth::new(&path, &config.data_dir));
        let hooks = Hooks {
            bus: bus.clone(),
            wakeups: wakeups.clone(),
            health: health.clone(),
        };
        let group_max = usize::try_from(config.group_commit_max).unwrap_or(1).max(1);
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(conn, jobs, group_max, hooks))
            .map_err(|source| StoreError::Io {
                path: "store-writer thread".into(),
                source,
            })?;
        let inner = Arc::new(Inner {
            writes,
            readers,
            path,
            bus,
            wakeups,
            health,
            _lock: lock,
        });
        if opener == Opener::Daemon {
            external::watch(&inner.path, &inner)?;
        }
        Ok(Self { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The in-process event bus: committed events are published here.
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// The queue wake-ups: committed enqueues wake their queue's workers through these.
    pub fn wakeups(&self) -> &Wakeups {
        &self.inner.wakeups
    }

    /// Whether the writer thread has stopped (it ends only when the store closes, or panics).
    pub(crate) fn writer_stopped(&self) -> bool {
        self.inner.writes.is_closed()
    }

    /// Whether writes reach the disk (see [`health`]).
    pub(crate) fn health(&self) -> &WriteHealth {
        &self.inner.health
    }

    /// A write that must reach the disk: a row changed through the writer thread, and the
    /// probe file in the data directory written and synced. Records the outcome in
    /// [`Store::health`] (a fault ends only with a probe that succeeded after it).
    pub(crate) async fn probe_writes(&self) -> Result<(), String> {
        let started = Instant::now();
        let written = self.write(|tx| web::touch(tx)).await;
        if let Err(err) = written {
            let cause = err.to_string();
            self.health().failed(FaultKind::of_message(&cause), &cause);
            return Err(cause);
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.health.probe_file())
            .await
            .map_err(|_| "the disk probe panicked".to_string())??;
        self.health().probe_succeeded(started);
        Ok(())
    }

    /// Runs `work` in a write transaction on the writer thread; resolves after the commit.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: WriteJob = Box::new(Pending { work, reply });
        if self.inner.writes.send(job).await.is_err() {
            return Err(E::from(StoreError::Closed));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }

    /// [`Store::write`] for code that is not async (the CLI). Must not be called on a runtime
    /// worker thread.
    pub fn write_blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: WriteJob = Box::new(Pending { work, reply });
        if self.inner.writes.blocking_send(job).is_err() {
            return Err(E::from(StoreError::Closed));
        }
        answer
            .blocking_recv()
            .unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }

    /// Runs `work` on a read-only connection on a blocking thread.
    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.inner.readers.clone().read(work).await
    }

    /// [`Store::read`] for a read of a few rows by index: it runs on the calling task's thread
    /// when a connection is free, which saves two thread hand-offs (see
    /// `ReaderPool::read_short`).
    pub async fn read_short<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.inner.readers.clone().read_short(work).await
    }

    /// [`Store::read`] for code that is not async.
    pub fn read_blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E>,
        E: From<StoreError>,
    {
        self.inner.readers.read_blocking(work)
    }

    /// Runs `PRAGMA integrity_check` on a read connection and returns SQLite's answer lines
    /// (`["ok"]` when the file is sound).
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.read_blocking(|conn| {
            let mut stmt = conn.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

/// A failed integrity check, and SQLite's "malformed" and "not a database" at any step of
/// opening, as [`StoreError::Damaged`], naming the file and the fix.
fn damaged(path: &Path, err: StoreError) -> StoreError {
    let detail = match err {
        StoreError::Corrupt { detail, .. } => detail,
        StoreError::Sqlite(sqlite)
            if matches!(
                sqlite.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            ) =>
        {
            sqlite.to_string()
        }
        err => return err,
    };
    StoreError::Damaged {
        path: path.display().to_string(),
        // SQLite's report comes one finding per line.
        detail: detail
            .replace("*** in database main ***", "")
            .trim()
            .replace('\n', "; "),
        version: header_user_version(path).unwrap_or(LATEST_VERSION),
    }
}

/// `PRAGMA user_version` read from the file header (bytes 60..64, big-endian): page 1 may be
/// readable when the rest is not.
fn header_user_version(path: &Path) -> Option<u32> {
    use std::io::{Read as _, Seek as _};
    let mut file = File::open(path).ok()?;
    file.seek(std::io::SeekFrom::Start(60)).ok()?;
    let mut bytes = [0u8; 4];
    file.read_exact(&mut bytes).ok()?;
    Some(u32::from_be_bytes(bytes)).filter(|v| (1..=LATEST_VERSION).contains(v))
}

/// The daemon writes in its data directory (the lock file, the WAL): one that it cannot write
/// is reported once, with its owner and the fix, before anything else fails on it.
fn check_writable(dir: &Path) -> Result<(), StoreError> {
    match nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    ) {
        Ok(()) => Ok(()),
        Err(errno) => Err(data_dir_error(dir, std::io::Error::from(errno))),
    }
}

/// An error on the data directory itself, with the fix when it is a known one.
fn data_dir_error(dir: &Path, source: std::io::Error) -> StoreError {
    let shown = dir.display();
    let fix = match source.kind() {
        std::io::ErrorKind::PermissionDenied => {
            let me = nix::unistd::User::from_uid(nix::unistd::Uid::effective())
                .ok()
                .flatten()
                .map_or_else(|| nix::unistd::Uid::effective().to_string(), |u| u.name);
            let owner = std::os::unix::fs::MetadataExt::uid(&match std::fs::metadata(dir) {
                Ok(meta) => meta,
                Err(_) => {
                    return StoreError::DataDir {
                        dir: shown.to_string(),
                        problem: format!(
                            "siteboxd runs as `{me}` and cannot reach it ({source}): give it and \
                             its parents to that user (`chown -R {me}: {shown}`)"
                        ),
                    };
                }
            });
            let owner = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(owner))
                .ok()
                .flatten()
                .map_or_else(|| format!("uid {owner}"), |u| format!("`{}`", u.name));
            format!(
                "siteboxd runs as `{me}` and cannot write to it (owned by {owner}): give it to \
                 the service user: `chown -R {me}: {shown}`"
            )
        }
        std::io::ErrorKind::ReadOnlyFilesystem => format!(
            "it is on a read-only file system: remount it read-write (`mount -o remount,rw` on \
             its mount point; `findmnt -T {shown}`), after checking the card (`dmesg`), or point \
             `[store] data_dir` at a writable directory"
        ),
        _ => {
            return StoreError::Io {
                path: shown.to_string(),
                source,
            };
        }
    };
    StoreError::DataDir {
        dir: shown.to_string(),
        problem: fix,
    }
}

fn take_lock(db: &Path) -> Result<File, StoreError> {
    let lock_path = db.with_extension("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| StoreError::Io {
            path: lock_path.display().to_string(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(db.display().to_string())),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io {
            path: lock_path.display().to_string(),
            source,
        }),
    }
}

fn open_writer(path: &Path, config: &StoreConfig) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // busy_timeout first: every later pragma may need a lock another process holds.
    conn.busy_timeout(config.busy_timeout.get())?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Decode(format!(
            "{}: journal_mode is {mode}, WAL is required",
            path.display()
        )));
    }
    let synchronous = match config.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;"
    ))?;
    prepare_statements_once(&conn)?;
    Ok(conn)
}

/// Settings every connection gets so that a cached statement is parsed once, not per use.
///
/// - The query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`): without it SQLite
///   marks a statement for re-preparation whenever a bound value might change its plan, and
///   then parses it again on the next step after every new binding. With `ORDER BY` and a
///   bound `=` (`… WHERE subscriber_id = ?1 ORDER BY id`) that was every execution: 38 % of a
///   RADIUS login's CPU. Our plans never depend on a bound value (no `LIKE ?` prefix,
///   partial indexes are matched on literals), so nothing is lost.
/// - A statement cache that holds every statement a connection runs (rusqlite keeps 16).
pub(crate) fn prepare_statements_once(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

fn check_integrity(
    conn: &Connection,
    path: &Path,
    check: IntegrityCheck,
) -> Result<(), StoreError> {
    let pragma = match check {
        IntegrityCheck::Off => return Ok(()),
        IntegrityCheck::Quick => "PRAGMA quick_check",
        IntegrityCheck::Full => "PRAGMA integrity_check",
    };
    let mut stmt = conn.prepare(pragma)?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            path: path.display().to_string(),
            detail: lines.join("; "),
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A store in a temp dir, for unit tests.
    use super::*;

    /// A fresh store and the temp dir that holds it (keep it alive).
    pub(crate) fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig {
            data_dir: dir.path().to_path_buf(),
            synchronous: Synchronous::Normal,
            ..StoreConfig::default()
        };
        let store = Store::open(&config, Opener::Daemon).expect("open store");
        (store, dir)
    }
}

#[cfg(test)]
mod tests;
