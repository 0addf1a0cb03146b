//! The daemon's TOML config: parsed, then validated whole before anything binds a socket.
//!
//! `config/dev.toml` is compiled in as the embedded defaults (what `siteboxd run` uses with no
//! `--config`); `config/sitebox.example.toml` documents every key. A bad file is refused with
//! every problem named by file, line and key (see [`ConfigError`]).

mod duration;
mod error;
mod provisioning;
mod sync;
mod web;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use duration::{ConfigDuration, parse_duration};
pub use error::{ConfigError, Problem};
pub use provisioning::{ProvisioningConfig, SimulatorConfig};
pub use sync::SyncConfig;
pub use web::WebConfig;

/// Appended in place of a missing `[site]` so that the rest of the file is still checked.
const SITE_STAND_IN: &str = "\n[site]\ntenant = \"stand-in\"\nsite = \"stand-in\"\n";

/// The section a "missing field" error is about, when it is a whole top-level section.
fn missing_section(map: &error::SourceMap<'_>, err: &toml::de::Error) -> Option<String> {
    let field = err
        .message()
        .strip_prefix("missing field `")?
        .split('`')
        .next()?;
    map.is_root_span(err.span()).then(|| field.to_string())
}

/// Blanks the lines `span` touches (spaces, newlines kept) so the parser skips that key and
/// every other offset stays put; false when there is nothing left to blank.
fn blank_lines(text: &mut String, span: std::ops::Range<usize>) -> bool {
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |nl| nl + 1);
    let end = text[span.end.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |nl| span.end.min(text.len()) + nl);
    if text[start..end].trim().is_empty() {
        return false;
    }
    // Byte for byte: a multi-byte character becomes as many spaces as it had bytes.
    let blanked: String = text.as_bytes()[start..end]
        .iter()
        .map(|&b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    text.replace_range(start..end, &blanked);
    true
}

/// The embedded defaults: `config/dev.toml`.
pub const DEV_CONFIG: &str = include_str!("../../../config/dev.toml");

/// The name shown for the embedded defaults in errors.
pub const DEV_CONFIG_NAME: &str = "<embedded config/dev.toml>";

/// The whole daemon config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this box is in the cloud's eyes.
    pub site: SiteConfig,
    /// The SQLite database.
    #[serde(default)]
    pub store: StoreConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Process-wide settings.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// The durable job queue.
    #[serde(default)]
    pub queue: QueueConfig,
    /// The key that seals credentials at rest.
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// The RADIUS server.
    #[serde(default)]
    pub radius: RadiusConfig,
    /// Ending subscriptions and cutting their sessions off.
    #[serde(default)]
    pub expiry: ExpiryConfig,
    /// Cloud sync over MQTT (absent: disabled).
    #[serde(default)]
    pub sync: SyncConfig,
    /// The technician page.
    #[serde(default)]
    pub web: WebConfig,
    /// Managed routers: provisioning and health polling.
    #[serde(default)]
    pub provisioning: ProvisioningConfig,
    /// A RouterOS simulator inside the daemon (development).
    #[serde(default)]
    pub simulator: SimulatorConfig,
}

/// `[secrets]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// 32-byte key (raw or 64 hex digits). The systemd credential `sitebox.key` wins when set.
    pub key_file: PathBuf,
    /// Create the key file with a new random key when it is missing (development only: a lost
    /// key makes every stored password unreadable).
    pub create_if_missing: bool,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            key_file: PathBuf::from("/etc/sitebox/secret.key"),
            create_if_missing: false,
        }
    }
}

/// `[radius]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RadiusConfig {
    /// Serve RADIUS at all.
    pub enabled: bool,
    /// Access-Request port.
    pub auth_listen: std::net::SocketAddr,
    /// Accounting-Request port.
    pub acct_listen: std::net::SocketAddr,
    /// Source address of Disconnect/CoA requests: the router checks it against its `/radius`
    /// entry, so on a multi-homed box set the LAN address.
    pub coa_source: std::net::IpAddr,
    /// Requests handled at once, per port (auth and accounting each have this many).
    pub max_in_flight: u32,
    /// Longest wait for the database before a request is dropped (the router retries).
    pub request_timeout: ConfigDuration,
    /// How often rejected logins are summed up into one AuthRejected event.
    pub reject_summary_every: ConfigDuration,
}

impl Default for RadiusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            auth_listen: std::net::SocketAddr::from(([0, 0, 0, 0], 1812)),
            acct_listen: std::net::SocketAddr::from(([0, 0, 0, 0], 1813)),
            coa_source: std::net::IpAddr::from([0, 0, 0, 0]),
            max_in_flight: 256,
            request_timeout: ConfigDuration::secs(5),
            reject_summary_every: ConfigDuration::secs(60),
        }
    }
}

/// `[expiry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiryConfig {
    /// How often subscriptions past their expiry are looked for (each also has its own job at
    /// its instant).
    pub sweep_every: ConfigDuration,
    /// How long after a Disconnect-Request the session must be gone before it is kicked through
    /// the RouterOS API.
    pub verify_after: ConfigDuration,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        Self {
            sweep_every: ConfigDuration::secs(60),
            verify_after: ConfigDuration::secs(30),
        }
    }
}

/// `[site]`: the tenant (ISP) and site this box serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The tenant (ISP) id in the cloud.
    pub tenant: String,
    /// The site id in the cloud, unique within the tenant.
    pub site: String,
    /// A human name for the site.
    #[serde(default)]
    pub name: String,
}

/// `[store]`: where and how the database is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Directory for the database and its lock file.
    pub data_dir: PathBuf,
    /// Database file name inside `data_dir`.
    pub file: String,
    /// `full` (every commit survives a power cut) or `normal` (may lose the last commits).
    pub synchronous: Synchronous,
    /// Integrity check at start: `quick`, `full` or `off`.
    pub integrity_check: IntegrityCheck,
    /// Read-only connections for the web page, metrics and CLI reads.
    pub readers: u32,
    /// How long a connection waits for a lock held by another process (e.g. the CLI).
    pub busy_timeout: ConfigDuration,
    /// Most writes committed together in one transaction when they arrive in a burst.
    pub group_commit_max: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/sitebox"),
            file: "sitebox.db".into(),
            synchronous: Synchronous::Full,
            integrity_check: IntegrityCheck::Quick,
            readers: 4,
            busy_timeout: ConfigDuration::secs(5),
            group_commit_max: 256,
        }
    }
}

impl StoreConfig {
    /// The database file's path.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(&self.file)
    }
}

/// SQLite's `synchronous` pragma, in the two settings that make sense with WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync the WAL on every commit: a committed payment survives a power cut.
    Full,
    /// fsync only at checkpoints: consistent, but the last commits may roll back on power loss.
    Normal,
}

/// What to check of the database file at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrityCheck {
    /// `PRAGMA quick_check`: page structure, no index content comparison.
    Quick,
    /// `PRAGMA integrity_check`: everything (slow on a large file on an SD card).
    Full,
    /// No check.
    Off,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `info,sitebox::queue=debug`.
    pub level: String,
    /// `text` for people and journald, `json` for log shippers.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[daemon]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// How long running jobs may take to finish after SIGTERM before they are put back.
    pub shutdown_grace: ConfigDuration,
    /// When started as root (outside systemd), the user to switch to before anything is
    /// opened or bound. `siteboxd run` refuses to run as root without one.
    pub user: Option<String>,
    /// What says the wall clock is right: flag files that exist while it is synchronised, or
    /// "always" (a battery-backed clock).
    pub clock_trust: Vec<String>,
    /// Scenario runs only: the daemon's clock runs this many times faster than real time.
    pub clock_speed: f64,
    /// Scenario runs only: the real instant (ms since the Unix epoch) at which the fast clock
    /// stood at the real time, so the clock keeps its timeline across restarts. Unset: start-up.
    pub clock_anchor: Option<i64>,
}

impl DaemonConfig {
    /// `clock_trust` as the clock takes it.
    pub fn trust_sources(&self) -> Vec<crate::clock::TrustSource> {
        self.clock_trust
            .iter()
            .map(|source| match source.as_str() {
                "always" => crate::clock::TrustSource::Always,
                path => crate::clock::TrustSource::Flag(PathBuf::from(path)),
            })
            .collect()
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            shutdown_grace: ConfigDuration::secs(10),
            user: None,
            clock_trust: vec!["/run/systemd/timesync/synchronized".into()],
            clock_speed: 1.0,
            clock_anchor: None,
        }
    }
}

/// The queues Sitebox's own code enqueues into.
pub const QUEUE_NAMES: [&str; 6] = [
    "payments",
    "enforcement",
    "provisioning",
    "sync",
    "default",
    "maintenance",
];

/// `[queue]`: the durable job queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// How long a claimed job stays locked without a heartbeat before it is taken again.
    pub lease: ConfigDuration,
    /// First retry delay; each later attempt doubles it.
    pub backoff_base: ConfigDuration,
    /// Longest retry delay.
    pub backoff_max: ConfigDuration,
    /// How often leases are checked for dead holders.
    pub rescue_every: ConfigDuration,
    /// Completed jobs are kept this long (for the web page), then pruned.
    pub completed_retention: ConfigDuration,
    /// Failed jobs are kept this long, then pruned.
    pub failed_retention: ConfigDuration,
    /// How often pruning runs.
    pub prune_every: ConfigDuration,
    /// Per-queue settings; queues not named here use their defaults.
    pub queues: BTreeMap<String, QueueSettings>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease: ConfigDuration::secs(30),
            backoff_base: ConfigDuration::secs(10),
            backoff_max: ConfigDuration::secs(3600),
            rescue_every: ConfigDuration::secs(15),
            completed_retention: ConfigDuration::secs(86_400),
            failed_retention: ConfigDuration::secs(30 * 86_400),
            prune_every: ConfigDuration::secs(3600),
            queues: BTreeMap::new(),
        }
    }
}

impl QueueConfig {
    /// The settings of `queue`, from the file or the defaults.
    pub fn settings(&self, queue: &str) -> QueueSettings {
        self.queues
            .get(queue)
            .cloned()
            .unwrap_or_else(|| QueueSettings::default_for(queue))
    }
}

/// `[queue.queues.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Jobs of this queue run at the same time at most.
    pub concurrency: u32,
}

impl QueueSettings {
    /// The built-in default for `queue`.
    pub fn default_for(queue: &str) -> Self {
        let concurrency = match queue {
            // A disconnect mostly waits for the router's answer: many at once when a batch of
            // plans ends together.
            "enforcement" => 8,
            "provisioning" => 4,
            "payments" | "sync" | "default" => 2,
            _ => 1,
        };
        Self { concurrency }
    }
}

/// A socket the daemon binds at start-up, as the config enables it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// What serves there (`web`, `radius-auth`, …).
    pub name: &'static str,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The configured address.
    pub address: std::net::SocketAddr,
}

/// A listener's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A TCP listener: connections are accepted once it is bound.
    Tcp,
    /// A UDP socket.
    Udp,
}

impl Config {
    /// Every socket this config has the daemon bind before it reports READY=1. A server added
    /// to the daemon adds its addresses here: the readiness test checks each of them.
    pub fn listeners(&self) -> Vec<Listener> {
        let mut listeners = Vec::new();
        if self.radius.enabled {
            listeners.push(Listener {
                name: "radius-auth",
                protocol: Protocol::Udp,
                address: self.radius.auth_listen,
            });
            listeners.push(Listener {
                name: "radius-acct",
                protocol: Protocol::Udp,
                address: self.radius.acct_listen,
            });
        }
        if self.web.enabled {
            listeners.push(Listener {
                name: "web",
                protocol: Protocol::Tcp,
                address: self.web.listen,
            });
        }
        if self.simulator.enabled {
            listeners.push(Listener {
                name: "routeros-simulator",
                protocol: Protocol::Tcp,
                address: self.simulator.listen,
            });
        }
        listeners
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let source =
            std::fs::read_to_string(path).map_err(|err| ConfigError::unreadable(path, &err))?;
        Self::parse(path, &source)
    }

    /// The embedded defaults (`config/dev.toml`).
    pub fn dev() -> Result<Self, ConfigError> {
        Self::parse(Path::new(DEV_CONFIG_NAME), DEV_CONFIG)
    }

    /// Parses and validates `source`, read from `file`. Every problem is reported, in file
    /// order (a missing section last): a key the parser refuses is set aside (its lines
    /// blanked, so every offset stays where it was) and the rest parsed again.
    pub fn parse(file: &Path, source: &str) -> Result<Self, ConfigError> {
        let map = error::SourceMap::new(source);
        let mut text = source.to_string();
        let mut problems = Vec::new();
        let mut parsed = None;
        // Each round sets one key aside; a file cannot have more wrong keys than lines.
        for _round in 0..=source.lines().count() + 1 {
            match toml::from_str::<Config>(&text) {
                Ok(config) => {
                    parsed = Some(config);
                    break;
                }
                Err(err) => {
                    let problem = map.problem_at(err.span(), err.message());
                    if let Some(section) = missing_section(&map, &err) {
                        // A whole section missing: name it, and go on with a stand-in so
                        // that the rest is still checked.
                        problems.push(map.problem_for_key(&section, problem.message.clone()));
                        if section != "site" || text.len() > source.len() {
                            break;
                        }
                        text.push_str(SITE_STAND_IN);
                        continue;
                    }
                    if toml::from_str::<toml::Table>(&text).is_err() {
                        // A syntax error in the file itself is reported; one made by setting
                        // a key aside is not the operator's.
                        if problems.is_empty() {
                            problems.push(problem);
                        }
                        break;
                    }
                    problems.push(problem);
                    if !err.span().is_some_and(|span| blank_lines(&mut text, span)) {
                        break;
                    }
                }
            }
        }
        if let Some(config) = &parsed {
            problems.extend(
                config
                    .validate()
                    .into_iter()
                    .map(|(key, message)| map.problem_for_key(&key, message)),
            );
        }
        // Problems located in the stand-in belong to no line of the file.
        let lines = source.lines().count();
        for problem in &mut problems {
            if problem.line > lines {
                problem.line = 0;
                problem.column = 0;
            }
        }
        problems.sort_by_key(|p| (p.line == 0, p.line, p.column));
        problems.dedup();
        match parsed {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError {
                file: file.to_path_buf(),
                problems,
            }),
        }
    }

    /// Every semantic problem, as (dotted key, message).
    fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push((key.to_string(), message.to_string()));
            }
        };
        check(valid_id(&self.site.tenant), "site.tenant", ID_RULE);
        check(valid_id(&self.site.site), "site.site", ID_RULE);
        check(
            !self.store.file.is_empty() && !self.store.file.contains('/'),
            "store.file",
            "must be a file name without `/` (the directory is store.data_dir)",
        );
        check(
            !self.store.data_dir.as_os_str().is_empty(),
            "store.data_dir",
            "must not be empty",
        );
        check(
            (1..=64).contains(&self.store.readers),
            "store.readers",
            "must be between 1 and 64",
        );
        check(
            (1..=10_000).contains(&self.store.group_commit_max),
            "store.group_commit_max",
            "must be between 1 and 10000",
        );
        check(
            self.daemon.user.as_deref().is_none_or(|user| {
                !user.is_empty() && user != "root" && !user.contains(['/', ':', ' '])
            }),
            "daemon.user",
            "must be the name of an unprivileged user (e.g. `sitebox`), not root",
        );
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log.level).is_ok(),
            "log.level",
            "is not a valid filter (e.g. `info` or `info,sitebox::queue=debug`)",
        );
        let queue = &self.queue;
        check(
            queue.lease.get().as_secs() >= 1,
            "queue.lease",
            "must be at least 1s",
        );
        check(
            !queue.backoff_base.get().is_zero(),
            "queue.backoff_base",
            "must be more than 0",
        );
        check(
            queue.backoff_max >= queue.backoff_base,
            "queue.backoff_max",
            "must not be shorter than queue.backoff_base",
        );
        check(
            !queue.rescue_every.get().is_zero(),
            "queue.rescue_every",
            "must be more than 0",
        );
        check(
            !queue.prune_every.get().is_zero(),
            "queue.prune_every",
            "must be more than 0",
        );
        check(
            self.daemon
                .clock_trust
                .iter()
                .all(|source| source == "always" || Path::new(source).is_absolute()),
            "daemon.clock_trust",
            "each entry must be \"always\" or an absolute path",
        );
        check(
            (1.0..=100_000.0).contains(&self.daemon.clock_speed),
            "daemon.clock_speed",
            "must be between 1 and 100000 (1 outside scenario runs)",
        );
        check(
            !self.secrets.key_file.as_os_str().is_empty(),
            "secrets.key_file",
            "must not be empty",
        );
        let radius = &self.radius;
        check(
            !radius.enabled || radius.auth_listen != radius.acct_listen,
            "radius.acct_listen",
            "must differ from radius.auth_listen",
        );
        check(
            (1..=65_536).contains(&radius.max_in_flight),
            "radius.max_in_flight",
            "must be between 1 and 65536",
        );
        check(
            !radius.request_timeout.get().is_zero(),
            "radius.request_timeout",
            "must be more than 0",
        );
        check(
            radius.reject_summary_every.get().as_secs() >= 1,
            "radius.reject_summary_every",
            "must be at least 1s",
        );
        check(
            self.expiry.sweep_every.get().as_secs() >= 1,
            "expiry.sweep_every",
            "must be at least 1s",
        );
        check(
            self.expiry.verify_after.get().as_secs() >= 1,
            "expiry.verify_after",
            "must be at least 1s",
        );
        for (name, settings) in &queue.queues {
            if !QUEUE_NAMES.contains(&name.as_str()) {
                problems.push((
                    format!("queue.queues.{name}"),
                    format!("unknown queue; the queues are {}", QUEUE_NAMES.join(", ")),
                ));
            } else if !(1..=256).contains(&settings.concurrency) {
                problems.push((
                    format!("queue.queues.{name}.concurrency"),
                    "must be between 1 and 256".into(),
                ));
            }
        }
        problems.extend(self.sync.validate());
        problems.extend(self.web.validate());
        problems.extend(provisioning::validate(&self.provisioning, &self.simulator));
        problems
    }
}

const ID_RULE: &str =
    "must be 1-64 characters of a-z, 0-9, `-` or `_` (it becomes an MQTT topic segment)";

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
