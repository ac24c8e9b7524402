//! Runs the on-chain fuzz target (`onchain_events`) over its checked-in
//! corpus. `WRITE_ONCHAIN_CORPUS=1 cargo test -p lightning-fuzz --test
//! onchain` writes the hand-made seeds again.
#![allow(clippy::unwrap_used)]

use lightning_fuzz::{assert_corpus, corpus_dir, onchain};

#[test]
fn onchain_events_corpus() {
    if std::env::var_os("WRITE_ONCHAIN_CORPUS").is_some() {
        let dir = corpus_dir("onchain_events");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in onchain::seed_corpus() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    assert_corpus("onchain_events", onchain::onchain_events, 5);
}

/// The seeds reach what they are named for: claims made and bumped on a
/// close by either side and on a revoked commitment.
#[test]
fn onchain_events_seeds_reach_claims() {
    for (name, bytes) in onchain::seed_corpus() {
        let r = onchain::run(&bytes);
        println!("{name}: {r:?}");
        if name != "seed-fake-funding-spend" {
            assert!(r.spent, "{name}: {r:?}");
            assert!(r.claims >= 1 && r.bumped >= 1, "{name}: {r:?}");
        }
    }
}

/// Edge inputs that need no corpus file.
#[test]
fn onchain_events_edge_inputs() {
    for data in [
        &[][..],
        &[5],
        &[5, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[1; 64],
        &[6; 8],
        &[0xff; 64],
    ] {
        onchain::onchain_events(data);
    }
}

/// A deterministic sweep of pseudo-random inputs (a few hundred), biased
/// to the operations that move the chain: no invariant fails.
#[test]
fn onchain_events_pseudo_random_inputs() {
    let n: usize = std::env::var("ONCHAIN_FUZZ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut spent = 0;
    for _ in 0..n {
        let len = (next() % 160) as usize;
        let data: Vec<u8> = (0..len)
            .map(|i| {
                let r = next();
                // Every other byte an opcode drawn mostly from blocks.
                if i % 2 == 0 && r % 3 != 0 {
                    [0u8, 0, 0, 2, 3, 4, 6, 1][(r >> 8) as usize % 8]
                } else {
                    (r >> 16) as u8
                }
            })
            .collect();
        if onchain::run(&data).spent {
            spent += 1;
        }
    }
    println!("{spent} of {n} runs saw the funding output spent");
    assert!(spent > n / 4, "the sweep reaches closes: {spent} of {n}");
}
