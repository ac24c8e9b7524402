//! BOLT 8 Noise, each workload beside its floor.
//!
//! - `noise_handshake`: a full three-act handshake, both sides, beside the
//!   secp256k1 work it cannot avoid: each side derives its ephemeral public
//!   key and does three ECDHs (`es`, `ee`, `se`), so 2 key derivations and 6
//!   ECDHs in all.
//! - `noise_transport/{1024,16384,65535}`: encrypt a message then decrypt it
//!   (`encrypt_message`, then `read_message` on the peer), beside a raw
//!   ChaCha20-Poly1305 seal-then-open of the same payload in place. 64 KiB
//!   is measured at 65535 bytes, the largest message BOLT 8 allows.
//!
//! BOLT 8 seals and opens a 2-byte length besides the body, two AEAD calls
//! the floor does not make. With `chacha20poly1305` 0.10 on a portable
//! x86-64 build each costs ~4,900 instructions whatever its size (poly1305
//! 0.8's run-time AVX2 backend sets up every MAC with out-of-line
//! intrinsics), so the transport does the length with its own RFC 8439
//! specialisation (`noise/length_prefix.rs`, ~1,700). No build flag is set
//! for the bench: `--cfg poly1305_force_soft` would make the floor itself
//! 2x slower at 16 and 64 KiB, and `+avx2` is not what a host ships.
//! Figures (quiet machine, ours vs floor): 1 KiB 4.8-5.7 vs 4.2-4.6 us
//! (0.82-0.87x; was 6.7 vs 4.2, 0.63x), 16 KiB 24.6-26.4 vs 23.1-23.5 us
//! (0.87-0.95x), 64 KiB 86.8-88.5 vs 84.5-87.1 us (0.97-0.99x);
//! ARCHITECTURE.md, Noise, has the details and the instruction counts.

// Bench setup: a failed unwrap is a broken benchmark.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lightning_wire::noise::{HandshakeProgress, NoiseHandshake, NoiseTransport};
use secp256k1::ecdh::SharedSecret;
use secp256k1::{Keypair, SecretKey, SECP256K1};

fn secret(byte: u8) -> SecretKey {
    SecretKey::from_slice(&[byte; 32]).unwrap()
}

fn handshake(c: &mut Criterion) {
    let alice = Keypair::from_secret_key(SECP256K1, &secret(1));
    let bob = Keypair::from_secret_key(SECP256K1, &secret(2));
    let (alice_e, bob_e) = (secret(3), secret(4));
    let mut group = c.benchmark_group("noise_handshake");

    group.bench_function("three_acts_both_sides", |b| {
        b.iter(|| {
            let (mut initiator, act_one) =
                NoiseHandshake::new_initiator(&alice, bob.public_key(), &alice_e);
            let mut responder = NoiseHandshake::new_responder(&bob, &bob_e);
            let HandshakeProgress::ActTwo(act_two) =
                responder.handle_bytes(&mut &act_one[..]).unwrap()
            else {
                unreachable!()
            };
            let HandshakeProgress::Complete(i) = initiator.handle_bytes(&mut &act_two[..]).unwrap()
            else {
                unreachable!()
            };
            let act_three = i.act_three.unwrap();
            let HandshakeProgress::Complete(r) =
                responder.handle_bytes(&mut &act_three[..]).unwrap()
            else {
                unreachable!()
            };
            black_box((i, r))
        })
    });

    // The floor: per side, derive the ephemeral public key and do three ECDHs.
    let alice_e_pub = alice_e.public_key(SECP256K1);
    let bob_e_pub = bob_e.public_key(SECP256K1);
    group.bench_function("ecdh_floor_2_keygen_6_ecdh", |b| {
        b.iter(|| {
            let ie = black_box(&alice_e).public_key(SECP256K1);
            let re = black_box(&bob_e).public_key(SECP256K1);
            let secrets = [
                // Initiator: es, ee, se.
                SharedSecret::new(&bob.public_key(), black_box(&alice_e)),
                SharedSecret::new(&bob_e_pub, black_box(&alice_e)),
                SharedSecret::new(&bob_e_pub, &black_box(alice).secret_key()),
                // Responder: es, ee, se.
                SharedSecret::new(&alice_e_pub, &black_box(bob).secret_key()),
                SharedSecret::new(&alice_e_pub, black_box(&bob_e)),
                SharedSecret::new(&alice.public_key(), black_box(&bob_e)),
            ];
            black_box((ie, re, secrets))
        })
    });
    group.finish();
}

fn transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("noise_transport");
    for size in [1024usize, 16 * 1024, 65535] {
        let payload = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));

        let (ck, a, b) = ([7u8; 32], [1u8; 32], [2u8; 32]);
        let mut sender = NoiseTransport::from_keys(&ck, &a, &b);
        let mut receiver = NoiseTransport::from_keys(&ck, &b, &a);
        let mut wire = Vec::with_capacity(size + 34);
        group.bench_with_input(
            BenchmarkId::new("encrypt_then_decrypt", size),
            &payload,
            |bench, payload| {
                bench.iter(|| {
                    wire.clear();
                    sender
                        .encrypt_message(black_box(payload), &mut wire)
                        .unwrap();
                    let message = receiver.read_message(&mut &wire[..]).unwrap().unwrap();
                    black_box(message.len())
                })
            },
        );

        // The floor: one seal and one open of the payload, in place, in a
        // reused buffer (the payload is copied in, as a sender must).
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&a));
        let mut buf = Vec::with_capacity(size);
        let mut n = 0u64;
        group.bench_with_input(
            BenchmarkId::new("raw_chacha20poly1305_seal_open", size),
            &payload,
            |bench, payload| {
                bench.iter(|| {
                    let mut nonce = [0u8; 12];
                    nonce[4..].copy_from_slice(&n.to_le_bytes());
                    n = (n + 1) % 1000;
                    let nonce = Nonce::from(nonce);
                    buf.clear();
                    buf.extend_from_slice(black_box(payload));
                    let tag = cipher
                        .encrypt_in_place_detached(&nonce, &[], &mut buf)
                        .unwrap();
                    cipher
                        .decrypt_in_place_detached(&nonce, &[], &mut buf, &tag)
                        .unwrap();
                    black_box(buf.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, handshake, transport);
criterion_main!(benches);
