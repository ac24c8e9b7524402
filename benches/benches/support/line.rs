//! Three whole `Node`s in a line, A - B - C, in one process for the
//! forward bench (after `lightning-core/tests/forward_support`, in the
//! shape of `node.rs`): bytes shuttled in memory over the two links
//! (everything one side sent since the other last read arrives as one
//! `handle_bytes`, as one socket read brings it), blocks from the
//! simulated chain, each node persisting inline to its own `KvStore`
//! through a [`Counting`] wrapper.
//!
//! Every call into B's `Node` (`handle_bytes`, `poll_transmit`,
//! `poll_event`, and `handle_timeout` when `next_timeout` says it is due)
//! is timed into [`Line::b_time`]; A's and C's calls are not. Simulated
//! time does not advance during the bench, so no ping, gossip or retry
//! timer falls due: B's timer check is made once per forward.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::{Amount, Network};
use lightning_core::node::{Event, Node, NodeConfig, NodeHost, Persistence, Route, RouteHop};
use lightning_core::peer::PeerId;
use lightning_core::prelude::ChainListener;
use lightning_core::prelude::{FeeRate, FixedFeeEstimator};
use lightning_core::Msat;
use lightning_persist::KvStore;
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_wire::types::{ChannelId, ShortChannelId};

use super::node_support::Counting;

/// The forwarding node's index.
pub const B: usize = 1;

pub struct Member {
    pub node: Node,
    pub store: Arc<Counting>,
    /// The bytes this member sent and received, Noise frames.
    pub wire_bytes: u64,
}

/// A connection: members `a` and `b`, the peer id each has for the other.
struct Link {
    a: usize,
    b: usize,
    pa: PeerId,
    pb: PeerId,
}

pub struct Line {
    pub chain: SimChainHandle,
    pub wallet: SimWallet,
    pub members: Vec<Member>,
    links: Vec<Link>,
    pub now: Duration,
    /// Time spent in B's calls so far.
    pub b_time: Duration,
    /// Channels A - B and B - C.
    pub ab: ChannelId,
    pub bc: ChannelId,
    fed: u32,
    /// The routes A -> B -> C and C -> B -> A for `amount_msat`.
    routes: [Route; 2],
    amount_msat: u64,
}

fn config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 1;
    c
}

fn node(seed: u8, chain: &SimChainHandle, store: Arc<Counting>) -> Node {
    let host = NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
    };
    Node::builder(Network::Regtest)
        .config(config())
        .seed(&[seed; 32])
        .persistence(Persistence::Inline(store))
        .host(host)
        .best_block(chain.best_block())
        .build()
        .expect("node")
}

impl Line {
    /// A, B and C over `stores`, connected A - B and B - C, with a ready
    /// 10M sat channel on each link holding 5M sat on each side; the
    /// routes for payments of `amount_msat` prepared.
    pub fn open(stores: [Arc<dyn KvStore>; 3], amount_msat: u64) -> Line {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let now = Duration::from_secs(1_700_000_000);
        let members: Vec<Member> = stores
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let store = Counting::new(s);
                Member {
                    node: node(i as u8 + 1, &chain, store.clone()),
                    store,
                    wire_bytes: 0,
                }
            })
            .collect();
        let fed = chain.best_block().height;
        let mut line = Line {
            chain,
            wallet,
            members,
            links: Vec::new(),
            now,
            b_time: Duration::ZERO,
            ab: ChannelId::default(),
            bc: ChannelId::default(),
            fed,
            routes: [Route::default(), Route::default()],
            amount_msat,
        };
        for (a, b) in [(0, 1), (1, 2)] {
            let b_id = line.members[b].node.node_id();
            let (pa, act_one) = line.members[a].node.connect_outbound(b_id, now);
            let pb = line.members[b].node.accept_inbound(now);
            line.members[b]
                .node
                .handle_bytes(pb, &act_one, now)
                .expect("act one");
            line.links.push(Link { a, b, pa, pb });
        }
        line.shuttle();
        line.ab = line.open_channel(0, 1);
        line.bc = line.open_channel(1, 2);
        for i in 0..3 {
            line.take_events(i);
        }
        line.routes = [line.route(false), line.route(true)];
        line.b_time = Duration::ZERO;
        line
    }

    /// Member `from` opens a 10M sat channel to `to`, pushing 5M sat.
    fn open_channel(&mut self, from: usize, to: usize) -> ChannelId {
        let to_id = self.members[to].node.node_id();
        let temp = self.members[from]
            .node
            .open_channel(to_id, Amount::from_sat(10_000_000), Msat(5_000_000_000))
            .expect("open_channel");
        self.shuttle();
        let (amount, script) = self
            .take_events(from)
            .into_iter()
            .find_map(|e| match e {
                Event::FundingNeeded {
                    temporary_channel_id,
                    amount_sat,
                    script_pubkey,
                    ..
                } if temporary_channel_id == temp => Some((amount_sat, script_pubkey)),
                _ => None,
            })
            .expect("FundingNeeded");
        let tx = self.wallet.fund(amount, &script).expect("fund");
        let id = self.members[from]
            .node
            .funding_transaction_generated(temp, tx)
            .expect("funding");
        self.shuttle();
        self.mine(3);
        self.shuttle();
        for m in [from, to] {
            assert!(
                self.members[m]
                    .node
                    .list_channels()
                    .iter()
                    .any(|c| c.channel_id == id && c.is_usable),
                "channel usable"
            );
        }
        id
    }

    fn mine(&mut self, n: usize) {
        self.chain.mine_blocks(n, &self.wallet.script_pubkey());
        let tip = self.chain.best_block().height;
        for h in self.fed + 1..=tip {
            let block = self.chain.block_at(h).expect("block");
            for m in &mut self.members {
                m.node.block_connected(&block, h);
            }
        }
        self.fed = tip;
    }

    fn scid(&self, member: usize, id: ChannelId) -> ShortChannelId {
        self.members[member]
            .node
            .list_channels()
            .iter()
            .find(|c| c.channel_id == id)
            .and_then(|c| c.short_channel_id)
            .expect("the channel has a short_channel_id")
    }

    /// The route through B: A -> C, or with `from_c` C -> A, B charging
    /// what its configuration announces.
    fn route(&self, from_c: bool) -> Route {
        let g = &self.members[B].node.config().gossip;
        let fee = u64::from(g.fee_base_msat)
            + self.amount_msat * u64::from(g.fee_proportional_millionths) / 1_000_000;
        let (first, second, payee) = if from_c {
            (self.bc, self.ab, 0)
        } else {
            (self.ab, self.bc, 2)
        };
        let payer = 2 - payee;
        Route {
            hops: vec![
                RouteHop {
                    node_id: self.members[B].node.node_id(),
                    short_channel_id: self.scid(payer, first),
                    fee_msat: fee,
                    cltv_expiry_delta: u32::from(g.cltv_expiry_delta),
                },
                RouteHop {
                    node_id: self.members[payee].node.node_id(),
                    short_channel_id: self.scid(B, second),
                    fee_msat: 0,
                    cltv_expiry_delta: 0,
                },
            ],
        }
    }

    /// Runs `f` on member `i`'s node, timed into `b_time` when it is B.
    fn call<R>(&mut self, i: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        if i != B {
            return f(&mut self.members[i].node);
        }
        let start = Instant::now();
        let r = f(&mut self.members[i].node);
        self.b_time += start.elapsed();
        r
    }

    /// Every event of member `i` (the last `poll_event`, returning `None`,
    /// acknowledges the last one).
    pub fn take_events(&mut self, i: usize) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(e) = self.call(i, |n| n.poll_event()) {
            events.push(e);
        }
        events
    }

    /// Moves bytes over both links until every node is quiet; each side
    /// reads what the other sent so far in one `handle_bytes`.
    pub fn shuttle(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            for l in 0..self.links.len() {
                for forward in [true, false] {
                    let link = &self.links[l];
                    let (from, to, fp, tp) = if forward {
                        (link.a, link.b, link.pa, link.pb)
                    } else {
                        (link.b, link.a, link.pb, link.pa)
                    };
                    let mut bytes = Vec::new();
                    while let Some(b) = self.call(from, |n| n.poll_transmit(fp)) {
                        bytes.extend_from_slice(&b);
                    }
                    if bytes.is_empty() {
                        continue;
                    }
                    moved = true;
                    self.members[from].wire_bytes += bytes.len() as u64;
                    self.members[to].wire_bytes += bytes.len() as u64;
                    self.call(to, |n| n.handle_bytes(tp, &bytes, now))
                        .expect("honest bytes");
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// One payment of `amount_msat` over an invoice, A to C through B, or
    /// with `from_c` C to A through B; every node's events taken (and
    /// acknowledged) at the end, B's timer run if due.
    pub fn pay(&mut self, from_c: bool) {
        let now = self.now;
        let (payer, payee) = if from_c { (2, 0) } else { (0, 2) };
        let invoice = self.members[payee]
            .node
            .create_invoice(
                Some(Msat(self.amount_msat)),
                "bench",
                Duration::from_secs(3600),
                now,
            )
            .expect("invoice");
        let route = &self.routes[usize::from(from_c)];
        self.members[payer]
            .node
            .pay_invoice_with_route(&invoice, route, now)
            .expect("pay_invoice_with_route");
        self.shuttle();
        let sent = self
            .take_events(payer)
            .iter()
            .any(|e| matches!(e, Event::PaymentSent { .. }));
        let received = self
            .take_events(payee)
            .iter()
            .any(|e| matches!(e, Event::PaymentReceived { .. }));
        let forwarded = self
            .take_events(B)
            .iter()
            .any(|e| matches!(e, Event::PaymentForwarded { .. }));
        if self.call(B, |n| n.next_timeout().is_some_and(|t| t <= now)) {
            self.call(B, |n| n.handle_timeout(now));
            self.shuttle();
        }
        assert!(sent && received && forwarded, "the payment went through B");
    }
}
