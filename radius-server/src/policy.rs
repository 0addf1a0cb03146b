//! The policy the daemon implements: it looks users up and decides; this crate verifies the
//! credentials itself, so a policy can never accept a wrong password by mistake.
//!
//! For an Access-Request the server hands [`Policy::login`] a [`Check`]: the policy finds the
//! user's [`Credential`], asks [`Check::verify`], and decides. Lookup, verification and decision
//! can so happen in one pass over the store. The server keeps what `verify` answered: an `Accept`
//! stands only when the last verification said [`Verification::Verified`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::accounting::AccountingRecord;
use crate::clients::Client;
use crate::reply::AcceptAttributes;
use crate::request::{AccessRequest, Proof};
pub use crate::verify::{Credential, NtHash, Verification};
use crate::verify::{Verified, verify};

/// Answers the server's questions. Implementations run their store work off the async workers
/// (or keep it to a few microseconds) and must be idempotent for accounting: a NAS resends a
/// record (with a new Acct-Delay-Time) when the response is lost.
pub trait Policy: Send + Sync + 'static {
    /// Accept or reject an Access-Request: look up the credential of `check.request()`, verify
    /// it with [`Check::verify`], decide. A policy that never calls `verify` gets a reject.
    fn login(&self, check: Check) -> impl Future<Output = Result<Decision, PolicyError>> + Send;

    /// Stores an accounting record durably. The Accounting-Response is sent only after `Ok`;
    /// on `Err` nothing is sent and the NAS will retry.
    fn account(
        &self,
        record: &AccountingRecord,
    ) -> impl Future<Output = Result<(), PolicyError>> + Send;
}

/// An Access-Request as the policy sees it, with what the server needs to check its proof (the
/// NAS's secret and the Request Authenticator). Cheap to clone; every clone records into the
/// same outcome, which the server reads once the policy has answered.
#[derive(Clone)]
pub struct Check {
    inner: Arc<CheckInner>,
}

struct CheckInner {
    request: AccessRequest,
    proof: Proof,
    /// The NAS it came from, for its shared secret.
    client: Arc<Client>,
    authenticator: [u8; 16],
    outcome: Mutex<Option<Verified>>,
}

impl Check {
    pub(crate) fn new(
        request: AccessRequest,
        proof: Proof,
        client: Arc<Client>,
        authenticator: [u8; 16],
    ) -> Self {
        Self {
            inner: Arc::new(CheckInner {
                request,
                proof,
                client,
                authenticator,
                outcome: Mutex::new(None),
            }),
        }
    }

    /// The request.
    pub fn request(&self) -> &AccessRequest {
        &self.inner.request
    }

    /// Checks the request's proof against `credential` and records the outcome for the server.
    pub fn verify(&self, credential: &Credential) -> Verification {
        let inner = &*self.inner;
        let verified = verify(
            &inner.request,
            &inner.proof,
            credential,
            inner.client.secret(),
            &inner.authenticator,
        );
        let verification = verified.verification;
        *inner.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(verified);
        verification
    }

    /// What the last [`Check::verify`] found; `None` when it was never called.
    pub(crate) fn outcome(&self) -> Option<Verified> {
        self.inner
            .outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl std::fmt::Debug for Check {
    // The proof and the secret stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("request", &self.inner.request)
            .finish_non_exhaustive()
    }
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Access-Accept with these attributes.
    Accept(AcceptAttributes),
    /// Access-Reject.
    Reject(Rejection),
}

/// Why a user is refused: a machine reason (counted) and a human message (Reply-Message, shown
/// on the hotspot login page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The machine reason.
    pub reason: RejectReason,
    /// Sent as Reply-Message; empty sends none.
    pub message: String,
}

/// Machine reasons for a reject, used as counter labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    UnknownUser,
    BadCredentials,
    MacMismatch,
    MethodNotAllowed,
    NoActiveSubscription,
    Expired,
    TimeExhausted,
    DataExhausted,
    SimultaneousUse,
    Suspended,
    /// The login is valid but needs a write the store cannot make now (a full or failing
    /// disk): a voucher's first login, a MAC binding. Answered, not dropped, so that the device
    /// shows the message instead of timing out.
    Unavailable,
    Other,
}

impl RejectReason {
    /// A stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_user",
            Self::BadCredentials => "bad_credentials",
            Self::MacMismatch => "mac_mismatch",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NoActiveSubscription => "no_active_subscription",
            Self::Expired => "expired",
            Self::TimeExhausted => "time_exhausted",
            Self::DataExhausted => "data_exhausted",
            Self::SimultaneousUse => "simultaneous_use",
            Self::Suspended => "suspended",
            Self::Unavailable => "unavailable",
            Self::Other => "other",
        }
    }
}

impl Rejection {
    /// A rejection with a message.
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// The rejection the server substitutes when a policy accepts an unverified request.
    pub(crate) fn for_verification(verification: Verification) -> Self {
        let reason = match verification {
            Verification::UnknownUser => RejectReason::UnknownUser,
            Verification::MacMismatch => RejectReason::MacMismatch,
            Verification::MethodUnavailable => RejectReason::MethodNotAllowed,
            Verification::Verified | Verification::WrongPassword | Verification::NoProof => {
                RejectReason::BadCredentials
            }
        };
        Self::new(reason, "Invalid username or password")
    }
}

/// A failure in the policy (store unavailable, timeout). The request is dropped without a reply
/// and the NAS retries.
#[derive(Debug, thiserror::Error)]
#[error("policy failed: {0}")]
pub struct PolicyError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl PolicyError {
    /// Wraps any error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}
