//! Scenarios of the hostile peer (`lightning_test_support::hostile`)
//! against a real `Node`: what a peer may do at the transport and BOLT 1
//! level and what the node must answer. The issue-13 findings that are
//! fixed on other branches have their scenario here too, marked `ignore`
//! until those fixes land (each was seen failing on main: see its note).
#![allow(clippy::unwrap_used)]

mod node_support;

use std::time::Duration;

use lightning_test_support::hostile::{unknown_odd, HostilePeer};
use lightning_wire::msgs::{Message, OpenChannel, Ping};
use lightning_wire::types::ChannelId;
use node_support::Net;

fn now() -> Duration {
    Duration::from_secs(1_700_000_000)
}

/// A valid `open_channel`, as Alice sends it to a hostile peer.
fn open_template(net: &mut Net) -> OpenChannel {
    net.open_channel_template()
}

/// What the node sent, as `(type, length)`.
fn shapes(payloads: &[Vec<u8>]) -> Vec<(u16, usize)> {
    payloads
        .iter()
        .map(|p| (u16::from_be_bytes([p[0], p[1]]), p.len()))
        .collect()
}

#[test]
fn connects_and_is_answered() {
    let mut net = Net::new(false, false);
    let mut m = HostilePeer::connect(&mut net.b.node, [7; 32], now()).unwrap();
    assert!(m.is_connected(&net.b.node));
    assert!(net
        .b
        .node
        .connected_peers()
        .iter()
        .any(|(p, id)| *p == m.peer_id() && *id == m.node_id()));
    let ping = Message::Ping(Ping {
        num_pong_bytes: 65_531,
        ignored: vec![],
        tlvs: Default::default(),
    });
    m.send(&mut net.b.node, &ping, now()).unwrap();
    // The node's gossip sync starts on connection: its
    // `gossip_timestamp_filter` (265) and `query_channel_range` (263).
    let got: Vec<_> = shapes(&m.recv(&mut net.b.node).unwrap())
        .into_iter()
        .filter(|(t, _)| *t != 265 && *t != 263)
        .collect();
    assert_eq!(got, [(19, 2 + 2 + 65_531)]);
    // Maximum-size junk of an unknown odd type is ignored.
    m.send_payload(&mut net.b.node, &unknown_odd(0x8001, 65_535), now())
        .unwrap();
    assert!(m.recv(&mut net.b.node).unwrap().is_empty());
    assert!(m.is_connected(&net.b.node));
    // An oversized payload is refused by the peer itself.
    assert!(m.frame(&[0; 65_536]).is_err());
}

#[test]
fn a_replayed_frame_closes_the_connection() {
    let mut net = Net::new(false, false);
    let mut m = HostilePeer::connect(&mut net.b.node, [7; 32], now()).unwrap();
    let frame = m.frame(&unknown_odd(0x8001, 10)).unwrap();
    m.send_bytes(&mut net.b.node, &frame, now()).unwrap();
    assert!(m.is_connected(&net.b.node));
    assert!(m.send_bytes(&mut net.b.node, &frame, now()).is_err());
    assert!(m.was_refused() && !m.is_connected(&net.b.node));
}

#[test]
fn a_message_before_init_closes_the_connection() {
    let mut net = Net::new(false, false);
    net.open_channel(500_000, 0);
    let ping = Message::Ping(Ping {
        num_pong_bytes: 4,
        ignored: vec![],
        tlvs: Default::default(),
    })
    .encode()
    .unwrap();
    let r = HostilePeer::connect_with_init(&mut net.b.node, [7; 32], Some(&ping), now());
    assert!(r.is_err(), "the node accepted a ping before init");
    // Alice's connection is untouched.
    net.pay(true, 1_000);
}

#[test]
fn garbage_after_the_handshake_closes_the_connection() {
    let mut net = Net::new(false, false);
    let mut m = HostilePeer::connect(&mut net.b.node, [7; 32], now()).unwrap();
    assert!(m.send_bytes(&mut net.b.node, &[0x42; 50], now()).is_err());
    assert!(!m.is_connected(&net.b.node));
}

#[test]
fn out_of_order_channel_messages_get_at_most_a_short_answer() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(500_000, 0);
    let mut m = HostilePeer::connect(&mut net.b.node, [7; 32], now()).unwrap();
    // Alice's channel id, from another peer: not its channel.
    let mut revoke = vec![0, 133];
    revoke.extend_from_slice(&id.0);
    revoke.extend_from_slice(&[1; 32]);
    revoke.push(2);
    revoke.extend_from_slice(&bitcoin::secp256k1::constants::GENERATOR_X);
    let _ = m.send_payload(&mut net.b.node, &revoke, now());
    let answers = m.recv(&mut net.b.node).unwrap_or_default();
    assert!(
        answers.iter().all(|p| p.len() < 1_000),
        "{:?}",
        shapes(&answers)
    );
    // Alice's channel still works.
    net.pay(true, 1_000);
    assert!(net.usable(id));
}

/// Issue 13, finding 1: an `open_channel` with a ~4 KB all-ones
/// `channel_type` made the refusal text list every bit, over 65,535
/// bytes, and the encoder panicked. On main (6dd7ea2) this test panics in
/// `write_u16_prefixed`.
#[test]
fn a_huge_channel_type_gets_a_short_error() {
    let mut net = Net::new(false, false);
    net.open_channel(500_000, 0);
    let mut open = open_template(&mut net);
    open.temporary_channel_id = ChannelId([0x77; 32]);
    open.tlvs = Default::default();
    let mut payload = Message::OpenChannel(open).encode().unwrap();
    // channel_type (type 1), 4,000 bytes of 0xff.
    payload.extend_from_slice(&[1, 0xfd, 0x0f, 0xa0]);
    payload.extend_from_slice(&[0xff; 4000]);
    let mut m = HostilePeer::connect(&mut net.b.node, [7; 32], now()).unwrap();
    let _ = m.send_payload(&mut net.b.node, &payload, now());
    let answers = m.recv(&mut net.b.node).unwrap();
    assert!(
        answers.iter().all(|p| p.len() <= 1_024),
        "{:?}",
        shapes(&answers)
    );
    net.pay(true, 1_000);
}

/// Issue 13, finding 2: a received `error` of ~21.8 KB (21,840 bytes) of `0xff` was
/// quoted back three times its size and the encoder panicked. The node
/// must not echo peer text. On main (6dd7ea2) this test panics.
#[test]
fn a_huge_error_is_not_echoed() {
    let mut net = Net::new(false, false);
    net.open_channel(500_000, 0);
    let mut open = open_template(&mut net);
    let temp = ChannelId([0x78; 32]);
    open.temporary_channel_id = temp;
    let mut m = HostilePeer::connect(&mut net.b.node, [7; 32], now()).unwrap();
    m.send(&mut net.b.node, &Message::OpenChannel(open), now())
        .unwrap();
    let accepted = m.recv_messages(&mut net.b.node).unwrap();
    assert!(
        accepted
            .iter()
            .any(|msg| matches!(msg, Message::AcceptChannel(_))),
        "{accepted:?}"
    );
    let mut error = vec![0, 17];
    error.extend_from_slice(&temp.0);
    error.extend_from_slice(&21_840u16.to_be_bytes());
    error.extend_from_slice(&[0xff; 21_840]);
    let _ = m.send_payload(&mut net.b.node, &error, now());
    let answers = m.recv(&mut net.b.node).unwrap_or_default();
    assert!(
        answers.iter().all(|p| p.len() <= 1_024),
        "{:?}",
        shapes(&answers)
    );
    let replacement = "\u{fffd}".repeat(3);
    assert!(
        answers.iter().all(|p| !p
            .windows(9)
            .any(|w| w == [0xff; 9] || w == replacement.as_bytes())),
        "the node echoed our text"
    );
    net.pay(true, 1_000);
}

/// Found by `node_full_stack`: an inbound channel that fails before it is
/// funded (the opener sends `error`) is never forgotten: it stays in
/// `list_channels` as `Failed` after the peer disconnects, is not in the
/// store, and costs memory for ever. Repeated over connections it is the
/// fake-channel DoS without a cap. On main (6dd7ea2, and 3a2ffc7) this
/// test fails: the channels stay.
#[test]
fn an_unfunded_channel_that_failed_is_forgotten() {
    let mut net = Net::new(false, false);
    let template = open_template(&mut net);
    for round in 0..10u8 {
        let mut m = HostilePeer::connect(&mut net.b.node, [7; 32], now()).unwrap();
        let mut open = template.clone();
        let temp = ChannelId([round; 32]);
        open.temporary_channel_id = temp;
        m.send(&mut net.b.node, &Message::OpenChannel(open), now())
            .unwrap();
        let mut error = vec![0, 17];
        error.extend_from_slice(&temp.0);
        error.extend_from_slice(&[0, 2, b'n', b'o']);
        let _ = m.send_payload(&mut net.b.node, &error, now());
        m.disconnect(&mut net.b.node);
    }
    let left: Vec<_> = net
        .b
        .node
        .list_channels()
        .into_iter()
        .filter(|c| c.funding_txo.is_none())
        .map(|c| (c.channel_id, c.phase))
        .collect();
    assert!(
        left.is_empty(),
        "{} unfunded channels left: {left:?}",
        left.len()
    );
}

/// The funder's side: the peer answers our `funding_created` with an
/// `error` instead of `funding_signed`. The funding transaction was never
/// broadcast (it goes out after `funding_signed`), so the channel is
/// forgotten at once, its record (written at `funding_created`) removed,
/// and a restart does not bring it back.
#[test]
fn a_channel_failed_before_funding_signed_is_forgotten_with_its_record() {
    use lightning_core::node::Event;
    use lightning_persist::KvStore;
    let mut net = Net::new(false, false);
    let (temp, funding) = net.request_funding(300_000, 0);
    let (amount, script) = funding.expect("FundingNeeded");
    let tx = net.wallet.fund(amount, &script).unwrap();
    let id = net.a.node.funding_transaction_generated(temp, tx).unwrap();
    let (pa, pb) = (net.a.peer.unwrap(), net.b.peer.unwrap());
    // `funding_created` is on its way (held); Bob gives up on the channel
    // first: his `error` is what Alice gets in place of `funding_signed`.
    let mut held = Vec::new();
    while let Some(bytes) = net.a.node.poll_transmit(pa) {
        held.push(bytes);
    }
    let channel_keys =
        |n: &node_support::TestNode| n.store.list_prefix("node", "channels/").unwrap();
    assert!(
        !channel_keys(&net.a).is_empty(),
        "Alice wrote the channel at funding_created"
    );
    net.b.node.force_close_channel(temp).unwrap();
    while let Some(bytes) = net.b.node.poll_transmit(pb) {
        net.a.node.handle_bytes(pa, &bytes, net.now).unwrap();
    }
    assert!(
        net.a.node.list_channels().is_empty(),
        "{:?}",
        net.a.node.list_channels()
    );
    assert!(
        channel_keys(&net.a).is_empty(),
        "{:?}",
        channel_keys(&net.a)
    );
    assert!(net.chain.mempool().is_empty(), "never broadcast");
    let closed = net.a.take_events();
    assert!(
        closed.iter().any(|e| matches!(
            e,
            Event::ChannelClosed { channel_id, closing_tx: None, .. } if *channel_id == id
        )),
        "{closed:?}"
    );
    net.restart(true);
    assert!(net.a.node.list_channels().is_empty());
}
