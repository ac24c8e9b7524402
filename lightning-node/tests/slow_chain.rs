//! Issue 16: the runtime reads a slow chain source without holding the
//! node. A chain backend whose every block takes 40 ms to fetch (a busy
//! bitcoind, a remote node) makes the runtime's first sync last seconds;
//! meanwhile the node's state stays reachable — an RPC call, a peer's
//! message or a timer waits at most for one block to be applied, not for
//! the whole sync — and the sync still ends at the tip.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::{Block, BlockHash, Network, ScriptBuf, Transaction};
use lightning_chain::{
    BestBlock, Broadcaster, ChainSource, ChainSourceError, ConfirmationTarget, FeeEstimator,
    FeeRate,
};
use lightning_node::{Builder, ChainBackend, ChainConfig, Follow};
use lightning_sim::SimChainHandle;

/// Blocks to sync.
const BLOCKS: usize = 60;
/// What each block takes to fetch.
const FETCH: Duration = Duration::from_millis(40);

/// The simulated chain behind a slow link.
struct SlowChain(SimChainHandle);

impl ChainSource for SlowChain {
    fn best_block(&self) -> Result<BestBlock, ChainSourceError> {
        ChainSource::best_block(&self.0)
    }
    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainSourceError> {
        ChainSource::block_hash_at(&self.0, height)
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainSourceError> {
        std::thread::sleep(FETCH);
        ChainSource::block(&self.0, hash)
    }
}

impl Broadcaster for SlowChain {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        self.0.broadcast_transactions(txs);
    }
}

impl FeeEstimator for SlowChain {
    fn fee_rate(&self, _target: ConfirmationTarget) -> FeeRate {
        FeeRate::from_sat_per_kw(1000)
    }
}

impl ChainBackend for SlowChain {
    fn follow(&self) -> Follow<'_> {
        Follow::Blocks(self)
    }
}

#[test]
fn a_slow_chain_source_does_not_hold_the_node() {
    let chain = SimChainHandle::new();
    chain.mine_blocks(BLOCKS, &ScriptBuf::new());
    let tip = ChainSource::best_block(&chain).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = Builder::new(Network::Regtest)
        .data_dir(dir.path())
        .seed([0x5c; 32])
        .chain(ChainConfig::Custom(Arc::new(SlowChain(chain.clone()))))
        .sync_interval(Duration::from_millis(100))
        .build()
        .unwrap();

    // While the chain thread syncs, take the node as an RPC call would,
    // and note the longest wait.
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    let mut calls = 0u32;
    let mut height_seen_mid_sync = None;
    loop {
        let asked = Instant::now();
        let height = rt.with_node(|n| n.best_block().height);
        longest = longest.max(asked.elapsed());
        calls += 1;
        if height > 0 && height < tip.height {
            height_seen_mid_sync = Some(height);
        }
        if height >= tip.height {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never synced (at {height} of {})",
            tip.height
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let sync = started.elapsed();
    eprintln!(
        "slow chain: {BLOCKS} blocks at {FETCH:?} each synced in {sync:?}; {calls} calls on the node meanwhile, the longest waited {longest:?}"
    );
    // The sync took at least the fetches' time...
    assert!(sync >= FETCH * (BLOCKS as u32) / 2, "{sync:?}");
    // ...and the node was reachable throughout: never held for more than
    // a few blocks' fetches (it was held for all of them before).
    assert!(
        longest < FETCH * 5,
        "the node was held {longest:?} during a {sync:?} sync"
    );
    assert!(
        height_seen_mid_sync.is_some(),
        "the node was seen between the start and the tip"
    );
    rt.stop();
}
