//! The `sitebox-cloud` command line: `run` (the service), `migrate`, and the operator
//! commands. A library function so that the end-to-end tests can build it into their own
//! binary. Each subcommand is a thin adapter over the library's one function per action.

mod admin;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Sitebox's central cloud service.
#[derive(Debug, Parser)]
#[command(name = "sitebox-cloud", version, about)]
pub struct Cli {
    /// PostgreSQL connection string: the service role for `run` and the operator commands,
    /// the owner for `migrate`; e.g. `host=/run/postgresql dbname=sitebox user=sitebox_app`.
    #[arg(
        long,
        env = "SITEBOX_CLOUD_DATABASE",
        global = true,
        default_value = "host=/run/postgresql dbname=sitebox"
    )]
    database: String,
    /// Broker host.
    #[arg(
        long,
        env = "SITEBOX_CLOUD_MQTT_HOST",
        global = true,
        default_value = "127.0.0.1"
    )]
    mqtt_host: String,
    /// Broker port.
    #[arg(
        long,
        env = "SITEBOX_CLOUD_MQTT_PORT",
        global = true,
        default_value_t = 1883
    )]
    mqtt_port: u16,
    /// MQTT service-account username.
    #[arg(long, env = "SITEBOX_CLOUD_MQTT_USER", global = true)]
    mqtt_user: Option<String>,
    /// File holding the service account's MQTT password.
    #[arg(long, env = "SITEBOX_CLOUD_MQTT_PASSWORD_FILE", global = true)]
    mqtt_password_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the service (ingest workers, sweeps, publisher) until SIGTERM/SIGINT.
    Run(run::RunArgs),
    /// Create or update the tables (as the owner), grant the service role its rights and check
    /// that row-level security binds it.
    Migrate {
        /// The role the service connects as; created (NOLOGIN) when missing.
        #[arg(long, default_value = "sitebox_app")]
        app_role: String,
    },
    /// Tenants (the ISPs).
    #[command(subcommand)]
    Tenants(admin::TenantsCmd),
    /// Sites and their MQTT identities.
    #[command(subcommand)]
    Sites(admin::SitesCmd),
    /// The cloud's own MQTT service accounts.
    #[command(subcommand)]
    Accounts(admin::AccountsCmd),
    /// Write mosquitto's acl_file and password_file from the registry.
    Acl {
        /// Where to write the ACL.
        #[arg(long)]
        acl_file: PathBuf,
        /// Where to write the password file.
        #[arg(long)]
        password_file: PathBuf,
    },
    /// Record and send a command to a site; prints its id once the broker has it.
    Command(admin::CommandArgs),
    /// The projections built from events.
    #[command(subcommand)]
    Projections(admin::ProjectionsCmd),
    /// API tokens of a tenant.
    #[command(subcommand)]
    Tokens(admin::TokensCmd),
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sitebox-cloud: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sitebox-cloud: {err:#}");
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    /// The service account's (user, password), read from its file.
    fn credentials(&self) -> anyhow::Result<Option<(String, String)>> {
        match (&self.mqtt_user, &self.mqtt_password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                Ok(Some((user.clone(), password.trim_end().to_string())))
            }
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!("--mqtt-user and --mqtt-password-file go together")
            }
            (None, None) => Ok(None),
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Cmd::Run(args) => run::run(&cli, args).await,
        Cmd::Migrate { app_role } => {
            let mut client = crate::db::connect(&cli.database)
                .await
                .context("connecting to PostgreSQL")?;
            let applied = crate::db::migrate(&mut client, app_role).await?;
            println!(
                "schema at version {} ({} migration(s) applied); role {app_role} granted",
                applied.version,
                applied.applied.len()
            );
            Ok(())
        }
        Cmd::Tenants(cmd) => admin::tenants(&cli, cmd).await,
        Cmd::Sites(cmd) => admin::sites(&cli, cmd).await,
        Cmd::Accounts(cmd) => admin::accounts(&cli, cmd).await,
        Cmd::Acl {
            acl_file,
            password_file,
        } => admin::acl(&cli, acl_file, password_file).await,
        Cmd::Command(args) => admin::command(&cli, args).await,
        Cmd::Projections(cmd) => admin::projections(&cli, cmd).await,
        Cmd::Tokens(cmd) => admin::tokens(&cli, cmd).await,
    }
}
