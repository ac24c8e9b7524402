//! Three (or more) `Node`s in one process on a simulated chain, linked in
//! a line (A - B - C), bytes shuttled in memory, each node persisting
//! inline to its own `MemoryStore`. Any node can be restarted from its
//! store alone, in place of any transmission it makes (crash testing),
//! and messages on a link can be held back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, Network};
use lightning_chain::BestBlock;
use lightning_core::amount::Msat;
use lightning_core::node::{
    Event, Node, NodeBuilder, NodeConfig, PaymentStatus, Persistence, Route, RouteHop,
};
use lightning_core::peer::PeerId;
use lightning_persist::MemoryStore;
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_test_support::host::{feed_blocks, node_host, take_events};
use lightning_wire::types::{ChannelId, ShortChannelId};

pub struct Member {
    pub name: &'static str,
    pub seed: u8,
    pub config: NodeConfig,
    pub node: Node,
    pub store: Arc<MemoryStore>,
    pub events: Vec<Event>,
    pub fed: u32,
    /// Persists through `poll_persist` (async) rather than inline.
    pub is_async: bool,
    /// Async: the harness completes writes by itself.
    pub auto_complete: bool,
}

impl Member {
    /// Async: makes every handed-out batch durable and reports it; the
    /// number of batches.
    pub fn complete_writes(&mut self) -> usize {
        let mut n = 0;
        while let Some(req) = self.node.poll_persist() {
            req.apply(&*self.store).unwrap();
            self.node.persist_completed(req.id);
            n += 1;
        }
        n
    }

    fn build(&mut self, chain: &SimChainHandle) {
        let best = chain
            .block_at(self.fed)
            .map(|b| BestBlock::new(b.block_hash(), self.fed))
            .unwrap();
        self.node = NodeBuilder::from_config(self.config.clone())
            .seed(&[self.seed; 32])
            .persistence(if self.is_async {
                Persistence::Async(self.store.clone())
            } else {
                Persistence::Inline(self.store.clone())
            })
            .host(node_host(chain))
            .best_block(best)
            .build()
            .unwrap();
        if self.is_async && self.auto_complete {
            self.complete_writes();
        }
    }

    pub fn id(&self) -> PublicKey {
        self.node.node_id()
    }

    /// Every event so far, taken.
    pub fn take_events(&mut self) -> Vec<Event> {
        take_events(&mut self.node, &mut self.events, None, &mut Vec::new());
        std::mem::take(&mut self.events)
    }

    /// This node's balance in channel `id`, msat.
    pub fn local_msat(&self, id: ChannelId) -> u64 {
        self.node
            .list_channels()
            .iter()
            .find(|c| c.channel_id == id)
            .map(|c| c.local_balance_msat.0)
            .unwrap()
    }

    pub fn scid(&self, id: ChannelId) -> ShortChannelId {
        self.node
            .list_channels()
            .iter()
            .find(|c| c.channel_id == id)
            .and_then(|c| c.short_channel_id)
            .expect("the channel has a short_channel_id")
    }

    pub fn payment_status(
        &self,
        hash: &lightning_core::node::PaymentHash,
    ) -> Option<PaymentStatus> {
        self.node
            .list_payments()
            .into_iter()
            .find(|p| p.payment_hash == *hash)
            .map(|p| p.status)
    }
}

/// A connection between members `a` and `b`.
pub struct Link {
    pub a: usize,
    pub b: usize,
    pub pa: Option<PeerId>,
    pub pb: Option<PeerId>,
    /// Messages from this member on this link are held (not delivered).
    pub hold_from: Option<usize>,
}

pub struct Line {
    pub chain: SimChainHandle,
    pub wallet: SimWallet,
    pub members: Vec<Member>,
    pub links: Vec<Link>,
    pub now: Duration,
    /// Transmissions made by `crash_member` so far.
    pub steps: usize,
    /// Restart `crash_member` in place of its transmission number `n`.
    pub crash_at: Option<usize>,
    pub crash_member: usize,
    pub crashes: usize,
}

/// The configuration every member starts from.
pub fn config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 3;
    c
}

impl Line {
    /// `n` members in a line, member `i` configured by `configure(i, _)`,
    /// each connected to the next (no channels yet).
    /// A - B - C with default configurations, a channel of
    /// `capacity_sat` opened by the left node on each link, no push, and
    /// every member's events so far taken. Gives the channels A-B, B-C.
    pub fn a_b_c(capacity_sat: u64) -> (Line, ChannelId, ChannelId) {
        let mut line = Line::new(3, |_, _| {});
        let ab = line.open_channel(0, 1, capacity_sat, 0);
        let bc = line.open_channel(1, 2, capacity_sat, 0);
        for m in &mut line.members {
            m.take_events();
        }
        (line, ab, bc)
    }

    pub fn new(n: usize, configure: impl Fn(usize, &mut NodeConfig)) -> Line {
        let chain = SimChainHandle::new();
        let wallet = SimWallet::from_seed([9; 32], chain.clone());
        chain.mine_blocks(101, &wallet.script_pubkey());
        let names = ["alice", "bob", "carol", "dave", "erin", "frank"];
        let mut members = Vec::new();
        for (i, name) in names.iter().enumerate().take(n) {
            let mut config = config();
            configure(i, &mut config);
            let mut m = Member {
                name,
                seed: u8::try_from(i + 1).unwrap(),
                config,
                node: placeholder(&chain),
                store: Arc::new(MemoryStore::new()),
                events: Vec::new(),
                fed: chain.best_block().height,
                is_async: false,
                auto_complete: true,
            };
            m.build(&chain);
            members.push(m);
        }
        let links = (0..n.saturating_sub(1))
            .map(|i| Link {
                a: i,
                b: i + 1,
                pa: None,
                pb: None,
                hold_from: None,
            })
            .collect();
        let mut line = Line {
            chain,
            wallet,
            members,
            links,
            now: Duration::from_secs(1_700_000_000),
            steps: 0,
            crash_at: None,
            crash_member: usize::MAX,
            crashes: 0,
        };
        for l in 0..line.links.len() {
            line.connect(l);
        }
        line.shuttle();
        line
    }

    /// Member `i` persists asynchronously from now on (rebuilt over its
    /// store); `auto_complete`: the harness completes its writes.
    pub fn set_async(&mut self, i: usize, auto_complete: bool) {
        let mine: Vec<usize> = (0..self.links.len())
            .filter(|l| self.links[*l].a == i || self.links[*l].b == i)
            .collect();
        for l in &mine {
            self.disconnect(*l);
        }
        self.members[i].is_async = true;
        self.members[i].auto_complete = true;
        let chain = self.chain.clone();
        self.members[i].build(&chain);
        self.members[i].auto_complete = auto_complete;
        for l in mine {
            self.connect(l);
        }
        self.shuttle();
    }

    pub fn connect(&mut self, l: usize) {
        let now = self.now;
        let (a, b) = (self.links[l].a, self.links[l].b);
        let b_id = self.members[b].id();
        let (pa, act_one) = self.members[a].node.connect_outbound(b_id, now);
        let pb = self.members[b].node.accept_inbound(now);
        self.links[l].pa = Some(pa);
        self.links[l].pb = Some(pb);
        let _ = self.members[b].node.handle_bytes(pb, &act_one, now);
    }

    pub fn disconnect(&mut self, l: usize) {
        let link = &mut self.links[l];
        if let Some(p) = link.pa.take() {
            self.members[link.a].node.peer_disconnected(p);
        }
        if let Some(p) = link.pb.take() {
            self.members[link.b].node.peer_disconnected(p);
        }
    }

    /// Drops member `i` with whatever it had not sent, restores it from its
    /// store alone, and reconnects its links.
    pub fn restart(&mut self, i: usize) {
        let mine: Vec<usize> = (0..self.links.len())
            .filter(|l| self.links[*l].a == i || self.links[*l].b == i)
            .collect();
        for l in &mine {
            self.disconnect(*l);
        }
        let chain = self.chain.clone();
        self.members[i].build(&chain);
        for l in mine {
            self.connect(l);
        }
    }

    /// Moves bytes over every link until all members are quiet, draining
    /// (and so acknowledging) every member's events.
    /// Time passes for every member (gossip relay, retry and MPP timers),
    /// then messages move.
    pub fn tick(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        let now = self.now;
        for m in &mut self.members {
            m.node.handle_timeout(now);
        }
        self.shuttle();
    }

    pub fn shuttle(&mut self) {
        self.shuttle_inner(true);
    }

    /// As [`Line::shuttle`], leaving the events in the nodes.
    pub fn shuttle_links_only(&mut self) {
        self.shuttle_inner(false);
    }

    fn shuttle_inner(&mut self, drain: bool) {
        for _ in 0..100_000 {
            let mut moved = false;
            for m in &mut self.members {
                if m.is_async && m.auto_complete {
                    moved |= m.complete_writes() > 0;
                }
            }
            'links: for l in 0..self.links.len() {
                for forward in [true, false] {
                    let link = &self.links[l];
                    let (from, to, fp, tp) = if forward {
                        (link.a, link.b, link.pa, link.pb)
                    } else {
                        (link.b, link.a, link.pb, link.pa)
                    };
                    let (Some(fp), Some(tp)) = (fp, tp) else {
                        continue;
                    };
                    if link.hold_from == Some(from) {
                        continue;
                    }
                    let Some(bytes) = self.members[from].node.poll_transmit(fp) else {
                        continue;
                    };
                    moved = true;
                    if from == self.crash_member {
                        self.steps += 1;
                        if self.crash_at == Some(self.steps) {
                            self.crashes += 1;
                            self.restart(from);
                            break 'links;
                        }
                    }
                    let now = self.now;
                    let _ = self.members[to].node.handle_bytes(tp, &bytes, now);
                }
            }
            if drain {
                for m in &mut self.members {
                    take_events(&mut m.node, &mut m.events, None, &mut Vec::new());
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the members never went quiet");
    }

    /// Mines `n` blocks and feeds them to every member.
    pub fn mine(&mut self, n: usize) {
        self.chain.mine_blocks(n, &self.wallet.script_pubkey());
        for m in &mut self.members {
            feed_blocks(&mut m.node, &mut m.fed, &self.chain);
        }
        self.shuttle();
    }

    /// Member `from` opens a channel of `amount_sat` to member `to`
    /// (pushing `push_msat`); it is usable after 3 blocks.
    pub fn open_channel(
        &mut self,
        from: usize,
        to: usize,
        amount_sat: u64,
        push_msat: u64,
    ) -> ChannelId {
        let to_id = self.members[to].id();
        let temp = self.members[from]
            .node
            .open_channel(to_id, Amount::from_sat(amount_sat), Msat(push_msat))
            .unwrap();
        self.shuttle();
        let (amount, script) = self.members[from]
            .take_events()
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
        let tx = self.wallet.fund(amount, &script).unwrap();
        let id = self.members[from]
            .node
            .funding_transaction_generated(temp, tx)
            .unwrap();
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
                "channel usable at {}",
                self.members[m].name
            );
        }
        id
    }

    /// The route from member 0 to member `n - 1` over `channels` (one per
    /// link, in order), each forwarding member charging what its
    /// configuration announces for `amount_msat` at the payee.
    /// C's (member 2's) hold invoice of `amount_msat` for `preimage`'s
    /// hash, paid by A (member 0) over `ab` then `bc`: C has raised
    /// `HoldInvoiceAccepted` and A's payment is pending. Gives the hash.
    pub fn pay_held(
        &mut self,
        ab: ChannelId,
        bc: ChannelId,
        preimage: lightning_core::node::PaymentPreimage,
        amount_msat: u64,
    ) -> lightning_core::node::PaymentHash {
        use bitcoin::hashes::{sha256, Hash};
        let hash =
            lightning_core::node::PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let now = self.now;
        let invoice = self.members[2]
            .node
            .create_hold_invoice(
                hash,
                Some(Msat(amount_msat)),
                "hold",
                Duration::from_secs(3600),
                now,
            )
            .unwrap();
        assert_eq!(*invoice.payment_hash(), hash);
        let route = self.route(&[ab, bc], amount_msat);
        self.members[0]
            .node
            .pay_invoice_with_route(&invoice, &route, now)
            .unwrap();
        self.shuttle();
        let events = self.members[2].take_events();
        assert!(
            events.iter().any(|e| matches!(e,
                Event::HoldInvoiceAccepted { payment_hash, amount_msat: a, .. }
                    if *payment_hash == hash && a.0 == amount_msat)),
            "{events:?}"
        );
        assert_eq!(
            self.members[0].payment_status(&hash),
            Some(PaymentStatus::Pending)
        );
        hash
    }

    pub fn route(&self, channels: &[ChannelId], amount_msat: u64) -> Route {
        let n = channels.len();
        let mut hops = Vec::new();
        // Fees are computed backwards: each forwarder charges on what it
        // forwards.
        let mut fees = vec![0u64; n];
        let mut deltas = vec![0u32; n];
        let mut forwarded = amount_msat;
        for i in (0..n.saturating_sub(1)).rev() {
            let g = &self.members[i + 1].config.gossip;
            let fee = u64::from(g.fee_base_msat)
                + forwarded * u64::from(g.fee_proportional_millionths) / 1_000_000;
            fees[i] = fee;
            deltas[i] = u32::from(g.cltv_expiry_delta);
            forwarded += fee;
        }
        for (i, id) in channels.iter().enumerate() {
            hops.push(RouteHop {
                node_id: self.members[i + 1].id(),
                short_channel_id: self.members[i].scid(*id),
                fee_msat: fees[i],
                cltv_expiry_delta: deltas[i],
            });
        }
        Route { hops }
    }
}

impl Line {
    /// Flips one byte of the error packet kept in every failed forwarding
    /// record of member `i`'s store (TLV 22 of `forwards/...`), as a
    /// relaying node that alters the returns it sends upstream would. The
    /// member sends the altered packet once it restarts from that store
    /// and answers from its records. Returns the records altered.
    pub fn corrupt_failed_forwards(&mut self, i: usize) -> usize {
        use lightning_core::node::NAMESPACE;
        use lightning_persist::KvStore;
        use lightning_wire::codec::Reader;
        use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
        let store = self.members[i].store.clone();
        let mut altered = 0;
        for key in store.list_prefix(NAMESPACE, "forwards/").unwrap() {
            let record = store.read(NAMESPACE, &key).unwrap().unwrap();
            let mut reader = Reader::new(&record.value);
            let mut tlvs = TlvStreamReader::parse(&mut reader).unwrap();
            let mut w = TlvStreamWriter::new();
            let mut changed = false;
            for (ty, value) in tlvs.take_from(0) {
                let mut value = value.to_vec();
                if ty == 22 {
                    // Inside the failure message, past the HMAC.
                    value[40] ^= 0x5a;
                    changed = true;
                }
                w.put_raw(ty, &value);
            }
            if changed {
                store.remove(NAMESPACE, &key).unwrap();
                store
                    .write(NAMESPACE, &key, record.version, &w.into_bytes())
                    .unwrap();
                altered += 1;
            }
        }
        altered
    }
}

/// A node to fill a slot until the real one is built.
fn placeholder(chain: &SimChainHandle) -> Node {
    NodeBuilder::from_config(config())
        .seed(&[0xfe; 32])
        .persistence(Persistence::Inline(Arc::new(MemoryStore::new())))
        .host(node_host(chain))
        .best_block(chain.best_block())
        .build()
        .unwrap()
}

/// The invoice (`lni1...`) that `Event::OfferInvoiceFetched` gave for
/// request `id` among `events`, if any.
pub fn fetched_invoice(
    events: &[Event],
    id: lightning_core::node::OfferPaymentId,
) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::OfferInvoiceFetched {
            offer_payment_id,
            invoice,
        } if *offer_payment_id == id => Some(invoice.clone()),
        _ => None,
    })
}

/// Whether request `id` failed (`Event::OfferPaymentFailed`) among
/// `events` with a reason containing `why`.
pub fn offer_failed(events: &[Event], id: lightning_core::node::OfferPaymentId, why: &str) -> bool {
    events.iter().any(|e| {
        matches!(e, Event::OfferPaymentFailed { offer_payment_id, reason }
            if *offer_payment_id == id && reason.contains(why))
    })
}
