//! BOLT 7 between two `Node`s: an announced channel exchanges
//! `announcement_signatures` at six confirmations (not before), both
//! nodes hand out a `channel_announcement` whose four signatures verify,
//! a `channel_update` and a `node_announcement` signed by the node key;
//! the exchange happens after a reconnection when the depth came while
//! the peer was away; the disable bit after the peer stays away; an
//! unannounced channel never produces an announcement.
#![allow(clippy::unwrap_used)]

mod node_support;

use std::time::Duration;

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{Message as SecpMessage, PublicKey, SECP256K1};
use lightning_core::node::Node;
use lightning_wire::codec::Encode;
use lightning_wire::msgs::Message;
use node_support::{Net, ANNOUNCE};

fn verify(body: &[u8], skip: usize, sig: &bitcoin::secp256k1::ecdsa::Signature, key: &PublicKey) {
    let h = sha256d::Hash::hash(&body[skip..]).to_byte_array();
    SECP256K1
        .verify_ecdsa(&SecpMessage::from_digest(h), sig, key)
        .unwrap();
}

fn drain(node: &mut Node) -> Vec<Message> {
    std::iter::from_fn(|| node.poll_gossip()).collect()
}

/// Checks one node's gossip: one announcement (four signatures), an
/// enabled update in its direction, a node announcement.
fn check_gossip(msgs: &[Message], me: PublicKey, peer: PublicKey, alias: &str) {
    let ann = msgs
        .iter()
        .find_map(|m| match m {
            Message::ChannelAnnouncement(a) => Some(a),
            _ => None,
        })
        .expect("a channel_announcement");
    let body = ann.to_bytes();
    verify(&body, 256, &ann.node_signature_1, &ann.node_id_1);
    verify(&body, 256, &ann.node_signature_2, &ann.node_id_2);
    verify(&body, 256, &ann.bitcoin_signature_1, &ann.bitcoin_key_1);
    verify(&body, 256, &ann.bitcoin_signature_2, &ann.bitcoin_key_2);
    let mut ids = [me.serialize(), peer.serialize()];
    ids.sort();
    assert_eq!(ann.node_id_1.serialize(), ids[0]);
    assert_eq!(ann.node_id_2.serialize(), ids[1]);

    let upd = msgs
        .iter()
        .find_map(|m| match m {
            Message::ChannelUpdate(u) => Some(u),
            _ => None,
        })
        .expect("a channel_update");
    verify(&upd.to_bytes(), 64, &upd.signature, &me);
    assert_eq!(upd.short_channel_id, ann.short_channel_id);
    assert_eq!(upd.direction(), u8::from(me.serialize() != ids[0]));
    assert!(!upd.is_disabled() && !upd.dont_forward());
    assert_eq!(upd.message_flags & 1, 1, "must_be_one");

    let na = msgs
        .iter()
        .find_map(|m| match m {
            Message::NodeAnnouncement(n) => Some(n),
            _ => None,
        })
        .expect("a node_announcement");
    verify(&na.to_bytes(), 64, &na.signature, &me);
    assert_eq!(na.node_id, me);
    assert_eq!(na.alias_str(), Some(alias));
}

fn announced_net() -> Net {
    ANNOUNCE.with(|a| a.set(true));
    Net::new(false, false)
}

#[test]
fn announced_channel_is_announced_at_six_confirmations() {
    let mut net = announced_net();
    let id = net.open_channel(500_000, 0);
    // Three confirmations: ready, not yet announced.
    assert!(drain(&mut net.a.node).is_empty());
    let d = net.a.node.list_channels();
    assert!(d[0].announce_channel && !d[0].is_announced);
    net.mine(2);
    assert!(!net.a.node.list_channels()[0].is_announced, "5 blocks");
    net.mine(1);
    for n in [&net.a.node, &net.b.node] {
        let d = n.list_channels();
        assert_eq!(d[0].channel_id, id);
        assert!(d[0].is_announced, "6 blocks: exchanged");
        assert!(d[0].short_channel_id.is_some());
    }
    let (a_id, b_id) = (net.a.node.node_id(), net.b.node.node_id());
    let ga = drain(&mut net.a.node);
    let gb = drain(&mut net.b.node);
    check_gossip(&ga, a_id, b_id, "");
    check_gossip(&gb, b_id, a_id, "");
    // The same announcement from both sides.
    let ann = |g: &[Message]| {
        g.iter()
            .find(|m| matches!(m, Message::ChannelAnnouncement(_)))
            .cloned()
    };
    assert_eq!(ann(&ga), ann(&gb));

    // Reconnecting: nothing new for the network (already announced).
    net.disconnect();
    net.connect();
    assert!(drain(&mut net.a.node)
        .iter()
        .all(|m| !matches!(m, Message::ChannelAnnouncement(_))));
}

#[test]
fn depth_reached_while_disconnected_exchanges_after_reconnection() {
    let mut net = announced_net();
    net.open_channel(500_000, 0);
    net.disconnect();
    net.mine(3);
    assert!(!net.a.node.list_channels()[0].is_announced);
    net.connect();
    for n in [&net.a.node, &net.b.node] {
        assert!(
            n.list_channels()[0].is_announced,
            "sent after channel_reestablish"
        );
    }
    let (a_id, b_id) = (net.a.node.node_id(), net.b.node.node_id());
    check_gossip(&drain(&mut net.a.node), a_id, b_id, "");
}

#[test]
fn a_peer_away_past_the_delay_gets_a_disabling_update_then_reenabled() {
    let mut net = announced_net();
    net.open_channel(500_000, 0);
    net.mine(3);
    drain(&mut net.a.node);
    net.disconnect();
    net.now += Duration::from_secs(601);
    let now = net.now;
    net.a.node.handle_timeout(now);
    let g = drain(&mut net.a.node);
    let u = match &g[..] {
        [Message::ChannelUpdate(u)] => u.clone(),
        other => panic!("expected one channel_update, got {other:?}"),
    };
    assert!(u.is_disabled());
    verify(&u.to_bytes(), 64, &u.signature, &net.a.node.node_id());
    net.now += Duration::from_secs(400);
    net.connect();
    let g = drain(&mut net.a.node);
    let u2 = match &g[..] {
        [Message::ChannelUpdate(u)] => u.clone(),
        other => panic!("expected one channel_update, got {other:?}"),
    };
    assert!(!u2.is_disabled());
    assert!(u2.timestamp > u.timestamp);
}

#[test]
fn unannounced_channel_never_emits_an_announcement() {
    ANNOUNCE.with(|a| a.set(false));
    let mut net = Net::new(false, false);
    net.open_channel(500_000, 0);
    net.mine(10);
    net.disconnect();
    net.connect();
    for n in [&mut net.a.node, &mut net.b.node] {
        assert!(drain(n).is_empty());
        let d = n.list_channels();
        assert!(!d[0].announce_channel && !d[0].is_announced);
    }
}

fn updates(g: &[Message]) -> Vec<lightning_wire::msgs::ChannelUpdate> {
    g.iter()
        .filter_map(|m| match m {
            Message::ChannelUpdate(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lost_answer_is_recovered_by_retransmission_after_reconnection() {
    let mut net = announced_net();
    net.open_channel(500_000, 0);
    // Only Alice sees blocks 4 to 6: she sends hers, Bob stores it but is
    // not deep enough to answer.
    net.chain.mine_blocks(3, &net.wallet.script_pubkey());
    lightning_test_support::host::feed_blocks(&mut net.a.node, &mut net.a.fed, &net.chain);
    net.shuttle();
    assert!(!net.a.node.list_channels()[0].is_announced);
    assert!(
        net.b.node.list_channels()[0].is_announced,
        "Bob stored Alice's"
    );
    // A new connection: Bob has Alice's, so he does not speak first
    // (BOLT 7); Alice has none of Bob's, so she sends hers again.
    net.disconnect();
    net.connect();
    // Bob reaches six: he answers the signatures of this connection.
    lightning_test_support::host::feed_blocks(&mut net.b.node, &mut net.b.fed, &net.chain);
    net.shuttle();
    assert!(net.a.node.list_channels()[0].is_announced);
    let (a_id, b_id) = (net.a.node.node_id(), net.b.node.node_id());
    check_gossip(&drain(&mut net.a.node), a_id, b_id, "");
}

#[test]
fn the_peers_signatures_survive_a_restart() {
    let mut net = announced_net();
    net.open_channel(500_000, 0);
    net.mine(3);
    drain(&mut net.a.node);
    net.restart(true);
    assert!(
        net.a.node.list_channels()[0].is_announced,
        "odd record field 25"
    );
    // Queued again for this run once the channel is back.
    let (a_id, b_id) = (net.a.node.node_id(), net.b.node.node_id());
    check_gossip(&drain(&mut net.a.node), a_id, b_id, "");
}

#[test]
fn updates_are_refreshed_before_two_weeks_and_rate_limited() {
    let mut net = announced_net();
    net.open_channel(500_000, 0);
    net.mine(3);
    let first = updates(&drain(&mut net.a.node));
    assert_eq!(first.len(), 1);
    // Away past the delay: disabled.
    net.disconnect();
    net.now += Duration::from_secs(601);
    let now = net.now;
    net.a.node.handle_timeout(now);
    let disabled = updates(&drain(&mut net.a.node));
    assert!(disabled.len() == 1 && disabled[0].is_disabled());
    // Back 10 s later: the enabling update waits for the rate limit...
    net.now += Duration::from_secs(10);
    net.connect();
    assert!(updates(&drain(&mut net.a.node)).is_empty(), "rate limited");
    // ... and a flap inside the window adds nothing.
    net.disconnect();
    net.connect();
    assert!(updates(&drain(&mut net.a.node)).is_empty());
    let next = net.a.node.next_timeout().unwrap();
    assert!(next <= net.now + Duration::from_secs(300));
    net.now += Duration::from_secs(300);
    let now = net.now;
    net.a.node.handle_timeout(now);
    let enabled = updates(&drain(&mut net.a.node));
    assert!(
        enabled.len() == 1 && !enabled[0].is_disabled(),
        "{enabled:?}"
    );
    assert!(enabled[0].timestamp > disabled[0].timestamp);
    // Thirteen days on, a refresh before the two-week prune (BOLT 7).
    net.now += lightning_core::node::UPDATE_REFRESH;
    let now = net.now;
    net.a.node.handle_timeout(now);
    let refreshed = updates(&drain(&mut net.a.node));
    assert_eq!(refreshed.len(), 1);
    assert!(refreshed[0].timestamp > enabled[0].timestamp);
    verify(
        &refreshed[0].to_bytes(),
        64,
        &refreshed[0].signature,
        &net.a.node.node_id(),
    );
}
