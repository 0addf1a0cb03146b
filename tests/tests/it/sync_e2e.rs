//! Store-and-forward end to end: three sites (two tenants) of the real siteboxd send 10,000+
//! events to a real mosquitto and the reference ingest on a real PostgreSQL, through a proxy
//! that delays, blackholes and duplicates frames, while the broker is SIGKILLed and restarted,
//! each edge aborts at failpoints between outbox commit, publish, PUBACK, cloud ack and marking,
//! and an ingest worker aborts between its commit and its ack. Oracle: per site the cloud holds
//! every seq exactly once (count = distinct = max = the edge's last seq, no gaps, same event
//! ids), nothing stays unacked at the edge, and every command took effect exactly once.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sitebox_tests::cloud::{
    Cloud, migrate_site, seed_failed_jobs, seed_failing_jobs, seed_outbox, site_config, site_i64,
};
use sitebox_tests::proxy::Proxy;
use sitebox_tests::siteboxd::Siteboxd;

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");
const FAILPOINT: &str = sitebox_sync::failpoint::ENV;

/// Per site: outbox rows written as domain writes would, and jobs that fail when run.
const OUTBOX_ROWS: usize = 1700;
const FAILING_JOBS: usize = 1700;
const RETRY_COMMANDS: usize = 3;

struct Site {
    tenant: &'static str,
    site: &'static str,
    db: PathBuf,
    daemon: Siteboxd,
    failpoints: VecDeque<&'static str>,
    failed_jobs: Vec<i64>,
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

#[test]
fn ten_thousand_events_from_three_sites_arrive_exactly_once_through_kills_and_a_bad_network() {
    let dir = tempfile::tempdir().expect("dir");
    let names = [
        ("tenant-a", "site-1"),
        ("tenant-a", "site-2"),
        ("tenant-b", "site-1"),
    ];
    let mut cloud = Cloud::start(CLOUD.as_ref(), dir.path(), &names);
    // Worker process 0 aborts after its 15th commit, before publishing that ack.
    cloud.start_process(2, 3, &[(FAILPOINT, "ingest_after_commit:15")]);
    cloud.start_process(1, 3, &[]);
    cloud.wait_ready(0);
    cloud.wait_ready(1);
    let proxy = Proxy::start(cloud.broker.addr());
    proxy.duplicate_every(7);
    proxy.delay(Duration::from_millis(1));

    let plans: [&[&str]; 3] = [
        &["after_publish:3", "before_publish:4", "after_mark:2"],
        &["after_command_commit:1", "after_puback:5"],
        &["after_cloud_ack:3", "after_publish:6"],
    ];
    let mut sites: Vec<Site> = names
        .iter()
        .zip(plans)
        .enumerate()
        .map(|(i, (&(tenant, site), plan))| {
            let site_dir = dir.path().join(format!("site-{i}"));
            std::fs::create_dir_all(&site_dir).expect("site dir");
            let config = site_config(&site_dir, tenant, site, proxy.port());
            std::fs::write(site_dir.join("sitebox.toml"), &config).expect("config");
            migrate_site(SITEBOXD.as_ref(), &site_dir);
            let db = site_dir.join("data/sitebox.db");
            seed_outbox(&db, OUTBOX_ROWS, 40);
            seed_failing_jobs(&db, FAILING_JOBS, now_ms(), 0);
            let failed_jobs = seed_failed_jobs(&db, RETRY_COMMANDS);
            let mut failpoints: VecDeque<&str> = plan.iter().copied().collect();
            let first = failpoints.pop_front().expect("plan");
            let daemon = Siteboxd::start_with_env(
                SITEBOXD.as_ref(),
                &site_dir,
                &config,
                &[(FAILPOINT, first)],
            );
            Site {
                tenant,
                site,
                db,
                daemon,
                failpoints,
                failed_jobs,
            }
        })
        .collect();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let mut fired = BTreeSet::new();
    let mut ingest_restarted = false;
    let (mut broker_killed, mut broker_restarted) = (false, false);
    let (mut blackholed, mut healed, mut live_seeded, mut commands_sent) =
        (false, false, false, false);
    let mut done = false;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let t = started.elapsed();
        for site in &mut sites {
            if site.daemon.exited() {
                let log = site.daemon.log();
                let point = log
                    .lines()
                    .rev()
                    .find_map(|line| line.strip_prefix("failpoint "))
                    .and_then(|rest| rest.split(':').next())
                    .unwrap_or_else(|| panic!("{} exited without a failpoint:\n{log}", site.site))
                    .to_string();
                fired.insert(point);
                let next: Vec<(&str, &str)> = site
                    .failpoints
                    .pop_front()
                    .map(|point| vec![(FAILPOINT, point)])
                    .unwrap_or_default();
                site.daemon.set_env(&next);
                site.daemon.restart();
            }
        }
        if !ingest_restarted && cloud.exited_processes().contains(&0) {
            assert!(
                cloud
                    .process_log(0)
                    .contains("failpoint ingest_after_commit")
            );
            fired.insert("ingest_after_commit".to_string());
            cloud.start_process(2, 3, &[]);
            ingest_restarted = true;
        }
        if !broker_killed && t >= Duration::from_secs(3) {
            cloud.broker.kill9();
            broker_killed = true;
        }
        if broker_killed && !broker_restarted && t >= Duration::from_millis(4500) {
            cloud.broker.restart();
            broker_restarted = true;
        }
        if broker_restarted
            && !commands_sent
            && sites
                .iter()
                .all(|s| s.daemon.count_log("sync: connected to the broker") >= 2)
        {
            for site in &sites {
                for job in &site.failed_jobs {
                    let payload = format!("{{\"job_id\":{job}}}");
                    let id = format!("retry-{}-{}-{job}", site.tenant, site.site);
                    cloud.command(
                        site.tenant,
                        site.site,
                        "queue.retry_failed",
                        &payload,
                        Some(&id),
                    );
                }
                // The same id again: must not retry twice.
                let job = site.failed_jobs[0];
                let id = format!("retry-{}-{}-{job}", site.tenant, site.site);
                let payload = format!("{{\"job_id\":{job}}}");
                cloud.command(
                    site.tenant,
                    site.site,
                    "queue.retry_failed",
                    &payload,
                    Some(&id),
                );
                let bad = format!("bad-{}-{}", site.tenant, site.site);
                cloud.command(
                    site.tenant,
                    site.site,
                    "queue.retry_failed",
                    "{\"job_id\":424242}",
                    Some(&bad),
                );
            }
            commands_sent = true;
        }
        if !blackholed && t >= Duration::from_secs(9) {
            proxy.blackhole(true);
            blackholed = true;
        }
        if blackholed && !healed && t >= Duration::from_secs(21) {
            proxy.blackhole(false);
            healed = true;
        }
        if !live_seeded && t >= Duration::from_secs(12) {
            // Written while the daemon runs, as a CLI command in another process would.
            seed_outbox(&sites[2].db, 300, 40);
            live_seeded = true;
        }
        if healed && commands_sent && live_seeded && sites.iter().all(|s| s.failpoints.is_empty()) {
            done = sites.iter().all(|site| settled(&cloud, site));
            if done {
                break;
            }
        }
    }
    let summary: Vec<String> =
        sites
            .iter()
            .map(|s| {
                format!(
                "{}/{}: last {} unacked {} pending jobs {} cloud through {}",
                s.tenant,
                s.site,
                site_i64(&s.db, "SELECT max(seq) FROM outbox"),
                site_i64(&s.db, "SELECT count(*) FROM outbox WHERE acked_at IS NULL"),
                site_i64(&s.db, "SELECT count(*) FROM jobs WHERE state != 'completed'"),
                cloud.query_i64(&format!(
                    "SELECT through FROM site_cursors WHERE tenant_id = '{}' AND site_id = '{}'",
                    s.tenant, s.site
                ))
            )
            })
            .collect();
    assert!(
        done,
        "not settled in time: {summary:#?}\nsite 0 log tail:\n{}\ningest 1 log tail:\n{}",
        tail(&sites[0].daemon.log()),
        tail(&cloud.process_log(1))
    );

    let mut total = 0;
    for site in &sites {
        let last = site_i64(&site.db, "SELECT max(seq) FROM outbox");
        let filter = format!(
            "tenant_id = '{}' AND site_id = '{}'",
            site.tenant, site.site
        );
        let counts = cloud.query(&format!(
            "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events WHERE {filter}"
        ));
        let (count, distinct, min, max): (i64, i64, i64, i64) = (
            counts[0].get(0),
            counts[0].get(1),
            counts[0].get(2),
            counts[0].get(3),
        );
        assert_eq!(
            (count, distinct, min, max),
            (last, last, 1, last),
            "{summary:?}"
        );
        let gaps = cloud.query_i64(&format!(
            "SELECT count(*) FROM generate_series(1, {last}) g(s)
             WHERE NOT EXISTS (SELECT 1 FROM events WHERE {filter} AND seq = g.s)"
        ));
        assert_eq!(gaps, 0);
        // The same events, not only the same count.
        let conn = rusqlite::Connection::open(&site.db).expect("open");
        let mut stmt = conn
            .prepare("SELECT seq, id FROM outbox ORDER BY seq")
            .expect("prepare");
        let edge: Vec<(i64, String)> = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let cloud_ids: Vec<(i64, String)> = cloud
            .query(&format!(
                "SELECT seq, event_id FROM events WHERE {filter} ORDER BY seq"
            ))
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        assert!(
            edge == cloud_ids,
            "{}/{}: event ids differ",
            site.tenant,
            site.site
        );
        // Every command took effect once; the bad one is dead-lettered with its reason.
        for job in &site.failed_jobs {
            let retried = site_i64(
                &site.db,
                &format!(
                    "SELECT count(*) FROM outbox WHERE type = 'JobRetried' AND json_extract(payload, '$.job_id') = {job}"
                ),
            );
            if retried != 1 {
                let conn = rusqlite::Connection::open(&site.db).expect("open");
                let rows: Vec<String> = conn
                    .prepare("SELECT command_id || ' ' || state || ' ' || result FROM inbox UNION ALL SELECT type || ' ' || payload FROM outbox WHERE type = 'JobRetried'")
                    .expect("prepare")
                    .query_map([], |row| row.get(0))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                panic!(
                    "job {job} of {}/{} retried {retried} times: {rows:#?}",
                    site.tenant, site.site
                );
            }
        }
        assert_eq!(
            site_i64(
                &site.db,
                "SELECT count(*) FROM inbox WHERE state = 'applied' AND type = 'queue.retry_failed'"
            ),
            RETRY_COMMANDS as i64
        );
        assert_eq!(
            site_i64(
                &site.db,
                "SELECT count(*) FROM inbox WHERE state = 'rejected'"
            ),
            1
        );
        let rejected = cloud.query(&format!(
            "SELECT state, result->>'error' FROM commands WHERE command_id = 'bad-{}-{}'",
            site.tenant, site.site
        ));
        assert_eq!(
            rejected[0].get::<_, Option<String>>(0).as_deref(),
            Some("rejected")
        );
        assert!(
            rejected[0]
                .get::<_, Option<String>>(1)
                .unwrap_or_default()
                .contains("no failed job 424242")
        );
        total += last;
    }
    assert!(total >= 10_000, "{total} events");
    assert_eq!(
        cloud.query_i64("SELECT count(*) FROM commands WHERE state IN ('queued', 'delivered')"),
        0,
        "every command answered"
    );
    let duplicates = cloud.query_i64("SELECT sum(duplicates)::bigint FROM site_cursors");
    assert!(duplicates > 0, "the dedupe was exercised");
    assert!(
        proxy
            .counters()
            .duplicated
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    for point in [
        "before_publish",
        "after_publish",
        "after_puback",
        "after_cloud_ack",
        "after_mark",
        "after_command_commit",
        "ingest_after_commit",
    ] {
        assert!(
            fired.contains(point),
            "failpoint {point} never fired: {fired:?}"
        );
    }
    println!(
        "sync e2e: {total} events from 3 sites in {:.1}s, {duplicates} duplicates dropped by the cloud, failpoints {fired:?}",
        started.elapsed().as_secs_f64()
    );
}

/// Everything of `site` is in the cloud, acked at the edge, and its commands answered.
#[test]
fn a_broker_that_never_answers_is_given_up_on_after_the_connect_timeout() {
    // TCP connects (a stateful firewall or a half-dead uplink) but no CONNACK ever comes. The
    // connect deadline is 1 s; the stall timeout (2 x keep-alive + connect) would be 61 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in silent.incoming().flatten() {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(stream);
            }
        });
    }
    let dir = tempfile::tempdir().expect("dir");
    let config = site_config(dir.path(), "t1", "s1", port)
        .replace("keep_alive = \"5s\"", "keep_alive = \"30s\"")
        .replace("connect_timeout = \"3s\"", "connect_timeout = \"1s\"")
        .replace("backoff_max = \"2s\"", "backoff_max = \"200ms\"");
    assert!(config.contains("connect_timeout = \"1s\""), "{config}");
    std::fs::write(dir.path().join("sitebox.toml"), &config).expect("config");
    migrate_site(SITEBOXD.as_ref(), dir.path());
    let started = Instant::now();
    let daemon = Siteboxd::start(SITEBOXD.as_ref(), dir.path(), &config);
    daemon.wait_for_log("not connected within 1s", Duration::from_secs(8));
    let first = started.elapsed();
    assert!(
        first < Duration::from_secs(6),
        "first attempt given up after {first:?}"
    );
    // And it keeps trying: a new connection each time.
    let deadline = Instant::now() + Duration::from_secs(8);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "{} attempts\n{}",
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            tail(&daemon.log())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        daemon.count_log("sync: broker connection lost") >= 2,
        "{}",
        tail(&daemon.log())
    );
}

fn settled(cloud: &Cloud, site: &Site) -> bool {
    let pending_jobs = site_i64(
        &site.db,
        "SELECT count(*) FROM jobs WHERE state != 'completed'",
    );
    let last = site_i64(&site.db, "SELECT max(seq) FROM outbox");
    let unacked = site_i64(
        &site.db,
        "SELECT count(*) FROM outbox WHERE acked_at IS NULL",
    );
    let through = cloud.query_i64(&format!(
        "SELECT through FROM site_cursors WHERE tenant_id = '{}' AND site_id = '{}'",
        site.tenant, site.site
    ));
    let unanswered = cloud.query_i64(&format!(
        "SELECT count(*) FROM commands WHERE tenant_id = '{}' AND site_id = '{}' AND state IN ('queued', 'delivered')",
        site.tenant, site.site
    ));
    pending_jobs == 0 && unacked == 0 && through == last && unanswered == 0
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
