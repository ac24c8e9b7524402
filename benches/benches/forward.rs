//! Forwards per second through one forwarding node (issue 19).
//!
//! Three whole `Node`s in one process, A - B - C (`support/line.rs`), a
//! 10M sat channel on each link with 5M sat on each side. A pays an
//! invoice of C's through B over an explicit route (B's fee and CLTV delta
//! as its configuration announces), then C pays one of A's back through B,
//! and so on (so the balances never run out; B's work is the same either
//! way). Every message goes through the peer layer and its Noise
//! encryption; A and C persist to `MemoryStore`s, B inline to a
//! `MemoryStore` or an `FsStore` (under `LN_BENCH_DIR`, or beside the
//! target directory).
//!
//! What is timed is B alone: every call into B's `Node` (`handle_bytes`,
//! `poll_transmit`, `poll_event` and its acknowledging `None`, and the
//! timer check) is timed, A's and C's calls are not. Before the rows it
//! prints, per forward, B's durable operations and bytes, its wire bytes,
//! and the whole A -> B -> C payment's time with B's share of it.
//!
//! The floor of one forward, counted from the BOLTs and computed on dummy
//! data in the same run (`support/floor.rs`):
//! - one onion peel (BOLT 4): parsing the ephemeral key, one ECDH, the
//!   `rho` and `mu` keys (two HMACs), the HMAC over the 1300 bytes and the
//!   payment hash, the `rho` ChaCha20 stream over the 1300 bytes and the 54
//!   its payload shifts in, and the blinding of the ephemeral key for the
//!   next hop (one SHA-256, one point multiplication);
//! - the two commitment dances (add, fulfill) on each of B's two channels
//!   (BOLT 2/3): B does one end of every commitment, signing on one
//!   channel what it verifies on the other, which adds up to the work of
//!   both ends of one channel's payment: one `Floor::round_trip` (four
//!   commitments, two with the HTLC: key derivations, 6 signatures, 6
//!   verifications, 4 revocations made and 4 checked);
//! - the check of the preimage C returns against the payment hash (BOLT 2,
//!   `update_fulfill_htlc`: one SHA-256);
//! - the Noise transport (BOLT 8) of B's messages: B seals the ten
//!   messages it sends (five on each channel) and opens the ten it
//!   receives, and either ten are one payment's messages (`update_add_htlc`,
//!   four `commitment_signed`, four `revoke_and_ack`,
//!   `update_fulfill_htlc`) at their BOLT 2 sizes, so the floor seals and
//!   opens each of those once, its 2-byte length and its body (the audit
//!   line prints B's bytes on the wire beside the BOLT 2 count: they
//!   agree);
//! - with `FsStore`, in addition, one plain write + `fsync` of the bytes of
//!   B's average durable operation per *required* durable operation of B
//!   (`REQUIRED_FORWARD_OPS`).
//!
//! Lines printed: `forwards/s: memory_store ...` and `forwards/s: fs_store
//! ...`, each measured in alternation with its floor. Group `forward`
//! (throughput: one forward): `memory_store` and `fs_store` (B's time
//! only), `crypto_floor`, `floor_crypto_and_fsync`, and
//! `whole_payment_memory_store` (the A -> B -> C payment, all three nodes).
//! Issue 19's goal: at most 1.4x the floor in memory.
//!
//! `cargo bench -p lightning-benches --bench forward -- --warm-up-time 1 --measurement-time 3`

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use criterion::{criterion_group, Criterion, Throughput};
use lightning_persist::{FsStore, KvStore, MemoryStore};

#[path = "support/node.rs"]
#[allow(dead_code)]
mod node_support;

#[path = "support/line.rs"]
mod line_support;
use line_support::{Line, B};

#[path = "support/floor.rs"]
mod floor_support;
use floor_support::{Floor, NoiseFloor, OnionFloor, NOISE_OVERHEAD, PAYMENT_MESSAGES};

/// The payment at C (or A): 10,000 sat, well above dust.
const AMOUNT_MSAT: u64 = 10_000_000;

/// Required durable operations of B per forward: one per read that
/// changes its channels' state, each durable before what answers it
/// leaves. On the incoming channel: `update_add_htlc`+`commitment_signed`
/// (before B's `revoke_and_ack`), `revoke_and_ack` (the HTLC irrevocably
/// committed; the forward decision, recorded with the outgoing offer,
/// before the outgoing `update_add_htlc`), and after the fulfill
/// `revoke_and_ack`+`commitment_signed` (before B's `revoke_and_ack`). On
/// the outgoing channel: `revoke_and_ack`+`commitment_signed` (before B's
/// `revoke_and_ack`), `update_fulfill_htlc`+`commitment_signed` (the
/// preimage, before B's `revoke_and_ack` and the fulfill upstream), and
/// the last `revoke_and_ack`. The acknowledgement of `PaymentForwarded`
/// is not counted (an event is not channel state): B makes it as a
/// seventh durable operation (`payment.rs` counts its node payment's
/// acknowledgements among the required operations; this floor is the
/// lower one).
const REQUIRED_FORWARD_OPS: usize = 6;

/// The crypto floor of one forward at B.
struct ForwardFloor {
    channel: Floor,
    onion: OnionFloor,
    noise: NoiseFloor,
    preimage: [u8; 32],
    hash: sha256::Hash,
}

impl ForwardFloor {
    fn new() -> Self {
        ForwardFloor {
            channel: Floor::new(),
            onion: OnionFloor::new(),
            noise: NoiseFloor::new(&PAYMENT_MESSAGES),
            preimage: [0x63; 32],
            hash: sha256::Hash::hash(&[0x63; 32]),
        }
    }

    fn run(&mut self, n: u64) -> usize {
        self.channel.round_trip(n % 1000)
            + usize::from(self.onion.peel_forward())
            + usize::from(self.noise.round_trip())
            + usize::from(sha256::Hash::hash(std::hint::black_box(&self.preimage)) == self.hash)
    }

    /// Prints what each part of the floor costs (mean of `n` runs).
    fn print_parts(&mut self, n: u32) {
        let time = |f: &mut dyn FnMut() -> usize| {
            let start = Instant::now();
            let mut acc = 0usize;
            for _ in 0..n {
                acc = acc.wrapping_add(std::hint::black_box(f()));
            }
            std::hint::black_box(acc);
            start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        };
        let mut k = 0u64;
        let channel = time(&mut || {
            k += 1;
            self.channel.round_trip(k % 1000)
        });
        let peel = time(&mut || usize::from(self.onion.peel_forward()));
        let noise = time(&mut || usize::from(self.noise.round_trip()));
        eprintln!(
            "forward crypto floor, by part: commitment dances on both channels {channel:.1} us, onion peel {peel:.1} us, Noise ({} messages in, {} out, {} body bytes each way) {noise:.1} us; total {:.1} us",
            PAYMENT_MESSAGES.len(),
            PAYMENT_MESSAGES.len(),
            PAYMENT_MESSAGES.iter().sum::<usize>(),
            channel + peel + noise
        );
    }
}

/// A temporary directory for B's `FsStore`: beside the target directory,
/// or under `LN_BENCH_DIR`.
fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var("LN_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    tempfile::tempdir_in(base).expect("temporary directory")
}

fn open(b: Arc<dyn KvStore>) -> Line {
    Line::open(
        [
            Arc::new(MemoryStore::new()),
            b,
            Arc::new(MemoryStore::new()),
        ],
        AMOUNT_MSAT,
    )
}

/// Forward `n` (its direction by parity); B's time for it.
fn forward(line: &mut Line, n: u64) -> Duration {
    let before = line.b_time;
    line.pay(n.is_multiple_of(2));
    line.b_time - before
}

/// Prints B's durable operations, records and bytes, its wire bytes, and
/// its share of the whole payment's time over 64 forwards; returns
/// (operations per forward, bytes per operation).
fn audit(name: &str, line: &mut Line, next: &mut u64) -> (f64, f64) {
    const N: u64 = 64;
    let store = line.members[B].store.totals();
    let wire = line.members[B].wire_bytes;
    let b_time = line.b_time;
    let start = Instant::now();
    for _ in 0..N {
        *next += 1;
        line.pay(next.is_multiple_of(2));
    }
    let whole = start.elapsed();
    let b = line.b_time - b_time;
    let end = line.members[B].store.totals();
    let per = |a: u64, b: u64| (b - a) as f64 / N as f64;
    let (ops, records, bytes) = (
        per(store.0, end.0),
        per(store.1, end.1),
        per(store.2, end.2),
    );
    eprintln!(
        "{name}: B per forward over {N} forwards: {ops:.2} durable operations ({records:.2} records, {bytes:.0} bytes, {:.0} per operation), {:.0} bytes on the wire in and out (BOLT 2 count: {}); whole A -> B -> C payment {:.1} us, B {:.1} us ({:.0}%)",
        bytes / ops,
        per(wire, line.members[B].wire_bytes),
        2 * PAYMENT_MESSAGES
            .iter()
            .map(|m| m + NOISE_OVERHEAD)
            .sum::<usize>(),
        whole.as_secs_f64() * 1e6 / N as f64,
        b.as_secs_f64() * 1e6 / N as f64,
        100.0 * b.as_secs_f64() / whole.as_secs_f64()
    );
    (ops, bytes / ops)
}

/// One plain write + fsync of `value` at offset 0 of `file`.
fn write_fsync(file: &mut File, value: &[u8]) {
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.write_all(value).expect("write");
    file.sync_all().expect("fsync");
}

fn rate_line(name: &str, ours: Duration, floor: Duration, pairs: u32, floor_label: &str) {
    let us = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(pairs);
    eprintln!(
        "forwards/s: {name} {:.0}/s ({:.1} us per forward), floor{floor_label} {:.0}/s ({:.1} us): {:.2}x the floor ({pairs} pairs)",
        1e6 / us(ours),
        us(ours),
        1e6 / us(floor),
        us(floor),
        ours.as_secs_f64() / floor.as_secs_f64()
    );
}

fn forwards(c: &mut Criterion) {
    let dir = bench_dir();
    let mut memory = open(Arc::new(MemoryStore::new()));
    let fs_b: Arc<dyn KvStore> =
        Arc::new(FsStore::open(dir.path().join("node-b"), "bench-b").expect("fs store b"));
    let mut fs = open(fs_b);
    let mut next = 0u64;
    audit("MemoryStore", &mut memory, &mut next);
    let (ops, op_bytes) = audit("FsStore", &mut fs, &mut next);
    eprintln!(
        "required durable operations of B per forward: {REQUIRED_FORWARD_OPS} (made: {ops:.2})"
    );
    let mut floor = ForwardFloor::new();
    floor.print_parts(200);

    // Paired: B's time in memory and the crypto floor, in turn.
    const PAIRS: u32 = 200;
    let (mut ours, mut floor_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..PAIRS {
        next += 1;
        let start = Instant::now();
        std::hint::black_box(floor.run(next));
        floor_time += start.elapsed();
        ours += forward(&mut memory, next);
    }
    rate_line("memory_store", ours, floor_time, PAIRS, "");

    // Paired: B's time over FsStore and the floor with B's required fsyncs.
    let value = vec![0xa5u8; op_bytes.round() as usize];
    let mut file = File::create(dir.path().join("forward-floor")).expect("floor file");
    const FS_PAIRS: u32 = 40;
    let (mut ours, mut floor_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..FS_PAIRS {
        next += 1;
        let start = Instant::now();
        std::hint::black_box(floor.run(next));
        for _ in 0..REQUIRED_FORWARD_OPS {
            write_fsync(&mut file, &value);
        }
        floor_time += start.elapsed();
        ours += forward(&mut fs, next);
    }
    rate_line(
        "fs_store",
        ours,
        floor_time,
        FS_PAIRS,
        &format!(
            " (crypto + {REQUIRED_FORWARD_OPS} x write+fsync of {} bytes)",
            value.len()
        ),
    );

    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memory_store", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                next += 1;
                t += forward(&mut memory, next);
            }
            t
        })
    });
    let mut k = 0u64;
    group.bench_function("crypto_floor", |b| {
        b.iter(|| {
            k += 1;
            floor.run(k)
        })
    });
    group.bench_function("fs_store", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                next += 1;
                t += forward(&mut fs, next);
            }
            t
        })
    });
    group.bench_function("floor_crypto_and_fsync", |b| {
        b.iter(|| {
            k += 1;
            for _ in 0..REQUIRED_FORWARD_OPS {
                write_fsync(&mut file, &value);
            }
            floor.run(k)
        })
    });
    group.bench_function("whole_payment_memory_store", |b| {
        b.iter(|| {
            next += 1;
            memory.pay(next.is_multiple_of(2));
        })
    });
    group.finish();
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}

criterion_group!(benches, forwards);
