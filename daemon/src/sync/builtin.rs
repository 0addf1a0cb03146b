//! The commands the sync layer and the queue answer themselves: `resend_from` and
//! `queue.retry_failed`.

use serde::Deserialize;
use sitebox_sync::wire::RESEND_FROM;

use super::commands::{CommandError, CommandRegistry};
use crate::model::event::Actor;
use crate::model::job::JobId;
use crate::queue::admin;
use crate::store;

/// `resend_from {seq}`: the cloud lacks everything from `seq` on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendFrom {
    seq: u64,
}

/// `queue.retry_failed {job_id}`: put a failed job back on its queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFailed {
    job_id: i64,
}

/// Registers the built-in commands.
pub fn register(registry: &mut CommandRegistry) {
    registry.register_typed(RESEND_FROM, |tx, ctx, args: ResendFrom| {
        if args.seq == 0 {
            return Err(CommandError::rejected("seq starts at 1"));
        }
        let resend = store::sync::resend_from(tx, args.seq, ctx.issued_at)?;
        Ok(serde_json::to_value(resend).unwrap_or_default())
    });
    registry.register_typed("queue.retry_failed", |tx, ctx, args: RetryFailed| {
        match admin::retry_in(tx, &Actor::Cloud, JobId(args.job_id), ctx.now)? {
            Some(outcome) => Ok(serde_json::json!({ "job_id": args.job_id, "outcome": outcome })),
            None => Err(CommandError::rejected(format!(
                "no failed job {}",
                args.job_id
            ))),
        }
    });
}
