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
//! bench measures that work two ways and prints the ratio of the 483 round
//! *beyond* it to the 0 round, `(t483 - allowance) / t0` (bound: 2):
//! - strict: the `2 × 483` bare ECDSA signs and verifies (the secp256k1
//!   calls the signer and the verifier make), on dummy digests;
//! - with what is signed: for each of those signatures, also the HTLC
//!   transaction it signs and its BIP 143 digest (the library's own
//!   `build_htlc_transaction` and `sign_p2wsh_input` /
//!   `verify_p2wsh_signature` on a commitment with 483 HTLCs);
//! - with the extra HTLC outputs too: the above, plus what the 483 extra
//!   outputs add to building the round's commitments (each of the two is
//!   built by both sides: four builds, each with its txid and funding
//!   digest), measured as four builds with 484 HTLCs minus four with 1.
//!   What is left beyond this one is the channel's own overhead (state,
//!   log, events, records, policy checks).
//!
//! Times are the thread's CPU time (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`):
//! the machine this runs on is shared, and wall time there measures the
//! neighbours. The measurements are interleaved, and each figure is a
//! median. (Criterion's own figures below them are wall time.)
//!
//! `cargo bench -p lightning-benches --bench per_message -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{Amount, OutPoint, Txid};
use criterion::{criterion_group, criterion_main, Criterion};
use lightning_core::amount::{FeeratePerKw, Msat};
use lightning_core::channel::ChannelEvent;
use lightning_core::keys::{ChannelSigner, KeysManager};
use lightning_core::testing::pair::{open_with_stores, preimage, OpenOptions, Pair, ONION};
use lightning_core::transactions::htlc::build_htlc_transaction;
use lightning_core::transactions::{
    build_commitment_transaction, obscuring_factor, p2wsh_sighash, sign_p2wsh_input,
    verify_p2wsh_signature, CommitmentFormat, CommitmentKeys, CommitmentParams,
    CommitmentTransaction, HtlcDirection, HtlcInfo,
};
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

/// One payment's full round trip, as `benches/payment.rs` makes it (add,
/// both dances, fulfill, both dances), A to B when `n` is even, B to A
/// when odd: the same operation in CPU time, to compare versions of the
/// code on a shared machine.
fn payment(pair: &mut Pair, n: u64) {
    if n % 2 == 1 {
        std::mem::swap(&mut pair.a, &mut pair.b);
    }
    let id = add_round(pair, n);
    let out = pair.b.ch.fulfill_htlc(id, preimage(n).0).expect("fulfill");
    pair.b.apply(out);
    let out = pair.b.ch.commit().expect("commit");
    pair.b.apply(out);
    pair.deliver_all_b_to_a()
        .expect("A gets fulfill + commitment_signed");
    pair.deliver_all_a_to_b()
        .expect("B gets revoke_and_ack + commitment_signed");
    pair.deliver_all_b_to_a().expect("A gets revoke_and_ack");
    pair.a.events.clear();
    pair.b.events.clear();
    if n % 2 == 1 {
        std::mem::swap(&mut pair.a, &mut pair.b);
    }
}

/// The thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// A stopwatch of the thread's CPU time.
struct Watch(Duration);

impl Watch {
    fn start() -> Self {
        Watch(thread_cpu())
    }
    fn elapsed(&self) -> Duration {
        thread_cpu().saturating_sub(self.0)
    }
}

/// Times `iters` rounds (each followed by its untimed settlement).
fn timed_rounds(pair: &mut Pair, next: &mut u64, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        *next += 1;
        let watch = Watch::start();
        let id = add_round(pair, *next);
        total += watch.elapsed();
        settle(pair, id);
    }
    total
}

/// A commitment with `IN_FLIGHT + 1` HTLCs (anchors, as the channel),
/// and the key that signs its HTLC transactions, to time what BOLT 3
/// requires per extra HTLC signature.
struct HtlcWork {
    commitment: CommitmentTransaction,
    key: secp256k1::SecretKey,
    pubkey: PublicKey,
    htlcs: Vec<HtlcInfo>,
    keys: CommitmentKeys,
    params: CommitmentParams<'static>,
}

impl HtlcWork {
    fn new() -> Self {
        let km_a = KeysManager::new(&[1; 32]).expect("seed");
        let km_b = KeysManager::new(&[2; 32]).expect("seed");
        let a = km_a.derive_channel_signer(0).expect("signer");
        let b = km_b.derive_channel_signer(0).expect("signer");
        let point = b.holder_per_commitment_point(7).expect("point");
        let keys = CommitmentKeys::derive(&point, &b.pubkeys(), &a.pubkeys()).expect("keys");
        let htlcs: Vec<HtlcInfo> = (0..=IN_FLIGHT)
            .map(|i| HtlcInfo {
                direction: if i % 2 == 0 {
                    HtlcDirection::Offered
                } else {
                    HtlcDirection::Received
                },
                amount: Msat(IN_FLIGHT_MSAT),
                payment_hash: sha256::Hash::hash(&(i as u64).to_le_bytes()).into(),
                cltv_expiry: 700_000,
            })
            .collect();
        let params = CommitmentParams {
            channel_type: CommitmentFormat::AnchorsZeroFeeHtlc,
            funding_outpoint: OutPoint {
                txid: Txid::all_zeros(),
                vout: 0,
            },
            funding_amount: Amount::from_sat(10_000_000),
            local_funding_pubkey: b.pubkeys().funding_pubkey,
            remote_funding_pubkey: a.pubkeys().funding_pubkey,
            obscuring_factor: obscuring_factor(
                &a.pubkeys().payment_basepoint,
                &b.pubkeys().payment_basepoint,
            ),
            commitment_number: 7,
            to_self_delay: 144,
            dust_limit: Amount::from_sat(546),
            feerate: FeeratePerKw(2500),
            local_is_funder: false,
            to_local: Msat(3_000_000_000),
            to_remote: Msat(4_000_000_000),
            htlcs: &htlcs,
            keys: &keys,
        };
        let commitment = build_commitment_transaction(&params).expect("commitment");
        assert_eq!(commitment.htlcs.len(), IN_FLIGHT + 1);
        let key = secp256k1::SecretKey::from_slice(&[0x11; 32]).expect("key");
        let pubkey = PublicKey::from_secret_key(&Secp256k1::new(), &key);
        let params = CommitmentParams {
            htlcs: &[],
            keys: Box::leak(Box::new(keys)),
            ..params
        };
        HtlcWork {
            commitment,
            key,
            pubkey,
            htlcs,
            keys,
            params,
        }
    }

    /// Builds the commitment with `n` HTLCs, its txid and funding digest.
    fn build(&self, n: usize) -> usize {
        let params = CommitmentParams {
            htlcs: &self.htlcs[..n],
            keys: &self.keys,
            ..self.params
        };
        let c = build_commitment_transaction(&params).expect("commitment");
        let digest = p2wsh_sighash(
            &c.tx,
            0,
            &c.funding_script,
            c.funding_amount,
            EcdsaSighashType::All,
        )
        .expect("digest");
        usize::from(c.txid().to_byte_array()[0]) + usize::from(digest.as_ref()[0])
    }

    /// `2 × extra` HTLC transactions built, their digests signed and
    /// verified.
    fn run(&self, extra: usize) -> usize {
        let c = &self.commitment;
        let txid = c.txid();
        let mut ok = 0;
        for i in 0..2 * extra {
            let h = &c.htlcs[i % extra];
            let htx = build_htlc_transaction(txid, c, h).expect("htlc tx");
            let sig = sign_p2wsh_input(
                &htx,
                0,
                &h.witness_script,
                h.amount,
                EcdsaSighashType::SinglePlusAnyoneCanPay,
                &self.key,
            )
            .expect("sign");
            ok += usize::from(
                verify_p2wsh_signature(&htx, 0, &h.witness_script, h.amount, &sig, &self.pubkey)
                    .expect("verify"),
            );
        }
        ok
    }
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn per_message(c: &mut Criterion) {
    let mut next = 0u64;
    if std::env::var_os("PER_MESSAGE_PROFILE").is_some() {
        // Only the 483 round, for a profiler.
        let mut full = channel(IN_FLIGHT);
        let t = timed_rounds(&mut full, &mut next, 30);
        eprintln!("483 round: {:.3} ms", ms(t / 30));
        return;
    }
    let mut empty = channel(0);
    let mut full = channel(IN_FLIGHT);
    let sigs = Signatures::new();
    let work = HtlcWork::new();

    // Interleaved samples: five 0 rounds, one 483 round, each allowance.
    const SAMPLES: usize = 21;
    const PER: u64 = 5;
    let (mut v0, mut v483, mut vsig, mut vwork) = (vec![], vec![], vec![], vec![]);
    let mut voutputs = vec![];
    let mut salt = 0u64;
    for _ in 0..SAMPLES {
        v0.push(timed_rounds(&mut empty, &mut next, PER) / PER as u32);
        v483.push(timed_rounds(&mut full, &mut next, 1));
        salt += 1;
        let w = Watch::start();
        std::hint::black_box(sigs.run(IN_FLIGHT, salt));
        vsig.push(w.elapsed());
        let w = Watch::start();
        std::hint::black_box(work.run(IN_FLIGHT));
        vwork.push(w.elapsed());
        let w = Watch::start();
        for _ in 0..4 {
            std::hint::black_box(work.build(IN_FLIGHT + 1));
        }
        let full_builds = w.elapsed();
        let w = Watch::start();
        for _ in 0..4 {
            std::hint::black_box(work.build(1));
        }
        voutputs.push(full_builds.saturating_sub(w.elapsed()));
    }
    if std::env::var_os("PER_MESSAGE_SAMPLES").is_some() {
        eprintln!("samples: 0: {v0:?}\n483: {v483:?}\nsig: {vsig:?}\nwork: {vwork:?}");
    }
    let (t0, t483, extra, extra_work) = (median(v0), median(v483), median(vsig), median(vwork));
    let extra_outputs = median(voutputs);
    let mut pay = channel(0);
    let mut vpay = vec![];
    for _ in 0..SAMPLES {
        let w = Watch::start();
        for _ in 0..10 {
            next += 1;
            payment(&mut pay, next);
        }
        vpay.push(w.elapsed() / 10);
    }
    eprintln!("\nper_message (thread CPU time, medians of {SAMPLES}):");
    eprintln!(
        "  add + commitment_signed round, 0 HTLCs in flight: {:.3} ms",
        ms(t0)
    );
    eprintln!(
        "  same round, {IN_FLIGHT} HTLCs in flight: {:.3} ms (ratio {:.2})",
        ms(t483),
        t483.as_secs_f64() / t0.as_secs_f64()
    );
    eprintln!(
        "  one payment round trip (benches/payment.rs memory_store, in CPU time): {:.3} ms",
        ms(median(vpay))
    );
    for (what, allowance) in [
        (
            format!("{} extra bare ECDSA signs + verifies", 2 * IN_FLIGHT),
            extra,
        ),
        (
            format!(
                "{} extra HTLC transactions built, BIP 143 digests signed + verified",
                2 * IN_FLIGHT
            ),
            extra_work,
        ),
        (
            format!(
                "the same plus the {IN_FLIGHT} extra outputs in the round's 4 commitment builds ({:.3} ms)",
                ms(extra_outputs)
            ),
            extra_work + extra_outputs,
        ),
    ] {
        let beyond = t483.saturating_sub(allowance);
        eprintln!(
            "  allowance, {what}: {:.3} ms; beyond it: {:.3} ms, ratio to 0 in flight {:.2} (bound 2)",
            ms(allowance),
            ms(beyond),
            beyond.as_secs_f64() / t0.as_secs_f64()
        );
    }

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
    group.bench_function("extra_htlc_signature_work_483", |b| {
        b.iter(|| work.run(IN_FLIGHT))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = per_message
}
criterion_main!(benches);
