//! BOLT 11: parse and verify an invoice, beside LDK's `lightning-invoice`
//! doing the same and the floor, secp256k1 public-key recovery of the same
//! signature alone (or verification, for an invoice with an `n` field).
//!
//! `cargo bench -p lightning-benches --bench bolt11`

use std::hint::black_box;

use bitcoin::hashes::{sha256, Hash};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lightning_wire::bolt11::{
    Bolt11Invoice, Currency, Fallback, InvoiceBuilder, PaymentSecret, RouteHint, RouteHintHop,
};
use lightning_wire::features::Bolt11InvoiceFeatures;
use lightning_wire::types::ShortChannelId;
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};

fn hop(i: u8) -> RouteHintHop {
    let k = SecretKey::from_slice(&[i + 1; 32]).expect("key");
    RouteHintHop {
        src_node_id: PublicKey::from_secret_key(SECP256K1, &k).into(),
        short_channel_id: ShortChannelId::new(800_000 + u32::from(i), 1234, 1).expect("scid"),
        fee_base_msat: 1000,
        fee_proportional_millionths: 100 * u32::from(i),
        cltv_expiry_delta: 144,
    }
}

fn builder(description: &str) -> InvoiceBuilder {
    let mut features = Bolt11InvoiceFeatures::empty();
    for bit in [9, 14, 17] {
        features.set_bit(bit);
    }
    InvoiceBuilder::new(Currency::Bitcoin)
        .amount_msat(2_500_000)
        .timestamp(1_700_000_000)
        .payment_hash(sha256::Hash::hash(b"preimage").into())
        .payment_secret(PaymentSecret([0x11; 32]))
        .description(description)
        .expiry(3600)
        .min_final_cltv_expiry_delta(80)
        .features(features)
}

/// A typical wallet invoice: amount, short description, one route hint.
fn typical(n: bool) -> String {
    let key = SecretKey::from_slice(&[0x42; 32]).expect("key");
    let mut b = builder("Order #4711: 2 espresso").route_hint(RouteHint(vec![hop(1)]));
    if n {
        b = b.payee_pub_key(PublicKey::from_secret_key(SECP256K1, &key));
    }
    b.build_signed(&key).expect("build").to_string()
}

/// A large one: several hints of several hops, a long description,
/// fallbacks and metadata.
fn large() -> String {
    let key = SecretKey::from_slice(&[0x42; 32]).expect("key");
    let description = "Blockstream Store: 88.85 USD for Blockstream Ledger Nano S x 1, ".repeat(10);
    let mut b = builder(&description[..600])
        .fallback(Fallback::new(0, &[7; 20]).expect("p2wpkh"))
        .fallback(Fallback::PubKeyHash([8; 20]))
        .payment_metadata(vec![0xfa; 32]);
    for r in 0..4u8 {
        b = b.route_hint(RouteHint((0..3).map(|h| hop(r * 3 + h)).collect()));
    }
    b.build_signed(&key).expect("build").to_string()
}

fn bench_invoice(c: &mut Criterion, name: &str, text: &str) {
    let ours: Bolt11Invoice = text.parse().expect("ours parses");
    let ldk: lightning_invoice::Bolt11Invoice = text.parse().expect("LDK parses");
    assert_eq!(ldk.get_payee_pub_key(), *ours.payee());
    let msg = Message::from_digest(ours.signing_hash());
    let sig = *ours.signature();
    let payee = *ours.payee();
    let has_n = ours.payee_pub_key().is_some();

    let mut g = c.benchmark_group(format!("bolt11/{name}"));
    g.throughput(Throughput::Elements(1));
    if has_n {
        let standard = sig.to_standard();
        g.bench_function("floor: secp256k1 verify", |b| {
            b.iter(|| {
                SECP256K1
                    .verify_ecdsa(black_box(&msg), &standard, &payee)
                    .expect("ok")
            })
        });
    } else {
        g.bench_function("floor: secp256k1 recover", |b| {
            b.iter(|| SECP256K1.recover_ecdsa(black_box(&msg), &sig).expect("ok"))
        });
    }
    g.bench_function("ours: parse + verify", |b| {
        b.iter(|| black_box(text).parse::<Bolt11Invoice>().expect("ok"))
    });
    g.bench_function("LDK lightning-invoice 0.34: parse + verify", |b| {
        b.iter(|| {
            black_box(text)
                .parse::<lightning_invoice::Bolt11Invoice>()
                .expect("ok")
        })
    });
    g.finish();
}

/// Ratios to the floor that hold up on a loaded machine: the three
/// workloads run interleaved in short batches, and each one's fastest batch
/// counts (other processes only ever add time).
fn interleaved_ratios(name: &str, text: &str) {
    use std::time::{Duration, Instant};
    let ours: Bolt11Invoice = text.parse().expect("ours parses");
    let msg = Message::from_digest(ours.signing_hash());
    let sig = *ours.signature();
    let standard = sig.to_standard();
    let payee = *ours.payee();
    let has_n = ours.payee_pub_key().is_some();
    const BATCH: u32 = 20;
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..BATCH {
            f();
        }
        start.elapsed() / BATCH
    };
    let mut best = [Duration::MAX; 3];
    for _ in 0..150 {
        let t = [
            time(&|| {
                if has_n {
                    SECP256K1
                        .verify_ecdsa(black_box(&msg), &standard, &payee)
                        .expect("ok");
                } else {
                    black_box(SECP256K1.recover_ecdsa(black_box(&msg), &sig).expect("ok"));
                }
            }),
            time(&|| {
                black_box(black_box(text).parse::<Bolt11Invoice>().expect("ok"));
            }),
            time(&|| {
                black_box(
                    black_box(text)
                        .parse::<lightning_invoice::Bolt11Invoice>()
                        .expect("ok"),
                );
            }),
        ];
        for (b, t) in best.iter_mut().zip(t) {
            *b = (*b).min(t);
        }
    }
    let floor = best[0].as_secs_f64();
    println!(
        "bolt11/{name}: best-of-batches floor {:.1} us, ours {:.1} us ({:.3}x), LDK {:.1} us ({:.3}x)",
        floor * 1e6,
        best[1].as_secs_f64() * 1e6,
        best[1].as_secs_f64() / floor,
        best[2].as_secs_f64() * 1e6,
        best[2].as_secs_f64() / floor,
    );
}

fn bolt11(c: &mut Criterion) {
    let cases = [
        ("typical (1 hint)", typical(false)),
        ("large (12 hops, 600-byte description)", large()),
        ("typical with n field", typical(true)),
    ];
    for (name, text) in &cases {
        bench_invoice(c, name, text);
    }
    for (name, text) in &cases {
        interleaved_ratios(name, text);
    }
}

criterion_group!(benches, bolt11);
criterion_main!(benches);
