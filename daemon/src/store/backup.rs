//! Backing up the live database and restoring a backup.
//!
//! A backup is taken with SQLite's online backup API from a connection of its own that only
//! reads, while the daemon keeps running: the whole file is copied in one step, inside one read
//! transaction, so the copy is one consistent snapshot (WAL lets the daemon's writer carry on
//! meanwhile; copying in small steps would restart after each of its commits). The copy is
//! written to a temp file beside the target, switched to a rollback journal so that it is one
//! self-contained file, checked with `PRAGMA integrity_check`, synced, and only then renamed
//! over the target. A half-written backup never carries the target's name.
//!
//! A restore refuses while a daemon holds the database's lock file, and holds that lock itself
//! until it is done. It checks the backup, copies it into the data dir, moves the current
//! database (with its `-wal` and `-shm`) aside as `NAME.pre-restore-SECONDS` and puts the copy
//! in its place. The next start migrates it if it is older.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{LATEST_VERSION, StoreError};
use crate::config::StoreConfig;

/// What a backup wrote.
#[derive(Debug, Clone)]
pub(crate) struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The schema version it holds.
    pub schema_version: u32,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub(crate) struct RestoreReport {
    /// The database file now in place.
    pub database: PathBuf,
    /// Where the database it replaced was moved, if there was one.
    pub previous: Option<PathBuf>,
    /// The schema version of the restored file (the daemon migrates it at start if older).
    pub schema_version: u32,
}

/// Copies the database of `config` to `target`, consistently, while a daemon may be writing.
pub(crate) fn backup(config: &StoreConfig, target: &Path) -> Result<BackupReport, StoreError> {
    let source_path = config.database_path();
    if !source_path.exists() {
        return Err(io_error(
            &source_path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no database here"),
        ));
    }
    // Read-write flags without CREATE, then query_only: read-write so that, when no daemon
    // runs, closing this last connection checkpoints and removes the -wal/-shm it made.
    let source = Connection::open_with_flags(
        &source_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(config.busy_timeout.get())?;
    source.execute_batch("PRAGMA query_only = ON")?;

    let temp = temp_beside(target)?;
    let result = copy_and_check(&source, &temp, config.busy_timeout.get(), "DELETE");
    drop(source);
    let schema_version = match result {
        Ok(version) => version,
        Err(err) => {
            let _ = std::fs::remove_file(&temp);
            return Err(err);
        }
    };
    sync_file(&temp)?;
    std::fs::rename(&temp, target).map_err(|source| io_error(target, source))?;
    sync_parent(target)?;
    let bytes = std::fs::metadata(target)
        .map_err(|source| io_error(target, source))?
        .len();
    Ok(BackupReport {
        path: target.to_path_buf(),
        bytes,
        schema_version,
    })
}

/// Replaces the database of `config` with the backup at `source`. Fails with
/// [`StoreError::Locked`] while a daemon runs on it.
pub(crate) fn restore(config: &StoreConfig, source: &Path) -> Result<RestoreReport, StoreError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|err| io_error(&config.data_dir, err))?;
    let database = config.database_path();
    // Held until the end: no daemon can start on a half-restored directory.
    let _lock = super::take_lock(&database)?;

    let backup = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|err| StoreError::Decode(format!("{}: not a database: {err}", source.display())))?;
    let found = schema_version(&backup).map_err(|err| {
        StoreError::Decode(format!("{}: not a database: {err}", source.display()))
    })?;
    if found > LATEST_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: LATEST_VERSION,
        });
    }
    integrity_ok(&backup, source)?;

    let temp = temp_beside(&database)?;
    let copied = copy_and_check(&backup, &temp, config.busy_timeout.get(), "WAL");
    drop(backup);
    // The restored outbox is behind what the cloud may hold: the next sync moves the events
    // written from now on above the cloud's cursor (docs/PROTOCOL.md, "Outbox rewind").
    let marked = copied.and_then(|version| {
        let copy = Connection::open(&temp)?;
        copy.execute_batch(super::sync::MARK_REWOUND)?;
        copy.close().map_err(|(_, err)| StoreError::Sqlite(err))?;
        Ok(version)
    });
    let schema_version = match marked {
        Ok(version) => version,
        Err(err) => {
            remove_with_sidecars(&temp);
            return Err(err);
        }
    };
    sync_file(&temp)?;

    let previous = if database.exists() {
        // A name for the file set aside, by the real time of the restore.
        let stamp = {
            use crate::clock::Clock as _;
            crate::clock::SystemClock.now().as_millis() / 1000
        };
        let aside = sibling(&database, &format!(".pre-restore-{stamp}"));
        // The -wal may hold commits not yet in the main file: it moves with it, under the
        // name SQLite looks for beside the new name.
        for suffix in ["-wal", "-shm"] {
            let from = sibling(&database, suffix);
            if from.exists() {
                let to = sibling(&aside, suffix);
                std::fs::rename(&from, &to).map_err(|err| io_error(&from, err))?;
            }
        }
        std::fs::rename(&database, &aside).map_err(|err| io_error(&database, err))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&temp, &database).map_err(|err| io_error(&database, err))?;
    sync_parent(&database)?;
    Ok(RestoreReport {
        database,
        previous,
        schema_version,
    })
}

/// Copies `source` into a new file at `temp` in one step, sets its journal mode, checks it
/// and returns its schema version.
fn copy_and_check(
    source: &Connection,
    temp: &Path,
    busy: Duration,
    journal_mode: &str,
) -> Result<u32, StoreError> {
    let mut copy = Connection::open_with_flags(
        temp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    {
        let backup = Backup::new(source, &mut copy)?;
        let deadline = std::time::Instant::now() + busy;
        loop {
            // -1: every page in one step, under one read transaction.
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Begin(
                            "the database stayed locked during the backup".into(),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {}
            }
        }
    }
    let mode: String = copy.query_row(
        &format!("PRAGMA journal_mode = {journal_mode}"),
        [],
        |row| row.get(0),
    )?;
    if !mode.eq_ignore_ascii_case(journal_mode) {
        return Err(StoreError::Decode(format!(
            "{}: journal_mode stayed {mode}",
            temp.display()
        )));
    }
    integrity_ok(&copy, temp)?;
    let version = schema_version(&copy)?;
    copy.close().map_err(|(_, err)| StoreError::Sqlite(err))?;
    Ok(version)
}

fn integrity_ok(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
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

fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// `DIR/.NAME.tmp-PID` beside `target`; a stale one from a crashed run is removed first.
fn temp_beside(target: &Path) -> Result<PathBuf, StoreError> {
    let name = target
        .file_name()
        .ok_or_else(|| StoreError::Decode(format!("{}: not a file name", target.display())))?;
    let temp = target.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    remove_with_sidecars(&temp);
    Ok(temp)
}

fn remove_with_sidecars(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling(path, suffix));
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|err| io_error(path, err))
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| io_error(parent, err))
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use crate::store::{Opener, Store};

    fn config_for(store: &Store) -> StoreConfig {
        StoreConfig {
            data_dir: store.path().parent().expect("dir").to_path_buf(),
            ..StoreConfig::default()
        }
    }

    #[test]
    fn a_backup_taken_while_the_store_is_open_is_complete_and_restores_in_place() {
        let (store, _dir) = temp_store();
        let config = config_for(&store);
        let out = tempfile::tempdir().expect("out dir");
        let target = out.path().join("site.db");

        let report = backup(&config, &target).expect("backup");
        assert_eq!(report.schema_version, LATEST_VERSION);
        assert!(report.bytes > 0);
        let leftovers: Vec<_> = std::fs::read_dir(out.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("site.db")]);

        // While the store (with its daemon lock) is open, restore refuses.
        let err = restore(&config, &target).expect_err("locked");
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
        drop(store);

        let restored = restore(&config, &target).expect("restore");
        assert_eq!(restored.schema_version, LATEST_VERSION);
        let previous = restored.previous.expect("the old file moved aside");
        assert!(previous.exists());
        let reopened = Store::open(&config, Opener::Tool).expect("open restored");
        assert_eq!(reopened.integrity_check().expect("check"), vec!["ok"]);
    }

    #[test]
    fn restore_refuses_a_file_that_is_not_a_database() {
        let (store, _dir) = temp_store();
        let config = config_for(&store);
        drop(store);
        let junk = tempfile::NamedTempFile::new().expect("junk");
        std::fs::write(
            junk.path(),
            b"this is not SQLite, just some bytes long enough....",
        )
        .expect("write");
        let err = restore(&config, junk.path()).expect_err("junk");
        assert!(err.to_string().contains("not a database"), "{err}");
        assert!(config.database_path().exists(), "the database stays");
    }
}
