//! The simulated chain both nodes follow, and funded wallets on it.

use std::time::Duration;

use bitcoin::{ScriptBuf, Txid};
use lightning_sim::{SimChainHandle, SimWallet};

/// One simulated chain and a miner script (OP_TRUE) for blocks that pay no
/// wallet.
#[derive(Debug, Clone)]
pub struct World {
    /// The chain.
    pub chain: SimChainHandle,
    miner: ScriptBuf,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// A fresh chain at height 0.
    pub fn new() -> Self {
        World {
            chain: SimChainHandle::new(),
            miner: ScriptBuf::from_bytes(vec![0x51]),
        }
    }

    /// Wallets from `seeds`, each given `coins` mature coinbase outputs of
    /// 50 BTC (the chain ends 100 blocks past the last of them).
    pub fn wallets(&self, seeds: &[[u8; 32]], coins: usize) -> Vec<SimWallet> {
        let wallets: Vec<SimWallet> = seeds
            .iter()
            .map(|seed| SimWallet::from_seed(*seed, self.chain.clone()))
            .collect();
        for wallet in &wallets {
            self.chain.mine_blocks(coins, &wallet.script_pubkey());
        }
        self.chain.mine_blocks(100, &self.miner);
        wallets
    }

    /// Mines `n` blocks (with the mempool's transactions).
    pub fn mine(&self, n: usize) {
        self.chain.mine_blocks(n, &self.miner);
    }

    /// The chain's height.
    pub fn height(&self) -> u32 {
        self.chain.best_block().height
    }

    /// Waits until `txid` is in the mempool (or mined), up to `limit`.
    pub fn wait_for_tx(&self, txid: &Txid, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if self.chain.tx_confirmations(txid).is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Waits until the mempool holds at least `n` transactions; returns them.
    pub fn wait_for_mempool(&self, n: usize, limit: Duration) -> Vec<bitcoin::Transaction> {
        let start = std::time::Instant::now();
        loop {
            let mempool = self.chain.mempool();
            if mempool.len() >= n {
                return mempool;
            }
            assert!(
                start.elapsed() < limit,
                "mempool holds {} transactions, expected {n}",
                mempool.len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Panics if the chain refused any broadcast transaction.
    pub fn assert_no_rejections(&self) {
        let rejections = self.chain.rejections();
        assert!(
            rejections.is_empty(),
            "the simulated chain refused transactions: {rejections:#?}"
        );
    }
}
