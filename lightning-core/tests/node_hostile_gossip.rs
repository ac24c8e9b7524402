//! A raw peer against a real `Node` on an announced channel (BOLT 7, "The
//! `announcement_signatures` Message"): the node's signatures check out at
//! the peer, a bad signature or `short_channel_id` from the peer gets a
//! `warning` and a disconnect with nothing stored and the channel kept,
//! good ones make the node's `channel_announcement`, and an unannounced
//! channel ignores them.
//!
//! Gossip from peers is no longer dropped: it goes to the node's public
//! graph. A raw peer flooding it is bounded: invalid signatures get a
//! `warning` and a disconnect with nothing stored; updates from the far
//! future and announcements of a blacklisted pair are ignored; a peer that
//! asks for the whole graph and never reads stays within the node's
//! per-peer queue (answers are drawn lazily), and gets all of it once it
//! reads; overlapping or too many queries get a `warning` and a
//! disconnect; replies out of range or with too many ids abandon our
//! query, with a `warning`, and add nothing.
//!
//! A peer's `channel_update`s for our private channel with it set the
//! fees of our invoices' route hints only when genuine: forged (another
//! key), the node's own direction, a channel not ours with that peer, or
//! older than the kept one change nothing.
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

// ---- Gossip floods against the node's public graph ----

use std::collections::HashMap;

use lightning_core::node::{Node, NodeConfig};
use lightning_test_support::gossip::{
    sign_channel_announcement, sign_channel_update, sign_node_announcement, Generator,
    SyntheticConfig, SYNTHETIC_NOW,
};
use lightning_wire::msgs::{
    ChannelAnnouncement, ChannelUpdate, EncodedList, GossipTimestampFilter, NodeAnnouncement,
    QueryChannelRange, ReplyChannelRange,
};
use lightning_wire::types::{ChainHash, ShortChannelId};
use node_hostile_support::{lone_node, node_config, Raw, NOW};

/// A generated network re-signed for regtest, its timestamps moved to the
/// raw peer's clock.
struct Gossip {
    anns: Vec<ChannelAnnouncement>,
    upds: Vec<ChannelUpdate>,
    nodes: Vec<NodeAnnouncement>,
    secret: HashMap<PublicKey, SecretKey>,
    ends: HashMap<u64, (PublicKey, PublicKey)>,
}

impl Gossip {
    /// Signs `u` again with its direction's node key (after an edit).
    fn resign(&self, u: &mut ChannelUpdate) {
        let (n1, n2) = self.ends[&u.short_channel_id.0];
        let key = if u.channel_flags & 1 == 0 { n1 } else { n2 };
        sign_channel_update(u, &self.secret[&key]);
    }
}

fn regtest_gossip(seed: u64, nodes: usize, channels: usize) -> Gossip {
    let net = Generator::new(seed, SyntheticConfig::small(nodes, channels)).generate();
    let chain = ChainHash::for_network(bitcoin::Network::Regtest);
    let shift = u32::try_from(SYNTHETIC_NOW - NOW.as_secs()).unwrap();
    let secret: HashMap<PublicKey, SecretKey> = net
        .node_secrets
        .iter()
        .map(|sk| (sk.public_key(SECP256K1), *sk))
        .collect();
    let anns = net
        .channel_announcements
        .iter()
        .zip(&net.funding_secrets)
        .map(|(a, f)| {
            let mut a = a.clone();
            a.chain_hash = chain;
            let (n1, n2) = (secret[&a.node_id_1], secret[&a.node_id_2]);
            sign_channel_announcement(&mut a, [&n1, &n2, &f[0], &f[1]]);
            a
        })
        .collect::<Vec<_>>();
    let ends: HashMap<u64, (PublicKey, PublicKey)> = anns
        .iter()
        .map(|a| (a.short_channel_id.0, (a.node_id_1, a.node_id_2)))
        .collect();
    let upds = net
        .channel_updates
        .iter()
        .map(|u| {
            let mut u = u.clone();
            u.chain_hash = chain;
            u.timestamp -= shift;
            let (n1, n2) = ends[&u.short_channel_id.0];
            let key = if u.channel_flags & 1 == 0 { n1 } else { n2 };
            sign_channel_update(&mut u, &secret[&key]);
            u
        })
        .collect();
    let nodes = net
        .node_announcements
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n.timestamp -= shift;
            let sk = secret[&n.node_id];
            sign_node_announcement(&mut n, &sk);
            n
        })
        .collect();
    Gossip {
        anns,
        upds,
        nodes,
        secret,
        ends,
    }
}

fn channels(node: &Node) -> usize {
    node.network_graph().unwrap().channel_count()
}

/// Feeds the whole network through `raw`, in batches.
fn feed(raw: &mut Raw, node: &mut Node, g: &Gossip) {
    for chunk in g.anns.chunks(50) {
        for a in chunk {
            raw.queue(&Message::ChannelAnnouncement(a.clone()));
        }
        raw.shuttle(node);
    }
    for chunk in g.upds.chunks(50) {
        for u in chunk {
            raw.queue(&Message::ChannelUpdate(u.clone()));
        }
        raw.shuttle(node);
    }
    for n in &g.nodes {
        raw.queue(&Message::NodeAnnouncement(n.clone()));
    }
    raw.shuttle(node);
}

/// Whether `raw` got a `warning`, and whether the node closed it.
fn warned_and_closed(raw: &mut Raw, node: &Node) -> (bool, bool) {
    let got = raw.take();
    (
        got.iter().any(|g| matches!(g, Got::Warning(..))),
        !raw.connected(node),
    )
}

#[test]
fn gossip_from_a_peer_reaches_the_graph_and_bad_signatures_cut_it_off() {
    let (mut node, _store, _chain) = lone_node(0x51, node_config());
    let g = regtest_gossip(1, 40, 120);
    let mut raw = Raw::reconnect(&mut node, 0x61);
    // Our sync asked the peer for its graph (it offers gossip_queries).
    let asked = raw.take();
    assert!(asked
        .iter()
        .any(|m| matches!(m, Got::Message(Message::GossipTimestampFilter(_)))));
    assert!(asked
        .iter()
        .any(|m| matches!(m, Got::Message(Message::QueryChannelRange(_)))));
    feed(&mut raw, &mut node, &g);
    assert_eq!(
        channels(&node),
        g.anns.len(),
        "light client: signatures only"
    );
    let graph = node.network_graph().unwrap();
    assert_eq!(
        graph
            .channels()
            .filter(|(_, c)| c.direction(0).is_some() && c.direction(1).is_some())
            .count(),
        g.anns.len()
    );
    assert_eq!(
        graph
            .nodes()
            .filter(|(_, n)| n.announcement().is_some())
            .count(),
        g.nodes.len()
    );
    assert!(raw.connected(&node));

    // A forged announcement for a new channel: a warning, a disconnect,
    // nothing stored.
    let mut forged = g.anns[0].clone();
    forged.short_channel_id = ShortChannelId::new(900_000, 1, 0).unwrap();
    raw.send(&mut node, &Message::ChannelAnnouncement(forged));
    assert_eq!(warned_and_closed(&mut raw, &node), (true, true));
    assert_eq!(channels(&node), g.anns.len());

    // Forged updates (the other node's signature) from a second peer.
    let mut raw = Raw::connect(&mut node, 0x62);
    let mut u = g.upds[0].clone();
    u.timestamp += 10;
    u.signature = g.upds[1].signature;
    raw.send(&mut node, &Message::ChannelUpdate(u));
    assert_eq!(warned_and_closed(&mut raw, &node), (true, true));
}

#[test]
fn updates_from_the_future_and_stale_ones_are_ignored() {
    let (mut node, _store, _chain) = lone_node(0x52, node_config());
    let g = regtest_gossip(2, 10, 20);
    let mut raw = Raw::connect(&mut node, 0x63);
    for a in &g.anns {
        raw.queue(&Message::ChannelAnnouncement(a.clone()));
    }
    raw.shuttle(&mut node);
    raw.take();
    // Validly signed, but two days ahead of the node's clock (BOLT 7 lets
    // a node discard a timestamp "unreasonably far in the future"), or
    // older than two weeks (stale): ignored, not misbehaviour.
    for (i, u) in g.upds.iter().enumerate() {
        let mut far = u.clone();
        far.timestamp = (NOW.as_secs() + 2 * 86_400) as u32;
        g.resign(&mut far);
        let mut old = u.clone();
        old.timestamp = (NOW.as_secs() - 15 * 86_400) as u32;
        g.resign(&mut old);
        raw.queue(&Message::ChannelUpdate(far));
        raw.queue(&Message::ChannelUpdate(old));
        if i % 10 == 9 {
            raw.shuttle(&mut node);
        }
    }
    raw.shuttle(&mut node);
    let graph = node.network_graph().unwrap();
    assert!(graph
        .channels()
        .all(|(_, c)| c.direction(0).is_none() && c.direction(1).is_none()));
    assert_eq!(warned_and_closed(&mut raw, &node), (false, false));
    let stats = node.gossip_stats(raw.node_peer).unwrap();
    assert_eq!(stats.ignored, 2 * g.upds.len() as u64);
    assert_eq!(stats.misbehaved, 0);
    // The same updates with their own timestamps apply.
    for u in &g.upds {
        raw.queue(&Message::ChannelUpdate(u.clone()));
    }
    raw.shuttle(&mut node);
    let graph = node.network_graph().unwrap();
    assert!(graph
        .channels()
        .all(|(_, c)| c.direction(0).is_some() && c.direction(1).is_some()));
}

#[test]
fn a_peer_asking_for_everything_and_never_reading_stays_bounded() {
    let mut config = node_config();
    // A small per-peer queue: drawing the whole graph into it at once
    // would pass the bound and cut the peer off.
    config.max_queued_messages_per_peer = 64;
    let (mut node, _store, _chain) = lone_node(0x53, config);
    let g = regtest_gossip(3, 150, 400);
    let mut feeder = Raw::connect(&mut node, 0x64);
    feed(&mut feeder, &mut node, &g);
    assert_eq!(channels(&node), g.anns.len());

    let mut greedy = Raw::connect(&mut node, 0x65);
    greedy.reads = false;
    let chain = ChainHash::for_network(bitcoin::Network::Regtest);
    greedy.queue(&Message::GossipTimestampFilter(GossipTimestampFilter {
        chain_hash: chain,
        first_timestamp: 0,
        timestamp_range: u32::MAX,
        tlvs: Default::default(),
    }));
    greedy.queue(&Message::QueryChannelRange(QueryChannelRange {
        chain_hash: chain,
        first_blocknum: 0,
        number_of_blocks: u32::MAX,
        tlvs: Default::default(),
    }));
    greedy.shuttle(&mut node);
    for _ in 0..20 {
        node.handle_timeout(NOW);
        greedy.shuttle(&mut node);
    }
    assert!(greedy.connected(&node), "never past its queue bound");
    // Once it reads, it gets the whole graph (the dump of its filter).
    greedy.reads = true;
    let mut anns = std::collections::HashSet::new();
    let mut upds = 0;
    for _ in 0..200 {
        greedy.shuttle(&mut node);
        for m in greedy.take() {
            match m {
                Got::Message(Message::ChannelAnnouncement(a)) => {
                    anns.insert(a.short_channel_id);
                }
                Got::Message(Message::ChannelUpdate(_)) => upds += 1,
                Got::Disconnected => panic!("disconnected"),
                _ => {}
            }
        }
        if anns.len() == g.anns.len() {
            break;
        }
    }
    assert_eq!(anns.len(), g.anns.len());
    assert!(upds >= g.upds.len());
}

#[test]
fn overlapping_queries_and_query_floods_get_a_warning_and_a_disconnect() {
    let (mut node, _store, _chain) = lone_node(0x54, node_config());
    let g = regtest_gossip(4, 30, 60);
    let mut feeder = Raw::connect(&mut node, 0x66);
    feed(&mut feeder, &mut node, &g);
    let chain = ChainHash::for_network(bitcoin::Network::Regtest);
    let mut flood = Raw::connect(&mut node, 0x67);
    for _ in 0..30 {
        flood.queue(&Message::QueryChannelRange(QueryChannelRange {
            chain_hash: chain,
            first_blocknum: 0,
            number_of_blocks: u32::MAX,
            tlvs: Default::default(),
        }));
    }
    flood.shuttle(&mut node);
    assert_eq!(warned_and_closed(&mut flood, &node), (true, true));
    // The honest peer is unaffected.
    assert!(feeder.connected(&node));
}

#[test]
fn broken_range_replies_add_nothing_and_get_a_warning() {
    let (mut node, _store, _chain) = lone_node(0x55, node_config());
    let mut raw = Raw::reconnect(&mut node, 0x68);
    // The node asked this peer for every block.
    let asked = raw.take();
    let q = asked
        .iter()
        .find_map(|m| match m {
            Got::Message(Message::QueryChannelRange(q)) => Some(q.clone()),
            _ => None,
        })
        .expect("a full-sync query");
    // A reply whose ids lie outside the blocks it claims, and far too many
    // of them.
    let ids: Vec<ShortChannelId> = (0..8_000u32)
        .map(|i| ShortChannelId::new(5_000_000 + i, 0, 0).unwrap())
        .collect();
    raw.send(
        &mut node,
        &Message::ReplyChannelRange(ReplyChannelRange {
            chain_hash: q.chain_hash,
            first_blocknum: q.first_blocknum,
            number_of_blocks: 10,
            sync_complete: 0,
            encoded_short_ids: EncodedList::Uncompressed(ids),
            tlvs: Default::default(),
        }),
    );
    let got = raw.take();
    assert!(got.iter().any(|g| matches!(g, Got::Warning(..))), "{got:?}");
    assert!(
        !got.iter()
            .any(|g| matches!(g, Got::Message(Message::QueryShortChannelIds(_)))),
        "nothing asked for out of a broken reply"
    );
    assert_eq!(channels(&node), 0);
    // The node's graph stays usable: a fresh config has the graph on.
    assert!(
        NodeConfig::new(bitcoin::Network::Regtest)
            .network_graph
            .enabled
    );
}

/// The LND `gossip_timestamp_filter` OOM class (issue 17): a peer that
/// sends the "everything" filter again and again gets the historical dump
/// once per ten minutes, drawn lazily from the graph, not a copy of the
/// graph per filter.
#[test]
fn repeated_everything_filters_get_one_dump() {
    let mut config = node_config();
    config.max_queued_messages_per_peer = 64;
    let (mut node, _store, _chain) = lone_node(0x56, config);
    let g = regtest_gossip(5, 80, 200);
    let mut feeder = Raw::connect(&mut node, 0x69);
    feed(&mut feeder, &mut node, &g);
    let mut greedy = Raw::connect(&mut node, 0x6a);
    let chain = ChainHash::for_network(bitcoin::Network::Regtest);
    let mut anns = 0;
    for _ in 0..20 {
        greedy.send(
            &mut node,
            &Message::GossipTimestampFilter(GossipTimestampFilter {
                chain_hash: chain,
                first_timestamp: 0,
                timestamp_range: u32::MAX,
                tlvs: Default::default(),
            }),
        );
        anns += greedy
            .take()
            .iter()
            .filter(|m| matches!(m, Got::Message(Message::ChannelAnnouncement(_))))
            .count();
    }
    assert!(greedy.connected(&node));
    assert_eq!(
        anns,
        g.anns.len(),
        "one dump of the whole graph, not twenty"
    );
}

// ---- A peer's `channel_update`s for our private channel (route hints) ----

/// The fees and delta of the one `r` hint in an invoice of the node.
fn hinted_policy(s: &mut Funded) -> (ShortChannelId, PublicKey, (u32, u32, u16)) {
    let inv = s
        .node
        .create_invoice(
            Some(lightning_core::amount::Msat(100_000_000)),
            "hint",
            std::time::Duration::from_secs(3600),
            NOW,
        )
        .unwrap();
    let hints = inv.route_hints();
    assert_eq!(hints.len(), 1, "{hints:?}");
    let hop = &hints[0].0[0];
    let src = PublicKey::from_slice(hop.src_node_id.as_bytes()).unwrap();
    (
        hop.short_channel_id,
        src,
        (
            hop.fee_base_msat,
            hop.fee_proportional_millionths,
            hop.cltv_expiry_delta,
        ),
    )
}

/// A `channel_update` for `scid` in `direction`, signed by `key`.
fn policy_update(
    scid: ShortChannelId,
    direction: u8,
    timestamp: u32,
    fee_base_msat: u32,
    key: &SecretKey,
) -> Message {
    let mut u = ChannelUpdate {
        signature: SECP256K1.sign_ecdsa(&Digest::from_digest([1; 32]), key),
        chain_hash: ChainHash::for_network(bitcoin::Network::Regtest),
        short_channel_id: scid,
        timestamp,
        message_flags: 1 | 2,
        channel_flags: direction,
        cltv_expiry_delta: 77,
        htlc_minimum_msat: 1,
        fee_base_msat,
        fee_proportional_millionths: 9,
        htlc_maximum_msat: 400_000_000,
        tlvs: Default::default(),
    };
    sign_channel_update(&mut u, key);
    Message::ChannelUpdate(u)
}

/// BOLT 7: a node "SHOULD accept `channel_update`s for its own channels
/// (even if non-public), in order to learn the associated origin nodes'
/// forwarding parameters", and the receiver checks that "the `signature`
/// is a valid signature, generated by the `node_id` corresponding to the
/// origin node". A peer's updates for our private channel set the fees of
/// our invoices' hints; forged ones (another key), ones for the node's
/// own direction, for a channel not ours with that peer, or older than
/// the one kept change nothing, whatever fees they claim.
#[test]
fn forged_or_foreign_channel_updates_do_not_set_our_hints() {
    let mut s = Funded::usable();
    let raw_id = raw_key().public_key(SECP256K1);
    let (scid, src, defaults) = hinted_policy(&mut s);
    assert_eq!(src, raw_id, "the hint is the raw peer's channel");
    let raw_direction = u8::from(raw_id.serialize() > s.node.node_id().serialize());
    let stranger = SecretKey::from_slice(&[0x77; 32]).unwrap();
    let send = |s: &mut Funded, m: Message| {
        if !s.raw.connected(&s.node) {
            s.raw = Raw::reconnect(&mut s.node, RAW_SEED);
        }
        s.raw.send(&mut s.node, &m);
        s.raw.shuttle(&mut s.node);
        s.raw.take();
    };
    let t = u32::try_from(NOW.as_secs()).unwrap();
    let rejected = [
        // Signed by someone else.
        policy_update(scid, raw_direction, t, 1_111, &stranger),
        // The raw peer's key, but the node's direction.
        policy_update(scid, raw_direction ^ 1, t, 2_222, &raw_key()),
        // The raw peer's key and direction, a channel not ours.
        policy_update(
            ShortChannelId(scid.0 ^ 0x10_0000),
            raw_direction,
            t,
            3_333,
            &raw_key(),
        ),
    ];
    for m in rejected {
        send(&mut s, m);
        assert_eq!(hinted_policy(&mut s).2, defaults);
    }
    // The genuine one is kept...
    send(
        &mut s,
        policy_update(scid, raw_direction, t, 4_444, &raw_key()),
    );
    assert_eq!(hinted_policy(&mut s).2, (4_444, 9, 77));
    // ...and neither an older genuine one, nor a newer forged one, nor a
    // newer one for the node's direction replaces it.
    send(
        &mut s,
        policy_update(scid, raw_direction, t - 10, 5_555, &raw_key()),
    );
    send(
        &mut s,
        policy_update(scid, raw_direction, t + 10, 6_666, &stranger),
    );
    send(
        &mut s,
        policy_update(scid, raw_direction ^ 1, t + 10, 7_777, &raw_key()),
    );
    assert_eq!(hinted_policy(&mut s).2, (4_444, 9, 77));
    // A newer genuine one does.
    send(
        &mut s,
        policy_update(scid, raw_direction, t + 20, 8_888, &raw_key()),
    );
    assert_eq!(hinted_policy(&mut s).2, (8_888, 9, 77));
}
