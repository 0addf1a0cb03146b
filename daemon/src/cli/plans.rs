//! `siteboxd plans …`: what subscribers buy.

use clap::Subcommand;

use super::context::{Context, money, seconds, show_money, show_size, size};
use super::output;
use crate::domain::Named;
use crate::domain::plans::{self, PlanEdit};
use crate::model::event::Actor;
use crate::model::plan::{NewPlan, PlanKind};
use crate::store::plans as sql;

/// Plan subcommands.
// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// Create a plan.
    Add {
        /// Unique name, e.g. `1h-50`.
        name: String,
        /// Price, e.g. `50` or `49.50`.
        #[arg(long)]
        price: String,
        /// Currency code.
        #[arg(long, default_value = "KES")]
        currency: String,
        /// How long after activation it expires, e.g. `1h`, `7d`, `30d`.
        #[arg(long)]
        validity: String,
        /// Online time allowed, e.g. `2h`.
        #[arg(long)]
        time_limit: Option<String>,
        /// Data allowed (in + out), e.g. `1GB`, `500MB`.
        #[arg(long)]
        data_limit: Option<String>,
        /// Mikrotik-Rate-Limit, e.g. `2M/4M` (upload/download).
        #[arg(long)]
        rate_limit: Option<String>,
        /// Devices online at once.
        #[arg(long, default_value_t = 1)]
        shared_users: u32,
        /// Bind the account to the devices of its first logins.
        #[arg(long)]
        mac_binding: bool,
        /// Idle-Timeout, e.g. `10m`.
        #[arg(long)]
        idle_timeout: Option<String>,
        /// Acct-Interim-Interval.
        #[arg(long, default_value = "5m")]
        interim: String,
        /// `hotspot`, `pppoe` or `any`.
        #[arg(long, default_value = "hotspot")]
        kind: PlanKind,
    },
    /// List plans.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a plan. Price, validity and limits apply to what is bought from now on; a new
    /// rate limit reaches online sessions by CoA and the routers' profiles at once; the rest
    /// applies at the next login. `none` removes an optional limit.
    Edit {
        /// Its name.
        name: String,
        /// Price, e.g. `60`.
        #[arg(long)]
        price: Option<String>,
        /// e.g. `7d`.
        #[arg(long)]
        validity: Option<String>,
        /// e.g. `3h`, or `none`.
        #[arg(long)]
        time_limit: Option<String>,
        /// e.g. `2GB`, or `none`.
        #[arg(long)]
        data_limit: Option<String>,
        /// e.g. `3M/6M`, or `none`.
        #[arg(long)]
        rate_limit: Option<String>,
        /// Devices online at once.
        #[arg(long)]
        shared_users: Option<u32>,
        /// `yes` or `no`.
        #[arg(long)]
        mac_binding: Option<String>,
        /// e.g. `10m`, or `none`.
        #[arg(long)]
        idle_timeout: Option<String>,
        /// e.g. `5m`.
        #[arg(long)]
        interim: Option<String>,
    },
    /// Stop selling a plan.
    Disable {
        /// Its name.
        name: String,
    },
    /// Sell a disabled plan again.
    Enable {
        /// Its name.
        name: String,
    },
}

pub(super) fn run(ctx: &Context, command: PlansCommand) -> anyhow::Result<()> {
    let now = ctx.now();
    match command {
        PlansCommand::Add {
            name,
            price,
            currency,
            validity,
            time_limit,
            data_limit,
            rate_limit,
            shared_users,
            mac_binding,
            idle_timeout,
            interim,
            kind,
        } => {
            let plan = NewPlan {
                name,
                kind,
                price: money(&price)?,
                currency,
                validity_s: seconds(&validity)?,
                time_limit_s: time_limit.as_deref().map(seconds).transpose()?,
                data_limit: data_limit.as_deref().map(size).transpose()?,
                rate_limit,
                shared_users,
                mac_binding,
                idle_timeout_s: idle_timeout
                    .as_deref()
                    .map(seconds)
                    .transpose()?
                    .map(|s| s as u32),
                interim_s: seconds(&interim)? as u32,
            };
            let created = ctx.runtime.block_on(
                ctx.store
                    .write(move |tx| plans::create(tx, &Actor::Cli, now, plan)),
            )?;
            println!(
                "plan {} created: {}",
                created.name,
                show_money(created.price, &created.currency)
            );
        }
        PlansCommand::List { json } => {
            let list = ctx.store.read_blocking(sql::list)?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.kind.to_string(),
                        show_money(p.price, &p.currency),
                        format!("{}s", p.validity_s),
                        p.time_limit_s.map_or("-".into(), |t| format!("{t}s")),
                        p.data_limit.map_or("-".into(), show_size),
                        p.rate_limit.clone().unwrap_or_else(|| "-".into()),
                        p.shared_users.to_string(),
                        p.state.to_string(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "NAME", "KIND", "PRICE", "VALIDITY", "TIME", "DATA", "RATE", "DEVICES", "STATE",
                ],
                &rows,
            );
        }
        PlansCommand::Edit {
            name,
            price,
            validity,
            time_limit,
            data_limit,
            rate_limit,
            shared_users,
            mac_binding,
            idle_timeout,
            interim,
        } => {
            let edit = PlanEdit {
                name,
                price: price.as_deref().map(money).transpose()?,
                validity_s: validity.as_deref().map(seconds).transpose()?,
                time_limit_s: removable(time_limit, seconds)?,
                data_limit: removable(data_limit, size)?,
                rate_limit: removable(rate_limit, |r| Ok(r.to_owned()))?,
                shared_users,
                mac_binding: mac_binding.as_deref().map(yes_no).transpose()?,
                idle_timeout_s: removable(idle_timeout, |t| {
                    Ok(u32::try_from(seconds(t)?).unwrap_or(u32::MAX))
                })?,
                interim_s: interim
                    .as_deref()
                    .map(|t| Ok::<_, anyhow::Error>(u32::try_from(seconds(t)?).unwrap_or(u32::MAX)))
                    .transpose()?,
            };
            let edited = ctx.runtime.block_on(
                ctx.store
                    .write(move |tx| plans::edit(tx, &Actor::Cli, now, edit)),
            )?;
            println!(
                "plan {} saved: {}, rate limit {}; {} router profile job(s), {} online session(s) sent the new rate limit",
                edited.plan.name,
                show_money(edited.plan.price, &edited.plan.currency),
                edited.plan.rate_limit.as_deref().unwrap_or("none"),
                edited.routers,
                edited.sessions
            );
        }
        PlansCommand::Disable { name } => set_state(ctx, name, false)?,
        PlansCommand::Enable { name } => set_state(ctx, name, true)?,
    }
    Ok(())
}

fn set_state(ctx: &Context, name: String, active: bool) -> anyhow::Result<()> {
    let now = ctx.now();
    let args = Named { name };
    let plan = ctx.runtime.block_on(ctx.store.write(move |tx| {
        if active {
            plans::enable(tx, &Actor::Cli, now, args)
        } else {
            plans::disable(tx, &Actor::Cli, now, args)
        }
    }))?;
    println!("plan {} {}", plan.name, plan.state);
    Ok(())
}

/// An optional limit from the command line: absent keeps it, `none` removes it.
fn removable<T>(
    value: Option<String>,
    parse: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Option<Option<T>>> {
    match value.as_deref() {
        None => Ok(None),
        Some("none") => Ok(Some(None)),
        Some(text) => Ok(Some(Some(parse(text)?))),
    }
}

fn yes_no(text: &str) -> anyhow::Result<bool> {
    match text {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => anyhow::bail!("`{other}`: yes or no"),
    }
}
