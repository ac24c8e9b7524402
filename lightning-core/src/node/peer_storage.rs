//! BOLT 1 peer storage (`peer_storage`, `peer_storage_retrieval`,
//! `option_provide_storage`, bits 42/43): we keep our channel peers'
//! blobs, and keep our own backup with them (issue 21).
//!
//! Keeping theirs (BOLT 1, "The receiver of `peer_storage`"): only for a
//! peer with a funded channel (we "MAY store the message anyway" for
//! others: we do not, so a stranger costs nothing); at most one update per
//! [`PEER_STORAGE_INTERVAL`] is written (a faster peer's latest blob waits
//! in memory, one per peer, and is written when the interval has passed:
//! "MAY delay storage to ratelimit"); the latest replaces the old; kept
//! [`KEEP_AFTER_CLOSE`] blocks after the peer's last channel is gone ("
//! SHOULD wait at least 2016 blocks before deleting"); persisted under
//! `peer_storage/<node id hex>` (4-byte height last seen with a channel,
//! then the blob). After `init` on each connection we send the blob back in
//! `peer_storage_retrieval`, before any `channel_reestablish`.
//!
//! Ours: the channel backup sealed under the peer-storage key (its own
//! HKDF label), padded to 65,531 bytes ("SHOULD pad"), sent in
//! `peer_storage` to every connected peer with a funded channel that
//! offers `option_provide_storage`, again whenever the backup changes and
//! on every connection. A `peer_storage_retrieval` that decrypts under our
//! key and names our node and chain is kept if newer than the one kept;
//! anything else is counted and ignored (BOLT 1: "MAY send a warning").
//! [`Node::restore_from_peer_storage`] restores from the newest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_persist::KvStore;
use lightning_wire::features::Feature;
use lightning_wire::msgs::{Message, PeerStorage, PeerStorageRetrieval};
use lightning_wire::types::ChannelId;

use super::{Node, NodeError, NAMESPACE};
use crate::backup::{self, BackupError, BackupKey, Domain, StaticChannelBackup};

/// Keys of stored blobs: `peer_storage/<node id hex>`.
pub const PEER_STORAGE_PREFIX: &str = "peer_storage/";
/// BOLT 1: a blob is at most 65,531 bytes.
pub const MAX_PEER_STORAGE_BLOB: usize = 65_531;
/// At most one stored update per peer per minute.
pub const PEER_STORAGE_INTERVAL: Duration = Duration::from_secs(60);
/// Blocks a blob is kept after the peer's last channel closed.
pub const KEEP_AFTER_CLOSE: u32 = 2016;

/// A peer's stored blob.
#[derive(Debug, Clone)]
struct Stored {
    blob: Vec<u8>,
    /// The last height the peer had a funded channel with us.
    channel_height: u32,
    /// When it was last written (host time, this run).
    written_at: Option<Duration>,
}

/// What the node keeps for peer storage.
#[derive(Debug, Default)]
pub(crate) struct PeerStorageState {
    stored: BTreeMap<PublicKey, Stored>,
    /// Rate-limited updates waiting for their interval.
    pending: BTreeMap<PublicKey, Vec<u8>>,
    /// Our blob, and the backup it was sealed from.
    ours: Option<(Vec<u8>, Vec<u8>)>,
    /// Peers that have our current blob on this connection.
    sent_to: BTreeSet<PublicKey>,
    /// The newest valid backup a peer gave back.
    retrieved: Option<StaticChannelBackup>,
    /// `peer_storage_retrieval` messages that were not our valid backup.
    pub(crate) rejected_retrievals: u64,
}

fn storage_key(peer: &PublicKey) -> String {
    format!("{PEER_STORAGE_PREFIX}{}", hex::encode(peer.serialize()))
}

/// A channel whose funding we signed and that is not closed: its peer may
/// hold our backup.
fn is_funded<S: crate::keys::ChannelSigner>(channel: &crate::channel::Channel<S>) -> bool {
    let state = channel.state();
    state.holder_sigs.is_some()
        && !matches!(
            state.phase,
            crate::channel::Phase::Closed | crate::channel::Phase::Failed
        )
}

fn encode_stored(s: &Stored) -> Vec<u8> {
    let mut v = s.channel_height.to_be_bytes().to_vec();
    v.extend_from_slice(&s.blob);
    v
}

impl Node {
    /// Whether `peer` has a funded channel with us.
    fn has_funded_channel(&self, peer: &PublicKey) -> bool {
        self.channels
            .values()
            .any(|e| is_funded(&e.channel) && e.counterparty == *peer)
    }

    /// The peers with a funded channel with us, sorted, each once.
    fn funded_counterparties(&self) -> Vec<PublicKey> {
        let mut peers: Vec<PublicKey> = self
            .channels
            .values()
            .filter(|e| is_funded(&e.channel))
            .map(|e| e.counterparty)
            .collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }

    /// A `peer_storage` from `peer` (BOLT 1).
    pub(super) fn on_peer_storage(&mut self, peer: PublicKey, blob: Vec<u8>) {
        if blob.len() > MAX_PEER_STORAGE_BLOB || !self.has_funded_channel(&peer) {
            return;
        }
        let due = self.peer_storage.stored.get(&peer).is_none_or(|s| {
            s.written_at
                .is_none_or(|t| self.now >= t.saturating_add(PEER_STORAGE_INTERVAL))
        });
        if due {
            self.store_peer_blob(peer, blob);
        } else {
            self.peer_storage.pending.insert(peer, blob);
        }
    }

    fn store_peer_blob(&mut self, peer: PublicKey, blob: Vec<u8>) {
        let s = Stored {
            blob,
            channel_height: self.best_height(),
            written_at: Some(self.now),
        };
        if self
            .writer
            .write_record(&storage_key(&peer), encode_stored(&s))
            .is_ok()
        {
            self.peer_storage.stored.insert(peer, s);
        }
    }

    /// A `peer_storage_retrieval`: kept if it is our valid backup, newer
    /// than the one kept.
    pub(super) fn on_peer_storage_retrieval(&mut self, _peer: PublicKey, blob: &[u8]) {
        match self.open_peer_blob(blob) {
            Ok(b) => {
                if self
                    .peer_storage
                    .retrieved
                    .as_ref()
                    .is_none_or(|r| b.sequence > r.sequence)
                {
                    self.peer_storage.retrieved = Some(b);
                }
            }
            Err(_) => {
                self.peer_storage.rejected_retrievals =
                    self.peer_storage.rejected_retrievals.saturating_add(1);
            }
        }
    }

    fn open_peer_blob(&self, blob: &[u8]) -> Result<StaticChannelBackup, BackupError> {
        let key = BackupKey::derive(&*self.node_signer, Domain::PeerStorage)?;
        backup::open(
            &key,
            blob,
            &self.node_signer.node_id(),
            &self.config.chain_hash(),
        )
    }

    /// The newest valid backup a peer returned in `peer_storage_retrieval`
    /// on any connection of this run, if any.
    pub fn peer_storage_backup(&self) -> Option<&StaticChannelBackup> {
        self.peer_storage.retrieved.as_ref()
    }

    /// Restores from the newest backup peers returned (see
    /// [`Node::restore_channel_backup`]): for a node whose store and backup
    /// file are both gone. Connect to the peers first; each sends its
    /// `peer_storage_retrieval` right after `init`.
    pub fn restore_from_peer_storage(&mut self) -> Result<Vec<ChannelId>, NodeError> {
        let b = self.peer_storage.retrieved.clone().ok_or_else(|| {
            NodeError::Backup(BackupError::Malformed(
                "no peer returned a valid backup".into(),
            ))
        })?;
        self.restore_channels_from(b)
    }

    /// A connection to `peer` is up (after `init`): its blob goes back
    /// first, and it gets ours again.
    pub(super) fn peer_storage_connected(&mut self, peer: PublicKey) {
        self.peer_storage.sent_to.remove(&peer);
        if let Some(s) = self.peer_storage.stored.get(&peer) {
            let blob = s.blob.clone();
            self.queue_message(
                peer,
                Message::PeerStorageRetrieval(PeerStorageRetrieval {
                    blob,
                    tlvs: Default::default(),
                }),
            );
        }
    }

    /// Called as every step ends ([`Node::finish`]): waiting updates whose
    /// interval passed are written, our blob follows the backup, and goes
    /// to each connected channel peer that offers storage and lacks it.
    pub(super) fn peer_storage_step(&mut self) {
        let now = self.now;
        let due: Vec<PublicKey> = self
            .peer_storage
            .pending
            .keys()
            .filter(|p| {
                self.peer_storage.stored.get(p).is_none_or(|s| {
                    s.written_at
                        .is_none_or(|t| now >= t.saturating_add(PEER_STORAGE_INTERVAL))
                })
            })
            .copied()
            .collect();
        for p in due {
            if let Some(blob) = self.peer_storage.pending.remove(&p) {
                self.store_peer_blob(p, blob);
            }
        }

        let Some(latest) = self.backup.latest.clone() else {
            return;
        };
        if self.peer_storage.ours.as_ref().map(|(_, src)| src) != Some(&latest) {
            // The same channels as `latest`, from memory (not by opening
            // it again: a node with many channels would decode them all
            // to keep the few hundred that fit).
            let b = StaticChannelBackup {
                chain_hash: self.config.chain_hash(),
                node_id: self.node_signer.node_id(),
                sequence: self.backup.sequence,
                channels: self.backup_channels(),
            };
            let Ok(blob) = self.seal_peer_blob(b) else {
                return;
            };
            self.peer_storage.ours = Some((blob, latest));
            self.peer_storage.sent_to.clear();
        }
        let Some((blob, _)) = self.peer_storage.ours.clone() else {
            return;
        };
        // This runs after every step, so its cost must not grow with the
        // connections: a thousand connections without a channel once made
        // each step compare every peer with every channel (a public key
        // comparison serializes both keys). Only the funded counterparties
        // are looked at, each with one lookup of its connection.
        let targets: Vec<PublicKey> = self
            .funded_counterparties()
            .into_iter()
            .filter(|n| {
                !self.peer_storage.sent_to.contains(n)
                    && self
                        .peers
                        .features_of(n)
                        .is_some_and(|f| f.supports(Feature::ProvideStorage))
            })
            .collect();
        for peer in targets {
            self.peer_storage.sent_to.insert(peer);
            self.queue_message(
                peer,
                Message::PeerStorage(PeerStorage {
                    blob: blob.clone(),
                    tlvs: Default::default(),
                }),
            );
        }
    }

    /// Our backup sealed for a peer: padded to exactly
    /// [`MAX_PEER_STORAGE_BLOB`] bytes; channels that do not fit are left
    /// out (about 400 fit).
    fn seal_peer_blob(&self, mut b: StaticChannelBackup) -> Result<Vec<u8>, BackupError> {
        let key = BackupKey::derive(&*self.node_signer, Domain::PeerStorage)?;
        let overhead = backup::crypto::HEADER_LEN + backup::crypto::TAG_LEN;
        let room = MAX_PEER_STORAGE_BLOB - overhead;
        b.truncate_to_fit(room);
        backup::seal(&key, &b, room)
    }

    /// Every block: blobs of peers without a channel for
    /// [`KEEP_AFTER_CLOSE`] blocks are deleted; the others note the height.
    pub(super) fn peer_storage_best_height(&mut self, height: u32) {
        let peers: Vec<PublicKey> = self.peer_storage.stored.keys().copied().collect();
        for p in peers {
            if self.has_funded_channel(&p) {
                if let Some(s) = self.peer_storage.stored.get_mut(&p) {
                    // In memory only: the written height is a lower bound,
                    // which errs towards keeping the blob longer.
                    s.channel_height = height;
                }
            } else if self
                .peer_storage
                .stored
                .get(&p)
                .is_some_and(|s| height > s.channel_height.saturating_add(KEEP_AFTER_CLOSE))
            {
                self.peer_storage.stored.remove(&p);
                self.peer_storage.pending.remove(&p);
                self.writer.remove_after_writes(storage_key(&p));
            }
        }
    }

    /// On restore: the stored blobs.
    pub(super) fn restore_peer_storage(&mut self, store: &dyn KvStore) -> Result<(), NodeError> {
        let keys = store
            .list_prefix(NAMESPACE, PEER_STORAGE_PREFIX)
            .map_err(|e| NodeError::Restore(format!("{PEER_STORAGE_PREFIX}: {e}")))?;
        for key in keys {
            let Some(v) = store
                .read(NAMESPACE, &key)
                .map_err(|e| NodeError::Restore(format!("{key}: {e}")))?
            else {
                continue;
            };
            self.writer.set_version(&key, v.version);
            let Ok(raw) = hex::decode(key.trim_start_matches(PEER_STORAGE_PREFIX)) else {
                continue;
            };
            let Ok(peer) = PublicKey::from_slice(&raw) else {
                continue;
            };
            if v.value.len() < 4 || v.value.len() > 4 + MAX_PEER_STORAGE_BLOB {
                continue;
            }
            let (h, blob) = v.value.split_at(4);
            let mut hb = [0u8; 4];
            hb.copy_from_slice(h);
            self.peer_storage.stored.insert(
                peer,
                Stored {
                    blob: blob.to_vec(),
                    channel_height: u32::from_be_bytes(hb),
                    written_at: None,
                },
            );
        }
        Ok(())
    }
}
