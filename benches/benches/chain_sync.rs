//! Full-block sync through the `bitcoind` adapter (issue 16): a
//! `ChainSync` walks a listener from a checkpoint to the tip of
//! `simchain`'s bitcoind JSON-RPC on loopback, `BENCH_SYNC_BLOCKS` blocks
//! (default 2,000) of `BENCH_SYNC_TXS` transactions each (default 2,000,
//! two inputs and two outputs, ~230 bytes), against the floor of the same
//! blocks' bytes deserialized from memory. The listener only counts what
//! it is given, so the ratio is the adapter's: the RPC round trips, JSON
//! and hex, and the header-chain checks. The adapter runs twice: blocks by
//! JSON-RPC (`getblock <hash> 0`, hex in JSON) and by Core's REST
//! interface (`/rest/block/<hash>.bin`, `use_rest`), the server the same.
//!
//! It prints one paired pass over the whole chain (floor, JSON-RPC, REST,
//! floor again), with blocks per second and the ratios, then criterion
//! rows over the last 20 blocks.
//!
//! `cargo bench -p lightning-benches --bench chain_sync`

use std::time::{Duration, Instant};

use bitcoin::block::Header;
use bitcoin::{Block, Transaction};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lightning_chain::bitcoind::{BitcoindAuth, BitcoindSource};
use lightning_chain::{BestBlock, ChainListener, ChainSync, FeeConfig};
use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer};

#[path = "support/filler.rs"]
mod filler_support;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Counts the blocks and transactions it is given.
#[derive(Debug, Default)]
struct Counter {
    blocks: usize,
    txs: usize,
}

impl ChainListener for Counter {
    fn block_connected(&mut self, block: &Block, _height: u32) {
        self.blocks += 1;
        self.txs += block.txdata.len();
    }
    fn block_disconnected(&mut self, _: &Header, _: u32) {}
    fn transactions_confirmed(&mut self, _: &Header, _: &[(usize, &Transaction)], _: u32) {}
    fn best_block_updated(&mut self, _: &Header, _: u32) {}
}

/// Syncs a fresh listener from `from` to the tip through `source`.
fn sync_from(source: &BitcoindSource, from: BestBlock) -> Counter {
    let mut counter = Counter::default();
    let mut sync = ChainSync::new(from);
    sync.sync(source, &mut counter).expect("sync");
    counter
}

/// The floor: every block's bytes deserialized from memory.
fn floor(raw: &[Vec<u8>]) -> usize {
    raw.iter()
        .map(|b| {
            let block: Block = bitcoin::consensus::deserialize(b).expect("block");
            black_box(&block);
            block.txdata.len()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let blocks = env("BENCH_SYNC_BLOCKS", 2_000);
    let per_block = env("BENCH_SYNC_TXS", 2_000);
    let t0 = Instant::now();
    let chain = SimChainHandle::new();
    let start = chain.best_block();
    for b in 0..blocks {
        chain.mine_block_unverified(filler_support::filler(b as u64, per_block));
    }
    let raw: Vec<Vec<u8>> = (1..=blocks as u32)
        .map(|h| bitcoin::consensus::serialize(&chain.block_at(h).expect("block")))
        .collect();
    let bytes: usize = raw.iter().map(Vec::len).sum();
    let server =
        RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").expect("rpc");
    server.set_rest(true);
    let source = || {
        BitcoindSource::new(
            &server.url(),
            BitcoindAuth::UserPass("u".into(), "p".into()),
            FeeConfig::default(),
        )
        .expect("source")
    };
    let (rpc, rest) = (source(), source().use_rest());
    println!(
        "chain_sync: {blocks} blocks of {per_block} transactions ({:.1} MB); setup {:.1?}",
        bytes as f64 / 1e6,
        t0.elapsed()
    );

    // Paired over the whole chain: floor, JSON-RPC, REST, floor again.
    let t = Instant::now();
    let floor_txs = floor(&raw);
    let f1 = t.elapsed();
    let timed = |source: &BitcoindSource| {
        let t = Instant::now();
        let got = sync_from(source, start);
        let took = t.elapsed();
        assert_eq!(got.blocks, blocks, "every block synced");
        assert_eq!(got.txs, floor_txs, "every transaction delivered");
        took
    };
    let by_rpc = timed(&rpc);
    let by_rest = timed(&rest);
    assert!(rest.rest_enabled(), "{:?}", rest.take_rest_fallback());
    let t = Instant::now();
    black_box(floor(&raw));
    let f2 = t.elapsed();
    let f = (f1 + f2) / 2;
    let per_s = |d: Duration| blocks as f64 / d.as_secs_f64();
    println!(
        "paired chain_sync: floor {f:.2?} ({:.0} blocks/s; runs {f1:.2?} and {f2:.2?})",
        per_s(f)
    );
    for (name, took) in [("JSON-RPC", by_rpc), ("REST", by_rest)] {
        println!(
            "paired chain_sync: bitcoind adapter, blocks by {name}: {took:.2?} ({:.0} blocks/s, {:.0} MB/s), ratio {:.2}x the floor",
            per_s(took),
            bytes as f64 / 1e6 / took.as_secs_f64(),
            took.as_secs_f64() / f.as_secs_f64()
        );
    }

    // Criterion rows over the last 20 blocks.
    let last = 20.min(blocks) as u32;
    let tip = chain.best_block().height;
    let from_height = tip - last;
    let from = BestBlock::new(
        chain.block_at(from_height).expect("block").block_hash(),
        from_height,
    );
    let tail = &raw[raw.len() - last as usize..];
    let mut g = c.benchmark_group("chain_sync");
    g.sample_size(10);
    g.bench_function("bitcoind_rpc_20_blocks", |b| {
        b.iter(|| sync_from(&rpc, from))
    });
    g.bench_function("bitcoind_rest_20_blocks", |b| {
        b.iter(|| sync_from(&rest, from))
    });
    g.bench_function("floor_20_blocks", |b| b.iter(|| floor(tail)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
