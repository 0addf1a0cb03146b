//! The duplicate-request cache (sans-IO; time is passed in). Keyed by (source address,
//! identifier, Request Authenticator): a retransmit of a finished request gets the byte-identical
//! reply without asking the policy again (no second accounting write); a retransmit of a request
//! still in progress is dropped. Finished replies are kept for a TTL (FreeRADIUS
//! `cleanup_delay`, 5 s); the entry count is bounded.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// foldhash rather than std's SipHash: the key is 40 bytes hashed three times per request
/// (begin, complete, expiry), and SipHash was 2 % of a login's instructions. Keys come only
/// from packets that passed the client's shared secret, and the seed is random per cache.
type Hasher = foldhash::fast::RandomState;

/// Identifies one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// UDP source of the request.
    pub source: SocketAddr,
    /// The packet identifier.
    pub identifier: u8,
    /// The Request Authenticator.
    pub authenticator: [u8; 16],
}

/// What to do with an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// First time seen: process it, then call [`ReplyCache::complete`] or [`ReplyCache::abandon`].
    New,
    /// Being processed now: drop this copy.
    InProgress,
    /// Already answered: send these bytes again.
    Replay(Arc<[u8]>),
    /// Every slot holds a request in progress: drop.
    Full,
}

#[derive(Debug)]
enum Entry {
    InProgress,
    Done { reply: Arc<[u8]>, at: Instant },
}

/// The cache. Not thread-safe by itself; the server keeps it behind a mutex.
#[derive(Debug)]
pub struct ReplyCache {
    entries: HashMap<CacheKey, Entry, Hasher>,
    /// Finished entries in completion order, for expiry and eviction.
    finished: VecDeque<(CacheKey, Instant)>,
    ttl: Duration,
    capacity: usize,
}

impl ReplyCache {
    /// A cache holding at most `capacity` requests, answering retransmits for `ttl`.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::with_hasher(Hasher::default()),
            finished: VecDeque::new(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// Looks the request up, marking it in progress when it is new.
    pub fn begin(&mut self, key: CacheKey, now: Instant) -> Lookup {
        self.expire(now);
        match self.entries.get(&key) {
            Some(Entry::InProgress) => return Lookup::InProgress,
            Some(Entry::Done { reply, .. }) => return Lookup::Replay(reply.clone()),
            None => {}
        }
        // Full: evict the oldest finished replies early (losing only their retransmit
        // protection) rather than refuse new work.
        while self.entries.len() >= self.capacity {
            let Some((old, at)) = self.finished.pop_front() else {
                return Lookup::Full;
            };
            self.remove_if_done_at(old, at);
        }
        self.entries.insert(key, Entry::InProgress);
        Lookup::New
    }

    /// Stores the reply sent for a request begun with [`Self::begin`].
    pub fn complete(&mut self, key: CacheKey, reply: Arc<[u8]>, now: Instant) {
        self.entries.insert(key, Entry::Done { reply, at: now });
        self.finished.push_back((key, now));
    }

    /// Forgets a request that got no reply, so that the NAS's retransmit is processed.
    pub fn abandon(&mut self, key: CacheKey) {
        if let MapEntry::Occupied(entry) = self.entries.entry(key)
            && matches!(entry.get(), Entry::InProgress)
        {
            entry.remove();
        }
    }

    /// The number of requests held (in progress or answered).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(key, at)) = self.finished.front() {
            if now.saturating_duration_since(at) < self.ttl {
                break;
            }
            self.finished.pop_front();
            self.remove_if_done_at(key, at);
        }
    }

    fn remove_if_done_at(&mut self, key: CacheKey, at: Instant) {
        if let MapEntry::Occupied(entry) = self.entries.entry(key)
            && matches!(entry.get(), Entry::Done { at: done, .. } if *done == at)
        {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(identifier: u8) -> CacheKey {
        CacheKey {
            source: "10.0.0.1:40000".parse().unwrap(),
            identifier,
            authenticator: [identifier; 16],
        }
    }

    #[test]
    fn retransmits_are_replayed_then_expire() {
        let start = Instant::now();
        let mut cache = ReplyCache::new(Duration::from_secs(5), 10);
        assert_eq!(cache.begin(key(1), start), Lookup::New);
        assert_eq!(cache.begin(key(1), start), Lookup::InProgress);
        let reply: Arc<[u8]> = Arc::from(&b"reply"[..]);
        cache.complete(key(1), reply.clone(), start);
        assert_eq!(
            cache.begin(key(1), start + Duration::from_secs(4)),
            Lookup::Replay(reply)
        );
        // Same id, new authenticator: a new request.
        let other = CacheKey {
            authenticator: [9; 16],
            ..key(1)
        };
        assert_eq!(cache.begin(other, start), Lookup::New);
        assert_eq!(
            cache.begin(key(1), start + Duration::from_secs(5)),
            Lookup::New
        );
    }

    #[test]
    fn abandoned_requests_are_processed_again() {
        let now = Instant::now();
        let mut cache = ReplyCache::new(Duration::from_secs(5), 10);
        assert_eq!(cache.begin(key(1), now), Lookup::New);
        cache.abandon(key(1));
        assert!(cache.is_empty());
        assert_eq!(cache.begin(key(1), now), Lookup::New);
    }

    #[test]
    fn bounded_evicting_oldest_finished_first() {
        let now = Instant::now();
        let mut cache = ReplyCache::new(Duration::from_secs(5), 2);
        assert_eq!(cache.begin(key(1), now), Lookup::New);
        cache.complete(key(1), Arc::from(&b"1"[..]), now);
        assert_eq!(cache.begin(key(2), now), Lookup::New);
        // Full: key 1 (finished) is evicted for key 3.
        assert_eq!(cache.begin(key(3), now), Lookup::New);
        assert_eq!(cache.len(), 2);
        // Keys 2 and 3 are in progress: no room.
        assert_eq!(cache.begin(key(4), now), Lookup::Full);
    }
}
