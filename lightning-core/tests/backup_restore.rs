//! Issue 21: static channel backups. Alice's store is deleted; a node
//! built from her seed and her backup file alone asks Bob (one of our
//! nodes) to close, Bob publishes his latest commitment (BOLT 2:
//! `next_commitment_number` 0), and Alice sweeps every satoshi of her
//! `to_remote` to her wallet (less the sweep's fee), for both channel
//! types, while broadcasting nothing but that sweep; also with an HTLC
//! each way in flight at the loss (a backup holds no HTLC: those go to
//! Bob by timeout or preimage, and `to_remote` is still all Alice's).
//! Plus the backup's life (written on open and close) and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;

use std::sync::{Arc, Mutex};

use bitcoin::Transaction;
use lightning_chain::Broadcaster;
use lightning_core::backup::BackupError;
use lightning_core::node::{Event, NodeBuilder, NodeError, NodeHost, Persistence};
use lightning_persist::{KvStore, MemoryStore};
use lightning_sim::SimChainHandle;
use lightning_test_support::host::node_host;
use node_support::{Net, TestNode};

const CAPACITY: u64 = 1_000_000;

/// Forwards to the chain and remembers every transaction.
#[derive(Debug, Clone)]
struct Recording {
    chain: SimChainHandle,
    seen: Arc<Mutex<Vec<Transaction>>>,
}

impl Broadcaster for Recording {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        self.seen
            .lock()
            .unwrap()
            .extend(txs.iter().map(|t| (*t).clone()));
        self.chain.broadcast_transactions(txs);
    }
}

fn backups(events: &[Event]) -> Vec<(Vec<u8>, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChannelBackupUpdated { backup, channels } => Some((backup.clone(), *channels)),
            _ => None,
        })
        .collect()
}

/// A node from `seed` over an empty store, broadcasting through a
/// recorder: Alice after her disk is gone.
fn fresh_node(net: &Net, seed: [u8; 32]) -> (TestNode, Arc<Mutex<Vec<Transaction>>>) {
    let store = Arc::new(MemoryStore::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let host = NodeHost {
        broadcaster: Arc::new(Recording {
            chain: net.chain.clone(),
            seen: seen.clone(),
        }),
        ..node_host(&net.chain)
    };
    let node = NodeBuilder::from_config(node_support::config())
        .seed(&seed)
        .persistence(Persistence::Inline(store.clone()))
        .host(host)
        .best_block(net.chain.best_block())
        .build()
        .unwrap();
    let t = TestNode {
        name: "alice",
        seed,
        signers: None,
        node,
        store,
        is_async: false,
        auto_complete: true,
        peer: None,
        events: Vec::new(),
        fed: net.chain.best_block().height,
        restarts: 0,
        writes: 0,
        records: 0,
        batch_sizes: Vec::new(),
    };
    (t, seen)
}

/// Alice opens, payments go both ways, Alice's store is lost; restored
/// from `backup` (or, with `None`, from the one she wrote), she recovers.
/// Returns the net for further checks.
/// With `htlcs`, a held HTLC each way is in flight when the disk is lost.
fn lose_and_restore(anchors: bool, htlcs: bool) -> Net {
    let mut net = Net::with_anchors(anchors);
    let id = net.open_channel(CAPACITY, 0);
    let opened = backups(&net.a.take_events());
    assert_eq!(opened.len(), 1, "one backup on open");
    assert_eq!(opened[0].1, 1);
    // The store holds the same bytes.
    let stored = net.a.store.read("node", "backup/latest").unwrap().unwrap();
    assert_eq!(stored.value, opened[0].0);
    assert_eq!(
        net.a.node.export_all_channel_backups().unwrap(),
        opened[0].0
    );
    for i in 0..3 {
        net.pay(true, 50_000_000 + i * 1_000);
        net.pay(false, 7_000_000);
    }
    if htlcs {
        net.hold(true, 15_000_000, 0x41);
        net.hold(false, 9_000_000, 0x42);
    }
    // Payments change no backup.
    assert!(backups(&net.a.take_events()).is_empty());
    let file = opened[0].0.clone();
    let b = net.a.node.verify_channel_backup(&file).unwrap();
    assert_eq!(b.channels.len(), 1);
    assert_eq!(b.channels[0].channel_id, id);
    assert_eq!(b.channels[0].channel_type.anchors, anchors);

    let alice_sat = Net::local_msat(&net.a.node, id) / 1000;
    let bob_sat = Net::local_msat(&net.b.node, id) / 1000;
    let funding = net
        .a
        .node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == id)
        .and_then(|c| c.funding_txo)
        .unwrap();

    // The disk is gone.
    net.disconnect();
    let (alice, seen) = fresh_node(&net, net.a.seed);
    let wallet_script = alice.node.shutdown_script();
    let wallet_before = net.chain.balance_of(&wallet_script);
    net.a = alice;
    let recovered = net.a.node.restore_channel_backup(&file).unwrap();
    assert_eq!(recovered, vec![id]);
    assert!(net.a.node.list_channels().is_empty(), "no live channel");
    // The restored node's own backup carries the recovered channel.
    let re = backups(&net.a.take_events());
    assert_eq!(re.len(), 1);
    assert_eq!(re[0].1, 1);
    // Again: nothing new.
    assert!(net.a.node.restore_channel_backup(&file).unwrap().is_empty());

    net.faults_injected = true;
    net.connect();
    let bob_events = net.b.take_events();
    let closed = bob_events.iter().find_map(|e| match e {
        Event::ChannelClosed {
            channel_id,
            closing_tx,
            ..
        } if *channel_id == id => closing_tx.clone(),
        _ => None,
    });
    let commitment = closed.expect("Bob failed the channel and broadcast his commitment");
    assert!(commitment
        .input
        .iter()
        .any(|i| i.previous_output == funding));

    net.mine(1);
    net.mine(1);
    net.mine(6);
    let events = net.a.take_events();
    let swept = events.iter().find_map(|e| match e {
        Event::FundsSwept {
            channel_id,
            txid,
            amount_sat,
        } if *channel_id == id => Some((*txid, *amount_sat)),
        _ => None,
    });
    let (sweep_txid, swept_sat) = swept.expect("FundsSwept");
    let sweep = net.chain.get_transaction(&sweep_txid).unwrap();
    assert!(net.chain.tx_confirmations(&sweep_txid).unwrap() >= 6);
    // Every satoshi of to_remote: the sweep spends Bob's commitment's
    // output that pays Alice, all of it to her wallet less the fee.
    let ctxid = commitment.compute_txid();
    assert_eq!(sweep.input.len(), 1);
    assert_eq!(sweep.input[0].previous_output.txid, ctxid);
    let to_remote = &commitment.output[sweep.input[0].previous_output.vout as usize];
    assert_eq!(sweep.output.len(), 1);
    assert_eq!(sweep.output[0].script_pubkey, wallet_script);
    assert_eq!(sweep.output[0].value, swept_sat);
    let fee = to_remote.value - sweep.output[0].value;
    assert!(
        fee.to_sat() < 1_000,
        "sweep fee {fee} (1,000 sat/kw on < 1,000 wu)"
    );
    assert_eq!(
        net.chain.balance_of(&wallet_script) - wallet_before,
        sweep.output[0].value
    );
    // The commitment's accounting: Bob's to_local is his balance; the rest
    // less fee and anchors is Alice's (she funded: fee and anchors are hers).
    let anchors_total = if anchors { 660 } else { 0 };
    let htlc_outputs: Vec<u64> = commitment
        .output
        .iter()
        .map(|o| o.value.to_sat())
        .filter(|v| [15_000, 9_000].contains(v))
        .collect();
    assert_eq!(
        htlc_outputs.len(),
        if htlcs { 2 } else { 0 },
        "{commitment:?}"
    );
    let outputs: u64 = commitment.output.iter().map(|o| o.value.to_sat()).sum();
    let commit_fee = CAPACITY - outputs;
    assert_eq!(
        to_remote.value.to_sat(),
        alice_sat - commit_fee - anchors_total,
        "Alice's to_remote is her whole balance less the funder's costs"
    );
    assert!(commitment
        .output
        .iter()
        .any(|o| o.value.to_sat() == bob_sat));
    // Alice broadcast nothing but the sweep.
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for tx in seen.iter() {
        assert_eq!(
            tx.compute_txid(),
            sweep_txid,
            "restored node broadcast {tx:?}"
        );
        assert!(tx.input.iter().all(|i| i.previous_output != funding));
    }
    let rc = net.a.node.recovered_channels();
    assert_eq!(rc.len(), 1);
    assert!(rc[0].funding_spent && rc[0].resolved);
    net
}

#[test]
fn restore_from_backup_static_remotekey_sweeps_to_remote() {
    lose_and_restore(false, false);
}

#[test]
fn restore_from_backup_with_htlcs_in_flight_static_remotekey() {
    lose_and_restore(false, true);
}

#[test]
fn restore_from_backup_with_htlcs_in_flight_anchors() {
    lose_and_restore(true, true);
}

#[test]
fn restore_from_backup_anchors_sweeps_to_remote() {
    lose_and_restore(true, false);
}

#[test]
fn recovered_channel_survives_a_restart_and_backup_drops_it_once_swept() {
    let mut net = lose_and_restore(false, false);
    net.restart(true);
    let rc = net.a.node.recovered_channels();
    assert_eq!(rc.len(), 1);
    assert!(rc[0].resolved);
    // Swept: the node's backup no longer needs it.
    let b = net
        .a
        .node
        .verify_channel_backup(&net.a.node.export_all_channel_backups().unwrap())
        .unwrap();
    assert!(b.channels.is_empty());
}

/// A force-closed channel stays in the backup until its funding output is
/// seen spent (the commitment confirmed), then leaves it: the step that
/// sees the spend changes no channel state, only the resolver's, so this
/// pins that a funding spend alone makes the node compare the backup's
/// channels again.
#[test]
fn backup_drops_a_force_closed_channel_once_its_funding_is_spent() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(CAPACITY, 0);
    let opened = backups(&net.a.take_events());
    assert_eq!(opened.iter().map(|b| b.1).collect::<Vec<_>>(), vec![1]);
    net.a.node.force_close_channel(id).unwrap();
    net.shuttle();
    // Failed, its commitment not confirmed: still needed for recovery.
    assert!(backups(&net.a.take_events()).is_empty());
    net.mine(1);
    let spent = backups(&net.a.take_events());
    assert_eq!(spent.iter().map(|b| b.1).collect::<Vec<_>>(), vec![0]);
    let b = net.a.node.verify_channel_backup(&spent[0].0).unwrap();
    assert!(b.channels.is_empty());
}

#[test]
fn backup_follows_open_and_cooperative_close() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(CAPACITY, 0);
    let opened = backups(&net.a.take_events());
    assert_eq!(opened.iter().map(|b| b.1).collect::<Vec<_>>(), vec![1]);
    // Bob (the fundee) writes his own.
    let bob = backups(&net.b.take_events());
    assert_eq!(bob.iter().map(|b| b.1).collect::<Vec<_>>(), vec![1]);
    let seq1 = net
        .a
        .node
        .verify_channel_backup(&opened[0].0)
        .unwrap()
        .sequence;
    net.a.node.close_channel(id).unwrap();
    net.shuttle();
    net.mine(1);
    let closed = backups(&net.a.take_events());
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].1, 0);
    let b = net.a.node.verify_channel_backup(&closed[0].0).unwrap();
    assert!(b.sequence > seq1, "sequence grows");
    // The per-channel export works while open only.
    assert!(matches!(
        net.a.node.export_channel_backup(id),
        Err(NodeError::UnknownChannel(_))
    ));
}

#[test]
fn bad_backups_are_typed_errors() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(CAPACITY, 0);
    let file = net.a.node.export_channel_backup(id).unwrap();
    assert_eq!(
        net.a
            .node
            .verify_channel_backup(&file)
            .unwrap()
            .channels
            .len(),
        1
    );
    // Corrupted: every byte flipped in turn.
    for i in 0..file.len() {
        let mut bad = file.clone();
        bad[i] ^= 0x40;
        assert!(net.a.node.verify_channel_backup(&bad).is_err(), "flip {i}");
    }
    // Truncated.
    for n in [0, 1, 16, 32, file.len() - 1] {
        assert!(net.a.node.verify_channel_backup(&file[..n]).is_err());
    }
    assert!(matches!(
        net.a.node.verify_channel_backup(&file[..10]),
        Err(BackupError::Truncated { .. })
    ));
    // Another seed's node (Bob) cannot open it.
    assert_eq!(
        net.b.node.verify_channel_backup(&file),
        Err(BackupError::Decrypt)
    );
    assert!(matches!(
        net.b.node.restore_channel_backup(&file),
        Err(NodeError::Backup(BackupError::Decrypt))
    ));
    // Garbage.
    assert_eq!(
        net.a.node.verify_channel_backup(&[0xab; 300]),
        Err(BackupError::BadMagic)
    );
    // An older backup after a newer one is refused.
    let old = net.a.node.export_all_channel_backups().unwrap();
    net.now += std::time::Duration::from_secs(10);
    let id2 = net.open_channel(CAPACITY, 0);
    let new = net.a.node.export_all_channel_backups().unwrap();
    let (seq_old, seq_new) = (
        net.a.node.verify_channel_backup(&old).unwrap().sequence,
        net.a.node.verify_channel_backup(&new).unwrap().sequence,
    );
    assert!(seq_new > seq_old);
    net.disconnect();
    let (mut alice, _) = fresh_node(&net, net.a.seed);
    let got = alice.node.restore_channel_backup(&new).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&id) && got.contains(&id2));
    assert!(matches!(
        alice.node.restore_channel_backup(&old),
        Err(NodeError::Backup(BackupError::Older { .. }))
    ));
}

/// Alice's store and backup file are both gone: Bob gives her backup back
/// (BOLT 1 `peer_storage_retrieval`), she restores from it and sweeps.
#[test]
fn restore_from_peer_storage_only() {
    let mut net = Net::new(false, false);
    let id = net.open_channel(CAPACITY, 0);
    net.pay(true, 100_000_000);
    let key_of = |n: &lightning_core::node::Node| {
        format!("peer_storage/{}", hex::encode(n.node_id().serialize()))
    };
    // Each keeps the other's padded blob.
    let stored = net
        .b
        .store
        .read("node", &key_of(&net.a.node))
        .unwrap()
        .expect("Bob stored Alice's blob");
    assert_eq!(stored.value.len(), 4 + 65_531, "height + padded blob");
    assert!(net
        .a
        .store
        .read("node", &key_of(&net.b.node))
        .unwrap()
        .is_some());

    net.disconnect();
    let (alice, seen) = fresh_node(&net, net.a.seed);
    let wallet_script = alice.node.shutdown_script();
    net.a = alice;
    net.faults_injected = true;
    assert!(
        net.a.node.restore_from_peer_storage().is_err(),
        "nothing yet"
    );
    net.connect();
    let b = net
        .a
        .node
        .peer_storage_backup()
        .expect("Bob returned Alice's blob")
        .clone();
    assert_eq!(b.channels.len(), 1);
    assert_eq!(net.a.node.restore_from_peer_storage().unwrap(), vec![id]);
    net.shuttle();
    net.mine(1);
    net.mine(1);
    net.mine(6);
    let swept = net.a.take_events().into_iter().find_map(|e| match e {
        Event::FundsSwept {
            channel_id,
            txid,
            amount_sat,
        } if channel_id == id => Some((txid, amount_sat)),
        _ => None,
    });
    let (txid, amount) = swept.expect("FundsSwept");
    let sweep = net.chain.get_transaction(&txid).unwrap();
    assert_eq!(sweep.output[0].script_pubkey, wallet_script);
    assert_eq!(sweep.output[0].value, amount);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|t| t.compute_txid() == txid));
}

/// A stranger's `peer_storage` costs nothing (not stored), and garbage or
/// another node's blob as our `peer_storage_retrieval` is ignored.
#[test]
fn garbage_peer_storage_is_ignored_and_strangers_store_nothing() {
    use lightning_test_support::hostile::HostilePeer;
    use lightning_wire::msgs::{Message, PeerStorage, PeerStorageRetrieval};
    let mut net = Net::new(false, false);
    net.open_channel(CAPACITY, 0);
    let bob_key = format!(
        "peer_storage/{}",
        hex::encode(net.b.node.node_id().serialize())
    );
    let bobs_blob = net.a.store.read("node", &bob_key).unwrap().unwrap().value[4..].to_vec();
    let before = net.a.store.list_prefix("node", "peer_storage/").unwrap();
    let now = net.now;
    let mut h = HostilePeer::connect(&mut net.a.node, [0x77; 32], now).unwrap();
    let mut blobs = vec![bobs_blob, vec![], vec![0xff; 65_531]];
    blobs.extend((0..40u8).map(|i| vec![i; 100 + usize::from(i) * 1000]));
    for blob in blobs {
        h.send(
            &mut net.a.node,
            &Message::PeerStorageRetrieval(PeerStorageRetrieval {
                blob: blob.clone(),
                tlvs: Default::default(),
            }),
            now,
        )
        .unwrap();
        h.send(
            &mut net.a.node,
            &Message::PeerStorage(PeerStorage {
                blob,
                tlvs: Default::default(),
            }),
            now,
        )
        .unwrap();
    }
    assert!(h.is_connected(&net.a.node));
    assert!(net.a.node.peer_storage_backup().is_none());
    assert!(matches!(
        net.a.node.restore_from_peer_storage(),
        Err(NodeError::Backup(_))
    ));
    assert_eq!(
        net.a.store.list_prefix("node", "peer_storage/").unwrap(),
        before,
        "nothing stored for a peer without a channel"
    );
}
