//! The two-node walk-through: Alice and Bob, each in its own thread with
//! the workspace's test host loop (`lightning_test_support::host::TcpHost`),
//! talk over TCP on 127.0.0.1; blocks come from a simulated chain; each node
//! persists to its own temporary directory with `FsStore`.
//!
//! Run it with `cargo run --release -p examples --bin demo`.

use std::time::{Duration, Instant};

use bitcoin::{Amount, Network, Transaction};
use lightning_core::amount::Msat;
use lightning_core::node::{Event, NodeConfig};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_test_support::host::{now, TcpHost, FEERATE_PER_KW};

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

/// Errors either host met: the node refusing bytes, funding that failed.
fn host_errors(name: &str, host: &TcpHost) -> Result<(), String> {
    let (node, host_side) = host.with_state(|s| (s.node_errors.clone(), s.errors.clone()));
    if node.is_empty() && host_side.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name}: node errors {node:?}, host errors {host_side:?}"
        ))
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
    let chain = SimChainHandle::new();
    let alice_wallet = SimWallet::from_seed([0xa1; 32], chain.clone());
    chain.mine_blocks(101, &alice_wallet.script_pubkey());
    say(format!(
        "chain: mined 101 blocks to Alice's address; her spendable balance is {} sat",
        alice_wallet.spendable_balance().to_sat()
    ));

    // Each host funds nothing by itself: the walk-through answers
    // FundingNeeded from Alice's wallet below.
    let config = NodeConfig::new(Network::Regtest);
    let bob = TcpHost::start_without_wallet([0xb0; 32], config.clone(), chain.clone());
    let alice = TcpHost::start_without_wallet([0xa0; 32], config, chain.clone());
    let (alice_id, bob_id) = (alice.node_id(), bob.node_id());
    say(format!(
        "alice {alice_id} connects to bob {bob_id} at {}",
        bob.addr
    ));
    alice.connect(bob_id, bob.addr);
    bob.wait_until("bob sees alice", LIMIT, |s| {
        s.node
            .connected_peers()
            .iter()
            .any(|(_, id)| *id == alice_id)
    });
    say("noise handshake and init done".into());

    // Open.
    let funding_sat = 1_000_000;
    let temp = alice
        .with(|n| n.open_channel(bob_id, Amount::from_sat(funding_sat), Msat(0)))
        .map_err(|e| e.to_string())?;
    let (amount, script) = alice.take_event("FundingNeeded", LIMIT, |e| match e {
        Event::FundingNeeded {
            temporary_channel_id,
            amount_sat,
            script_pubkey,
            ..
        } if *temporary_channel_id == temp => Some((*amount_sat, script_pubkey.clone())),
        _ => None,
    })?;
    let funding: Transaction = alice_wallet
        .fund(amount, &script)
        .map_err(|e| e.to_string())?;
    let txid = funding.compute_txid();
    let channel_id = alice
        .with(|n| n.funding_transaction_generated(temp, funding))
        .map_err(|e| e.to_string())?;
    say(format!(
        "alice opens a {funding_sat} sat channel: funding tx {txid}"
    ));
    let deadline = Instant::now() + LIMIT;
    while chain.get_transaction(&txid).is_none() || chain.mempool().is_empty() {
        if chain.tx_confirmations(&txid).is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if !chain.mempool().iter().any(|t| t.compute_txid() == txid) {
        return Err(format!(
            "the funding tx was not broadcast: {:?}",
            chain.rejections()
        ));
    }
    say(
        "bob signed alice's first commitment (funding_signed); alice broadcast the funding tx"
            .into(),
    );
    // Each host loop connects the new blocks to its node.
    chain.mine_blocks(3, &alice_wallet.script_pubkey());
    for host in [&alice, &bob] {
        host.take_event("ChannelReady", LIMIT, |e| {
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
            .with(|n| {
                n.create_invoice(
                    Some(Msat(per_payment_msat)),
                    &format!("coffee #{}", i + 1),
                    Duration::from_secs(3600),
                    now(),
                )
            })
            .map_err(|e| e.to_string())?;
        let s = invoice.to_string();
        alice
            .with(|n| n.pay_invoice_str(&s, now()))
            .map_err(|e| e.to_string())?;
        if i == 0 {
            say(format!("bob's first invoice: {invoice}"));
        }
    }
    for _ in 0..payments {
        alice.take_event("PaymentSent", LIMIT, |e| {
            matches!(e, Event::PaymentSent { .. } | Event::PaymentFailed { .. }).then_some(())
        })?;
        bob.take_event("PaymentReceived", LIMIT, |e| {
            matches!(e, Event::PaymentReceived { .. }).then_some(())
        })?;
    }
    let failed = alice.with(|n| {
        n.list_payments()
            .iter()
            .filter(|p| p.status != lightning_core::node::PaymentStatus::Succeeded)
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
        .with(|n| {
            n.create_invoice(
                Some(Msat(back_msat)),
                "change",
                Duration::from_secs(3600),
                now(),
            )
        })
        .map_err(|e| e.to_string())?;
    bob.with(|n| n.pay_invoice(&invoice, now()))
        .map_err(|e| e.to_string())?;
    let preimage = bob.take_event("PaymentSent", LIMIT, |e| match e {
        Event::PaymentSent { preimage, .. } => Some(*preimage),
        _ => None,
    })?;
    say(format!(
        "bob paid alice {} sat back (preimage {preimage})",
        back_msat / 1000
    ));
    // Bob learns the preimage from update_fulfill_htlc; the HTLC leaves
    // both commitments a dance later. Until then neither balance holds
    // it, so the two add up to less than the channel.
    let deadline = Instant::now() + LIMIT;
    let (a_bal, b_bal) = loop {
        let balances = (
            alice.with(|n| n.balances().lightning_msat.0),
            bob.with(|n| n.balances().lightning_msat.0),
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
        .with(|n| n.close_channel(channel_id))
        .map_err(|e| e.to_string())?;
    let mut closing = None;
    for host in [&alice, &bob] {
        let tx = host.take_event("ChannelClosed", LIMIT, |e| match e {
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
    chain.mine_blocks(1, &alice_wallet.script_pubkey());
    if chain.tx_confirmations(&closing_txid) != Some(1) {
        return Err("the closing tx did not confirm".into());
    }
    say(format!(
        "cooperative close: closing tx {closing_txid} mined"
    ));

    let alice_sat = chain.balance_of(&alice.shutdown_script()).to_sat();
    let bob_sat = chain.balance_of(&bob.shutdown_script()).to_sat();
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
    let expected_bob = bob_msat / 1000;
    if alice_sat + bob_sat != out_sum {
        return Err(format!(
            "the closing tx pays {} sat elsewhere",
            out_sum - alice_sat - bob_sat
        ));
    }
    if bob_sat != expected_bob {
        return Err(format!("bob got {bob_sat} sat, expected {expected_bob}"));
    }
    if alice_sat + closing_fee_sat != alice_msat / 1000 {
        return Err(format!(
            "alice got {alice_sat} sat, expected {} less the fee {closing_fee_sat}",
            alice_msat / 1000
        ));
    }
    // The fee the node proposes from a 672-unit weight estimate at the
    // host's fixed 1000 sat/kw; the real weight differs by the signatures'
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
    host_errors("alice", &alice)?;
    host_errors("bob", &bob)?;
    drop((alice, bob));
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
