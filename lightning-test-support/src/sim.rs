//! An operation-sequence simulator over a [`Pair`]: host calls on either
//! side, message delivery in any order BOLT 2 allows (each direction FIFO,
//! the two directions interleaved freely), disconnection with
//! `channel_reestablish`, restarts from the store (which lose the messages
//! written but not sent), crashes after handling a message but before its
//! write, and, as deliberate misbehaviour, a corrupted message.
//!
//! Checked after every operation: each side's channel conserves the total
//! value; the [`Ledger`] accepts every event (no HTLC received or settled
//! twice, none settled that was not offered). An honest side never errors
//! except with [`ErrorAction::Refuse`] on a host call. At
//! [`Op::Quiesce`] and at the end both sides hold the same commitments; at
//! the end everything is settled and each balance moved by exactly the
//! fulfilled amounts. After a corrupted message only "no panic", typed
//! errors and value conservation are checked.
//!
//! [`Op::decode`] reads any byte string as operations (the fuzz target);
//! [`Op::encode`] writes them back (corpus generation); [`random_ops`]
//! draws a long seeded sequence (the randomized restart test).

use lightning_wire::msgs::Message;

use lightning_core::channel::update_log::{Side, Which};
use lightning_core::channel::{ChannelError, ChannelOutput, ErrorAction};

use crate::ledger::Ledger;
use crate::pair::{preimage, Pair, ONION};
use crate::rng::Rng;

/// One step of a simulation. `side` and `from` are 0 for A, 1 for B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `send_htlc`; `small` picks an amount that is often trimmed.
    Send {
        /// The offerer.
        side: usize,
        /// A (often) trimmed amount.
        small: bool,
        /// Picks the amount.
        amount: u16,
    },
    /// `fulfill_htlc` of the `index`-th received HTLC still open.
    Fulfill {
        /// Who fulfills.
        side: usize,
        /// Which one.
        index: u8,
    },
    /// `fail_htlc`, like `Fulfill`.
    Fail {
        /// Who fails.
        side: usize,
        /// Which one.
        index: u8,
    },
    /// `fail_malformed_htlc` (with `BADONION`), like `Fulfill`.
    FailMalformed {
        /// Who fails.
        side: usize,
        /// Which one.
        index: u8,
    },
    /// `update_fee` (refused on the fundee).
    UpdateFee {
        /// Who.
        side: usize,
        /// Picks the feerate.
        feerate: u16,
    },
    /// `commit`.
    Commit {
        /// Who.
        side: usize,
    },
    /// Deliver the next message of `from` to its peer.
    Deliver {
        /// The sender.
        from: usize,
    },
    /// Deliver the next message of `from`; the receiver crashes after
    /// handling it and before making its write durable, and restarts.
    DeliverAndCrash {
        /// The sender.
        from: usize,
    },
    /// Deliver everything `from` has sent as one batch (one socket read:
    /// [`Channel::handle_messages`](lightning_core::channel::Channel::handle_messages)).
    DeliverAll {
        /// The sender.
        from: usize,
    },
    /// Drop the connection (and what is in flight); queue
    /// `channel_reestablish` both ways.
    Reconnect,
    /// Restart `side` from its store: its unsent messages are lost; the
    /// connection drops and is made again.
    Restart {
        /// Who.
        side: usize,
    },
    /// Commit and deliver until quiet; both sides must agree.
    Quiesce,
    /// Misbehaviour: flip bits of the next message of `from` on the wire.
    Corrupt {
        /// The sender.
        from: usize,
        /// Which byte.
        at: u16,
        /// The bits (at least one).
        xor: u8,
    },
}

const OPS: u8 = 24;

impl Op {
    /// Reads one operation from the front of `data` (missing parameter
    /// bytes read as zero). `None` when `data` is empty.
    pub fn decode(data: &mut &[u8]) -> Option<Op> {
        let (&code, rest) = data.split_first()?;
        *data = rest;
        let mut byte = || match data.split_first() {
            Some((&b, rest)) => {
                *data = rest;
                b
            }
            None => 0,
        };
        let side = usize::from(code % OPS % 2);
        Some(match code % OPS {
            0 | 1 => {
                let class = byte();
                let amount = u16::from_be_bytes([byte(), byte()]);
                Op::Send {
                    side,
                    small: class % 4 == 0,
                    amount,
                }
            }
            2 | 3 => Op::Fulfill {
                side,
                index: byte(),
            },
            4 | 5 => Op::Fail {
                side,
                index: byte(),
            },
            6 | 7 => Op::FailMalformed {
                side,
                index: byte(),
            },
            8 | 9 => Op::UpdateFee {
                side,
                feerate: u16::from_be_bytes([byte(), byte()]),
            },
            10 | 11 => Op::Commit { side },
            12 | 13 => Op::Deliver { from: side },
            14 | 15 => Op::DeliverAndCrash { from: side },
            16 | 17 => Op::Restart { side },
            18 => Op::Reconnect,
            19 => Op::Quiesce,
            20 | 21 => Op::DeliverAll { from: side },
            _ => Op::Corrupt {
                from: side,
                at: u16::from_be_bytes([byte(), byte()]),
                xor: byte() | 1,
            },
        })
    }

    /// Appends the bytes [`Op::decode`] reads back as `self`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let code = |base: u8, side: usize| base + u8::from(side == 1);
        match *self {
            Op::Send {
                side,
                small,
                amount,
            } => {
                out.push(code(0, side));
                out.push(if small { 0 } else { 1 });
                out.extend(amount.to_be_bytes());
            }
            Op::Fulfill { side, index } => out.extend([code(2, side), index]),
            Op::Fail { side, index } => out.extend([code(4, side), index]),
            Op::FailMalformed { side, index } => out.extend([code(6, side), index]),
            Op::UpdateFee { side, feerate } => {
                out.push(code(8, side));
                out.extend(feerate.to_be_bytes());
            }
            Op::Commit { side } => out.push(code(10, side)),
            Op::Deliver { from } => out.push(code(12, from)),
            Op::DeliverAndCrash { from } => out.push(code(14, from)),
            Op::Restart { side } => out.push(code(16, side)),
            Op::Reconnect => out.push(18),
            Op::Quiesce => out.push(19),
            Op::DeliverAll { from } => out.push(code(20, from)),
            Op::Corrupt { from, at, xor } => {
                out.push(code(22, from));
                out.extend(at.to_be_bytes());
                out.push(xor);
            }
        }
    }
}

/// Encodes a sequence of operations.
pub fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        op.encode(&mut out);
    }
    out
}

/// `count` honest operations (no [`Op::Corrupt`]), weighted like a busy
/// channel: mostly deliveries, then offers, settlements and commits, with a
/// restart, reconnection or crash every few dozen operations.
pub fn random_ops(seed: u64, count: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed | 1);
    (0..count)
        .map(|_| {
            let side = rng.below(2) as usize;
            let r = rng.below(100);
            match r {
                0..=13 => Op::Send {
                    side,
                    small: rng.below(4) == 0,
                    amount: rng.below(1 << 16) as u16,
                },
                14..=20 => Op::Fulfill {
                    side,
                    index: rng.below(4) as u8,
                },
                21..=23 => Op::Fail {
                    side,
                    index: rng.below(4) as u8,
                },
                24 => Op::FailMalformed {
                    side,
                    index: rng.below(4) as u8,
                },
                25..=26 => Op::UpdateFee {
                    side: 0,
                    feerate: rng.below(1 << 16) as u16,
                },
                27..=37 => Op::Commit { side },
                38..=80 => Op::Deliver { from: side },
                81..=92 => Op::DeliverAll { from: side },
                93 => Op::DeliverAndCrash { from: side },
                94..=95 => Op::Reconnect,
                96..=97 => Op::Restart { side },
                _ => Op::Quiesce,
            }
        })
        .collect()
}

/// What a simulation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Operations run.
    pub ops: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Restarts from the store (crashes included).
    pub restarts: u64,
    /// Crashes between handling a message and its write.
    pub crashes: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Agreement checks passed.
    pub agreements: u64,
    /// Host calls refused.
    pub refused: u64,
}

/// The simulation: a pair, its ledger, and whether anyone misbehaved.
#[derive(Debug)]
pub struct Sim {
    /// The two endpoints.
    pub pair: Pair,
    /// What the nodes know about their HTLCs.
    pub ledger: Ledger,
    /// Set once a corrupted message was delivered: honesty checks stop.
    pub tainted: bool,
    /// Set once a channel failed (only after misbehaviour): the rest of the
    /// operations are ignored.
    pub failed: bool,
    /// Counters.
    pub stats: SimStats,
    total: u128,
    /// Per side: host calls not yet covered by a durable write, with the
    /// side's write count when they were made. A restart before the next
    /// write undoes them (the channel's host updates have no write of
    /// their own).
    unwritten: [Vec<(u64, HostCall)>; 2],
    /// Per side: incoming HTLCs whose fulfill a restart undid. The preimage
    /// may have reached the peer, so the host contract is to fulfill them
    /// again, never to fail them.
    must_fulfill: [std::collections::BTreeSet<u64>; 2],
}

/// A host call the ledger recorded.
#[derive(Debug, Clone, Copy)]
enum HostCall {
    /// `send_htlc` of HTLC `id`.
    Offered(u64),
    /// The removal of incoming HTLC `id` (payment `n`).
    Removed { id: u64, n: u64, fulfilled: bool },
}

const BADONION: u16 = 0x8000;

impl Sim {
    /// A simulation over an opened `pair`.
    pub fn new(pair: Pair) -> Self {
        let v = pair.a.ch.state().log.view(Side::Local, Which::Current);
        let ledger = Ledger::new(v.holder_msat, v.counterparty_msat);
        let total = u128::from(pair.total_msat());
        Sim {
            pair,
            ledger,
            tainted: false,
            failed: false,
            stats: SimStats::default(),
            total,
            unwritten: [Vec::new(), Vec::new()],
            must_fulfill: Default::default(),
        }
    }

    /// Runs every operation `data` decodes to, then [`Sim::finish`].
    pub fn run_bytes(&mut self, mut data: &[u8]) {
        while let Some(op) = Op::decode(&mut data) {
            self.step(op);
        }
        self.finish();
    }

    fn side(&mut self, side: usize) -> &mut crate::pair::Endpoint {
        if side == 0 {
            &mut self.pair.a
        } else {
            &mut self.pair.b
        }
    }

    /// A host call's result: applied when it succeeded; a refusal is
    /// fine; anything else fails an honest simulation.
    fn host(&mut self, side: usize, r: Result<ChannelOutput, ChannelError>) -> bool {
        match r {
            Ok(out) => {
                self.side(side).apply(out);
                true
            }
            Err(e) => {
                self.stats.refused += 1;
                assert!(
                    self.tainted || e.action() == ErrorAction::Refuse,
                    "side {side}: host call failed with {:?}: {e}",
                    e.action()
                );
                self.check_typed(&e);
                false
            }
        }
    }

    fn check_typed(&self, e: &ChannelError) {
        let id = self.pair.a.ch.channel_id();
        assert_eq!(
            e.to_message(id).is_none(),
            e.action() == ErrorAction::Refuse,
            "{e}: a warning or error for the peer exactly when not a refusal"
        );
    }

    /// Runs one operation and checks the per-step invariants.
    pub fn step(&mut self, op: Op) {
        if self.failed {
            return;
        }
        self.stats.ops += 1;
        match op {
            Op::Send {
                side,
                small,
                amount,
            } => {
                let amount_msat = if small {
                    1_000 + u64::from(amount) * 8
                } else {
                    1_000_000 + u64::from(amount) * 1_000
                };
                let (n, hash) = self.ledger.new_payment(amount_msat);
                let cltv = 700_000 + u32::from(amount % 1000);
                let r = self
                    .side(side)
                    .ch
                    .send_htlc(amount_msat, hash, cltv, ONION.to_vec());
                match r {
                    Ok((id, out)) => {
                        let written = out.persist.is_some();
                        self.side(side).apply(out);
                        // After misbehaviour the ledger is no longer kept.
                        if !self.tainted {
                            self.ledger.offered(side, id, n);
                            self.note(side, written, HostCall::Offered(id));
                        }
                    }
                    Err(e) => {
                        self.host(side, Err(e));
                    }
                }
            }
            Op::Fulfill { side, index }
            | Op::Fail { side, index }
            | Op::FailMalformed { side, index } => {
                let book = &self.ledger.books[side].incoming;
                if book.is_empty() {
                    return self.after_step();
                }
                let (id, n) = book
                    .iter()
                    .nth(usize::from(index) % book.len())
                    .map(|(a, b)| (*a, *b))
                    .unwrap_or_default();
                // A fulfill a restart undid is made again, whatever the op.
                let fulfill =
                    matches!(op, Op::Fulfill { .. }) || self.must_fulfill[side].contains(&id);
                let ch = &mut self.side(side).ch;
                let r = match op {
                    _ if fulfill => ch.fulfill_htlc(id, preimage(n).0),
                    Op::Fail { .. } => ch.fail_htlc(id, vec![index; 20]),
                    _ => ch.fail_malformed_htlc(id, [index; 32], BADONION | 0x4000 | 5),
                };
                let written = matches!(&r, Ok(out) if out.persist.is_some());
                if self.host(side, r) && !self.tainted {
                    self.must_fulfill[side].remove(&id);
                    self.ledger.removed_incoming(side, id, fulfill);
                    self.note(
                        side,
                        written,
                        HostCall::Removed {
                            id,
                            n,
                            fulfilled: fulfill,
                        },
                    );
                }
            }
            Op::UpdateFee { side, feerate } => {
                let feerate = 253 + u32::from(feerate) % 10_000;
                let r = self.side(side).ch.update_fee(feerate);
                self.host(side, r);
            }
            Op::Commit { side } => {
                let r = self.side(side).ch.commit();
                self.host(side, r);
            }
            Op::Deliver { from } => {
                self.deliver(from, false);
            }
            Op::DeliverAndCrash { from } => {
                self.deliver(from, true);
            }
            Op::DeliverAll { from } => self.deliver_batch(from),
            Op::Reconnect => self.reconnect(),
            Op::Restart { side } => {
                self.restart(side);
                self.reconnect();
            }
            Op::Quiesce => self.quiesce(),
            Op::Corrupt { from, at, xor } => {
                let Some(m) = self.side(from).outbox.pop_front() else {
                    return self.after_step();
                };
                let Ok(mut bytes) = m.encode() else {
                    // Nothing this node sends is too long to encode; if one
                    // were, the real transport would refuse it too.
                    return self.after_step();
                };
                let at = usize::from(at) % bytes.len();
                bytes[at] ^= xor;
                match Message::decode(&bytes) {
                    Ok(bad) => {
                        self.tainted = true;
                        self.side(from).outbox.push_front(bad);
                        self.deliver(from, false);
                    }
                    // The transport would drop the connection.
                    Err(_) => {
                        self.side(from).outbox.push_front(m);
                        self.reconnect();
                    }
                }
            }
        }
        self.after_step();
    }

    fn deliver(&mut self, from: usize, crash: bool) {
        let to = 1 - from;
        let Some(m) = self.side(from).outbox.pop_front() else {
            return;
        };
        self.stats.delivered += 1;
        match self.side(to).ch.handle_message(&m) {
            Ok(out) => {
                if crash {
                    // The output (write, messages, events) never left.
                    drop(out);
                    self.stats.crashes += 1;
                    self.restart(to);
                    self.reconnect();
                } else {
                    self.side(to).apply(out);
                }
            }
            Err(e) => self.delivery_failed(from, m.r#type(), &e),
        }
    }

    /// Delivers all of `from`'s outbox as one batch.
    fn deliver_batch(&mut self, from: usize) {
        let to = 1 - from;
        let msgs: Vec<Message> = self.side(from).outbox.drain(..).collect();
        if msgs.is_empty() {
            return;
        }
        self.stats.delivered += msgs.len() as u64;
        let (out, result) = self.side(to).ch.handle_messages(&msgs);
        self.side(to).apply(out);
        if let Err(e) = result {
            self.delivery_failed(from, 0, &e);
        }
    }

    /// The receiver of `from`'s message of type `ty` failed with `e`.
    fn delivery_failed(&mut self, from: usize, ty: u16, e: &ChannelError) {
        let to = 1 - from;
        assert!(
            self.tainted,
            "honest side {to} failed on message type {ty} from side {from}: {e}"
        );
        self.check_typed(e);
        match e.action() {
            ErrorAction::FailChannel => {
                let out = self.side(to).ch.handle_error(e);
                self.side(to).apply(out);
                self.failed = true;
            }
            _ => self.reconnect(),
        }
    }

    /// Records host call `call` on `side`, unless its output was written.
    fn note(&mut self, side: usize, written: bool, call: HostCall) {
        if !written {
            let writes = self.side(side).stats.writes;
            self.unwritten[side].push((writes, call));
        }
    }

    /// Restarts `side` from its store. Host calls no write covered since
    /// are undone, as the restarted channel no longer knows them: an offer
    /// was never made (the peer drops it on reconnection), a removal was
    /// never made (the HTLC is the host's to settle again).
    fn restart(&mut self, side: usize) {
        self.stats.restarts += 1;
        let writes = self.side(side).stats.writes;
        let undone: Vec<HostCall> = std::mem::take(&mut self.unwritten[side])
            .into_iter()
            .filter(|(w, _)| *w == writes)
            .map(|(_, c)| c)
            .collect();
        self.side(side).restart();
        if self.tainted {
            return;
        }
        for call in undone.into_iter().rev() {
            match call {
                HostCall::Offered(id) => self.ledger.unoffered(side, id),
                HostCall::Removed { id, n, fulfilled } => {
                    self.ledger.unremoved(side, id, n, fulfilled);
                    if fulfilled {
                        self.must_fulfill[side].insert(id);
                    }
                }
            }
        }
    }

    /// Drops the connection and queues `channel_reestablish` both ways.
    fn reconnect(&mut self) {
        self.stats.reconnects += 1;
        self.pair.a.outbox.clear();
        self.pair.b.outbox.clear();
        for side in 0..2 {
            let (out, dropped) = self.side(side).ch.peer_disconnected();
            self.side(side).apply(out);
            if !self.tainted {
                self.ledger.dropped(side, &dropped);
                // A dropped offer is settled: a restart has nothing to undo.
                self.unwritten[side].retain(|(_, c)| {
                    !matches!(c, HostCall::Offered(id) if dropped.iter().any(|a| a.id == *id))
                });
            }
        }
        for side in 0..2 {
            match self.side(side).ch.peer_reconnected() {
                Some(r) => self
                    .side(side)
                    .outbox
                    .push_front(Message::ChannelReestablish(r)),
                None => assert!(self.tainted, "side {side}: no channel_reestablish"),
            }
        }
    }

    fn after_step(&mut self) {
        for side in 0..2 {
            let writes = self.side(side).stats.writes;
            self.unwritten[side].retain(|(w, _)| *w == writes);
            let events = self.side(side).take_events();
            let total = self.side(side).ch.state().log.total_msat();
            assert_eq!(total, self.total, "side {side}: value not conserved");
            if !self.tainted {
                self.ledger.handle(side, events, false);
            }
        }
    }

    fn deliver_all(&mut self) {
        for _ in 0..10_000 {
            let a = !self.pair.a.outbox.is_empty();
            let b = !self.pair.b.outbox.is_empty();
            if !a && !b {
                return;
            }
            for (from, any) in [(0, a), (1, b)] {
                if any && !self.failed {
                    self.deliver(from, false);
                    self.after_step();
                }
            }
        }
        panic!("messages never stop");
    }

    /// Commits and delivers until nothing moves; then both sides must hold
    /// the same commitments.
    pub fn quiesce(&mut self) {
        if self.tainted || self.failed {
            return;
        }
        for _ in 0..6 {
            for side in 0..2 {
                let r = self.side(side).ch.commit();
                self.host(side, r);
            }
            self.deliver_all();
        }
        for side in 0..2 {
            let log = &self.side(side).ch.state().log;
            assert!(
                !log.has_updates_to_commit(Side::Local),
                "side {side}: updates left to commit when quiet"
            );
        }
        self.pair.check_agreement();
        self.stats.agreements += 1;
    }

    /// Settles every HTLC (the receivers fulfill what is open) and checks
    /// the final state: all settled, no update left, balances moved by
    /// exactly the fulfilled amounts, both sides agreeing.
    pub fn finish(&mut self) {
        if self.tainted || self.failed {
            return;
        }
        self.quiesce();
        for _ in 0..8 {
            if self.ledger.all_settled() {
                break;
            }
            for side in 0..2 {
                let open: Vec<(u64, u64)> = self.ledger.books[side]
                    .incoming
                    .iter()
                    .map(|(a, b)| (*a, *b))
                    .collect();
                for (id, n) in open {
                    let r = self.side(side).ch.fulfill_htlc(id, preimage(n).0);
                    if self.host(side, r) {
                        self.ledger.removed_incoming(side, id, true);
                    }
                }
            }
            self.after_step();
            self.quiesce();
        }
        for (side, b) in self.ledger.books.iter().enumerate() {
            assert!(
                b.outgoing.is_empty() && b.incoming.is_empty(),
                "side {side}: HTLCs never settled: out {:?} in {:?}",
                b.outgoing,
                b.incoming
            );
        }
        let v = self.pair.a.ch.state().log.view(Side::Local, Which::Current);
        assert!(self.pair.a.ch.state().log.updates().is_empty());
        assert!(self.pair.b.ch.state().log.updates().is_empty());
        assert_eq!(
            [i128::from(v.holder_msat), i128::from(v.counterparty_msat)],
            self.ledger.expected_msat,
            "balances moved by exactly the fulfilled amounts"
        );
    }
}
