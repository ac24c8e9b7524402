//! The funding-output check of `channel_announcement`: a one-method host
//! trait, a bounded cache of its answers, and a bound on lookups in flight.
//!
//! BOLT 7: "if the `short_channel_id`'s output does NOT correspond to a
//! P2WSH (using `bitcoin_key_1` and `bitcoin_key_2` ...) OR the output is
//! spent: MUST ignore the message". The host answers from its chain source;
//! it may answer later ([`UtxoAnswer::Pending`], then
//! [`NetworkGraph::resolve_utxo`](crate::NetworkGraph::resolve_utxo)), so an
//! Electrum or Esplora backend need not block. A light client passes no
//! lookup at all and the capacity stays unknown.

use std::collections::{HashMap, VecDeque};

use bitcoin::{TxOut, Txid};
use lightning_wire::types::{ChainHash, ShortChannelId};

/// What the host knows of a funding output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UtxoAnswer {
    /// The output exists and is unspent.
    Unspent {
        /// The funding transaction's id (the host found the transaction
        /// at the `short_channel_id`'s block and index). With it the graph
        /// indexes the funding outpoint, so that a block spending it closes
        /// the channel ([`NetworkGraph::spent_input`](crate::NetworkGraph::spent_input)).
        txid: Txid,
        /// The output at the `short_channel_id`'s output index.
        output: TxOut,
    },
    /// The output existed and is spent.
    Spent,
    /// No such block, transaction or output.
    NotFound,
    /// The host could not answer (backend down, ...); not cached.
    Failed,
    /// The host will answer later through
    /// [`NetworkGraph::resolve_utxo`](crate::NetworkGraph::resolve_utxo).
    Pending,
}

/// The host's view of the UTXO set, by `short_channel_id` (block height,
/// transaction index, output index: BOLT 7, "Definition of
/// `short_channel_id`").
///
/// ```
/// use lightning_gossip::{UtxoAnswer, UtxoLookup};
/// use lightning_wire::types::{ChainHash, ShortChannelId};
///
/// struct NothingOnChain;
/// impl UtxoLookup for NothingOnChain {
///     fn lookup(&self, _: &ChainHash, _: ShortChannelId) -> UtxoAnswer {
///         UtxoAnswer::NotFound
///     }
/// }
/// let chain = ChainHash::for_network(bitcoin::Network::Bitcoin);
/// let scid = ShortChannelId::new(800_000, 1, 0).unwrap();
/// assert_eq!(NothingOnChain.lookup(&chain, scid), UtxoAnswer::NotFound);
/// ```
pub trait UtxoLookup {
    /// The output `scid` names on `chain`.
    fn lookup(&self, chain: &ChainHash, scid: ShortChannelId) -> UtxoAnswer;
}

/// A settled answer, as cached: only what decides a later announcement of
/// the same output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    Unspent { txid: Txid, output: TxOut },
    Spent,
    NotFound,
}

/// A first-in first-out cache of settled answers, at most `cap` entries.
/// A peer replaying announcements of one output (valid or not) costs one
/// host lookup, not one per copy.
#[derive(Debug, Clone)]
pub(crate) struct UtxoCache {
    map: HashMap<u64, Settled>,
    order: VecDeque<u64>,
    cap: usize,
}

impl UtxoCache {
    pub(crate) fn new(cap: usize) -> Self {
        UtxoCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    pub(crate) fn get(&self, scid: ShortChannelId) -> Option<&Settled> {
        self.map.get(&scid.0)
    }

    pub(crate) fn insert(&mut self, scid: ShortChannelId, answer: Settled) {
        if self.cap == 0 {
            return;
        }
        if self.map.insert(scid.0, answer).is_none() {
            self.order.push_back(scid.0);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// Forgets an output (spent since, or reorganised).
    pub(crate) fn forget(&mut self, scid: ShortChannelId) {
        self.map.remove(&scid.0);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_fifo() {
        let mut c = UtxoCache::new(2);
        for i in 0..5u64 {
            c.insert(ShortChannelId(i), Settled::Spent);
        }
        assert_eq!(c.len(), 2);
        assert!(c.get(ShortChannelId(0)).is_none());
        assert_eq!(c.get(ShortChannelId(4)), Some(&Settled::Spent));
    }
}
