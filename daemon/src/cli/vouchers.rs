//! `siteboxd vouchers …`: batches of printed codes.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use super::context::Context;
use super::output;
use crate::domain::vouchers::{self, Issue, Issued};
use crate::domain::{DomainError, plans};
use crate::model::event::Actor;
use crate::model::voucher::Voucher;
use crate::store::vouchers as sql;

/// How a batch is written out.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// A printable A4 sheet of cards.
    Html,
    /// code,plan,batch,state.
    Csv,
    /// JSON.
    Json,
}

/// Voucher subcommands.
// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum VouchersCommand {
    /// Generate a batch of codes for a plan.
    Generate {
        /// The plan's name.
        #[arg(long)]
        plan: String,
        /// How many.
        #[arg(long)]
        count: u32,
        /// Code length.
        #[arg(long, default_value_t = 8)]
        length: usize,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Write out an existing batch again.
    Print {
        /// The batch name.
        batch: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "html")]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// List vouchers, newest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(ctx: &Context, site_name: &str, command: VouchersCommand) -> anyhow::Result<()> {
    let now = ctx.now();
    match command {
        VouchersCommand::Generate {
            plan,
            count,
            length,
            format,
            output,
        } => {
            let issue = Issue {
                plan,
                count,
                length,
            };
            let Issued {
                batch,
                vouchers: made,
                plan,
            } = ctx.runtime.block_on(
                ctx.store
                    .write(move |tx| vouchers::issue(tx, &Actor::Cli, now, issue)),
            )?;
            eprintln!(
                "batch {batch}: {} voucher(s) for plan {}",
                made.len(),
                plan.name
            );
            write(site_name, &plan, &made, format, output)?;
        }
        VouchersCommand::Print {
            batch,
            format,
            output,
        } => {
            let (made, plan) = ctx.store.read_blocking(|conn| {
                let made = sql::batch(conn, &batch)?;
                let first = made
                    .first()
                    .ok_or_else(|| DomainError::NotFound(format!("batch `{batch}`")))?;
                let plan = plans::find(conn, &first.plan)?;
                Ok::<_, DomainError>((made, plan))
            })?;
            write(site_name, &plan, &made, format, output)?;
        }
        VouchersCommand::List { limit, json } => {
            let list = ctx.store.read_blocking(|conn| sql::list(conn, limit))?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|v| {
                    vec![
                        v.code.clone(),
                        v.plan.clone(),
                        v.batch.clone(),
                        v.state.to_string(),
                    ]
                })
                .collect();
            output::table(&["CODE", "PLAN", "BATCH", "STATE"], &rows);
        }
    }
    Ok(())
}

fn write(
    site_name: &str,
    plan: &crate::model::plan::Plan,
    made: &[Voucher],
    format: Format,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let text = match format {
        Format::Html => vouchers::sheet(site_name, plan, made),
        Format::Csv => vouchers::csv(made),
        Format::Json => serde_json::to_string_pretty(made)?,
    };
    match output {
        Some(path) => std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
