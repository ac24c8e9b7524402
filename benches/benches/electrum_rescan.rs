//! Electrum rescan (issue 16): a restarted light client (a new
//! `ElectrumSource` and `LightClientSync` from a checkpoint) watches
//! `BENCH_RESCAN_SCRIPTS` scripts (default 1,000), each paid once by its
//! own confirmed transaction, and syncs from a real ElectrumX indexing
//! `simchain` on loopback until every one is reported confirmed: the
//! connection, the headers, every script's history, every transaction
//! fetched and hashed, every merkle branch checked.
//!
//! Beside it, the floor any Electrum client pays for the same question:
//! the 1,000 histories alone, asked in one `electrum-client` batch on an
//! open connection (no transaction, no proof).
//!
//! It prints one paired pass (floor, ours, floor again) with the times
//! and the ratio, then criterion rows. Without ElectrumX installed (CI
//! installs it in `.ci/.venv`), it says so and measures nothing.
//!
//! `cargo bench -p lightning-benches --bench electrum_rescan`

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, ScriptBuf, Txid, WScriptHash};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use electrum_client::ElectrumApi;
use lightning_chain::electrum::ElectrumSource;
use lightning_chain::{BestBlock, ConfirmationTracker, FeeConfig, LightClientSync, WatchFilter};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_simchain::electrumx::ElectrumX;
use lightning_simchain::{Credentials, RpcServer};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A distinct P2WSH script per index.
fn script(i: usize) -> ScriptBuf {
    let digest = sha256::Hash::hash(&(i as u64).to_be_bytes());
    ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array(digest.to_byte_array()))
}

/// A restarted client's rescan: every watched transaction confirmed.
fn rescan(url: &str, checkpoint: BestBlock, watched: &[(Txid, ScriptBuf)]) -> u32 {
    let source =
        ElectrumSource::new(url, Duration::from_secs(60), FeeConfig::default()).expect("connect");
    let mut tracker = ConfirmationTracker::new(checkpoint);
    let mut light = LightClientSync::new(checkpoint);
    for (txid, script) in watched {
        tracker.watch_tx(*txid, 1);
        light.register_tx(txid, script);
    }
    let outcome = light.sync(&source, &mut tracker).expect("sync");
    assert_eq!(outcome.confirmed as usize, watched.len(), "every one found");
    outcome.confirmed
}

/// The floor: the histories alone, one batch on an open connection.
fn histories(client: &electrum_client::Client, scripts: &[ScriptBuf]) -> usize {
    let replies = client
        .batch_script_get_history(scripts.iter().map(ScriptBuf::as_script))
        .expect("histories");
    replies.iter().map(Vec::len).sum()
}

fn bench(c: &mut Criterion) {
    let Some(program) = ElectrumX::locate("electrum_rescan bench") else {
        return;
    };
    let n = env("BENCH_RESCAN_SCRIPTS", 1_000);
    let t0 = Instant::now();
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([21; 32], chain.clone());
    chain.mine_blocks(110, &wallet.script_pubkey());
    let checkpoint = chain.best_block();
    let scripts: Vec<ScriptBuf> = (0..n).map(script).collect();
    let mut watched = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        while next < n {
            match wallet.send(Amount::from_sat(20_000), &scripts[next]) {
                Ok(txid) => watched.push((txid, scripts[next].clone())),
                Err(_) => break,
            }
            next += 1;
        }
        chain.mine_blocks(1, &wallet.script_pubkey());
    }
    assert_eq!(
        watched
            .iter()
            .map(|(t, _)| *t)
            .collect::<HashSet<_>>()
            .len(),
        n,
        "one transaction per script"
    );
    let daemon =
        RpcServer::start(chain.clone(), Credentials::new("u", "p"), "127.0.0.1:0").expect("rpc");
    let mut electrumx = ElectrumX::start(&program, &daemon).expect("electrumx");
    electrumx
        .wait_for_height(chain.best_block().height, Duration::from_secs(120))
        .expect("indexed");
    let url = electrumx.url();
    println!(
        "electrum_rescan: {n} scripts paid in {} blocks; setup {:.1?}",
        chain.best_block().height - checkpoint.height,
        t0.elapsed()
    );

    let client = electrum_client::Client::new(&url).expect("client");
    let t = Instant::now();
    let found = histories(&client, &scripts);
    let f1 = t.elapsed();
    assert_eq!(found, n, "one history entry per script");
    let t = Instant::now();
    black_box(rescan(&url, checkpoint, &watched));
    let ours = t.elapsed();
    let t = Instant::now();
    black_box(histories(&client, &scripts));
    let f2 = t.elapsed();
    let f = (f1 + f2) / 2;
    println!(
        "paired electrum_rescan: {n} watched scripts rescanned in {ours:.2?} ({:.0} us per script); floor, the histories alone in one batch: {f:.2?} (runs {f1:.2?} and {f2:.2?}); ratio {:.2}x",
        ours.as_secs_f64() * 1e6 / n as f64,
        ours.as_secs_f64() / f.as_secs_f64()
    );

    let mut g = c.benchmark_group("electrum_rescan");
    g.sample_size(10);
    g.bench_function(format!("rescan_{n}_scripts"), |b| {
        b.iter(|| rescan(&url, checkpoint, &watched))
    });
    g.bench_function(format!("floor_histories_{n}_scripts"), |b| {
        b.iter(|| histories(&client, &scripts))
    });
    g.finish();
    drop(electrumx);
}

criterion_group!(benches, bench);
criterion_main!(benches);
