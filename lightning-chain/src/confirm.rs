//! Following the confirmation depth of watched transactions and the spends
//! of watched outputs, across reorgs.

use std::collections::{HashMap, VecDeque};

use bitcoin::block::Header;
use bitcoin::hashes::Hash as _;
use bitcoin::{BlockHash, OutPoint, Transaction, Txid};

use crate::index::{OutPointKey, TxidKey};
use crate::{BestBlock, ChainListener, Confirmations};

/// Where a transaction confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TxConfirmation {
    /// The confirming block.
    pub block_hash: BlockHash,
    /// Its height.
    pub height: u32,
    /// The transaction's index in the block (BOLT 7 `short_channel_id` uses
    /// it for funding transactions).
    pub tx_index: usize,
}

/// A confirmed spend of a watched output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OutpointSpend {
    /// The spending transaction.
    pub spending_tx: Transaction,
    /// Which of its inputs spends the output.
    pub input_index: usize,
    /// Where it confirmed.
    pub confirmation: TxConfirmation,
}

impl OutpointSpend {
    /// The spending transaction's id.
    pub fn spending_txid(&self) -> Txid {
        self.spending_tx.compute_txid()
    }
}

/// Something a [`ConfirmationTracker`] noticed. Taken with
/// [`ConfirmationTracker::poll_event`], in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConfirmationEvent {
    /// A watched transaction confirmed (depth 1).
    Confirmed {
        /// The transaction's id.
        txid: Txid,
        /// Where.
        confirmation: TxConfirmation,
        /// The confirmed transaction itself, as the chain gave it: a
        /// channel checks its funding output from it (BOLT 2, "The
        /// `funding_created` Message"; the fundee never trusts the peer's
        /// word for the outpoint's script and value).
        tx: Transaction,
    },
    /// A watched transaction reached the depth it was watched for.
    ReachedDepth {
        /// The transaction's id.
        txid: Txid,
        /// Its depth now (at least the one asked for).
        depth: Confirmations,
        /// Where it confirmed.
        confirmation: TxConfirmation,
        /// The confirmed transaction itself (see
        /// [`ConfirmationEvent::Confirmed`]).
        tx: Transaction,
    },
    /// The block that confirmed a watched transaction was disconnected: it
    /// is unconfirmed again (it may confirm again on the new branch).
    ReorgedOut {
        /// The transaction.
        txid: Txid,
        /// Where it had confirmed.
        was: TxConfirmation,
    },
    /// A watched output was spent by a confirmed transaction.
    OutpointSpent {
        /// The output.
        outpoint: OutPoint,
        /// The spend.
        spend: OutpointSpend,
    },
    /// The block that confirmed the spend of a watched output was
    /// disconnected: the output is unspent again, as far as the chain says.
    SpendReorgedOut {
        /// The output.
        outpoint: OutPoint,
        /// The spend that was undone.
        was: OutpointSpend,
    },
}

#[derive(Clone, Debug)]
struct TxWatch {
    min_depth: u32,
    /// Where it confirmed, and the transaction the chain gave there (kept
    /// so that a light client's `best_block_updated`, which reaches the
    /// depth later, still hands the transaction out).
    confirmation: Option<(TxConfirmation, Transaction)>,
    depth_reported: bool,
}

/// Follows watched transactions and outputs as blocks connect and
/// disconnect. It is a [`ChainListener`]: feed it with
/// [`ChainSync`](crate::ChainSync) or by hand.
///
/// - [`watch_tx`](ConfirmationTracker::watch_tx): report when a txid
///   confirms, when it reaches a depth, and when a reorg unconfirms it.
/// - [`watch_outpoint`](ConfirmationTracker::watch_outpoint): report which
///   transaction spends an output, and when a reorg undoes that spend.
///
/// It only sees blocks from the moment it is fed; watch a transaction before
/// it can confirm (a light-client host also registers it with its
/// [`WatchFilter`](crate::WatchFilter)). A depth already reported is not
/// reported again when a reorg shortens the chain above the confirming block
/// without disconnecting it.
///
/// ```
/// use lightning_sim::{SimChainHandle, SimWallet};
/// use lightning_chain::{ChainSync, ConfirmationEvent, ConfirmationTracker};
/// use bitcoin::{Amount, ScriptBuf};
///
/// let chain = SimChainHandle::new();
/// let wallet = SimWallet::from_seed([7; 32], chain.clone());
/// chain.mine_blocks(101, &wallet.script_pubkey());
///
/// let mut tracker = ConfirmationTracker::new(chain.best_block());
/// let mut sync = ChainSync::new(tracker.best_block());
///
/// let txid = wallet.send(Amount::from_sat(50_000), &ScriptBuf::new_op_return([1])).unwrap();
/// tracker.watch_tx(txid, 3);
///
/// chain.mine_blocks(3, &wallet.script_pubkey());
/// sync.sync(&chain, &mut tracker).unwrap();
/// assert_eq!(tracker.confirmations(&txid).map(|c| c.get()), Some(3));
/// assert!(matches!(tracker.poll_event(), Some(ConfirmationEvent::Confirmed { .. })));
/// assert!(matches!(tracker.poll_event(), Some(ConfirmationEvent::ReachedDepth { .. })));
/// ```
#[derive(Clone, Debug)]
pub struct ConfirmationTracker {
    best: BestBlock,
    // Hash maps keyed by 8 bytes (`crate::index`): every txid and input of
    // every block is looked up here. Iteration sorts, so that events come
    // out in txid (outpoint) order whatever the map's order.
    txs: HashMap<TxidKey, TxWatch>,
    outpoints: HashMap<OutPointKey, Option<OutpointSpend>>,
    events: VecDeque<ConfirmationEvent>,
}

impl ConfirmationTracker {
    /// A tracker whose chain is at `best`.
    pub fn new(best: BestBlock) -> Self {
        ConfirmationTracker {
            best,
            txs: HashMap::new(),
            outpoints: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The last block the tracker was told about.
    pub fn best_block(&self) -> BestBlock {
        self.best
    }

    /// Watch `txid`, reporting [`ConfirmationEvent::ReachedDepth`] once it
    /// has `min_depth` confirmations. Watching it again changes the depth.
    pub fn watch_tx(&mut self, txid: Txid, min_depth: u32) {
        let watch = self.txs.entry(TxidKey(txid)).or_insert(TxWatch {
            min_depth,
            confirmation: None,
            depth_reported: false,
        });
        if watch.min_depth != min_depth {
            watch.min_depth = min_depth;
            watch.depth_reported = false;
        }
        self.check_depths();
    }

    /// Stop watching `txid`.
    pub fn unwatch_tx(&mut self, txid: &Txid) {
        self.txs.remove(&TxidKey(*txid));
    }

    /// Watch for the spend of `outpoint`.
    pub fn watch_outpoint(&mut self, outpoint: OutPoint) {
        self.outpoints.entry(OutPointKey(outpoint)).or_insert(None);
    }

    /// Stop watching `outpoint`.
    pub fn unwatch_outpoint(&mut self, outpoint: &OutPoint) {
        self.outpoints.remove(&OutPointKey(*outpoint));
    }

    /// Where a watched transaction confirmed; `None` if unconfirmed or not
    /// watched.
    pub fn confirmation(&self, txid: &Txid) -> Option<TxConfirmation> {
        self.txs
            .get(&TxidKey(*txid))
            .and_then(|watch| watch.confirmation.as_ref().map(|(c, _)| *c))
    }

    /// The confirmed transaction of a watched txid; `None` if unconfirmed
    /// or not watched.
    pub fn confirmed_transaction(&self, txid: &Txid) -> Option<&Transaction> {
        self.txs
            .get(&TxidKey(*txid))
            .and_then(|watch| watch.confirmation.as_ref().map(|(_, tx)| tx))
    }

    /// The depth of a watched transaction ([`Confirmations::NONE`] while
    /// unconfirmed); `None` if not watched.
    pub fn confirmations(&self, txid: &Txid) -> Option<Confirmations> {
        let watch = self.txs.get(&TxidKey(*txid))?;
        Some(self.depth_of(watch.confirmation.as_ref().map(|(c, _)| *c)))
    }

    /// The confirmed spend of a watched output, if any.
    pub fn spend_of(&self, outpoint: &OutPoint) -> Option<&OutpointSpend> {
        self.outpoints
            .get(&OutPointKey(*outpoint))
            .and_then(Option::as_ref)
    }

    /// The depth of the spend of a watched output
    /// ([`Confirmations::NONE`] while unspent); `None` if not watched.
    pub fn spend_confirmations(&self, outpoint: &OutPoint) -> Option<Confirmations> {
        let spend = self.outpoints.get(&OutPointKey(*outpoint))?;
        Some(self.depth_of(spend.as_ref().map(|s| s.confirmation)))
    }

    /// Every watched transaction with its depth, in txid order.
    pub fn watched_txs(&self) -> impl Iterator<Item = (Txid, Confirmations)> + '_ {
        let mut all: Vec<(Txid, Confirmations)> = self
            .txs
            .iter()
            .map(|(txid, watch)| {
                let conf = watch.confirmation.as_ref().map(|(c, _)| *c);
                (txid.0, self.depth_of(conf))
            })
            .collect();
        all.sort_unstable_by_key(|(txid, _)| *txid);
        all.into_iter()
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ConfirmationEvent> {
        self.events.pop_front()
    }

    fn depth_of(&self, confirmation: Option<TxConfirmation>) -> Confirmations {
        match confirmation {
            Some(conf) => Confirmations::at(conf.height, self.best.height),
            None => Confirmations::NONE,
        }
    }

    fn check_depths(&mut self) {
        let tip = self.best.height;
        let mut reached: Vec<ConfirmationEvent> = Vec::new();
        for (txid, watch) in self.txs.iter_mut() {
            if watch.depth_reported {
                continue;
            }
            let Some((confirmation, tx)) = &watch.confirmation else {
                continue;
            };
            let depth = Confirmations::at(confirmation.height, tip);
            if depth.is_confirmed() && depth.is_at_least(watch.min_depth) {
                watch.depth_reported = true;
                reached.push(ConfirmationEvent::ReachedDepth {
                    txid: txid.0,
                    depth,
                    confirmation: *confirmation,
                    tx: tx.clone(),
                });
            }
        }
        reached.sort_unstable_by_key(event_order);
        self.events.extend(reached);
    }

    /// Undoes every confirmation `is_gone` says was on a removed block.
    fn unconfirm_where(&mut self, is_gone: impl Fn(&TxConfirmation) -> bool) {
        let mut gone: Vec<ConfirmationEvent> = Vec::new();
        for (txid, watch) in self.txs.iter_mut() {
            if let Some(was) = watch
                .confirmation
                .as_ref()
                .map(|(c, _)| *c)
                .filter(|c| is_gone(c))
            {
                watch.confirmation = None;
                watch.depth_reported = false;
                gone.push(ConfirmationEvent::ReorgedOut { txid: txid.0, was });
            }
        }
        gone.sort_unstable_by_key(event_order);
        self.events.extend(gone);
        let mut gone: Vec<ConfirmationEvent> = Vec::new();
        for (outpoint, spend) in self.outpoints.iter_mut() {
            if spend.as_ref().is_some_and(|s| is_gone(&s.confirmation)) {
                if let Some(was) = spend.take() {
                    gone.push(ConfirmationEvent::SpendReorgedOut {
                        outpoint: outpoint.0,
                        was,
                    });
                }
            }
        }
        gone.sort_unstable_by_key(event_order);
        self.events.extend(gone);
    }
}

/// The order events of one kind come out in when a map walk finds them:
/// by txid, then output index.
fn event_order(e: &ConfirmationEvent) -> (Txid, u32) {
    match e {
        ConfirmationEvent::ReachedDepth { txid, .. }
        | ConfirmationEvent::ReorgedOut { txid, .. } => (*txid, 0),
        ConfirmationEvent::SpendReorgedOut { outpoint, .. } => (outpoint.txid, outpoint.vout),
        _ => (Txid::all_zeros(), 0),
    }
}

impl ConfirmationTracker {
    /// [`ChainListener::transactions_confirmed`] with each transaction's
    /// txid already computed (`txids[i]` is `txdata[i]`'s), for a caller
    /// that needs them too: a block's txids are the largest part of the
    /// work of watching it, so they are computed once per block.
    /// A `txids` shorter than `txdata` leaves the transactions past its end
    /// unseen.
    pub fn transactions_confirmed_with_txids(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        txids: &[Txid],
        height: u32,
    ) {
        let block_hash = header.block_hash();
        for (&(tx_index, tx), &txid) in txdata.iter().zip(txids) {
            let confirmation = TxConfirmation {
                block_hash,
                height,
                tx_index,
            };
            if let Some(watch) = self.txs.get_mut(&TxidKey(txid)) {
                let known = watch.confirmation.as_ref().map(|(c, _)| *c);
                if known != Some(confirmation) {
                    if let Some((was, _)) =
                        watch.confirmation.replace((confirmation, (*tx).clone()))
                    {
                        // Seen again elsewhere without a disconnect: a light
                        // client that missed the reorg.
                        self.events
                            .push_back(ConfirmationEvent::ReorgedOut { txid, was });
                    }
                    watch.depth_reported = false;
                    self.events.push_back(ConfirmationEvent::Confirmed {
                        txid,
                        confirmation,
                        tx: (*tx).clone(),
                    });
                }
            }
            if tx.is_coinbase() {
                continue;
            }
            for (input_index, input) in tx.input.iter().enumerate() {
                let Some(slot) = self.outpoints.get_mut(&OutPointKey(input.previous_output)) else {
                    continue;
                };
                if slot
                    .as_ref()
                    .is_some_and(|s| s.confirmation == confirmation)
                {
                    continue;
                }
                let spend = OutpointSpend {
                    spending_tx: tx.clone(),
                    input_index,
                    confirmation,
                };
                if let Some(was) = slot.replace(spend.clone()) {
                    self.events.push_back(ConfirmationEvent::SpendReorgedOut {
                        outpoint: input.previous_output,
                        was,
                    });
                }
                self.events.push_back(ConfirmationEvent::OutpointSpent {
                    outpoint: input.previous_output,
                    spend,
                });
            }
        }
        self.check_depths();
    }
}

impl ChainListener for ConfirmationTracker {
    fn block_disconnected(&mut self, header: &Header, height: u32) {
        self.unconfirm_where(|conf| conf.height >= height);
        self.best = BestBlock::new(header.prev_blockhash, height.saturating_sub(1));
    }

    fn transactions_confirmed(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        height: u32,
    ) {
        let txids: Vec<Txid> = txdata.iter().map(|(_, tx)| tx.compute_txid()).collect();
        self.transactions_confirmed_with_txids(header, txdata, &txids, height);
    }

    fn best_block_updated(&mut self, header: &Header, height: u32) {
        let hash = header.block_hash();
        // A light client may move the tip down or sideways without calling
        // `block_disconnected`: anything above the new tip, or at its height
        // in another block, is no longer confirmed.
        self.unconfirm_where(|conf| {
            conf.height > height || (conf.height == height && conf.block_hash != hash)
        });
        self.best = BestBlock::new(hash, height);
        self.check_depths();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, CompactTarget, ScriptBuf, TxMerkleNode, TxOut};

    fn header(prev: BlockHash, nonce: u32) -> Header {
        Header {
            version: bitcoin::block::Version::TWO,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: 0,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce,
        }
    }

    fn tx(value: u64) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: OutPoint::new(Txid::all_zeros(), 7),
                ..Default::default()
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::new_op_return([1]),
            }],
        }
    }

    /// A light client's path: `transactions_confirmed` with the filtered
    /// transaction, then `best_block_updated` blocks later. Both events
    /// hand out the transaction itself, not only its id.
    #[test]
    fn light_client_events_carry_the_transaction() {
        let genesis = header(BlockHash::all_zeros(), 0);
        let mut tracker = ConfirmationTracker::new(BestBlock::new(genesis.block_hash(), 0));
        let funding = tx(50_000);
        let txid = funding.compute_txid();
        tracker.watch_tx(txid, 3);
        let h1 = header(genesis.block_hash(), 1);
        tracker.transactions_confirmed(&h1, &[(4, &funding)], 1);
        tracker.best_block_updated(&h1, 1);
        match tracker.poll_event() {
            Some(ConfirmationEvent::Confirmed {
                txid: t,
                confirmation,
                tx,
            }) => {
                assert_eq!(t, txid);
                assert_eq!(confirmation.tx_index, 4);
                assert_eq!(tx, funding);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(tracker.confirmed_transaction(&txid), Some(&funding));
        let h2 = header(h1.block_hash(), 2);
        let h3 = header(h2.block_hash(), 3);
        tracker.best_block_updated(&h2, 2);
        assert_eq!(tracker.poll_event(), None);
        tracker.best_block_updated(&h3, 3);
        match tracker.poll_event() {
            Some(ConfirmationEvent::ReachedDepth { depth, tx, .. }) => {
                assert_eq!(depth.get(), 3);
                assert_eq!(tx, funding);
            }
            other => panic!("{other:?}"),
        }
        // A reorg below the confirming block forgets the transaction.
        tracker.best_block_updated(&genesis, 0);
        assert!(matches!(
            tracker.poll_event(),
            Some(ConfirmationEvent::ReorgedOut { .. })
        ));
        assert_eq!(tracker.confirmed_transaction(&txid), None);
    }
}
