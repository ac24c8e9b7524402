//! One payment's full round trip between two in-memory channel endpoints
//! (`lightning_test_support::pair`): `update_add_htlc`, the
//! `commitment_signed`/`revoke_and_ack` dance both ways, then
//! `update_fulfill_htlc` and its dance. Messages one side sent before the
//! other reads arrive together, as one socket read brings them
//! (`Channel::handle_messages`). Every `ChannelWrite` goes through
//! the endpoint's `KvStore` inline, before the messages of the same output
//! are delivered (obsolete keys removed): once with `MemoryStore`, once with
//! `FsStore` (one directory per endpoint).
//!
//! The floor, in the same run: the secp256k1 and SHA-256 work the protocol
//! needs for one round trip, on dummy data, counted from BOLT 2/3 (see
//! `Floor`), and for `FsStore` in addition one plain file write + `fsync` of
//! the same size per *required* durable write (one per received
//! `commitment_signed` or `revoke_and_ack`).
//!
//! Before the timed runs it prints, per step of one payment, the durable
//! writes and bytes each endpoint made.
//!
//! Group `node_payment_round_trip`: the same payment between two whole
//! `Node`s (`support/node.rs`: invoice, onion, `pay_invoice`, every
//! message through the peer layer and its encryption, both sides' events
//! taken and acknowledged), each persisting inline to its own store, one
//! `KvStore::write_batch` per step that changed state. Rows: `memory_store`;
//! `floor_memory_and_fsync`, the floor: the `MemoryStore` round trip (all
//! the computation, crypto included) plus one plain write + `fsync` of the
//! bytes of an average durable operation per *required* one (one per step
//! that changes state, ten over both sides: `REQUIRED_NODE_OPS`);
//! `fs_store`. Before the rows it prints the durable
//! operations, records and bytes per payment, and a paired measurement
//! (`paired node payment`: `fs_store` and its floor in alternation, so the
//! machine's IO load weighs on both alike) with the ratio (issue 22: goal
//! at most 1.3x). Row `ldk_filesystem_store`: the same payment between two
//! LDK 0.2 nodes in this process, each persisting to LDK's own
//! `FilesystemStore` (`support/ldk.rs`), with a paired measurement against
//! `fs_store` (`paired node payment vs LDK`; issue 22: goal ours at least 4x
//! faster).
//!
//! Issue 19, in the same group, all in memory: row `crypto_floor`, the
//! cryptographic floor of one whole-node payment round trip (`NodeFloor`,
//! dummy data, plain primitives; `support/floor.rs`): the channel's two
//! commitment dances as `Floor` counts them above; the payer's one-hop
//! onion (BOLT 4: the session key's public key, one ECDH, the `pad`, `rho`
//! and `mu` keys, 1300 bytes of `pad` stream, the `rho` stream over the
//! 1300 bytes, the packet HMAC; one hop needs no filler and no blinding)
//! and the payee's peel as the final hop (parse the ephemeral key, one
//! ECDH, `rho` and `mu`, the HMAC check over the 1300 bytes, and the
//! decryption of its payload and the zero next HMAC only); the invoice
//! (BOLT 11: SHA-256 of the signed bytes of a real invoice of ours, one
//! recoverable signature, SHA-256 of the preimage by the payee and again
//! by the payer on the fulfill; no recovery of the payee's key, as the
//! payer is handed the invoice object `create_invoice` made, not its text,
//! ours and LDK's alike); and the Noise transport (BOLT 8) of the
//! payment's ten messages at their BOLT 2 sizes (`update_add_htlc`, four
//! `commitment_signed`, four `revoke_and_ack`, `update_fulfill_htlc`: 2450
//! bytes), each sealed once and opened once, its 2-byte length and its
//! body. The audit line prints the bytes the pair moved per payment beside
//! the BOLT 2 count (body + 34 per message): they agree, so no other
//! message is sent. Before the rows, the floor's parts are timed, then
//! `node payment in memory` pairs `memory_store` with `crypto_floor`
//! (goal at most 1.3x). Row `ldk_memory_store`: the LDK pair persisting to
//! an in-memory `KVStoreSync` (`support/ldk.rs`, `MemoryKvStore`), paired
//! with `memory_store` (`paired node payment in memory vs LDK`; goal ours
//! at least 2x faster).
//!
//! `cargo bench -p lightning-benches --bench payment -- --warm-up-time 1 --measurement-time 3`

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use lightning_core::Msat;
use lightning_persist::{FsStore, KvStore, MemoryStore};
use lightning_test_support::pair::{open_with_stores, preimage, OpenOptions, Pair, ONION};

#[path = "support/node.rs"]
mod node_support;
use node_support::NodePair;

#[path = "support/ldk.rs"]
mod ldk_support;
use ldk_support::LdkPair;

#[path = "support/floor.rs"]
mod floor_support;
use floor_support::{
    Floor, InvoiceFloor, NoiseFloor, OnionFloor, NOISE_OVERHEAD, PAYMENT_MESSAGES,
};

/// A 10M sat channel, 4M on each side after the push; the payment is 50,000
/// sat, well above dust, so both commitments of the add carry its output.
const AMOUNT_MSAT: u64 = 50_000_000;

fn options() -> OpenOptions {
    OpenOptions::default()
}

/// Delivers everything one side has sent as one batch.
fn deliver(pair: &mut Pair, from_a: bool) {
    let r = if from_a {
        pair.deliver_all_a_to_b()
    } else {
        pair.deliver_all_b_to_a()
    };
    r.expect("honest delivery");
}

/// Payment `n`: A -> B when `n` is even, B -> A when odd (the endpoints
/// swap roles, so balances never run out).
fn pay(pair: &mut Pair, n: u64, step: impl FnMut(&str, &Pair)) {
    if n % 2 == 1 {
        std::mem::swap(&mut pair.a, &mut pair.b);
    }
    pay_a_to_b(pair, n, step);
    if n % 2 == 1 {
        std::mem::swap(&mut pair.a, &mut pair.b);
    }
}

/// One payment from `pair.a` to `pair.b`, step by step; `step(label,
/// pair)` runs after each input. What one side sent since the other last
/// read arrives as one batch, as one socket read would bring it
/// ([`Channel::handle_messages`](lightning_core::channel::Channel::handle_messages)).
fn pay_a_to_b(pair: &mut Pair, n: u64, mut step: impl FnMut(&str, &Pair)) {
    let (_, hash) = preimage(n);
    let (id, out) = pair
        .a
        .ch
        .send_htlc(AMOUNT_MSAT, hash, 700_000, ONION.to_vec())
        .expect("send_htlc");
    pair.a.apply(out);
    step("A send_htlc (update_add_htlc)", pair);
    let out = pair.a.ch.commit().expect("commit");
    pair.a.apply(out);
    step("A commit (commitment_signed)", pair);
    deliver(pair, true);
    step(
        "B receives update_add_htlc, commitment_signed (sends revoke_and_ack, commitment_signed)",
        pair,
    );
    deliver(pair, false);
    step(
        "A receives revoke_and_ack, commitment_signed (sends revoke_and_ack)",
        pair,
    );
    deliver(pair, true);
    step("B receives revoke_and_ack (HtlcReceived)", pair);
    let out = pair
        .b
        .ch
        .fulfill_htlc(id, preimage(n).0)
        .expect("fulfill_htlc");
    pair.b.apply(out);
    step("B fulfill_htlc (update_fulfill_htlc)", pair);
    let out = pair.b.ch.commit().expect("commit");
    pair.b.apply(out);
    step("B commit (commitment_signed)", pair);
    deliver(pair, false);
    step(
        "A receives update_fulfill_htlc, commitment_signed (sends revoke_and_ack, commitment_signed)",
        pair,
    );
    deliver(pair, true);
    step(
        "B receives revoke_and_ack, commitment_signed (sends revoke_and_ack)",
        pair,
    );
    deliver(pair, false);
    step("A receives revoke_and_ack", pair);
    assert!(pair.a.outbox.is_empty() && pair.b.outbox.is_empty());
    pair.a.events.clear();
    pair.b.events.clear();
}

fn total_writes(pair: &Pair) -> (u64, u64, u64) {
    let (a, b) = (pair.a.stats, pair.b.stats);
    (
        a.writes + b.writes,
        a.bytes + b.bytes,
        a.removes + b.removes,
    )
}

/// Prints the writes of one payment, step by step, and the average over
/// 256 payments (which includes the periodic snapshot).
fn audit(name: &str, pair: &mut Pair, next: &mut u64) -> f64 {
    eprintln!("\n{name}: durable writes of one payment, by step");
    let mut last = total_writes(pair);
    *next += 2 - *next % 2;
    pay(pair, *next, |label, p| {
        let now = total_writes(p);
        if now.0 != last.0 || now.2 != last.2 {
            eprintln!(
                "  {label}: {} write(s), {} bytes, {} removal(s)",
                now.0 - last.0,
                now.1 - last.1,
                now.2 - last.2
            );
        }
        last = now;
    });
    let start = total_writes(pair);
    const N: u64 = 256;
    for _ in 0..N {
        *next += 1;
        pay(pair, *next, |_, _| {});
    }
    let end = total_writes(pair);
    let per = |a: u64, b: u64| (b - a) as f64 / N as f64;
    let bytes = per(start.1, end.1);
    eprintln!(
        "  over {N} payments: {:.2} writes/payment, {:.0} bytes/payment, {:.2} removals/payment, {:.0} bytes/write (snapshot every {} records)",
        per(start.0, end.0),
        bytes,
        per(start.2, end.2),
        bytes / per(start.0, end.0),
        pair.a.config.snapshot_every
    );
    bytes / per(start.0, end.0)
}

/// Required durable writes per payment: one per received
/// `commitment_signed` or `revoke_and_ack` (four of each).
const REQUIRED_WRITES: usize = 8;

fn fs_pair(dir: &std::path::Path) -> Pair {
    let a: Arc<dyn KvStore> =
        Arc::new(FsStore::open(dir.join("a"), "bench-a").expect("fs store a"));
    let b: Arc<dyn KvStore> =
        Arc::new(FsStore::open(dir.join("b"), "bench-b").expect("fs store b"));
    open_with_stores(options(), a, b)
}

fn payment(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut next = 0u64;
    let mut memory = open_with_stores(
        options(),
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryStore::new()),
    );
    audit("MemoryStore", &mut memory, &mut next);
    let mut fs = fs_pair(dir.path());
    let write_size = audit("FsStore", &mut fs, &mut next);

    let mut group = c.benchmark_group("payment_round_trip");
    group.throughput(Throughput::Elements(1));
    let floor = Floor::new();
    let mut k = 0u64;
    group.bench_function("floor_crypto", |b| {
        b.iter(|| {
            k += 1;
            floor.round_trip(k % 1000)
        })
    });
    group.bench_function("memory_store", |b| {
        b.iter(|| {
            next += 1;
            pay(&mut memory, next, |_, _| {});
        })
    });
    let mut file = File::create(dir.path().join("floor")).expect("floor file");
    let value = vec![0xa5u8; write_size.round() as usize];
    group.bench_function("floor_crypto_and_fsync", |b| {
        b.iter(|| {
            k += 1;
            for _ in 0..REQUIRED_WRITES {
                file.seek(SeekFrom::Start(0)).expect("seek");
                file.write_all(&value).expect("write");
                file.sync_all().expect("fsync");
            }
            floor.round_trip(k % 1000)
        })
    });
    group.bench_function("fs_store", |b| {
        b.iter(|| {
            next += 1;
            pay(&mut fs, next, |_, _| {});
        })
    });
    group.finish();
}

/// Required durable operations per node payment, both sides: one per step
/// that changes state, five per side. The payee: `create_invoice`, the
/// reads that bring `update_add_htlc`+`commitment_signed`, then
/// `revoke_and_ack` (it fulfills), then `revoke_and_ack`+`commitment_signed`,
/// and the `poll_event` that acknowledges `PaymentReceived`. The payer:
/// `pay_invoice`, the reads that bring `revoke_and_ack`+`commitment_signed`,
/// then `update_fulfill_htlc`+`commitment_signed`, then `revoke_and_ack`,
/// and the acknowledgement of `PaymentSent`. Each must be durable before
/// what it answers leaves (or, for the acknowledgements, before the event
/// counts as handled).
const REQUIRED_NODE_OPS: usize = 10;

/// The node-level payment amount: 10,000 sat, alternating directions.
const NODE_AMOUNT_MSAT: u64 = 10_000_000;

/// Prints the durable operations, records and bytes per node payment over
/// 64 payments (both sides), and the bytes on the wire; returns
/// (operations, bytes per operation).
fn node_audit(name: &str, pair: &mut NodePair, next: &mut u64) -> (f64, f64) {
    const N: u64 = 64;
    let start = pair.totals();
    let wire = pair.wire_bytes;
    for _ in 0..N {
        *next += 1;
        pair.pay((*next).is_multiple_of(2), NODE_AMOUNT_MSAT);
    }
    let end = pair.totals();
    let per = |a: u64, b: u64| (b - a) as f64 / N as f64;
    let (ops, records, bytes) = (
        per(start.0, end.0),
        per(start.1, end.1),
        per(start.2, end.2),
    );
    eprintln!(
        "{name} node payment, both sides, over {N} payments: {ops:.2} durable operations/payment, {records:.2} records/payment ({:.2} per operation), {bytes:.0} bytes/payment ({:.0} per operation), {:.0} bytes/payment on the wire (BOLT 2 count: {})",
        records / ops,
        bytes / ops,
        per(wire, pair.wire_bytes),
        bolt2_wire_bytes()
    );
    (ops, bytes / ops)
}

/// The Noise frames of one payment's ten messages at their BOLT 2 sizes.
fn bolt2_wire_bytes() -> usize {
    PAYMENT_MESSAGES.iter().map(|m| m + NOISE_OVERHEAD).sum()
}

/// The crypto floor of one whole-node payment round trip (issue 19), on
/// dummy data: the channel's two commitment dances ([`Floor`]), the
/// payer's one-hop onion and the payee's peel ([`OnionFloor`]), the
/// invoice's signature and the preimage checks ([`InvoiceFloor`], no
/// recovery: the payer is handed the invoice object, as LDK's is), and the
/// Noise sealing and opening of the payment's ten messages at their BOLT 2
/// sizes ([`NoiseFloor`]).
struct NodeFloor {
    channel: Floor,
    onion: OnionFloor,
    invoice: InvoiceFloor,
    noise: NoiseFloor,
}

impl NodeFloor {
    fn new(invoice_signed_len: usize) -> Self {
        NodeFloor {
            channel: Floor::new(),
            onion: OnionFloor::new(),
            invoice: InvoiceFloor::new(invoice_signed_len, false),
            noise: NoiseFloor::new(&PAYMENT_MESSAGES),
        }
    }

    fn run(&mut self, n: u64) -> usize {
        self.channel.round_trip(n % 1000)
            + usize::from(self.onion.build_one_hop())
            + usize::from(self.onion.peel_final())
            + usize::from(self.invoice.round_trip())
            + usize::from(self.noise.round_trip())
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
        let build = time(&mut || usize::from(self.onion.build_one_hop()));
        let peel = time(&mut || usize::from(self.onion.peel_final()));
        let invoice = time(&mut || usize::from(self.invoice.round_trip()));
        let noise = time(&mut || usize::from(self.noise.round_trip()));
        eprintln!(
            "node payment crypto floor, by part: commitment dances {channel:.1} us, onion build {build:.1} us, onion peel {peel:.1} us, invoice {invoice:.1} us, Noise ({} messages, {} bytes) {noise:.1} us; total {:.1} us",
            PAYMENT_MESSAGES.len(),
            PAYMENT_MESSAGES.iter().sum::<usize>(),
            channel + build + peel + invoice + noise
        );
    }
}

/// The bytes a real invoice's signature covers (BOLT 11: the human
/// readable part and the data before the signature, 5-bit groups packed
/// into bytes), from one invoice of the payee's.
fn invoice_signed_len(pair: &mut NodePair) -> usize {
    let invoice = pair
        .b
        .node
        .create_invoice(
            Some(Msat(NODE_AMOUNT_MSAT)),
            "bench",
            Duration::from_secs(3600),
            pair.now,
        )
        .expect("invoice");
    let hrp = invoice.hrp().len();
    // After the hrp: the separator '1', the data, 104 characters of
    // signature and 6 of checksum.
    let data = invoice.to_string().len() - hrp - 1 - 104 - 6;
    hrp + (data * 5).div_ceil(8)
}

/// A temporary directory for the stores: beside the target directory, or
/// under `LN_BENCH_DIR` (a tmpfs such as /dev/shm leaves only the CPU and
/// syscall cost of persisting).
fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var("LN_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    tempfile::tempdir_in(base).expect("temporary directory")
}

/// One plain write + fsync of `value` at offset 0 of `file`.
fn write_fsync(file: &mut File, value: &[u8]) {
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.write_all(value).expect("write");
    file.sync_all().expect("fsync");
}

fn node_payment(c: &mut Criterion) {
    let dir = bench_dir();
    let mut memory = NodePair::open(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
    let fs_a: Arc<dyn KvStore> =
        Arc::new(FsStore::open(dir.path().join("node-a"), "bench-a").expect("fs store a"));
    let fs_b: Arc<dyn KvStore> =
        Arc::new(FsStore::open(dir.path().join("node-b"), "bench-b").expect("fs store b"));
    let mut fs = NodePair::open(fs_a, fs_b);
    let mut next = 0u64;
    node_audit("MemoryStore", &mut memory, &mut next);
    let (ops, op_bytes) = node_audit("FsStore", &mut fs, &mut next);
    eprintln!("required durable operations per node payment: {REQUIRED_NODE_OPS} (made: {ops:.2})");
    let fsyncs = REQUIRED_NODE_OPS;
    let value = vec![0xa5u8; op_bytes.round() as usize];
    let mut file = File::create(dir.path().join("node-floor")).expect("floor file");

    // Paired: fs_store and its floor in turn.
    const PAIRS: u32 = 40;
    let (mut fs_time, mut floor_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..PAIRS {
        next += 1;
        let start = Instant::now();
        memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        for _ in 0..fsyncs {
            write_fsync(&mut file, &value);
        }
        floor_time += start.elapsed();
        let start = Instant::now();
        fs.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        fs_time += start.elapsed();
    }
    eprintln!(
        "paired node payment: fs_store {:.2} ms, floor (memory_store + {fsyncs} x write+fsync of {} bytes) {:.2} ms per payment: {:.2}x the floor ({PAIRS} pairs)",
        fs_time.as_secs_f64() * 1e3 / f64::from(PAIRS),
        value.len(),
        floor_time.as_secs_f64() * 1e3 / f64::from(PAIRS),
        fs_time.as_secs_f64() / floor_time.as_secs_f64()
    );

    // LDK, persisting to its FilesystemStore, paired with ours the same way.
    let mut ldk = LdkPair::open(dir.path());
    let ldk_start = ldk.totals();
    for _ in 0..16 {
        next += 1;
        ldk.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
    }
    let ldk_end = ldk.totals();
    eprintln!(
        "LDK FilesystemStore node payment, both sides, over 16 payments: {:.2} store writes/payment, {:.0} bytes/payment",
        (ldk_end.0 - ldk_start.0) as f64 / 16.0,
        (ldk_end.1 - ldk_start.1) as f64 / 16.0
    );
    let (mut ldk_time, mut ours_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..PAIRS {
        next += 1;
        let start = Instant::now();
        ldk.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        ldk_time += start.elapsed();
        let start = Instant::now();
        fs.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        ours_time += start.elapsed();
    }
    eprintln!(
        "paired node payment vs LDK: ldk_filesystem_store {:.2} ms, fs_store {:.2} ms per payment: ours {:.2}x faster ({PAIRS} pairs)",
        ldk_time.as_secs_f64() * 1e3 / f64::from(PAIRS),
        ours_time.as_secs_f64() * 1e3 / f64::from(PAIRS),
        ldk_time.as_secs_f64() / ours_time.as_secs_f64()
    );

    // Issue 19: in memory, against the crypto floor and LDK in memory,
    // each paired the same way.
    let signed_len = invoice_signed_len(&mut memory);
    let mut node_floor = NodeFloor::new(signed_len);
    node_floor.print_parts(200);
    const MEMORY_PAIRS: u32 = 100;
    let (mut ours_time, mut floor_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..MEMORY_PAIRS {
        next += 1;
        let start = Instant::now();
        std::hint::black_box(node_floor.run(next));
        floor_time += start.elapsed();
        let start = Instant::now();
        memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        ours_time += start.elapsed();
    }
    eprintln!(
        "node payment in memory: memory_store {:.3} ms, crypto floor {:.3} ms per payment: {:.2}x the floor ({MEMORY_PAIRS} pairs; invoice signs {signed_len} bytes)",
        ours_time.as_secs_f64() * 1e3 / f64::from(MEMORY_PAIRS),
        floor_time.as_secs_f64() * 1e3 / f64::from(MEMORY_PAIRS),
        ours_time.as_secs_f64() / floor_time.as_secs_f64()
    );
    let mut ldk_memory = LdkPair::open_in_memory();
    let ldk_start = ldk_memory.totals();
    for _ in 0..16 {
        next += 1;
        ldk_memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
    }
    let ldk_end = ldk_memory.totals();
    eprintln!(
        "LDK in-memory KVStoreSync node payment, both sides, over 16 payments: {:.2} store writes/payment, {:.0} bytes/payment",
        (ldk_end.0 - ldk_start.0) as f64 / 16.0,
        (ldk_end.1 - ldk_start.1) as f64 / 16.0
    );
    let (mut ldk_time, mut ours_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..PAIRS {
        next += 1;
        let start = Instant::now();
        ldk_memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        ldk_time += start.elapsed();
        let start = Instant::now();
        memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        ours_time += start.elapsed();
    }
    eprintln!(
        "paired node payment in memory vs LDK: ldk_memory_store {:.3} ms, memory_store {:.3} ms per payment: ours {:.2}x faster ({PAIRS} pairs)",
        ldk_time.as_secs_f64() * 1e3 / f64::from(PAIRS),
        ours_time.as_secs_f64() * 1e3 / f64::from(PAIRS),
        ldk_time.as_secs_f64() / ours_time.as_secs_f64()
    );

    let mut group = c.benchmark_group("node_payment_round_trip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memory_store", |b| {
        b.iter(|| {
            next += 1;
            memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        })
    });
    let mut k = 0u64;
    group.bench_function("crypto_floor", |b| {
        b.iter(|| {
            k += 1;
            node_floor.run(k)
        })
    });
    group.bench_function("ldk_memory_store", |b| {
        b.iter(|| {
            next += 1;
            ldk_memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        })
    });
    group.bench_function("floor_memory_and_fsync", |b| {
        b.iter(|| {
            next += 1;
            memory.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
            for _ in 0..fsyncs {
                write_fsync(&mut file, &value);
            }
        })
    });
    group.bench_function("fs_store", |b| {
        b.iter(|| {
            next += 1;
            fs.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        })
    });
    group.bench_function("ldk_filesystem_store", |b| {
        b.iter(|| {
            next += 1;
            ldk.pay(next.is_multiple_of(2), NODE_AMOUNT_MSAT);
        })
    });
    group.finish();
}

/// `LN_BENCH_STRACE=<n>`: opens the `FsStore` node pair, makes `n`
/// payments and exits (no criterion), printing the payments' window on
/// stderr, so that `strace -f -c` counts the syscalls of `n` payments
/// (less the opening's, measured with `n = 0`). `LN_BENCH_STRACE_LDK=<n>`
/// does the same with the LDK pair.
fn strace_run() -> bool {
    if let Some(n) = std::env::var("LN_BENCH_STRACE_LDK")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let dir = bench_dir();
        let mut ldk = LdkPair::open(dir.path());
        let start = ldk.totals();
        eprintln!("strace run: LDK pair open");
        for i in 0..n {
            ldk.pay(i.is_multiple_of(2), NODE_AMOUNT_MSAT);
        }
        let end = ldk.totals();
        eprintln!(
            "strace run: {n} LDK node payments over FilesystemStore, {} store writes (both sides)",
            end.0 - start.0
        );
        return true;
    }
    let Some(n) = std::env::var("LN_BENCH_STRACE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return false;
    };
    let dir = bench_dir();
    let fs_a: Arc<dyn KvStore> =
        Arc::new(FsStore::open(dir.path().join("node-a"), "bench-a").expect("fs store a"));
    let fs_b: Arc<dyn KvStore> =
        Arc::new(FsStore::open(dir.path().join("node-b"), "bench-b").expect("fs store b"));
    let mut fs = NodePair::open(fs_a, fs_b);
    let start = fs.totals();
    for i in 0..n {
        fs.pay(i.is_multiple_of(2), NODE_AMOUNT_MSAT);
    }
    let end = fs.totals();
    eprintln!(
        "strace run: {n} node payments over FsStore, {} durable operations (both sides)",
        end.0 - start.0
    );
    true
}

fn main() {
    if strace_run() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

criterion_group!(benches, payment, node_payment);
