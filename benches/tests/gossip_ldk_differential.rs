//! Differential test of the public graph (issue 17, "Tests"): the same
//! generated, signed gossip (valid messages and a corrupted set: bad
//! signatures, spent funding, a wrong funding script, a missing funding
//! output, stale and far-future updates) goes into our
//! `lightning_gossip::NetworkGraph` and into LDK 0.2's
//! `lightning::routing::gossip::NetworkGraph`, each with a UTXO lookup
//! answering from the same simulated UTXO set. Both must accept and
//! reject the same messages, and end with the same channels, directions
//! and nodes.
//!
//! LDK checks update timestamps against the system clock, so the
//! generated updates are moved to now and signed again; ours is given the
//! same `now`.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use bitcoin::{ScriptBuf, TxOut};
use lightning::routing::gossip::NetworkGraph as LdkGraph;
use lightning::routing::utxo::{UtxoLookup as LdkUtxoLookup, UtxoLookupError, UtxoResult};
use lightning::util::logger::{Logger, Record};
use lightning::util::ser::LengthReadable;
use lightning_gossip::{GraphConfig, NetworkGraph, UtxoAnswer, UtxoLookup};
use lightning_test_support::gossip::{
    sign_channel_update, Generator, SyntheticConfig, SyntheticUtxos, SYNTHETIC_NOW,
};
use lightning_wire::codec::Encode;
use lightning_wire::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use lightning_wire::types::{ChainHash, ShortChannelId};

struct Quiet;
impl Logger for Quiet {
    fn log(&self, _record: Record) {}
}

/// LDK's lookup over the same simulated UTXO set.
struct LdkUtxos(SyntheticUtxos);
impl LdkUtxoLookup for LdkUtxos {
    fn get_utxo(&self, chain: &bitcoin::constants::ChainHash, scid: u64) -> UtxoResult {
        let chain = ChainHash(chain.to_bytes());
        match self.0.lookup(&chain, ShortChannelId(scid)) {
            UtxoAnswer::Unspent { output, .. } => UtxoResult::Sync(Ok(output)),
            _ => UtxoResult::Sync(Err(UtxoLookupError::UnknownTx)),
        }
    }
}

fn ldk<T: LengthReadable>(bytes: Vec<u8>) -> T {
    T::read_from_fixed_length_buffer(&mut &bytes[..])
        .ok()
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    BadSignature,
    Spent,
    WrongScript,
    NoOutput,
    Stale,
    Future,
}

#[test]
fn ours_and_ldk_accept_and_reject_the_same_gossip() {
    let net = Generator::new(17, SyntheticConfig::small(300, 900)).generate();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let shift = u32::try_from(now - SYNTHETIC_NOW).unwrap();
    let secret: HashMap<PublicKey, SecretKey> = net
        .node_secrets
        .iter()
        .map(|sk| (sk.public_key(SECP256K1), *sk))
        .collect();
    let ends: HashMap<u64, (PublicKey, PublicKey)> = net
        .channel_announcements
        .iter()
        .map(|a| (a.short_channel_id.0, (a.node_id_1, a.node_id_2)))
        .collect();
    let resign = |u: &mut ChannelUpdate| {
        let (n1, n2) = ends[&u.short_channel_id.0];
        let key = if u.channel_flags & 1 == 0 { n1 } else { n2 };
        sign_channel_update(u, &secret[&key]);
    };

    // The corrupted set, by channel position.
    let mut utxos = net.utxos.clone();
    let mut anns: Vec<(Kind, ChannelAnnouncement)> = Vec::new();
    for (i, a) in net.channel_announcements.iter().enumerate() {
        let scid = a.short_channel_id.0;
        let kind = match i % 30 {
            1 => Kind::BadSignature,
            2 => Kind::Spent,
            3 => Kind::WrongScript,
            4 => Kind::NoOutput,
            _ => Kind::Valid,
        };
        let mut a = a.clone();
        match kind {
            Kind::BadSignature => std::mem::swap(&mut a.node_signature_1, &mut a.node_signature_2),
            Kind::Spent => {
                utxos.spent.insert(scid);
            }
            Kind::WrongScript => {
                let out = utxos.outputs.get_mut(&scid).unwrap();
                *out = TxOut {
                    value: out.value,
                    script_pubkey: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_raw_hash(
                        bitcoin::hashes::Hash::from_byte_array([7; 32]),
                    )),
                };
            }
            Kind::NoOutput => {
                utxos.outputs.remove(&scid);
            }
            _ => {}
        }
        anns.push((kind, a));
    }
    let mut upds: Vec<(Kind, ChannelUpdate)> = Vec::new();
    for (i, u) in net.channel_updates.iter().enumerate() {
        let mut u = u.clone();
        u.timestamp += shift;
        let kind = match i % 40 {
            5 => Kind::Stale,
            6 => Kind::Future,
            7 => Kind::BadSignature,
            _ => Kind::Valid,
        };
        match kind {
            Kind::Stale => u.timestamp = (now - 15 * 86_400) as u32,
            Kind::Future => u.timestamp = (now + 2 * 86_400) as u32,
            _ => {}
        }
        resign(&mut u);
        if kind == Kind::BadSignature {
            u.fee_base_msat = u.fee_base_msat.wrapping_add(1);
        }
        upds.push((kind, u));
    }
    let nodes: Vec<NodeAnnouncement> = net.node_announcements.clone();

    let mut ours = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let theirs = LdkGraph::new(bitcoin::Network::Bitcoin, &Quiet);
    let ldk_utxos = Some(LdkUtxos(utxos.clone()));

    let mut disagreements = Vec::new();
    let mut rejected = HashMap::<&str, usize>::new();
    for (kind, a) in &anns {
        let o = ours
            .handle_channel_announcement(a, Some(&utxos), now)
            .is_ok();
        let l = theirs
            .update_channel_from_announcement(&ldk(a.to_bytes()), &ldk_utxos.as_ref())
            .is_ok();
        if o != l {
            disagreements.push(format!(
                "announcement {:?} ({kind:?}): ours {o}, LDK {l}",
                a.short_channel_id
            ));
        }
        assert_eq!(o, *kind == Kind::Valid, "ours on {kind:?}");
        if !o {
            *rejected.entry("announcement").or_default() += 1;
        }
    }
    for (kind, u) in &upds {
        let o = ours.handle_channel_update(u, now).is_ok();
        let l = theirs.update_channel(&ldk(u.to_bytes())).is_ok();
        if o != l {
            disagreements.push(format!(
                "update {:?}/{} ({kind:?}): ours {o}, LDK {l}",
                u.short_channel_id,
                u.direction()
            ));
        }
        // An update of a refused channel is refused too (unknown channel).
        let channel_ok = anns
            .iter()
            .any(|(k, a)| *k == Kind::Valid && a.short_channel_id == u.short_channel_id);
        assert_eq!(o, *kind == Kind::Valid && channel_ok, "ours on {kind:?}");
        if !o {
            *rejected.entry("update").or_default() += 1;
        }
    }
    for n in &nodes {
        let o = ours.handle_node_announcement(n, now).is_ok();
        let l = theirs
            .update_node_from_announcement(&ldk(n.to_bytes()))
            .is_ok();
        if o != l {
            disagreements.push(format!("node {}: ours {o}, LDK {l}", n.node_id));
        }
        if !o {
            *rejected.entry("node").or_default() += 1;
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");

    // The same final graph.
    let ro = theirs.read_only();
    assert_eq!(ours.channel_count(), ro.channels().len());
    let ldk_dirs: usize = ro
        .channels()
        .unordered_iter()
        .map(|(_, c)| usize::from(c.one_to_two.is_some()) + usize::from(c.two_to_one.is_some()))
        .sum();
    let our_dirs: usize = ours
        .channels()
        .map(|(_, c)| usize::from(c.direction(0).is_some()) + usize::from(c.direction(1).is_some()))
        .sum();
    assert_eq!(our_dirs, ldk_dirs);
    for (_, c) in ours.channels() {
        let l = ro.channels().get(&c.scid().0).expect("LDK has the channel");
        assert_eq!(c.capacity_sat(), l.capacity_sats);
    }
    assert_eq!(ours.node_count(), ro.nodes().len());
    let ldk_announced = ro
        .nodes()
        .unordered_iter()
        .filter(|(_, n)| n.announcement_info.is_some())
        .count();
    let our_announced = ours
        .nodes()
        .filter(|(_, n)| n.announcement().is_some())
        .count();
    assert_eq!(our_announced, ldk_announced);
    println!(
        "agreed on {} announcements, {} updates, {} node announcements; rejected by both: {rejected:?}; final: {} channels, {our_dirs} directions, {} nodes ({our_announced} announced)",
        anns.len(),
        upds.len(),
        nodes.len(),
        ours.channel_count(),
        ours.node_count(),
    );
}
