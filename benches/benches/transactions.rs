//! Build and sign a commitment (the counterparty's, as `commitment_signed`
//! does: funding signature plus one signature per HTLC transaction) with 0,
//! 10 and 483 HTLCs, beside the floor: the same number (1 + n) of bare
//! secp256k1 ECDSA signatures.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Message, SecretKey, SECP256K1};
use bitcoin::{Amount, OutPoint, Txid};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use lightning_core::amount::{FeeratePerKw, Msat};
use lightning_core::keys::{ChannelSigner, KeysManager};
use lightning_core::transactions::*;

fn bench(c: &mut Criterion) {
    let km_a = KeysManager::new(&[1; 32]).expect("seed");
    let km_b = KeysManager::new(&[2; 32]).expect("seed");
    let mut a = km_a.derive_channel_signer(0).expect("signer");
    let b = km_b.derive_channel_signer(0).expect("signer");
    a.provide_counterparty_keys(b.pubkeys());
    // B's commitment, signed by A.
    let point = b.holder_per_commitment_point(7).expect("point");
    let keys = CommitmentKeys::derive(&point, &b.pubkeys(), &a.pubkeys()).expect("keys");
    let obscuring = obscuring_factor(
        &a.pubkeys().payment_basepoint,
        &b.pubkeys().payment_basepoint,
    );
    let mut group = c.benchmark_group("transactions");
    for &n in &[0usize, 10, 483] {
        for ct in [
            CommitmentFormat::StaticRemoteKey,
            CommitmentFormat::AnchorsZeroFeeHtlc,
        ] {
            let htlcs: Vec<HtlcInfo> = (0..n)
                .map(|i| HtlcInfo {
                    direction: if i % 2 == 0 {
                        HtlcDirection::Offered
                    } else {
                        HtlcDirection::Received
                    },
                    amount: Msat(5_000_000 + i as u64),
                    payment_hash: sha256::Hash::hash(&(i as u64).to_le_bytes()).into(),
                    cltv_expiry: 800_000 + i as u32,
                })
                .collect();
            let params = CommitmentParams {
                channel_type: ct,
                funding_outpoint: OutPoint {
                    txid: Txid::all_zeros(),
                    vout: 0,
                },
                funding_amount: Amount::from_sat(100_000_000),
                local_funding_pubkey: b.pubkeys().funding_pubkey,
                remote_funding_pubkey: a.pubkeys().funding_pubkey,
                obscuring_factor: obscuring,
                commitment_number: 7,
                to_self_delay: 144,
                dust_limit: Amount::from_sat(354),
                feerate: FeeratePerKw(2500),
                local_is_funder: false,
                to_local: Msat(40_000_000_000),
                to_remote: Msat(50_000_000_000),
                htlcs: &htlcs,
                keys: &keys,
            };
            let name = match ct {
                CommitmentFormat::StaticRemoteKey => "build_and_sign_static_remotekey",
                CommitmentFormat::AnchorsZeroFeeHtlc => "build_and_sign_anchors",
            };
            group.bench_with_input(BenchmarkId::new(name, n), &params, |bch, p| {
                bch.iter(|| {
                    let c = build_commitment_transaction(black_box(p)).expect("build");
                    a.sign_counterparty_commitment(&c).expect("sign")
                })
            });
        }
        let key = SecretKey::from_slice(&[3; 32]).expect("key");
        let msg = Message::from_digest([4; 32]);
        group.bench_with_input(BenchmarkId::new("floor_bare_ecdsa", n), &n, |bch, &n| {
            bch.iter(|| {
                for _ in 0..=n {
                    black_box(SECP256K1.sign_ecdsa(black_box(&msg), &key));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
