//! BOLT 4 onions beside their floors.
//!
//! - `peel`: one hop of a 20-hop payment onion (ECDH, HMAC check, ChaCha20
//!   over 2600 bytes, next ephemeral key). Floor `peel_floor`: parsing the
//!   ephemeral key, one ECDH (`SharedSecret::new`, which hashes the point)
//!   and one public-key tweak (`mul_tweak`): the elliptic-curve work no
//!   implementation can skip.
//! - `build_20`: building a 20-hop payment onion. Floor `build_floor_20`:
//!   for each of the 20 hops one ECDH with the ephemeral private key and one
//!   fixed-base multiplication deriving the ephemeral public key (the
//!   cheapest correct way to get `epk(k)`; `build_floor_20_tweak` shows the
//!   alternative of tweaking the previous public key, which costs more).
//!
//! The ratios `peel / peel_floor` and `build_20 / build_floor_20` come out
//! of one run.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lightning_core::onion::{build_payment_onion, peel_packet, HopPayload, SharedSecret};
use lightning_wire::types::PaymentHash;
use secp256k1::{PublicKey, Scalar, SecretKey, SECP256K1};

fn route(n: usize) -> (Vec<SecretKey>, Vec<(PublicKey, HopPayload)>) {
    let keys: Vec<SecretKey> = (0..n)
        .map(|i| SecretKey::from_slice(&[i as u8 + 1; 32]).unwrap())
        .collect();
    let hops = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let payload = HopPayload {
                amt_to_forward: Some(1_000_000 - i as u64),
                outgoing_cltv_value: Some(800_000 + i as u32),
                short_channel_id: (i + 1 < n)
                    .then_some(lightning_wire::types::ShortChannelId(i as u64 + 1)),
                ..Default::default()
            };
            (PublicKey::from_secret_key(SECP256K1, k), payload)
        })
        .collect();
    (keys, hops)
}

fn bench(c: &mut Criterion) {
    let hash = [0x42u8; 32];
    let session = SecretKey::from_slice(&[0x41; 32]).unwrap();
    let (keys, hops) = route(20);
    let (onion, _) = build_payment_onion(&session, &hops, &PaymentHash(hash)).unwrap();
    let tweak = Scalar::from_be_bytes([0x11; 32]).unwrap();

    let mut g = c.benchmark_group("onion");
    g.bench_function("peel", |b| {
        b.iter(|| peel_packet(black_box(&onion), &hash, &keys[0]).unwrap())
    });
    g.bench_function("peel_floor", |b| {
        b.iter(|| {
            let point = PublicKey::from_slice(black_box(&onion.public_key)).unwrap();
            let ss = SharedSecret::new(&point, &keys[0]);
            (ss, point.mul_tweak(SECP256K1, &tweak).unwrap())
        })
    });
    g.bench_function("build_20", |b| {
        b.iter(|| build_payment_onion(black_box(&session), &hops, &PaymentHash(hash)).unwrap())
    });
    let ephemeral: Vec<SecretKey> = (0..20)
        .map(|i| SecretKey::from_slice(&[0x50 + i as u8; 32]).unwrap())
        .collect();
    g.bench_function("build_floor_20", |b| {
        b.iter(|| {
            let mut acc = 0u8;
            for (e, (node, _)) in ephemeral.iter().zip(&hops) {
                let epk = PublicKey::from_secret_key(SECP256K1, black_box(e));
                let ss = SharedSecret::new(node, e);
                acc ^= ss.0[0] ^ epk.serialize()[1];
            }
            acc
        })
    });
    g.bench_function("build_floor_20_tweak", |b| {
        b.iter(|| {
            let mut epk = PublicKey::from_secret_key(SECP256K1, &session);
            let mut acc = 0u8;
            for (e, (node, _)) in ephemeral.iter().zip(&hops) {
                let ss = SharedSecret::new(node, black_box(e));
                epk = epk.mul_tweak(SECP256K1, &tweak).unwrap();
                acc ^= ss.0[0];
            }
            (acc, epk)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
