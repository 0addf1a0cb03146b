//! Payments: an M-Pesa confirmation relayed by the cloud (Daraja's STK callback fields plus what
//! the purchase was for), or cash taken at the site. Applied idempotently per receipt: the same
//! receipt twice creates one subscription. A payment that does not match its plan is kept,
//! rejected with a reason, for a technician.

use serde::{Deserialize, Serialize};

use super::DomainError;
use super::mac;
use super::plans;
use super::subscribers;
use super::subscriptions;
use crate::clock::Timestamp;
use crate::model::event::payload::{self, PaymentFacts};
use crate::model::event::{Actor, NewEvent};
use crate::model::payment::{NewPayment, PaymentState, Provider};
use crate::model::plan::{Plan, PlanState};
use crate::model::subscriber::{
    NewSubscriber, Subscriber, SubscriberKind, SubscriberState, mask_phone,
};
use crate::model::subscription::{Origin, Source};
use crate::secrets::Secrets;
use crate::store::{Tx, payments as sql, subscribers as subscriber_sql};

/// A payment confirmation: M-Pesa (from the cloud) or cash (from the CLI or the page).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Confirmation {
    /// `mpesa` or `cash`.
    pub provider: String,
    /// MpesaReceiptNumber, or the cash receipt number. Unique.
    pub receipt: String,
    /// Daraja's CheckoutRequestID.
    #[serde(default)]
    pub checkout_request_id: Option<String>,
    /// Amount as Daraja sends it (`50`, `50.00`), in major units.
    pub amount: serde_json::Number,
    /// Currency; the plan's when absent.
    #[serde(default)]
    pub currency: Option<String>,
    /// PhoneNumber (e.g. 254712345678).
    #[serde(default)]
    pub phone: Option<String>,
    /// TransactionDate (YYYYMMDDHHMMSS), as sent.
    #[serde(default)]
    pub transaction_date: Option<String>,
    /// The plan bought, by name or id.
    pub plan: String,
    /// The device it is for (hotspot purchases by MAC).
    #[serde(default)]
    pub mac: Option<String>,
    /// The account it is for (renewals of a named account).
    #[serde(default)]
    pub username: Option<String>,
}

/// What applying a confirmation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Recorded and a subscription granted.
    Applied {
        /// The payment row.
        payment_id: i64,
        /// The subscription granted.
        subscription_id: i64,
        /// The subscriber credited.
        username: String,
    },
    /// Recorded and refused, with the reason (kept for a technician).
    Rejected {
        /// The payment row.
        payment_id: i64,
        /// Why.
        reason: String,
    },
    /// This receipt was seen before; nothing changed.
    Duplicate {
        /// The earlier payment row.
        payment_id: i64,
        /// Applied or rejected.
        state: PaymentState,
    },
}

/// `50`, `50.5`, `50.00` → 5000 minor units; None for negatives, more than 2 decimals or junk.
pub(crate) fn minor_units(amount: &serde_json::Number) -> Option<i64> {
    let text = amount.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if whole.starts_with('-') || fraction.len() > 2 && fraction[2..].bytes().any(|b| b != b'0') {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{:0<2}", &fraction[..fraction.len().min(2)])
        .parse()
        .ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

fn money(minor: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

/// Applies a confirmation: idempotent per receipt.
pub(crate) fn apply(
    tx: &mut Tx<'_>,
    secrets: &Secrets,
    actor: &Actor,
    now: Timestamp,
    confirmation: &Confirmation,
) -> Result<Outcome, DomainError> {
    if let Some((payment_id, state)) = sql::by_receipt(tx, &confirmation.receipt)? {
        return Ok(Outcome::Duplicate { payment_id, state });
    }
    let checked = check(tx, secrets, actor, now, confirmation);
    let raw = serde_json::to_string(confirmation).unwrap_or_default();
    let amount = minor_units(&confirmation.amount).unwrap_or(0);
    let (plan, subscriber, reason) = match checked {
        Ok((plan, subscriber)) => (Some(plan), Some(subscriber), None),
        Err(Refusal { plan, reason }) => (plan.map(|p| *p), None, Some(reason)),
    };
    let currency = confirmation
        .currency
        .clone()
        .or_else(|| plan.as_ref().map(|p| p.currency.clone()))
        .unwrap_or_default();
    let record = NewPayment {
        provider: &confirmation.provider,
        receipt: &confirmation.receipt,
        checkout_request_id: confirmation.checkout_request_id.as_deref(),
        amount,
        currency: &currency,
        phone: confirmation.phone.as_deref(),
        plan_id: plan.as_ref().map(|p| p.id.0),
        subscriber_id: subscriber.as_ref().map(|s| s.id.0),
        mac: confirmation.mac.as_deref().and_then(mac::normalize),
        state: if reason.is_some() {
            PaymentState::Rejected
        } else {
            PaymentState::Applied
        },
        reason: reason.as_deref(),
        raw: &raw,
        received_at: now,
    };
    let payment_id = sql::insert(tx, &record)?;
    let facts = PaymentFacts {
        payment_id,
        provider: confirmation.provider.clone(),
        receipt: confirmation.receipt.clone(),
        amount,
        currency,
        phone: confirmation.phone.as_deref().map(mask_phone),
        plan: plan.as_ref().map(|p| p.name.clone()),
        username: subscriber.as_ref().map(|s| s.username.clone()),
    };
    let subject = format!("payment:{}", confirmation.receipt);
    tx.emit(
        now,
        actor,
        NewEvent::new(subject.clone(), &payload::PaymentReceived(facts.clone())),
    )?;
    match (plan, subscriber, reason) {
        (Some(plan), Some(subscriber), None) => {
            let source = if Provider::parse(&confirmation.provider) == Some(Provider::Cash) {
                Source::Cash
            } else {
                Source::Mpesa
            };
            let origin = Origin {
                source,
                payment_id: Some(payment_id),
                voucher_id: None,
            };
            let subscription = subscriptions::grant(tx, actor, now, &subscriber, &plan, origin)?;
            sql::set_subscription(tx, payment_id, subscription.id.0)?;
            let applied = payload::PaymentApplied {
                payment: facts,
                subscription_id: subscription.id,
            };
            tx.emit(now, actor, NewEvent::new(subject, &applied))?;
            Ok(Outcome::Applied {
                payment_id,
                subscription_id: subscription.id.0,
                username: subscriber.username,
            })
        }
        (_, _, reason) => {
            let reason = reason.unwrap_or_else(|| "not applied".into());
            let rejected = payload::PaymentRejected {
                payment: facts,
                reason: reason.clone(),
            };
            tx.emit(now, actor, NewEvent::new(subject, &rejected))?;
            Ok(Outcome::Rejected { payment_id, reason })
        }
    }
}

struct Refusal {
    plan: Option<Box<Plan>>,
    reason: String,
}

/// Checks the confirmation against its plan and finds (or, for a new device, creates) the
/// subscriber it credits.
fn check(
    tx: &mut Tx<'_>,
    secrets: &Secrets,
    actor: &Actor,
    now: Timestamp,
    c: &Confirmation,
) -> Result<(Plan, Subscriber), Refusal> {
    let refuse = |plan: Option<&Plan>, reason: String| Refusal {
        plan: plan.cloned().map(Box::new),
        reason,
    };
    if Provider::parse(&c.provider).is_none() {
        return Err(refuse(None, format!("unknown provider `{}`", c.provider)));
    }
    if c.receipt.trim().is_empty() {
        return Err(refuse(None, "empty receipt".into()));
    }
    let plan =
        plans::find(tx, &c.plan).map_err(|_| refuse(None, format!("unknown plan `{}`", c.plan)))?;
    if plan.state != PlanState::Active {
        return Err(refuse(
            Some(&plan),
            format!("plan `{}` is disabled", plan.name),
        ));
    }
    let Some(amount) = minor_units(&c.amount) else {
        return Err(refuse(
            Some(&plan),
            format!("amount `{}` is not a valid sum", c.amount),
        ));
    };
    let currency = c.currency.as_deref().unwrap_or(&plan.currency);
    if currency != plan.currency || amount != plan.price {
        return Err(refuse(
            Some(&plan),
            format!(
                "amount {} does not match the price of plan `{}` ({})",
                money(amount, currency),
                plan.name,
                money(plan.price, &plan.currency)
            ),
        ));
    }
    let subscriber = if let Some(username) = &c.username {
        subscriber_sql::by_username(tx, username)
            .ok()
            .flatten()
            .filter(|s| s.state != SubscriberState::Deleted)
            .ok_or_else(|| refuse(Some(&plan), format!("unknown subscriber `{username}`")))?
    } else if let Some(raw_mac) = &c.mac {
        let mac = mac::normalize(raw_mac)
            .ok_or_else(|| refuse(Some(&plan), format!("`{raw_mac}` is not a MAC address")))?;
        match subscriber_sql::by_username(tx, &mac).ok().flatten() {
            Some(existing) => existing,
            None => {
                let new = NewSubscriber {
                    username: mac.clone(),
                    kind: SubscriberKind::Hotspot,
                    mac_auth: true,
                    phone: c.phone.clone(),
                    macs: vec![mac],
                    ..NewSubscriber::default()
                };
                subscribers::create(tx, secrets, actor, now, new)
                    .map_err(|e| refuse(Some(&plan), e.to_string()))?
            }
        }
    } else {
        return Err(refuse(
            Some(&plan),
            "neither a MAC nor a username to credit".into(),
        ));
    };
    if subscriber.state == SubscriberState::Suspended {
        return Err(refuse(
            Some(&plan),
            format!("subscriber `{}` is suspended", subscriber.username),
        ));
    }
    Ok((plan, subscriber))
}
