//! Time per route on the synthetic mainnet-sized graph: our router with
//! our `ProbabilisticScorer` beside LDK's `find_route` with its
//! `ProbabilisticScorer`, on the same graph, the same (payer, payee,
//! amount) triples and scorers trained on the same simulated payments.
//!
//! First a fixed pass over `ROUTER_BENCH_TRIPLES` triples (default 1000,
//! amounts log-uniform 1,000..1,000,000 sat) printing p50/p99 for single
//! path and multi-part, ours and LDK's, and their ratio; then criterion
//! groups over the same triples.
//!
//! `cargo bench -p lightning-benches --bench router -- --warm-up-time 1 --measurement-time 3`

#[path = "support/ldk_router.rs"]
mod ldk_router;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lightning_core::Msat;
use lightning_router::sim::pay;
use lightning_router::synthetic::{generate, Rng, SyntheticNetwork, SyntheticParams};
use lightning_router::{
    NodeId, ProbabilisticScorer, RetryBudget, RouteParams, Router, ScorerParams,
};
use secp256k1::{PublicKey, SECP256K1};

const SEED: u64 = 42;

struct Setup {
    net: SyntheticNetwork,
    graph: ldk_router::Graph,
    pubkeys: Vec<PublicKey>,
    triples: Vec<(usize, usize, Msat)>,
}

fn triples(net: &SyntheticNetwork, n: usize, seed: u64) -> Vec<(usize, usize, Msat)> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let a = rng.below(net.nodes.len() as u64) as usize;
            let mut b = rng.below(net.nodes.len() as u64) as usize;
            if a == b {
                b = (a + 1) % net.nodes.len();
            }
            let sat = rng.log_uniform(1_000.0, 1_000_000.0) as u64;
            (a, b, Msat(sat * 1000))
        })
        .collect()
}

fn setup() -> Setup {
    let net = generate(SyntheticParams::mainnet_like(SEED)).expect("graph");
    let graph = ldk_router::ldk_graph(&net.channels);
    let pubkeys = net
        .secret_keys
        .iter()
        .map(|k| PublicKey::from_secret_key(SECP256K1, k))
        .collect();
    let n = std::env::var("ROUTER_BENCH_TRIPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let triples = triples(&net, n, SEED ^ 0x7e57);
    Setup {
        net,
        graph,
        pubkeys,
        triples,
    }
}

/// Both scorers after the same 200 simulated payments (each in its own
/// copy of the hidden liquidity), so lookups hit learned entries.
fn trained(s: &Setup) -> (ProbabilisticScorer, ldk_router::Scorer<'_>) {
    let train = triples(&s.net, 200, SEED ^ 0x7a1);
    let budget = RetryBudget {
        max_attempts: 10,
        timeout: Duration::from_secs(3600),
    };
    let mut ours = ProbabilisticScorer::new(ScorerParams::default());
    let mut router = Router::new();
    let mut liq = s.net.liquidity.clone();
    let mut ldk = ldk_router::ldk_scorer(&s.graph);
    let mut ldk_liq = s.net.liquidity.clone();
    for (i, &(a, b, amount)) in train.iter().enumerate() {
        let now = Duration::from_secs(1_700_000_000 + 60 * i as u64);
        let mut p = RouteParams::new(s.net.nodes[b], amount);
        p.max_total_fee = Some(ldk_router::default_max_fee(amount));
        pay(
            &mut router,
            &s.net.graph,
            &mut ours,
            &mut liq,
            &s.net.nodes[a],
            p,
            budget,
            now,
        );
        ldk_router::ldk_pay(
            &s.net,
            &s.graph,
            &mut ldk,
            &mut ldk_liq,
            &s.pubkeys[a],
            &s.pubkeys[b],
            amount,
            10,
            now,
        );
    }
    (ours, ldk)
}

fn our_params(payee: NodeId, amount: Msat, mpp: bool) -> RouteParams {
    let mut p = RouteParams::new(payee, amount);
    p.allow_mpp = mpp;
    p.max_total_fee = Some(ldk_router::default_max_fee(amount));
    p
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn fixed_pass(s: &Setup, ours: &ProbabilisticScorer, ldk: &ldk_router::Scorer<'_>) {
    println!(
        "router bench: seed {SEED}, {} nodes, {} channels, {} (payer, payee, amount) triples, scorers trained on 200 payments",
        s.net.nodes.len(),
        s.net.channels.len(),
        s.triples.len()
    );
    let mut router = Router::new();
    for mpp in [false, true] {
        let mut t_ours = Vec::with_capacity(s.triples.len());
        let mut t_ldk = Vec::with_capacity(s.triples.len());
        let (mut found_ours, mut found_ldk) = (0, 0);
        for &(a, b, amount) in &s.triples {
            let p = our_params(s.net.nodes[b], amount, mpp);
            let t = Instant::now();
            let r = router.find_route(&s.net.graph, &s.net.nodes[a], None, &p, ours);
            t_ours.push(t.elapsed());
            found_ours += usize::from(r.is_ok());
            let lp = ldk_router::ldk_params(
                &s.pubkeys[b],
                amount,
                mpp,
                ldk_router::default_max_fee(amount),
            );
            let t = Instant::now();
            let r = ldk_router::ldk_route(&s.graph, ldk, &s.pubkeys[a], &lp);
            t_ldk.push(t.elapsed());
            found_ldk += usize::from(r.is_ok());
        }
        t_ours.sort_unstable();
        t_ldk.sort_unstable();
        let (o50, o99) = (percentile(&t_ours, 0.5), percentile(&t_ours, 0.99));
        let (l50, l99) = (percentile(&t_ldk, 0.5), percentile(&t_ldk, 0.99));
        let mode = if mpp { "multi-part " } else { "single path" };
        println!(
            "{mode}: ours p50 {:>9.1} us  p99 {:>9.1} us  (routes found {found_ours}/{n})",
            us(o50),
            us(o99),
            n = s.triples.len()
        );
        println!(
            "{mode}: LDK  p50 {:>9.1} us  p99 {:>9.1} us  (routes found {found_ldk}/{n})",
            us(l50),
            us(l99),
            n = s.triples.len()
        );
        println!(
            "{mode}: ours/LDK  p50 {:.3}  p99 {:.3}",
            us(o50) / us(l50),
            us(o99) / us(l99)
        );
    }
    let ldk_bytes = lightning::util::ser::Writeable::encode(ldk).len();
    println!(
        "scorer: ours {} entries, {} bytes in memory (estimate), {} bytes encoded; LDK {} bytes encoded",
        ours.len(),
        ours.memory_bytes(),
        ours.encode().len(),
        ldk_bytes
    );
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let (ours, ldk) = trained(&s);
    fixed_pass(&s, &ours, &ldk);
    let mut g = c.benchmark_group("route");
    for mpp in [false, true] {
        let tag = if mpp { "mpp" } else { "single" };
        let mut router = Router::new();
        let mut i = 0usize;
        g.bench_function(format!("ours_{tag}"), |bch| {
            bch.iter(|| {
                let (a, b, amount) = s.triples[i % s.triples.len()];
                i += 1;
                let p = our_params(s.net.nodes[b], amount, mpp);
                black_box(router.find_route(&s.net.graph, &s.net.nodes[a], None, &p, &ours))
            })
        });
        let mut j = 0usize;
        g.bench_function(format!("ldk_{tag}"), |bch| {
            bch.iter(|| {
                let (a, b, amount) = s.triples[j % s.triples.len()];
                j += 1;
                let lp = ldk_router::ldk_params(
                    &s.pubkeys[b],
                    amount,
                    mpp,
                    ldk_router::default_max_fee(amount),
                );
                black_box(ldk_router::ldk_route(&s.graph, &ldk, &s.pubkeys[a], &lp))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
