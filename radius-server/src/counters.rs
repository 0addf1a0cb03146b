//! Counters per NAS and per reject reason, readable as a snapshot for metrics and the web page.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::policy::RejectReason;

/// Why a packet got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropCause {
    /// Source address not in the client table.
    UnknownClient,
    /// Not a RADIUS packet, or a required attribute missing.
    Malformed,
    /// A code this port does not serve.
    UnexpectedCode,
    /// Request Authenticator does not match the secret.
    BadAuthenticator,
    /// Message-Authenticator does not match the secret.
    BadMessageAuthenticator,
    /// Message-Authenticator absent where required.
    MissingMessageAuthenticator,
    /// A retransmit of a request still being processed.
    InProgress,
    /// The duplicate cache is full of requests in progress.
    Overloaded,
    /// The policy failed or timed out.
    PolicyFailed,
    /// The reply could not be encoded (over 4096 bytes).
    ReplyTooLong,
}

impl DropCause {
    /// A stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown_client",
            Self::Malformed => "malformed",
            Self::UnexpectedCode => "unexpected_code",
            Self::BadAuthenticator => "bad_authenticator",
            Self::BadMessageAuthenticator => "bad_message_authenticator",
            Self::MissingMessageAuthenticator => "missing_message_authenticator",
            Self::InProgress => "in_progress",
            Self::Overloaded => "overloaded",
            Self::PolicyFailed => "policy_failed",
            Self::ReplyTooLong => "reply_too_long",
        }
    }
}

/// What happened with one NAS's packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NasCounters {
    /// Access-Accepts sent (first sends, not replays).
    pub accepts: u64,
    /// Access-Rejects sent, by reason.
    pub rejects: BTreeMap<RejectReason, u64>,
    /// Accounting records the policy stored (Accounting-Responses sent).
    pub acct_writes: u64,
    /// Status-Server requests answered.
    pub status_server: u64,
    /// Retransmits answered from the reply cache.
    pub duplicates: u64,
    /// Packets dropped, by cause.
    pub drops: BTreeMap<DropCause, u64>,
}

/// A copy of every counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Per NAS, by client name.
    pub nas: BTreeMap<String, NasCounters>,
    /// Packets from addresses not in the client table (not per NAS: the set is unbounded).
    pub unknown_client_drops: u64,
}

impl CountersSnapshot {
    /// Rejects by reason over all NASes.
    pub fn rejects_by_reason(&self) -> BTreeMap<RejectReason, u64> {
        let mut total = BTreeMap::new();
        for nas in self.nas.values() {
            for (reason, count) in &nas.rejects {
                *total.entry(*reason).or_default() += count;
            }
        }
        total
    }

    /// Drops of one cause over all NASes (plus unknown clients for that cause).
    pub fn drops(&self, cause: DropCause) -> u64 {
        let known: u64 = self.nas.values().filter_map(|n| n.drops.get(&cause)).sum();
        if cause == DropCause::UnknownClient {
            known + self.unknown_client_drops
        } else {
            known
        }
    }
}

/// The live counters. Cheap to update; share as `Arc<Counters>`.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<CountersSnapshot>,
}

impl Counters {
    /// A copy of the current values.
    pub fn snapshot(&self) -> CountersSnapshot {
        self.lock().clone()
    }

    pub(crate) fn accept(&self, nas: &str) {
        self.with_nas(nas, |c| c.accepts += 1);
    }

    pub(crate) fn reject(&self, nas: &str, reason: RejectReason) {
        self.with_nas(nas, |c| *c.rejects.entry(reason).or_default() += 1);
    }

    pub(crate) fn acct_write(&self, nas: &str) {
        self.with_nas(nas, |c| c.acct_writes += 1);
    }

    pub(crate) fn status_server(&self, nas: &str) {
        self.with_nas(nas, |c| c.status_server += 1);
    }

    pub(crate) fn duplicate(&self, nas: &str) {
        self.with_nas(nas, |c| c.duplicates += 1);
    }

    pub(crate) fn dropped(&self, nas: &str, cause: DropCause) {
        self.with_nas(nas, |c| *c.drops.entry(cause).or_default() += 1);
    }

    pub(crate) fn unknown_client(&self) {
        self.lock().unknown_client_drops += 1;
    }

    fn with_nas(&self, nas: &str, change: impl FnOnce(&mut NasCounters)) {
        let mut inner = self.lock();
        if let Some(counters) = inner.nas.get_mut(nas) {
            change(counters);
        } else {
            let mut counters = NasCounters::default();
            change(&mut counters);
            inner.nas.insert(nas.to_owned(), counters);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CountersSnapshot> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_rolls_up() {
        let counters = Counters::default();
        counters.accept("r1");
        counters.reject("r1", RejectReason::Expired);
        counters.reject("r2", RejectReason::Expired);
        counters.dropped("r2", DropCause::BadMessageAuthenticator);
        counters.unknown_client();
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.nas["r1"].accepts, 1);
        assert_eq!(snapshot.rejects_by_reason()[&RejectReason::Expired], 2);
        assert_eq!(snapshot.drops(DropCause::BadMessageAuthenticator), 1);
        assert_eq!(snapshot.drops(DropCause::UnknownClient), 1);
    }
}
