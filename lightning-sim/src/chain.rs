//! The simulated chain: blocks, UTXO set, mempool, reorgs.

use std::collections::{HashMap, HashSet};

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::opcodes::all::OP_RETURN;
use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, Block, BlockHash, Network, OutPoint, Script, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Weight, Witness,
};

use crate::validate::{self, TxRejected};
use lightning_chain::{BestBlock, ChainSource, ChainSourceError};

/// Blocks before a coinbase output can be spent (Core's `COINBASE_MATURITY`).
pub const COINBASE_MATURITY: u32 = 100;

/// Regtest's subsidy halving interval, in blocks.
pub const SUBSIDY_HALVING_INTERVAL: u32 = 150;

/// Seconds between simulated blocks' timestamps.
const BLOCK_INTERVAL_SECS: u32 = 600;

/// The BIP 141 witness reserved value the coinbase commits with.
const WITNESS_RESERVED_VALUE: [u8; 32] = [0; 32];

/// An unspent output, with where it was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coin {
    /// The output.
    pub output: TxOut,
    /// Height of the block that created it.
    pub height: u32,
    /// Whether a coinbase created it (then it matures after
    /// [`COINBASE_MATURITY`] blocks).
    pub is_coinbase: bool,
}

/// A transaction the chain refused when it was broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The transaction.
    pub tx: Transaction,
    /// Why.
    pub reason: TxRejected,
}

#[derive(Clone, Debug)]
struct MempoolEntry {
    txid: Txid,
    tx: Transaction,
    fee: Amount,
    weight: Weight,
}

/// The coins one block's transactions spent, per transaction, to undo it.
type BlockUndo = Vec<Vec<(OutPoint, Coin)>>;

/// An in-memory regtest-like chain; see the [module documentation](super).
///
/// Deterministic: the same calls give the same blocks. Block timestamps are
/// the regtest genesis time plus ten minutes per height.
///
/// ```
/// use bitcoin::{Amount, ScriptBuf};
/// use lightning_sim::SimChain;
///
/// let mut chain = SimChain::new();
/// let script = ScriptBuf::new_op_return([0u8; 0]);
/// let miner = ScriptBuf::from_bytes(vec![0x51]); // OP_TRUE
/// chain.mine_blocks(3, &miner);
/// assert_eq!(chain.best_block().height, 3);
/// assert_eq!(chain.balance_of(&miner), Amount::from_btc(150.0).unwrap());
/// # let _ = script;
/// ```
#[derive(Clone, Debug)]
pub struct SimChain {
    /// The best chain; index is height.
    blocks: Vec<Block>,
    /// Parallel to `blocks`.
    undo: Vec<BlockUndo>,
    utxos: HashMap<OutPoint, Coin>,
    /// Confirmed transactions: height and index in the block.
    tx_index: HashMap<Txid, (u32, usize)>,
    /// Blocks disconnected by reorgs, still served by hash.
    stale: HashMap<BlockHash, Block>,
    /// The best chain's heights by block hash (a lookup by hash was a scan
    /// hashing every header above it).
    heights: HashMap<BlockHash, u32>,
    /// In acceptance order, so parents come before children.
    mempool: Vec<MempoolEntry>,
    rejections: Vec<Rejection>,
    /// Blocks ever mined, put in coinbases so that no two blocks are equal.
    mined: u64,
    /// Stamp new blocks with the wall clock instead of genesis + 10 min per
    /// height (see [`SimChain::use_wall_clock`]).
    wall_clock: bool,
}

impl Default for SimChain {
    fn default() -> Self {
        Self::new()
    }
}

impl SimChain {
    /// A chain holding only the regtest genesis block (whose coinbase, as in
    /// Bitcoin Core, is not spendable).
    pub fn new() -> Self {
        let genesis = bitcoin::constants::genesis_block(Network::Regtest);
        SimChain {
            heights: HashMap::from([(genesis.block_hash(), 0)]),
            blocks: vec![genesis],
            undo: vec![Vec::new()],
            utxos: HashMap::new(),
            tx_index: HashMap::new(),
            stale: HashMap::new(),
            mempool: Vec::new(),
            rejections: Vec::new(),
            mined: 0,
            wall_clock: false,
        }
    }

    /// Stamps blocks mined from now on with the current time (at least the
    /// median time past plus one second, as consensus requires) instead of
    /// the deterministic genesis time plus ten minutes per height. Programs
    /// outside the test (an Electrum wallet refusing a tip hours old, a
    /// server served over RPC) want a tip near wall-clock time.
    pub fn use_wall_clock(&mut self, on: bool) {
        self.wall_clock = on;
    }

    // ---- queries ----

    /// Where a confirmed transaction is: the height of its block on the best
    /// chain and its index there.
    pub fn tx_location(&self, txid: &Txid) -> Option<(u32, usize)> {
        self.tx_index.get(txid).copied()
    }

    /// The tip.
    pub fn best_block(&self) -> BestBlock {
        let height = self.tip_height();
        BestBlock::new(self.tip().block_hash(), height)
    }

    /// The best chain's block at `height`.
    pub fn block_at(&self, height: u32) -> Option<&Block> {
        self.blocks.get(height as usize)
    }

    /// The height of the best chain's block `hash` (`None` for a stale or
    /// unknown block).
    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.heights.get(hash).copied()
    }

    /// An unspent confirmed output.
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.utxos.get(outpoint)
    }

    /// Confirmations of `txid`: `Some(0)` in the mempool, `None` if unknown.
    pub fn tx_confirmations(&self, txid: &Txid) -> Option<u32> {
        if let Some((height, _)) = self.tx_index.get(txid) {
            return Some(self.tip_height() - height + 1);
        }
        self.mempool_entry(txid).map(|_| 0)
    }

    /// A confirmed or mempool transaction.
    pub fn get_transaction(&self, txid: &Txid) -> Option<Transaction> {
        if let Some(&(height, index)) = self.tx_index.get(txid) {
            return self
                .blocks
                .get(height as usize)
                .and_then(|block| block.txdata.get(index))
                .cloned();
        }
        self.mempool_entry(txid).map(|entry| entry.tx.clone())
    }

    /// The sum of confirmed unspent outputs paying `script` (including
    /// immature coinbase outputs and outputs spent in the mempool).
    pub fn balance_of(&self, script: &Script) -> Amount {
        self.utxos
            .values()
            .filter(|coin| coin.output.script_pubkey == *script)
            .map(|coin| coin.output.value)
            .sum()
    }

    /// Confirmed unspent outputs paying `script`, in outpoint order.
    pub fn utxos_of(&self, script: &Script) -> Vec<(OutPoint, Coin)> {
        let mut coins: Vec<(OutPoint, Coin)> = self
            .utxos
            .iter()
            .filter(|(_, coin)| coin.output.script_pubkey == *script)
            .map(|(outpoint, coin)| (*outpoint, coin.clone()))
            .collect();
        coins.sort_by_key(|(outpoint, _)| *outpoint);
        coins
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn mempool_spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.mempool
            .iter()
            .find(|entry| {
                entry
                    .tx
                    .input
                    .iter()
                    .any(|i| i.previous_output == *outpoint)
            })
            .map(|entry| entry.txid)
    }

    /// Mempool transactions, parents before children.
    pub fn mempool(&self) -> impl Iterator<Item = &Transaction> + '_ {
        self.mempool.iter().map(|entry| &entry.tx)
    }

    /// The fee a mempool transaction pays.
    pub fn mempool_fee(&self, txid: &Txid) -> Option<Amount> {
        self.mempool_entry(txid).map(|entry| entry.fee)
    }

    /// Transactions refused through [`broadcast`](SimChain::broadcast), oldest
    /// first. Tests assert this is empty.
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }

    /// Takes the recorded rejections, leaving none.
    pub fn take_rejections(&mut self) -> Vec<Rejection> {
        std::mem::take(&mut self.rejections)
    }

    /// The total value of confirmed unspent outputs.
    pub fn total_utxo_value(&self) -> Amount {
        self.utxos.values().map(|coin| coin.output.value).sum()
    }

    /// The subsidy of a block at `height` (50 BTC halving every
    /// [`SUBSIDY_HALVING_INTERVAL`] blocks).
    pub fn subsidy_at(height: u32) -> Amount {
        let halvings = height / SUBSIDY_HALVING_INTERVAL;
        if halvings >= 64 {
            return Amount::ZERO;
        }
        Amount::from_sat((50 * 100_000_000) >> halvings)
    }

    /// The median time past of the block at `height` (the median of its own
    /// and its ten predecessors' timestamps), clamped to the tip.
    pub fn median_time_past(&self, height: u32) -> u32 {
        let end = (height as usize).min(self.blocks.len().saturating_sub(1));
        let start = end.saturating_sub(10);
        let mut times: Vec<u32> = self.blocks[start..=end]
            .iter()
            .map(|block| block.header.time)
            .collect();
        times.sort_unstable();
        times[times.len() / 2]
    }

    // ---- mempool ----

    /// Accepts `tx` into the mempool if it could be mined in the next block;
    /// see the [module documentation](super). Submitting a transaction already
    /// in the mempool succeeds again. A conflicting mempool transaction is
    /// replaced if `tx` pays a higher fee rate and a higher fee than all it
    /// replaces, plus 1 sat/vbyte for its own size (full RBF).
    pub fn submit_transaction(&mut self, tx: Transaction) -> Result<Txid, TxRejected> {
        self.accept(tx, true)
    }

    /// Submits each transaction in order, recording rejections (but not
    /// [`TxRejected::AlreadyConfirmed`], which a rebroadcast may legitimately
    /// hit) for [`rejections`](SimChain::rejections).
    pub fn broadcast(&mut self, txs: &[&Transaction]) {
        for tx in txs {
            match self.submit_transaction((*tx).clone()) {
                Ok(_) | Err(TxRejected::AlreadyConfirmed { .. }) => {}
                Err(reason) => self.rejections.push(Rejection {
                    tx: (*tx).clone(),
                    reason,
                }),
            }
        }
    }

    /// Drops a transaction and its descendants from the mempool. Returns
    /// whether it was there.
    pub fn remove_from_mempool(&mut self, txid: &Txid) -> bool {
        let found = self.mempool_entry(txid).is_some();
        self.remove_with_descendants(&[*txid]);
        found
    }

    fn accept(&mut self, tx: Transaction, verify_scripts: bool) -> Result<Txid, TxRejected> {
        validate::check_context_free(&tx)?;
        let txid = tx.compute_txid();
        if self.tx_index.contains_key(&txid) {
            return Err(TxRejected::AlreadyConfirmed { txid });
        }
        if self.mempool_entry(&txid).is_some() {
            return Ok(txid);
        }
        let height = self.tip_height() + 1;
        let mtp = self.median_time_past(height - 1);
        validate::check_final(&tx, height, mtp)?;

        let mut spent = Vec::with_capacity(tx.input.len());
        let mut conflicts = Vec::new();
        for (input, txin) in tx.input.iter().enumerate() {
            let outpoint = txin.previous_output;
            let coin = self
                .coin(&outpoint)
                .ok_or_else(|| self.missing(input, outpoint))?;
            if let Some(spent_by) = self.mempool_spender(&outpoint) {
                conflicts.push((input, outpoint, spent_by));
            }
            if coin.is_coinbase {
                let confirmations = height - coin.height;
                if confirmations < COINBASE_MATURITY {
                    return Err(TxRejected::ImmatureCoinbase {
                        input,
                        outpoint,
                        confirmations,
                    });
                }
            }
            validate::check_sequence_lock(&tx, input, coin.height, height, |h| {
                self.median_time_past(h)
            })?;
            spent.push(coin.output);
        }

        let inputs: Amount = spent.iter().map(|txout| txout.value).sum();
        let outputs: Amount = tx.output.iter().map(|txout| txout.value).sum();
        let fee = inputs
            .checked_sub(outputs)
            .ok_or(TxRejected::InsufficientInputValue { inputs, outputs })?;
        if verify_scripts {
            validate::verify_scripts(&tx, &spent)?;
        }
        let weight = tx.weight();
        if !conflicts.is_empty() {
            self.check_replacement(&tx, fee, weight, &conflicts)?;
            let replaced: Vec<Txid> = conflicts.iter().map(|(_, _, txid)| *txid).collect();
            self.remove_with_descendants(&replaced);
        }
        self.mempool.push(MempoolEntry {
            txid,
            tx,
            fee,
            weight,
        });
        Ok(txid)
    }

    /// Full-RBF rules, simplified from BIP 125: the replacement pays a higher
    /// fee rate than each transaction it directly conflicts with, and more
    /// than all replaced transactions (with descendants) together plus 1
    /// sat/vbyte of its own size; it spends none of them.
    fn check_replacement(
        &self,
        tx: &Transaction,
        fee: Amount,
        weight: Weight,
        conflicts: &[(usize, OutPoint, Txid)],
    ) -> Result<(), TxRejected> {
        let direct: Vec<Txid> = conflicts.iter().map(|(_, _, txid)| *txid).collect();
        let replaced = self.with_descendants(&direct);
        if let Some(parent) = tx
            .input
            .iter()
            .map(|i| i.previous_output.txid)
            .find(|txid| replaced.contains(txid))
        {
            return Err(TxRejected::SpendsConflictingTx { txid: parent });
        }
        let replaced_fees: Amount = self
            .mempool
            .iter()
            .filter(|entry| replaced.contains(&entry.txid))
            .map(|entry| entry.fee)
            .sum();
        let relay_fee = Amount::from_sat(weight.to_vbytes_ceil());
        let pays_enough = fee >= replaced_fees + relay_fee;
        for &(input, outpoint, spent_by) in conflicts {
            let better_rate = self.mempool_entry(&spent_by).is_some_and(|old| {
                // fee / weight > old.fee / old.weight, without division.
                u128::from(fee.to_sat()) * u128::from(old.weight.to_wu())
                    > u128::from(old.fee.to_sat()) * u128::from(weight.to_wu())
            });
            if !pays_enough || !better_rate {
                return Err(TxRejected::MempoolConflict {
                    input,
                    outpoint,
                    spent_by,
                });
            }
        }
        Ok(())
    }

    fn missing(&self, input: usize, outpoint: OutPoint) -> TxRejected {
        let existed = self
            .tx_index
            .get(&outpoint.txid)
            .is_some_and(|&(height, index)| {
                self.blocks
                    .get(height as usize)
                    .and_then(|block| block.txdata.get(index))
                    .is_some_and(|tx| (outpoint.vout as usize) < tx.output.len())
            });
        if existed {
            TxRejected::AlreadySpent { input, outpoint }
        } else {
            TxRejected::MissingInput { input, outpoint }
        }
    }

    /// A confirmed coin, or an output of a mempool transaction (as if
    /// confirmed in the next block).
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        if let Some(coin) = self.utxos.get(outpoint) {
            return Some(coin.clone());
        }
        let entry = self.mempool_entry(&outpoint.txid)?;
        let output = entry.tx.output.get(outpoint.vout as usize)?.clone();
        Some(Coin {
            output,
            height: self.tip_height() + 1,
            is_coinbase: false,
        })
    }

    fn mempool_entry(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.mempool.iter().find(|entry| entry.txid == *txid)
    }

    fn with_descendants(&self, roots: &[Txid]) -> HashSet<Txid> {
        let mut set: HashSet<Txid> = roots.iter().copied().collect();
        // Children come after parents in the mempool, so one pass suffices.
        for entry in &self.mempool {
            if entry
                .tx
                .input
                .iter()
                .any(|i| set.contains(&i.previous_output.txid))
            {
                set.insert(entry.txid);
            }
        }
        set
    }

    fn remove_with_descendants(&mut self, roots: &[Txid]) {
        let doomed = self.with_descendants(roots);
        self.mempool.retain(|entry| !doomed.contains(&entry.txid));
    }

    /// Re-admits `candidates` (already script-checked) in order of
    /// dependency, dropping those no longer valid.
    fn rebuild_mempool(&mut self, mut candidates: Vec<Transaction>) {
        self.mempool.clear();
        loop {
            let before = candidates.len();
            candidates.retain(|tx| match self.accept(tx.clone(), false) {
                Ok(_) => false,
                // A parent may come later in the list: retry next round.
                Err(TxRejected::MissingInput { .. }) => true,
                Err(_) => false,
            });
            if candidates.len() == before || candidates.is_empty() {
                break;
            }
        }
    }

    // ---- mining ----

    /// Mines `n` blocks paying subsidy and fees to `coinbase_script`, each
    /// holding every mempool transaction valid in it. Returns their hashes.
    pub fn mine_blocks(&mut self, n: usize, coinbase_script: &Script) -> Vec<BlockHash> {
        (0..n)
            .map(|_| self.mine_block(coinbase_script, true))
            .collect()
    }

    /// Mines `n` blocks with no transactions but the coinbase, which pays to
    /// an `OP_RETURN` script (the coins are burnt). The mempool is kept.
    pub fn mine_empty_blocks(&mut self, n: usize) -> Vec<BlockHash> {
        let burn = ScriptBuf::new_op_return([0u8; 0]);
        (0..n).map(|_| self.mine_block(&burn, false)).collect()
    }

    /// Mines one block holding `txs` as they are, after its coinbase (an
    /// `OP_RETURN`, burnt), for benches that need large blocks quickly:
    /// the transactions are neither script-verified nor applied to the
    /// UTXO set, so they should spend nothing the chain knows (their
    /// outputs cannot be spent later either). A reorg that disconnects
    /// the block drops them. The mempool is kept.
    ///
    /// ```
    /// use bitcoin::{absolute::LockTime, transaction::Version, Transaction};
    /// use lightning_sim::SimChain;
    ///
    /// let mut chain = SimChain::new();
    /// let filler = Transaction {
    ///     version: Version::TWO,
    ///     lock_time: LockTime::ZERO,
    ///     input: Vec::new(),
    ///     output: Vec::new(),
    /// };
    /// chain.mine_block_unverified(vec![filler.clone(), filler]);
    /// assert_eq!(chain.block_at(1).unwrap().txdata.len(), 3);
    /// ```
    pub fn mine_block_unverified(&mut self, txs: Vec<Transaction>) -> BlockHash {
        let height = self.tip_height() + 1;
        let mtp = self.median_time_past(height - 1);
        let burn = ScriptBuf::new_op_return([0u8; 0]);
        let coinbase = self.coinbase(height, Self::subsidy_at(height), &burn);
        let mut txdata = Vec::with_capacity(txs.len() + 1);
        txdata.push(coinbase);
        txdata.extend(txs);
        let block = self.seal_block(height, mtp, txdata);
        let undo: BlockUndo = vec![Vec::new(); block.txdata.len()];
        let hash = block.block_hash();
        self.heights.insert(hash, self.blocks.len() as u32);
        self.blocks.push(block);
        self.undo.push(undo);
        self.mined += 1;
        hash
    }

    /// The next block at `height` holding `txdata` (its coinbase first):
    /// the header on our tip, the witness commitment, the merkle root,
    /// and a nonce that meets the regtest target.
    fn seal_block(&self, height: u32, mtp: u32, txdata: Vec<Transaction>) -> Block {
        let mut block = Block {
            header: Header {
                version: BlockVersion::NO_SOFT_FORK_SIGNALLING,
                prev_blockhash: self.tip().block_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: self.block_time(height, mtp),
                bits: self.blocks[0].header.bits,
                nonce: 0,
            },
            txdata,
        };
        Self::add_witness_commitment(&mut block);
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        }
        Self::grind(&mut block.header);
        block
    }

    fn mine_block(&mut self, coinbase_script: &Script, include_mempool: bool) -> BlockHash {
        let height = self.tip_height() + 1;
        let mtp = self.median_time_past(height - 1);
        let candidates = if include_mempool {
            std::mem::take(&mut self.mempool)
        } else {
            Vec::new()
        };

        // Apply transactions in dependency order until none more fits.
        let mut txdata = Vec::new();
        let mut undo: BlockUndo = vec![Vec::new()];
        let mut fees = Amount::ZERO;
        let mut pending = candidates;
        loop {
            let before = pending.len();
            let mut rest = Vec::new();
            for entry in pending {
                if self.fits_in_block(&entry.tx, height, mtp) {
                    let index = txdata.len() + 1;
                    undo.push(self.apply_tx(&entry.tx, entry.txid, height, index, false));
                    fees += entry.fee;
                    txdata.push(entry.tx);
                } else {
                    rest.push(entry);
                }
            }
            pending = rest;
            if pending.len() == before || pending.is_empty() {
                break;
            }
        }

        let coinbase = self.coinbase(height, Self::subsidy_at(height) + fees, coinbase_script);
        txdata.insert(0, coinbase);
        let block = self.seal_block(height, mtp, txdata);

        // The coinbase's outputs are added now that it is final (the witness
        // commitment changed its txid).
        if let Some(coinbase) = block.txdata.first() {
            let coinbase = coinbase.clone();
            undo[0] = self.apply_tx(&coinbase, coinbase.compute_txid(), height, 0, true);
        }
        let hash = block.block_hash();
        self.heights.insert(hash, self.blocks.len() as u32);
        self.blocks.push(block);
        self.undo.push(undo);
        self.mined += 1;
        // Whatever did not fit stays if still valid.
        let leftover: Vec<Transaction> = pending.into_iter().map(|entry| entry.tx).collect();
        let kept = std::mem::take(&mut self.mempool);
        self.rebuild_mempool(
            leftover
                .into_iter()
                .chain(kept.into_iter().map(|e| e.tx))
                .collect(),
        );
        hash
    }

    fn block_time(&self, height: u32, mtp: u32) -> u32 {
        if self.wall_clock {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
                .unwrap_or(0);
            now.max(mtp.saturating_add(1))
        } else {
            self.blocks[0].header.time + BLOCK_INTERVAL_SECS * height
        }
    }

    fn fits_in_block(&self, tx: &Transaction, height: u32, mtp: u32) -> bool {
        if validate::check_final(tx, height, mtp).is_err() {
            return false;
        }
        tx.input.iter().enumerate().all(|(input, txin)| {
            self.utxos.get(&txin.previous_output).is_some_and(|coin| {
                (!coin.is_coinbase || height - coin.height >= COINBASE_MATURITY)
                    && validate::check_sequence_lock(tx, input, coin.height, height, |h| {
                        self.median_time_past(h)
                    })
                    .is_ok()
            })
        })
    }

    /// Spends `tx`'s inputs and adds its spendable outputs; returns the spent
    /// coins.
    fn apply_tx(
        &mut self,
        tx: &Transaction,
        txid: Txid,
        height: u32,
        index: usize,
        is_coinbase: bool,
    ) -> Vec<(OutPoint, Coin)> {
        let mut spent = Vec::new();
        if !is_coinbase {
            for txin in &tx.input {
                if let Some(coin) = self.utxos.remove(&txin.previous_output) {
                    spent.push((txin.previous_output, coin));
                }
            }
        }
        for (vout, output) in tx.output.iter().enumerate() {
            // Like Core, never add provably unspendable outputs.
            if output.script_pubkey.is_op_return() {
                continue;
            }
            let outpoint = OutPoint {
                txid,
                vout: vout as u32,
            };
            self.utxos.insert(
                outpoint,
                Coin {
                    output: output.clone(),
                    height,
                    is_coinbase,
                },
            );
        }
        self.tx_index.insert(txid, (height, index));
        spent
    }

    fn coinbase(&self, height: u32, value: Amount, script: &Script) -> Transaction {
        // BIP 34: the height first; then a counter so that blocks mined at
        // the same height on different branches differ.
        let script_sig = Builder::new()
            .push_int(i64::from(height))
            .push_int(i64::try_from(self.mined).unwrap_or(i64::MAX))
            .into_script();
        Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig,
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[WITNESS_RESERVED_VALUE]),
            }],
            output: vec![TxOut {
                value,
                script_pubkey: script.to_owned(),
            }],
        }
    }

    /// BIP 141: commit to the witness merkle root in the coinbase's last
    /// output.
    fn add_witness_commitment(block: &mut Block) {
        let Some(witness_root) = block.witness_root() else {
            return;
        };
        let commitment = Block::compute_witness_commitment(&witness_root, &WITNESS_RESERVED_VALUE);
        let mut data = [0u8; 36];
        data[..4].copy_from_slice(&[0xaa, 0x21, 0xa9, 0xed]);
        data[4..].copy_from_slice(commitment.as_byte_array());
        let script_pubkey = Builder::new()
            .push_opcode(OP_RETURN)
            .push_slice(data)
            .into_script();
        if let Some(coinbase) = block.txdata.first_mut() {
            coinbase.output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey,
            });
        }
    }

    /// Regtest proof of work: about two tries.
    fn grind(header: &mut Header) {
        let target = header.target();
        while !target.is_met_by(header.block_hash()) {
            match header.nonce.checked_add(1) {
                Some(nonce) => header.nonce = nonce,
                None => {
                    header.nonce = 0;
                    header.time += 1;
                }
            }
        }
    }

    // ---- reorgs ----

    /// Disconnects the top `n` blocks (never genesis). Their transactions go
    /// back to the mempool, ahead of what was there, where still valid.
    /// Returns the hashes disconnected, tip first.
    pub fn invalidate_tip(&mut self, n: usize) -> Vec<BlockHash> {
        let mut returned: Vec<Transaction> = Vec::new();
        let mut hashes = Vec::new();
        for _ in 0..n {
            let Some(block) = self.disconnect_tip() else {
                break;
            };
            hashes.push(block.block_hash());
            let txs: Vec<Transaction> = block.txdata.iter().skip(1).cloned().collect();
            returned.splice(0..0, txs);
            self.stale.insert(block.block_hash(), block);
        }
        let kept: Vec<Transaction> = std::mem::take(&mut self.mempool)
            .into_iter()
            .map(|e| e.tx)
            .collect();
        returned.extend(kept);
        self.rebuild_mempool(returned);
        hashes
    }

    /// A reorg: disconnects `depth` blocks, then mines `new_blocks` paying to
    /// `coinbase_script` (which take the returned transactions back). Returns
    /// the new blocks' hashes.
    pub fn reorg(
        &mut self,
        depth: usize,
        new_blocks: usize,
        coinbase_script: &Script,
    ) -> Vec<BlockHash> {
        self.invalidate_tip(depth);
        self.mine_blocks(new_blocks, coinbase_script)
    }

    fn disconnect_tip(&mut self) -> Option<Block> {
        if self.blocks.len() <= 1 {
            return None;
        }
        let block = self.blocks.pop()?;
        self.heights.remove(&block.block_hash());
        let undo = self.undo.pop().unwrap_or_default();
        for (index, tx) in block.txdata.iter().enumerate().rev() {
            let txid = tx.compute_txid();
            for vout in 0..tx.output.len() {
                self.utxos.remove(&OutPoint {
                    txid,
                    vout: vout as u32,
                });
            }
            self.tx_index.remove(&txid);
            if let Some(spent) = undo.get(index) {
                for (outpoint, coin) in spent {
                    self.utxos.insert(*outpoint, coin.clone());
                }
            }
        }
        Some(block)
    }

    fn tip(&self) -> &Block {
        // `blocks` always holds genesis: `disconnect_tip` never pops it.
        self.blocks
            .last()
            .expect("the chain always holds its genesis block")
    }

    fn tip_height(&self) -> u32 {
        (self.blocks.len() - 1) as u32
    }
}

impl ChainSource for SimChain {
    fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
        Ok(SimChain::best_block(self))
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
        Ok(self.block_at(height).map(Block::block_hash))
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
        if let Some(block) = self.stale.get(hash) {
            return Ok(Some(block.clone()));
        }
        Ok(self.height_of(hash).and_then(|h| self.block_at(h)).cloned())
    }
}
