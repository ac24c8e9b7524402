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
