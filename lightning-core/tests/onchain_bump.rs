//! Fee bumping on the simulated chain (`lightning-sim`: every input's script
//! is verified by libbitcoinconsensus at mempool acceptance, and
//! replacements follow full-RBF rules): anchor CPFP of a low-fee
//! commitment, wallet-funded zero-fee HTLC transactions, a justice
//! transaction re-bumped by RBF block after block toward its deadline, a
//! conflicting spend that does not lower the next fee rate, and a wallet
//! short of funds.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bitcoin::{Amount, ScriptBuf, Transaction, TxOut};
use lightning_chain::wallet::{Wallet, WalletError};
use lightning_chain::FeeRate;
use lightning_core::amount::FeeratePerKw;
use lightning_core::channel::{Channel, ChannelEvent, Phase};
use lightning_core::keys::{ChannelSigner, KeysManager};
use lightning_core::onchain::bump::*;
use lightning_core::onchain::*;
use lightning_core::transactions::HtlcDirection;
use lightning_persist::MemoryStore;
use lightning_sim::{SimChainHandle, SimWallet};
use lightning_test_support::pair::{node_with_store, preimage, OpenOptions, Pair, ONION};
use lightning_wire::msgs::Message;
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage, ShortChannelId};

struct World {
    chain: SimChainHandle,
    wallet: SimWallet,
    p: Pair,
}

fn miner() -> ScriptBuf {
    ScriptBuf::new_op_return([7u8; 4])
}

/// A channel A -> B whose funding transaction is on the simulated chain,
/// paid by A's wallet, which keeps mature coins for fees.
fn open_on_chain(anchors: bool, feerate: u32) -> World {
    let chain = SimChainHandle::new();
    let wallet = SimWallet::from_seed([5; 32], chain.clone());
    chain.mine_blocks(103, &wallet.script_pubkey());
    let mut o = OpenOptions {
        feerate,
        ..OpenOptions::default()
    };
    o.a_config.anchors = anchors;
    o.b_config.anchors = anchors;
    let ka = KeysManager::new(&[1; 32]).unwrap();
    let kb = KeysManager::new(&[2; 32]).unwrap();
    let (a_ch, open) = Channel::new_outbound(
        ka.derive_channel_signer(7).unwrap(),
        o.a_config.clone(),
        7,
        ChannelId([9; 32]),
        o.funding_sat,
        o.push_msat,
        o.feerate,
    )
    .unwrap();
    let (b_ch, accept) = Channel::from_open_channel(
        kb.derive_channel_signer(3).unwrap(),
        o.b_config.clone(),
        3,
        &open,
    )
    .unwrap();
    let mut a = node_with_store(1, o.a_config, a_ch, Arc::new(MemoryStore::new()));
    let b = node_with_store(2, o.b_config, b_ch, Arc::new(MemoryStore::new()));
    let out =
        a.ch.handle_message(&Message::AcceptChannel(accept))
            .unwrap();
    a.apply(out);
    let Some(ChannelEvent::FundingNeeded {
        script_pubkey,
        funding_satoshis,
        ..
    }) = a.take_events().pop()
    else {
        panic!("no FundingNeeded")
    };
    let tx = wallet
        .fund(Amount::from_sat(funding_satoshis), &script_pubkey)
        .unwrap();
    let out = a.ch.funding_transaction(tx.clone()).unwrap();
    a.apply(out);
    let mut p = Pair {
        a,
        b,
        funding_output: TxOut {
            value: Amount::from_sat(funding_satoshis),
            script_pubkey,
        },
        verifier: None,
    };
    p.deliver_a_to_b().unwrap();
    p.deliver_b_to_a().unwrap();
    chain.submit_transaction(tx.clone()).unwrap();
    chain.mine_blocks(1, &miner());
    let height = chain.best_block().height;
    let scid = ShortChannelId::new(height, 1, 1);
    for n in [&mut p.a, &mut p.b] {
        let out = n.ch.funding_confirmed(&tx, height, scid).unwrap();
        n.apply(out);
    }
    p.run_until_quiet();
    assert_eq!(p.a.ch.phase(), Phase::Normal);
    assert_eq!(p.a.ch.state().channel_type.anchors, anchors);
    World { chain, wallet, p }
}

fn offer(p: &mut Pair, from_a: bool, n: u64, amount_msat: u64, cltv: u32) {
    let hash = preimage(n).1;
    let sender = if from_a { &mut p.a } else { &mut p.b };
    let (_, out) = sender
        .ch
        .send_htlc(amount_msat, hash, cltv, ONION.to_vec())
        .unwrap();
    sender.apply(out);
    let out = sender.ch.commit().unwrap();
    sender.apply(out);
    p.run_until_quiet();
}

fn preimages(known: &'static [u64]) -> impl Fn(&PaymentHash) -> Option<PaymentPreimage> {
    move |h| {
        known
            .iter()
            .map(|n| preimage(*n))
            .find(|(_, hash)| hash == h)
            .map(|(p, _)| p)
    }
}

fn fee_of(chain: &SimChainHandle, tx: &Transaction) -> Amount {
    let inputs: Amount = tx
        .input
        .iter()
        .map(|i| {
            let parent = chain.get_transaction(&i.previous_output.txid).unwrap();
            parent.output[i.previous_output.vout as usize].value
        })
        .sum();
    inputs - tx.output.iter().map(|o| o.value).sum::<Amount>()
}

fn in_mempool(chain: &SimChainHandle, tx: &Transaction) -> bool {
    let txid = tx.compute_txid();
    chain.mempool().iter().any(|t| t.compute_txid() == txid)
}

/// Our commitment of an anchors channel at the minimum fee rate is
/// CPFP'd through our anchor with wallet inputs to 10,000 sat/kw for the
/// package, paid by a wallet holding a single coin; the child is replaced
/// once by a higher one (BIP 125) that reuses the coin; both parent and
/// child confirm.
#[test]
fn low_fee_anchor_commitment_is_cpfpd_and_confirms() {
    let w = open_on_chain(true, 253);
    let hc = w.p.a.ch.holder_commitment().unwrap();
    let parent = hc.commitment;
    // A wallet with a single confirmed coin: replacing the child works
    // only by reusing that coin.
    let one_coin = SimWallet::from_seed([6; 32], w.chain.clone());
    let coin_tx = w
        .wallet
        .fund(Amount::from_sat(200_000), &one_coin.script_pubkey())
        .unwrap();
    w.chain.submit_transaction(coin_tx).unwrap();
    w.chain.mine_blocks(1, &miner());
    assert_eq!(one_coin.confirmed_utxos().unwrap().len(), 1);
    w.chain.submit_transaction(parent.clone()).unwrap();
    let parent_fee = fee_of(&w.chain, &parent);
    let parent_rate = parent_fee.to_sat() * 1000 / parent.weight().to_wu();
    assert!(
        parent_rate < 400,
        "the parent pays about the floor: {parent_rate}"
    );

    let height = w.chain.best_block().height;
    let mut state = FeeBumpState::new(
        anchor_cpfp_deadline(height, &[]),
        FeeRate::from_sat_per_kw(50_000),
    );
    let first = next_bump(&state, height, FeeRate::from_sat_per_kw(10_000)).unwrap();
    assert_eq!(first.sat_per_kw(), 10_000);
    let signer = w.p.a.ch.signer();
    let cpfp = build_anchor_cpfp(
        signer,
        &parent,
        parent_fee,
        &state.target(first),
        &one_coin,
        &[],
    )
    .unwrap();
    assert!(
        cpfp.package_feerate() >= first,
        "{:?}",
        cpfp.package_feerate()
    );
    assert_eq!(fee_of(&w.chain, &cpfp.child.tx), cpfp.child.fee);
    assert!(cpfp.child.tx.weight().to_wu() <= cpfp.child.weight);
    // Our anchor is input 0.
    let anchor = find_anchor(&parent, &signer.pubkeys().funding_pubkey).unwrap();
    assert_eq!(cpfp.child.tx.input[0].previous_output, anchor.outpoint);
    w.chain.submit_transaction(cpfp.child.tx.clone()).unwrap();
    state.record_broadcast(height, first, cpfp.child.fee, cpfp.child.weight);

    // The next block does not come (the test mines none): a higher child
    // replaces the first in the mempool.
    let second = next_bump(&state, height + 1, FeeRate::from_sat_per_kw(10_000)).unwrap();
    assert!(second > first);
    // Without the first child's coin the wallet has nothing left.
    assert!(matches!(
        build_anchor_cpfp(
            signer,
            &parent,
            parent_fee,
            &state.target(second),
            &one_coin,
            &[]
        ),
        Err(BumpError::Wallet(WalletError::InsufficientFunds { .. }))
    ));
    let cpfp2 = build_anchor_cpfp(
        signer,
        &parent,
        parent_fee,
        &state.target(second),
        &one_coin,
        &cpfp.child.wallet_inputs,
    )
    .unwrap();
    assert_eq!(cpfp2.child.wallet_inputs, cpfp.child.wallet_inputs);
    assert!(state.is_valid_replacement(cpfp2.child.fee, cpfp2.child.tx.weight().to_wu()));
    w.chain.submit_transaction(cpfp2.child.tx.clone()).unwrap();
    assert!(!in_mempool(&w.chain, &cpfp.child.tx));
    assert!(in_mempool(&w.chain, &cpfp2.child.tx));
    assert!(cpfp2.package_feerate() >= second);

    w.chain.mine_blocks(1, &miner());
    assert_eq!(w.chain.tx_confirmations(&parent.compute_txid()), Some(1));
    assert_eq!(
        w.chain.tx_confirmations(&cpfp2.child.tx.compute_txid()),
        Some(1)
    );
    assert!(w.chain.rejections().is_empty());
}

/// Our HTLC-success and HTLC-timeout transactions of an anchors channel
/// (zero fee, the peer's signature SIGHASH_SINGLE|ANYONECANPAY) get wallet
/// inputs and change, pay the target rate, and confirm.
#[test]
fn anchors_htlc_transactions_get_wallet_inputs_and_confirm() {
    let mut w = open_on_chain(true, 1_000);
    let h0 = w.chain.best_block().height;
    let timeout_cltv = h0 + 12;
    offer(&mut w.p, true, 1, 40_000_000, timeout_cltv);
    offer(&mut w.p, false, 2, 30_000_000, h0 + 40);
    let parent = w.p.a.ch.holder_commitment().unwrap().commitment;
    w.chain.submit_transaction(parent.clone()).unwrap();
    w.chain.mine_blocks(1, &miner());
    assert_eq!(w.chain.tx_confirmations(&parent.compute_txid()), Some(1));

    let kind = classify_spend(w.p.a.ch.state(), w.p.a.ch.signer(), &parent, &[]).unwrap();
    let SpendKind::Holder(ctx) = &kind else {
        panic!("{kind:?}")
    };
    let r = resolve(&kind, w.p.a.ch.state(), &preimages(&[2])).unwrap();
    assert_eq!(r.holder_htlcs.len(), 2);
    let target = FeeTarget::new(FeeRate::from_sat_per_kw(5_000));
    let signer = w.p.a.ch.signer();

    let success = r
        .holder_htlcs
        .iter()
        .find(|h| h.htlc.htlc.direction == HtlcDirection::Received)
        .unwrap();
    let tx = build_funded_holder_htlc_transaction(signer, ctx, success, &target, &w.wallet, &[])
        .unwrap();
    assert!(tx.tx.input.len() >= 2, "wallet inputs were added");
    // Input 0 / output 0 stay the pre-signed pair.
    assert_eq!(tx.tx.input[0].previous_output.txid, parent.compute_txid());
    assert_eq!(
        tx.tx.input[0].previous_output.vout,
        success.htlc.output_index
    );
    assert_eq!(tx.tx.output[0].value, success.htlc.amount);
    assert_eq!(fee_of(&w.chain, &tx.tx), tx.fee);
    assert!(tx.fee.to_sat() * 1000 >= 5_000 * tx.tx.weight().to_wu());
    w.chain.submit_transaction(tx.tx.clone()).unwrap();

    let timeout = r
        .holder_htlcs
        .iter()
        .find(|h| h.htlc.htlc.direction == HtlcDirection::Offered)
        .unwrap();
    // Mine until the HTLC-timeout's nLockTime is final.
    while w.chain.best_block().height < timeout_cltv {
        w.chain.mine_blocks(1, &miner());
    }
    // The HTLC-timeout on a schedule: a first broadcast, then (no block
    // mined it) an RBF replacement with other wallet coins, accepted.
    let height = w.chain.best_block().height;
    let mut state = FeeBumpState::new(
        htlc_timeout_deadline(timeout_cltv, Some(timeout_cltv + 6)),
        FeeRate::from_sat_per_kw(50_000),
    );
    let rate = next_bump(&state, height, FeeRate::from_sat_per_kw(5_000)).unwrap();
    let ttx = build_funded_holder_htlc_transaction(
        signer,
        ctx,
        timeout,
        &state.target(rate),
        &w.wallet,
        &[],
    )
    .unwrap();
    assert_eq!(ttx.tx.lock_time.to_consensus_u32(), timeout_cltv);
    assert_eq!(ttx.tx.output[0].value, timeout.htlc.amount);
    assert!(ttx.fee.to_sat() * 1000 >= 5_000 * ttx.tx.weight().to_wu());
    w.chain.submit_transaction(ttx.tx.clone()).unwrap();
    state.record_broadcast(height, rate, ttx.fee, ttx.weight);
    let higher = next_bump(&state, height + 1, FeeRate::from_sat_per_kw(5_000)).unwrap();
    assert!(higher > rate);
    let ttx2 = build_funded_holder_htlc_transaction(
        signer,
        ctx,
        timeout,
        &state.target(higher),
        &w.wallet,
        &ttx.wallet_inputs,
    )
    .unwrap();
    assert!(state.is_valid_replacement(fee_of(&w.chain, &ttx2.tx), ttx2.tx.weight().to_wu()));
    w.chain.submit_transaction(ttx2.tx.clone()).unwrap();
    assert!(!in_mempool(&w.chain, &ttx.tx));
    w.chain.mine_blocks(1, &miner());
    assert!(w.chain.tx_confirmations(&tx.tx.compute_txid()).is_some());
    assert_eq!(w.chain.tx_confirmations(&ttx2.tx.compute_txid()), Some(1));
    assert!(w.chain.rejections().is_empty());

    // A static_remotekey channel's HTLC transactions cannot take inputs.
    let mut w2 = open_on_chain(false, 1_000);
    offer(&mut w2.p, true, 1, 40_000_000, h0 + 12);
    let c2 = w2.p.a.ch.holder_commitment().unwrap().commitment;
    let kind2 = classify_spend(w2.p.a.ch.state(), w2.p.a.ch.signer(), &c2, &[]).unwrap();
    let SpendKind::Holder(ctx2) = &kind2 else {
        panic!()
    };
    let r2 = resolve(&kind2, w2.p.a.ch.state(), &preimages(&[])).unwrap();
    let err = build_funded_holder_htlc_transaction(
        w2.p.a.ch.signer(),
        ctx2,
        &r2.holder_htlcs[0],
        &target,
        &w2.wallet,
        &[],
    )
    .unwrap_err();
    assert_eq!(err, BumpError::NotAnchors);
}

/// B broadcasts a revoked commitment; A's justice transaction is
/// re-bumped by RBF each block (no block mines it) on a schedule that ends
/// at the cheater's `to_self_delay`; each rate is higher than the last,
/// each replacement is accepted by the simulated chain, and the last
/// confirms before the deadline.
#[test]
fn justice_is_rebumped_monotonically_and_replacements_are_accepted() {
    for anchors in [false, true] {
        let mut w = open_on_chain(anchors, 1_000);
        let h0 = w.chain.best_block().height;
        let revoked = w.p.b.ch.holder_commitment().unwrap().commitment;
        offer(&mut w.p, true, 1, 40_000_000, h0 + 500);
        w.chain.submit_transaction(revoked.clone()).unwrap();
        w.chain.mine_blocks(1, &miner());
        let confirmed_at = w.chain.best_block().height;

        let kind = classify_spend(w.p.a.ch.state(), w.p.a.ch.signer(), &revoked, &[]).unwrap();
        let SpendKind::CounterpartyRevoked(rc) = &kind else {
            panic!("{kind:?}")
        };
        let deadline = justice_deadline(confirmed_at, rc.to_self_delay);
        assert_eq!(deadline, confirmed_at + u32::from(rc.to_self_delay) - 1);
        let r = resolve(&kind, w.p.a.ch.state(), &preimages(&[])).unwrap();
        let claims: Vec<Claim> = r
            .claims
            .iter()
            .filter(|c| c.kind == ClaimKind::RevokedToLocal)
            .cloned()
            .collect();
        assert_eq!(claims.len(), 1);
        let mut state = FeeBumpState::new(deadline, FeeRate::from_sat_per_kw(100_000));
        let destination = w.wallet.change_script().unwrap();
        let mut last: Option<(FeeRate, Transaction)> = None;
        let mut rates = Vec::new();
        for step in 0..8 {
            let height = w.chain.best_block().height;
            // The estimate falls over time: the schedule must not.
            let estimate = FeeRate::from_sat_per_kw(2_000 - 200 * step);
            let Some(rate) = next_bump(&state, height, estimate) else {
                // Keep the last one: rebroadcast it as it is.
                let (_, prev) = last.as_ref().unwrap();
                w.chain.submit_transaction(prev.clone()).unwrap();
                w.chain.mine_empty_blocks(1);
                continue;
            };
            let tx = build_claim_transaction(
                w.p.a.ch.signer(),
                &claims,
                destination.clone(),
                FeeratePerKw(rate.sat_per_kw()),
            )
            .unwrap();
            let fee = fee_of(&w.chain, &tx);
            let weight = tx.weight().to_wu();
            assert!(
                state.is_valid_replacement(fee, weight),
                "step {step}: fee {fee} at weight {weight} does not replace"
            );
            w.chain.submit_transaction(tx.clone()).unwrap();
            if let Some((prev_rate, prev)) = &last {
                assert!(rate > *prev_rate);
                assert!(!in_mempool(&w.chain, prev), "step {step}: not replaced");
            }
            assert!(in_mempool(&w.chain, &tx));
            state.record_broadcast(height, rate, fee, weight);
            rates.push(rate.sat_per_kw());
            last = Some((rate, tx));
            // A block without our claim.
            w.chain.mine_empty_blocks(1);
        }
        assert!(rates.len() >= 6, "{rates:?}");
        assert!(rates.windows(2).all(|p| p[0] < p[1]), "{rates:?}");
        // Decoding the persisted state gives the same schedule.
        let restored = FeeBumpState::decode(&state.encode()).unwrap();
        assert_eq!(restored, state);
        w.chain.mine_blocks(1, &miner());
        let (_, tx) = last.unwrap();
        assert_eq!(w.chain.tx_confirmations(&tx.compute_txid()), Some(1));
        assert!(w.chain.best_block().height <= deadline);
        assert!(w.chain.rejections().is_empty());
    }
}

/// A conflicting spend of our claim (standing for an adversary's
/// replacement: here signed with our own key to another script, at a high
/// rate) is seen and then leaves the mempool; the next rate is above both
/// our last and the conflict's, and the replacement of the conflict is
/// accepted while it is still there.
#[test]
fn a_conflicting_spend_does_not_lower_the_next_feerate() {
    let mut w = open_on_chain(false, 1_000);
    let h0 = w.chain.best_block().height;
    let revoked = w.p.b.ch.holder_commitment().unwrap().commitment;
    offer(&mut w.p, true, 1, 40_000_000, h0 + 500);
    w.chain.submit_transaction(revoked.clone()).unwrap();
    w.chain.mine_blocks(1, &miner());
    let kind = classify_spend(w.p.a.ch.state(), w.p.a.ch.signer(), &revoked, &[]).unwrap();
    let SpendKind::CounterpartyRevoked(rc) = &kind else {
        panic!()
    };
    let deadline = justice_deadline(w.chain.best_block().height, rc.to_self_delay);
    let r = resolve(&kind, w.p.a.ch.state(), &preimages(&[])).unwrap();
    let destination = w.wallet.change_script().unwrap();
    let build = |rate: u32, dest: &ScriptBuf| {
        build_claim_transaction(
            w.p.a.ch.signer(),
            &r.claims,
            dest.clone(),
            FeeratePerKw(rate),
        )
        .unwrap()
    };
    let mut state = FeeBumpState::new(deadline, FeeRate::from_sat_per_kw(100_000));
    let height = w.chain.best_block().height;
    let rate = next_bump(&state, height, FeeRate::from_sat_per_kw(3_000)).unwrap();
    let ours = build(rate.sat_per_kw(), &destination);
    w.chain.submit_transaction(ours.clone()).unwrap();
    state.record_broadcast(height, rate, fee_of(&w.chain, &ours), ours.weight().to_wu());

    // The conflict replaces ours at 20,000 sat/kw.
    let other = ScriptBuf::new_op_return([1u8; 8]);
    let conflict = build(
        20_000,
        &ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_raw_hash(
            bitcoin::hashes::Hash::hash(other.as_bytes()),
        )),
    );
    w.chain.submit_transaction(conflict.clone()).unwrap();
    assert!(!in_mempool(&w.chain, &ours));
    let conflict_fee = fee_of(&w.chain, &conflict);
    let conflict_rate = conflict_fee.to_sat() * 1000 / conflict.weight().to_wu();
    state.record_conflict(conflict_fee, conflict.weight().to_wu());

    // Even with a collapsed estimate, the next rate outbids the conflict.
    w.chain.mine_empty_blocks(1);
    let height = w.chain.best_block().height;
    let next = next_bump(&state, height, FeeRate::FLOOR).unwrap();
    assert!(next > rate);
    assert!(u64::from(next.sat_per_kw()) >= conflict_rate + u64::from(MIN_FEERATE_INCREMENT));
    let replacement = build(next.sat_per_kw(), &destination);
    w.chain.submit_transaction(replacement.clone()).unwrap();
    assert!(!in_mempool(&w.chain, &conflict));
    state.record_broadcast(
        height,
        next,
        fee_of(&w.chain, &replacement),
        replacement.weight().to_wu(),
    );

    // The replacement is cycled out (the mempool drops it); a persisted and
    // restored state still never goes back below it.
    assert!(w
        .chain
        .lock()
        .remove_from_mempool(&replacement.compute_txid()));
    let restored = FeeBumpState::decode(&state.encode()).unwrap();
    w.chain.mine_empty_blocks(1);
    // Either a higher rate, or (`None`) the same transaction rebroadcast:
    // never anything below it.
    let again = match next_bump(&restored, w.chain.best_block().height, FeeRate::FLOOR) {
        Some(after) => {
            assert!(after > next);
            build(after.sat_per_kw(), &destination)
        }
        None => replacement.clone(),
    };
    assert!(fee_of(&w.chain, &again) >= fee_of(&w.chain, &replacement));
    w.chain.submit_transaction(again.clone()).unwrap();
    w.chain.mine_blocks(1, &miner());
    assert_eq!(w.chain.tx_confirmations(&again.compute_txid()), Some(1));
    assert!(w.chain.rejections().is_empty());
}

/// A wallet without coins: CPFP and HTLC funding fail with
/// `WalletError::InsufficientFunds`, not a panic.
#[test]
fn wallet_short_of_funds_is_a_typed_error() {
    let w = open_on_chain(true, 253);
    let parent = w.p.a.ch.holder_commitment().unwrap().commitment;
    w.chain.submit_transaction(parent.clone()).unwrap();
    let parent_fee = fee_of(&w.chain, &parent);
    let empty = SimWallet::from_seed([77; 32], w.chain.clone());
    assert!(empty.confirmed_utxos().unwrap().is_empty());
    let target = FeeTarget::new(FeeRate::from_sat_per_kw(10_000));
    let err = build_anchor_cpfp(w.p.a.ch.signer(), &parent, parent_fee, &target, &empty, &[])
        .unwrap_err();
    assert!(
        matches!(
            err,
            BumpError::Wallet(WalletError::InsufficientFunds { available, .. })
                if available == Amount::from_sat(330)
        ),
        "{err:?}"
    );
    // A parent without our anchor, and an unsigned one, are refused.
    let mut other = parent.clone();
    other.output.retain(|o| o.value != Amount::from_sat(330));
    assert_eq!(
        build_anchor_cpfp(
            w.p.a.ch.signer(),
            &other,
            parent_fee,
            &target,
            &w.wallet,
            &[]
        )
        .unwrap_err(),
        BumpError::NoAnchor
    );
    let mut unsigned = parent;
    unsigned.input[0].witness = Default::default();
    assert_eq!(
        build_anchor_cpfp(
            w.p.a.ch.signer(),
            &unsigned,
            parent_fee,
            &target,
            &w.wallet,
            &[]
        )
        .unwrap_err(),
        BumpError::UnsignedParent
    );
}

/// The peer's commitment carries an anchor for us too (its
/// `to_remote_anchor`, our `funding_pubkey`): A CPFPs B's broadcast
/// commitment through it, and both confirm.
#[test]
fn their_commitment_is_cpfpd_through_our_anchor() {
    let w = open_on_chain(true, 253);
    let theirs = w.p.b.ch.holder_commitment().unwrap().commitment;
    w.chain.submit_transaction(theirs.clone()).unwrap();
    let parent_fee = fee_of(&w.chain, &theirs);
    let signer = w.p.a.ch.signer();
    let ours = find_anchor(&theirs, &signer.pubkeys().funding_pubkey).unwrap();
    let b_anchor = find_anchor(&theirs, &w.p.b.ch.signer().pubkeys().funding_pubkey).unwrap();
    assert_ne!(ours.outpoint, b_anchor.outpoint);
    let target = FeeTarget::new(FeeRate::from_sat_per_kw(7_500));
    let cpfp = build_anchor_cpfp(signer, &theirs, parent_fee, &target, &w.wallet, &[]).unwrap();
    assert_eq!(cpfp.child.tx.input[0].previous_output, ours.outpoint);
    assert!(cpfp.package_feerate() >= target.feerate);
    // The chain checks the anchor signature: a damaged one is refused.
    let mut bad = cpfp.child.tx.clone();
    let mut elements: Vec<Vec<u8>> = bad.input[0].witness.iter().map(<[u8]>::to_vec).collect();
    elements[0][10] ^= 1;
    bad.input[0].witness = bitcoin::Witness::from_slice(&elements);
    assert!(w.chain.submit_transaction(bad).is_err());
    w.chain.submit_transaction(cpfp.child.tx.clone()).unwrap();
    w.chain.mine_blocks(1, &miner());
    assert_eq!(w.chain.tx_confirmations(&theirs.compute_txid()), Some(1));
    assert_eq!(
        w.chain.tx_confirmations(&cpfp.child.tx.compute_txid()),
        Some(1)
    );
    assert!(w.chain.rejections().is_empty());
}
