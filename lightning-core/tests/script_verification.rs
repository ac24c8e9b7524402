//! Every transaction the library builds, signed by the signers a
//! `KeysManager` derives and verified by libbitcoinconsensus against the
//! output it spends, over seeded random channels (balances, HTLC sets,
//! feerates, dust limits) of both channel types. Plus the negative cases
//! that must fail verification and the signer's refusals.
#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)] // Test helpers, not only #[test] fns, unwrap.

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::SecretKey;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use common::verify;
use lightning_core::amount::{FeeratePerKw, Msat};
use lightning_core::keys::signer::CounterpartyCommitmentSignatures;
use lightning_core::keys::{
    ChannelSigner, InMemorySigner, KeysManager, SignerError, SpendKeyMaterial,
};
use lightning_core::transactions::closing::*;
use lightning_core::transactions::htlc::{build_htlc_transactions, htlc_transaction_witness};
use lightning_core::transactions::scripts::{
    self, anchor_script, p2wpkh, to_local_script, to_remote_anchors_script,
};
use lightning_core::transactions::sweep::*;
use lightning_core::transactions::*;

/// xorshift64*: a tiny deterministic generator for the seeded loops.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

struct Channel {
    ct: CommitmentFormat,
    a: InMemorySigner,
    b: InMemorySigner,
    funding_outpoint: OutPoint,
    funding_amount: Amount,
    obscuring: u64,
}

fn channel(ct: CommitmentFormat, seed: u64, funding_sat: u64) -> Channel {
    let km_a = KeysManager::new(&[seed as u8 ^ 0xa5; 32]).unwrap();
    let km_b = KeysManager::new(&[seed as u8 ^ 0x5a; 32]).unwrap();
    let mut a = km_a.derive_channel_signer(seed as u32).unwrap();
    let mut b = km_b.derive_channel_signer(seed as u32).unwrap();
    a.provide_counterparty_keys(b.pubkeys());
    b.provide_counterparty_keys(a.pubkeys());
    let obscuring = obscuring_factor(
        &a.pubkeys().payment_basepoint,
        &b.pubkeys().payment_basepoint,
    );
    Channel {
        ct,
        funding_outpoint: OutPoint {
            txid: Txid::from_byte_array([seed as u8; 32]),
            vout: 1,
        },
        funding_amount: Amount::from_sat(funding_sat),
        obscuring,
        a,
        b,
    }
}

fn wallet_script(tag: u8) -> ScriptBuf {
    scripts::p2wsh(&ScriptBuf::from_bytes(vec![tag, 0x51]))
}

/// Real fee paid >= feerate * real weight.
fn assert_fee_covers(tx: &Transaction, spent: &[TxOut], feerate: FeeratePerKw) {
    let inputs: u64 = spent.iter().map(|o| o.value.to_sat()).sum();
    let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    let real = feerate.fee_for_weight(tx.weight().to_wu()).to_sat();
    assert!(
        inputs - outputs >= real,
        "fee {} < {} for weight {}",
        inputs - outputs,
        real,
        tx.weight()
    );
}

struct Built {
    commitment: CommitmentTransaction,
    signed: Transaction,
    preimages: Vec<[u8; 32]>,
}

/// A's commitment number `n`, signed by both.
fn build_a_commitment(ch: &Channel, rng: &mut Rng, n: u64) -> (Built, FeeratePerKw, u16) {
    let feerate = FeeratePerKw(rng.range(253, 15_000) as u32);
    let dust_limit = Amount::from_sat(rng.range(354, 2_000));
    let to_self_delay = rng.range(1, 500) as u16;
    let funding_msat = ch.funding_amount.to_sat() * 1000;
    let mut remaining = funding_msat;
    let mut htlcs = Vec::new();
    let mut preimages = Vec::new();
    for _ in 0..rng.range(0, 8) {
        let amount = rng.range(1, 60_000_000).min(remaining / 4);
        remaining -= amount;
        let preimage = [rng.next() as u8; 32];
        preimages.push(preimage);
        htlcs.push(HtlcInfo {
            direction: if rng.next().is_multiple_of(2) {
                HtlcDirection::Offered
            } else {
                HtlcDirection::Received
            },
            amount: Msat(amount),
            payment_hash: sha256::Hash::hash(&preimage).into(),
            cltv_expiry: rng.range(500_000, 500_100) as u32,
        });
    }
    let to_local = rng.range(0, remaining + 1);
    let to_remote = remaining - to_local;
    let point = ch.a.holder_per_commitment_point(n).unwrap();
    let keys = CommitmentKeys::derive(&point, &ch.a.pubkeys(), &ch.b.pubkeys()).unwrap();
    let commitment = build_commitment_transaction(&CommitmentParams {
        channel_type: ch.ct,
        funding_outpoint: ch.funding_outpoint,
        funding_amount: ch.funding_amount,
        local_funding_pubkey: ch.a.pubkeys().funding_pubkey,
        remote_funding_pubkey: ch.b.pubkeys().funding_pubkey,
        obscuring_factor: ch.obscuring,
        commitment_number: n,
        to_self_delay,
        dust_limit,
        feerate,
        local_is_funder: true,
        to_local: Msat(to_local),
        to_remote: Msat(to_remote),
        htlcs: &htlcs,
        keys: &keys,
    })
    .unwrap();
    let CounterpartyCommitmentSignatures {
        commitment_signature,
        ..
    } = ch.b.sign_counterparty_commitment(&commitment).unwrap();
    let a_sig = ch.a.sign_holder_commitment(&commitment).unwrap();
    let mut signed = commitment.tx.clone();
    signed.input[0].witness = funding_witness(
        &a_sig,
        &ch.a.pubkeys().funding_pubkey,
        &commitment_signature,
        &ch.b.pubkeys().funding_pubkey,
    );
    (
        Built {
            commitment,
            signed,
            preimages,
        },
        feerate,
        to_self_delay,
    )
}

fn funding_txout(ch: &Channel) -> TxOut {
    TxOut {
        value: ch.funding_amount,
        script_pubkey: scripts::p2wsh(&scripts::funding_script(
            &ch.a.pubkeys().funding_pubkey,
            &ch.b.pubkeys().funding_pubkey,
        )),
    }
}

fn out(tx: &Transaction, vout: u32) -> (OutPoint, TxOut) {
    (
        OutPoint {
            txid: tx.compute_txid(),
            vout,
        },
        tx.output[vout as usize].clone(),
    )
}

fn sweep_and_verify(
    signer: &InMemorySigner,
    outputs: &[SpendableOutput],
    material: &[SpendKeyMaterial],
    feerate: FeeratePerKw,
) -> Option<Transaction> {
    let mut tx = match build_sweep_transaction(outputs, wallet_script(9), feerate, 0) {
        Ok(tx) => tx,
        Err(TxError::InsufficientForFee { .. }) => return None,
        Err(e) => panic!("{e}"),
    };
    for (i, (o, m)) in outputs.iter().zip(material).enumerate() {
        if o.needs_signature() {
            signer.sign_spend_input(&mut tx, i, o, *m).unwrap();
        } else {
            tx.input[i].witness = o.witness(None);
        }
    }
    let spent: Vec<TxOut> = outputs
        .iter()
        .map(|o| TxOut {
            value: o.value,
            script_pubkey: o.script_pubkey(),
        })
        .collect();
    verify(&tx, &spent).unwrap_or_else(|e| {
        panic!(
            "{:?}: {e}",
            outputs.iter().map(|o| o.path).collect::<Vec<_>>()
        )
    });
    assert_fee_covers(&tx, &spent, feerate);
    Some(tx)
}

fn run_channel(ct: CommitmentFormat, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut ch = channel(ct, seed, rng.range(200_000, 5_000_000));
    let n = rng.range(0, 5);
    ch.a.restore_revocation_state(n);
    let (built, feerate, to_self_delay) = build_a_commitment(&ch, &mut rng, n);
    let c = &built.commitment;
    let commit = &built.signed;
    verify(commit, &[funding_txout(&ch)]).unwrap();
    // The expected weight assumes both balance outputs; fee covers real weight
    // whenever the funder could pay the full base fee.
    if c.to_local.is_some() {
        assert_fee_covers(commit, &[funding_txout(&ch)], feerate);
    }

    // HTLC transactions, signed by B (counterparty) and A (holder).
    let b_sigs = ch.b.sign_counterparty_commitment(c).unwrap();
    let htlc_txs = build_htlc_transactions(c).unwrap();
    let mut signed_htlc_txs = Vec::new();
    for ((h, mut htx), remote_sig) in c.htlcs.iter().zip(htlc_txs).zip(&b_sigs.htlc_signatures) {
        let local_sig = ch.a.sign_holder_htlc_transaction(c, h, &htx).unwrap();
        let preimage = match h.htlc.direction {
            HtlcDirection::Received => Some(built.preimages[h.htlc_index]),
            HtlcDirection::Offered => None,
        };
        htx.input[0].witness =
            htlc_transaction_witness(remote_sig, &local_sig, preimage.as_ref(), &h.witness_script);
        let spent = commit.output[h.output_index as usize].clone();
        verify(&htx, &[spent.clone()]).unwrap();
        if !ct.has_anchors() {
            assert_fee_covers(&htx, &[spent], feerate);
        }
        signed_htlc_txs.push(htx);
    }

    let a_point = ch.a.holder_per_commitment_point(n).unwrap();
    let delayed = to_local_script(
        &c.keys.revocation_pubkey,
        to_self_delay,
        &c.keys.local_delayed_pubkey,
    );

    // A sweeps to_local and every second-stage output after the CSV.
    let mut a_outputs = Vec::new();
    if let Some((idx, value)) = c.to_local {
        a_outputs.push(SpendableOutput {
            outpoint: out(commit, idx).0,
            value,
            witness_script: delayed.clone(),
            path: SpendPath::DelayedToLocal { to_self_delay },
        });
    }
    for htx in &signed_htlc_txs {
        let (op, txo) = out(htx, 0);
        a_outputs.push(SpendableOutput {
            outpoint: op,
            value: txo.value,
            witness_script: delayed.clone(),
            path: SpendPath::DelayedToLocal { to_self_delay },
        });
    }
    for o in &a_outputs {
        sweep_and_verify(
            &ch.a,
            std::slice::from_ref(o),
            &[SpendKeyMaterial::Point(a_point)],
            feerate,
        );
    }

    // A spends its anchor with the funding key; anyone spends B's after 16 blocks.
    if let Some(idx) = c.local_anchor {
        // An anchor alone cannot pay for its own sweep; add the to_local input.
        let mut outs = vec![SpendableOutput {
            outpoint: out(commit, idx).0,
            value: scripts::ANCHOR_OUTPUT_VALUE,
            witness_script: anchor_script(&ch.a.pubkeys().funding_pubkey),
            path: SpendPath::AnchorWithFundingKey,
        }];
        let mut mats = vec![SpendKeyMaterial::None];
        if let Some(first) = a_outputs.first() {
            outs.push(first.clone());
            mats.push(SpendKeyMaterial::Point(a_point));
        }
        sweep_and_verify(&ch.a, &outs, &mats, FeeratePerKw(253));
    }
    if let Some(idx) = c.remote_anchor {
        let outs = vec![SpendableOutput {
            outpoint: out(commit, idx).0,
            value: scripts::ANCHOR_OUTPUT_VALUE,
            witness_script: anchor_script(&ch.b.pubkeys().funding_pubkey),
            path: SpendPath::AnchorAnyone,
        }];
        // 330 sat pays a tiny fee to an OP_RETURN (dust 0).
        let mut tx = build_sweep_transaction(
            &outs,
            ScriptBuf::new_op_return([0u8; 4]),
            FeeratePerKw(253),
            0,
        )
        .unwrap();
        tx.input[0].witness = outs[0].witness(None);
        verify(
            &tx,
            &[TxOut {
                value: outs[0].value,
                script_pubkey: outs[0].script_pubkey(),
            }],
        )
        .unwrap();
    }

    // B sweeps its to_remote output of A's commitment.
    if let Some((idx, value)) = c.to_remote {
        let b_payment = ch.b.pubkeys().payment_basepoint;
        let o = match ct {
            CommitmentFormat::StaticRemoteKey => SpendableOutput {
                outpoint: out(commit, idx).0,
                value,
                witness_script: p2wpkh(&b_payment),
                path: SpendPath::ToRemoteP2wpkh { pubkey: b_payment },
            },
            CommitmentFormat::AnchorsZeroFeeHtlc => SpendableOutput {
                outpoint: out(commit, idx).0,
                value,
                witness_script: to_remote_anchors_script(&b_payment),
                path: SpendPath::ToRemoteAnchors,
            },
        };
        sweep_and_verify(&ch.b, &[o], &[SpendKeyMaterial::None], feerate);
    }

    // B claims HTLCs on A's commitment: A's offered with the preimage, A's
    // received after the timeout.
    for h in &c.htlcs {
        let path = match h.htlc.direction {
            HtlcDirection::Offered => SpendPath::HtlcPreimageOnRemote {
                preimage: built.preimages[h.htlc_index],
                anchors: ct.has_anchors(),
            },
            HtlcDirection::Received => SpendPath::HtlcTimeoutOnRemote {
                cltv_expiry: h.htlc.cltv_expiry,
                anchors: ct.has_anchors(),
            },
        };
        let o = SpendableOutput {
            outpoint: out(commit, h.output_index).0,
            value: h.amount,
            witness_script: h.witness_script.clone(),
            path,
        };
        sweep_and_verify(&ch.b, &[o], &[SpendKeyMaterial::Point(a_point)], feerate);
    }

    // A revokes commitment n: never signs it again.
    let secret = ch.a.release_holder_commitment_secret(n).unwrap();
    assert!(matches!(
        ch.a.sign_holder_commitment(c),
        Err(SignerError::RevokedHolderCommitment { .. })
    ));
    if let (Some(h), Some(htx)) = (c.htlcs.first(), signed_htlc_txs.first()) {
        assert!(matches!(
            ch.a.sign_holder_htlc_transaction(c, h, htx),
            Err(SignerError::RevokedHolderCommitment { .. })
        ));
    }

    // B's justice transaction: to_local and every HTLC output in one tx.
    let mut justice = Vec::new();
    if let Some((idx, value)) = c.to_local {
        justice.push(SpendableOutput {
            outpoint: out(commit, idx).0,
            value,
            witness_script: delayed.clone(),
            path: SpendPath::RevokedToLocal,
        });
    }
    for h in &c.htlcs {
        justice.push(SpendableOutput {
            outpoint: out(commit, h.output_index).0,
            value: h.amount,
            witness_script: h.witness_script.clone(),
            path: SpendPath::RevokedHtlc {
                revocation_pubkey: c.keys.revocation_pubkey,
            },
        });
    }
    if !justice.is_empty() {
        let mats = vec![SpendKeyMaterial::CounterpartySecret(secret); justice.len()];
        sweep_and_verify(&ch.b, &justice, &mats, feerate);
    }
    // Revoked second-stage outputs.
    for htx in &signed_htlc_txs {
        let (op, txo) = out(htx, 0);
        let o = SpendableOutput {
            outpoint: op,
            value: txo.value,
            witness_script: delayed.clone(),
            path: SpendPath::RevokedToLocal,
        };
        sweep_and_verify(
            &ch.b,
            &[o],
            &[SpendKeyMaterial::CounterpartySecret(secret)],
            feerate,
        );
    }

    // Closing transactions, legacy and simple.
    let a_bal = Msat(rng.range(0, ch.funding_amount.to_sat() * 1000));
    let b_bal = Msat(ch.funding_amount.to_sat() * 1000 - a_bal.0);
    let a_out = ClosingOutput {
        script_pubkey: wallet_script(1),
        balance: a_bal,
    };
    let b_out = ClosingOutput {
        script_pubkey: p2wpkh(&ch.b.pubkeys().payment_basepoint),
        balance: b_bal,
    };
    let fee = feerate.fee_for_weight(700);
    let mut closings = Vec::new();
    if let Ok(tx) = build_legacy_closing_transaction(
        ch.funding_outpoint,
        &a_out,
        &b_out,
        true,
        fee,
        Amount::from_sat(546),
        false,
    ) {
        closings.push(tx);
    }
    for v in simple_close_variants(&a_out, &b_out, fee) {
        closings.push(
            build_simple_closing_transaction(
                ch.funding_outpoint,
                &a_out,
                &b_out,
                fee,
                LockTime::from_consensus(800_000),
                v,
            )
            .unwrap(),
        );
    }
    for mut tx in closings {
        let sa =
            ch.a.sign_closing_transaction(&tx, ch.funding_amount)
                .unwrap();
        let sb =
            ch.b.sign_closing_transaction(&tx, ch.funding_amount)
                .unwrap();
        tx.input[0].witness = funding_witness(
            &sa,
            &ch.a.pubkeys().funding_pubkey,
            &sb,
            &ch.b.pubkeys().funding_pubkey,
        );
        verify(&tx, &[funding_txout(&ch)]).unwrap();
    }
}

#[test]
fn random_channels_static_remotekey() {
    for seed in 0..24 {
        run_channel(CommitmentFormat::StaticRemoteKey, seed);
    }
}

#[test]
fn random_channels_anchors() {
    for seed in 100..124 {
        run_channel(CommitmentFormat::AnchorsZeroFeeHtlc, seed);
    }
}

fn one_to_local(ch: &Channel) -> (Built, u16) {
    let mut rng = Rng(77);
    loop {
        let (b, _, d) = build_a_commitment(ch, &mut rng, 0);
        if b.commitment.to_local.is_some() && !b.commitment.htlcs.is_empty() {
            return (b, d);
        }
    }
}

#[test]
fn negative_cases_fail_verification() {
    let mut ch = channel(CommitmentFormat::AnchorsZeroFeeHtlc, 3, 2_000_000);
    let (built, delay) = one_to_local(&ch);
    let c = &built.commitment;
    let (idx, value) = c.to_local.unwrap();
    let ws = to_local_script(
        &c.keys.revocation_pubkey,
        delay,
        &c.keys.local_delayed_pubkey,
    );
    let spent = [TxOut {
        value,
        script_pubkey: scripts::p2wsh(&ws),
    }];
    let o = SpendableOutput {
        outpoint: out(&built.signed, idx).0,
        value,
        witness_script: ws.clone(),
        path: SpendPath::DelayedToLocal {
            to_self_delay: delay,
        },
    };
    let point = ch.a.holder_per_commitment_point(0).unwrap();

    // Wrong key.
    let mut tx =
        build_sweep_transaction(&[o.clone()], wallet_script(2), FeeratePerKw(253), 0).unwrap();
    sign_sweep_input(&mut tx, 0, &o, &SecretKey::from_slice(&[0x42; 32]).unwrap()).unwrap();
    assert!(verify(&tx, &spent).is_err(), "wrong key must fail");

    // Right key, but before the CSV: sequence one below to_self_delay.
    let mut tx =
        build_sweep_transaction(&[o.clone()], wallet_script(2), FeeratePerKw(253), 0).unwrap();
    ch.a.sign_spend_input(&mut tx, 0, &o, SpendKeyMaterial::Point(point))
        .unwrap();
    verify(&tx, &spent).unwrap();
    tx.input[0].sequence = bitcoin::Sequence(u32::from(delay) - 1);
    ch.a.sign_spend_input(&mut tx, 0, &o, SpendKeyMaterial::Point(point))
        .unwrap();
    assert!(verify(&tx, &spent).is_err(), "spend before CSV must fail");

    // Penalty with the wrong revocation key: the signer refuses, and a
    // transaction signed with it anyway fails verification.
    let secret = ch.a.release_holder_commitment_secret(0).unwrap();
    let wrong_secret = ch.a.release_holder_commitment_secret(1).unwrap();
    let revoked = SpendableOutput {
        path: SpendPath::RevokedToLocal,
        ..o.clone()
    };
    let mut tx =
        build_sweep_transaction(&[revoked.clone()], wallet_script(3), FeeratePerKw(253), 0)
            .unwrap();
    assert!(matches!(
        ch.b.sign_spend_input(
            &mut tx,
            0,
            &revoked,
            SpendKeyMaterial::CounterpartySecret(wrong_secret)
        ),
        Err(SignerError::Mismatch(_))
    ));
    let wrong_key = lightning_core::keys::derivation::derive_revocation_private_key(
        &SecretKey::from_slice(&[0x43; 32]).unwrap(),
        &secret,
    )
    .unwrap();
    sign_sweep_input(&mut tx, 0, &revoked, &wrong_key).unwrap();
    assert!(
        verify(&tx, &spent).is_err(),
        "wrong revocation key must fail"
    );
    ch.b.sign_spend_input(
        &mut tx,
        0,
        &revoked,
        SpendKeyMaterial::CounterpartySecret(secret),
    )
    .unwrap();
    verify(&tx, &spent).unwrap();

    // Revoked HTLC output with the wrong revocation key.
    let h = &c.htlcs[0];
    let ho = SpendableOutput {
        outpoint: out(&built.signed, h.output_index).0,
        value: h.amount,
        witness_script: h.witness_script.clone(),
        path: SpendPath::RevokedHtlc {
            revocation_pubkey: c.keys.revocation_pubkey,
        },
    };
    let hspent = [built.signed.output[h.output_index as usize].clone()];
    // A fixed input: it must build, or the negative check checks nothing.
    let mut tx = build_sweep_transaction(
        &[ho.clone()],
        ScriptBuf::new_op_return([1u8; 4]),
        FeeratePerKw(253),
        0,
    )
    .unwrap();
    sign_sweep_input(&mut tx, 0, &ho, &wrong_key).unwrap();
    assert!(
        verify(&tx, &hspent).is_err(),
        "wrong revocation key must fail"
    );
    // And with the right key the same sweep verifies: the failure above is
    // the key's.
    ch.b.sign_spend_input(
        &mut tx,
        0,
        &ho,
        SpendKeyMaterial::CounterpartySecret(secret),
    )
    .unwrap();
    verify(&tx, &hspent).unwrap();
}

#[test]
fn signer_refuses_out_of_order_and_revoked() {
    let km = KeysManager::new(&[1; 32]).unwrap();
    let mut s = km.derive_channel_signer(0).unwrap();
    assert!(matches!(
        s.release_holder_commitment_secret(1),
        Err(SignerError::SecretOutOfOrder {
            requested: 1,
            next: 0
        })
    ));
    let s0 = s.release_holder_commitment_secret(0).unwrap();
    assert_eq!(s.next_unrevoked_holder_commitment(), 1);
    // Retransmission returns the same secret and revokes nothing more.
    assert_eq!(s.release_holder_commitment_secret(0).unwrap(), s0);
    assert_eq!(s.next_unrevoked_holder_commitment(), 1);
    assert!(s.release_holder_commitment_secret(5).is_err());
    // The revocation counter never moves back.
    s.restore_revocation_state(0);
    assert_eq!(s.next_unrevoked_holder_commitment(), 1);
    // The secret matches the point.
    assert_eq!(
        lightning_core::keys::derivation::per_commitment_point(&s0).unwrap(),
        s.holder_per_commitment_point(0).unwrap()
    );
}

#[test]
fn signer_refuses_foreign_commitment() {
    let ch = channel(CommitmentFormat::StaticRemoteKey, 9, 1_000_000);
    let (built, _) = one_to_local(&ch);
    // B must not sign A's commitment as its own holder commitment.
    assert!(matches!(
        ch.b.sign_holder_commitment(&built.commitment),
        Err(SignerError::Mismatch(_))
    ));
    // A must not sign its own commitment as a counterparty commitment.
    assert!(matches!(
        ch.a.sign_counterparty_commitment(&built.commitment),
        Err(SignerError::Mismatch(_))
    ));
}

/// The signer remembers the counterparty keys it derived
/// (`counterparty_commitment_keys`); the check before signing must still
/// refuse a commitment at the same point whose keys were altered, and sign
/// the unaltered one.
#[test]
fn signer_key_memo_keeps_the_check() {
    let ch = channel(CommitmentFormat::StaticRemoteKey, 9, 1_000_000);
    let (built, _) = one_to_local(&ch);
    let commitment = &built.commitment;
    // B signs A's commitment: A is the holder, its point is the commitment's.
    let point = commitment.keys.per_commitment_point;
    let keys = ch.b.counterparty_commitment_keys(&point).unwrap();
    assert_eq!(keys, commitment.keys, "the signer derives the same keys");
    ch.b.sign_counterparty_commitment(commitment).unwrap();
    for alter in 0..3 {
        let mut bad = commitment.clone();
        let other = bitcoin::secp256k1::PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &SecretKey::from_slice(&[0x55; 32]).unwrap(),
        );
        match alter {
            0 => bad.keys.revocation_pubkey = other,
            1 => bad.keys.local_delayed_pubkey = other,
            _ => bad.keys.remote_htlc_pubkey = other,
        }
        assert!(
            matches!(
                ch.b.sign_counterparty_commitment(&bad),
                Err(SignerError::Mismatch(_))
            ),
            "altered key {alter} must be refused while the memo holds the point"
        );
    }
}
