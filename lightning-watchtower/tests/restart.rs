//! The durable state of both sides (`record`): a client and a tower that
//! die at any point, each restarting from what it wrote, lose no update
//! and store none twice; damaged records are skipped and counted.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use lightning_watchtower::record::Change;
use lightning_watchtower::wire::TowerMessage;
use lightning_watchtower::{Locator, Tower, TowerClient, TowerConfig};

#[derive(Debug)]
struct Nothing;
impl lightning_chain::Broadcaster for Nothing {
    fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
}

type Store = BTreeMap<String, Vec<u8>>;

fn apply(store: &mut Store, changes: Vec<Change>) {
    for c in changes {
        match c {
            Change::Insert { key, value } => {
                assert!(store.insert(key.clone(), value).is_none(), "{key} twice");
            }
            Change::Put { key, value } => {
                store.insert(key, value);
            }
            Change::Remove { key } => {
                store.remove(&key);
            }
            _ => unreachable!(),
        }
    }
}

fn client_id() -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[5; 32]).unwrap())
}

fn config() -> TowerConfig {
    TowerConfig {
        max_updates_per_session: 7,
        max_sessions_per_client: 3,
        ..Default::default()
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs `updates` updates through a client and a tower, killing one or
/// the other (or both) at random points, each restarting from its store.
/// Every change is written before the messages of the same call leave.
fn run(seed: u64, updates: u8) {
    let mut rng = Rng(seed);
    let (mut cstore, mut tstore) = (Store::new(), Store::new());
    let mut client = TowerClient::restore(1000, Vec::new());
    let mut tower = Tower::restore(config(), Arc::new(Nothing), Vec::new());
    let mut to_tower: Vec<TowerMessage> = client.connected();
    let mut to_client: Vec<TowerMessage> = Vec::new();
    let mut queued = 0u8;
    let mut crashes = 0;
    for _ in 0..100_000 {
        if queued < updates && rng.below(3) == 0 {
            let out = client
                .queue_update(Locator([queued; 16]), vec![queued; 60])
                .unwrap();
            apply(&mut cstore, client.take_changes());
            to_tower.extend(out);
            queued += 1;
        }
        match rng.below(12) {
            0 => {
                // The client dies: what was in flight is lost both ways.
                crashes += 1;
                client = TowerClient::restore(1000, cstore.clone());
                to_tower.clear();
                to_client.clear();
                to_tower = client.connected();
            }
            1 => {
                crashes += 1;
                tower = Tower::restore(config(), Arc::new(Nothing), tstore.clone());
                to_tower.clear();
                to_client.clear();
                client.disconnected();
                to_tower = client.connected();
            }
            _ => {}
        }
        if !to_tower.is_empty() && rng.below(2) == 0 {
            let m = to_tower.remove(0);
            if let Ok(a) = tower.handle_message(client_id(), &m) {
                apply(&mut tstore, tower.take_changes());
                to_client.push(a);
            }
        } else if !to_client.is_empty() {
            let m = to_client.remove(0);
            let out = client.handle(&m).unwrap();
            apply(&mut cstore, client.take_changes());
            to_tower.extend(out);
        }
        if queued == updates && to_tower.is_empty() && to_client.is_empty() {
            break;
        }
    }
    assert!(crashes > 0);
    assert_eq!(client.pending(), 0, "seed {seed}: everything acknowledged");
    assert_eq!(cstore.keys().filter(|k| k.starts_with("q/")).count(), 0);
    // Each update stored exactly once, in memory and in the records.
    let stored: Vec<&Vec<u8>> = tstore
        .iter()
        .filter(|(k, _)| k.starts_with("u/"))
        .map(|(_, v)| v)
        .collect();
    let mut locators: Vec<u8> = stored.iter().map(|v| v[0]).collect();
    locators.sort_unstable();
    assert_eq!(
        locators,
        (0..updates).collect::<Vec<u8>>(),
        "seed {seed} ({crashes} crashes)"
    );
    assert_eq!(tower.stats().updates, usize::from(updates));
    let again = Tower::restore(config(), Arc::new(Nothing), tstore.clone());
    assert_eq!(again.stats(), tower.stats(), "seed {seed}");
}

#[test]
fn no_update_is_lost_or_stored_twice_across_crashes() {
    for seed in 1..=60u64 {
        run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 40);
    }
}

#[test]
fn damaged_records_are_skipped_and_counted() {
    let mut tower = Tower::restore(config(), Arc::new(Nothing), Vec::new());
    let mut store = Store::new();
    tower
        .handle_message(client_id(), &TowerMessage::CreateSession { max_updates: 5 })
        .unwrap();
    tower
        .handle_message(
            client_id(),
            &TowerMessage::StateUpdate {
                session_id: 1,
                seqnum: 1,
                locator: Locator([1; 16]),
                blob: vec![1; 80],
            },
        )
        .unwrap();
    apply(&mut store, tower.take_changes());
    let mut damaged = store.clone();
    damaged.insert("s/zz".into(), vec![0; 37]);
    damaged.insert("u/0000000000000001/0002".into(), vec![1; 3]);
    damaged.insert("j/00".into(), vec![0xff; 10]);
    damaged.insert("other".into(), vec![]);
    let t = Tower::restore(config(), Arc::new(Nothing), damaged);
    assert_eq!(t.stats().damaged_records, 4);
    assert_eq!(t.stats().updates, 1, "the sound update is kept");

    let mut client = TowerClient::restore(10, Vec::new());
    client.queue_update(Locator([2; 16]), vec![2; 50]).unwrap();
    let mut cstore = Store::new();
    apply(&mut cstore, client.take_changes());
    cstore.insert("session".into(), vec![0; 5]);
    cstore.insert("q/xyz".into(), vec![0; 40]);
    let c = TowerClient::restore(10, cstore);
    assert_eq!((c.damaged_records, c.pending()), (2, 1));
}
