//! BOLT 7 receiving requirements of `channel_announcement`,
//! `channel_update` and `node_announcement`, one test per rule.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;

use bitcoin::{Amount, TxOut};
use lightning_gossip::verify::funding_script_pubkey;
use lightning_gossip::*;
use lightning_test_support::gossip::{
    sign_channel_announcement, sign_channel_update, sign_node_announcement, unsigned_announcement,
    unsigned_update, Generator, SyntheticConfig, SyntheticNetwork,
};
use lightning_wire::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAddress};
use lightning_wire::types::{ChainHash, ShortChannelId};
use secp256k1::{PublicKey, SecretKey, SECP256K1};

fn net() -> SyntheticNetwork {
    Generator::new(42, SyntheticConfig::small(30, 60)).generate()
}

fn graph(net: &SyntheticNetwork) -> NetworkGraph {
    NetworkGraph::new(GraphConfig::new(net.chain_hash))
}

fn loaded(net: &SyntheticNetwork) -> NetworkGraph {
    let mut g = graph(net);
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    g
}

fn full(net: &SyntheticNetwork) -> NetworkGraph {
    let mut g = loaded(net);
    for u in &net.channel_updates {
        g.handle_channel_update(u, net.now).unwrap();
    }
    for n in &net.node_announcements {
        g.handle_node_announcement(n, net.now).unwrap();
    }
    g
}

fn secret_of(net: &SyntheticNetwork, key: &PublicKey) -> SecretKey {
    *net.node_secrets
        .iter()
        .find(|s| PublicKey::from_secret_key(SECP256K1, s) == *key)
        .unwrap()
}

/// A re-signed copy of update `i` with `f` applied.
fn resigned(net: &SyntheticNetwork, i: usize, f: impl FnOnce(&mut ChannelUpdate)) -> ChannelUpdate {
    let mut u = net.channel_updates[i].clone();
    f(&mut u);
    let ann = &net.channel_announcements[i / 2];
    let origin = if u.direction() == 0 {
        ann.node_id_1
    } else {
        ann.node_id_2
    };
    sign_channel_update(&mut u, &secret_of(net, &origin));
    u
}

// ---- channel_announcement -------------------------------------------

#[test]
fn accepts_the_whole_synthetic_network() {
    let net = net();
    let g = full(&net);
    assert_eq!(g.channel_count(), net.channel_announcements.len());
    assert_eq!(g.node_count(), net.node_announcements.len());
    for (i, a) in net.channel_announcements.iter().enumerate() {
        let idx = g.channel_by_scid(a.short_channel_id).unwrap();
        assert_eq!(g.channel_announcement_msg(idx).as_ref(), Some(a));
        for dir in 0..2u8 {
            assert_eq!(
                g.channel_update_msg(idx, dir).as_ref(),
                Some(&net.channel_updates[2 * i + usize::from(dir)])
            );
        }
        let cap = net.utxos.outputs[&a.short_channel_id.0].value.to_sat();
        assert_eq!(g.channel(idx).unwrap().capacity_sat(), Some(cap));
    }
    for n in &net.node_announcements {
        let idx = g.node_by_id(&n.node_id).unwrap();
        assert_eq!(g.node_announcement_msg(idx).as_ref(), Some(n));
    }
}

#[test]
fn adjacency_lists_every_channel_at_both_ends() {
    let net = net();
    let g = full(&net);
    let mut ends = 0;
    for (idx, node) in g.nodes() {
        for c in node.channels() {
            let ch = g.channel(*c).unwrap();
            assert!(ch.other_end(idx).is_some());
            assert!(ch.direction_from(idx).is_some());
            ends += 1;
        }
    }
    assert_eq!(ends, 2 * g.channel_count());
}

#[test]
fn each_bad_announcement_signature_is_rejected_as_misbehaviour() {
    let net = net();
    let good = &net.channel_announcements[0];
    let other = net.channel_announcements[1].node_signature_1;
    type SetSig = fn(&mut ChannelAnnouncement, secp256k1::ecdsa::Signature);
    let cases: [(SetSig, &str); 4] = [
        (|a, s| a.node_signature_1 = s, "node_signature_1"),
        (|a, s| a.node_signature_2 = s, "node_signature_2"),
        (|a, s| a.bitcoin_signature_1 = s, "bitcoin_signature_1"),
        (|a, s| a.bitcoin_signature_2 = s, "bitcoin_signature_2"),
    ];
    for (set, which) in cases {
        let mut g = graph(&net);
        let mut bad = good.clone();
        set(&mut bad, other);
        let err = g
            .handle_channel_announcement(&bad, Some(&net.utxos), net.now)
            .unwrap_err();
        assert_eq!(err, GossipError::InvalidSignature { which });
        assert!(err.is_misbehavior());
        assert_eq!(g.channel_count(), 0);
    }
}

#[test]
fn a_field_changed_after_signing_fails_the_signatures() {
    let net = net();
    let mut g = graph(&net);
    let mut bad = net.channel_announcements[0].clone();
    bad.features.set_bit(1);
    assert!(matches!(
        g.handle_channel_announcement(&bad, Some(&net.utxos), net.now),
        Err(GossipError::InvalidSignature { .. })
    ));
}

#[test]
fn unknown_chain_is_ignored() {
    let net = net();
    let mut g = graph(&net);
    let mut a = net.channel_announcements[0].clone();
    a.chain_hash = ChainHash::for_network(bitcoin::Network::Testnet);
    assert_eq!(
        g.handle_channel_announcement(&a, Some(&net.utxos), net.now),
        Err(GossipError::UnknownChain)
    );
}

fn announcement_with(
    net: &SyntheticNetwork,
    scid: ShortChannelId,
    nodes: [usize; 2],
    f: impl FnOnce(&mut ChannelAnnouncement),
) -> (ChannelAnnouncement, TxOut) {
    let ns = [net.node_secrets[nodes[0]], net.node_secrets[nodes[1]]];
    let fs = [
        SecretKey::from_slice(&[7; 32]).unwrap(),
        SecretKey::from_slice(&[8; 32]).unwrap(),
    ];
    let pk = |s: &SecretKey| PublicKey::from_secret_key(SECP256K1, s);
    let mut a = unsigned_announcement(
        net.chain_hash,
        scid,
        [pk(&ns[0]), pk(&ns[1])],
        [pk(&fs[0]), pk(&fs[1])],
    );
    f(&mut a);
    sign_channel_announcement(&mut a, [&ns[0], &ns[1], &fs[0], &fs[1]]);
    let out = TxOut {
        value: Amount::from_sat(1_000_000),
        script_pubkey: funding_script_pubkey(&pk(&fs[0]), &pk(&fs[1])),
    };
    (a, out)
}

/// Node ids ordered so that the first is the lesser.
fn ordered_pair(net: &SyntheticNetwork) -> [usize; 2] {
    let pk = |i: usize| PublicKey::from_secret_key(SECP256K1, &net.node_secrets[i]).serialize();
    if pk(0) < pk(1) {
        [0, 1]
    } else {
        [1, 0]
    }
}

#[test]
fn node_ids_out_of_order_are_rejected() {
    let mut net = net();
    let [lo, hi] = ordered_pair(&net);
    let scid = ShortChannelId::new(900_000, 1, 0).unwrap();
    let (good, out) = announcement_with(&net, scid, [lo, hi], |_| {});
    let (swapped, _) = announcement_with(&net, scid, [hi, lo], |_| {});
    net.utxos.outputs.insert(scid.0, out);
    let mut g = graph(&net);
    let err = g
        .handle_channel_announcement(&swapped, Some(&net.utxos), net.now)
        .unwrap_err();
    assert_eq!(err, GossipError::NodeIdOrder);
    assert!(err.is_misbehavior());
    assert!(g
        .handle_channel_announcement(&good, Some(&net.utxos), net.now)
        .is_ok());
}

#[test]
fn unknown_even_channel_feature_is_stored_unroutable_or_refused() {
    let mut net = net();
    let pair = ordered_pair(&net);
    let scid = ShortChannelId::new(900_000, 2, 0).unwrap();
    let (a, out) = announcement_with(&net, scid, pair, |a| a.features.set_bit(100));
    net.utxos.outputs.insert(scid.0, out);
    let mut g = graph(&net);
    g.handle_channel_announcement(&a, Some(&net.utxos), net.now)
        .unwrap();
    let idx = g.channel_by_scid(scid).unwrap();
    assert!(g.channel(idx).unwrap().has_unknown_required_features());
    let mut cfg = GraphConfig::new(net.chain_hash);
    cfg.reject_unknown_required_features = true;
    let mut strict = NetworkGraph::new(cfg);
    assert_eq!(
        strict.handle_channel_announcement(&a, Some(&net.utxos), net.now),
        Err(GossipError::UnknownRequiredFeature(100))
    );
    // An unknown odd bit is fine.
    let scid2 = ShortChannelId::new(900_000, 3, 0).unwrap();
    let (odd, out) = announcement_with(&net, scid2, pair, |a| a.features.set_bit(101));
    net.utxos.outputs.insert(scid2.0, out);
    strict
        .handle_channel_announcement(&odd, Some(&net.utxos), net.now)
        .unwrap();
}

#[test]
fn funding_output_missing_spent_or_not_the_keys_is_ignored() {
    let mut net = net();
    let a = net.channel_announcements[0].clone();
    let scid = a.short_channel_id;
    let good = net.utxos.outputs[&scid.0].clone();

    net.utxos.outputs.remove(&scid.0);
    assert_eq!(
        graph(&net).handle_channel_announcement(&a, Some(&net.utxos), net.now),
        Err(GossipError::FundingNotFound(scid))
    );

    net.utxos.outputs.insert(scid.0, good.clone());
    net.utxos.spent.insert(scid.0);
    assert_eq!(
        graph(&net).handle_channel_announcement(&a, Some(&net.utxos), net.now),
        Err(GossipError::FundingSpent(scid))
    );
    net.utxos.spent.clear();

    let other = net.channel_announcements[1].clone();
    let mut wrong = good.clone();
    wrong.script_pubkey = funding_script_pubkey(&other.bitcoin_key_1, &other.bitcoin_key_2);
    net.utxos.outputs.insert(scid.0, wrong);
    assert_eq!(
        graph(&net).handle_channel_announcement(&a, Some(&net.utxos), net.now),
        Err(GossipError::FundingScriptMismatch(scid))
    );

    // Not P2WSH at all: the bare multisig script.
    let mut bare = good;
    bare.script_pubkey = bitcoin::ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::all_zeros());
    net.utxos.outputs.insert(scid.0, bare);
    assert_eq!(
        graph(&net).handle_channel_announcement(&a, Some(&net.utxos), net.now),
        Err(GossipError::FundingScriptMismatch(scid))
    );
}

use bitcoin::hashes::Hash as _;

struct Counting<'a> {
    inner: &'a dyn UtxoLookup,
    calls: Cell<usize>,
    answer: Option<UtxoAnswer>,
}

impl UtxoLookup for Counting<'_> {
    fn lookup(&self, chain: &ChainHash, scid: ShortChannelId) -> UtxoAnswer {
        self.calls.set(self.calls.get() + 1);
        match &self.answer {
            Some(a) => a.clone(),
            None => self.inner.lookup(chain, scid),
        }
    }
}

#[test]
fn funding_answers_are_cached() {
    let mut net = net();
    let a = net.channel_announcements[0].clone();
    net.utxos.spent.insert(a.short_channel_id.0);
    let lookup = Counting {
        inner: &net.utxos,
        calls: Cell::new(0),
        answer: None,
    };
    let mut g = graph(&net);
    for _ in 0..5 {
        assert!(matches!(
            g.handle_channel_announcement(&a, Some(&lookup), net.now),
            Err(GossipError::FundingSpent(_))
        ));
    }
    assert_eq!(lookup.calls.get(), 1);
}

#[test]
fn failed_lookups_are_not_cached() {
    let net = net();
    let a = &net.channel_announcements[0];
    let lookup = Counting {
        inner: &net.utxos,
        calls: Cell::new(0),
        answer: Some(UtxoAnswer::Failed),
    };
    let mut g = graph(&net);
    for _ in 0..2 {
        assert_eq!(
            g.handle_channel_announcement(a, Some(&lookup), net.now),
            Err(GossipError::FundingLookupFailed(a.short_channel_id))
        );
    }
    assert_eq!(lookup.calls.get(), 2);
}

#[test]
fn pending_lookups_are_bounded_and_resolve_later() {
    let net = net();
    let mut cfg = GraphConfig::new(net.chain_hash);
    cfg.max_pending_lookups = 2;
    let mut g = NetworkGraph::new(cfg);
    let later = Counting {
        inner: &net.utxos,
        calls: Cell::new(0),
        answer: Some(UtxoAnswer::Pending),
    };
    let anns = &net.channel_announcements;
    assert_eq!(
        g.handle_channel_announcement(&anns[0], Some(&later), net.now),
        Ok(AnnouncementOutcome::Pending)
    );
    assert_eq!(
        g.handle_channel_announcement(&anns[0], Some(&later), net.now),
        Err(GossipError::LookupAlreadyPending(anns[0].short_channel_id))
    );
    g.handle_channel_announcement(&anns[1], Some(&later), net.now)
        .unwrap();
    assert_eq!(
        g.handle_channel_announcement(&anns[2], Some(&later), net.now),
        Err(GossipError::TooManyPendingLookups)
    );
    assert_eq!(later.calls.get(), 2, "no lookup beyond the bound");
    let scid = anns[0].short_channel_id;
    let out = g
        .resolve_utxo(scid, net.utxos.lookup(&net.chain_hash, scid), net.now)
        .unwrap();
    assert!(matches!(out, AnnouncementOutcome::Added { .. }));
    assert_eq!(g.pending_lookups(), 1);
    assert_eq!(
        g.resolve_utxo(anns[1].short_channel_id, UtxoAnswer::Spent, net.now),
        Err(GossipError::FundingSpent(anns[1].short_channel_id))
    );
    assert_eq!(
        g.resolve_utxo(scid, UtxoAnswer::Spent, net.now),
        Err(GossipError::NoPendingLookup(scid))
    );
}

#[test]
fn light_client_skips_the_funding_check() {
    let net = net();
    let mut g = graph(&net);
    let a = &net.channel_announcements[0];
    g.handle_channel_announcement(a, None, net.now).unwrap();
    let idx = g.channel_by_scid(a.short_channel_id).unwrap();
    assert_eq!(g.channel(idx).unwrap().capacity_sat(), None);
}

#[test]
fn a_known_channel_announced_again_is_a_duplicate() {
    let net = net();
    let mut g = loaded(&net);
    let a = &net.channel_announcements[3];
    assert_eq!(
        g.handle_channel_announcement(a, Some(&net.utxos), net.now),
        Err(GossipError::DuplicateAnnouncement(a.short_channel_id))
    );
}

#[test]
fn conflicting_announcement_blacklists_both_pairs_and_forgets_their_channels() {
    let net = net();
    let mut g = loaded(&net);
    let first = net.channel_announcements[0].clone();
    // Same funding keys and output, other node ids (keys leaked).
    let ids: Vec<usize> = (0..net.node_secrets.len())
        .filter(|i| {
            let pk = PublicKey::from_secret_key(SECP256K1, &net.node_secrets[*i]);
            pk != first.node_id_1 && pk != first.node_id_2
        })
        .take(2)
        .collect();
    let pk = |i: usize| PublicKey::from_secret_key(SECP256K1, &net.node_secrets[i]);
    let (lo, hi) = if pk(ids[0]).serialize() < pk(ids[1]).serialize() {
        (ids[0], ids[1])
    } else {
        (ids[1], ids[0])
    };
    let mut a = first.clone();
    a.node_id_1 = pk(lo);
    a.node_id_2 = pk(hi);
    let [f1, f2] = net.funding_secrets[0];
    sign_channel_announcement(
        &mut a,
        [&net.node_secrets[lo], &net.node_secrets[hi], &f1, &f2],
    );
    assert_eq!(
        g.handle_channel_announcement(&a, Some(&net.utxos), net.now),
        Err(GossipError::ConflictingAnnouncement(first.short_channel_id))
    );
    for k in [first.node_id_1, first.node_id_2, pk(lo), pk(hi)] {
        assert!(g.is_blacklisted(&k));
        assert!(
            g.node_by_id(&k).is_none(),
            "channels of a blacklisted node are forgotten"
        );
    }
    // Their later gossip is ignored.
    assert_eq!(
        g.handle_channel_announcement(&first, Some(&net.utxos), net.now),
        Err(GossipError::Blacklisted)
    );
}

#[test]
fn graph_caps_channels_and_nodes() {
    let net = net();
    let mut cfg = GraphConfig::new(net.chain_hash);
    cfg.max_channels = 5;
    let mut g = NetworkGraph::new(cfg);
    let mut full = 0;
    for a in &net.channel_announcements {
        if g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            == Err(GossipError::GraphFull("channels"))
        {
            full += 1;
        }
    }
    assert_eq!(g.channel_count(), 5);
    assert_eq!(full, net.channel_announcements.len() - 5);
    let mut cfg = GraphConfig::new(net.chain_hash);
    cfg.max_nodes = 3;
    let mut g = NetworkGraph::new(cfg);
    for a in &net.channel_announcements {
        let _ = g.handle_channel_announcement(a, Some(&net.utxos), net.now);
    }
    assert!(g.node_count() <= 3);
}

// ---- channel_update ---------------------------------------------------

#[test]
fn update_for_an_unknown_channel_is_ignored() {
    let net = net();
    let mut g = graph(&net);
    let u = &net.channel_updates[0];
    let err = g.handle_channel_update(u, net.now).unwrap_err();
    assert_eq!(err, GossipError::UnknownChannel(u.short_channel_id));
    assert!(!err.is_misbehavior());
}

#[test]
fn update_with_a_bad_signature_is_misbehaviour() {
    let net = net();
    let mut g = loaded(&net);
    let mut u = net.channel_updates[0].clone();
    u.fee_base_msat += 1;
    let err = g.handle_channel_update(&u, net.now).unwrap_err();
    assert_eq!(err, GossipError::InvalidSignature { which: "signature" });
    assert!(err.is_misbehavior());
}

#[test]
fn update_signed_by_the_other_end_is_rejected() {
    // The direction bit picks the key: node 2's signature on a direction-0
    // update does not verify.
    let net = net();
    let mut g = loaded(&net);
    let mut u = net.channel_updates[0].clone();
    sign_channel_update(
        &mut u,
        &secret_of(&net, &net.channel_announcements[0].node_id_2),
    );
    assert!(matches!(
        g.handle_channel_update(&u, net.now),
        Err(GossipError::InvalidSignature { .. })
    ));
}

#[test]
fn update_on_an_unknown_chain_is_ignored() {
    let net = net();
    let mut g = loaded(&net);
    let u = resigned(&net, 0, |u| {
        u.chain_hash = ChainHash::for_network(bitcoin::Network::Signet)
    });
    assert_eq!(
        g.handle_channel_update(&u, net.now),
        Err(GossipError::UnknownChain)
    );
}

#[test]
fn older_equal_and_newer_timestamps() {
    let net = net();
    let mut g = loaded(&net);
    let u = &net.channel_updates[0];
    g.handle_channel_update(u, net.now).unwrap();
    // Equal, same fields: duplicate.
    assert_eq!(
        g.handle_channel_update(u, net.now),
        Err(GossipError::Duplicate)
    );
    // Equal, re-signed (other nonce would differ; same fields): duplicate.
    // Equal, other fields: conflicting (origin misbehaved, not the peer).
    let c = resigned(&net, 0, |u| u.fee_base_msat += 1);
    let err = g.handle_channel_update(&c, net.now).unwrap_err();
    assert_eq!(err, GossipError::ConflictingUpdate);
    assert!(!err.is_misbehavior());
    // Older: stale.
    let old = resigned(&net, 0, |u| u.timestamp -= 10);
    assert!(matches!(
        g.handle_channel_update(&old, net.now),
        Err(GossipError::Stale { .. })
    ));
    // Newer: applied.
    let new = resigned(&net, 0, |u| {
        u.timestamp += 10;
        u.fee_base_msat = 7;
    });
    g.handle_channel_update(&new, net.now).unwrap();
    let idx = g.channel_by_scid(u.short_channel_id).unwrap();
    assert_eq!(
        g.channel(idx).unwrap().direction(0).unwrap().fee_base_msat,
        7
    );
}

#[test]
fn update_more_than_a_day_ahead_is_discarded() {
    let net = net();
    let mut g = loaded(&net);
    let far = resigned(&net, 0, |u| u.timestamp = (net.now + 86_401) as u32);
    assert!(matches!(
        g.handle_channel_update(&far, net.now),
        Err(GossipError::FutureTimestamp { .. })
    ));
    let edge = resigned(&net, 0, |u| u.timestamp = (net.now + 86_400) as u32);
    g.handle_channel_update(&edge, net.now).unwrap();
}

#[test]
fn zero_and_too_old_timestamps_are_refused() {
    let net = net();
    let mut g = loaded(&net);
    let zero = resigned(&net, 0, |u| u.timestamp = 0);
    assert_eq!(
        g.handle_channel_update(&zero, net.now),
        Err(GossipError::ZeroTimestamp)
    );
    let old = resigned(&net, 0, |u| {
        u.timestamp = (net.now - u64::from(STALE_AFTER_SECS) - 1) as u32
    });
    assert!(matches!(
        g.handle_channel_update(&old, net.now),
        Err(GossipError::TooOld { .. })
    ));
}

#[test]
fn high_s_signature_is_accepted() {
    // BOLT 7: a relay may replace `s` with `-s`; the update stays valid.
    let net = net();
    let mut g = loaded(&net);
    let mut u = net.channel_updates[0].clone();
    let mut c = u.signature.serialize_compact();
    // s' = n - s
    let n =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(c[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        c[32 + i] = (d + if d < 0 { 256 } else { 0 }) as u8;
    }
    u.signature = secp256k1::ecdsa::Signature::from_compact(&c).unwrap();
    assert_ne!(u.signature, net.channel_updates[0].signature);
    g.handle_channel_update(&u, net.now).unwrap();
}

#[test]
fn first_update_releases_the_announcement_and_dont_forward_is_not_relayed() {
    let net = net();
    let mut g = loaded(&net);
    let out = g
        .handle_channel_update(&net.channel_updates[0], net.now)
        .unwrap();
    assert!(matches!(
        out,
        UpdateOutcome::Applied {
            first: true,
            relay: true,
            ..
        }
    ));
    let out = g
        .handle_channel_update(&net.channel_updates[1], net.now)
        .unwrap();
    assert!(matches!(out, UpdateOutcome::Applied { first: false, .. }));
    let private = resigned(&net, 2, |u| u.message_flags |= 2);
    let out = g.handle_channel_update(&private, net.now).unwrap();
    assert!(matches!(out, UpdateOutcome::Applied { relay: false, .. }));
}

#[test]
fn updates_are_rate_limited_per_direction() {
    let net = net();
    let mut cfg = GraphConfig::new(net.chain_hash);
    cfg.update_burst = 3;
    cfg.update_refill_secs = 600;
    let mut g = NetworkGraph::new(cfg);
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    let base = net.channel_updates[0].timestamp;
    let mut results = Vec::new();
    for k in 0..6u32 {
        let u = resigned(&net, 0, |u| u.timestamp = base + k);
        results.push(g.handle_channel_update(&u, net.now).is_ok());
    }
    // The first fills the bucket (3 - 1 left): 1 + 2 more, then refused.
    assert_eq!(results, [true, true, true, false, false, false]);
    // The other direction has its own budget.
    g.handle_channel_update(&net.channel_updates[1], net.now)
        .unwrap();
    // Ten minutes later one more is allowed.
    let u = resigned(&net, 0, |u| u.timestamp = base + 100);
    g.handle_channel_update(&u, net.now + 600).unwrap();
    let u = resigned(&net, 0, |u| u.timestamp = base + 101);
    assert_eq!(
        g.handle_channel_update(&u, net.now + 600),
        Err(GossipError::RateLimited(u.short_channel_id))
    );
}

#[test]
fn htlc_maximum_rules_make_a_direction_unroutable() {
    let net = net();
    let mut g = loaded(&net);
    let idx = g
        .channel_by_scid(net.channel_updates[0].short_channel_id)
        .unwrap();
    let cap = g.channel(idx).unwrap().capacity_sat().unwrap();
    g.handle_channel_update(&net.channel_updates[0], net.now)
        .unwrap();
    assert!(g.channel(idx).unwrap().is_routable(0) || net.channel_updates[0].is_disabled());
    let t = net.channel_updates[0].timestamp;
    let above = resigned(&net, 0, |u| {
        u.timestamp = t + 1;
        u.channel_flags &= !2;
        u.htlc_maximum_msat = cap * 1000 + 1;
    });
    g.handle_channel_update(&above, net.now).unwrap();
    assert!(!g.channel(idx).unwrap().is_routable(0));
    let below = resigned(&net, 0, |u| {
        u.timestamp = t + 2;
        u.channel_flags &= !2;
        u.htlc_minimum_msat = 5000;
        u.htlc_maximum_msat = 4000;
    });
    g.handle_channel_update(&below, net.now).unwrap();
    assert!(!g.channel(idx).unwrap().is_routable(0));
    let fine = resigned(&net, 0, |u| {
        u.timestamp = t + 3;
        u.channel_flags &= !2;
        u.htlc_minimum_msat = 1;
        u.htlc_maximum_msat = cap * 1000;
    });
    g.handle_channel_update(&fine, net.now).unwrap();
    assert!(g.channel(idx).unwrap().is_routable(0));
}

// ---- closing and pruning ----------------------------------------------

#[test]
fn spent_funding_closes_now_and_forgets_after_twelve_blocks() {
    let net = net();
    let mut g = full(&net);
    let scid = net.channel_announcements[0].short_channel_id;
    assert!(g.funding_spent(scid, 800_000));
    let u = resigned(&net, 0, |u| u.timestamp += 1);
    assert_eq!(
        g.handle_channel_update(&u, net.now),
        Err(GossipError::ChannelClosed(scid))
    );
    assert_eq!(g.block_connected(800_010), 0);
    assert!(g.channel_by_scid(scid).is_some());
    assert_eq!(g.block_connected(800_011), 1);
    assert!(g.channel_by_scid(scid).is_none());
    // Announced again: the output is known spent.
    assert_eq!(
        g.handle_channel_announcement(&net.channel_announcements[0], None, net.now)
            .map(|_| ()),
        Ok(()),
        "without a lookup nothing knows it is spent"
    );
    let mut g2 = full(&net);
    g2.funding_spent(scid, 800_000);
    g2.block_connected(800_011);
    assert_eq!(
        g2.handle_channel_announcement(&net.channel_announcements[0], Some(&net.utxos), net.now),
        Err(GossipError::FundingSpent(scid))
    );
}

#[test]
fn a_reorged_spend_reopens_the_channel() {
    let net = net();
    let mut g = full(&net);
    let scid = net.channel_announcements[0].short_channel_id;
    g.funding_spent(scid, 800_000);
    g.funding_unspent(scid);
    assert_eq!(g.block_connected(900_000), 0);
    let u = resigned(&net, 0, |u| u.timestamp += 1);
    g.handle_channel_update(&u, net.now).unwrap();
}

#[test]
fn stale_channels_are_pruned_when_either_direction_is_old() {
    let net = net();
    let mut g = loaded(&net);
    // Channel 0: both fresh. Channel 1: direction 1 old.
    let now = net.now;
    let fresh = |i: usize| resigned(&net, i, |u| u.timestamp = now as u32);
    g.handle_channel_update(&fresh(0), now).unwrap();
    g.handle_channel_update(&fresh(1), now).unwrap();
    g.handle_channel_update(&fresh(2), now).unwrap();
    let old = resigned(&net, 3, |u| u.timestamp = (now - 10 * 86_400) as u32);
    g.handle_channel_update(&old, now).unwrap();
    let later = now + 5 * 86_400;
    g.prune_stale(later);
    let s0 = net.channel_announcements[0].short_channel_id;
    let s1 = net.channel_announcements[1].short_channel_id;
    assert!(g.channel_by_scid(s0).is_some());
    assert!(g.channel_by_scid(s1).is_none());
    assert!(g.is_zombie(s1));
}

#[test]
fn zombies_come_back_only_with_a_fresh_update() {
    let net = net();
    let mut g = full(&net);
    let later = net.now + u64::from(STALE_AFTER_SECS) + 1;
    g.prune_stale(later);
    let a = &net.channel_announcements[0];
    assert_eq!(
        g.handle_channel_announcement(a, Some(&net.utxos), later),
        Err(GossipError::Zombie(a.short_channel_id))
    );
    // A fresh update with a bad signature does not revive it.
    let mut forged = resigned(&net, 0, |u| u.timestamp = later as u32);
    forged.fee_base_msat += 1;
    assert!(matches!(
        g.handle_channel_update(&forged, later),
        Err(GossipError::InvalidSignature { .. })
    ));
    assert!(g.is_zombie(a.short_channel_id));
    let fresh = resigned(&net, 0, |u| u.timestamp = later as u32);
    assert_eq!(
        g.handle_channel_update(&fresh, later),
        Ok(UpdateOutcome::ZombieRevived(a.short_channel_id))
    );
    g.handle_channel_announcement(a, Some(&net.utxos), later)
        .unwrap();
    g.handle_channel_update(&fresh, later).unwrap();
}

// ---- node_announcement ------------------------------------------------

#[test]
fn node_announcement_needs_a_known_channel() {
    let net = net();
    let mut g = graph(&net);
    assert_eq!(
        g.handle_node_announcement(&net.node_announcements[0], net.now),
        Err(GossipError::UnknownNode)
    );
}

#[test]
fn node_announcement_signature_and_timestamps() {
    let net = net();
    let mut g = loaded(&net);
    let n = net.node_announcements[0].clone();
    let mut bad = n.clone();
    bad.rgb_color[0] ^= 1;
    let err = g.handle_node_announcement(&bad, net.now).unwrap_err();
    assert!(err.is_misbehavior());
    g.handle_node_announcement(&n, net.now).unwrap();
    assert_eq!(
        g.handle_node_announcement(&n, net.now),
        Err(GossipError::Duplicate)
    );
    let sk = secret_of(&net, &n.node_id);
    let mut older = n.clone();
    older.timestamp -= 1;
    sign_node_announcement(&mut older, &sk);
    assert!(matches!(
        g.handle_node_announcement(&older, net.now),
        Err(GossipError::Stale { .. })
    ));
    let mut far = n.clone();
    far.timestamp = (net.now + 2 * 86_400) as u32;
    sign_node_announcement(&mut far, &sk);
    assert!(matches!(
        g.handle_node_announcement(&far, net.now),
        Err(GossipError::FutureTimestamp { .. })
    ));
    let mut newer = n.clone();
    newer.timestamp += 1;
    newer.alias[0] = b'Z';
    sign_node_announcement(&mut newer, &sk);
    g.handle_node_announcement(&newer, net.now).unwrap();
    let idx = g.node_by_id(&n.node_id).unwrap();
    assert_eq!(g.node(idx).unwrap().announcement().unwrap().alias[0], b'Z');
}

#[test]
fn node_addresses_dns_and_unknown_types() {
    let net = net();
    let mut g = loaded(&net);
    let n = net.node_announcements[0].clone();
    let sk = secret_of(&net, &n.node_id);
    let mut m = n.clone();
    m.timestamp += 1;
    m.addresses.addresses = vec![
        NodeAddress::Ipv4 {
            addr: std::net::Ipv4Addr::new(1, 2, 3, 4),
            port: 9735,
        },
        NodeAddress::Dns {
            hostname: "ln.example.org".into(),
            port: 9735,
        },
    ];
    // An unknown type 42 descriptor after them: kept byte for byte.
    m.addresses.unparsed = vec![42, 1, 2, 3];
    sign_node_announcement(&mut m, &sk);
    // Through the wire decoder, as a peer would send it.
    let bytes = lightning_wire::msgs::Message::NodeAnnouncement(m.clone())
        .encode()
        .unwrap();
    let lightning_wire::msgs::Message::NodeAnnouncement(decoded) =
        lightning_wire::msgs::Message::decode(&bytes).unwrap()
    else {
        panic!()
    };
    assert_eq!(decoded.addresses.addresses.len(), 2);
    assert_eq!(decoded.addresses.unparsed, vec![42, 1, 2, 3]);
    assert!(g.handle_node_announcement(&decoded, net.now).unwrap().relay);
    let idx = g.node_by_id(&n.node_id).unwrap();
    assert_eq!(g.node_announcement_msg(idx), Some(decoded.clone()));
    // Two DNS hostnames: stored, not relayed (BOLT 7 "MUST not forward").
    let mut two = decoded.clone();
    two.timestamp += 1;
    two.addresses.addresses.push(NodeAddress::Dns {
        hostname: "b.example.org".into(),
        port: 1,
    });
    sign_node_announcement(&mut two, &sk);
    assert!(!g.handle_node_announcement(&two, net.now).unwrap().relay);
}

#[test]
fn nodes_are_forgotten_with_their_last_channel() {
    let net = net();
    let mut g = full(&net);
    let a = &net.channel_announcements[0];
    let n1 = g.node_by_id(&a.node_id_1).unwrap();
    let chans: Vec<_> = g.node(n1).unwrap().channels().to_vec();
    for c in chans {
        let scid = g.channel(c).unwrap().scid();
        g.funding_spent(scid, 1);
    }
    g.block_connected(100);
    assert!(g.node_by_id(&a.node_id_1).is_none());
    assert!(matches!(
        g.handle_node_announcement(
            net.node_announcements
                .iter()
                .find(|n| n.node_id == a.node_id_1)
                .unwrap(),
            net.now
        ),
        Err(GossipError::UnknownNode)
    ));
}

#[test]
fn a_forged_update_cannot_spend_the_rate_budget() {
    let net = net();
    let mut cfg = GraphConfig::new(net.chain_hash);
    cfg.update_burst = 2;
    let mut g = NetworkGraph::new(cfg);
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    g.handle_channel_update(&net.channel_updates[0], net.now)
        .unwrap();
    let base = net.channel_updates[0].timestamp;
    for k in 1..20 {
        let mut forged = net.channel_updates[0].clone();
        forged.timestamp = base + k;
        assert!(g.handle_channel_update(&forged, net.now).is_err());
    }
    let real = resigned(&net, 0, |u| u.timestamp = base + 50);
    g.handle_channel_update(&real, net.now).unwrap();
}

#[test]
fn unsigned_update_helper_sets_direction_and_disable() {
    let net = net();
    let u = unsigned_update(
        net.chain_hash,
        ShortChannelId(1),
        1,
        5,
        true,
        40,
        1,
        2,
        3,
        4,
    );
    assert_eq!(u.direction(), 1);
    assert!(u.is_disabled());
}

#[test]
fn unknown_even_node_feature_marks_the_node_unroutable() {
    let net = net();
    let mut g = loaded(&net);
    let n = net.node_announcements[0].clone();
    g.handle_node_announcement(&n, net.now).unwrap();
    let idx = g.node_by_id(&n.node_id).unwrap();
    assert!(!g.node(idx).unwrap().has_unknown_required_features());
    let mut m = n.clone();
    m.timestamp += 1;
    m.features.set_bit(200);
    sign_node_announcement(&mut m, &secret_of(&net, &n.node_id));
    g.handle_node_announcement(&m, net.now).unwrap();
    assert!(g.node(idx).unwrap().has_unknown_required_features());
    // An unknown odd bit does not.
    let mut o = n.clone();
    o.timestamp += 2;
    o.features.set_bit(201);
    sign_node_announcement(&mut o, &secret_of(&net, &n.node_id));
    g.handle_node_announcement(&o, net.now).unwrap();
    assert!(!g.node(idx).unwrap().has_unknown_required_features());
}

#[test]
fn a_node_announcement_with_an_invalid_node_id_does_not_decode() {
    // BOLT 7: "if `node_id` is NOT a valid compressed public key: ... MUST
    // NOT process the message further": the codec refuses it, so it never
    // reaches the graph.
    let net = net();
    let bytes = lightning_wire::msgs::Message::NodeAnnouncement(net.node_announcements[0].clone())
        .encode()
        .unwrap();
    // type(2) signature(64) flen(2) features timestamp(4) node_id(33)
    let flen = usize::from(u16::from_be_bytes([bytes[66], bytes[67]]));
    let at = 2 + 64 + 2 + flen + 4;
    let mut bad = bytes.clone();
    bad[at] = 0x05; // not 02 or 03
    assert!(lightning_wire::msgs::Message::decode(&bad).is_err());
    assert!(lightning_wire::msgs::Message::decode(&bytes).is_ok());
}

#[test]
fn node_announcements_are_rate_limited() {
    let net = net();
    let mut cfg = GraphConfig::new(net.chain_hash);
    cfg.update_burst = 2;
    let mut g = NetworkGraph::new(cfg);
    for a in &net.channel_announcements {
        g.handle_channel_announcement(a, Some(&net.utxos), net.now)
            .unwrap();
    }
    let n = &net.node_announcements[0];
    let sk = secret_of(&net, &n.node_id);
    let mut results = Vec::new();
    for k in 0..4u32 {
        let mut m = n.clone();
        m.timestamp += k;
        sign_node_announcement(&mut m, &sk);
        results.push(g.handle_node_announcement(&m, net.now).map(|_| ()));
    }
    assert_eq!(
        results,
        [
            Ok(()),
            Ok(()),
            Err(GossipError::NodeRateLimited),
            Err(GossipError::NodeRateLimited)
        ]
    );
}

#[test]
fn updates_arriving_during_a_pending_lookup_are_applied_after_it() {
    let net = net();
    let mut g = graph(&net);
    let later = Counting {
        inner: &net.utxos,
        calls: Cell::new(0),
        answer: Some(UtxoAnswer::Pending),
    };
    let a = &net.channel_announcements[0];
    g.handle_channel_announcement(a, Some(&later), net.now)
        .unwrap();
    let older = resigned(&net, 0, |u| u.timestamp -= 5);
    for u in [&net.channel_updates[0], &older, &net.channel_updates[1]] {
        assert_eq!(
            g.handle_channel_update(u, net.now),
            Err(GossipError::AwaitingFunding(a.short_channel_id))
        );
    }
    let scid = a.short_channel_id;
    g.resolve_utxo(scid, net.utxos.lookup(&net.chain_hash, scid), net.now)
        .unwrap();
    let idx = g.channel_by_scid(scid).unwrap();
    assert_eq!(
        g.channel_update_msg(idx, 0).as_ref(),
        Some(&net.channel_updates[0])
    );
    assert_eq!(
        g.channel_update_msg(idx, 1).as_ref(),
        Some(&net.channel_updates[1])
    );
    // A pending announcement whose funding turns out spent takes its
    // updates with it.
    let b = &net.channel_announcements[1];
    g.handle_channel_announcement(b, Some(&later), net.now)
        .unwrap();
    let _ = g.handle_channel_update(&net.channel_updates[2], net.now);
    assert!(g
        .resolve_utxo(b.short_channel_id, UtxoAnswer::Spent, net.now)
        .is_err());
    assert_eq!(
        g.handle_channel_update(&net.channel_updates[2], net.now),
        Err(GossipError::UnknownChannel(b.short_channel_id))
    );
}
