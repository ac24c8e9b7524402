//! Hostile peers against a real `Node`, node-level findings of issue 13:
//! channel-id and outpoint collisions (5), unlimited inbound opens (6),
//! head-of-line blocking and an unbounded outbox (8), and `Warn` that
//! must disconnect (10).
#![allow(clippy::unwrap_used)]

mod node_hostile_support;
mod node_support;

use bitcoin::Amount;
use lightning_core::channel::Phase;
use lightning_core::node::Node;
use lightning_persist::KvStore;
use lightning_wire::msgs::{ChannelReady, Message};
use lightning_wire::types::ChannelId;
use node_hostile_support::{lone_node, node_config, take_accept, Got, Raw};
use node_support::Net;

fn counterparty_of(node: &Node, id: ChannelId) -> Option<bitcoin::secp256k1::PublicKey> {
    node.list_channels()
        .into_iter()
        .find(|c| c.channel_id == id)
        .map(|c| c.counterparty)
}

fn warned_and_closed(got: &[Got]) -> bool {
    got.iter().any(|g| matches!(g, Got::Warning(..)))
}

/// Finding 5: an `open_channel` whose `temporary_channel_id` is a live
/// channel's id (here the funded channel of another peer), or another
/// peer's pending temporary id, is refused and replaces nothing.
#[test]
fn open_reusing_a_live_channel_id_is_refused() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(300_000, 0);
    let alice = net.a.node.node_id();

    let mut mallory = Raw::connect(&mut net.b.node, 0x31);
    let (_ch, open) = mallory.new_channel(0, id, 100_000);
    assert!(mallory.open(&mut net.b.node, &open).is_none());
    assert_eq!(counterparty_of(&net.b.node, id), Some(alice));
    assert_eq!(net.b.node.list_channels().len(), 1);
    assert!(net
        .b
        .node
        .list_channels()
        .iter()
        .all(|c| c.channel_id != id || c.is_usable));

    // Another peer's pending temporary id.
    let mut p1 = Raw::connect(&mut net.b.node, 0x32);
    let temp = ChannelId([0x77; 32]);
    let (_c1, open1) = p1.new_channel(0, temp, 100_000);
    assert!(p1.open(&mut net.b.node, &open1).is_some());
    let mut p2 = Raw::connect(&mut net.b.node, 0x33);
    let (_c2, open2) = p2.new_channel(0, temp, 200_000);
    assert!(p2.open(&mut net.b.node, &open2).is_none());
    assert_eq!(counterparty_of(&net.b.node, temp), Some(p1.node_id()));
    let pending = net
        .b
        .node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == temp)
        .unwrap();
    assert_eq!(pending.capacity_sat.to_sat(), 100_000);

    // The honest channel still works.
    net.pay(true, 1_000_000);
}

/// Finding 5: a `funding_created` naming the outpoint of a live channel
/// (of another peer) is refused: that channel is not replaced in memory
/// and nothing is written under its keys.
#[test]
fn funding_created_onto_a_live_outpoint_is_refused() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(300_000, 0);
    let alice = net.a.node.node_id();
    let outpoint = net
        .b
        .node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == id)
        .and_then(|c| c.funding_txo)
        .unwrap();
    let prefix = format!("channels/{}", hex::encode(id.0));
    let stored = |net: &Net| -> Vec<(String, Vec<u8>)> {
        net.b
            .store
            .list_prefix("node", &prefix)
            .unwrap()
            .into_iter()
            .map(|k| {
                let v = net.b.store.read("node", &k).unwrap().unwrap().value;
                (k, v)
            })
            .collect()
    };
    let before = stored(&net);
    assert!(!before.is_empty());

    let mut mallory = Raw::connect(&mut net.b.node, 0x41);
    let temp = ChannelId([0x66; 32]);
    let (mut ch, open) = mallory.new_channel(0, temp, 100_000);
    let accept = mallory.open(&mut net.b.node, &open).unwrap();
    let (script, amount) = take_accept(&mut ch, accept);
    let tx = net.wallet.fund(Amount::from_sat(amount), &script).unwrap();
    let out = ch.funding_transaction(tx).unwrap();
    let Some(Message::FundingCreated(mut fc)) = out.messages.into_iter().next() else {
        panic!("no funding_created")
    };
    fc.funding_txid = outpoint.txid;
    fc.funding_output_index = outpoint.vout as u16;
    mallory.send(&mut net.b.node, &Message::FundingCreated(fc));

    assert_eq!(counterparty_of(&net.b.node, id), Some(alice));
    assert_eq!(
        net.b.node.list_channels().len(),
        1,
        "Mallory's is forgotten"
    );
    assert_eq!(
        stored(&net),
        before,
        "nothing written under the channel's keys"
    );
    assert!(mallory
        .take()
        .iter()
        .any(|g| matches!(g, Got::Error(c, _) if *c == temp)));
    net.pay(true, 1_000_000);
}

/// Finding 5: a `funding_created` whose derived `channel_id` is the
/// temporary id of another pending channel is refused; the pending channel
/// stays.
#[test]
fn funding_created_onto_a_pending_temporary_id_is_refused() {
    let (mut node, _store, _chain) = lone_node(7, node_config());
    let mut mallory = Raw::connect(&mut node, 0x51);
    let temp_x = ChannelId([0x61; 32]);
    let (mut x, open_x) = mallory.new_channel(0, temp_x, 100_000);
    let accept = mallory.open(&mut node, &open_x).unwrap();
    let (script, amount) = take_accept(&mut x, accept);
    let tx = lightning_core::testing::pair::funding_tx(script, amount);
    let out = x.funding_transaction(tx).unwrap();
    let Some(Message::FundingCreated(fc)) = out.messages.into_iter().next() else {
        panic!("no funding_created")
    };
    let derived = ChannelId::v1_from_funding_outpoint(&fc.funding_txid, fc.funding_output_index);
    // Channel Y's temporary id is X's future channel id.
    let (_y, open_y) = mallory.new_channel(1, derived, 200_000);
    assert!(mallory.open(&mut node, &open_y).is_some());
    mallory.send(&mut node, &Message::FundingCreated(fc));

    let channels = node.list_channels();
    let y = channels
        .iter()
        .find(|c| c.channel_id == derived)
        .expect("Y is still known");
    assert_eq!(y.phase, Phase::AwaitingFundingCreated);
    assert_eq!(y.capacity_sat.to_sat(), 200_000);
    assert!(channels
        .iter()
        .all(|c| c.phase == Phase::AwaitingFundingCreated));
    assert!(mallory
        .take()
        .iter()
        .any(|g| matches!(g, Got::Error(c, _) if *c == temp_x)));
}

/// Finding 6: inbound channels not yet funded are capped per peer (4) and
/// over all peers (64).
#[test]
fn unfunded_inbound_opens_are_capped_per_peer_and_in_total() {
    let (mut node, _store, _chain) = lone_node(8, node_config());
    let mut first = Raw::connect(&mut node, 0x10);
    for i in 0..4u8 {
        let (_c, open) = first.new_channel(u32::from(i), ChannelId([i + 1; 32]), 100_000);
        assert!(first.open(&mut node, &open).is_some(), "open {i}");
    }
    let (_c, open) = first.new_channel(4, ChannelId([0xee; 32]), 100_000);
    assert!(first.open(&mut node, &open).is_none());
    assert_eq!(node.list_channels().len(), 4);

    // 15 more peers fill the global cap of 64.
    let mut peers = Vec::new();
    for p in 0..15u8 {
        let mut raw = Raw::connect(&mut node, 0x20 + p);
        for i in 0..4u8 {
            let mut temp = [0x40 + p; 32];
            temp[31] = i;
            let (_c, open) = raw.new_channel(u32::from(i), ChannelId(temp), 100_000);
            assert!(raw.open(&mut node, &open).is_some(), "peer {p} open {i}");
        }
        peers.push(raw);
    }
    assert_eq!(node.list_channels().len(), 64);
    let mut late = Raw::connect(&mut node, 0x70);
    let (_c, open) = late.new_channel(0, ChannelId([0xdd; 32]), 100_000);
    assert!(late.open(&mut node, &open).is_none());
    assert!(late
        .take()
        .iter()
        .any(|g| matches!(g, Got::Error(c, _) if *c == ChannelId([0xdd; 32]))));
    assert_eq!(node.list_channels().len(), 64);

    // A peer that disconnects frees its slots.
    node.peer_disconnected(first.node_peer);
    assert_eq!(node.list_channels().len(), 60);
    assert!(late.open(&mut node, &open).is_some());
}

/// Finding 6: unfunded opens cost no durable write each: keys indexes are
/// reserved in blocks (one write per block), and a restart never hands
/// out an index again.
#[test]
fn opens_spend_one_write_per_block_of_keys_indexes() {
    let (mut node, store, chain) = lone_node(9, node_config());
    let version = |store: &lightning_persist::MemoryStore| {
        store
            .read("node", "meta/keys_index")
            .unwrap()
            .map_or(0, |v| v.version)
    };
    let mut funding_keys = std::collections::BTreeSet::new();
    for p in 0..10u8 {
        let mut raw = Raw::connect(&mut node, 0x80 + p);
        for i in 0..4u8 {
            let (_c, open) = raw.new_channel(u32::from(i), ChannelId([p * 4 + i + 1; 32]), 100_000);
            let accept = raw.open(&mut node, &open).unwrap();
            assert!(funding_keys.insert(accept.funding_pubkey.serialize()));
        }
        node.peer_disconnected(raw.node_peer);
    }
    let writes = version(&store);
    eprintln!("keys index writes for 40 unfunded opens: {writes}");
    assert!(writes <= 2, "{writes} writes for 40 opens");
    // Nothing else of the opens was written.
    assert!(store.list_prefix("node", "channels/").unwrap().is_empty());

    let mut node = Node::restore(
        &[9; 32],
        node_config(),
        lightning_core::node::Persistence::Inline(store.clone()),
        node_support_host(&chain),
        chain.best_block(),
        &*store,
    )
    .unwrap();
    let mut raw = Raw::connect(&mut node, 0xa0);
    let (_c, open) = raw.new_channel(0, ChannelId([0xab; 32]), 100_000);
    let accept = raw.open(&mut node, &open).unwrap();
    assert!(
        funding_keys.insert(accept.funding_pubkey.serialize()),
        "a keys index of the run before was handed out again"
    );
}

fn node_support_host(
    chain: &lightning_chain::sim::SimChainHandle,
) -> lightning_core::node::NodeHost {
    node_hostile_support::host(chain)
}

/// A message for a channel the node does not know: the node answers with
/// a `warning` (BOLT 1).
fn unknown_channel_ready(n: u32) -> Message {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    Message::ChannelReady(ChannelReady {
        channel_id: ChannelId(id),
        second_per_commitment_point: bitcoin::secp256k1::PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).unwrap(),
        ),
        tlvs: Default::default(),
    })
}

/// Sends `n` messages from `raw` that each make the node queue a reply.
fn flood(node: &mut Node, raw: &mut Raw, from: u32, n: u32) {
    for i in from..from + n {
        raw.queue(&unknown_channel_ready(i));
        if i % 500 == 0 {
            raw.shuttle(node);
        }
    }
    raw.shuttle(node);
}

/// Finding 8: a peer that does not read delays no message to another
/// peer, and once it lets more than the node's bound pile up it is
/// disconnected with a `warning`.
#[test]
fn a_slow_peer_delays_no_one_else_and_is_cut_off() {
    let (mut node, _store, _chain) = lone_node(10, node_config());
    let mut slow = Raw::connect(&mut node, 0x90);
    let mut fast = Raw::connect(&mut node, 0x91);
    slow.reads = false;
    // Fills the slow peer's peer-layer queue (1 MiB), then some.
    flood(&mut node, &mut slow, 0, 14_000);
    assert!(slow.connected(&node));

    fast.send(&mut node, &unknown_channel_ready(1));
    assert!(
        fast.take().iter().any(|g| matches!(g, Got::Warning(..))),
        "the fast peer's reply waits behind the slow peer's queue"
    );

    // Past the bound (4096 messages held for one peer): cut off.
    flood(&mut node, &mut slow, 14_000, 5_000);
    assert!(
        !slow.connected(&node),
        "a peer that never reads is disconnected"
    );
    slow.reads = true;
    slow.shuttle(&mut node);
    let last_warning = slow.take().into_iter().rev().find_map(|g| match g {
        Got::Warning(_, data) => Some(String::from_utf8_lossy(&data).into_owned()),
        _ => None,
    });
    assert!(
        last_warning
            .as_deref()
            .is_some_and(|w| w.contains("too slow")),
        "{last_warning:?}"
    );
    // The other peer is still served.
    fast.send(&mut node, &unknown_channel_ready(2));
    assert!(fast.take().iter().any(|g| matches!(g, Got::Warning(..))));
}

/// Finding 10: a channel error whose action is `Warn` sends a `warning`
/// and closes the connection (BOLT 2: "send a `warning` and close the
/// connection").
#[test]
fn a_warning_we_send_closes_the_connection() {
    let (mut node, _store, _chain) = lone_node(11, node_config());
    let mut mallory = Raw::connect(&mut node, 0x95);
    let temp = ChannelId([0x12; 32]);
    let (_c, open) = mallory.new_channel(0, temp, 100_000);
    let mut accept = mallory.open(&mut node, &open).unwrap();
    // `accept_channel` to the fundee: an unexpected message.
    accept.temporary_channel_id = temp;
    mallory.send(&mut node, &Message::AcceptChannel(accept));
    let got = mallory.take();
    assert!(warned_and_closed(&got), "{got:?}");
    assert!(
        !mallory.connected(&node),
        "still connected after our warning"
    );
}

/// Finding 5, the other way round: a late `funding_created` for a funded
/// channel that names an outpoint in use must not make the node forget
/// the funded channel (only a channel waiting for `funding_created` is
/// forgotten on a collision).
#[test]
fn a_late_colliding_funding_created_forgets_no_funded_channel() {
    let (mut node, _store, _chain) = lone_node(12, node_config());
    let mut mallory = Raw::connect(&mut node, 0x56);
    let temp_x = ChannelId([0x71; 32]);
    let (mut x, open_x) = mallory.new_channel(0, temp_x, 100_000);
    let accept = mallory.open(&mut node, &open_x).unwrap();
    let (script, amount) = take_accept(&mut x, accept);
    let tx = lightning_core::testing::pair::funding_tx(script, amount);
    let out = x.funding_transaction(tx).unwrap();
    let Some(Message::FundingCreated(fc)) = out.messages.into_iter().next() else {
        panic!("no funding_created")
    };
    mallory.send(&mut node, &Message::FundingCreated(fc.clone()));
    let funded = ChannelId::v1_from_funding_outpoint(&fc.funding_txid, fc.funding_output_index);
    assert!(node
        .list_channels()
        .iter()
        .any(|c| c.channel_id == funded && c.phase == Phase::AwaitingChannelReady));

    // Channel Y's temporary id is the id of another outpoint; X's late
    // funding_created names that outpoint.
    let mut other = fc.clone();
    other.funding_output_index = 0;
    let derived = ChannelId::v1_from_funding_outpoint(&other.funding_txid, 0);
    let (_y, open_y) = mallory.new_channel(1, derived, 100_000);
    assert!(mallory.open(&mut node, &open_y).is_some());
    mallory.send(&mut node, &Message::FundingCreated(other));
    assert!(
        node.list_channels()
            .iter()
            .any(|c| c.channel_id == funded && c.phase == Phase::AwaitingChannelReady),
        "the funded channel was forgotten"
    );
}
