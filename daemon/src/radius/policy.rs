//! The policy the RADIUS server asks: credentials and facts from the store, the decision from
//! [`crate::domain::policy`], accounting written durably before the server answers.

use std::time::Duration;

use rusqlite::Connection;
use sitebox_radius::{
    AcceptAttributes, AccountingRecord, AcctStatusType, Check, Credential, Decision, NtHash,
    Policy, PolicyError, RejectReason, Rejection, Secret, Verification,
};

use crate::clock::{SharedClock, Timestamp};
use crate::domain::accounting::{self, Record, Status};
use crate::domain::policy::{self, Facts, Proof, Reason, Verdict};
use crate::domain::subscribers;
use crate::domain::{DomainError, credentials, vouchers};
use crate::model::plan::Plan;
use crate::model::session::acct_session_key;
use crate::model::subscriber::{StoredCredential, Subscriber};
use crate::model::subscription::Subscription;
use crate::secrets::Secrets;
use crate::store::{
    Store, StoreError, plans, routers, sessions, subscribers as subscriber_sql, subscriptions,
    vouchers as voucher_sql,
};

/// Answers the RADIUS server from the store.
#[derive(Debug, Clone)]
pub(crate) struct StorePolicy {
    store: Store,
    secrets: Secrets,
    clock: SharedClock,
}

impl StorePolicy {
    /// A policy over `store`.
    pub(crate) fn new(store: Store, secrets: Secrets, clock: SharedClock) -> Self {
        Self {
            store,
            secrets,
            clock,
        }
    }
}

fn failed(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> PolicyError {
    PolicyError::new(err)
}

/// The account a typed user name logs into: the name itself, else (voucher codes are read
/// without regard to case) its upper-case form.
fn account_name(conn: &Connection, typed: &str) -> Result<Option<String>, DomainError> {
    if subscriber_sql::by_username(conn, typed)?.is_some() {
        return Ok(Some(typed.to_string()));
    }
    let upper = typed.to_uppercase();
    if upper != typed && subscriber_sql::by_username(conn, &upper)?.is_some() {
        return Ok(Some(upper));
    }
    Ok(None)
}

impl StorePolicy {
    /// The verdict of a login that needs a write: a first voucher login redeems the voucher, a
    /// login that binds the device's MAC records it.
    async fn write_verdict(
        &self,
        typed: String,
        device: Option<String>,
        now: Timestamp,
    ) -> Result<Verdict, WriteFailed> {
        let secrets = self.secrets.clone();
        self.store
            .write(move |tx| {
                let mut name = account_name(tx, &typed)?;
                if name.is_none() {
                    name = vouchers::redeem(tx, &secrets, now, &typed)?.map(|s| s.username);
                }
                let subscriber = name
                    .as_deref()
                    .map(|n| subscriber_sql::by_username(tx, n))
                    .transpose()?
                    .flatten();
                let verdict = judge(tx, subscriber, device.as_deref(), now)?;
                if let (Verdict::Accept(grant), Some(name)) = (&verdict, &name)
                    && let Some(bind) = &grant.bind_mac
                    && let Some(subscriber) = subscriber_sql::by_username(tx, name)?
                {
                    subscribers::bind_mac(tx, now, &subscriber, bind)?;
                }
                Ok::<_, DomainError>(verdict)
            })
            .await
            .map_err(|err| match err {
                DomainError::Store(err) if store_unwritable(&err) => WriteFailed::Store(err),
                err => WriteFailed::Domain(err),
            })
    }
}

/// Why a login's write did not happen.
enum WriteFailed {
    /// The database could not take it (disk full, read-only, I/O error, commit failed).
    Store(StoreError),
    /// Anything else: a bug or a broken row, dropped as before (the NAS retries).
    Domain(DomainError),
}

/// Whether a store error means the disk refused the write (rather than a bug in it).
fn store_unwritable(err: &StoreError) -> bool {
    match err {
        StoreError::Commit(_) | StoreError::Begin(_) => true,
        StoreError::Sqlite(err) => matches!(
            err.sqlite_error_code(),
            Some(
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
            )
        ),
        _ => false,
    }
}

/// What one read decides about a login.
enum Reading {
    Decided(Verdict),
    /// Verified, but deciding writes (a voucher's first login, a MAC binding).
    NeedsWrite,
}

impl Policy for StorePolicy {
    async fn login(&self, check: Check) -> Result<Decision, PolicyError> {
        let typed = check.request().user_name.clone();
        // A MacAddress displays in the store's one form (`AA:BB:CC:DD:EE:FF`, what
        // mac::normalize gives): no second parse.
        let device = check.request().mac.map(|m| m.to_string());
        let now = self.clock.now();
        let secrets = self.secrets.clone();
        // Most logins only read: the credential, its verification and the decision in one go,
        // a handful of rows by index.
        let reading = {
            let (typed, device) = (typed.clone(), device.clone());
            self.store
                .read_short(move |conn| {
                    let (credential, subscriber) = credential(conn, &secrets, &typed)?;
                    let proof = match check.verify(&credential) {
                        Verification::Verified => Proof::Verified,
                        Verification::UnknownUser => Proof::UnknownUser,
                        Verification::WrongPassword => Proof::WrongPassword,
                        Verification::MacMismatch => Proof::MacMismatch,
                        Verification::NoProof | Verification::MethodUnavailable => Proof::Unusable,
                    };
                    if proof != Proof::Verified {
                        return Ok(Reading::Decided(policy::decide(proof, None)));
                    }
                    // Verified without an account: the code of an unused voucher, which its
                    // first login redeems.
                    let Some(subscriber) = subscriber else {
                        return Ok(Reading::NeedsWrite);
                    };
                    let verdict = judge(conn, Some(subscriber), device.as_deref(), now)?;
                    Ok::<_, DomainError>(match &verdict {
                        Verdict::Accept(grant) if grant.bind_mac.is_some() => Reading::NeedsWrite,
                        _ => Reading::Decided(verdict),
                    })
                })
                .await
                .map_err(failed)?
        };
        let verdict = match reading {
            Reading::Decided(verdict) => verdict,
            Reading::NeedsWrite => match self.write_verdict(typed.clone(), device, now).await {
                Ok(verdict) => verdict,
                // The credential was verified; only the write failed (a full or failing disk):
                // answer with the reason rather than leave the device waiting for nothing.
                Err(WriteFailed::Store(err)) => {
                    tracing::warn!(
                        user = typed,
                        error = %err,
                        "a login that needs a write (first voucher login, MAC binding) is \
                         rejected: the database cannot be written"
                    );
                    return Ok(Decision::Reject(Rejection::new(
                        RejectReason::Unavailable,
                        "Login unavailable right now, please try again in a few minutes",
                    )));
                }
                Err(WriteFailed::Domain(err)) => return Err(failed(err)),
            },
        };
        Ok(to_decision(verdict))
    }

    async fn account(&self, record: &AccountingRecord) -> Result<(), PolicyError> {
        let status = match record.status {
            AcctStatusType::Start => Status::Start,
            AcctStatusType::InterimUpdate => Status::Interim,
            AcctStatusType::Stop => Status::Stop(record.terminate_cause),
            AcctStatusType::AccountingOn | AcctStatusType::AccountingOff => Status::NasRestart,
            // Other types (e.g. Failed) carry no usage: acknowledged, not stored.
            AcctStatusType::Other(_) => return Ok(()),
        };
        let nas = record.nas.name.clone();
        let typed = record.user_name.clone().unwrap_or_default();
        let mac = record.mac.map(|m| m.to_string());
        let mut domain = Record {
            router_id: crate::model::RouterId(0),
            status,
            acct_session_id: acct_session_key(
                &record.session_id,
                &typed,
                mac.as_deref().or(record.calling_station_id.as_deref()),
            ),
            username: typed.clone(),
            mac,
            framed_ip: record.framed_ip.map(|ip| ip.to_string()),
            nas_port_id: record.nas_port_id.clone(),
            session_time_s: i64::from(record.session_time.unwrap_or(0)),
            input_octets: i64::try_from(record.input_octets).unwrap_or(i64::MAX),
            output_octets: i64::try_from(record.output_octets).unwrap_or(i64::MAX),
        };
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let router = routers::by_name(tx, &nas)?
                    .ok_or_else(|| DomainError::NotFound(format!("router `{nas}`")))?;
                domain.router_id = router.id;
                if let Some(name) = account_name(tx, &typed)? {
                    domain.username = name;
                }
                accounting::record(tx, now, &domain)
            })
            .await
            .map_err(failed)
    }
}

/// The credential a typed user name logs in with, and its account. The account is `None` only
/// for an unknown user or an unused voucher code (whose code is its password).
/// The name as typed is looked up with its credential in one go; only a miss goes through
/// [`account_name`] (a deleted account, a voucher code in lower case).
fn credential(
    conn: &Connection,
    secrets: &Secrets,
    typed: &str,
) -> Result<(Credential, Option<Subscriber>), DomainError> {
    let (name, stored) = match credentials::credential(conn, secrets, typed)? {
        Some(found) => (typed.to_string(), Some(found)),
        None => match account_name(conn, typed)? {
            Some(name) if name != typed => {
                let stored = credentials::credential(conn, secrets, &name)?;
                (name, stored)
            }
            Some(name) => (name, None),
            None => {
                // An unused voucher: its code is its password, as typed.
                let credential = match voucher_sql::unused(conn, typed)? {
                    Some(_) => Credential::Password(Secret::new(typed.as_bytes().to_vec())),
                    None => Credential::UnknownUser,
                };
                return Ok((credential, None));
            }
        },
    };
    let voucher_account = name != typed;
    let Some((subscriber, stored)) = stored else {
        return Ok((Credential::UnknownUser, None));
    };
    let credential = match stored {
        StoredCredential::Password(_) if voucher_account => {
            Credential::Password(Secret::new(typed.as_bytes().to_vec()))
        }
        StoredCredential::Password(password) => {
            Credential::Password(Secret::new(password.into_bytes()))
        }
        StoredCredential::NtHash(hash) => Credential::NtHash(NtHash(hash)),
        StoredCredential::MacAuth => Credential::MacAuth,
    };
    Ok((credential, Some(subscriber)))
}

/// Gathers the facts about the account and decides.
fn judge(
    conn: &Connection,
    subscriber: Option<Subscriber>,
    device: Option<&str>,
    now: Timestamp,
) -> Result<Verdict, DomainError> {
    let Some(subscriber) = subscriber else {
        return Ok(policy::decide(Proof::UnknownUser, None));
    };
    let subscription: Option<Subscription> = match subscriptions::current(conn, subscriber.id)? {
        Some(current) => Some(current),
        None => subscriptions::latest(conn, subscriber.id)?,
    };
    let plan: Option<Plan> = match &subscription {
        Some(s) => plans::get(conn, s.plan_id)?,
        None => None,
    };
    let other_devices = live_devices(conn, &subscriber, plan.as_ref(), now)?;
    Ok(policy::decide(
        Proof::Verified,
        Some(Facts {
            subscriber: &subscriber,
            subscription: subscription.as_ref(),
            plan: plan.as_ref(),
            other_devices: &other_devices,
            mac: device,
            now,
        }),
    ))
}

/// The MACs of the subscriber's open sessions that are still alive: heard from within three
/// interim intervals (a router that rebooted without Accounting-On leaves stale ones behind).
fn live_devices(
    conn: &Connection,
    subscriber: &Subscriber,
    plan: Option<&Plan>,
    now: Timestamp,
) -> Result<Vec<String>, DomainError> {
    let interim = plan.map_or(300, |p| u64::from(p.interim_s));
    let stale_before = now.before(Duration::from_secs(3 * interim + 60));
    Ok(sessions::open_for_subscriber(conn, subscriber.id)?
        .into_iter()
        .filter(|s| s.updated_at >= stale_before)
        .map(|s| s.mac.unwrap_or_else(|| format!("session:{}", s.id)))
        .collect())
}

fn to_decision(verdict: Verdict) -> Decision {
    match verdict {
        Verdict::Accept(grant) => Decision::Accept(AcceptAttributes {
            session_timeout: Some(grant.session_timeout),
            idle_timeout: grant.idle_timeout,
            acct_interim_interval: Some(grant.interim),
            rate_limit: grant.rate_limit,
            total_limit: grant.total_limit,
            class: Some(grant.class.into_bytes()),
            ..AcceptAttributes::default()
        }),
        Verdict::Reject(refusal) => {
            let reason = match refusal.reason {
                Reason::UnknownUser => RejectReason::UnknownUser,
                Reason::WrongPassword => RejectReason::BadCredentials,
                Reason::MacNotBound => RejectReason::MacMismatch,
                Reason::Suspended => RejectReason::Suspended,
                Reason::NoPlan => RejectReason::NoActiveSubscription,
                Reason::Expired => RejectReason::Expired,
                Reason::TimeUsedUp => RejectReason::TimeExhausted,
                Reason::DataUsedUp => RejectReason::DataExhausted,
                Reason::TooManyDevices => RejectReason::SimultaneousUse,
                Reason::BadRequest => RejectReason::MethodNotAllowed,
            };
            Decision::Reject(Rejection::new(reason, refusal.message))
        }
    }
}
