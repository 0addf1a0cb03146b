//! The `sitebox-ingest` command line: the reference cloud ingest, and the site registry tools
//! that generate the broker's ACL and password file. A library function so that the end-to-end
//! tests can build it into their own binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::ingest::{self, IngestSettings, IngestStats, db, registry};
use crate::wire::{Command as WireCommand, VERSION, valid_id};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// Sitebox cloud ingest (reference implementation).
#[derive(Debug, Parser)]
#[command(name = "sitebox-ingest", version, about)]
struct Cli {
    /// PostgreSQL connection string, e.g. `host=/run/postgresql dbname=sitebox user=ingest`.
    #[arg(
        long,
        env = "SITEBOX_INGEST_DATABASE",
        global = true,
        default_value = "host=/run/postgresql dbname=sitebox"
    )]
    database: String,
    /// Broker host.
    #[arg(
        long,
        env = "SITEBOX_INGEST_MQTT_HOST",
        global = true,
        default_value = "127.0.0.1"
    )]
    mqtt_host: String,
    /// Broker port.
    #[arg(
        long,
        env = "SITEBOX_INGEST_MQTT_PORT",
        global = true,
        default_value_t = 1883
    )]
    mqtt_port: u16,
    /// MQTT service-account username.
    #[arg(long, env = "SITEBOX_INGEST_MQTT_USER", global = true)]
    mqtt_user: Option<String>,
    /// File holding the service account's MQTT password.
    #[arg(long, env = "SITEBOX_INGEST_MQTT_PASSWORD_FILE", global = true)]
    mqtt_password_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run ingest workers until SIGTERM/SIGINT.
    Run {
        /// Workers in this process (each joins the shared subscription).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Shared-subscription group.
        #[arg(long, default_value = "sitebox-ingest")]
        group: String,
        /// MQTT client id prefix (unique per process).
        #[arg(long)]
        client_id: Option<String>,
        /// Seconds a site's cursor may stand still behind stored seqs before a resend_from.
        #[arg(long, default_value_t = 60)]
        gap_timeout_secs: u64,
    },
    /// Create the tables.
    Migrate,
    /// Add a site to the registry (or give it a new password); prints the password once.
    AddSite {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Site id.
        #[arg(long)]
        site: String,
        /// Use this password instead of a random one.
        #[arg(long)]
        password: Option<String>,
    },
    /// Add a cloud service account (ingest, command issuer); prints the password once.
    AddAccount {
        /// MQTT username.
        #[arg(long)]
        username: String,
        /// Use this password instead of a random one.
        #[arg(long)]
        password: Option<String>,
    },
    /// Write mosquitto's acl_file and password_file from the registry.
    Acl {
        /// Where to write the ACL.
        #[arg(long)]
        acl_file: PathBuf,
        /// Where to write the password file.
        #[arg(long)]
        password_file: PathBuf,
    },
    /// Record and send a command to a site.
    Command {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Site id.
        #[arg(long)]
        site: String,
        /// Command type, e.g. `queue.retry_failed`.
        #[arg(long = "type")]
        kind: String,
        /// JSON arguments.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Command id (default: a new UUIDv7). Sending an id again gets the first result.
        #[arg(long)]
        id: Option<String>,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sitebox-ingest: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sitebox-ingest: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn settings(cli: &Cli) -> anyhow::Result<IngestSettings> {
    let credentials = match (&cli.mqtt_user, &cli.mqtt_password_file) {
        (Some(user), Some(file)) => {
            let password = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            Some((user.clone(), password.trim_end().to_string()))
        }
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("--mqtt-user and --mqtt-password-file go together")
        }
        (None, None) => None,
    };
    Ok(IngestSettings {
        database_url: cli.database.clone(),
        host: cli.mqtt_host.clone(),
        port: cli.mqtt_port,
        credentials,
        workers: 1,
        group: "sitebox-ingest".into(),
        client_prefix: format!("sitebox-ingest-{}", std::process::id()),
        gap_timeout: Duration::from_secs(60),
        keep_alive: Duration::from_secs(30),
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = settings(&cli)?;
    match cli.command {
        Cmd::Run {
            workers,
            group,
            client_id,
            gap_timeout_secs,
        } => {
            settings.workers = workers;
            settings.group = group;
            if let Some(prefix) = client_id {
                settings.client_prefix = prefix;
            }
            settings.gap_timeout = Duration::from_secs(gap_timeout_secs.max(1));
            let stats = Arc::new(IngestStats::default());
            let shutdown = CancellationToken::new();
            let task = tokio::spawn(ingest::run(settings, stats.clone(), shutdown.clone()));
            tracing::info!("sitebox-ingest running");
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            shutdown.cancel();
            task.await?.context("ingest")?;
            tracing::info!(
                batches = stats.batches.load(Ordering::Relaxed),
                inserted = stats.inserted.load(Ordering::Relaxed),
                duplicates = stats.duplicates.load(Ordering::Relaxed),
                rejected = stats.rejected.load(Ordering::Relaxed),
                resends = stats.resends.load(Ordering::Relaxed),
                "sitebox-ingest stopped"
            );
        }
        Cmd::Migrate => {
            let client = db::connect(&settings.database_url).await?;
            db::migrate(&client).await?;
            println!("schema up to date");
        }
        Cmd::AddSite {
            tenant,
            site,
            password,
        } => {
            anyhow::ensure!(
                valid_id(&tenant) && valid_id(&site),
                "tenant and site must be 1-64 of a-z, 0-9, - and _"
            );
            let client = db::connect(&settings.database_url).await?;
            db::migrate(&client).await?;
            let password = registry::add_site(&client, &tenant, &site, password.as_deref()).await?;
            println!("{password}");
        }
        Cmd::AddAccount { username, password } => {
            let client = db::connect(&settings.database_url).await?;
            db::migrate(&client).await?;
            let password = registry::add_account(&client, &username, password.as_deref()).await?;
            println!("{password}");
        }
        Cmd::Acl {
            acl_file,
            password_file,
        } => {
            let client = db::connect(&settings.database_url).await?;
            let (sites, accounts) = registry::identities(&client).await?;
            let acl = crate::acl::acl_file(&sites, &accounts)?;
            let passwords = crate::acl::password_file(&sites, &accounts)?;
            write_private(&acl_file, &acl)?;
            write_private(&password_file, &passwords)?;
            println!(
                "{} site(s), {} account(s); send mosquitto SIGHUP to reload",
                sites.len(),
                accounts.len()
            );
        }
        Cmd::Command {
            tenant,
            site,
            kind,
            payload,
            id,
        } => {
            let payload: serde_json::Value =
                serde_json::from_str(&payload).context("--payload is not JSON")?;
            let command = WireCommand {
                v: VERSION,
                id: id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                kind,
                payload,
                issued_at: i64::try_from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis(),
                )
                .unwrap_or(0),
            };
            ingest::issue_command(&settings, &tenant, &site, &command).await?;
            println!("{}", command.id);
        }
    }
    Ok(())
}

/// Writes a file readable by its owner and group only (mosquitto reads it), atomically.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o640))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
