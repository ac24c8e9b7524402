//! Following the confirmation depth of watched transactions and the spends
//! of watched outputs, across reorgs.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

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
    // A block looks only at what it can change, not at every watch (a node
    // watches each channel's funding transaction for good: with 10,000
    // channels a walk per block was a cache miss per channel):
    /// Watched transactions confirmed and not yet reported at their depth.
    pending_depth: HashSet<TxidKey>,
    /// The heights at which watched transactions confirmed and watched
    /// outputs were spent: a disconnection or a tip moving down looks only
    /// at the heights it removes. An entry may be stale (its watch since
    /// moved or went); each is checked against its watch when used.
    confirmed_at: BTreeMap<u32, Vec<Confirmed>>,
}

/// A confirmation [`ConfirmationTracker::confirmed_at`] indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Confirmed {
    Tx(TxidKey),
    Spend(OutPointKey),
}

impl ConfirmationTracker {
    /// A tracker whose chain is at `best`.
    pub fn new(best: BestBlock) -> Self {
        ConfirmationTracker {
            best,
            txs: HashMap::new(),
            outpoints: HashMap::new(),
            events: VecDeque::new(),
            pending_depth: HashSet::new(),
            confirmed_at: BTreeMap::new(),
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
            if watch.confirmation.is_some() {
                self.pending_depth.insert(TxidKey(txid));
            }
        }
        self.check_depths();
    }

    /// Stop watching `txid`.
    pub fn unwatch_tx(&mut self, txid: &Txid) {
        self.txs.remove(&TxidKey(*txid));
        self.pending_depth.remove(&TxidKey(*txid));
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

    /// Reports [`ConfirmationEvent::ReachedDepth`] for the watches of
    /// `pending_depth` that reached theirs.
    fn check_depths(&mut self) {
        let tip = self.best.height;
        let mut reached: Vec<ConfirmationEvent> = Vec::new();
        let mut done: Vec<TxidKey> = Vec::new();
        for key in &self.pending_depth {
            let watch = match self.txs.get_mut(key) {
                Some(w) if !w.depth_reported => w,
                _ => {
                    done.push(*key);
                    continue;
                }
            };
            let Some((confirmation, tx)) = &watch.confirmation else {
                done.push(*key);
                continue;
            };
            let depth = Confirmations::at(confirmation.height, tip);
            if depth.is_confirmed() && depth.is_at_least(watch.min_depth) {
                watch.depth_reported = true;
                done.push(*key);
                reached.push(ConfirmationEvent::ReachedDepth {
                    txid: key.0,
                    depth,
                    confirmation: *confirmation,
                    tx: tx.clone(),
                });
            }
        }
        for key in done {
            self.pending_depth.remove(&key);
        }
        reached.sort_unstable_by_key(event_order);
        self.events.extend(reached);
    }

    /// Undoes every confirmation at `from` or above that `is_gone` says
    /// was on a removed block (found through `confirmed_at`).
    fn unconfirm_where(&mut self, from: u32, is_gone: impl Fn(&TxConfirmation) -> bool) {
        let candidates: Vec<Confirmed> = self
            .confirmed_at
            .range(from..)
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect();
        let mut gone: Vec<ConfirmationEvent> = Vec::new();
        for key in &candidates {
            let Confirmed::Tx(txid) = key else { continue };
            let Some(watch) = self.txs.get_mut(txid) else {
                continue;
            };
            if let Some(was) = watch
                .confirmation
                .as_ref()
                .map(|(c, _)| *c)
                .filter(|c| is_gone(c))
            {
                watch.confirmation = None;
                watch.depth_reported = false;
                self.pending_depth.remove(txid);
                gone.push(ConfirmationEvent::ReorgedOut { txid: txid.0, was });
            }
        }
        gone.sort_unstable_by_key(event_order);
        self.events.extend(gone);
        let mut gone: Vec<ConfirmationEvent> = Vec::new();
        for key in &candidates {
            let Confirmed::Spend(outpoint) = key else {
                continue;
            };
            let Some(spend) = self.outpoints.get_mut(outpoint) else {
                continue;
            };
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
        // Keep only the entries still confirmed at their height.
        let (txs, outpoints) = (&self.txs, &self.outpoints);
        for (height, keys) in self.confirmed_at.range_mut(from..) {
            keys.retain(|k| match k {
                Confirmed::Tx(t) => txs
                    .get(t)
                    .and_then(|w| w.confirmation.as_ref())
                    .is_some_and(|(c, _)| c.height == *height),
                Confirmed::Spend(o) => outpoints
                    .get(o)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.confirmation.height == *height),
            });
        }
        // Only heights from `from` up can have emptied: the rest of the
        // index (one entry per height with a confirmation, thousands for a
        // node with many channels) is not walked.
        let emptied: Vec<u32> = self
            .confirmed_at
            .range(from..)
            .filter(|(_, keys)| keys.is_empty())
            .map(|(h, _)| *h)
            .collect();
        for h in emptied {
            self.confirmed_at.remove(&h);
        }
    }

    /// Notes a confirmation at `height` for [`Self::unconfirm_where`].
    fn index_confirmation(&mut self, height: u32, key: Confirmed) {
        let keys = self.confirmed_at.entry(height).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
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
                    self.pending_depth.insert(TxidKey(txid));
                    self.index_confirmation(height, Confirmed::Tx(TxidKey(txid)));
                }
            }
            // (No watched output: nothing to look each input up for.)
            if tx.is_coinbase() || self.outpoints.is_empty() {
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
                self.index_confirmation(
                    height,
                    Confirmed::Spend(OutPointKey(input.previous_output)),
                );
            }
        }
        self.check_depths();
    }
}

impl ChainListener for ConfirmationTracker {
    fn block_disconnected(&mut self, header: &Header, height: u32) {
        self.unconfirm_where(height, |conf| conf.height >= height);
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
        self.unconfirm_where(height, |conf| {
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

    /// The tracker as it was before `pending_depth` and `confirmed_at`:
    /// every block walked every watch. The differential test below holds
    /// the indexed tracker to the same events.
    #[derive(Default)]
    struct Walking {
        best: u32,
        txs: std::collections::BTreeMap<Txid, (u32, Option<TxConfirmation>, bool)>,
        outpoints: std::collections::BTreeMap<OutPoint, Option<TxConfirmation>>,
        events: Vec<String>,
    }

    impl Walking {
        fn depths(&mut self) {
            for (txid, (min, conf, reported)) in self.txs.iter_mut() {
                let Some(c) = conf else { continue };
                let d = Confirmations::at(c.height, self.best);
                if !*reported && d.is_confirmed() && d.is_at_least(*min) {
                    *reported = true;
                    self.events.push(format!("depth {txid} {}", d.get()));
                }
            }
        }
        fn unconfirm(&mut self, gone: impl Fn(&TxConfirmation) -> bool) {
            for (txid, (_, conf, reported)) in self.txs.iter_mut() {
                if let Some(was) = conf.filter(|c| gone(c)) {
                    *conf = None;
                    *reported = false;
                    self.events.push(format!("reorged {txid} {}", was.height));
                }
            }
            for (op, spend) in self.outpoints.iter_mut() {
                if let Some(was) = spend.filter(|c| gone(c)) {
                    *spend = None;
                    self.events.push(format!("unspent {op} {}", was.height));
                }
            }
        }
    }

    fn describe(e: ConfirmationEvent) -> String {
        match e {
            ConfirmationEvent::Confirmed {
                txid, confirmation, ..
            } => {
                format!("confirmed {txid} {}", confirmation.height)
            }
            ConfirmationEvent::ReachedDepth { txid, depth, .. } => {
                format!("depth {txid} {}", depth.get())
            }
            ConfirmationEvent::ReorgedOut { txid, was } => format!("reorged {txid} {}", was.height),
            ConfirmationEvent::OutpointSpent { outpoint, spend } => {
                format!("spent {outpoint} {}", spend.confirmation.height)
            }
            ConfirmationEvent::SpendReorgedOut { outpoint, was } => {
                format!("unspent {outpoint} {}", was.confirmation.height)
            }
        }
    }

    /// Transaction `k` of the test: spends outpoint `k` of the zero txid.
    fn spender(k: u8) -> Transaction {
        let mut t = tx(1000 + u64::from(k));
        t.input[0].previous_output = OutPoint::new(Txid::all_zeros(), u32::from(k));
        t
    }

    proptest::proptest! {
        #[test]
        fn indexed_tracker_reports_what_walking_every_watch_did(
            ops in proptest::collection::vec((0u8..8, 0u8..6, 1u32..4, 0u8..64), 1..60)
        ) {
            let genesis = header(BlockHash::all_zeros(), 0);
            let mut chain = vec![genesis];
            let mut nonce = 1u32;
            let mut t = ConfirmationTracker::new(BestBlock::new(genesis.block_hash(), 0));
            let mut w = Walking::default();
            for (op, k, depth, mask) in ops {
                let txid = spender(k).compute_txid();
                let outpoint = OutPoint::new(Txid::all_zeros(), u32::from(k));
                let height = (chain.len() - 1) as u32;
                match op {
                    0 => {
                        t.watch_tx(txid, depth);
                        let e = w.txs.entry(txid).or_insert((depth, None, false));
                        if e.0 != depth {
                            e.0 = depth;
                            e.2 = false;
                        }
                        w.depths();
                    }
                    1 => {
                        t.unwatch_tx(&txid);
                        w.txs.remove(&txid);
                    }
                    2 => {
                        t.watch_outpoint(outpoint);
                        w.outpoints.entry(outpoint).or_insert(None);
                    }
                    3 => {
                        t.unwatch_outpoint(&outpoint);
                        w.outpoints.remove(&outpoint);
                    }
                    4 | 5 => {
                        // A whole block of the transactions in `mask`.
                        let h = header(chain[chain.len() - 1].block_hash(), nonce);
                        nonce += 1;
                        chain.push(h);
                        let height = height + 1;
                        let txs: Vec<Transaction> =
                            (0..6u8).filter(|i| mask & (1 << i) != 0).map(spender).collect();
                        let txdata: Vec<(usize, &Transaction)> = txs.iter().enumerate().collect();
                        t.transactions_confirmed(&h, &txdata, height);
                        t.best_block_updated(&h, height);
                        for (i, x) in txdata {
                            let c = TxConfirmation { block_hash: h.block_hash(), height, tx_index: i };
                            let id = x.compute_txid();
                            if let Some(e) = w.txs.get_mut(&id) {
                                if e.1 != Some(c) {
                                    if let Some(was) = e.1.replace(c) {
                                        w.events.push(format!("reorged {id} {}", was.height));
                                    }
                                    e.2 = false;
                                    w.events.push(format!("confirmed {id} {height}"));
                                }
                            }
                            let op = x.input[0].previous_output;
                            if let Some(slot) = w.outpoints.get_mut(&op) {
                                if *slot != Some(c) {
                                    if let Some(was) = slot.replace(c) {
                                        w.events.push(format!("unspent {op} {}", was.height));
                                    }
                                    w.events.push(format!("spent {op} {height}"));
                                }
                            }
                        }
                        w.depths();
                        let hash = h.block_hash();
                        w.unconfirm(|c| c.height > height || (c.height == height && c.block_hash != hash));
                        w.best = height;
                        w.depths();
                    }
                    6 if chain.len() > 1 => {
                        let h = chain.pop().unwrap();
                        t.block_disconnected(&h, height);
                        w.unconfirm(|c| c.height >= height);
                        w.best = height - 1;
                    }
                    7 if chain.len() > 2 => {
                        // A light client's tip moving down two blocks, or
                        // sideways at the same height.
                        let (h, new_height) = if mask % 2 == 0 {
                            chain.truncate(chain.len() - 2);
                            (chain[chain.len() - 1], height - 2)
                        } else {
                            let h = header(chain[chain.len() - 2].block_hash(), nonce);
                            nonce += 1;
                            let last = chain.len() - 1;
                            chain[last] = h;
                            (h, height)
                        };
                        t.best_block_updated(&h, new_height);
                        let hash = h.block_hash();
                        w.unconfirm(|c| c.height > new_height || (c.height == new_height && c.block_hash != hash));
                        w.best = new_height;
                        w.depths();
                    }
                    _ => {}
                }
                let mut got = Vec::new();
                while let Some(e) = t.poll_event() {
                    got.push(describe(e));
                }
                let want = std::mem::take(&mut w.events);
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
