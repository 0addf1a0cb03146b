//! `siteboxd subscribers …`: hotspot and PPPoE accounts.

use clap::Subcommand;

use super::context::{Context, secret, show_size};
use super::output;
use crate::domain::subscribers;
use crate::domain::subscriptions::{self, Give};
use crate::domain::{Account, DomainError};
use crate::model::event::Actor;
use crate::model::subscriber::{NewSubscriber, SubscriberKind, mask_phone};
use crate::store::{subscribers as sql, subscriptions as subscription_sql};

/// Subscriber subcommands.
// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Create an account.
    Add {
        /// Login name (a MAC with --mac-auth).
        username: String,
        /// Password (`-` reads it from standard input). Not needed with --mac-auth.
        #[arg(long)]
        password: Option<String>,
        /// `hotspot` or `pppoe`.
        #[arg(long, default_value = "hotspot")]
        kind: SubscriberKind,
        /// The device logs in by its MAC (the username is the MAC).
        #[arg(long)]
        mac_auth: bool,
        /// Phone number.
        #[arg(long)]
        phone: Option<String>,
        /// Bind a device's MAC (repeatable).
        #[arg(long = "mac")]
        macs: Vec<String>,
    },
    /// List accounts, optionally matching a name or phone.
    List {
        /// Part of a username or phone number.
        #[arg(long, default_value = "")]
        search: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an account with its current subscription.
    Show {
        /// Its username.
        username: String,
    },
    /// Give an account a plan without payment.
    Grant {
        /// Its username.
        username: String,
        /// The plan's name.
        #[arg(long)]
        plan: String,
    },
    /// Suspend an account (its logins are refused).
    Disable {
        /// Its username.
        username: String,
    },
    /// Reinstate a suspended account.
    Enable {
        /// Its username.
        username: String,
    },
}

pub(super) fn run(ctx: &Context, command: SubscribersCommand) -> anyhow::Result<()> {
    let now = ctx.now();
    match command {
        SubscribersCommand::Add {
            username,
            password,
            kind,
            mac_auth,
            phone,
            macs,
        } => {
            let new = NewSubscriber {
                username,
                kind,
                password: password.as_deref().map(secret).transpose()?,
                nt_hash: None,
                mac_auth,
                phone,
                macs,
            };
            let secrets = ctx.secrets.clone();
            let created =
                ctx.runtime
                    .block_on(ctx.store.write(move |tx| {
                        subscribers::create(tx, &secrets, &Actor::Cli, now, new)
                    }))?;
            println!("subscriber {} created", created.username);
        }
        SubscribersCommand::List {
            search,
            limit,
            json,
        } => {
            let list = ctx
                .store
                .read_blocking(|conn| sql::search(conn, &search, limit))?;
            if json {
                return output::json(&list.iter().map(subscribers::public).collect::<Vec<_>>());
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        s.username.clone(),
                        s.kind.to_string(),
                        s.state.to_string(),
                        s.phone.as_deref().map(mask_phone).unwrap_or_default(),
                        s.macs.join(" "),
                    ]
                })
                .collect();
            output::table(&["USERNAME", "KIND", "STATE", "PHONE", "MACS"], &rows);
        }
        SubscribersCommand::Show { username } => {
            let (subscriber, current) = ctx.store.read_blocking(|conn| {
                let subscriber = sql::by_username(conn, &username)?
                    .ok_or_else(|| DomainError::NotFound(format!("subscriber `{username}`")))?;
                let current = subscription_sql::current(conn, subscriber.id)?;
                Ok::<_, DomainError>((subscriber, current))
            })?;
            let mut shown = subscribers::public(&subscriber);
            shown["subscription"] = serde_json::to_value(&current)?;
            if let Some(sub) = &current {
                shown["data_used"] = serde_json::json!(show_size(sub.used_bytes));
            }
            output::json(&shown)?;
        }
        SubscribersCommand::Grant { username, plan } => {
            let give = Give { username, plan };
            let granted = ctx.runtime.block_on(
                ctx.store
                    .write(move |tx| subscriptions::give(tx, &Actor::Cli, now, give)),
            )?;
            println!(
                "subscription {} {} (expires {:?})",
                granted.id.0, granted.state, granted.expires_at
            );
        }
        SubscribersCommand::Disable { username } => set_active(ctx, username, false)?,
        SubscribersCommand::Enable { username } => set_active(ctx, username, true)?,
    }
    Ok(())
}

fn set_active(ctx: &Context, username: String, active: bool) -> anyhow::Result<()> {
    let now = ctx.now();
    let account = Account { username };
    let subscriber = ctx.runtime.block_on(ctx.store.write(move |tx| {
        if active {
            subscribers::reinstate(tx, &Actor::Cli, now, account)
        } else {
            subscribers::suspend(tx, &Actor::Cli, now, account)
        }
    }))?;
    println!("subscriber {} {}", subscriber.username, subscriber.state);
    Ok(())
}
