//! Subscribers: hotspot or PPPoE accounts, with their credentials sealed at rest and the MACs
//! they are bound to.

use super::error::ensure;
use super::mac;
use super::{Account, DomainError};
use crate::clock::Timestamp;
use crate::model::event::payload::{self, SubscriberFacts};
use crate::model::event::{Actor, NewEvent};
use crate::model::subscriber::{NewSubscriber, Subscriber, SubscriberState};
use crate::secrets::{Field, Secrets};
use crate::store::{Tx, subscribers as sql};

/// Creates a subscriber; its credentials are sealed, its MACs normalized and bound.
pub fn create(
    tx: &mut Tx<'_>,
    secrets: &Secrets,
    actor: &Actor,
    now: Timestamp,
    new: NewSubscriber,
) -> Result<Subscriber, DomainError> {
    let mut new = new;
    if new.mac_auth {
        new.username = mac::normalize(&new.username).ok_or_else(|| {
            DomainError::Invalid(format!(
                "`{}` is not a MAC address (MAC-auth accounts log in by MAC)",
                new.username
            ))
        })?;
    }
    ensure(
        !new.username.is_empty()
            && new.username.len() <= 64
            && !new.username.chars().any(char::is_whitespace),
        || "username must be 1-64 characters without spaces".into(),
    )?;
    ensure(
        new.mac_auth || new.password.is_some() || new.nt_hash.is_some(),
        || "a password is needed (or --mac-auth)".into(),
    )?;
    let macs: Vec<String> = new
        .macs
        .iter()
        .map(|m| {
            mac::normalize(m)
                .ok_or_else(|| DomainError::Invalid(format!("`{m}` is not a MAC address")))
        })
        .collect::<Result<_, _>>()?;
    if sql::by_username(tx, &new.username)?.is_some() {
        return Err(DomainError::Exists(format!(
            "subscriber `{}`",
            new.username
        )));
    }
    let password = match &new.password {
        Some(password) => Some(secrets.seal(Field::SubscriberPassword, password.as_bytes())?),
        None => None,
    };
    let nt_hash = match &new.nt_hash {
        Some(hash) => Some(secrets.seal(Field::SubscriberNtHash, hash)?),
        None => None,
    };
    let id = sql::insert(tx, &new, password.as_deref(), nt_hash.as_deref(), now)?;
    for mac in &macs {
        sql::bind_mac(tx, id, mac, now)?;
    }
    let stored =
        sql::get(tx, id)?.ok_or_else(|| DomainError::NotFound(format!("subscriber {}", id.0)))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("subscriber:{}", stored.username),
            &payload::SubscriberCreated(SubscriberFacts::of(&stored)),
        ),
    )?;
    super::provisioning::subscriber_changed(tx, now, stored.id)?;
    Ok(stored)
}

/// What events, the page and `--json` say of a subscriber: no credentials, the phone masked.
pub fn public(subscriber: &Subscriber) -> serde_json::Value {
    serde_json::to_value(SubscriberFacts::of(subscriber)).unwrap_or_default()
}

/// Suspends an account: disabled on the routers, its sessions kicked.
pub fn suspend(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Account,
) -> Result<Subscriber, DomainError> {
    set_active(tx, actor, now, &args.username, false)
}

/// Reinstates a suspended account.
pub fn reinstate(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    args: Account,
) -> Result<Subscriber, DomainError> {
    set_active(tx, actor, now, &args.username, true)
}

/// Suspends (`active = false`) or reinstates a subscriber.
fn set_active(
    tx: &mut Tx<'_>,
    actor: &Actor,
    now: Timestamp,
    username: &str,
    active: bool,
) -> Result<Subscriber, DomainError> {
    let subscriber = sql::by_username(tx, username)?
        .ok_or_else(|| DomainError::NotFound(format!("subscriber `{username}`")))?;
    sql::set_state(
        tx,
        subscriber.id,
        if active {
            SubscriberState::Active
        } else {
            SubscriberState::Suspended
        },
        now,
    )?;
    let stored = sql::get(tx, subscriber.id)?
        .ok_or_else(|| DomainError::NotFound(format!("subscriber `{username}`")))?;
    tx.emit(
        now,
        actor,
        NewEvent::new(
            format!("subscriber:{username}"),
            &payload::SubscriberUpdated(SubscriberFacts::of(&stored)),
        ),
    )?;
    if active {
        super::provisioning::subscriber_changed(tx, now, stored.id)?;
    } else {
        super::provisioning::subscriber_suspended(tx, now, stored.id, &stored.username)?;
    }
    Ok(stored)
}

/// Binds `mac` to the subscriber (MAC binding on first login).
pub fn bind_mac(
    tx: &mut Tx<'_>,
    now: Timestamp,
    subscriber: &Subscriber,
    mac: &str,
) -> Result<(), DomainError> {
    sql::bind_mac(tx, subscriber.id, mac, now)?;
    tx.emit(
        now,
        &Actor::System,
        NewEvent::new(
            format!("subscriber:{}", subscriber.username),
            &payload::SubscriberMacBound {
                username: subscriber.username.clone(),
                mac: mac.to_string(),
            },
        ),
    )?;
    Ok(())
}
