//! The commands the sync layer answers itself (`resend_from`), and the failed store's
//! `queue.retry_failed` (the domain's `jobs::retry`).

use serde::Deserialize;
use sitebox_sync::wire::RESEND_FROM;

use super::commands::{CommandError, CommandRegistry};
use crate::domain::jobs::{self, FailedJobId};
use crate::model::event::Actor;
use crate::store;

/// `resend_from {seq}`: the cloud lacks everything from `seq` on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendFrom {
    seq: u64,
}

/// Registers the built-in commands.
pub(super) fn register(registry: &mut CommandRegistry) {
    registry.register_typed(RESEND_FROM, |tx, ctx, args: ResendFrom| {
        if args.seq == 0 {
            return Err(CommandError::rejected("seq starts at 1"));
        }
        let resend = store::sync::resend_from(tx, args.seq, ctx.issued_at)?;
        Ok(serde_json::to_value(resend).unwrap_or_default())
    });
    // `queue.retry_failed {job_id}`: put a failed job back on its queue.
    registry.register_typed(
        "queue.retry_failed",
        |tx, ctx, job: FailedJobId| match jobs::retry(tx, &Actor::Cloud, ctx.now, job)? {
            Some(outcome) => Ok(serde_json::json!({ "job_id": job.job_id, "outcome": outcome })),
            None => Err(CommandError::rejected(format!(
                "no failed job {}",
                job.job_id
            ))),
        },
    );
}
