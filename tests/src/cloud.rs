//! The cloud side for sync tests: a throwaway PostgreSQL and mosquitto, the schema migrated by
//! its owner role, the site registry filled through `sitebox-cloud` as the service role (which
//! owns nothing, so row-level security binds it), the broker's ACL and passwords generated from
//! it, and `sitebox-cloud run` processes. Also the edge-side helpers that seed a site's database
//! the way real activity would (outbox rows, jobs that will fail) while its daemon is stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::mosquitto::Mosquitto;
use crate::postgres::Postgres;

/// The cloud's MQTT service account (`ingest`) password in tests.
pub const INGEST_PASSWORD: &str = "ingest-secret";

/// The role that owns the schema and runs `migrate`.
pub const OWNER_ROLE: &str = "sitebox_owner";

/// The role the service and the operator commands connect as.
pub const APP_ROLE: &str = "sitebox_app";

/// PostgreSQL + mosquitto + `sitebox-cloud run` processes. Everything stops when dropped.
#[derive(Debug)]
pub struct Cloud {
    /// The broker.
    pub broker: Mosquitto,
    /// The database server.
    pub postgres: Postgres,
    cloud_bin: PathBuf,
    dir: PathBuf,
    database: String,
    app_database: String,
    processes: Vec<Child>,
}

/// Above this many sites, [`Cloud::start`] registers them through the library function that
/// `sitebox-cloud sites add` calls, on one connection, rather than one process per site.
const FLEET: usize = 50;

/// Registers `sites` with [`sitebox_cloud::registry::add_site`] as the service role (the
/// passwords [`site_password`]).
fn register_fleet(app_database: &str, sites: &[(&str, &str)]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = sitebox_cloud::db::connect(app_database)
            .await
            .expect("connect as the service role");
        let actor = sitebox_cloud::audit::Actor::cli();
        for (tenant, site) in sites {
            let password = site_password(tenant, site);
            let stored = sitebox_cloud::registry::add_site(
                &mut client,
                &actor,
                tenant,
                site,
                "",
                Some(&password),
            )
            .await
            .unwrap_or_else(|e| panic!("add site {tenant}/{site}: {e}"));
            assert_eq!(stored, password);
        }
    });
}

/// The password a test site gets.
pub fn site_password(tenant: &str, site: &str) -> String {
    format!("pw-{tenant}-{site}")
}

fn check(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Cloud {
    /// Starts PostgreSQL, migrates the schema as [`OWNER_ROLE`], registers the tenants and
    /// `sites` (tenant, site) and the `ingest` account through `cloud_bin` as [`APP_ROLE`],
    /// generates the broker files from the registry and starts mosquitto. A fleet of more
    /// than 50 sites is registered through the library function `sites add` calls.
    pub fn start(cloud_bin: &Path, dir: &Path, sites: &[(&str, &str)]) -> Self {
        let postgres = Postgres::start();
        postgres.create_database("sitebox");
        postgres.execute(
            "sitebox",
            &format!(
                "CREATE ROLE {OWNER_ROLE} LOGIN CREATEROLE;
                 ALTER DATABASE sitebox OWNER TO {OWNER_ROLE};
                 ALTER SCHEMA public OWNER TO {OWNER_ROLE};
                 CREATE ROLE {APP_ROLE} LOGIN;"
            ),
        );
        let owner = postgres.url_as(OWNER_ROLE, "sitebox");
        let app_database = postgres.url_as(APP_ROLE, "sitebox");
        let run = |database: &str, args: &[&str]| {
            Command::new(cloud_bin)
                .arg("--database")
                .arg(database)
                .args(args)
                .output()
                .expect("run sitebox-cloud")
        };
        check(
            run(&owner, &["migrate", "--app-role", APP_ROLE]),
            "sitebox-cloud migrate",
        );
        check(
            run(
                &app_database,
                &[
                    "accounts",
                    "add",
                    "--username",
                    "ingest",
                    "--password",
                    INGEST_PASSWORD,
                ],
            ),
            "accounts add",
        );
        let mut tenants: Vec<&str> = sites.iter().map(|(tenant, _)| *tenant).collect();
        tenants.sort_unstable();
        tenants.dedup();
        for tenant in tenants {
            check(
                run(&app_database, &["tenants", "add", "--tenant", tenant]),
                "tenants add",
            );
        }
        if sites.len() > FLEET {
            register_fleet(&app_database, sites);
        }
        for (tenant, site) in sites.iter().filter(|_| sites.len() <= FLEET) {
            let password = site_password(tenant, site);
            let printed = check(
                run(
                    &app_database,
                    &[
                        "sites",
                        "add",
                        "--tenant",
                        tenant,
                        "--site",
                        site,
                        "--password",
                        &password,
                    ],
                ),
                "sites add",
            );
            assert_eq!(printed.trim(), password);
        }
        let broker_dir = dir.join("broker");
        std::fs::create_dir_all(&broker_dir).expect("broker dir");
        let acl = broker_dir.join("acl.generated");
        let passwords = broker_dir.join("passwords.generated");
        check(
            run(
                &app_database,
                &[
                    "acl",
                    "--acl-file",
                    &acl.display().to_string(),
                    "--password-file",
                    &passwords.display().to_string(),
                ],
            ),
            "sitebox-cloud acl",
        );
        let broker = Mosquitto::start(
            &broker_dir,
            &std::fs::read_to_string(&acl).expect("acl"),
            &std::fs::read_to_string(&passwords).expect("passwords"),
        );
        std::fs::write(dir.join("ingest-password"), INGEST_PASSWORD).expect("password file");
        Self {
            broker,
            database: postgres.url("sitebox"),
            postgres,
            cloud_bin: cloud_bin.to_path_buf(),
            dir: dir.to_path_buf(),
            app_database,
            processes: Vec::new(),
        }
    }

    /// The database as the superuser (sees every tenant: for checking, never for serving).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The database as the service role.
    pub fn app_database(&self) -> &str {
        &self.app_database
    }

    /// `sitebox-cloud` as the service role, with the `ingest` account on the broker.
    pub fn cloud_command(&self) -> Command {
        let mut command = Command::new(&self.cloud_bin);
        command
            .arg("--database")
            .arg(&self.app_database)
            .args(["--mqtt-host", "127.0.0.1", "--mqtt-port"])
            .arg(self.broker.port().to_string())
            .args(["--mqtt-user", "ingest", "--mqtt-password-file"])
            .arg(self.dir.join("ingest-password"));
        command
    }

    /// Runs `sitebox-cloud ARGS` as the service role and returns its output (panics on
    /// failure).
    pub fn run(&self, args: &[&str]) -> String {
        check(
            self.cloud_command().args(args).output().expect("run"),
            &format!("sitebox-cloud {}", args.join(" ")),
        )
    }

    /// Starts a `sitebox-cloud run` process with `workers` ingest workers, the gap timeout
    /// and a fast sweep (500 ms unless `extra` sets `--sweep-every-ms`); `env` may arm a
    /// failpoint, `extra` adds options.
    pub fn start_process(&mut self, workers: usize, gap_timeout_secs: u64, env: &[(&str, &str)]) {
        self.start_process_with(workers, gap_timeout_secs, env, &[]);
    }

    /// [`Cloud::start_process`] with more `run` options.
    pub fn start_process_with(
        &mut self,
        workers: usize,
        gap_timeout_secs: u64,
        env: &[(&str, &str)],
        extra: &[&str],
    ) {
        let index = self.processes.len();
        let log = std::fs::File::create(self.dir.join(format!("cloud-{index}.log"))).expect("log");
        let child = self
            .cloud_command()
            .args(["run", "--workers", &workers.to_string()])
            .args(["--gap-timeout-secs", &gap_timeout_secs.to_string()])
            .args(["--client-id", &format!("cloud-{index}")])
            .args(["--listen", "127.0.0.1:0"])
            .args(
                (!extra.contains(&"--sweep-every-ms"))
                    .then_some(["--sweep-every-ms", "500"])
                    .into_iter()
                    .flatten(),
            )
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sitebox-cloud run");
        self.processes.push(child);
    }

    /// Waits until process `index` has subscribed (panics with its log after 20 s).
    pub fn wait_ready(&self, index: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !self.process_log(index).contains("ingest worker subscribed") {
            assert!(
                std::time::Instant::now() < deadline,
                "sitebox-cloud {index} did not subscribe:\n{}",
                self.process_log(index)
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Where process `index` serves the API (after [`Cloud::wait_ready`]).
    pub fn api_addr(&self, index: usize) -> std::net::SocketAddr {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let log = self.process_log(index);
            let found = log
                .lines()
                .find(|l| l.contains("api listening"))
                .and_then(|l| l.split("listening=").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|addr| addr.parse().ok());
            if let Some(addr) = found {
                return addr;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sitebox-cloud {index} never said where it listens:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Creates an API token with `sitebox-cloud tokens create`; returns it.
    pub fn token(&self, tenant: &str, name: &str, role: &str, sites: &[&str]) -> String {
        let mut args = vec![
            "tokens", "create", "--tenant", tenant, "--name", name, "--role", role,
        ];
        for site in sites {
            args.extend(["--site", site]);
        }
        self.run(&args).trim().to_string()
    }

    /// Processes that have exited (e.g. at a failpoint), by index; reaped.
    pub fn exited_processes(&mut self) -> Vec<usize> {
        self.processes
            .iter_mut()
            .enumerate()
            .filter_map(|(i, child)| child.try_wait().ok().flatten().map(|_| i))
            .collect()
    }

    /// The log of process `index`.
    pub fn process_log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("cloud-{index}.log"))).unwrap_or_default()
    }

    /// Sends a command through `sitebox-cloud command`; returns its id.
    pub fn command(
        &self,
        tenant: &str,
        site: &str,
        kind: &str,
        payload: &str,
        id: Option<&str>,
    ) -> String {
        let mut args = vec![
            "command",
            "--tenant",
            tenant,
            "--site",
            site,
            "--type",
            kind,
            "--payload",
            payload,
        ];
        if let Some(id) = id {
            args.extend(["--id", id]);
        }
        self.run(&args).trim().to_string()
    }

    /// Runs a query on the cloud database as the superuser (every tenant's rows).
    pub fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&self.database, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
            tokio::spawn(connection);
            client
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    /// One i64 from a query.
    pub fn query_i64(&self, sql: &str) -> i64 {
        self.query(sql)
            .first()
            .map_or(0, |row| row.get::<_, Option<i64>>(0).unwrap_or(0))
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `[sync]`-enabled siteboxd config for `tenant`/`site` whose broker is `port`, with the data
/// and the password file in `dir`.
pub fn site_config(dir: &Path, tenant: &str, site: &str, port: u16) -> String {
    let password = dir.join("mqtt-password");
    std::fs::write(&password, site_password(tenant, site)).expect("password file");
    format!(
        "[site]\ntenant = \"{tenant}\"\nsite = \"{site}\"\n\n\
         [store]\ndata_dir = \"{data}\"\nsynchronous = \"normal\"\n\n\
         [secrets]\nkey_file = \"{key}\"\ncreate_if_missing = true\n\n\
         [radius]\nenabled = false\n\n\
         [web]\nenabled = false\n\n\
         [log]\nlevel = \"info\"\n\n\
         [sync]\nenabled = true\nbroker = \"127.0.0.1:{port}\"\npassword_file = \"{password}\"\n\
         keep_alive = \"5s\"\nconnect_timeout = \"3s\"\nbackoff_min = \"100ms\"\nbackoff_max = \"2s\"\n\
         ack_timeout = \"4s\"\npoll_every = \"200ms\"\nbatch_max_events = 500\nbudget_every = \"5s\"\n",
        data = dir.join("data").display(),
        key = dir.join("secret.key").display(),
        password = password.display()
    )
}

/// Creates the schema of a site database with `siteboxd migrate`.
pub fn migrate_site(siteboxd: &Path, dir: &Path) {
    check(
        Command::new(siteboxd)
            .arg("--config")
            .arg(dir.join("sitebox.toml"))
            .arg("migrate")
            .output()
            .expect("siteboxd migrate"),
        "siteboxd migrate",
    );
}

/// Appends `count` events to a site's outbox, lanes mixed (1 in 10 a payment, 2 in 10
/// telemetry), as a domain write would. Returns the seqs written.
pub fn seed_outbox(db: &Path, count: usize, payload_bytes: usize) -> Vec<i64> {
    let mut conn = rusqlite::Connection::open(db).expect("open site db");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy");
    let tx = conn.transaction().expect("tx");
    let mut seqs = Vec::with_capacity(count);
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO outbox (id, type, schema_version, lane, occurred_at, boot_id, uptime_ms, subject, payload)
                 VALUES (?1, ?2, 1, ?3, ?4, 'seed-boot', ?5, ?6, ?7) RETURNING seq",
            )
            .expect("prepare");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        for i in 0..count {
            let (kind, lane) = match i % 10 {
                0 => ("PaymentApplied", "payments"),
                1 | 2 => ("SessionUpdated", "telemetry"),
                _ => ("SubscriberUpdated", "events"),
            };
            let payload = format!(
                "{{\"n\":{i},\"session\":\"{:08x}\",\"octets_in\":{},\"pad\":\"{}\"}}",
                fastrand::u32(..),
                fastrand::u32(..),
                "x".repeat(payload_bytes)
            );
            let seq: i64 = insert
                .query_row(
                    rusqlite::params![
                        sitebox_sync_uuid(),
                        kind,
                        lane,
                        now,
                        i as i64,
                        format!("subscriber:{}", i % 500),
                        payload
                    ],
                    |row| row.get(0),
                )
                .expect("insert");
            seqs.push(seq);
        }
    }
    tx.commit().expect("commit");
    seqs
}

fn sitebox_sync_uuid() -> String {
    // UUIDv7-shaped: time-ordered prefix, random tail.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        now >> 16,
        now & 0xffff,
        fastrand::u16(..0x1000),
        fastrand::u16(..0x1000),
        fastrand::u64(..1 << 48)
    )
}

/// Enqueues `count` jobs of a kind no handler serves, due at `run_at` + i·`spacing_ms`: the
/// daemon runs each once and records it failed, emitting a JobFailed event.
pub fn seed_failing_jobs(db: &Path, count: usize, run_at: i64, spacing_ms: i64) {
    let mut conn = rusqlite::Connection::open(db).expect("open site db");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy");
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO jobs (queue, kind, args, priority, state, attempt, max_attempts, run_at, timeout_ms, created_at)
                 VALUES ('default', 'test.no_handler', ?1, 0, 'available', 0, 1, ?2, 60000, ?2)",
            )
            .expect("prepare");
        for i in 0..count {
            insert
                .execute(rusqlite::params![
                    format!("{{\"n\":{i}}}"),
                    run_at + i as i64 * spacing_ms
                ])
                .expect("insert job");
        }
    }
    tx.commit().expect("commit");
}

/// Puts `count` jobs straight into the failed store (as if they had used up their attempts);
/// returns their ids, for `queue.retry_failed` commands.
pub fn seed_failed_jobs(db: &Path, count: usize) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).expect("open site db");
    // Recent, so the daemon's prune (failed_retention) keeps them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    (0..count)
        .map(|i| {
            conn.query_row(
                "INSERT INTO failed_jobs (id, queue, kind, args, priority, attempts, max_attempts, timeout_ms, error, errors, created_at, failed_at)
                 VALUES ((SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'jobs') + 100000 + ?1,
                         'default', 'test.no_handler', '{}', 0, 1, 1, 60000, 'seeded', '[]', ?2, ?2)
                 RETURNING id",
                [i as i64, now],
                |row| row.get(0),
            )
            .expect("insert failed job")
        })
        .collect()
}

/// One i64 from a query on a site database.
pub fn site_i64(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open site db");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy");
    conn.query_row(sql, [], |row| row.get::<_, Option<i64>>(0))
        .expect(sql)
        .unwrap_or(0)
}
