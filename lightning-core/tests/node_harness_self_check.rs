//! The node-level harness (`tests/node_support`) fails on wrong outcomes:
//! a node error is reported, not swallowed; a closing transaction whose
//! amounts or fee are wrong fails the balance check, which no longer
//! computes the fee as the remainder.
#![allow(clippy::unwrap_used)]

mod node_support;

use bitcoin::{Amount, ScriptBuf, TxOut};
use node_support::{check_closing, Net};

/// A byte flipped on the wire makes Bob's `handle_bytes` fail (the frame's
/// MAC): the harness stops on it. It used to `let _ =` the error away.
#[test]
#[should_panic(expected = "bob failed on bytes from alice")]
fn a_node_error_fails_the_test() {
    let mut net = Net::new(false, false);
    net.open_channel(300_000, 0);
    net.tamper = Some(Box::new(|from_alice, bytes: &mut Vec<u8>| {
        if from_alice {
            bytes[0] ^= 1;
        }
    }));
    net.pay(true, 1_000_000);
}

/// Where a test injects the fault, the errors are collected for it.
#[test]
fn an_injected_fault_is_collected() {
    let mut net = Net::new(false, false);
    net.open_channel(300_000, 0);
    net.faults_injected = true;
    let mut once = true;
    net.tamper = Some(Box::new(move |from_alice, bytes: &mut Vec<u8>| {
        if from_alice && once {
            once = false;
            bytes[0] ^= 1;
        }
    }));
    net.a
        .node
        .open_channel(
            net.b.node.node_id(),
            bitcoin::Amount::from_sat(100_000),
            lightning_core::amount::Msat(0),
        )
        .unwrap();
    net.shuttle();
    assert_eq!(net.errors.len(), 1, "{:?}", net.errors);
    assert_eq!(net.errors[0].0, "bob");
}

fn closed() -> (Net, bitcoin::Transaction, (u64, u64)) {
    let mut net = Net::new(false, false);
    let id = net.open_channel(400_000, 0);
    net.pay(true, 123_456_789);
    net.close_and_check(id, 400_000);
    let (tx, balances) = net.last_close.clone().unwrap();
    (net, tx, balances)
}

/// Each doctored closing transaction passed the old check ("alice + bob +
/// fee == funding", the fee being the remainder); each fails the new one.
#[test]
fn doctored_closing_transactions_fail_the_balance_check() {
    let (net, tx, balances) = closed();
    let a = net.a.node.shutdown_script();
    let b = net.b.node.shutdown_script();
    assert_eq!(
        check_closing(&tx, &a, &b, balances, 400_000),
        Ok((400_000 - 123_457 - 672, 123_456))
    );
    let out = |tx: &bitcoin::Transaction, s: &ScriptBuf| {
        tx.output
            .iter()
            .position(|o| o.script_pubkey == *s)
            .unwrap()
    };
    // Bob short of one satoshi (it went to the fee).
    let mut bad = tx.clone();
    let i = out(&bad, &b);
    bad.output[i].value = Amount::from_sat(bad.output[i].value.to_sat() - 1);
    assert!(check_closing(&bad, &a, &b, balances, 400_000)
        .unwrap_err()
        .contains("Bob's output"));
    // Alice pays ten times the fee.
    let mut bad = tx.clone();
    let i = out(&bad, &a);
    bad.output[i].value = Amount::from_sat(bad.output[i].value.to_sat() - 6_000);
    assert!(check_closing(&bad, &a, &b, balances, 400_000)
        .unwrap_err()
        .contains("closing fee"));
    // Alice's output short of a satoshi the fee does not account for
    // (her balance says more).
    assert!(check_closing(
        &tx,
        &a,
        &b,
        (balances.0 + 2_000, balances.1 - 2_000),
        400_000
    )
    .is_err());
    // Bob paid more, Alice less, the total the same.
    let mut bad = tx.clone();
    let (ia, ib) = (out(&bad, &a), out(&bad, &b));
    bad.output[ia].value = Amount::from_sat(bad.output[ia].value.to_sat() - 500);
    bad.output[ib].value = Amount::from_sat(bad.output[ib].value.to_sat() + 500);
    assert!(check_closing(&bad, &a, &b, balances, 400_000).is_err());
    // Part of Alice's output goes to a third script.
    let mut bad = tx.clone();
    let i = out(&bad, &a);
    bad.output[i].value = Amount::from_sat(bad.output[i].value.to_sat() - 1_000);
    bad.output.push(TxOut {
        value: Amount::from_sat(1_000),
        script_pubkey: ScriptBuf::from_bytes(vec![
            0x00, 0x14, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        ]),
    });
    assert!(check_closing(&bad, &a, &b, balances, 400_000)
        .unwrap_err()
        .contains("elsewhere"));
    // Amounts consistent with a channel whose fee was half the feerate.
    let a_out = tx.output[out(&tx, &a)].value.to_sat();
    let b_out = tx.output[out(&tx, &b)].value.to_sat();
    assert!(check_closing(
        &tx,
        &a,
        &b,
        ((a_out + 336) * 1000, b_out * 1000),
        a_out + b_out + 336
    )
    .unwrap_err()
    .contains("closing fee"));
}
