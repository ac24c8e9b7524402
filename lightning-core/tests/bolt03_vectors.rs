//! BOLT 3 test vectors: key derivation (Appendix E), per-commitment secrets
//! (Appendix D), commitment and HTLC transactions (Appendix C, legacy with
//! `option_static_remotekey`; Appendix F, anchors), and the fee example.
#![allow(clippy::unwrap_used)] // Test helpers, not only #[test] fns, unwrap.

mod common;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::ecdsa;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::SECP256K1;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{Amount, OutPoint, Txid};
use common::*;
use lightning_core::amount::{FeeratePerKw, Msat};
use lightning_core::keys::derivation::*;
use lightning_core::keys::shachain::{build_commitment_secret, CounterpartyCommitmentSecrets};
use lightning_core::keys::ChannelPublicKeys;
use lightning_core::transactions::htlc::{
    build_htlc_transactions, htlc_transaction_witness, remote_htlc_sighash_type,
};
use lightning_core::transactions::*;

#[test]
fn key_derivation_vectors() {
    let v = load("bolt03-key-derivation.json");
    let c = &v["common"];
    let base_secret = secret(c["base_secret"].as_str().unwrap());
    let pcs = hex32(c["per_commitment_secret"].as_str().unwrap());
    let base_point = pubkey(c["base_point"].as_str().unwrap());
    let point = pubkey(c["per_commitment_point"].as_str().unwrap());
    assert_eq!(pk_of(&base_secret), base_point);
    assert_eq!(per_commitment_point(&pcs).unwrap(), point);
    let mut seen = 0;
    for vec in v["vectors"].as_array().unwrap() {
        let result = vec["result"].as_str().unwrap();
        match vec["result_field"].as_str().unwrap() {
            "localpubkey" => {
                assert_eq!(
                    derive_public_key(&base_point, &point).unwrap().to_string(),
                    result
                )
            }
            "localprivkey" => assert_eq!(
                hex::encode(
                    derive_private_key(&base_secret, &point)
                        .unwrap()
                        .secret_bytes()
                ),
                result
            ),
            "revocationpubkey" => assert_eq!(
                derive_revocation_public_key(&base_point, &point)
                    .unwrap()
                    .to_string(),
                result
            ),
            "revocationprivkey" => assert_eq!(
                hex::encode(
                    derive_revocation_private_key(&base_secret, &pcs)
                        .unwrap()
                        .secret_bytes()
                ),
                result
            ),
            other => panic!("unknown vector {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 4);
}

#[test]
fn shachain_generation_vectors() {
    let v = load("bolt03-shachain.json");
    let gens = v["generation"].as_array().unwrap();
    assert_eq!(gens.len(), 5);
    for g in gens {
        let seed = hex32(&g["seed"].as_str().unwrap().to_lowercase());
        let idx = g["index"].as_u64().unwrap();
        assert_eq!(
            hex::encode(build_commitment_secret(&seed, idx)),
            g["output"].as_str().unwrap(),
            "{}",
            g["name"]
        );
    }
}

#[test]
fn shachain_storage_vectors() {
    let v = load("bolt03-shachain.json");
    let tests = v["storage"].as_array().unwrap();
    assert_eq!(tests.len(), 9);
    let mut steps_run = 0;
    for t in tests {
        let mut store = CounterpartyCommitmentSecrets::new();
        for step in t["steps"].as_array().unwrap() {
            let idx = step["index"].as_u64().unwrap();
            let s = hex32(step["secret"].as_str().unwrap());
            let r = store.insert(idx, s);
            steps_run += 1;
            match step["output"].as_str().unwrap() {
                "OK" => {
                    r.unwrap_or_else(|e| panic!("{}: {e}", t["name"]));
                    assert_eq!(store.get_secret(idx), Some(s));
                }
                "ERROR" => {
                    assert!(r.is_err(), "{}: insert at {idx:#x} must fail", t["name"]);
                    break;
                }
                o => panic!("unknown output {o}"),
            }
        }
    }
    assert_eq!(steps_run, 56);
}

struct Setup {
    local: ChannelPublicKeys,
    remote: ChannelPublicKeys,
    local_funding_sk: bitcoin::secp256k1::SecretKey,
    remote_funding_sk: bitcoin::secp256k1::SecretKey,
    local_htlc_sk: bitcoin::secp256k1::SecretKey,
    remote_htlc_sk: bitcoin::secp256k1::SecretKey,
    keys: CommitmentKeys,
    funding_outpoint: OutPoint,
    funding_amount: Amount,
    obscuring: u64,
    htlcs: Vec<(HtlcInfo, [u8; 32])>,
}

fn setup(v: &serde_json::Value) -> Setup {
    let h = &v["header"];
    let d = &h["internal_derivation_values"];
    let s = |k: &str| secret(h[k].as_str().or(d[k].as_str()).unwrap());
    let p = |k: &str| pubkey(h[k].as_str().or(d[k].as_str()).unwrap());
    let local_funding_sk = s("local_funding_privkey");
    let remote_funding_sk = s("remote_funding_privkey");
    let local_payment_sk = s("local_payment_basepoint_secret");
    let remote_payment_sk = s("remote_payment_basepoint_secret");
    let remote_revocation_sk = s("remote_revocation_basepoint_secret");
    let local_delayed_sk = s("local_delayed_payment_basepoint_secret");
    assert_eq!(pk_of(&local_funding_sk), p("local_funding_pubkey"));
    assert_eq!(pk_of(&remote_funding_sk), p("remote_funding_pubkey"));
    assert_eq!(pk_of(&local_payment_sk), p("local_payment_basepoint"));
    assert_eq!(pk_of(&remote_payment_sk), p("remote_payment_basepoint"));
    let local = ChannelPublicKeys {
        funding_pubkey: p("local_funding_pubkey"),
        // The local revocation basepoint plays no part in the local commitment.
        revocation_basepoint: pk_of(&local_payment_sk),
        payment_basepoint: p("local_payment_basepoint"),
        delayed_payment_basepoint: pk_of(&local_delayed_sk),
        htlc_basepoint: p("local_htlc_basepoint"),
    };
    let remote = ChannelPublicKeys {
        funding_pubkey: p("remote_funding_pubkey"),
        revocation_basepoint: pk_of(&remote_revocation_sk),
        payment_basepoint: p("remote_payment_basepoint"),
        delayed_payment_basepoint: pk_of(&remote_payment_sk),
        htlc_basepoint: p("remote_htlc_basepoint"),
    };
    assert_eq!(
        local.delayed_payment_basepoint,
        p("local_delayed_payment_basepoint")
    );
    assert_eq!(
        remote.revocation_basepoint,
        p("remote_revocation_basepoint")
    );
    let pcs = hex32(d["x_local_per_commitment_secret"].as_str().unwrap());
    let point = per_commitment_point(&pcs).unwrap();
    assert_eq!(point, p("local_per_commitment_point"));
    let keys = CommitmentKeys::derive(&point, &local, &remote).unwrap();
    assert_eq!(keys.local_htlc_pubkey, p("local_htlcpubkey"));
    assert_eq!(keys.remote_htlc_pubkey, p("remote_htlcpubkey"));
    assert_eq!(keys.local_delayed_pubkey, p("local_delayedpubkey"));
    assert_eq!(keys.revocation_pubkey, p("local_revocation_pubkey"));
    // The spec's HTML comment also gives the derived private keys.
    assert_eq!(
        derive_private_key(&local_payment_sk, &point).unwrap(),
        s("local_privkey")
    );
    assert_eq!(
        derive_private_key(&local_delayed_sk, &point).unwrap(),
        s("local_delayed_privkey")
    );
    assert_eq!(
        derive_private_key(&remote_payment_sk, &point).unwrap(),
        s("remote_privkey")
    );
    let obscuring = obscuring_factor(&local.payment_basepoint, &remote.payment_basepoint);
    assert_eq!(
        format!("{obscuring:x}"),
        h["obscuring_factor"].as_str().unwrap()
    );
    let htlcs = h["htlcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let preimage = hex32(x["payment_preimage"].as_str().unwrap());
            let direction = match x["direction"].as_str().unwrap() {
                "remote->local" => HtlcDirection::Received,
                "local->remote" => HtlcDirection::Offered,
                o => panic!("{o}"),
            };
            (
                HtlcInfo {
                    direction,
                    amount: Msat(x["amount_msat"].as_u64().unwrap()),
                    payment_hash: sha256::Hash::hash(&preimage).into(),
                    cltv_expiry: x["expiry"].as_u64().unwrap() as u32,
                },
                preimage,
            )
        })
        .collect();
    Setup {
        local_htlc_sk: derive_private_key(&local_payment_sk, &point).unwrap(),
        remote_htlc_sk: derive_private_key(&remote_payment_sk, &point).unwrap(),
        local,
        remote,
        local_funding_sk,
        remote_funding_sk,
        keys,
        funding_outpoint: OutPoint {
            txid: h["funding_tx_id"]
                .as_str()
                .unwrap()
                .parse::<Txid>()
                .unwrap(),
            vout: h["funding_output_index"].as_u64().unwrap() as u32,
        },
        funding_amount: Amount::from_sat(h["funding_amount_satoshi"].as_u64().unwrap()),
        obscuring,
        htlcs,
    }
}

fn der(sig: &ecdsa::Signature) -> String {
    hex::encode(sig.signature.serialize_der())
}

fn run_cases(
    section: &str,
    channel_type: CommitmentFormat,
    expected_cases: usize,
    expected_htlc_txs: usize,
) {
    let v = load("bolt03-commitment.json");
    let st = setup(&v);
    let h = &v["header"];
    let cases = v[section].as_array().unwrap();
    assert_eq!(cases.len(), expected_cases);
    let mut htlc_txs_checked = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let htlc_ids: Vec<usize> = case["htlcs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let htlcs: Vec<HtlcInfo> = htlc_ids.iter().map(|&i| st.htlcs[i].0).collect();
        let commitment = build_commitment_transaction(&CommitmentParams {
            channel_type,
            funding_outpoint: st.funding_outpoint,
            funding_amount: st.funding_amount,
            local_funding_pubkey: st.local.funding_pubkey,
            remote_funding_pubkey: st.remote.funding_pubkey,
            obscuring_factor: st.obscuring,
            commitment_number: h["commitment_number"].as_u64().unwrap(),
            to_self_delay: h["local_delay"].as_u64().unwrap() as u16,
            dust_limit: Amount::from_sat(case["dust_limit_satoshis"].as_u64().unwrap()),
            feerate: FeeratePerKw(case["feerate_per_kw"].as_u64().unwrap() as u32),
            local_is_funder: true,
            to_local: Msat(case["to_local_msat"].as_u64().unwrap()),
            to_remote: Msat(case["to_remote_msat"].as_u64().unwrap()),
            htlcs: &htlcs,
            keys: &st.keys,
        })
        .unwrap();
        let mut tx = commitment.tx.clone();
        let sign = |sk| {
            sign_p2wsh_input(
                &tx,
                0,
                &commitment.funding_script,
                st.funding_amount,
                EcdsaSighashType::All,
                sk,
            )
            .unwrap()
        };
        let local_sig = sign(&st.local_funding_sk);
        let remote_sig = sign(&st.remote_funding_sk);
        assert_eq!(
            der(&remote_sig),
            case["remote_signature"].as_str().unwrap(),
            "{name}: remote sig"
        );
        if let Some(ls) = case.get("local_signature").and_then(|x| x.as_str()) {
            assert_eq!(der(&local_sig), ls, "{name}: local sig");
        }
        if let Some(fee) = case
            .get("actual_commitment_fee_sat")
            .and_then(|x| x.as_u64())
        {
            assert_eq!(commitment.fee.to_sat(), fee, "{name}: fee");
        }
        tx.input[0].witness = funding_witness(
            &local_sig,
            &st.local.funding_pubkey,
            &remote_sig,
            &st.remote.funding_pubkey,
        );
        assert_eq!(
            serialize_hex(&tx),
            case["output_commit_tx"].as_str().unwrap(),
            "{name}: commit tx"
        );
        // The funding output it spends.
        let funding_out = bitcoin::TxOut {
            value: st.funding_amount,
            script_pubkey: scripts::p2wsh(&commitment.funding_script),
        };
        verify(&tx, &[funding_out]).unwrap_or_else(|e| panic!("{name}: {e}"));

        // HTLC transactions, in output order.
        let expected = case["htlc_txs"].as_array().unwrap();
        assert_eq!(commitment.htlcs.len(), expected.len(), "{name}: htlc count");
        assert_eq!(case["num_htlcs"].as_u64().unwrap() as usize, expected.len());
        let htlc_txs = build_htlc_transactions(&commitment).unwrap();
        for ((ch, mut htx), exp) in commitment.htlcs.iter().zip(htlc_txs).zip(expected) {
            let remote = sign_p2wsh_input(
                &htx,
                0,
                &ch.witness_script,
                ch.amount,
                remote_htlc_sighash_type(channel_type),
                &st.remote_htlc_sk,
            )
            .unwrap();
            let local = sign_p2wsh_input(
                &htx,
                0,
                &ch.witness_script,
                ch.amount,
                EcdsaSighashType::All,
                &st.local_htlc_sk,
            )
            .unwrap();
            assert_eq!(
                der(&remote),
                exp["remote_htlc_signature"].as_str().unwrap(),
                "{name}: htlc remote sig"
            );
            if let Some(ls) = exp.get("local_htlc_signature").and_then(|x| x.as_str()) {
                assert_eq!(der(&local), ls, "{name}: htlc local sig");
            }
            let preimage = match ch.htlc.direction {
                HtlcDirection::Received => Some(st.htlcs[htlc_ids[ch.htlc_index]].1),
                HtlcDirection::Offered => None,
            };
            htx.input[0].witness =
                htlc_transaction_witness(&remote, &local, preimage.as_ref(), &ch.witness_script);
            assert_eq!(
                serialize_hex(&htx),
                exp["tx"].as_str().unwrap(),
                "{name}: htlc tx {}",
                ch.output_index
            );
            verify(&htx, &[tx.output[ch.output_index as usize].clone()])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            htlc_txs_checked += 1;
        }
    }
    assert_eq!(htlc_txs_checked, expected_htlc_txs);
}

#[test]
fn legacy_commitment_vectors() {
    run_cases("legacy", CommitmentFormat::StaticRemoteKey, 16, 33);
}

#[test]
fn anchors_commitment_vectors() {
    run_cases("anchors", CommitmentFormat::AnchorsZeroFeeHtlc, 9, 15);
}

#[test]
fn funding_witness_script_matches() {
    let v = load("bolt03-commitment.json");
    let st = setup(&v);
    let s = scripts::funding_script(&st.local.funding_pubkey, &st.remote.funding_pubkey);
    assert_eq!(
        hex::encode(s.as_bytes()),
        v["header"]["funding_wscript"].as_str().unwrap()
    );
    let _ = SECP256K1;
}
