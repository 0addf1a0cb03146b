//! `siteboxd sessions …`: who is online, from accounting.

use clap::Subcommand;

use super::context::{Context, show_size};
use super::output;
use crate::store::sessions as sql;

/// Session subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Open sessions, newest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(ctx: &Context, command: SessionsCommand) -> anyhow::Result<()> {
    match command {
        SessionsCommand::List { limit, json } => {
            let list = ctx.store.read_blocking(|conn| sql::open(conn, limit))?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        s.username.clone(),
                        s.mac.clone().unwrap_or_default(),
                        s.framed_ip.clone().unwrap_or_default(),
                        format!("{}s", s.session_time_s),
                        show_size(s.input_octets.saturating_add(s.output_octets)),
                        s.acct_session_id.clone(),
                    ]
                })
                .collect();
            output::table(&["USER", "MAC", "IP", "TIME", "DATA", "SESSION"], &rows);
        }
    }
    Ok(())
}
