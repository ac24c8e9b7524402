//! The force-close matrix's 483-HTLC rows (issue 15): BOLT 5 through the
//! `Node`, on the simulated chain (every transaction script-verified by
//! `SimChain` at mempool acceptance), with the channel holding BOLT 2's
//! `max_accepted_htlcs` maximum, 483 HTLCs, when it goes to chain:
//! {we close, they close with their current commitment or with their
//! next one (signed by us, the one before not yet revoked: it removes the
//! HTLCs Bob fulfilled), they publish a revoked commitment} ×
//! {static_remotekey, anchors} × {undisturbed, both nodes restarted after
//! every block (the step's broadcasts lost) with two reorgs of 6 blocks}.
//!
//! The HTLCs are real: hold invoices paid over the channel by both nodes,
//! the adds of many payments batched into a few commitments by the
//! nodes' own pipelining (no payment round trip each), every commitment
//! and HTLC signature made and checked by the nodes. The mix: HTLCs Alice
//! offered that Bob never claims (Alice times them out), that Bob claimed
//! (his fulfill never reached Alice: Bob takes them with the preimage and
//! Alice learns it on chain), HTLCs Bob offered that Alice claimed (she
//! takes them with the preimage) or never claims (Bob times them out),
//! and dust HTLCs both ways (trimmed: fees). Each non-dust HTLC has an
//! amount of its own, so each commitment output names its HTLC.
//!
//! After each run, as in `onchain_node.rs`: every satoshi of the funding
//! output ends at Alice's sweep script, Bob's, an anchor output (330 sat,
//! left for the anchor bumper) or in fees; every commitment output
//! reaches the owner BOLT 5 gives it to; nothing the nodes broadcast was
//! rejected; Alice's payments end as the chain settled them.
//!
//! As in `onchain_node.rs`, the nodes of the six rows have no host wallet:
//! anchors HTLC transactions go out zero-fee (`SimChain` mines them). Two
//! more rows give both nodes a wallet, so that those transactions get
//! wallet inputs: hundreds are due in one block, and each must get coins
//! no other claim holds (once a bug: every one was funded from the same
//! coin, all but one rejected, HTLCs lost to the peer's timeout).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, Txid};
use lightning_chain::ChainSync;
use lightning_core::amount::Msat;
use lightning_core::node::{Event, PaymentHash, PaymentPreimage, PaymentStatus};
use lightning_core::onchain::SpendTag;
use lightning_sim::SimWallet;
use lightning_wire::types::ChannelId;
use node_support::{copy_store, Net, TestNode};

/// Large enough for 483 HTLCs and a commitment of about 85,000 weight
/// units at 1,000 sat/kw, paid by Alice (the funder).
const CAPACITY: u64 = 10_000_000;
/// Bob's side at open.
const PUSH_MSAT: u64 = 4_000_000_000;
const ANCHOR: u64 = 330;
/// BOLT 2's `max_accepted_htlcs` maximum.
const HTLCS: usize = 483;
/// Dust HTLCs (below both dust limits with their HTLC transaction's fee),
/// half each way; their sum stays under the nodes' dust exposure cap.
const DUST: usize = 8;
const DUST_SAT: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    Us,
    Them,
    /// Bob publishes his next commitment: Alice signed it (it removes the
    /// HTLCs Bob fulfilled), his `revoke_and_ack` of the one before never
    /// reached her.
    TheirNext,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Alice,
    Bob,
}

/// One HTLC of the mix.
#[derive(Debug, Clone, Copy)]
struct Spec {
    index: usize,
    alice_offers: bool,
    amount_sat: u64,
    /// The payee claims it (it has the preimage; the fulfill never
    /// reaches the payer).
    claimed: bool,
}

impl Spec {
    fn dust(&self) -> bool {
        self.amount_sat == DUST_SAT
    }

    fn preimage(&self) -> PaymentPreimage {
        let mut p = [0x48u8; 32];
        p[..8].copy_from_slice(&(self.index as u64).to_be_bytes());
        PaymentPreimage(p)
    }

    fn hash(&self) -> PaymentHash {
        PaymentHash(sha256::Hash::hash(&self.preimage().0).to_byte_array())
    }

    /// Who BOLT 5 gives the output to when the commitment is not revoked:
    /// the payee with the preimage, else the payer by timeout.
    fn owner(&self) -> Owner {
        match (self.alice_offers, self.claimed) {
            (true, false) | (false, true) => Owner::Alice,
            (true, true) | (false, false) => Owner::Bob,
        }
    }
}

/// 483 HTLCs: 8 dust (4 each way), the rest in four classes by index,
/// each with an amount of its own (6,000 sat and up).
fn mix() -> Vec<Spec> {
    (0..HTLCS)
        .map(|index| {
            let alice_offers = index % 2 == 0;
            if index < DUST {
                return Spec {
                    index,
                    alice_offers,
                    amount_sat: DUST_SAT,
                    claimed: false,
                };
            }
            Spec {
                index,
                alice_offers,
                amount_sat: 6_000 + 2 * index as u64,
                claimed: index % 4 >= 2,
            }
        })
        .collect()
}

/// Coins of each node's host wallet in the anchors rows, and their value:
/// the wallet pays for the zero-fee HTLC transactions (and any anchor
/// CPFP), one coin or more each.
const WALLET_COINS: usize = 40;
const WALLET_COIN_SAT: u64 = 50_000;

struct Run {
    net: Net,
    /// Alice's and Bob's host wallets (anchors rows).
    wallets: Option<(SimWallet, SimWallet)>,
    cheater: Option<TestNode>,
    id: ChannelId,
    funding: OutPoint,
    specs: Vec<Spec>,
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

    /// One block; with `restart`, the broadcasts of the step are dropped
    /// (as if each node crashed before they reached the network) and both
    /// nodes restart from their stores (their host wallets given back),
    /// which must broadcast them again.
    fn block(&mut self, restart: bool) {
        let script = self.net.wallet.script_pubkey();
        self.net.chain.mine_blocks(1, &script);
        let chain = self.net.chain.clone();
        for n in self.nodes() {
            feed(n, &chain);
        }
        if restart {
            empty_mempool(&chain);
            self.net.a.restart(&chain);
            self.net.b.restart(&chain);
            if let Some((a, b)) = &self.wallets {
                self.net.a.node.set_wallet(Arc::new(a.clone()));
                self.net.b.node.set_wallet(Arc::new(b.clone()));
            }
        }
        for n in self.nodes() {
            n.take_events();
        }
    }

    /// The top `depth` blocks are replaced by empty ones; what they held is
    /// not mined again by the chain itself (the mempool is emptied): the
    /// nodes must rebuild and rebroadcast it.
    fn reorg(&mut self, depth: usize) {
        let chain = self.net.chain.clone();
        chain.invalidate_tip(depth);
        empty_mempool(&chain);
        for n in self.nodes() {
            feed(n, &chain);
        }
    }
}

fn empty_mempool(chain: &lightning_sim::SimChainHandle) {
    chain.with(|c| {
        let txids: Vec<Txid> = c.mempool().map(|t| t.compute_txid()).collect();
        for t in txids {
            c.remove_from_mempool(&t);
        }
    });
}

/// How hard a row shakes the nodes after the close: restarts after every
/// block, and two reorgs of `reorg` blocks (one that undoes the
/// commitment and its first claims, one while the HTLC claims and
/// `to_local` are swept).
#[derive(Debug, Clone, Copy, Default)]
struct Shake {
    restart: bool,
    reorg: usize,
}

/// Every payee's hold invoice paid by the other; the adds are queued by
/// the payers, then delivered together (the nodes batch them into a few
/// commitments). Every HTLC ends held in both commitments.
fn add_htlcs(net: &mut Net, specs: &[Spec]) {
    let now = net.now;
    let mut invoices = Vec::new();
    for s in specs {
        let payee = if s.alice_offers {
            &mut net.b
        } else {
            &mut net.a
        };
        let invoice = payee
            .node
            .create_hold_invoice(
                s.hash(),
                Some(Msat(s.amount_sat * 1000)),
                "483",
                Duration::from_secs(3600),
                now,
            )
            .unwrap();
        invoices.push((s.alice_offers, invoice));
    }
    for (alice_pays, invoice) in &invoices {
        let payer = if *alice_pays { &mut net.a } else { &mut net.b };
        payer.node.pay_invoice(invoice, now).unwrap();
    }
    net.shuttle();
    let held = |n: &TestNode| {
        n.events
            .iter()
            .filter(|e| matches!(e, Event::HoldInvoiceAccepted { .. }))
            .count()
    };
    let (a_held, b_held) = (held(&net.a), held(&net.b));
    assert_eq!(
        a_held + b_held,
        specs.len(),
        "every HTLC is held (Alice {a_held}, Bob {b_held})"
    );
    net.a.take_events();
    net.b.take_events();
}

/// The payee of every claimed HTLC claims it: its fulfill goes no
/// further than the payee's outbox (the connection drops first) when
/// `deliver` is false.
fn claim(net: &mut Net, specs: &[Spec], deliver: bool) {
    let now = net.now;
    for s in specs.iter().filter(|s| s.claimed) {
        let payee = if s.alice_offers {
            &mut net.b
        } else {
            &mut net.a
        };
        payee.node.claim_for_hash(s.preimage(), now).unwrap();
    }
    if deliver {
        net.shuttle();
    } else {
        net.disconnect();
    }
}

/// Bob's next commitment (BOLT 2): Bob fulfills every HTLC he claims; his
/// `update_fulfill_htlc`s and `commitment_signed` reach Alice, her
/// `revoke_and_ack` and `commitment_signed` (for his commitment without
/// them) reach him, and his `revoke_and_ack` never leaves (the connection
/// drops). Alice claims hers, her fulfills never reaching Bob.
fn their_next(net: &mut Net, specs: &[Spec]) {
    let now = net.now;
    for s in specs.iter().filter(|s| s.claimed && s.alice_offers) {
        net.b.node.claim_for_hash(s.preimage(), now).unwrap();
    }
    assert!(
        net.drain(false) >= 1,
        "Bob's fulfills and commitment_signed"
    );
    assert!(
        net.drain(true) >= 1,
        "Alice's revoke_and_ack and commitment_signed"
    );
    assert!(
        net.b.node.poll_transmit(net.b.peer.unwrap()).is_some(),
        "Bob owes a revoke_and_ack"
    );
    for s in specs.iter().filter(|s| s.claimed && !s.alice_offers) {
        net.a.node.claim_for_hash(s.preimage(), now).unwrap();
    }
    net.disconnect();
}

fn setup(anchors: bool, closer: Closer, wallets: bool) -> Run {
    let mut net = Net::with_anchors(anchors);
    let id = net.open_channel(CAPACITY, PUSH_MSAT);
    net.mine(10);
    // With `wallets`, both nodes get a host wallet: their anchors HTLC
    // transactions are zero-fee and get wallet inputs.
    let wallets = wallets.then(|| {
        let a = SimWallet::from_seed([44; 32], net.chain.clone());
        let b = SimWallet::from_seed([45; 32], net.chain.clone());
        // A coin of the test's wallet each (its change confirms by the
        // next block).
        let mut to_send = vec![a.script_pubkey(); WALLET_COINS];
        to_send.extend(vec![b.script_pubkey(); WALLET_COINS]);
        while !to_send.is_empty() {
            while let Some(script) = to_send.last() {
                if net
                    .wallet
                    .send(Amount::from_sat(WALLET_COIN_SAT), script)
                    .is_err()
                {
                    break;
                }
                to_send.pop();
            }
            net.mine(1);
        }
        // Deeper than the reorgs of the shaken rows: a reorg that undid
        // the coins' own funding (and dropped it from the mempool) would
        // leave the wallets offering coins that no longer exist.
        net.mine(8);
        net.a.node.set_wallet(Arc::new(a.clone()));
        net.b.node.set_wallet(Arc::new(b.clone()));
        (a, b)
    });
    let specs = mix();
    add_htlcs(&mut net, &specs);
    let mut cheater = None;
    if closer == Closer::Revoked {
        // The cheater's copy: Bob's store with the 483 HTLCs in flight.
        let store = copy_store(&net.b.store);
        // Then every HTLC is settled or failed, and two payments revoke
        // that state.
        claim(&mut net, &specs, true);
        let now = net.now;
        for s in specs.iter().filter(|s| !s.claimed) {
            let payee = if s.alice_offers {
                &mut net.b
            } else {
                &mut net.a
            };
            payee.node.fail_for_hash(s.hash(), now).unwrap();
        }
        net.shuttle();
        net.pay(true, 7_000_000);
        net.pay(false, 3_000_000);
        net.disconnect();
        cheater = Some(TestNode::from_store(
            "cheater", net.b.seed, store, &net.chain,
        ));
    } else if closer == Closer::TheirNext {
        their_next(&mut net, &specs);
    } else {
        claim(&mut net, &specs, false);
    }
    let funding = net.a.node.list_channels()[0].funding_txo.unwrap();
    Run {
        net,
        wallets,
        cheater,
        id,
        funding,
        specs,
    }
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

/// Every transaction of the chain, by txid.
fn all_txs(chain: &lightning_sim::SimChainHandle) -> HashMap<Txid, Transaction> {
    let mut m = HashMap::new();
    for h in 0..=chain.best_block().height {
        for tx in chain.block_at(h).unwrap().txdata {
            m.insert(tx.compute_txid(), tx);
        }
    }
    m
}

/// What a wallet paid for the claims on the way.
#[derive(Debug, Default, Clone, Copy)]
struct WalletSpend {
    /// Transactions with wallet inputs.
    txs: u64,
    /// Fees the wallet paid (its inputs less its change).
    fees: u64,
    /// Weight of those transactions.
    weight: u64,
}

/// Follows `op` through the transactions that spend it to the unspent
/// output it ends in: its script, value, and the fees paid on the way out
/// of the channel's money. A claim spends `op` alone as input 0 and pays
/// output 0; any other input is a coin of a host wallet (`wallets`) and
/// any other output its change (BOLT 3: the peer's
/// `SIGHASH_SINGLE|ANYONECANPAY` signature binds input 0 to output 0):
/// what the wallet pays is added to `spend`.
fn follow(
    spent: &HashMap<OutPoint, Transaction>,
    txs: &HashMap<Txid, Transaction>,
    wallets: &[ScriptBuf],
    spend: &mut WalletSpend,
    mut op: OutPoint,
    mut value: u64,
) -> Result<(ScriptBuf, u64, u64), String> {
    let mut fees = 0;
    loop {
        let tx = spent
            .get(&op)
            .ok_or_else(|| format!("{op} is spent by nothing we can follow"))?;
        let txid = tx.compute_txid();
        if tx.input[0].previous_output != op {
            return Err(format!("{txid} spends {op} as another input than 0"));
        }
        let out = &tx.output[0];
        if tx.input.len() > 1 || tx.output.len() > 1 {
            let mut paid = 0u64;
            for i in &tx.input[1..] {
                let prev = txs
                    .get(&i.previous_output.txid)
                    .map(|t| t.output[i.previous_output.vout as usize].clone())
                    .ok_or_else(|| format!("{txid}: unknown input {}", i.previous_output))?;
                if !wallets.contains(&prev.script_pubkey) {
                    return Err(format!("{txid} spends a foreign coin beside {op}"));
                }
                paid += prev.value.to_sat();
            }
            for o in &tx.output[1..] {
                if !wallets.contains(&o.script_pubkey) {
                    return Err(format!("{txid} pays a foreign script beside its claim"));
                }
                paid -= o.value.to_sat();
            }
            spend.txs += 1;
            spend.fees += paid;
            spend.weight += tx.weight().to_wu();
        }
        fees += value
            .checked_sub(out.value.to_sat())
            .ok_or_else(|| format!("{txid} pays out more of {op} than it holds"))?;
        value = out.value.to_sat();
        let next = OutPoint { txid, vout: 0 };
        if !spent.contains_key(&next) {
            return Ok((out.script_pubkey.clone(), value, fees));
        }
        op = next;
    }
}

fn payment_status(r: &Run, hash: PaymentHash) -> Option<PaymentStatus> {
    r.net
        .a
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == hash)
        .map(|p| p.status)
}

fn run(anchors: bool, closer: Closer, wallets: bool, shake: Shake) -> Result<(), String> {
    let started = Instant::now();
    let mut r = setup(anchors, closer, wallets);
    let set_up = started.elapsed();
    let a_script = r.net.a.node.shutdown_script();
    let b_script = r.net.b.node.shutdown_script();
    let b_sat = Net::local_msat(&r.net.b.node, r.id) / 1000;
    // From below any reorg (the commitment may be mined lower).
    let start = r.net.chain.best_block().height - 8;
    match closer {
        Closer::Us => r.net.a.node.force_close_channel(r.id).unwrap(),
        Closer::Them | Closer::TheirNext => r.net.b.node.force_close_channel(r.id).unwrap(),
        Closer::Revoked => {
            let c = r.cheater.as_mut().unwrap();
            c.node.force_close_channel(r.id).unwrap();
        }
    }
    assert_eq!(
        r.net.chain.mempool().len(),
        1,
        "the commitment is broadcast"
    );
    let commitment = r.net.chain.mempool()[0].clone();
    // The commitment confirms; then blocks until nothing is left to do:
    // past every timelock (HTLC expiries are about 21 blocks out,
    // `to_self_delay` 144) and quiet for a while.
    r.block(false);
    let mut idle = 0;
    for i in 0..400 {
        if shake.reorg > 0 && (i == 1 || i == 150) {
            r.reorg(shake.reorg);
        }
        r.block(shake.restart);
        if r.net.chain.mempool().is_empty() {
            idle += 1;
        } else {
            idle = 0;
        }
        if i > 200 && idle > 10 {
            break;
        }
    }
    // Everything the nodes broadcast must have been accepted: reported
    // with the first accounting error, if any (what a rejection cost).
    let rejections = r.net.chain.rejections();
    let rejected = if rejections.is_empty() {
        String::new()
    } else {
        let short: Vec<String> = rejections
            .iter()
            .take(3)
            .map(|r| format!("{} {:?}", r.tx.compute_txid(), r.reason))
            .collect();
        let mut kinds: HashMap<String, usize> = HashMap::new();
        for r in &rejections {
            let kind = format!("{:?}", r.reason);
            let kind = kind.split([' ', '{', '(']).next().unwrap_or_default();
            *kinds.entry(kind.to_string()).or_default() += 1;
        }
        format!(
            "{} broadcasts rejected ({kinds:?}), first {short:?}",
            rejections.len()
        )
    };
    let account = || -> Result<(), String> {
        let spent = spenders(&r.net.chain, start);
        let ctx = spent
            .get(&r.funding)
            .ok_or("the funding output was not spent")?
            .clone();
        if ctx.compute_txid() != commitment.compute_txid() {
            return Err("another transaction spent the funding output".into());
        }
        // The commitment holds every non-dust HTLC; the dust ones are
        // trimmed. Bob's next one lacks those of his fulfills that Alice's
        // `commitment_signed` covered (their value is in his main output),
        // at least one: the rest are still outputs, his by the preimage.
        let by_amount: HashMap<u64, Spec> = r
            .specs
            .iter()
            .filter(|s| !s.dust())
            .map(|s| (s.amount_sat, *s))
            .collect();
        let htlc_outputs = ctx
            .output
            .iter()
            .filter(|o| by_amount.contains_key(&o.value.to_sat()))
            .count();
        let fulfilled_by_bob = r
            .specs
            .iter()
            .filter(|s| s.alice_offers && s.claimed)
            .count();
        let expected = match closer {
            Closer::TheirNext => (HTLCS - DUST - fulfilled_by_bob)..=(HTLCS - DUST - 1),
            _ => (HTLCS - DUST)..=(HTLCS - DUST),
        };
        if !expected.contains(&htlc_outputs) {
            return Err(format!(
                "the commitment has {htlc_outputs} HTLC outputs, expected {expected:?}"
            ));
        }
        let txs = all_txs(&r.net.chain);
        let wallet_scripts: Vec<ScriptBuf> = r
            .wallets
            .iter()
            .flat_map(|(a, b)| [a.script_pubkey(), b.script_pubkey()])
            .collect();
        let mut wallet_spend = WalletSpend::default();
        let mut problems = Vec::new();
        let (mut a_total, mut b_total, mut fees, mut anchor_sat) = (0u64, 0u64, 0u64, 0u64);
        let outputs: u64 = ctx.output.iter().map(|o| o.value.to_sat()).sum();
        fees += CAPACITY - outputs;
        for (vout, o) in ctx.output.iter().enumerate() {
            let v = o.value.to_sat();
            let op = OutPoint {
                txid: ctx.compute_txid(),
                vout: vout as u32,
            };
            if anchors && v == ANCHOR {
                // Left for the anchor bumper, or spent by a CPFP child into
                // its owner's wallet.
                anchor_sat += v;
                continue;
            }
            let expected = if closer == Closer::Revoked {
                Owner::Alice
            } else if let Some(s) = by_amount.get(&v) {
                s.owner()
            } else if v == b_sat {
                Owner::Bob
            } else {
                Owner::Alice
            };
            let class = by_amount
                .get(&v)
                .map(|s| format!("HTLC {}, {expected:?}'s", s.index))
                .unwrap_or_else(|| format!("main output, {expected:?}'s"));
            let (script, end, f) =
                match follow(&spent, &txs, &wallet_scripts, &mut wallet_spend, op, v) {
                    Ok(x) => x,
                    Err(e) => {
                        problems.push(format!("output {vout} ({v} sat, {class}): {e}"));
                        continue;
                    }
                };
            fees += f;
            let owner = if script == a_script {
                a_total += end;
                Owner::Alice
            } else if script == b_script {
                b_total += end;
                Owner::Bob
            } else {
                problems.push(format!(
                    "output {vout} ({v} sat, {class}) ends at a foreign script {script}"
                ));
                continue;
            };
            if owner != expected {
                problems.push(format!(
                    "output {vout} ({v} sat, {class}) went to {owner:?}, BOLT 5 gives it to {expected:?}"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "{} commitment outputs wrong (wallets paid {wallet_spend:?}), first: {:?}",
                problems.len(),
                &problems[..problems.len().min(4)]
            ));
        }
        if a_total + b_total + fees + anchor_sat != CAPACITY {
            return Err(format!(
                "accounting: alice {a_total} + bob {b_total} + fees {fees} + anchors {anchor_sat} != {CAPACITY}"
            ));
        }
        // Alice's payments end as the chain settled them: a preimage Bob
        // revealed on chain completes hers, a timeout fails it.
        if closer != Closer::Revoked {
            for s in r.specs.iter().filter(|s| s.alice_offers && !s.dust()) {
                let want = if s.claimed {
                    PaymentStatus::Succeeded
                } else {
                    PaymentStatus::Failed
                };
                let got = payment_status(&r, s.hash());
                if got != Some(want) {
                    return Err(format!(
                        "payment {} ({} sat): {got:?}, expected {want:?}",
                        s.index, s.amount_sat
                    ));
                }
            }
        }
        let closing = r.net.a.node.list_channels()[0].closing;
        let named = match closer {
            Closer::Us => SpendTag::Holder,
            Closer::Them => SpendTag::CounterpartyCurrent,
            Closer::TheirNext => SpendTag::CounterpartyNext,
            Closer::Revoked => SpendTag::CounterpartyRevoked,
        };
        if closing.map(|c| c.spent_by) != Some(named) {
            return Err(format!(
                "the spend was named {closing:?}, expected {named:?}"
            ));
        }
        if !closing.is_some_and(|c| c.resolved) {
            return Err(format!("not resolved: {closing:?}"));
        }
        if !r.net.a.node.claimable_balances().is_empty() {
            return Err(format!(
                "left: {} claimable balances",
                r.net.a.node.claimable_balances().len()
            ));
        }
        println!(
            "483 HTLCs, anchors {anchors}, {closer:?}, {shake:?}: alice {a_total} bob {b_total} fees {fees} anchors {anchor_sat}; wallets paid {wallet_spend:?}; set up {:.1}s, total {:.1}s",
            set_up.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    };
    match (account(), rejected.is_empty()) {
        (Ok(()), true) => Ok(()),
        (Ok(()), false) => Err(rejected),
        (Err(e), true) => Err(e),
        (Err(e), false) => Err(format!("{e}; {rejected}")),
    }
}

#[test]
fn htlcs_483_we_close_static_remotekey() {
    assert_eq!(run(false, Closer::Us, false, Shake::default()), Ok(()));
}

#[test]
fn htlcs_483_we_close_anchors() {
    assert_eq!(run(true, Closer::Us, false, Shake::default()), Ok(()));
}

#[test]
fn htlcs_483_they_close_static_remotekey() {
    assert_eq!(run(false, Closer::Them, false, Shake::default()), Ok(()));
}

#[test]
fn htlcs_483_they_close_anchors() {
    assert_eq!(run(true, Closer::Them, false, Shake::default()), Ok(()));
}

#[test]
fn htlcs_483_revoked_static_remotekey() {
    assert_eq!(run(false, Closer::Revoked, false, Shake::default()), Ok(()));
}

#[test]
fn htlcs_483_revoked_anchors() {
    assert_eq!(run(true, Closer::Revoked, false, Shake::default()), Ok(()));
}

/// The anchors rows with a host wallet on both nodes (40 confirmed coins
/// each): the zero-fee HTLC transactions of the closing commitment get
/// wallet inputs (`build_funded_holder_htlc_transaction`). Hundreds are
/// due in the same block.
#[test]
fn htlcs_483_we_close_anchors_wallet() {
    assert_eq!(run(true, Closer::Us, true, Shake::default()), Ok(()));
}

/// As above, Bob's commitment: Bob's node (the same code) funds his HTLC
/// transactions from his wallet; Alice must still get exactly her share.
#[test]
fn htlcs_483_they_close_anchors_wallet() {
    assert_eq!(run(true, Closer::Them, true, Shake::default()), Ok(()));
}

/// The rows again with both nodes restarted after every block (the
/// step's broadcasts lost) and two reorgs of 6 blocks: everything is
/// rebuilt from the stores and rebroadcast, and the accounting is as
/// exact.
const SHAKEN: Shake = Shake {
    restart: true,
    reorg: 6,
};

#[test]
fn htlcs_483_we_close_static_remotekey_restarts_reorgs() {
    assert_eq!(run(false, Closer::Us, false, SHAKEN), Ok(()));
}

#[test]
fn htlcs_483_we_close_anchors_restarts_reorgs() {
    assert_eq!(run(true, Closer::Us, false, SHAKEN), Ok(()));
}

#[test]
fn htlcs_483_they_close_static_remotekey_restarts_reorgs() {
    assert_eq!(run(false, Closer::Them, false, SHAKEN), Ok(()));
}

#[test]
fn htlcs_483_they_close_anchors_restarts_reorgs() {
    assert_eq!(run(true, Closer::Them, false, SHAKEN), Ok(()));
}

#[test]
fn htlcs_483_revoked_static_remotekey_restarts_reorgs() {
    assert_eq!(run(false, Closer::Revoked, false, SHAKEN), Ok(()));
}

#[test]
fn htlcs_483_revoked_anchors_restarts_reorgs() {
    assert_eq!(run(true, Closer::Revoked, false, SHAKEN), Ok(()));
}

/// With host wallets: the wallet-funded HTLC transactions are rebuilt
/// after each restart and reorg without double-spending a coin.
#[test]
fn htlcs_483_we_close_anchors_wallet_restarts_reorgs() {
    assert_eq!(run(true, Closer::Us, true, SHAKEN), Ok(()));
}

/// Bob publishes his next commitment, the one that removes the HTLCs he
/// fulfilled (his `revoke_and_ack` of the one before never reached
/// Alice), undisturbed and shaken.
#[test]
fn htlcs_483_their_next_static_remotekey() {
    assert_eq!(
        run(false, Closer::TheirNext, false, Shake::default()),
        Ok(())
    );
}

#[test]
fn htlcs_483_their_next_anchors() {
    assert_eq!(
        run(true, Closer::TheirNext, false, Shake::default()),
        Ok(())
    );
}

#[test]
fn htlcs_483_their_next_anchors_restarts_reorgs() {
    assert_eq!(run(true, Closer::TheirNext, false, SHAKEN), Ok(()));
}
