use super::testing::temp_store;
use super::*;
use crate::clock::Timestamp;
use crate::model::event::{Actor, EventKind, NewEvent};

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("refused")]
    Refused,
}

fn event(subject: &str) -> NewEvent {
    NewEvent::recorded(
        EventKind::SubscriberCreated,
        subject,
        serde_json::json!({ "subject": subject }),
    )
}

#[tokio::test]
async fn a_failed_write_in_a_group_rolls_back_alone() {
    let (store, _dir) = temp_store();
    store
        .write(|tx| {
            tx.execute_batch("CREATE TABLE t (n INTEGER)")
                .map_err(StoreError::from)
        })
        .await
        .expect("create");
    let mut events = store.bus().subscribe();
    // Many writes in flight at once are committed as groups; the odd ones fail.
    let writes = (0..200).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(move |tx| {
                    tx.execute("INSERT INTO t (n) VALUES (?1)", [n])
                        .map_err(StoreError::from)?;
                    tx.emit(
                        Timestamp::from_millis(n),
                        &Actor::System,
                        event(&format!("n:{n}")),
                    )?;
                    if n % 2 == 1 {
                        Err(TestError::Refused)
                    } else {
                        Ok(n)
                    }
                })
                .await
        })
    });
    let results = futures_join(writes).await;
    for (n, result) in results.iter().enumerate() {
        assert_eq!(result.is_ok(), n % 2 == 0, "write {n}: {result:?}");
    }
    let kept: Vec<i64> = store
        .read_blocking(|conn| {
            let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            Ok::<_, StoreError>(rows.collect::<Result<_, _>>()?)
        })
        .expect("read");
    assert_eq!(kept, (0..200).step_by(2).collect::<Vec<i64>>());
    // Only committed writes were announced, each once.
    let mut announced = Vec::new();
    while let Ok(event) = events.try_recv() {
        announced.push(event.subject.clone());
    }
    announced.sort();
    let mut expected: Vec<String> = (0..200).step_by(2).map(|n| format!("n:{n}")).collect();
    expected.sort();
    assert_eq!(announced, expected);
    let outbox = store
        .read_blocking(|conn| outbox::after(conn, 0, 1000))
        .expect("outbox");
    assert_eq!(outbox.len(), 100);
    assert!(outbox.windows(2).all(|w| w[0].seq < w[1].seq));
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await.expect("task"));
    }
    results
}

#[tokio::test]
async fn a_panicking_write_is_rolled_back_and_the_writer_survives() {
    let (store, _dir) = temp_store();
    let result: Result<(), StoreError> = store
        .write(|tx| {
            tx.execute_batch("CREATE TABLE doomed (n INTEGER)")?;
            panic!("bug in a write");
        })
        .await;
    assert!(matches!(result, Err(StoreError::Panicked)), "{result:?}");
    let tables: i64 = store
        .write(|tx| {
            Ok::<_, StoreError>(tx.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'doomed'",
                [],
                |row| row.get(0),
            )?)
        })
        .await
        .expect("writer still works");
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn every_event_has_an_audit_row_in_the_same_transaction() {
    let (store, _dir) = temp_store();
    store
        .write(|tx| {
            tx.emit(
                Timestamp::from_millis(5),
                &Actor::Technician("alice".into()),
                event("subscriber:bob"),
            )
        })
        .await
        .expect("emit");
    let _: Result<(), TestError> = store
        .write(|tx| {
            tx.emit(
                Timestamp::from_millis(6),
                &Actor::Cli,
                event("subscriber:carol"),
            )?;
            Err(TestError::Refused)
        })
        .await;
    let audit = store
        .read_blocking(|conn| outbox::recent_audit(conn, 10))
        .expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "technician:alice");
    assert_eq!(audit[0].subject, "subscriber:bob");
    assert_eq!(audit[0].action, "SubscriberCreated");
    assert_eq!(audit[0].event_seq, Some(1));
    assert_eq!(store.read_blocking(outbox::last_seq).expect("seq"), 1);
}

#[test]
fn a_second_daemon_on_the_same_database_is_refused() {
    let (store, dir) = temp_store();
    let config = StoreConfig {
        data_dir: dir.path().to_path_buf(),
        ..StoreConfig::default()
    };
    assert!(matches!(
        Store::open(&config, Opener::Daemon),
        Err(StoreError::Locked(_))
    ));
    // A CLI command may open it beside the daemon.
    Store::open(&config, Opener::Tool).expect("tool open");
    drop(store);
}

#[test]
fn the_database_is_wal_with_the_configured_synchronous() {
    let dir = tempfile::tempdir().expect("dir");
    let config = StoreConfig {
        data_dir: dir.path().to_path_buf(),
        synchronous: Synchronous::Full,
        ..StoreConfig::default()
    };
    let store = Store::open(&config, Opener::Daemon).expect("open");
    let (mode, sync): (String, i64) = store
        .write_blocking(|tx| {
            let mode = tx.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
            let sync = tx.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
            Ok::<_, StoreError>((mode, sync))
        })
        .expect("pragmas");
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(
        store.integrity_check().expect("check"),
        vec!["ok".to_string()]
    );
}

#[test]
fn a_damaged_file_fails_the_start_up_check() {
    let dir = tempfile::tempdir().expect("dir");
    let config = StoreConfig {
        data_dir: dir.path().to_path_buf(),
        integrity_check: IntegrityCheck::Full,
        ..StoreConfig::default()
    };
    {
        let store = Store::open(&config, Opener::Tool).expect("open");
        store
            .write_blocking(|tx| {
                tx.execute_batch(
                    "CREATE TABLE filler (n INTEGER PRIMARY KEY, text TEXT);
                     CREATE INDEX filler_text ON filler (text);
                     WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000)
                     INSERT INTO filler SELECT n, printf('%0100d', n) FROM c;",
                )?;
                Ok::<_, StoreError>(())
            })
            .expect("fill");
    }
    // Fold the WAL into the main file so the damage below hits real pages.
    let raw = Connection::open(config.database_path()).expect("raw open");
    raw.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    drop(raw);
    // Scribble over pages in the middle of the file.
    let path = config.database_path();
    let mut bytes = std::fs::read(&path).expect("read db");
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 8192] {
        *byte = 0x5A;
    }
    std::fs::write(&path, bytes).expect("write db");
    let err = Store::open(&config, Opener::Daemon).expect_err("a damaged file must be refused");
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{} is damaged", path.display()))
            && message.contains("siteboxd restore"),
        "{message}"
    );
}

#[tokio::test]
async fn a_write_resolves_only_after_its_commit_is_visible_to_readers() {
    let (store, _dir) = temp_store();
    store
        .write(|tx| Ok::<_, StoreError>(tx.execute_batch("CREATE TABLE t (n INTEGER)")?))
        .await
        .expect("create");
    for n in 0..50 {
        store
            .write(move |tx| Ok::<_, StoreError>(tx.execute("INSERT INTO t VALUES (?1)", [n])?))
            .await
            .expect("insert");
        let count: i64 = store
            .read(|conn| {
                Ok::<_, StoreError>(conn.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))?)
            })
            .await
            .expect("count");
        assert_eq!(count, n + 1);
    }
}

#[test]
fn a_cached_statement_is_not_parsed_again_for_new_bindings() {
    // `= ?1` with an ORDER BY: SQLite re-prepares such a statement on every new binding unless
    // the planner stability guarantee is on.
    const SQL: &str =
        "SELECT mac FROM subscriber_macs WHERE subscriber_id = ?1 ORDER BY bound_at, mac";
    fn reprepared(conn: &Connection) -> Result<i32, StoreError> {
        for id in 0..10_i64 {
            let mut stmt = conn.prepare_cached(SQL)?;
            let rows = stmt.query_map([id], |row| row.get::<_, String>(0))?;
            assert_eq!(rows.count(), 0);
        }
        Ok(conn
            .prepare_cached(SQL)?
            .get_status(rusqlite::StatementStatus::RePrepare))
    }
    let (store, _dir) = temp_store();
    assert_eq!(store.read_blocking(reprepared).expect("reader"), 0);
    assert_eq!(
        store.write_blocking(|tx| reprepared(tx)).expect("writer"),
        0
    );
}
