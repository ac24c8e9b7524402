//! Replay detection (BOLT 4, "Packet Forwarding": a packet "previously
//! forwarded or locally redeemed" must be refused).
//!
//! The library keeps no state of its own: the host backs the cache (in
//! memory, on disk, a Bloom filter) and may forget a secret once its HTLC's
//! `outgoing_cltv_value` has passed.

use std::collections::HashSet;

/// A set of shared secrets already seen.
pub trait SharedSecretCache {
    /// Records `shared_secret` and returns `true` if it was new, `false` if
    /// it was seen before (a replay).
    fn check_and_insert(&mut self, shared_secret: &[u8; 32]) -> bool;
}

/// An unbounded in-memory cache, for tests and small nodes.
#[derive(Debug, Default, Clone)]
pub struct InMemorySharedSecretCache {
    seen: HashSet<[u8; 32]>,
}

impl InMemorySharedSecretCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets a secret (its HTLC has expired).
    pub fn remove(&mut self, shared_secret: &[u8; 32]) {
        self.seen.remove(shared_secret);
    }

    /// How many secrets are held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

impl SharedSecretCache for InMemorySharedSecretCache {
    fn check_and_insert(&mut self, shared_secret: &[u8; 32]) -> bool {
        self.seen.insert(*shared_secret)
    }
}

/// The node's replay cache for received HTLCs: each shared secret with the
/// HTLC that brought it (channel id, HTLC id) and that HTLC's
/// `cltv_expiry`, in memory and bounded.
///
/// The same HTLC processed again (after a reconnection or a restart the
/// node answers the HTLCs still pending) is not a replay; the same secret
/// in another HTLC is. Entries are forgotten once the chain passes their
/// HTLC's `cltv_expiry` (that HTLC is resolved by then), and when
/// `capacity` entries are held, the one expiring first makes room.
#[derive(Debug, Clone)]
pub struct HtlcReplayCache {
    seen: std::collections::HashMap<[u8; 32], ([u8; 32], u64, u32)>,
    by_expiry: std::collections::BTreeSet<(u32, [u8; 32])>,
    capacity: usize,
}

impl HtlcReplayCache {
    /// An empty cache holding at most `capacity` secrets (at least one).
    pub fn new(capacity: usize) -> Self {
        HtlcReplayCache {
            seen: std::collections::HashMap::new(),
            by_expiry: std::collections::BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Forgets the secrets of HTLCs whose `cltv_expiry` is below `height`.
    pub fn expire(&mut self, height: u32) {
        while let Some(&(expiry, secret)) = self.by_expiry.first() {
            if expiry >= height {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&secret);
        }
    }

    /// The cache as seen by one HTLC, for
    /// [`process_htlc_onion`](super::process_htlc_onion).
    pub fn for_htlc(
        &mut self,
        channel_id: [u8; 32],
        htlc_id: u64,
        cltv_expiry: u32,
    ) -> HtlcReplayScope<'_> {
        HtlcReplayScope {
            cache: self,
            htlc: (channel_id, htlc_id, cltv_expiry),
        }
    }

    /// How many secrets are held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// [`HtlcReplayCache::for_htlc`].
#[derive(Debug)]
pub struct HtlcReplayScope<'a> {
    cache: &'a mut HtlcReplayCache,
    htlc: ([u8; 32], u64, u32),
}

impl SharedSecretCache for HtlcReplayScope<'_> {
    fn check_and_insert(&mut self, shared_secret: &[u8; 32]) -> bool {
        let (channel, id, expiry) = self.htlc;
        if let Some((c, i, _)) = self.cache.seen.get(shared_secret) {
            return *c == channel && *i == id;
        }
        if self.cache.seen.len() >= self.cache.capacity {
            if let Some((_, oldest)) = self.cache.by_expiry.pop_first() {
                self.cache.seen.remove(&oldest);
            }
        }
        self.cache
            .seen
            .insert(*shared_secret, (channel, id, expiry));
        self.cache.by_expiry.insert((expiry, *shared_secret));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_htlc_again_is_not_a_replay_another_is() {
        let mut cache = HtlcReplayCache::new(2);
        assert!(cache.for_htlc([1; 32], 0, 100).check_and_insert(&[7; 32]));
        assert!(cache.for_htlc([1; 32], 0, 100).check_and_insert(&[7; 32]));
        assert!(!cache.for_htlc([1; 32], 1, 100).check_and_insert(&[7; 32]));
        assert!(!cache.for_htlc([2; 32], 0, 100).check_and_insert(&[7; 32]));
        // Bounded: the earliest expiry makes room.
        assert!(cache.for_htlc([1; 32], 2, 200).check_and_insert(&[8; 32]));
        assert!(cache.for_htlc([1; 32], 3, 300).check_and_insert(&[9; 32]));
        assert_eq!(cache.len(), 2);
        assert!(cache.for_htlc([1; 32], 4, 100).check_and_insert(&[7; 32]));
        // Expired entries go.
        cache.expire(301);
        assert!(cache.is_empty());
    }
}
