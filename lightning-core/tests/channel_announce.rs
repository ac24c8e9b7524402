//! BOLT 7 `announcement_signatures` at the channel: sent only at six
//! confirmations of an announced channel, the peer's checked (a bad
//! signature or `short_channel_id` refused, nothing stored), valid ones
//! stored and the full `channel_announcement` verifying.
#![allow(clippy::unwrap_used)]

mod channel_harness;

use bitcoin::secp256k1::{Message as SecpMessage, PublicKey, SecretKey, SECP256K1};
use channel_harness::{config, open, OpenOptions, Pair};
use lightning_core::channel::announce::{
    channel_announcement_hash, verify_channel_announcement, AnnouncementReceipt,
};
use lightning_core::channel::{ChannelError, ErrorAction};
use lightning_core::keys::KeyError;
use lightning_wire::msgs::{AnnouncementSignatures, Message};

fn node_key(seed: u8) -> SecretKey {
    SecretKey::from_slice(&[seed; 32]).unwrap()
}

fn signer(
    k: SecretKey,
) -> impl FnOnce([u8; 32]) -> Result<bitcoin::secp256k1::ecdsa::Signature, KeyError> {
    move |h| Ok(SECP256K1.sign_ecdsa(&SecpMessage::from_digest(h), &k))
}

fn announced_pair(announce: bool) -> Pair {
    let mut a_config = config(0xaa);
    a_config.announce_channel = announce;
    open(OpenOptions {
        a_config,
        ..OpenOptions::default()
    })
}

fn ids() -> (SecretKey, PublicKey, SecretKey, PublicKey) {
    let (ka, kb) = (node_key(0x11), node_key(0x22));
    (ka, ka.public_key(SECP256K1), kb, kb.public_key(SECP256K1))
}

/// Bob's `announcement_signatures` once both channels are six deep.
fn bobs_sigs(pair: &mut Pair) -> AnnouncementSignatures {
    let (_, a_id, kb, b_id) = ids();
    for n in [&mut pair.a, &mut pair.b] {
        n.ch.best_block_updated(5).unwrap();
    }
    assert!(pair.b.ch.announcement_due());
    let out = pair
        .b
        .ch
        .announcement_signatures(b_id, a_id, signer(kb))
        .unwrap();
    match &out.messages[..] {
        [Message::AnnouncementSignatures(m)] => m.clone(),
        other => panic!("expected announcement_signatures, got {other:?}"),
    }
}

#[test]
fn not_due_before_six_confirmations_nor_when_unannounced() {
    let mut pair = announced_pair(true);
    assert!(pair.a.ch.state().announce_channel && pair.b.ch.state().announce_channel);
    pair.a.ch.best_block_updated(4).unwrap(); // depth 5
    assert!(!pair.a.ch.announcement_due());
    pair.a.ch.best_block_updated(5).unwrap(); // depth 6
    assert!(pair.a.ch.announcement_due());

    let mut private = announced_pair(false);
    private.a.ch.best_block_updated(100).unwrap();
    assert!(!private.a.ch.state().announce_channel);
    assert!(!private.a.ch.announcement_due());
}

#[test]
fn valid_signatures_are_stored_and_the_announcement_verifies() {
    let mut pair = announced_pair(true);
    let m = bobs_sigs(&mut pair);
    let (ka, a_id, _, b_id) = ids();
    match pair
        .a
        .ch
        .on_announcement_signatures(&m, a_id, b_id)
        .unwrap()
    {
        AnnouncementReceipt::Stored(out) => assert!(out.persist.is_some(), "stored with a write"),
        AnnouncementReceipt::Ignored(why) => panic!("ignored: {why}"),
    }
    assert!(pair.a.ch.state().remote_announcement_sigs.is_some());
    let ann = pair
        .a
        .ch
        .channel_announcement(a_id, b_id, signer(ka))
        .unwrap()
        .unwrap();
    assert!(verify_channel_announcement(&ann));
    assert!(ann.node_id_1.serialize() < ann.node_id_2.serialize());
    let h = channel_announcement_hash(&ann);
    let msg = SecpMessage::from_digest(h);
    for (sig, key) in [
        (ann.node_signature_1, ann.node_id_1),
        (ann.node_signature_2, ann.node_id_2),
        (ann.bitcoin_signature_1, ann.bitcoin_key_1),
        (ann.bitcoin_signature_2, ann.bitcoin_key_2),
    ] {
        SECP256K1.verify_ecdsa(&msg, &sig, &key).unwrap();
    }
}

#[test]
fn bad_signatures_and_wrong_scid_are_refused_and_not_stored() {
    let mut pair = announced_pair(true);
    let good = bobs_sigs(&mut pair);
    let (_, a_id, _, b_id) = ids();
    let swap = AnnouncementSignatures {
        node_signature: good.bitcoin_signature,
        bitcoin_signature: good.node_signature,
        ..good.clone()
    };
    let mut wrong_scid = good.clone();
    wrong_scid.short_channel_id = lightning_wire::types::ShortChannelId::new(999, 1, 0).unwrap();
    // Signed by a node key that is not Bob's.
    let other = node_key(0x33).public_key(SECP256K1);
    for (m, their) in [(&swap, b_id), (&wrong_scid, b_id), (&good, other)] {
        let e = pair
            .a
            .ch
            .on_announcement_signatures(m, a_id, their)
            .unwrap_err();
        assert!(
            matches!(e, ChannelError::BadAnnouncementSignatures(_)),
            "{e}"
        );
        assert_eq!(e.action(), ErrorAction::Warn);
        assert!(pair.a.ch.state().remote_announcement_sigs.is_none());
    }
}

#[test]
fn an_unannounced_channel_ignores_announcement_signatures() {
    let mut announced = announced_pair(true);
    let m = bobs_sigs(&mut announced);
    let mut private = announced_pair(false);
    let (_, a_id, _, b_id) = ids();
    let r = private
        .a
        .ch
        .on_announcement_signatures(&m, a_id, b_id)
        .unwrap();
    assert!(matches!(r, AnnouncementReceipt::Ignored(_)));
    assert!(private.a.ch.state().remote_announcement_sigs.is_none());
}
