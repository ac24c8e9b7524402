//! The light-client sync driver: follows a server that answers per-script
//! histories (Electrum, Esplora) and feeds a [`ChainListener`] through its
//! light-client path (`transactions_confirmed`, `best_block_updated`,
//! `block_disconnected`). No IO here: a [`LightBackend`] does it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{BlockHash, Script, ScriptBuf, Transaction, TxMerkleNode, Txid};

use crate::{BestBlock, ChainListener, ChainSourceError, SyncError, WatchFilter, WatchedOutput};

/// How many headers below the tip the driver keeps to detect reorgs.
/// A reorg deeper than this (or below the checkpoint) is an error.
pub const KEPT_HEADERS: u32 = 2016;

/// Headers asked for in one request.
const HEADER_CHUNK: u32 = 2016;

/// A transaction's merkle branch: where it is in its block and the sibling
/// hashes from the leaves up (in internal byte order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleProof {
    /// The transaction's index in the block.
    pub pos: usize,
    /// Sibling hashes, leaf level first.
    pub branch: Vec<TxMerkleNode>,
}

impl MerkleProof {
    /// Whether the branch leads from `txid` to `root`.
    pub fn connects(&self, txid: &Txid, root: &TxMerkleNode) -> bool {
        if self.branch.len() >= usize::BITS as usize || self.pos >> self.branch.len() != 0 {
            return false;
        }
        let mut index = self.pos;
        let mut current = txid.to_raw_hash();
        for sibling in &self.branch {
            let mut engine = sha256d::Hash::engine();
            if index & 1 == 0 {
                engine.input(current.as_byte_array());
                engine.input(sibling.as_byte_array());
            } else {
                engine.input(sibling.as_byte_array());
                engine.input(current.as_byte_array());
            }
            current = sha256d::Hash::from_engine(engine);
            index >>= 1;
        }
        current.to_byte_array() == root.to_byte_array()
    }
}

/// A light-client server: what [`LightClientSync`] asks of Electrum or
/// Esplora. Answers describe the server's best chain; they may change
/// between calls (the driver checks what it gets).
pub trait LightBackend {
    /// The server's tip.
    fn tip(&self) -> Result<BestBlock, ChainSourceError>;
    /// Up to `count` consecutive headers of the best chain from `start`.
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, ChainSourceError>;
    /// Confirmed transactions touching `script` (paying to it or spending
    /// from it), with the height of the block that confirmed each.
    fn script_history(&self, script: &Script) -> Result<Vec<(Txid, u32)>, ChainSourceError>;
    /// [`script_history`](Self::script_history) of each script, in order.
    /// A backend that can batch requests should override it: it is the one
    /// request per watched script on every sync.
    fn script_histories(
        &self,
        scripts: &[ScriptBuf],
    ) -> Result<Vec<Vec<(Txid, u32)>>, ChainSourceError> {
        scripts.iter().map(|s| self.script_history(s)).collect()
    }
    /// A transaction by id.
    fn transaction(&self, txid: &Txid) -> Result<Transaction, ChainSourceError>;
    /// The merkle branch of `txid` in the block at `height`.
    fn merkle_proof(&self, txid: &Txid, height: u32) -> Result<MerkleProof, ChainSourceError>;
    /// [`transaction`](Self::transaction) of each, in order (override to
    /// batch).
    fn transactions(&self, txids: &[Txid]) -> Result<Vec<Transaction>, ChainSourceError> {
        txids.iter().map(|t| self.transaction(t)).collect()
    }
    /// [`merkle_proof`](Self::merkle_proof) of each, in order (override to
    /// batch).
    fn merkle_proofs(&self, txs: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, ChainSourceError> {
        txs.iter().map(|(t, h)| self.merkle_proof(t, *h)).collect()
    }
}

/// What one [`LightClientSync::sync`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LightSyncOutcome {
    /// Blocks disconnected (a reorg), tip first.
    pub disconnected: u32,
    /// Headers added.
    pub new_headers: u32,
    /// Transactions reported with `transactions_confirmed`.
    pub confirmed: u32,
    /// The best block afterwards.
    pub best_block: BestBlock,
}

/// Follows a [`LightBackend`] for a [`ChainListener`], from a checkpoint
/// (the listener's best block), watching scripts.
///
/// On each [`sync`](Self::sync): the tip; the fork point, walking down from
/// the driver's best block until the server's header at that height is the
/// one the driver kept (each block above it is `block_disconnected`, tip
/// first); the new headers, each checked to link to the previous and to
/// meet its own proof-of-work target; the histories of the watched scripts,
/// every confirmed transaction fetched, checked to hash to its id, and its
/// merkle branch checked against the kept header at its height before it
/// is reported with `transactions_confirmed` (once per block); then
/// `best_block_updated` with the tip. A failure leaves the listener
/// consistent with [`best_block`](Self::best_block); the next call resumes.
///
/// Not checked: the difficulty retarget rules (a light client trusting its
/// server for the header chain's work; the eclipse warning of
/// [`TipDisagreementMonitor`](crate::TipDisagreementMonitor) is the defence), and
/// transactions confirmed at or below the checkpoint.
#[derive(Debug)]
pub struct LightClientSync {
    checkpoint: BestBlock,
    best: BestBlock,
    /// Our view of the best chain above the checkpoint, by height.
    headers: BTreeMap<u32, Header>,
    scripts: Mutex<BTreeSet<ScriptBuf>>,
    /// (txid, block) pairs already reported.
    reported: HashSet<(Txid, BlockHash)>,
    /// Fetched transactions, by id.
    txs: HashMap<Txid, Transaction>,
}

/// Stops the walk at most this many times per call when the server moves.
const MAX_ROUNDS: usize = 8;

impl LightClientSync {
    /// A driver for a listener whose best block is `checkpoint`.
    pub fn new(checkpoint: BestBlock) -> Self {
        LightClientSync {
            checkpoint,
            best: checkpoint,
            headers: BTreeMap::new(),
            scripts: Mutex::new(BTreeSet::new()),
            reported: HashSet::new(),
            txs: HashMap::new(),
        }
    }

    /// The best block the listener has been told about.
    pub fn best_block(&self) -> BestBlock {
        self.best
    }

    /// Watch `script` (its payments and spends).
    pub fn watch_script(&self, script: ScriptBuf) {
        self.lock_scripts().insert(script);
    }

    /// The scripts watched.
    pub fn watched_scripts(&self) -> Vec<ScriptBuf> {
        self.lock_scripts().iter().cloned().collect()
    }

    fn lock_scripts(&self) -> std::sync::MutexGuard<'_, BTreeSet<ScriptBuf>> {
        self.scripts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn kept_hash(&self, height: u32) -> Option<BlockHash> {
        if height == self.checkpoint.height {
            return Some(self.checkpoint.hash);
        }
        self.headers.get(&height).map(Header::block_hash)
    }

    /// Brings `listener` to the backend's tip; see the type's documentation.
    pub fn sync<B, L>(
        &mut self,
        backend: &B,
        listener: &mut L,
    ) -> Result<LightSyncOutcome, SyncError>
    where
        B: LightBackend + ?Sized,
        L: ChainListener + ?Sized,
    {
        let mut outcome = LightSyncOutcome {
            disconnected: 0,
            new_headers: 0,
            confirmed: 0,
            best_block: self.best,
        };
        self.drop_above_best();
        let mut tip = backend.tip()?;
        let mut reached = false;
        for _ in 0..MAX_ROUNDS {
            outcome.disconnected += self.disconnect_to_fork(backend, tip, listener)?;
            let (added, at_tip) = self.extend_to(backend, tip)?;
            outcome.new_headers += added;
            if at_tip {
                reached = true;
                break;
            }
            tip = backend.tip()?;
        }
        if !reached {
            return Err(ChainSourceError::Unavailable(
                "the server's chain kept changing during sync".into(),
            )
            .into());
        }
        outcome.confirmed = self.report_confirmations(backend, listener)?;
        let tip_header = self.headers.get(&tip.height).copied();
        if let Some(header) = tip_header {
            listener.best_block_updated(&header, tip.height);
        }
        self.best = tip;
        outcome.best_block = tip;
        self.prune();
        Ok(outcome)
    }

    /// Disconnects kept blocks the server no longer has. Returns how many.
    fn disconnect_to_fork<B, L>(
        &mut self,
        backend: &B,
        tip: BestBlock,
        listener: &mut L,
    ) -> Result<u32, SyncError>
    where
        B: LightBackend + ?Sized,
        L: ChainListener + ?Sized,
    {
        let mut disconnected = 0;
        let mut height = self.best.height;
        loop {
            let agrees = if height > tip.height {
                false
            } else if height == tip.height {
                self.kept_hash(height) == Some(tip.hash)
            } else {
                let server = backend.headers(height, 1)?;
                let server = server.first().map(Header::block_hash);
                server.is_some() && server == self.kept_hash(height)
            };
            if agrees {
                return Ok(disconnected);
            }
            if height <= self.checkpoint.height {
                return Err(SyncError::UnknownBlock {
                    hash: self.checkpoint.hash,
                    height: self.checkpoint.height,
                });
            }
            let Some(header) = self.headers.remove(&height) else {
                // Pruned: the reorg is deeper than we kept.
                return Err(SyncError::UnknownBlock {
                    hash: self.best.hash,
                    height,
                });
            };
            listener.block_disconnected(&header, height);
            let hash = header.block_hash();
            self.reported.retain(|(_, block)| *block != hash);
            self.best = BestBlock::new(header.prev_blockhash, height - 1);
            disconnected += 1;
            height -= 1;
        }
    }

    /// Fetches and checks headers from the best block to `tip`. Returns how
    /// many were added and whether the last is `tip`.
    fn extend_to<B: LightBackend + ?Sized>(
        &mut self,
        backend: &B,
        tip: BestBlock,
    ) -> Result<(u32, bool), SyncError> {
        let mut added = 0;
        let mut top = self.best;
        // Kept headers above the best block (after a disconnect, none).
        while top.height < tip.height {
            let start = top.height + 1;
            let count = (tip.height - top.height).min(HEADER_CHUNK);
            let headers = backend.headers(start, count)?;
            if headers.is_empty() {
                self.drop_above_best();
                return Ok((added, false));
            }
            for (offset, header) in headers.iter().enumerate() {
                let height = start + offset as u32;
                if height > tip.height {
                    break;
                }
                if header.prev_blockhash != top.hash {
                    // The server reorged underfoot: start over.
                    self.drop_above_best();
                    return Ok((added, false));
                }
                if let Err(e) = header.validate_pow(header.target()) {
                    self.drop_above_best();
                    return Err(
                        ChainSourceError::BadData(format!("header at {height}: {e}")).into(),
                    );
                }
                self.headers.insert(height, *header);
                top = BestBlock::new(header.block_hash(), height);
                added += 1;
            }
        }
        // The listener's best block moves only in `sync`, after the
        // confirmations.
        Ok((added, top == tip))
    }

    /// Forgets kept headers the listener has not been told about.
    fn drop_above_best(&mut self) {
        let best = self.best.height;
        self.headers.retain(|height, _| *height <= best);
    }

    fn report_confirmations<B, L>(
        &mut self,
        backend: &B,
        listener: &mut L,
    ) -> Result<u32, SyncError>
    where
        B: LightBackend + ?Sized,
        L: ChainListener + ?Sized,
    {
        let scripts = self.watched_scripts();
        let histories = backend.script_histories(&scripts)?;
        if histories.len() != scripts.len() {
            return Err(ChainSourceError::BadData(format!(
                "{} histories for {} scripts",
                histories.len(),
                scripts.len()
            ))
            .into());
        }
        // What is new: (txid, height), each once.
        let mut wanted: Vec<(Txid, u32)> = Vec::new();
        for history in histories {
            for (txid, height) in history {
                let Some(header) = self.headers.get(&height) else {
                    // At or below the checkpoint, or above the tip we
                    // checked (the server moved on): the next sync.
                    continue;
                };
                if !self.reported.contains(&(txid, header.block_hash()))
                    && !wanted.contains(&(txid, height))
                {
                    wanted.push((txid, height));
                }
            }
        }
        let proofs = backend.merkle_proofs(&wanted)?;
        let missing: Vec<Txid> = wanted
            .iter()
            .map(|(txid, _)| *txid)
            .filter(|txid| !self.txs.contains_key(txid))
            .collect();
        let fetched = backend.transactions(&missing)?;
        if proofs.len() != wanted.len() || fetched.len() != missing.len() {
            return Err(ChainSourceError::BadData("batch answered short".into()).into());
        }
        for (txid, tx) in missing.iter().zip(fetched) {
            // A 64-byte transaction could pass for an inner node of the
            // merkle tree (and a node for a transaction); no valid one is
            // relayed (Core's MIN_STANDARD_TX_NONWITNESS_SIZE is 65).
            if tx.base_size() == 64 {
                return Err(ChainSourceError::BadData(format!(
                    "transaction {txid} is 64 bytes without witness: ambiguous in a merkle proof"
                ))
                .into());
            }
            if tx.compute_txid() != *txid {
                return Err(ChainSourceError::BadData(format!(
                    "transaction served for {txid} hashes to {}",
                    tx.compute_txid()
                ))
                .into());
            }
            self.txs.insert(*txid, tx);
        }
        // height -> (pos, txid)
        let mut found: BTreeMap<u32, BTreeMap<usize, Txid>> = BTreeMap::new();
        for ((txid, height), proof) in wanted.iter().zip(proofs) {
            let Some(header) = self.headers.get(height) else {
                continue;
            };
            if !proof.connects(txid, &header.merkle_root) {
                return Err(ChainSourceError::BadData(format!(
                    "merkle proof of {txid} does not lead to the root of block {} at {height}",
                    header.block_hash()
                ))
                .into());
            }
            found.entry(*height).or_default().insert(proof.pos, *txid);
        }
        let mut confirmed = 0;
        for (height, by_pos) in found {
            let Some(header) = self.headers.get(&height).copied() else {
                continue;
            };
            let txdata: Vec<(usize, &Transaction)> = by_pos
                .iter()
                .filter_map(|(pos, txid)| self.txs.get(txid).map(|tx| (*pos, tx)))
                .collect();
            listener.transactions_confirmed(&header, &txdata, height);
            confirmed += txdata.len() as u32;
            let block = header.block_hash();
            for txid in by_pos.values() {
                self.reported.insert((*txid, block));
            }
        }
        Ok(confirmed)
    }

    fn prune(&mut self) {
        let keep_from = self.best.height.saturating_sub(KEPT_HEADERS);
        let old: Vec<u32> = self.headers.range(..keep_from).map(|(h, _)| *h).collect();
        if let Some(&newest_pruned) = old.last() {
            if let Some(header) = self.headers.get(&newest_pruned) {
                // The newest pruned header becomes the checkpoint.
                self.checkpoint = BestBlock::new(header.block_hash(), newest_pruned);
            }
        }
        for height in old {
            self.headers.remove(&height);
        }
        let kept: HashSet<BlockHash> = self.headers.values().map(Header::block_hash).collect();
        self.reported.retain(|(_, block)| kept.contains(block));
        let still: HashSet<Txid> = self.reported.iter().map(|(txid, _)| *txid).collect();
        self.txs.retain(|txid, _| still.contains(txid));
    }
}

impl WatchFilter for LightClientSync {
    fn register_tx(&self, _txid: &Txid, script_pubkey: &Script) {
        self.watch_script(script_pubkey.to_owned());
    }

    fn register_output(&self, output: WatchedOutput) {
        self.watch_script(output.script_pubkey);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::encode::deserialize;

    #[test]
    fn merkle_proof_checks() {
        // Regtest genesis: one transaction, the root is its txid.
        let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Regtest);
        let txid = genesis.txdata[0].compute_txid();
        let proof = MerkleProof {
            pos: 0,
            branch: vec![],
        };
        assert!(proof.connects(&txid, &genesis.header.merkle_root));
        let wrong = MerkleProof {
            pos: 1,
            branch: vec![],
        };
        assert!(!wrong.connects(&txid, &genesis.header.merkle_root));
        // Two leaves: root = H(a || b).
        let a: Txid = deserialize(&[1u8; 32]).unwrap();
        let b: Txid = deserialize(&[2u8; 32]).unwrap();
        let mut engine = sha256d::Hash::engine();
        engine.input(&[1u8; 32]);
        engine.input(&[2u8; 32]);
        let root = TxMerkleNode::from_raw_hash(sha256d::Hash::from_engine(engine));
        let leaf_b = TxMerkleNode::from_byte_array([2u8; 32]);
        let leaf_a = TxMerkleNode::from_byte_array([1u8; 32]);
        assert!(MerkleProof {
            pos: 0,
            branch: vec![leaf_b]
        }
        .connects(&a, &root));
        assert!(MerkleProof {
            pos: 1,
            branch: vec![leaf_a]
        }
        .connects(&b, &root));
        assert!(!MerkleProof {
            pos: 1,
            branch: vec![leaf_b]
        }
        .connects(&a, &root));
        assert!(!MerkleProof {
            pos: usize::MAX,
            branch: vec![leaf_b]
        }
        .connects(&a, &root));
    }
}
