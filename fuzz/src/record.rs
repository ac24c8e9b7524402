//! The channel record decoder (`Channel::restore` over a snapshot and its
//! update records, log deltas included): what a damaged or hostile disk
//! hands the node on restart. Invariant: no panic, and a record that
//! restores encodes a state that decodes again.
//!
//! Input framing: records one after the other, each a 2-byte big-endian
//! length and its bytes; the first is the snapshot, the rest the update
//! records (in any order, as `restore` takes them).

use lightning_core::channel::record::decode_snapshot;
use lightning_core::channel::Channel;
use lightning_core::keys::KeysManager;
use lightning_test_support::pair::{config, open, preimage, OpenOptions, ONION};

/// Splits `data` into length-prefixed records (a short tail is dropped).
fn records(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let take = n.min(rest.len());
        out.push(rest[..take].to_vec());
        data = &rest[take..];
    }
    out
}

/// The fuzz target.
pub fn channel_record(data: &[u8]) {
    let recs = records(data);
    let Some((snapshot, updates)) = recs.split_first() else {
        return;
    };
    let Ok((state, _)) = decode_snapshot(snapshot) else {
        return;
    };
    let Ok(keys) = KeysManager::new(&[2; 32]) else {
        return;
    };
    let Ok(signer) = keys.derive_channel_signer(state.keys_index) else {
        return;
    };
    if let Ok(ch) = Channel::restore(signer, config(2), snapshot, updates) {
        // What restored is a state the snapshot encoder writes and the
        // decoder reads back.
        let again = decode_snapshot(&ch.encoded_state());
        if let Err(e) = &again {
            panic!("a restored channel's state does not decode: {e}");
        }
        crate::reached_checks();
    }
}

/// Frames `records` as the target reads them.
pub fn frame(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let n = u16::try_from(r.len()).expect("a record under 64 KiB");
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// The seed corpus: B's records (snapshot first) after each step of a
/// channel carrying HTLCs both ways, fulfils, fails and a fee update.
pub fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    let mut pair = open(OpenOptions::default());
    let mut out = Vec::new();
    let mut dump = |name: &str, pair: &lightning_test_support::pair::Pair| {
        let keys = pair.b.stored_keys();
        let mut recs: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| k.ends_with("snapshot"))
            .filter_map(|k| pair.b.stored(k))
            .collect();
        recs.extend(
            keys.iter()
                .filter(|k| !k.ends_with("snapshot"))
                .filter_map(|k| pair.b.stored(k)),
        );
        out.push((name.to_owned(), frame(&recs)));
    };
    dump("opened", &pair);
    for i in 0..4u64 {
        let (_, hash) = preimage(i);
        let (_, o) = pair
            .a
            .ch
            .send_htlc(1_000_000 + i, hash, 800_000, ONION.to_vec())
            .expect("offer");
        pair.a.apply(o);
        pair.commit_both();
        pair.run_until_quiet();
        pair.commit_both();
        pair.run_until_quiet();
        dump(&format!("htlc-{i}-added"), &pair);
    }
    for i in 0..2u64 {
        let o = pair.b.ch.fulfill_htlc(i, preimage(i).0).expect("fulfill");
        pair.b.apply(o);
        pair.commit_both();
        pair.run_until_quiet();
        pair.commit_both();
        pair.run_until_quiet();
        dump(&format!("htlc-{i}-fulfilled"), &pair);
    }
    let o = pair.b.ch.fail_htlc(2, vec![7; 32]).expect("fail");
    pair.b.apply(o);
    pair.commit_both();
    pair.run_until_quiet();
    pair.commit_both();
    pair.run_until_quiet();
    dump("htlc-2-failed", &pair);
    out
}
