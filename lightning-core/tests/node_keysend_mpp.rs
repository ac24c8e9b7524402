//! Multi-part keysend (bLIP 3 keysend split as BOLT 4 "Basic Multi-Part
//! Payments": every part carries the keysend preimage and a
//! `payment_data` whose `payment_secret` the sender chose, with the whole
//! `total_msat`), received and sent.
//!
//! Receiving (a star: Alice, Carol and Dave each have a channel to Bob
//! and each send one part, built by hand with `send_to_route`, so that a
//! part can be left out or made to differ): parts held until complete,
//! claimed once; a missing part times out; parts that differ fail the
//! set; a part past the total fails; Bob restarts between parts; none of
//! it without the opt-in.
//!
//! Sending (a diamond of announced channels, each path too small for the
//! amount, so `keysend_to` must split):
//!
//! ```text
//!   P(ayer) -- A -- Z (payee)
//!         \        /
//!          -- C ---
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;
mod line_links;

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{
    Event, ForwardStatus, NodeConfig, PartStatus, PaymentDetails, PaymentHash, PaymentId,
    PaymentPreimage, PaymentStatus, RecipientOnion, Route, RouteHop,
};
use lightning_core::onion::FailureCode;
use lightning_wire::types::ChannelId;
use line_links::{add_link, clear_events};

const BOB: usize = 1;
const TOTAL: u64 = 30_000_000;
const RECORD: u64 = 65_537;
/// What a payer hears when Bob refuses a part (BOLT 4
/// `incorrect_or_unknown_payment_details`).
const REFUSED: Option<u16> = Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0);

/// Alice (0), Bob (1), Carol (2), Dave (3); a channel from each payer to
/// Bob, who accepts keysend and (when `parts`) keysends in parts.
fn star(parts: bool) -> (Line, [ChannelId; 4]) {
    let mut line = Line::new(4, |i, c| {
        if i == BOB {
            c.forwarding.accept_keysend = true;
            c.mpp_receive.accept_keysend_parts = parts;
        }
    });
    add_link(&mut line, 3, BOB);
    line.shuttle();
    let a = line.open_channel(0, BOB, 1_000_000, 0);
    let c = line.open_channel(2, BOB, 1_000_000, 0);
    let d = line.open_channel(3, BOB, 1_000_000, 0);
    clear_events(&mut line);
    (line, [a, ChannelId([0; 32]), c, d])
}

/// One keysend part, as a sender that splits a keysend makes it.
#[derive(Clone)]
struct Part {
    preimage: [u8; 32],
    secret: [u8; 32],
    amount: u64,
    total: u64,
    records: Records,
}

impl Part {
    fn new(preimage: u8, amount: u64) -> Part {
        Part {
            preimage: [preimage; 32],
            secret: [0x5e; 32],
            amount,
            total: TOTAL,
            records: vec![(RECORD, b"split".to_vec())],
        }
    }
}

/// Custom records, type and value.
type Records = Vec<(u64, Vec<u8>)>;

/// A change to a part.
type Change = Box<dyn Fn(&mut Part)>;

fn hash_of(preimage: &[u8; 32]) -> PaymentHash {
    PaymentHash(sha256::Hash::hash(preimage).to_byte_array())
}

/// Bob's one event for a whole set: the total, with the parts' records.
fn whole_set() -> Vec<(u64, Records)> {
    vec![(TOTAL, vec![(RECORD, b"split".to_vec())])]
}

/// Payer `from` offers `part` to Bob over its channel under `hash` (the
/// hash of the part's preimage, or another for a forged part); no bytes
/// move yet.
fn offer_part(line: &mut Line, ch: &[ChannelId; 4], from: usize, hash: PaymentHash, part: &Part) {
    let route = Route {
        hops: vec![RouteHop {
            node_id: line.members[BOB].id(),
            short_channel_id: line.members[from].scid(ch[from]),
            fee_msat: 0,
            cltv_expiry_delta: 0,
        }],
    };
    let recipient = RecipientOnion {
        amount_msat: part.amount,
        total_msat: Some(part.total),
        payment_secret: Some(part.secret),
        keysend_preimage: Some(PaymentPreimage(part.preimage)),
        custom_records: part.records.clone(),
        final_cltv_expiry_delta: 48,
        ..RecipientOnion::default()
    };
    let now = line.now;
    line.members[from]
        .node
        .send_to_route(&route, hash, &recipient, now)
        .unwrap();
}

/// Payer `from` sends `part` over its channel to Bob, and the line
/// settles.
fn send_part(line: &mut Line, ch: &[ChannelId; 4], from: usize, part: &Part) {
    offer_part(line, ch, from, hash_of(&part.preimage), part);
    line.shuttle();
}

/// Bob restarts from his store, and the line settles.
fn restart_bob(line: &mut Line) {
    line.restart(BOB);
    line.shuttle();
}

/// Asserts each of `payers`' payment `hash` stands at `expected`.
fn assert_status(line: &Line, payers: &[usize], hash: &PaymentHash, expected: PaymentStatus) {
    for &payer in payers {
        assert_eq!(status(line, payer, hash), Some(expected), "payer {payer}");
    }
}

fn status(line: &Line, payer: usize, hash: &PaymentHash) -> Option<PaymentStatus> {
    line.members[payer].payment_status(hash)
}

/// The failure code payer `payer` got for `hash`.
fn failure_code(line: &mut Line, payer: usize, hash: PaymentHash) -> Option<u16> {
    line.members[payer]
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == hash => Some(reason.failure_code),
            _ => None,
        })
        .expect("PaymentFailed")
}

/// Member `i`'s `SpontaneousPaymentReceived` events for `hash`: amount
/// and records.
fn spontaneous(line: &mut Line, i: usize, hash: PaymentHash) -> Vec<(u64, Records)> {
    line.members[i]
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SpontaneousPaymentReceived {
                payment_hash,
                amount_msat,
                custom_records,
            } if payment_hash == hash => Some((amount_msat.0, custom_records)),
            _ => None,
        })
        .collect()
}

/// Bob's balance on each payer's channel.
fn bob_balances(line: &Line, ch: &[ChannelId; 4]) -> [u64; 3] {
    [0, 2, 3].map(|p| line.members[BOB].local_msat(ch[p]))
}

#[test]
fn parts_from_three_payers_are_held_then_claimed_once_with_the_total() {
    let (mut line, ch) = star(true);
    let hash = hash_of(&[1; 32]);
    send_part(&mut line, &ch, 0, &Part::new(1, 10_000_000));
    line.now += Duration::from_secs(20);
    send_part(&mut line, &ch, 2, &Part::new(1, 12_000_000));
    // Two parts of three: held, nothing claimed, nothing reported.
    assert_status(&line, &[0, 2], &hash, PaymentStatus::Pending);
    assert!(spontaneous(&mut line, BOB, hash).is_empty());
    assert_eq!(bob_balances(&line, &ch), [0, 0, 0]);
    send_part(&mut line, &ch, 3, &Part::new(1, 8_000_000));
    assert_status(&line, &[0, 2, 3], &hash, PaymentStatus::Succeeded);
    assert_eq!(
        spontaneous(&mut line, BOB, hash),
        whole_set(),
        "one event, the whole amount, the records"
    );
    assert_eq!(
        bob_balances(&line, &ch),
        [10_000_000, 12_000_000, 8_000_000]
    );
    // Every payer learned the preimage.
    for payer in [0, 2, 3] {
        let p = line.members[payer]
            .node
            .payment(&PaymentId(hash.0))
            .unwrap();
        assert_eq!(p.preimage, Some(PaymentPreimage([1; 32])));
    }
    // A part past the total (the payment is recorded) is not claimed.
    let (mut line2, ch2) = star(true);
    send_part(&mut line2, &ch2, 0, &Part::new(2, 15_000_000));
    send_part(&mut line2, &ch2, 2, &Part::new(2, 15_000_000));
    let h2 = hash_of(&[2; 32]);
    assert_eq!(status(&line2, 2, &h2), Some(PaymentStatus::Succeeded));
    send_part(&mut line2, &ch2, 3, &Part::new(2, 1_000_000));
    assert_eq!(failure_code(&mut line2, 3, h2), REFUSED);
    assert_eq!(spontaneous(&mut line2, BOB, h2), whole_set());
    assert_eq!(bob_balances(&line2, &ch2), [15_000_000, 15_000_000, 0]);
}

#[test]
fn a_missing_part_fails_every_part_with_mpp_timeout_and_nothing_is_claimed() {
    let (mut line, ch) = star(true);
    let hash = hash_of(&[3; 32]);
    let first_at = line.now;
    send_part(&mut line, &ch, 0, &Part::new(3, 10_000_000));
    line.now += Duration::from_secs(10);
    send_part(&mut line, &ch, 2, &Part::new(3, 10_000_000));
    // The set's timeout is one of Bob's timers; BOLT 4: at least 60 s.
    let next = line.members[BOB].node.next_timeout().unwrap();
    assert!(next <= first_at + Duration::from_secs(60), "{next:?}");
    line.now = first_at + Duration::from_secs(59);
    let now = line.now;
    line.members[BOB].node.handle_timeout(now);
    line.shuttle();
    assert_status(&line, &[0, 2], &hash, PaymentStatus::Pending);
    line.now = first_at + Duration::from_secs(60);
    let now = line.now;
    line.members[BOB].node.handle_timeout(now);
    line.shuttle();
    for payer in [0, 2] {
        assert_eq!(
            failure_code(&mut line, payer, hash),
            Some(FailureCode::MPP_TIMEOUT.0),
            "payer {payer}"
        );
    }
    assert!(spontaneous(&mut line, BOB, hash).is_empty());
    assert_eq!(bob_balances(&line, &ch), [0, 0, 0], "nothing claimed");
    // Nothing was recorded: the same keysend sent whole later is paid.
    send_part(&mut line, &ch, 3, &Part::new(3, TOTAL));
    assert_eq!(status(&line, 3, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(spontaneous(&mut line, BOB, hash).len(), 1);
    assert_eq!(bob_balances(&line, &ch), [0, 0, TOTAL]);
}

#[test]
fn parts_that_differ_fail_the_whole_set() {
    // Each case: a first part, then one that differs from it in one way.
    let cases: Vec<(&str, Change)> = vec![
        (
            "another payment_secret",
            Box::new(|p| p.secret = [0x77; 32]),
        ),
        ("another total", Box::new(|p| p.total = TOTAL + 1_000_000)),
        (
            "other records",
            Box::new(|p| p.records = vec![(RECORD, b"other".to_vec())]),
        ),
        ("no records", Box::new(|p| p.records.clear())),
    ];
    for (i, (what, change)) in cases.iter().enumerate() {
        let (mut line, ch) = star(true);
        let seed = u8::try_from(10 + i).unwrap();
        let hash = hash_of(&[seed; 32]);
        send_part(&mut line, &ch, 0, &Part::new(seed, 12_000_000));
        let mut second = Part::new(seed, 19_000_000);
        change(&mut second);
        // With the first part's terms it would complete the set.
        send_part(&mut line, &ch, 2, &second);
        for payer in [0, 2] {
            assert_eq!(
                failure_code(&mut line, payer, hash),
                REFUSED,
                "{what}: payer {payer}"
            );
        }
        assert!(spontaneous(&mut line, BOB, hash).is_empty(), "{what}");
        assert_eq!(bob_balances(&line, &ch), [0, 0, 0], "{what}");
    }
    // A part whose preimage is not its hash's fails alone (another
    // preimage means another hash: every part of one set has the same).
    let (mut line, ch) = star(true);
    let hash = hash_of(&[20; 32]);
    send_part(&mut line, &ch, 0, &Part::new(20, 10_000_000));
    let forged = Part::new(21, 20_000_000);
    offer_part(&mut line, &ch, 2, hash, &forged);
    line.shuttle();
    assert_eq!(failure_code(&mut line, 2, hash), REFUSED);
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    send_part(&mut line, &ch, 3, &Part::new(20, 20_000_000));
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(spontaneous(&mut line, BOB, hash).len(), 1);
    assert_eq!(bob_balances(&line, &ch), [10_000_000, 0, 20_000_000]);
}

#[test]
fn keysend_parts_are_refused_without_the_opt_in() {
    let (mut line, ch) = star(false);
    let hash = hash_of(&[30; 32]);
    send_part(&mut line, &ch, 0, &Part::new(30, 10_000_000));
    assert_eq!(failure_code(&mut line, 0, hash), REFUSED, "not held");
    // A whole keysend is taken as always, with a `payment_data` or not.
    send_part(&mut line, &ch, 2, &Part::new(30, TOTAL));
    assert_eq!(status(&line, 2, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(spontaneous(&mut line, BOB, hash), whole_set());
    assert_eq!(bob_balances(&line, &ch), [0, TOTAL, 0]);
    // Nor does the opt-in alone take keysends.
    let (mut line, ch) = star(true);
    let hash = hash_of(&[31; 32]);
    line.members[BOB].config.forwarding.accept_keysend = false;
    restart_bob(&mut line);
    send_part(&mut line, &ch, 0, &Part::new(31, 10_000_000));
    assert_eq!(failure_code(&mut line, 0, hash), REFUSED);
}

#[test]
fn the_payee_restarting_between_parts_claims_once() {
    let (mut line, ch) = star(true);
    let hash = hash_of(&[40; 32]);
    send_part(&mut line, &ch, 0, &Part::new(40, 20_000_000));
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    // Bob restarts from his store: the part is an HTLC of his channel
    // with Alice, answered again (held again) after reestablishment.
    restart_bob(&mut line);
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    assert!(spontaneous(&mut line, BOB, hash).is_empty());
    send_part(&mut line, &ch, 2, &Part::new(40, 10_000_000));
    assert_status(&line, &[0, 2], &hash, PaymentStatus::Succeeded);
    assert_eq!(spontaneous(&mut line, BOB, hash), whole_set());
    assert_eq!(bob_balances(&line, &ch), [20_000_000, 10_000_000, 0]);
    // Recorded with both parts: after another restart neither is claimed
    // or reported twice, and a late part is refused.
    restart_bob(&mut line);
    assert!(spontaneous(&mut line, BOB, hash).is_empty());
    assert_eq!(bob_balances(&line, &ch), [20_000_000, 10_000_000, 0]);
    send_part(&mut line, &ch, 3, &Part::new(40, 1_000_000));
    assert_eq!(failure_code(&mut line, 3, hash), REFUSED);
}

#[test]
fn a_part_on_a_disconnected_channel_is_fulfilled_from_the_record_on_reconnection() {
    let (mut line, ch) = star(true);
    let hash = hash_of(&[42; 32]);
    send_part(&mut line, &ch, 0, &Part::new(42, 10_000_000));
    // A reconnection answers Alice's part again: still held, once.
    line.disconnect(0);
    line.connect(0);
    line.shuttle();
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    // Alice goes away; Carol's part completes the set. Bob records both
    // parts; Alice's is fulfilled when she is back, from the record (her
    // channel could not take the fulfil while she was away).
    line.disconnect(0);
    send_part(&mut line, &ch, 2, &Part::new(42, 20_000_000));
    assert_eq!(status(&line, 2, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Pending));
    assert_eq!(spontaneous(&mut line, BOB, hash), whole_set());
    // Even across Bob's restart while she is away.
    line.restart(BOB);
    line.disconnect(0);
    line.shuttle();
    line.connect(0);
    line.shuttle();
    assert_eq!(status(&line, 0, &hash), Some(PaymentStatus::Succeeded));
    assert_eq!(bob_balances(&line, &ch), [10_000_000, 20_000_000, 0]);
    assert!(
        spontaneous(&mut line, BOB, hash).is_empty(),
        "reported once"
    );
}

#[test]
fn a_completed_keysend_whose_event_was_not_taken_is_raised_again_after_a_restart() {
    let (mut line, ch) = star(true);
    let hash = hash_of(&[41; 32]);
    send_part(&mut line, &ch, 0, &Part::new(41, 20_000_000));
    // The completing part arrives; Bob's host never takes the event.
    offer_part(&mut line, &ch, 2, hash, &Part::new(41, 10_000_000));
    line.shuttle_links_only();
    assert_eq!(status(&line, 2, &hash), Some(PaymentStatus::Succeeded));
    restart_bob(&mut line);
    assert_eq!(
        spontaneous(&mut line, BOB, hash),
        whole_set(),
        "raised again, once, with the total"
    );
    restart_bob(&mut line);
    assert!(spontaneous(&mut line, BOB, hash).is_empty());
    assert_eq!(bob_balances(&line, &ch), [20_000_000, 10_000_000, 0]);
}

// Sending: `keysend_to` over the diamond.

const P: usize = 0;
const A: usize = 1;
const Z: usize = 2;
const C: usize = 3;
const CAPACITY_SAT: u64 = 1_000_000;
/// More than either of P's channels can send: only two parts, one over
/// each path, can carry it.
const SPLIT_MSAT: u64 = 1_500_000_000;

struct Diamond {
    line: Line,
    pa: ChannelId,
    az: ChannelId,
    pc: ChannelId,
    cz: ChannelId,
}

/// The diamond (the line's own links P-A, A-Z, Z-C, and P-C added),
/// every channel announced and every graph holding the four; C pushes `push_cz_msat` to Z when opening their channel. Z accepts
/// keysend, in parts when `z_parts`; `payer` adjusts P's configuration.
fn diamond(push_cz_msat: u64, z_parts: bool, payer: fn(&mut NodeConfig)) -> Diamond {
    let mut line = Line::new(4, |i, c| {
        c.channel.announce_channel = true;
        if i == Z {
            c.forwarding.accept_keysend = true;
            c.mpp_receive.accept_keysend_parts = z_parts;
        }
        if i == A {
            // The path through C is the cheaper: the router tries it
            // first.
            c.gossip.fee_base_msat = A_FEE_BASE;
        }
        if i == P {
            payer(c);
        }
    });
    add_link(&mut line, P, C);
    line.shuttle();
    let pa = line.open_channel(P, A, CAPACITY_SAT, 0);
    let az = line.open_channel(A, Z, CAPACITY_SAT, 0);
    let pc = line.open_channel(P, C, CAPACITY_SAT, 0);
    let cz = line.open_channel(C, Z, CAPACITY_SAT, push_cz_msat);
    line.mine(6);
    for _ in 0..4 {
        line.tick(61);
    }
    for m in &line.members {
        let g = m.node.network_graph().unwrap();
        assert_eq!(g.channel_count(), 4, "{} has the whole graph", m.name);
    }
    clear_events(&mut line);
    Diamond {
        line,
        pa,
        az,
        pc,
        cz,
    }
}

impl Diamond {
    /// Every member's balance over its two channels: P, A, Z, C.
    fn balances(&self) -> [u64; 4] {
        let m = &self.line.members;
        [
            m[P].local_msat(self.pa) + m[P].local_msat(self.pc),
            m[A].local_msat(self.pa) + m[A].local_msat(self.az),
            m[Z].local_msat(self.az) + m[Z].local_msat(self.cz),
            m[C].local_msat(self.pc) + m[C].local_msat(self.cz),
        ]
    }
}

/// A's base fee (C's is the default, 1000 msat; both 1 ppm).
const A_FEE_BASE: u32 = 2000;

/// What `node` (A or C) charges to forward `amount_msat`.
fn fee(node: usize, amount_msat: u64) -> u64 {
    let base = if node == A {
        u64::from(A_FEE_BASE)
    } else {
        1000
    };
    base + amount_msat / 1_000_000
}

/// P keysends `amount_msat` with `records` to Z (`keysend_to` splits it
/// as it must), and the line settles; the payment's hash.
fn keysend(line: &mut Line, amount_msat: u64, records: Records) -> PaymentHash {
    let z = line.members[Z].id();
    let now = line.now;
    let id = line.members[P]
        .node
        .keysend_to(z, Msat(amount_msat), records, now)
        .unwrap();
    line.shuttle();
    PaymentHash(id.0)
}

/// The fees of `p`'s fulfilled parts.
fn fulfilled_fees(p: &PaymentDetails) -> u64 {
    p.parts
        .iter()
        .filter(|s| s.status == PartStatus::Fulfilled)
        .map(|s| s.fee_msat.0)
        .sum()
}

/// From now on `member` crashes, and is restored from its store, in
/// place of its transmission `n`.
fn crash_at(line: &mut Line, member: usize, n: usize) {
    line.crash_member = member;
    line.steps = 0;
    line.crash_at = Some(n);
}

/// No more crashes; whether one happened.
fn stop_crashing(line: &mut Line) -> bool {
    let crashed = line.crashes > 0;
    line.crash_at = None;
    crashed
}

/// Runs `run` with n = 1, 2, ... (it crashes a member in place of its
/// transmission n and says whether a crash happened) until a run made no
/// crash; gives that last n.
fn each_crash_point(mut run: impl FnMut(usize) -> bool) -> usize {
    let mut n = 1;
    while run(n) {
        n += 1;
    }
    n
}

fn payment(line: &Line, hash: PaymentHash) -> PaymentDetails {
    line.members[P].node.payment(&PaymentId(hash.0)).unwrap()
}

/// P's `PaymentSent` and `PaymentFailed` events for `hash`.
fn outcomes(line: &mut Line, hash: PaymentHash) -> Vec<Event> {
    line.members[P]
        .take_events()
        .into_iter()
        .filter(|e| match e {
            Event::PaymentSent { payment_hash, .. } | Event::PaymentFailed { payment_hash, .. } => {
                *payment_hash == hash
            }
            _ => false,
        })
        .collect()
}

fn forwards(line: &Line, i: usize, hash: PaymentHash) -> Vec<ForwardStatus> {
    line.members[i]
        .node
        .list_forwards()
        .into_iter()
        .filter(|f| f.payment_hash == hash)
        .map(|f| f.status)
        .collect()
}

#[test]
fn a_keysend_no_single_path_carries_is_split_and_received_once() {
    let mut d = diamond(0, true, |_| {});
    let before = d.balances();
    let line = &mut d.line;
    assert!(line.members[P]
        .node
        .first_hops()
        .iter()
        .all(|h| h.outbound_capacity.0 < SPLIT_MSAT));
    let records = vec![(RECORD, b"in two parts".to_vec())];
    let z = line.members[Z].id();
    let hash = keysend(line, SPLIT_MSAT, records.clone());

    let p = payment(line, hash);
    assert_eq!(
        (p.status, p.attempts),
        (PaymentStatus::Succeeded, 1),
        "{p:?}"
    );
    assert_eq!(p.parts.len(), 2, "{p:?}");
    assert!(p.parts.iter().all(|s| s.status == PartStatus::Fulfilled));
    assert_eq!(
        p.parts.iter().map(|s| s.amount_msat.0).sum::<u64>(),
        SPLIT_MSAT
    );
    let preimage = p.preimage.unwrap();
    assert_eq!(sha256::Hash::hash(&preimage.0).to_byte_array(), hash.0);
    // One part over each path, each paying its hop's fee.
    let via = |node: usize| {
        let id = line.members[node].id();
        p.parts
            .iter()
            .find(|s| s.route.first() == Some(&id))
            .expect("a part through it")
            .clone()
    };
    let (via_a, via_c) = (via(A), via(C));
    assert_eq!(via_a.fee_msat.0, fee(A, via_a.amount_msat.0));
    assert_eq!(via_c.fee_msat.0, fee(C, via_c.amount_msat.0));
    let fees = via_a.fee_msat.0 + via_c.fee_msat.0;
    // Each part's own fulfil reported a hold time per hop of its route
    // (BOLT 4 attribution data); the event carries the payment's, those of
    // the part whose fulfil proved it.
    for part in &p.parts {
        assert_eq!(part.hold_times.len(), part.route.len(), "{part:?}");
    }
    assert!(
        p.parts.iter().any(|s| s.hold_times == p.hold_times),
        "{p:?}"
    );
    let sent = outcomes(line, hash);
    assert_eq!(
        sent,
        vec![Event::PaymentSent {
            payment_hash: hash,
            preimage,
            fee_msat: Msat(fees),
            hold_times: p.hold_times.clone(),
        }]
    );
    // The parts' hold times are in P's record.
    line.restart(P);
    let again = payment(line, hash);
    assert_eq!(
        again
            .parts
            .iter()
            .map(|s| &s.hold_times)
            .collect::<Vec<_>>(),
        p.parts.iter().map(|s| &s.hold_times).collect::<Vec<_>>()
    );
    for node in [A, C] {
        assert_eq!(forwards(line, node, hash), vec![ForwardStatus::Settled]);
    }
    // Z received it once, the whole amount, with the records.
    assert_eq!(spontaneous(line, Z, hash), vec![(SPLIT_MSAT, records)]);
    // Every node's balance: P paid the amount and the fees, A and C
    // earned their part's fee, Z got the amount.
    let after = d.balances();
    assert_eq!(before[0] - after[0], SPLIT_MSAT + fees, "P");
    assert_eq!(after[1] - before[1], via_a.fee_msat.0, "A");
    assert_eq!(after[2] - before[2], SPLIT_MSAT, "Z");
    assert_eq!(after[3] - before[3], via_c.fee_msat.0, "C");
    // Z's claim survives its restart; nothing is raised or paid again.
    d.line.restart(Z);
    d.line.shuttle();
    assert!(spontaneous(&mut d.line, Z, hash).is_empty());
    assert_eq!(d.balances(), after);
    // An amount nothing carries, even split, is refused before anything
    // is sent.
    let now = d.line.now;
    assert!(d.line.members[P]
        .node
        .keysend_to(z, Msat(2 * SPLIT_MSAT), Vec::new(), now)
        .is_err());
    assert_eq!(d.line.members[P].node.list_payments().len(), 1);
}

#[test]
fn a_payee_that_takes_no_keysend_parts_fails_the_split_keysend_and_nothing_moves() {
    let mut d = diamond(0, false, |_| {});
    let before = d.balances();
    let line = &mut d.line;
    let hash = keysend(line, SPLIT_MSAT, Vec::new());
    let p = payment(line, hash);
    assert_eq!(p.status, PaymentStatus::Failed, "{p:?}");
    assert_eq!(p.parts.len(), 2, "{p:?}");
    let events = outcomes(line, hash);
    let [Event::PaymentFailed { reason, .. }] = events.as_slice() else {
        panic!("failed once: {events:?}");
    };
    assert_eq!(
        reason.failure_code,
        Some(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS.0),
        "the payee's final error, not retried"
    );
    assert_eq!(reason.attempts, 1);
    assert!(spontaneous(line, Z, hash).is_empty());
    assert_eq!(d.balances(), before);
}

#[test]
fn a_keysend_is_retried_with_its_preimage_and_paid_once() {
    // C cannot forward 100,000 sat to Z: the first attempt (through C,
    // the router's pick) fails there; the retry goes through A.
    let mut d = diamond((CAPACITY_SAT - 50_000) * 1000, true, |_| {});
    let amount = 100_000_000;
    let before = d.balances();
    let line = &mut d.line;
    let hash = keysend(line, amount, Vec::new());
    let p = payment(line, hash);
    assert_eq!(
        (p.status, p.attempts),
        (PaymentStatus::Succeeded, 2),
        "{p:?}"
    );
    assert!(p.parts.is_empty(), "one path each time: {p:?}");
    assert!(forwards(line, C, hash).is_empty(), "C refused to forward");
    assert_eq!(forwards(line, A, hash), vec![ForwardStatus::Settled]);
    assert_eq!(spontaneous(line, Z, hash), vec![(amount, Vec::new())]);
    let after = d.balances();
    assert_eq!(before[0] - after[0], amount + fee(A, amount));
    assert_eq!(after[1] - before[1], fee(A, amount));
    assert_eq!(after[2] - before[2], amount);
    assert_eq!(after[3], before[3], "nothing through C");
}

#[test]
fn a_failed_part_of_a_keysend_is_routed_again_beside_the_part_in_flight() {
    // C can forward only 400,000 sat to Z: a part through C larger than
    // that fails there, and only what is outstanding is routed again.
    let mut d = diamond((CAPACITY_SAT - 400_000) * 1000, true, |_| {});
    let amount = 1_200_000_000;
    let before = d.balances();
    let line = &mut d.line;
    let hash = keysend(line, amount, vec![(RECORD, b"x".to_vec())]);
    line.tick(1);
    let p = payment(line, hash);
    assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
    assert!(p.attempts >= 2, "{p:?}");
    assert!(p.parts.iter().any(|s| s.status == PartStatus::Failed));
    let paid: Vec<_> = p
        .parts
        .iter()
        .filter(|s| s.status == PartStatus::Fulfilled)
        .collect();
    assert_eq!(paid.iter().map(|s| s.amount_msat.0).sum::<u64>(), amount);
    let fees = fulfilled_fees(&p);
    let sent = outcomes(line, hash);
    assert!(
        matches!(sent.as_slice(), [Event::PaymentSent { fee_msat, .. }] if fee_msat.0 == fees),
        "{sent:?}"
    );
    assert_eq!(
        spontaneous(line, Z, hash),
        vec![(amount, vec![(RECORD, b"x".to_vec())])]
    );
    let after = d.balances();
    assert_eq!(before[0] - after[0], amount + fees);
    assert_eq!(after[2] - before[2], amount, "paid exactly once");
    assert_eq!(
        (after[1] - before[1]) + (after[3] - before[3]),
        fees,
        "A and C earned the fees of the parts that paid"
    );
}

#[test]
fn a_payer_crashing_at_any_transmission_pays_a_split_keysend_exactly_once() {
    crash_at_every_transmission(false);
}

#[test]
fn an_async_payer_crashing_at_any_transmission_pays_a_split_keysend_exactly_once() {
    crash_at_every_transmission(true);
}

/// As `a_failed_part_of_a_keysend_is_routed_again_beside_the_part_in_flight`;
/// P (persisting inline, or through `poll_persist` when `is_async`)
/// crashes and is restored from its store in place of its n-th
/// transmission, for every n until a run makes no crash. The keysend is
/// received once, with the amount, and P paid exactly that and the fees.
fn crash_at_every_transmission(is_async: bool) {
    let amount = 1_200_000_000;
    let n = each_crash_point(|n| {
        let mut d = diamond((CAPACITY_SAT - 400_000) * 1000, true, |_| {});
        if is_async {
            d.line.set_async(P, true);
        }
        let before = d.balances();
        let line = &mut d.line;
        crash_at(line, P, n);
        let hash = keysend(line, amount, Vec::new());
        let crashed = stop_crashing(line);
        // Timers: a deferred attempt is made.
        line.tick(1);
        line.tick(1);
        let p = payment(line, hash);
        assert_eq!(p.status, PaymentStatus::Succeeded, "crash at {n}: {p:?}");
        let received = spontaneous(line, Z, hash);
        assert_eq!(received, vec![(amount, Vec::new())], "crash at {n}");
        let fees = fulfilled_fees(&p);
        let after = d.balances();
        assert_eq!(after[2] - before[2], amount, "crash at {n}: paid once");
        assert_eq!(before[0] - after[0], amount + fees, "crash at {n}");
        crashed
    });
    assert!(n > 5, "P transmits during the payment ({n})");
}

/// Z, receiving a split keysend, crashes and is restored from its store
/// in place of each of its transmissions: held parts rejoin their set
/// after the restart, a completed set is answered from Z's record (every
/// part named in it). Whatever the crash, the payment is never lost
/// half-way nor paid twice: either P succeeded and Z has the amount
/// exactly once (its event at least once, always with the whole amount),
/// or P failed (the forwarders failed parts while Z was away, and no
/// route was left) and nothing moved.
#[test]
fn a_payee_crashing_at_any_transmission_is_paid_a_split_keysend_at_most_once() {
    let mut paid_after_a_crash = 0;
    let n = each_crash_point(|n| {
        let mut d = diamond(0, true, |_| {});
        let before = d.balances();
        let line = &mut d.line;
        crash_at(line, Z, n);
        let hash = keysend(line, SPLIT_MSAT, Vec::new());
        let crashed = stop_crashing(line);
        // Timers: a part held when Z went down times out (60 s).
        line.tick(61);
        line.tick(1);
        let p = payment(line, hash);
        let received = spontaneous(line, Z, hash);
        let after = d.balances();
        match p.status {
            PaymentStatus::Succeeded => {
                assert!(!received.is_empty(), "crash at {n}: reported");
                assert!(
                    received.iter().all(|r| *r == (SPLIT_MSAT, Vec::new())),
                    "crash at {n}: {received:?}"
                );
                assert_eq!(after[2] - before[2], SPLIT_MSAT, "crash at {n}: paid once");
                paid_after_a_crash += usize::from(crashed);
            }
            PaymentStatus::Failed => {
                assert!(received.is_empty(), "crash at {n}: {received:?}");
                assert_eq!(after, before, "crash at {n}: nothing moved");
            }
            PaymentStatus::Pending => panic!("crash at {n}: still pending: {p:?}"),
        }
        if !crashed {
            assert_eq!(p.status, PaymentStatus::Succeeded);
        }
        crashed
    });
    assert!(n > 3, "Z transmits during the payment ({n})");
    assert!(paid_after_a_crash > 0, "some crash came after the claim");
}
