//! The tower: sessions, updates, and the per-block check.
//!
//! Clients are known by the node id their BOLT 8 connection proved; a
//! session belongs to the client that opened it, so no client can add to
//! or learn about another's. Bounds: sessions per client, updates per
//! session, blob size, blobs per locator (a locator another client filled
//! cannot hide an honest client's blob: all are tried, up to the bound) and
//! total stored bytes; past them a request gets an error code, never more
//! memory. The check of a block costs one hash of each transaction's txid
//! prefix into a map, whatever the number of stored updates; only a match
//! costs a decryption.

use std::collections::HashMap;
use std::sync::Arc;

use bitcoin::block::Header;
use bitcoin::secp256k1::PublicKey;
use bitcoin::Transaction;
use lightning_chain::{Broadcaster, ChainListener};

use crate::blob::{JusticeKit, Locator, MAX_BLOB_LEN};
use crate::record::{self, bad, Change, Changes, RecordError};
use crate::wire::{Code, TowerMessage};

/// The tower's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TowerConfig {
    /// Sessions one client may hold.
    pub max_sessions_per_client: usize,
    /// Updates one session may carry (a client asking for more gets this).
    pub max_updates_per_session: u16,
    /// Stored bytes in all (blob, locator and bookkeeping).
    pub max_total_bytes: usize,
    /// Blobs kept under one locator.
    pub max_blobs_per_locator: usize,
}

impl Default for TowerConfig {
    fn default() -> Self {
        TowerConfig {
            max_sessions_per_client: 16,
            max_updates_per_session: 4096,
            max_total_bytes: 1 << 30,
            max_blobs_per_locator: 4,
        }
    }
}

/// Errors a tower reports about itself (requests get codes instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TowerError {
    /// A message the tower does not take (an answer sent to it).
    #[error("unexpected message")]
    Unexpected,
}

#[derive(Debug)]
struct Session {
    client: PublicKey,
    max_updates: u16,
    updates: u16,
}

#[derive(Debug)]
struct Stored {
    session: u64,
    seqnum: u16,
    blob: Vec<u8>,
}

fn session_key(id: u64) -> String {
    format!("s/{id:016x}")
}

fn update_key(session: u64, seqnum: u16) -> String {
    format!("u/{session:016x}/{seqnum:04x}")
}

fn justice_key(txid: &bitcoin::Txid) -> String {
    format!("j/{txid}")
}

const NEXT_KEY: &str = "next";

/// Bytes of bookkeeping counted per stored update besides the blob.
pub const UPDATE_OVERHEAD: usize = 16 + 8 + 24;

/// What the tower has done, for the operator.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TowerStats {
    /// Updates stored now.
    pub updates: usize,
    /// Bytes they take (blobs plus [`UPDATE_OVERHEAD`] each).
    pub bytes: usize,
    /// Breaches seen (a stored locator's transaction confirmed).
    pub breaches: u64,
    /// Justice transactions broadcast.
    pub justice_broadcast: u64,
    /// Blobs that matched a locator but did not open as a justice kit
    /// for that transaction (damage, or a lying client).
    pub bad_blobs: u64,
    /// Records skipped on restore because they did not decode.
    pub damaged_records: u64,
}

/// A watchtower, sans-IO: messages in and out by [`Tower::handle_message`],
/// blocks through [`ChainListener`], justice through the [`Broadcaster`].
pub struct Tower {
    config: TowerConfig,
    broadcaster: Arc<dyn Broadcaster + Send + Sync>,
    sessions: HashMap<u64, Session>,
    by_client: HashMap<PublicKey, Vec<u64>>,
    next_session: u64,
    updates: HashMap<Locator, Vec<Stored>>,
    stats: TowerStats,
    /// Justice transactions broadcast, rebroadcast every block until the
    /// host drops them (`forget_justice`).
    pending_justice: Vec<Transaction>,
    changes: Changes,
}

impl core::fmt::Debug for Tower {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tower")
            .field("sessions", &self.sessions.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Tower {
    /// A tower broadcasting through `broadcaster`.
    pub fn new(config: TowerConfig, broadcaster: Arc<dyn Broadcaster + Send + Sync>) -> Tower {
        Tower {
            config,
            broadcaster,
            sessions: HashMap::new(),
            by_client: HashMap::new(),
            next_session: 1,
            updates: HashMap::new(),
            stats: TowerStats::default(),
            pending_justice: Vec::new(),
            changes: Changes::default(),
        }
    }

    /// Turns on (or off) the recording of durable changes
    /// ([`take_changes`](Tower::take_changes), [`crate::record`]).
    pub fn record_changes(&mut self, on: bool) {
        self.changes.set(on);
    }

    /// The changes to durable state since the last call, in order: the
    /// host writes them before it sends the answers those calls returned.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.changes.take()
    }

    /// A tower rebuilt from its records ([`crate::record`]), recording
    /// changes. Records that do not decode are skipped and counted
    /// ([`TowerStats::damaged_records`]); updates past the storage bound
    /// are kept (they were acknowledged), and new ones wait for room.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lightning_watchtower::wire::{Code, TowerMessage};
    /// use lightning_watchtower::{Tower, TowerConfig};
    /// # #[derive(Debug)] struct Nothing;
    /// # impl lightning_chain::Broadcaster for Nothing {
    /// #     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    /// # }
    /// # let client = bitcoin::secp256k1::PublicKey::from_secret_key(
    /// #     bitcoin::secp256k1::SECP256K1, &bitcoin::secp256k1::SecretKey::from_slice(&[1; 32]).unwrap());
    /// let mut store = std::collections::BTreeMap::new();
    /// let mut tower = Tower::restore(TowerConfig::default(), Arc::new(Nothing), Vec::new());
    /// tower.handle_message(client, &TowerMessage::CreateSession { max_updates: 10 }).unwrap();
    /// use lightning_watchtower::record::Change;
    /// for change in tower.take_changes() {
    ///     match change {
    ///         Change::Insert { key, value } | Change::Put { key, value } => { store.insert(key, value); }
    ///         Change::Remove { key } => { store.remove(&key); }
    ///         _ => {}
    ///     }
    /// }
    /// // After a restart the session is there: its first update is taken.
    /// let mut tower = Tower::restore(TowerConfig::default(), Arc::new(Nothing), store);
    /// let ack = tower.handle_message(client, &TowerMessage::StateUpdate {
    ///     session_id: 1, seqnum: 1, locator: lightning_watchtower::Locator([7; 16]), blob: vec![1; 100],
    /// }).unwrap();
    /// assert!(matches!(ack, TowerMessage::StateUpdateAck { code: Code::Ok, .. }));
    /// ```
    pub fn restore(
        config: TowerConfig,
        broadcaster: Arc<dyn Broadcaster + Send + Sync>,
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Tower {
        let mut t = Tower::new(config, broadcaster);
        t.record_changes(true);
        for (key, value) in records {
            if t.restore_record(&key, &value).is_err() {
                t.stats.damaged_records += 1;
            }
        }
        for ids in t.by_client.values_mut() {
            ids.sort_unstable();
        }
        t
    }

    fn restore_record(&mut self, key: &str, value: &[u8]) -> Result<(), RecordError> {
        if key == NEXT_KEY {
            let b: [u8; 8] = value.try_into().map_err(|_| bad(key, "bad length"))?;
            self.next_session = self.next_session.max(u64::from_be_bytes(b));
        } else if let Some(hex) = key.strip_prefix("s/") {
            let id = record::parse_hex_u64(hex, 16).ok_or_else(|| bad(key, "bad session id"))?;
            if value.len() != 37 {
                return Err(bad(key, "session of a bad length"));
            }
            let client =
                PublicKey::from_slice(&value[..33]).map_err(|_| bad(key, "bad client id"))?;
            let max_updates = u16::from_be_bytes([value[33], value[34]]);
            let updates = u16::from_be_bytes([value[35], value[36]]);
            if self.sessions.contains_key(&id) {
                return Err(bad(key, "session twice"));
            }
            self.sessions.insert(
                id,
                Session {
                    client,
                    max_updates,
                    updates,
                },
            );
            self.by_client.entry(client).or_default().push(id);
            self.next_session = self.next_session.max(id.wrapping_add(1));
        } else if let Some(rest) = key.strip_prefix("u/") {
            let (s, n) = rest
                .split_once('/')
                .ok_or_else(|| bad(key, "bad update key"))?;
            let session = record::parse_hex_u64(s, 16).ok_or_else(|| bad(key, "bad session id"))?;
            let seqnum = record::parse_hex_u64(n, 4)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| bad(key, "bad seqnum"))?;
            let (locator, blob) = record::decode_update(key, value)?;
            self.stats.updates += 1;
            self.stats.bytes += blob.len() + UPDATE_OVERHEAD;
            self.updates.entry(locator).or_default().push(Stored {
                session,
                seqnum,
                blob,
            });
            self.next_session = self.next_session.max(session.wrapping_add(1));
        } else if key.starts_with("j/") {
            let tx: Transaction = bitcoin::consensus::deserialize(value)
                .map_err(|_| bad(key, "bad justice transaction"))?;
            self.pending_justice.push(tx);
        } else {
            return Err(bad(key, "unknown key"));
        }
        Ok(())
    }

    fn put_session(&mut self, id: u64) {
        if let Some(s) = self.sessions.get(&id) {
            let mut v = s.client.serialize().to_vec();
            v.extend_from_slice(&s.max_updates.to_be_bytes());
            v.extend_from_slice(&s.updates.to_be_bytes());
            self.changes.put(session_key(id), v);
        }
    }

    /// Counters.
    pub fn stats(&self) -> TowerStats {
        self.stats
    }

    /// A message from `client` (the node id its connection proved): the
    /// answer to send back.
    pub fn handle_message(
        &mut self,
        client: PublicKey,
        msg: &TowerMessage,
    ) -> Result<TowerMessage, TowerError> {
        Ok(match msg {
            TowerMessage::CreateSession { max_updates } => {
                // A session the client holds and never used is offered
                // again (its acknowledgement was lost to a disconnection
                // or a crash): asking again costs nothing.
                if let Some((id, s)) = self.by_client.get(&client).and_then(|ids| {
                    ids.iter()
                        .filter_map(|id| self.sessions.get(id).map(|s| (*id, s)))
                        .find(|(_, s)| s.updates == 0)
                }) {
                    return Ok(TowerMessage::SessionAck {
                        code: Code::Ok,
                        session_id: id,
                        max_updates: s.max_updates,
                    });
                }
                let held = self.by_client.get(&client).map_or(0, Vec::len);
                if held >= self.config.max_sessions_per_client {
                    // Sessions that are full are dropped to make room: their
                    // updates stay stored.
                    self.drop_full_sessions(&client);
                }
                let held = self.by_client.get(&client).map_or(0, Vec::len);
                if held >= self.config.max_sessions_per_client {
                    return Ok(TowerMessage::SessionAck {
                        code: Code::TooManySessions,
                        session_id: 0,
                        max_updates: 0,
                    });
                }
                let id = self.next_session;
                self.next_session = self.next_session.wrapping_add(1);
                let max = (*max_updates).clamp(1, self.config.max_updates_per_session);
                self.sessions.insert(
                    id,
                    Session {
                        client,
                        max_updates: max,
                        updates: 0,
                    },
                );
                self.by_client.entry(client).or_default().push(id);
                self.changes.put(
                    NEXT_KEY.to_string(),
                    self.next_session.to_be_bytes().to_vec(),
                );
                self.put_session(id);
                TowerMessage::SessionAck {
                    code: Code::Ok,
                    session_id: id,
                    max_updates: max,
                }
            }
            TowerMessage::StateUpdate {
                session_id,
                seqnum,
                locator,
                blob,
            } => {
                let code = self.add_update(client, *session_id, *seqnum, *locator, blob);
                TowerMessage::StateUpdateAck {
                    session_id: *session_id,
                    seqnum: *seqnum,
                    code,
                }
            }
            _ => return Err(TowerError::Unexpected),
        })
    }

    fn drop_full_sessions(&mut self, client: &PublicKey) {
        let Some(ids) = self.by_client.get_mut(client) else {
            return;
        };
        let sessions = &mut self.sessions;
        let changes = &mut self.changes;
        ids.retain(|id| {
            let full = sessions.get(id).is_none_or(|s| s.updates >= s.max_updates);
            if full {
                // The updates keep their session id; the session is gone.
                sessions.remove(id);
                changes.remove(session_key(*id));
            }
            !full
        });
    }

    fn add_update(
        &mut self,
        client: PublicKey,
        session_id: u64,
        seqnum: u16,
        locator: Locator,
        blob: &[u8],
    ) -> Code {
        let Some(s) = self.sessions.get(&session_id) else {
            return Code::UnknownSession;
        };
        if s.client != client {
            // Another client's session looks like no session at all.
            return Code::UnknownSession;
        }
        if seqnum != 0 && seqnum <= s.updates {
            // Stored already: a resend after a reconnection, of updates
            // sent ahead of their acknowledgements.
            return Code::Ok;
        }
        if s.updates >= s.max_updates {
            return Code::SessionFull;
        }
        if u32::from(seqnum) != u32::from(s.updates) + 1 {
            return Code::BadSeqnum;
        }
        if blob.is_empty() || blob.len() > MAX_BLOB_LEN {
            return Code::BadBlob;
        }
        let cost = blob.len() + UPDATE_OVERHEAD;
        if self.stats.bytes.saturating_add(cost) > self.config.max_total_bytes {
            return Code::TowerFull;
        }
        let slot = self.updates.entry(locator).or_default();
        if slot.len() >= self.config.max_blobs_per_locator {
            return Code::TowerFull;
        }
        slot.push(Stored {
            session: session_id,
            seqnum,
            blob: blob.to_vec(),
        });
        self.stats.bytes += cost;
        self.stats.updates += 1;
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.updates += 1;
        }
        self.changes.insert(
            update_key(session_id, seqnum),
            record::encode_update(&locator, blob),
        );
        self.put_session(session_id);
        Code::Ok
    }

    /// Looks for breaches among `txs` (confirmed transactions): for each
    /// whose locator is stored, every blob is tried; each that opens as a
    /// justice kit for it is broadcast. Returns the justice transactions.
    pub fn check_transactions(&mut self, txs: &[&Transaction]) -> Vec<Transaction> {
        let with_ids: Vec<(&Transaction, bitcoin::Txid)> =
            txs.iter().map(|t| (*t, t.compute_txid())).collect();
        self.check_confirmed(&with_ids)
    }

    /// [`check_transactions`](Tower::check_transactions) with each
    /// transaction's txid already computed (a host that computed the
    /// block's txids once passes them).
    pub fn check_confirmed(&mut self, txs: &[(&Transaction, bitcoin::Txid)]) -> Vec<Transaction> {
        let mut out = Vec::new();
        for (tx, txid) in txs {
            let locator = Locator::of(txid);
            let Some(stored) = self.updates.remove(&locator) else {
                continue;
            };
            self.stats.breaches += 1;
            for s in stored {
                self.stats.updates -= 1;
                self.stats.bytes -= s.blob.len() + UPDATE_OVERHEAD;
                self.changes.remove(update_key(s.session, s.seqnum));
                match JusticeKit::open(&s.blob, tx) {
                    Ok(kit) => out.extend(kit.transactions),
                    Err(_) => self.stats.bad_blobs += 1,
                }
            }
        }
        if !out.is_empty() {
            let refs: Vec<&Transaction> = out.iter().collect();
            for t in &refs {
                self.broadcaster.broadcast_transaction(t);
            }
            self.stats.justice_broadcast += out.len() as u64;
            for j in &out {
                self.changes.put(
                    justice_key(&j.compute_txid()),
                    bitcoin::consensus::serialize(j),
                );
            }
            self.pending_justice.extend(out.iter().cloned());
        }
        out
    }

    /// Justice transactions broadcast so far and not forgotten.
    pub fn pending_justice(&self) -> &[Transaction] {
        &self.pending_justice
    }

    /// Stops rebroadcasting `txid` (the host saw it deep enough).
    pub fn forget_justice(&mut self, txid: &bitcoin::Txid) {
        if self.pending_justice.is_empty() {
            return;
        }
        let before = self.pending_justice.len();
        self.pending_justice.retain(|t| t.compute_txid() != *txid);
        if self.pending_justice.len() != before {
            self.changes.remove(justice_key(txid));
        }
    }
}

impl ChainListener for Tower {
    fn block_disconnected(&mut self, _header: &Header, _height: u32) {}

    fn transactions_confirmed(
        &mut self,
        _header: &Header,
        txdata: &[(usize, &Transaction)],
        _height: u32,
    ) {
        let txs: Vec<&Transaction> = txdata.iter().map(|(_, t)| *t).collect();
        self.check_transactions(&txs);
    }

    /// Every block, justice not yet forgotten goes out again.
    fn best_block_updated(&mut self, _header: &Header, _height: u32) {
        for t in &self.pending_justice {
            self.broadcaster.broadcast_transaction(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::tests::{commitment, justice};
    use bitcoin::secp256k1::{SecretKey, SECP256K1};
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    pub(crate) struct Rec(pub Mutex<Vec<Transaction>>);
    impl Broadcaster for Rec {
        fn broadcast_transactions(&self, txs: &[&Transaction]) {
            self.0
                .lock()
                .unwrap()
                .extend(txs.iter().map(|t| (*t).clone()));
        }
    }

    pub(crate) fn pk(b: u8) -> PublicKey {
        PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[b; 32]).unwrap())
    }

    fn session(t: &mut Tower, c: PublicKey, n: u16) -> u64 {
        match t
            .handle_message(c, &TowerMessage::CreateSession { max_updates: n })
            .unwrap()
        {
            TowerMessage::SessionAck {
                code: Code::Ok,
                session_id,
                ..
            } => session_id,
            m => panic!("{m:?}"),
        }
    }

    fn update(t: &mut Tower, c: PublicKey, s: u64, n: u16, l: Locator, b: Vec<u8>) -> Code {
        match t
            .handle_message(
                c,
                &TowerMessage::StateUpdate {
                    session_id: s,
                    seqnum: n,
                    locator: l,
                    blob: b,
                },
            )
            .unwrap()
        {
            TowerMessage::StateUpdateAck { code, .. } => code,
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn breach_found_among_many_and_justice_broadcast() {
        let rec = Arc::new(Rec::default());
        let mut t = Tower::new(TowerConfig::default(), rec.clone());
        let c = pk(1);
        let s = session(&mut t, c, 4096);
        let breach = commitment(1000, 3);
        for i in 0..2000u32 {
            let cm = commitment(i, 2);
            let kit = JusticeKit {
                transactions: vec![justice(&cm)],
            };
            let blob = kit.seal(&cm.compute_txid(), [i as u8; 12]).unwrap();
            let seq = (i + 1) as u16;
            assert_eq!(
                update(&mut t, c, s, seq, Locator::of(&cm.compute_txid()), blob),
                Code::Ok
            );
        }
        let j = justice(&breach);
        let blob = JusticeKit {
            transactions: vec![j.clone()],
        }
        .seal(&breach.compute_txid(), [1; 12])
        .unwrap();
        assert_eq!(
            update(
                &mut t,
                c,
                s,
                2001,
                Locator::of(&breach.compute_txid()),
                blob
            ),
            Code::Ok
        );
        assert_eq!(t.stats().updates, 2001);
        // An unrelated block: nothing.
        assert!(t.check_transactions(&[&commitment(5000, 1)]).is_empty());
        let out = t.check_transactions(&[&commitment(6000, 1), &breach]);
        assert_eq!(out, vec![j.clone()]);
        assert_eq!(rec.0.lock().unwrap().as_slice(), &[j]);
        assert_eq!(t.stats().updates, 2000);
        assert_eq!(t.stats().breaches, 1);
    }

    #[test]
    fn sessions_are_per_client_and_bounded() {
        let rec = Arc::new(Rec::default());
        let cfg = TowerConfig {
            max_sessions_per_client: 2,
            max_updates_per_session: 3,
            max_total_bytes: 10 * (100 + UPDATE_OVERHEAD),
            max_blobs_per_locator: 2,
        };
        let mut t = Tower::new(cfg, rec);
        let (a, b) = (pk(1), pk(2));
        let s = session(&mut t, a, 1000);
        // Another client cannot use the session.
        assert_eq!(
            update(&mut t, b, s, 1, Locator([1; 16]), vec![0; 100]),
            Code::UnknownSession
        );
        // Sequence numbers: the next only; the last again is acknowledged.
        assert_eq!(
            update(&mut t, a, s, 2, Locator([1; 16]), vec![0; 100]),
            Code::BadSeqnum
        );
        assert_eq!(
            update(&mut t, a, s, 1, Locator([1; 16]), vec![0; 100]),
            Code::Ok
        );
        assert_eq!(
            update(&mut t, a, s, 1, Locator([1; 16]), vec![0; 100]),
            Code::Ok
        );
        assert_eq!(t.stats().updates, 1);
        assert_eq!(
            update(&mut t, a, s, 2, Locator([2; 16]), vec![0; 100]),
            Code::Ok
        );
        assert_eq!(
            update(&mut t, a, s, 3, Locator([3; 16]), vec![0; 100]),
            Code::Ok
        );
        // Granted 3 updates (the cap), not 1000.
        assert_eq!(
            update(&mut t, a, s, 4, Locator([4; 16]), vec![0; 100]),
            Code::SessionFull
        );
        assert_eq!(
            update(&mut t, a, s, 4, Locator([4; 16]), vec![]),
            Code::SessionFull
        );
        // A flooding client: sessions capped (full ones make room), bytes
        // capped.
        let mut codes = Vec::new();
        for _ in 0..10 {
            let Ok(TowerMessage::SessionAck {
                code, session_id, ..
            }) = t.handle_message(b, &TowerMessage::CreateSession { max_updates: 3 })
            else {
                panic!()
            };
            if code != Code::Ok {
                codes.push(code);
                continue;
            }
            for n in 1..=3 {
                codes.push(update(
                    &mut t,
                    b,
                    session_id,
                    n,
                    Locator([n as u8 + 10; 16]),
                    vec![0; 100],
                ));
            }
        }
        assert!(codes.contains(&Code::TowerFull));
        assert!(t.stats().bytes <= 10 * (100 + UPDATE_OVERHEAD));
        assert!(t.stats().updates <= 10);
        // Oversized blob.
        let s2 = session(&mut t, pk(3), 5);
        assert_eq!(
            update(
                &mut t,
                pk(3),
                s2,
                1,
                Locator([1; 16]),
                vec![0; MAX_BLOB_LEN + 1]
            ),
            Code::BadBlob
        );
    }

    #[test]
    fn a_lying_client_cannot_make_the_tower_broadcast_or_hide_an_honest_blob() {
        let rec = Arc::new(Rec::default());
        let mut t = Tower::new(TowerConfig::default(), rec.clone());
        let breach = commitment(1, 2);
        let l = Locator::of(&breach.compute_txid());
        // The liar fills the locator first with garbage and a kit for
        // another transaction.
        let liar = pk(9);
        let s = session(&mut t, liar, 10);
        assert_eq!(update(&mut t, liar, s, 1, l, vec![1; 200]), Code::Ok);
        let other = JusticeKit {
            transactions: vec![justice(&commitment(2, 1))],
        }
        .seal(&breach.compute_txid(), [0; 12])
        .unwrap();
        assert_eq!(update(&mut t, liar, s, 2, l, other), Code::Ok);
        // Full locator: bounded.
        let honest = pk(1);
        let h = session(&mut t, honest, 10);
        let j = justice(&breach);
        let blob = JusticeKit {
            transactions: vec![j.clone()],
        }
        .seal(&breach.compute_txid(), [3; 12])
        .unwrap();
        assert_eq!(update(&mut t, honest, h, 1, l, blob.clone()), Code::Ok);
        assert_eq!(update(&mut t, honest, h, 2, l, blob), Code::Ok);
        assert_eq!(
            update(&mut t, honest, h, 3, l, vec![0; 10]),
            Code::TowerFull,
            "4 blobs per locator"
        );
        let out = t.check_transactions(&[&breach]);
        assert_eq!(out, vec![j.clone(), j]);
        assert_eq!(t.stats().bad_blobs, 2);
    }
}
