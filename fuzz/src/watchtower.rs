//! The watchtower's decoders (issue 21): its messages, which any peer may
//! send (`TowerMessage::decode`, then the tower and the client acting on
//! what decoded, and `JusticeKit::open` on an update's blob), and its
//! records, which a damaged store hands back on restart
//! (`Tower::restore`, `TowerClient::restore`).
//!
//! Invariants: no panic; a decoded message re-encodes to bytes that decode
//! to it again; the tower's stored bytes stay within its bound; restored
//! state counts what it skipped, and goes on working.

use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use lightning_watchtower::record::Change;
use lightning_watchtower::wire::TowerMessage;
use lightning_watchtower::{JusticeKit, Locator, Tower, TowerClient, TowerConfig};

#[derive(Debug)]
struct Nothing;
impl lightning_chain::Broadcaster for Nothing {
    fn broadcast_transactions(&self, _: &[&Transaction]) {}
}

fn client() -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[7; 32]).expect("key"))
}

fn config() -> TowerConfig {
    TowerConfig {
        max_sessions_per_client: 2,
        max_updates_per_session: 3,
        max_total_bytes: 4096,
        max_blobs_per_locator: 2,
    }
}

/// A fixed "breach" every blob is opened against.
fn breach() -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([1; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50_000),
            script_pubkey: ScriptBuf::new_op_return([2]),
        }],
    }
}

/// Fuzz target: one tower message from a peer.
pub fn watchtower_message(data: &[u8]) {
    let Ok(m) = TowerMessage::decode(data) else {
        return;
    };
    crate::reached_checks();
    let again = TowerMessage::decode(&m.encode()).expect("a decoded message re-encodes");
    assert_eq!(again, m, "round trip");

    // The tower, with a session open for the sender.
    let mut tower = Tower::restore(config(), Arc::new(Nothing), Vec::new());
    let _ = tower.handle_message(client(), &TowerMessage::CreateSession { max_updates: 3 });
    for _ in 0..4 {
        let _ = tower.handle_message(client(), &m);
    }
    assert!(tower.stats().bytes <= config().max_total_bytes);
    let b = breach();
    tower.check_transactions(&[&b]);
    let _ = tower.take_changes();

    // The client, with an update waiting and a session asked for.
    let mut c = TowerClient::restore(4, Vec::new());
    let _ = c.queue_update(Locator([3; 16]), vec![1; 40]);
    let _ = c.connected();
    let _ = c.handle(&m);
    let _ = c.handle(&m);
    assert!(c.pending() <= 1);

    if let TowerMessage::StateUpdate { blob, .. } = &m {
        if let Ok(kit) = JusticeKit::open(blob, &b) {
            assert!(!kit.transactions.is_empty());
        }
    }
}

const KEYS: [&str; 7] = ["next", "s/", "u/", "j/", "session", "q/", ""];
const KEY_ALPHABET: &[u8] = b"0123456789abcdef/";

/// Reads `data` as records: a key kind byte, a suffix length and its
/// bytes (mapped onto hex digits and `/`), a value length (u16) and the
/// value.
fn records(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut r = data;
    while r.len() >= 4 {
        let kind = KEYS[usize::from(r[0]) % KEYS.len()];
        let slen = usize::from(r[1] % 80);
        r = &r[2..];
        let suffix: String = r
            .iter()
            .take(slen)
            .map(|b| char::from(KEY_ALPHABET[usize::from(*b) % KEY_ALPHABET.len()]))
            .collect();
        r = &r[slen.min(r.len())..];
        if r.len() < 2 {
            break;
        }
        let vlen = usize::from(u16::from_be_bytes([r[0], r[1]]));
        r = &r[2..];
        let value = r[..vlen.min(r.len())].to_vec();
        r = &r[vlen.min(r.len())..];
        out.push((format!("{kind}{suffix}"), value));
    }
    out
}

/// Fuzz target: a tower's and a client's records as a damaged store
/// returns them.
pub fn watchtower_records(data: &[u8]) {
    let recs = records(data);
    let n = recs.len() as u64;
    let mut tower = Tower::restore(config(), Arc::new(Nothing), recs.clone());
    let mut c = TowerClient::restore(4, recs);
    let stats = tower.stats();
    // Each record is either the tower's or the client's (or neither).
    if stats.damaged_records < n || c.damaged_records < n {
        crate::reached_checks();
    }
    assert!(stats.damaged_records <= n && c.damaged_records <= n);
    // Both go on working.
    let _ = tower.handle_message(client(), &TowerMessage::CreateSession { max_updates: 3 });
    let b = breach();
    tower.check_transactions(&[&b]);
    let _ = tower.take_changes();
    let out = c.connected();
    assert!(out.len() <= usize::from(u16::MAX));
    let _ = c.queue_update(Locator([9; 16]), vec![9; 30]);
    let _ = c.take_changes();
}

/// The records `changes` leave in a store, encoded as [`records`] reads
/// them.
fn encode_records(changes: Vec<Change>) -> Vec<u8> {
    let mut store = std::collections::BTreeMap::new();
    for ch in changes {
        match ch {
            Change::Insert { key, value } | Change::Put { key, value } => {
                store.insert(key, value);
            }
            Change::Remove { key } => {
                store.remove(&key);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, value) in store {
        let (kind, suffix) = KEYS
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.is_empty() && key.starts_with(**k))
            .map(|(i, k)| (i, &key[k.len()..]))
            .next()
            .unwrap_or((KEYS.len() - 1, &key[..]));
        out.push(kind as u8);
        out.push(suffix.len() as u8);
        out.extend(
            suffix
                .bytes()
                .map(|b| KEY_ALPHABET.iter().position(|a| *a == b).unwrap_or(0) as u8),
        );
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(&value);
    }
    out
}

/// Named seed inputs.
pub type Seeds = Vec<(String, Vec<u8>)>;

/// Seeds for both targets: every message kind, and the records of a real
/// tower and client.
pub fn seed_corpus() -> (Seeds, Seeds) {
    let b = breach();
    let blob = JusticeKit {
        transactions: vec![b.clone()],
    }
    .seal(&b.compute_txid(), [4; 12])
    .expect("seal");
    let messages = [
        TowerMessage::CreateSession { max_updates: 3 },
        TowerMessage::SessionAck {
            code: lightning_watchtower::wire::Code::Ok,
            session_id: 1,
            max_updates: 3,
        },
        TowerMessage::StateUpdate {
            session_id: 1,
            seqnum: 1,
            locator: Locator::of(&b.compute_txid()),
            blob: blob.clone(),
        },
        TowerMessage::StateUpdateAck {
            session_id: 1,
            seqnum: 1,
            code: lightning_watchtower::wire::Code::Ok,
        },
    ];
    let msg_seeds = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("seed-message-{i}"), m.encode()))
        .collect();

    let mut tower = Tower::restore(config(), Arc::new(Nothing), Vec::new());
    let mut c = TowerClient::restore(4, Vec::new());
    let mut tower_changes = Vec::new();
    let mut client_changes = Vec::new();
    let _ = c.queue_update(Locator::of(&b.compute_txid()), blob.clone());
    let _ = c.queue_update(Locator([5; 16]), vec![5; 50]);
    let mut out = c.connected();
    while !out.is_empty() {
        let m = out.remove(0);
        if let Ok(a) = tower.handle_message(client(), &m) {
            tower_changes.extend(tower.take_changes());
            if let Ok(more) = c.handle(&a) {
                out.extend(more);
            }
            client_changes.extend(c.take_changes());
        }
    }
    // A client with one update still queued.
    let mut waiting = TowerClient::restore(4, Vec::new());
    let _ = waiting.queue_update(Locator([6; 16]), vec![6; 70]);
    let waiting_changes = waiting.take_changes();
    tower.check_transactions(&[&b]);
    let after_breach: Vec<Change> = tower_changes
        .iter()
        .cloned()
        .chain(tower.take_changes())
        .collect();
    let record_seeds = vec![
        ("seed-tower".to_string(), encode_records(tower_changes)),
        (
            "seed-tower-breached".to_string(),
            encode_records(after_breach),
        ),
        ("seed-client".to_string(), encode_records(client_changes)),
        (
            "seed-client-waiting".to_string(),
            encode_records(waiting_changes),
        ),
    ];
    (msg_seeds, record_seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_decode_as_what_they_were() {
        let (_, recs) = seed_corpus();
        let tower = Tower::restore(config(), Arc::new(Nothing), records(&recs[0].1));
        assert_eq!(tower.stats().damaged_records, 0);
        assert_eq!(tower.stats().updates, 2);
        let c = TowerClient::restore(4, records(&recs[3].1));
        assert_eq!((c.damaged_records, c.pending()), (0, 1));
    }
}
