//! The registry of cloud command appliers, keyed by command type.
//!
//! An applier runs inside the inbox transaction: whatever it writes (domain rows, jobs via
//! [`Tx::enqueue`], events via [`Tx::emit`]) commits together with the inbox row, or not at
//! all. Registering one:
//!
//! ```text
//! registry.register_typed("payment.confirmed", |tx, ctx, args: PaymentConfirmed| {
//!     let payment = payments::confirm(tx, &args, ctx.now)?;          // StoreError → retried
//!     if payment.is_none() { return Err(CommandError::rejected("no such payment")); }
//!     Ok(serde_json::json!({ "payment_id": payment.id }))
//! });
//! ```
//!
//! Return [`CommandError::Rejected`] for a command that can never be applied (bad arguments,
//! unknown subject): it is dead-lettered (kept in the inbox as `rejected` with the reason) and
//! answered. A [`CommandError::Store`] means "not now": nothing is stored, the MQTT message is
//! not acked and comes again.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::clock::Timestamp;
use crate::store::{StoreError, Tx};

/// Why a command was not applied.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command can never be applied as sent: dead-letter it with this reason.
    #[error("{0}")]
    Rejected(String),
    /// The store failed: nothing was written; the command will come again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CommandError {
    /// A rejection with `reason`.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self::Rejected(reason.into())
    }
}

/// What an applier knows besides its arguments.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The command's id.
    pub id: String,
    /// Box clock now.
    pub now: Timestamp,
    /// Cloud clock when issued, ms.
    pub issued_at: i64,
}

/// An applier: `fn(&mut Tx, &CommandContext, payload) -> Result<answer, CommandError>`.
pub type Applier = Arc<
    dyn Fn(
            &mut Tx<'_>,
            &CommandContext,
            serde_json::Value,
        ) -> Result<serde_json::Value, CommandError>
        + Send
        + Sync,
>;

/// Command type → applier.
#[derive(Clone, Default)]
pub struct CommandRegistry {
    appliers: BTreeMap<String, Applier>,
}

impl std::fmt::Debug for CommandRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.appliers.keys()).finish()
    }
}

impl CommandRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `applier` for `kind`. Panics if `kind` is registered twice (a wiring bug).
    pub fn register<F>(&mut self, kind: &str, applier: F)
    where
        F: Fn(
                &mut Tx<'_>,
                &CommandContext,
                serde_json::Value,
            ) -> Result<serde_json::Value, CommandError>
            + Send
            + Sync
            + 'static,
    {
        let previous = self.appliers.insert(kind.to_string(), Arc::new(applier));
        assert!(previous.is_none(), "command type {kind} registered twice");
    }

    /// Registers an applier taking typed arguments: a payload that does not deserialize into
    /// `A` is rejected with serde's message.
    pub fn register_typed<A, F>(&mut self, kind: &str, applier: F)
    where
        A: DeserializeOwned,
        F: Fn(&mut Tx<'_>, &CommandContext, A) -> Result<serde_json::Value, CommandError>
            + Send
            + Sync
            + 'static,
    {
        self.register(kind, move |tx, ctx, payload| {
            let args = serde_json::from_value(payload)
                .map_err(|e| CommandError::rejected(format!("bad arguments: {e}")))?;
            applier(tx, ctx, args)
        });
    }

    /// The registered types.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.appliers.keys().map(String::as_str)
    }

    /// Applies `kind` in `tx`.
    pub fn apply(
        &self,
        tx: &mut Tx<'_>,
        kind: &str,
        ctx: &CommandContext,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, CommandError> {
        let applier = self
            .appliers
            .get(kind)
            .ok_or_else(|| CommandError::rejected(format!("unknown command type `{kind}`")))?;
        applier(tx, ctx, payload)
    }
}
