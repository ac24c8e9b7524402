//! A raw peer for hostile-peer tests: its own `PeerManager` (Noise and
//! `init` with a real `Node`), so it sends any message it likes and sees
//! every message the node sends back; and channel endpoints of its own
//! (the library's `Channel`) when it needs valid signatures.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::{Keypair, SecretKey, SECP256K1};
use bitcoin::Amount;
use bitcoin::Network;
use lightning_chain::{Broadcaster, ChainListener};
use lightning_core::channel::{Channel, ChannelConfig, ChannelEvent, Phase};
use lightning_core::keys::{InMemorySigner, KeysManager};
use lightning_core::node::{Node, NodeBuilder, NodeConfig, Persistence};
use lightning_core::peer::{PeerConfig, PeerEvent, PeerId, PeerManager};
use lightning_persist::MemoryStore;
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_wire::msgs::{AcceptChannel, Message};
use lightning_wire::types::{ChainHash, ChannelId};

pub const NOW: Duration = Duration::from_secs(1_700_000_000);

/// The host services every test node runs with (fixed 1000 sat/kw fees,
/// broadcasts to the simulated chain).
pub use lightning_test_support::host::node_host as host;

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
    let mut c = lightning_test_support::pair::config(seed);
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
        let mut raw = Raw::reconnect(node, seed);
        raw.got.clear();
        raw
    }

    /// [`Raw::connect`], keeping what the node sent once connected (its
    /// `channel_reestablish`s) in `got`.
    pub fn reconnect(node: &mut Node, seed: u8) -> Raw {
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
        self.new_channel_with(index, temp, funding_sat, raw_channel_config(self.seed))
    }

    /// [`Raw::new_channel`] with a channel configuration of the caller's.
    pub fn new_channel_with(
        &self,
        index: u32,
        temp: ChannelId,
        funding_sat: u64,
        config: ChannelConfig,
    ) -> (Channel<InMemorySigner>, Message) {
        let signer = self.keys.derive_channel_signer(index).unwrap();
        let (ch, open) =
            Channel::new_outbound(signer, config, index, temp, funding_sat, 0, 1000).unwrap();
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

/// A raw peer with a funded channel to a real `Node` (the raw side is the
/// funder and drives its end with the library's own `Channel`, so it can
/// offer any HTLC with any onion, or send any message in between).
pub struct Funded {
    pub chain: SimChainHandle,
    pub wallet: SimWallet,
    pub node: Node,
    pub raw: Raw,
    pub ch: Channel<InMemorySigner>,
    pub fed: u32,
    /// The raw channel's events.
    pub events: Vec<ChannelEvent>,
    /// The funding transaction, once made.
    pub funding_tx: Option<bitcoin::Transaction>,
}

/// The raw funder's channel of a [`Funded`] (its capacity).
pub const FUNDED_SAT: u64 = 500_000;

impl Funded {
    /// A node of seed 40 and a raw peer of seed 0x41 that sent
    /// `open_channel` and `funding_created` and got the node's answers
    /// (in `raw.got`, not yet handed to `ch`). With `zero_conf` the node
    /// trusts the raw peer for zero-conf and the raw peer asks for it.
    pub fn funding_created(zero_conf: bool) -> Funded {
        Funded::funding_created_with(zero_conf, false)
    }

    /// [`Funded::funding_created`]; with `announce` the raw funder sets
    /// `announce_channel` (BOLT 7).
    pub fn funding_created_with(zero_conf: bool, announce: bool) -> Funded {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let store = Arc::new(MemoryStore::new());
        let mut config = node_config();
        let raw_seed = 0x41;
        if zero_conf {
            let raw_key = SecretKey::from_slice(&[raw_seed; 32]).unwrap();
            config
                .trusted_zeroconf_peers
                .push(raw_key.public_key(SECP256K1));
        }
        let mut node = NodeBuilder::from_config(config)
            .seed(&[40; 32])
            .persistence(Persistence::Inline(store))
            .host(host(&chain))
            .best_block(chain.best_block())
            .build()
            .unwrap();
        let mut raw = Raw::connect(&mut node, raw_seed);
        let mut channel_config = raw_channel_config(raw_seed);
        channel_config.announce_channel = announce;
        if zero_conf {
            channel_config.trusted_for_zeroconf = true;
            channel_config.minimum_depth = 0;
        }
        let (mut ch, open) =
            raw.new_channel_with(0, ChannelId([0x42; 32]), FUNDED_SAT, channel_config);
        let accept = raw.open(&mut node, &open).unwrap();
        let (script, amount) = take_accept(&mut ch, accept);
        let tx = wallet.fund(Amount::from_sat(amount), &script).unwrap();
        let out = ch.funding_transaction(tx.clone()).unwrap();
        for m in out.messages {
            raw.queue(&m);
        }
        raw.shuttle(&mut node);
        let fed = chain.best_block().height;
        Funded {
            chain,
            wallet,
            node,
            raw,
            ch,
            fed,
            events: Vec::new(),
            funding_tx: Some(tx),
        }
    }

    /// A usable channel of [`FUNDED_SAT`] (confirmed at depth 3, the
    /// node's `minimum_depth`).
    pub fn usable() -> Funded {
        let mut s = Funded::funding_created(false);
        s.pump();
        assert_eq!(s.ch.phase(), Phase::AwaitingChannelReady);
        s.confirm(3);
        assert_eq!(s.ch.phase(), Phase::Normal);
        assert!(s.node.list_channels()[0].is_usable);
        s
    }

    /// Broadcasts the funding transaction, mines `depth` blocks, feeds
    /// them to the node and tells the raw channel, then pumps.
    pub fn confirm(&mut self, depth: usize) {
        let tx = self.funding_tx.clone().unwrap();
        self.chain.broadcast_transactions(&[&tx]);
        self.mine(depth);
        let scid = self
            .node
            .list_channels()
            .into_iter()
            .find_map(|c| c.short_channel_id)
            .expect("the node saw the funding confirm");
        let depth = u32::try_from(depth).unwrap();
        let out = self.ch.funding_confirmed(&tx, depth, Some(scid)).unwrap();
        for m in out.messages {
            self.raw.queue(&m);
        }
        self.pump();
    }

    /// Messages both ways until quiet; the raw side signs whenever it has
    /// something to commit. Panics if the node complains.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            self.raw.shuttle(&mut self.node);
            let msgs: Vec<Message> = self
                .raw
                .take()
                .into_iter()
                .map(|g| match g {
                    Got::Message(m) => m,
                    Got::Warning(_, d) | Got::Error(_, d) => {
                        panic!("node complained: {}", String::from_utf8_lossy(&d))
                    }
                    Got::Disconnected => panic!("disconnected"),
                })
                // Gossip (the node's `channel_update` for its peer, BOLT 7)
                // is not for the channel: a node routes it elsewhere.
                .filter(is_for_the_channel)
                .collect();
            let mut sent = false;
            for m in msgs {
                let out = self.ch.handle_message(&m).unwrap();
                self.events.extend(out.events);
                for m in out.messages {
                    self.raw.queue(&m);
                    sent = true;
                }
            }
            let out = self.ch.commit().unwrap();
            self.events.extend(out.events);
            for m in out.messages {
                self.raw.queue(&m);
                sent = true;
            }
            if !sent && self.raw.pm.queued_bytes(self.raw.peer) == 0 {
                self.raw.shuttle(&mut self.node);
                if self.raw.got.is_empty() {
                    return;
                }
            }
        }
        panic!("never quiet");
    }

    /// Mines `n` blocks and feeds them to the node.
    pub fn mine(&mut self, n: usize) {
        self.chain.mine_blocks(n, &self.wallet.script_pubkey());
        let tip = self.chain.best_block().height;
        for h in self.fed + 1..=tip {
            let block = self.chain.block_at(h).unwrap();
            self.node.block_connected(&block, h);
        }
        self.fed = tip;
    }

    /// Offers the HTLCs `(amount_msat, hash, cltv, onion)` in one
    /// commitment and returns how the node answered each.
    pub fn offer_together_answers(
        &mut self,
        htlcs: &[(u64, [u8; 32], u32, Vec<u8>)],
    ) -> Vec<Result<(), lightning_core::channel::HtlcFailReason>> {
        let mut ids = Vec::new();
        for (amount_msat, hash, cltv, onion) in htlcs {
            let (id, out) = self
                .ch
                .send_htlc(
                    *amount_msat,
                    lightning_wire::types::PaymentHash(*hash),
                    *cltv,
                    onion.clone(),
                )
                .unwrap();
            for m in out.messages {
                self.raw.queue(&m);
            }
            ids.push(id);
        }
        self.pump();
        ids.iter()
            .map(|id| {
                let outcome = self.events.iter().find_map(|e| match e {
                    ChannelEvent::HtlcFulfilled { htlc_id, .. } if htlc_id == id => Some(Ok(())),
                    ChannelEvent::HtlcFailed {
                        htlc_id, reason, ..
                    } if htlc_id == id => Some(Err(reason.clone())),
                    _ => None,
                });
                outcome.expect("the HTLC was answered")
            })
            .collect()
    }

    /// Offers the HTLCs in one commitment; for each, whether the node
    /// fulfilled it.
    pub fn offer_together(&mut self, htlcs: &[(u64, [u8; 32], u32, Vec<u8>)]) -> Vec<bool> {
        self.offer_together_answers(htlcs)
            .iter()
            .map(Result::is_ok)
            .collect()
    }

    /// Offers an HTLC with `onion` and returns how the node answered it.
    pub fn offer_answer(
        &mut self,
        amount_msat: u64,
        hash: [u8; 32],
        cltv: u32,
        onion: Vec<u8>,
    ) -> Result<(), lightning_core::channel::HtlcFailReason> {
        let mut answers = self.offer_together_answers(&[(amount_msat, hash, cltv, onion)]);
        answers.remove(0)
    }

    /// Offers an HTLC with `onion` and returns whether the node fulfilled it.
    pub fn offer(&mut self, amount_msat: u64, hash: [u8; 32], cltv: u32, onion: Vec<u8>) -> bool {
        self.offer_answer(amount_msat, hash, cltv, onion).is_ok()
    }

    /// The node's events so far (acknowledging them).
    pub fn node_events(&mut self) -> Vec<lightning_core::node::Event> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }

    /// An onion paying `amount_msat` of `total_msat` for `invoice` to the
    /// node, built with session key `[session; 32]`.
    pub fn payment_onion(
        &self,
        invoice: &lightning_wire::bolt11::Bolt11Invoice,
        amount_msat: u64,
        total_msat: u64,
        cltv: u32,
        session: u8,
    ) -> Vec<u8> {
        use lightning_core::onion::{build_payment_onion, HopPayload, PaymentData};
        use lightning_wire::Encode;
        let payload = HopPayload {
            amt_to_forward: Some(amount_msat),
            outgoing_cltv_value: Some(cltv),
            payment_data: Some(PaymentData {
                payment_secret: invoice.payment_secret().0,
                total_msat,
            }),
            ..HopPayload::default()
        };
        let session = SecretKey::from_slice(&[session; 32]).unwrap();
        let (onion, _) = build_payment_onion(
            &session,
            &[(self.node.node_id(), payload)],
            invoice.payment_hash(),
        )
        .unwrap();
        let mut packet = Vec::new();
        onion.encode(&mut packet);
        packet
    }

    /// An invoice of the node for `amount_msat`.
    pub fn invoice(&mut self, amount_msat: u64) -> lightning_wire::bolt11::Bolt11Invoice {
        self.node
            .create_invoice(
                Some(lightning_core::amount::Msat(amount_msat)),
                "x",
                std::time::Duration::from_secs(3600),
                NOW,
            )
            .unwrap()
    }

    /// Pays an invoice of the node for `amount_msat` over the channel with
    /// a well-formed onion; returns whether the node fulfilled it.
    pub fn pay_node(&mut self, amount_msat: u64, session: u8) -> bool {
        let invoice = self.invoice(amount_msat);
        let cltv = self.chain.best_block().height + 30;
        let packet = self.payment_onion(&invoice, amount_msat, amount_msat, cltv, session);
        self.offer(amount_msat, invoice.payment_hash().0, cltv, packet)
    }
}

/// Whether a message the node sent is for the channel state machine.
///
/// Gossip (BOLT 7: the node's `channel_update` for its peer, announcement
/// signatures, sync queries) and peer storage (BOLT 1 `peer_storage`) are
/// node-level: a real peer routes them elsewhere, not to the channel.
pub fn is_for_the_channel(m: &Message) -> bool {
    !matches!(
        m,
        Message::ChannelUpdate(_)
            | Message::AnnouncementSignatures(_)
            | Message::ChannelAnnouncement(_)
            | Message::NodeAnnouncement(_)
            | Message::GossipTimestampFilter(_)
            | Message::QueryChannelRange(_)
            | Message::ReplyChannelRange(_)
            | Message::QueryShortChannelIds(_)
            | Message::ReplyShortChannelIdsEnd(_)
            | Message::PeerStorage(_)
            | Message::PeerStorageRetrieval(_)
    )
}
