//! Unconfirmed transactions: what a chain source's mempool holds that the
//! node should see before (or instead of) a block.
//!
//! The node reads payment preimages from spends of its HTLC outputs; a
//! spend that is replaced before any block takes it (replacement cycling,
//! CVE-2023-40231..40234) is only ever visible in the mempool. A host polls
//! its source with a [`MempoolPoll`] (each adapter has a
//! `mempool_transactions` method) and hands what is new to a
//! [`MempoolListener`] (the node).
//!
//! ```
//! use bitcoin::Txid;
//! use bitcoin::hashes::Hash;
//! use lightning_chain::MempoolPoll;
//!
//! let a = Txid::from_byte_array([1; 32]);
//! let b = Txid::from_byte_array([2; 32]);
//! let mut poll = MempoolPoll::new(1);
//! // At most one new txid per poll; a txid reported is not asked again.
//! assert_eq!(poll.select_new(&[a, b]), vec![a]);
//! poll.mark_reported(&[a]);
//! assert_eq!(poll.select_new(&[a, b]), vec![b]);
//! poll.mark_reported(&[b]);
//! // `a` left the mempool: forgotten, so if it comes back it is new again.
//! assert!(poll.select_new(&[b]).is_empty());
//! assert_eq!(poll.select_new(&[a, b]), vec![a]);
//! ```

use std::collections::HashSet;

use bitcoin::{OutPoint, Transaction, Txid};

/// Receives transactions seen in a mempool. The node implements it.
pub trait MempoolListener {
    /// `txs` were seen unconfirmed. They may be reported again, may never
    /// confirm, and may conflict with each other or with the chain: a
    /// listener trusts nothing in them that it cannot check.
    fn transactions_seen_in_mempool(&mut self, txs: &[Transaction]);
}

impl<T: MempoolListener + ?Sized> MempoolListener for &mut T {
    fn transactions_seen_in_mempool(&mut self, txs: &[Transaction]) {
        (**self).transactions_seen_in_mempool(txs);
    }
}

/// New mempool txids fetched per poll by default.
pub const DEFAULT_MEMPOOL_FETCH_LIMIT: usize = 500;

/// Txids remembered at most as reported (a mempool larger than this is
/// polled as if the oldest reported ones were new).
pub const MAX_REPORTED_TXIDS: usize = 400_000;

/// What a host's mempool polls remember between calls: the txids already
/// reported (only txids, never transactions; a txid that leaves the
/// mempool is forgotten), how many new ones one poll may fetch, and
/// optionally the outpoints whose spends matter (then a transaction
/// spending none of them is fetched, if the source cannot tell, but not
/// reported).
#[derive(Debug, Clone)]
pub struct MempoolPoll {
    reported: HashSet<Txid>,
    limit: usize,
    watched: Option<HashSet<OutPoint>>,
}

impl MempoolPoll {
    /// A poll fetching at most `limit` new transactions per call.
    pub fn new(limit: usize) -> Self {
        MempoolPoll {
            reported: HashSet::new(),
            limit,
            watched: None,
        }
    }

    /// At most how many new transactions one poll fetches.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// From now on only transactions spending one of `outpoints` (added to
    /// those given before) are reported.
    pub fn watch_outpoints(&mut self, outpoints: impl IntoIterator<Item = OutPoint>) {
        self.watched
            .get_or_insert_with(HashSet::new)
            .extend(outpoints);
    }

    /// From now on only transactions spending one of `outpoints` are
    /// reported: the filter is replaced (what was watched before and is
    /// not in `outpoints` no longer is). A host sets it before each poll
    /// from the node's current set (`Node::mempool_watched_outpoints`).
    pub fn set_watched_outpoints(&mut self, outpoints: impl IntoIterator<Item = OutPoint>) {
        self.watched = Some(outpoints.into_iter().collect());
    }

    /// The watched outpoints, if a filter was set.
    pub fn watched_outpoints(&self) -> Option<&HashSet<OutPoint>> {
        self.watched.as_ref()
    }

    /// Whether `tx` is to be reported: it spends a watched outpoint, or no
    /// filter is set.
    pub fn wants(&self, tx: &Transaction) -> bool {
        match &self.watched {
            None => true,
            Some(w) => tx.input.iter().any(|i| w.contains(&i.previous_output)),
        }
    }

    /// Given the txids in the mempool now, forgets the reported ones that
    /// left it and gives the new ones to fetch, at most
    /// [`limit`](Self::limit), in the order given.
    pub fn select_new(&mut self, current: &[Txid]) -> Vec<Txid> {
        let now: HashSet<&Txid> = current.iter().collect();
        self.reported.retain(|t| now.contains(t));
        current
            .iter()
            .filter(|t| !self.reported.contains(*t))
            .take(self.limit)
            .copied()
            .collect()
    }

    /// `txids` were fetched (reported or filtered out): not new again
    /// while they stay in the mempool.
    pub fn mark_reported(&mut self, txids: &[Txid]) {
        if self.reported.len().saturating_add(txids.len()) > MAX_REPORTED_TXIDS {
            self.reported.clear();
        }
        self.reported.extend(txids.iter().copied());
    }

    /// Keeps the fetched transactions that hash to the txid asked for (a
    /// source is not trusted to answer what was asked) and that the filter
    /// wants; marks every asked txid reported.
    pub fn accept(&mut self, asked: &[Txid], fetched: Vec<Transaction>) -> Vec<Transaction> {
        self.mark_reported(asked);
        fetched
            .into_iter()
            .filter(|tx| asked.contains(&tx.compute_txid()) && self.wants(tx))
            .collect()
    }
}

impl Default for MempoolPoll {
    fn default() -> Self {
        MempoolPoll::new(DEFAULT_MEMPOOL_FETCH_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn tx(spends: OutPoint) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: spends,
                ..Default::default()
            }],
            output: Vec::new(),
        }
    }

    #[test]
    fn filter_and_lies() {
        let watched = OutPoint::new(Txid::from_byte_array([7; 32]), 1);
        let other = OutPoint::new(Txid::from_byte_array([7; 32]), 2);
        let (a, b) = (tx(watched), tx(other));
        let mut poll = MempoolPoll::new(10);
        poll.watch_outpoints([watched]);
        let asked = [a.compute_txid(), b.compute_txid()];
        assert_eq!(poll.select_new(&asked), asked.to_vec());
        // b is filtered out; a lie (a transaction not asked for) too.
        let mut lie = tx(watched);
        lie.lock_time = bitcoin::absolute::LockTime::from_consensus(5);
        let kept = poll.accept(&asked, vec![a.clone(), b, lie]);
        assert_eq!(kept, vec![a]);
        assert!(poll.select_new(&asked).is_empty());
    }

    #[test]
    fn set_replaces_the_filter_and_watch_adds_to_it() {
        let (x, y) = (
            OutPoint::new(Txid::from_byte_array([1; 32]), 0),
            OutPoint::new(Txid::from_byte_array([2; 32]), 0),
        );
        let mut poll = MempoolPoll::new(10);
        assert!(poll.wants(&tx(x)), "no filter: everything");
        poll.watch_outpoints([x]);
        poll.watch_outpoints([y]);
        assert!(poll.wants(&tx(x)) && poll.wants(&tx(y)));
        poll.set_watched_outpoints([y]);
        assert!(!poll.wants(&tx(x)) && poll.wants(&tx(y)));
        poll.set_watched_outpoints([]);
        assert!(!poll.wants(&tx(y)), "an empty filter wants nothing");
    }
}
