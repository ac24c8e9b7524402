//! Transactions the host's chain source sees in the mempool (BOLT 5,
//! "HTLC Output Handling"; replacement cycling, CVE-2023-40231..40234).
//!
//! BOLT 5: a node that sees a spend of an HTLC output it offered, revealing
//! the payment preimage, MUST fulfil the corresponding incoming HTLC. In a
//! replacement-cycling attack the downstream peer's preimage spend sits in
//! the mempool only for a moment: the attacker replaces it (by
//! double-spending another of its inputs) before any block takes it, so
//! that our HTLC-timeout is kept out of blocks and, once the incoming
//! HTLC's expiry passes, the upstream peer times it out on us while the
//! downstream one still claims. A node that reads preimages only from
//! confirmed transactions loses the HTLC; one that also reads the mempool
//! learns the preimage from the transaction that was cycled out.
//!
//! [`Node::transactions_seen_in_mempool`] takes what the host's chain
//! source reports (a bitcoind `getrawmempool` poll, an Electrum script
//! history at height 0, Esplora's `/scripthash/:hash/txs/mempool`), looks
//! at the inputs spending an output of one of our commitments (one a
//! resolver follows, or a commitment seen in the mempool spending a
//! funding outpoint of ours), and extracts payment preimages from their
//! witnesses with the same code confirmed spends use. Mempool data is
//! never trusted: a preimage counts only if it hashes to the payment hash
//! of an HTLC we offered on that channel. It then takes the path a
//! preimage from a confirmed spend takes: the forward's incoming HTLC is
//! fulfilled (persisted in the forward's record before anything leaves),
//! our payment completes (`PaymentSent`), and a channel already on chain
//! upstream gains its preimage claim. None of that is undone when the
//! transaction later leaves the mempool: the preimage is a fact.
//!
//! The work per call is capped ([`MAX_MEMPOOL_TXS_PER_CALL`],
//! [`MAX_MEMPOOL_INPUTS_PER_CALL`]) and no transaction is kept: only the
//! txids of at most [`MAX_MEMPOOL_COMMITMENTS`] commitments seen in the
//! mempool, so that a spend of one reported in a later call is still
//! recognised.

use std::collections::{HashMap, VecDeque};

use bitcoin::{Transaction, Txid};
use lightning_chain::{OutPointKey, TxidKey};
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage};

use super::Node;
use crate::channel::update_log::{Side, UpdateKind};
use crate::onchain::resolve::extract_preimages;

/// Transactions looked at per call to [`Node::transactions_seen_in_mempool`];
/// the rest of the slice is ignored (a host reports them again next time).
pub const MAX_MEMPOOL_TXS_PER_CALL: usize = 1_000;

/// Inputs looked at per call, across all its transactions.
pub const MAX_MEMPOOL_INPUTS_PER_CALL: usize = 20_000;

/// Commitments seen in the mempool whose txids are remembered (oldest
/// forgotten first).
pub const MAX_MEMPOOL_COMMITMENTS: usize = 64;

/// What the node keeps of the mempool: the txids of commitments of ours
/// seen there, with their channel and number of outputs (never the
/// transactions).
#[derive(Debug, Default)]
pub(super) struct MempoolView {
    commitments: VecDeque<(Txid, ChannelId, u32)>,
}

impl MempoolView {
    fn remember(&mut self, txid: Txid, id: ChannelId, outputs: u32) {
        if self.commitments.iter().any(|(t, _, _)| *t == txid) {
            return;
        }
        if self.commitments.len() >= MAX_MEMPOOL_COMMITMENTS {
            self.commitments.pop_front();
        }
        self.commitments.push_back((txid, id, outputs));
    }
}

/// What one call to [`Node::transactions_seen_in_mempool`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MempoolScan {
    /// Transactions looked at (at most [`MAX_MEMPOOL_TXS_PER_CALL`]).
    pub transactions: usize,
    /// Spends of a funding outpoint of ours (a commitment or a close).
    pub funding_spends: usize,
    /// Preimages that hash to an HTLC we offered on the channel whose
    /// output the input spends, handed on (again, if known already:
    /// handing one on twice changes nothing).
    pub preimages: usize,
}

impl lightning_chain::MempoolListener for Node {
    fn transactions_seen_in_mempool(&mut self, txs: &[Transaction]) {
        Node::transactions_seen_in_mempool(self, txs);
    }
}

impl Node {
    /// Transactions the host's chain source sees in the mempool: each
    /// input spending an HTLC output of one of our commitments (one on
    /// chain that a channel resolves, or one seen in the mempool spending
    /// a funding outpoint of ours, in this call or an earlier one) is
    /// searched for a payment preimage (BOLT 5: the peer's HTLC-success
    /// transaction on its commitment, or its direct claim on ours). A
    /// preimage that hashes to the payment hash of an HTLC we offered on
    /// that channel fulfils the forward's incoming HTLC and completes our
    /// payment, exactly as one found in a confirmed spend, and stays
    /// learned when the transaction leaves the mempool (replacement
    /// cycling, CVE-2023-40231..40234). Anything else is ignored.
    ///
    /// Call it with new mempool transactions on every chain poll (report
    /// each as often as you like: it is idempotent). At most
    /// [`MAX_MEMPOOL_TXS_PER_CALL`] transactions and
    /// [`MAX_MEMPOOL_INPUTS_PER_CALL`] inputs are looked at; nothing of
    /// them is kept but commitment txids. Like a block, the call ends the
    /// step: what it caused is written, then sent.
    ///
    /// ```no_run
    /// # fn host(node: &mut lightning_core::node::Node, new_in_mempool: Vec<bitcoin::Transaction>) {
    /// // Each chain poll, after the blocks: what the source's mempool holds
    /// // that is new (with bitcoind: `BitcoindSource::mempool_transactions`
    /// // and a `lightning_chain::MempoolPoll`, which remembers what it gave).
    /// let scan = node.transactions_seen_in_mempool(&new_in_mempool);
    /// if scan.preimages > 0 {
    ///     // Forwards fulfilled upstream, payments sent: events and messages follow.
    /// }
    /// # }
    /// ```
    pub fn transactions_seen_in_mempool(&mut self, txs: &[Transaction]) -> MempoolScan {
        let txs = &txs[..txs.len().min(MAX_MEMPOOL_TXS_PER_CALL)];
        let mut scan = MempoolScan {
            transactions: txs.len(),
            ..MempoolScan::default()
        };
        // The transactions whose outputs may be our HTLC outputs, by
        // channel: commitments on chain that a resolver follows (with its
        // claims), and commitments seen in the mempool.
        let tip = self.best_height();
        let mut parents: HashMap<TxidKey, ChannelId> = HashMap::new();
        for (id, r) in &self.onchain {
            if r.spend.is_some() && !r.may_forget(tip) {
                for t in r.watched_txids() {
                    parents.insert(TxidKey(t), *id);
                }
            }
        }
        for (t, id, _) in &self.mempool.commitments {
            parents.insert(TxidKey(*t), *id);
        }
        // Funding spends first: a commitment and the spend of its HTLC
        // output may come in the same call, in any order.
        let mut inputs_left = MAX_MEMPOOL_INPUTS_PER_CALL;
        let mut txids: Vec<Option<Txid>> = vec![None; txs.len()];
        for (i, tx) in txs.iter().enumerate() {
            let Some(left) = inputs_left.checked_sub(tx.input.len()) else {
                break;
            };
            inputs_left = left;
            for input in &tx.input {
                let Some(&id) = self.funding_index.get(&OutPointKey(input.previous_output)) else {
                    continue;
                };
                let funded = self
                    .channels
                    .get(&id)
                    .and_then(|e| e.channel.state().funding_outpoint);
                if funded == Some(input.previous_output) {
                    let txid = *txids[i].get_or_insert_with(|| tx.compute_txid());
                    scan.funding_spends += 1;
                    let outputs = u32::try_from(tx.output.len()).unwrap_or(u32::MAX);
                    self.mempool.remember(txid, id, outputs);
                    parents.insert(TxidKey(txid), id);
                }
            }
        }
        if parents.is_empty() {
            return scan;
        }
        let mut learned: Vec<(ChannelId, PaymentHash, PaymentPreimage)> = Vec::new();
        let mut inputs_left = MAX_MEMPOOL_INPUTS_PER_CALL;
        for tx in txs {
            let Some(left) = inputs_left.checked_sub(tx.input.len()) else {
                break;
            };
            inputs_left = left;
            // Only the inputs spending one of those transactions are read
            // (a large hostile witness elsewhere costs nothing).
            let relevant: Vec<_> = tx
                .input
                .iter()
                .filter(|i| parents.contains_key(&TxidKey(i.previous_output.txid)))
                .cloned()
                .collect();
            if relevant.is_empty() {
                continue;
            }
            let only = Transaction {
                version: tx.version,
                lock_time: tx.lock_time,
                input: relevant,
                output: Vec::new(),
            };
            for (outpoint, preimage, hash) in extract_preimages(&only) {
                let Some(&id) = parents.get(&TxidKey(outpoint.txid)) else {
                    continue;
                };
                // `extract_preimages` gives `hash` as SHA256(preimage);
                // it must be an HTLC we offered on this channel.
                if self.offered_htlc_hash(id, &hash) && !learned.contains(&(id, hash, preimage)) {
                    learned.push((id, hash, preimage));
                }
            }
        }
        scan.preimages = learned.len();
        for (id, hash, preimage) in learned {
            // The path of a preimage from a confirmed spend
            // (`node/onchain.rs`): our payment, then the forward.
            if self.payments.contains_key(&hash) {
                self.payment_fulfilled(hash, preimage);
            }
            self.forward_preimage_on_chain(id, hash, preimage);
        }
        if scan.preimages > 0 {
            // A failed write shows in `persist_failure`.
            let _ = self.finish();
        }
        scan
    }

    /// The outpoints whose spends [`Node::transactions_seen_in_mempool`]
    /// reads, for a chain source that can be asked for the mempool
    /// spenders of given outpoints (bitcoind's `gettxspendingprevout`,
    /// through [`lightning_chain::MempoolPoll::set_watched_outpoints`])
    /// instead of handing over the whole mempool: every channel's funding
    /// outpoint (a commitment or close spending it), and every output of
    /// the transactions whose spends can reveal a preimage: commitments
    /// on chain that a resolver follows and their claims, and commitments
    /// seen in the mempool. Sorted, without duplicates. Ask again after
    /// each poll: the set grows when a commitment appears.
    ///
    /// ```no_run
    /// # fn host(node: &lightning_core::node::Node, poll: &mut lightning_chain::MempoolPoll) {
    /// poll.set_watched_outpoints(node.mempool_watched_outpoints());
    /// # }
    /// ```
    pub fn mempool_watched_outpoints(&self) -> Vec<bitcoin::OutPoint> {
        let every_output = |txid: Txid, n: usize| {
            (0..n).filter_map(move |vout| {
                Some(bitcoin::OutPoint::new(txid, u32::try_from(vout).ok()?))
            })
        };
        let mut v: Vec<bitcoin::OutPoint> = self
            .channels
            .values()
            .filter_map(|e| e.channel.state().funding_outpoint)
            .collect();
        let tip = self.best_height();
        for r in self.onchain.values() {
            if r.may_forget(tip) {
                continue;
            }
            let known = r
                .spend
                .iter()
                .map(|s| &s.tx)
                .chain(r.claims.iter().map(|c| &c.tx));
            for tx in known {
                v.extend(every_output(tx.compute_txid(), tx.output.len()));
            }
        }
        for (txid, _, n) in &self.mempool.commitments {
            v.extend(every_output(*txid, *n as usize));
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether we offered an HTLC with `hash` on channel `id`: in its
    /// update log, or in the resolver's HTLC history (an HTLC that left
    /// the log).
    fn offered_htlc_hash(&self, id: ChannelId, hash: &PaymentHash) -> bool {
        let in_log = self.channels.get(&id).is_some_and(|e| {
            e.channel.state().log.updates().iter().any(|u| {
                u.proposer == Side::Local
                    && matches!(&u.kind, UpdateKind::Add(a) if a.payment_hash == *hash)
            })
        });
        in_log
            || self.onchain.get(&id).is_some_and(|r| {
                r.history
                    .iter()
                    .any(|h| h.htlc.offerer == Side::Local && h.htlc.payment_hash == *hash)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_are_capped_oldest_first() {
        let mut v = MempoolView::default();
        let id = ChannelId([1; 32]);
        for i in 0..(MAX_MEMPOOL_COMMITMENTS + 10) {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&(i as u64).to_le_bytes());
            v.remember(bitcoin::hashes::Hash::from_byte_array(b), id, 2);
        }
        assert_eq!(v.commitments.len(), MAX_MEMPOOL_COMMITMENTS);
        let first: [u8; 32] = bitcoin::hashes::Hash::to_byte_array(v.commitments[0].0);
        assert_eq!(first[0], 10);
    }

    #[test]
    fn an_unrelated_mempool_changes_nothing() {
        let mut node = crate::node::test_node(7);
        let tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                witness: bitcoin::Witness::from_slice(&[[9u8; 32].to_vec(), vec![0x51]]),
                ..Default::default()
            }],
            output: Vec::new(),
        };
        let txs = vec![tx; MAX_MEMPOOL_TXS_PER_CALL + 5];
        let scan = node.transactions_seen_in_mempool(&txs);
        assert_eq!(scan.transactions, MAX_MEMPOOL_TXS_PER_CALL);
        assert_eq!(scan.preimages, 0);
        assert!(node.poll_event().is_none());
    }
}
