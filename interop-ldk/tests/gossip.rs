//! Issue 17: gossip with LDK 0.2 over TCP (BOLT 7). Two LDK nodes that
//! take part in gossip (`P2PGossipSync` into their `NetworkGraph`) and our
//! node between them, both channels announced:
//!
//! ```text
//!   LDK 1 ==announced== us ==announced== LDK 2
//! ```
//!
//! LDK 1 opens to us, we open to LDK 2; after six confirmations each
//! channel's two ends exchange `announcement_signatures` and announce.
//! The LDK nodes are connected only to us, so what each learns of the
//! other's channel and node it learns from our relay. After sync every
//! node's graph holds both channels, with a `channel_update` for each
//! direction, and the three nodes with their `node_announcement`s: LDK
//! accepted our `announcement_signatures`, `channel_announcement`,
//! `node_announcement` and `channel_update`, and we accepted and relayed
//! LDK's.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use interop_ldk::host::config;
use interop_ldk::ldk::{GraphView, LdkConfig, LdkNode};
use interop_ldk::pair::{Pair, LIMIT};

/// Gossip relays and LDK's timers take a while.
const GOSSIP_LIMIT: Duration = Duration::from_secs(60);

fn gossip_with_ldk(anchors: bool) {
    let mut ldk_config = LdkConfig::new(anchors);
    ldk_config.gossip = true;
    let mut ours = config(anchors);
    ours.channel.announce_channel = true;
    ours.gossip.alias = "ours".into();
    // Relay new gossip every second rather than every minute.
    ours.network_graph.relay_interval = Duration::from_secs(1);
    let pair = Pair::with_configs(ldk_config, ours);
    // LDK stamps its `channel_update`s with the latest block's time, which
    // on the simulated chain starts at regtest's genesis (2011): stale by
    // BOLT 7's two weeks for every graph, LDK's own included. Blocks from
    // here on carry the wall clock, as real blocks do.
    pair.world.chain.with(|c| c.use_wall_clock(true));
    let wallets = pair.world.wallets(&[[7; 32]], 2);
    let ldk2 = LdkNode::start(
        "ldk-2",
        [37; 32],
        pair.world.chain.clone(),
        wallets[0].clone(),
        ldk_config,
    );
    pair.ours.connect(ldk2.node_id(), ldk2.addr);
    ldk2.wait_until("LDK 2 sees us", LIMIT, || {
        ldk2.is_connected(&pair.ours.node_id())
    });

    // LDK 1 opens to us; we open to LDK 2; six confirmations.
    let first = pair.open_from_ldk(400_000, 0);
    let second = pair.open_from_us_to(ldk2.node_id(), 400_000, 6);
    pair.ours
        .wait_until("both our channels are announced", GOSSIP_LIMIT, |s| {
            let chans = s.node.list_channels();
            [first, second]
                .iter()
                .all(|id| chans.iter().any(|c| c.channel_id == *id && c.is_announced))
        });
    let scids: Vec<u64> = pair.ours.with(|n| {
        [first, second]
            .iter()
            .map(|id| {
                n.list_channels()
                    .into_iter()
                    .find(|c| c.channel_id == *id)
                    .and_then(|c| c.short_channel_id)
                    .unwrap()
                    .0
            })
            .collect()
    });
    // LDK sends a node_announcement only when asked (and only once it has
    // an announced channel).
    pair.ldk.announce_node("ldk-1");
    ldk2.announce_node("ldk-2");

    let ids = [pair.ldk.node_id(), pair.ours.node_id(), ldk2.node_id()];
    let complete = |(channels, nodes): GraphView| {
        scids
            .iter()
            .all(|s| channels.iter().any(|(c, dirs)| c == s && *dirs == 2))
            && ids
                .iter()
                .all(|id| nodes.iter().any(|(n, announced)| n == id && *announced))
    };
    for (name, node) in [("LDK 1", &pair.ldk), ("LDK 2", &ldk2)] {
        let deadline = std::time::Instant::now() + GOSSIP_LIMIT;
        let last = loop {
            // LDK re-announces its node on its timer; ask again meanwhile.
            node.timer_tick();
            let last = node.graph();
            if complete(last.clone()) || std::time::Instant::now() > deadline {
                break last;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(
            complete(last.clone()),
            "{name}'s graph after sync: channels {:?}, nodes {:?}; expected channels {scids:?} (2 directions each) and nodes {ids:?} announced",
            last.0,
            last.1
        );
    }
    pair.ours.wait_until(
        "our graph holds both channels and the three nodes",
        GOSSIP_LIMIT,
        |s| {
            let Some(g) = s.node.network_graph() else {
                return false;
            };
            g.channel_count() == 2
                && scids.iter().all(|scid| {
                    g.channel_by_scid(lightning_wire::types::ShortChannelId(*scid))
                        .and_then(|idx| g.channel(idx))
                        .is_some_and(|c| c.direction(0).is_some() && c.direction(1).is_some())
                })
                && ids.iter().all(|id| {
                    g.node_by_id(id)
                        .and_then(|idx| g.node(idx))
                        .is_some_and(|n| n.announcement().is_some())
                })
        },
    );
    pair.world.assert_no_rejections();
}

#[test]
fn gossip_with_ldk_over_tcp_static_remotekey() {
    gossip_with_ldk(false);
}

#[test]
fn gossip_with_ldk_over_tcp_anchors() {
    gossip_with_ldk(true);
}
