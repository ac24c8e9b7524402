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
    blob: Vec<u8>,
}

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
        ids.retain(|id| {
            let full = sessions.get(id).is_none_or(|s| s.updates >= s.max_updates);
            if full {
                // The updates keep their session id; the session is gone.
                sessions.remove(id);
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
        if seqnum == s.updates && seqnum != 0 {
            // The last one again (a resend after a reconnection).
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
            blob: blob.to_vec(),
        });
        self.stats.bytes += cost;
        self.stats.updates += 1;
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.updates += 1;
        }
        Code::Ok
    }

    /// Looks for breaches among `txs` (confirmed transactions): for each
    /// whose locator is stored, every blob is tried; each that opens as a
    /// justice kit for it is broadcast. Returns the justice transactions.
    pub fn check_transactions(&mut self, txs: &[&Transaction]) -> Vec<Transaction> {
        let mut out = Vec::new();
        for tx in txs {
            let txid = tx.compute_txid();
            let locator = Locator::of(&txid);
            let Some(stored) = self.updates.remove(&locator) else {
                continue;
            };
            self.stats.breaches += 1;
            for s in stored {
                self.stats.updates -= 1;
                self.stats.bytes -= s.blob.len() + UPDATE_OVERHEAD;
                match JusticeKit::open(&s.blob, tx) {
                    Ok(kit) => out.extend(kit.transactions),
                    Err(_) => self.stats.bad_blobs += 1,
                }
                let _ = s.session;
            }
        }
        if !out.is_empty() {
            let refs: Vec<&Transaction> = out.iter().collect();
            for t in &refs {
                self.broadcaster.broadcast_transaction(t);
            }
            self.stats.justice_broadcast += out.len() as u64;
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
        self.pending_justice.retain(|t| t.compute_txid() != *txid);
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
