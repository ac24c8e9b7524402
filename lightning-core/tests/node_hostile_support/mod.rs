//! A raw peer for hostile-peer tests: its own `PeerManager` (Noise and
//! `init` with a real `Node`), so it sends any message it likes and sees
//! every message the node sends back; and channel endpoints of its own
//! (the library's `Channel`) when it needs valid signatures.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::{Keypair, SecretKey, SECP256K1};
use bitcoin::Network;
use lightning_chain::sim::SimChainHandle;
use lightning_chain::{FeeRate, FixedFeeEstimator};
use lightning_core::channel::{Channel, ChannelConfig, ChannelEvent};
use lightning_core::keys::{InMemorySigner, KeysManager};
use lightning_core::node::{Node, NodeBuilder, NodeConfig, NodeHost, Persistence};
use lightning_core::peer::{PeerConfig, PeerEvent, PeerId, PeerManager};
use lightning_persist::MemoryStore;
use lightning_wire::msgs::{AcceptChannel, Message};
use lightning_wire::types::{ChainHash, ChannelId};

pub const NOW: Duration = Duration::from_secs(1_700_000_000);

pub fn host(chain: &SimChainHandle) -> NodeHost {
    NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
    }
}

/// A node of its own over an inline memory store, on a fresh chain.
pub fn lone_node(seed: u8, config: NodeConfig) -> (Node, Arc<MemoryStore>, SimChainHandle) {
    let chain = SimChainHandle::new();
    let store = Arc::new(MemoryStore::new());
    let node = NodeBuilder::from_config(config)
        .seed(&[seed; 32])
        .persistence(Persistence::Inline(store.clone()))
        .host(host(&chain))
        .best_block(chain.best_block())
        .build()
        .unwrap();
    (node, store, chain)
}

pub fn node_config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 3;
    c
}

/// The raw peer's channel configuration (regtest, our defaults).
pub fn raw_channel_config(seed: u8) -> ChannelConfig {
    let mut c = lightning_core::testing::pair::config(seed);
    c.chain_hash = ChainHash::for_network(Network::Regtest);
    c.anchors = false;
    c
}

/// What the raw peer received.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Got {
    Message(Message),
    Warning(ChannelId, Vec<u8>),
    Error(ChannelId, Vec<u8>),
    Disconnected,
}

pub struct Raw {
    pub seed: u8,
    pub pm: PeerManager,
    /// The connection on the raw side.
    pub peer: PeerId,
    /// The connection on the node's side.
    pub node_peer: PeerId,
    pub keys: KeysManager,
    /// Whether the host drains the node's bytes for this peer (a slow
    /// reader does not).
    pub reads: bool,
    pub got: Vec<Got>,
    next_eph: u8,
}

impl Raw {
    /// Connects a raw peer with node key `[seed; 32]` to `node`.
    pub fn connect(node: &mut Node, seed: u8) -> Raw {
        let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
        let config = PeerConfig::new(
            ChainHash::for_network(Network::Regtest),
            NodeConfig::default_features(),
        );
        let mut pm = PeerManager::new(config, Keypair::from_secret_key(SECP256K1, &secret));
        let eph = SecretKey::from_slice(&[seed ^ 0x5a; 32]).unwrap();
        let (peer, act_one) = pm.connect_outbound(node.node_id(), &eph, NOW);
        let node_peer = node.accept_inbound(NOW);
        node.handle_bytes(node_peer, &act_one, NOW).unwrap();
        let mut raw = Raw {
            seed,
            pm,
            peer,
            node_peer,
            keys: KeysManager::new(&[seed; 32]).unwrap(),
            reads: true,
            got: Vec::new(),
            next_eph: 1,
        };
        raw.shuttle(node);
        assert!(
            node.connected_peers()
                .iter()
                .any(|(p, _)| *p == raw.node_peer),
            "the raw peer completed init"
        );
        raw.got.clear();
        raw
    }

    pub fn node_id(&self) -> bitcoin::secp256k1::PublicKey {
        self.pm.node_id()
    }

    /// Moves bytes both ways until quiet (node to raw only if `reads`).
    pub fn shuttle(&mut self, node: &mut Node) {
        for _ in 0..1_000_000 {
            let mut moved = false;
            while let Some(b) = self.pm.poll_transmit(self.peer) {
                let _ = node.handle_bytes(self.node_peer, &b, NOW);
                moved = true;
            }
            if self.reads {
                while let Some(b) = node.poll_transmit(self.node_peer) {
                    let _ = self.pm.handle_bytes(self.peer, &b, NOW);
                    moved = true;
                }
            }
            while let Some(e) = self.pm.poll_event() {
                match e {
                    PeerEvent::Message { message, .. } => self.got.push(Got::Message(*message)),
                    PeerEvent::WarningReceived {
                        channel_id, data, ..
                    } => self.got.push(Got::Warning(channel_id, data)),
                    PeerEvent::ErrorReceived {
                        channel_id, data, ..
                    } => self.got.push(Got::Error(channel_id, data)),
                    PeerEvent::Disconnected { .. } => self.got.push(Got::Disconnected),
                    PeerEvent::Connected { .. } => {}
                }
            }
            if !moved {
                return;
            }
        }
        panic!("never quiet");
    }

    /// Queues `m` without moving bytes.
    pub fn queue(&mut self, m: &Message) {
        self.pm.send_message(self.peer, m).unwrap();
    }

    pub fn send(&mut self, node: &mut Node, m: &Message) {
        self.queue(m);
        self.shuttle(node);
    }

    pub fn take(&mut self) -> Vec<Got> {
        std::mem::take(&mut self.got)
    }

    /// Whether the node still has this connection.
    pub fn connected(&self, node: &Node) -> bool {
        node.connected_peers()
            .iter()
            .any(|(p, _)| *p == self.node_peer)
    }

    /// A funder's channel with keys index `index` and temporary id `temp`,
    /// and its `open_channel`.
    pub fn new_channel(
        &self,
        index: u32,
        temp: ChannelId,
        funding_sat: u64,
    ) -> (Channel<InMemorySigner>, Message) {
        let signer = self.keys.derive_channel_signer(index).unwrap();
        let (ch, open) = Channel::new_outbound(
            signer,
            raw_channel_config(self.seed),
            index,
            temp,
            funding_sat,
            0,
            1000,
        )
        .unwrap();
        (ch, Message::OpenChannel(open))
    }

    /// Sends `open` and returns the node's `accept_channel`, if it sent one
    /// (what else came stays in `got`).
    pub fn open(&mut self, node: &mut Node, open: &Message) -> Option<AcceptChannel> {
        self.send(node, open);
        let at = self
            .got
            .iter()
            .position(|g| matches!(g, Got::Message(Message::AcceptChannel(_))))?;
        match self.got.remove(at) {
            Got::Message(Message::AcceptChannel(a)) => Some(a),
            _ => None,
        }
    }
}

/// Hands `accept` to the raw funder's channel and returns the funding
/// script and amount it asks for.
pub fn take_accept(
    ch: &mut Channel<InMemorySigner>,
    accept: AcceptChannel,
) -> (bitcoin::ScriptBuf, u64) {
    let out = ch.handle_message(&Message::AcceptChannel(accept)).unwrap();
    out.events
        .into_iter()
        .find_map(|e| match e {
            ChannelEvent::FundingNeeded {
                script_pubkey,
                funding_satoshis,
                ..
            } => Some((script_pubkey, funding_satoshis)),
            _ => None,
        })
        .unwrap()
}
