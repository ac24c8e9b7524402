//! Attribution data in the channel (BOLT 2, "Removing an HTLC": TLV 1 of
//! `update_fulfill_htlc` and `update_fail_htlc`; BOLT 4, "Returning
//! Errors"): a removal keeps the attribution data it was sent or received
//! with, in the update log and in the channel record (an odd field beside
//! the HTLC's onion field), reports it in `HtlcFulfilled`/`HtlcFailed`, and
//! sends it again after a reconnection or a restart. Records that have no
//! such field (every record written before it) still restore.
#![allow(clippy::unwrap_used)]

mod channel_harness;

use channel_harness::*;
use lightning_core::channel::record::decode_snapshot;
use lightning_core::channel::update_log::{HtlcRemoval, Side};
use lightning_core::channel::ChannelEvent;
use lightning_persist::KvStore;
use lightning_test_support::pair::NAMESPACE;
use lightning_wire::codec::Reader;
use lightning_wire::msgs::{AttributionData, FixedBytes, Message};
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};

/// Attribution data recognisable by `tag`.
fn attribution(tag: u8) -> AttributionData {
    let mut hmacs = Box::new([tag; 840]);
    hmacs[0] = tag.wrapping_add(1);
    AttributionData {
        htlc_hold_times: [u32::from(tag); 20],
        truncated_hmacs: FixedBytes(hmacs),
    }
}

/// A offers two HTLCs to B, both locked in; B fails HTLC 0 and fulfils
/// HTLC 1, each with attribution data, and commits (the
/// `commitment_signed` covering them is written before it leaves).
fn removals_sent() -> Pair {
    let mut pair = open(OpenOptions::default());
    for n in [1, 2] {
        let (_, hash) = preimage(n);
        let (_, out) = pair
            .a
            .ch
            .send_htlc(5_000_000 + n, hash, 700_000, ONION.to_vec())
            .unwrap();
        pair.a.apply(out);
    }
    pair.commit_both();
    pair.run_until_quiet();
    pair.a.take_events();
    let received = pair.b.take_events();
    assert_eq!(
        received
            .iter()
            .filter(|e| matches!(e, ChannelEvent::HtlcReceived { .. }))
            .count(),
        2
    );
    let out = pair
        .b
        .ch
        .fail_htlc_with_attribution(0, vec![0xee; 292], Some(attribution(7)))
        .unwrap();
    pair.b.apply(out);
    let out = pair
        .b
        .ch
        .fulfill_htlc_with_attribution(1, preimage(2).0, Some(attribution(9)))
        .unwrap();
    pair.b.apply(out);
    let out = pair.b.ch.commit().unwrap();
    assert!(out.persist.is_some());
    pair.b.apply(out);
    pair
}

/// The attribution data of the removals in `msgs`, (fail, fulfil).
fn sent(msgs: &[Message]) -> (Option<AttributionData>, Option<AttributionData>) {
    let fail = msgs.iter().find_map(|m| match m {
        Message::UpdateFailHtlc(f) => Some(f.tlvs.attribution_data.clone()),
        _ => None,
    });
    let fulfil = msgs.iter().find_map(|m| match m {
        Message::UpdateFulfillHtlc(f) => Some(f.tlvs.attribution_data.clone()),
        _ => None,
    });
    (fail.flatten(), fulfil.flatten())
}

/// The removal of `offerer`'s HTLC `id` in `node`'s log, with its data.
fn logged(node: &Node, offerer: Side, id: u64) -> Option<AttributionData> {
    let log = &node.ch.state().log;
    let (removal, _) = log
        .find_removal(offerer, id)
        .expect("the removal is in the log");
    removal.attribution_data().map(|a| (**a).clone())
}

#[test]
fn attribution_data_is_sent_received_and_reported() {
    let mut pair = removals_sent();
    let msgs: Vec<Message> = pair.b.outbox.iter().cloned().collect();
    assert_eq!(
        sent(&msgs),
        (Some(attribution(7)), Some(attribution(9))),
        "TLV 1 of both messages"
    );
    // Sent without: no TLV.
    pair.run_until_quiet();
    let events = pair.a.take_events();
    assert!(
        events.iter().any(|e| matches!(e,
            ChannelEvent::HtlcFulfilled { htlc_id: 1, attribution_data: Some(a), .. } if **a == attribution(9))),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e,
            ChannelEvent::HtlcFailed { htlc_id: 0, attribution_data: Some(a), .. } if **a == attribution(7))),
        "{events:?}"
    );
    assert!(pair.a.ch.state().log.updates().is_empty(), "all settled");
    pair.check_agreement();

    // Without attribution data, none is sent or reported.
    let (_, hash) = preimage(3);
    let (id, out) = pair
        .a
        .ch
        .send_htlc(4_000_000, hash, 700_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    pair.commit_both();
    pair.run_until_quiet();
    let out = pair.b.ch.fail_htlc(id, vec![1; 292]).unwrap();
    pair.b.apply(out);
    assert_eq!(
        sent(&pair.b.outbox.iter().cloned().collect::<Vec<_>>()),
        (None, None)
    );
    pair.commit_both();
    pair.run_until_quiet();
    assert!(pair.a.take_events().iter().any(|e| matches!(e,
        ChannelEvent::HtlcFailed { htlc_id, attribution_data: None, .. } if *htlc_id == id)));
}

#[test]
fn attribution_data_is_persisted_and_sent_again_after_a_restart() {
    let mut pair = removals_sent();
    // B's messages are lost with the connection; B restarts from its
    // store (its record holds the removals and their attribution data).
    pair.b.outbox.clear();
    pair.b.restart();
    assert_eq!(logged(&pair.b, Side::Remote, 0), Some(attribution(7)));
    assert_eq!(logged(&pair.b, Side::Remote, 1), Some(attribution(9)));
    // Both reconnect: once it has A's `channel_reestablish`, B sends the
    // removals again, with their data.
    pair.disconnect_and_reconnect();
    pair.deliver_a_to_b().unwrap();
    let resent: Vec<Message> = pair.b.outbox.iter().cloned().collect();
    assert_eq!(
        sent(&resent),
        (Some(attribution(7)), Some(attribution(9))),
        "retransmitted with TLV 1: {resent:?}"
    );
    // A takes them and its commitment_signed write; A restarts before its
    // answer leaves: its record holds the received data too.
    let writes = pair.a.stats.writes;
    pair.deliver_all_b_to_a().unwrap();
    assert_eq!(
        pair.a.stats.writes,
        writes + 1,
        "A's commitment_signed write"
    );
    pair.a.outbox.clear();
    pair.a.restart();
    assert_eq!(logged(&pair.a, Side::Local, 0), Some(attribution(7)));
    assert_eq!(logged(&pair.a, Side::Local, 1), Some(attribution(9)));
    pair.a.take_events();
    pair.reconnect();
    for _ in 0..3 {
        pair.commit_both();
        pair.run_until_quiet();
    }
    let events = pair.a.take_events();
    assert!(
        events.iter().any(|e| matches!(e,
            ChannelEvent::HtlcFailed { htlc_id: 0, attribution_data: Some(a), .. } if **a == attribution(7))),
        "the failure is reported with its data after both restarts: {events:?}"
    );
    assert!(pair.a.ch.state().log.updates().is_empty());
    pair.check_agreement();
}

/// The channel records in `store`, each rewritten without the odd fields
/// above the onion fields: the records as code before attribution data
/// wrote them. Returns the fields taken out.
fn strip_attribution_fields(store: &dyn KvStore) -> usize {
    let ns = NAMESPACE;
    let mut stripped = 0;
    for key in store.list_prefix(ns, "channels/").unwrap() {
        let bytes = store.read(ns, &key).unwrap().unwrap();
        let mut r = Reader::new(&bytes.value);
        let mut s = TlvStreamReader::parse(&mut r).unwrap();
        let mut w = TlvStreamWriter::new();
        for (ty, v) in s.take_from(0) {
            if ty >= 1 << 20 && ty % 2 == 1 {
                stripped += 1;
                continue;
            }
            w.put_raw(ty, v);
        }
        store.remove(ns, &key).unwrap();
        store
            .write(ns, &key, bytes.version, &w.into_bytes())
            .unwrap();
    }
    stripped
}

#[test]
fn records_without_attribution_fields_still_restore() {
    let mut pair = removals_sent();
    let state = pair.b.ch.state().clone();
    let snapshot = pair.b.ch.encoded_state();
    let (decoded, _) = decode_snapshot(&snapshot).unwrap();
    assert_eq!(decoded, state, "round trip with the attribution fields");
    // The same store as older code wrote it: the removals restore without
    // attribution data, everything else as before.
    let store = pair.b.store.clone();
    assert_eq!(
        strip_attribution_fields(&*store),
        2,
        "one field per removal with data"
    );
    pair.b.outbox.clear();
    pair.b.restart_unchecked();
    assert_eq!(logged(&pair.b, Side::Remote, 0), None);
    assert_eq!(logged(&pair.b, Side::Remote, 1), None);
    // Everything else restored as it was.
    let restored = pair.b.ch.state();
    assert_eq!(restored.log.updates().len(), state.log.updates().len());
    match restored.log.find_removal(Side::Remote, 0) {
        Some((HtlcRemoval::Fail { reason, .. }, _)) => assert_eq!(reason, &vec![0xee; 292]),
        other => panic!("the failure: {other:?}"),
    }
    assert!(matches!(
        restored.log.find_removal(Side::Remote, 1),
        Some((HtlcRemoval::Fulfill { payment_preimage, .. }, _)) if *payment_preimage == preimage(2).0
    ));
    let mut expected = state.clone();
    expected.log = restored.log.clone();
    assert_eq!(restored, &expected, "all but the log's attribution data");
    // It resends them without, and the channel settles.
    pair.disconnect_and_reconnect();
    pair.deliver_a_to_b().unwrap();
    let resent: Vec<Message> = pair.b.outbox.iter().cloned().collect();
    assert!(resent
        .iter()
        .any(|m| matches!(m, Message::UpdateFailHtlc(_))));
    assert_eq!(sent(&resent), (None, None));
    pair.run_until_quiet();
    for _ in 0..3 {
        pair.commit_both();
        pair.run_until_quiet();
    }
    assert!(pair.a.ch.state().log.updates().is_empty());
    pair.check_agreement();
}
