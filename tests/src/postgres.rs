//! A throwaway PostgreSQL cluster: `initdb` in a temp dir owned by the `postgres` user (the
//! server refuses to run as root, so as root it runs through `runuser`), `pg_ctl` on a free
//! port with its socket in that dir. Stopped (immediate) and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{peers, ports};

/// A running cluster.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    running: bool,
}

fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The newest `/usr/lib/postgresql/N/bin` (Debian keeps the server tools there, off PATH).
fn server_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

impl Postgres {
    /// Creates and starts a cluster. fsync is off: the tests kill other processes, never this
    /// one, and it is thrown away.
    pub fn start() -> Self {
        let initdb = server_bin_dir()
            .map(|dir| dir.join("initdb"))
            .unwrap_or_else(|| peers::program("initdb", "postgresql"));
        let bin = initdb.parent().expect("bin dir").to_path_buf();
        let dir = tempfile::Builder::new()
            .prefix("sitebox-pg-")
            .tempdir()
            .expect("temp dir");
        let as_root = nix::unistd::Uid::effective().is_root();
        if as_root {
            check(
                &Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path())
                    .output()
                    .expect("chown"),
                "chown postgres",
            );
        }
        let port = ports::free_tcp_port();
        let mut pg = Self {
            dir,
            bin,
            port,
            running: false,
        };
        let data = pg.data();
        check(
            &pg.as_owner(&initdb)
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "-D",
                ])
                .arg(&data)
                .output()
                .expect("initdb"),
            "initdb",
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=50",
            pg.dir.path().display()
        );
        check(
            &pg.as_owner(&pg.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(options)
                .arg("-l")
                .arg(pg.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "start"])
                .output()
                .expect("pg_ctl start"),
            "pg_ctl start",
        );
        pg.running = true;
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_owner(&self, program: &Path) -> Command {
        if nix::unistd::Uid::effective().is_root() {
            let mut command = Command::new(peers::program("runuser", "util-linux"));
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A tokio-postgres / libpq connection string for `dbname`, as the superuser.
    pub fn url(&self, dbname: &str) -> String {
        self.url_as("postgres", dbname)
    }

    /// A connection string for `dbname` as `user` (the cluster trusts local connections).
    pub fn url_as(&self, user: &str, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname={dbname}",
            self.port
        )
    }

    /// Runs `sql` (one or more statements) on `dbname` as the superuser.
    pub fn execute(&self, dbname: &str, sql: &str) {
        let url = self.url(dbname);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect as postgres");
            tokio::spawn(connection);
            client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }

    /// Creates a database.
    pub fn create_database(&self, name: &str) {
        check(
            &self
                .as_owner(&self.bin.join("createdb"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    name,
                ])
                .output()
                .expect("createdb"),
            "createdb",
        );
    }

    /// The server log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .as_owner(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}
