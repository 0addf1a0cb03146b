//! `siteboxd routers …`: the site's MikroTiks (RADIUS clients, optionally API-managed).

use clap::Subcommand;

use super::context::{Context, secret};
use super::output;
use sitebox_routeros::ops;

use crate::domain::routers::{self, Reprovision};
use crate::domain::{DomainError, Named};
use crate::links::RouterLinks;
use crate::model::event::Actor;
use crate::model::router::{ApiAccess, NewRouter};
use crate::store::routers as sql;

/// Router subcommands.
// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum RoutersCommand {
    /// Add a router: its RADIUS packets are accepted from then on.
    Add {
        /// Unique name (also its RADIUS client name).
        name: String,
        /// The address its RADIUS packets come from.
        #[arg(long)]
        address: std::net::IpAddr,
        /// The RADIUS shared secret (`-` reads it from standard input).
        #[arg(long)]
        secret: String,
        /// Its NAS-Identifier (system identity).
        #[arg(long)]
        nas_identifier: Option<String>,
        /// Its Disconnect/CoA port.
        #[arg(long, default_value_t = 3799)]
        coa_port: u16,
        /// RouterOS API host (manage the router over the API).
        #[arg(long, requires = "api_user")]
        api_host: Option<String>,
        /// RouterOS API port (8728, or 8729 with --api-tls).
        #[arg(long)]
        api_port: Option<u16>,
        /// RouterOS API user.
        #[arg(long)]
        api_user: Option<String>,
        /// RouterOS API password (`-` reads it from standard input).
        #[arg(long, default_value = "")]
        api_password: String,
        /// Use API-SSL; needs --api-fingerprint.
        #[arg(long)]
        api_tls: bool,
        /// SHA-256 fingerprint of the router's API-SSL certificate.
        #[arg(long)]
        api_fingerprint: Option<String>,
        /// Codepage of the router's non-UTF-8 texts.
        #[arg(long, default_value = "windows-1252")]
        codepage: String,
    },
    /// List routers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one router.
    Show {
        /// Its name.
        name: String,
    },
    /// Stop accepting a router's RADIUS packets and running its jobs.
    Disable {
        /// Its name.
        name: String,
    },
    /// Accept a disabled router again.
    Enable {
        /// Its name.
        name: String,
    },
    /// Re-provision a managed router: enqueue its RADIUS configuration and every subscriber.
    Provision {
        /// Its name.
        name: String,
    },
    /// Log in over the RouterOS API now: prints the round trip and version, or the router's
    /// error.
    Test {
        /// Its name.
        name: String,
    },
}

pub(super) fn run(
    ctx: &Context,
    config: &crate::config::Config,
    command: RoutersCommand,
) -> anyhow::Result<()> {
    let now = ctx.now();
    match command {
        RoutersCommand::Add {
            name,
            address,
            secret: radius_secret,
            nas_identifier,
            coa_port,
            api_host,
            api_port,
            api_user,
            api_password,
            api_tls,
            api_fingerprint,
            codepage,
        } => {
            let api = match (api_host, api_user) {
                (Some(host), Some(user)) => Some(ApiAccess {
                    host,
                    port: api_port.unwrap_or(if api_tls { 8729 } else { 8728 }),
                    tls: api_tls,
                    fingerprint: api_fingerprint,
                    user,
                    password: secret(&api_password)?,
                }),
                _ => None,
            };
            let router = NewRouter {
                name,
                nas_ip: address,
                nas_identifier,
                radius_secret: secret(&radius_secret)?,
                coa_port,
                api,
                codepage,
            };
            let secrets = ctx.secrets.clone();
            let added = ctx.runtime.block_on(
                ctx.store
                    .write(move |tx| routers::add(tx, &secrets, &Actor::Cli, now, router)),
            )?;
            println!("router {} added ({})", added.name, added.nas_ip);
        }
        RoutersCommand::List { json } => {
            let list = ctx.store.read_blocking(sql::list)?;
            let health = ctx.store.read_blocking(routers::health)?;
            let health_of = |id| health.iter().find(|h| h.id == id);
            if json {
                // Each router with its last health poll under `health`.
                let list: Vec<serde_json::Value> = list
                    .iter()
                    .map(|r| {
                        let mut value = serde_json::to_value(r).unwrap_or_default();
                        value["health"] = serde_json::to_value(health_of(r.id)).unwrap_or_default();
                        value
                    })
                    .collect();
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|r| {
                    let h = health_of(r.id);
                    vec![
                        r.name.clone(),
                        r.nas_ip.clone(),
                        r.state.to_string(),
                        r.status.to_string(),
                        r.api_host
                            .as_ref()
                            .map_or("-".into(), |h| format!("{h}:{}", r.api_port.unwrap_or(0))),
                        h.and_then(|h| h.ros_version.clone()).unwrap_or("-".into()),
                        h.and_then(|h| h.latency_ms)
                            .map_or("-".into(), |ms| format!("{ms}ms")),
                        h.and_then(|h| h.active_sessions)
                            .map_or("-".into(), |n| n.to_string()),
                        r.status_detail.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "NAME", "ADDRESS", "STATE", "STATUS", "API", "VERSION", "LATENCY", "SESSIONS",
                    "DETAIL",
                ],
                &rows,
            );
        }
        RoutersCommand::Show { name } => {
            let router = ctx
                .store
                .read_blocking(|conn| sql::by_name(conn, &name))?
                .ok_or_else(|| DomainError::NotFound(format!("router `{name}`")))?;
            output::json(&router)?;
        }
        RoutersCommand::Disable { name } => set_state(ctx, &name, false)?,
        RoutersCommand::Enable { name } => set_state(ctx, &name, true)?,
        RoutersCommand::Provision { name } => {
            let args = Reprovision { router: name };
            let done = ctx.runtime.block_on(
                ctx.store
                    .write(move |tx| routers::reprovision(tx, &Actor::Cli, now, args)),
            )?;
            println!(
                "router {}: RADIUS configuration and {} subscriber(s) queued for provisioning",
                done.router.name, done.subscriber_jobs
            );
        }
        RoutersCommand::Test { name } => test(ctx, config, &name)?,
    }
    Ok(())
}

/// `routers test`: one login and two commands over the API, timed.
fn test(ctx: &Context, config: &crate::config::Config, name: &str) -> anyhow::Result<()> {
    let owned = name.to_string();
    let router = ctx
        .store
        .read_blocking(move |conn| sql::by_name(conn, &owned))?
        .ok_or_else(|| DomainError::NotFound(format!("router `{name}`")))?;
    let links = RouterLinks::new(ctx.store.clone(), ctx.secrets.clone())
        .with_timeout(config.provisioning.command_timeout.get());
    ctx.runtime.block_on(async {
        let link = links
            .get(&router)
            .await?
            .ok_or_else(|| anyhow::anyhow!("router `{name}` has no RouterOS API access"))?;
        let started = std::time::Instant::now();
        let reached = async {
            link.connection().await?;
            let connected = started.elapsed();
            let round_trip = std::time::Instant::now();
            let identity = ops::identity(&*link).await?;
            let round_trip = round_trip.elapsed();
            let resource = ops::system_resource(&*link).await?;
            Ok::<_, sitebox_routeros::client::Error>((connected, round_trip, identity, resource))
        }
        .await;
        link.disconnect().await;
        match reached {
            Ok((connected, round_trip, identity, resource)) => {
                println!(
                    "router {name}: ok, identity {identity}, RouterOS {}, login {:.1} ms, round trip {:.1} ms",
                    resource.version,
                    connected.as_secs_f64() * 1000.0,
                    round_trip.as_secs_f64() * 1000.0
                );
                Ok(())
            }
            Err(err) => Err(anyhow::anyhow!("router `{name}`: {err}")),
        }
    })
}

fn set_state(ctx: &Context, name: &str, active: bool) -> anyhow::Result<()> {
    let now = ctx.now();
    let args = Named {
        name: name.to_string(),
    };
    let router = ctx.runtime.block_on(ctx.store.write(move |tx| {
        if active {
            routers::enable(tx, &Actor::Cli, now, args)
        } else {
            routers::disable(tx, &Actor::Cli, now, args)
        }
    }))?;
    println!("router {} {}", router.name, router.state);
    Ok(())
}
