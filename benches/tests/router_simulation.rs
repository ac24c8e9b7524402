//! Payment-success simulation: on the synthetic mainnet-sized graph with a
//! hidden liquidity per channel direction (seeded), pay the same random
//! payments with our router and scorer and with LDK's `find_route` and
//! `ProbabilisticScorer` (default parameters), each learning from its own
//! failures in its own copy of the liquidity (which moves as payments
//! settle). Prints success rate, attempts per payment, fees and time per
//! payment for both.
//!
//! CI runs 50 payments; `ROUTER_SIM_PAYMENTS=1000` runs the issue's
//! thousand, `ROUTER_SIM_SEED` changes the seed (default 42):
//! `ROUTER_SIM_PAYMENTS=1000 cargo test -p lightning-benches --test
//! router_simulation -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/support/ldk_router.rs"]
mod ldk_router;

use std::time::{Duration, Instant};

use lightning_core::Msat;
use lightning_router::sim::{pay, SimOutcome};
use lightning_router::synthetic::{generate, HiddenLiquidity, Rng, SyntheticParams};
use lightning_router::{
    Direction, ProbabilisticScorer, RetryBudget, RouteParams, Router, ScorerParams,
};
use secp256k1::{PublicKey, SECP256K1};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    ok: u32,
    first_try: u32,
    attempts: u64,
    attempts_ok: u64,
    fees: u64,
    delivered: u64,
    time: Duration,
}

impl Tally {
    fn add(&mut self, o: SimOutcome, amount: Msat, t: Duration) {
        self.attempts += u64::from(o.attempts);
        self.time += t;
        if o.succeeded {
            self.ok += 1;
            self.attempts_ok += u64::from(o.attempts);
            self.first_try += u32::from(o.attempts == 1);
            self.fees += o.fees.0;
            self.delivered += amount.0;
        }
    }

    fn line(&self, name: &str, n: u32) -> String {
        format!(
            "{name:<6} success {:>5.1} % ({}/{n})  first-attempt {:>5.1} %  attempts/payment {:.2} (succeeded ones {:.2})  fees {:.0} ppm of delivered  time/payment {:.2} ms",
            100.0 * f64::from(self.ok) / f64::from(n),
            self.ok,
            100.0 * f64::from(self.first_try) / f64::from(n),
            self.attempts as f64 / f64::from(n),
            self.attempts_ok as f64 / f64::from(self.ok.max(1)),
            if self.delivered == 0 { 0.0 } else { self.fees as f64 * 1e6 / self.delivered as f64 },
            self.time.as_secs_f64() * 1000.0 / f64::from(n),
        )
    }
}

fn conserved(net: &lightning_router::synthetic::SyntheticNetwork, l: &HiddenLiquidity) -> bool {
    net.channels.iter().all(|c| {
        let a = l.available(c.scid, Direction::FromNode1).0;
        let b = l.available(c.scid, Direction::FromNode2).0;
        Some(Msat(a + b)) == c.capacity
    })
}

#[test]
fn payment_success_ours_and_ldk_on_the_same_hidden_liquidity() {
    let seed = env_or("ROUTER_SIM_SEED", 42);
    let n = env_or("ROUTER_SIM_PAYMENTS", 50) as u32;
    let max_attempts = 10;
    let net = generate(SyntheticParams::mainnet_like(seed)).unwrap();
    let graph = ldk_router::ldk_graph(&net.channels);
    let pubkeys: Vec<PublicKey> = net
        .secret_keys
        .iter()
        .map(|k| PublicKey::from_secret_key(SECP256K1, k))
        .collect();

    let mut rng = Rng::new(seed ^ 0xbeef);
    let payments: Vec<(usize, usize, Msat)> = (0..n)
        .map(|_| {
            let a = rng.below(net.nodes.len() as u64) as usize;
            let mut b = rng.below(net.nodes.len() as u64) as usize;
            if b == a {
                b = (a + 1) % net.nodes.len();
            }
            let sat = rng.log_uniform(1_000.0, 1_000_000.0) as u64;
            (a, b, Msat(sat * 1000))
        })
        .collect();

    let mut ours = Tally::default();
    let mut router = Router::new();
    let mut scorer = ProbabilisticScorer::new(ScorerParams::default());
    let mut liq = net.liquidity.clone();
    let budget = RetryBudget {
        max_attempts,
        timeout: Duration::from_secs(3600),
    };
    for (i, &(a, b, amount)) in payments.iter().enumerate() {
        let now = Duration::from_secs(1_700_000_000 + 60 * i as u64);
        let mut p = RouteParams::new(net.nodes[b], amount);
        p.max_total_fee = Some(ldk_router::default_max_fee(amount));
        let t = Instant::now();
        let o = pay(
            &mut router,
            &net.graph,
            &mut scorer,
            &mut liq,
            &net.nodes[a],
            p,
            budget,
            now,
        );
        ours.add(o, amount, t.elapsed());
    }
    assert!(
        conserved(&net, &liq),
        "our simulation lost or made liquidity"
    );

    let mut ldk = Tally::default();
    if std::env::var_os("ROUTER_SIM_SKIP_LDK").is_some() {
        println!("{}", ours.line("ours", n));
        return;
    }
    let mut ldk_scorer = ldk_router::ldk_scorer(&graph);
    let mut liq = net.liquidity.clone();
    for (i, &(a, b, amount)) in payments.iter().enumerate() {
        let now = Duration::from_secs(1_700_000_000 + 60 * i as u64);
        let t = Instant::now();
        let o = ldk_router::ldk_pay(
            &net,
            &graph,
            &mut ldk_scorer,
            &mut liq,
            &pubkeys[a],
            &pubkeys[b],
            amount,
            max_attempts,
            now,
        );
        ldk.add(o, amount, t.elapsed());
    }
    assert!(
        conserved(&net, &liq),
        "LDK's simulation lost or made liquidity"
    );

    println!(
        "payment simulation: seed {seed}, {} nodes, {} channels, {n} payments of 1,000..1,000,000 sat (log-uniform), at most {max_attempts} attempts each",
        net.nodes.len(),
        net.channels.len()
    );
    println!("{}", ours.line("ours", n));
    println!("{}", ldk.line("LDK", n));
    println!(
        "our scorer: {} channel directions learned, {} bytes in memory (estimate), {} bytes encoded",
        scorer.len(),
        scorer.memory_bytes(),
        scorer.encode().len()
    );
    // Both routers must have paid something: a broken adapter or graph
    // would show as zero successes.
    assert!(ours.ok > 0 && ldk.ok > 0);
}
