//! Whole-node fuzz target (`node_full_stack`): one [`Node`] with a
//! [`MemoryStore`], an honest second `Node` it can open channels with and
//! pay, and up to [`SLOTS`] hostile peers
//! ([`HostilePeer`]), all
//! driven by the input.
//!
//! The input is a sequence of operations, each one byte of opcode
//! (`op % 20`) and its arguments:
//!
//! | op | arguments | what |
//! | --- | --- | --- |
//! | 0 | slot | a hostile peer connects (Noise + `init`), replacing the slot's |
//! | 1 | slot, len: u16, bytes | it sends `bytes` as one encrypted message |
//! | 2 | slot, len: u8, bytes | it writes `bytes` to the socket raw |
//! | 3 | slot | it disconnects |
//! | 4 | slot | it reads what the node sent (every message must decode) |
//! | 5 | secs: u8 | time passes (`secs` × 4 s), timers run |
//! | 6 | n: u8 | `n % 8 + 1` blocks are mined and fed to both nodes |
//! | 7 | amount: u8 | the node opens a channel to the honest peer and funds it |
//! | 8 | amount: u8 | the honest peer opens a channel to the node and funds it |
//! | 9 | amount: u8 | the honest peer pays an invoice of the node |
//! | 10 | amount: u8 | the node pays an invoice of the honest peer |
//! | 11 | index: u8 | the node closes a channel cooperatively |
//! | 12 | index: u8 | the node force-closes a channel |
//! | 13 | — | bytes move between the node and the honest peer until quiet |
//! | 14 | — | the honest peer reconnects |
//! | 15 | slot, id: u8, amount: u8 | the hostile peer sends a valid `open_channel` (a template) with this temporary id and funding |
//! | 16 | slot | the node opens a channel to the hostile peer |
//! | 17 | amount: u8 | the node creates an invoice |
//! | 18 | — | restore check (below) |
//! | 19 | slot, count: u8, len: u16 | the hostile peer sends `count` unknown odd messages of `len` bytes (a flood) |
//!
//! Invariants, checked after every operation: no panic; the node and the
//! honest peer go quiet within [`QUIET_WITHIN`] writes (no `error` ping-pong); the node holds at
//! most one channel per `open_channel` it received or sent (plus one);
//! what it queues for a hostile peer stays within the outbound bound plus
//! one message; every message it sends a hostile peer decrypts and
//! decodes; and, at op 18 and at the end, a node restored from the
//! `MemoryStore` alone equals the running one in what is comparable: every
//! restored channel equals the running one (id, counterparty, direction,
//! phase, funding outpoint, capacity, balance), every channel past funding
//! (awaiting `channel_ready`, normal, shutting down, closed) is restored,
//! and the invoices and payments are equal.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bitcoin::Network;
use lightning_chain::{ChainListener, FeeRate, FixedFeeEstimator};
use lightning_core::channel::Phase;
use lightning_core::node::{
    ChannelDetails, Event, Node, NodeBuilder, NodeConfig, NodeHost, Persistence,
};
use lightning_core::peer::PeerId;
use lightning_persist::MemoryStore;
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_test_support::hostile::{unknown_odd, HostileError, HostilePeer};
use lightning_wire::msgs::{Message, OpenChannel};
use lightning_wire::types::ChannelId;

/// Hostile peer slots.
pub const SLOTS: usize = 4;
/// Operations run per input at most (longer inputs are cut).
pub const MAX_OPS: usize = 64;
/// Outbound bytes the node may hold for one peer (`PeerConfig` default)
/// plus one maximal frame.
const OUTBOUND_BOUND: usize = (1 << 20) + 65_535 + 34;

/// Socket writes each way within which the node and the honest peer must
/// go quiet (an open, a payment or a close takes a few dozen).
pub const QUIET_WITHIN: usize = 100;

pub(crate) const SEED: [u8; 32] = [0x11; 32];
const HONEST_SEED: [u8; 32] = [0x22; 32];

pub(crate) fn config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 1;
    c
}

pub(crate) fn host(chain: &SimChainHandle) -> NodeHost {
    NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
    }
}

/// A valid `open_channel` from a throwaway node, built once.
fn template() -> &'static OpenChannel {
    static T: OnceLock<OpenChannel> = OnceLock::new();
    T.get_or_init(|| {
        let chain = SimChainHandle::new();
        let store = Arc::new(MemoryStore::new());
        let mut node = NodeBuilder::from_config(config())
            .seed(&[0x33; 32])
            .persistence(Persistence::Inline(store))
            .host(host(&chain))
            .best_block(chain.best_block())
            .build()
            .expect("a node");
        let now = Duration::from_secs(1_700_000_000);
        let mut peer = HostilePeer::connect(&mut node, [0x44; 32], now).expect("connects");
        node.open_channel(
            peer.node_id(),
            bitcoin::Amount::from_sat(100_000),
            lightning_core::amount::Msat(0),
        )
        .expect("opens");
        peer.recv_messages(&mut node)
            .expect("decodes")
            .into_iter()
            .find_map(|m| match m {
                Message::OpenChannel(o) => Some(o),
                _ => None,
            })
            .expect("an open_channel")
    })
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

struct World {
    chain: SimChainHandle,
    wallet: SimWallet,
    node: Node,
    store: Arc<MemoryStore>,
    honest: Node,
    honest_peer: Option<(PeerId, PeerId)>,
    fed: u32,
    hostile: [Option<HostilePeer>; SLOTS],
    now: Duration,
    /// `open_channel`s the node received or sent.
    opens: usize,
}

impl World {
    fn new() -> World {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let store = Arc::new(MemoryStore::new());
        let node = NodeBuilder::from_config(config())
            .seed(&SEED)
            .persistence(Persistence::Inline(store.clone()))
            .host(host(&chain))
            .best_block(chain.best_block())
            .build()
            .expect("a node");
        let honest = NodeBuilder::from_config(config())
            .seed(&HONEST_SEED)
            .persistence(Persistence::Inline(Arc::new(MemoryStore::new())))
            .host(host(&chain))
            .best_block(chain.best_block())
            .build()
            .expect("a node");
        let fed = chain.best_block().height;
        let mut w = World {
            chain,
            wallet,
            node,
            store,
            honest,
            honest_peer: None,
            fed,
            hostile: Default::default(),
            now: Duration::from_secs(1_700_000_000),
            opens: 0,
        };
        w.connect_honest();
        w
    }

    fn connect_honest(&mut self) {
        if let Some((h, n)) = self.honest_peer.take() {
            self.honest.peer_disconnected(h);
            self.node.peer_disconnected(n);
        }
        let (h, act_one) = self.honest.connect_outbound(self.node.node_id(), self.now);
        let n = self.node.accept_inbound(self.now);
        self.honest_peer = Some((h, n));
        let _ = self.node.handle_bytes(n, &act_one, self.now);
        self.shuttle();
    }

    /// Moves bytes between the node and the honest peer until quiet.
    fn shuttle(&mut self) {
        let Some((h, n)) = self.honest_peer else {
            return;
        };
        for round in 0.. {
            // Two nodes that fail a channel must not answer each other's
            // `error` for ever (issue 13, finding 2).
            assert!(
                round < QUIET_WITHIN,
                "the node and the honest peer never went quiet"
            );
            let mut moved = false;
            if let Some(b) = self.node.poll_transmit(n) {
                moved = true;
                let _ = self.honest.handle_bytes(h, &b, self.now);
            }
            if let Some(b) = self.honest.poll_transmit(h) {
                moved = true;
                let _ = self.node.handle_bytes(n, &b, self.now);
            }
            if !moved {
                break;
            }
        }
        self.handle_funding();
    }

    /// Funds every channel either node asked funding for.
    fn handle_funding(&mut self) {
        for which in [false, true] {
            loop {
                let node = if which {
                    &mut self.honest
                } else {
                    &mut self.node
                };
                let Some(event) = node.poll_event() else {
                    break;
                };
                if let Event::FundingNeeded {
                    temporary_channel_id,
                    amount_sat,
                    script_pubkey,
                    ..
                } = event
                {
                    let Ok(tx) = self.wallet.fund(amount_sat, &script_pubkey) else {
                        continue;
                    };
                    let node = if which {
                        &mut self.honest
                    } else {
                        &mut self.node
                    };
                    if node
                        .funding_transaction_generated(temporary_channel_id, tx.clone())
                        .is_err()
                    {
                        self.wallet.release(&tx);
                    }
                }
            }
        }
    }

    fn mine(&mut self, n: usize) {
        self.chain.mine_blocks(n, &self.wallet.script_pubkey());
        let tip = self.chain.best_block().height;
        for h in self.fed + 1..=tip {
            if let Some(block) = self.chain.block_at(h) {
                self.node.block_connected(&block, h);
                self.honest.block_connected(&block, h);
            }
        }
        self.fed = tip;
    }

    fn connect_hostile(&mut self, slot: usize) {
        if let Some(mut p) = self.hostile[slot].take() {
            p.disconnect(&mut self.node);
        }
        let mut key = [0x50; 32];
        key[0] = slot as u8 + 1;
        self.hostile[slot] = HostilePeer::connect(&mut self.node, key, self.now).ok();
    }

    fn slot(&mut self, slot: u8) -> Option<&mut HostilePeer> {
        let slot = usize::from(slot) % SLOTS;
        if self.hostile[slot].is_none() {
            self.connect_hostile(slot);
        }
        self.hostile[slot].as_mut()
    }

    fn nth_channel(&self, index: u8) -> Option<ChannelId> {
        let list = self.node.list_channels();
        if list.is_empty() {
            return None;
        }
        Some(list[usize::from(index) % list.len()].channel_id)
    }

    fn amount_sat(a: u8) -> u64 {
        20_000 + u64::from(a) * 4_000
    }

    fn step(&mut self, input: &mut Input<'_>) -> Option<()> {
        let op = input.u8()? % 20;
        let now = self.now;
        match op {
            0 => {
                let slot = usize::from(input.u8()?) % SLOTS;
                self.connect_hostile(slot);
            }
            1 => {
                let slot = input.u8()?;
                let len = usize::from(input.u16()?);
                let bytes = input.bytes(len).to_vec();
                if bytes.get(..2) == Some(&32u16.to_be_bytes()[..]) {
                    self.opens += 1;
                }
                self.with_slot(slot, |p, node| {
                    let _ = p.send_payload(node, &bytes, now);
                });
            }
            2 => {
                let slot = input.u8()?;
                let len = usize::from(input.u8()?);
                let bytes = input.bytes(len).to_vec();
                self.with_slot(slot, |p, node| {
                    let _ = p.send_bytes(node, &bytes, now);
                });
            }
            3 => {
                let slot = usize::from(input.u8()?) % SLOTS;
                if let Some(mut p) = self.hostile[slot].take() {
                    p.disconnect(&mut self.node);
                }
            }
            4 => {
                let slot = input.u8()?;
                self.with_slot(slot, |p, node| match p.recv_messages(node) {
                    Ok(_) | Err(HostileError::Deaf) => {}
                    Err(e) => panic!("the node sent a hostile peer something bad: {e}"),
                });
            }
            5 => {
                self.now += Duration::from_secs(u64::from(input.u8()?) * 4);
                self.node.handle_timeout(self.now);
                self.honest.handle_timeout(self.now);
            }
            6 => {
                let n = usize::from(input.u8()? % 8) + 1;
                self.mine(n);
                self.shuttle();
            }
            7 => {
                let amount = Self::amount_sat(input.u8()?);
                let id = self.honest.node_id();
                if self
                    .node
                    .open_channel(
                        id,
                        bitcoin::Amount::from_sat(amount),
                        lightning_core::amount::Msat(0),
                    )
                    .is_ok()
                {
                    self.opens += 1;
                }
                self.shuttle();
                self.shuttle();
            }
            8 => {
                let amount = Self::amount_sat(input.u8()?);
                let id = self.node.node_id();
                if self
                    .honest
                    .open_channel(
                        id,
                        bitcoin::Amount::from_sat(amount),
                        lightning_core::amount::Msat(0),
                    )
                    .is_ok()
                {
                    self.opens += 1;
                }
                self.shuttle();
                self.shuttle();
            }
            9 => {
                let msat = u64::from(input.u8()?) * 10_000 + 1_000;
                if let Ok(inv) = self.node.create_invoice(
                    Some(lightning_core::amount::Msat(msat)),
                    "fuzz",
                    std::time::Duration::from_secs(3600),
                    now,
                ) {
                    let _ = self.honest.pay_invoice(&inv, now);
                }
                self.shuttle();
            }
            10 => {
                let msat = u64::from(input.u8()?) * 10_000 + 1_000;
                if let Ok(inv) = self.honest.create_invoice(
                    Some(lightning_core::amount::Msat(msat)),
                    "fuzz",
                    std::time::Duration::from_secs(3600),
                    now,
                ) {
                    let _ = self.node.pay_invoice(&inv, now);
                }
                self.shuttle();
            }
            11 => {
                if let Some(id) = self.nth_channel(input.u8()?) {
                    let _ = self.node.close_channel(id);
                }
                self.shuttle();
            }
            12 => {
                if let Some(id) = self.nth_channel(input.u8()?) {
                    let _ = self.node.force_close_channel(id);
                }
                self.shuttle();
            }
            13 => self.shuttle(),
            14 => self.connect_honest(),
            15 => {
                let slot = input.u8()?;
                let id = input.u8()?;
                let amount = Self::amount_sat(input.u8()?);
                let mut open = template().clone();
                open.temporary_channel_id = ChannelId([id; 32]);
                open.funding_satoshis = amount;
                self.opens += 1;
                self.with_slot(slot, |p, node| {
                    let _ = p.send(node, &Message::OpenChannel(open), now);
                });
            }
            16 => {
                let slot = input.u8()?;
                let Some(id) = self.slot(slot).map(|p| p.node_id()) else {
                    return Some(());
                };
                if self
                    .node
                    .open_channel(
                        id,
                        bitcoin::Amount::from_sat(100_000),
                        lightning_core::amount::Msat(0),
                    )
                    .is_ok()
                {
                    self.opens += 1;
                }
            }
            17 => {
                let msat = u64::from(input.u8()?) * 1_000;
                let _ = self.node.create_invoice(
                    Some(lightning_core::amount::Msat(msat)),
                    "fuzz",
                    std::time::Duration::from_secs(3600),
                    now,
                );
            }
            18 => self.check_restore(),
            _ => {
                let slot = input.u8()?;
                let count = usize::from(input.u8()? % 32);
                let len = usize::from(input.u16()?);
                self.with_slot(slot, |p, node| {
                    let junk = unknown_odd(0x8001, len);
                    for _ in 0..count {
                        if p.send_payload(node, &junk, now).is_err() {
                            break;
                        }
                    }
                });
            }
        }
        // Events nobody reads are the host's business; funding requests
        // are served.
        self.handle_funding();
        self.check_bounds();
        Some(())
    }

    fn with_slot(&mut self, slot: u8, f: impl FnOnce(&mut HostilePeer, &mut Node)) {
        let slot = usize::from(slot) % SLOTS;
        if self.hostile[slot].is_none() {
            self.connect_hostile(slot);
        }
        if let Some(p) = self.hostile[slot].as_mut() {
            f(p, &mut self.node);
        }
    }

    fn check_bounds(&mut self) {
        let channels = self.node.list_channels().len();
        assert!(
            channels <= self.opens + 1,
            "{channels} channels from {} open_channel messages",
            self.opens
        );
        for p in self.hostile.iter_mut().flatten() {
            let before = p.bytes_received();
            match p.pull(&mut self.node) {
                Ok(_) | Err(HostileError::Deaf) => {}
                Err(e) => panic!("the node sent a hostile peer something bad: {e}"),
            }
            let queued = p.bytes_received() - before;
            assert!(
                queued <= OUTBOUND_BOUND,
                "{queued} bytes queued for one peer"
            );
            // Keep only the newest messages (a test would read them).
            let _ = p.recv(&mut self.node);
        }
    }

    /// A node restored from the store alone equals the running one in its
    /// funded channels, invoices and payments.
    fn check_restore(&mut self) {
        assert!(
            self.node.persist_failure().is_none(),
            "{:?}",
            self.node.persist_failure()
        );
        let restored = NodeBuilder::from_config(config())
            .seed(&SEED)
            .persistence(Persistence::Async(self.store.clone()))
            .host(host(&self.chain))
            .best_block(self.node.best_block())
            .build()
            .expect("the store restores");
        // A channel as the store can know it.
        let key = |c: &ChannelDetails| {
            (
                c.channel_id,
                c.counterparty,
                c.is_outbound,
                c.phase,
                c.funding_txo,
                c.capacity_sat,
                c.local_balance_msat,
            )
        };
        let running: BTreeMap<ChannelId, _> = self
            .node
            .list_channels()
            .iter()
            .map(|c| (c.channel_id, key(c)))
            .collect();
        // Every restored channel is the running node's, unchanged.
        for c in restored.list_channels() {
            assert_eq!(
                running.get(&c.channel_id),
                Some(&key(&c)),
                "restored channel differs"
            );
        }
        // Every channel past funding is restored, failed ones included: a
        // channel that fails before it could be funded is forgotten at once
        // (`an_unfunded_channel_that_failed_is_forgotten` in
        // lightning-core/tests/hostile_peer.rs), so a `Failed` channel the
        // running node still lists was funded and written.
        let restored_ids: Vec<ChannelId> = restored
            .list_channels()
            .iter()
            .map(|c| c.channel_id)
            .collect();
        for (id, c) in &running {
            let live = matches!(
                c.3,
                Phase::AwaitingChannelReady
                    | Phase::Normal
                    | Phase::ShuttingDown
                    | Phase::Closed
                    | Phase::Failed
            );
            assert!(
                !live || restored_ids.contains(id),
                "channel {c:?} is not restored"
            );
        }
        assert_eq!(
            self.node.list_invoices(),
            restored.list_invoices(),
            "invoices"
        );
        assert_eq!(
            self.node.list_payments(),
            restored.list_payments(),
            "payments"
        );
    }
}

/// What an input reached (for checking that the seed corpus gets deep).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reached {
    /// Operations run.
    pub ops: usize,
    /// The most usable channels the node had at once.
    pub usable_channels: usize,
    /// Payments the node sent that succeeded.
    pub payments_sent: usize,
    /// Invoices of the node that were paid.
    pub invoices_paid: usize,
    /// Hostile connections that completed `init`.
    pub hostile_connected: usize,
}

/// Runs `data` and returns what it reached; panics on a broken invariant.
pub fn run(data: &[u8]) -> Reached {
    run_world(data).0
}

/// Runs `data` and returns the node's store afterwards (the seeds of the
/// `node_records` target are real records).
pub fn store_after(data: &[u8]) -> Arc<MemoryStore> {
    run_world(data).1.store
}

fn run_world(data: &[u8]) -> (Reached, World) {
    let mut world = World::new();
    let mut input = Input(data);
    let mut reached = Reached::default();
    for _ in 0..MAX_OPS {
        if world.step(&mut input).is_none() {
            break;
        }
        reached.ops += 1;
        let usable = world
            .node
            .list_channels()
            .iter()
            .filter(|c| c.is_usable)
            .count();
        reached.usable_channels = reached.usable_channels.max(usable);
        let hostile = world
            .hostile
            .iter()
            .flatten()
            .filter(|p| p.is_connected(&world.node))
            .count();
        reached.hostile_connected = reached.hostile_connected.max(hostile);
    }
    world.check_restore();
    reached.payments_sent = world
        .node
        .list_payments()
        .iter()
        .filter(|p| p.status == lightning_core::node::PaymentStatus::Succeeded)
        .count();
    reached.invoices_paid = world
        .node
        .list_invoices()
        .iter()
        .filter(|i| i.status == lightning_core::node::InvoiceStatus::Paid)
        .count();
    (reached, world)
}

/// The target.
pub fn node_full_stack(data: &[u8]) {
    run(data);
}
