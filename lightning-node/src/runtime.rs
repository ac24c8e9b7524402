//! The running node: one IO thread for sockets, timers and events, one
//! chain thread for block sync and fee estimates, and the state they share
//! behind a mutex (see ARCHITECTURE.md, "Runtime").
//!
//! The IO thread, every round, with the state locked: accepts connections,
//! reads every socket into [`Node::handle_bytes`], runs the timer when
//! [`Node::next_timeout`] is due, takes the events (funding channels from
//! the wallet, recording paid invoices, forwarding each event to the
//! embedder's subscribers), then writes what [`Node::poll_transmit`]
//! gives. This is the node's poll order (persistence is inline, so step 1
//! has nothing to do: every write is durable before the call that makes
//! it returns). It then wakes every caller waiting on a change
//! ([`Runtime::wait_until`]) and sleeps a little when nothing happened.
//!
//! The chain thread syncs the node and the wallet to the chain source's
//! tip ([`ChainSync`]) every `sync_interval`, then writes the wallet and
//! the tip (`lnnode/chain`), so a restart resumes from there.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::block::Header;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Block, Network, ScriptBuf, Transaction, TxOut};
use lightning_chain::{
    BestBlock, Broadcaster, ChainListener, ChainSource, ChainSourceError, ChainSync,
    ConfirmationTarget, FeeEstimator, FeeRate, LightBackend, LightClientSync, MempoolPoll,
    SyncOutcome,
};
use lightning_core::node::{Event, Node, OfferPaymentId};
use lightning_core::peer::PeerId;
use lightning_persist::KvStore;
use lightning_wire::types::ChannelId;

use crate::meta::{ChainMeta, Meta};
use crate::wallet::OnchainWallet;

/// What the chain thread and the node's host services need of a chain
/// backend: blocks, broadcasting, fee rates.
pub trait ChainBackend: Broadcaster + FeeEstimator + Send + Sync {
    /// Refreshes cached fee estimates (a no-op by default).
    fn refresh_fees(&self) {}
    /// How the runtime follows this backend.
    fn follow(&self) -> Follow<'_>;
    /// Unconfirmed transactions `poll` has not reported yet (touching
    /// `scripts`, for a light client), for
    /// `Node::transactions_seen_in_mempool`. None by default.
    fn mempool_transactions(
        &self,
        poll: &mut MempoolPoll,
        scripts: &[ScriptBuf],
    ) -> Result<Vec<Transaction>, ChainSourceError> {
        let _ = (poll, scripts);
        Ok(Vec::new())
    }
}

/// How a [`ChainBackend`] is followed.
#[derive(Clone, Copy)]
pub enum Follow<'a> {
    /// Whole blocks (bitcoind): [`ChainSync`]; the wallet and the node
    /// read every transaction.
    Blocks(&'a (dyn ChainSource + Send + Sync)),
    /// Script histories (Electrum, Esplora): [`LightClientSync`] over the
    /// scripts the wallet and the node watch (`Node::set_watch_filter`),
    /// each transaction checked against its block's merkle root.
    Scripts(&'a (dyn LightBackend + Send + Sync)),
}

impl std::fmt::Debug for Follow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Follow::Blocks(_) => "Blocks",
            Follow::Scripts(_) => "Scripts",
        })
    }
}

impl Follow<'_> {
    /// The backend's tip.
    pub fn tip(&self) -> Result<BestBlock, lightning_chain::ChainSourceError> {
        match self {
            Follow::Blocks(s) => s.best_block(),
            Follow::Scripts(l) => l.tip(),
        }
    }
}

impl ChainBackend for lightning_chain::bitcoind::BitcoindSource {
    fn refresh_fees(&self) {
        let _ = self.refresh_fee_estimates();
    }
    fn follow(&self) -> Follow<'_> {
        Follow::Blocks(self)
    }
    fn mempool_transactions(
        &self,
        poll: &mut MempoolPoll,
        _scripts: &[ScriptBuf],
    ) -> Result<Vec<Transaction>, ChainSourceError> {
        lightning_chain::bitcoind::BitcoindSource::mempool_transactions(self, poll)
    }
}

#[cfg(feature = "electrum")]
impl ChainBackend for lightning_chain::electrum::ElectrumSource {
    fn refresh_fees(&self) {
        let _ = self.refresh_fee_estimates();
    }
    fn follow(&self) -> Follow<'_> {
        Follow::Scripts(self)
    }
    fn mempool_transactions(
        &self,
        poll: &mut MempoolPoll,
        scripts: &[ScriptBuf],
    ) -> Result<Vec<Transaction>, ChainSourceError> {
        lightning_chain::electrum::ElectrumSource::mempool_transactions(self, scripts, poll)
    }
}

#[cfg(feature = "esplora")]
impl ChainBackend for lightning_chain::esplora::EsploraSource {
    fn refresh_fees(&self) {
        let _ = self.refresh_fee_estimates();
    }
    fn follow(&self) -> Follow<'_> {
        Follow::Scripts(self)
    }
    fn mempool_transactions(
        &self,
        poll: &mut MempoolPoll,
        scripts: &[ScriptBuf],
    ) -> Result<Vec<Transaction>, ChainSourceError> {
        lightning_chain::esplora::EsploraSource::mempool_transactions(self, scripts, poll)
    }
}

/// The scripts the node asks a light client to watch
/// (`Node::set_watch_filter`), collected for the chain thread's
/// [`LightClientSync`].
#[derive(Debug, Default)]
pub(crate) struct WatchedScripts(Mutex<BTreeSet<ScriptBuf>>);

impl WatchedScripts {
    fn all(&self) -> Vec<ScriptBuf> {
        lock(&self.0).iter().cloned().collect()
    }
}

impl lightning_chain::WatchFilter for WatchedScripts {
    fn register_tx(&self, _txid: &bitcoin::Txid, script_pubkey: &bitcoin::Script) {
        lock(&self.0).insert(script_pubkey.to_owned());
    }
    fn register_output(&self, output: lightning_chain::WatchedOutput) {
        lock(&self.0).insert(output.script_pubkey);
    }
}

/// The seconds since the UNIX epoch, as a duration.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// How long one round reads from a socket at most.
const READ_CHUNK: usize = 64 * 1024;

pub(crate) struct Conn {
    peer: PeerId,
    stream: TcpStream,
    pending: VecDeque<u8>,
    closing: bool,
    closed: bool,
    addr: Option<SocketAddr>,
}

/// A funding we started: what `fundchannel` waits on.
#[derive(Debug, Clone, Default)]
pub struct FundingState {
    /// The feerate the funding transaction pays (sat per 1000 weight).
    pub feerate: Option<FeeRate>,
    /// The real channel id and transaction, once built.
    pub funded: Option<(ChannelId, Transaction)>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What the IO thread, the chain thread and callers share.
pub struct State {
    /// The node.
    pub node: Node,
    /// The on-chain wallet.
    pub wallet: OnchainWallet,
    /// Labels, pay indexes, payment strings.
    pub meta: Meta,
    pub(crate) conns: Vec<Conn>,
    pub(crate) subscribers: Vec<Sender<Event>>,
    /// Fundings by temporary channel id.
    pub fundings: BTreeMap<ChannelId, FundingState>,
    /// Closing transactions by channel id (from `ChannelClosed`).
    pub closed: BTreeMap<ChannelId, (String, Option<Transaction>)>,
    /// How each offer request of ours ended: the fetched invoice
    /// (`OfferInvoiceFetched`) or why not (`OfferPaymentFailed`), until
    /// `fetchinvoice` takes it; at most 256 (`MAX_OFFER_OUTCOMES`), oldest
    /// dropped.
    pub offer_outcomes: VecDeque<(OfferPaymentId, Result<String, String>)>,
    /// Errors the host met (funding, persistence of its own records).
    pub errors: Vec<String>,
    /// Whether the first chain sync finished.
    pub synced: bool,
    /// The last chain sync error, if the last sync failed.
    pub sync_error: Option<String>,
    /// Known addresses of peers (from `connect` and accepted sockets).
    pub peer_addrs: BTreeMap<PublicKey, SocketAddr>,
    /// Mempool transactions handed to the node
    /// (`Node::transactions_seen_in_mempool`) since the start.
    pub mempool_transactions: u64,
    /// Preimages the node took from them (an HTLC's spend seen in the
    /// mempool), counted each time one was seen.
    pub mempool_preimages: u64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("node", &self.node)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Condvar,
    pub(crate) stop: AtomicBool,
    pub(crate) chain: Arc<dyn ChainBackend>,
    pub(crate) store: Arc<dyn KvStore>,
    pub(crate) network: Network,
    pub(crate) alias: String,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) sync_interval: Duration,
    /// Asks the chain thread to sync now.
    pub(crate) sync_now: AtomicBool,
    /// What the node asks a light client to watch.
    pub(crate) watched: Arc<WatchedScripts>,
    pub(crate) data_dir: std::path::PathBuf,
}

/// A running node. Cheap to clone (a handle); [`Runtime::stop`] stops it.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("listen", &self.shared.listen)
            .finish_non_exhaustive()
    }
}

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The node refused.
    #[error("{0}")]
    Node(#[from] lightning_core::node::NodeError),
    /// The wallet could not fund or pay.
    #[error("{0}")]
    Wallet(#[from] crate::wallet::WalletError),
    /// A socket.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// Waited too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Feeds a block to the node and the wallet.
struct Both<'a> {
    node: &'a mut Node,
    wallet: &'a mut OnchainWallet,
}

impl ChainListener for Both<'_> {
    fn block_connected(&mut self, block: &Block, height: u32) {
        self.wallet.block_connected(block, height);
        self.node.block_connected(block, height);
    }
    fn block_disconnected(&mut self, header: &Header, height: u32) {
        self.wallet.block_disconnected(height);
        self.node.block_disconnected(header, height);
    }
    fn transactions_confirmed(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        height: u32,
    ) {
        let txs: Vec<&Transaction> = txdata.iter().map(|(_, t)| *t).collect();
        self.wallet.transactions_confirmed(&txs, height);
        self.node.transactions_confirmed(header, txdata, height);
    }
    fn best_block_updated(&mut self, header: &Header, height: u32) {
        self.wallet.best_block_updated(height);
        self.node.best_block_updated(header, height);
    }
}

/// Feeds the chain to the node and the wallet in the shared state,
/// locking it for each call only (never across the backend's I/O).
struct Locked<'a>(&'a Mutex<State>);

impl ChainListener for Locked<'_> {
    fn block_connected(&mut self, block: &Block, height: u32) {
        let mut state = lock(self.0);
        let s = &mut *state;
        Both {
            node: &mut s.node,
            wallet: &mut s.wallet,
        }
        .block_connected(block, height);
    }
    fn block_disconnected(&mut self, header: &Header, height: u32) {
        let mut state = lock(self.0);
        let s = &mut *state;
        Both {
            node: &mut s.node,
            wallet: &mut s.wallet,
        }
        .block_disconnected(header, height);
    }
    fn transactions_confirmed(
        &mut self,
        header: &Header,
        txdata: &[(usize, &Transaction)],
        height: u32,
    ) {
        let mut state = lock(self.0);
        let s = &mut *state;
        Both {
            node: &mut s.node,
            wallet: &mut s.wallet,
        }
        .transactions_confirmed(header, txdata, height);
    }
    fn best_block_updated(&mut self, header: &Header, height: u32) {
        let mut state = lock(self.0);
        let s = &mut *state;
        Both {
            node: &mut s.node,
            wallet: &mut s.wallet,
        }
        .best_block_updated(header, height);
    }
}

impl Runtime {
    pub(crate) fn start(
        shared: Arc<Shared>,
        listener: Option<TcpListener>,
        best: BestBlock,
    ) -> Runtime {
        let rt = Runtime {
            shared,
            threads: Arc::new(Mutex::new(Vec::new())),
        };
        let io = {
            let shared = rt.shared.clone();
            std::thread::Builder::new()
                .name("lnnode-io".into())
                .spawn(move || io_loop(&shared, listener.as_ref()))
        };
        let chain = {
            let shared = rt.shared.clone();
            std::thread::Builder::new()
                .name("lnnode-chain".into())
                .spawn(move || chain_loop(&shared, best))
        };
        let reconnect = {
            let shared = rt.shared.clone();
            std::thread::Builder::new()
                .name("lnnode-reconnect".into())
                .spawn(move || reconnect_loop(&shared))
        };
        let mut threads = lock(&rt.threads);
        for t in [io, chain, reconnect].into_iter().flatten() {
            threads.push(t);
        }
        drop(threads);
        rt
    }

    /// Locks the shared state (node, wallet, records).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// Runs `f` on the node.
    pub fn with_node<R>(&self, f: impl FnOnce(&mut Node) -> R) -> R {
        f(&mut self.lock().node)
    }

    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.with_node(|n| n.node_id())
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.shared.network
    }

    /// The node's alias.
    pub fn alias(&self) -> &str {
        &self.shared.alias
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.shared.data_dir
    }

    /// Where it listens for peers.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.shared.listen
    }

    /// The store the node writes to.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.shared.store
    }

    /// The chain backend.
    pub fn chain(&self) -> &Arc<dyn ChainBackend> {
        &self.shared.chain
    }

    /// A receiver of every event the node raises, from now on.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.lock().subscribers.push(tx);
        rx
    }

    /// Waits until `f` holds on the state (checked after each change), up
    /// to `timeout`; gives `f`'s value.
    pub fn wait_until<R>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&mut State) -> Option<R>,
    ) -> Option<R> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(r) = f(&mut state) {
                return Some(r);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if self.shared.stop.load(Ordering::SeqCst) {
                return None;
            }
            let (s, _) = self
                .shared
                .changed
                .wait_timeout(state, left.min(Duration::from_millis(200)))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state = s;
        }
    }

    /// Dials `node_id` at `addr` and waits until both `init`s are
    /// exchanged (or `timeout`). Already connected: returns at once.
    pub fn connect(
        &self,
        node_id: PublicKey,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        if self.is_connected(&node_id) {
            return Ok(());
        }
        dial(&self.shared, node_id, addr, timeout)?;
        self.wait_until(timeout, |s| {
            s.node
                .connected_peers()
                .iter()
                .any(|(_, n)| *n == node_id)
                .then_some(())
        })
        .ok_or_else(|| RuntimeError::Timeout(format!("handshake with {node_id} at {addr}")))?;
        // Where to dial it again after a restart (kept with the backup).
        self.with_node(|n| n.set_peer_addresses(node_id, vec![addr.to_string()]));
        Ok(())
    }

    /// Whether `node_id` is connected.
    pub fn is_connected(&self, node_id: &PublicKey) -> bool {
        self.with_node(|n| n.connected_peers().iter().any(|(_, id)| id == node_id))
    }

    /// Opens a channel of `amount_sat` to the connected `node_id`, funded
    /// by the wallet at `feerate` (default: the estimator's), and waits
    /// until the funding transaction is broadcast. Gives the channel id
    /// and the funding transaction.
    pub fn open_channel(
        &self,
        node_id: PublicKey,
        amount_sat: u64,
        push_msat: u64,
        feerate: Option<FeeRate>,
        timeout: Duration,
    ) -> Result<(ChannelId, Transaction), RuntimeError> {
        let tmp = {
            let mut state = self.lock();
            let tmp = state.node.open_channel(
                node_id,
                bitcoin::Amount::from_sat(amount_sat),
                lightning_core::amount::Msat(push_msat),
            )?;
            state.fundings.insert(
                tmp,
                FundingState {
                    feerate,
                    ..FundingState::default()
                },
            );
            tmp
        };
        let funded = self
            .wait_until(timeout, |s| {
                let f = s.fundings.get(&tmp)?;
                if let Some(e) = &f.error {
                    return Some(Err(e.clone()));
                }
                let (id, tx) = f.funded.clone()?;
                // Broadcast once the peer signed our first commitment.
                let broadcast = s.node.list_channels().iter().any(|c| {
                    c.channel_id == id
                        && !matches!(
                            c.phase,
                            lightning_core::channel::Phase::AwaitingFundingSigned
                                | lightning_core::channel::Phase::AwaitingFundingTx
                        )
                });
                broadcast.then_some(Ok((id, tx)))
            })
            .ok_or_else(|| RuntimeError::Timeout("the channel's funding".into()))?;
        funded.map_err(RuntimeError::Other)
    }

    /// A fresh wallet address.
    pub fn new_address(&self) -> Result<bitcoin::Address, RuntimeError> {
        let mut state = self.lock();
        let addr = state.wallet.new_address()?;
        save_chain(&mut state, None);
        Ok(addr)
    }

    /// Sends `amount_sat` (all coins with `None`) to `script`, at
    /// `feerate` (default: the estimator's), and broadcasts it.
    pub fn withdraw(
        &self,
        script: bitcoin::ScriptBuf,
        amount_sat: Option<u64>,
        feerate: Option<FeeRate>,
    ) -> Result<Transaction, RuntimeError> {
        let feerate = feerate.unwrap_or_else(|| {
            self.shared
                .chain
                .fee_rate(ConfirmationTarget::NonUrgentOnChainSweep)
        });
        let mut state = self.lock();
        let out = TxOut {
            value: bitcoin::Amount::from_sat(amount_sat.unwrap_or(0)),
            script_pubkey: script,
        };
        let tx = state
            .wallet
            .build(vec![out], feerate, amount_sat.is_none())?;
        self.shared.chain.broadcast_transactions(&[&tx]);
        save_chain(&mut state, None);
        Ok(tx)
    }

    /// Asks the chain thread to sync now and waits until it has (or
    /// `timeout`).
    pub fn sync_chain(&self, timeout: Duration) -> Result<BestBlock, RuntimeError> {
        let tip = self
            .shared
            .chain
            .follow()
            .tip()
            .map_err(|e| RuntimeError::Other(e.to_string()))?;
        self.shared.sync_now.store(true, Ordering::SeqCst);
        self.wait_until(timeout, |s| {
            (s.node.best_block().height >= tip.height).then(|| s.node.best_block())
        })
        .ok_or_else(|| RuntimeError::Timeout(format!("chain sync to height {}", tip.height)))
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Stops the threads after their current round (every write made so
    /// far is durable: persistence is inline), closes the sockets and
    /// writes the wallet. Returns once they have stopped.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.threads));
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        let mut state = self.lock();
        let conns = std::mem::take(&mut state.conns);
        for c in conns {
            let _ = c.stream.shutdown(Shutdown::Both);
            state.node.peer_disconnected(c.peer);
        }
        save_chain(&mut state, None);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes the wallet and the tip (`tip` or the node's best block).
pub(crate) fn save_chain(state: &mut State, tip: Option<BestBlock>) {
    let tip = tip.unwrap_or_else(|| state.node.best_block());
    let wallet = serde_json::from_slice(&state.wallet.encode()).unwrap_or_default();
    let rec = ChainMeta {
        height: tip.height,
        hash: tip.hash.to_string(),
        wallet,
    };
    if let Err(e) = state.meta.save_chain(&rec) {
        state.errors.push(format!("writing the wallet: {e}"));
    }
}

/// Offer outcomes kept for `fetchinvoice` at most (the node lets 64
/// requests wait at once).
pub(crate) const MAX_OFFER_OUTCOMES: usize = 256;

fn record_offer_outcome(state: &mut State, id: OfferPaymentId, outcome: Result<String, String>) {
    if state.offer_outcomes.len() >= MAX_OFFER_OUTCOMES {
        state.offer_outcomes.pop_front();
    }
    state.offer_outcomes.push_back((id, outcome));
}

fn handle_events(shared: &Shared, state: &mut State) -> bool {
    let mut any = false;
    while let Some(event) = state.node.poll_event() {
        any = true;
        match &event {
            Event::FundingNeeded {
                temporary_channel_id,
                amount_sat,
                script_pubkey,
                ..
            } => {
                let tmp = *temporary_channel_id;
                let feerate = state
                    .fundings
                    .get(&tmp)
                    .and_then(|f| f.feerate)
                    .unwrap_or_else(|| {
                        shared
                            .chain
                            .fee_rate(ConfirmationTarget::NonAnchorChannelFee)
                    });
                let out = TxOut {
                    value: *amount_sat,
                    script_pubkey: script_pubkey.clone(),
                };
                let result = match state.wallet.build(vec![out], feerate, false) {
                    Ok(tx) => match state.node.funding_transaction_generated(tmp, tx.clone()) {
                        Ok(id) => Ok((id, tx)),
                        Err(e) => {
                            state.wallet.release(&tx);
                            Err(e.to_string())
                        }
                    },
                    Err(e) => Err(e.to_string()),
                };
                let entry = state.fundings.entry(tmp).or_default();
                match result {
                    Ok(done) => entry.funded = Some(done),
                    Err(e) => {
                        entry.error = Some(e.clone());
                        state.errors.push(format!("funding {tmp}: {e}"));
                        // Nothing was broadcast: forget the channel.
                        let _ = state.node.force_close_channel(tmp);
                    }
                }
                save_chain(state, None);
            }
            Event::PaymentReceived {
                payment_hash,
                amount_msat,
            } => {
                if let Err(e) =
                    state
                        .meta
                        .invoice_paid(*payment_hash, amount_msat.0, now().as_secs())
                {
                    state.errors.push(format!("recording a payment: {e}"));
                }
            }
            Event::PaymentSent {
                payment_hash,
                fee_msat,
                ..
            } => {
                let p = state.meta.payments.entry(*payment_hash).or_default();
                p.fee_msat = Some(fee_msat.0);
                let _ = state.meta.save_payment(*payment_hash);
            }
            Event::PaymentFailed {
                payment_hash,
                reason,
            } => {
                let p = state.meta.payments.entry(*payment_hash).or_default();
                p.failure = Some(reason.message.clone());
                let _ = state.meta.save_payment(*payment_hash);
            }
            Event::OfferInvoiceFetched {
                offer_payment_id,
                invoice,
            } => record_offer_outcome(state, *offer_payment_id, Ok(invoice.clone())),
            Event::OfferPaymentFailed {
                offer_payment_id,
                reason,
            } => record_offer_outcome(state, *offer_payment_id, Err(reason.clone())),
            Event::ChannelClosed {
                channel_id,
                reason,
                closing_tx,
            } => {
                state
                    .closed
                    .insert(*channel_id, (reason.clone(), closing_tx.clone()));
            }
            _ => {}
        }
        state.subscribers.retain(|s| s.send(event.clone()).is_ok());
    }
    any
}

fn io_loop(shared: &Shared, listener: Option<&TcpListener>) {
    let mut buf = vec![0u8; READ_CHUNK];
    while !shared.stop.load(Ordering::SeqCst) {
        let busy = {
            let mut guard = lock(&shared.state);
            let state = &mut *guard;
            let t = now();
            let mut busy = false;
            if let Some(l) = listener {
                while let Ok((stream, addr)) = l.accept() {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let peer = state.node.accept_inbound(t);
                    state.conns.push(Conn {
                        peer,
                        stream,
                        pending: VecDeque::new(),
                        closing: false,
                        closed: false,
                        addr: Some(addr),
                    });
                    busy = true;
                }
            }
            for i in 0..state.conns.len() {
                if state.conns[i].closing || state.conns[i].closed {
                    continue;
                }
                let peer = state.conns[i].peer;
                match state.conns[i].stream.read(&mut buf) {
                    Ok(0) => {
                        state.conns[i].closed = true;
                        state.node.peer_disconnected(peer);
                        busy = true;
                    }
                    Ok(n) => {
                        busy = true;
                        if state.node.handle_bytes(peer, &buf[..n], t).is_err() {
                            state.conns[i].closing = true;
                        }
                    }
                    Err(e)
                        if e.kind() == ErrorKind::WouldBlock
                            || e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        state.conns[i].closed = true;
                        state.node.peer_disconnected(peer);
                        busy = true;
                    }
                }
            }
            if state.node.next_timeout().is_some_and(|d| d <= t) {
                state.node.handle_timeout(t);
                busy = true;
            }
            busy |= handle_events(shared, state);
            for i in 0..state.conns.len() {
                if state.conns[i].closed {
                    continue;
                }
                let peer = state.conns[i].peer;
                while let Some(bytes) = state.node.poll_transmit(peer) {
                    state.conns[i].pending.extend(bytes);
                }
                let conn = &mut state.conns[i];
                while !conn.pending.is_empty() {
                    let (a, _) = conn.pending.as_slices();
                    match conn.stream.write(a) {
                        Ok(0) => break,
                        Ok(n) => {
                            conn.pending.drain(..n);
                            busy = true;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => {
                            conn.closed = true;
                            break;
                        }
                    }
                }
                if conn.closed || (conn.closing && conn.pending.is_empty()) {
                    let _ = conn.stream.shutdown(Shutdown::Both);
                    conn.closed = true;
                    state.node.peer_disconnected(peer);
                }
            }
            // Connected peers' addresses, for reconnection.
            let connected = state.node.connected_peers();
            for c in &state.conns {
                if let (Some(addr), Some((_, id))) =
                    (c.addr, connected.iter().find(|(p, _)| *p == c.peer))
                {
                    if c.addr.is_some_and(|a| a.port() != 0) && !state.peer_addrs.contains_key(id) {
                        state.peer_addrs.insert(*id, addr);
                    }
                }
            }
            state.conns.retain(|c| !c.closed);
            busy
        };
        if busy {
            shared.changed.notify_all();
        } else {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

/// Opens a connection to `node_id` at `addr`; the handshake goes on in
/// the I/O thread.
fn dial(
    shared: &Shared,
    node_id: PublicKey,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), RuntimeError> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    let mut state = lock(&shared.state);
    let (peer, act_one) = state.node.connect_outbound(node_id, now());
    state.conns.push(Conn {
        peer,
        stream,
        pending: act_one.into(),
        closing: false,
        closed: false,
        addr: Some(addr),
    });
    state.peer_addrs.insert(node_id, addr);
    Ok(())
}

/// First wait before dialling a peer again, doubled after each failure.
const RECONNECT_FIRST: Duration = Duration::from_secs(5);
/// The longest wait between two dials of one peer.
const RECONNECT_MAX: Duration = Duration::from_secs(300);

/// Keeps channel peers connected: every peer with a channel that is not
/// closed, not connected, and with an address the node keeps for it
/// (`Node::peer_addresses`: where an outbound `connect` of this or an
/// earlier run reached it) is dialled, at start and then with a backoff
/// from [`RECONNECT_FIRST`] doubling to [`RECONNECT_MAX`] while it stays
/// away. Peers that only ever dialled us are left to dial again.
fn reconnect_loop(shared: &Shared) {
    let mut next: BTreeMap<PublicKey, (Instant, Duration)> = BTreeMap::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let now_i = Instant::now();
        let due: Vec<(PublicKey, SocketAddr)> = {
            let state = lock(&shared.state);
            let connected: std::collections::BTreeSet<PublicKey> = state
                .node
                .connected_peers()
                .iter()
                .map(|(_, n)| *n)
                .collect();
            next.retain(|p, _| !connected.contains(p));
            let peers: std::collections::BTreeSet<PublicKey> = state
                .node
                .list_channels()
                .iter()
                .filter(|c| {
                    !matches!(
                        c.phase,
                        lightning_core::channel::Phase::Closed
                            | lightning_core::channel::Phase::Failed
                    )
                })
                .map(|c| c.counterparty)
                .collect();
            peers
                .into_iter()
                .filter(|p| !connected.contains(p))
                .filter(|p| next.get(p).is_none_or(|(t, _)| now_i >= *t))
                .filter_map(|p| {
                    let addr = state
                        .node
                        .peer_addresses(&p)
                        .iter()
                        .find_map(|a| a.parse::<SocketAddr>().ok())?;
                    Some((p, addr))
                })
                .collect()
        };
        for (p, addr) in due {
            let wait = next
                .get(&p)
                .map_or(RECONNECT_FIRST, |(_, w)| (*w * 2).min(RECONNECT_MAX));
            next.insert(p, (Instant::now() + wait, wait));
            match dial(shared, p, addr, Duration::from_secs(2)) {
                Ok(()) => crate::log::info(&format!("reconnecting to channel peer {p} at {addr}")),
                Err(e) => crate::log::debug(&format!(
                    "channel peer {p} at {addr}: {e}; next try in {}s",
                    wait.as_secs()
                )),
            }
        }
        // Once a second: each round lists the channels under the lock.
        for _ in 0..5 {
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The chain thread's driver: whole blocks, or a light client's.
enum Driver {
    Blocks(ChainSync),
    Scripts(LightClientSync),
}

/// One mempool poll: what the backend's mempool holds that is new (at
/// most [`MempoolPoll::limit`]; bitcoind's: spending an outpoint the node
/// reads, `Node::mempool_watched_outpoints`; a light client's: touching
/// the scripts the node watches) goes to `Node::transactions_seen_in_mempool`.
fn poll_mempool(shared: &Shared, poll: &mut MempoolPoll) {
    let scripts = match shared.chain.follow() {
        Follow::Blocks(_) => {
            // Only the spenders of what the node reads (bitcoind's
            // `gettxspendingprevout`), not the whole mempool 500 at a time.
            let watched = lock(&shared.state).node.mempool_watched_outpoints();
            poll.set_watched_outpoints(watched);
            Vec::new()
        }
        Follow::Scripts(_) => shared.watched.all(),
    };
    match shared.chain.mempool_transactions(poll, &scripts) {
        Ok(txs) if !txs.is_empty() => {
            let mut guard = lock(&shared.state);
            let scan = guard.node.transactions_seen_in_mempool(&txs);
            guard.mempool_transactions =
                guard.mempool_transactions.saturating_add(txs.len() as u64);
            guard.mempool_preimages = guard
                .mempool_preimages
                .saturating_add(scan.preimages as u64);
            if scan.preimages > 0 {
                crate::log::info(&format!(
                    "mempool: {} preimage(s) from {} new transaction(s)",
                    scan.preimages,
                    txs.len()
                ));
            }
        }
        Ok(_) => {}
        Err(e) => crate::log::debug(&format!("mempool poll: {e}")),
    }
}

fn chain_loop(shared: &Shared, best: BestBlock) {
    let mut driver = match shared.chain.follow() {
        Follow::Blocks(_) => Driver::Blocks(ChainSync::new(best)),
        Follow::Scripts(_) => Driver::Scripts(LightClientSync::new(best)),
    };
    let mut last = Instant::now()
        .checked_sub(shared.sync_interval)
        .unwrap_or_else(Instant::now);
    let mut last_fees: Option<Instant> = None;
    let mut mempool = MempoolPoll::default();
    while !shared.stop.load(Ordering::SeqCst) {
        let due =
            last.elapsed() >= shared.sync_interval || shared.sync_now.swap(false, Ordering::SeqCst);
        if !due {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        last = Instant::now();
        if last_fees.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            shared.chain.refresh_fees();
            last_fees = Some(Instant::now());
        }
        // The backend's round trips (blocks, headers, script histories)
        // run without the state lock: it is taken for each block or
        // confirmation the sync hands over, so peers, RPC calls and
        // timers go on while a slow source is read (`Locked`).
        let mut locked = Locked(&shared.state);
        let result = match (&mut driver, shared.chain.follow()) {
            (Driver::Blocks(sync), Follow::Blocks(source)) => sync.sync(source, &mut locked),
            (Driver::Scripts(light), Follow::Scripts(backend)) => {
                // What to watch: the wallet's scripts and the node's.
                let wallet_scripts = lock(&shared.state).wallet.scripts();
                for s in wallet_scripts {
                    light.watch_script(s);
                }
                for s in shared.watched.all() {
                    light.watch_script(s);
                }
                light.sync(backend, &mut locked).map(|o| SyncOutcome {
                    disconnected: o.disconnected,
                    connected: o.new_headers,
                    best_block: o.best_block,
                })
            }
            _ => unreachable!("the driver follows the backend's kind"),
        };
        // Then the mempool: spends of our HTLC outputs that may never be
        // mined (replacement cycling) still give their preimages. Read
        // without the state lock, handed over under it.
        if result.is_ok() {
            poll_mempool(shared, &mut mempool);
        }
        {
            let mut guard = lock(&shared.state);
            let state = &mut *guard;
            match &result {
                Ok(outcome) => {
                    if outcome.connected > 0 || outcome.disconnected > 0 || !state.synced {
                        save_chain(state, Some(outcome.best_block));
                    }
                    state.synced = true;
                    state.sync_error = None;
                }
                Err(e) => state.sync_error = Some(e.to_string()),
            }
            handle_events(shared, state);
        }
        if let Ok(o) = result {
            if o.connected > 0 {
                crate::log::info(&format!(
                    "chain: height {} ({} blocks connected, {} disconnected)",
                    o.best_block.height, o.connected, o.disconnected
                ));
            }
        } else if let Err(e) = result {
            crate::log::warn(&format!("chain sync: {e}"));
        }
        shared.changed.notify_all();
    }
}
