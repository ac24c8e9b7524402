//! Two `Node`s in one process for the node-level payment bench: bytes
//! shuttled in memory (everything one side sent since the other last read
//! arrives as one `handle_bytes`, as one socket read brings it), blocks
//! from the simulated chain, each node persisting inline to its own
//! `KvStore` through a [`Counting`] wrapper.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::{Amount, Network};
use lightning_core::node::{Event, Node, NodeConfig, NodeHost, Persistence};
use lightning_core::peer::PeerId;
use lightning_core::prelude::{ChainListener, FeeRate, FixedFeeEstimator};
use lightning_core::Msat;
use lightning_persist::{BatchOp, KvStore, PersistError, Versioned};
use lightning_sim::{SimChainHandle, SimWallet};

/// Counts the durable operations (`write`, `remove`, `write_batch`: one
/// each), the records they carry and the bytes written.
pub struct Counting {
    inner: Arc<dyn KvStore>,
    pub ops: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counting {
    pub fn new(inner: Arc<dyn KvStore>) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            ops: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// (durable operations, records, bytes) so far.
    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.ops.load(Ordering::Relaxed),
            self.records.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    fn count(&self, records: u64, bytes: u64) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl KvStore for Counting {
    fn read(&self, namespace: &str, key: &str) -> Result<Option<Versioned>, PersistError> {
        self.inner.read(namespace, key)
    }
    fn write(&self, ns: &str, key: &str, version: u64, value: &[u8]) -> Result<(), PersistError> {
        self.count(1, value.len() as u64);
        self.inner.write(ns, key, version, value)
    }
    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistError> {
        self.count(1, 0);
        self.inner.remove(namespace, key)
    }
    fn list(&self, namespace: &str) -> Result<Vec<String>, PersistError> {
        self.inner.list(namespace)
    }
    fn list_prefix(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, PersistError> {
        self.inner.list_prefix(namespace, prefix)
    }
    fn write_batch(&self, ops: &[BatchOp]) -> Result<(), PersistError> {
        let bytes: usize = ops
            .iter()
            .map(|op| match op {
                BatchOp::Write { value, .. } => value.len(),
                BatchOp::Remove { .. } => 0,
            })
            .sum();
        self.count(ops.len() as u64, bytes as u64);
        self.inner.write_batch(ops)
    }
    fn batch_is_atomic(&self) -> bool {
        self.inner.batch_is_atomic()
    }
}

pub struct Side {
    pub node: Node,
    pub peer: PeerId,
    pub store: Arc<Counting>,
}

/// A third node serving as watchtower to both, with its connection to
/// each: (the peer id on A or B, the peer id on the tower).
pub struct TowerSide {
    pub node: Node,
    pub links: [(PeerId, PeerId); 2],
}

pub struct NodePair {
    pub chain: SimChainHandle,
    pub wallet: SimWallet,
    pub a: Side,
    pub b: Side,
    pub now: Duration,
    pub tower: Option<TowerSide>,
    /// The bytes moved between A and B so far, both ways (Noise frames:
    /// each message's body plus its 34 bytes of encrypted length and tags).
    pub wire_bytes: u64,
    fed: u32,
}

fn config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 1;
    c
}

/// The tower's seed byte.
const TOWER_SEED: u8 = 3;

fn node_with(seed: u8, chain: &SimChainHandle, store: Arc<Counting>, config: NodeConfig) -> Node {
    let host = NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
    };
    Node::builder(Network::Regtest)
        .config(config)
        .seed(&[seed; 32])
        .persistence(Persistence::Inline(store))
        .host(host)
        .best_block(chain.best_block())
        .build()
        .expect("node")
}

impl NodePair {
    /// Two nodes over `a` and `b`, connected, with a ready 10M sat channel
    /// holding 5M sat on each side.
    pub fn open(a: Arc<dyn KvStore>, b: Arc<dyn KvStore>) -> NodePair {
        Self::open_with(a, b, false)
    }

    /// As [`NodePair::open`]; with `tower`, a third node serves as
    /// watchtower to both (issue 21), connected to each: every revocation
    /// becomes a sealed justice kit sent to it and acknowledged.
    pub fn open_with(a: Arc<dyn KvStore>, b: Arc<dyn KvStore>, tower: bool) -> NodePair {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let (sa, sb) = (Counting::new(a), Counting::new(b));
        let now = Duration::from_secs(1_700_000_000);
        let mut tower_node = tower.then(|| {
            let mut c = config();
            c.watchtower.server = Some(Default::default());
            c.watchtower
                .server
                .as_mut()
                .expect("server")
                .max_updates_per_session = u16::MAX;
            let store = Counting::new(Arc::new(lightning_persist::MemoryStore::new()));
            node_with(TOWER_SEED, &chain, store, c)
        });
        let client = |seed: u8| {
            let mut c = config();
            if let Some(t) = &tower_node {
                c.watchtower.towers = vec![t.node_id()];
            }
            c.watchtower.max_queue = 1_000_000;
            (seed, c)
        };
        let (seed_a, config_a) = client(1);
        let (seed_b, config_b) = client(2);
        let mut na = node_with(seed_a, &chain, sa.clone(), config_a);
        let mut nb = node_with(seed_b, &chain, sb.clone(), config_b);
        let (pa, act_one) = na.connect_outbound(nb.node_id(), now);
        let pb = nb.accept_inbound(now);
        nb.handle_bytes(pb, &act_one, now).expect("act one");
        let tower = tower_node.take().map(|mut t| {
            let mut link = |n: &mut Node| {
                let (pn, act_one) = n.connect_outbound(t.node_id(), now);
                let pt = t.accept_inbound(now);
                t.handle_bytes(pt, &act_one, now).expect("act one");
                (pn, pt)
            };
            let links = [link(&mut na), link(&mut nb)];
            TowerSide { node: t, links }
        });
        let fed = chain.best_block().height;
        let mut pair = NodePair {
            chain,
            wallet,
            a: Side {
                node: na,
                peer: pa,
                store: sa,
            },
            b: Side {
                node: nb,
                peer: pb,
                store: sb,
            },
            now,
            tower,
            wire_bytes: 0,
            fed,
        };
        pair.shuttle();
        let b_id = pair.b.node.node_id();
        let temp = pair
            .a
            .node
            .open_channel(b_id, Amount::from_sat(10_000_000), Msat(5_000_000_000))
            .expect("open_channel");
        pair.shuttle();
        let (amount, script) = pair
            .take_events(true)
            .into_iter()
            .find_map(|e| match e {
                Event::FundingNeeded {
                    amount_sat,
                    script_pubkey,
                    ..
                } => Some((amount_sat, script_pubkey)),
                _ => None,
            })
            .expect("FundingNeeded");
        let tx = pair.wallet.fund(amount, &script).expect("fund");
        pair.a
            .node
            .funding_transaction_generated(temp, tx)
            .expect("funding");
        pair.shuttle();
        pair.mine(3);
        pair.shuttle();
        pair.take_events(true);
        pair.take_events(false);
        assert!(
            pair.a.node.list_channels().iter().all(|c| c.is_usable),
            "channel ready"
        );
        pair
    }

    fn mine(&mut self, n: usize) {
        self.chain.mine_blocks(n, &self.wallet.script_pubkey());
        let tip = self.chain.best_block().height;
        for h in self.fed + 1..=tip {
            let block = self.chain.block_at(h).expect("block");
            self.a.node.block_connected(&block, h);
            self.b.node.block_connected(&block, h);
        }
        self.fed = tip;
    }

    /// Every event of one side (the last `poll_event`, returning `None`,
    /// acknowledges the last one).
    pub fn take_events(&mut self, a: bool) -> Vec<Event> {
        let side = if a { &mut self.a } else { &mut self.b };
        std::iter::from_fn(|| side.node.poll_event()).collect()
    }

    /// Moves bytes both ways until both nodes are quiet; each side reads
    /// what the other sent so far in one `handle_bytes`.
    pub fn shuttle(&mut self) {
        let now = self.now;
        loop {
            let mut moved = self.shuttle_tower();
            for a_to_b in [true, false] {
                let (from, to) = if a_to_b {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                let mut bytes = Vec::new();
                while let Some(b) = from.node.poll_transmit(from.peer) {
                    bytes.extend_from_slice(&b);
                }
                if !bytes.is_empty() {
                    moved = true;
                    self.wire_bytes += bytes.len() as u64;
                    to.node
                        .handle_bytes(to.peer, &bytes, now)
                        .expect("honest bytes");
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// One round of bytes between the tower and each node; whether any
    /// moved.
    fn shuttle_tower(&mut self) -> bool {
        let now = self.now;
        let Some(t) = &mut self.tower else {
            return false;
        };
        let mut moved = false;
        for (side, (pn, pt)) in [&mut self.a, &mut self.b].into_iter().zip(t.links) {
            let mut bytes = Vec::new();
            while let Some(b) = side.node.poll_transmit(pn) {
                bytes.extend_from_slice(&b);
            }
            if !bytes.is_empty() {
                moved = true;
                t.node.handle_bytes(pt, &bytes, now).expect("honest bytes");
            }
            let mut back = Vec::new();
            while let Some(b) = t.node.poll_transmit(pt) {
                back.extend_from_slice(&b);
            }
            if !back.is_empty() {
                moved = true;
                side.node
                    .handle_bytes(pn, &back, now)
                    .expect("honest bytes");
            }
        }
        moved
    }

    /// One payment of `amount_msat` over an invoice, A to B or B to A,
    /// both sides' events taken (and acknowledged) at the end.
    pub fn pay(&mut self, a_to_b: bool, amount_msat: u64) {
        let now = self.now;
        let (payer, payee) = if a_to_b {
            (&mut self.a, &mut self.b)
        } else {
            (&mut self.b, &mut self.a)
        };
        let invoice = payee
            .node
            .create_invoice(
                Some(Msat(amount_msat)),
                "bench",
                Duration::from_secs(3600),
                now,
            )
            .expect("invoice");
        payer.node.pay_invoice(&invoice, now).expect("pay_invoice");
        self.shuttle();
        let sent = self
            .take_events(a_to_b)
            .iter()
            .any(|e| matches!(e, Event::PaymentSent { .. }));
        let received = self
            .take_events(!a_to_b)
            .iter()
            .any(|e| matches!(e, Event::PaymentReceived { .. }));
        assert!(sent && received, "the payment went through");
    }

    /// (durable operations, records, bytes) over both sides.
    pub fn totals(&self) -> (u64, u64, u64) {
        let (a, b) = (self.a.store.totals(), self.b.store.totals());
        (a.0 + b.0, a.1 + b.1, a.2 + b.2)
    }
}
