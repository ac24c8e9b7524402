//! The chain sync driver: walks a listener from its best block to a source's
//! tip, through reorgs.

use std::collections::VecDeque;

use bitcoin::block::Header;
use bitcoin::BlockHash;

use crate::{BestBlock, ChainListener, ChainSource, ChainSourceError};

/// How many recently connected headers the driver keeps, so that a reorg
/// shallower than this is undone without asking the source for stale headers.
const RECENT_HEADERS: usize = 288;

/// How many times one [`ChainSync::sync`] call starts over when the source's
/// best chain changes while it is being walked.
const MAX_ROUNDS: usize = 8;

/// Why a sync stopped. The listener has been told about every block up to
/// [`ChainSync::best_block`], which stays consistent: calling
/// [`ChainSync::sync`] again resumes from there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The source failed.
    #[error(transparent)]
    Source(#[from] ChainSourceError),
    /// Walking back to find the fork point reached a block the source does
    /// not know (and the driver no longer remembers).
    #[error("block {hash} at height {height} is unknown to the chain source")]
    UnknownBlock {
        /// The block's hash.
        hash: BlockHash,
        /// Its height.
        height: u32,
    },
    /// The listener's chain and the source's share no block, not even
    /// genesis: they are on different networks.
    #[error("the chain source is on a different chain (genesis {source_genesis:?}, ours {ours})")]
    DifferentChain {
        /// The source's genesis block hash, if it gave one.
        source_genesis: Option<BlockHash>,
        /// Our genesis block hash.
        ours: BlockHash,
    },
}

/// What one [`ChainSync::sync`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Blocks disconnected (a reorg), tip first.
    pub disconnected: u32,
    /// Blocks connected.
    pub connected: u32,
    /// The best block afterwards.
    pub best_block: BestBlock,
}

/// Brings a [`ChainListener`] from its best block to a [`ChainSource`]'s tip.
///
/// Deterministic: it makes no calls except to the source and the listener,
/// and keeps no clock. On each [`sync`](ChainSync::sync) it:
///
/// 1. asks the source for its tip;
/// 2. walks back from the listener's best block until it finds a block that
///    is on the source's best chain (the fork point), and calls
///    [`ChainListener::block_disconnected`] for each block above it, tip
///    first;
/// 3. calls [`ChainListener::block_connected`] for each block from the fork
///    point up to the tip, checking that each extends the previous one.
///
/// If the source reorgs while being walked, it starts over (a few times).
/// One driver serves one listener, or several that share a best block (a
/// slice of listeners is a listener).
///
/// ```
/// use lightning_sim::SimChain;
/// use lightning_chain::{ChainSync, ConfirmationTracker};
///
/// let mut chain = SimChain::new();
/// let mut tracker = ConfirmationTracker::new(chain.best_block());
/// let mut sync = ChainSync::new(tracker.best_block());
///
/// chain.mine_empty_blocks(3);
/// let outcome = sync.sync(&chain, &mut tracker).unwrap();
/// assert_eq!(outcome.connected, 3);
///
/// // A two-block reorg onto a longer branch.
/// chain.invalidate_tip(2);
/// chain.mine_empty_blocks(3);
/// let outcome = sync.sync(&chain, &mut tracker).unwrap();
/// assert_eq!((outcome.disconnected, outcome.connected), (2, 3));
/// assert_eq!(tracker.best_block(), chain.best_block());
/// ```
#[derive(Debug, Clone)]
pub struct ChainSync {
    best: BestBlock,
    /// Headers this driver connected, oldest first, with their heights.
    recent: VecDeque<(u32, Header)>,
}

impl ChainSync {
    /// A driver for a listener whose best block is `best` (persisted by the
    /// node, or [`BestBlock::genesis`] for a new one).
    pub fn new(best: BestBlock) -> Self {
        ChainSync {
            best,
            recent: VecDeque::new(),
        }
    }

    /// The best block the listener has been told about.
    pub fn best_block(&self) -> BestBlock {
        self.best
    }

    /// Walks `listener` to `source`'s tip; see the type's documentation.
    ///
    /// On error, the listener has been told about every block up to
    /// [`best_block`](ChainSync::best_block); calling `sync` again resumes.
    pub fn sync<S, L>(&mut self, source: &S, listener: &mut L) -> Result<SyncOutcome, SyncError>
    where
        S: ChainSource + ?Sized,
        L: ChainListener + ?Sized,
    {
        let mut outcome = SyncOutcome {
            disconnected: 0,
            connected: 0,
            best_block: self.best,
        };
        for _ in 0..MAX_ROUNDS {
            let tip = source.best_block()?;
            let fork = self.find_fork_point(source, tip)?;
            outcome.disconnected += self.disconnect_to(fork, listener);
            let (connected, reached_tip) = self.connect_to(source, tip, listener)?;
            outcome.connected += connected;
            outcome.best_block = self.best;
            if reached_tip {
                break;
            }
        }
        Ok(outcome)
    }

    /// The highest block on both the listener's chain and the source's best
    /// chain, with the headers above it on the listener's chain, tip first.
    fn find_fork_point<S: ChainSource + ?Sized>(
        &self,
        source: &S,
        tip: BestBlock,
    ) -> Result<(BestBlock, Vec<(u32, Header)>), SyncError> {
        let mut cursor = self.best;
        let mut above = Vec::new();
        loop {
            if cursor.height <= tip.height
                && source.block_hash_at(cursor.height)? == Some(cursor.hash)
            {
                return Ok((cursor, above));
            }
            if cursor.height == 0 {
                return Err(SyncError::DifferentChain {
                    source_genesis: source.block_hash_at(0)?,
                    ours: cursor.hash,
                });
            }
            let header = self.header_of(source, cursor)?;
            above.push((cursor.height, header));
            cursor = BestBlock::new(header.prev_blockhash, cursor.height - 1);
        }
    }

    fn header_of<S: ChainSource + ?Sized>(
        &self,
        source: &S,
        block: BestBlock,
    ) -> Result<Header, SyncError> {
        if let Some((_, header)) =
            self.recent.iter().rev().find(|(height, header)| {
                *height == block.height && header.block_hash() == block.hash
            })
        {
            return Ok(*header);
        }
        match source.header(&block.hash)? {
            Some(header) if header.block_hash() == block.hash => Ok(header),
            Some(_) => Err(ChainSourceError::BadData(format!(
                "header served for {} hashes to something else",
                block.hash
            ))
            .into()),
            None => Err(SyncError::UnknownBlock {
                hash: block.hash,
                height: block.height,
            }),
        }
    }

    fn disconnect_to<L: ChainListener + ?Sized>(
        &mut self,
        (fork, above): (BestBlock, Vec<(u32, Header)>),
        listener: &mut L,
    ) -> u32 {
        let mut disconnected = 0;
        for (height, header) in above {
            listener.block_disconnected(&header, height);
            self.best = BestBlock::new(header.prev_blockhash, height.saturating_sub(1));
            while self.recent.back().is_some_and(|(h, _)| *h >= height) {
                self.recent.pop_back();
            }
            disconnected += 1;
        }
        debug_assert_eq!(self.best, fork);
        disconnected
    }

    /// Connects blocks up to `tip`. Returns how many, and whether it got
    /// there (false if the source's chain changed underfoot).
    fn connect_to<S, L>(
        &mut self,
        source: &S,
        tip: BestBlock,
        listener: &mut L,
    ) -> Result<(u32, bool), SyncError>
    where
        S: ChainSource + ?Sized,
        L: ChainListener + ?Sized,
    {
        let mut connected = 0;
        while self.best.height < tip.height {
            let height = self.best.height + 1;
            let Some(hash) = source.block_hash_at(height)? else {
                return Ok((connected, false));
            };
            let block = source
                .block(&hash)?
                .ok_or(SyncError::UnknownBlock { hash, height })?;
            if block.block_hash() != hash {
                return Err(ChainSourceError::BadData(format!(
                    "block served for {hash} hashes to something else"
                ))
                .into());
            }
            if block.header.prev_blockhash != self.best.hash {
                return Ok((connected, false));
            }
            listener.block_connected(&block, height);
            self.best = BestBlock::new(hash, height);
            self.recent.push_back((height, block.header));
            if self.recent.len() > RECENT_HEADERS {
                self.recent.pop_front();
            }
            connected += 1;
        }
        Ok((connected, self.best == tip))
    }
}

#[cfg(test)]
mod tests {
    //! The driver and the tracker over a bare in-memory chain, so that they
    //! are tested in the unit tests too (`lightning-sim` is for integration
    //! tests and doctests only: a dev-dependency on it gives unit tests a
    //! second `lightning-chain`).
    use super::*;
    use crate::{ConfirmationEvent, ConfirmationTracker};
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{absolute, Amount, Block, OutPoint, ScriptBuf, Transaction, TxIn, TxOut};

    /// Blocks of the best chain plus every block ever made.
    #[derive(Debug, Default)]
    struct Chain {
        best: Vec<Block>,
        all: Vec<Block>,
    }

    impl Chain {
        fn new() -> Self {
            let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Regtest);
            Chain {
                best: vec![genesis.clone()],
                all: vec![genesis],
            }
        }
        fn mine(&mut self, txs: Vec<Transaction>, salt: u32) {
            let prev = self.best.last().unwrap();
            let mut block = Block {
                header: prev.header,
                txdata: txs,
            };
            block.header.prev_blockhash = prev.block_hash();
            block.header.nonce = salt;
            block.header.time += 600;
            self.best.push(block.clone());
            self.all.push(block);
        }
        fn pop(&mut self, n: usize) {
            self.best.truncate(self.best.len() - n);
        }
    }

    impl ChainSource for Chain {
        fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
            let tip = self.best.last().unwrap();
            Ok(BestBlock::new(tip.block_hash(), self.best.len() as u32 - 1))
        }
        fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
            Ok(self.best.get(height as usize).map(Block::block_hash))
        }
        fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
            Ok(self.all.iter().find(|b| b.block_hash() == *hash).cloned())
        }
    }

    fn tx(spending: OutPoint, tag: u8) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: spending,
                ..Default::default()
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1),
                script_pubkey: ScriptBuf::new_op_return([tag]),
            }],
        }
    }

    #[test]
    fn reorg_disconnects_tip_first_then_connects() {
        let mut chain = Chain::new();
        let mut tracker = ConfirmationTracker::new(chain.best_block().unwrap());
        let mut sync = ChainSync::new(tracker.best_block());
        let funding = tx(OutPoint::new(bitcoin::Txid::all_zeros(), 7), 1);
        let funding_txid = funding.compute_txid();
        let watched = OutPoint::new(funding_txid, 0);
        let spend = tx(watched, 2);
        tracker.watch_tx(funding_txid, 2);
        tracker.watch_outpoint(watched);

        chain.mine(vec![funding.clone()], 1);
        chain.mine(vec![spend.clone()], 1);
        let outcome = sync.sync(&chain, &mut tracker).unwrap();
        assert_eq!((outcome.disconnected, outcome.connected), (0, 2));
        let events: Vec<_> = std::iter::from_fn(|| tracker.poll_event()).collect();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(matches!(events[0], ConfirmationEvent::Confirmed { .. }));
        assert!(
            matches!(events[1], ConfirmationEvent::OutpointSpent { ref spend, .. } if spend.input_index == 0)
        );
        assert!(
            matches!(events[2], ConfirmationEvent::ReachedDepth { depth, .. } if depth.get() == 2)
        );

        // Replace the spend's block: the spend is undone, the funding stays.
        chain.pop(1);
        chain.mine(vec![], 2);
        chain.mine(vec![], 2);
        let outcome = sync.sync(&chain, &mut tracker).unwrap();
        assert_eq!((outcome.disconnected, outcome.connected), (1, 2));
        assert!(matches!(
            tracker.poll_event(),
            Some(ConfirmationEvent::SpendReorgedOut { .. })
        ));
        assert_eq!(tracker.poll_event(), None);
        assert_eq!(tracker.confirmations(&funding_txid).unwrap().get(), 3);
        assert_eq!(tracker.best_block(), chain.best_block().unwrap());

        // A driver restarted at a stale tip walks back through the source.
        let stale = sync.best_block();
        chain.pop(3);
        chain.mine(vec![], 3);
        let mut restarted = ChainSync::new(stale);
        let outcome = restarted.sync(&chain, &mut tracker).unwrap();
        assert_eq!((outcome.disconnected, outcome.connected), (3, 1));
        assert!(matches!(
            tracker.poll_event(),
            Some(ConfirmationEvent::ReorgedOut { .. })
        ));
        assert_eq!(tracker.confirmations(&funding_txid).unwrap().get(), 0);
    }

    #[test]
    fn unknown_block_and_different_chain_are_errors() {
        let chain = Chain::new();
        let mut tracker = ConfirmationTracker::new(BestBlock::new(BlockHash::all_zeros(), 5));
        let mut sync = ChainSync::new(tracker.best_block());
        assert!(matches!(
            sync.sync(&chain, &mut tracker),
            Err(SyncError::UnknownBlock { height: 5, .. })
        ));
        let mainnet = BestBlock::genesis(bitcoin::Network::Bitcoin);
        let mut sync = ChainSync::new(mainnet);
        assert!(matches!(
            sync.sync(&chain, &mut tracker),
            Err(SyncError::DifferentChain { .. })
        ));
        assert_eq!(sync.best_block(), mainnet);
    }

    #[test]
    fn light_client_tip_moving_down_unconfirms() {
        let mut chain = Chain::new();
        let funding = tx(OutPoint::new(bitcoin::Txid::all_zeros(), 1), 9);
        chain.mine(vec![], 0);
        chain.mine(vec![funding.clone()], 0);
        let mut tracker = ConfirmationTracker::new(chain.best_block().unwrap());
        tracker.watch_tx(funding.compute_txid(), 1);
        let block = chain.best.last().unwrap().clone();
        tracker.transactions_confirmed(&block.header, &[(0, &funding)], 2);
        tracker.best_block_updated(&block.header, 2);
        assert_eq!(
            tracker
                .confirmations(&funding.compute_txid())
                .unwrap()
                .get(),
            1
        );
        let lower = chain.best[1].header;
        tracker.best_block_updated(&lower, 1);
        assert_eq!(
            tracker
                .confirmations(&funding.compute_txid())
                .unwrap()
                .get(),
            0
        );
    }
}
