//! Property tests: the snapshot round trip, and ingestion order
//! independence (any order of the same messages, retried until no more
//! apply, gives the same graph).
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use lightning_gossip::*;
use lightning_test_support::gossip::{
    sign_channel_update, sign_node_announcement, Generator, SyntheticConfig, SyntheticNetwork,
};
use lightning_wire::msgs::Message;
use proptest::prelude::*;
use secp256k1::{PublicKey, SECP256K1};

/// The base network, and newer signed versions of some of its messages.
struct Fixture {
    net: SyntheticNetwork,
    /// Every message: the originals and up to two newer versions of the
    /// first updates and node announcements.
    messages: Vec<Message>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let net = Generator::new(77, SyntheticConfig::small(16, 24)).generate();
        let secret = |pk: &PublicKey| {
            *net.node_secrets
                .iter()
                .find(|s| PublicKey::from_secret_key(SECP256K1, s) == *pk)
                .unwrap()
        };
        let mut messages: Vec<Message> = Vec::new();
        messages.extend(net.channel_announcements.iter().cloned().map(Message::from));
        messages.extend(net.channel_updates.iter().cloned().map(Message::from));
        messages.extend(net.node_announcements.iter().cloned().map(Message::from));
        for (i, u) in net.channel_updates.iter().enumerate().take(12) {
            let a = &net.channel_announcements[i / 2];
            let origin = if u.direction() == 0 {
                a.node_id_1
            } else {
                a.node_id_2
            };
            for k in 1..=2u32 {
                let mut v = u.clone();
                v.timestamp += k * 60;
                v.fee_base_msat += k;
                sign_channel_update(&mut v, &secret(&origin));
                messages.push(v.into());
            }
        }
        for n in net.node_announcements.iter().take(6) {
            let mut v = n.clone();
            v.timestamp += 30;
            v.rgb_color = [1, 2, 3];
            sign_node_announcement(&mut v, &secret(&n.node_id));
            messages.push(v.into());
        }
        Fixture { net, messages }
    })
}

fn apply(g: &mut NetworkGraph, net: &SyntheticNetwork, m: &Message) -> Result<(), GossipError> {
    match m {
        Message::ChannelAnnouncement(a) => g
            .handle_channel_announcement(a, Some(&net.utxos), net.now)
            .map(|_| ()),
        Message::ChannelUpdate(u) => g.handle_channel_update(u, net.now).map(|_| ()),
        Message::NodeAnnouncement(n) => g.handle_node_announcement(n, net.now).map(|_| ()),
        _ => Ok(()),
    }
}

/// Feeds `messages` in order, then again those refused for a missing
/// channel or node, until a pass applies nothing.
fn ingest(messages: &[Message]) -> NetworkGraph {
    let f = fixture();
    let mut g = NetworkGraph::new(GraphConfig::new(f.net.chain_hash));
    let mut todo: Vec<&Message> = messages.iter().collect();
    loop {
        let before = todo.len();
        todo.retain(|m| {
            matches!(
                apply(&mut g, &f.net, m),
                Err(GossipError::UnknownChannel(_) | GossipError::UnknownNode)
            )
        });
        if todo.is_empty() || todo.len() == before {
            break;
        }
    }
    g
}

fn same(x: &NetworkGraph, y: &NetworkGraph) -> Result<(), TestCaseError> {
    prop_assert_eq!(x.channel_count(), y.channel_count());
    prop_assert_eq!(x.node_count(), y.node_count());
    for (idx, c) in x.channels() {
        let j = y.channel_by_scid(c.scid()).unwrap();
        prop_assert_eq!(
            x.channel_announcement_msg(idx),
            y.channel_announcement_msg(j)
        );
        prop_assert_eq!(y.channel(j).unwrap().capacity_sat(), c.capacity_sat());
        for d in 0..2 {
            prop_assert_eq!(x.channel_update_msg(idx, d), y.channel_update_msg(j, d));
        }
    }
    for (idx, n) in x.nodes() {
        let j = y.node_by_id(n.node_id()).unwrap();
        prop_assert_eq!(x.node_announcement_msg(idx), y.node_announcement_msg(j));
        let mut a: Vec<_> = n
            .channels()
            .iter()
            .map(|c| x.channel(*c).unwrap().scid())
            .collect();
        let mut b: Vec<_> = y
            .node(j)
            .unwrap()
            .channels()
            .iter()
            .map(|c| y.channel(*c).unwrap().scid())
            .collect();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ingestion_order_does_not_matter(seed in any::<u64>()) {
        let f = fixture();
        let canonical = ingest(&f.messages);
        prop_assert_eq!(canonical.channel_count(), f.net.channel_announcements.len());
        let mut shuffled = f.messages.clone();
        // Fisher-Yates with the synthetic RNG.
        let mut rng = lightning_test_support::rng::Rng::new(seed);
        for i in (1..shuffled.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            shuffled.swap(i, j);
        }
        same(&canonical, &ingest(&shuffled))?;
    }

    #[test]
    fn snapshot_round_trips(
        keep in proptest::collection::vec(any::<bool>(), 64),
        spend in proptest::collection::vec(0usize..24, 0..4),
        prune_after in proptest::option::of(0u64..30 * 86_400),
    ) {
        let f = fixture();
        let msgs: Vec<Message> = f
            .messages
            .iter()
            .enumerate()
            .filter(|(i, _)| keep[i % keep.len()] || *i < 24)
            .map(|(_, m)| m.clone())
            .collect();
        let mut g = ingest(&msgs);
        for s in spend {
            g.funding_spent(f.net.channel_announcements[s].short_channel_id, 800_000);
        }
        if let Some(p) = prune_after {
            g.prune_stale(f.net.now + p);
        }
        let bytes = snapshot::encode(&g);
        let back = snapshot::decode(&bytes, GraphConfig::new(f.net.chain_hash)).unwrap();
        same(&g, &back)?;
        prop_assert_eq!(snapshot::encode(&back), bytes);
        for (_, c) in g.channels() {
            let j = back.channel_by_scid(c.scid()).unwrap();
            prop_assert_eq!(back.channel(j).unwrap().is_closed(), c.is_closed());
            prop_assert_eq!(back.is_zombie(c.scid()), g.is_zombie(c.scid()));
        }
        for a in &f.net.channel_announcements {
            prop_assert_eq!(back.is_zombie(a.short_channel_id), g.is_zombie(a.short_channel_id));
        }
    }

    #[test]
    fn damaged_snapshots_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<usize>()),
        fix_crc in any::<bool>(),
    ) {
        let f = fixture();
        let g = ingest(&f.messages);
        let mut bytes = snapshot::encode(&g);
        for (i, x) in flips {
            let n = bytes.len();
            bytes[i % n] ^= x | 1;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        if fix_crc && bytes.len() >= 4 {
            let n = bytes.len() - 4;
            let crc = lightning_gossip::checksum::crc32c(&bytes[..n]);
            bytes[n..].copy_from_slice(&crc.to_be_bytes());
        }
        if let Ok(back) = snapshot::decode(&bytes, GraphConfig::new(f.net.chain_hash)) {
            // Whatever decodes is a consistent graph that round trips.
            let again = snapshot::encode(&back);
            let twice = snapshot::decode(&again, GraphConfig::new(f.net.chain_hash)).unwrap();
            prop_assert_eq!(snapshot::encode(&twice), again);
        }
    }
}

#[test]
fn snapshot_rejects_other_chains_and_versions() {
    let f = fixture();
    let g = ingest(&f.messages);
    let bytes = snapshot::encode(&g);
    let testnet = lightning_wire::types::ChainHash::for_network(bitcoin::Network::Testnet);
    assert!(matches!(
        snapshot::decode(&bytes, GraphConfig::new(testnet)),
        Err(snapshot::SnapshotError::WrongChain)
    ));
    let mut v = bytes.clone();
    v[4] = 9;
    assert!(matches!(
        snapshot::decode(&v, GraphConfig::new(f.net.chain_hash)),
        Err(snapshot::SnapshotError::UnsupportedVersion(9))
    ));
    let mut d = bytes.clone();
    let mid = d.len() / 2;
    d[mid] ^= 1;
    assert!(matches!(
        snapshot::decode(&d, GraphConfig::new(f.net.chain_hash)),
        Err(snapshot::SnapshotError::Checksum)
    ));
}

#[test]
fn snapshot_rejects_a_node_announcement_under_another_nodes_id() {
    let f = fixture();
    let g = ingest(&f.messages);
    let mut bytes = snapshot::encode(&g);
    // The node table: magic, version, chain hash, count, then per node its
    // id, a big-endian u16 length and the announcement.
    let mut at = 4 + 1 + 32 + 4;
    loop {
        let len = usize::from(u16::from_be_bytes([bytes[at + 33], bytes[at + 34]]));
        if len > 0 {
            break;
        }
        at += 33 + 2;
    }
    // Another valid key, in no entry of the table.
    let other = PublicKey::from_secret_key(
        SECP256K1,
        &secp256k1::SecretKey::from_slice(&[0x42; 32]).unwrap(),
    );
    bytes[at..at + 33].copy_from_slice(&other.serialize());
    let body = bytes.len() - 4;
    let crc = checksum::crc32c(&bytes[..body]).to_be_bytes();
    bytes[body..].copy_from_slice(&crc);
    assert!(
        matches!(
            snapshot::decode(&bytes, GraphConfig::new(f.net.chain_hash)),
            Err(snapshot::SnapshotError::Invalid(
                "node announcement of another node"
            ))
        ),
        "{:?}",
        snapshot::decode(&bytes, GraphConfig::new(f.net.chain_hash)).err()
    );
}
