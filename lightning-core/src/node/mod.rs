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
//! A node is built with [`NodeBuilder`] (`Node::builder(network)`), from a
//! seed or from the host's own signers ([`NodeSigner`], [`EntropySource`],
//! [`ChannelSignerProvider`]): the node reaches its keys only through those
//! traits, so they can live in another process or an HSM. The builder
//! restores the node from its store when the store holds one, and refuses
//! a store of another node or network.
//!
//! # A minimal host loop
//!
//! One connection; the calls after each input follow [`Node`]'s
//! [poll order](Node#poll-order).
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

mod attribution;
mod backup;
mod balances;
mod blinded_intro;
mod blinded_pay;
mod blinded_target;
mod bolt12;
mod builder;
mod bumping;
mod chain;
mod channel_events;
mod channel_map;
mod channels;
mod config;
mod deadlines;
mod delivery;
mod error;
mod events;
mod forward;
mod forward_prune;
mod forward_record;
mod gossip;
mod graph;
mod graph_closing;
mod hold;
mod host;
mod htlcs;
mod identity;
mod inbound;
mod invoices;
mod keysend;
mod keysend_routed;
mod mempool;
mod mpp;
mod mpp_send;
mod offers_flow;
mod onchain;
mod onion_message_route;
mod onion_messages;
mod outbox;
mod outcomes;
mod pay_options;
mod payments;
mod peer_storage;
mod peers;
mod persistence;
mod record_fields;
mod records;
mod resolver_map;
mod restore;
mod retry;
mod route;
mod route_hints;
mod router_path;
mod routing;
mod sent_parts;
mod transmit;
mod watchtower;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_chain::ConfirmationTracker;
use lightning_wire::types::ChannelId;

use crate::channel::Channel;
#[cfg(doc)]
use crate::keys::KeysManager;
use crate::keys::{ChannelSignerProvider, DynChannelSigner, EntropySource, NodeSigner};
use crate::peer::PeerManager;

pub use backup::RecoveredChannel;
pub use balances::ClaimableBalance;
pub use bolt12::{InvoiceRequestParams, OfferParams};
pub use builder::{BuildError, NodeBuilder};
pub use config::{
    ForwardingConfig, InboundLimits, NodeConfig, DEFAULT_MAX_FINAL_CLTV_EXPIRY_DELTA,
    DEFAULT_PAYMENT_RETRY_ATTEMPTS,
};
pub use error::NodeError;
pub use events::{
    Balances, ChannelDetails, ClosingState, Event, ForwardDetails, ForwardStatus, InvoiceDetails,
    InvoiceStatus, PartStatus, PaymentDetails, PaymentFailure, PaymentHash, PaymentId, PaymentPart,
    PaymentPreimage, PaymentStatus,
};
pub use gossip::{GossipConfig, GOSSIP_TIMESTAMP_KEY, UPDATE_REFRESH};
pub use graph::{NetworkGraphConfig, GRAPH_KEY, SCORER_KEY};
pub use graph_closing::{CLOSING_KEY, FUNDING_PREFIX};
pub use hold::HOLD_MARGIN_BLOCKS;
pub use host::NodeHost;
pub use inbound::{
    AcceptAll, InboundChannelAcceptor, InboundChannelDecision, InboundChannelRequest,
    KEYS_INDEX_BLOCK,
};
/// The router's types, for [`Node::find_route`] and [`Node::query_routes`]
/// (its `Route` and `RouteHop` are `lightning_router::Route`/`RouteHop`;
/// `node::Route` is the explicit route [`Node::send_to_route`] takes).
pub use lightning_router::{FirstHop, NodeId, RouteCandidate, RouteError, RouteParams, RoutePath};
pub use lightning_watchtower::server::{TowerConfig, TowerStats};
pub use mempool::{
    MempoolScan, MAX_MEMPOOL_COMMITMENTS, MAX_MEMPOOL_INPUTS_PER_CALL, MAX_MEMPOOL_TXS_PER_CALL,
};
pub use mpp::MppReceiveConfig;
pub use offers_flow::{
    OfferPaymentId, INVOICE_ERROR_TYPE, INVOICE_REQUEST_TYPE, INVOICE_TYPE,
    MAX_OFFER_INVOICES_PER_MINUTE, MAX_PENDING_OFFER_REQUESTS, OFFER_REQUEST_TIMEOUT,
};
pub use onion_message_route::{MAX_ONION_MESSAGE_ROUTE_HOPS, MAX_ONION_MESSAGE_ROUTE_VISITS};
pub use onion_messages::{
    OnionMessageStats, MAX_MESSAGES_PER_PEER_PER_SECOND,
    MAX_ONION_MESSAGE_ROUTE_SEARCHES_PER_SECOND,
};
pub use pay_options::PayOptions;
pub use persistence::{PersistId, PersistRequest, Persistence, NAMESPACE, WATCHTOWER_NAMESPACE};
pub use route::{RecipientOnion, Route, RouteHop, KEYSEND_PREIMAGE_TYPE, MIN_CUSTOM_RECORD_TYPE};
pub use route_hints::MAX_ROUTE_HINTS;
pub use watchtower::{WatchtowerConfig, WatchtowerStats};

use inbound::KeysIndexes;
use outbox::Outbox;
use persistence::Writer;
use records::{InvoiceRecord, PaymentRecord};

/// The keys a node is built with: the three host traits, and the default
/// shutdown script when the keys come from a seed.
struct NodeKeys {
    node_signer: Arc<dyn NodeSigner + Send + Sync>,
    entropy: Arc<dyn EntropySource + Send + Sync>,
    channel_signers: Arc<dyn ChannelSignerProvider + Send + Sync>,
    /// Where cooperative closes pay when the configuration names no script.
    shutdown_script: bitcoin::ScriptBuf,
    /// The host's wallet for fee bumps ([`NodeBuilder::wallet`]).
    wallet: Option<Arc<dyn lightning_chain::Wallet + Send + Sync>>,
}

#[derive(Debug)]
struct ChannelEntry {
    channel: Channel<DynChannelSigner>,
    counterparty: PublicKey,
    /// The funding outpoint the node watches and indexes
    /// (`Node::funding_index`) for this channel.
    watched: Option<bitcoin::OutPoint>,
    /// Whether `apply` ran on this channel since its state last changed,
    /// so that a new block alone, which changes nothing `apply` looks at
    /// but the depth `announcement_due` checks, needs no `apply`
    /// (`Node::on_best_height`). Cleared by every `apply` and reconnection.
    block_settled: bool,
}

/// A Lightning node, sans-IO. See the [module documentation](self) for a
/// host loop.
///
/// # Poll order
///
/// The node acts only when called. After each input — bytes read
/// ([`Node::handle_bytes`]), a timer ([`Node::handle_timeout`]), a closed
/// socket ([`Node::peer_disconnected`]), a block (through
/// [`ChainListener`](lightning_chain::ChainListener)), or a host call
/// ([`Node::open_channel`], [`Node::pay_invoice`],
/// [`Node::funding_transaction_generated`], ...) — the host makes these
/// calls, in this order:
///
/// 1. [`Node::poll_persist`] until `None`: make each write durable, then
///    report it with [`Node::persist_completed`] (the writes may go out in
///    parallel and complete in any order). Messages, broadcasts and events
///    that report a write are held until it is durable: this is what
///    releases them.
/// 2. [`Node::poll_transmit`] for every connection, until `None`: write the
///    bytes to that peer's socket. (A connection the node closed, such as
///    after an `Err` from `handle_bytes`, still yields its last bytes:
///    write them, then close the socket.)
/// 3. [`Node::poll_event`] until `None`. Each call acknowledges the event
///    the call before returned, so the final `None` acknowledges the last
///    one; handling an event with a host call (say
///    [`Node::funding_transaction_generated`] after
///    [`Event::FundingNeeded`]) is a new input: back to 1.
/// 4. [`Node::next_timeout`]: call [`Node::handle_timeout`] no later than
///    that (it also takes an earlier call, such as one per loop turn).
///
/// With [`Persistence::Inline`] every write is made before the call that
/// makes it returns: step 1 has nothing to do and may be skipped
/// (`poll_persist` always returns `None`). With [`Persistence::Async`],
/// skipping it holds every message back ([`Node::has_held_messages`]).
/// Broadcasts need no polling: the node hands them to
/// [`NodeHost::broadcaster`] once the writes before them are durable.
///
/// Inside the node, every call ends the same way (`Node::finish`).
pub struct Node {
    /// The node key: BOLT 8 and BOLT 4 ECDH, invoice signatures.
    node_signer: Arc<dyn NodeSigner + Send + Sync>,
    /// Ephemeral keys, session keys, preimages, temporary channel ids.
    entropy: Arc<dyn EntropySource + Send + Sync>,
    /// Each channel's signer, by keys index.
    channel_signers: Arc<dyn ChannelSignerProvider + Send + Sync>,
    /// Where cooperative closes pay when the configuration names no
    /// script (the seed's wallet key).
    default_shutdown_script: bitcoin::ScriptBuf,
    /// The build found a store written before identity records and took
    /// it as this node's ([`Node::store_adopted`]).
    store_adopted: bool,
    config: NodeConfig,
    peers: PeerManager,
    writer: Writer,
    host: NodeHost,
    channels: channel_map::ChannelMap,
    tracker: ConfirmationTracker,
    /// Each channel's funding outpoint, to match a block's inputs with one
    /// 8-byte-hashed lookup each ([`lightning_chain::OutPointKey`]); kept
    /// in step by `apply` and checked against the channel on every hit.
    funding_index: std::collections::HashMap<lightning_chain::OutPointKey, ChannelId>,
    /// The fee-rate bounds the last block gave every channel (a new
    /// channel takes the current ones from `channel_config`): a block
    /// whose bounds are the same writes none.
    last_feerate_bounds: Option<crate::channel::params::FeerateBounds>,
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
    /// A preimage became known this step (a hold invoice claimed, a
    /// forward fulfilled downstream): channels already on chain gain the
    /// claims it allows as the step ends ([`onchain`]).
    preimage_learned: bool,
    keys_indexes: KeysIndexes,
    /// The write of this run's entropy epoch: nothing drawn from the
    /// epoch may reach the host before it is durable.
    epoch_write: u64,
    acceptor: Arc<dyn InboundChannelAcceptor>,
    now: Duration,
    /// Each channel's on-chain resolver (BOLT 5) and HTLC history
    /// ([`onchain`]).
    onchain: resolver_map::ResolverMap,
    /// The host's light-client filter, if it gave one.
    watch_filter: Option<Arc<dyn lightning_chain::WatchFilter + Send + Sync>>,
    /// Outpoints already registered with `watch_filter`.
    filter_registered: BTreeSet<bitcoin::OutPoint>,
    /// Channels whose output was applied in this step: their HTLC history
    /// and watches are brought up to date when the step ends.
    history_dirty: BTreeSet<ChannelId>,
    /// Per channel, the next HTLC ids (ours, theirs) the history has seen
    /// up to: a step that added no HTLC costs no scan of the log.
    history_seen: BTreeMap<ChannelId, (u64, u64)>,
    /// Our announcements and channel updates (BOLT 7).
    gossip: gossip::GossipState,
    /// The host's wallet, paying anchor CPFPs and anchors HTLC
    /// transactions ([`bumping`]); `None`: claims pay their own fee only.
    wallet: Option<Arc<dyn lightning_chain::Wallet + Send + Sync>>,
    /// Static channel backups and recovered channels ([`backup`]).
    backup: backup::BackupState,
    /// BOLT 1 peer storage: peers' blobs and ours ([`peer_storage`]).
    peer_storage: peer_storage::PeerStorageState,
    /// BOLT 4 onion messages: counts and rate windows ([`onion_messages`]).
    onion_messages: onion_messages::OnionMessenger,
    /// BOLT 12 requests waiting for an invoice ([`offers_flow`]).
    offers: offers_flow::OffersState,
    /// The public graph, its sync, the router and the scorer
    /// ([`graph`], [`routing`]).
    public_graph: graph::PublicGraph,
    /// HTLCs we forwarded, by incoming (channel, HTLC id) ([`forward`]).
    forwards: BTreeMap<(ChannelId, u64), forward_record::ForwardRecord>,
    /// The incoming HTLC of each outgoing forward not failed.
    forwards_by_out: BTreeMap<(ChannelId, u64), (ChannelId, u64)>,
    /// When the timer last pruned the forwarding history ([`forward_prune`]).
    forward_pruned_at: Option<Duration>,
    /// Spontaneous payments we claimed ([`keysend`]).
    keysends: BTreeMap<PaymentHash, records::KeysendRecord>,
    /// Hold invoices ([`hold`]).
    holds: BTreeMap<PaymentHash, records::HoldRecord>,
    /// Payments owed a new attempt ([`retry`]).
    payment_retries: retry::RetryQueue,
    /// Multi-part payments being received, not complete yet ([`mpp`]).
    htlc_sets: mpp::HtlcSets,
    watchtowers: watchtower::Watchtowers,
    /// Our peers' `channel_update`s for our channels ([`route_hints`]).
    peer_policies: route_hints::PeerPolicies,
    /// Commitment txids seen in the mempool ([`mempool`]).
    mempool: mempool::MempoolView,
}

impl Node {
    /// A secret key from the node's entropy (session keys of onions and
    /// blinded paths). Here, in the hub, because every module that builds
    /// an onion or a path draws one.
    pub(super) fn fresh_secret(&self) -> bitcoin::secp256k1::SecretKey {
        loop {
            if let Ok(k) = bitcoin::secp256k1::SecretKey::from_slice(&self.entropy.random_bytes()) {
                return k;
            }
        }
    }

    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.node_signer.node_id()
    }

    /// The common ending of every public call that changes the node (host
    /// input, channel and payment API, blocks, restore): whatever the call
    /// set in motion is carried through, in this order, until nothing is
    /// left to do:
    ///
    /// 1. the peer layer's events are routed to the channels (messages in
    ///    batches, connections opened and closed: [`peers`]);
    /// 2. every channel that got updates signs them in one
    ///    `commitment_signed` ([`Node::flush_commits`]);
    /// 3. what the writes made so far allow leaves: broadcasts, then each
    ///    connection's messages ([`Node::flush_outbox`]). A connection it
    ///    closes (queue bound, a `warning` that ends it) is a new peer
    ///    event: back to 1.
    ///
    /// Then it reports a failed write ([`NodeError::Persist`]: from then on
    /// nothing leaves; the host restarts from the store). Calls whose
    /// result is about something else (`handle_bytes`, the poll calls,
    /// blocks) drop that error; [`Node::persist_failure`] still shows it.
    fn finish(&mut self) -> Result<(), NodeError> {
        loop {
            self.process_peer_events();
            // Failed attempts' successors go out in this step ([`retry`]).
            self.run_payment_retries();
            self.flush_commits();
            if std::mem::take(&mut self.preimage_learned) {
                self.onchain_preimage_learned();
            }
            // HTLC history and watches join this step's batch.
            self.record_htlc_history();
            // A channel opened or closed: the backup joins this batch.
            self.refresh_channel_backup();
            self.peer_storage_step();
            // Gossip for peers whose queues are empty ([`graph`]).
            self.pump_gossip();
            // A failure found after the retries ran goes round once more.
            if !self.flush_outbox() && !self.payment_retries.has_due() {
                break;
            }
        }
        match self.writer.failure() {
            Some(f) => Err(NodeError::Persist(f.to_string())),
            None => Ok(()),
        }
    }

    /// Forgets channel `id` for good: its entry and its funding index
    /// (the hub's: every module that drops a channel calls it).
    fn remove_channel_entry(&mut self, id: ChannelId) -> Option<ChannelEntry> {
        let entry = self.channels.remove(&id)?;
        self.backup_ids_changed();
        if let Some(op) = entry.watched {
            if self.funding_index.get(&lightning_chain::OutPointKey(op)) == Some(&id) {
                self.funding_index.remove(&lightning_chain::OutPointKey(op));
            }
        }
        Some(entry)
    }

    /// Something that decides which channels the backup holds may have
    /// changed: the next step compares them again.
    fn backup_ids_changed(&mut self) {
        self.backup.ids_clean = false;
    }

    /// The hub between applying a channel's output
    /// ([`channel_events`]) and what BOLT 7 does after it ([`gossip`]):
    /// `gossip` applies outputs of its own, so the two files do not call
    /// each other directly.
    fn channel_output_applied(&mut self, id: ChannelId) {
        self.after_channel_output(id);
    }

    /// Hub for [`hold`]: fails a received HTLC back ([`htlcs`]).
    fn fail_received_htlc(
        &mut self,
        channel_id: ChannelId,
        htlc_id: u64,
        ss: &crate::onion::SharedSecret,
        reason: crate::onion::FailureReason,
        since: Option<std::time::Duration>,
    ) {
        self.fail_received(channel_id, htlc_id, ss, reason, since);
    }

    /// Hub for [`forward`]: applies a channel output
    /// ([`channel_events`]), which itself answers forwards.
    fn apply_channel_output(&mut self, id: ChannelId, out: crate::channel::ChannelOutput) {
        self.apply(id, out);
    }

    /// Hub for [`forward`]: our `channel_update` for `id` as a BOLT 4
    /// failure carries it (the message with its type; empty if none can be
    /// made), naming the channel as the failed onion did (`named`), from
    /// [`gossip`].
    fn failure_channel_update(
        &mut self,
        id: ChannelId,
        named: Option<lightning_wire::types::ShortChannelId>,
    ) -> Vec<u8> {
        let private = self
            .channels
            .get(&id)
            .is_none_or(|e| !e.channel.state().announce_channel);
        self.our_channel_update_named(id, named, private, false)
            .and_then(|u| {
                lightning_wire::msgs::Message::ChannelUpdate(u)
                    .encode()
                    .ok()
            })
            .unwrap_or_default()
    }

    /// Hub for [`host`]: a timer for payments owed an attempt ([`retry`]).
    fn payment_retries_timer(&mut self) {
        self.retry_timer();
    }

    /// Hub for [`host`]: when payments owed an attempt next need a timer
    /// ([`retry`]).
    fn payment_retries_next_timeout(&self) -> Option<Duration> {
        self.retry_next_timeout()
    }

    /// Hub for [`outcomes`]: the current attempt of payment `hash` failed;
    /// a payment the node routes itself may be retried ([`retry`]).
    fn payment_attempt_failed(
        &mut self,
        hash: PaymentHash,
        part: Option<usize>,
        failure: PaymentFailure,
        malformed: bool,
    ) {
        self.attempt_failed(hash, part, failure, malformed);
    }

    /// Hub for [`outcomes`]: payment `hash` ended (`paid`, or failed); no
    /// attempt is owed any more, and the scorer learns from a path that
    /// paid ([`retry`]).
    fn payment_ended(&mut self, hash: PaymentHash, paid: bool) {
        self.routed_payment_ended(hash, paid);
    }

    /// Hub for [`forward`]: what channel `id` can offer in one HTLC now
    /// ([`payments`]).
    fn outbound_capacity(&self, id: ChannelId) -> u64 {
        self.channels
            .get(&id)
            .map_or(0, |e| payments::outbound_capacity_msat(&e.channel))
    }

    /// Hub for [`onchain`]: preimages the node learned outside the channel
    /// logs that it may reveal on chain (BOLT 5: HTLCs it fulfilled, or is
    /// entitled to claim): forwards fulfilled downstream, claimed hold
    /// invoices, keysend payments received.
    fn known_preimages(&self) -> Vec<(PaymentHash, PaymentPreimage)> {
        let mut v: Vec<(PaymentHash, PaymentPreimage)> = self
            .forwards
            .values()
            .filter_map(|r| match r.state {
                forward_record::ForwardState::Fulfilled(p) => Some((r.payment_hash, p)),
                _ => None,
            })
            .collect();
        for (hash, h) in &self.holds {
            if let records::HoldState::Claimed(p) = h.state {
                v.push((*hash, p));
            }
        }
        v.extend(self.keysends.values().map(|k| (k.payment_hash, k.preimage)));
        v
    }

    pub(crate) fn best_height(&self) -> u32 {
        self.tracker.best_block().height
    }
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

/// A node for this module's unit tests: `seed`, regtest, a `MemoryStore`,
/// a fixed 1,000 sat/kw fee and a broadcaster that drops everything.
#[cfg(test)]
pub(crate) fn test_node(seed: u8) -> Node {
    #[derive(Debug)]
    struct NoBroadcast;
    impl lightning_chain::Broadcaster for NoBroadcast {
        fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    }
    let network = bitcoin::Network::Regtest;
    let host = NodeHost {
        broadcaster: Arc::new(NoBroadcast),
        fee_estimator: Arc::new(lightning_chain::FixedFeeEstimator::new(
            lightning_chain::FeeRate::from_sat_per_kw(1000),
        )),
    };
    #[allow(clippy::unwrap_used)]
    NodeBuilder::from_config(NodeConfig::new(network))
        .seed(&[seed; 32])
        .persistence(Persistence::Inline(Arc::new(
            lightning_persist::MemoryStore::new(),
        )))
        .host(host)
        .best_block(lightning_chain::BestBlock::genesis(network))
        .build()
        .unwrap()
}
