//! Two channel endpoints driven by the input: the funder A and the fundee
//! B (fixed seeds) of an opened channel, each writing its record to a
//! memory `KvStore` before its messages leave.
//!
//! The input is read as a sequence of operations
//! ([`lightning_test_support::sim::Op`]): HTLC offers either way, fulfill,
//! fail, fail_malformed, update_fee, commit, delivery of the next message
//! A->B or B->A (each direction FIFO, the two interleaved freely, as BOLT 2
//! allows), reconnection with `channel_reestablish`, a restart of either
//! side from its stored record (losing the messages written but not sent),
//! a crash after handling a message and before its write, a check of full
//! agreement once quiet, and, as deliberate misbehaviour, a corrupted
//! message. The simulator asserts the invariants: value conserved on each
//! side; no HTLC received or settled twice, none lost; both sides agree on
//! every commitment once quiet; an honest side never errors except by
//! refusing a host call; every error is a typed `ChannelError` whose action
//! matches the message it gives the peer; at the end everything settles and
//! each balance moved by exactly the fulfilled amounts.

use lightning_test_support::pair::{open, OpenOptions, TxVerifier};
use lightning_test_support::sim::{encode_ops, random_ops, Op, Sim};

/// Inputs longer than this are cut: each operation may sign, so this keeps
/// one execution in the tens of milliseconds.
pub const MAX_INPUT: usize = 2048;

/// The options of the fuzzed channel: small snapshots interval (so
/// compaction happens), dust exposure high enough that small HTLCs pass.
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::default();
    for c in [&mut o.a_config, &mut o.b_config] {
        c.snapshot_every = 6;
        c.max_dust_htlc_exposure_msat = 50_000_000;
    }
    o
}

/// The fuzz target.
pub fn channel_two_endpoints(data: &[u8]) {
    run(data, None);
}

/// The fuzz target with a script verifier: every agreement check also
/// verifies each commitment and HTLC-timeout transaction against what it
/// spends (the corpus replay plugs in libbitcoinconsensus).
pub fn channel_two_endpoints_verified(data: &[u8], verifier: TxVerifier) {
    run(data, Some(verifier));
}

fn run(data: &[u8], verifier: Option<TxVerifier>) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let mut pair = open(options());
    pair.verifier = verifier;
    let mut sim = Sim::new(pair);
    sim.run_bytes(data);
    // An honest run ended in `finish`'s checks (all settled, balances,
    // agreement); after misbehaviour only "no panic" was checked.
    if !sim.tainted && !sim.failed && sim.stats.agreements > 0 {
        crate::reached_checks();
    }
}

/// The seed corpus: named scenarios plus short random walks.
pub fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    use Op::*;
    let send = |side, amount| Send {
        side,
        small: false,
        amount,
    };
    let dance = [
        Commit { side: 0 },
        Deliver { from: 0 },
        Deliver { from: 0 },
        Deliver { from: 1 },
        Deliver { from: 1 },
        Deliver { from: 0 },
    ];
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut named = |name: &str, ops: Vec<Op>| out.push((name.to_owned(), encode_ops(&ops)));
    let mut pay = vec![send(0, 1000), Deliver { from: 0 }];
    pay.extend(dance);
    pay.extend([Fulfill { side: 1, index: 0 }, Commit { side: 1 }, Quiesce]);
    named("pay-a-to-b", pay.clone());
    named(
        "pay-b-to-a",
        vec![
            send(1, 500),
            Commit { side: 1 },
            Quiesce,
            Fulfill { side: 0, index: 0 },
            Quiesce,
        ],
    );
    named(
        "fail-and-malformed",
        vec![
            send(0, 10),
            send(0, 20),
            Quiesce,
            Fail { side: 1, index: 0 },
            FailMalformed { side: 1, index: 0 },
            Quiesce,
        ],
    );
    named(
        "dust",
        vec![
            Send {
                side: 0,
                small: true,
                amount: 5,
            },
            Send {
                side: 1,
                small: true,
                amount: 60_000,
            },
            Quiesce,
        ],
    );
    named(
        "update-fee",
        vec![
            UpdateFee {
                side: 0,
                feerate: 4000,
            },
            UpdateFee {
                side: 1,
                feerate: 4000,
            },
            send(0, 30),
            Commit { side: 0 },
            Quiesce,
        ],
    );
    named(
        "crossed-commitments",
        vec![
            send(0, 1),
            send(1, 2),
            Commit { side: 0 },
            Commit { side: 1 },
            Deliver { from: 0 },
            Deliver { from: 1 },
            Deliver { from: 0 },
            Deliver { from: 1 },
            Deliver { from: 0 },
            Deliver { from: 1 },
            Quiesce,
        ],
    );
    for (i, cut) in [2usize, 4, 5, 6, 7].into_iter().enumerate() {
        let mut ops = vec![send(0, 77)];
        ops.extend(&dance[..cut.min(dance.len())]);
        named(&format!("reconnect-mid-dance-{i}"), {
            let mut v = ops.clone();
            v.push(Reconnect);
            v.push(Quiesce);
            v
        });
        named(&format!("restart-a-mid-dance-{i}"), {
            let mut v = ops.clone();
            v.push(Restart { side: 0 });
            v.push(Quiesce);
            v
        });
        named(&format!("restart-b-mid-dance-{i}"), {
            let mut v = ops.clone();
            v.push(Restart { side: 1 });
            v.push(Quiesce);
            v
        });
        named(&format!("crash-before-write-{i}"), {
            let mut v = vec![send(0, 77), Deliver { from: 0 }, Commit { side: 0 }];
            v.extend(std::iter::repeat_n(Deliver { from: 1 }, i));
            v.push(DeliverAndCrash { from: i % 2 });
            v.push(Quiesce);
            v
        });
    }
    named(
        "corrupt-commitment-signed",
        vec![
            send(0, 3),
            Commit { side: 0 },
            Deliver { from: 0 },
            Corrupt {
                from: 0,
                at: 40,
                xor: 0x10,
            },
            Quiesce,
        ],
    );
    named(
        "corrupt-fulfill",
        vec![
            send(0, 3),
            Quiesce,
            Fulfill { side: 1, index: 0 },
            Corrupt {
                from: 1,
                at: 50,
                xor: 1,
            },
        ],
    );
    for seed in 1..=12u64 {
        let ops = random_ops(seed * 0x9e37_79b9, 60 + (seed as usize % 4) * 40);
        named(&format!("random-{seed:02}"), ops);
    }
    out
}
