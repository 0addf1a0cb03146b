//! The `siteboxd` command line: the daemon (`run`) and the operator's commands, in one binary.

mod backup;
mod context;
mod output;
mod payments;
mod plans;
mod queue;
mod routers;
mod sessions;
#[cfg(feature = "simulator")]
mod simulate;
mod subscribers;
mod technicians;
mod vouchers;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::{Config, ConfigError, DEV_CONFIG, LogFormat};
use crate::privileges::{self, Role};
use crate::secrets::Secrets;
use crate::store::{Opener, Store};

/// Exit status for a bad config or command line (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;
/// Exit status when the database file is damaged (`EX_DATAERR`): restarting will not fix it,
/// so the unit does not restart on it (`RestartPreventExitStatus=` in `siteboxd.service`).
pub const EXIT_DAMAGED: u8 = 65;
/// Exit status when the data directory cannot be written (`EX_CANTCREAT`): its owner or its
/// file system must be fixed first.
pub const EXIT_DATA_DIR: u8 = 73;

/// Sitebox site daemon.
#[derive(Debug, Parser)]
#[command(name = "siteboxd", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file; without it the embedded development defaults (config/dev.toml) are used.
    #[arg(long, short, global = true, env = "SITEBOX_CONFIG")]
    pub config: Option<PathBuf>,

    /// When started as root: the user to switch to before anything is opened (overrides
    /// `[daemon] user`).
    #[arg(long, global = true, env = "SITEBOX_USER")]
    pub user: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon until SIGTERM/SIGINT.
    Run,
    /// Validate the config file and exit (64 when it is bad).
    CheckConfig,
    /// Create or upgrade the database schema and exit.
    Migrate,
    /// Print the embedded default config.
    PrintDefaultConfig,
    /// Inspect and repair the job queue.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Copy the database to FILE, consistently, while the daemon runs.
    Backup {
        /// Where to write the backup (written beside it first, then renamed).
        file: PathBuf,
    },
    /// Replace the database with the backup FILE (the daemon must be stopped).
    Restore {
        /// A file written by `siteboxd backup`.
        file: PathBuf,
    },
    /// The site's routers.
    #[command(subcommand)]
    Routers(routers::RoutersCommand),
    /// Plans for sale.
    #[command(subcommand)]
    Plans(plans::PlansCommand),
    /// Subscriber accounts.
    #[command(subcommand)]
    Subscribers(subscribers::SubscribersCommand),
    /// Voucher batches.
    #[command(subcommand)]
    Vouchers(vouchers::VouchersCommand),
    /// Payments (M-Pesa and cash).
    #[command(subcommand)]
    Payments(payments::PaymentsCommand),
    /// Accounting sessions.
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// Technician logins for the web page.
    #[command(subcommand)]
    Technicians(technicians::TechniciansCommand),
    /// Serve a simulated MikroTik on the RouterOS API (development and tests; no config used).
    #[cfg(feature = "simulator")]
    SimulateRouter(simulate::SimulateArgs),
}

/// Parses the command line, runs it, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::PrintDefaultConfig = cli.command {
        print!("{DEV_CONFIG}");
        return ExitCode::SUCCESS;
    }
    #[cfg(feature = "simulator")]
    if let Command::SimulateRouter(args) = cli.command {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_writer(std::io::stderr)
            .init();
        return match simulate::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("siteboxd: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("siteboxd: bad config\n{err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Command::CheckConfig = cli.command {
        let file = cli
            .config
            .as_deref()
            .map_or("the embedded config".into(), |p| p.display().to_string());
        println!("{file}: ok");
        return ExitCode::SUCCESS;
    }
    // The daemon logs to stdout (journald captures it); CLI commands keep stdout for their
    // output and log to stderr.
    init_tracing(&config, matches!(cli.command, Command::Run));
    privileges::set_umask();
    let user = cli.user.clone().or_else(|| config.daemon.user.clone());
    let user = user.as_deref();
    let is_daemon = matches!(cli.command, Command::Run);
    let result = match cli.command {
        Command::Run => run_daemon(config, user),
        // Backup reads the database and writes the operator's file as the invoking user;
        // restore hands what it writes to the service user itself.
        Command::Backup { file } => backup::backup(&config, &file),
        Command::Restore { file } => backup::restore(&config, &file),
        // The rest open the store, which may create files in the data dir: as root, they
        // switch to the service user first so that those files keep one owner.
        Command::Migrate => privileges::settle(user, Role::Tool).and_then(|()| migrate(&config)),
        Command::Queue(command) => {
            privileges::settle(user, Role::Tool).and_then(|()| queue::run(&config, command))
        }
        // The domain commands read the key (root's, 0600) before they switch.
        Command::Routers(command) => context::Context::open(&config, user)
            .and_then(|ctx| routers::run(&ctx, &config, command)),
        Command::Plans(command) => {
            context::Context::open(&config, user).and_then(|ctx| plans::run(&ctx, command))
        }
        Command::Subscribers(command) => {
            context::Context::open(&config, user).and_then(|ctx| subscribers::run(&ctx, command))
        }
        Command::Vouchers(command) => context::Context::open(&config, user)
            .and_then(|ctx| vouchers::run(&ctx, &config.site.name, command)),
        Command::Payments(command) => {
            context::Context::open(&config, user).and_then(|ctx| payments::run(&ctx, command))
        }
        Command::Sessions(command) => {
            context::Context::open(&config, user).and_then(|ctx| sessions::run(&ctx, command))
        }
        Command::Technicians(command) => {
            privileges::settle(user, Role::Tool).and_then(|()| technicians::run(&config, command))
        }
        Command::CheckConfig | Command::PrintDefaultConfig => Ok(()),
        #[cfg(feature = "simulator")]
        Command::SimulateRouter(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let store = err
                .chain()
                .find_map(|cause| cause.downcast_ref::<crate::store::StoreError>());
            let (code, text) = match store {
                // These name the file and the fix themselves: said once, without the chain.
                Some(cause @ crate::store::StoreError::Damaged { .. }) => {
                    (EXIT_DAMAGED, cause.to_string())
                }
                Some(cause @ crate::store::StoreError::DataDir { .. }) => {
                    (EXIT_DATA_DIR, cause.to_string())
                }
                _ => (1, format!("{err:#}")),
            };
            // The daemon logs to stdout, which journald keeps already; stderr reaches it too,
            // so the daemon says it once, there.
            if !is_daemon {
                tracing::error!("{text}");
            }
            eprintln!("siteboxd: {text}");
            ExitCode::from(code)
        }
    }
}

fn load_config(path: Option<&std::path::Path>) -> Result<Config, ConfigError> {
    match path {
        Some(path) => Config::load(path),
        None => Config::dev(),
    }
}

fn init_tracing(config: &Config, to_stdout: bool) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let writer = if to_stdout {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        BoxMakeWriter::new(std::io::stderr)
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    // The daemon also keeps its recent lines for the technician page's log tail.
    let ring = to_stdout.then(crate::web::log_ring::layer);
    let registry = tracing_subscriber::registry().with(filter).with(ring);
    // journald stamps lines itself; under systemd JOURNAL_STREAM is set.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    match config.log.format {
        LogFormat::Json => registry.with(fmt.json()).init(),
        LogFormat::Text if under_journald => {
            registry.with(fmt.without_time().with_ansi(false)).init();
        }
        LogFormat::Text => registry.with(fmt).init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run_daemon(config: Config, user: Option<&str>) -> anyhow::Result<()> {
    // Read while still root (the key file is root's, mode 0600), then leave root before the
    // runtime starts its threads and before anything is created or bound.
    let secrets = load_secrets(&config)?;
    privileges::settle(user, Role::Daemon)?;
    runtime()?.block_on(crate::daemon::run(config, secrets))
}

/// The credential key (the systemd credential `sitebox.key`, else `[secrets] key_file`), read
/// while the process may still be root: the file is root's, mode 0600.
pub(crate) fn load_secrets(config: &Config) -> anyhow::Result<Secrets> {
    Secrets::load(&config.secrets.key_file, config.secrets.create_if_missing)
        .context("reading the secrets key")
}

fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = Store::open(&config.store, Opener::Tool)?;
    println!(
        "{}: schema version {}",
        store.path().display(),
        crate::store::LATEST_VERSION
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
