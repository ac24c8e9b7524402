//! The two-node walk-through on the host runtime (`lightning-node`): Alice
//! and Bob are each a [`Runtime`] (sockets, timers, chain sync, an
//! on-chain wallet, a `FsStore` in its own temporary directory), talking
//! over TCP on 127.0.0.1 and following one simulated chain through its
//! bitcoind-compatible RPC (`simchain`), as `lnnode` follows a bitcoind.
//!
//! Run it with `cargo run --release -p examples --bin demo`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::{Network, Transaction};
use lightning_chain::bitcoind::{BitcoindAuth, BitcoindSource};
use lightning_chain::{Broadcaster, ConfirmationTarget, FeeConfig, FeeEstimator, FeeRate};
use lightning_core::amount::Msat;
use lightning_core::node::{Event, NodeConfig, PaymentStatus};
use lightning_node::{Builder, ChainBackend, ChainConfig, Follow, Runtime};
use lightning_sim::SimChainHandle;
use lightning_simchain::{Credentials, RpcServer};

/// What the demo ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Capacity of the channel.
    pub funding_sat: u64,
    /// Alice's closing output.
    pub alice_sat: u64,
    /// Bob's closing output.
    pub bob_sat: u64,
    /// The closing transaction's fee.
    pub closing_fee_sat: u64,
    /// The closing transaction's weight (the fee is the feerate times it).
    pub closing_weight_wu: u64,
    /// Payments Alice made.
    pub payments: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// How long any one step may take.
const LIMIT: Duration = Duration::from_secs(30);

/// The feerate every estimate gives (sat per 1000 weight units), so the
/// closing fee can be checked to the satoshi.
pub const FEERATE_PER_KW: u32 = 1000;

/// bitcoind (here `simchain`'s RPC) for blocks and broadcasts, with a
/// fixed fee estimate: a `ChainConfig::Custom` backend.
struct FixedFees(BitcoindSource);

impl Broadcaster for FixedFees {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        self.0.broadcast_transactions(txs);
    }
}

impl FeeEstimator for FixedFees {
    fn fee_rate(&self, _: ConfirmationTarget) -> FeeRate {
        FeeRate::from_sat_per_kw(FEERATE_PER_KW)
    }
}

impl ChainBackend for FixedFees {
    fn follow(&self) -> Follow<'_> {
        Follow::Blocks(&self.0)
    }
}

fn start(name: &str, seed: u8, rpc: &RpcServer, dir: &std::path::Path) -> Result<Runtime, String> {
    let source = BitcoindSource::new(
        &rpc.url(),
        BitcoindAuth::UserPass("u".into(), "p".into()),
        FeeConfig::default(),
    )
    .map_err(|e| format!("{name}: {e}"))?;
    Builder::new(Network::Regtest)
        .node_config(NodeConfig::new(Network::Regtest))
        .data_dir(dir.join(name))
        .seed([seed; 32])
        .chain(ChainConfig::Custom(Arc::new(FixedFees(source))))
        .listen("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?)
        .sync_interval(Duration::from_millis(50))
        .build()
        .map_err(|e| format!("{name}: {e}"))
}

/// Mines `n` blocks (to `script`) and waits until both runtimes have them.
fn mine(
    chain: &SimChainHandle,
    nodes: &[&Runtime],
    n: usize,
    script: &bitcoin::Script,
) -> Result<(), String> {
    chain.mine_blocks(n, script);
    for rt in nodes {
        rt.sync_chain(LIMIT).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Waits for the next event of `rt` that `f` picks, up to [`LIMIT`].
fn take<T>(
    events: &std::sync::mpsc::Receiver<Event>,
    what: &str,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = events
            .recv_timeout(left)
            .map_err(|_| format!("timed out waiting for {what}"))?;
        if let Some(t) = f(&e) {
            return Ok(t);
        }
    }
}

/// Runs the walk-through; prints each step unless `quiet`.
pub fn run(quiet: bool) -> Result<DemoSummary, String> {
    let started = Instant::now();
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };
    let rpc = RpcServer::start(
        SimChainHandle::new(),
        Credentials::new("u", "p"),
        "127.0.0.1:0",
    )
    .map_err(|e| e.to_string())?;
    let chain = rpc.chain().clone();
    let dir = std::env::temp_dir().join(format!("lightning-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let alice = start("alice", 0xa0, &rpc, &dir)?;
    let bob = start("bob", 0xb0, &rpc, &dir)?;
    let (alice_events, bob_events) = (alice.subscribe(), bob.subscribe());
    let empty = bitcoin::ScriptBuf::new_op_return([0u8; 4]);

    let address = alice.new_address().map_err(|e| e.to_string())?;
    mine(&chain, &[&alice, &bob], 1, &address.script_pubkey())?;
    mine(&chain, &[&alice, &bob], 100, &empty)?;
    let (spendable, _) = alice.lock().wallet.balance();
    say(format!(
        "chain (simchain over the bitcoind RPC at {}): mined a coinbase to Alice's wallet and 100 blocks on top; she can spend {spendable} sat",
        rpc.url()
    ));

    let (alice_id, bob_id) = (alice.node_id(), bob.node_id());
    let bob_addr = bob.listen_addr().ok_or("bob does not listen")?;
    alice
        .connect(bob_id, bob_addr, LIMIT)
        .map_err(|e| e.to_string())?;
    say(format!(
        "alice {alice_id} connected to bob {bob_id} at {bob_addr}: noise handshake and init done"
    ));

    // Open, funded by Alice's wallet.
    let funding_sat = 1_000_000;
    let (channel_id, funding) = alice
        .open_channel(bob_id, funding_sat, 0, None, LIMIT)
        .map_err(|e| e.to_string())?;
    say(format!(
        "alice opens a {funding_sat} sat channel: bob signed her first commitment, she broadcast funding tx {}",
        funding.compute_txid()
    ));
    mine(&chain, &[&alice, &bob], 3, &empty)?;
    for (events, who) in [(&alice_events, "alice"), (&bob_events, "bob")] {
        take(events, &format!("{who}'s ChannelReady"), |e| {
            matches!(e, Event::ChannelReady { .. }).then_some(())
        })?;
    }
    say(format!(
        "3 blocks confirm it; channel {channel_id} is ready on both sides"
    ));

    // 100 payments Alice -> Bob.
    let payments = 100;
    let per_payment_msat = 1_000_000;
    let t = Instant::now();
    for i in 0..payments {
        let invoice = bob
            .with_node(|n| {
                n.create_invoice(
                    Some(Msat(per_payment_msat)),
                    &format!("coffee #{}", i + 1),
                    Duration::from_secs(3600),
                    lightning_node::now(),
                )
            })
            .map_err(|e| e.to_string())?;
        alice
            .with_node(|n| n.pay_invoice(&invoice, lightning_node::now()))
            .map_err(|e| e.to_string())?;
        if i == 0 {
            say(format!("bob's first invoice: {invoice}"));
        }
    }
    for _ in 0..payments {
        take(&alice_events, "PaymentSent", |e| {
            matches!(e, Event::PaymentSent { .. } | Event::PaymentFailed { .. }).then_some(())
        })?;
        take(&bob_events, "PaymentReceived", |e| {
            matches!(e, Event::PaymentReceived { .. }).then_some(())
        })?;
    }
    let failed = alice.with_node(|n| {
        n.list_payments()
            .iter()
            .filter(|p| p.status != PaymentStatus::Succeeded)
            .count()
    });
    if failed > 0 {
        return Err(format!("{failed} payments did not succeed"));
    }
    say(format!(
        "alice paid {payments} invoices of {} sat each in {:?}",
        per_payment_msat / 1000,
        t.elapsed()
    ));

    // Bob pays one back.
    let back_msat = 5_000_000;
    let invoice = alice
        .with_node(|n| {
            n.create_invoice(
                Some(Msat(back_msat)),
                "change",
                Duration::from_secs(3600),
                lightning_node::now(),
            )
        })
        .map_err(|e| e.to_string())?;
    bob.with_node(|n| n.pay_invoice(&invoice, lightning_node::now()))
        .map_err(|e| e.to_string())?;
    let preimage = take(&bob_events, "PaymentSent", |e| match e {
        Event::PaymentSent { preimage, .. } => Some(*preimage),
        _ => None,
    })?;
    say(format!(
        "bob paid alice {} sat back (preimage {preimage})",
        back_msat / 1000
    ));
    // The HTLC leaves both commitments a dance after the fulfil: until
    // then neither balance holds it.
    let deadline = Instant::now() + LIMIT;
    let (a_bal, b_bal) = loop {
        let balances = (
            alice.with_node(|n| n.balances().lightning_msat.0),
            bob.with_node(|n| n.balances().lightning_msat.0),
        );
        if balances.0 + balances.1 == funding_sat * 1000 {
            break balances;
        }
        if Instant::now() > deadline {
            return Err(format!("the HTLCs never settled: balances {balances:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    say(format!(
        "channel balances: alice {a_bal} msat, bob {b_bal} msat"
    ));

    // Cooperative close.
    alice
        .with_node(|n| n.close_channel(channel_id))
        .map_err(|e| e.to_string())?;
    let mut closing = None;
    for events in [&alice_events, &bob_events] {
        let tx = take(events, "ChannelClosed", |e| match e {
            Event::ChannelClosed { closing_tx, .. } => Some(closing_tx.clone()),
            _ => None,
        })?;
        closing = closing.or(tx);
    }
    let closing = closing.ok_or("no closing transaction")?;
    let closing_txid = closing.compute_txid();
    let deadline = Instant::now() + LIMIT;
    while !chain
        .mempool()
        .iter()
        .any(|t| t.compute_txid() == closing_txid)
    {
        if Instant::now() > deadline {
            return Err(format!(
                "the closing tx was not broadcast: {:?}",
                chain.rejections()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    mine(&chain, &[&alice, &bob], 1, &empty)?;
    if chain.tx_confirmations(&closing_txid) != Some(1) {
        return Err("the closing tx did not confirm".into());
    }
    say(format!(
        "cooperative close: closing tx {closing_txid} mined"
    ));

    let alice_script = alice.with_node(|n| n.shutdown_script());
    let bob_script = bob.with_node(|n| n.shutdown_script());
    // What the closing transaction pays each (the runtimes' shutdown
    // scripts are wallet addresses, which hold other coins too).
    let paid_to = |script: &bitcoin::ScriptBuf| -> u64 {
        closing
            .output
            .iter()
            .filter(|o| &o.script_pubkey == script)
            .map(|o| o.value.to_sat())
            .sum()
    };
    let (alice_sat, bob_sat) = (paid_to(&alice_script), paid_to(&bob_script));
    let out_sum: u64 = closing.output.iter().map(|o| o.value.to_sat()).sum();
    let closing_fee_sat = funding_sat
        .checked_sub(out_sum)
        .ok_or("the closing tx pays out more than the funding")?;
    say(format!(
        "on chain: alice {alice_sat} sat + bob {bob_sat} sat + closing fee {closing_fee_sat} sat = {} sat (funding {funding_sat} sat)",
        alice_sat + bob_sat + closing_fee_sat
    ));
    // Each side's amount on its own, not "alice + bob + fee == funding"
    // with the fee taken as the remainder (that holds whatever went
    // wrong). Bob, who pays no fee, gets what the payments moved; Alice
    // the rest less the fee; the fee is the feerate times the closing
    // transaction's weight.
    let bob_msat = payments as u64 * per_payment_msat - back_msat;
    let alice_msat = funding_sat * 1000 - bob_msat;
    if (a_bal, b_bal) != (alice_msat, bob_msat) {
        return Err(format!(
            "channel balances: alice {a_bal} msat, bob {b_bal} msat (expected {alice_msat}, {bob_msat})"
        ));
    }
    if alice_sat + bob_sat != out_sum {
        return Err(format!(
            "the closing tx pays {} sat elsewhere",
            out_sum.saturating_sub(alice_sat + bob_sat)
        ));
    }
    // And the wallets saw them: each runtime's wallet holds its output.
    for (rt, name, sat) in [(&alice, "alice", alice_sat), (&bob, "bob", bob_sat)] {
        let held = rt
            .lock()
            .wallet
            .coins()
            .iter()
            .any(|c| c.outpoint.txid == closing_txid && c.txout.value.to_sat() == sat);
        if !held {
            return Err(format!(
                "{name}'s wallet does not hold its {sat} sat closing output"
            ));
        }
    }
    if bob_sat != bob_msat / 1000 {
        return Err(format!(
            "bob got {bob_sat} sat, expected {}",
            bob_msat / 1000
        ));
    }
    if alice_sat + closing_fee_sat != alice_msat / 1000 {
        return Err(format!(
            "alice got {alice_sat} sat, expected {} less the fee {closing_fee_sat}",
            alice_msat / 1000
        ));
    }
    // The fee the node proposes from a 672-unit weight estimate at the
    // fixed 1000 sat/kw; the real weight differs by the signatures'
    // lengths (71 to 73 bytes each).
    let closing_weight_wu = closing.weight().to_wu();
    let at_feerate = u64::from(FEERATE_PER_KW) * closing_weight_wu / 1000;
    if closing_fee_sat.abs_diff(at_feerate) > 4 {
        return Err(format!(
            "closing fee {closing_fee_sat} sat, but {FEERATE_PER_KW} sat/kw x {closing_weight_wu} wu = {at_feerate} sat"
        ));
    }
    if !chain.rejections().is_empty() {
        return Err(format!(
            "the chain rejected transactions: {:?}",
            chain.rejections()
        ));
    }
    for (rt, name) in [(&alice, "alice"), (&bob, "bob")] {
        let errors = rt.lock().errors.clone();
        if !errors.is_empty() {
            return Err(format!("{name}'s runtime met errors: {errors:?}"));
        }
    }
    alice.stop();
    bob.stop();
    drop((alice, bob));
    let _ = std::fs::remove_dir_all(&dir);
    let elapsed = started.elapsed();
    say(format!("done in {elapsed:?}"));
    Ok(DemoSummary {
        funding_sat,
        alice_sat,
        bob_sat,
        closing_fee_sat,
        closing_weight_wu,
        payments,
        elapsed,
    })
}
