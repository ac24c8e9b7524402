//! `Node::block_connected` per block (issue 15): a node with
//! `BENCH_CHANNELS` (default 100) funded `option_anchors` channels to one
//! peer, one of them force-closed and resolving (its commitment confirmed,
//! its claims due and re-bumped every block), fed blocks of
//! `BENCH_BLOCK_TXS` (default 3,000) transactions of two inputs and two
//! outputs spending unrelated outpoints. Each iteration connects the next
//! block (the same transactions, a new header linked to the last).
//!
//! Rows: `node` (the node's `block_connected`), and `floor`: the work any
//! watcher of these channels must do for that block, computing every
//! transaction's txid and looking each input up once in a hash set of the
//! watched outpoints. Before the rows it prints a paired measurement (the
//! two alternated) and the ratio (issue 15: goal at most 2x the floor at
//! 10,000 channels; the default run uses fewer channels to keep the setup
//! short).
//!
//! `cargo bench -p lightning-benches --bench block_connected -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, Network, OutPoint, Transaction, TxMerkleNode,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lightning_core::node::{Event, Node, NodeConfig, NodeHost, Persistence};
use lightning_core::peer::PeerId;
use lightning_core::prelude::{ChainListener, FeeRate, FixedFeeEstimator};
use lightning_core::Msat;
use lightning_persist::MemoryStore;
use lightning_sim::{SimChainHandle, SimWallet};

#[path = "support/filler.rs"]
mod filler_support;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> NodeConfig {
    let mut c = NodeConfig::new(Network::Regtest);
    c.channel.minimum_depth = 1;
    c.channel.anchors = true;
    c
}

fn node(seed: u8, chain: &SimChainHandle) -> Node {
    let host = NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(1000))),
    };
    Node::builder(Network::Regtest)
        .config(config())
        .seed(&[seed; 32])
        .persistence(Persistence::Inline(Arc::new(MemoryStore::new())))
        .host(host)
        .best_block(chain.best_block())
        .build()
        .expect("node")
}

struct Setup {
    node: Node,
    chain: SimChainHandle,
    /// Every channel's funding outpoint (what the floor watches).
    watched: HashSet<OutPoint>,
}

fn shuttle(a: &mut Node, b: &mut Node, pa: PeerId, pb: PeerId, now: Duration) {
    loop {
        let mut moved = false;
        while let Some(x) = a.poll_transmit(pa) {
            moved = true;
            let _ = b.handle_bytes(pb, &x, now);
        }
        while let Some(x) = b.poll_transmit(pb) {
            moved = true;
            let _ = a.handle_bytes(pa, &x, now);
        }
        if !moved {
            break;
        }
    }
}

fn feed(node: &mut Node, chain: &SimChainHandle, from: u32) {
    for h in from + 1..=chain.best_block().height {
        let block = chain.block_at(h).expect("block");
        node.block_connected(&block, h);
    }
}

/// `channels` funded anchors channels from A to B; channel 0 force-closed
/// by A and its commitment confirmed.
fn setup(channels: usize) -> Setup {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([9; 32], chain.clone());
    // One mature coinbase per channel.
    chain.mine_blocks(100 + channels, &wallet.script_pubkey());
    let mut a = node(1, &chain);
    let mut b = node(2, &chain);
    let now = Duration::from_secs(1_700_000_000);
    let (pa, act) = a.connect_outbound(b.node_id(), now);
    let pb = b.accept_inbound(now);
    b.handle_bytes(pb, &act, now).expect("act one");
    shuttle(&mut a, &mut b, pa, pb, now);
    let base = chain.best_block().height;
    a.best_block_updated(&chain.block_at(base).expect("tip").header, base);
    let b_id = b.node_id();
    let mut funded = 0;
    let mut attempts = 0;
    while funded < channels {
        attempts += 1;
        assert!(attempts < 4 * channels + 20, "channels do not open");
        let temp = a
            .open_channel(b_id, Amount::from_sat(1_000_000), Msat(100_000_000))
            .expect("open_channel");
        shuttle(&mut a, &mut b, pa, pb, now);
        let mut got = false;
        while let Some(e) = a.poll_event() {
            if let Event::FundingNeeded {
                amount_sat,
                script_pubkey,
                ..
            } = e
            {
                let tx = wallet.fund(amount_sat, &script_pubkey).expect("fund");
                a.funding_transaction_generated(temp, tx).expect("funding");
                funded += 1;
                got = true;
            }
        }
        while b.poll_event().is_some() {}
        shuttle(&mut a, &mut b, pa, pb, now);
        // The peer takes a few unconfirmed channels at a time: confirm them.
        if !got || funded % 3 == 0 {
            let tip = chain.best_block().height;
            chain.mine_blocks(1, &wallet.script_pubkey());
            feed(&mut a, &chain, tip);
            feed(&mut b, &chain, tip);
            shuttle(&mut a, &mut b, pa, pb, now);
            while a.poll_event().is_some() {}
            while b.poll_event().is_some() {}
        }
    }
    let tip = chain.best_block().height;
    chain.mine_blocks(2, &wallet.script_pubkey());
    feed(&mut a, &chain, tip);
    feed(&mut b, &chain, tip);
    shuttle(&mut a, &mut b, pa, pb, now);
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    let list: Vec<_> = a
        .list_channels()
        .into_iter()
        .filter(|c| c.funding_txo.is_some())
        .collect();
    assert_eq!(list.len(), channels);
    assert!(list.iter().all(|c| c.is_usable), "every channel is ready");
    let watched: HashSet<OutPoint> = list.iter().filter_map(|c| c.funding_txo).collect();
    // Channel 0 goes to chain: its commitment confirms, its claims are due.
    a.force_close_channel(list[0].channel_id)
        .expect("force close");
    let tip = chain.best_block().height;
    chain.mine_blocks(2, &wallet.script_pubkey());
    feed(&mut a, &chain, tip);
    while a.poll_event().is_some() {}
    assert!(
        a.list_channels().iter().any(|c| c.closing.is_some()),
        "one channel resolving"
    );
    Setup {
        node: a,
        chain,
        watched,
    }
}

/// The next block after `prev` at `height`, holding `txs`.
fn next_block(prev: BlockHash, height: u32, txs: &[Transaction]) -> Block {
    Block {
        header: Header {
            version: BlockVersion::TWO,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: 1_700_000_000 + height * 600,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: height,
        },
        txdata: txs.to_vec(),
    }
}

fn floor(block: &Block, watched: &HashSet<OutPoint>) -> usize {
    let mut hits = 0;
    for tx in &block.txdata {
        black_box(tx.compute_txid());
        for i in &tx.input {
            if watched.contains(&i.previous_output) {
                hits += 1;
            }
        }
    }
    hits
}

fn bench(c: &mut Criterion) {
    let channels = env("BENCH_CHANNELS", 100);
    let txs = filler_support::filler(0, env("BENCH_BLOCK_TXS", 3_000));
    let t0 = Instant::now();
    let Setup {
        mut node,
        chain,
        watched,
    } = setup(channels);
    println!(
        "block_connected: {channels} channels (one resolving), {} transactions per block; setup {:.1?}",
        txs.len(),
        t0.elapsed()
    );
    let _ = chain;
    let tip = node.best_block();
    let mut prev = tip.hash;
    let mut height = tip.height;
    let mut next = |txs: &[Transaction]| {
        height += 1;
        let b = next_block(prev, height, txs);
        prev = b.block_hash();
        (b, height)
    };

    // Paired: node and floor alternated over the same blocks.
    let rounds = 20;
    let (mut t_node, mut t_floor) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let (block, h) = next(&txs);
        let t = Instant::now();
        black_box(floor(&block, &watched));
        t_floor += t.elapsed();
        let t = Instant::now();
        node.block_connected(&block, h);
        t_node += t.elapsed();
        while node.poll_event().is_some() {}
    }
    println!(
        "paired block_connected: node {:.3?} per block, floor {:.3?} per block, ratio {:.2}x",
        t_node / rounds,
        t_floor / rounds,
        t_node.as_secs_f64() / t_floor.as_secs_f64()
    );

    let mut g = c.benchmark_group("block_connected");
    g.sample_size(10);
    g.bench_function("node", |bch| {
        // By reference: the block is dropped outside the timing, as in the
        // floor row, which reuses one block.
        bch.iter_batched_ref(
            || next(&txs),
            |(block, h)| {
                node.block_connected(block, *h);
                while node.poll_event().is_some() {}
            },
            criterion::BatchSize::LargeInput,
        )
    });
    let block = next_block(BlockHash::all_zeros(), 0, &txs);
    g.bench_function("floor", |bch| bch.iter(|| floor(&block, &watched)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
