//! Route agreement with LDK: on a small synthetic graph, with no scorer
//! penalty on either side (our `ZeroPenalty`, LDK's
//! `FixedPenaltyScorer::with_penalty(0)`), our single-path route is never
//! dearer in fees than LDK's `find_route` (ours is the exact cheapest:
//! with fees as the only cost, the backward search is exact), and the test
//! prints how often the two are the same route where the cheapest is
//! unique.
//!
//! Uniqueness is checked on our side: the route is unique when excluding
//! any one of its channels makes the cheapest remaining route strictly
//! dearer. LDK's route is not always the cheapest even then (its search
//! weighs more than fees), so identical routes are counted, not asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/support/ldk_router.rs"]
mod ldk_router;

use lightning::routing::router::find_route as ldk_find_route;
use lightning::routing::scoring::FixedPenaltyScorer;
use lightning_core::Msat;
use lightning_router::synthetic::{generate, Rng, SyntheticParams};
use lightning_router::{find_route, RouteParams, ZeroPenalty};
use secp256k1::{PublicKey, SECP256K1};

#[test]
fn zero_penalty_routes_never_dearer_than_ldks() {
    let net = generate(SyntheticParams {
        nodes: 300,
        channels: 900,
        seed: 5,
    })
    .unwrap();
    let graph = ldk_router::ldk_graph(&net.channels);
    let pubkeys: Vec<PublicKey> = net
        .secret_keys
        .iter()
        .map(|k| PublicKey::from_secret_key(SECP256K1, k))
        .collect();
    let zero = FixedPenaltyScorer::with_penalty(0);
    let mut rng = Rng::new(11);
    let (mut both, mut unique, mut same_unique, mut same_fee) = (0, 0, 0, 0);
    let mut disagreements = Vec::new();
    for _ in 0..200 {
        let a = rng.below(300) as usize;
        let b = rng.below(300) as usize;
        if a == b {
            continue;
        }
        let amount = Msat(5_000_000);
        let mut p = RouteParams::new(net.nodes[b], amount);
        p.allow_mpp = false;
        let ours = find_route(&net.graph, &net.nodes[a], None, &p, &ZeroPenalty);
        let mut lp = ldk_router::ldk_params(&pubkeys[b], amount, false, Msat(u64::MAX));
        lp.max_total_routing_fee_msat = None;
        // LDK otherwise avoids using more than a quarter of a channel.
        lp.payment_params.max_channel_saturation_power_of_half = 0;
        let ldk = ldk_find_route(
            &pubkeys[a],
            &lp,
            &graph,
            None,
            &ldk_router::NO_LOG,
            &zero,
            &(),
            &[3u8; 32],
        );
        let (Ok(ours), Ok(ldk)) = (ours, ldk) else {
            continue;
        };
        both += 1;
        let our_path: Vec<u64> = ours.paths[0]
            .hops
            .iter()
            .map(|h| h.short_channel_id.0)
            .collect();
        let ldk_path: Vec<u64> = ldk.paths[0]
            .hops
            .iter()
            .map(|h| h.short_channel_id)
            .collect();
        let our_fee = ours.total_fee().0;
        let ldk_fee = ldk.paths[0].fee_msat();
        same_fee += usize::from(our_fee == ldk_fee);
        if our_fee > ldk_fee {
            disagreements.push(format!("{a}->{b}: ours {our_fee} > LDK {ldk_fee}"));
        }
        let is_unique = our_path.iter().all(|scid| {
            let mut q = p.clone();
            q.excluded_channels
                .insert(lightning_wire::types::ShortChannelId(*scid));
            match find_route(&net.graph, &net.nodes[a], None, &q, &ZeroPenalty) {
                Ok(r) => r.total_fee().0 > our_fee,
                Err(_) => true,
            }
        });
        if is_unique {
            unique += 1;
            if our_path == ldk_path {
                same_unique += 1;
            } else if ldk_fee == our_fee {
                disagreements.push(format!(
                    "{a}->{b}: unique cheapest {our_path:?} (fee {our_fee}) but LDK found another at the same fee: {ldk_path:?}"
                ));
            }
        }
    }
    println!(
        "agreement: {both} payments routed by both, {same_fee} with equal fees; {unique} with a unique cheapest route, {same_unique} of them identical to LDK's"
    );
    assert!(unique >= 20, "too few unique cases to compare ({unique})");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
