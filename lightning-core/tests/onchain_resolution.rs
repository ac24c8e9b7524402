//! BOLT 5 spend classification and resolution over real channels: a
//! channel between two endpoints (`lightning_test_support::pair`) moves
//! HTLCs both ways; each side's commitments are then classified from A's
//! persisted state, and every claim built from the classification is
//! verified by libbitcoinconsensus against the output it spends. Both
//! commitment formats (`option_static_remotekey`, `option_anchors`).
#![allow(clippy::unwrap_used)]

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use lightning_core::amount::FeeratePerKw;
use lightning_core::channel::update_log::Side;
use lightning_core::keys::derivation::per_commitment_point;
use lightning_core::keys::ChannelSigner;
use lightning_core::onchain::*;
use lightning_core::transactions::commitment::obscured_locktime_and_sequence;
use lightning_core::transactions::{obscuring_factor, scripts, HtlcDirection};
use lightning_test_support::pair::{open, preimage, OpenOptions, Pair, ONION};
use lightning_test_support::verify::verify;
use lightning_wire::types::{PaymentHash, PaymentPreimage};

const CLTV: u32 = 700_000;
const FEERATE: FeeratePerKw = FeeratePerKw(1_000);

fn destination() -> ScriptBuf {
    scripts::p2wsh(&ScriptBuf::from_bytes(vec![0x51]))
}

fn pair(anchors: bool) -> Pair {
    let mut o = OpenOptions::default();
    o.a_config.anchors = anchors;
    o.b_config.anchors = anchors;
    let p = open(o);
    assert_eq!(p.a.ch.state().channel_type.anchors, anchors);
    p
}

/// Offers HTLC `n` from A (`from_a`) or B and runs the dance to the end.
fn offer(p: &mut Pair, from_a: bool, n: u64, amount_msat: u64) -> HtlcCandidate {
    let hash = preimage(n).1;
    let sender = if from_a { &mut p.a } else { &mut p.b };
    let (_, out) = sender
        .ch
        .send_htlc(amount_msat, hash, CLTV + n as u32, ONION.to_vec())
        .unwrap();
    sender.apply(out);
    let out = sender.ch.commit().unwrap();
    sender.apply(out);
    p.run_until_quiet();
    HtlcCandidate {
        offerer: if from_a { Side::Local } else { Side::Remote },
        amount_msat,
        payment_hash: hash,
        cltv_expiry: CLTV + n as u32,
    }
}

/// The receiver of HTLC `id` (offered by A when `to_b`) fulfills it.
fn fulfill(p: &mut Pair, to_b: bool, id: u64, n: u64) {
    let receiver = if to_b { &mut p.b } else { &mut p.a };
    let out = receiver.ch.fulfill_htlc(id, preimage(n).0).unwrap();
    receiver.apply(out);
    let out = receiver.ch.commit().unwrap();
    receiver.apply(out);
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

fn classify(p: &Pair, tx: &Transaction, history: &[HtlcCandidate]) -> SpendKind {
    classify_spend(p.a.ch.state(), p.a.ch.signer(), tx, history).unwrap()
}

/// Sweeps every claim in one transaction and verifies each input.
fn sweep_and_verify(p: &Pair, parent: &Transaction, claims: &[Claim]) -> Transaction {
    assert!(!claims.is_empty());
    let tx = build_claim_transaction(p.a.ch.signer(), claims, destination(), FEERATE).unwrap();
    let spent: Vec<TxOut> = claims
        .iter()
        .map(|c| {
            assert_eq!(c.output.outpoint.txid, parent.compute_txid());
            parent.output[c.output.outpoint.vout as usize].clone()
        })
        .collect();
    verify(&tx, &spent).unwrap_or_else(|e| panic!("claim does not verify: {e}"));
    // Each claim also verifies alone (a claim must never need another).
    for (c, out) in claims.iter().zip(&spent) {
        let one = build_claim_transaction(
            p.a.ch.signer(),
            std::slice::from_ref(c),
            destination(),
            FEERATE,
        )
        .unwrap();
        verify(&one, std::slice::from_ref(out))
            .unwrap_or_else(|e| panic!("{:?} does not verify alone: {e}", c.kind));
        assert!(one.lock_time.to_consensus_u32() >= c.cltv_expiry);
        assert!(one.input[0].sequence.0 & 0xFFFF >= u32::from(c.csv_delay));
    }
    tx
}

/// A channel with two HTLCs in flight: 1 offered by A, 2 offered by B.
fn two_htlcs(anchors: bool) -> (Pair, Vec<HtlcCandidate>) {
    let mut p = pair(anchors);
    let h1 = offer(&mut p, true, 1, 40_000_000);
    let h2 = offer(&mut p, false, 2, 30_000_000);
    (p, vec![h1, h2])
}

#[test]
fn our_commitment_to_local_and_htlc_transactions() {
    for anchors in [false, true] {
        let (p, _) = two_htlcs(anchors);
        let hc = p.a.ch.holder_commitment().unwrap();
        let SpendKind::Holder(ctx) = classify(&p, &hc.commitment, &[]) else {
            panic!("our commitment not recognised (anchors {anchors})")
        };
        assert_eq!(ctx.commitment_number, p.a.ch.state().numbers.local);

        // Without the preimage of HTLC 2 (offered to us), only a timeout.
        let r = resolve(
            &SpendKind::Holder(ctx.clone()),
            p.a.ch.state(),
            &preimages(&[]),
        )
        .unwrap();
        assert_eq!(r.holder_htlcs.len(), 1);
        assert!(r.holder_htlcs[0].preimage.is_none());
        assert_eq!(r.unclaimed.len(), 1);
        assert_eq!(r.unclaimed[0].payment_hash, preimage(2).1);

        // With it: HTLC-timeout for 1, HTLC-success for 2.
        let r = resolve(
            &SpendKind::Holder(ctx.clone()),
            p.a.ch.state(),
            &preimages(&[2]),
        )
        .unwrap();
        assert!(r.unclaimed.is_empty());
        assert_eq!(r.holder_htlcs.len(), 2);
        assert_eq!(r.claims.len(), 1);
        assert_eq!(r.claims[0].kind, ClaimKind::DelayedToLocal);
        assert_eq!(r.claims[0].csv_delay, ctx.to_self_delay);
        sweep_and_verify(&p, &hc.commitment, &r.claims);
        for h in &r.holder_htlcs {
            let htx = build_holder_htlc_transaction(p.a.ch.signer(), &ctx, h).unwrap();
            let spent = hc.commitment.output[h.htlc.output_index as usize].clone();
            verify(&htx, std::slice::from_ref(&spent))
                .unwrap_or_else(|e| panic!("HTLC transaction does not verify: {e}"));
            match h.htlc.htlc.direction {
                HtlcDirection::Offered => {
                    assert!(h.preimage.is_none());
                    assert_eq!(htx.lock_time.to_consensus_u32(), h.htlc.htlc.cltv_expiry);
                }
                HtlcDirection::Received => assert_eq!(h.preimage, Some(preimage(2).0)),
            }
            let second = second_stage_claim(&ctx, &htx).unwrap();
            sweep_and_verify(&p, &htx, std::slice::from_ref(&second));
        }
        // A wrong preimage makes the HTLC-success invalid: the check bites.
        let mut bad = r
            .holder_htlcs
            .iter()
            .find(|h| h.preimage.is_some())
            .unwrap()
            .clone();
        bad.preimage = Some(preimage(9).0);
        let htx = build_holder_htlc_transaction(p.a.ch.signer(), &ctx, &bad).unwrap();
        let spent = hc.commitment.output[bad.htlc.output_index as usize].clone();
        assert!(verify(&htx, &[spent]).is_err());
    }
}

#[test]
fn their_current_commitment_claimed_directly() {
    for anchors in [false, true] {
        let (p, _) = two_htlcs(anchors);
        let theirs = p.b.ch.holder_commitment().unwrap().commitment;
        let kind = classify(&p, &theirs, &[]);
        let SpendKind::CounterpartyCurrent(ctx) = &kind else {
            panic!("their commitment not recognised: {kind:?}")
        };
        assert_eq!(ctx.commitment_number, p.a.ch.state().numbers.remote);
        let r = resolve(&kind, p.a.ch.state(), &preimages(&[2])).unwrap();
        assert!(r.holder_htlcs.is_empty());
        let kinds: Vec<ClaimKind> = r.claims.iter().map(|c| c.kind).collect();
        assert!(kinds.contains(&ClaimKind::ToRemote));
        assert!(kinds.contains(&ClaimKind::HtlcPreimage {
            payment_hash: preimage(2).1
        }));
        assert!(kinds.contains(&ClaimKind::HtlcTimeout {
            payment_hash: preimage(1).1
        }));
        assert_eq!(r.claims.len(), 3);
        let to_remote = r
            .claims
            .iter()
            .find(|c| c.kind == ClaimKind::ToRemote)
            .unwrap();
        assert_eq!(to_remote.csv_delay, u16::from(anchors));
        let tx = sweep_and_verify(&p, &theirs, &r.claims);
        assert_eq!(tx.lock_time.to_consensus_u32(), CLTV + 1);

        // The preimage our claim reveals is what the peer extracts.
        let found = extract_preimages(&tx);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].1, found[0].2), preimage(2));

        // B claims HTLC 1 on A's commitment with its preimage: A learns it
        // from B's transaction, and from nothing else B spends.
        let ours = p.a.ch.holder_commitment().unwrap().commitment;
        let b_kind = classify_spend(p.b.ch.state(), p.b.ch.signer(), &ours, &[]).unwrap();
        assert!(matches!(b_kind, SpendKind::CounterpartyCurrent(_)));
        let b_claims = resolve(&b_kind, p.b.ch.state(), &preimages(&[1])).unwrap();
        let b_tx =
            build_claim_transaction(p.b.ch.signer(), &b_claims.claims, destination(), FEERATE)
                .unwrap();
        let spent: Vec<TxOut> = b_claims
            .claims
            .iter()
            .map(|c| ours.output[c.output.outpoint.vout as usize].clone())
            .collect();
        verify(&b_tx, &spent).unwrap();
        let found = extract_preimages(&b_tx);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].1, found[0].2), preimage(1));
        let b_no_preimage = resolve(&b_kind, p.b.ch.state(), &preimages(&[])).unwrap();
        let b_tx = build_claim_transaction(
            p.b.ch.signer(),
            &b_no_preimage.claims,
            destination(),
            FEERATE,
        )
        .unwrap();
        assert!(extract_preimages(&b_tx).is_empty());

        // Without the preimage, HTLC 2 stays the peer's to time out.
        let r = resolve(&kind, p.a.ch.state(), &preimages(&[])).unwrap();
        assert_eq!(r.claims.len(), 2);
        assert_eq!(r.unclaimed.len(), 1);
    }
}

#[test]
fn their_next_commitment_during_a_dance() {
    for anchors in [false, true] {
        let (mut p, _) = two_htlcs(anchors);
        let before = p.b.ch.holder_commitment().unwrap().commitment;
        // A offers HTLC 3 and signs; B revokes and signs, but A has not
        // received B's revoke_and_ack yet.
        let (_, out) =
            p.a.ch
                .send_htlc(50_000_000, preimage(3).1, CLTV + 3, ONION.to_vec())
                .unwrap();
        p.a.apply(out);
        let out = p.a.ch.commit().unwrap();
        p.a.apply(out);
        p.deliver_all_a_to_b().unwrap();
        let after = p.b.ch.holder_commitment().unwrap().commitment;
        assert_ne!(before.compute_txid(), after.compute_txid());
        assert!(p.a.ch.state().numbers.awaiting_remote_revoke);

        let kind = classify(&p, &after, &[]);
        let SpendKind::CounterpartyNext(ctx) = &kind else {
            panic!("their next commitment not recognised: {kind:?}")
        };
        assert_eq!(ctx.commitment_number, p.a.ch.state().numbers.remote);
        let r = resolve(&kind, p.a.ch.state(), &preimages(&[2])).unwrap();
        assert!(r.claims.iter().any(|c| c.kind
            == ClaimKind::HtlcTimeout {
                payment_hash: preimage(3).1
            }));
        sweep_and_verify(&p, &after, &r.claims);

        let kind = classify(&p, &before, &[]);
        let SpendKind::CounterpartyCurrent(ctx) = &kind else {
            panic!("their previous, unrevoked commitment not recognised: {kind:?}")
        };
        assert_eq!(ctx.commitment_number + 1, p.a.ch.state().numbers.remote);
        let r = resolve(&kind, p.a.ch.state(), &preimages(&[2])).unwrap();
        assert!(!r.claims.iter().any(|c| c.kind
            == ClaimKind::HtlcTimeout {
                payment_hash: preimage(3).1
            }));
        sweep_and_verify(&p, &before, &r.claims);

        // Once B's revoke_and_ack arrives, `before` is revoked.
        p.run_until_quiet();
        let kind = classify(&p, &before, &[]);
        let SpendKind::CounterpartyRevoked(rc) = &kind else {
            panic!("the revoked commitment not recognised: {kind:?}")
        };
        assert_eq!(rc.commitment_number + 1, p.a.ch.state().numbers.remote);
    }
}

#[test]
fn revoked_commitments_are_punished_entirely() {
    for anchors in [false, true] {
        let mut p = pair(anchors);
        let mut history = Vec::new();
        let mut revoked: Vec<(Transaction, u64)> = Vec::new();
        let mut second_stage: Vec<(u64, Transaction)> = Vec::new();
        let mut snap = |p: &Pair, revoked: &mut Vec<(Transaction, u64)>| {
            let n = p.b.ch.state().numbers.local;
            let hc = p.b.ch.holder_commitment().unwrap();
            second_stage.extend(hc.htlc_timeouts.into_iter().map(|t| (n, t)));
            revoked.push((hc.commitment, n));
        };
        snap(&p, &mut revoked);
        history.push(offer(&mut p, true, 1, 40_000_000));
        snap(&p, &mut revoked);
        history.push(offer(&mut p, false, 2, 30_000_000));
        snap(&p, &mut revoked);
        fulfill(&mut p, true, 0, 1);
        snap(&p, &mut revoked);
        history.push(offer(&mut p, true, 4, 20_000_000));
        fulfill(&mut p, false, 0, 2);
        // B offered HTLC 2 in snapshots 2 and 3: B holds its HTLC-timeout.
        assert_eq!(second_stage.len(), 2);
        // Every snapshot above is now revoked.
        let current = p.b.ch.holder_commitment().unwrap().commitment;
        assert!(matches!(
            classify(&p, &current, &history),
            SpendKind::CounterpartyCurrent(_)
        ));
        for (tx, n) in &revoked {
            let kind = classify(&p, tx, &history);
            let SpendKind::CounterpartyRevoked(rc) = &kind else {
                panic!("revoked commitment {n} not recognised: {kind:?}")
            };
            assert_eq!(rc.commitment_number, *n);
            assert_eq!(
                per_commitment_point(&rc.per_commitment_secret).unwrap(),
                p.b.ch.signer().holder_per_commitment_point(*n).unwrap()
            );
            assert!(rc.unmatched_outputs.is_empty(), "commitment {n}: {rc:?}");
            let r = resolve(&kind, p.a.ch.state(), &preimages(&[])).unwrap();
            // Every output but the anchors is claimed.
            let anchors_count = if anchors { 2 } else { 0 };
            assert_eq!(r.claims.len() + anchors_count, tx.output.len(), "{n}");
            assert!(r.claims.iter().any(|c| c.kind == ClaimKind::RevokedToLocal));
            let htlc_outputs = r
                .claims
                .iter()
                .filter(|c| matches!(c.kind, ClaimKind::RevokedHtlc { .. }))
                .count();
            assert_eq!(htlc_outputs, rc.htlcs.len());
            sweep_and_verify(&p, tx, &r.claims);
        }
        // The cheater's HTLC-timeout transactions of revoked commitments:
        // their outputs are taken by the revocation key too.
        for (n, htx) in &second_stage {
            let (tx, _) = revoked.iter().find(|(_, m)| m == n).unwrap();
            let spent = tx.output[htx.input[0].previous_output.vout as usize].clone();
            verify(htx, &[spent]).unwrap();
            let SpendKind::CounterpartyRevoked(rc) = classify(&p, tx, &history) else {
                panic!("revoked commitment {n}")
            };
            let claims = second_stage_justice(&rc, htx);
            assert_eq!(claims.len(), 1);
            assert_eq!(
                claims[0].kind,
                ClaimKind::RevokedSecondStage {
                    payment_hash: Some(preimage(2).1)
                }
            );
            sweep_and_verify(&p, htx, &claims);
            // A transaction that spends nothing of that commitment: none.
            assert!(second_stage_justice(&rc, &current).is_empty());
        }
        // Commitment 1 (HTLC 1 in flight) without the history: HTLC 1 was
        // settled and folded out of the log, so its output is unmatched
        // and only the scripts we still know are claimed.
        let (tx, n) = &revoked[1];
        let SpendKind::CounterpartyRevoked(rc) = classify(&p, tx, &[]) else {
            panic!("revoked commitment {n} without history")
        };
        assert_eq!(rc.unmatched_outputs.len(), 1);
        assert!(rc.htlcs.is_empty());
    }
}

#[test]
fn a_wrong_commitment_number_is_not_revoked() {
    for anchors in [false, true] {
        let mut p = pair(anchors);
        let first = p.b.ch.holder_commitment().unwrap().commitment;
        let n0 = p.b.ch.state().numbers.local;
        offer(&mut p, true, 1, 40_000_000);
        offer(&mut p, false, 2, 30_000_000);
        offer(&mut p, true, 3, 10_000_000);
        let factor = obscuring_factor(
            &p.a.ch.signer().pubkeys().payment_basepoint,
            &p.b.ch.signer().pubkeys().payment_basepoint,
        );
        assert_eq!(commitment_number_from_tx(&first, factor), Some(n0));
        let revoked_numbers: Vec<u64> = (0..p.a.ch.state().numbers.remote).collect();
        assert!(revoked_numbers.len() >= 3);
        for wrong in revoked_numbers.into_iter().filter(|w| *w != n0) {
            let mut tx = first.clone();
            let (lt, seq) = obscured_locktime_and_sequence(factor, wrong);
            tx.lock_time = LockTime::from_consensus(lt);
            tx.input[0].sequence = Sequence(seq);
            assert_eq!(
                classify(&p, &tx, &[]),
                SpendKind::Unknown(UnknownSpend::RevokedOutputsMismatch {
                    commitment_number: wrong
                }),
                "number {wrong} in place of {n0}"
            );
        }
        // A number ahead of every commitment we signed: data loss.
        let mut tx = first.clone();
        let ahead = p.a.ch.state().numbers.remote + 5;
        let (lt, seq) = obscured_locktime_and_sequence(factor, ahead);
        tx.lock_time = LockTime::from_consensus(lt);
        tx.input[0].sequence = Sequence(seq);
        assert_eq!(
            classify(&p, &tx, &[]),
            SpendKind::Unknown(UnknownSpend::UnknownCommitment {
                commitment_number: ahead
            })
        );
        // The untouched one is revoked with the right number.
        let SpendKind::CounterpartyRevoked(rc) = classify(&p, &first, &[]) else {
            panic!("commitment {n0} not revoked")
        };
        assert_eq!(rc.commitment_number, n0);
    }
}

#[test]
fn unrelated_and_tampered_spends_are_unknown() {
    for anchors in [false, true] {
        let (p, _) = two_htlcs(anchors);
        let funding = p.a.ch.state().funding_outpoint.unwrap();
        let rogue = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: funding,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(9_000_000),
                script_pubkey: destination(),
            }],
        };
        assert_eq!(
            classify(&p, &rogue, &[]),
            SpendKind::Unknown(UnknownSpend::NotACommitment)
        );
        let mut elsewhere = rogue.clone();
        elsewhere.input[0].previous_output = OutPoint {
            txid: Txid::all_zeros(),
            vout: 0,
        };
        assert_eq!(
            classify_spend(p.a.ch.state(), p.a.ch.signer(), &elsewhere, &[]),
            Err(OnchainError::NotAFundingSpend)
        );
        // Our own commitment with one output changed: not ours any more.
        let mut ours = p.a.ch.holder_commitment().unwrap().commitment;
        ours.output[0].value -= Amount::from_sat(1);
        assert!(matches!(
            classify(&p, &ours, &[]),
            SpendKind::Unknown(UnknownSpend::UnknownCommitment { .. })
        ));
        // Their current commitment with one output changed, likewise.
        let mut theirs = p.b.ch.holder_commitment().unwrap().commitment;
        theirs.output[0].value -= Amount::from_sat(1);
        assert!(matches!(
            classify(&p, &theirs, &[]),
            SpendKind::Unknown(UnknownSpend::UnknownCommitment { .. })
        ));
    }
}

#[test]
fn a_mutual_close_is_recognised() {
    for simple_close in [false, true] {
        let mut o = OpenOptions::default();
        o.a_config.simple_close = simple_close;
        o.b_config.simple_close = simple_close;
        let mut p = open(o);
        for n in [&mut p.a, &mut p.b] {
            let out = n.ch.best_block_updated(800_000).unwrap();
            n.apply(out);
        }
        let out = p.a.ch.shutdown().unwrap();
        p.a.apply(out);
        p.run_until_quiet();
        let closing =
            p.a.ch
                .state()
                .closing_tx
                .clone()
                .unwrap_or_else(|| panic!("no closing transaction (simple_close {simple_close})"));
        let kind = classify(&p, &closing, &[]);
        assert_eq!(
            kind,
            SpendKind::MutualClose {
                txid: closing.compute_txid()
            }
        );
        let r = resolve(&kind, p.a.ch.state(), &preimages(&[])).unwrap();
        assert!(r.claims.is_empty() && r.holder_htlcs.is_empty());
        // Another variant to the same shutdown scripts (not the one kept):
        // still a mutual close.
        let mut variant = closing.clone();
        variant.output.truncate(1);
        assert_eq!(
            classify(&p, &variant, &[]),
            SpendKind::MutualClose {
                txid: variant.compute_txid()
            }
        );
        // One output to a stranger: not a mutual close.
        variant.output.push(TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: destination(),
        });
        assert_eq!(
            classify(&p, &variant, &[]),
            SpendKind::Unknown(UnknownSpend::NotACommitment)
        );
    }
}
