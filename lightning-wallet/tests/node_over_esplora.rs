//! The Esplora variant of `node_over_rpc.rs` (feature `esplora`): the
//! two nodes follow the chain only through `lightning-chain`'s `esplora`
//! adapter as light clients (`LightClientSync` over `EsploraSource` against
//! `simchain`'s Esplora API, the node's `WatchFilter` feeding the watched
//! scripts), broadcast and estimate fees through it, and each host's BDK
//! wallet syncs with `bdk_esplora` from the same server. Blocks are mined and
//! reorged through the RPC facade of the same simulated chain.
//!
//! The scenario is `support/node_scenario.rs`, shared with
//! `node_over_rpc.rs`; here is what is Esplora's: the adapter and the
//! watch filter.
#![cfg(feature = "esplora")]
#![allow(clippy::unwrap_used)]

#[path = "support/node_scenario.rs"]
mod node_scenario;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::ScriptBuf;
use lightning_chain::esplora::EsploraSource;
use lightning_chain::{BestBlock, FeeConfig, LightClientSync, WatchFilter, WatchedOutput};
use lightning_core::node::{Node, NodeHost};
use lightning_sim::SimChainHandle;
use lightning_simchain::esplora::EsploraServer;
use lightning_simchain::RpcServer;
use lightning_wallet::bdk_esplora::esplora_client;
use lightning_wallet::BdkWallet;
use node_scenario::Backend;

/// A host's `esplora` adapter and the light client that drives its node;
/// the wallet syncs with `bdk_esplora` from the same server.
struct Esplora {
    source: Arc<EsploraSource>,
    client: esplora_client::BlockingClient,
    sync: LightClientSync,
    watch: Arc<Scripts>,
}

impl Backend for Esplora {
    const NAME: &'static str = "Esplora";
    /// `simchain`'s Esplora API.
    type Server = EsploraServer;
    type Refused = lightning_chain::esplora::BroadcastError;

    fn serve(chain: &SimChainHandle) -> EsploraServer {
        EsploraServer::start(chain.clone(), "127.0.0.1:0").unwrap()
    }

    fn connect(_rpc: &RpcServer, esplora: &EsploraServer, best: BestBlock) -> Esplora {
        let source = Arc::new(EsploraSource::new(
            &esplora.url(),
            Duration::from_secs(10),
            FeeConfig::default(),
        ));
        let client = esplora_client::Builder::new(&esplora.url()).build_blocking();
        Esplora {
            source,
            client,
            sync: LightClientSync::new(best),
            watch: Arc::new(Scripts::default()),
        }
    }

    fn node_host(&self) -> NodeHost {
        NodeHost {
            broadcaster: self.source.clone(),
            fee_estimator: self.source.clone(),
        }
    }

    fn attach(&mut self, node: &mut Node) {
        node.set_watch_filter(self.watch.clone());
    }

    fn sync_node(&mut self, node: &mut Node) -> (BestBlock, u32) {
        for script in self.watch.0.lock().unwrap().iter() {
            self.sync.watch_script(script.clone());
        }
        let outcome = self.sync.sync(&*self.source, node).unwrap();
        (outcome.best_block, outcome.disconnected)
    }

    fn sync_wallet(&self, wallet: &mut BdkWallet) {
        wallet.sync_esplora(&self.client).unwrap();
    }

    fn take_refused(&self) -> Vec<Self::Refused> {
        self.source.take_broadcast_errors()
    }

    fn refusal_error(refused: &Self::Refused) -> &str {
        &refused.error
    }
}

/// The node's watch filter: the scripts it asked for, copied into the
/// light client before each sync.
#[derive(Default)]
struct Scripts(Mutex<BTreeSet<ScriptBuf>>);

impl WatchFilter for Scripts {
    fn register_tx(&self, _txid: &bitcoin::Txid, script_pubkey: &bitcoin::Script) {
        self.0.lock().unwrap().insert(script_pubkey.to_owned());
    }
    fn register_output(&self, output: WatchedOutput) {
        self.0.lock().unwrap().insert(output.script_pubkey);
    }
}

#[test]
fn two_nodes_through_the_esplora_adapter() {
    node_scenario::two_nodes::<Esplora>();
}
