//! The node's public graph (BOLT 7) between real `Node`s: Alice and Bob
//! open an announced channel; each ends with the channel (both
//! directions) and both node announcements in its graph; Carol, who has
//! no channel, connects to Alice and gets all of it by sync
//! (`query_channel_range`, `query_short_channel_ids`); Carol restarted
//! keeps her graph; our gossip timestamps survive a restart; the scorer
//! is persisted; `find_route` uses our channels as first hops and invoice
//! route hints.
#![allow(clippy::unwrap_used)]

mod node_support;

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use lightning_core::node::{
    Node, NodeBuilder, NodeId, Persistence, RouteError, RouteParams, GOSSIP_TIMESTAMP_KEY,
    SCORER_KEY,
};
use lightning_core::peer::PeerId;
use lightning_core::Msat;
use lightning_persist::{KvStore, MemoryStore};
use lightning_test_support::host::node_host;
use lightning_wire::bolt11::{RouteHint, RouteHintHop};
use lightning_wire::types::ShortChannelId;
use node_support::{Net, ANNOUNCE};

/// Alice and Bob with an announced channel, six deep.
fn announced() -> Net {
    ANNOUNCE.with(|a| a.set(true));
    let mut net = Net::new(false, false);
    net.open_channel(500_000, 0);
    net.mine(3);
    assert!(net.a.node.list_channels()[0].is_announced);
    net
}

/// Time passes for Alice and Bob (relay flushes, snapshots).
fn tick(net: &mut Net, secs: u64) {
    net.now += Duration::from_secs(secs);
    let now = net.now;
    net.a.node.handle_timeout(now);
    net.b.node.handle_timeout(now);
    net.shuttle();
}

fn carol(net: &Net, store: Arc<MemoryStore>) -> Node {
    NodeBuilder::from_config(node_support::config())
        .seed(&[3; 32])
        .persistence(Persistence::Inline(store))
        .host(node_host(&net.chain))
        .best_block(net.chain.best_block())
        .build()
        .unwrap()
}

/// Moves bytes between `x` and `y` until both are quiet.
fn link(x: &mut Node, px: PeerId, y: &mut Node, py: PeerId, now: Duration) {
    for _ in 0..100_000 {
        let mut moved = false;
        while let Some(b) = x.poll_transmit(px) {
            y.handle_bytes(py, &b, now).unwrap();
            moved = true;
        }
        while let Some(b) = y.poll_transmit(py) {
            x.handle_bytes(px, &b, now).unwrap();
            moved = true;
        }
        if !moved {
            return;
        }
    }
    panic!("never quiet");
}

/// `y` connects to `x`; returns (x's, y's) connection ids.
fn connect(x: &mut Node, y: &mut Node, now: Duration) -> (PeerId, PeerId) {
    let (py, act_one) = y.connect_outbound(x.node_id(), now);
    let px = x.accept_inbound(now);
    x.handle_bytes(px, &act_one, now).unwrap();
    link(x, px, y, py, now);
    (px, py)
}

/// What a graph holds: channels, directions with an update, nodes with an
/// announcement.
fn counts(n: &Node) -> (usize, usize, usize) {
    let g = n.network_graph().expect("the graph is on by default");
    let dirs = g
        .channels()
        .map(|(_, c)| usize::from(c.direction(0).is_some()) + usize::from(c.direction(1).is_some()))
        .sum();
    let announced = g
        .nodes()
        .filter(|(_, n)| n.announcement().is_some())
        .count();
    (g.channel_count(), dirs, announced)
}

#[test]
fn three_nodes_end_with_the_announced_channel_and_nodes() {
    let mut net = announced();
    let scid = net.a.node.list_channels()[0].short_channel_id.unwrap();
    // Bob's node announcement reaches Alice at his next relay flush
    // (BOLT 7: every 60 seconds).
    tick(&mut net, 61);
    for n in [&net.a.node, &net.b.node] {
        assert_eq!(counts(n), (1, 2, 2), "{:?}", n.node_id());
        let g = n.network_graph().unwrap();
        let idx = g.channel_by_scid(scid).unwrap();
        assert_eq!(g.channel(idx).unwrap().scid(), scid);
    }

    // Carol has no channel: she learns everything from Alice by sync.
    let store = Arc::new(MemoryStore::new());
    let mut c = carol(&net, store.clone());
    let now = net.now;
    let (pa, pc) = connect(&mut net.a.node, &mut c, now);
    assert_eq!(counts(&c), (1, 2, 2), "Carol synced from Alice");
    let stats = c.gossip_stats(pc).unwrap();
    assert_eq!(stats.misbehaved, 0);
    assert_eq!(
        stats.accepted, 5,
        "one announcement, two updates, two nodes"
    );
    assert_eq!(net.a.node.gossip_stats(pa).unwrap().misbehaved, 0);

    // A new update of Alice's (the channel disabled after Bob is gone)
    // reaches Carol through Alice's relay, since her filter asked for it.
    let before = c
        .network_graph()
        .unwrap()
        .channels()
        .map(|(_, ch)| {
            (
                ch.direction(0).unwrap().timestamp,
                ch.direction(1).unwrap().timestamp,
            )
        })
        .next()
        .unwrap();
    net.disconnect();
    net.now += Duration::from_secs(601);
    let now = net.now;
    net.a.node.handle_timeout(now);
    link(&mut net.a.node, pa, &mut c, pc, now);
    let later = now + Duration::from_secs(61);
    net.a.node.handle_timeout(later);
    c.handle_timeout(later);
    link(&mut net.a.node, pa, &mut c, pc, later);
    let g = c.network_graph().unwrap();
    let (_, ch) = g.channels().next().unwrap();
    let after = (
        ch.direction(0).unwrap().timestamp,
        ch.direction(1).unwrap().timestamp,
    );
    assert_ne!(before, after, "Alice's disabling update was relayed");
    let alice_dir = u8::from(net.a.node.node_id().serialize() > net.b.node.node_id().serialize());
    assert!(ch.direction(alice_dir).unwrap().is_disabled());
}

#[test]
fn a_restarted_node_keeps_its_graph_and_scorer() {
    let mut net = announced();
    tick(&mut net, 61);
    let store = Arc::new(MemoryStore::new());
    let mut c = carol(&net, store.clone());
    let now = net.now;
    connect(&mut net.a.node, &mut c, now);
    assert_eq!(counts(&c), (1, 2, 2));
    // The scorer learns something.
    let route = net
        .a
        .node
        .find_route_to(net.b.node.node_id(), Msat(10_000))
        .unwrap();
    net.a
        .node
        .scorer_mut()
        .path_failed(&route.paths[0].hop_uses(), 0, now);
    let learned = net.a.node.scorer().encode();
    assert!(!net.a.node.scorer().is_empty());

    // The snapshot interval passes: both are written.
    tick(&mut net, 601);
    c.handle_timeout(net.now);
    assert!(store
        .read("node", lightning_core::node::GRAPH_KEY)
        .unwrap()
        .is_some());
    assert!(net.a.store.read("node", SCORER_KEY).unwrap().is_some());

    // Carol restarts from her store: the graph is there before any peer.
    drop(c);
    let c = carol(&net, store.clone());
    assert_eq!(counts(&c), (1, 2, 2));
    // Alice restarts: the scorer is the one she learned.
    net.restart(true);
    assert_eq!(net.a.node.scorer().encode(), learned);
    assert_eq!(counts(&net.a.node).0, 1);
}

#[test]
fn gossip_timestamps_never_regress_across_a_restart() {
    let mut net = announced();
    // Timestamps come from the host's clock: Alice's announcement now.
    let first = net.a.node.our_node_announcement().unwrap().timestamp;
    let stored = net
        .a
        .store
        .read("node", GOSSIP_TIMESTAMP_KEY)
        .unwrap()
        .unwrap();
    assert_eq!(stored.value, first.to_be_bytes());
    // A restart before any call (the node's clock at zero, as a host with
    // its clock set back would have it): the next timestamp is still
    // above every one signed before.
    net.disconnect();
    net.a.restart(&net.chain);
    let again = net.a.node.our_node_announcement().unwrap().timestamp;
    assert!(again > first, "{again} after {first}");
}

#[test]
fn routes_leave_through_our_channels_and_follow_route_hints() {
    let mut net = announced();
    tick(&mut net, 61);
    let bob = net.b.node.node_id();
    let channel = net.a.node.list_channels()[0].clone();
    let scid = channel.short_channel_id.unwrap();

    // To the peer: one hop over our channel, no fee.
    let route = net.a.node.find_route_to(bob, Msat(50_000)).unwrap();
    assert_eq!(route.paths.len(), 1);
    let hops = &route.paths[0].hops;
    assert_eq!(hops.len(), 1);
    assert_eq!(hops[0].short_channel_id, scid);
    assert_eq!(hops[0].amount, Msat(50_000));
    assert_eq!(route.total_fee(), Msat(0));
    // The first hop's live balance bounds the amount, not the capacity.
    let first = net.a.node.first_hops();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].outbound_capacity, channel.outbound_capacity_msat);
    let too_much = channel.outbound_capacity_msat.0 + 1;
    assert_eq!(
        net.a.node.find_route_to(bob, Msat(too_much)).map(|_| ()),
        Err(RouteError::NoRoute)
    );

    // To a private node behind Bob, through the invoice's route hint
    // (BOLT 11 `r`): Bob's fee is the hint's (BOLT 7 fee formula).
    let private = PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[9; 32]).unwrap());
    let mut params = RouteParams::new(NodeId::from_pubkey(&private), Msat(100_000));
    params.route_hints = vec![RouteHint(vec![RouteHintHop {
        src_node_id: bob.into(),
        short_channel_id: ShortChannelId::new(700, 1, 0).unwrap(),
        fee_base_msat: 1_000,
        fee_proportional_millionths: 200,
        cltv_expiry_delta: 40,
    }])];
    let route = net.a.node.find_route(&params).unwrap();
    let hops = &route.paths[0].hops;
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0].short_channel_id, scid);
    assert_eq!(hops[0].fee, Msat(1_000 + 100_000 * 200 / 1_000_000));
    assert_eq!(hops[1].amount, Msat(100_000));
    assert_eq!(hops[0].cltv_expiry_delta, hops[1].cltv_expiry_delta + 40);
    let candidates = net.a.node.query_routes(&params, 3).unwrap();
    assert!(!candidates.is_empty());
    assert_eq!(candidates[0].total_fee, route.total_fee());

    // Bob routes back over the same public channel.
    let route = net
        .b
        .node
        .find_route_to(net.a.node.node_id(), Msat(1_000))
        .map(|r| r.paths[0].hops[0].short_channel_id);
    // Bob has no balance on his side (nothing was pushed to him).
    assert_eq!(route, Err(RouteError::NoRoute));
}
