//! The operator subcommands: registry, broker files, commands.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Cli;
use crate::audit::Actor;
use crate::commands::{self, NewCommand};
use crate::notify::Hub;
use crate::publisher::{Publisher, PublisherSettings};
use crate::{acl, db, projections, registry};

/// `tenants …`
#[derive(Debug, Subcommand)]
pub(super) enum TenantsCmd {
    /// Add a tenant (or rename it).
    Add {
        /// Tenant id (1-64 of a-z, 0-9, - and _).
        #[arg(long)]
        tenant: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the tenant ids.
    List,
    /// Set a tenant's alert rules: a JSON object by reason, e.g.
    /// `{"site_offline": {"tolerance_s": 300}, "radius_reject_spike": {"threshold": 500}}`
    /// (`tolerance_s`, `clear_after_s`, `reopen_within_s`, `threshold`; docs/CLOUD.md).
    Policy {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The rules (replaces the tenant's overrides; `{}` for the defaults).
        #[arg(long)]
        policy: String,
    },
}

/// `sites …`
#[derive(Debug, Subcommand)]
pub(super) enum SitesCmd {
    /// Add a site (or give it a new password); prints the password once.
    Add {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Site id.
        #[arg(long)]
        site: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Use this password instead of a random one.
        #[arg(long)]
        password: Option<String>,
    },
    /// List a tenant's sites.
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
    /// Refuse a site's batches (regenerate the ACL to shut it out of the broker too).
    Disable {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Site id.
        #[arg(long)]
        site: String,
    },
    /// Accept a site's batches again.
    Enable {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Site id.
        #[arg(long)]
        site: String,
    },
}

/// `accounts …`
#[derive(Debug, Subcommand)]
pub(super) enum AccountsCmd {
    /// Add a cloud service account (or re-key it); prints the password once.
    Add {
        /// MQTT username.
        #[arg(long)]
        username: String,
        /// Use this password instead of a random one.
        #[arg(long)]
        password: Option<String>,
    },
}

/// `tokens …`
#[derive(Debug, Subcommand)]
pub(super) enum TokensCmd {
    /// Create a token; prints it once (only its hash is kept).
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// What it is for.
        #[arg(long)]
        name: String,
        /// `read` or `operator`.
        #[arg(long, default_value = "read")]
        role: String,
        /// Limit it to this site (repeat for more); default: every site of the tenant.
        #[arg(long = "site")]
        sites: Vec<String>,
        /// It stops working after this many days.
        #[arg(long)]
        expires_days: Option<u64>,
    },
    /// List a tenant's tokens (never their secrets).
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a token.
    Revoke {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The token's id (the third part of the token).
        #[arg(long)]
        id: String,
    },
}

/// `projections …`
#[derive(Debug, Subcommand)]
pub(super) enum ProjectionsCmd {
    /// Delete and build again from `events` the projections of one site, of one tenant's
    /// sites, or of every tenant's (one transaction per site; the ingest waits for the site
    /// being rebuilt and goes on with the others).
    Rebuild {
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Only this site of the tenant.
        #[arg(long, requires = "tenant")]
        site: Option<String>,
    },
}

/// `command …`
#[derive(Debug, Args)]
pub(super) struct CommandArgs {
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
}

async fn connect(cli: &Cli) -> anyhow::Result<tokio_postgres::Client> {
    db::connect(&cli.database)
        .await
        .context("connecting to PostgreSQL")
}

/// `tenants …`
pub(super) async fn tenants(cli: &Cli, cmd: &TenantsCmd) -> anyhow::Result<()> {
    let mut client = connect(cli).await?;
    match cmd {
        TenantsCmd::Add { tenant, name } => {
            let new = registry::add_tenant(&mut client, &Actor::cli(), tenant, name).await?;
            println!("{} tenant {tenant}", if new { "added" } else { "updated" });
        }
        TenantsCmd::List => {
            for tenant in registry::tenant_ids(&client).await? {
                println!("{tenant}");
            }
        }
        TenantsCmd::Policy { tenant, policy } => {
            let policy: serde_json::Value =
                serde_json::from_str(policy).context("--policy is not JSON")?;
            registry::set_alert_policy(&mut client, &Actor::cli(), tenant, &policy).await?;
            println!("alert rules of {tenant} set");
        }
    }
    Ok(())
}

/// `sites …`
pub(super) async fn sites(cli: &Cli, cmd: &SitesCmd) -> anyhow::Result<()> {
    let mut client = connect(cli).await?;
    let actor = Actor::cli();
    match cmd {
        SitesCmd::Add {
            tenant,
            site,
            name,
            password,
        } => {
            let password =
                registry::add_site(&mut client, &actor, tenant, site, name, password.as_deref())
                    .await?;
            println!("{password}");
        }
        SitesCmd::List { tenant } => {
            for site in registry::list_sites(&mut client, tenant).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    site.site,
                    site.mqtt_username,
                    if site.enabled { "enabled" } else { "disabled" },
                    site.name
                );
            }
        }
        SitesCmd::Disable { tenant, site } | SitesCmd::Enable { tenant, site } => {
            let enabled = matches!(cmd, SitesCmd::Enable { .. });
            registry::set_site_enabled(&mut client, &actor, tenant, site, enabled).await?;
            println!(
                "site {tenant}/{site} {}",
                if enabled { "enabled" } else { "disabled" }
            );
        }
    }
    Ok(())
}

/// `accounts …`
pub(super) async fn accounts(cli: &Cli, cmd: &AccountsCmd) -> anyhow::Result<()> {
    let client = connect(cli).await?;
    match cmd {
        AccountsCmd::Add { username, password } => {
            let password = registry::add_account(&client, username, password.as_deref()).await?;
            println!("{password}");
        }
    }
    Ok(())
}

/// `acl`
pub(super) async fn acl(cli: &Cli, acl_file: &Path, password_file: &Path) -> anyhow::Result<()> {
    let mut client = connect(cli).await?;
    let (sites, accounts) = registry::identities(&mut client).await?;
    let acl = acl::acl_file(&sites, &accounts)?;
    let passwords = acl::password_file(&sites, &accounts)?;
    write_private(acl_file, &acl)?;
    write_private(password_file, &passwords)?;
    println!(
        "{} site(s), {} account(s); send mosquitto SIGHUP to reload",
        sites.len(),
        accounts.len()
    );
    Ok(())
}

/// `command`: records the command, publishes it, and waits for the broker to take it.
pub(super) async fn command(cli: &Cli, args: &CommandArgs) -> anyhow::Result<()> {
    let payload: serde_json::Value =
        serde_json::from_str(&args.payload).context("--payload is not JSON")?;
    let mut client = connect(cli).await?;
    let hub = Hub::new();
    let command = commands::issue(
        &mut client,
        &hub,
        &Actor::cli(),
        &args.tenant,
        &NewCommand {
            site: args.site.clone(),
            kind: args.kind.clone(),
            payload,
            id: args.id.clone(),
            expires: None,
        },
    )
    .await?;
    let tasks = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let publisher = Publisher::spawn(
        PublisherSettings {
            host: cli.mqtt_host.clone(),
            port: cli.mqtt_port,
            credentials: cli.credentials()?,
            client_id: format!("sitebox-cloud-cmd-{}", fastrand::u32(..)),
            database_url: cli.database.clone(),
        },
        &tasks,
        shutdown.clone(),
    );
    let id = command.id.clone();
    let delivered = publisher
        .send(&args.tenant, &args.site, command, None)
        .await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), delivered).await;
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    match outcome {
        Ok(Ok(())) => {
            println!("{id}");
            Ok(())
        }
        _ => anyhow::bail!(
            "command {id} is recorded but the broker did not take it within 10 s; the service sends it again"
        ),
    }
}

/// Writes a file readable by its owner and group only (mosquitto reads it), atomically.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o640))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `projections …`
pub(super) async fn projections(cli: &Cli, cmd: &ProjectionsCmd) -> anyhow::Result<()> {
    let mut client = connect(cli).await?;
    match cmd {
        ProjectionsCmd::Rebuild { tenant, site } => {
            let tenants = match tenant {
                Some(tenant) => vec![tenant.clone()],
                None => registry::tenant_ids(&client).await?,
            };
            let mut total = projections::RebuildReport::default();
            for tenant in &tenants {
                let report = match site {
                    Some(site) => projections::rebuild_site(&mut client, tenant, site).await?,
                    None => projections::rebuild_tenant(&mut client, tenant).await?,
                };
                total.sites += report.sites;
                total.events += report.events;
                total.failures += report.failures;
            }
            println!(
                "rebuilt {} site(s) from {} event(s); {} event(s) a projection could not apply (see projection_failures)",
                total.sites, total.events, total.failures
            );
        }
    }
    Ok(())
}

/// `tokens …`
pub(super) async fn tokens(cli: &Cli, cmd: &TokensCmd) -> anyhow::Result<()> {
    use crate::auth::{Role, tokens};
    let mut client = connect(cli).await?;
    match cmd {
        TokensCmd::Create {
            tenant,
            name,
            role,
            sites,
            expires_days,
        } => {
            let role = Role::parse(role).context("--role is read or operator")?;
            let (_, token) = tokens::create(
                &mut client,
                &Actor::cli(),
                tenant,
                &tokens::NewToken {
                    name: name.clone(),
                    role,
                    sites: (!sites.is_empty()).then(|| sites.clone()),
                    expires_in: expires_days.map(|d| Duration::from_secs(d * 86_400)),
                },
            )
            .await?;
            println!("{token}");
        }
        TokensCmd::List { tenant } => {
            for t in tokens::list(&mut client, tenant).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.role.as_str(),
                    t.sites.map_or_else(|| "*".to_string(), |s| s.join(",")),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    t.name
                );
            }
        }
        TokensCmd::Revoke { tenant, id } => {
            tokens::revoke(&mut client, &Actor::cli(), tenant, id).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}
