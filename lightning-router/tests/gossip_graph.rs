//! The router over the validated gossip graph (`RoutingGraph for
//! lightning_gossip::NetworkGraph`, feature `gossip`): on a generated,
//! signed network, every route found over the gossip graph is the one
//! found over a `CompactGraph` built independently from the same
//! messages, and obeys every hop's policy.
#![cfg(feature = "gossip")]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use lightning_gossip::{GraphConfig, NetworkGraph};
use lightning_router::{
    find_route, ChannelPolicy, ChannelSpec, CompactGraph, Direction, NodeId, RouteError,
    RouteParams, RoutingGraph, ZeroPenalty,
};
use lightning_test_support::gossip::{Generator, SyntheticConfig};
use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;

fn policy_of(u: &lightning_wire::msgs::ChannelUpdate) -> ChannelPolicy {
    ChannelPolicy {
        fee_base_msat: u.fee_base_msat,
        fee_proportional_millionths: u.fee_proportional_millionths,
        cltv_expiry_delta: u.cltv_expiry_delta,
        htlc_minimum_msat: Msat(u.htlc_minimum_msat),
        htlc_maximum_msat: Msat(u.htlc_maximum_msat),
        disabled: u.channel_flags & 2 != 0,
    }
}

#[test]
fn routes_over_the_gossip_graph_match_a_compact_graph_of_the_same_messages() {
    let net = Generator::new(11, SyntheticConfig::small(120, 400)).generate();
    let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in &net.channel_announcements {
        graph
            .handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    for u in &net.channel_updates {
        graph.handle_channel_update(u, net.now).unwrap();
    }
    assert_eq!(graph.channel_count(), net.channel_announcements.len());

    // The same network, straight from the messages.
    let mut latest: HashMap<(u64, u8), ChannelPolicy> = HashMap::new();
    let mut stamp: HashMap<(u64, u8), u32> = HashMap::new();
    for u in &net.channel_updates {
        let k = (u.short_channel_id.0, u.channel_flags & 1);
        if stamp.get(&k).is_none_or(|t| *t < u.timestamp) {
            stamp.insert(k, u.timestamp);
            latest.insert(k, policy_of(u));
        }
    }
    let specs = net.channel_announcements.iter().map(|a| {
        let cap = net.utxos.outputs.get(&a.short_channel_id.0).unwrap();
        let capacity = Msat(cap.value.to_sat() * 1000);
        // Within the capacity and the minimum, or the gossip graph calls
        // the direction unroutable (BOLT 7).
        let ok = |p: ChannelPolicy| {
            (p.htlc_maximum_msat <= capacity && p.htlc_maximum_msat >= p.htlc_minimum_msat)
                .then_some(p)
        };
        ChannelSpec {
            scid: a.short_channel_id,
            node_a: NodeId::from_pubkey(&a.node_id_1),
            node_b: NodeId::from_pubkey(&a.node_id_2),
            capacity: Some(capacity),
            a_to_b: latest.get(&(a.short_channel_id.0, 0)).copied().and_then(ok),
            b_to_a: latest.get(&(a.short_channel_id.0, 1)).copied().and_then(ok),
        }
    });
    let compact = CompactGraph::build(specs).unwrap();

    let ids: Vec<NodeId> = net
        .node_secrets
        .iter()
        .map(|sk| NodeId::from_pubkey(&sk.public_key(secp256k1::SECP256K1)))
        .collect();
    let mut found = 0;
    let mut checked = 0;
    for i in 0..ids.len() {
        let payer = ids[i];
        let payee = ids[(i * 7 + 13) % ids.len()];
        if payer == payee || graph.node_index(&payer).is_none() {
            continue;
        }
        let amount = Msat(10_000 + (i as u64 * 7_919) % 5_000_000);
        let mut params = RouteParams::new(payee, amount);
        params.max_path_count = 1;
        let ours = find_route(&graph, &payer, None, &params, &ZeroPenalty);
        let reference = find_route(&compact, &payer, None, &params, &ZeroPenalty);
        checked += 1;
        match (&ours, &reference) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.total_fee(), b.total_fee(), "payer {i}");
                assert_eq!(a.total_msat, amount);
                found += 1;
                // Every hop's fee and CLTV come from the gossip graph's
                // policy of the channel it leaves by (BOLT 7 fee formula).
                let path = &a.paths[0];
                for w in path.hops.windows(2) {
                    let next = &w[1];
                    let view = graph.channel(next.short_channel_id).unwrap();
                    let p = view.policy(next.direction).unwrap();
                    assert_eq!(w[0].fee, p.fee_for(next.amount).unwrap());
                    assert_eq!(
                        w[0].cltv_expiry_delta,
                        next.cltv_expiry_delta + u32::from(p.cltv_expiry_delta)
                    );
                    assert!(p.accepts(next.amount));
                }
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!("payer {i}: gossip graph {ours:?}, compact graph {reference:?}"),
        }
    }
    assert!(checked >= 100, "{checked} pairs");
    assert!(found >= checked / 2, "{found} routes of {checked}");
}

#[test]
fn unroutable_directions_are_not_offered() {
    let net = Generator::new(5, SyntheticConfig::small(10, 20)).generate();
    let mut graph = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in &net.channel_announcements {
        graph
            .handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    // Announcements without updates: nothing can be routed.
    let (_, ch) = graph.channels().next().unwrap();
    let view = graph.channel(ch.scid()).unwrap();
    assert!(view.from_node_1.is_none() && view.from_node_2.is_none());
    let payer = NodeId::from_pubkey(graph.node(ch.node_one()).unwrap().node_id());
    let payee = NodeId::from_pubkey(graph.node(ch.node_two()).unwrap().node_id());
    assert_eq!(
        find_route(
            &graph,
            &payer,
            None,
            &RouteParams::new(payee, Msat(1_000)),
            &ZeroPenalty
        ),
        Err(RouteError::NoRoute)
    );
    // Adjacency agrees with the store, and names the other end.
    let idx = graph.node_index(&payer).unwrap();
    let adj: Vec<_> = graph.adjacent(idx).collect();
    assert_eq!(
        adj.len(),
        graph.node(ch.node_one()).unwrap().channels().len()
    );
    assert!(adj.iter().any(|a| a.scid == ch.scid()
        && a.other.0 == ch.node_two().0
        && a.inbound_direction == Direction::FromNode2));
    assert!(graph.channel(ShortChannelId(1)).is_none());
}
