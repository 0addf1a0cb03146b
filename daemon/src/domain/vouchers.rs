//! Vouchers: codes printed in batches and sold over the counter. A code logs in as both user
//! name and password; its first login redeems it (once only) into a subscriber with the
//! voucher's plan.

use serde::Deserialize;

use super::DomainError;
use super::error::ensure;
use super::subscribers;
use super::subscriptions;
use crate::clock::Timestamp;
use crate::model::event::{Actor, NewEvent, payload};
use crate::model::plan::{Plan, PlanKind, PlanState};
use crate::model::subscriber::{NewSubscriber, Subscriber, SubscriberKind};
use crate::model::subscription::{Origin, Source};
use crate::model::voucher::Voucher;
use crate::secrets::Secrets;
use crate::store::{Tx, vouchers as sql};

/// Letters and digits that cannot be mistaken for each other when read off paper: no 0/O,
/// 1/I/L, 5/S, 2/Z, 8/B.
pub(crate) const ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY34679";

/// A new random code of `length` characters from [`ALPHABET`].
pub(crate) fn new_code(length: usize) -> String {
    (0..length)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// A batch to print (the arguments of `vouchers.issue`, `POST /api/v1/vouchers` and
/// `siteboxd vouchers generate`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Issue {
    /// The plan, by name or id.
    pub plan: String,
    /// How many, 1 to 10,000.
    pub count: u32,
    /// Characters per code (8 when left out).
    #[serde(default = "eight")]
    pub length: usize,
}

fn eight() -> usize {
    8
}

/// A batch printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    /// The batch's name.
    pub batch: String,
    /// Its vouchers.
    pub vouchers: Vec<Voucher>,
    /// Their plan.
    pub plan: Plan,
}

/// Prints a batch of vouchers for a plan given by name or id.
pub(crate) fn issue(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Issue,
) -> Result<Issued, DomainError> {
    let plan = super::plans::find(tx, &args.plan)?;
    let (batch, vouchers) = generate(tx, actor, now, &plan, args.count, args.length)?;
    Ok(Issued {
        batch,
        vouchers,
        plan,
    })
}

/// Generates `count` vouchers of `plan` in a new batch; returns the batch name and vouchers.
pub(crate) fn generate(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    plan: &Plan,
    count: u32,
    length: usize,
) -> Result<(String, Vec<Voucher>), DomainError> {
    ensure((1..=10_000).contains(&count), || {
        "count must be 1 to 10000".into()
    })?;
    ensure((6..=16).contains(&length), || {
        "code length must be 6 to 16".into()
    })?;
    ensure(plan.state == PlanState::Active, || {
        format!("plan `{}` is disabled", plan.name)
    })?;
    let batch = format!("B{}-{}", now.as_millis() / 1000, new_code(4));
    let mut made = 0;
    let mut attempts = 0;
    while made < count {
        attempts += 1;
        ensure(attempts < count * 20 + 100, || {
            "could not find free codes; use longer codes".into()
        })?;
        if sql::insert(tx, &new_code(length), plan.id.0, &batch, now)? {
            made += 1;
        }
    }
    let vouchers = sql::batch(tx, &batch)?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("batch:{batch}"),
            &payload::VouchersGenerated {
                batch: batch.clone(),
                plan: plan.name.clone(),
                count,
            },
        ),
    )?;
    Ok((batch, vouchers))
}

/// Redeems unused voucher `code`: creates its subscriber (code as user name and password) and
/// grants the plan. None when the code is not an unused voucher.
pub(crate) fn redeem(
    tx: &mut Tx<'_>,
    secrets: &Secrets,
    now: Timestamp,
    code: &str,
) -> Result<Option<Subscriber>, DomainError> {
    let Some((voucher, plan)) = sql::unused(tx, code)? else {
        return Ok(None);
    };
    if !sql::mark_redeemed(tx, voucher.id, now)? {
        return Ok(None);
    }
    let new = NewSubscriber {
        username: voucher.code.clone(),
        kind: if plan.kind == PlanKind::Pppoe {
            SubscriberKind::Pppoe
        } else {
            SubscriberKind::Hotspot
        },
        password: Some(voucher.code.clone()),
        ..NewSubscriber::default()
    };
    let subscriber = subscribers::create(tx, secrets, &Actor::System, now, new)?;
    sql::set_subscriber(tx, voucher.id, subscriber.id.0)?;
    let origin = Origin {
        source: Source::Voucher,
        payment_id: None,
        voucher_id: Some(voucher.id),
    };
    let subscription = subscriptions::grant(tx, &Actor::System, now, &subscriber, &plan, origin)?;
    tx.emit(
        now,
        &Actor::System,
        NewEvent::new(
            format!("voucher:{}", voucher.code),
            &payload::VoucherRedeemed {
                voucher_id: voucher.id,
                code: voucher.code.clone(),
                batch: voucher.batch.clone(),
                plan: plan.name.clone(),
                subscriber_id: subscriber.id,
                subscription_id: subscription.id,
            },
        ),
    )?;
    Ok(Some(subscriber))
}

/// The vouchers as CSV (code, plan, batch, state), for printing or a spreadsheet.
pub(crate) fn csv(vouchers: &[Voucher]) -> String {
    let mut out = String::from("code,plan,batch,state\n");
    for v in vouchers {
        out.push_str(&format!(
            "{},{},{},{}\n",
            v.code,
            csv_field(&v.plan),
            v.batch,
            v.state
        ));
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A printable A4 sheet of voucher cards (HTML, prints 3 across).
pub(crate) fn sheet(site_name: &str, plan: &Plan, vouchers: &[Voucher]) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let price = format!(
        "{}.{:02} {}",
        plan.price / 100,
        plan.price % 100,
        plan.currency
    );
    let cards: String = vouchers
        .iter()
        .map(|v| {
            format!(
                "<div class=card><div class=site>{}</div><div class=plan>{} · {}</div><div class=code>{}</div><div class=hint>Enter the code as user name and password</div></div>\n",
                escape(site_name), escape(&plan.name), escape(&price), escape(&v.code)
            )
        })
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Vouchers {batch}</title><style>\
         @page{{size:A4;margin:10mm}}body{{font-family:sans-serif;margin:0}}\
         .grid{{display:grid;grid-template-columns:repeat(3,1fr);gap:4mm}}\
         .card{{border:1px dashed #444;padding:4mm;break-inside:avoid}}\
         .site{{font-size:9pt;color:#555}}.plan{{font-weight:bold}}\
         .code{{font:bold 18pt monospace;letter-spacing:2px;margin:2mm 0}}.hint{{font-size:7pt;color:#777}}\
         </style></head><body><div class=grid>\n{cards}</div></body></html>\n",
        batch = escape(vouchers.first().map_or("", |v| v.batch.as_str())),
    )
}
