//! Kill -9 a process that enqueues and runs jobs, many times at random points: no acknowledged
//! job may be lost, the file must stay sound, and jobs held at a kill must run again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

const ROUNDS: usize = 60;
const CHILD: &str = env!("CARGO_BIN_EXE_queue-crash-child");

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_path_buf();
    let mut acknowledged = BTreeSet::new();
    let mut held_at_kill: BTreeMap<i64, i64> = BTreeMap::new(); // job id -> attempt when killed
    let mut kills_while_running = 0;

    for round in 0..ROUNDS {
        let mut child = Command::new(CHILD)
            .arg(&data)
            .arg("work")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start child");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, received) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until it works (the store is open), then kill it at a random instant.
        let ready = received
            .recv_timeout(Duration::from_secs(30))
            .expect("the child starts");
        assert_eq!(ready, "READY");
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..250)));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("SIGKILL");
        child.wait().expect("reap child");
        reader.join().expect("reader");
        for line in received.try_iter() {
            let id: i64 = line
                .strip_prefix("ENQUEUED ")
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("unexpected child output {line:?}"));
            acknowledged.insert(id);
        }

        let db = Connection::open(data.join("sitebox.db")).expect("open db");
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("integrity_check");
        assert_eq!(check, "ok", "round {round}");
        let present: BTreeSet<i64> =
            ids(&db, "SELECT id FROM jobs UNION SELECT id FROM failed_jobs");
        let lost: Vec<_> = acknowledged.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged jobs lost: {lost:?}"
        );
        let running = pairs(&db, "SELECT id, attempt FROM jobs WHERE state = 'running'");
        if !running.is_empty() {
            kills_while_running += 1;
        }
        held_at_kill.extend(running);
    }
    assert!(
        acknowledged.len() > ROUNDS,
        "the child made too little progress: {}",
        acknowledged.len()
    );
    assert!(
        kills_while_running >= 5,
        "too few kills hit a running job: {kills_while_running}"
    );

    let status = Command::new(CHILD)
        .arg(&data)
        .arg("drain")
        .status()
        .expect("drain");
    assert!(status.success());

    let db = Connection::open(data.join("sitebox.db")).expect("open db");
    let completed = ids(&db, "SELECT id FROM jobs WHERE state = 'completed'");
    let not_done: Vec<_> = acknowledged.difference(&completed).collect();
    assert!(
        not_done.is_empty(),
        "acknowledged jobs never completed: {not_done:?}"
    );
    let with_effect = ids(&db, "SELECT DISTINCT job_id FROM effects");
    assert!(
        acknowledged.is_subset(&with_effect),
        "a completed job without its effect"
    );
    assert!(ids(&db, "SELECT id FROM failed_jobs").is_empty());
    // Jobs held at a kill ran again: a later attempt completed them.
    let attempts: BTreeMap<i64, i64> = pairs(&db, "SELECT id, attempt FROM jobs")
        .into_iter()
        .collect();
    for (id, attempt_at_kill) in &held_at_kill {
        assert!(
            attempts[id] > *attempt_at_kill,
            "job {id} was held at a kill (attempt {attempt_at_kill}) but did not run again"
        );
    }
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    eprintln!(
        "{ROUNDS} kills, {} acknowledged jobs, {} held at a kill and run again",
        acknowledged.len(),
        held_at_kill.len()
    );
}

fn ids(db: &Connection, sql: &str) -> BTreeSet<i64> {
    let mut stmt = db.prepare(sql).expect("prepare");
    stmt.query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn pairs(db: &Connection, sql: &str) -> Vec<(i64, i64)> {
    let mut stmt = db.prepare(sql).expect("prepare");
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}
