//! The one host loop of the test suites, the demo and the LDK interop
//! harness.
//!
//! A host around the sans-IO [`Node`] does, every round, the same few
//! things besides moving bytes: connect the blocks the chain gained
//! ([`feed_blocks`]), run the timer when it is due ([`run_timers`]), take the
//! events, funding a channel from a [`SimWallet`] when the node asks
//! ([`take_events`]), and, with asynchronous persistence, make the writes
//! handed out durable ([`complete_writes`]). [`service`] is those steps in
//! that order.
//!
//! [`TcpHost`] runs them with real sockets: one thread reads sockets into
//! `handle_bytes`, writes what `poll_transmit` gives and calls [`service`].
//! The node persists inline to an [`FsStore`] in a temporary directory, so it
//! can be restarted from it. Tests call the node through [`TcpHost::with`],
//! which locks it; the IO thread picks up whatever the call queued on its
//! next round. `lightning-core`'s in-memory two-node network
//! (`tests/node_support`) moves bytes between two nodes itself and calls the
//! same steps.

// Test infrastructure: a socket or store that fails here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use lightning_chain::{BestBlock, ChainListener, FeeEstimator, FeeRate, FixedFeeEstimator};
use lightning_core::node::{Event, Node, NodeConfig, NodeHost, PaymentHash, Persistence};
use lightning_core::peer::PeerId;
use lightning_persist::{FsStore, KvStore};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_wire::types::ChannelId;

/// The host's wall clock, since the UNIX epoch (invoices are compared
/// with LDK's, which uses the system time).
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The feerate every host's fixed fee estimator gives, sat per 1000 weight
/// units.
pub const FEERATE_PER_KW: u32 = 1000;

/// The host services over `chain`: it broadcasts, and fees are a fixed
/// [`FEERATE_PER_KW`].
pub fn node_host(chain: &SimChainHandle) -> NodeHost {
    NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(
            FEERATE_PER_KW,
        ))),
    }
}

/// Connects the blocks of `chain` above `*fed` to `node`, in order, and
/// moves `*fed` up; whether there were any.
pub fn feed_blocks(node: &mut Node, fed: &mut u32, chain: &SimChainHandle) -> bool {
    let tip = chain.best_block().height;
    let mut any = false;
    while *fed < tip {
        let height = *fed + 1;
        let Some(block) = chain.block_at(height) else {
            break;
        };
        node.block_connected(&block, height);
        *fed = height;
        any = true;
    }
    any
}

/// Runs the node's timer if it is due at `now`; whether it ran.
pub fn run_timers(node: &mut Node, now: Duration) -> bool {
    if node.next_timeout().is_some_and(|t| t <= now) {
        node.handle_timeout(now);
        return true;
    }
    false
}

/// Moves the node's events into `events`, in order; whether there were
/// any. With a `wallet`, a `FundingNeeded` is answered first: the wallet
/// funds the output and the node gets the transaction (an error on the way
/// goes to `errors`, and the wallet releases the coins).
pub fn take_events(
    node: &mut Node,
    events: &mut Vec<Event>,
    wallet: Option<&SimWallet>,
    errors: &mut Vec<String>,
) -> bool {
    let mut any = false;
    while let Some(event) = node.poll_event() {
        any = true;
        if let (
            Some(wallet),
            Event::FundingNeeded {
                temporary_channel_id,
                amount_sat,
                script_pubkey,
                ..
            },
        ) = (wallet, &event)
        {
            match wallet.fund(*amount_sat, script_pubkey) {
                Ok(tx) => {
                    if let Err(e) =
                        node.funding_transaction_generated(*temporary_channel_id, tx.clone())
                    {
                        wallet.release(&tx);
                        errors.push(format!("funding_transaction_generated: {e}"));
                    }
                }
                Err(e) => errors.push(format!("fund: {e}")),
            }
        }
        events.push(event);
    }
    any
}

/// Asynchronous persistence: makes every batch the node handed out durable
/// on `store` (one `write_batch` each, removals included) and reports it
/// complete. Gives (requests completed, records in them); a store error
/// panics.
pub fn complete_writes(node: &mut Node, store: &dyn KvStore) -> (usize, u64) {
    let (mut done, mut records) = (0, 0);
    while let Some(req) = node.poll_persist() {
        records += req.len() as u64;
        if let Err(e) = req.apply(store) {
            panic!("{e}");
        }
        node.persist_completed(req.id);
        done += 1;
    }
    (done, records)
}

/// One round of the services: blocks, the timer, then the events. A host
/// calls it after handing the node the bytes it read and before writing
/// what `poll_transmit` gives. Whether anything happened.
pub fn service(
    node: &mut Node,
    fed: &mut u32,
    chain: &SimChainHandle,
    now: Duration,
    wallet: Option<&SimWallet>,
    events: &mut Vec<Event>,
    errors: &mut Vec<String>,
) -> bool {
    let blocks = feed_blocks(node, fed, chain);
    let timers = run_timers(node, now);
    let took = take_events(node, events, wallet, errors);
    blocks || timers || took
}

struct Conn {
    peer: PeerId,
    stream: TcpStream,
    /// Bytes `poll_transmit` gave that the socket did not take yet.
    pending: VecDeque<u8>,
    /// The node failed the connection: close once `pending` is written.
    closing: bool,
    closed: bool,
}

/// What the IO thread and the tests share.
pub struct HostState {
    /// The node.
    pub node: Node,
    conns: Vec<Conn>,
    /// Height fed to the node.
    pub fed: u32,
    /// Every event the node gave, in order (FundingNeeded included, after
    /// the host handled it).
    pub events: Vec<Event>,
    /// Errors the host met handling events (funding).
    pub errors: Vec<String>,
    /// Errors our node returned from `handle_bytes` (it then closed the
    /// connection). The scenarios assert there are none.
    pub node_errors: Vec<String>,
    /// Close the connection after this many more writes (a disconnect in
    /// the middle of a commitment dance); 0: never.
    cut_after_writes: u32,
    /// Stop reading and writing (a crashed process).
    frozen: bool,
    /// Freeze right after this many more rounds that read bytes, before
    /// anything the node answers is written; 0: never.
    freeze_after_reads: u32,
    /// Freeze right after the first round of reads after which this holds
    /// of the node, before anything it answers is written.
    freeze_when: Option<FreezeWhen>,
}

/// A condition on the node that arms a crash ([`TcpHost::freeze_when`]).
type FreezeWhen = Box<dyn Fn(&Node) -> bool + Send>;

impl HostState {
    /// The latest outcome of a payment we sent: `Some(Ok(()))` sent,
    /// `Some(Err)` failed with the event's failure.
    pub fn payment_outcome(
        &self,
        hash: &PaymentHash,
    ) -> Option<Result<(), lightning_core::node::PaymentFailure>> {
        self.events.iter().rev().find_map(|e| match e {
            Event::PaymentSent { payment_hash, .. } if payment_hash == hash => Some(Ok(())),
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some(Err(reason.clone())),
            _ => None,
        })
    }
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("node", &self.node)
            .field("connections", &self.conns.len())
            .field("fed", &self.fed)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<HostState>,
    stop: AtomicBool,
}

/// A node driven over TCP on its own thread.
pub struct TcpHost {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Where it accepts connections.
    pub addr: SocketAddr,
    seed: [u8; 32],
    config: NodeConfig,
    chain: SimChainHandle,
    fees: SharedFees,
    store_dir: PathBuf,
    _tempdir: tempfile::TempDir,
    restarts: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for TcpHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpHost").field("addr", &self.addr).finish()
    }
}

/// The fee estimator a [`TcpHost`] gives its node (and the node it
/// restarts).
pub type SharedFees = Arc<dyn FeeEstimator + Send + Sync>;

fn build_node(
    seed: &[u8; 32],
    config: &NodeConfig,
    chain: &SimChainHandle,
    fees: &SharedFees,
    store_dir: &PathBuf,
    instance: u32,
    best: BestBlock,
) -> Node {
    let store = FsStore::open(store_dir, &format!("our-node-{instance}")).unwrap();
    lightning_core::node::NodeBuilder::from_config(config.clone())
        .seed(seed)
        .persistence(Persistence::Inline(Arc::new(store)))
        .host(NodeHost {
            broadcaster: Arc::new(chain.clone()),
            fee_estimator: fees.clone(),
        })
        .best_block(best)
        .build()
        .unwrap()
}

impl TcpHost {
    /// Starts a node from `seed` on `chain`, funding channels from
    /// `wallet`, listening on 127.0.0.1.
    pub fn start(
        seed: [u8; 32],
        config: NodeConfig,
        chain: SimChainHandle,
        wallet: SimWallet,
    ) -> TcpHost {
        Self::spawn(seed, config, chain, Some(wallet), None)
    }

    /// Like [`TcpHost::start`], with `fees` instead of the fixed
    /// [`FEERATE_PER_KW`] (a peer whose feerates the fixed estimator's
    /// bounds refuse, as Electrum's regtest 45,000 sat/kw).
    pub fn start_with_fees(
        seed: [u8; 32],
        config: NodeConfig,
        chain: SimChainHandle,
        wallet: SimWallet,
        fees: SharedFees,
    ) -> TcpHost {
        Self::spawn(seed, config, chain, Some(wallet), Some(fees))
    }

    /// Starts a node that leaves `FundingNeeded` to the caller (see
    /// [`TcpHost::take_event`]).
    pub fn start_without_wallet(
        seed: [u8; 32],
        config: NodeConfig,
        chain: SimChainHandle,
    ) -> TcpHost {
        Self::spawn(seed, config, chain, None, None)
    }

    fn spawn(
        seed: [u8; 32],
        config: NodeConfig,
        chain: SimChainHandle,
        wallet: Option<SimWallet>,
        fees: Option<SharedFees>,
    ) -> TcpHost {
        let fees = fees.unwrap_or_else(|| node_host(&chain).fee_estimator);
        let tempdir = tempfile::tempdir().unwrap();
        let store_dir = tempdir.path().join("store");
        let best = chain.best_block();
        let node = build_node(&seed, &config, &chain, &fees, &store_dir, 0, best);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(HostState {
                node,
                conns: Vec::new(),
                fed: best.height,
                events: Vec::new(),
                errors: Vec::new(),
                node_errors: Vec::new(),
                cut_after_writes: 0,
                frozen: false,
                freeze_after_reads: 0,
                freeze_when: None,
            }),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            let chain = chain.clone();
            std::thread::spawn(move || io_loop(&shared, &listener, &chain, wallet.as_ref()))
        };
        TcpHost {
            shared,
            thread: Some(thread),
            addr,
            seed,
            config,
            chain,
            fees,
            store_dir,
            _tempdir: tempdir,
            restarts: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Locks the host state (node included).
    pub fn lock(&self) -> MutexGuard<'_, HostState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the host state.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut HostState) -> R) -> R {
        f(&mut self.lock())
    }

    /// Runs `f` on the node.
    pub fn with<R>(&self, f: impl FnOnce(&mut Node) -> R) -> R {
        f(&mut self.lock().node)
    }

    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.with(|n| n.node_id())
    }

    /// Connects to `node_id` at `addr` (we are the outbound side) and waits
    /// until `init` is exchanged.
    pub fn connect(&self, node_id: PublicKey, addr: SocketAddr) {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_nonblocking(true).unwrap();
        {
            let mut state = self.lock();
            let (peer, act_one) = state.node.connect_outbound(node_id, now());
            state.conns.push(Conn {
                peer,
                stream,
                pending: act_one.into(),
                closing: false,
                closed: false,
            });
        }
        self.wait_until("our node is connected", Duration::from_secs(10), |s| {
            s.node.connected_peers().iter().any(|(_, n)| *n == node_id)
        });
    }

    /// Whether `node_id` is connected (both `init`s exchanged).
    pub fn is_connected(&self, node_id: &PublicKey) -> bool {
        self.with(|n| n.connected_peers().iter().any(|(_, id)| id == node_id))
    }

    /// Closes every socket now.
    pub fn disconnect_all(&self) {
        let mut state = self.lock();
        let conns = std::mem::take(&mut state.conns);
        for conn in conns {
            let _ = conn.stream.shutdown(Shutdown::Both);
            state.node.peer_disconnected(conn.peer);
        }
    }

    /// Runs `f` on the node, then arms a cut: the connection closes right
    /// after the `writes`-th round of bytes written to it from now (the
    /// peer gets those; whatever it answers is lost). With `f` queuing an
    /// update, that is a disconnect in the middle of its commitment dance.
    pub fn with_cut<R>(&self, writes: u32, f: impl FnOnce(&mut Node) -> R) -> R {
        let mut state = self.lock();
        let r = f(&mut state.node);
        state.cut_after_writes = writes;
        r
    }

    /// Arms a crash on receipt: after the `reads`-th round that reads
    /// bytes from now, the node has handled them (and persisted what they
    /// changed) but nothing it answers leaves; the host stops until
    /// [`TcpHost::restart`].
    pub fn freeze_after_reads(&self, reads: u32) {
        self.lock().freeze_after_reads = reads;
    }

    /// Arms a crash on receipt at a given point: after the first round of
    /// reads that leaves `when` true of the node (for example: a forward's
    /// downstream fulfil was read), the node has handled and persisted
    /// them but nothing it answers leaves; the host stops until
    /// [`TcpHost::restart`]. Unlike [`TcpHost::freeze_after_reads`], an
    /// unrelated message (a peer's `ping`) does not trigger it.
    pub fn freeze_when(&self, when: impl Fn(&Node) -> bool + Send + 'static) {
        self.lock().freeze_when = Some(Box::new(when));
    }

    /// Whether the host froze (see [`TcpHost::freeze_after_reads`]).
    pub fn is_frozen(&self) -> bool {
        self.lock().frozen
    }

    /// Whether the cut asked for has happened.
    pub fn cut_done(&self) -> bool {
        self.lock().cut_after_writes == 0
    }

    /// Simulates a crash and a restart: the sockets are dropped without a
    /// word, the node is dropped with whatever it had not written out, and
    /// a new one is restored from the `FsStore` alone.
    pub fn restart(&self) {
        self.restart_with(|_| ());
    }

    /// Runs `f` on the node, then crashes and restarts it before the IO
    /// thread sees anything `f` queued: whatever `f` persisted is all the
    /// new node knows of it.
    pub fn restart_with(&self, f: impl FnOnce(&mut Node)) {
        let restarts = self.restarts.fetch_add(1, Ordering::SeqCst) + 1;
        let shared = self.shared.clone();
        let mut state = shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state.node);
        state.frozen = true;
        let conns = std::mem::take(&mut state.conns);
        for conn in conns {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        let fed = state.fed;
        let best = self
            .chain
            .block_at(fed)
            .map(|b| BestBlock::new(b.block_hash(), fed))
            .unwrap();
        // The old node holds the store's lock: drop it first by putting a
        // placeholder in.
        let placeholder_dir = self.store_dir.with_extension(format!("swap{restarts}"));
        let placeholder = build_node(
            &[0x55; 32],
            &self.config,
            &self.chain,
            &self.fees,
            &placeholder_dir,
            0,
            best,
        );
        drop(std::mem::replace(&mut state.node, placeholder));
        state.node = build_node(
            &self.seed,
            &self.config,
            &self.chain,
            &self.fees,
            &self.store_dir,
            restarts,
            best,
        );
        state.frozen = false;
        state.freeze_after_reads = 0;
        state.freeze_when = None;
    }

    /// Events so far matching `f`.
    pub fn events_matching(&self, f: impl Fn(&Event) -> bool) -> Vec<Event> {
        self.lock()
            .events
            .iter()
            .filter(|e| f(e))
            .cloned()
            .collect()
    }

    /// The outcome of a payment we sent: `Some(Ok(()))` sent, `Some(Err)`
    /// failed with the event's failure.
    pub fn payment_outcome(
        &self,
        hash: &PaymentHash,
    ) -> Option<Result<(), lightning_core::node::PaymentFailure>> {
        self.lock().payment_outcome(hash)
    }

    /// Whether we were paid for `hash`.
    pub fn received(&self, hash: &PaymentHash) -> bool {
        self.lock().events.iter().any(
            |e| matches!(e, Event::PaymentReceived { payment_hash, .. } if payment_hash == hash),
        )
    }

    /// Waits until `cond` holds on the host state; panics after `limit`.
    pub fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut cond: impl FnMut(&mut HostState) -> bool,
    ) {
        let start = Instant::now();
        loop {
            if cond(&mut self.lock()) {
                return;
            }
            if start.elapsed() > limit {
                let state = self.lock();
                panic!(
                    "timed out waiting until {what}; channels {:#?}; events {:#?}; host errors {:?}",
                    state.node.list_channels(),
                    state.events,
                    state.errors
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits up to `limit` for an event that `pick` accepts, takes it out
    /// of the recorded events and gives what `pick` made of it. For a host
    /// that reads each event once (the demo); the interop scenarios keep
    /// every event and ask [`TcpHost::events_matching`].
    pub fn take_event<T>(
        &self,
        what: &str,
        limit: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> Result<T, String> {
        let start = Instant::now();
        loop {
            {
                let mut state = self.lock();
                let found = state
                    .events
                    .iter()
                    .enumerate()
                    .find_map(|(i, e)| pick(e).map(|t| (i, t)));
                if let Some((i, t)) = found {
                    state.events.remove(i);
                    return Ok(t);
                }
            }
            if start.elapsed() > limit {
                return Err(format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The channel with `id`, as the node sees it.
    pub fn channel(&self, id: &ChannelId) -> Option<lightning_core::node::ChannelDetails> {
        self.with(|n| n.list_channels().into_iter().find(|c| c.channel_id == *id))
    }

    /// The channel with the peer `node_id` that is not closed.
    pub fn channel_with(
        &self,
        node_id: &PublicKey,
    ) -> Option<lightning_core::node::ChannelDetails> {
        self.with(|n| {
            n.list_channels().into_iter().find(|c| {
                c.counterparty == *node_id && c.phase != lightning_core::channel::Phase::Closed
            })
        })
    }

    /// Where our side of cooperative closes is paid.
    pub fn shutdown_script(&self) -> bitcoin::ScriptBuf {
        self.with(|n| n.shutdown_script())
    }
}

impl Drop for TcpHost {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn io_loop(
    shared: &Shared,
    listener: &TcpListener,
    chain: &SimChainHandle,
    wallet: Option<&SimWallet>,
) {
    let mut buf = vec![0u8; 65536];
    while !shared.stop.load(Ordering::SeqCst) {
        let busy = {
            let mut state = shared
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.frozen {
                false
            } else {
                round(&mut state, listener, chain, wallet, &mut buf)
            }
        };
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// One round of IO; returns whether anything moved.
fn round(
    state: &mut HostState,
    listener: &TcpListener,
    chain: &SimChainHandle,
    wallet: Option<&SimWallet>,
    buf: &mut [u8],
) -> bool {
    let mut busy = false;
    let now = now();
    if let Ok((stream, _)) = listener.accept() {
        stream.set_nodelay(true).unwrap();
        stream.set_nonblocking(true).unwrap();
        let peer = state.node.accept_inbound(now);
        state.conns.push(Conn {
            peer,
            stream,
            pending: VecDeque::new(),
            closing: false,
            closed: false,
        });
        busy = true;
    }

    // Reads.
    let mut read_any = false;
    for i in 0..state.conns.len() {
        if state.conns[i].closed || state.conns[i].closing {
            continue;
        }
        loop {
            let read = state.conns[i].stream.read(buf);
            match read {
                Ok(0) => {
                    state.conns[i].closed = true;
                    let peer = state.conns[i].peer;
                    state.node.peer_disconnected(peer);
                    break;
                }
                Ok(n) => {
                    busy = true;
                    read_any = true;
                    let peer = state.conns[i].peer;
                    if let Err(e) = state.node.handle_bytes(peer, &buf[..n], now) {
                        state.node_errors.push(e.to_string());
                        // The node closed it; its last bytes still go out.
                        state.conns[i].closing = true;
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    state.conns[i].closed = true;
                    let peer = state.conns[i].peer;
                    state.node.peer_disconnected(peer);
                    break;
                }
            }
        }
    }

    if read_any && state.freeze_when.as_ref().is_some_and(|f| f(&state.node)) {
        state.freeze_when = None;
        state.frozen = true;
        return true;
    }
    if read_any && state.freeze_after_reads > 0 {
        state.freeze_after_reads -= 1;
        if state.freeze_after_reads == 0 {
            state.frozen = true;
            return true;
        }
    }

    // Blocks, the timer, then events (funding from the wallet).
    let HostState {
        node,
        fed,
        events,
        errors,
        ..
    } = state;
    busy |= service(node, fed, chain, now, wallet, events, errors);

    // Writes.
    for i in 0..state.conns.len() {
        let peer = state.conns[i].peer;
        let mut wrote = false;
        while let Some(bytes) = state.node.poll_transmit(peer) {
            state.conns[i].pending.extend(bytes);
        }
        let conn = &mut state.conns[i];
        while !conn.pending.is_empty() && !conn.closed {
            let (front, _) = conn.pending.as_slices();
            match conn.stream.write(front) {
                Ok(n) => {
                    conn.pending.drain(..n);
                    wrote = true;
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    conn.closed = true;
                }
            }
        }
        if conn.closing && conn.pending.is_empty() && !conn.closed {
            let _ = conn.stream.shutdown(Shutdown::Both);
            conn.closed = true;
            continue;
        }
        if state.cut_after_writes > 0 && wrote && conn.pending.is_empty() && !conn.closed {
            state.cut_after_writes -= 1;
            if state.cut_after_writes == 0 {
                let _ = conn.stream.shutdown(Shutdown::Both);
                conn.closed = true;
                state.node.peer_disconnected(peer);
            }
        }
    }
    state.conns.retain(|c| !c.closed);
    busy
}
