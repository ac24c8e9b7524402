//! Two channel endpoints wired in process: funder A (seed 1) and fundee B
//! (seed 2). Each endpoint writes every [`ChannelWrite`] through its
//! [`KvStore`] before the messages of the same output join its outbox
//! (persist before send); a restart rebuilds the channel from the store
//! alone.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use lightning_persist::{BatchOp, KvStore, MemoryStore};
use lightning_wire::msgs::Message;
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage, ShortChannelId};

use crate::channel::record::decode_snapshot;
use crate::channel::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, ChannelOutput, ChannelWrite, Phase,
};
use crate::keys::{InMemorySigner, KeysManager};

/// The namespace the endpoints keep their channel records in.
pub const NAMESPACE: &str = "ln";

/// The onion packet every test HTLC carries.
pub const ONION: [u8; 1366] = [0u8; 1366];

/// Checks a transaction against the outputs it spends (script verification;
/// the crate's tests plug in libbitcoinconsensus).
pub type TxVerifier = fn(&Transaction, &[TxOut]) -> Result<(), String>;

/// Opens a fresh store for an endpoint again after a restart (a durable
/// backend is reopened so that the restart reads only what reached it).
pub type Reopen = Box<dyn FnMut() -> Arc<dyn KvStore>>;

/// What an endpoint wrote through its store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Durable writes (`KvStore::write` calls).
    pub writes: u64,
    /// Bytes of value written.
    pub bytes: u64,
    /// Obsolete records removed.
    pub removes: u64,
}

/// One side of the channel, with its "node": keys, store, outbox, events.
pub struct Endpoint {
    /// The node's seed-derived keys.
    pub keys: KeysManager,
    /// The channel's configuration (kept by the host, not in the record).
    pub config: ChannelConfig,
    /// The channel.
    pub ch: Channel<InMemorySigner>,
    /// Where the record lives.
    pub store: Arc<dyn KvStore>,
    /// Set to reopen the store on restart.
    pub reopen: Option<Reopen>,
    /// Events not yet taken.
    pub events: Vec<ChannelEvent>,
    /// Messages written but not yet delivered to the peer.
    pub outbox: VecDeque<Message>,
    /// What went through the store.
    pub stats: WriteStats,
    /// The channel's encoded state ([`Channel::encoded_state`]) as of its
    /// last durable write, and the store it went to: what a restart from
    /// that store must reproduce. `None` before the first write, or once a
    /// test restores from a store of its own (a stale backup).
    pub durable: Option<Vec<u8>>,
    durable_store: usize,
}

/// An address that tells one store handle from another (never
/// dereferenced).
fn store_id(store: &Arc<dyn KvStore>) -> usize {
    Arc::as_ptr(store).cast::<()>() as usize
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("channel_id", &self.ch.channel_id())
            .field("phase", &self.ch.phase())
            .field("outbox", &self.outbox.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Makes `persist` durable, then queues the messages and events.
    pub fn apply(&mut self, out: ChannelOutput) {
        if let Some(w) = &out.persist {
            self.persist(w);
        }
        self.outbox.extend(out.messages);
        self.events.extend(out.events);
    }

    /// Writes `w` through the store: the writes in order, then the removal
    /// of the obsolete keys in one batch.
    pub fn persist(&mut self, w: &ChannelWrite) {
        for r in &w.writes {
            self.store
                .write(NAMESPACE, &r.key, r.version, &r.value)
                .unwrap_or_else(|e| panic!("store write {}: {e}", r.key));
            self.stats.writes += 1;
            self.stats.bytes += r.value.len() as u64;
        }
        let removes: Vec<BatchOp> = w
            .obsolete
            .iter()
            .map(|k| BatchOp::Remove {
                namespace: NAMESPACE.into(),
                key: k.clone(),
            })
            .collect();
        if !removes.is_empty() {
            self.store
                .write_batch(&removes)
                .unwrap_or_else(|e| panic!("store remove {:?}: {e}", w.obsolete));
            self.stats.removes += removes.len() as u64;
        }
        self.durable = Some(self.ch.encoded_state());
        self.durable_store = store_id(&self.store);
    }

    /// The keys the store holds, in order.
    pub fn stored_keys(&self) -> Vec<String> {
        self.store
            .list(NAMESPACE)
            .unwrap_or_else(|e| panic!("store list: {e}"))
    }

    /// The value under `key`.
    pub fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.store
            .read(NAMESPACE, key)
            .unwrap_or_else(|e| panic!("store read {key}: {e}"))
            .map(|v| v.value)
    }

    /// A copy of everything the store holds, in a new memory store (a
    /// backup to restore a stale state from).
    pub fn copy_store(&self) -> Arc<dyn KvStore> {
        let copy = MemoryStore::new();
        for k in self.stored_keys() {
            if let Some(v) = self
                .store
                .read(NAMESPACE, &k)
                .unwrap_or_else(|e| panic!("store read {k}: {e}"))
            {
                copy.write(NAMESPACE, &k, v.version, &v.value)
                    .unwrap_or_else(|e| panic!("copy {k}: {e}"));
            }
        }
        Arc::new(copy)
    }

    /// Restarts from the store: everything in memory (the channel, the
    /// messages written but not sent, events not taken) is lost. The
    /// channel is rebuilt from the one snapshot and the update records the
    /// store lists, with the signer the snapshot's keys index names.
    ///
    /// The restored channel's encoded state must equal the state as of the
    /// last durable write ([`Endpoint::durable`]): after a restart with
    /// nothing unwritten that is the state before the restart; after a
    /// crash between handling a message and its write, the state before
    /// that message. Skipped when the test put another store in place
    /// (restoring a stale backup on purpose).
    pub fn restart(&mut self) {
        let expected = match &self.durable {
            Some(d) if self.reopen.is_some() || self.durable_store == store_id(&self.store) => {
                Some(d.clone())
            }
            _ => None,
        };
        self.restart_unchecked();
        if let Some(expected) = expected {
            let got = self.ch.encoded_state();
            assert!(
                got == expected,
                "restart: the restored state is not the last durable state ({} vs {} bytes; first difference at byte {})",
                got.len(),
                expected.len(),
                got.iter()
                    .zip(&expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(expected.len()))
            );
        }
        self.durable = Some(self.ch.encoded_state());
        self.durable_store = store_id(&self.store);
    }

    /// [`Endpoint::restart`] without comparing the restored state with the
    /// last durable one.
    pub fn restart_unchecked(&mut self) {
        if let Some(reopen) = &mut self.reopen {
            // Drop our handle first so that the backend's lock is free.
            self.store = Arc::new(MemoryStore::new());
            self.store = reopen();
        }
        let keys = self.stored_keys();
        let snapshot_key = keys
            .iter()
            .find(|k| k.starts_with("channels/") && k.ends_with("/snapshot"))
            .unwrap_or_else(|| panic!("restart: no channel snapshot in {keys:?}"));
        let prefix = snapshot_key.trim_end_matches("snapshot").to_owned() + "u/";
        let snapshot = self
            .stored(snapshot_key)
            .unwrap_or_else(|| panic!("restart: {snapshot_key} vanished"));
        let updates: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .filter_map(|k| self.stored(k))
            .collect();
        let (st, _) = decode_snapshot(&snapshot).unwrap_or_else(|e| panic!("restart: {e}"));
        let signer = self
            .keys
            .derive_channel_signer(st.keys_index)
            .unwrap_or_else(|e| panic!("restart: signer: {e}"));
        self.ch = Channel::restore(signer, self.config.clone(), &snapshot, &updates)
            .unwrap_or_else(|e| panic!("restart: restore: {e}"));
        self.outbox.clear();
        self.events.clear();
    }

    /// Takes the events so far.
    pub fn take_events(&mut self) -> Vec<ChannelEvent> {
        std::mem::take(&mut self.events)
    }
}

/// The two endpoints and the funding output.
pub struct Pair {
    /// The funder.
    pub a: Endpoint,
    /// The fundee.
    pub b: Endpoint,
    /// The funding output both commitments spend.
    pub funding_output: TxOut,
    /// Run by [`Pair::check_agreement`] on every commitment held.
    pub verifier: Option<TxVerifier>,
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair")
            .field("a", &self.a)
            .field("b", &self.b)
            .finish_non_exhaustive()
    }
}

/// A test channel configuration, shutdown script from `seed`.
pub fn config(seed: u8) -> ChannelConfig {
    ChannelConfig {
        minimum_depth: 1,
        shutdown_script: ScriptBuf::from_bytes([&[0x00, 0x14][..], &[seed; 20]].concat()),
        ..ChannelConfig::default()
    }
}

/// A funding transaction paying `amount` to `script_pubkey` (output 1).
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
                script_pubkey: ScriptBuf::from_bytes(
                    [&[0x00, 0x14][..], &(1..=20).collect::<Vec<u8>>()].concat(),
                ),
            },
            TxOut {
                value: Amount::from_sat(amount),
                script_pubkey,
            },
        ],
    }
}

/// How to open the test channel.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `funding_satoshis`.
    pub funding_sat: u64,
    /// `push_msat`.
    pub push_msat: u64,
    /// `feerate_per_kw` at open.
    pub feerate: u32,
    /// The funder's configuration.
    pub a_config: ChannelConfig,
    /// The fundee's configuration.
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

fn keys(seed: u8) -> KeysManager {
    KeysManager::new(&[seed; 32]).unwrap_or_else(|e| panic!("keys: {e}"))
}

/// An endpoint for `ch` with keys from `seed` and an empty memory store.
pub fn node(seed: u8, config: ChannelConfig, ch: Channel<InMemorySigner>) -> Endpoint {
    node_with_store(seed, config, ch, Arc::new(MemoryStore::new()))
}

/// An endpoint for `ch` with keys from `seed` writing to `store`.
pub fn node_with_store(
    seed: u8,
    config: ChannelConfig,
    ch: Channel<InMemorySigner>,
    store: Arc<dyn KvStore>,
) -> Endpoint {
    Endpoint {
        keys: keys(seed),
        config,
        ch,
        store,
        reopen: None,
        events: Vec::new(),
        outbox: VecDeque::new(),
        stats: WriteStats::default(),
        durable: None,
        durable_store: 0,
    }
}

/// Opens a channel A (funder) -> B (fundee) over memory stores and runs it
/// to `Normal`.
pub fn open(o: OpenOptions) -> Pair {
    open_with_stores(
        o,
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryStore::new()),
    )
}

/// A channel A (funder) -> B (fundee) through `funding_signed`: funded,
/// the funding transaction not confirmed yet (both in
/// `AwaitingChannelReady`), over the given stores.
pub fn open_funded_with_stores(
    o: OpenOptions,
    store_a: Arc<dyn KvStore>,
    store_b: Arc<dyn KvStore>,
) -> Pair {
    let ka = keys(1);
    let kb = keys(2);
    let signer = |k: &KeysManager, i| {
        k.derive_channel_signer(i)
            .unwrap_or_else(|e| panic!("signer: {e}"))
    };
    let (a_ch, open) = Channel::new_outbound(
        signer(&ka, 7),
        o.a_config.clone(),
        7,
        ChannelId([9; 32]),
        o.funding_sat,
        o.push_msat,
        o.feerate,
    )
    .unwrap_or_else(|e| panic!("new_outbound: {e}"));
    let (b_ch, accept) = Channel::from_open_channel(signer(&kb, 3), o.b_config.clone(), 3, &open)
        .unwrap_or_else(|e| panic!("from_open_channel: {e}"));
    let mut a = node_with_store(1, o.a_config, a_ch, store_a);
    let b = node_with_store(2, o.b_config, b_ch, store_b);
    let out =
        a.ch.handle_message(&Message::AcceptChannel(accept))
            .unwrap_or_else(|e| panic!("accept_channel: {e}"));
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
    let out =
        a.ch.funding_transaction(tx.clone())
            .unwrap_or_else(|e| panic!("funding_transaction: {e}"));
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
        verifier: None,
    };
    pair.deliver_a_to_b()
        .unwrap_or_else(|e| panic!("funding_created: {e}"));
    assert!(pair.b.stored_keys().iter().any(|k| k.ends_with("snapshot")));
    pair.deliver_b_to_a()
        .unwrap_or_else(|e| panic!("funding_signed: {e}"));
    assert!(pair
        .a
        .take_events()
        .iter()
        .any(|e| matches!(e, ChannelEvent::BroadcastFunding { tx: t } if *t == tx)));
    pair
}

/// [`open_funded_with_stores`] over memory stores.
pub fn open_funded(o: OpenOptions) -> Pair {
    open_funded_with_stores(
        o,
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryStore::new()),
    )
}

/// [`open`] with the given stores.
pub fn open_with_stores(
    o: OpenOptions,
    store_a: Arc<dyn KvStore>,
    store_b: Arc<dyn KvStore>,
) -> Pair {
    let mut pair = open_funded_with_stores(o, store_a, store_b);
    let scid = ShortChannelId::new(100, 1, 1);
    let funding_tx = pair
        .a
        .ch
        .state()
        .funding_tx
        .clone()
        .expect("the funder keeps its funding transaction");
    for n in [&mut pair.a, &mut pair.b] {
        let out =
            n.ch.funding_confirmed(&funding_tx, 1, scid)
                .unwrap_or_else(|e| panic!("funding_confirmed: {e}"));
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
    /// Delivers A's next message to B. Panics if A's outbox is empty.
    pub fn deliver_a_to_b(&mut self) -> Result<(), ChannelError> {
        let m = self.a.outbox.pop_front().expect("a message from A");
        let out = self.b.ch.handle_message(&m)?;
        self.b.apply(out);
        Ok(())
    }

    /// Delivers B's next message to A. Panics if B's outbox is empty.
    pub fn deliver_b_to_a(&mut self) -> Result<(), ChannelError> {
        let m = self.b.outbox.pop_front().expect("a message from B");
        let out = self.a.ch.handle_message(&m)?;
        self.a.apply(out);
        Ok(())
    }

    /// Delivers everything in A's outbox to B as one batch (one socket
    /// read: [`Channel::handle_messages`]). On an error, what the messages
    /// before it did is applied and the error returned.
    pub fn deliver_all_a_to_b(&mut self) -> Result<(), ChannelError> {
        let msgs: Vec<Message> = self.a.outbox.drain(..).collect();
        let (out, result) = self.b.ch.handle_messages(&msgs);
        self.b.apply(out);
        result
    }

    /// Delivers everything in B's outbox to A as one batch.
    pub fn deliver_all_b_to_a(&mut self) -> Result<(), ChannelError> {
        let msgs: Vec<Message> = self.b.outbox.drain(..).collect();
        let (out, result) = self.a.ch.handle_messages(&msgs);
        self.a.apply(out);
        result
    }

    /// Delivers messages both ways, alternating, until both outboxes are
    /// empty. Panics on an error.
    pub fn run_until_quiet(&mut self) {
        while !self.a.outbox.is_empty() || !self.b.outbox.is_empty() {
            if !self.a.outbox.is_empty() {
                self.deliver_a_to_b()
                    .unwrap_or_else(|e| panic!("A -> B: {e}"));
            }
            if !self.b.outbox.is_empty() {
                self.deliver_b_to_a()
                    .unwrap_or_else(|e| panic!("B -> A: {e}"));
            }
        }
    }

    /// `commit()` on both sides. Panics on an error.
    pub fn commit_both(&mut self) {
        for n in [&mut self.a, &mut self.b] {
            let out = n.ch.commit().unwrap_or_else(|e| panic!("commit: {e}"));
            n.apply(out);
        }
    }

    /// Drops the connection (and whatever was in flight) and queues
    /// `channel_reestablish` both ways, without delivering anything.
    pub fn disconnect_and_reconnect(&mut self) {
        self.a.outbox.clear();
        self.b.outbox.clear();
        for n in [&mut self.a, &mut self.b] {
            let (out, _dropped) = n.ch.peer_disconnected();
            n.apply(out);
        }
        self.queue_reestablish();
    }

    /// Queues each side's `channel_reestablish` first in its outbox (both
    /// sides must be disconnected).
    pub fn queue_reestablish(&mut self) {
        for n in [&mut self.a, &mut self.b] {
            let r =
                n.ch.peer_reconnected()
                    .expect("a channel_reestablish after peer_disconnected");
            n.outbox.push_front(Message::ChannelReestablish(r));
        }
    }

    /// Drops the connection and runs `channel_reestablish` both ways.
    pub fn reconnect(&mut self) {
        self.disconnect_and_reconnect();
        self.run_until_quiet();
    }

    /// Both sides' latest commitments are the same transactions, and (with
    /// a verifier) each side's own commitment and HTLC-timeout
    /// transactions verify against what they spend.
    pub fn check_agreement(&self) {
        let (a_holder, a_cp) = self
            .a
            .ch
            .commitment_txids()
            .unwrap_or_else(|e| panic!("A's commitments: {e}"));
        let (b_holder, b_cp) = self
            .b
            .ch
            .commitment_txids()
            .unwrap_or_else(|e| panic!("B's commitments: {e}"));
        assert_eq!(a_holder, b_cp, "A's commitment as both see it");
        assert_eq!(b_holder, a_cp, "B's commitment as both see it");
        if let Some(verify) = self.verifier {
            for n in [&self.a, &self.b] {
                let hc =
                    n.ch.holder_commitment()
                        .unwrap_or_else(|e| panic!("holder commitment: {e}"));
                verify(&hc.commitment, std::slice::from_ref(&self.funding_output))
                    .unwrap_or_else(|e| panic!("commitment does not verify: {e}"));
                for htx in &hc.htlc_timeouts {
                    let vout = htx.input[0].previous_output.vout as usize;
                    verify(htx, &[hc.commitment.output[vout].clone()])
                        .unwrap_or_else(|e| panic!("HTLC-timeout does not verify: {e}"));
                }
            }
        }
    }

    /// The channel's value, msat.
    pub fn total_msat(&self) -> u64 {
        self.funding_output.value.to_sat() * 1000
    }
}

/// The preimage and payment hash of payment `n`.
pub fn preimage(n: u64) -> (PaymentPreimage, PaymentHash) {
    let mut p = [0u8; 32];
    p[..8].copy_from_slice(&n.to_be_bytes());
    p[31] = 0x77;
    let p = PaymentPreimage(p);
    (p, p.payment_hash())
}
