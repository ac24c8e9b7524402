//! The node's on-chain resolvers by channel, with the two views each
//! block needs kept up to date (issue 15: `block_connected` with 10,000
//! channels).
//!
//! A node keeps a resolver for every channel that ever held an HTLC (its
//! HTLC history, for a revoked commitment's outputs), but only the few
//! whose funding output is spent have anything to do at a block. Walking
//! them all each block, and asking each for the transactions it watches,
//! cost a block as much as the rest of its work at 10,000 channels. So:
//!
//! - `spent`: the channels whose funding output is spent, the only ones
//!   `onchain_best_height` visits;
//! - `watch_index`: txid → the channels whose
//!   [`ChannelResolver::watched_txids`] hold it, what a block's
//!   transactions are matched against.
//!
//! Both are functions of each resolver alone. Every `&mut` access goes
//! through [`ResolverMap::get_mut`] or [`ResolverMap::get_or_default`]
//! (or [`ResolverMap::insert`]), which note the channel; reads go through
//! `Deref`, which cannot change one. The views are brought up to date for
//! the noted channels only, when next asked for.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Deref;

use bitcoin::Txid;
use lightning_chain::TxidKey;
use lightning_wire::types::ChannelId;

use crate::onchain::ChannelResolver;

/// The node's resolvers by channel, with the per-block views.
#[derive(Debug, Default)]
pub(super) struct ResolverMap {
    map: BTreeMap<ChannelId, ChannelResolver>,
    /// Channels changed since the views were last brought up to date.
    touched: BTreeSet<ChannelId>,
    /// Channels whose resolver has a funding spend.
    spent: BTreeSet<ChannelId>,
    /// Txid → the channels watching it.
    watch_index: HashMap<TxidKey, Vec<ChannelId>>,
    /// What each channel put in `watch_index`, to take it out again.
    watching: HashMap<ChannelId, Vec<Txid>>,
}

impl Deref for ResolverMap {
    type Target = BTreeMap<ChannelId, ChannelResolver>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<'a> IntoIterator for &'a ResolverMap {
    type Item = (&'a ChannelId, &'a ChannelResolver);
    type IntoIter = std::collections::btree_map::Iter<'a, ChannelId, ChannelResolver>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl ResolverMap {
    /// Channel `id`'s resolver, to change.
    pub(super) fn get_mut(&mut self, id: &ChannelId) -> Option<&mut ChannelResolver> {
        let r = self.map.get_mut(id)?;
        self.touched.insert(*id);
        Some(r)
    }

    /// Channel `id`'s resolver, a new one if it has none, to change.
    pub(super) fn get_or_default(&mut self, id: ChannelId) -> &mut ChannelResolver {
        self.touched.insert(id);
        self.map.entry(id).or_default()
    }

    /// Sets channel `id`'s resolver (a restore).
    pub(super) fn insert(&mut self, id: ChannelId, r: ChannelResolver) {
        self.touched.insert(id);
        self.map.insert(id, r);
    }

    /// The channels whose funding output is spent, in id order.
    pub(super) fn spent_ids(&mut self) -> Vec<ChannelId> {
        self.refresh();
        self.spent.iter().copied().collect()
    }

    /// Txid → the channels whose resolver watches it
    /// ([`ChannelResolver::watched_txids`]).
    pub(super) fn watch_index(&mut self) -> &HashMap<TxidKey, Vec<ChannelId>> {
        self.refresh();
        &self.watch_index
    }

    /// Brings the views up to date for the channels changed since.
    fn refresh(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            for t in self.watching.remove(&id).unwrap_or_default() {
                if let Some(ids) = self.watch_index.get_mut(&TxidKey(t)) {
                    ids.retain(|i| *i != id);
                    if ids.is_empty() {
                        self.watch_index.remove(&TxidKey(t));
                    }
                }
            }
            let Some(r) = self.map.get(&id) else {
                self.spent.remove(&id);
                continue;
            };
            if r.spend.is_some() {
                self.spent.insert(id);
            } else {
                self.spent.remove(&id);
            }
            let txids = r.watched_txids();
            for t in &txids {
                let ids = self.watch_index.entry(TxidKey(*t)).or_default();
                // In channel order, as a walk of the map found them.
                if let Err(at) = ids.binary_search(&id) {
                    ids.insert(at, id);
                }
            }
            if !txids.is_empty() {
                self.watching.insert(id, txids);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onchain::resolver::{FundingSpend, SpendTag};
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::Transaction;

    fn spent_by(tx: Transaction) -> Option<FundingSpend> {
        Some(FundingSpend {
            tx,
            height: Some(100),
            kind: SpendTag::Unknown,
        })
    }

    fn tx(n: u32) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(n),
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    /// The views follow every change made through the map, and only
    /// through it: a rebuild from scratch agrees after each step.
    #[test]
    fn views_follow_changes() {
        let mut m = ResolverMap::default();
        let (a, b) = (ChannelId([1; 32]), ChannelId([2; 32]));
        m.get_or_default(a);
        m.get_or_default(b);
        assert!(m.spent_ids().is_empty());
        assert!(m.watch_index().is_empty());

        let spend = tx(7);
        m.get_mut(&a).unwrap().spend = spent_by(spend.clone());
        assert_eq!(m.spent_ids(), vec![a]);
        assert_eq!(
            m.watch_index().get(&TxidKey(spend.compute_txid())),
            Some(&vec![a])
        );

        // The same spend seen by both: both listed, in channel order.
        m.get_mut(&b).unwrap().spend = spent_by(spend.clone());
        assert_eq!(m.spent_ids(), vec![a, b]);
        assert_eq!(
            m.watch_index().get(&TxidKey(spend.compute_txid())),
            Some(&vec![a, b])
        );

        // Undone: the txid leaves the index with its last watcher.
        m.get_mut(&a).unwrap().spend = None;
        assert_eq!(m.spent_ids(), vec![b]);
        m.get_mut(&b).unwrap().spend = spent_by(tx(8));
        assert!(!m.watch_index().contains_key(&TxidKey(spend.compute_txid())));
        assert_eq!(m.watch_index().len(), 1);

        // What a walk of every resolver finds, rebuilt from scratch.
        let mut walked: HashMap<TxidKey, Vec<ChannelId>> = HashMap::new();
        for (id, r) in &m {
            for t in r.watched_txids() {
                walked.entry(TxidKey(t)).or_default().push(*id);
            }
        }
        assert_eq!(m.watch_index(), &walked);
    }
}
