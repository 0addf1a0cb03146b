//! The access policy RADIUS applies: given who is asking, how they proved it and what the store
//! knows, accept with the limits to enforce, or reject with a reason a person can read.
//!
//! A pure function: no IO, so every rule is tested with plain values.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::model::plan::Plan;
use crate::model::subscriber::{Subscriber, SubscriberState};
use crate::model::subscription::{Subscription, SubscriptionState};

/// How the credentials checked out (the RADIUS server verifies them, not the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// The proof matches.
    Verified,
    /// No such user.
    UnknownUser,
    /// Wrong password.
    WrongPassword,
    /// A MAC-auth login whose user name is not the device's MAC.
    MacMismatch,
    /// No usable proof in the request, or one the stored credential cannot check.
    Unusable,
}

/// What the store knows about the user at the moment of the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    /// The subscriber.
    pub subscriber: &'a Subscriber,
    /// Its current subscription (active, else the next queued), or when it has none its most
    /// recent one (to say why it ended).
    pub subscription: Option<&'a Subscription>,
    /// That subscription's plan.
    pub plan: Option<&'a Plan>,
    /// The MACs of its other live sessions (not the requesting device's).
    pub other_devices: &'a [String],
    /// The requesting device's MAC.
    pub mac: Option<&'a str>,
    /// Now.
    pub now: Timestamp,
}

/// Why a login is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// No such user.
    UnknownUser,
    /// Wrong password.
    WrongPassword,
    /// The device is not one the account is bound to.
    MacNotBound,
    /// The account is suspended.
    Suspended,
    /// No plan bought, or none left.
    NoPlan,
    /// The plan's validity has run out.
    Expired,
    /// The online time is used up.
    TimeUsedUp,
    /// The data is used up.
    DataUsedUp,
    /// The plan's device limit is reached.
    TooManyDevices,
    /// The login could not be checked (no password sent, or a method the account cannot use).
    BadRequest,
}

/// A refusal: the reason and the text shown on the login page (Reply-Message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Machine reason.
    pub reason: Reason,
    /// For the person logging in.
    pub message: String,
}

/// What an accepted login is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// Session-Timeout: the lesser of the online time left and the time to expiry.
    pub session_timeout: u32,
    /// Idle-Timeout.
    pub idle_timeout: Option<u32>,
    /// Acct-Interim-Interval.
    pub interim: u32,
    /// Mikrotik-Rate-Limit.
    pub rate_limit: Option<String>,
    /// Bytes left (Mikrotik-Total-Limit with gigawords).
    pub total_limit: Option<u64>,
    /// Class, echoed in accounting: which subscription this session belongs to.
    pub class: String,
    /// Bind this MAC to the account (MAC binding on first login).
    pub bind_mac: Option<String>,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Access-Accept.
    Accept(Grant),
    /// Access-Reject.
    Reject(Refusal),
}

fn reject(reason: Reason, message: impl Into<String>) -> Verdict {
    Verdict::Reject(Refusal {
        reason,
        message: message.into(),
    })
}

/// Decides a login. `facts` is None when the user is unknown.
pub(crate) fn decide(proof: Proof, facts: Option<Facts<'_>>) -> Verdict {
    match proof {
        Proof::Verified => {}
        Proof::UnknownUser => {
            return reject(Reason::UnknownUser, "Unknown user name or voucher code");
        }
        Proof::WrongPassword => return reject(Reason::WrongPassword, "Wrong password"),
        Proof::MacMismatch => {
            return reject(
                Reason::MacNotBound,
                "This device is not registered to the account",
            );
        }
        Proof::Unusable => {
            return reject(
                Reason::BadRequest,
                "The login could not be checked; try again",
            );
        }
    }
    let Some(facts) = facts else {
        return reject(Reason::UnknownUser, "Unknown user name or voucher code");
    };
    if facts.subscriber.state != SubscriberState::Active {
        return reject(
            Reason::Suspended,
            "This account is suspended; contact the shop",
        );
    }
    let (Some(subscription), Some(plan)) = (facts.subscription, facts.plan) else {
        return reject(
            Reason::NoPlan,
            "No active plan: buy a plan or enter a voucher",
        );
    };
    match subscription.state {
        SubscriptionState::Active => {}
        // The last plan ended: say how, so the customer knows what to buy.
        SubscriptionState::Expired => {
            return reject(
                Reason::Expired,
                "Your plan has expired: buy a new one to continue",
            );
        }
        SubscriptionState::Exhausted if subscription.data_left() == Some(0) => {
            return reject(Reason::DataUsedUp, "Your plan's data is used up");
        }
        SubscriptionState::Exhausted => {
            return reject(Reason::TimeUsedUp, "Your plan's time is used up");
        }
        SubscriptionState::Queued | SubscriptionState::Cancelled => {
            return reject(
                Reason::NoPlan,
                "No active plan: buy a plan or enter a voucher",
            );
        }
    }
    let Some(expires_at) = subscription.expires_at.filter(|at| *at > facts.now) else {
        return reject(
            Reason::Expired,
            "Your plan has expired: buy a new one to continue",
        );
    };
    if subscription.time_left() == Some(0) {
        return reject(Reason::TimeUsedUp, "Your plan's time is used up");
    }
    if subscription.data_left() == Some(0) {
        return reject(Reason::DataUsedUp, "Your plan's data is used up");
    }
    let shared = plan.shared_users as usize;
    let mut bind_mac = None;
    if plan.mac_binding {
        match facts.mac {
            Some(mac) if facts.subscriber.macs.iter().any(|m| m == mac) => {}
            Some(mac) if facts.subscriber.macs.len() < shared => bind_mac = Some(mac.to_string()),
            Some(_) => {
                return reject(
                    Reason::MacNotBound,
                    "This account is registered to another device",
                );
            }
            None => {
                return reject(
                    Reason::MacNotBound,
                    "This account only works on its registered device",
                );
            }
        }
    }
    let mut devices: Vec<&str> = facts
        .other_devices
        .iter()
        .map(String::as_str)
        .filter(|m| Some(*m) != facts.mac)
        .collect();
    devices.sort_unstable();
    devices.dedup();
    if devices.len() >= shared {
        return reject(
            Reason::TooManyDevices,
            format!("Too many devices: this plan allows {shared} at a time"),
        );
    }
    // Never more than the subscription's own length, whatever the clock said when it began.
    let length = subscription
        .starts_at
        .map_or(Duration::MAX, |starts| expires_at.since(starts));
    let until_expiry = expires_at.since(facts.now).min(length).as_secs();
    let mut timeout = until_expiry;
    if let Some(left) = subscription.time_left() {
        timeout = timeout.min(left as u64);
    }
    Verdict::Accept(Grant {
        session_timeout: u32::try_from(timeout.max(1)).unwrap_or(u32::MAX),
        idle_timeout: plan.idle_timeout_s,
        interim: plan.interim_s,
        rate_limit: plan.rate_limit.clone(),
        total_limit: subscription.data_left().map(|left| left as u64),
        class: format!("sitebox:subscription:{}", subscription.id.0),
        bind_mac,
    })
}
