//! BOLT 5 through the `Node`, on the simulated chain (every transaction
//! script-verified by `SimChain` at mempool acceptance): a force-close
//! matrix over {static_remotekey, anchors} × {we close, they close with
//! their current commitment, they close with their next one (signed by
//! us, the one before not yet revoked), they publish a revoked
//! commitment} × {no HTLC, an HTLC each way with and
//! without the preimage, a dust HTLC} × {no restart, both nodes restarted
//! after every block with the mempool emptied (a crash before each
//! broadcast left the network)} × {no reorg, two reorgs of 1, 3 or 6
//! blocks, a reorg of 2 blocks every 7 through every step of the
//! resolution (the reorged transactions dropped, so the nodes must rebuild
//! and rebroadcast them)}.
//!
//! Alice is our node under test; Bob is a second `Node` (the peer,
//! resolving his own side); the cheater is Bob restored from an old copy
//! of his store, force-closing on a revoked state. After each run: every
//! satoshi of the funding output ends at Alice's sweep script, Bob's, an
//! anchor output (330 sat, left for the anchor bumper) or in fees; every
//! commitment output reaches the owner BOLT 5 gives it to; nothing the
//! nodes broadcast was rejected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;

use std::collections::HashMap;

use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use lightning_chain::ChainSync;
use lightning_core::node::{
    Event, InvoiceStatus, Node, NodeBuilder, PaymentHash, PaymentStatus, Persistence,
};
use lightning_core::onchain::SpendTag;
use lightning_test_support::host::node_host;
use lightning_wire::types::ChannelId;
use node_support::{copy_store, Net, TestNode};

const CAPACITY: u64 = 1_000_000;
const ANCHOR: u64 = 330;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    Us,
    Them,
    Revoked,
    /// Nobody: Alice's HTLC deadline (BOLT 2) makes her close.
    Deadline,
    /// Bob publishes his newest commitment: Alice signed it, Bob has not
    /// revoked the one before (his `revoke_and_ack` never reached her).
    /// BOLT 5 calls it the remote node's "next" commitment.
    TheirNext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Htlcs {
    None,
    /// Alice offered; Bob never got it irrevocably: Alice times it out.
    OfferedNoPreimage,
    /// Alice offered; Bob fulfilled (the fulfill never reached her): Bob
    /// claims it with the preimage, Alice learns it on chain.
    OfferedPeerHasPreimage,
    /// Bob offered; Alice fulfilled: Alice claims it with the preimage.
    ReceivedWithPreimage,
    /// Bob offered; Alice never got it irrevocably: Bob times it out.
    ReceivedNoPreimage,
    /// Alice offered a dust HTLC (trimmed: it goes to fees).
    Dust,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    anchors: bool,
    closer: Closer,
    htlcs: Htlcs,
    restart: bool,
    /// Depth of each reorg (0: none).
    reorg: usize,
    /// 0: two reorgs, one early and one during the sweeps; n: one every
    /// n blocks until block 300 (every step of the resolution undone at
    /// least once).
    reorg_every: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Alice,
    Bob,
}

fn balance_msat(n: &Node, id: ChannelId) -> u64 {
    Net::local_msat(n, id)
}

/// Delivers one message at a time between the nodes until `stop` holds
/// (then disconnects both, leaving the HTLC where it is) or both are
/// quiet.
fn shuttle_until(net: &mut Net, stop: &dyn Fn(&Net) -> bool) -> bool {
    for _ in 0..10_000 {
        let mut moved = false;
        for a_to_b in [true, false] {
            let (from, to) = if a_to_b {
                (&mut net.a, &mut net.b)
            } else {
                (&mut net.b, &mut net.a)
            };
            let (Some(fp), Some(tp)) = (from.peer, to.peer) else {
                continue;
            };
            if let Some(bytes) = from.node.poll_transmit(fp) {
                moved = true;
                to.node.handle_bytes(tp, &bytes, net.now).unwrap();
                if stop(net) {
                    net.disconnect();
                    return true;
                }
            }
        }
        if !moved {
            return false;
        }
    }
    panic!("never quiet");
}

/// The exchange that gives Bob his next commitment (BOLT 2): Bob holds
/// Alice's `commitment_signed` for it, and his `revoke_and_ack` of the
/// one before never reaches her (the connection drops). What the new
/// commitment changes is `htlcs`: an HTLC added by Alice (BOLT 2's
/// sequence: her `update_add_htlc` and `commitment_signed` reach Bob) or
/// by Bob (his pair reaches Alice, her `revoke_and_ack` and
/// `commitment_signed` reach him), or a held HTLC fulfilled by Bob or by
/// Alice. Returns the payment hash.
fn their_next(net: &mut Net, htlcs: Htlcs) -> PaymentHash {
    let now = net.now;
    let pay = |net: &mut Net, from_alice: bool, amount_msat: u64| -> PaymentHash {
        let payee = if from_alice {
            &mut net.b.node
        } else {
            &mut net.a.node
        };
        let invoice = payee
            .create_invoice(
                Some(lightning_core::amount::Msat(amount_msat)),
                "next",
                std::time::Duration::from_secs(3600),
                now,
            )
            .unwrap();
        let payer = if from_alice {
            &mut net.a.node
        } else {
            &mut net.b.node
        };
        payer.pay_invoice(&invoice, now).unwrap();
        *invoice.payment_hash()
    };
    let preimage = |seed: u8| lightning_core::node::PaymentPreimage([seed; 32]);
    let hash = match htlcs {
        Htlcs::OfferedNoPreimage | Htlcs::Dust => {
            let amount = if htlcs == Htlcs::Dust {
                300_000
            } else {
                11_000_000
            };
            let hash = pay(net, true, amount);
            assert!(net.drain(true) >= 1, "update_add_htlc, commitment_signed");
            hash
        }
        Htlcs::ReceivedNoPreimage => {
            let hash = pay(net, false, 14_000_000);
            assert!(net.drain(false) >= 1, "update_add_htlc, commitment_signed");
            assert!(net.drain(true) >= 1, "revoke_and_ack, commitment_signed");
            hash
        }
        Htlcs::OfferedPeerHasPreimage => {
            let hash = net.hold(true, 12_000_000, 0x51);
            net.b.node.claim_for_hash(preimage(0x51), now).unwrap();
            assert!(
                net.drain(false) >= 1,
                "update_fulfill_htlc, commitment_signed"
            );
            assert!(net.drain(true) >= 1, "revoke_and_ack, commitment_signed");
            hash
        }
        Htlcs::ReceivedWithPreimage => {
            let hash = net.hold(false, 13_000_000, 0x52);
            net.a.node.claim_for_hash(preimage(0x52), now).unwrap();
            assert!(
                net.drain(true) >= 1,
                "update_fulfill_htlc, commitment_signed"
            );
            hash
        }
        Htlcs::None => unreachable!("the matrix has no such row"),
    };
    // Bob's reply (his `revoke_and_ack`) is left unsent.
    assert!(
        net.b.node.poll_transmit(net.b.peer.unwrap()).is_some(),
        "Bob owes a revoke_and_ack"
    );
    hash
}

/// `from_alice` pays `amount_msat` and the exchange stops where `htlcs`
/// says. Returns the payment hash.
fn stuck_payment(
    net: &mut Net,
    id: ChannelId,
    from_alice: bool,
    amount_msat: u64,
    with_preimage: bool,
) -> PaymentHash {
    let now = net.now;
    let payee = if from_alice {
        &mut net.b.node
    } else {
        &mut net.a.node
    };
    let invoice = payee
        .create_invoice(
            Some(lightning_core::amount::Msat(amount_msat)),
            "stuck",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let hash = *invoice.payment_hash();
    let payer_before = if from_alice {
        balance_msat(&net.a.node, id)
    } else {
        balance_msat(&net.b.node, id)
    };
    let payer = if from_alice {
        &mut net.a.node
    } else {
        &mut net.b.node
    };
    payer.pay_invoice(&invoice, now).unwrap();
    let stopped = shuttle_until(net, &|net: &Net| {
        let (payer, payee) = if from_alice {
            (&net.a.node, &net.b.node)
        } else {
            (&net.b.node, &net.a.node)
        };
        if with_preimage {
            payee
                .list_invoices()
                .iter()
                .any(|i| i.payment_hash == hash && i.status == InvoiceStatus::Paid)
        } else {
            balance_msat(payer, id) + amount_msat <= payer_before
        }
    });
    assert!(stopped, "the payment was not caught in flight");
    hash
}

struct Run {
    net: Net,
    cheater: Option<TestNode>,
    id: ChannelId,
    funding: OutPoint,
}

fn feed(node: &mut TestNode, chain: &lightning_sim::SimChainHandle) {
    let mut sync = ChainSync::new(node.node.best_block());
    sync.sync(chain, &mut node.node).unwrap();
    node.fed = chain.best_block().height;
}

impl Run {
    fn nodes(&mut self) -> Vec<&mut TestNode> {
        let mut v = vec![&mut self.net.a, &mut self.net.b];
        if let Some(c) = &mut self.cheater {
            v.push(c);
        }
        v
    }

    /// One block; in restart mode the broadcasts of the step are dropped
    /// (as if each node crashed before they reached the network) and both
    /// nodes restart from their stores, which must broadcast them again.
    fn block(&mut self, restart: bool) {
        let script = self.net.wallet.script_pubkey();
        self.net.chain.mine_blocks(1, &script);
        let chain = self.net.chain.clone();
        for n in self.nodes() {
            feed(n, &chain);
        }
        if restart {
            chain.with(|c| {
                let txids: Vec<Txid> = c.mempool().map(|t| t.compute_txid()).collect();
                for t in txids {
                    c.remove_from_mempool(&t);
                }
            });
            self.net.a.restart(&chain);
            self.net.b.restart(&chain);
            self.net.a.peer = None;
            self.net.b.peer = None;
        }
        for n in self.nodes() {
            n.take_events();
        }
    }

    fn reorg(&mut self, depth: usize) {
        let chain = self.net.chain.clone();
        chain.invalidate_tip(depth);
        // The reorged transactions are not mined again by the chain
        // itself: the nodes must rebuild and rebroadcast them.
        chain.with(|c| {
            let txids: Vec<Txid> = c.mempool().map(|t| t.compute_txid()).collect();
            for t in txids {
                c.remove_from_mempool(&t);
            }
        });
        for n in self.nodes() {
            feed(n, &chain);
        }
    }
}

fn setup(case: Case) -> (Run, Option<PaymentHash>) {
    let mut net = Net::with_anchors(case.anchors);
    let id = net.open_channel(CAPACITY, 300_000_000);
    assert_eq!(net.a.node.list_channels()[0].channel_id, id, "one channel");
    // Deeper than any reorg of the matrix: the funding stays confirmed.
    net.mine(10);
    net.pay(true, 50_000_000);
    net.pay(false, 20_000_000);
    // The cheater's copy: Bob's store with an HTLC in flight (or none).
    let mut cheat_store = None;
    if case.closer == Closer::Revoked {
        if case.htlcs != Htlcs::None {
            let amount = if case.htlcs == Htlcs::Dust {
                300_000
            } else {
                15_000_000
            };
            stuck_payment(&mut net, id, true, amount, false);
            cheat_store = Some(copy_store(&net.b.store));
            net.connect();
            net.shuttle();
        } else {
            cheat_store = Some(copy_store(&net.b.store));
        }
        // Two more payments revoke that state.
        net.pay(true, 7_000_000);
        net.pay(false, 3_000_000);
    }
    let hash = match case.htlcs {
        _ if case.closer == Closer::Revoked => None,
        _ if case.closer == Closer::TheirNext => Some(their_next(&mut net, case.htlcs)),
        Htlcs::None => None,
        Htlcs::OfferedNoPreimage => Some(stuck_payment(&mut net, id, true, 11_000_000, false)),
        Htlcs::OfferedPeerHasPreimage => Some(stuck_payment(&mut net, id, true, 12_000_000, true)),
        Htlcs::ReceivedWithPreimage => Some(stuck_payment(&mut net, id, false, 13_000_000, true)),
        // Held by Alice's hold invoice (she never learns the preimage):
        // the HTLC is in both current commitments, the one before each
        // revoked. (Stopping Bob's payment in flight instead would leave
        // Bob's newest commitment unrevoked: their next, the rows of
        // `Closer::TheirNext`.)
        Htlcs::ReceivedNoPreimage => Some(net.hold(false, 14_000_000, 0x53)),
        Htlcs::Dust => Some(stuck_payment(&mut net, id, true, 300_000, false)),
    };
    net.disconnect();
    let funding = net.a.node.list_channels()[0].funding_txo.unwrap();
    let cheater =
        cheat_store.map(|store| TestNode::from_store("cheater", net.b.seed, store, &net.chain));
    (
        Run {
            net,
            cheater,
            id,
            funding,
        },
        hash,
    )
}

/// Every transaction of the chain after height `from`, by the outpoints
/// it spends.
fn spenders(chain: &lightning_sim::SimChainHandle, from: u32) -> HashMap<OutPoint, Transaction> {
    let mut m = HashMap::new();
    let tip = chain.best_block().height;
    for h in from..=tip {
        for tx in chain.block_at(h).unwrap().txdata.iter().skip(1) {
            for i in &tx.input {
                m.insert(i.previous_output, tx.clone());
            }
        }
    }
    m
}

/// Follows `op` through the transactions that spend it (each claim or
/// HTLC transaction has one output) to the unspent output it ends in:
/// its script, value, and the fees paid on the way.
fn follow(
    spent: &HashMap<OutPoint, Transaction>,
    mut op: OutPoint,
    mut value: u64,
) -> (ScriptBuf, u64, u64) {
    let mut fees = 0;
    loop {
        let Some(tx) = spent.get(&op) else {
            panic!("{op} is spent by nothing we can follow");
        };
        let out = tx.output.first().expect("an output");
        assert_eq!(tx.output.len(), 1, "claims have one output: {tx:?}");
        assert_eq!(tx.input.len(), 1, "claims have one input: {tx:?}");
        fees += value - out.value.to_sat();
        value = out.value.to_sat();
        let next = OutPoint {
            txid: tx.compute_txid(),
            vout: 0,
        };
        if !spent.contains_key(&next) {
            return (out.script_pubkey.clone(), value, fees);
        }
        op = next;
    }
}

fn run(case: Case) -> Result<(), String> {
    let (mut r, hash) = setup(case);
    let deadline_from = r.net.chain.best_block().height;
    let a_script = r.net.a.node.shutdown_script();
    let b_script = r.net.b.node.shutdown_script();
    let a_msat = balance_msat(&r.net.a.node, r.id);
    let b_msat = balance_msat(&r.net.b.node, r.id);
    let start = r.net.chain.best_block().height;
    match case.closer {
        Closer::Us => r.net.a.node.force_close_channel(r.id).unwrap(),
        Closer::Them | Closer::TheirNext => r.net.b.node.force_close_channel(r.id).unwrap(),
        Closer::Revoked => {
            let c = r.cheater.as_mut().unwrap();
            c.node.force_close_channel(r.id).unwrap();
        }
        Closer::Deadline => {
            // Blocks until Alice goes to chain by herself.
            for _ in 0..40 {
                if !r.net.chain.mempool().is_empty() {
                    break;
                }
                let script = r.net.wallet.script_pubkey();
                r.net.chain.mine_blocks(1, &script);
                let chain = r.net.chain.clone();
                for n in r.nodes() {
                    feed(n, &chain);
                }
            }
        }
    }
    assert_eq!(
        r.net.chain.mempool().len(),
        1,
        "the commitment is broadcast"
    );
    let commitment = r.net.chain.mempool()[0].clone();
    if case.closer == Closer::Deadline {
        // The HTLC expires 21 blocks out (the invoice's 18 + 3): Alice
        // closes `offered_htlc_grace_blocks` (2) after it for an offered
        // one, `fulfill_deadline_blocks` (12) before it for a fulfilled one.
        let waited = r.net.chain.best_block().height - deadline_from;
        let expected = match case.htlcs {
            Htlcs::OfferedNoPreimage => 21 + 2,
            _ => 21 - 12,
        };
        if waited.abs_diff(expected) > 1 {
            return Err(format!(
                "deadline close after {waited} blocks, expected {expected}"
            ));
        }
    }
    // The commitment confirms; then blocks until nothing is left to do.
    r.block(false);
    let mut idle = 0;
    for i in 0..500 {
        // Two reorgs: one early (of 2 or more blocks it undoes the
        // commitment itself, and its first claims), one when `to_local`
        // (CSV 144) and the HTLC claims are being swept.
        let due = match case.reorg_every {
            0 => i == 1 || i == 150,
            n => i % n == 1 && i < 300,
        };
        if case.reorg > 0 && due {
            r.reorg(case.reorg);
        }
        r.block(case.restart);
        if r.net.chain.mempool().is_empty() {
            idle += 1;
        } else {
            idle = 0;
        }
        // Past every timelock (HTLC expiries are about 21 blocks out,
        // `to_self_delay` 144, counted in blocks of the chain: periodic
        // reorgs take some back) and quiet for a while.
        if r.net.chain.best_block().height > start + 200 && idle > 10 {
            break;
        }
    }
    let rejections = r.net.chain.rejections();
    if !rejections.is_empty() {
        let short: Vec<String> = rejections
            .iter()
            .map(|r| {
                let outs: Vec<u64> = r.tx.output.iter().map(|o| o.value.to_sat()).collect();
                format!("{} {:?} outs {outs:?}", r.tx.compute_txid(), r.reason)
            })
            .collect();
        return Err(format!("rejected: {short:?}"));
    }
    // From below any reorg (the commitment may be mined lower than `start`).
    let spent = spenders(&r.net.chain, start - 8);
    let ctx = spent
        .get(&r.funding)
        .ok_or("the funding output was not spent")?
        .clone();
    if ctx.compute_txid() != commitment.compute_txid() {
        return Err("another transaction spent the funding output".into());
    }
    // Who owns each output (BOLT 5).
    let b_sat = b_msat / 1000;
    let htlc_sat: Option<(u64, Owner)> = match (case.closer, case.htlcs) {
        (Closer::Revoked, _) | (_, Htlcs::None) | (_, Htlcs::Dust) => None,
        // Fulfilled in Bob's next commitment: the HTLC's value is in the
        // payee's main output.
        (Closer::TheirNext, Htlcs::OfferedPeerHasPreimage | Htlcs::ReceivedWithPreimage) => None,
        (_, Htlcs::OfferedNoPreimage) => Some((11_000, Owner::Alice)),
        (_, Htlcs::OfferedPeerHasPreimage) => Some((12_000, Owner::Bob)),
        (_, Htlcs::ReceivedWithPreimage) => Some((13_000, Owner::Alice)),
        (_, Htlcs::ReceivedNoPreimage) => Some((14_000, Owner::Bob)),
    };
    let (mut a_total, mut b_total, mut fees, mut anchors) = (0u64, 0u64, 0u64, 0u64);
    let funding_value = CAPACITY;
    let outputs: u64 = ctx.output.iter().map(|o| o.value.to_sat()).sum();
    fees += funding_value - outputs;
    for (vout, o) in ctx.output.iter().enumerate() {
        let v = o.value.to_sat();
        let op = OutPoint {
            txid: ctx.compute_txid(),
            vout: vout as u32,
        };
        if case.anchors && v == ANCHOR && !spent.contains_key(&op) {
            anchors += v;
            continue;
        }
        let expected = if case.closer == Closer::Revoked {
            Owner::Alice
        } else if htlc_sat.is_some_and(|(h, _)| h == v) {
            htlc_sat.map(|(_, o)| o).unwrap_or(Owner::Alice)
        } else if v == b_sat {
            Owner::Bob
        } else {
            Owner::Alice
        };
        let (script, end, f) = follow(&spent, op, v);
        fees += f;
        let owner = if script == a_script {
            a_total += end;
            Owner::Alice
        } else if script == b_script {
            b_total += end;
            Owner::Bob
        } else {
            return Err(format!(
                "output {vout} ({v} sat) ends at a foreign script {script}"
            ));
        };
        if owner != expected {
            return Err(format!(
                "output {vout} ({v} sat) went to {owner:?}, BOLT 5 gives it to {expected:?}"
            ));
        }
    }
    if a_total + b_total + fees + anchors != funding_value {
        return Err(format!(
            "accounting: alice {a_total} + bob {b_total} + fees {fees} + anchors {anchors} != {funding_value}"
        ));
    }
    // Bob is the fundee: with no HTLC of his lost, his output is exactly
    // his balance rounded down, less only his own claim's fee.
    let _ = a_msat;
    // A preimage learned on chain completes Alice's payment.
    if case.closer != Closer::Revoked && case.htlcs == Htlcs::OfferedPeerHasPreimage {
        let status = r
            .net
            .a
            .node
            .list_payments()
            .into_iter()
            .find(|p| Some(p.payment_hash) == hash)
            .map(|p| p.status);
        if status != Some(PaymentStatus::Succeeded) {
            return Err(format!(
                "payment not completed from the on-chain preimage: {status:?}"
            ));
        }
    }
    // An HTLC of Alice's timed out on chain fails her payment.
    if case.closer != Closer::Revoked && case.htlcs == Htlcs::OfferedNoPreimage {
        let status = r
            .net
            .a
            .node
            .list_payments()
            .into_iter()
            .find(|p| Some(p.payment_hash) == hash)
            .map(|p| p.status);
        if status != Some(PaymentStatus::Failed) {
            return Err(format!(
                "payment not failed after the on-chain timeout: {status:?}"
            ));
        }
    }
    // Alice named the spend as BOLT 5 does.
    let closing = r.net.a.node.list_channels()[0].closing;
    let named = match case.closer {
        Closer::Us | Closer::Deadline => SpendTag::Holder,
        Closer::Them => SpendTag::CounterpartyCurrent,
        Closer::TheirNext => SpendTag::CounterpartyNext,
        Closer::Revoked => SpendTag::CounterpartyRevoked,
    };
    if closing.map(|c| c.spent_by) != Some(named) {
        return Err(format!(
            "the spend was named {closing:?}, expected {named:?}"
        ));
    }
    // Resolved, and forgotten 100 blocks on.
    if !closing.is_some_and(|c| c.resolved) {
        return Err(format!("not resolved: {closing:?}"));
    }
    if !r.net.a.node.claimable_balances().is_empty() {
        return Err(format!("left: {:?}", r.net.a.node.claimable_balances()));
    }
    if std::env::var("ONCHAIN_VERBOSE").is_ok() {
        println!(
            "{case:?}: alice {a_total} bob {b_total} fees {fees} anchors {anchors}, tip {}",
            r.net.chain.best_block().height
        );
    }
    Ok(())
}

fn matrix() -> Vec<Case> {
    let mut v = Vec::new();
    for anchors in [false, true] {
        for closer in [Closer::Us, Closer::Them, Closer::TheirNext, Closer::Revoked] {
            for htlcs in [
                Htlcs::None,
                Htlcs::OfferedNoPreimage,
                Htlcs::OfferedPeerHasPreimage,
                Htlcs::ReceivedWithPreimage,
                Htlcs::ReceivedNoPreimage,
                Htlcs::Dust,
            ] {
                // A next commitment differs from the current one by an
                // update: every row but "no HTLC" has one.
                if closer == Closer::TheirNext && htlcs == Htlcs::None {
                    continue;
                }
                for (restart, reorg, reorg_every) in [
                    (false, 0, 0),
                    (true, 0, 0),
                    (false, 1, 0),
                    (false, 3, 0),
                    (false, 6, 0),
                    (true, 6, 0),
                    (true, 2, 7),
                ] {
                    v.push(Case {
                        anchors,
                        closer,
                        htlcs,
                        restart,
                        reorg,
                        reorg_every,
                    });
                }
            }
        }
    }
    v
}

fn run_cases(filter: impl Fn(&Case) -> bool) {
    let cases: Vec<Case> = matrix().into_iter().filter(|c| filter(c)).collect();
    let mut failed = Vec::new();
    for c in &cases {
        if let Err(e) = run(*c) {
            failed.push(format!("{c:?}: {e}"));
        }
    }
    println!(
        "force-close matrix: {} cases, {} passed",
        cases.len(),
        cases.len() - failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn force_close_matrix_static_remotekey() {
    run_cases(|c| !c.anchors && c.closer != Closer::TheirNext);
}

#[test]
fn force_close_matrix_anchors() {
    run_cases(|c| c.anchors && c.closer != Closer::TheirNext);
}

/// The rows where Bob publishes his next commitment (BOLT 5: "the remote
/// node's next commitment transaction"), for each kind of update that
/// made it.
#[test]
fn force_close_matrix_their_next_static_remotekey() {
    run_cases(|c| !c.anchors && c.closer == Closer::TheirNext);
}

#[test]
fn force_close_matrix_their_next_anchors() {
    run_cases(|c| c.anchors && c.closer == Closer::TheirNext);
}

/// BOLT 2 deadlines: an HTLC we offered that the peer never removes, and
/// one we fulfilled whose fulfill never gets committed (the peer went
/// silent), make the node close on time and resolve it on chain.
#[test]
fn htlc_deadlines_force_close() {
    let mut n = 0;
    for anchors in [false, true] {
        for htlcs in [Htlcs::OfferedNoPreimage, Htlcs::ReceivedWithPreimage] {
            let case = Case {
                anchors,
                closer: Closer::Deadline,
                htlcs,
                restart: false,
                reorg: 0,
                reorg_every: 0,
            };
            assert_eq!(run(case), Ok(()), "{case:?}");
            n += 1;
        }
    }
    assert_eq!(n, 4);
}

#[test]
fn one_case() {
    let pick = |k: &str| std::env::var(k).ok();
    let r = run(Case {
        anchors: pick("C_ANCHORS").is_some(),
        closer: match pick("C_CLOSER").as_deref() {
            Some("them") => Closer::Them,
            Some("next") => Closer::TheirNext,
            Some("revoked") => Closer::Revoked,
            _ => Closer::Us,
        },
        htlcs: match pick("C_HTLCS").as_deref() {
            Some("offered") => Htlcs::OfferedNoPreimage,
            Some("offered_pre") => Htlcs::OfferedPeerHasPreimage,
            Some("received_pre") => Htlcs::ReceivedWithPreimage,
            Some("received") => Htlcs::ReceivedNoPreimage,
            Some("dust") => Htlcs::Dust,
            _ => Htlcs::None,
        },
        restart: pick("C_RESTART").is_some(),
        reorg: pick("C_REORG").and_then(|r| r.parse().ok()).unwrap_or(0),
        reorg_every: pick("C_REORG_EVERY")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0),
    });
    assert_eq!(r, Ok(()));
}

/// A cheater publishes a revoked commitment holding an HTLC it offered,
/// while Alice is offline, and then its HTLC-timeout transaction (the
/// second stage). Alice comes back before `to_self_delay` runs out and
/// takes everything: `to_local`, her own `to_remote`, and the output of
/// the cheater's HTLC-timeout transaction, by the revocation key (BOLT 5,
/// "Revoked Transaction Close Handling"). The HTLC was settled and folded
/// out of the update log long before: only the node's HTLC history lets
/// her recognise its output.
#[test]
fn cheater_second_stage_is_punished_after_offline() {
    for anchors in [false, true] {
        let mut net = Net::with_anchors(anchors);
        let id = net.open_channel(CAPACITY, 300_000_000);
        net.mine(10);
        net.pay(true, 50_000_000);
        // Bob offers 15,000 sat; his store is copied while it is in both
        // commitments, then the payment completes.
        stuck_payment(&mut net, id, false, 15_000_000, false);
        let store = copy_store(&net.b.store);
        net.connect();
        net.shuttle();
        net.pay(true, 7_000_000);
        net.pay(false, 3_000_000);
        net.disconnect();
        let funding = net.a.node.list_channels()[0].funding_txo.unwrap();
        let a_script = net.a.node.shutdown_script();
        let start = net.chain.best_block().height;
        let cheater = NodeBuilder::from_config(node_support::config())
            .seed(&net.b.seed)
            .persistence(Persistence::Inline(store.clone()))
            .host(node_host(&net.chain))
            .best_block(net.chain.best_block())
            .build()
            .unwrap();
        let mut cheater = TestNode {
            name: "cheater",
            seed: net.b.seed,
            signers: None,
            node: cheater,
            store,
            is_async: false,
            auto_complete: true,
            peer: None,
            events: Vec::new(),
            fed: start,
            restarts: 0,
            writes: 0,
            records: 0,
            batch_sizes: Vec::new(),
        };
        cheater.node.force_close_channel(id).unwrap();
        let commitment = net.chain.mempool()[0].clone();
        // Alice is offline: only Bob and the cheater see the blocks, until
        // the cheater's HTLC-timeout (CLTV about 21 blocks out) confirms.
        let script = net.wallet.script_pubkey();
        let mut timeout_seen = false;
        for _ in 0..60 {
            net.chain.mine_blocks(1, &script);
            feed(&mut cheater, &net.chain);
            feed(&mut net.b, &net.chain);
            let spent = spenders(&net.chain, start);
            let ctxid = commitment.compute_txid();
            timeout_seen = spent
                .values()
                .any(|t| t.input.iter().any(|i| i.previous_output.txid == ctxid));
            if timeout_seen {
                break;
            }
        }
        assert!(timeout_seen, "the cheater's HTLC-timeout confirmed");
        // Alice catches up; claims she makes for outputs already spent on
        // the way are refused by the chain (she had not seen the spend).
        for _ in 0..200 {
            net.chain.mine_blocks(1, &script);
            feed(&mut net.a, &net.chain);
            feed(&mut cheater, &net.chain);
            feed(&mut net.b, &net.chain);
        }
        let rejected: Vec<String> = net
            .chain
            .rejections()
            .iter()
            .filter(|r| !matches!(r.reason, lightning_sim::TxRejected::AlreadySpent { .. }))
            .map(|r| format!("{:?}", r.reason))
            .collect();
        assert!(rejected.is_empty(), "{rejected:?}");
        let spent = spenders(&net.chain, start);
        let ctx = spent.get(&funding).unwrap().clone();
        assert_eq!(ctx.compute_txid(), commitment.compute_txid());
        let mut htlc_second_stage = false;
        for (vout, o) in ctx.output.iter().enumerate() {
            let op = OutPoint {
                txid: ctx.compute_txid(),
                vout: vout as u32,
            };
            if anchors && o.value.to_sat() == ANCHOR {
                continue;
            }
            if o.value.to_sat() == 15_000 {
                // It went through the cheater's HTLC-timeout first.
                let first = spent.get(&op).unwrap();
                htlc_second_stage = first.output[0].script_pubkey != a_script;
            }
            let (script, _, _) = follow(&spent, op, o.value.to_sat());
            assert_eq!(script, a_script, "output {vout} ({}) is Alice's", o.value);
        }
        assert!(
            htlc_second_stage,
            "the HTLC output was taken on the second stage"
        );
        // Alice named it; Bob (whose store is current) cannot recognise his
        // own old commitment and says so loudly (BOLT 5, "General
        // Requirements").
        let spent_events = |events: Vec<Event>| -> Vec<(bool, String)> {
            events
                .into_iter()
                .filter_map(|e| match e {
                    Event::FundingSpent {
                        recognised, kind, ..
                    } => Some((recognised, kind)),
                    _ => None,
                })
                .collect()
        };
        let a_seen = spent_events(net.a.take_events());
        assert!(
            matches!(&a_seen[..], [(true, k)] if k.contains("REVOKED")),
            "{a_seen:?}"
        );
        let b_seen = spent_events(net.b.take_events());
        assert!(matches!(&b_seen[..], [(false, _)]), "{b_seen:?}");
    }
}
