//! `siteboxd queue …`: list jobs, the failed store, retry, discard, prune, stats.

use std::sync::Arc;

use clap::Subcommand;

use super::output;
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::Config;
use crate::domain::jobs::{self as actions, FailedJobId};
use crate::model::event::Actor;
use crate::model::job::{JobId, JobState};
use crate::queue::maintenance;
use crate::store::jobs::{self, ListFilter};
use crate::store::{Opener, Store};

/// The queue subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List jobs (newest first).
    List {
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Only this state: available, running or completed.
        #[arg(long, value_parser = parse_state)]
        state: Option<JobState>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the failed store (newest first).
    Failed {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a failed job (or `all`) back on its queue.
    Retry {
        /// A failed job's id, or `all`.
        target: String,
    },
    /// Delete a failed job for good.
    Discard {
        /// The failed job's id.
        id: i64,
    },
    /// Delete completed and failed jobs older than their retention.
    Prune,
    /// Jobs per queue and state.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_state(text: &str) -> Result<JobState, String> {
    match text {
        "available" => Ok(JobState::Available),
        "running" => Ok(JobState::Running),
        "completed" => Ok(JobState::Completed),
        other => Err(format!(
            "unknown state `{other}`: available, running or completed"
        )),
    }
}

pub(super) fn run(config: &Config, command: QueueCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.store, Opener::Tool)?;
    let now = SystemClock.now();
    let runtime = super::runtime()?;
    match command {
        QueueCommand::List {
            queue,
            state,
            limit,
            json,
        } => {
            let filter = ListFilter {
                queue,
                state,
                limit,
            };
            let rows = store.read_blocking(|conn| jobs::list(conn, &filter))?;
            if json {
                return output::json(&rows);
            }
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|job| {
                    vec![
                        job.id.to_string(),
                        job.queue.clone(),
                        job.kind.clone(),
                        job.state.as_str().to_string(),
                        job.priority.to_string(),
                        format!("{}/{}", job.attempt, job.max_attempts),
                        relative(job.run_at, now),
                        job.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "ID",
                    "QUEUE",
                    "KIND",
                    "STATE",
                    "PRIO",
                    "ATTEMPT",
                    "RUN AT",
                    "LAST ERROR",
                ],
                &rows,
            );
        }
        QueueCommand::Failed { limit, json } => {
            let rows = store.read_blocking(|conn| jobs::failed(conn, limit))?;
            if json {
                return output::json(&rows);
            }
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|job| {
                    vec![
                        job.id.to_string(),
                        job.queue.clone(),
                        job.kind.clone(),
                        job.attempts.to_string(),
                        relative(job.failed_at, now),
                        job.error.clone(),
                    ]
                })
                .collect();
            output::table(
                &["ID", "QUEUE", "KIND", "ATTEMPTS", "FAILED", "ERROR"],
                &rows,
            );
        }
        QueueCommand::Retry { target } if target == "all" => {
            let outcomes =
                store.write_blocking(move |tx| actions::retry_all(tx, &Actor::Cli, now))?;
            println!("{} failed job(s) put back", outcomes.len());
        }
        QueueCommand::Retry { target } => {
            let id: i64 = target
                .parse()
                .map_err(|_| anyhow::anyhow!("`{target}` is neither a job id nor `all`"))?;
            let job = FailedJobId { job_id: JobId(id) };
            match store.write_blocking(move |tx| actions::retry(tx, &Actor::Cli, now, job))? {
                Some(outcome) => println!("job {id}: {}", serde_json::to_string(&outcome)?),
                None => anyhow::bail!("no failed job {id}"),
            }
        }
        QueueCommand::Discard { id } => {
            let job = FailedJobId { job_id: JobId(id) };
            match store.write_blocking(move |tx| actions::discard(tx, &Actor::Cli, now, job))? {
                Some(job) => println!("job {id} ({}) discarded", job.kind),
                None => anyhow::bail!("no failed job {id}"),
            }
        }
        QueueCommand::Prune => {
            let clock: crate::clock::SharedClock = Arc::new(SystemClock);
            let pruned = runtime.block_on(maintenance::prune(
                &store,
                &clock,
                config.queue.completed_retention.get(),
                config.queue.failed_retention.get(),
            ))?;
            println!(
                "pruned {} completed and {} failed job(s)",
                pruned.completed, pruned.failed
            );
        }
        QueueCommand::Stats { json } => {
            let stats = store.read_blocking(|conn| jobs::stats(conn, now))?;
            if json {
                return output::json(&stats);
            }
            let rows: Vec<Vec<String>> = stats
                .iter()
                .map(|s| {
                    vec![
                        s.queue.clone(),
                        s.due.to_string(),
                        s.scheduled.to_string(),
                        s.running.to_string(),
                        s.completed.to_string(),
                        s.failed.to_string(),
                        format!("{}s", s.oldest_due_ms / 1000),
                    ]
                })
                .collect();
            output::table(
                &[
                    "QUEUE",
                    "DUE",
                    "SCHEDULED",
                    "RUNNING",
                    "COMPLETED",
                    "FAILED",
                    "OLDEST DUE",
                ],
                &rows,
            );
        }
    }
    Ok(())
}

/// `in 5m`, `3s ago`.
fn relative(at: Timestamp, now: Timestamp) -> String {
    let (seconds, future) = if at >= now {
        (at.since(now).as_secs(), true)
    } else {
        (now.since(at).as_secs(), false)
    };
    let text = match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}
