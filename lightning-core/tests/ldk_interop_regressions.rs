//! Regression tests for disagreements the LDK interop harness
//! (`interop-ldk/`) found, each named after the spec rule it pins.
#![allow(clippy::unwrap_used)]

mod channel_harness;
mod common;

use channel_harness::*;
use lightning_core::channel::Channel;
use lightning_core::keys::KeysManager;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

/// BOLT 2, `open_channel` / `accept_channel`: "if both nodes advertised the
/// `option_upfront_shutdown_script` feature: MUST include
/// `upfront_shutdown_script` with either a valid `shutdown_scriptpubkey`
/// [...] or a zero-length `shutdown_scriptpubkey`". Our node advertises the
/// feature, so without a committed script the field must be present and
/// empty (LDK refused our `open_channel` when it was absent).
#[test]
fn bolt2_upfront_shutdown_script_present_when_feature_negotiated() {
    let ka = KeysManager::new(&[1; 32]).unwrap();
    let kb = KeysManager::new(&[2; 32]).unwrap();
    let (_, open) = Channel::new_outbound(
        ka.derive_channel_signer(0).unwrap(),
        config(0xaa),
        0,
        ChannelId([9; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    assert_eq!(open.tlvs.upfront_shutdown_script, Some(Vec::new()));
    let (_, accept) =
        Channel::from_open_channel(kb.derive_channel_signer(0).unwrap(), config(0xbb), 0, &open)
            .unwrap();
    assert_eq!(accept.tlvs.upfront_shutdown_script, Some(Vec::new()));

    // A committed script is sent as it is.
    let mut committing = config(0xaa);
    committing.upfront_shutdown_script = true;
    let (_, open) = Channel::new_outbound(
        ka.derive_channel_signer(1).unwrap(),
        committing.clone(),
        1,
        ChannelId([8; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    assert_eq!(
        open.tlvs.upfront_shutdown_script,
        Some(committing.shutdown_script.to_bytes())
    );
}

/// The empty `upfront_shutdown_script` is encoded as a present, zero-length
/// TLV (`0x00 0x00`), which is what "a zero-length `shutdown_scriptpubkey`"
/// means on the wire.
#[test]
fn bolt2_empty_upfront_shutdown_script_is_encoded() {
    let ka = KeysManager::new(&[1; 32]).unwrap();
    let (_, open) = Channel::new_outbound(
        ka.derive_channel_signer(0).unwrap(),
        config(0xaa),
        0,
        ChannelId([9; 32]),
        1_000_000,
        0,
        1000,
    )
    .unwrap();
    let bytes = Message::OpenChannel(open).encode().unwrap();
    let Message::OpenChannel(back) = Message::decode(&bytes).unwrap() else {
        panic!("not an open_channel")
    };
    assert_eq!(back.tlvs.upfront_shutdown_script, Some(Vec::new()));
}

/// BOLT 2, "Closing Initiation: `shutdown`": a node "MUST NOT send an
/// `update_add_htlc` after a `shutdown`" — after *its own* `shutdown`. An
/// `update_add_htlc` the peer sent before our `shutdown` reached it crosses
/// ours and is valid: the peer replies with `shutdown` only "once there are
/// no outstanding updates on the peer". We used to refuse such an add while
/// shutting down, then fail the channel on the peer's `commitment_signed`
/// that covered it (found with LDK paying us as we closed).
#[test]
fn bolt2_update_add_htlc_crossing_our_shutdown_is_accepted() {
    use lightning_core::channel::{ChannelEvent, Phase};

    let mut pair = open(OpenOptions::default());
    // B (the fundee) offers an HTLC and signs it...
    let (_, hash) = preimage(1);
    let (id, out) = pair
        .b
        .ch
        .send_htlc(5_000_000, hash, 700_000, ONION.to_vec())
        .unwrap();
    pair.b.apply(out);
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    // ...while A starts closing: A's `shutdown` and B's updates cross.
    let out = pair.a.ch.shutdown().unwrap();
    pair.a.apply(out);
    assert!(matches!(pair.a.outbox.back(), Some(Message::Shutdown(_))));
    pair.deliver_b_to_a().unwrap(); // update_add_htlc
    pair.deliver_b_to_a().unwrap(); // commitment_signed
    pair.run_until_quiet();
    assert!(pair
        .a
        .take_events()
        .iter()
        .any(|e| matches!(e, ChannelEvent::HtlcReceived { htlc_id, .. } if *htlc_id == id)));
    assert_eq!(pair.a.ch.phase(), Phase::ShuttingDown);
    pair.check_agreement();

    // The HTLC is settled during the shutdown, then the close completes.
    let out = pair.a.ch.fulfill_htlc(id, preimage(1).0).unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.run_until_quiet();
    assert_eq!(pair.a.ch.phase(), Phase::Closed);
    assert_eq!(pair.b.ch.phase(), Phase::Closed);
}

/// The other half of the rule: an `update_add_htlc` after the peer's own
/// `shutdown` breaks "MUST NOT send an `update_add_htlc` after a
/// `shutdown`", and BOLT 2 sets no rule for its receiver. LDK 0.2 sends one
/// when an add it committed before its `shutdown` waits on its own
/// persistence (seen in `interop-ldk`'s `s8_cooperative_close_edges`: we
/// used to fail the channel, a unilateral close). Such an add is accepted,
/// handed to the node to be failed back (`must_fail`, never routed or
/// claimed), and the close completes once it is gone.
#[test]
fn bolt2_update_add_htlc_after_peers_shutdown_is_failed_back() {
    use lightning_core::channel::{ChannelEvent, Phase};

    let mut pair = open(OpenOptions::default());
    // An HTLC of A's is in flight, so the close cannot start at once.
    let (pre_a, hash_a) = preimage(3);
    let (id_a, out) = pair
        .a
        .ch
        .send_htlc(7_000_000, hash_a, 700_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.run_until_quiet();
    let (_, hash) = preimage(2);
    // B's add and its signature are built first; B's `shutdown` reaches A
    // before them, so as A sees it, the add comes after B's shutdown.
    let (id, out) = pair
        .b
        .ch
        .send_htlc(5_000_000, hash, 700_000, ONION.to_vec())
        .unwrap();
    pair.b.apply(out);
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    let out = pair
        .a
        .ch
        .handle_message(&Message::Shutdown(lightning_wire::msgs::Shutdown {
            channel_id: pair.a.ch.channel_id(),
            scriptpubkey: config(0xbb).shutdown_script.to_bytes(),
            tlvs: Default::default(),
        }))
        .unwrap();
    pair.a.apply(out);
    pair.deliver_b_to_a().unwrap(); // update_add_htlc, after B's shutdown
    pair.deliver_b_to_a().unwrap(); // commitment_signed
    pair.run_until_quiet();
    let must_fail = pair.a.take_events().into_iter().find_map(|e| match e {
        ChannelEvent::HtlcReceived {
            htlc_id, must_fail, ..
        } if htlc_id == id => Some(must_fail),
        _ => None,
    });
    assert_eq!(must_fail, Some(true), "the add is received, to be failed");
    assert_eq!(pair.a.ch.phase(), Phase::ShuttingDown);
    pair.check_agreement();

    // Failed back; once A's HTLC is settled too, the close completes.
    let out = pair.a.ch.fail_htlc(id, vec![0x11; 32]).unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.run_until_quiet();
    assert_eq!(pair.a.ch.phase(), Phase::ShuttingDown);
    let out = pair.b.ch.fulfill_htlc(id_a, pre_a).unwrap();
    pair.b.apply(out);
    let out = pair.b.ch.commit().unwrap();
    pair.b.apply(out);
    pair.run_until_quiet();
    assert_eq!(pair.a.ch.phase(), Phase::Closed);
    assert_eq!(pair.b.ch.phase(), Phase::Closed);
}
