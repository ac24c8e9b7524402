//! A minimal LDK 0.2 node for the harness: keys from a seed, a
//! `ChannelManager` and `ChainMonitor` with in-memory persistence, a fixed
//! (adjustable) fee estimator, a broadcaster that submits into the shared
//! [`SimChainHandle`], a buffered logger, and a `lightning-net-tokio`
//! `PeerManager` listening on 127.0.0.1. A background task feeds it the
//! simulated chain's blocks and handles its events.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::{Amount, Network, Transaction};
use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::{BestBlock, ChannelMonitorUpdateStatus, Listen};
use lightning::events::{
    ClosureReason, Event, EventsProvider, PaymentFailureReason, PaymentPurpose, ReplayEvent,
};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::{
    Bolt11InvoiceParameters, ChainParameters, ChannelManager, PaymentId,
};
use lightning::ln::channelmanager::{RecipientOnionFields, Retry};
use lightning::ln::msgs::RoutingMessageHandler;
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler, PeerManager};
use lightning::ln::types::ChannelId;
use lightning::onion_message::messenger::{DefaultMessageRouter, OnionMessenger};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::router::{
    DefaultRouter, PaymentParameters, RouteParameters, RouteParametersConfig,
};
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{InMemorySigner, KeysManager, NodeSigner};
use lightning::types::payment::{PaymentHash, PaymentPreimage, PaymentSecret};
use lightning::util::config::UserConfig;
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::MonitorName;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use lightning_sim::{SimChainHandle, SimWallet};
use tokio::runtime::Runtime;

// ---- host pieces LDK asks for ----

/// Fee estimates: one rate for every target, changeable at run time (for
/// `update_fee`). Floors and ceilings LDK checks a peer's rate against are
/// kept wide.
#[derive(Debug)]
pub struct LdkFees {
    rate: AtomicU32,
}

impl LdkFees {
    fn new(rate: u32) -> Self {
        LdkFees {
            rate: AtomicU32::new(rate),
        }
    }
}

impl FeeEstimator for LdkFees {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        match target {
            // The floor of a cooperative close's fee stays at the relay
            // minimum when commitment fees rise (as a real estimator's
            // slow target would), so LDK's closing fee range can meet ours.
            ConfirmationTarget::MinAllowedAnchorChannelRemoteFee
            | ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee
            | ConfirmationTarget::ChannelCloseMinimum => 253,
            ConfirmationTarget::MaximumFeeEstimate | ConfirmationTarget::UrgentOnChainSweep => {
                100_000
            }
            _ => self.rate.load(Ordering::SeqCst),
        }
    }
}

/// Submits every transaction LDK broadcasts into the simulated chain's
/// mempool (script-verified there); rejections are kept for the test.
#[derive(Debug)]
pub struct LdkBroadcaster {
    chain: SimChainHandle,
    broadcast: Mutex<Vec<Transaction>>,
    rejected: Mutex<Vec<(Transaction, String)>>,
}

impl BroadcasterInterface for LdkBroadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for tx in txs {
            self.broadcast.lock().unwrap().push((*tx).clone());
            // A re-broadcast of a transaction already in the mempool or
            // mined is not a disagreement.
            let txid = tx.compute_txid();
            if self.chain.tx_confirmations(&txid).is_some() {
                continue;
            }
            if let Err(err) = self.chain.submit_transaction((*tx).clone()) {
                self.rejected
                    .lock()
                    .unwrap()
                    .push(((*tx).clone(), err.to_string()));
            }
        }
    }
}

/// Buffers LDK's log lines; printed to stderr when `LN_INTEROP_VERBOSE` is
/// set, or by [`LdkNode::dump_log`] when a test fails.
#[derive(Debug)]
pub struct LdkLogger {
    name: String,
    verbose: bool,
    lines: Mutex<VecDeque<String>>,
    /// Log lines seen that mark a dust HTLC left out of a commitment.
    trimmed_htlcs: AtomicU32,
    /// HTLC-transaction signatures LDK checked (non-dust HTLC outputs).
    htlc_sigs_checked: AtomicU32,
}

const LOG_LINES_KEPT: usize = 4000;

impl Logger for LdkLogger {
    fn log(&self, record: Record) {
        let line = format!(
            "[ldk {} {:?} {}:{}] {}",
            self.name, record.level, record.module_path, record.line, record.args
        );
        if self.verbose {
            eprintln!("{line}");
        }
        if line.contains("...trimming") && line.contains("HTLC") {
            self.trimmed_htlcs.fetch_add(1, Ordering::Relaxed);
        }
        if line.contains("Checking HTLC tx signature") {
            self.htlc_sigs_checked.fetch_add(1, Ordering::Relaxed);
        }
        let mut lines = self.lines.lock().unwrap();
        if lines.len() == LOG_LINES_KEPT {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// In-memory monitor persistence: every write "completes" at once. LDK is
/// not restarted by the harness (our node is), so nothing needs reading back.
#[derive(Debug, Default)]
pub struct MemoryPersister;

impl Persist<InMemorySigner> for MemoryPersister {
    fn persist_new_channel(
        &self,
        _name: MonitorName,
        _monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        ChannelMonitorUpdateStatus::Completed
    }

    fn update_persisted_channel(
        &self,
        _name: MonitorName,
        _update: Option<&ChannelMonitorUpdate>,
        _monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        ChannelMonitorUpdateStatus::Completed
    }

    fn archive_persisted_channel(&self, _name: MonitorName) {}
}

/// The chain monitor is given every block in full, so it needs no filter;
/// this type only names the `Option<Filter>` that is `None`.
#[derive(Debug)]
pub struct NoFilter;

impl lightning::chain::Filter for NoFilter {
    fn register_tx(&self, _txid: &bitcoin::Txid, _script_pubkey: &bitcoin::Script) {}
    fn register_output(&self, _output: lightning::chain::WatchedOutput) {}
}

// ---- the node's types ----

type Graph = NetworkGraph<Arc<LdkLogger>>;
type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<LdkLogger>>;
type Router = DefaultRouter<
    Arc<Graph>,
    Arc<LdkLogger>,
    Arc<KeysManager>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;
type Monitor = ChainMonitor<
    InMemorySigner,
    Arc<NoFilter>,
    Arc<LdkBroadcaster>,
    Arc<LdkFees>,
    Arc<LdkLogger>,
    Arc<MemoryPersister>,
    Arc<KeysManager>,
>;
/// The LDK `ChannelManager` as configured here.
pub type Manager = ChannelManager<
    Arc<Monitor>,
    Arc<LdkBroadcaster>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<LdkFees>,
    Arc<Router>,
    Arc<MsgRouter>,
    Arc<LdkLogger>,
>;
/// LDK's onion message router over the node's graph (blinded paths for
/// its offers and reply paths, and paths to send along).
type MsgRouter = DefaultMessageRouter<Arc<Graph>, Arc<LdkLogger>, Arc<KeysManager>>;
/// LDK's `OnionMessenger`, its `ChannelManager` handling BOLT 12.
type Messenger = OnionMessenger<
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<LdkLogger>,
    Arc<Manager>,
    Arc<MsgRouter>,
    Arc<Manager>,
    IgnoringMessageHandler,
    IgnoringMessageHandler,
    IgnoringMessageHandler,
>;
/// The gossip handler: LDK's `P2PGossipSync` into the node's graph (no
/// UTXO lookup) with [`LdkConfig::gossip`], else none.
type Routing = Arc<dyn RoutingMessageHandler + Send + Sync>;
type Peers = PeerManager<
    lightning_net_tokio::SocketDescriptor,
    Arc<Manager>,
    Routing,
    Arc<Messenger>,
    Arc<LdkLogger>,
    IgnoringMessageHandler,
    Arc<KeysManager>,
    IgnoringMessageHandler,
>;

/// What a harness scenario asks of the LDK node's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LdkConfig {
    /// Offer and accept `option_anchors_zero_fee_htlc_tx`.
    pub anchors: bool,
    /// Accept inbound channels as zero-conf from any peer (they are
    /// accepted manually, through `accept_inbound_channel_from_trusted_peer_0conf`).
    pub trust_zero_conf: bool,
    /// Fee rate (sat/kw) for every target.
    pub feerate: u32,
    /// Take part in gossip (BOLT 7) with LDK's `P2PGossipSync` into the
    /// node's `NetworkGraph`, and open announced channels; off, the node
    /// ignores gossip and its channels are unannounced.
    pub gossip: bool,
}

impl LdkConfig {
    /// Static-remotekey or anchors, no zero-conf, 1000 sat/kw.
    pub fn new(anchors: bool) -> Self {
        LdkConfig {
            anchors,
            trust_zero_conf: false,
            feerate: 1000,
            gossip: false,
        }
    }

    fn user_config(&self) -> UserConfig {
        let mut config = UserConfig::default();
        config
            .channel_handshake_config
            .negotiate_anchors_zero_fee_htlc_tx = self.anchors;
        config.channel_handshake_config.announce_for_forwarding = self.gossip;
        config.channel_handshake_config.minimum_depth = 1;
        config.channel_handshake_limits.max_minimum_depth = 6;
        config.channel_handshake_limits.trust_own_funding_0conf = true;
        // Every inbound channel goes through OpenChannelRequest, so zero-conf
        // can be granted there.
        config.manually_accept_inbound_channels = true;
        // An LDK middle hop forwards over its unannounced channels (the
        // harness's channels are all unannounced).
        config.accept_forwards_to_priv_channels = true;
        // Let 1-sat HTLCs through on both sides, and all of the channel in
        // flight.
        config.channel_handshake_config.our_htlc_minimum_msat = 1;
        config
            .channel_handshake_config
            .max_inbound_htlc_value_in_flight_percent_of_channel = 100;
        config
    }
}

/// A payment LDK sent, as it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdkPaymentOutcome {
    /// `PaymentSent`, with the preimage.
    Sent(PaymentPreimage),
    /// `PaymentFailed`, with LDK's reason.
    Failed(Option<PaymentFailureReason>),
}

/// What [`LdkNode::graph`] shows: each channel's short id with how many
/// directions have an update; each node with whether it announced itself.
pub type GraphView = (Vec<(u64, usize)>, Vec<(PublicKey, bool)>);

/// A payment onion's custom TLVs: type and value.
pub type CustomTlvs = Vec<(u64, Vec<u8>)>;

/// Everything the event handler recorded.
#[derive(Debug, Default)]
pub struct LdkRecord {
    /// `ChannelPending` (funding broadcast or received), by channel id.
    pub pending: Vec<ChannelId>,
    /// `ChannelReady`.
    pub ready: Vec<ChannelId>,
    /// `ChannelClosed`, with the reason.
    pub closed: Vec<(ChannelId, ClosureReason)>,
    /// Outcomes of payments we sent, by payment hash.
    pub outgoing: HashMap<PaymentHash, LdkPaymentOutcome>,
    /// `PaymentPathFailed`: hash and whether permanently.
    pub path_failures: Vec<(PaymentHash, bool)>,
    /// `PaymentPathSuccessful` (true) and `PaymentPathFailed` (false):
    /// the hash and the hold times LDK verified in the attribution data
    /// that came back (BOLT 4; empty when none verified).
    pub path_hold_times: Vec<(PaymentHash, bool, Vec<u32>)>,
    /// `PaymentClaimed`: hash and amount.
    pub claimed: Vec<(PaymentHash, u64)>,
    /// `PaymentSent`: hash, the amount the recipient got (LDK's
    /// `amount_msat`) and the fee paid.
    pub sent: Vec<(PaymentHash, Option<u64>, Option<u64>)>,
    /// Inbound channel requests seen (temporary id, whether zero-conf was
    /// granted).
    pub open_requests: Vec<(ChannelId, bool)>,
    /// Payments held unclaimed (see [`LdkNode::set_hold`]): hash and preimage.
    pub held: Vec<(PaymentHash, PaymentPreimage)>,
    /// `PaymentClaimable` of a spontaneous payment (keysend): hash, amount
    /// and the custom TLVs the sender put in the onion.
    pub spontaneous: Vec<(PaymentHash, u64, CustomTlvs)>,
    /// `BumpTransaction` events (anchors), as debug strings.
    pub bumps: Vec<String>,
    /// Events the handler refused or failed at, as strings.
    pub errors: Vec<String>,
}

struct Inner {
    name: String,
    graph: Arc<Graph>,
    manager: Arc<Manager>,
    monitor: Arc<Monitor>,
    peers: Arc<Peers>,
    keys: Arc<KeysManager>,
    fees: Arc<LdkFees>,
    broadcaster: Arc<LdkBroadcaster>,
    logger: Arc<LdkLogger>,
    chain: SimChainHandle,
    wallet: SimWallet,
    config: LdkConfig,
    synced_height: Mutex<u32>,
    record: Mutex<LdkRecord>,
    hold: AtomicBool,
    stop: AtomicBool,
}

/// A running LDK node; see the [module documentation](self).
pub struct LdkNode {
    inner: Arc<Inner>,
    runtime: Runtime,
    /// Where the node listens.
    pub addr: SocketAddr,
}

impl std::fmt::Debug for LdkNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdkNode")
            .field("name", &self.inner.name)
            .field("node_id", &self.node_id())
            .field("addr", &self.addr)
            .finish()
    }
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

impl LdkNode {
    /// Starts a node from `seed` following `chain`; its on-chain wallet is
    /// `wallet` (used for funding transactions).
    pub fn start(
        name: &str,
        seed: [u8; 32],
        chain: SimChainHandle,
        wallet: SimWallet,
        config: LdkConfig,
    ) -> LdkNode {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let now = unix_now();
        let keys = Arc::new(KeysManager::new(
            &seed,
            now.as_secs(),
            now.subsec_nanos(),
            true,
        ));
        let logger = Arc::new(LdkLogger {
            name: name.to_string(),
            verbose: std::env::var_os("LN_INTEROP_VERBOSE").is_some(),
            lines: Mutex::new(VecDeque::new()),
            trimmed_htlcs: AtomicU32::new(0),
            htlc_sigs_checked: AtomicU32::new(0),
        });
        let fees = Arc::new(LdkFees::new(config.feerate));
        let broadcaster = Arc::new(LdkBroadcaster {
            chain: chain.clone(),
            broadcast: Mutex::new(Vec::new()),
            rejected: Mutex::new(Vec::new()),
        });
        let monitor: Arc<Monitor> = Arc::new(ChainMonitor::new(
            None::<Arc<NoFilter>>,
            broadcaster.clone(),
            logger.clone(),
            fees.clone(),
            Arc::new(MemoryPersister),
            keys.clone(),
            keys.get_peer_storage_key(),
        ));
        let graph = Arc::new(NetworkGraph::new(Network::Regtest, logger.clone()));
        let scorer = Arc::new(RwLock::new(ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            graph.clone(),
            logger.clone(),
        )));
        let routing: Routing = if config.gossip {
            Arc::new(P2PGossipSync::new(
                graph.clone(),
                None::<Arc<dyn UtxoLookup + Send + Sync>>,
                logger.clone(),
            ))
        } else {
            Arc::new(IgnoringMessageHandler {})
        };
        let router = Arc::new(DefaultRouter::new(
            graph.clone(),
            logger.clone(),
            keys.clone(),
            scorer,
            ProbabilisticScoringFeeParameters::default(),
        ));
        let tip = chain.best_block();
        let msg_router = Arc::new(DefaultMessageRouter::new(graph.clone(), keys.clone()));
        let manager = Arc::new(ChannelManager::new(
            fees.clone(),
            monitor.clone(),
            broadcaster.clone(),
            router,
            msg_router.clone(),
            logger.clone(),
            keys.clone(),
            keys.clone(),
            keys.clone(),
            config.user_config(),
            ChainParameters {
                network: Network::Regtest,
                best_block: BestBlock::new(tip.hash, tip.height),
            },
            now.as_secs() as u32,
        ));
        let mut ephemeral = [0u8; 32];
        ephemeral[..8].copy_from_slice(&now.as_nanos().to_le_bytes()[..8]);
        ephemeral[8..].copy_from_slice(&seed[..24]);
        let messenger = Arc::new(OnionMessenger::new(
            keys.clone(),
            keys.clone(),
            logger.clone(),
            manager.clone(),
            msg_router,
            manager.clone(),
            IgnoringMessageHandler {},
            IgnoringMessageHandler {},
            IgnoringMessageHandler {},
        ));
        let peers = Arc::new(PeerManager::new(
            MessageHandler {
                chan_handler: manager.clone(),
                route_handler: routing,
                onion_message_handler: messenger,
                custom_message_handler: IgnoringMessageHandler {},
                send_only_message_handler: IgnoringMessageHandler {},
            },
            now.as_secs() as u32,
            &ephemeral,
            logger.clone(),
            keys.clone(),
        ));
        let inner = Arc::new(Inner {
            name: name.to_string(),
            graph,
            manager,
            monitor,
            peers,
            keys,
            fees,
            broadcaster,
            logger,
            chain,
            wallet,
            config,
            synced_height: Mutex::new(tip.height),
            record: Mutex::new(LdkRecord::default()),
            hold: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accept_peers = inner.peers.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let peers = accept_peers.clone();
                tokio::spawn(lightning_net_tokio::setup_inbound(
                    peers,
                    stream.into_std().unwrap(),
                ));
            }
        });
        let background = inner.clone();
        runtime.spawn(async move {
            let mut last_peer_tick = Instant::now();
            while !background.stop.load(Ordering::SeqCst) {
                background.step();
                if last_peer_tick.elapsed() > Duration::from_secs(10) {
                    background.peers.timer_tick_occurred();
                    last_peer_tick = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        LdkNode {
            inner,
            runtime,
            addr,
        }
    }

    /// The node id a node started from `seed` has.
    pub fn node_id_for_seed(seed: [u8; 32]) -> PublicKey {
        let keys = KeysManager::new(&seed, 0, 0, true);
        PublicKey::from_secret_key(&Secp256k1::new(), &keys.get_node_secret_key())
    }

    /// The node id.
    pub fn node_id(&self) -> PublicKey {
        self.inner.manager.get_our_node_id()
    }

    /// The channel manager, for calls the wrapper does not cover.
    pub fn manager(&self) -> &Arc<Manager> {
        &self.inner.manager
    }

    /// The scenario's configuration.
    pub fn config(&self) -> LdkConfig {
        self.inner.config
    }

    /// Connects to `node_id` at `addr` (LDK is the outbound side).
    pub fn connect(&self, node_id: PublicKey, addr: SocketAddr) {
        let peers = self.inner.peers.clone();
        let connected = self.runtime.block_on(async move {
            lightning_net_tokio::connect_outbound(peers, node_id, addr).await
        });
        let fut = connected.expect("LDK could not connect");
        self.runtime.spawn(fut);
        self.wait_until(
            "LDK sees the peer connected",
            Duration::from_secs(10),
            || self.inner.peers.peer_by_node_id(&node_id).is_some(),
        );
    }

    /// Whether LDK has a completed connection to `node_id`.
    pub fn is_connected(&self, node_id: &PublicKey) -> bool {
        self.inner.peers.peer_by_node_id(node_id).is_some()
    }

    /// The short channel ids and node ids in the node's gossip graph
    /// ([`LdkConfig::gossip`]), each channel with how many directions have
    /// a `channel_update`, and each node with whether its
    /// `node_announcement` arrived.
    pub fn graph(&self) -> GraphView {
        let g = self.inner.graph.read_only();
        let channels = g
            .channels()
            .unordered_iter()
            .map(|(scid, c)| {
                let dirs =
                    usize::from(c.one_to_two.is_some()) + usize::from(c.two_to_one.is_some());
                (*scid, dirs)
            })
            .collect();
        let nodes = g
            .nodes()
            .unordered_iter()
            .filter_map(|(id, n)| {
                let key = id.as_pubkey().ok()?;
                Some((key, n.announcement_info.is_some()))
            })
            .collect();
        (channels, nodes)
    }

    /// Announces the node (BOLT 7 `node_announcement`: `alias`, its
    /// listening address) to its peers; LDK sends one only when asked.
    pub fn announce_node(&self, alias: &str) {
        let mut name = [0u8; 32];
        let bytes = alias.as_bytes();
        name[..bytes.len().min(32)].copy_from_slice(&bytes[..bytes.len().min(32)]);
        let addr = match self.addr {
            SocketAddr::V4(a) => lightning::ln::msgs::SocketAddress::TcpIpV4 {
                addr: a.ip().octets(),
                port: a.port(),
            },
            SocketAddr::V6(a) => lightning::ln::msgs::SocketAddress::TcpIpV6 {
                addr: a.ip().octets(),
                port: a.port(),
            },
        };
        self.inner
            .peers
            .broadcast_node_announcement([1, 2, 3], name, vec![addr]);
        self.inner.peers.process_events();
    }

    /// Runs LDK's peer timer: it pings every peer and drops those that did
    /// not answer the previous tick's ping.
    pub fn peer_timer_tick(&self) {
        self.inner.peers.timer_tick_occurred();
        self.inner.peers.process_events();
    }

    /// Drops every connection to `node_id`.
    pub fn disconnect(&self, node_id: &PublicKey) {
        self.inner.peers.disconnect_by_node_id(*node_id);
    }

    /// Opens a channel to `node_id`.
    pub fn open_channel(&self, node_id: PublicKey, sats: u64, push_msat: u64) -> ChannelId {
        // Announced only with [`LdkConfig::gossip`] (`user_config`).
        let config = self.inner.config.user_config();
        let id = self
            .inner
            .manager
            .create_channel(node_id, sats, push_msat, 0, None, Some(config))
            .unwrap();
        self.inner.peers.process_events();
        id
    }

    /// The node's channels.
    pub fn channels(&self) -> Vec<ChannelDetails> {
        self.inner.manager.list_channels()
    }

    /// Cooperatively closes the channel with `node_id`. LDK's API refuses
    /// to start a shutdown while its own side has HTLC updates waiting to
    /// be sent or a dance in progress ("process pending events first");
    /// those clear as the background task runs, so the call is retried for
    /// up to ten seconds.
    pub fn close_channel(&self, channel_id: &ChannelId, node_id: &PublicKey) {
        let start = Instant::now();
        loop {
            match self.inner.manager.close_channel(channel_id, node_id) {
                Ok(()) => break,
                Err(err) if start.elapsed() < Duration::from_secs(10) => {
                    let _ = err;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(err) => panic!("LDK refuses to close: {err:?}"),
            }
        }
        self.inner.peers.process_events();
    }

    /// Force-closes `channel_id`: LDK broadcasts its latest commitment (on
    /// anchors, through its bump handler: the harness publishes it).
    pub fn force_close(&self, channel_id: &ChannelId, node_id: &PublicKey) {
        self.inner
            .manager
            .force_close_broadcasting_latest_txn(channel_id, node_id, "interop test".into())
            .unwrap();
        self.inner.peers.process_events();
    }

    /// LDK's channel monitor's claimable balances for `channel_id` (also
    /// after the close, until LDK forgets them), as (kind, sat) pairs:
    /// LDK's own account of what it gets back on chain.
    pub fn claimable_balances(&self, channel_id: &ChannelId) -> Vec<(String, u64)> {
        use lightning::chain::channelmonitor::Balance;
        let Ok(monitor) = self.inner.monitor.get_monitor(*channel_id) else {
            return Vec::new();
        };
        monitor
            .get_claimable_balances()
            .into_iter()
            .map(|b| {
                let kind = match &b {
                    Balance::ClaimableOnChannelClose { .. } => "on_channel_close",
                    Balance::ClaimableAwaitingConfirmations { .. } => "awaiting_confirmations",
                    Balance::ContentiousClaimable { .. } => "contentious",
                    Balance::MaybeTimeoutClaimableHTLC { .. } => "maybe_timeout_htlc",
                    Balance::MaybePreimageClaimableHTLC { .. } => "maybe_preimage_htlc",
                    Balance::CounterpartyRevokedOutputClaimable { .. } => "revoked_output",
                };
                (kind.to_string(), b.claimable_amount_satoshis())
            })
            .collect()
    }

    /// An invoice LDK can be paid with (`amount_msat`, expiry one hour).
    pub fn create_invoice(&self, amount_msat: Option<u64>, description: &str) -> Bolt11Invoice {
        self.inner
            .manager
            .create_bolt11_invoice(Bolt11InvoiceParameters {
                amount_msats: amount_msat,
                description: Bolt11InvoiceDescription::Direct(
                    Description::new(description.to_string()).unwrap(),
                ),
                invoice_expiry_delta_secs: Some(3600),
                ..Default::default()
            })
            .unwrap()
    }

    /// An invoice signed by LDK's node key for a payment hash LDK does not
    /// know (no preimage, no payment secret of its own): paying it must fail
    /// at LDK with `incorrect_or_unknown_payment_details`.
    pub fn create_unknown_invoice(&self, amount_msat: u64) -> Bolt11Invoice {
        use lightning_invoice::{Currency, InvoiceBuilder};
        let secp = Secp256k1::new();
        let hash = sha256::Hash::hash(&unix_now().as_nanos().to_le_bytes());
        let secret = PaymentSecret(sha256::Hash::hash(hash.as_byte_array()).to_byte_array());
        let key = self.inner.keys.get_node_secret_key();
        InvoiceBuilder::new(Currency::Regtest)
            .description("unknown".to_string())
            .payment_hash(hash)
            .payment_secret(secret)
            .amount_milli_satoshis(amount_msat)
            .duration_since_epoch(unix_now())
            .min_final_cltv_expiry_delta(144)
            .expiry_time(Duration::from_secs(3600))
            .build_signed(|msg| secp.sign_ecdsa_recoverable(msg, &key))
            .unwrap()
    }

    /// Pays a BOLT 11 invoice (given as text, as another implementation
    /// would hand it over). Returns its payment hash.
    pub fn pay_invoice(&self, invoice: &str, amount_msat: Option<u64>) -> PaymentHash {
        let invoice = Bolt11Invoice::from_str(invoice).unwrap();
        let hash = PaymentHash(invoice.payment_hash().to_byte_array());
        self.inner
            .manager
            .pay_for_bolt11_invoice(
                &invoice,
                PaymentId(hash.0),
                amount_msat,
                RouteParametersConfig::default(),
                Retry::Attempts(0),
            )
            .unwrap();
        self.inner.peers.process_events();
        hash
    }

    /// Sends `amount_msat` to `node_id` under a payment hash of the caller's
    /// choosing with `payment_secret` (for the unknown-hash scenario).
    pub fn pay_hash(
        &self,
        node_id: PublicKey,
        hash: PaymentHash,
        payment_secret: PaymentSecret,
        amount_msat: u64,
        final_cltv_expiry_delta: u32,
    ) {
        let params = RouteParameters::from_payment_params_and_value(
            PaymentParameters::from_node_id(node_id, final_cltv_expiry_delta),
            amount_msat,
        );
        self.inner
            .manager
            .send_payment(
                hash,
                RecipientOnionFields::secret_only(payment_secret),
                PaymentId(hash.0),
                params,
                Retry::Attempts(0),
            )
            .unwrap();
        self.inner.peers.process_events();
    }

    /// Sends `amount_msat` to `node_id` as a keysend (a fresh preimage in
    /// the onion, LDK's own choice of route) with `custom_tlvs`. Returns
    /// the payment hash.
    pub fn keysend(
        &self,
        node_id: PublicKey,
        amount_msat: u64,
        custom_tlvs: Vec<(u64, Vec<u8>)>,
    ) -> PaymentHash {
        let preimage = PaymentPreimage(
            sha256::Hash::hash(&unix_now().as_nanos().to_le_bytes()).to_byte_array(),
        );
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let params = RouteParameters::from_payment_params_and_value(
            PaymentParameters::for_keysend(node_id, 40, false),
            amount_msat,
        );
        let onion = RecipientOnionFields::spontaneous_empty()
            .with_custom_tlvs(custom_tlvs)
            .unwrap();
        self.inner
            .manager
            .send_spontaneous_payment(
                Some(preimage),
                onion,
                PaymentId(hash.0),
                params,
                Retry::Attempts(0),
            )
            .unwrap();
        self.inner.peers.process_events();
        hash
    }

    /// How a payment LDK sent ended, if it has.
    pub fn outcome(&self, hash: &PaymentHash) -> Option<LdkPaymentOutcome> {
        self.inner
            .record
            .lock()
            .unwrap()
            .outgoing
            .get(hash)
            .cloned()
    }

    /// Runs `f` on what the event handler recorded.
    pub fn record<R>(&self, f: impl FnOnce(&LdkRecord) -> R) -> R {
        f(&self.inner.record.lock().unwrap())
    }

    /// Sets LDK's fee estimate and runs its timer, on which a funder LDK
    /// sends `update_fee`.
    pub fn set_feerate(&self, rate: u32) {
        self.inner.fees.rate.store(rate, Ordering::SeqCst);
        self.timer_tick();
    }

    /// While on, payments to LDK are left pending (their HTLCs stay in both
    /// commitments) instead of claimed; [`LdkNode::release_held`] claims
    /// them.
    pub fn set_hold(&self, hold: bool) {
        self.inner.hold.store(hold, Ordering::SeqCst);
    }

    /// How many payments are held.
    pub fn held(&self) -> usize {
        self.inner.record.lock().unwrap().held.len()
    }

    /// Claims every held payment.
    pub fn release_held(&self) {
        let held = std::mem::take(&mut self.inner.record.lock().unwrap().held);
        for (_, preimage) in held {
            self.inner.manager.claim_funds(preimage);
        }
        self.inner.peers.process_events();
    }

    /// Runs `ChannelManager::timer_tick_occurred` and flushes messages.
    pub fn timer_tick(&self) {
        self.inner.manager.timer_tick_occurred();
        self.inner.peers.process_events();
    }

    /// Transactions LDK broadcast.
    pub fn broadcasts(&self) -> Vec<Transaction> {
        self.inner.broadcaster.broadcast.lock().unwrap().clone()
    }

    /// Transactions LDK broadcast that the simulated chain refused, with why.
    pub fn rejected_broadcasts(&self) -> Vec<(Transaction, String)> {
        self.inner.broadcaster.rejected.lock().unwrap().clone()
    }

    /// Whether the log holds `needle` (for example a decoded onion error).
    pub fn log_contains(&self, needle: &str) -> bool {
        self.inner
            .logger
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(needle))
    }

    /// How many buffered log lines hold `needle` (the buffer keeps the
    /// last few thousand lines).
    pub fn log_count(&self, needle: &str) -> usize {
        self.inner
            .logger
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// How many times LDK trimmed a dust HTLC from a commitment, and how
    /// many HTLC-transaction signatures (of non-dust HTLC outputs) it
    /// checked, from its log.
    pub fn htlc_counts(&self) -> (u32, u32) {
        (
            self.inner.logger.trimmed_htlcs.load(Ordering::Relaxed),
            self.inner.logger.htlc_sigs_checked.load(Ordering::Relaxed),
        )
    }

    /// Prints the buffered log to stderr.
    pub fn dump_log(&self) {
        for line in self.inner.logger.lines.lock().unwrap().iter() {
            eprintln!("{line}");
        }
    }

    /// The wallet funding LDK's channels.
    pub fn wallet(&self) -> &SimWallet {
        &self.inner.wallet
    }

    /// Feeds the chain to LDK now (the background task also does, every
    /// few milliseconds).
    pub fn sync(&self) {
        self.inner.step();
    }

    /// Height LDK has been fed up to.
    pub fn synced_height(&self) -> u32 {
        *self.inner.synced_height.lock().unwrap()
    }

    /// Polls `cond` every 5 ms until it holds; panics (after dumping the log)
    /// once `limit` passes.
    pub fn wait_until(&self, what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            if start.elapsed() > limit {
                self.dump_log();
                panic!("timed out waiting until {what} ({})", self.inner.name);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The record, to change: for the harness's own tests, which doctor
    /// an event to show that the checks catch it.
    pub fn record_mut<R>(&self, f: impl FnOnce(&mut LdkRecord) -> R) -> R {
        f(&mut self.inner.record.lock().unwrap())
    }

    /// The script LDK closes to (its `KeysManager`'s shutdown key, also
    /// sent as `upfront_shutdown_script`).
    pub fn shutdown_script(&self) -> bitcoin::ScriptBuf {
        use lightning::sign::SignerProvider;
        self.inner
            .keys
            .get_shutdown_scriptpubkey()
            .unwrap()
            .into_inner()
    }

    /// LDK's own view of its balance in `channel_id`, from its channel
    /// monitor: what it could claim if its latest commitment went on chain
    /// (sat, rounded down) plus, as funder, the commitment fee it pays
    /// (anchors and dust included). `None` without a monitor or once
    /// closed.
    pub fn monitor_balance_sat(&self, channel_id: &ChannelId) -> Option<u64> {
        use lightning::chain::channelmonitor::Balance;
        let monitor = self.inner.monitor.get_monitor(*channel_id).ok()?;
        monitor
            .get_claimable_balances()
            .into_iter()
            .find_map(|b| match b {
                Balance::ClaimableOnChannelClose {
                    balance_candidates,
                    confirmed_balance_candidate_index,
                    ..
                } => balance_candidates
                    .get(confirmed_balance_candidate_index)
                    .map(|c| c.amount_satoshis + c.transaction_fee_satoshis),
                _ => None,
            })
    }

    /// Balance in msat LDK holds in the channel `channel_id`.
    pub fn balance_msat(&self, channel_id: &ChannelId) -> Option<u64> {
        self.channels()
            .into_iter()
            .find(|c| c.channel_id == *channel_id)
            .map(|c| c.outbound_capacity_msat)
    }
}

impl Drop for LdkNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_log();
        }
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.peers.disconnect_all_peers();
    }
}

impl Inner {
    /// One round of the background work: new blocks, events, messages.
    fn step(&self) {
        self.sync_chain();
        if self.manager.needs_pending_htlc_processing() {
            self.manager.process_pending_htlc_forwards();
        }
        let handler = |event: Event| self.handle_event(event);
        self.manager.process_pending_events(&handler);
        self.monitor.process_pending_events(&handler);
        self.peers.process_events();
    }

    fn sync_chain(&self) {
        let mut synced = self.synced_height.lock().unwrap();
        let tip = self.chain.best_block().height;
        while *synced < tip {
            let height = *synced + 1;
            let Some(block) = self.chain.block_at(height) else {
                break;
            };
            self.monitor.block_connected(&block, height);
            self.manager.block_connected(&block, height);
            *synced = height;
        }
    }

    fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        match event {
            Event::FundingGenerationReady {
                temporary_channel_id,
                counterparty_node_id,
                channel_value_satoshis,
                output_script,
                ..
            } => {
                let tx = self
                    .wallet
                    .fund(Amount::from_sat(channel_value_satoshis), &output_script)
                    .unwrap();
                if let Err(err) = self.manager.funding_transaction_generated(
                    temporary_channel_id,
                    counterparty_node_id,
                    tx.clone(),
                ) {
                    self.wallet.release(&tx);
                    self.error(format!("funding_transaction_generated: {err:?}"));
                }
            }
            Event::OpenChannelRequest {
                temporary_channel_id,
                counterparty_node_id,
                ..
            } => {
                let zero_conf = self.config.trust_zero_conf;
                let result = if zero_conf {
                    self.manager.accept_inbound_channel_from_trusted_peer_0conf(
                        &temporary_channel_id,
                        &counterparty_node_id,
                        0,
                        None,
                    )
                } else {
                    self.manager.accept_inbound_channel(
                        &temporary_channel_id,
                        &counterparty_node_id,
                        0,
                        None,
                    )
                };
                if let Err(err) = result {
                    self.error(format!("accept_inbound_channel: {err:?}"));
                }
                self.record
                    .lock()
                    .unwrap()
                    .open_requests
                    .push((temporary_channel_id, zero_conf));
            }
            Event::ChannelPending { channel_id, .. } => {
                self.record.lock().unwrap().pending.push(channel_id);
            }
            Event::ChannelReady { channel_id, .. } => {
                self.record.lock().unwrap().ready.push(channel_id);
            }
            Event::ChannelClosed {
                channel_id, reason, ..
            } => {
                self.record
                    .lock()
                    .unwrap()
                    .closed
                    .push((channel_id, reason));
            }
            Event::PaymentClaimable {
                purpose,
                payment_hash,
                amount_msat,
                onion_fields,
                ..
            } => match purpose.preimage() {
                Some(preimage)
                    if matches!(purpose, PaymentPurpose::SpontaneousPayment(_))
                        && !self.hold.load(Ordering::SeqCst) =>
                {
                    let tlvs = onion_fields
                        .map(|f| f.custom_tlvs().clone())
                        .unwrap_or_default();
                    self.record
                        .lock()
                        .unwrap()
                        .spontaneous
                        .push((payment_hash, amount_msat, tlvs));
                    self.manager.claim_funds(preimage);
                }
                Some(preimage) if self.hold.load(Ordering::SeqCst) => {
                    self.record
                        .lock()
                        .unwrap()
                        .held
                        .push((payment_hash, preimage));
                }
                Some(preimage) => self.manager.claim_funds(preimage),
                None => self.error(format!("PaymentClaimable without preimage {payment_hash}")),
            },
            Event::PaymentClaimed {
                payment_hash,
                amount_msat,
                ..
            } => {
                self.record
                    .lock()
                    .unwrap()
                    .claimed
                    .push((payment_hash, amount_msat));
            }
            Event::PaymentSent {
                payment_hash,
                payment_preimage,
                amount_msat,
                fee_paid_msat,
                ..
            } => {
                let mut record = self.record.lock().unwrap();
                record.sent.push((payment_hash, amount_msat, fee_paid_msat));
                record
                    .outgoing
                    .insert(payment_hash, LdkPaymentOutcome::Sent(payment_preimage));
            }
            Event::PaymentFailed {
                payment_hash: Some(payment_hash),
                reason,
                ..
            } => {
                self.record
                    .lock()
                    .unwrap()
                    .outgoing
                    .insert(payment_hash, LdkPaymentOutcome::Failed(reason));
            }
            Event::PaymentPathFailed {
                payment_hash,
                payment_failed_permanently,
                hold_times,
                ..
            } => {
                let mut record = self.record.lock().unwrap();
                record
                    .path_failures
                    .push((payment_hash, payment_failed_permanently));
                record
                    .path_hold_times
                    .push((payment_hash, false, hold_times));
            }
            Event::PaymentPathSuccessful {
                payment_hash: Some(payment_hash),
                hold_times,
                ..
            } => {
                self.record
                    .lock()
                    .unwrap()
                    .path_hold_times
                    .push((payment_hash, true, hold_times));
            }
            Event::BumpTransaction(bump) => {
                self.record.lock().unwrap().bumps.push(format!("{bump:?}"));
                // The harness's bump handler publishes an anchor
                // commitment as it is (it carries the channel's feerate,
                // which the simulated chain takes), without a child.
                if let lightning::events::bump_transaction::BumpTransactionEvent::ChannelClose {
                    commitment_tx,
                    ..
                } = &bump
                {
                    self.broadcaster.broadcast_transactions(&[commitment_tx]);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn error(&self, message: String) {
        self.logger.log_line(&message);
        self.record.lock().unwrap().errors.push(message);
    }
}

impl LdkLogger {
    fn log_line(&self, message: &str) {
        let line = format!("[ldk {} HARNESS] {message}", self.name);
        if self.verbose {
            eprintln!("{line}");
        }
        self.lines.lock().unwrap().push_back(line);
    }
}
