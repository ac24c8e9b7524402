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

use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use forward_support::Line;
use lightning_chain::{BestBlock, ChainListener, WatchFilter, WatchedOutput};
use lightning_core::amount::Msat;
use lightning_core::node::{
    Node, NodeBuilder, Persistence, RouteError, CLOSING_KEY, FUNDING_PREFIX, GRAPH_KEY,
};
use lightning_gossip::{UtxoAnswer, UtxoLookup};
use lightning_persist::KvStore;
use lightning_sim::SimChainHandle;
use lightning_test_support::host::{feed_blocks, node_host};
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
struct Recorder(Mutex<Vec<(OutPoint, ScriptBuf)>>, Mutex<Vec<Txid>>);

impl WatchFilter for Recorder {
    fn register_tx(&self, txid: &Txid, _: &bitcoin::Script) {
        self.1.lock().unwrap().push(*txid);
    }
    fn register_output(&self, output: WatchedOutput) {
        self.0
            .lock()
            .unwrap()
            .push((output.outpoint, output.script_pubkey));
    }
}

impl Recorder {
    fn outpoints(&self) -> Vec<OutPoint> {
        self.0.lock().unwrap().iter().map(|(o, _)| *o).collect()
    }

    /// Whether a transaction reaches a light client with this filter: it
    /// spends a watched output or is a watched transaction.
    fn matches(&self, tx: &Transaction) -> bool {
        let outs = self.outpoints();
        tx.input.iter().any(|i| outs.contains(&i.previous_output))
            || self.1.lock().unwrap().contains(&tx.compute_txid())
    }
}

/// Rebuilds member 0 (A) over its store with the chain's UTXO lookup and
/// `filter` as its light-client filter.
fn rebuild_with_lookup(line: &mut Line, filter: Arc<Recorder>) {
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
    m.node.set_watch_filter(filter);
    line.connect(0);
    line.shuttle();
}

/// A - B - C with announced channels A-B and B-C, both in A's graph.
/// `lookup`: A checks funding outputs against the chain and has a
/// recording `WatchFilter` (else A is a light client for the graph).
fn line(lookup: bool) -> (Line, ChannelId, ChannelId, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut line = Line::new(3, |_, c| c.channel.announce_channel = true);
    if lookup {
        // A again, over the same store, with the chain's UTXO lookup.
        rebuild_with_lookup(&mut line, recorder.clone());
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
    assert!(watched.outpoints().contains(&bc_funding));
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

/// Channel `id`'s funding outpoint (as member `member` has it) and its
/// output's script on chain.
fn funding_of(line: &Line, member: usize, id: ChannelId) -> (OutPoint, ScriptBuf) {
    let op = line.members[member]
        .node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == id)
        .and_then(|c| c.funding_txo)
        .unwrap();
    let tx = line.chain.get_transaction(&op.txid).unwrap();
    (op, tx.output[op.vout as usize].script_pubkey.clone())
}

/// Mines `n` blocks: B and C get them whole, A (a light client) only
/// the transactions its filter `watched` matches, then the new tip.
fn mine_filtered(line: &mut Line, n: usize, watched: &Recorder) {
    line.chain.mine_blocks(n, &line.wallet.script_pubkey());
    let tip = line.chain.best_block().height;
    for (i, m) in line.members.iter_mut().enumerate() {
        if i > 0 {
            feed_blocks(&mut m.node, &mut m.fed, &line.chain);
            continue;
        }
        while m.fed < tip {
            let h = m.fed + 1;
            let block = line.chain.block_at(h).unwrap();
            let txs: Vec<(usize, &Transaction)> = block
                .txdata
                .iter()
                .enumerate()
                .filter(|(_, tx)| watched.matches(tx))
                .collect();
            if !txs.is_empty() {
                m.node.transactions_confirmed(&block.header, &txs, h);
            }
            m.node.best_block_updated(&block.header, h);
            m.fed = h;
        }
    }
    line.shuttle();
}

fn funding_records(line: &Line) -> Vec<String> {
    line.members[0]
        .store
        .list_prefix("node", FUNDING_PREFIX)
        .unwrap()
}

#[test]
fn a_light_client_filter_gets_every_public_funding_output_again_after_a_restart() {
    let (mut line, ab, bc, watched) = line(true);
    let (scid_ab, scid_bc) = (line.members[0].scid(ab), line.members[1].scid(bc));
    let ab_funding = funding_of(&line, 0, ab);
    let bc_funding = funding_of(&line, 1, bc);
    // Learned in this run: registered as the lookup revealed them.
    assert!(watched.0.lock().unwrap().contains(&bc_funding));
    // The snapshot is written, and beside it the full outpoints (the
    // graph keeps only a prefix of each txid).
    tick(&mut line, 601);
    assert!(!funding_records(&line).is_empty());

    // A restarts from its store; its host sets a new filter (one that
    // does not persist): every public channel's funding output is
    // registered again, with its P2WSH script.
    let again = Arc::new(Recorder::default());
    rebuild_with_lookup(&mut line, again.clone());
    let registered = again.0.lock().unwrap().clone();
    assert!(registered.contains(&ab_funding), "{registered:?}");
    assert!(
        registered.contains(&bc_funding),
        "B-C, learned by gossip in the earlier run: {registered:?}"
    );
    assert_eq!(state(&line.members[0].node, scid_bc), "open");

    // B-C closes; A is fed only what its new filter matches: the spend
    // of the registered output closes the channel, and the 12th
    // confirmation forgets it.
    line.members[1].node.close_channel(bc).unwrap();
    line.shuttle();
    mine_filtered(&mut line, 1, &again);
    assert_eq!(line.chain.mempool().len(), 0, "closing transaction mined");
    let spent_at = line.chain.best_block().height;
    assert_eq!(state(&line.members[0].node, scid_bc), "closing");
    mine_filtered(&mut line, 10, &again);
    assert_eq!(line.chain.best_block().height, spent_at + 10);
    assert_eq!(state(&line.members[0].node, scid_bc), "closing");
    mine_filtered(&mut line, 1, &again);
    assert_eq!(state(&line.members[0].node, scid_bc), "absent");
    assert_eq!(state(&line.members[0].node, scid_ab), "open");

    // Saved without B-C; the next restart merges the records and leaves
    // the forgotten channel's outpoint out.
    tick(&mut line, 601);
    let third = Arc::new(Recorder::default());
    rebuild_with_lookup(&mut line, third.clone());
    let registered = third.0.lock().unwrap().clone();
    assert!(registered.contains(&ab_funding));
    assert!(!registered.contains(&bc_funding), "{registered:?}");
    assert_eq!(funding_records(&line).len(), 1, "merged into one");
}

#[test]
fn a_spend_reorganised_out_reopens_the_channel_and_its_new_spend_prunes_it_twelve_blocks_later() {
    let (mut line, ab, bc, _) = line(true);
    let (scid_ab, scid_bc) = (line.members[0].scid(ab), line.members[1].scid(bc));
    let carol = line.members[2].id();
    let (bc_outpoint, _) = funding_of(&line, 1, bc);
    let spent_at = close(&mut line, bc);
    let close_tx = line
        .chain
        .block_at(spent_at)
        .unwrap()
        .txdata
        .into_iter()
        .find(|tx| tx.input.iter().any(|i| i.previous_output == bc_outpoint))
        .unwrap();
    assert_eq!(state(&line.members[0].node, scid_bc), "closing");
    // A's snapshot is written with the spend in it.
    tick(&mut line, 601);
    line.mine(3);

    // A reorg takes the spend's block (and the three above it) out of
    // the best chain, four confirmations in; every member is told, tip
    // first. The closing transaction is held back from the new blocks.
    let tip = line.chain.best_block().height;
    let headers: Vec<(u32, bitcoin::block::Header)> = (spent_at..=tip)
        .rev()
        .map(|h| (h, line.chain.block_at(h).unwrap().header))
        .collect();
    line.chain.invalidate_tip(headers.len());
    line.chain.with(|c| {
        let txids: Vec<Txid> = c.mempool().map(|t| t.compute_txid()).collect();
        for t in txids {
            c.remove_from_mempool(&t);
        }
    });
    for m in &mut line.members {
        for (h, header) in &headers {
            m.node.block_disconnected(header, *h);
        }
        m.fed = spent_at - 1;
    }
    line.shuttle();
    let route_hops = |n: &mut Node| -> Vec<ShortChannelId> {
        let route = n.find_route_to(carol, Msat(10_000)).unwrap();
        route.paths[0]
            .hops
            .iter()
            .map(|h| h.short_channel_id)
            .collect()
    };
    assert_eq!(state(&line.members[0].node, scid_bc), "open", "reopened");
    assert_eq!(
        route_hops(&mut line.members[0].node),
        vec![scid_ab, scid_bc]
    );

    // A crashes before its next snapshot (which still holds the spend):
    // the reopening was saved apart.
    assert!(line.members[0]
        .store
        .read("node", CLOSING_KEY)
        .unwrap()
        .is_some());
    line.restart(0);
    assert_eq!(state(&line.members[0].node, scid_bc), "open");
    // (Our channel with B is usable again once re-established.)
    line.shuttle();
    assert_eq!(
        route_hops(&mut line.members[0].node),
        vec![scid_ab, scid_bc]
    );

    // The new chain grows past the old tip without the spend...
    line.chain.mine_empty_blocks(6);
    for m in &mut line.members {
        feed_blocks(&mut m.node, &mut m.fed, &line.chain);
    }
    line.shuttle();
    assert!(line.chain.best_block().height > tip);
    assert_eq!(state(&line.members[0].node, scid_bc), "open");

    // ... then the spend confirms again, higher.
    let close_txid = close_tx.compute_txid();
    if !line
        .chain
        .mempool()
        .iter()
        .any(|t| t.compute_txid() == close_txid)
    {
        line.chain.submit_transaction(close_tx).unwrap();
    }
    line.mine(1);
    let respent_at = line.chain.best_block().height;
    assert_eq!(line.chain.tx_confirmations(&close_txid), Some(1));
    assert!(respent_at > spent_at);
    assert_eq!(state(&line.members[0].node, scid_bc), "closing");
    // A crashes again before a snapshot: the snapshot has the old spend
    // height, the saved record the new one, which counts.
    line.restart(0);
    assert_eq!(state(&line.members[0].node, scid_bc), "closing");
    line.mine(10);
    assert_eq!(line.chain.best_block().height, respent_at + 10);
    assert_eq!(
        state(&line.members[0].node, scid_bc),
        "closing",
        "the old spend height is long past its 12 blocks; the new one's are not"
    );
    line.mine(1);
    assert_eq!(state(&line.members[0].node, scid_bc), "absent");
    assert_eq!(state(&line.members[0].node, scid_ab), "open");
}
