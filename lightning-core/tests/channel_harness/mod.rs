//! Two `Channel`s wired in process, each with a key/value store that takes
//! the channel's record writes before its messages may leave (persist
//! before send).
#![allow(dead_code, clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]

use std::collections::{BTreeMap, VecDeque};

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use lightning_core::channel::record::Persister;
use lightning_core::channel::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, ChannelOutput, Phase,
};
use lightning_core::keys::{InMemorySigner, KeysManager};
use lightning_wire::msgs::Message;
use lightning_wire::types::{ChannelId, ShortChannelId};

use crate::common::verify;

pub struct Node {
    pub keys: KeysManager,
    pub config: ChannelConfig,
    pub ch: Channel<InMemorySigner>,
    pub store: BTreeMap<String, Vec<u8>>,
    pub events: Vec<ChannelEvent>,
    /// Messages written but not yet delivered to the peer.
    pub outbox: VecDeque<Message>,
}

impl Node {
    pub fn apply(&mut self, out: ChannelOutput) {
        if let Some(w) = out.persist {
            for r in w.writes {
                self.store.insert(r.key, r.value);
            }
            for k in w.obsolete {
                self.store.remove(&k);
            }
        }
        self.outbox.extend(out.messages);
        self.events.extend(out.events);
    }

    /// Restarts from the store: everything in memory (including the
    /// messages written but not sent) is lost.
    pub fn restart(&mut self) {
        let id = self.ch.channel_id();
        let snapshot = self
            .store
            .get(&Persister::snapshot_key(&id))
            .unwrap()
            .clone();
        let prefix = format!("channels/{}/u/", hex::encode(id.0));
        let updates: Vec<Vec<u8>> = self
            .store
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect();
        let signer = self
            .keys
            .derive_channel_signer(self.ch.state().keys_index)
            .unwrap();
        self.ch = Channel::restore(signer, self.config.clone(), &snapshot, &updates).unwrap();
        self.outbox.clear();
    }

    pub fn take_events(&mut self) -> Vec<ChannelEvent> {
        std::mem::take(&mut self.events)
    }
}

pub struct Pair {
    pub a: Node,
    pub b: Node,
    pub funding_output: TxOut,
}

pub fn config(seed: u8) -> ChannelConfig {
    ChannelConfig {
        minimum_depth: 1,
        shutdown_script: ScriptBuf::from_bytes([&[0x00, 0x14][..], &[seed; 20]].concat()),
        ..ChannelConfig::default()
    }
}

pub fn funding_tx(script_pubkey: ScriptBuf, amount: u64) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([0x42; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(12_345),
                script_pubkey: ScriptBuf::from_bytes(vec![
                    0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                    20,
                ]),
            },
            TxOut {
                value: Amount::from_sat(amount),
                script_pubkey,
            },
        ],
    }
}

pub struct OpenOptions {
    pub funding_sat: u64,
    pub push_msat: u64,
    pub feerate: u32,
    pub a_config: ChannelConfig,
    pub b_config: ChannelConfig,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            funding_sat: 10_000_000,
            push_msat: 4_000_000_000,
            feerate: 2500,
            a_config: config(0xaa),
            b_config: config(0xbb),
        }
    }
}

pub fn node(seed: u8, config: ChannelConfig, ch: Channel<InMemorySigner>) -> Node {
    Node {
        keys: KeysManager::new(&[seed; 32]).unwrap(),
        config,
        ch,
        store: BTreeMap::new(),
        events: Vec::new(),
        outbox: VecDeque::new(),
    }
}

/// Opens a channel A (funder) -> B (fundee) and runs it to `Normal`.
pub fn open(o: OpenOptions) -> Pair {
    let ka = KeysManager::new(&[1; 32]).unwrap();
    let kb = KeysManager::new(&[2; 32]).unwrap();
    let (a_ch, open) = Channel::new_outbound(
        ka.derive_channel_signer(7).unwrap(),
        o.a_config.clone(),
        7,
        ChannelId([9; 32]),
        o.funding_sat,
        o.push_msat,
        o.feerate,
    )
    .unwrap();
    let (b_ch, accept) = Channel::from_open_channel(
        kb.derive_channel_signer(3).unwrap(),
        o.b_config.clone(),
        3,
        &open,
    )
    .unwrap();
    let mut a = node(1, o.a_config, a_ch);
    let b = node(2, o.b_config, b_ch);
    let out =
        a.ch.handle_message(&Message::AcceptChannel(accept))
            .unwrap();
    assert!(out.persist.is_none(), "nothing to persist before funding");
    a.apply(out);
    let Some(ChannelEvent::FundingNeeded {
        script_pubkey,
        funding_satoshis,
        ..
    }) = a.take_events().pop()
    else {
        panic!("no FundingNeeded")
    };
    let tx = funding_tx(script_pubkey.clone(), funding_satoshis);
    let out = a.ch.funding_transaction(tx.clone()).unwrap();
    assert!(
        out.persist.is_some(),
        "funding_created only after the record"
    );
    a.apply(out);
    let mut pair = Pair {
        a,
        b,
        funding_output: TxOut {
            value: Amount::from_sat(funding_satoshis),
            script_pubkey,
        },
    };
    pair.deliver_a_to_b().unwrap(); // funding_created
    assert!(pair.b.store.keys().any(|k| k.ends_with("snapshot")));
    pair.deliver_b_to_a().unwrap(); // funding_signed
    assert!(pair
        .a
        .take_events()
        .iter()
        .any(|e| matches!(e, ChannelEvent::BroadcastFunding { tx: t } if *t == tx)));
    let scid = ShortChannelId::new(100, 1, 1);
    for n in [&mut pair.a, &mut pair.b] {
        let out = n.ch.funding_confirmed(1, scid).unwrap();
        n.apply(out);
    }
    pair.run_until_quiet();
    assert_eq!(pair.a.ch.phase(), Phase::Normal);
    assert_eq!(pair.b.ch.phase(), Phase::Normal);
    for n in [&mut pair.a, &mut pair.b] {
        assert!(n
            .take_events()
            .iter()
            .any(|e| matches!(e, ChannelEvent::ChannelReady { .. })));
    }
    pair.check_agreement();
    pair
}

impl Pair {
    pub fn deliver_a_to_b(&mut self) -> Result<(), ChannelError> {
        let m = self.a.outbox.pop_front().unwrap();
        let out = self.b.ch.handle_message(&m)?;
        self.b.apply(out);
        Ok(())
    }

    pub fn deliver_b_to_a(&mut self) -> Result<(), ChannelError> {
        let m = self.b.outbox.pop_front().unwrap();
        let out = self.a.ch.handle_message(&m)?;
        self.a.apply(out);
        Ok(())
    }

    pub fn run_until_quiet(&mut self) {
        while !self.a.outbox.is_empty() || !self.b.outbox.is_empty() {
            if !self.a.outbox.is_empty() {
                self.deliver_a_to_b().unwrap();
            }
            if !self.b.outbox.is_empty() {
                self.deliver_b_to_a().unwrap();
            }
        }
    }

    pub fn commit_both(&mut self) {
        let out = self.a.ch.commit().unwrap();
        self.a.apply(out);
        let out = self.b.ch.commit().unwrap();
        self.b.apply(out);
    }

    /// Drops the connection (and whatever was in flight) and runs
    /// `channel_reestablish` both ways.
    pub fn reconnect(&mut self) {
        self.a.outbox.clear();
        self.b.outbox.clear();
        for n in [&mut self.a, &mut self.b] {
            let (out, _dropped) = n.ch.peer_disconnected();
            n.apply(out);
        }
        let ra = self.a.ch.peer_reconnected().unwrap();
        let rb = self.b.ch.peer_reconnected().unwrap();
        self.a.outbox.push_front(Message::ChannelReestablish(ra));
        self.b.outbox.push_front(Message::ChannelReestablish(rb));
        self.run_until_quiet();
    }

    /// Both sides' latest commitments are the same transactions, and each
    /// side's own commitment verifies against the funding output.
    pub fn check_agreement(&self) {
        let (a_holder, a_cp) = self.a.ch.commitment_txids().unwrap();
        let (b_holder, b_cp) = self.b.ch.commitment_txids().unwrap();
        assert_eq!(a_holder, b_cp, "A's commitment as both see it");
        assert_eq!(b_holder, a_cp, "B's commitment as both see it");
        self.verify_commitments();
    }

    pub fn verify_commitments(&self) {
        for n in [&self.a, &self.b] {
            let hc = n.ch.holder_commitment().unwrap();
            verify(&hc.commitment, &[self.funding_output.clone()]).unwrap();
            for htx in &hc.htlc_timeouts {
                let vout = htx.input[0].previous_output.vout as usize;
                verify(htx, &[hc.commitment.output[vout].clone()]).unwrap();
            }
        }
    }

    pub fn total_msat(&self) -> u64 {
        self.funding_output.value.to_sat() * 1000
    }
}

pub fn preimage(n: u64) -> ([u8; 32], [u8; 32]) {
    let mut p = [0u8; 32];
    p[..8].copy_from_slice(&n.to_be_bytes());
    p[31] = 0x77;
    (p, sha256::Hash::hash(&p).to_byte_array())
}

pub const ONION: [u8; 1366] = [0u8; 1366];
