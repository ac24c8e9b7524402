//! Two `Node`s driven end to end through a real chain adapter: the
//! simulated chain is served over bitcoind's JSON-RPC (`lightning-simchain`
//! on loopback), each node follows it through `lightning-chain`'s
//! `bitcoind` adapter (`ChainSync` over `BitcoindSource`) and broadcasts and
//! estimates fees through it, and each host's BDK wallet syncs from the same
//! adapter, funds the channels and receives the closes and sweeps. Blocks
//! are mined and reorged only through RPC calls (`generatetoaddress`,
//! `invalidateblock`).
//!
//! The scenario is `support/node_scenario.rs`, shared with
//! `node_over_esplora.rs`; here is what is bitcoind's: the adapter, and the
//! chain warnings it feeds at the end.
#![allow(clippy::unwrap_used)]

#[path = "support/node_scenario.rs"]
mod node_scenario;

use std::sync::Arc;
use std::time::Duration;

use lightning_chain::bitcoind::{BitcoindAuth, BitcoindSource};
use lightning_chain::{
    BestBlock, ChainHealth, ChainHealthConfig, ChainSource, ChainSync, ChainWarning, FeeConfig,
};
use lightning_core::node::{Node, NodeHost};
use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer};
use lightning_wallet::BdkWallet;
use node_scenario::Backend;

/// A host's `bitcoind` adapter and the `ChainSync` that drives its node;
/// the wallet syncs blocks from the same adapter.
struct Bitcoind {
    source: Arc<BitcoindSource>,
    sync: ChainSync,
}

impl Backend for Bitcoind {
    const NAME: &'static str = "bitcoind";
    /// The RPC facade is all there is.
    type Server = ();
    type Refused = lightning_chain::bitcoind::BroadcastError;

    fn serve(_chain: &SimChainHandle) {}

    fn connect(rpc: &RpcServer, _server: &(), best: BestBlock) -> Bitcoind {
        let source = Arc::new(
            BitcoindSource::new(
                &rpc.url(),
                BitcoindAuth::UserPass("user".into(), "pass".into()),
                FeeConfig::default(),
            )
            .unwrap(),
        );
        Bitcoind {
            source,
            sync: ChainSync::new(best),
        }
    }

    fn node_host(&self) -> NodeHost {
        NodeHost {
            broadcaster: self.source.clone(),
            fee_estimator: self.source.clone(),
        }
    }

    fn sync_node(&mut self, node: &mut Node) -> (BestBlock, u32) {
        let outcome = self.sync.sync(&*self.source, node).unwrap();
        (outcome.best_block, outcome.disconnected)
    }

    fn sync_wallet(&self, wallet: &mut BdkWallet) {
        wallet.sync_blocks(&*self.source).unwrap();
    }

    fn take_refused(&self) -> Vec<Self::Refused> {
        self.source.take_broadcast_errors()
    }

    fn refusal_error(refused: &Self::Refused) -> &str {
        &refused.error
    }
}

#[test]
fn two_nodes_through_the_bitcoind_adapter() {
    let mut net = node_scenario::two_nodes::<Bitcoind>();

    // Chain warnings as host events: Alice's host watches her bitcoind and
    // a second one that stopped following the chain (a snapshot of it,
    // served on another port), through the adapter.
    let frozen = SimChainHandle::from_chain(net.rpc.chain().lock().clone());
    let rpc2 = RpcServer::start(frozen, Credentials::new("user", "pass"), "127.0.0.1:0").unwrap();
    let lagging = BitcoindSource::new(
        &rpc2.url(),
        BitcoindAuth::UserPass("user".into(), "pass".into()),
        FeeConfig::default(),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let mut clock = t0;
    let mut health = ChainHealth::new(ChainHealthConfig::default());
    let mut events = Vec::new();
    for _ in 0..5 {
        net.mine(1);
        clock += Duration::from_secs(600);
        health.observe(
            "bitcoind",
            ChainSource::best_block(&*net.a.chain.source).unwrap(),
            clock,
        );
        health.observe("second", ChainSource::best_block(&lagging).unwrap(), clock);
        events.extend(std::iter::from_fn(|| health.poll_event()));
    }
    // Four blocks apart after the fourth block (more than 3): one event.
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].sources, ["bitcoind", "second"]);
    assert!(matches!(
        events[0].warning,
        ChainWarning::TipDisagreement {
            blocks_apart: 4,
            ..
        }
    ));
    // The second's tip has not moved since it was first seen, 40 minutes
    // ago: 21 minutes more and it is stale (over an hour); bitcoind's moved
    // 21 minutes ago and is not.
    health.check(clock + Duration::from_secs(1200));
    assert_eq!(health.poll_event(), None);
    health.check(clock + Duration::from_secs(1260));
    let stale: Vec<_> = std::iter::from_fn(|| health.poll_event()).collect();
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0].sources, ["second"]);
    assert!(matches!(stale[0].warning, ChainWarning::StaleTip { .. }));
}
