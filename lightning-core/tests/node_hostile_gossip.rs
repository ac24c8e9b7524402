//! A raw peer against a real `Node` on an announced channel (BOLT 7, "The
//! `announcement_signatures` Message"): the node's signatures check out at
//! the peer, a bad signature or `short_channel_id` from the peer gets a
//! `warning` and a disconnect with nothing stored and the channel kept,
//! good ones make the node's `channel_announcement`, and an unannounced
//! channel ignores them.
#![allow(clippy::unwrap_used)]

mod node_hostile_support;

use bitcoin::secp256k1::{Message as Digest, PublicKey, SecretKey, SECP256K1};
use lightning_core::channel::announce::{verify_channel_announcement, AnnouncementReceipt};
use lightning_core::channel::Phase;
use lightning_wire::msgs::{AnnouncementSignatures, Message};
use node_hostile_support::{Funded, Got};

const RAW_SEED: u8 = 0x41;

fn raw_key() -> SecretKey {
    SecretKey::from_slice(&[RAW_SEED; 32]).unwrap()
}

/// A usable channel from the raw peer, both sides six deep; returns the
/// node's `announcement_signatures` (sent when the node saw six blocks).
fn six_deep(announce: bool) -> (Funded, Option<AnnouncementSignatures>) {
    let mut s = Funded::funding_created_with(false, announce);
    s.pump();
    s.confirm(3);
    assert_eq!(s.ch.phase(), Phase::Normal);
    s.mine(3);
    // The raw channel saw the funding at depth 3 from height 0.
    s.ch.best_block_updated(5).unwrap();
    s.raw.shuttle(&mut s.node);
    let theirs = s.raw.take().into_iter().find_map(|g| match g {
        Got::Message(Message::AnnouncementSignatures(m)) => Some(m),
        _ => None,
    });
    (s, theirs)
}

fn ours(s: &mut Funded) -> AnnouncementSignatures {
    let node_id = s.node.node_id();
    let raw_id = raw_key().public_key(SECP256K1);
    let key = raw_key();
    let out =
        s.ch.announcement_signatures(raw_id, node_id, move |h| {
            Ok(SECP256K1.sign_ecdsa(&Digest::from_digest(h), &key))
        })
        .unwrap();
    match &out.messages[..] {
        [Message::AnnouncementSignatures(m)] => m.clone(),
        other => panic!("{other:?}"),
    }
}

fn node_answer(s: &mut Funded, m: &AnnouncementSignatures) -> Vec<Got> {
    s.raw
        .send(&mut s.node, &Message::AnnouncementSignatures(m.clone()));
    s.raw.shuttle(&mut s.node);
    s.raw.take()
}

#[test]
fn the_nodes_signatures_check_out_and_good_ones_announce() {
    let (mut s, theirs) = six_deep(true);
    let theirs = theirs.expect("the node sends announcement_signatures at six");
    let node_id: PublicKey = s.node.node_id();
    let raw_id = raw_key().public_key(SECP256K1);
    match s
        .ch
        .on_announcement_signatures(&theirs, raw_id, node_id)
        .unwrap()
    {
        AnnouncementReceipt::Stored(_) => {}
        AnnouncementReceipt::Ignored(why) => panic!("{why}"),
    }
    let m = ours(&mut s);
    let got = node_answer(&mut s, &m);
    assert!(
        !got.iter()
            .any(|g| matches!(g, Got::Warning(..) | Got::Error(..) | Got::Disconnected)),
        "{got:?}"
    );
    assert!(s.node.list_channels()[0].is_announced);
    let gossip: Vec<Message> = std::iter::from_fn(|| s.node.poll_gossip()).collect();
    let ann = gossip
        .iter()
        .find_map(|m| match m {
            Message::ChannelAnnouncement(a) => Some(a),
            _ => None,
        })
        .expect("channel_announcement");
    assert!(verify_channel_announcement(ann));
}

#[test]
fn bad_signatures_get_a_warning_and_are_not_stored() {
    let (mut s, _) = six_deep(true);
    let good = ours(&mut s);
    let swapped = AnnouncementSignatures {
        node_signature: good.bitcoin_signature,
        bitcoin_signature: good.node_signature,
        ..good.clone()
    };
    let got = node_answer(&mut s, &swapped);
    assert!(got.iter().any(|g| matches!(g, Got::Warning(..))), "{got:?}");
    assert!(!s.raw.connected(&s.node), "closed after the warning");
    let d = &s.node.list_channels()[0];
    assert!(!d.is_announced);
    assert_eq!(d.phase, Phase::Normal, "a warning, not a failed channel");
    assert!(s.node.poll_gossip().is_none());
}

#[test]
fn a_wrong_short_channel_id_gets_a_warning() {
    let (mut s, _) = six_deep(true);
    let mut m = ours(&mut s);
    m.short_channel_id = lightning_wire::types::ShortChannelId(m.short_channel_id.0 ^ 1);
    let got = node_answer(&mut s, &m);
    assert!(got.iter().any(|g| matches!(g, Got::Warning(..))), "{got:?}");
    assert!(!s.raw.connected(&s.node), "closed after the warning");
    assert!(!s.node.list_channels()[0].is_announced);
}

#[test]
fn an_unannounced_channel_ignores_them_and_sends_none() {
    let (mut s, theirs) = six_deep(false);
    assert!(theirs.is_none(), "never sent for an unannounced channel");
    // The raw side builds valid signatures anyway (its channel would not
    // send them; the message is forged from the same keys).
    s.ch.best_block_updated(5).unwrap();
    let node_id = s.node.node_id();
    let raw_id = raw_key().public_key(SECP256K1);
    let ann = s.ch.unsigned_announcement(raw_id, node_id).unwrap();
    let h = lightning_core::channel::announce::channel_announcement_hash(&ann);
    let sig = SECP256K1.sign_ecdsa(&Digest::from_digest(h), &raw_key());
    let m = AnnouncementSignatures {
        channel_id: s.ch.channel_id(),
        short_channel_id: ann.short_channel_id,
        node_signature: sig,
        bitcoin_signature: sig,
        tlvs: Default::default(),
    };
    let got = node_answer(&mut s, &m);
    assert!(
        got.iter()
            .all(|g| !matches!(g, Got::Warning(..) | Got::Error(..) | Got::Disconnected)),
        "{got:?}"
    );
    assert!(!s.node.list_channels()[0].is_announced);
    assert!(s.node.poll_gossip().is_none());
}
