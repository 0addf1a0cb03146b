//! `siteboxd technicians …`: logins for the web page. Passwords are read from standard input
//! (one line), never from the command line, and stored as argon2id hashes.

use std::io::BufRead as _;

use anyhow::Context as _;
use clap::Subcommand;

use super::output;
use crate::clock::{Clock as _, SystemClock, Timestamp};
use crate::config::Config;
use crate::model::event::payload::TechnicianAction;
use crate::model::event::{Actor, NewEvent};
use crate::model::technician::Role;
use crate::store::web as sql;
use crate::store::{Opener, Store, StoreError, Tx};
use crate::web::auth;

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
            anyhow::ensure!(
                (1..=64).contains(&name.len()) && !name.contains(char::is_whitespace),
                "a name is 1-64 characters without spaces"
            );
            let hash = auth::hash_password(&password()?)?;
            let added = store.write_blocking(move |tx| {
                let added = sql::add_technician(tx, &name, &hash, role, now)?;
                if added {
                    audit(
                        tx,
                        now,
                        &name,
                        TechnicianAction::TechnicianAdded {
                            name: name.clone(),
                            role,
                        },
                    )?;
                }
                Ok::<_, StoreError>(added.then_some(name))
            })?;
            let name = added.context("a technician with that name exists already")?;
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
            let removed = store.write_blocking(move |tx| {
                let removed = sql::remove_technician(tx, &name)?;
                if removed {
                    audit(
                        tx,
                        now,
                        &name,
                        TechnicianAction::TechnicianRemoved { name: name.clone() },
                    )?;
                }
                Ok::<_, StoreError>(removed)
            })?;
            anyhow::ensure!(removed, "no such technician");
        }
        TechniciansCommand::Passwd { name } => {
            let hash = auth::hash_password(&password()?)?;
            let changed = store.write_blocking(move |tx| {
                let changed = sql::set_password(tx, &name, &hash, now)?;
                if changed {
                    audit(
                        tx,
                        now,
                        &name,
                        TechnicianAction::PasswordChanged { name: name.clone() },
                    )?;
                }
                Ok::<_, StoreError>(changed)
            })?;
            anyhow::ensure!(changed, "no such technician");
        }
    }
    Ok(())
}

fn audit(
    tx: &mut Tx<'_>,
    now: Timestamp,
    name: &str,
    detail: TechnicianAction,
) -> Result<(), StoreError> {
    tx.emit(
        now,
        &Actor::Cli,
        NewEvent::new(format!("technician:{name}"), &detail),
    )?;
    Ok(())
}

/// One line from standard input: the password.
fn password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(
        (8..=1024).contains(&line.chars().count()),
        "the password (one line on standard input) must be 8 to 1024 characters"
    );
    Ok(line)
}
