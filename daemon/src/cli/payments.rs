//! `siteboxd payments …`: M-Pesa confirmations and cash.

use std::path::PathBuf;

use clap::Subcommand;

use super::context::{Context, show_money};
use super::output;
use crate::domain::payments::{self, Confirmation};
use crate::model::event::Actor;
use crate::model::payment::Provider;
use crate::model::subscriber::mask_phone;
use crate::store::payments as sql;

/// Payment subcommands.
// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// List payments, newest first.
    List {
        /// Only the rejected ones (paid but not provisioned).
        #[arg(long)]
        rejected: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record cash taken at the site and grant the plan.
    Cash {
        /// The receipt number written on the paper receipt (unique).
        #[arg(long)]
        receipt: String,
        /// Amount, e.g. `50`.
        #[arg(long)]
        amount: String,
        /// The plan's name.
        #[arg(long)]
        plan: String,
        /// The account credited.
        #[arg(long, required_unless_present = "mac")]
        username: Option<String>,
        /// Or the device credited (a MAC-auth account is made for it).
        #[arg(long)]
        mac: Option<String>,
        /// The payer's phone.
        #[arg(long)]
        phone: Option<String>,
    },
    /// Apply an M-Pesa confirmation from a JSON file (the fields the cloud relays), e.g. one a
    /// technician was given for a customer who paid but was not connected.
    Apply {
        /// The JSON file (`-` for standard input).
        file: PathBuf,
    },
}

pub(super) fn run(ctx: &Context, command: PaymentsCommand) -> anyhow::Result<()> {
    let now = ctx.now();
    match command {
        PaymentsCommand::List {
            rejected,
            limit,
            json,
        } => {
            let list = ctx
                .store
                .read_blocking(|conn| sql::list(conn, rejected, limit))?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|p| {
                    vec![
                        p.receipt.clone(),
                        p.provider.clone(),
                        show_money(p.amount, &p.currency),
                        p.phone.as_deref().map(mask_phone).unwrap_or_default(),
                        p.state.to_string(),
                        p.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &["RECEIPT", "PROVIDER", "AMOUNT", "PHONE", "STATE", "REASON"],
                &rows,
            );
        }
        PaymentsCommand::Cash {
            receipt,
            amount,
            plan,
            username,
            mac,
            phone,
        } => {
            let confirmation = Confirmation {
                provider: Provider::Cash.to_string(),
                receipt,
                checkout_request_id: None,
                amount: serde_json::from_str(&amount)
                    .map_err(|_| anyhow::anyhow!("`{amount}` is not an amount"))?,
                currency: None,
                phone,
                transaction_date: None,
                plan,
                mac,
                username,
            };
            apply(ctx, confirmation, now)?;
        }
        PaymentsCommand::Apply { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?
            };
            let confirmation: Confirmation = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            apply(ctx, confirmation, now)?;
        }
    }
    Ok(())
}

fn apply(
    ctx: &Context,
    confirmation: Confirmation,
    now: crate::clock::Timestamp,
) -> anyhow::Result<()> {
    let secrets = ctx.secrets.clone();
    let outcome = ctx.runtime.block_on(
        ctx.store
            .write(move |tx| payments::apply(tx, &secrets, &Actor::Cli, now, &confirmation)),
    )?;
    output::json(&outcome)?;
    if let payments::Outcome::Rejected { reason, .. } = &outcome {
        anyhow::bail!("payment rejected: {reason}");
    }
    Ok(())
}
