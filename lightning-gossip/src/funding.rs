//! The index from funding outpoints to channels, so that a block's inputs
//! can be matched against the graph's channels (BOLT 7, "Pruning the
//! Network View": "SHOULD monitor the funding transactions in the
//! blockchain, to identify channels that are being closed").
//!
//! A `short_channel_id` names the funding output by block height,
//! transaction index and output index; a spending input names it by txid
//! and output index. The index is filled when the graph learns a
//! channel's funding txid: from the host's [`UtxoLookup`](crate::UtxoLookup)
//! answer ([`UtxoAnswer::Unspent`](crate::UtxoAnswer::Unspent) carries it),
//! or from [`NetworkGraph::set_funding_outpoint`](crate::NetworkGraph::set_funding_outpoint)
//! (the node's own channels, whose outpoints it knows). A light client that
//! skips the lookup learns no other channel's outpoint: those channels
//! are pruned only by the two-week staleness rule.
//!
//! Compact: the key is the first 8 bytes of the txid XORed with the output
//! index (16 bytes an entry with the `short_channel_id`). A key is only a
//! candidate: a hit counts once the `short_channel_id`'s output index is
//! the input's and the input's last witness element is the channel's
//! funding witness script, built from the announced funding keys (every
//! valid spend of the P2WSH output carries it), so a txid ground to
//! collide with a channel's key prunes nothing. Colliding keys of distinct
//! channels (one in about 2^64 by chance; or ground on purpose) are kept
//! in a side list so neither hides the other.

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use bitcoin::Txid;

/// The index key of an outpoint.
pub(crate) fn key(txid: &Txid, vout: u32) -> u64 {
    let b = txid.as_byte_array();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&b[..8]);
    u64::from_le_bytes(prefix) ^ u64::from(vout)
}

/// Funding outpoint key → `short_channel_id`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FundingIndex {
    map: HashMap<u64, u64>,
    /// Entries whose key the map already holds for another channel.
    collisions: Vec<(u64, u64)>,
}

impl FundingIndex {
    /// Records `scid` under `key` (idempotent).
    pub(crate) fn insert(&mut self, key: u64, scid: u64) {
        match self.map.get(&key) {
            None => {
                self.map.insert(key, scid);
            }
            Some(s) if *s == scid => {}
            Some(_) => {
                if !self.collisions.contains(&(key, scid)) {
                    self.collisions.push((key, scid));
                }
            }
        }
    }

    /// The channels recorded under `key` (usually none, at most one but
    /// for collisions).
    pub(crate) fn get(&self, key: u64) -> impl Iterator<Item = u64> + '_ {
        let first = self.map.get(&key).copied();
        let more = if first.is_some() && !self.collisions.is_empty() {
            &self.collisions[..]
        } else {
            &[]
        };
        first
            .into_iter()
            .chain(more.iter().filter(move |(k, _)| *k == key).map(|(_, s)| *s))
    }

    /// Keeps the entries whose channel `keep` says is still held.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        self.map.retain(|_, s| keep(*s));
        self.collisions.retain(|(_, s)| keep(*s));
        // A collision whose map entry went moves into the map.
        let moved: Vec<(u64, u64)> = self
            .collisions
            .iter()
            .filter(|(k, _)| !self.map.contains_key(k))
            .copied()
            .collect();
        self.collisions.retain(|(k, _)| self.map.contains_key(k));
        for (k, s) in moved {
            self.insert(k, s);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len() + self.collisions.len()
    }

    /// Every entry, sorted by key then `short_channel_id`.
    pub(crate) fn entries(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self
            .map
            .iter()
            .map(|(k, s)| (*k, *s))
            .chain(self.collisions.iter().copied())
            .collect();
        v.sort_unstable();
        v
    }

    /// Heap bytes (capacity-based estimate: the table's buckets, a power
    /// of two holding the capacity at 7/8 load, each the 16-byte entry and
    /// a control byte).
    pub(crate) fn approx_bytes(&self) -> usize {
        let cap = self.map.capacity();
        let buckets = if cap == 0 {
            0
        } else {
            (cap.saturating_mul(8) / 7).next_power_of_two()
        };
        buckets * (16 + 1) + self.collisions.capacity() * 16
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit();
        self.collisions.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_outputs_get_distinct_keys() {
        let txid = Txid::from_byte_array([7; 32]);
        assert_ne!(key(&txid, 0), key(&txid, 1));
    }

    #[test]
    fn collisions_are_all_kept_and_move_up_when_the_first_goes() {
        let mut ix = FundingIndex::default();
        ix.insert(5, 100);
        ix.insert(5, 100);
        ix.insert(5, 200);
        ix.insert(5, 300);
        assert_eq!(ix.len(), 3);
        let mut got: Vec<u64> = ix.get(5).collect();
        got.sort_unstable();
        assert_eq!(got, vec![100, 200, 300]);
        assert_eq!(ix.get(6).count(), 0);
        ix.retain(|s| s != 100);
        let mut got: Vec<u64> = ix.get(5).collect();
        got.sort_unstable();
        assert_eq!(got, vec![200, 300]);
        assert_eq!(ix.entries(), vec![(5, 200), (5, 300)]);
    }
}
