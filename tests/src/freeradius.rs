//! A throwaway FreeRADIUS 3.2 (the Debian package `freeradius`) on free loopback ports, from a
//! raddb generated in a temp dir: the limits and thread pool of Debian's `radiusd.conf`, one
//! virtual server, one client that must send Message-Authenticator, and users either in the
//! `files` module or in an SQLite `radcheck` table (`rlm_sql_sqlite`). Run in the foreground
//! without debug output (`freeradius -f -d DIR`), so nothing is logged per request. Killed when
//! dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{peers, ports};

/// Debian's FreeRADIUS configuration, where the SQLite schema and queries are read from.
const DEBIAN_RADDB: &str = "/etc/freeradius/3.0";

/// Where the users are and where accounting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `authorize { files }`; accounting to the `detail` file (appended, not synced).
    Files,
    /// `authorize { sql }` and `accounting { sql }` on an SQLite database (`rlm_sql_sqlite`,
    /// Debian's schema and queries, WAL journal).
    Sqlite,
}

impl Backend {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Sqlite => "sqlite",
        }
    }
}

/// A user FreeRADIUS knows: name, cleartext password, and the reply it gets.
#[derive(Debug, Clone)]
pub struct User {
    /// User-Name.
    pub name: String,
    /// Cleartext-Password.
    pub password: String,
}

/// Reply attributes every user gets (what a plan gives a Sitebox subscriber).
pub const REPLY: [(&str, &str); 3] = [
    ("Session-Timeout", "86400"),
    ("Acct-Interim-Interval", "300"),
    ("Mikrotik-Rate-Limit", "\"2M/4M\""),
];

/// A running FreeRADIUS.
#[derive(Debug)]
pub struct FreeRadius {
    child: Option<Child>,
    dir: PathBuf,
    backend: Backend,
    auth: SocketAddr,
    acct: SocketAddr,
}

impl FreeRadius {
    /// Writes the raddb into `dir` (which must exist) with `users` and a client 127.0.0.1 with
    /// `secret`, starts FreeRADIUS and waits until it is ready.
    pub fn start(dir: &Path, backend: Backend, users: &[User], secret: &str) -> Self {
        let binary = peers::program("freeradius", "freeradius");
        let (auth, acct) = (ports::free_udp_port(), ports::free_udp_port());
        for sub in ["log", "log/radacct", "run", "mods-config/files"] {
            std::fs::create_dir_all(dir.join(sub)).expect("raddb dir");
        }
        // The dictionary of the raddb only adds local attributes; the server wants the file.
        std::fs::copy(
            Path::new(DEBIAN_RADDB).join("dictionary"),
            dir.join("dictionary"),
        )
        .expect("copy the raddb dictionary (Debian package freeradius-config)");
        std::fs::write(dir.join("clients.conf"), clients_conf(secret)).expect("clients.conf");
        std::fs::write(
            dir.join("radiusd.conf"),
            radiusd_conf(dir, backend, auth, acct),
        )
        .expect("radiusd.conf");
        match backend {
            Backend::Files => std::fs::write(
                dir.join("mods-config/files/authorize"),
                files_authorize(users),
            )
            .expect("files authorize"),
            Backend::Sqlite => write_sqlite(&dir.join("freeradius.db"), users),
        }
        let child = Command::new(binary)
            .arg("-f")
            .arg("-d")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start freeradius");
        let mut server = Self {
            child: Some(child),
            dir: dir.to_path_buf(),
            backend,
            auth: SocketAddr::from(([127, 0, 0, 1], auth)),
            acct: SocketAddr::from(([127, 0, 0, 1], acct)),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains("Ready to process requests") {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("freeradius exited with {status}:\n{stderr}\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "freeradius not ready within 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The authentication socket.
    pub fn auth(&self) -> SocketAddr {
        self.auth
    }

    /// The accounting socket.
    pub fn acct(&self) -> SocketAddr {
        self.acct
    }

    /// Which backend holds the users.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's log file so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/radius.log")).unwrap_or_default()
    }

    /// Accounting records written: rows of `radacct` (SQLite) or records in the detail file.
    pub fn accounting_records(&self) -> u64 {
        match self.backend {
            Backend::Sqlite => {
                let db = rusqlite::Connection::open(self.dir.join("freeradius.db"))
                    .expect("open freeradius.db");
                db.query_row("SELECT count(*) FROM radacct", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|n| n.unsigned_abs())
                .expect("count radacct")
            }
            Backend::Files => {
                let detail = std::fs::read_to_string(self.dir.join("log/radacct/detail"))
                    .unwrap_or_default();
                detail
                    .lines()
                    .filter(|line| line.trim_start().starts_with("Acct-Status-Type"))
                    .count() as u64
            }
        }
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn clients_conf(secret: &str) -> String {
    format!(
        "client bench {{\n\
         \tipaddr = 127.0.0.1\n\
         \tsecret = \"{secret}\"\n\
         \t# Blast-RADIUS: every Access-Request must carry a valid Message-Authenticator.\n\
         \trequire_message_authenticator = yes\n\
         \tnas_type = other\n\
         }}\n"
    )
}

/// Requests FreeRADIUS holds at once, answered ones included (each is kept `cleanup_delay`,
/// 5 s, to answer duplicates). Debian's 16,384 caps a server at 16,384 / 5 s ≈ 3,300 requests/s
/// sustained; past that it drops requests ("Dropping request (16385 is too many)"), so the
/// benchmark raises it.
pub const MAX_REQUESTS: u32 = 262_144;

/// Debian's `radiusd.conf` trimmed: the same timers and thread pool ([`MAX_REQUESTS`] raised),
/// no proxying, no `policy.d`, authentication logging off, and one virtual server with only what the benchmark
/// exercises.
fn radiusd_conf(dir: &Path, backend: Backend, auth: u16, acct: u16) -> String {
    let (module, users_from, accounting) = match backend {
        Backend::Files => (
            "\tfiles {\n\
             \t\tfilename = ${modconfdir}/files/authorize\n\
             \t}\n\
             \tdetail {\n\
             \t\tfilename = ${radacctdir}/detail\n\
             \t\tescape_filenames = no\n\
             \t\tpermissions = 0600\n\
             \t\theader = \"%t\"\n\
             \t}\n"
                .to_string(),
            "files",
            "detail",
        ),
        Backend::Sqlite => (
            format!(
                "\tsql {{\n\
                 \t\tdialect = \"sqlite\"\n\
                 \t\tdriver = \"rlm_sql_sqlite\"\n\
                 \t\tsqlite {{\n\
                 \t\t\tfilename = \"{db}\"\n\
                 \t\t\tbusy_timeout = 200\n\
                 \t\t}}\n\
                 \t\tradius_db = \"radius\"\n\
                 \t\tacct_table1 = \"radacct\"\n\
                 \t\tacct_table2 = \"radacct\"\n\
                 \t\tpostauth_table = \"radpostauth\"\n\
                 \t\tauthcheck_table = \"radcheck\"\n\
                 \t\tgroupcheck_table = \"radgroupcheck\"\n\
                 \t\tauthreply_table = \"radreply\"\n\
                 \t\tgroupreply_table = \"radgroupreply\"\n\
                 \t\tusergroup_table = \"radusergroup\"\n\
                 \t\tdelete_stale_sessions = yes\n\
                 \t\tpool {{\n\
                 \t\t\tstart = ${{thread[pool].start_servers}}\n\
                 \t\t\tmin = ${{thread[pool].min_spare_servers}}\n\
                 \t\t\tmax = ${{thread[pool].max_servers}}\n\
                 \t\t\tspare = ${{thread[pool].max_spare_servers}}\n\
                 \t\t\tuses = 0\n\
                 \t\t\tretry_delay = 30\n\
                 \t\t\tlifetime = 0\n\
                 \t\t\tidle_timeout = 60\n\
                 \t\t}}\n\
                 \t\tclient_table = \"nas\"\n\
                 \t\tgroup_attribute = \"SQL-Group\"\n\
                 \t\t$INCLUDE {DEBIAN_RADDB}/mods-config/sql/main/sqlite/queries.conf\n\
                 \t}}\n",
                db = dir.join("freeradius.db").display()
            ),
            "sql",
            "sql",
        ),
    };
    format!(
        "prefix = /usr\n\
         exec_prefix = /usr\n\
         sysconfdir = /etc\n\
         localstatedir = /var\n\
         sbindir = ${{exec_prefix}}/sbin\n\
         logdir = {dir}/log\n\
         raddbdir = {dir}\n\
         radacctdir = ${{logdir}}/radacct\n\
         name = freeradius\n\
         confdir = ${{raddbdir}}\n\
         modconfdir = ${{confdir}}/mods-config\n\
         run_dir = {dir}/run\n\
         db_dir = ${{raddbdir}}\n\
         libdir = /usr/lib/freeradius\n\
         pidfile = ${{run_dir}}/${{name}}.pid\n\
         max_request_time = 30\n\
         cleanup_delay = 5\n\
         max_requests = {max_requests}\n\
         hostname_lookups = no\n\
         log {{\n\
         \tdestination = files\n\
         \tcolourise = no\n\
         \tfile = ${{logdir}}/radius.log\n\
         \tstripped_names = no\n\
         \tauth = no\n\
         \tauth_badpass = no\n\
         \tauth_goodpass = no\n\
         }}\n\
         security {{\n\
         \tallow_core_dumps = no\n\
         \tmax_attributes = 200\n\
         \treject_delay = 1\n\
         \tstatus_server = yes\n\
         }}\n\
         proxy_requests = no\n\
         $INCLUDE clients.conf\n\
         thread pool {{\n\
         \tstart_servers = 5\n\
         \tmax_servers = 32\n\
         \tmin_spare_servers = 3\n\
         \tmax_spare_servers = 10\n\
         \tmax_requests_per_server = 0\n\
         \tauto_limit_acct = no\n\
         }}\n\
         modules {{\n\
         \tpap {{\n\
         \t}}\n\
         \t# %{{md5:…}} and the other string expansions the accounting key uses.\n\
         \texpr {{\n\
         \t}}\n\
         {module}\
         }}\n\
         instantiate {{\n\
         }}\n\
         policy {{\n\
         \t# From Debian's policy.d/accounting: the key the SQL queries match Start and Stop on.\n\
         \tacct_unique {{\n\
         \t\tupdate request {{\n\
         \t\t\t&Acct-Unique-Session-Id := \"%{{md5:%{{User-Name}},%{{Acct-Session-ID}},%{{%{{NAS-IPv6-Address}}:-%{{NAS-IP-Address}}}},%{{NAS-Identifier}},%{{NAS-Port-ID}},%{{NAS-Port}}}}\"\n\
         \t\t}}\n\
         \t}}\n\
         }}\n\
         server default {{\n\
         \tlisten {{\n\
         \t\ttype = auth\n\
         \t\tipaddr = 127.0.0.1\n\
         \t\tport = {auth}\n\
         \t}}\n\
         \tlisten {{\n\
         \t\ttype = acct\n\
         \t\tipaddr = 127.0.0.1\n\
         \t\tport = {acct}\n\
         \t}}\n\
         \tauthorize {{\n\
         \t\t{users_from}\n\
         \t\tpap\n\
         \t}}\n\
         \tauthenticate {{\n\
         \t\tAuth-Type PAP {{\n\
         \t\t\tpap\n\
         \t\t}}\n\
         \t}}\n\
         \tpreacct {{\n\
         \t\tacct_unique\n\
         \t}}\n\
         \taccounting {{\n\
         \t\t{accounting}\n\
         \t}}\n\
         }}\n",
        dir = dir.display(),
        max_requests = MAX_REQUESTS,
    )
}

/// `mods-config/files/authorize`: one entry per user, check item then reply items.
fn files_authorize(users: &[User]) -> String {
    let reply = REPLY
        .iter()
        .map(|(name, value)| format!("\t{name} := {value}"))
        .collect::<Vec<_>>()
        .join(",\n");
    let mut out = String::with_capacity(users.len() * 120);
    for user in users {
        out.push_str(&format!(
            "{} Cleartext-Password := \"{}\"\n{reply}\n\n",
            user.name, user.password
        ));
    }
    out
}

/// The SQLite database from Debian's schema, with the users in `radcheck` and their replies in
/// `radreply`, in WAL mode (readers do not wait for the accounting writer).
fn write_sqlite(path: &Path, users: &[User]) {
    let schema = std::fs::read_to_string(
        Path::new(DEBIAN_RADDB).join("mods-config/sql/main/sqlite/schema.sql"),
    )
    .expect("read Debian's SQLite schema (package freeradius)");
    let mut db = rusqlite::Connection::open(path).expect("create freeradius.db");
    db.execute_batch(&schema).expect("apply the schema");
    db.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL journal");
    let tx = db.transaction().expect("transaction");
    {
        let mut check = tx
            .prepare(
                "INSERT INTO radcheck (username, attribute, op, value) \
                 VALUES (?1, 'Cleartext-Password', ':=', ?2)",
            )
            .expect("prepare radcheck");
        let mut reply = tx
            .prepare(
                "INSERT INTO radreply (username, attribute, op, value) VALUES (?1, ?2, ':=', ?3)",
            )
            .expect("prepare radreply");
        for user in users {
            check
                .execute((&user.name, &user.password))
                .expect("insert radcheck");
            for (name, value) in REPLY {
                reply
                    .execute((&user.name, name, value.trim_matches('"')))
                    .expect("insert radreply");
            }
        }
    }
    tx.commit().expect("commit users");
}
