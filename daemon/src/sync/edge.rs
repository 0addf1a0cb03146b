//! The daemon's side of [`EdgeStore`]: outbox reads on the reader pool, ack marks and the inbox
//! on the writer.

use sitebox_sync::edge::{BudgetReport, EdgeStore};
use sitebox_sync::relay::{ReadBatch, ReadRequest};
use sitebox_sync::wire::{Command, CommandResult, CommandState, Lane, VERSION};

use super::commands::{CommandContext, CommandError, CommandRegistry};
use crate::clock::SharedClock;
use crate::store::sync::{self as sql, InboxEntry};
use crate::store::{Store, StoreError};

/// The store as the sync agent sees it.
#[derive(Debug, Clone)]
pub struct DaemonEdge {
    pub(crate) store: Store,
    pub(crate) clock: SharedClock,
    pub(crate) registry: CommandRegistry,
    pub(crate) backlog_max_bytes: u64,
    pub(crate) acked_retention: std::time::Duration,
}

/// The first write's outcome when the applier refused.
#[derive(Debug)]
enum InboxError {
    Store(StoreError),
    Rejected(String),
}

impl From<StoreError> for InboxError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl EdgeStore for DaemonEdge {
    type Error = StoreError;

    async fn cursor(&self) -> Result<u64, StoreError> {
        self.store.read(sql::cursor).await
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadBatch, StoreError> {
        self.store
            .read(move |conn| {
                let events = sql::unacked(conn, request.lane, request.after, request.limit)?;
                let dropped = if request.lane == Lane::Telemetry {
                    sql::dropped_after(conn, request.after, request.limit)?
                } else {
                    Vec::new()
                };
                Ok(ReadBatch { events, dropped })
            })
            .await
    }

    async fn mark_acked(
        &self,
        through: u64,
        server_time: i64,
        skew_ms: i64,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.store
            .write(move |tx| sql::mark_acked(tx, through, server_time, skew_ms, now))
            .await
            .map(drop)
    }

    async fn apply_command(&self, command: Command) -> Result<CommandResult, StoreError> {
        let now = self.clock.now();
        let registry = self.registry.clone();
        let first = command.clone();
        let applied = self
            .store
            .write(move |tx| -> Result<CommandResult, InboxError> {
                if let Some(previous) = sql::inbox_result(tx, &first.id)? {
                    return Ok(previous);
                }
                let ctx = CommandContext {
                    id: first.id.clone(),
                    now,
                    issued_at: first.issued_at,
                };
                let result = match registry.apply(tx, &first.kind, &ctx, first.payload.clone()) {
                    Ok(result) => result,
                    Err(CommandError::Rejected(reason)) => {
                        return Err(InboxError::Rejected(reason));
                    }
                    Err(CommandError::Store(err)) => return Err(InboxError::Store(err)),
                };
                let entry = InboxEntry {
                    command_id: &first.id,
                    kind: &first.kind,
                    payload: &first.payload,
                    state: CommandState::Applied,
                    result: &result,
                    issued_at: first.issued_at,
                };
                sql::inbox_insert(tx, &entry, now)?;
                Ok(answer(
                    &first,
                    CommandState::Applied,
                    result,
                    now.as_millis(),
                ))
            })
            .await;
        let reason = match applied {
            Ok(result) => return Ok(result),
            Err(InboxError::Store(err)) => return Err(err),
            Err(InboxError::Rejected(reason)) => reason,
        };
        // The applier's writes were rolled back with that write; dead-letter the command in a
        // write of its own. A crash between the two only means the command comes again and is
        // refused again.
        self.store
            .write(move |tx| {
                if let Some(previous) = sql::inbox_result(tx, &command.id)? {
                    return Ok(previous);
                }
                let result = serde_json::json!({ "error": reason });
                let entry = InboxEntry {
                    command_id: &command.id,
                    kind: &command.kind,
                    payload: &command.payload,
                    state: CommandState::Rejected,
                    result: &result,
                    issued_at: command.issued_at,
                };
                sql::inbox_insert(tx, &entry, now)?;
                Ok(answer(
                    &command,
                    CommandState::Rejected,
                    result,
                    now.as_millis(),
                ))
            })
            .await
    }

    async fn head(&self) -> Result<Option<u64>, StoreError> {
        let last = self.store.read(crate::store::outbox::last_seq).await?;
        Ok(u64::try_from(last).ok())
    }

    async fn rewound(&self) -> Result<Option<u64>, StoreError> {
        self.store.read(sql::rewound).await
    }

    async fn resume_above(&self, restored_head: u64, cloud_cursor: u64) -> Result<u64, StoreError> {
        self.store
            .write(move |tx| sql::resume_above(tx, restored_head, cloud_cursor))
            .await
    }

    async fn enforce_budget(&self) -> Result<BudgetReport, StoreError> {
        let now = self.clock.now();
        let max = self.backlog_max_bytes;
        let before = now.before(self.acked_retention);
        self.store
            .write(move |tx| sql::enforce_budget(tx, max, before, now))
            .await
    }
}

fn answer(
    command: &Command,
    state: CommandState,
    result: serde_json::Value,
    handled_at: i64,
) -> CommandResult {
    CommandResult {
        v: VERSION,
        id: command.id.clone(),
        kind: command.kind.clone(),
        state,
        result,
        handled_at,
        repeat: false,
    }
}
