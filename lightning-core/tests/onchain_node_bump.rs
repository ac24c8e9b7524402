//! Fee bumping through the `Node` (issue 15), on the simulated chain: two
//! `Node`s with `option_anchors`; Alice is built with a host wallet
//! (`NodeBuilder::wallet`, a `SimWallet`) and a fee estimator the test
//! moves. Blocks are mined by a miner that takes only transactions whose
//! package (the transaction and its unconfirmed ancestors) pays at least a
//! threshold, so a transaction confirms only if its fee (or its child's)
//! says so:
//!
//! - a force close at a low rate while the estimate rises: the commitment
//!   is left out of blocks until our anchor CPFP child pays for it, the
//!   child is re-bumped (RBF) block after block, a restart in the middle
//!   (with a lower estimate) never lowers it; the zero-fee HTLC-timeout is
//!   funded from the wallet and confirms before its deadline; once 6 deep,
//!   the payment fails (`PaymentFailed`);
//! - a justice transaction is RBF'd upward block after block, across a
//!   restart, and confirms;
//! - an empty wallet, and no wallet, give `FeeBumpUnavailable`, not a panic.
//!
//! Every transaction of the chain is script-verified by `SimChain` at
//! mempool acceptance, and every one of Alice's is verified again with
//! `lightning_test_support::verify`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bitcoin::{Amount, Transaction, TxOut, Txid};
use lightning_chain::{ChainSync, ConfirmationTarget, FeeEstimator, FeeRate, Wallet as _};
use lightning_core::node::{Event, NodeBuilder, NodeHost, PaymentHash, Persistence};
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_wire::types::ChannelId;
use node_support::{Net, TestNode};

const CAPACITY: u64 = 1_000_000;

/// A fee estimator the test moves.
#[derive(Debug)]
struct Moving(AtomicU32);

impl FeeEstimator for Moving {
    fn fee_rate(&self, _: ConfirmationTarget) -> FeeRate {
        FeeRate::from_sat_per_kw(self.0.load(Ordering::SeqCst))
    }
}

struct World {
    net: Net,
    id: ChannelId,
    estimate: Arc<Moving>,
    wallet: SimWallet,
    /// Heights at which transactions were seen in blocks.
    seen: HashMap<Txid, u32>,
    /// Alice's events.
    events: Vec<Event>,
}

fn fee_and_weight(chain: &SimChainHandle, tx: &Transaction) -> (u64, u64) {
    let txid = tx.compute_txid();
    let fee = chain
        .with(|c| c.mempool_fee(&txid))
        .map(|a| a.to_sat())
        .unwrap_or_else(|| {
            let ins: u64 = tx
                .input
                .iter()
                .map(|i| {
                    let p = chain.get_transaction(&i.previous_output.txid).unwrap();
                    p.output[i.previous_output.vout as usize].value.to_sat()
                })
                .sum();
            ins - tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>()
        });
    (fee, tx.weight().to_wu())
}

/// Mines one block holding only the mempool transactions whose package
/// (with their unconfirmed ancestors not yet taken) pays `min_rate` sat/kw;
/// the others stay in the mempool. Returns the txids mined.
fn mine_at(chain: &SimChainHandle, min_rate: u64) -> HashSet<Txid> {
    let pool = chain.mempool();
    let by_id: HashMap<Txid, &Transaction> = pool.iter().map(|t| (t.compute_txid(), t)).collect();
    let fees: HashMap<Txid, (u64, u64)> = pool
        .iter()
        .map(|t| (t.compute_txid(), fee_and_weight(chain, t)))
        .collect();
    let ancestors = |txid: Txid| -> HashSet<Txid> {
        let mut set = HashSet::new();
        let mut todo = vec![txid];
        while let Some(t) = todo.pop() {
            if set.insert(t) {
                for i in &by_id[&t].input {
                    if by_id.contains_key(&i.previous_output.txid) {
                        todo.push(i.previous_output.txid);
                    }
                }
            }
        }
        set
    };
    let mut taken: HashSet<Txid> = HashSet::new();
    loop {
        let before = taken.len();
        for t in &pool {
            let txid = t.compute_txid();
            if taken.contains(&txid) {
                continue;
            }
            let pkg: Vec<Txid> = ancestors(txid)
                .into_iter()
                .filter(|a| !taken.contains(a))
                .collect();
            let (f, w) = pkg
                .iter()
                .fold((0, 0), |(f, w), a| (f + fees[a].0, w + fees[a].1));
            if f * 1000 >= min_rate * w {
                taken.extend(pkg);
            }
        }
        if taken.len() == before {
            break;
        }
    }
    let left: Vec<Transaction> = pool
        .iter()
        .filter(|t| !taken.contains(&t.compute_txid()))
        .cloned()
        .collect();
    chain.with(|c| {
        for t in &left {
            c.remove_from_mempool(&t.compute_txid());
        }
    });
    chain.mine_blocks(1, &bitcoin::ScriptBuf::new_op_return([7u8; 4]));
    for t in left {
        let _ = chain.submit_transaction(t);
    }
    taken
}

fn feed(node: &mut TestNode, chain: &SimChainHandle) {
    let mut sync = ChainSync::new(node.node.best_block());
    sync.sync(chain, &mut node.node).unwrap();
    node.fed = chain.best_block().height;
}

fn alice_host(chain: &SimChainHandle, estimate: &Arc<Moving>) -> NodeHost {
    NodeHost {
        broadcaster: Arc::new(chain.clone()),
        fee_estimator: estimate.clone(),
    }
}

/// Alice restarted from her store, with the moving estimator and (when
/// given) the wallet.
fn rebuild_alice(w: &mut World, wallet: Option<Arc<dyn lightning_chain::Wallet + Send + Sync>>) {
    w.net.disconnect();
    let chain = w.net.chain.clone();
    let a = &mut w.net.a;
    let mut b = NodeBuilder::from_config(node_support::config())
        .seed(&a.seed)
        .persistence(Persistence::Inline(a.store.clone()))
        .host(alice_host(&chain, &w.estimate))
        .best_block(chain.best_block());
    if let Some(wallet) = wallet {
        b = b.wallet(wallet);
    }
    a.node = b.build().unwrap();
    a.fed = chain.best_block().height;
    a.peer = None;
}

/// A channel Alice -> Bob with anchors; Alice gets a wallet holding
/// `coins` coins of 100,000 sat (confirmed) and the moving estimator.
fn world(coins: usize, with_wallet: bool) -> World {
    let mut net = Net::with_anchors(true);
    let id = net.open_channel(CAPACITY, 300_000_000);
    net.mine(10);
    net.pay(true, 50_000_000);
    let wallet = SimWallet::from_seed([44; 32], net.chain.clone());
    for _ in 0..coins {
        net.wallet
            .send(Amount::from_sat(100_000), &wallet.script_pubkey())
            .unwrap();
    }
    net.mine(1);
    assert_eq!(wallet.confirmed_utxos().unwrap().len(), coins);
    let estimate = Arc::new(Moving(AtomicU32::new(1000)));
    let mut w = World {
        net,
        id,
        estimate,
        wallet,
        seen: HashMap::new(),
        events: Vec::new(),
    };
    let wallet = with_wallet.then(|| Arc::new(w.wallet.clone()) as Arc<_>);
    rebuild_alice(&mut w, wallet);
    w.net.connect();
    w
}

/// Alice pays `amount_msat` to Bob; the connection drops as soon as the
/// HTLC is in Alice's own commitment (Bob's `commitment_signed` received),
/// before her `revoke_and_ack` reaches Bob: Bob never holds it
/// irrevocably, so never settles it. An HTLC Alice offered, to time out.
fn stuck_offer(w: &mut World, amount_msat: u64) -> PaymentHash {
    let now = w.net.now;
    let invoice = w
        .net
        .b
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(amount_msat)),
            "stuck",
            std::time::Duration::from_secs(3600),
            now,
        )
        .unwrap();
    let hash = *invoice.payment_hash();
    let before = Net::local_msat(&w.net.a.node, w.id);
    w.net.a.node.pay_invoice(&invoice, now).unwrap();
    let net = &mut w.net;
    'outer: for _ in 0..10_000 {
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
                if Net::local_msat(&net.a.node, w.id) + amount_msat <= before {
                    break 'outer;
                }
            }
        }
        if !moved {
            break;
        }
    }
    net.disconnect();
    assert!(Net::local_msat(&net.a.node, w.id) + amount_msat <= before);
    hash
}

/// One block at `min_rate`, fed to both nodes; Alice's events kept.
fn block(w: &mut World, min_rate: u64) -> HashSet<Txid> {
    let mined = mine_at(&w.net.chain, min_rate);
    let h = w.net.chain.best_block().height;
    for t in &mined {
        w.seen.entry(*t).or_insert(h);
    }
    let chain = w.net.chain.clone();
    feed(&mut w.net.a, &chain);
    feed(&mut w.net.b, &chain);
    let events = w.net.a.take_events();
    w.events.extend(events);
    w.net.b.take_events();
    mined
}

/// Every transaction of the chain above `from`, verified against what it
/// spends with libbitcoinconsensus.
fn verify_chain(chain: &SimChainHandle, from: u32) -> usize {
    let mut n = 0;
    for h in from..=chain.best_block().height {
        for tx in chain.block_at(h).unwrap().txdata.iter().skip(1) {
            let spent: Vec<TxOut> = tx
                .input
                .iter()
                .map(|i| {
                    let p = chain.get_transaction(&i.previous_output.txid).unwrap();
                    p.output[i.previous_output.vout as usize].clone()
                })
                .collect();
            lightning_test_support::verify::verify(tx, &spent)
                .unwrap_or_else(|e| panic!("{}: {e}", tx.compute_txid()));
            n += 1;
        }
    }
    n
}

/// Nothing any node broadcast was refused (a replacement that did not
/// outbid, a script failure, a missing parent).
fn assert_no_rejections(chain: &SimChainHandle) {
    let r: Vec<String> = chain
        .rejections()
        .iter()
        .map(|r| format!("{} {:?}", r.tx.compute_txid(), r.reason))
        .collect();
    assert!(r.is_empty(), "rejected: {r:#?}");
}

fn spends(tx: &Transaction, parent: Txid) -> bool {
    tx.input.iter().any(|i| i.previous_output.txid == parent)
}

fn package_rate(chain: &SimChainHandle, parent: &Transaction, child: &Transaction) -> u64 {
    let (pf, pw) = fee_and_weight(chain, parent);
    let (cf, cw) = fee_and_weight(chain, child);
    (pf + cf) * 1000 / (pw + cw)
}

/// The anchor CPFP: the commitment confirms only with our child, which is
/// re-bumped block after block (never lower, across a restart with a lower
/// estimate); the wallet-funded HTLC-timeout confirms before its deadline;
/// the payment fails once it is 6 deep.
#[test]
fn anchor_cpfp_funded_htlc_timeout_and_payment_failure() {
    let mut w = world(2, true);
    let hash = stuck_offer(&mut w, 20_000_000);
    let start = w.net.chain.best_block().height;
    w.net.a.node.force_close_channel(w.id).unwrap();
    let pool = w.net.chain.mempool();
    assert_eq!(pool.len(), 1, "the commitment alone");
    let commitment = pool[0].clone();
    let ctxid = commitment.compute_txid();
    let (cf, cw) = fee_and_weight(&w.net.chain, &commitment);
    let own_rate = cf * 1000 / cw;
    // Miners want 6,000 sat/kw; the estimate starts at 2,000 and rises.
    let threshold = 6_000;
    assert!(own_rate < threshold, "the commitment pays {own_rate}");
    w.estimate.0.store(2_000, Ordering::SeqCst);
    let mined = block(&mut w, threshold);
    assert!(!mined.contains(&ctxid), "the commitment alone is not mined");

    let mut child_rates: Vec<u64> = Vec::new();
    let mut confirmed_with = None;
    for i in 0..30 {
        let pool = w.net.chain.mempool();
        let child = pool.iter().find(|t| spends(t, ctxid)).cloned();
        if let Some(c) = &child {
            let rate = package_rate(&w.net.chain, &commitment, c);
            if child_rates.last() != Some(&rate) {
                child_rates.push(rate);
            }
        }
        if i == 2 {
            // A restart with a lower estimate: the schedule goes on from
            // where it was, never lower.
            w.estimate.0.store(1_000, Ordering::SeqCst);
            let wallet = Arc::new(w.wallet.clone());
            rebuild_alice(&mut w, Some(wallet));
        } else {
            let e = w.estimate.0.load(Ordering::SeqCst);
            w.estimate.0.store(e + 500, Ordering::SeqCst);
        }
        let mined = block(&mut w, threshold);
        if mined.contains(&ctxid) {
            confirmed_with = child;
            break;
        }
    }
    let child = confirmed_with.expect("the commitment confirmed with our child");
    assert!(
        w.seen.contains_key(&child.compute_txid()),
        "the child confirmed in the same block"
    );
    assert!(child.input.len() >= 2, "anchor plus a wallet coin");
    assert!(
        child_rates.len() >= 2,
        "the child was re-bumped: {child_rates:?}"
    );
    assert!(
        child_rates.windows(2).all(|p| p[1] > p[0]),
        "package rates only rise: {child_rates:?}"
    );
    assert!(*child_rates.last().unwrap() >= threshold);

    // The HTLC-timeout: zero-fee, funded from the wallet after its expiry.
    let mut timeout: Option<Transaction> = None;
    for _ in 0..200 {
        block(&mut w, threshold);
        if timeout.is_none() {
            for h in w.seen.keys() {
                let Some(tx) = w.net.chain.get_transaction(h) else {
                    continue;
                };
                let htlc_in = tx.input.iter().any(|i| {
                    i.previous_output.txid == ctxid
                        && commitment.output[i.previous_output.vout as usize].value
                            == Amount::from_sat(20_000)
                });
                if htlc_in && tx.input.len() >= 2 {
                    timeout = Some(tx);
                }
            }
        }
        let failed = w.net.a.node.list_payments().into_iter().any(|p| {
            p.payment_hash == hash && p.status == lightning_core::node::PaymentStatus::Failed
        });
        if failed {
            break;
        }
    }
    let timeout = timeout.expect("a wallet-funded HTLC-timeout confirmed");
    let at = w.seen[&timeout.compute_txid()];
    let cltv = timeout.lock_time.to_consensus_u32();
    println!(
        "commitment {own_rate} sat/kw; CPFP package rates {child_rates:?}; HTLC-timeout (expiry {cltv}) confirmed at {at}, {} inputs",
        timeout.input.len()
    );
    assert!(at > cltv, "after its expiry");
    assert!(at <= cltv + 144, "before its deadline: {at} vs {cltv}");
    let (tf, tw) = fee_and_weight(&w.net.chain, &timeout);
    assert!(tf * 1000 / tw >= threshold, "it paid its own way");
    assert!(
        w.net
            .a
            .node
            .list_payments()
            .iter()
            .any(|p| p.payment_hash == hash
                && p.status == lightning_core::node::PaymentStatus::Failed),
        "the payment failed after the on-chain timeout"
    );
    // Reported once, at least: `PaymentFailed` for this hash.
    assert!(
        w.events.iter().any(
            |e| matches!(e, Event::PaymentFailed { payment_hash, .. } if *payment_hash == hash)
        ),
        "PaymentFailed raised"
    );
    assert!(
        !w.events
            .iter()
            .any(|e| matches!(e, Event::FeeBumpUnavailable { .. })),
        "the wallet paid every bump"
    );
    assert_no_rejections(&w.net.chain);
    assert!(verify_chain(&w.net.chain, start) > 3);
}

/// Copies every record of `from` into a new store.
fn copy_store(from: &lightning_persist::MemoryStore) -> Arc<lightning_persist::MemoryStore> {
    use lightning_persist::KvStore;
    let to = Arc::new(lightning_persist::MemoryStore::new());
    for key in from.list_prefix("node", "").unwrap() {
        if let Some(v) = from.read("node", &key).unwrap() {
            to.write("node", &key, v.version, &v.value).unwrap();
        }
    }
    to
}

/// A justice transaction is RBF'd upward block after block (across a
/// restart with a lower estimate: never lower) until miners take it.
#[test]
fn justice_is_rbf_bumped_until_it_confirms() {
    let mut w = world(1, true);
    let store = copy_store(&w.net.b.store);
    // Two payments revoke the copied state.
    w.net.pay(true, 7_000_000);
    w.net.pay(false, 3_000_000);
    w.net.disconnect();
    let start = w.net.chain.best_block().height;
    let chain = w.net.chain.clone();
    let mut cheater = NodeBuilder::from_config(node_support::config())
        .seed(&w.net.b.seed)
        .persistence(Persistence::Inline(store))
        .host(lightning_test_support::host::node_host(&chain))
        .best_block(chain.best_block())
        .build()
        .unwrap();
    cheater.force_close_channel(w.id).unwrap();
    let revoked = w.net.chain.mempool()[0].clone();
    let rtxid = revoked.compute_txid();
    w.estimate.0.store(2_000, Ordering::SeqCst);
    assert!(
        block(&mut w, 0).contains(&rtxid),
        "the revoked commitment confirms"
    );
    let alice = w.net.a.node.shutdown_script();
    // Miners want 30,000 sat/kw; Alice's estimate is 2,000.
    let threshold = 30_000;
    let mut rates: HashMap<u32, Vec<u64>> = HashMap::new();
    let mut taken: HashMap<u32, Txid> = HashMap::new();
    for i in 0..60 {
        for t in w.net.chain.mempool() {
            for inp in t.input.iter().filter(|i| i.previous_output.txid == rtxid) {
                let (f, wt) = fee_and_weight(&w.net.chain, &t);
                let v = rates.entry(inp.previous_output.vout).or_default();
                if v.last() != Some(&(f * 1000 / wt)) {
                    v.push(f * 1000 / wt);
                }
            }
        }
        if i == 2 {
            w.estimate.0.store(1_000, Ordering::SeqCst);
            let wallet = Arc::new(w.wallet.clone());
            rebuild_alice(&mut w, Some(wallet));
        }
        // Once the justice on `to_local` is in, the rest may confirm.
        let t = if taken.is_empty() { threshold } else { 0 };
        for txid in block(&mut w, t) {
            let tx = w.net.chain.get_transaction(&txid).unwrap();
            for inp in tx.input.iter().filter(|i| i.previous_output.txid == rtxid) {
                assert_eq!(tx.output[0].script_pubkey, alice, "justice pays Alice");
                taken.insert(inp.previous_output.vout, txid);
            }
        }
        let non_anchor = revoked
            .output
            .iter()
            .filter(|o| o.value.to_sat() != 330)
            .count();
        if taken.len() == non_anchor {
            break;
        }
    }
    println!("justice rates by output: {rates:?}");
    let bumped: Vec<&Vec<u64>> = rates.values().filter(|v| v.len() >= 3).collect();
    assert!(
        !bumped.is_empty(),
        "a justice transaction was re-bumped: {rates:?}"
    );
    for v in rates.values() {
        assert!(v.windows(2).all(|p| p[1] > p[0]), "never lower: {v:?}");
    }
    assert!(
        bumped.iter().any(|v| *v.last().unwrap() >= threshold),
        "and reached the miners' rate"
    );
    for (vout, o) in revoked.output.iter().enumerate() {
        if o.value.to_sat() != 330 {
            assert!(taken.contains_key(&(vout as u32)), "output {vout} taken");
        }
    }
    assert_no_rejections(&w.net.chain);
    assert!(verify_chain(&w.net.chain, start) >= 3);
}

fn bump_warnings(events: &[Event]) -> Vec<(Txid, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::FeeBumpUnavailable { txid, reason, .. } => Some((*txid, reason.clone())),
            _ => None,
        })
        .collect()
}

/// An anchors force close with an empty wallet, and with none: the node
/// says it cannot bump (once per transaction), keeps broadcasting as it
/// can, and resolves the channel when the chain lets it.
#[test]
fn empty_or_missing_wallet_warns_and_does_not_panic() {
    for with_wallet in [true, false] {
        let mut w = world(0, with_wallet);
        let hash = stuck_offer(&mut w, 20_000_000);
        w.net.a.node.force_close_channel(w.id).unwrap();
        let ctxid = w.net.chain.mempool()[0].compute_txid();
        w.estimate.0.store(5_000, Ordering::SeqCst);
        // Two blocks of miners wanting more than the commitment pays: the
        // node tries to CPFP it (and cannot); then miners that take
        // anything: the commitment confirms by itself.
        for t in [100_000, 100_000, 0] {
            block(&mut w, t);
        }
        assert!(w.seen.contains_key(&ctxid));
        for _ in 0..200 {
            block(&mut w, 0);
        }
        let warnings = bump_warnings(&w.events);
        println!("wallet {with_wallet}: {warnings:?}");
        let expected = if with_wallet {
            "cannot pay"
        } else {
            "no wallet is configured"
        };
        assert!(
            warnings.iter().any(
                |(t, r)| *t == ctxid && r.contains(if with_wallet { "CPFP" } else { expected })
            ),
            "the commitment's CPFP: {warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|(t, r)| *t != ctxid && r.contains(expected)),
            "the HTLC-timeout's funding: {warnings:?}"
        );
        let mut txids: Vec<Txid> = warnings.iter().map(|(t, _)| *t).collect();
        txids.sort();
        txids.dedup();
        assert_eq!(txids.len(), warnings.len(), "once per transaction");
        // The zero-fee HTLC-timeout still went out and, with miners that
        // take it, the payment failed on chain.
        assert!(w
            .net
            .a
            .node
            .list_payments()
            .iter()
            .any(|p| p.payment_hash == hash
                && p.status == lightning_core::node::PaymentStatus::Failed));
        assert_no_rejections(&w.net.chain);
    }
}

/// Alice's confirmed HTLC-timeout transactions of `commitment` carrying
/// wallet inputs: by commitment output value, (height, transaction).
fn funded_timeouts(w: &World, commitment: &Transaction) -> HashMap<u64, (u32, Transaction)> {
    let ctxid = commitment.compute_txid();
    let mut out = HashMap::new();
    for (txid, h) in &w.seen {
        let Some(tx) = w.net.chain.get_transaction(txid) else {
            continue;
        };
        let Some(i) = tx.input.first() else { continue };
        if i.previous_output.txid == ctxid && tx.input.len() >= 2 {
            let value = commitment.output[i.previous_output.vout as usize]
                .value
                .to_sat();
            out.insert(value, (*h, tx));
        }
    }
    out
}

/// Alice force closes with `amounts` HTLCs she offered, held by Bob (one
/// block apart when `spread`). Returns the commitment and the rate blocks
/// are mined at: its own (at most 1,000 sat/kw, the wallet's and the
/// estimate's), which zero-fee HTLC transactions never reach.
fn close_with_held(w: &mut World, amounts: &[u64], spread: bool) -> (Transaction, u64) {
    for (i, a) in amounts.iter().enumerate() {
        w.net.hold(true, a * 1000, 90 + i as u8);
        if spread {
            w.net.mine(1);
        }
    }
    w.net.disconnect();
    w.net.a.node.force_close_channel(w.id).unwrap();
    let commitment = w.net.chain.mempool()[0].clone();
    let (cf, cw) = fee_and_weight(&w.net.chain, &commitment);
    (commitment, (cf * 1000 / cw).min(1_000))
}

/// Five anchors HTLC-timeouts due in the same block and a wallet of a few
/// coins: each is funded with coins no other claim (nor the anchor CPFP)
/// holds, and every one confirms. (Once a bug: each claim's coin selection
/// saw the same wallet coins, since the transactions of a step go out after
/// its write, so all five spent the largest coin and four were rejected.)
#[test]
fn htlc_transactions_due_together_get_distinct_coins() {
    let mut w = world(7, true);
    let amounts = [20_000, 21_000, 22_000, 23_000, 24_000];
    let (commitment, own_rate) = close_with_held(&mut w, &amounts, false);
    let start = w.net.chain.best_block().height;
    for _ in 0..200 {
        block(&mut w, own_rate);
        if funded_timeouts(&w, &commitment).len() == amounts.len() {
            break;
        }
    }
    assert_no_rejections(&w.net.chain);
    let funded = funded_timeouts(&w, &commitment);
    assert_eq!(funded.len(), amounts.len(), "every HTLC-timeout confirmed");
    let mut coins = HashSet::new();
    for (_, tx) in funded.values() {
        for i in tx.input.iter().skip(1) {
            assert!(coins.insert(i.previous_output), "a coin spent twice");
        }
    }
    let heights: HashSet<u32> = funded.values().map(|(h, _)| *h).collect();
    assert_eq!(heights.len(), 1, "all in one block: {heights:?}");
    verify_chain(&w.net.chain, start);
}

/// One wallet coin, three HTLC-timeouts due together (the coin arrives
/// once all three expired): the nearest deadline is funded first, the
/// others wait with a warning naming the shortfall and are funded one
/// after another from the change as it confirms; all confirm.
#[test]
fn one_coin_funds_claims_in_deadline_order() {
    let mut w = world(0, true);
    // The earliest expiry carries the largest amount, so output order
    // (BIP 69, by amount) is the reverse of deadline order.
    let amounts = [30_000, 20_000, 10_000];
    let (commitment, own_rate) = close_with_held(&mut w, &amounts, true);
    let start = w.net.chain.best_block().height;
    // Until every HTLC has expired and its zero-fee transaction is out.
    let mut waited = 0;
    while w
        .net
        .chain
        .mempool()
        .iter()
        .filter(|t| spends(t, commitment.compute_txid()))
        .count()
        < amounts.len()
    {
        block(&mut w, own_rate);
        waited += 1;
        assert!(waited < 100, "the HTLC transactions never came out");
    }
    let warnings = bump_warnings(&w.events);
    assert!(
        warnings.iter().any(|(_, r)| r.contains("short of coins")),
        "the shortfall is named: {warnings:?}"
    );
    w.net
        .wallet
        .send(Amount::from_sat(100_000), &w.wallet.script_pubkey())
        .unwrap();
    for _ in 0..20 {
        block(&mut w, own_rate);
        if funded_timeouts(&w, &commitment).len() == amounts.len() {
            break;
        }
    }
    assert_no_rejections(&w.net.chain);
    let funded = funded_timeouts(&w, &commitment);
    assert_eq!(funded.len(), amounts.len(), "every HTLC-timeout confirmed");
    let h: Vec<u32> = amounts.iter().map(|a| funded[a].0).collect();
    assert!(
        h[0] < h[1] && h[1] < h[2],
        "nearest deadline first, one after another: {h:?}"
    );
    // Each spends the change of the one before.
    for pair in amounts.windows(2) {
        let before = funded[&pair[0]].1.compute_txid();
        assert!(
            spends(&funded[&pair[1]].1, before),
            "funded from the change of the previous claim"
        );
    }
    verify_chain(&w.net.chain, start);
}
