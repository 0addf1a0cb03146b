//! A restore rewinds the outbox below what the cloud already holds: the events the box writes
//! after it must still reach the cloud (real siteboxd, mosquitto, PostgreSQL and the
//! reference ingest), not be dropped as copies of the seqs they reuse.

use std::time::{Duration, Instant};

use sitebox_tests::cloud::{Cloud, migrate_site, seed_outbox, site_config, site_i64};
use sitebox_tests::siteboxd::Siteboxd;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");

const TENANT: &str = "tenant-r";
const SITE: &str = "site-r";

fn cloud_count(cloud: &Cloud, filter: &str) -> i64 {
    cloud.query_i64(&format!(
        "SELECT count(*) FROM events WHERE tenant_id = '{TENANT}' AND site_id = '{SITE}' {filter}"
    ))
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn events_written_after_a_restore_reach_the_cloud() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cloud = Cloud::start(CLOUD.as_ref(), dir.path(), &[(TENANT, SITE)]);
    cloud.start_process(1, 3, &[]);
    cloud.wait_ready(0);
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir).expect("site dir");
    let config = site_config(&site_dir, TENANT, SITE, cloud.broker.addr().port());
    std::fs::write(site_dir.join("sitebox.toml"), &config).expect("config");
    migrate_site(SITEBOXD.as_ref(), &site_dir);
    let db = site_dir.join("data/sitebox.db");

    // 30 events, a backup, 20 more; the cloud gets all 50.
    seed_outbox(&db, 30, 20);
    let mut daemon = Siteboxd::start(SITEBOXD.as_ref(), &site_dir, &config);
    let backup = site_dir.join("before.db");
    let made = daemon.cli(&["backup", backup.to_str().expect("utf-8")]);
    assert!(made.status.success(), "{made:?}");
    seed_outbox(&db, 20, 20);
    wait_until("50 events in the cloud", Duration::from_secs(60), || {
        cloud_count(&cloud, "") >= 50
    });
    assert!(daemon.stop().success());

    // The card dies; the backup is restored. Its outbox ends at 30 while the cloud holds 50.
    let restored = daemon.cli(&["restore", backup.to_str().expect("utf-8")]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_eq!(site_i64(&db, "SELECT max(seq) FROM outbox"), 30);
    // The box goes on before it reaches the cloud again: 10 new events, seqs 31..=40.
    let new = seed_outbox(&db, 10, 20);
    assert_eq!(new.first(), Some(&31));
    let ids: Vec<String> = {
        let conn = rusqlite::Connection::open(&db).expect("open");
        let mut stmt = conn
            .prepare("SELECT id FROM outbox WHERE seq > 30 ORDER BY seq")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    };
    daemon.restart();
    wait_until(
        "the new events in the cloud",
        Duration::from_secs(60),
        || cloud_count(&cloud, "") >= 60,
    );
    let list = ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        cloud_count(&cloud, &format!("AND event_id::text IN ({list})")),
        10,
        "every event written after the restore is stored\n{}",
        daemon.log()
    );
    // Above the cloud's cursor, contiguous; the edge has them all delivered.
    let seqs: Vec<i64> = {
        let conn = rusqlite::Connection::open(&db).expect("open");
        let mut stmt = conn
            .prepare("SELECT seq FROM outbox WHERE seq > 30 ORDER BY seq")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    };
    assert_eq!(seqs, (51..=60).collect::<Vec<i64>>());
    wait_until("the edge marked them", Duration::from_secs(30), || {
        site_i64(&db, "SELECT count(*) FROM outbox WHERE acked_at IS NULL") == 0
    });
    assert_eq!(
        cloud.query_i64(&format!(
            "SELECT through FROM site_cursors WHERE tenant_id = '{TENANT}' AND site_id = '{SITE}'"
        )),
        60
    );
    assert!(
        daemon
            .log()
            .contains("events written since were moved above the cloud's cursor")
    );
}
