//! `siteboxd backup` beside a running daemon that is being written to, and `siteboxd restore`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sitebox::store::LATEST_VERSION;
use sitebox_tests::siteboxd::Siteboxd;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");

/// Rows written per transaction by the concurrent writer: a consistent snapshot holds a
/// multiple of it.
const BATCH: i64 = 100;

#[test]
fn a_backup_taken_while_the_daemon_runs_and_writes_is_one_consistent_snapshot_and_restores() {
    let dir = tempfile::tempdir().expect("dir");
    let mut daemon = Siteboxd::start(
        SITEBOXD.as_ref(),
        dir.path(),
        &Siteboxd::base_config(dir.path()),
    );
    daemon.wait_for_log("siteboxd running", Duration::from_secs(30));

    // Another writer keeps committing batches of completed jobs while backups are taken
    // (finished in 2100, so the daemon's prune leaves them alone).
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, database) = (Arc::clone(&stop), daemon.database());
        std::thread::spawn(move || {
            let mut db = Connection::open(database).expect("open");
            db.busy_timeout(Duration::from_secs(10)).expect("busy");
            let mut batches = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let tx = db.transaction().expect("begin");
                for _ in 0..BATCH {
                    tx.execute(
                        "INSERT INTO jobs (queue, kind, args, state, max_attempts, run_at,
                                           timeout_ms, created_at, finished_at)
                         VALUES ('default', 'backup.load', '{}', 'completed', 1, 1, 1000, 1,
                                 4102444800000)",
                        [],
                    )
                    .expect("insert");
                }
                tx.commit().expect("commit");
                batches += 1;
            }
            batches
        })
    };

    let mut seen = Vec::new();
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        let target = dir.path().join(format!("backup-{round}.db"));
        let output = daemon.cli(&["backup", target.to_str().expect("utf-8")]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("integrity ok"), "{stdout}");
        let copy = Connection::open_with_flags(&target, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the backup");
        let check: String = copy
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("check");
        assert_eq!(check, "ok");
        let version: u32 = copy
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, LATEST_VERSION);
        let mode: String = copy
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("mode");
        assert_eq!(mode, "delete", "a backup is one self-contained file");
        let rows: i64 = copy
            .query_row(
                "SELECT count(*) FROM jobs WHERE kind = 'backup.load'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(
            rows % BATCH,
            0,
            "a transaction was cut in half: {rows} rows"
        );
        seen.push(rows);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.contains(".tmp-"))
            .collect();
        assert!(names.is_empty(), "temp files left: {names:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let batches = writer.join().expect("writer");
    assert!(batches > 0);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "later backups hold at least as much: {seen:?}"
    );

    // Restoring under a running daemon is refused, and changes nothing.
    let first = dir.path().join("backup-0.db");
    let refused = daemon.cli(&["restore", first.to_str().expect("utf-8")]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("locked by another running siteboxd"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    assert!(daemon.stop().success(), "{}", daemon.log());
    let restored = daemon.cli(&["restore", first.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(stdout.contains("kept as"), "{stdout}");
    let db = Connection::open_with_flags(daemon.database(), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open restored");
    let rows: i64 = db
        .query_row(
            "SELECT count(*) FROM jobs WHERE kind = 'backup.load'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(rows, seen[0], "the restored database is the first backup");
    drop(db);

    daemon.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while daemon.count_log("siteboxd running") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the restored database did not start:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(daemon.stop().success(), "{}", daemon.log());
}
