//! The cost of one message round against the channel's size (issue 13,
//! finding 7; DESIGN.md invariant 7: "a message costs work in proportion to
//! what it changes").
//!
//! The round: A sends one `update_add_htlc` and its `commitment_signed`; B
//! answers `revoke_and_ack` + `commitment_signed` (one batch); A answers
//! `revoke_and_ack`. Every `ChannelWrite` goes through a `MemoryStore`
//! before the messages of the same output are delivered. It is timed with
//! 0 and with 483 HTLCs already in flight (offered by B, so that A's new
//! HTLC is within both sides' `max_accepted_htlcs` of 483); after each timed
//! round the new HTLC is failed back, untimed, so every round starts from the
//! same channel.
//!
//! With 483 more HTLC outputs, BOLT 3 requires more signatures: each of the
//! round's two commitments carries 483 more HTLC outputs, so the sender
//! makes 483 more HTLC signatures and the receiver verifies 483 more. The
//! bench measures that work (`2 × 483` ECDSA signs and verifies on dummy
//! data, the same secp256k1 calls the signer and the verifier make) and
//! prints the ratio of the 483 round *beyond* that allowance to the 0
//! round: `(t483 - extra_signatures) / t0`, which must stay at most 2.
//!
//! `cargo bench -p lightning-benches --bench per_message -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lightning_core::channel::ChannelEvent;
use lightning_core::testing::pair::{open_with_stores, preimage, OpenOptions, Pair, ONION};
use lightning_persist::MemoryStore;
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey};

/// HTLCs already in flight in the large case: `max_accepted_htlcs`.
const IN_FLIGHT: usize = 483;
/// Each in-flight HTLC: well above dust, so every one is an output of both
/// commitments.
const IN_FLIGHT_MSAT: u64 = 5_000_000;
/// The round's HTLC.
const AMOUNT_MSAT: u64 = 50_000_000;

/// A fresh channel with `in_flight` HTLCs offered by B, all irrevocably
/// committed (one `commitment_signed` each way covers them all).
fn channel(in_flight: usize) -> Pair {
    let mut pair = open_with_stores(
        OpenOptions::default(),
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryStore::new()),
    );
    for i in 0..in_flight {
        let (_, hash) = preimage(1_000_000 + i as u64);
        let (_, out) = pair
            .b
            .ch
            .send_htlc(IN_FLIGHT_MSAT, hash, 700_000, ONION.to_vec())
            .expect("send_htlc in flight");
        pair.b.apply(out);
    }
    let out = pair.b.ch.commit().expect("commit");
    pair.b.apply(out);
    pair.run_until_quiet();
    let received = pair
        .a
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, ChannelEvent::HtlcReceived { .. }))
        .count();
    assert_eq!(received, in_flight, "every in-flight HTLC locked in");
    pair.b.events.clear();
    pair.check_agreement();
    pair
}

/// The timed round: A offers one HTLC and the dance completes. Returns
/// its id.
fn add_round(pair: &mut Pair, n: u64) -> u64 {
    let (_, hash) = preimage(n);
    let (id, out) = pair
        .a
        .ch
        .send_htlc(AMOUNT_MSAT, hash, 700_000, ONION.to_vec())
        .expect("send_htlc");
    pair.a.apply(out);
    let out = pair.a.ch.commit().expect("commit");
    pair.a.apply(out);
    pair.deliver_all_a_to_b()
        .expect("B gets add + commitment_signed");
    pair.deliver_all_b_to_a()
        .expect("A gets revoke_and_ack + commitment_signed");
    pair.deliver_all_a_to_b().expect("B gets revoke_and_ack");
    assert!(pair.a.outbox.is_empty() && pair.b.outbox.is_empty());
    id
}

/// Untimed: B fails the round's HTLC back, so the next round starts from
/// the same channel (balances included).
fn settle(pair: &mut Pair, id: u64) {
    let out = pair.b.ch.fail_htlc(id, vec![0x66; 32]).expect("fail");
    pair.b.apply(out);
    let out = pair.b.ch.commit().expect("commit");
    pair.b.apply(out);
    pair.run_until_quiet();
    pair.a.events.clear();
    pair.b.events.clear();
}

/// Times `iters` rounds (each followed by its untimed settlement).
fn timed_rounds(pair: &mut Pair, next: &mut u64, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        *next += 1;
        let start = Instant::now();
        let id = add_round(pair, *next);
        total += start.elapsed();
        settle(pair, id);
    }
    total
}

/// The signatures BOLT 3 adds with `extra` more HTLC outputs on both
/// commitments of a round: `2 × extra` signs and as many verifies.
struct Signatures {
    secp: Secp256k1<secp256k1::All>,
    key: SecretKey,
    pubkey: PublicKey,
}

impl Signatures {
    fn new() -> Self {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[0x11; 32]).expect("key");
        let pubkey = PublicKey::from_secret_key(&secp, &key);
        Signatures { secp, key, pubkey }
    }

    fn run(&self, extra: usize, salt: u64) -> usize {
        let mut ok = 0;
        for i in 0..2 * extra {
            let mut digest = [0x5au8; 32];
            digest[..8].copy_from_slice(&salt.to_be_bytes());
            digest[8..16].copy_from_slice(&(i as u64).to_be_bytes());
            let msg = Message::from_digest(digest);
            let sig = self.secp.sign_ecdsa(&msg, &self.key);
            ok += usize::from(self.secp.verify_ecdsa(&msg, &sig, &self.pubkey).is_ok());
        }
        ok
    }
}

/// The median of `samples` runs of `f`, each timing `per` rounds.
fn median(samples: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..samples).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn per_message(c: &mut Criterion) {
    let mut next = 0u64;
    let mut empty = channel(0);
    let mut full = channel(IN_FLIGHT);
    let sigs = Signatures::new();

    // The figures the ratio is made of: medians of repeated runs, each
    // the mean of a few rounds.
    const PER: u64 = 5;
    let t0 = median(15, || timed_rounds(&mut empty, &mut next, PER)) / PER as u32;
    let t483 = median(7, || timed_rounds(&mut full, &mut next, PER)) / PER as u32;
    let mut salt = 0u64;
    let extra = median(7, || {
        salt += 1;
        let start = Instant::now();
        std::hint::black_box(sigs.run(IN_FLIGHT, salt));
        start.elapsed()
    });
    let beyond = t483.saturating_sub(extra);
    eprintln!(
        "\nper_message: add + commitment_signed round, 0 HTLCs in flight: {:.3} ms",
        t0.as_secs_f64() * 1e3
    );
    eprintln!(
        "per_message: same round, {IN_FLIGHT} HTLCs in flight: {:.3} ms (ratio {:.2})",
        t483.as_secs_f64() * 1e3,
        t483.as_secs_f64() / t0.as_secs_f64()
    );
    eprintln!(
        "per_message: the {} extra HTLC signatures + verifications BOLT 3 requires: {:.3} ms",
        2 * IN_FLIGHT,
        extra.as_secs_f64() * 1e3
    );
    eprintln!(
        "per_message: {IN_FLIGHT} in flight beyond the extra signatures: {:.3} ms, ratio to 0 in flight {:.2} (bound 2)",
        beyond.as_secs_f64() * 1e3,
        beyond.as_secs_f64() / t0.as_secs_f64()
    );

    let mut group = c.benchmark_group("per_message");
    group.bench_function("round_0_in_flight", |b| {
        b.iter_custom(|iters| timed_rounds(&mut empty, &mut next, iters))
    });
    group.bench_function("round_483_in_flight", |b| {
        b.iter_custom(|iters| timed_rounds(&mut full, &mut next, iters))
    });
    group.bench_function("extra_signatures_483", |b| {
        b.iter(|| {
            salt += 1;
            sigs.run(IN_FLIGHT, salt)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = per_message
}
criterion_main!(benches);
