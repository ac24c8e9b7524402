//! BOLT 7: channels whose funding output is spent on chain are forgotten
//! after a 12-block delay ("once its funding output has been spent OR
//! reorganized out: SHOULD forget a channel after a 12-block delay";
//! "Pruning the Network View": "if the funding output of a channel is spent
//! and received 12 block confirmations: SHOULD be removed"), found by the
//! funding outpoint index from a block's inputs.
#![allow(clippy::unwrap_used)]

use bitcoin::hashes::Hash as _;
use bitcoin::{OutPoint, ScriptBuf, Sequence, TxIn, Txid, Witness};
use lightning_gossip::{snapshot, verify, GraphConfig, NetworkGraph};
use lightning_test_support::gossip::{
    Generator, SyntheticConfig, SyntheticNetwork, SyntheticUtxos,
};
use lightning_wire::msgs::ChannelAnnouncement;
use lightning_wire::types::ShortChannelId;

const H: u32 = 900_000;

fn net() -> SyntheticNetwork {
    Generator::new(17, SyntheticConfig::small(20, 40)).generate()
}

fn full(net: &SyntheticNetwork, lookup: bool) -> NetworkGraph {
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    for a in &net.channel_announcements {
        let utxo: Option<&dyn lightning_gossip::UtxoLookup> = lookup.then_some(&net.utxos as _);
        g.handle_channel_announcement(a, utxo, net.now).unwrap();
    }
    for u in &net.channel_updates {
        g.handle_channel_update(u, net.now).unwrap();
    }
    g
}

/// A cooperative-close-like input spending `outpoint` with the funding
/// witness script of `ann`'s keys.
fn spend(ann: &ChannelAnnouncement, outpoint: OutPoint) -> TxIn {
    let script = verify::funding_witness_script(
        &ann.bitcoin_key_1.serialize(),
        &ann.bitcoin_key_2.serialize(),
    );
    TxIn {
        previous_output: outpoint,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::from_slice(&[vec![], vec![0x30; 72], vec![0x30; 72], script.to_bytes()]),
    }
}

fn routable(g: &NetworkGraph, scid: ShortChannelId) -> Option<bool> {
    let c = g.channel(g.channel_by_scid(scid)?)?;
    Some(c.is_routable(0) || c.is_routable(1))
}

#[test]
fn a_spent_funding_output_is_kept_closed_for_eleven_blocks_and_gone_at_the_twelfth() {
    let net = net();
    let mut g = full(&net, true);
    assert_eq!(g.funding_outpoints(), net.channel_announcements.len());
    let before = g.channel_count();
    let ann = &net.channel_announcements[3];
    let scid = ann.short_channel_id;
    assert_eq!(routable(&g, scid), Some(true));
    let input = spend(ann, net.utxos.funding_outpoint(scid));

    assert_eq!(g.spent_input(&input, H), Some(scid));
    assert_eq!(g.closing_channels(), 1);
    // Closed at once: no longer routable, but still held.
    assert_eq!(routable(&g, scid), Some(false));
    // The spend's block and the ten after it: 11 confirmations.
    for tip in H..H + 11 {
        assert_eq!(g.block_connected(tip), 0, "tip {tip}");
        assert!(g.channel_by_scid(scid).is_some(), "tip {tip}");
    }
    // The 12th confirmation.
    assert_eq!(g.block_connected(H + 11), 1);
    assert!(g.channel_by_scid(scid).is_none());
    assert_eq!(g.channel_count(), before - 1);
    assert_eq!(g.closing_channels(), 0);
    // Every other channel is untouched.
    for a in &net.channel_announcements {
        if a.short_channel_id != scid {
            assert_eq!(routable(&g, a.short_channel_id), Some(true));
        }
    }
    // The removed channel's index entry is not saved (it would name an
    // unknown channel), and goes with the next prune.
    let back = snapshot::decode(&snapshot::encode(&g), GraphConfig::new(net.chain_hash)).unwrap();
    assert_eq!(
        back.funding_outpoints(),
        net.channel_announcements.len() - 1
    );
    g.prune_stale(net.now);
    assert_eq!(g.funding_outpoints(), net.channel_announcements.len() - 1);
}

#[test]
fn a_reorg_before_the_delay_restores_the_channel() {
    let net = net();
    let mut g = full(&net, true);
    let ann = &net.channel_announcements[5];
    let scid = ann.short_channel_id;
    let input = spend(ann, net.utxos.funding_outpoint(scid));
    assert_eq!(g.spent_input(&input, H), Some(scid));
    for tip in H..H + 5 {
        g.block_connected(tip);
    }
    // Blocks above the spend leave: the spend stands.
    assert_eq!(g.block_disconnected(H + 4), 0);
    assert_eq!(g.block_disconnected(H + 1), 0);
    assert_eq!(routable(&g, scid), Some(false));
    // The spend's block leaves: open again, and it stays past the delay.
    assert_eq!(g.block_disconnected(H), 1);
    assert_eq!(routable(&g, scid), Some(true));
    assert_eq!(g.block_connected(H + 30), 0);
    assert!(g.channel_by_scid(scid).is_some());
    // The spend confirms again on the new branch, later: counted from there.
    assert_eq!(g.spent_input(&input, H + 2), Some(scid));
    assert_eq!(g.block_connected(H + 12), 0);
    assert_eq!(g.block_connected(H + 13), 1);
    assert!(g.channel_by_scid(scid).is_none());
}

#[test]
fn unknown_outpoints_and_foreign_witnesses_are_ignored() {
    let net = net();
    let mut g = full(&net, true);
    let ann = &net.channel_announcements[0];
    let scid = ann.short_channel_id;
    let op = net.utxos.funding_outpoint(scid);
    // An outpoint no channel has.
    let other = OutPoint::new(Txid::from_byte_array([9; 32]), 0);
    assert_eq!(g.spent_input(&spend(ann, other), H), None);
    // Another output of the funding transaction.
    let next = OutPoint::new(op.txid, op.vout + 1);
    assert_eq!(g.spent_input(&spend(ann, next), H), None);
    // The right outpoint with another channel's witness script (a txid
    // ground to collide with the index key cannot be spent like the
    // funding output).
    let wrong = spend(&net.channel_announcements[1], op);
    assert_eq!(g.spent_input(&wrong, H), None);
    // No witness at all.
    let mut bare = spend(ann, op);
    bare.witness = Witness::new();
    assert_eq!(g.spent_input(&bare, H), None);
    assert_eq!(g.closing_channels(), 0);
    assert_eq!(g.block_connected(H + 100), 0);
    assert_eq!(g.channel_count(), net.channel_announcements.len());
    // Spends reported by short_channel_id for a channel we do not hold.
    assert!(!g.funding_spent(ShortChannelId::new(1, 2, 3).unwrap(), H));
    assert_eq!(g.block_disconnected(H), 0);
}

#[test]
fn a_light_client_learns_outpoints_only_when_told() {
    let net = net();
    let mut g = full(&net, false);
    assert_eq!(g.funding_outpoints(), 0);
    let ann = &net.channel_announcements[2];
    let scid = ann.short_channel_id;
    let op = net.utxos.funding_outpoint(scid);
    // Without the outpoint the spend cannot be seen (the two-week rule
    // prunes such a channel).
    assert_eq!(g.spent_input(&spend(ann, op), H), None);
    // Told (our own channel): refused for another output index or an
    // unknown channel.
    assert!(!g.set_funding_outpoint(scid, OutPoint::new(op.txid, op.vout + 1)));
    assert!(!g.set_funding_outpoint(ShortChannelId::new(1, 1, op.vout as u16).unwrap(), op));
    assert!(g.set_funding_outpoint(scid, op));
    assert!(g.knows_funding_outpoint(scid, &op));
    assert_eq!(g.spent_input(&spend(ann, op), H), Some(scid));
}

#[test]
fn the_snapshot_keeps_the_index_and_the_closing_channels() {
    let net = net();
    let mut g = full(&net, true);
    let a = &net.channel_announcements[1];
    let b = &net.channel_announcements[4];
    assert!(g
        .spent_input(&spend(a, net.utxos.funding_outpoint(a.short_channel_id)), H)
        .is_some());
    let bytes = snapshot::encode(&g);
    let mut back = snapshot::decode(&bytes, GraphConfig::new(net.chain_hash)).unwrap();
    assert_eq!(snapshot::encode(&back), bytes);
    assert_eq!(back.funding_outpoints(), g.funding_outpoints());
    assert_eq!(back.closing_channels(), 1);
    // The restored index still finds spends.
    assert_eq!(
        back.spent_input(
            &spend(b, net.utxos.funding_outpoint(b.short_channel_id)),
            H + 3
        ),
        Some(b.short_channel_id)
    );
    assert_eq!(back.block_connected(H + 11), 1);
    assert_eq!(back.block_connected(H + 14), 1);
    assert_eq!(back.channel_count(), net.channel_announcements.len() - 2);
}

#[test]
fn a_format_1_snapshot_loads_without_the_index() {
    let net = net();
    let g = full(&net, true);
    let v2 = snapshot::encode(&g);
    // Format 1: the same without the funding section (u32 count and
    // entries) before the CRC.
    let entries = g.funding_outpoints() * 16;
    let body_end = v2.len() - 4 - 4 - entries;
    let mut v1 = v2[..body_end].to_vec();
    v1[4] = 1;
    let crc = lightning_gossip::checksum::crc32c(&v1);
    v1.extend_from_slice(&crc.to_be_bytes());
    let back = snapshot::decode(&v1, GraphConfig::new(net.chain_hash)).unwrap();
    assert_eq!(back.channel_count(), g.channel_count());
    assert_eq!(back.funding_outpoints(), 0);
    // A funding section with an entry of an unknown channel is refused.
    let mut bad = v2[..v2.len() - 4].to_vec();
    let at = bad.len() - 8;
    bad[at..].copy_from_slice(&u64::MAX.to_be_bytes());
    let crc = lightning_gossip::checksum::crc32c(&bad);
    bad.extend_from_slice(&crc.to_be_bytes());
    assert!(snapshot::decode(&bad, GraphConfig::new(net.chain_hash)).is_err());
}

#[test]
fn the_synthetic_utxo_set_names_its_funding_txids() {
    let scid = ShortChannelId::new(800_000, 5, 1).unwrap();
    let op = SyntheticUtxos::default().funding_outpoint(scid);
    assert_eq!(op.vout, 1);
    assert_eq!(op.txid, SyntheticUtxos::funding_txid(scid));
}

#[test]
fn learned_funding_outputs_are_reported_only_when_asked() {
    let net = net();
    let mut g = NetworkGraph::new(GraphConfig::new(net.chain_hash));
    let (first, second) = (&net.channel_announcements[0], &net.channel_announcements[1]);
    g.handle_channel_announcement(first, Some(&net.utxos), net.now)
        .unwrap();
    assert!(g.take_new_funding().is_empty(), "off by default");
    g.report_new_funding(true);
    g.handle_channel_announcement(second, Some(&net.utxos), net.now)
        .unwrap();
    let got = g.take_new_funding();
    assert_eq!(got.len(), 1);
    let scid = second.short_channel_id;
    assert_eq!(got[0].scid, scid);
    assert_eq!(got[0].outpoint, net.utxos.funding_outpoint(scid));
    assert_eq!(
        got[0].script_pubkey,
        verify::funding_script_pubkey(&second.bitcoin_key_1, &second.bitcoin_key_2)
    );
    assert!(g.take_new_funding().is_empty(), "taken once");
}
