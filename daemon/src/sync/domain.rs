//! The cloud's commands on the hotspot domain, applied inside the inbox transaction:
//! `payment.confirmed` (an M-Pesa payment confirmed centrally), `plan.create`, `plan.update`,
//! `plan.disable`, `plan.enable`, `subscriber.create`, `subscriber.suspend`,
//! `subscriber.reinstate`, `subscription.grant` and `vouchers.issue`.
//!
//! Each is a thin adapter: the command's payload parses into the domain action's arguments
//! (a payload that does not is rejected with serde's reason), the action runs as
//! [`Actor::Cloud`], and its result becomes the answer (docs/PROTOCOL.md). A command the domain
//! refuses (unknown plan, bad input) is dead-lettered with the reason; a payment that does not
//! match its plan is not: it is recorded as rejected, for a technician, and the answer says so.

use serde_json::json;

use super::commands::{CommandError, CommandRegistry};
use crate::domain::payments::{self, Confirmation};
use crate::domain::plans::{self, PlanEdit};
use crate::domain::subscriptions::{self, Give};
use crate::domain::vouchers::{self, Issue};
use crate::domain::{Account, DomainError, Named, subscribers};
use crate::model::event::Actor;
use crate::model::plan::NewPlan;
use crate::model::subscriber::NewSubscriber;
use crate::secrets::Secrets;
use crate::store::StoreError;

impl From<DomainError> for CommandError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Store(err) => CommandError::Store(err),
            // The box's own key failed: not the command's fault, so it comes again.
            DomainError::Secrets(err) => CommandError::Store(StoreError::Decode(err.to_string())),
            other => CommandError::rejected(other.to_string()),
        }
    }
}

/// Registers the domain's commands.
pub(crate) fn register(registry: &mut CommandRegistry, secrets: &Secrets) {
    let cloud = &Actor::Cloud;
    let keys = secrets.clone();
    registry.register_typed(
        "payment.confirmed",
        move |tx, ctx, confirmation: Confirmation| {
            let outcome = payments::apply(tx, &keys, cloud, ctx.now, &confirmation)?;
            Ok(serde_json::to_value(outcome).unwrap_or_default())
        },
    );
    registry.register_typed("plan.create", |tx, ctx, plan: NewPlan| {
        let created = plans::create(tx, cloud, ctx.now, plan)?;
        Ok(json!({ "plan_id": created.id }))
    });
    registry.register_typed("plan.update", |tx, ctx, edit: PlanEdit| {
        let edited = plans::edit(tx, cloud, ctx.now, edit)?;
        Ok(json!({
            "plan_id": edited.plan.id,
            "router_jobs": edited.routers,
            "sessions_updated": edited.sessions,
        }))
    });
    registry.register_typed("plan.disable", |tx, ctx, plan: Named| {
        let plan = plans::disable(tx, cloud, ctx.now, plan)?;
        Ok(json!({ "plan_id": plan.id, "state": plan.state }))
    });
    registry.register_typed("plan.enable", |tx, ctx, plan: Named| {
        let plan = plans::enable(tx, cloud, ctx.now, plan)?;
        Ok(json!({ "plan_id": plan.id, "state": plan.state }))
    });
    let keys = secrets.clone();
    registry.register_typed("subscriber.create", move |tx, ctx, new: NewSubscriber| {
        let created = subscribers::create(tx, &keys, cloud, ctx.now, new)?;
        Ok(json!({ "subscriber_id": created.id }))
    });
    registry.register_typed("subscriber.suspend", |tx, ctx, account: Account| {
        let subscriber = subscribers::suspend(tx, cloud, ctx.now, account)?;
        Ok(json!({ "subscriber_id": subscriber.id, "state": subscriber.state }))
    });
    registry.register_typed("subscriber.reinstate", |tx, ctx, account: Account| {
        let subscriber = subscribers::reinstate(tx, cloud, ctx.now, account)?;
        Ok(json!({ "subscriber_id": subscriber.id, "state": subscriber.state }))
    });
    registry.register_typed("subscription.grant", |tx, ctx, give: Give| {
        let granted = subscriptions::give(tx, cloud, ctx.now, give)?;
        Ok(json!({
            "subscription_id": granted.id, "state": granted.state, "expires_at": granted.expires_at,
        }))
    });
    registry.register_typed("vouchers.issue", |tx, ctx, issue: Issue| {
        let issued = vouchers::issue(tx, cloud, ctx.now, issue)?;
        let codes: Vec<&str> = issued.vouchers.iter().map(|v| v.code.as_str()).collect();
        Ok(json!({ "batch": issued.batch, "codes": codes }))
    });
}
