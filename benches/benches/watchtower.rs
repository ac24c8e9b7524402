//! Issue 21's watchtower figures.
//!
//! Group `watchtower_client`: one payment's round trip between two whole
//! `Node`s (`support/node.rs`, each persisting inline to a `MemoryStore`)
//! without a tower (`payment_without_tower`, the peer) and with a third
//! node serving as watchtower to both (`payment_with_tower`): each of the
//! payment's revocations (two per side) becomes a justice kit, signed,
//! sealed and sent to the tower, and the tower's acknowledgement comes
//! back before the round trip ends. Before the rows: a paired measurement
//! (the two in alternation) giving the ratio and the overhead per payment,
//! and the tower's stored bytes per update.
//!
//! The tower's check cost per block with 1,000,000 stored updates is
//! `lightning-watchtower/tests/check_cost.rs` (`TOWER_UPDATES=1000000`).
//!
//! `cargo bench -p lightning-benches --bench watchtower -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use lightning_persist::MemoryStore;

#[path = "support/node.rs"]
#[allow(dead_code)]
mod node_support;
use node_support::NodePair;

const AMOUNT_MSAT: u64 = 50_000_000;
const PAIRS: u32 = 200;

fn memory_pair(tower: bool) -> NodePair {
    NodePair::open_with(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryStore::new()),
        tower,
    )
}

fn watchtower(c: &mut Criterion) {
    let mut plain = memory_pair(false);
    let mut towered = memory_pair(true);
    let mut next = 0u64;
    // Paired: the same payment with and without the tower, in turn.
    let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
    for i in 0..PAIRS {
        let a_to_b = i % 2 == 0;
        let t = Instant::now();
        plain.pay(a_to_b, AMOUNT_MSAT);
        without += t.elapsed();
        let t = Instant::now();
        towered.pay(a_to_b, AMOUNT_MSAT);
        with += t.elapsed();
    }
    let a = towered.a.node.watchtower_stats();
    let b = towered.b.node.watchtower_stats();
    let tower = towered.tower.as_ref().expect("tower");
    let served = tower.node.watchtower_stats().server.expect("server");
    let kits = a.kits_sealed + b.kits_sealed;
    assert!(kits >= u64::from(PAIRS) * 2, "kits sealed: {kits}");
    assert_eq!(a.towers[0].1 + b.towers[0].1, 0, "every kit acknowledged");
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(PAIRS);
    println!(
        "paired payment round trip ({PAIRS} each): without tower {:.0} us, with tower {:.0} us, \
         ratio {:.2}x, overhead {:.0} us per payment ({:.1} kits per payment)",
        per(without),
        per(with),
        with.as_secs_f64() / without.as_secs_f64(),
        per(with) - per(without),
        kits as f64 / f64::from(PAIRS)
    );
    println!(
        "tower storage: {} updates, {} bytes, {:.0} bytes per update",
        served.updates,
        served.bytes,
        served.bytes as f64 / served.updates.max(1) as f64
    );

    let mut group = c.benchmark_group("watchtower_client");
    group.throughput(Throughput::Elements(1));
    group.bench_function("payment_without_tower", |b| {
        b.iter(|| {
            next += 1;
            plain.pay(next.is_multiple_of(2), AMOUNT_MSAT);
        })
    });
    group.bench_function("payment_with_tower", |b| {
        b.iter(|| {
            next += 1;
            towered.pay(next.is_multiple_of(2), AMOUNT_MSAT);
        })
    });
    group.finish();
}

criterion_group!(benches, watchtower);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
