//! A shared, thread-safe handle on a [`SimChain`].

use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::{Amount, Block, BlockHash, OutPoint, Script, Transaction, Txid};

use crate::{Coin, Rejection, SimChain, TxRejected};
use lightning_chain::{BestBlock, Broadcaster, ChainSource, ChainSourceError};

/// A cloneable, `Send + Sync` handle on one [`SimChain`], for tests and
/// demos where several nodes (possibly in threads) share a chain. It is a
/// [`ChainSource`] and a [`Broadcaster`]; broadcasting submits to the
/// mempool and records any rejection (see [`rejections`](Self::rejections)).
///
/// ```
/// use lightning_sim::SimChainHandle;
/// use lightning_chain::ChainSource;
///
/// let chain = SimChainHandle::new();
/// let for_thread = chain.clone();
/// std::thread::spawn(move || for_thread.mine_empty_blocks(2)).join().unwrap();
/// assert_eq!(chain.best_block().height, 2);
/// assert_eq!(ChainSource::best_block(&chain).unwrap().height, 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SimChainHandle {
    inner: Arc<Mutex<SimChain>>,
}

impl SimChainHandle {
    /// A handle on a new chain holding the regtest genesis block.
    pub fn new() -> Self {
        Self::from_chain(SimChain::new())
    }

    /// A handle on `chain`.
    pub fn from_chain(chain: SimChain) -> Self {
        SimChainHandle {
            inner: Arc::new(Mutex::new(chain)),
        }
    }

    /// Locks the chain. A panic in another holder does not poison it for
    /// the rest of a test.
    pub fn lock(&self) -> MutexGuard<'_, SimChain> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` with the chain locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut SimChain) -> R) -> R {
        f(&mut self.lock())
    }

    /// See [`SimChain::mine_blocks`].
    pub fn mine_blocks(&self, n: usize, coinbase_script: &Script) -> Vec<BlockHash> {
        self.lock().mine_blocks(n, coinbase_script)
    }

    /// See [`SimChain::mine_empty_blocks`].
    pub fn mine_empty_blocks(&self, n: usize) -> Vec<BlockHash> {
        self.lock().mine_empty_blocks(n)
    }

    /// See [`SimChain::mine_block_unverified`].
    pub fn mine_block_unverified(&self, txs: Vec<Transaction>) -> BlockHash {
        self.lock().mine_block_unverified(txs)
    }

    /// See [`SimChain::submit_transaction`].
    pub fn submit_transaction(&self, tx: Transaction) -> Result<Txid, TxRejected> {
        self.lock().submit_transaction(tx)
    }

    /// See [`SimChain::invalidate_tip`].
    pub fn invalidate_tip(&self, n: usize) -> Vec<BlockHash> {
        self.lock().invalidate_tip(n)
    }

    /// See [`SimChain::reorg`].
    pub fn reorg(
        &self,
        depth: usize,
        new_blocks: usize,
        coinbase_script: &Script,
    ) -> Vec<BlockHash> {
        self.lock().reorg(depth, new_blocks, coinbase_script)
    }

    /// See [`SimChain::best_block`].
    pub fn best_block(&self) -> BestBlock {
        self.lock().best_block()
    }

    /// See [`SimChain::block_at`].
    pub fn block_at(&self, height: u32) -> Option<Block> {
        self.lock().block_at(height).cloned()
    }

    /// See [`SimChain::utxo`].
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.lock().utxo(outpoint).cloned()
    }

    /// See [`SimChain::tx_confirmations`].
    pub fn tx_confirmations(&self, txid: &Txid) -> Option<u32> {
        self.lock().tx_confirmations(txid)
    }

    /// See [`SimChain::get_transaction`].
    pub fn get_transaction(&self, txid: &Txid) -> Option<Transaction> {
        self.lock().get_transaction(txid)
    }

    /// See [`SimChain::balance_of`].
    pub fn balance_of(&self, script: &Script) -> Amount {
        self.lock().balance_of(script)
    }

    /// Transactions in the mempool, parents first.
    pub fn mempool(&self) -> Vec<Transaction> {
        self.lock().mempool().cloned().collect()
    }

    /// See [`SimChain::rejections`].
    pub fn rejections(&self) -> Vec<Rejection> {
        self.lock().rejections().to_vec()
    }

    /// See [`SimChain::take_rejections`].
    pub fn take_rejections(&self) -> Vec<Rejection> {
        self.lock().take_rejections()
    }
}

impl ChainSource for SimChainHandle {
    fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
        Ok(self.lock().best_block())
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
        self.lock().block_hash_at(height)
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
        ChainSource::block(&*self.lock(), hash)
    }
}

impl Broadcaster for SimChainHandle {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        self.lock().broadcast(txs);
    }
}
