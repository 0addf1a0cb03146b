//! `siteboxd technicians …`: logins for the web page. Passwords are read from standard input
//! (one line), never from the command line, and stored as argon2id hashes.

use std::io::BufRead as _;

use anyhow::Context as _;
use clap::Subcommand;

use super::output;
use crate::clock::{Clock as _, SystemClock};
use crate::config::Config;
use crate::domain::Named;
use crate::domain::technicians::{self, NewTechnician};
use crate::model::event::Actor;
use crate::model::technician::Role;
use crate::passwords;
use crate::store::web as sql;
use crate::store::{Opener, Store};

/// Technician subcommands.
#[derive(Debug, Subcommand)]
pub enum TechniciansCommand {
    /// Add a login; the password is read from standard input.
    Add {
        /// Login name.
        name: String,
        /// `operator` (may act) or `read-only` (may look).
        #[arg(long, default_value = "operator")]
        role: String,
    },
    /// List the logins.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a login (and end its sessions).
    Remove {
        /// Login name.
        name: String,
    },
    /// Set a new password, read from standard input (ends the login's sessions).
    Passwd {
        /// Login name.
        name: String,
    },
}

pub(super) fn run(config: &Config, command: TechniciansCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.store, Opener::Tool)?;
    let now = SystemClock.now();
    match command {
        TechniciansCommand::Add { name, role } => {
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role `{role}`: operator or read-only"))?;
            let hash = passwords::hash_password(&password()?)?;
            let args = NewTechnician { name, role };
            let name = args.name.clone();
            store.write_blocking(move |tx| technicians::add(tx, &Actor::Cli, now, args, &hash))?;
            eprintln!("technician {name} added");
        }
        TechniciansCommand::List { json } => {
            let list = store.read_blocking(sql::technicians)?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|t| vec![t.name.clone(), t.role.to_string()])
                .collect();
            output::table(&["NAME", "ROLE"], &rows);
        }
        TechniciansCommand::Remove { name } => {
            store.write_blocking(move |tx| {
                technicians::remove(tx, &Actor::Cli, now, Named { name })
            })?;
        }
        TechniciansCommand::Passwd { name } => {
            let hash = passwords::hash_password(&password()?)?;
            store.write_blocking(move |tx| {
                technicians::set_password(tx, &Actor::Cli, now, Named { name }, &hash)
            })?;
        }
    }
    Ok(())
}

fn password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(
        passwords::LENGTH.contains(&line.chars().count()),
        "the password (one line on standard input) must be 8 to 1024 characters"
    );
    Ok(line)
}
