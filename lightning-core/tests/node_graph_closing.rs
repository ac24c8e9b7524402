//! Issue 17: a public channel closed on chain leaves the node's graph
//! 12 blocks after its funding spend (BOLT 7: "once its funding output has
//! been spent OR reorganized out: SHOULD forget a channel after a 12-block
//! delay"). A - B - C on the simulated chain, both channels announced; B
//! and C close theirs cooperatively; A sees the spend in the blocks it is
//! fed, stops routing over the channel at once and forgets it at the 12th
//! confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::OutPoint;
use forward_support::Line;
use lightning_chain::{BestBlock, WatchFilter, WatchedOutput};
use lightning_core::amount::Msat;
use lightning_core::node::{Node, NodeBuilder, Persistence, RouteError, CLOSING_KEY, GRAPH_KEY};
use lightning_gossip::{UtxoAnswer, UtxoLookup};
use lightning_persist::KvStore;
use lightning_sim::SimChainHandle;
use lightning_test_support::host::node_host;
use lightning_wire::types::{ChainHash, ChannelId, ShortChannelId};

const CAPACITY_SAT: u64 = 1_000_000;

/// The host's funding lookup over the simulated chain (a full node's
/// `getblock` + `gettxout`).
struct SimUtxos(SimChainHandle);

impl UtxoLookup for SimUtxos {
    fn lookup(&self, _: &ChainHash, scid: ShortChannelId) -> UtxoAnswer {
        let Some(block) = self.0.block_at(scid.block()) else {
            return UtxoAnswer::NotFound;
        };
        let Some(tx) = block.txdata.get(scid.tx_index() as usize) else {
            return UtxoAnswer::NotFound;
        };
        let vout = u32::from(scid.output_index());
        let Some(output) = tx.output.get(vout as usize) else {
            return UtxoAnswer::NotFound;
        };
        let txid = tx.compute_txid();
        if self.0.utxo(&OutPoint::new(txid, vout)).is_none() {
            return UtxoAnswer::Spent;
        }
        UtxoAnswer::Unspent {
            txid,
            output: output.clone(),
        }
    }
}

/// A light client's filter that records what it is asked to watch.
#[derive(Default)]
struct Recorder(Mutex<Vec<OutPoint>>);

impl WatchFilter for Recorder {
    fn register_tx(&self, _: &bitcoin::Txid, _: &bitcoin::Script) {}
    fn register_output(&self, output: WatchedOutput) {
        self.0.lock().unwrap().push(output.outpoint);
    }
}

/// A - B - C with announced channels A-B and B-C, both in A's graph.
/// `lookup`: A checks funding outputs against the chain and has a
/// recording `WatchFilter` (else A is a light client for the graph).
fn line(lookup: bool) -> (Line, ChannelId, ChannelId, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut line = Line::new(3, |_, c| c.channel.announce_channel = true);
    if lookup {
        // A again, over the same store, with the chain's UTXO lookup.
        line.disconnect(0);
        let chain = line.chain.clone();
        let m = &mut line.members[0];
        let best = BestBlock::new(chain.block_at(m.fed).unwrap().block_hash(), m.fed);
        m.node = NodeBuilder::from_config(m.config.clone())
            .seed(&[m.seed; 32])
            .persistence(Persistence::Inline(m.store.clone()))
            .host(node_host(&chain))
            .best_block(best)
            .utxo_lookup(Arc::new(SimUtxos(chain.clone())))
            .build()
            .unwrap();
        m.node.set_watch_filter(recorder.clone());
        line.connect(0);
        line.shuttle();
    }
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    // Deep enough to announce; relay flushes run every 60 s (BOLT 7).
    line.mine(6);
    for _ in 0..3 {
        tick(&mut line, 61);
    }
    for m in &mut line.members {
        m.take_events();
    }
    (line, ab, bc, recorder)
}

fn tick(line: &mut Line, secs: u64) {
    line.now += Duration::from_secs(secs);
    let now = line.now;
    for m in &mut line.members {
        m.node.handle_timeout(now);
    }
    line.shuttle();
}

/// In `n`'s graph: absent, closing (spent, not yet forgotten), or open.
fn state(n: &Node, scid: ShortChannelId) -> &'static str {
    let g = n.network_graph().unwrap();
    match g.channel_by_scid(scid).and_then(|i| g.channel(i)) {
        None => "absent",
        Some(c) if c.is_closed() => "closing",
        Some(_) => "open",
    }
}

/// B closes channel `id` (with C or A) cooperatively; the closing
/// transaction is mined; returns the height of its block.
fn close(line: &mut Line, id: ChannelId) -> u32 {
    line.members[1].node.close_channel(id).unwrap();
    line.shuttle();
    line.mine(1);
    assert!(
        line.chain.rejections().is_empty(),
        "{:?}",
        line.chain.rejections()
    );
    assert_eq!(line.chain.mempool().len(), 0, "closing transaction mined");
    line.chain.best_block().height
}

#[test]
fn a_closed_public_channel_leaves_the_graph_and_routes_after_twelve_blocks() {
    let (mut line, ab, bc, watched) = line(true);
    let (scid_ab, scid_bc) = (line.members[0].scid(ab), line.members[1].scid(bc));
    let carol = line.members[2].id();
    // B-C's funding output, revealed by the lookup, was handed to A's
    // filter (a light client's host would report its spend).
    let bc_funding = line.members[1]
        .node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == bc)
        .and_then(|c| c.funding_txo)
        .unwrap();
    assert!(watched.0.lock().unwrap().contains(&bc_funding));
    let a = &mut line.members[0].node;
    assert_eq!(state(a, scid_bc), "open", "A learned B-C by gossip");
    assert_eq!(a.network_graph().unwrap().funding_outpoints(), 2);
    let route = a.find_route_to(carol, Msat(10_000)).unwrap();
    let hops: Vec<ShortChannelId> = route.paths[0]
        .hops
        .iter()
        .map(|h| h.short_channel_id)
        .collect();
    assert_eq!(hops, vec![scid_ab, scid_bc]);

    // A's graph snapshot is written with B-C open.
    tick(&mut line, 601);
    assert!(line.members[0]
        .store
        .read("node", GRAPH_KEY)
        .unwrap()
        .is_some());

    let spent_at = close(&mut line, bc);
    let a = &mut line.members[0].node;
    assert_eq!(state(a, scid_bc), "closing");
    assert_eq!(
        a.find_route_to(carol, Msat(10_000)).map(|_| ()),
        Err(RouteError::NoRoute),
        "a closing channel is not routed over"
    );
    // A crashes before its next snapshot (blocks are not fed again): the
    // spend was saved apart and is applied to the older snapshot.
    assert!(line.members[0]
        .store
        .read("node", CLOSING_KEY)
        .unwrap()
        .is_some());
    line.restart(0);
    assert_eq!(state(&line.members[0].node, scid_bc), "closing");
    // The spend's block is its first confirmation; ten more: still held
    // (a splice's new announcement could yet arrive).
    line.mine(10);
    assert_eq!(line.chain.best_block().height, spent_at + 10);
    assert_eq!(state(&line.members[0].node, scid_bc), "closing");
    // The 12th confirmation: forgotten.
    line.mine(1);
    let a = &mut line.members[0].node;
    assert_eq!(state(a, scid_bc), "absent");
    assert_eq!(state(a, scid_ab), "open");
    // Carol's only public channel went, and she with it (BOLT 7: "MAY
    // prune nodes ... [with no] associated open channels").
    let g = a.network_graph().unwrap();
    assert!(g.node_by_id(&carol).is_none());
    assert_eq!(
        a.find_route_to(carol, Msat(10_000)).map(|_| ()),
        Err(RouteError::UnknownPayee)
    );
    // Bob and Carol forgot it too (their own channel: its funding
    // outpoint is known without a lookup).
    assert_eq!(state(&line.members[1].node, scid_bc), "absent");
    assert_eq!(state(&line.members[2].node, scid_bc), "absent");

    // The graph is saved at its interval with the channel gone, and a
    // restarted A keeps that.
    tick(&mut line, 601);
    line.restart(0);
    assert_eq!(state(&line.members[0].node, scid_bc), "absent");
    assert_eq!(state(&line.members[0].node, scid_ab), "open");
}

#[test]
fn a_light_client_graph_sees_its_own_channels_closed_only() {
    let (mut line, ab, bc, _) = line(false);
    let (scid_ab, scid_bc) = (line.members[0].scid(ab), line.members[1].scid(bc));
    assert_eq!(state(&line.members[0].node, scid_bc), "open");
    // A knows only its own channel's funding outpoint.
    assert_eq!(
        line.members[0]
            .node
            .network_graph()
            .unwrap()
            .funding_outpoints(),
        1
    );
    close(&mut line, bc);
    close(&mut line, ab);
    line.mine(11);
    let a = &line.members[0].node;
    assert_eq!(state(a, scid_ab), "absent", "our own closed channel");
    // B-C's spend is invisible without its funding txid: the two-week
    // staleness rule prunes it (documented limitation).
    assert_eq!(state(a, scid_bc), "open");
    assert_eq!(state(&line.members[2].node, scid_bc), "absent");
}
