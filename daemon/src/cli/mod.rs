//! The `siteboxd` command line: the daemon (`run`) and the operator's commands, in one binary.

mod output;
mod queue;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::{Config, ConfigError, DEV_CONFIG, LogFormat};
use crate::store::{Opener, Store};

/// Exit status for a bad config or command line (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

/// Sitebox site daemon.
#[derive(Debug, Parser)]
#[command(name = "siteboxd", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file; without it the embedded development defaults (config/dev.toml) are used.
    #[arg(long, short, global = true, env = "SITEBOX_CONFIG")]
    pub config: Option<PathBuf>,

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
}

/// Parses the command line, runs it, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::PrintDefaultConfig = cli.command {
        print!("{DEV_CONFIG}");
        return ExitCode::SUCCESS;
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
    let result = match cli.command {
        Command::Run => run_daemon(config),
        Command::Migrate => migrate(&config),
        Command::Queue(command) => queue::run(&config, command),
        Command::CheckConfig | Command::PrintDefaultConfig => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("siteboxd: {err:#}");
            ExitCode::FAILURE
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let writer = if to_stdout {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        BoxMakeWriter::new(std::io::stderr)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // journald stamps lines itself; under systemd JOURNAL_STREAM is set.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text if under_journald => builder.without_time().with_ansi(false).init(),
        LogFormat::Text => builder.init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run_daemon(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(crate::daemon::run(config))
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
