//! The sans-IO Lightning node: peers, channels, invoices and payments over
//! one seed, one store and the host's chain.
//!
//! [`Node`] owns a [`PeerManager`] (BOLT 8 and BOLT 1), every
//! [`Channel`] (BOLT 2), the node's invoices and payments, and a
//! [`ConfirmationTracker`] for funding transactions. The host feeds it
//! socket bytes, time and blocks, and takes bytes, events, writes and
//! timer deadlines out. Nothing here reads a clock, opens a socket or
//! draws randomness of its own (the [`KeysManager`] derives entropy from
//! the seed, a persisted epoch and optional host randomness).
//!
//! # A minimal host loop
//!
//! ```no_run
//! # use std::{io::{Read, Write}, net::TcpStream, sync::Arc, time::{Duration, SystemTime, UNIX_EPOCH}};
//! # use lightning_core::node::*;
//! # fn host(mut node: Node, mut socket: TcpStream, their_id: bitcoin::secp256k1::PublicKey) -> Result<(), Box<dyn std::error::Error>> {
//! let now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
//! let (peer, act_one) = node.connect_outbound(their_id, now());
//! socket.write_all(&act_one)?;
//! socket.set_read_timeout(Some(Duration::from_millis(50)))?;
//! let mut buf = [0u8; 65536];
//! loop {
//!     match socket.read(&mut buf) {
//!         Ok(0) => { node.peer_disconnected(peer); break; }
//!         Ok(n) => { let _ = node.handle_bytes(peer, &buf[..n], now()); }
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
//!             || e.kind() == std::io::ErrorKind::TimedOut => {}
//!         Err(_) => { node.peer_disconnected(peer); break; }
//!     }
//!     node.handle_timeout(now());
//!     // Async persistence only: make each batch durable (in order), then report it.
//!     while let Some(req) = node.poll_persist() { /* write req.ops, one batch */ node.persist_completed(req.id); }
//!     while let Some(bytes) = node.poll_transmit(peer) { socket.write_all(&bytes)?; }
//!     while let Some(event) = node.poll_event() { println!("{event:?}"); }
//! }
//! # Ok(()) }
//! ```
//!
//! Blocks go in through [`ChainListener`](lightning_chain::ChainListener)
//! (`block_connected`, `block_disconnected`, or `transactions_confirmed`
//! plus `best_block_updated` for light clients).

mod chain;
mod config;
mod delivery;
mod events;
mod inbound;
mod invoices;
mod outbox;
mod payments;
mod persistence;
mod records;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::{ScriptBuf, Transaction};
use lightning_chain::{
    BestBlock, BoundedFeeEstimator, Broadcaster, ConfirmationTarget, ConfirmationTracker,
    FeeEstimator,
};
use lightning_persist::KvStore;
use lightning_wire::features::Feature;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

use crate::channel::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, ChannelOutput, ErrorAction, Phase,
};
use crate::keys::{EntropySource, InMemorySigner, KeyError, KeysManager, NodeSigner};
use crate::peer::{PeerConfig, PeerError, PeerEvent, PeerId, PeerManager};

pub use config::{NodeConfig, DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA};
pub use events::{
    Balances, ChannelDetails, Event, InvoiceDetails, InvoiceStatus, PaymentDetails, PaymentFailure,
    PaymentHash, PaymentId, PaymentPreimage, PaymentStatus,
};
pub use inbound::{
    AcceptAll, InboundChannelAcceptor, InboundChannelDecision, InboundChannelRequest,
    InboundLimits, KEYS_INDEX_BLOCK,
};
pub use persistence::{PersistId, PersistRequest, Persistence, NAMESPACE};

use inbound::{KeysIndexes, Refusal};
use outbox::{Held, Outbox};
use persistence::Writer;
use records::{InvoiceRecord, PaymentRecord};

/// Shared secrets of received HTLCs the node remembers (about 120 bytes
/// each): in memory, not persisted. The node is only ever the final hop,
/// where a replay makes the replaying peer pay again; after a restart a
/// replay of a paid invoice's HTLC still has to pass every check of a new
/// payment ([`Node`]'s `check_receive`), and persisting each secret would
/// cost a durable write per received HTLC.
const REPLAY_CACHE_CAPACITY: usize = 65_536;

/// What went wrong in a [`Node`] call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A key operation failed.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// The connection failed (it is closed; see [`Node::poll_transmit`]
    /// for its last bytes).
    #[error("peer: {0}")]
    Peer(#[from] PeerError),
    /// A channel refused the request.
    #[error("channel: {0}")]
    Channel(#[from] ChannelError),
    /// A write failed: the node releases no message from now on (restart
    /// it from its store).
    #[error("persistence: {0}")]
    Persist(String),
    /// Reading the store on restore failed.
    #[error("restore: {0}")]
    Restore(String),
    /// The peer is not connected.
    #[error("peer {0} is not connected")]
    NotConnected(PublicKey),
    /// No channel has this id.
    #[error("no channel {0}")]
    UnknownChannel(ChannelId),
    /// The invoice cannot be paid or built.
    #[error("invoice: {0}")]
    Invoice(String),
    /// No channel to the payee can carry the amount now.
    #[error("no usable channel to {payee} with {amount_msat} msat of outbound capacity")]
    NoRoute {
        /// The payee.
        payee: PublicKey,
        /// The amount.
        amount_msat: u64,
    },
    /// The funding transaction gives the channel the id of another channel
    /// (the same outpoint): the new channel was forgotten.
    #[error("channel id {0} is already in use")]
    ChannelIdCollision(ChannelId),
    /// This invoice is being paid or was paid.
    #[error("payment {0} is already pending or done")]
    DuplicatePayment(PaymentHash),
    /// The invoice's `min_final_cltv_expiry_delta` is above
    /// [`NodeConfig::max_final_cltv_expiry_delta`]: paying it could lock
    /// the amount for that long.
    #[error("the invoice's min_final_cltv_expiry_delta {delta} is above our cap of {max} blocks")]
    FinalCltvExpiryDeltaTooLarge {
        /// The invoice's delta.
        delta: u64,
        /// The configured cap.
        max: u32,
    },
}

/// The host's chain-facing services.
#[derive(Clone)]
pub struct NodeHost {
    /// Publishes funding, closing and commitment transactions.
    pub broadcaster: Arc<dyn Broadcaster + Send + Sync>,
    /// Fee rates (read through [`BoundedFeeEstimator`]).
    pub fee_estimator: Arc<dyn FeeEstimator + Send + Sync>,
}

impl core::fmt::Debug for NodeHost {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NodeHost")
    }
}

#[derive(Debug)]
struct ChannelEntry {
    channel: Channel<InMemorySigner>,
    counterparty: PublicKey,
    /// Whether the funding txid is watched.
    watched: bool,
}

/// A Lightning node, sans-IO. See the [module documentation](self) for a
/// host loop.
pub struct Node {
    keys: KeysManager,
    config: NodeConfig,
    peers: PeerManager,
    writer: Writer,
    host: NodeHost,
    channels: BTreeMap<ChannelId, ChannelEntry>,
    tracker: ConfirmationTracker,
    invoices: BTreeMap<PaymentHash, InvoiceRecord>,
    /// The terms of each invoice, decoded ([`invoices::InvoiceTerms`]).
    invoice_terms: BTreeMap<PaymentHash, invoices::InvoiceTerms>,
    /// Shared secrets of received HTLCs (BOLT 4 replay detection).
    replay: crate::onion::replay::HtlcReplayCache,
    payments: BTreeMap<PaymentHash, PaymentRecord>,
    outbox: Outbox,
    events: events::EventQueue,
    /// Channels with updates to sign (one `commit` after a batch).
    to_commit: BTreeSet<ChannelId>,
    keys_indexes: KeysIndexes,
    /// The write of this run's entropy epoch: nothing drawn from the
    /// epoch may reach the host before it is durable.
    epoch_write: u64,
    acceptor: Arc<dyn InboundChannelAcceptor>,
    now: Duration,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node from `seed`, restored (as [`Node::restore`]) from whatever
    /// the store of [`Persistence::Inline`] or [`Persistence::Async`]
    /// already holds; an empty store gives an empty node.
    ///
    /// `best_block` is the chain tip the host will feed blocks from.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lightning_core::node::{Node, NodeConfig, NodeHost, Persistence};
    /// use lightning_chain::{BestBlock, FixedFeeEstimator, FeeRate};
    /// use lightning_persist::MemoryStore;
    ///
    /// #[derive(Debug)]
    /// struct NoBroadcast;
    /// impl lightning_chain::Broadcaster for NoBroadcast {
    ///     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    /// }
    /// let host = NodeHost {
    ///     broadcaster: Arc::new(NoBroadcast),
    ///     fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(2500))),
    /// };
    /// let node = Node::new(
    ///     &[1; 32],
    ///     NodeConfig::new(bitcoin::Network::Regtest),
    ///     Persistence::Inline(Arc::new(MemoryStore::new())),
    ///     host,
    ///     BestBlock::genesis(bitcoin::Network::Regtest),
    /// ).unwrap();
    /// assert!(node.list_channels().is_empty());
    /// ```
    pub fn new(
        seed: &[u8; 32],
        config: NodeConfig,
        persistence: Persistence,
        host: NodeHost,
        best_block: BestBlock,
    ) -> Result<Node, NodeError> {
        let store = match &persistence {
            Persistence::Inline(store) | Persistence::Async(store) => Arc::clone(store),
        };
        Self::restore(seed, config, persistence, host, best_block, &*store)
    }

    fn empty(
        seed: &[u8; 32],
        config: NodeConfig,
        persistence: Persistence,
        host: NodeHost,
        best_block: BestBlock,
    ) -> Result<Node, NodeError> {
        let keys = KeysManager::new(seed)?;
        let mut peer_config = PeerConfig::new(config.chain_hash(), config.features.clone());
        peer_config.ping_interval = config.ping_interval;
        let peers = PeerManager::new(peer_config, keys.node_keypair());
        Ok(Node {
            keys,
            config,
            peers,
            writer: Writer::new(persistence),
            host,
            channels: BTreeMap::new(),
            tracker: ConfirmationTracker::new(best_block),
            invoices: BTreeMap::new(),
            invoice_terms: BTreeMap::new(),
            replay: crate::onion::replay::HtlcReplayCache::new(REPLAY_CACHE_CAPACITY),
            payments: BTreeMap::new(),
            outbox: Outbox::default(),
            events: events::EventQueue::default(),
            to_commit: BTreeSet::new(),
            keys_indexes: KeysIndexes::default(),
            epoch_write: 0,
            acceptor: Arc::new(AcceptAll),
            now: Duration::ZERO,
        })
    }

    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.keys.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The host's decision on inbound channels (default [`AcceptAll`]);
    /// see [`InboundChannelAcceptor`] for what is asked and when.
    pub fn set_inbound_channel_acceptor(&mut self, acceptor: Arc<dyn InboundChannelAcceptor>) {
        self.acceptor = acceptor;
    }

    /// Where our side of cooperative closes is paid.
    pub fn shutdown_script(&self) -> ScriptBuf {
        if let Some(s) = &self.config.shutdown_script {
            return s.clone();
        }
        match self.keys.wallet_key(0) {
            Ok(k) => {
                let pk = bitcoin::CompressedPublicKey(PublicKey::from_secret_key(
                    bitcoin::secp256k1::SECP256K1,
                    &k,
                ));
                ScriptBuf::new_p2wpkh(&pk.wpubkey_hash())
            }
            // Cannot happen for a valid seed; an empty script makes
            // `shutdown` refuse rather than pay to nowhere.
            Err(_) => ScriptBuf::new(),
        }
    }

    // ----- peers -----

    fn fresh_secret(&self) -> SecretKey {
        loop {
            if let Ok(k) = SecretKey::from_slice(&self.keys.random_bytes()) {
                return k;
            }
        }
    }

    /// Opens a connection to `node_id`: write the returned act one to a new
    /// socket, then feed what it reads to [`Node::handle_bytes`]. `now` is
    /// the host's time since the UNIX epoch (used for timers and invoice
    /// expiry).
    pub fn connect_outbound(&mut self, node_id: PublicKey, now: Duration) -> (PeerId, Vec<u8>) {
        self.now = now;
        let eph = self.fresh_secret();
        self.peers.connect_outbound(node_id, &eph, now)
    }

    /// Registers a connection the host accepted.
    pub fn accept_inbound(&mut self, now: Duration) -> PeerId {
        self.now = now;
        let eph = self.fresh_secret();
        self.peers.accept_inbound(&eph, now)
    }

    /// Bytes read from `peer`'s socket. On `Err` the connection is closed:
    /// write what [`Node::poll_transmit`] still returns, then close the
    /// socket.
    pub fn handle_bytes(
        &mut self,
        peer: PeerId,
        bytes: &[u8],
        now: Duration,
    ) -> Result<(), NodeError> {
        self.now = now;
        let result = self.peers.handle_bytes(peer, bytes, now);
        self.process_peer_events();
        result.map_err(NodeError::from)
    }

    /// The next bytes to write to `peer`'s socket, or `None`.
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Vec<u8>> {
        self.flush_outbox();
        let out = self.peers.poll_transmit(peer);
        if out.is_none() && self.outbox.has_for(peer) {
            // The peer's queue was full; it is empty now.
            self.flush_outbox();
            return self.peers.poll_transmit(peer);
        }
        out
    }

    /// Timers: pings, pong and setup timeouts.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = now;
        self.peers.handle_timeout(now);
        self.process_peer_events();
    }

    /// When [`Node::handle_timeout`] next has work.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.peers.next_timeout()
    }

    /// The host's socket to `peer` closed (or the host wants it closed).
    pub fn peer_disconnected(&mut self, peer: PeerId) {
        self.peers.disconnect(peer);
        self.process_peer_events();
    }

    /// Connected peers and their node ids.
    pub fn connected_peers(&self) -> Vec<(PeerId, PublicKey)> {
        self.peers
            .connected_peers()
            .map(|(p, n, _)| (p, n))
            .collect()
    }

    // ----- persistence -----

    /// Async persistence: the next batch to make durable, one per step that
    /// changed state (see [`PersistRequest`]). Report it with
    /// [`Node::persist_completed`]; messages that depend on it wait.
    pub fn poll_persist(&mut self) -> Option<PersistRequest> {
        self.writer.poll()
    }

    /// Async persistence: batch `id` is durable (a write in it refused as
    /// stale counts as done). Releases what waited on it and every batch
    /// before it.
    pub fn persist_completed(&mut self, id: PersistId) {
        self.writer.completed(id);
        self.flush_outbox();
    }

    /// Whether any message or broadcast waits for a write.
    pub fn has_held_messages(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The inline write that failed, if one did (the node is then stuck:
    /// restart it from the store).
    pub fn persist_failure(&self) -> Option<&str> {
        self.writer.failure()
    }

    /// Hands out what the writes before it allow: broadcasts, then each
    /// connection's messages in order until its peer-layer queue is full
    /// (that connection waits; the others go on). A connection that passed
    /// its bound is disconnected with a `warning`.
    fn flush_outbox(&mut self) {
        // The step's records go out first, as one durable operation.
        self.writer.commit();
        while let Some(tx) = self.outbox.pop_broadcast(|dep| self.writer.is_durable(dep)) {
            self.host.broadcaster.broadcast_transaction(&tx);
        }
        let mut closed = false;
        for peer in self.outbox.take_overflowed() {
            let limit = self.config.max_queued_messages_per_peer;
            closed |= self
                .peers
                .disconnect_with_warning(peer, PeerError::NodeQueueFull { limit });
        }
        for peer in self.outbox.peers() {
            while let Some(held) = self
                .outbox
                .front_if(peer, |dep| self.writer.is_durable(dep))
            {
                match held {
                    Held::Message(message) => {
                        // Full: this connection waits for the host to drain
                        // it. Any other refusal means the connection is
                        // gone: the channel retransmits after
                        // `channel_reestablish`.
                        if let Err(PeerError::OutboundQueueFull { .. }) =
                            self.peers.send_message(peer, message)
                        {
                            break;
                        }
                        self.outbox.pop(peer);
                    }
                    Held::Disconnect => {
                        self.outbox.drop_peer(peer);
                        closed |= self.peers.close_after_queued(peer);
                        break;
                    }
                }
            }
        }
        if closed {
            // The closures are peer events: channels learn of them now.
            self.process_peer_events();
        }
    }

    fn queue_message(&mut self, node_id: PublicKey, message: Message) {
        if let Some(peer) = self.peers.peer_for_node(&node_id) {
            self.outbox.push_message(
                peer,
                self.writer.barrier(),
                message,
                self.config.max_queued_messages_per_peer,
            );
        }
    }

    /// Closes the connection to `node_id` after what is queued for it (a
    /// `warning` we just sent): BOLT 2's recoverable violations ask to
    /// "send a `warning` and close the connection".
    fn queue_disconnect(&mut self, node_id: PublicKey) {
        if let Some(peer) = self.peers.peer_for_node(&node_id) {
            self.outbox.push_disconnect(peer, self.writer.barrier());
        }
    }

    fn queue_broadcast(&mut self, tx: Transaction) {
        self.outbox.push_broadcast(self.writer.barrier(), tx);
    }

    /// Applies what a channel error calls for ([`Channel::handle_error`]):
    /// a `warning` also closes the connection once it is sent.
    fn channel_failed_with(&mut self, id: ChannelId, e: &ChannelError) {
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let counterparty = entry.counterparty;
        let out = entry.channel.handle_error(e);
        self.apply(id, out);
        if e.action() == ErrorAction::Warn {
            self.queue_disconnect(counterparty);
        }
    }

    // ----- peer events -----

    /// Handles what the peer manager reported. Consecutive normal-operation
    /// messages for one channel (what one socket read brought) go to the
    /// channel as one batch with one write
    /// ([`Channel::handle_messages`]).
    fn process_peer_events(&mut self) {
        loop {
            let events: Vec<PeerEvent> = std::iter::from_fn(|| self.peers.poll_event()).collect();
            if events.is_empty() {
                break;
            }
            let mut batch: Option<(ChannelId, Vec<Message>)> = None;
            for event in events {
                let target = match &event {
                    PeerEvent::Message {
                        node_id, message, ..
                    } => self.batchable(*node_id, message),
                    _ => None,
                };
                let event = match (target, event) {
                    (Some(id), PeerEvent::Message { message, .. }) => {
                        match &mut batch {
                            Some((b, msgs)) if *b == id => msgs.push(*message),
                            _ => {
                                if let Some((b, msgs)) = batch.take() {
                                    self.deliver_batch(b, &msgs);
                                }
                                batch = Some((id, vec![*message]));
                            }
                        }
                        continue;
                    }
                    (_, event) => event,
                };
                if let Some((b, msgs)) = batch.take() {
                    self.deliver_batch(b, &msgs);
                }
                self.on_peer_event(event);
            }
            if let Some((b, msgs)) = batch.take() {
                self.deliver_batch(b, &msgs);
            }
        }
        self.flush_commits();
        self.flush_outbox();
    }

    /// The channel a normal-operation message from `node_id` goes to, if it
    /// may join a batch.
    fn batchable(&self, node_id: PublicKey, message: &Message) -> Option<ChannelId> {
        let batchable = matches!(
            message,
            Message::UpdateAddHtlc(_)
                | Message::UpdateFulfillHtlc(_)
                | Message::UpdateFailHtlc(_)
                | Message::UpdateFailMalformedHtlc(_)
                | Message::UpdateFee(_)
                | Message::CommitmentSigned(_)
                | Message::RevokeAndAck(_)
        );
        if !batchable {
            return None;
        }
        let channel_id = message_channel_id(message)?;
        self.channels
            .iter()
            .find(|(id, e)| e.counterparty == node_id && **id == channel_id)
            .map(|(id, _)| *id)
    }

    /// Hands `msgs` to channel `id` as one batch and applies what comes
    /// out; a message that fails ends the batch and fails as it would alone.
    fn deliver_batch(&mut self, id: ChannelId, msgs: &[Message]) {
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let (out, result) = entry.channel.handle_messages(msgs);
        self.apply(id, out);
        if let Err(e) = result {
            self.channel_failed_with(id, &e);
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Connected { node_id, .. } => self.on_peer_connected(node_id),
            PeerEvent::Disconnected {
                peer,
                node_id,
                was_connected,
                ..
            } => {
                self.outbox.drop_peer(peer);
                if let (Some(node_id), true) = (node_id, was_connected) {
                    if self.peers.peer_for_node(&node_id).is_none() {
                        self.on_peer_disconnected(node_id);
                    }
                }
            }
            // BOLT 1, receiving `warning`: "SHOULD log the message", "MAY
            // disconnect". The node keeps the connection: a warning is the
            // peer's way to say "recoverable", and the peer closes it when
            // it means to.
            PeerEvent::WarningReceived { .. } => {}
            PeerEvent::Message {
                node_id, message, ..
            } => self.on_message(node_id, *message),
            PeerEvent::ErrorReceived {
                node_id,
                channel_id,
                data,
                ..
            } => {
                // The channels see the peer's text sanitised and bounded;
                // it is shown to the host, never sent back (issue 13).
                let error = Message::Error(lightning_wire::msgs::Error {
                    channel_id,
                    data: crate::channel::sanitize_peer_text(&data).into_bytes(),
                    tlvs: Default::default(),
                });
                let ids: Vec<ChannelId> = self
                    .channels
                    .iter()
                    .filter(|(id, e)| {
                        e.counterparty == node_id
                            && (channel_id == ChannelId::ALL
                                || **id == channel_id
                                || e.channel.state().temporary_channel_id == channel_id)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.deliver(id, &error);
                }
            }
        }
    }

    fn on_peer_connected(&mut self, node_id: PublicKey) {
        let ids: Vec<ChannelId> = self.channels_with(node_id);
        for id in ids {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            if let Some(reestablish) = entry.channel.peer_reconnected() {
                self.queue_message(node_id, Message::ChannelReestablish(reestablish));
            }
        }
    }

    /// BOLT 2: a channel whose funding transaction cannot have been
    /// broadcast is forgotten (nothing of it was ever written).
    fn forget_unfunded(&mut self, id: ChannelId, reason: &str) {
        self.channels.remove(&id);
        let event = Event::ChannelClosed {
            channel_id: id,
            reason: reason.into(),
            closing_tx: None,
        };
        self.push_event(event, None);
    }

    fn on_peer_disconnected(&mut self, node_id: PublicKey) {
        for id in self.channels_with(node_id) {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            if is_unfunded(entry.channel.phase()) {
                self.forget_unfunded(id, "the peer disconnected before the channel was funded");
                continue;
            }
            let (out, dropped) = entry.channel.peer_disconnected();
            self.apply(id, out);
            for add in dropped {
                self.fail_unsent_payment(
                    PaymentHash(add.payment_hash),
                    "the peer disconnected before the HTLC was committed",
                );
            }
        }
    }

    fn channels_with(&self, node_id: PublicKey) -> Vec<ChannelId> {
        self.channels
            .iter()
            .filter(|(_, e)| e.counterparty == node_id)
            .map(|(id, _)| *id)
            .collect()
    }

    fn on_message(&mut self, node_id: PublicKey, message: Message) {
        if let Message::OpenChannel(open) = &message {
            self.on_open_channel(node_id, open);
            return;
        }
        let Some(channel_id) = message_channel_id(&message) else {
            return;
        };
        let key = self.channels.iter().find_map(|(id, e)| {
            (e.counterparty == node_id
                && (*id == channel_id || e.channel.state().temporary_channel_id == channel_id))
                .then_some(*id)
        });
        if let (Some(id), Message::FundingCreated(m)) = (key, &message) {
            // Only a channel waiting for it can be forgotten; any other
            // refuses the message itself.
            let waiting = self
                .channels
                .get(&id)
                .is_some_and(|e| e.channel.phase() == Phase::AwaitingFundingCreated);
            if waiting && self.funding_collides(id, m) {
                // Nothing of the channel was written yet: forget it, and
                // tell the peer with an `error` for its temporary id (the
                // only channel that id names between us).
                self.queue_message(
                    node_id,
                    Message::Error(lightning_wire::msgs::Error {
                        channel_id: m.temporary_channel_id,
                        data: b"funding outpoint or channel_id already in use".to_vec(),
                        tlvs: Default::default(),
                    }),
                );
                self.forget_unfunded(id, "funding_created named a funding outpoint in use");
                return;
            }
        }
        match key {
            Some(id) => self.deliver(id, &message),
            None => {
                // BOLT 1/2: tell the peer the channel is unknown to us.
                if !matches!(message, Message::Error(_) | Message::Warning(_)) {
                    self.queue_message(
                        node_id,
                        Message::Warning(lightning_wire::msgs::Warning {
                            channel_id,
                            data: b"unknown channel".to_vec(),
                            tlvs: Default::default(),
                        }),
                    );
                }
            }
        }
    }

    /// BOLT 2 `funding_created`: whether its outpoint, or the `channel_id`
    /// derived from it, is already used by a channel other than `key`
    /// (ours with any peer; ids and temporary ids alike). Such a channel
    /// would replace the other one in memory and write under its keys.
    fn funding_collides(&self, key: ChannelId, m: &lightning_wire::msgs::FundingCreated) -> bool {
        let derived = ChannelId::v1_from_funding_outpoint(&m.funding_txid, m.funding_output_index);
        let outpoint = bitcoin::OutPoint {
            txid: m.funding_txid,
            vout: u32::from(m.funding_output_index),
        };
        self.channels.iter().any(|(id, e)| {
            let st = e.channel.state();
            *id != key
                && (*id == derived
                    || st.channel_id == derived
                    || st.temporary_channel_id == derived
                    || st.funding_outpoint == Some(outpoint))
        })
    }

    /// Hands `message` to channel `id` and applies what comes out.
    fn deliver(&mut self, id: ChannelId, message: &Message) {
        let Some(entry) = self.channels.get_mut(&id) else {
            return;
        };
        let (out, failure) = match entry.channel.handle_message(message) {
            Ok(out) => (out, None),
            Err(e) => (entry.channel.handle_error(&e), Some(e)),
        };
        let counterparty = entry.counterparty;
        let new_id = entry.channel.channel_id();
        self.apply(id, out);
        if failure.is_some_and(|e| e.action() == ErrorAction::Warn) {
            self.queue_disconnect(counterparty);
        }
        if let Message::ChannelReestablish(_) = message {
            self.answer_pending_htlcs(new_id);
        }
    }

    fn channel_config(&self, counterparty: &PublicKey) -> ChannelConfig {
        let their = self
            .peers
            .connected_peers()
            .find(|(_, n, _)| n == counterparty)
            .map(|(_, _, f)| f.clone());
        let both = |f: Feature| {
            self.config.features.supports(f) && their.as_ref().is_some_and(|t| t.supports(f))
        };
        let trusted = self.config.trusted_zeroconf_peers.contains(counterparty);
        ChannelConfig {
            chain_hash: self.config.chain_hash(),
            anchors: self.config.channel.anchors && both(Feature::AnchorsZeroFeeHtlcTx),
            anysegwit: both(Feature::ShutdownAnySegwit),
            trusted_for_zeroconf: trusted,
            minimum_depth: if trusted {
                0
            } else {
                self.config.channel.minimum_depth
            },
            // BOLT 2: `closing_complete`/`closing_sig` only when both sides
            // advertised `option_simple_close`.
            simple_close: both(Feature::SimpleClose),
            feerates: self.feerate_bounds(),
            shutdown_script: self.shutdown_script(),
            ..self.config.channel.clone()
        }
    }

    fn on_open_channel(&mut self, node_id: PublicKey, open: &lightning_wire::msgs::OpenChannel) {
        // Nothing is spent on an open before the policy lets it through
        // ([`inbound`]).
        let zero_conf = match self.check_inbound_open(node_id, open) {
            Ok(zero_conf) => zero_conf,
            Err(Refusal::Collision) => {
                self.queue_message(
                    node_id,
                    Message::Warning(lightning_wire::msgs::Warning {
                        channel_id: open.temporary_channel_id,
                        data: b"temporary_channel_id already in use".to_vec(),
                        tlvs: Default::default(),
                    }),
                );
                self.queue_disconnect(node_id);
                return;
            }
            Err(Refusal::Error(text)) => {
                self.queue_message(
                    node_id,
                    Message::Error(lightning_wire::msgs::Error {
                        channel_id: open.temporary_channel_id,
                        data: text.as_bytes().to_vec(),
                        tlvs: Default::default(),
                    }),
                );
                return;
            }
        };
        let result = (|| -> Result<(Channel<InMemorySigner>, Message), NodeError> {
            let mut config = self.channel_config(&node_id);
            if !zero_conf {
                config.trusted_for_zeroconf = false;
                config.minimum_depth = config.minimum_depth.max(self.config.channel.minimum_depth);
            }
            // The index is taken (and its block reserved) only once the
            // channel accepted the open: a refused open costs no index and
            // no write.
            let index = self.keys_indexes.next;
            let signer = self.keys.derive_channel_signer(index)?;
            let (mut channel, accept) = Channel::from_open_channel(signer, config, index, open)?;
            self.allocate_keys_index()?;
            channel.set_counterparty_node_id(node_id);
            Ok((channel, Message::AcceptChannel(accept)))
        })();
        match result {
            Ok((channel, accept)) => {
                let id = channel.channel_id();
                self.channels.insert(
                    id,
                    ChannelEntry {
                        channel,
                        counterparty: node_id,
                        watched: false,
                    },
                );
                self.queue_message(node_id, accept);
            }
            Err(e) => {
                // Our own bounded text: a channel refusal names the rule,
                // anything else (keys, store) stays private (issue 13).
                let data = match &e {
                    NodeError::Channel(c) => crate::channel::outgoing_error_text(&c.to_string()),
                    _ => b"cannot open a channel now".to_vec(),
                };
                self.queue_message(
                    node_id,
                    Message::Error(lightning_wire::msgs::Error {
                        channel_id: open.temporary_channel_id,
                        data,
                        tlvs: Default::default(),
                    }),
                );
            }
        }
    }

    /// Applies one channel output: writes first, then messages (held until
    /// the writes are durable), then events.
    fn apply(&mut self, key: ChannelId, out: ChannelOutput) {
        let Some(mut entry) = self.channels.remove(&key) else {
            return;
        };
        let id = entry.channel.channel_id();
        let counterparty = entry.counterparty;
        if id != key && self.channel_id_in_use(&id) {
            // The channel's new id (from its funding outpoint) is another
            // channel's: never replace that one nor write under its keys.
            // Only an unfunded channel changes its id, so nothing is lost.
            self.queue_message(
                counterparty,
                Message::Error(lightning_wire::msgs::Error {
                    channel_id: key,
                    data: b"channel_id already in use".to_vec(),
                    tlvs: Default::default(),
                }),
            );
            let event = Event::ChannelClosed {
                channel_id: key,
                reason: "its channel_id is another channel's".into(),
                closing_tx: None,
            };
            self.push_event(event, None);
            return;
        }
        let mut ok = true;
        if let Some(write) = out.persist {
            for w in write.writes {
                ok = ok && self.writer.write(&w.key, w.version, w.value).is_ok();
            }
            if ok {
                for k in write.obsolete {
                    self.writer.remove_after_writes(k);
                }
            }
        }
        if !entry.watched {
            if let Some(op) = entry.channel.state().funding_outpoint {
                self.tracker.watch_tx(op.txid, 1);
                entry.watched = true;
            }
        }
        self.channels.insert(id, entry);
        if !ok {
            // The write failed: nothing may leave (the writer now blocks
            // every message); the host restarts from the store.
            return;
        }
        for m in out.messages {
            self.queue_message(counterparty, m);
        }
        for e in out.events {
            self.on_channel_event(id, counterparty, e);
        }
        // BOLT 2: a channel whose funding transaction cannot have been
        // broadcast is forgotten, failed ones too (a peer could otherwise
        // pile them up, past the inbound caps).
        if self
            .channels
            .get(&id)
            .is_some_and(|e| delivery::failed_unfunded(&e.channel))
        {
            self.forget_failed_unfunded(id);
        }
    }

    fn on_channel_event(&mut self, id: ChannelId, counterparty: PublicKey, event: ChannelEvent) {
        match event {
            ChannelEvent::FundingNeeded {
                temporary_channel_id,
                funding_satoshis,
                script_pubkey,
            } => self.push_event(
                Event::FundingNeeded {
                    temporary_channel_id,
                    counterparty,
                    amount_sat: funding_satoshis,
                    script_pubkey,
                },
                None,
            ),
            ChannelEvent::BroadcastFunding { tx } => self.queue_broadcast(tx),
            ChannelEvent::ChannelReady {
                channel_id,
                short_channel_id,
                ..
            } => self.push_event(
                Event::ChannelReady {
                    channel_id,
                    counterparty,
                    short_channel_id,
                },
                None,
            ),
            ChannelEvent::HtlcReceived {
                htlc_id,
                add,
                must_fail,
            } => self.receive_htlc(id, htlc_id, &add, must_fail),
            ChannelEvent::HtlcFulfilled {
                payment_hash,
                payment_preimage,
                ..
            } => {
                self.payment_fulfilled(PaymentHash(payment_hash), PaymentPreimage(payment_preimage))
            }
            ChannelEvent::HtlcFailed {
                payment_hash,
                reason,
                ..
            } => self.payment_failed(PaymentHash(payment_hash), &reason),
            ChannelEvent::FundingTimedOut {
                channel_id,
                waiting_since,
            } => {
                // BOLT 2: the fundee forgets the channel; nothing of ours is
                // in it. Its record goes once the writes before are durable.
                if let Some(entry) = self.channels.remove(&id) {
                    for key in entry.channel.record_keys() {
                        self.writer.remove_after_writes(key);
                    }
                }
                let event = Event::ChannelClosed {
                    channel_id,
                    reason: format!(
                        "the funding transaction did not confirm within {} blocks of height {waiting_since}",
                        crate::channel::FUNDING_TIMEOUT_BLOCKS
                    ),
                    closing_tx: None,
                };
                self.push_event(event, None);
            }
            ChannelEvent::ChannelClosed {
                channel_id,
                closing_tx,
            } => {
                self.queue_broadcast(closing_tx.clone());
                let event = Event::ChannelClosed {
                    channel_id,
                    reason: "cooperative close".into(),
                    closing_tx: Some(closing_tx),
                };
                self.push_event(event, Some(events::Ack::ChannelClosed(channel_id)));
            }
            ChannelEvent::ChannelFailed {
                channel_id,
                reason,
                holder_commitment,
                ..
            } => {
                let closing_tx = holder_commitment.map(|h| h.commitment);
                if let Some(tx) = &closing_tx {
                    self.queue_broadcast(tx.clone());
                }
                // Acknowledged (and raised again after a restart until
                // then) only for a channel that may hold funds.
                let ack = self
                    .channels
                    .get(&id)
                    .is_some_and(|e| delivery::may_be_funded(&e.channel))
                    .then_some(events::Ack::ChannelClosed(channel_id));
                let event = Event::ChannelClosed {
                    channel_id,
                    reason,
                    closing_tx,
                };
                self.push_event(event, ack);
            }
        }
    }

    /// Signs what is waiting on every channel that got updates.
    fn flush_commits(&mut self) {
        while let Some(id) = self.to_commit.pop_first() {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            match entry.channel.commit() {
                Ok(out) => self.apply(id, out),
                Err(e) => self.channel_failed_with(id, &e),
            }
        }
    }

    // ----- channels -----

    fn feerate_per_kw(&self, target: ConfirmationTarget) -> u32 {
        BoundedFeeEstimator::new(&*self.host.fee_estimator)
            .fee_rate(target)
            .sat_per_kw()
    }

    /// Opens a channel of `amount_sat` to the connected peer `node_id`,
    /// pushing `push_msat` to it. Returns the temporary channel id; an
    /// [`Event::FundingNeeded`] follows once the peer accepts.
    pub fn open_channel(
        &mut self,
        node_id: PublicKey,
        amount_sat: u64,
        push_msat: u64,
    ) -> Result<ChannelId, NodeError> {
        if self.peers.peer_for_node(&node_id).is_none() {
            return Err(NodeError::NotConnected(node_id));
        }
        let config = self.channel_config(&node_id);
        let feerate = self.feerate_per_kw(if config.anchors {
            ConfirmationTarget::AnchorChannelFee
        } else {
            ConfirmationTarget::NonAnchorChannelFee
        });
        let index = self.allocate_keys_index()?;
        let signer = self.keys.derive_channel_signer(index)?;
        let temporary_channel_id = ChannelId(self.keys.random_bytes());
        let (mut channel, open) = Channel::new_outbound(
            signer,
            config,
            index,
            temporary_channel_id,
            amount_sat,
            push_msat,
            feerate,
        )?;
        channel.set_counterparty_node_id(node_id);
        self.channels.insert(
            temporary_channel_id,
            ChannelEntry {
                channel,
                counterparty: node_id,
                watched: false,
            },
        );
        self.queue_message(node_id, Message::OpenChannel(open));
        self.flush_outbox();
        Ok(temporary_channel_id)
    }

    /// The funding transaction for [`Event::FundingNeeded`], signed and
    /// not broadcast: the node sends `funding_created` and broadcasts it
    /// after `funding_signed`. Returns the channel's real id.
    pub fn funding_transaction_generated(
        &mut self,
        temporary_channel_id: ChannelId,
        tx: Transaction,
    ) -> Result<ChannelId, NodeError> {
        let entry = self
            .channels
            .get_mut(&temporary_channel_id)
            .ok_or(NodeError::UnknownChannel(temporary_channel_id))?;
        let out = entry.channel.funding_transaction(tx)?;
        let id = entry.channel.channel_id();
        self.apply(temporary_channel_id, out);
        self.flush_outbox();
        self.persist_error()?;
        let kept = self
            .channels
            .get(&id)
            .is_some_and(|e| e.channel.state().temporary_channel_id == temporary_channel_id);
        if !kept {
            // `apply` refused it: the outpoint is another channel's.
            return Err(NodeError::ChannelIdCollision(id));
        }
        Ok(id)
    }

    fn persist_error(&self) -> Result<(), NodeError> {
        match self.writer.failure() {
            Some(f) => Err(NodeError::Persist(f.to_string())),
            None => Ok(()),
        }
    }

    /// Starts a cooperative close (BOLT 2 `shutdown`); an
    /// [`Event::ChannelClosed`] follows with the closing transaction, which
    /// the node broadcasts.
    pub fn close_channel(&mut self, channel_id: ChannelId) -> Result<(), NodeError> {
        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let out = entry.channel.shutdown()?;
        self.apply(channel_id, out);
        self.flush_outbox();
        self.persist_error()
    }

    /// Proposes a new commitment feerate on a channel we funded (BOLT 2,
    /// "Updating Fees: `update_fee`": only the funder sends it) and signs
    /// it at once. Refused for the fundee, or when the funder could not
    /// pay the new fee.
    pub fn update_fee(
        &mut self,
        channel_id: ChannelId,
        feerate_per_kw: u32,
    ) -> Result<(), NodeError> {
        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let out = entry.channel.update_fee(feerate_per_kw)?;
        self.apply(channel_id, out);
        self.to_commit.insert(channel_id);
        self.flush_commits();
        self.flush_outbox();
        self.persist_error()
    }

    /// Closes unilaterally: tells the peer (`error`) and broadcasts our
    /// latest commitment.
    pub fn force_close_channel(&mut self, channel_id: ChannelId) -> Result<(), NodeError> {
        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let out = entry.channel.force_close("force-closed by the host");
        self.apply(channel_id, out);
        self.flush_outbox();
        self.persist_error()
    }

    fn details(entry: &ChannelEntry) -> ChannelDetails {
        let ch = &entry.channel;
        let st = ch.state();
        let local = ch.local_balance_msat();
        ChannelDetails {
            channel_id: ch.channel_id(),
            counterparty: entry.counterparty,
            is_outbound: st.is_funder,
            phase: ch.phase(),
            is_usable: ch.is_usable(),
            funding_txo: st.funding_outpoint,
            short_channel_id: st.short_channel_id,
            capacity_sat: st.funding_satoshis,
            local_balance_msat: local,
            outbound_capacity_msat: if ch.is_usable() {
                payments::outbound_capacity_msat(ch)
            } else {
                0
            },
        }
    }

    /// Every channel the node knows, closed ones included.
    pub fn list_channels(&self) -> Vec<ChannelDetails> {
        self.channels.values().map(Self::details).collect()
    }

    /// Totals over the channels.
    pub fn balances(&self) -> Balances {
        let mut b = Balances::default();
        for entry in self.channels.values() {
            let d = Self::details(entry);
            match d.phase {
                Phase::Normal | Phase::ShuttingDown => b.lightning_msat += d.local_balance_msat,
                Phase::AwaitingChannelReady | Phase::AwaitingFundingSigned => {
                    b.pending_open_msat += d.local_balance_msat
                }
                _ => {}
            }
            b.outbound_capacity_msat += d.outbound_capacity_msat;
        }
        b
    }

    // ----- restore -----

    /// Rebuilds a node from what `store` holds: channels (each starts
    /// disconnected: HTLC offers never committed are failed, the rest
    /// resumes after `channel_reestablish` once the peer reconnects),
    /// invoices, payments and counters. Funding and closing transactions
    /// are broadcast again. A new entropy epoch is written first, so no
    /// key or preimage of an earlier run is drawn again. Payment and close
    /// events the host had not acknowledged are raised again (see
    /// [`Node::poll_event`]).
    pub fn restore(
        seed: &[u8; 32],
        config: NodeConfig,
        persistence: Persistence,
        host: NodeHost,
        best_block: BestBlock,
        store: &dyn KvStore,
    ) -> Result<Node, NodeError> {
        let mut node = Self::empty(seed, config, persistence, host, best_block)?;
        let read = |key: &str| -> Result<Option<lightning_persist::Versioned>, NodeError> {
            store
                .read(NAMESPACE, key)
                .map_err(|e| NodeError::Restore(format!("{key}: {e}")))
        };
        let list = |prefix: &str| -> Result<Vec<String>, NodeError> {
            store
                .list_prefix(NAMESPACE, prefix)
                .map_err(|e| NodeError::Restore(format!("{prefix}: {e}")))
        };

        // Entropy first: a fresh epoch, durable before anything is drawn
        // from it leaves.
        let (epoch, epoch_version) = match read(records::ENTROPY_EPOCH_KEY)? {
            Some(v) => (records::decode_u32(&v.value).unwrap_or(0), v.version),
            None => (0, 0),
        };
        let epoch = epoch.wrapping_add(1);
        node.writer
            .set_version(records::ENTROPY_EPOCH_KEY, epoch_version);
        node.writer
            .write_record(records::ENTROPY_EPOCH_KEY, records::encode_u32(epoch))?;
        node.keys.set_entropy_epoch(epoch);
        node.epoch_write = node.writer.barrier();

        if let Some(v) = read(records::KEYS_INDEX_KEY)? {
            let stored = records::decode_u32(&v.value).ok_or_else(|| {
                // Starting from 0 again would reuse keys: refuse.
                NodeError::Restore(format!("{}: not a u32", records::KEYS_INDEX_KEY))
            })?;
            node.keys_indexes = KeysIndexes::restored(stored);
            node.writer.set_version(records::KEYS_INDEX_KEY, v.version);
        }

        for key in list("invoices/")? {
            if let Some(v) = read(&key)? {
                // A damaged invoice record loses that invoice only.
                if let Ok(r) = InvoiceRecord::decode(&v.value) {
                    if let Ok(inv) = r.bolt11.parse::<lightning_wire::bolt11::Bolt11Invoice>() {
                        let hash = PaymentHash(*inv.payment_hash().as_ref());
                        node.invoices.insert(hash, r);
                        node.invoice_terms
                            .insert(hash, invoices::InvoiceTerms::of(&inv));
                    }
                }
                node.writer.set_version(&key, v.version);
            }
        }
        for key in list("payments/")? {
            if let Some(v) = read(&key)? {
                if let Ok(r) = PaymentRecord::decode(&v.value) {
                    node.payments.insert(r.payment_hash, r);
                }
                node.writer.set_version(&key, v.version);
            }
        }

        // Channels: `channels/<id>/snapshot` and `channels/<id>/u/<seq>`.
        let mut by_id: BTreeMap<String, StoredChannel> = BTreeMap::new();
        for key in list("channels/")? {
            let mut parts = key.splitn(3, '/');
            let (Some(_), Some(id), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Some(v) = read(&key)? else { continue };
            let slot = by_id.entry(id.to_string()).or_default();
            if rest == "snapshot" {
                slot.0 = Some(v.value);
            } else {
                slot.1.push(v.value);
            }
        }
        for (id_hex, (snapshot, updates)) in by_id {
            let Some(snapshot) = snapshot else {
                return Err(NodeError::Restore(format!("channel {id_hex}: no snapshot")));
            };
            let mut id = [0u8; 32];
            hex::decode_to_slice(&id_hex, &mut id)
                .map_err(|_| NodeError::Restore(format!("channel key {id_hex}")))?;
            let (state, _) = crate::channel::record::decode_snapshot(&snapshot)
                .map_err(|e| NodeError::Restore(format!("channel {id_hex}: {e}")))?;
            // The record names the peer; stores written before it did keep
            // the peer under `channel_peers/<id>`.
            let counterparty = match state.counterparty_node_id {
                Some(id) => id,
                None => read(&records::channel_peer_key(&ChannelId(id)))?
                    .and_then(|v| PublicKey::from_slice(&v.value).ok())
                    .ok_or_else(|| {
                        NodeError::Restore(format!("channel {id_hex}: counterparty unknown"))
                    })?,
            };
            let signer = node.keys.derive_channel_signer(state.keys_index)?;
            let mut config = node.channel_config(&counterparty);
            config.trusted_for_zeroconf =
                node.config.trusted_zeroconf_peers.contains(&counterparty);
            let mut channel = Channel::restore(signer, config, &snapshot, &updates)
                .map_err(|e| NodeError::Restore(format!("channel {id_hex}: {e}")))?;
            channel.set_counterparty_node_id(counterparty);
            node.keys_indexes.seen(state.keys_index);
            let cid = channel.channel_id();
            node.channels.insert(
                cid,
                ChannelEntry {
                    channel,
                    counterparty,
                    watched: false,
                },
            );
        }

        // Money events the host had not acknowledged come again
        // ([`delivery`]), before anything this restore itself reports.
        let mut closed_acks = BTreeSet::new();
        for key in list(records::CHANNEL_CLOSED_ACKS)? {
            let hex_id = key.trim_start_matches(records::CHANNEL_CLOSED_ACKS);
            let mut id = [0u8; 32];
            if hex::decode_to_slice(hex_id, &mut id).is_ok() {
                closed_acks.insert(ChannelId(id));
            }
            if let Some(v) = read(&key)? {
                node.writer.set_version(&key, v.version);
            }
        }
        node.raise_unhandled_events(&closed_acks);

        // Every channel starts disconnected.
        let ids: Vec<ChannelId> = node.channels.keys().copied().collect();
        for id in ids {
            let Some(entry) = node.channels.get_mut(&id) else {
                continue;
            };
            if is_unfunded(entry.channel.phase()) {
                node.forget_unfunded(id, "restarted before the channel was funded");
                continue;
            }
            if delivery::failed_unfunded(&entry.channel) {
                // Written by a version that kept such channels.
                node.forget_failed_unfunded(id);
                continue;
            }
            let (out, dropped) = entry.channel.peer_disconnected();
            let st = entry.channel.state();
            let rebroadcast = match st.phase {
                Phase::AwaitingChannelReady | Phase::Normal | Phase::ShuttingDown
                    if st.is_funder =>
                {
                    st.funding_tx.clone()
                }
                Phase::Closed => st.closing_tx.clone(),
                _ => None,
            };
            node.apply(id, out);
            if let Some(tx) = rebroadcast {
                node.queue_broadcast(tx);
            }
            for add in dropped {
                node.fail_unsent_payment(
                    PaymentHash(add.payment_hash),
                    "the node restarted before the HTLC was committed",
                );
            }
        }
        node.flush_outbox();
        node.persist_error()?;
        Ok(node)
    }
}

/// A channel's snapshot and update records as read from the store.
type StoredChannel = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// Before `funding_signed` (funder) or `funding_created` (fundee): the
/// funding transaction was never broadcast, so the channel can be
/// forgotten. The funder's record written at `funding_created` stays in
/// the store, unused.
fn is_unfunded(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::AwaitingAccept
            | Phase::AwaitingFundingTx
            | Phase::AwaitingFundingCreated
            | Phase::AwaitingFundingSigned
    )
}

/// The channel a channel message is for (the temporary id during
/// establishment).
fn message_channel_id(m: &Message) -> Option<ChannelId> {
    Some(match m {
        Message::AcceptChannel(m) => m.temporary_channel_id,
        Message::FundingCreated(m) => m.temporary_channel_id,
        Message::FundingSigned(m) => m.channel_id,
        Message::ChannelReady(m) => m.channel_id,
        Message::UpdateAddHtlc(m) => m.channel_id,
        Message::UpdateFulfillHtlc(m) => m.channel_id,
        Message::UpdateFailHtlc(m) => m.channel_id,
        Message::UpdateFailMalformedHtlc(m) => m.channel_id,
        Message::CommitmentSigned(m) => m.channel_id,
        Message::RevokeAndAck(m) => m.channel_id,
        Message::UpdateFee(m) => m.channel_id,
        Message::ChannelReestablish(m) => m.channel_id,
        Message::Shutdown(m) => m.channel_id,
        Message::ClosingSigned(m) => m.channel_id,
        Message::ClosingComplete(m) => m.channel_id,
        Message::ClosingSig(m) => m.channel_id,
        _ => return None,
    })
}
