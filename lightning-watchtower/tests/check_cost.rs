//! The tower's per-block cost with many stored updates (issue 21 bench,
//! run as a test: `cargo test -p lightning-watchtower --release --test
//! check_cost -- --nocapture` prints the figures). Also checks the breach
//! in the block is found.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use lightning_watchtower::blob::JusticeKit;
use lightning_watchtower::server::UPDATE_OVERHEAD;
use lightning_watchtower::wire::{Code, TowerMessage};
use lightning_watchtower::{Locator, Tower, TowerConfig};

#[derive(Debug)]
struct Drop;
impl lightning_chain::Broadcaster for Drop {
    fn broadcast_transactions(&self, _: &[&Transaction]) {}
}

fn tx(tag: u32, outputs: usize) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(tag),
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([3; 32]),
                vout: tag,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: (0..outputs)
            .map(|_| TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new_op_return([1]),
            })
            .collect(),
    }
}

#[test]
fn check_cost_per_block() {
    let stored: u32 = std::env::var("TOWER_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut t = Tower::new(
        TowerConfig {
            max_sessions_per_client: 1_000_000,
            max_updates_per_session: u16::MAX,
            ..Default::default()
        },
        Arc::new(Drop),
    );
    let client = bitcoin::secp256k1::PublicKey::from_secret_key(
        bitcoin::secp256k1::SECP256K1,
        &bitcoin::secp256k1::SecretKey::from_slice(&[1; 32]).unwrap(),
    );
    // A justice kit's typical size: one transaction, two inputs.
    let breach = tx(u32::MAX, 2);
    let justice = Transaction {
        input: (0..2)
            .map(|v| TxIn {
                previous_output: OutPoint {
                    txid: breach.compute_txid(),
                    vout: v,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[vec![1u8; 72], vec![1], vec![2u8; 80]]),
            })
            .collect(),
        ..tx(0, 1)
    };
    let blob = JusticeKit {
        transactions: vec![justice.clone()],
    }
    .seal(&breach.compute_txid(), [0; 12])
    .unwrap();
    let mut session = 0;
    let mut seq: u32 = 0;
    for i in 0..stored {
        if seq == 0 || seq == u32::from(u16::MAX) {
            let TowerMessage::SessionAck { session_id, .. } = t
                .handle_message(
                    client,
                    &TowerMessage::CreateSession {
                        max_updates: u16::MAX,
                    },
                )
                .unwrap()
            else {
                panic!()
            };
            session = session_id;
            seq = 0;
        }
        seq += 1;
        let mut l = [0u8; 16];
        l[..4].copy_from_slice(&i.to_be_bytes());
        l[4] = 0xee;
        let a = t
            .handle_message(
                client,
                &TowerMessage::StateUpdate {
                    session_id: session,
                    seqnum: seq as u16,
                    locator: Locator(l),
                    blob: blob.clone(),
                },
            )
            .unwrap();
        assert!(matches!(
            a,
            TowerMessage::StateUpdateAck { code: Code::Ok, .. }
        ));
    }
    // The breach's own update.
    let TowerMessage::SessionAck { session_id, .. } = t
        .handle_message(client, &TowerMessage::CreateSession { max_updates: 1 })
        .unwrap()
    else {
        panic!()
    };
    t.handle_message(
        client,
        &TowerMessage::StateUpdate {
            session_id,
            seqnum: 1,
            locator: Locator::of(&breach.compute_txid()),
            blob: blob.clone(),
        },
    )
    .unwrap();
    // A block of 3,000 transactions, the breach among them.
    let mut block: Vec<Transaction> = (0..2_999).map(|i| tx(i, 2)).collect();
    block.push(breach.clone());
    let refs: Vec<&Transaction> = block.iter().collect();
    let stats = t.stats();
    let start = Instant::now();
    let out = t.check_transactions(&refs);
    let took = start.elapsed();
    assert_eq!(out, vec![justice]);
    println!(
        "tower: {} stored updates, {} bytes ({} per update: blob {} + {} overhead); \
         check of a {}-transaction block: {:?}",
        stats.updates,
        stats.bytes,
        stats.bytes / stats.updates.max(1),
        blob.len(),
        UPDATE_OVERHEAD,
        refs.len(),
        took
    );
}
