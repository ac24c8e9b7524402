//! Two LDK 0.2 nodes in one process, the comparison point of the node
//! payment bench: the same shape as `node.rs` for ours. Bytes are shuttled
//! in memory between the two `PeerManager`s (everything one side sent
//! since the other last read arrives as one `read_event`), blocks come from
//! the simulated chain, and each node persists to its own LDK
//! `FilesystemStore` (`lightning-persister`, one directory per node;
//! [`LdkPair::open`]) or to its own [`MemoryKvStore`], a `HashMap` behind
//! a mutex implementing LDK 0.2's `KVStoreSync` ([`LdkPair::open_in_memory`]):
//!
//! - channel monitors through the `ChainMonitor`, with LDK's stock
//!   `Persist` for a `KVStoreSync` (the whole monitor written on every
//!   update, the write complete before LDK goes on);
//! - the `ChannelManager`, written whenever it says it needs persisting
//!   (`get_and_clear_needs_persistence`), checked after every round of
//!   event handling, as LDK's background processor does.
//!
//! A `FilesystemStore` write is LDK's own: a temporary file written and
//! `fsync`ed, renamed over the record, and the directory `fsync`ed.
//!
//! The loop is driven in one thread with no timers: a round handles both
//! nodes' pending HTLC processing and events, flushes their peer managers,
//! persists a manager that asks for it and delivers the bytes; a payment
//! ends when a round finds nothing to do after `PaymentSent` (payer) and
//! `PaymentClaimed` (payee), i.e. after the last `revoke_and_ack` of the
//! fulfill's dance was delivered and handled.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, Network, Transaction};
use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning::chain::chainmonitor::ChainMonitor;
use lightning::chain::{BestBlock, Listen};
use lightning::events::{Event, EventsProvider, ReplayEvent};
use lightning::ln::channelmanager::{
    Bolt11InvoiceParameters, ChainParameters, ChannelManager, PaymentId, Retry,
};
use lightning::ln::peer_handler::{
    IgnoringMessageHandler, MessageHandler, PeerManager, SocketDescriptor,
};
use lightning::onion_message::messenger::NullMessageRouter;
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::router::{DefaultRouter, RouteParametersConfig};
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{InMemorySigner, KeysManager, NodeSigner, Recipient};
use lightning::util::config::UserConfig;
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::KVStoreSync;
use lightning::util::ser::Writeable;
use lightning_persister::fs_store::FilesystemStore;
use lightning_sim::{SimChainHandle, SimWallet};

/// Drops LDK's log lines.
pub struct Quiet;

impl Logger for Quiet {
    fn log(&self, _record: Record) {}
}

/// One rate for every target, with the floors LDK checks a peer's rate
/// against kept low.
pub struct Fees;

impl FeeEstimator for Fees {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        match target {
            ConfirmationTarget::MinAllowedAnchorChannelRemoteFee
            | ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee
            | ConfirmationTarget::ChannelCloseMinimum => 253,
            ConfirmationTarget::MaximumFeeEstimate | ConfirmationTarget::UrgentOnChainSweep => {
                100_000
            }
            _ => 1000,
        }
    }
}

/// Submits into the simulated chain.
pub struct Broadcaster(SimChainHandle);

impl BroadcasterInterface for Broadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for tx in txs {
            if self.0.tx_confirmations(&tx.compute_txid()).is_none() {
                let _ = self.0.submit_transaction((*tx).clone());
            }
        }
    }
}

/// No filter: every block is given in full.
pub struct NoFilter;

impl lightning::chain::Filter for NoFilter {
    fn register_tx(&self, _txid: &bitcoin::Txid, _script_pubkey: &bitcoin::Script) {}
    fn register_output(&self, _output: lightning::chain::WatchedOutput) {}
}

/// LDK's `KVStoreSync` (the synchronous store its stock monitor persister
/// and the manager's persistence use in 0.2) in memory: every record in
/// one map from (primary namespace, secondary namespace, key) to its
/// bytes. A write replaces the record and is complete when it returns, as
/// the trait asks.
#[derive(Default)]
pub struct MemoryKvStore {
    records: Mutex<HashMap<(String, String, String), Vec<u8>>>,
}

impl KVStoreSync for MemoryKvStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        self.records
            .lock()
            .expect("records")
            .get(&(primary.to_string(), secondary.to_string(), key.to_string()))
            .cloned()
            .ok_or_else(|| lightning::io::Error::from(lightning::io::ErrorKind::NotFound))
    }
    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        self.records.lock().expect("records").insert(
            (primary.to_string(), secondary.to_string(), key.to_string()),
            buf,
        );
        Ok(())
    }
    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        self.records.lock().expect("records").remove(&(
            primary.to_string(),
            secondary.to_string(),
            key.to_string(),
        ));
        Ok(())
    }
    fn list(&self, primary: &str, secondary: &str) -> Result<Vec<String>, lightning::io::Error> {
        Ok(self
            .records
            .lock()
            .expect("records")
            .keys()
            .filter(|(p, s, _)| p == primary && s == secondary)
            .map(|(_, _, k)| k.clone())
            .collect())
    }
}

/// A node's store (LDK's `FilesystemStore` or a [`MemoryKvStore`]),
/// counting the writes and removals that reach it.
pub struct CountingStore {
    inner: Box<dyn KVStoreSync + Send + Sync>,
    pub writes: AtomicU64,
    pub bytes: AtomicU64,
}

impl KVStoreSync for CountingStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        KVStoreSync::read(&*self.inner, primary, secondary, key)
    }
    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        KVStoreSync::write(&*self.inner, primary, secondary, key, buf)
    }
    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        KVStoreSync::remove(&*self.inner, primary, secondary, key, lazy)
    }
    fn list(&self, primary: &str, secondary: &str) -> Result<Vec<String>, lightning::io::Error> {
        KVStoreSync::list(&*self.inner, primary, secondary)
    }
}

type Graph = NetworkGraph<Arc<Quiet>>;
type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<Quiet>>;
type Router = DefaultRouter<
    Arc<Graph>,
    Arc<Quiet>,
    Arc<KeysManager>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;
type Monitor = ChainMonitor<
    InMemorySigner,
    Arc<NoFilter>,
    Arc<Broadcaster>,
    Arc<Fees>,
    Arc<Quiet>,
    Arc<CountingStore>,
    Arc<KeysManager>,
>;
type Manager = ChannelManager<
    Arc<Monitor>,
    Arc<Broadcaster>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<Fees>,
    Arc<Router>,
    Arc<NullMessageRouter>,
    Arc<Quiet>,
>;
type Peers = PeerManager<
    Pipe,
    Arc<Manager>,
    IgnoringMessageHandler,
    IgnoringMessageHandler,
    Arc<Quiet>,
    IgnoringMessageHandler,
    Arc<KeysManager>,
    IgnoringMessageHandler,
>;

/// One end of the in-memory connection: what its node sends piles up in
/// `out` until the loop hands it to the other node.
#[derive(Clone)]
pub struct Pipe {
    id: u64,
    out: Arc<Mutex<Vec<u8>>>,
}

impl PartialEq for Pipe {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Pipe {}
impl Hash for Pipe {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}

impl SocketDescriptor for Pipe {
    fn send_data(&mut self, data: &[u8], _continue_read: bool) -> usize {
        self.out.lock().expect("pipe").extend_from_slice(data);
        data.len()
    }
    fn disconnect_socket(&mut self) {}
}

fn config() -> UserConfig {
    let mut config = UserConfig::default();
    config.channel_handshake_config.announce_for_forwarding = false;
    config.channel_handshake_config.minimum_depth = 1;
    config.channel_handshake_limits.max_minimum_depth = 6;
    config.channel_handshake_config.our_htlc_minimum_msat = 1;
    config
        .channel_handshake_config
        .max_inbound_htlc_value_in_flight_percent_of_channel = 100;
    config
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
}

/// One LDK node.
pub struct LdkNode {
    manager: Arc<Manager>,
    monitor: Arc<Monitor>,
    peers: Arc<Peers>,
    store: Arc<CountingStore>,
    wallet: SimWallet,
    chain: SimChainHandle,
    pipe: Pipe,
    node_id: PublicKey,
    synced: u32,
    sent: Cell<bool>,
    claimed: Cell<bool>,
}

impl LdkNode {
    fn new(
        seed: u8,
        store: Box<dyn KVStoreSync + Send + Sync>,
        chain: &SimChainHandle,
        wallet: SimWallet,
    ) -> LdkNode {
        let now = unix_now();
        let keys = Arc::new(KeysManager::new(
            &[seed; 32],
            now.as_secs(),
            now.subsec_nanos(),
            true,
        ));
        let logger = Arc::new(Quiet);
        let fees = Arc::new(Fees);
        let broadcaster = Arc::new(Broadcaster(chain.clone()));
        let store = Arc::new(CountingStore {
            inner: store,
            writes: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let monitor = Arc::new(ChainMonitor::new(
            None::<Arc<NoFilter>>,
            broadcaster.clone(),
            logger.clone(),
            fees.clone(),
            store.clone(),
            keys.clone(),
            keys.get_peer_storage_key(),
        ));
        let graph = Arc::new(NetworkGraph::new(Network::Regtest, logger.clone()));
        let scorer = Arc::new(RwLock::new(ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            graph.clone(),
            logger.clone(),
        )));
        let router = Arc::new(DefaultRouter::new(
            graph,
            logger.clone(),
            keys.clone(),
            scorer,
            ProbabilisticScoringFeeParameters::default(),
        ));
        let tip = chain.best_block();
        let manager = Arc::new(ChannelManager::new(
            fees,
            monitor.clone(),
            broadcaster,
            router,
            Arc::new(NullMessageRouter {}),
            logger.clone(),
            keys.clone(),
            keys.clone(),
            keys.clone(),
            config(),
            ChainParameters {
                network: Network::Regtest,
                best_block: BestBlock::new(tip.hash, tip.height),
            },
            now.as_secs() as u32,
        ));
        let node_id = keys.get_node_id(Recipient::Node).expect("node id");
        let ephemeral = [seed.wrapping_add(100); 32];
        let peers = Arc::new(PeerManager::new(
            MessageHandler {
                chan_handler: manager.clone(),
                route_handler: IgnoringMessageHandler {},
                onion_message_handler: IgnoringMessageHandler {},
                custom_message_handler: IgnoringMessageHandler {},
                send_only_message_handler: IgnoringMessageHandler {},
            },
            now.as_secs() as u32,
            &ephemeral,
            logger,
            keys,
        ));
        LdkNode {
            manager,
            monitor,
            peers,
            store,
            wallet,
            chain: chain.clone(),
            pipe: Pipe {
                id: u64::from(seed),
                out: Arc::new(Mutex::new(Vec::new())),
            },
            node_id,
            synced: tip.height,
            sent: Cell::new(false),
            claimed: Cell::new(false),
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
                    .expect("fund");
                self.manager
                    .funding_transaction_generated(temporary_channel_id, counterparty_node_id, tx)
                    .expect("funding transaction");
            }
            Event::PaymentClaimable { purpose, .. } => {
                let preimage = purpose.preimage().expect("an invoice payment's preimage");
                self.manager.claim_funds(preimage);
            }
            Event::PaymentClaimed { .. } => self.claimed.set(true),
            Event::PaymentSent { .. } => self.sent.set(true),
            _ => {}
        }
        Ok(())
    }

    /// One round of the node's own work; says whether it did anything.
    fn step(&mut self) -> bool {
        let mut busy = false;
        let tip = self.chain.best_block().height;
        while self.synced < tip {
            let height = self.synced + 1;
            let block = self.chain.block_at(height).expect("block");
            self.monitor.block_connected(&block, height);
            self.manager.block_connected(&block, height);
            self.synced = height;
            busy = true;
        }
        if self.manager.needs_pending_htlc_processing() {
            self.manager.process_pending_htlc_forwards();
            busy = true;
        }
        let events = Cell::new(0u32);
        let handler = |event: Event| {
            events.set(events.get() + 1);
            self.handle_event(event)
        };
        self.manager.process_pending_events(&handler);
        self.monitor.process_pending_events(&handler);
        busy |= events.get() > 0;
        self.peers.process_events();
        if self.manager.get_and_clear_needs_persistence() {
            KVStoreSync::write(&*self.store, "", "", "manager", self.manager.encode())
                .expect("persist the channel manager");
            busy = true;
        }
        busy
    }
}

/// Two LDK nodes with a channel between them.
pub struct LdkPair {
    a: LdkNode,
    b: LdkNode,
    chain: SimChainHandle,
    wallet: SimWallet,
}

impl LdkPair {
    /// Two nodes persisting under `dir/ldk-a` and `dir/ldk-b`, connected,
    /// with a 10M sat channel from A, 4M pushed to B, confirmed and usable.
    pub fn open(dir: &Path) -> LdkPair {
        Self::open_with(
            Box::new(FilesystemStore::new(dir.join("ldk-a"))),
            Box::new(FilesystemStore::new(dir.join("ldk-b"))),
        )
    }

    /// As [`LdkPair::open`], each node persisting to its own
    /// [`MemoryKvStore`].
    pub fn open_in_memory() -> LdkPair {
        Self::open_with(
            Box::<MemoryKvStore>::default(),
            Box::<MemoryKvStore>::default(),
        )
    }

    fn open_with(
        store_a: Box<dyn KVStoreSync + Send + Sync>,
        store_b: Box<dyn KVStoreSync + Send + Sync>,
    ) -> LdkPair {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([7; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let a = LdkNode::new(1, store_a, &chain, wallet.clone());
        let b = LdkNode::new(2, store_b, &chain, wallet.clone());
        let mut pair = LdkPair {
            a,
            b,
            chain,
            wallet,
        };
        let act_one = pair
            .a
            .peers
            .new_outbound_connection(pair.b.node_id, pair.a.pipe.clone(), None)
            .expect("outbound connection");
        pair.b
            .peers
            .new_inbound_connection(pair.b.pipe.clone(), None)
            .expect("inbound connection");
        let mut b_pipe = pair.b.pipe.clone();
        pair.b
            .peers
            .read_event(&mut b_pipe, &act_one)
            .expect("act one");
        pair.run(|_| true);
        pair.a
            .manager
            .create_channel(pair.b.node_id, 10_000_000, 4_000_000_000, 0, None, None)
            .expect("create channel");
        pair.run(|p| p.chain.mempool().len() == 1);
        pair.chain.mine_blocks(6, &pair.wallet.script_pubkey());
        pair.run(|p| {
            p.a.manager.list_usable_channels().len() == 1
                && p.b.manager.list_usable_channels().len() == 1
        });
        pair
    }

    /// Hands what each side sent to the other; says whether anything moved.
    fn shuttle(&mut self) -> bool {
        let mut moved = false;
        for a_to_b in [true, false] {
            let (from, to) = if a_to_b {
                (&self.a, &self.b)
            } else {
                (&self.b, &self.a)
            };
            let bytes = std::mem::take(&mut *from.pipe.out.lock().expect("pipe"));
            if bytes.is_empty() {
                continue;
            }
            let mut pipe = to.pipe.clone();
            to.peers.read_event(&mut pipe, &bytes).expect("read_event");
            to.peers.process_events();
            moved = true;
        }
        moved
    }

    /// Runs rounds until one does nothing and `done` holds.
    fn run(&mut self, done: impl Fn(&LdkPair) -> bool) {
        for _ in 0..100_000 {
            let busy = self.a.step() | self.b.step() | self.shuttle();
            if !busy && done(self) {
                return;
            }
        }
        panic!("the LDK pair never settled");
    }

    /// One payment of `amount_msat`, A to B or B to A: an invoice from the
    /// payee, paid by the payer, until both sides have settled.
    pub fn pay(&mut self, a_to_b: bool, amount_msat: u64) {
        let (payer, payee) = if a_to_b {
            (&self.a, &self.b)
        } else {
            (&self.b, &self.a)
        };
        let invoice = payee
            .manager
            .create_bolt11_invoice(Bolt11InvoiceParameters {
                amount_msats: Some(amount_msat),
                invoice_expiry_delta_secs: Some(3600),
                ..Default::default()
            })
            .expect("invoice");
        payer.sent.set(false);
        payee.claimed.set(false);
        let hash = invoice.payment_hash().to_byte_array();
        payer
            .manager
            .pay_for_bolt11_invoice(
                &invoice,
                PaymentId(hash),
                None,
                RouteParametersConfig::default(),
                Retry::Attempts(0),
            )
            .expect("pay");
        self.run(|p| {
            let (payer, payee) = if a_to_b { (&p.a, &p.b) } else { (&p.b, &p.a) };
            payer.sent.get() && payee.claimed.get()
        });
    }

    /// (store writes and removals, bytes written) over both nodes.
    pub fn totals(&self) -> (u64, u64) {
        let count = |n: &LdkNode| {
            (
                n.store.writes.load(Ordering::Relaxed),
                n.store.bytes.load(Ordering::Relaxed),
            )
        };
        let (a, b) = (count(&self.a), count(&self.b));
        (a.0 + b.0, a.1 + b.1)
    }
}
