//! Issue 21, "breach while offline": Alice sends a justice kit for every
//! commitment Bob revokes to a watchtower (a third `Node` serving as one,
//! over its BOLT 8 connection). Alice goes down; Bob, restored from an old
//! copy of his store, broadcasts a revoked commitment (with an HTLC each
//! way in flight in that state, or none); the tower alone sweeps every
//! output of it above dust to Alice's script. Alice comes back, sees the
//! channel closed and the funds at her script. Every transaction is
//! script-verified by the simulated chain at mempool acceptance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;

use std::sync::Arc;
use std::time::Duration;

use bitcoin::{Amount, Transaction};
use lightning_chain::ChainSync;
use lightning_core::node::{Event, Node, NodeBuilder, Persistence};
use lightning_core::peer::PeerId;
use lightning_persist::MemoryStore;
use lightning_test_support::host::node_host;
use node_support::{copy_store, Net, TestNode, TOWER_OF};

const CAPACITY: u64 = 1_000_000;
const ANCHOR: u64 = 330;

/// The tower and its connection to Alice.
struct TowerLink {
    tower: Node,
    store: Arc<MemoryStore>,
    fed: u32,
    alice_peer: Option<PeerId>,
    tower_peer: Option<PeerId>,
}

impl TowerLink {
    fn new(chain: &lightning_sim::SimChainHandle) -> TowerLink {
        let store = Arc::new(MemoryStore::new());
        TowerLink {
            tower: Self::build(chain, &store, chain.best_block()),
            store,
            fed: chain.best_block().height,
            alice_peer: None,
            tower_peer: None,
        }
    }

    fn build(
        chain: &lightning_sim::SimChainHandle,
        store: &Arc<MemoryStore>,
        best: lightning_chain::BestBlock,
    ) -> Node {
        let mut config = node_support::config();
        config.watchtower.server = Some(Default::default());
        NodeBuilder::from_config(config)
            .seed(&[0x70; 32])
            .persistence(Persistence::Inline(store.clone()))
            .host(node_host(chain))
            .best_block(best)
            .build()
            .unwrap()
    }

    /// The tower process dies and starts again from its store.
    fn restart(&mut self, chain: &lightning_sim::SimChainHandle) {
        self.alice_peer = None;
        self.tower_peer = None;
        let best = chain.best_block();
        assert_eq!(best.height, self.fed, "the tower restarts at its tip");
        self.tower = Self::build(chain, &self.store, best);
    }

    fn connect(&mut self, alice: &mut Node, now: Duration) {
        let (pa, act_one) = alice.connect_outbound(self.tower.node_id(), now);
        let pt = self.tower.accept_inbound(now);
        self.tower.handle_bytes(pt, &act_one, now).unwrap();
        self.alice_peer = Some(pa);
        self.tower_peer = Some(pt);
        self.shuttle(alice, now);
    }

    fn disconnect(&mut self, alice: &mut Node) {
        if let Some(p) = self.alice_peer.take() {
            alice.peer_disconnected(p);
        }
        if let Some(p) = self.tower_peer.take() {
            self.tower.peer_disconnected(p);
        }
    }

    /// Moves bytes between Alice and the tower until both are quiet.
    fn shuttle(&mut self, alice: &mut Node, now: Duration) {
        let (Some(pa), Some(pt)) = (self.alice_peer, self.tower_peer) else {
            return;
        };
        for _ in 0..100_000 {
            let mut moved = false;
            if let Some(b) = alice.poll_transmit(pa) {
                self.tower.handle_bytes(pt, &b, now).unwrap();
                moved = true;
            }
            if let Some(b) = self.tower.poll_transmit(pt) {
                alice.handle_bytes(pa, &b, now).unwrap();
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("alice and the tower never went quiet");
    }

    fn feed(&mut self, chain: &lightning_sim::SimChainHandle) {
        let mut sync = ChainSync::new(self.tower.best_block());
        sync.sync(chain, &mut self.tower).unwrap();
        self.fed = chain.best_block().height;
    }
}

fn feed(node: &mut TestNode, chain: &lightning_sim::SimChainHandle) {
    let mut sync = ChainSync::new(node.node.best_block());
    sync.sync(chain, &mut node.node).unwrap();
    node.fed = chain.best_block().height;
}

/// With `tower_restarts`, the tower process dies and starts again from its
/// store between the updates and the breach.
fn breach_while_offline(anchors: bool, htlcs: bool, tower_restarts: bool) {
    let mut net = Net::with_anchors(anchors);
    let mut link = TowerLink::new(&net.chain);
    // Alice is rebuilt as the tower's client.
    TOWER_OF.with(|t| t.set(Some((net.a.seed, link.tower.node_id()))));
    net.restart(true);
    TOWER_OF.with(|t| t.set(None));
    let now = net.now;
    link.connect(&mut net.a.node, now);

    let id = net.open_channel(CAPACITY, 300_000_000);
    net.mine(10);
    link.feed(&net.chain);
    net.pay(true, 50_000_000);
    net.pay(false, 20_000_000);
    let held = htlcs.then(|| {
        (
            net.hold(true, 15_000_000, 0x41),
            net.hold(false, 9_000_000, 0x42),
        )
    });
    // The cheater's copy: Bob's store in this (soon revoked) state.
    let cheat_store = copy_store(&net.b.store);
    if let Some((to_bob, to_alice)) = held {
        net.b.node.fail_for_hash(to_bob, now).unwrap();
        net.a.node.fail_for_hash(to_alice, now).unwrap();
        net.shuttle();
    }
    // Two more payments revoke that state.
    net.pay(true, 7_000_000);
    net.pay(false, 3_000_000);
    link.shuttle(&mut net.a.node, now);

    let stats = net.a.node.watchtower_stats();
    assert!(stats.kits_sealed >= 4, "{stats:?}");
    assert_eq!(stats.queue_full + stats.tower_errors, 0, "{stats:?}");
    assert_eq!(
        stats.towers,
        vec![(link.tower.node_id(), 0, stats.kits_sealed)],
        "every kit acknowledged"
    );
    let served = link.tower.watchtower_stats().server.unwrap();
    assert_eq!(served.updates as u64, stats.kits_sealed);

    // Alice goes down.
    net.disconnect();
    link.disconnect(&mut net.a.node);
    let alice_script = net.a.node.shutdown_script();
    let alice_fed = net.a.fed;
    if tower_restarts {
        link.restart(&net.chain);
        let served = link.tower.watchtower_stats().server.unwrap();
        assert_eq!(served.updates as u64, stats.kits_sealed, "{served:?}");
        assert_eq!(served.damaged_records, 0);
    }

    // The cheater broadcasts his revoked commitment.
    let mut cheater = TestNode::from_store("cheater", net.b.seed, cheat_store, &net.chain);
    cheater.node.force_close_channel(id).unwrap();
    let mempool = net.chain.mempool();
    assert_eq!(mempool.len(), 1, "the revoked commitment is broadcast");
    let breach: Transaction = mempool[0].clone();
    // to_local, to_remote, the HTLCs, the anchors.
    let expected_outputs = 2 + if htlcs { 2 } else { 0 } + if anchors { 2 } else { 0 };
    assert_eq!(breach.output.len(), expected_outputs, "{breach:?}");
    let wallet_script = net.wallet.script_pubkey();
    net.chain.mine_blocks(1, &wallet_script);
    feed(&mut net.b, &net.chain);
    feed(&mut cheater, &net.chain);
    link.feed(&net.chain);
    let served = link.tower.watchtower_stats().server.unwrap();
    assert_eq!(served.breaches, 1, "{served:?}");
    assert!(served.justice_broadcast >= 2, "{served:?}");
    // The tower's justice confirms.
    for _ in 0..3 {
        net.chain.mine_blocks(1, &wallet_script);
        feed(&mut net.b, &net.chain);
        feed(&mut cheater, &net.chain);
        link.feed(&net.chain);
    }
    let breach_txid = breach.compute_txid();
    let tip = net.chain.best_block().height;
    let mut swept = Amount::ZERO;
    let mut claimed = Amount::ZERO;
    for h in alice_fed..=tip {
        for tx in net.chain.block_at(h).unwrap().txdata.iter().skip(1) {
            let spent: Amount = tx
                .input
                .iter()
                .filter(|i| i.previous_output.txid == breach_txid)
                .map(|i| breach.output[i.previous_output.vout as usize].value)
                .sum();
            if spent > Amount::ZERO {
                assert!(
                    tx.output.iter().all(|o| o.script_pubkey == alice_script),
                    "only Alice is paid from the breach: {tx:?}"
                );
                claimed += spent;
                swept += tx.output.iter().map(|o| o.value).sum();
            }
        }
    }
    // Every output of the breach but the anchors went to Alice.
    let anchors_value = if anchors {
        Amount::from_sat(2 * ANCHOR)
    } else {
        Amount::ZERO
    };
    let outputs: Amount = breach.output.iter().map(|o| o.value).sum();
    assert_eq!(claimed + anchors_value, outputs, "every output is swept");
    assert!(
        swept > claimed - Amount::from_sat(20_000),
        "fees {swept} of {claimed}"
    );
    assert_eq!(
        net.chain.balance_of(&alice_script),
        swept,
        "the tower paid Alice's script"
    );

    // Alice comes back: the channel is closed, the funds are hers.
    net.a.restart(&net.chain);
    feed(&mut net.a, &net.chain);
    let events = net.a.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ChannelClosed { channel_id, .. } if *channel_id == id)),
        "{events:?}"
    );
    assert!(net
        .a
        .node
        .list_channels()
        .iter()
        .all(|c| c.channel_id != id || !c.is_usable));
    // Whatever Alice's own resolver tried conflicts with the tower's
    // justice: nothing of hers is left to claim, and her script kept it.
    for _ in 0..3 {
        net.chain.mine_blocks(1, &wallet_script);
        feed(&mut net.a, &net.chain);
    }
    assert_eq!(net.chain.balance_of(&alice_script), swept);
}

#[test]
fn the_tower_sweeps_a_breach_while_alice_is_offline_static_remotekey() {
    breach_while_offline(false, false, false);
}

/// The tower restarts from its store before the breach.
#[test]
fn the_tower_sweeps_a_breach_while_alice_is_offline_anchors() {
    breach_while_offline(true, false, true);
}

/// The tower restarts from its store before the breach.
#[test]
fn the_tower_sweeps_a_breach_with_htlcs_in_flight_static_remotekey() {
    breach_while_offline(false, true, true);
}

#[test]
fn the_tower_sweeps_a_breach_with_htlcs_in_flight_anchors() {
    breach_while_offline(true, true, false);
}

/// A tower that is down never blocks a payment: updates wait, bounded by
/// `max_queue` (the overflow counted), and go out in order once it is
/// back; a peer sending garbage as tower messages, or tower requests to a
/// node that serves none, changes nothing.
#[test]
fn a_tower_that_is_down_blocks_nothing_and_catches_up() {
    use lightning_wire::msgs::Message;
    let mut net = Net::with_anchors(true);
    let mut link = TowerLink::new(&net.chain);
    TOWER_OF.with(|t| t.set(Some((net.a.seed, link.tower.node_id()))));
    net.restart(true);
    TOWER_OF.with(|t| t.set(None));
    let now = net.now;
    let id = net.open_channel(CAPACITY, 300_000_000);
    net.mine(10);
    for _ in 0..3 {
        net.pay(true, 1_000_000);
    }
    let queued = net.a.node.watchtower_stats();
    assert!(queued.kits_sealed >= 3, "{queued:?}");
    assert_eq!(
        queued.towers,
        vec![(link.tower.node_id(), queued.kits_sealed as usize, 0)]
    );
    // Alice restarts with them queued: the queue is durable.
    let before_restart = queued.kits_sealed;
    TOWER_OF.with(|t| t.set(Some((net.a.seed, link.tower.node_id()))));
    net.restart(true);
    TOWER_OF.with(|t| t.set(None));
    assert_eq!(
        net.a.node.watchtower_stats().towers,
        vec![(link.tower.node_id(), before_restart as usize, 0)]
    );
    net.pay(false, 1_000_000);
    // A stranger's garbage and misdirected tower messages: Alice serves
    // no tower and ignores them; the tower answers a flood of sessions
    // with refusals past its bound.
    let mut stranger =
        lightning_test_support::hostile::HostilePeer::connect(&mut net.a.node, [0x55; 32], now)
            .unwrap();
    let junk: [(u16, Vec<u8>); 4] = [
        (42_001, vec![]),
        (42_003, vec![0xff; 3]),
        (42_005, vec![0; 40]),
        (42_007, vec![0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0]),
    ];
    for (ty, payload) in &junk {
        let message = Message::Unknown {
            r#type: *ty,
            payload: payload.clone(),
        };
        stranger.send(&mut net.a.node, &message, now).unwrap();
    }
    let answers = stranger.recv_messages(&mut net.a.node).unwrap();
    assert!(
        !answers.iter().any(|m| matches!(
            m,
            Message::Unknown { .. } | Message::Warning(_) | Message::Error(_)
        )),
        "{answers:?}"
    );
    assert!(stranger.is_connected(&net.a.node));
    let mut flood =
        lightning_test_support::hostile::HostilePeer::connect(&mut link.tower, [0x56; 32], now)
            .unwrap();
    let create = Message::Unknown {
        r#type: 42_001,
        payload: vec![0xff, 0xff],
    };
    // A session is only new once the last one holds an update: each
    // granted session gets one.
    let mut codes = Vec::new();
    for i in 0..40u8 {
        flood.send(&mut link.tower, &create, now).unwrap();
        let acks = flood.recv_messages(&mut link.tower).unwrap();
        let Some(Message::Unknown { payload, .. }) = acks.last() else {
            panic!("{acks:?}");
        };
        codes.push(payload[0]);
        if payload[0] != 0 {
            continue;
        }
        let mut update = payload[1..9].to_vec();
        update.extend_from_slice(&1u16.to_be_bytes());
        update.extend_from_slice(&[i; 16]);
        update.extend_from_slice(&100u16.to_be_bytes());
        update.extend_from_slice(&[i; 100]);
        let update = Message::Unknown {
            r#type: 42_005,
            payload: update,
        };
        flood.send(&mut link.tower, &update, now).unwrap();
        let acks = flood.recv_messages(&mut link.tower).unwrap();
        assert!(
            matches!(acks.last(), Some(Message::Unknown { r#type: 42_007, payload }) if payload[10] == 0),
            "{acks:?}"
        );
    }
    for (ty, payload) in &junk {
        let message = Message::Unknown {
            r#type: *ty,
            payload: payload.clone(),
        };
        flood.send(&mut link.tower, &message, now).unwrap();
    }
    let answers = flood.recv_messages(&mut link.tower).unwrap();
    assert!(
        !answers
            .iter()
            .any(|m| matches!(m, Message::Unknown { r#type: 42_003, .. })),
        "junk gets no answer: {answers:?}"
    );
    let max_sessions = lightning_core::node::TowerConfig::default().max_sessions_per_client;
    assert_eq!(codes.len(), 40);
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), max_sessions);
    assert!(codes[max_sessions..].iter().all(|c| *c == 6), "{codes:?}");
    assert!(net.usable(id));
    // The tower comes up: everything queued reaches it, in order.
    link.connect(&mut net.a.node, now);
    let caught_up = net.a.node.watchtower_stats();
    let all = before_restart + caught_up.kits_sealed;
    assert!(caught_up.kits_sealed >= 1, "{caught_up:?}");
    assert_eq!(caught_up.towers, vec![(link.tower.node_id(), 0, all)]);
    assert_eq!(
        link.tower.watchtower_stats().server.unwrap().updates as u64,
        all + max_sessions as u64,
        "Alice's updates and the flood's one per session"
    );
}
