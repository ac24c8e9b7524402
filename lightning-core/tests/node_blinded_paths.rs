//! Payments over blinded paths between our own nodes (BOLT 4 "Route
//! Blinding"): the payee makes its paths (`create_blinded_payment_paths`),
//! the payer routes to their introduction nodes (`pay_blinded_paths`),
//! the introduction node relays inside the blinded route with the
//! recipient's `payment_relay`, and the payee checks `path_id` and
//! `payment_constraints`.
//!
//! ```text
//!   A(lice) -- B(ob, introduction) -- C(arol, payee)
//!        \                          /
//!         ------ D(ave) -----------      (the MPP test only)
//! ```
//!
//! The error tests (BOLT 2 "Removing an HTLC", BOLT 4 "Failure Messages")
//! also use a three-hop blinded path built here, A - B(intro) - D - C:
//! whatever fails inside the path, A learns only `invalid_onion_blinding`
//! from B.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forward_support;
mod line_links;

use std::time::Duration;

use bitcoin::secp256k1::SecretKey;
use forward_support::Line;
use lightning_core::amount::Msat;
use lightning_core::node::{Event, PaymentHash, PaymentStatus};
use lightning_core::onion::{
    blind_path, EncryptedDataTlv, FailureCode, FailureReason, PaymentConstraints, PaymentRelay,
};
use lightning_router::{BlindedPayInfo, BlindedPaymentPath, HopRelay, NodeId};
use lightning_wire::types::ChannelId;
use lightning_wire::Encode;
use line_links::{add_link, clear_events};

const CAPACITY_SAT: u64 = 1_000_000;

/// A - B - C, each channel opened by the left node.
fn line() -> (Line, ChannelId, ChannelId) {
    Line::a_b_c(CAPACITY_SAT)
}

/// A - B - C and A - D - C (links: 0 A-B, 1 B-C, 2 A-D, 3 D-C), each
/// channel opened by the left node, of `sat`.
fn diamond(sat: u64) -> (Line, [ChannelId; 4]) {
    let mut line = Line::new(4, |_, _| {});
    line.links.truncate(2);
    for (a, b) in [(0, 3), (3, 2)] {
        add_link(&mut line, a, b);
    }
    line.shuttle();
    let ab = line.open_channel(0, 1, sat, 0);
    let bc = line.open_channel(1, 2, sat, 0);
    let ad = line.open_channel(0, 3, sat, 0);
    let dc = line.open_channel(3, 2, sat, 0);
    clear_events(&mut line);
    (line, [ab, bc, ad, dc])
}

/// A(0) - B(1) - D(2) - C(3), each channel opened by the left node.
fn four() -> (Line, [ChannelId; 3]) {
    let mut line = Line::new(4, |_, _| {});
    let ab = line.open_channel(0, 1, CAPACITY_SAT, 0);
    let bd = line.open_channel(1, 2, CAPACITY_SAT, 0);
    let dc = line.open_channel(2, 3, CAPACITY_SAT, 0);
    clear_events(&mut line);
    (line, [ab, bd, dc])
}

/// Member `payee`'s invoice for `amount_msat`, described as
/// `description`: its hash and payment secret.
fn invoice_with_secret(
    line: &mut Line,
    payee: usize,
    amount_msat: u64,
    description: &str,
) -> (PaymentHash, [u8; 32]) {
    let now = line.now;
    let inv = line.members[payee]
        .node
        .create_invoice(
            Some(Msat(amount_msat)),
            description,
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
    (*inv.payment_hash(), inv.payment_secret().0)
}

/// The hash of member `payee`'s invoice for `amount_msat`.
fn invoice(line: &mut Line, payee: usize, amount_msat: u64) -> PaymentHash {
    invoice_with_secret(line, payee, amount_msat, "blinded").0
}

/// C's invoice for `amount_msat` in [`four`]: its hash and secret.
fn c_invoice(line: &mut Line, amount_msat: u64) -> (PaymentHash, [u8; 32]) {
    invoice_with_secret(line, 3, amount_msat, "3 hops")
}

/// Member `payee`'s blinded paths (at most `max_paths`) for its invoice
/// `hash`.
fn paths_for(
    line: &mut Line,
    payee: usize,
    hash: &PaymentHash,
    max_paths: usize,
) -> Vec<BlindedPaymentPath> {
    line.members[payee]
        .node
        .create_blinded_payment_paths(hash, max_paths)
        .unwrap()
}

/// The node id of member `i`, as paths name their introduction nodes.
fn node_id(line: &Line, i: usize) -> NodeId {
    NodeId::from_pubkey(&line.members[i].id())
}

/// The introduction nodes of `paths`.
fn intros(paths: &[BlindedPaymentPath]) -> Vec<NodeId> {
    paths.iter().map(|p| p.introduction_node).collect()
}

/// Member `payer` starts paying `hash` for `amount` over `paths` (the
/// start must be accepted), and the line settles.
fn pay(
    line: &mut Line,
    payer: usize,
    hash: PaymentHash,
    amount: u64,
    paths: Vec<BlindedPaymentPath>,
) {
    let now = line.now;
    line.members[payer]
        .node
        .pay_blinded_paths(hash, amount, paths, now)
        .unwrap();
    line.shuttle();
}

/// Asserts member `payer` refuses to start paying `hash` for `amount`
/// over `paths`, with an error that says `why`.
fn assert_refused(
    line: &mut Line,
    payer: usize,
    hash: PaymentHash,
    amount: u64,
    paths: Vec<BlindedPaymentPath>,
    why: &str,
) {
    let now = line.now;
    let err = line.members[payer]
        .node
        .pay_blinded_paths(hash, amount, paths, now)
        .unwrap_err();
    assert!(err.to_string().contains(why), "{err}");
}

/// Asserts member `payer`'s payment `hash` stands at `status`.
fn assert_status(line: &Line, payer: usize, hash: &PaymentHash, status: PaymentStatus) {
    assert_eq!(line.members[payer].payment_status(hash), Some(status));
}

/// Asserts A's payment `hash` was paid in `parts` parts.
fn assert_parts(line: &Line, hash: &PaymentHash, parts: usize) {
    let details = line.members[0]
        .node
        .list_payments()
        .into_iter()
        .find(|p| p.payment_hash == *hash)
        .unwrap();
    assert_eq!(details.parts.len(), parts, "{details:?}");
}

/// Asserts member `i` reported receiving the payment `hash`.
fn assert_received(line: &mut Line, i: usize, hash: &PaymentHash) {
    let events = line.members[i].take_events();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::PaymentReceived { payment_hash, .. } if payment_hash == hash)),
        "{events:?}"
    );
}

/// Asserts member `i` reported receiving no payment.
fn assert_nothing_received(line: &mut Line, i: usize) {
    assert!(!line.members[i]
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::PaymentReceived { .. })));
}

fn failed_code(line: &mut Line, hash: &PaymentHash) -> Option<u16> {
    failure(line, hash).map(|f| f.failure_code.unwrap_or(0))
}

fn failure(line: &mut Line, hash: &PaymentHash) -> Option<lightning_core::node::PaymentFailure> {
    line.members[0]
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::PaymentFailed {
                payment_hash,
                reason,
            } if payment_hash == *hash => Some(reason),
            _ => None,
        })
}

/// Asserts A's payment `hash` failed with `invalid_onion_blinding` from
/// the introduction node (route index 0, A's peer), its data the hash of
/// a real onion, and that nothing moved on A's channel `ab`.
fn assert_blinding_failure_from_intro(
    line: &mut Line,
    hash: &PaymentHash,
    ab: ChannelId,
    before: u64,
) {
    assert_eq!(
        line.members[0].payment_status(hash),
        Some(PaymentStatus::Failed)
    );
    assert_eq!(line.members[0].local_msat(ab), before, "nothing paid");
    let f = failure(line, hash).expect("PaymentFailed");
    assert_eq!(
        f.failure_code,
        Some(FailureCode::INVALID_ONION_BLINDING.0),
        "{f:?}"
    );
    assert_eq!(
        f.failing_hop,
        Some(0),
        "the introduction node answered: {f:?}"
    );
    match f.failure {
        Some(FailureReason::InvalidOnionBlinding { sha256_of_onion }) => {
            assert_ne!(sha256_of_onion, [0; 32], "the onion B received")
        }
        other => panic!("{other:?}"),
    }
}

/// A pays `hash` for `amount` over `paths`, and the payment fails as
/// [`assert_blinding_failure_from_intro`] checks: the introduction
/// node's `invalid_onion_blinding`, nothing paid on A's channel `ab`.
fn pay_refused_by_intro(
    line: &mut Line,
    hash: PaymentHash,
    amount: u64,
    paths: Vec<BlindedPaymentPath>,
    ab: ChannelId,
) {
    let before = line.members[0].local_msat(ab);
    pay(line, 0, hash, amount, paths);
    assert_blinding_failure_from_intro(line, &hash, ab, before);
}

/// The relay member `i` announces (its `GossipConfig`).
fn relay_of(line: &Line, i: usize) -> HopRelay {
    let g = &line.members[i].config.gossip;
    HopRelay {
        fee_base_msat: g.fee_base_msat,
        fee_proportional_millionths: g.fee_proportional_millionths,
        cltv_expiry_delta: g.cltv_expiry_delta,
    }
}

/// The relays B(1) and D(2) of [`four`] announce, for [`three_hop_path`].
fn announced_relays(line: &Line) -> [HopRelay; 2] {
    [relay_of(line, 1), relay_of(line, 2)]
}

/// A blinded path B(1) -> D(2) -> C(3) to C, as C would write it (BOLT 4
/// "Requirements" for the creator of `encrypted_recipient_data`), with
/// `path_id` the secret of C's invoice `secret`, and hop `i`'s relay
/// `relays[i]` written into its encrypted data.
fn three_hop_path(
    line: &Line,
    chans: &[ChannelId; 3],
    secret: [u8; 32],
    relays: [HopRelay; 2],
) -> BlindedPaymentPath {
    let height = line.chain.best_block().height;
    let final_delta = line.members[3].config.min_final_cltv_expiry_delta;
    let c_max = height + 2016 + u32::from(final_delta);
    let d_max = c_max + u32::from(relays[1].cltv_expiry_delta);
    let b_max = d_max + u32::from(relays[0].cltv_expiry_delta);
    let relay = |r: &HopRelay| PaymentRelay {
        cltv_expiry_delta: r.cltv_expiry_delta,
        fee_proportional_millionths: r.fee_proportional_millionths,
        fee_base_msat: r.fee_base_msat,
    };
    let constraints = |max_cltv_expiry| PaymentConstraints {
        max_cltv_expiry,
        htlc_minimum_msat: 1,
    };
    let b = EncryptedDataTlv {
        short_channel_id: Some(line.members[1].scid(chans[1])),
        payment_relay: Some(relay(&relays[0])),
        payment_constraints: Some(constraints(b_max)),
        ..EncryptedDataTlv::default()
    };
    let d = EncryptedDataTlv {
        short_channel_id: Some(line.members[2].scid(chans[2])),
        payment_relay: Some(relay(&relays[1])),
        payment_constraints: Some(constraints(d_max)),
        ..EncryptedDataTlv::default()
    };
    let c = EncryptedDataTlv {
        path_id: Some(secret.to_vec()),
        payment_constraints: Some(constraints(c_max)),
        ..EncryptedDataTlv::default()
    };
    let session = SecretKey::from_slice(&[0x33; 32]).unwrap();
    let path = blind_path(
        &session,
        &[
            (line.members[1].id(), b.to_bytes()),
            (line.members[2].id(), d.to_bytes()),
            (line.members[3].id(), c.to_bytes()),
        ],
    )
    .unwrap();
    path.into_payment_path(BlindedPayInfo::aggregate(&relays, final_delta).unwrap())
}

/// Member `i`'s balance on each of `chans` (its local side).
fn balances(line: &Line, i: usize, chans: &[ChannelId]) -> Vec<u64> {
    chans
        .iter()
        .map(|c| line.members[i].local_msat(*c))
        .collect()
}

/// In [`line`]: A's and B's balances on A - B, then B's and C's on B - C.
fn line_balances(line: &Line, ab: ChannelId, bc: ChannelId) -> [u64; 4] {
    [
        line.members[0].local_msat(ab),
        line.members[1].local_msat(ab),
        line.members[1].local_msat(bc),
        line.members[2].local_msat(bc),
    ]
}

#[test]
fn a_pays_c_over_a_blinded_path_introduced_by_b() {
    let (mut line, ab, bc) = line();
    let amount = 50_000_000;
    let hash = invoice(&mut line, 2, amount);
    let paths = paths_for(&mut line, 2, &hash, 3);
    assert_eq!(paths.len(), 1);
    let path = &paths[0];
    assert_eq!(path.introduction_node, node_id(&line, 1));
    assert_eq!(path.hops.len(), 2);
    // Neither hop is known by its real id.
    assert_ne!(path.hops[1].blinded_node_id, line.members[2].id());
    // B's defaults (1000 msat + 1 ppm, delta 40: `GossipConfig`) and
    // C's final delta, aggregated.
    let info = path.payinfo.clone();
    let fee = u64::from(info.fee_base_msat)
        + amount * u64::from(info.fee_proportional_millionths) / 1_000_000;
    let before = line_balances(&line, ab, bc);
    pay(&mut line, 0, hash, amount, paths);
    assert_status(&line, 0, &hash, PaymentStatus::Succeeded);
    let after = line_balances(&line, ab, bc);
    assert_eq!(
        after[0],
        before[0] - amount - fee,
        "A paid the amount and the path's fee"
    );
    assert_eq!(after[1], before[1] + amount + fee);
    // C gets at least the amount (the aggregate's rounding favours it).
    let got = after[3] - before[3];
    assert!((amount..=amount + 2).contains(&got), "C got {got}");
    assert_received(&mut line, 2, &hash);
    let b_events = line.members[1].take_events();
    assert!(
        b_events.iter().any(|e| matches!(e,
            Event::PaymentForwarded { payment_hash, .. } if *payment_hash == hash)),
        "{b_events:?}"
    );
}

#[test]
fn two_part_payment_over_two_blinded_paths() {
    // Alice, Bob, Carol, Dave: A-B, B-C as in the line, and A-D, D-C.
    let (mut line, [_, bc, _, dc]) = diamond(400_000);
    // More than either side can carry: 2 x 400k sat less reserves.
    let amount = 500_000_000;
    let hash = invoice(&mut line, 2, amount);
    let paths = paths_for(&mut line, 2, &hash, 2);
    assert_eq!(paths.len(), 2);
    let intros = intros(&paths);
    assert!(intros.contains(&node_id(&line, 1)));
    assert!(intros.contains(&node_id(&line, 3)));
    let c_before = line.members[2].local_msat(bc) + line.members[2].local_msat(dc);
    pay(&mut line, 0, hash, amount, paths);
    assert_status(&line, 0, &hash, PaymentStatus::Succeeded);
    assert_parts(&line, &hash, 2);
    let c_after = line.members[2].local_msat(bc) + line.members[2].local_msat(dc);
    let got = c_after - c_before;
    assert!((amount..=amount + 4).contains(&got), "C got {got}");
    assert!(line.members[1].local_msat(bc) < 400_000_000);
    assert!(line.members[3].local_msat(dc) < 400_000_000);
}

#[test]
fn a_wrong_path_id_is_refused() {
    let (mut line, ab, _) = line();
    let amount = 20_000_000;
    let asked = invoice(&mut line, 2, amount);
    let other = invoice(&mut line, 2, amount);
    // Paths made for `other` carry its secret as `path_id`: paying
    // `asked` over them must fail at C.
    let paths = paths_for(&mut line, 2, &other, 1);
    let before = line.members[0].local_msat(ab);
    pay(&mut line, 0, asked, amount, paths);
    assert_status(&line, 0, &asked, PaymentStatus::Failed);
    assert_eq!(line.members[0].local_msat(ab), before, "nothing paid");
    // C answered `invalid_onion_blinding` (malformed, after the
    // introduction node); B, the introduction node, answered A with its
    // own `invalid_onion_blinding` (BOLT 2 "Removing an HTLC": "for any
    // local or downstream errors"), not C's error.
    assert_blinding_failure_from_intro(&mut line, &asked, ab, before);
    assert_nothing_received(&mut line, 2);
}

#[test]
fn a_sender_breaking_payment_constraints_is_refused() {
    let (mut line, ab, _) = line();
    let amount = 20_000_000;
    let hash = invoice(&mut line, 2, amount);
    let mut paths = paths_for(&mut line, 2, &hash, 1);
    // The path may be used until `max_cltv_expiry` (2016 blocks and the
    // path's delta above the height when it was made). A hostile sender
    // ignores the payinfo's delta and locks the HTLC far longer, after
    // the chain moved on.
    line.mine(300);
    line.shuttle();
    paths[0].payinfo.cltv_expiry_delta = 2000;
    let before = line.members[0].local_msat(ab);
    pay(&mut line, 0, hash, amount, paths);
    assert_status(&line, 0, &hash, PaymentStatus::Failed);
    assert_eq!(line.members[0].local_msat(ab), before);
    // B, the introduction node, answers `invalid_onion_blinding` (BOLT 4:
    // `payment_constraints.max_cltv_expiry` exceeded).
    let code = failed_code(&mut line, &hash);
    assert_eq!(code, Some(FailureCode::INVALID_ONION_BLINDING.0));
}

#[test]
fn three_hop_blinded_path_pays() {
    let (mut line, chans) = four();
    let amount = 30_000_000;
    let (hash, secret) = c_invoice(&mut line, amount);
    let path = three_hop_path(&line, &chans, secret, announced_relays(&line));
    pay(&mut line, 0, hash, amount, vec![path]);
    assert_status(&line, 0, &hash, PaymentStatus::Succeeded);
}

#[test]
fn recipient_refusing_inside_a_three_hop_path_reaches_the_sender_as_the_intro_nodes_blinding_error()
{
    let (mut line, chans) = four();
    let amount = 30_000_000;
    let (hash, _) = c_invoice(&mut line, amount);
    // C refuses: the path's `path_id` is not this invoice's secret.
    let path = three_hop_path(&line, &chans, [7; 32], announced_relays(&line));
    // C fails it malformed to D, D malformed to B (neither is the
    // introduction node), B answers A with its own error.
    pay_refused_by_intro(&mut line, hash, amount, vec![path], chans[0]);
    for (i, name) in [(1, "B"), (2, "D")] {
        let fwds = line.members[i].node.list_forwards();
        assert_eq!(fwds.len(), 1, "{name}");
        assert_eq!(
            fwds[0].status,
            lightning_core::node::ForwardStatus::Failed,
            "{name}"
        );
    }
    assert_nothing_received(&mut line, 3);
}

#[test]
fn a_failing_channel_out_of_a_blinded_hop_reaches_the_sender_as_the_intro_nodes_blinding_error() {
    let (mut line, chans) = four();
    let amount = 30_000_000;
    let (hash, secret) = c_invoice(&mut line, amount);
    let path = three_hop_path(&line, &chans, secret, announced_relays(&line));
    // D - C is down: D's forward fails at once (a local error inside the
    // blinded route).
    line.disconnect(2);
    pay_refused_by_intro(&mut line, hash, amount, vec![path], chans[0]);
    // D made no forward of it; B's record shows it failed.
    assert!(line.members[2].node.list_forwards().is_empty());
    assert_eq!(line.members[1].node.list_forwards().len(), 1);
}

#[test]
fn a_sender_underpaying_the_paths_fee_is_refused_inside_the_path() {
    let (mut line, ab, _) = line();
    let amount = 20_000_000;
    let hash = invoice(&mut line, 2, amount);
    let mut paths = paths_for(&mut line, 2, &hash, 1);
    // The sender keeps B's relay fee: B forwards what the recipient's
    // `payment_relay` leaves of it, less than C's `amt_to_forward`.
    paths[0].payinfo.fee_base_msat = 0;
    paths[0].payinfo.fee_proportional_millionths = 0;
    pay_refused_by_intro(&mut line, hash, amount, paths, ab);
    assert_nothing_received(&mut line, 2);
}

#[test]
fn a_relay_below_the_hops_policy_is_refused_and_one_above_it_pays() {
    let (mut line, chans) = four();
    let amount = 30_000_000;
    let policy = relay_of(&line, 1);
    let cheap_fee = HopRelay {
        fee_base_msat: 0,
        ..policy
    };
    let short_delta = HopRelay {
        cltv_expiry_delta: policy.cltv_expiry_delta - 1,
        ..policy
    };
    for relay in [cheap_fee, short_delta] {
        // The recipient wrote a relay for B below B's policy: the sender
        // pays exactly what the path asks, B refuses to forward.
        let (hash, secret) = c_invoice(&mut line, amount);
        let path = three_hop_path(&line, &chans, secret, [relay, relay_of(&line, 2)]);
        pay_refused_by_intro(&mut line, hash, amount, vec![path], chans[0]);
        assert!(line.members[1].node.list_forwards().is_empty(), "{relay:?}");
    }
    // Above it: B earns what the relay says.
    let generous = HopRelay {
        fee_base_msat: policy.fee_base_msat * 3,
        fee_proportional_millionths: policy.fee_proportional_millionths + 100,
        cltv_expiry_delta: policy.cltv_expiry_delta + 6,
    };
    let (hash, secret) = c_invoice(&mut line, amount);
    let path = three_hop_path(&line, &chans, secret, [generous, relay_of(&line, 2)]);
    pay(&mut line, 0, hash, amount, vec![path]);
    assert_status(&line, 0, &hash, PaymentStatus::Succeeded);
    let fwd = &line.members[1].node.list_forwards()[0];
    let expected = u64::from(generous.fee_base_msat)
        + fwd.outgoing_amount_msat.0 * u64::from(generous.fee_proportional_millionths) / 1_000_000;
    // The spec's rounding up of `amt_to_forward` may cost B 1 msat.
    assert!(
        (expected - 1..=expected).contains(&fwd.fee_msat.0),
        "B earned {} of {expected}",
        fwd.fee_msat.0
    );
}

#[test]
fn a_failed_blinded_part_is_retried_over_the_other_path_across_a_restart() {
    let (mut line, chans) = diamond(CAPACITY_SAT);
    let amount = 40_000_000;
    let hash = invoice(&mut line, 2, amount);
    let paths = paths_for(&mut line, 2, &hash, 2);
    assert_eq!(paths.len(), 2);
    // B's channel to C is down (B, introducing the first path, will
    // fail it), and A's channel to D is down (the second path's
    // introduction node is out of reach for now).
    line.disconnect(1);
    line.disconnect(2);
    pay(&mut line, 0, hash, amount, paths);
    // B answered `invalid_onion_blinding`; the retry over D's path waits
    // for a usable channel.
    assert_status(&line, 0, &hash, PaymentStatus::Pending);
    // A restarts from its store: the record kept the paths and the
    // exclusion of B, so once A - D is back the retry goes over D.
    line.restart(0);
    line.connect(1);
    line.shuttle();
    line.tick(1);
    assert_status(&line, 0, &hash, PaymentStatus::Succeeded);
    assert_parts(&line, &hash, 2);
    assert!(line.members[3].local_msat(chans[3]) <= CAPACITY_SAT * 1000 - amount);
    assert_eq!(line.members[1].local_msat(chans[1]), CAPACITY_SAT * 1000);
}

#[test]
fn the_introduction_node_pays_over_its_own_path() {
    // C's path is introduced by B; B pays it: B opens its own hop of
    // the path and sends over its channel to C, keeping the fee its hop
    // would have charged.
    let (mut line, ab, bc) = line();
    let amount = 20_000_000;
    let hash = invoice(&mut line, 2, amount);
    let paths = paths_for(&mut line, 2, &hash, 1);
    assert_eq!(paths[0].introduction_node, node_id(&line, 1));
    let b_before = balances(&line, 1, &[ab, bc]);
    let c_before = line.members[2].local_msat(bc);
    pay(&mut line, 1, hash, amount, paths);
    assert_status(&line, 1, &hash, PaymentStatus::Succeeded);
    let got = line.members[2].local_msat(bc) - c_before;
    // What B's relay forwards of the aggregate, which rounds in C's
    // favour: the amount or up to 2 msat more, never less.
    assert!((amount..=amount + 2).contains(&got), "C got {got}");
    let b_after = balances(&line, 1, &[ab, bc]);
    assert_eq!(b_after[0], b_before[0], "A - B is untouched");
    assert_eq!(b_after[1], b_before[1] - got, "B paid exactly what C got");
    assert_received(&mut line, 2, &hash);
}

#[test]
fn the_introduction_node_pays_over_a_three_hop_path() {
    // B(1) introduces B - D - C; B pays: D, reached over B - D, now
    // introduces the rest with the path key B derived, takes its relay's
    // fee, and C checks the payment as if B had relayed it.
    let (mut line, chans) = four();
    let amount = 30_000_000;
    let (hash, secret) = c_invoice(&mut line, amount);
    let relays = announced_relays(&line);
    let path = three_hop_path(&line, &chans, secret, relays);
    let path_info = path.payinfo.clone();
    let b_before = line.members[1].local_msat(chans[1]);
    let d_before = balances(&line, 2, &chans[1..]);
    let c_before = line.members[3].local_msat(chans[2]);
    pay(&mut line, 1, hash, amount, vec![path]);
    assert_status(&line, 1, &hash, PaymentStatus::Succeeded);
    // Every amount by the spec's formulas (BOLT 4 "Route Blinding"): the
    // path is paid `amount` plus the aggregated fee; B's relay forwards
    // `amt_to_forward` of that to D, D's relay of what it got to C.
    let fwd = |incoming: u64, r: &HopRelay| {
        let p = u64::from(r.fee_proportional_millionths);
        ((incoming - u64::from(r.fee_base_msat)) * 1_000_000 + 1_000_000 + p - 1) / (1_000_000 + p)
    };
    let info = path_info.clone();
    let to_intro = amount
        + u64::from(info.fee_base_msat)
        + (amount * u64::from(info.fee_proportional_millionths)).div_ceil(1_000_000);
    let d_after = balances(&line, 2, &chans[1..]);
    let d_in = d_after[0] - d_before[0];
    assert_eq!(
        d_in,
        fwd(to_intro, &relays[0]),
        "D got what B's relay forwards"
    );
    let got = line.members[3].local_msat(chans[2]) - c_before;
    assert_eq!(d_before[1] - d_after[1], got, "D forwarded what C got");
    assert_eq!(got, fwd(d_in, &relays[1]), "C got what D's relay forwards");
    assert!(got >= amount, "C got {got}, less than {amount}");
    assert_eq!(
        b_before - line.members[1].local_msat(chans[1]),
        d_in,
        "B paid exactly what D got"
    );
    // A was not involved.
    assert_eq!(
        line.members[0].local_msat(chans[0]),
        CAPACITY_SAT * 1000 - line.members[1].local_msat(chans[0])
    );
}

/// A blinded path of one hop, member `intro`, with `data` for it.
fn one_hop_path(line: &Line, intro: usize, data: Vec<u8>) -> BlindedPaymentPath {
    let session = SecretKey::from_slice(&[0x44; 32]).unwrap();
    let path = blind_path(&session, &[(line.members[intro].id(), data)]).unwrap();
    path.into_payment_path(BlindedPayInfo::aggregate(&[], 18).unwrap())
}

#[test]
fn a_path_that_ends_at_us_or_does_not_open_is_refused_before_anything_is_offered() {
    let (mut line, ab, bc) = line();
    let amount = 10_000_000;
    let hash = invoice(&mut line, 2, amount);
    let before = balances(&line, 1, &[ab, bc]);
    // A path whose only hop is B: B would pay itself.
    let to_us = one_hop_path(&line, 1, EncryptedDataTlv::default().to_bytes());
    assert_refused(&mut line, 1, hash, amount, vec![to_us], "no hop past us");
    // A two-hop path introduced by B whose data for B is not encrypted
    // to B (garbage): B cannot open its hop.
    let mut garbage = two_hop_path_from_b(&line, bc);
    garbage.hops[0].encrypted_recipient_data = vec![0xab; 40];
    assert_refused(
        &mut line,
        1,
        hash,
        amount,
        vec![garbage],
        "our own blinded hop",
    );
    line.shuttle();
    assert_eq!(balances(&line, 1, &[ab, bc]), before, "nothing was offered");
    assert_eq!(line.members[1].payment_status(&hash), None);
}

/// C's path B -> C in [`line`], made by C.
fn two_hop_path_from_b(line: &Line, bc: ChannelId) -> BlindedPaymentPath {
    let c = EncryptedDataTlv {
        path_id: Some(vec![7; 32]),
        ..EncryptedDataTlv::default()
    };
    let b = EncryptedDataTlv {
        short_channel_id: Some(line.members[1].scid(bc)),
        payment_relay: Some(PaymentRelay {
            cltv_expiry_delta: 40,
            fee_proportional_millionths: 1,
            fee_base_msat: 1000,
        }),
        ..EncryptedDataTlv::default()
    };
    let session = SecretKey::from_slice(&[0x55; 32]).unwrap();
    let path = blind_path(
        &session,
        &[
            (line.members[1].id(), b.to_bytes()),
            (line.members[2].id(), c.to_bytes()),
        ],
    )
    .unwrap();
    path.into_payment_path(
        BlindedPayInfo::aggregate(
            &[HopRelay {
                fee_base_msat: 1000,
                fee_proportional_millionths: 1,
                cltv_expiry_delta: 40,
            }],
            18,
        )
        .unwrap(),
    )
}

#[test]
fn a_path_we_introduce_over_a_channel_that_is_down_is_left_for_another() {
    // A(0) - B(1) - C(2) and A - C, B funding both its channels. C's
    // paths are introduced by B and by A; B pays while its channel to C
    // is down: its own path is dropped before routing, and the payment
    // goes B - A - C over A's path.
    let mut line = Line::new(3, |_, _| {});
    add_link(&mut line, 0, 2);
    line.shuttle();
    let ba = line.open_channel(1, 0, CAPACITY_SAT, 0);
    let bc = line.open_channel(1, 2, CAPACITY_SAT, 0);
    let ac = line.open_channel(0, 2, CAPACITY_SAT, 0);
    clear_events(&mut line);
    let amount = 25_000_000;
    let hash = invoice(&mut line, 2, amount);
    let paths = paths_for(&mut line, 2, &hash, 2);
    let b_id = node_id(&line, 1);
    let intros = intros(&paths);
    assert!(intros.contains(&b_id), "{intros:?}");
    assert!(intros.contains(&node_id(&line, 0)));
    line.disconnect(1);
    // Only its own path given, B says why it cannot use it.
    let b_path: Vec<_> = paths
        .iter()
        .filter(|p| p.introduction_node == b_id)
        .cloned()
        .collect();
    assert_refused(&mut line, 1, hash, amount, b_path, "no usable channel");
    let bc_before = line.members[1].local_msat(bc);
    let c_before = line.members[2].local_msat(ac);
    pay(&mut line, 1, hash, amount, paths);
    assert_status(&line, 1, &hash, PaymentStatus::Succeeded);
    assert_eq!(line.members[1].local_msat(bc), bc_before, "B - C unused");
    assert!(line.members[2].local_msat(ac) - c_before >= amount);
    assert!(line.members[1].local_msat(ba) < CAPACITY_SAT * 1000 - amount);
}
