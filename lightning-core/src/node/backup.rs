//! Static channel backups in the node (issue 21; the format is
//! [`crate::backup`]): keeping `backup/latest` up to date as channels open
//! and close, export and verify, and restoring from a backup into
//! recovery-only channels that never sign or broadcast a commitment.
//!
//! A recovered channel, on each connection to its peer, sends
//! `channel_reestablish` with `next_commitment_number` 0 and
//! `next_revocation_number` 0 (BOLT 2, "Message Retransmission": the
//! receiver "MUST immediately fail the channel and broadcast any relevant
//! latest commitment transaction"), then an `error` for the channel (for
//! peers of older spec versions: BOLT 1, an `error` fails the channel).
//! When the funding output is spent, our `to_remote` output of that
//! transaction is swept to the wallet; the sweep is broadcast again every
//! block until it confirms, and `FundsSwept` is raised 6 blocks deep.

use std::collections::BTreeMap;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, Transaction};
use lightning_chain::{BoundedFeeEstimator, ConfirmationTarget, FeeEstimator};
use lightning_persist::KvStore;
use lightning_wire::msgs::{ChannelReestablish, Message};
use lightning_wire::types::ChannelId;

use super::{Event, Node, NodeError, NAMESPACE};
use crate::amount::FeeratePerKw;
use crate::backup::{
    self, recovery, BackupError, BackupKey, ChannelBackup, Domain, RecoveryRecord,
    StaticChannelBackup,
};
use crate::channel::Phase;

/// The node's latest backup, in its store.
pub const BACKUP_KEY: &str = "backup/latest";
/// Recovered channels: `recovery/<channel id hex>`.
pub const RECOVERY_PREFIX: &str = "recovery/";
/// A recovered channel's sweep is the wallet's at this depth.
const SWEPT_DEPTH: u32 = 6;

/// The backup bookkeeping a node keeps.
#[derive(Debug, Default)]
pub(crate) struct BackupState {
    /// The channels of the last backup written (`None`: none yet).
    written: Option<Vec<ChannelId>>,
    /// The last backup's sequence.
    pub(super) sequence: u64,
    /// The last backup, sealed.
    pub(crate) latest: Option<Vec<u8>>,
    /// Peer addresses the host told us (`set_peer_addresses`).
    addresses: BTreeMap<PublicKey, Vec<String>>,
    addresses_changed: bool,
    /// Whether nothing that decides the backup's channels changed since
    /// `written` was last compared (cleared by `Node::backup_ids_changed`:
    /// any channel transition that wrote or sent something, a channel
    /// added or forgotten, a funding spend seen or undone, a recovered
    /// channel's change, and every 144th block as a backstop), so that a
    /// step without any skips the walk over every channel.
    pub(super) ids_clean: bool,
    /// Channels restored from a backup.
    pub(crate) recovered: BTreeMap<ChannelId, RecoveryRecord>,
    /// The newest backup sequence restored from.
    restored_sequence: Option<u64>,
}

/// A channel restored from a backup, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecoveredChannel {
    /// The channel.
    pub channel_id: ChannelId,
    /// The peer to connect to.
    pub peer: PublicKey,
    /// Where the peer was reached (from the backup).
    pub peer_addresses: Vec<String>,
    /// The funding outpoint.
    pub funding_outpoint: bitcoin::OutPoint,
    /// The funding output was spent (the peer closed).
    pub funding_spent: bool,
    /// Our sweep of `to_remote` (its output value), once built.
    pub sweep_sat: Option<Amount>,
    /// The sweep is `SWEPT_DEPTH` deep: nothing is left to do.
    pub resolved: bool,
}

impl Node {
    fn backup_key(&self, domain: Domain) -> Result<BackupKey, BackupError> {
        BackupKey::derive(&*self.node_signer, domain)
    }

    /// What recovery needs of channel `id`: funded (its funding
    /// transaction may be out), not closed cooperatively, and not failed
    /// with its funding spend already seen.
    fn channel_backup_of(&self, id: &ChannelId) -> Option<ChannelBackup> {
        if !self.live_channel_backed_up(id) {
            return None;
        }
        let e = self.channels.get(id)?;
        let st = e.channel.state();
        let funding_outpoint = st.funding_outpoint?;
        Some(ChannelBackup {
            channel_id: st.channel_id,
            peer: e.counterparty,
            peer_addresses: self
                .backup
                .addresses
                .get(&e.counterparty)
                .cloned()
                .unwrap_or_default(),
            funding_outpoint,
            funding_sat: st.funding_satoshis,
            channel_type: st.channel_type,
            keys_index: st.keys_index,
            is_funder: st.is_funder,
            // `to_self_delay` is what each side imposes on the other.
            our_to_self_delay: st.remote_params.to_self_delay,
            their_to_self_delay: st.local_params.to_self_delay,
            funding_height: st.funding_height,
        })
    }

    /// Whether live channel `id` is in the backup: funded, our
    /// commitment signed, and not closed (nor failed with its funding
    /// spent).
    fn live_channel_backed_up(&self, id: &ChannelId) -> bool {
        self.channels
            .get(id)
            .is_some_and(|e| self.entry_backed_up(id, e))
    }

    /// [`Node::live_channel_backed_up`] with the entry at hand.
    fn entry_backed_up(&self, id: &ChannelId, e: &super::ChannelEntry) -> bool {
        let st = e.channel.state();
        if st.funding_outpoint.is_none() || st.holder_sigs.is_none() {
            return false;
        }
        match st.phase {
            Phase::Closed => false,
            Phase::Failed => self.onchain.get(id).is_none_or(|r| r.spend.is_none()),
            _ => true,
        }
    }

    /// The ids of [`Node::backup_channels`], in its order, without building
    /// the backups (every step checks them).
    fn backup_channel_ids(&self) -> impl Iterator<Item = &ChannelId> + '_ {
        let live = self
            .channels
            .iter()
            .filter(|(id, e)| self.entry_backed_up(id, e))
            .map(|(id, _)| id);
        let recovered = self
            .backup
            .recovered
            .values()
            .filter(|r| {
                r.sweep_height.is_none() && !self.live_channel_backed_up(&r.channel.channel_id)
            })
            .map(|r| &r.channel.channel_id);
        live.chain(recovered)
    }

    /// Every channel recovery needs: live ones, and recovered ones not yet
    /// resolved (so a node that loses its store again mid-recovery still
    /// has them).
    pub(super) fn backup_channels(&self) -> Vec<ChannelBackup> {
        let mut out: Vec<ChannelBackup> = self
            .channels
            .keys()
            .filter_map(|id| self.channel_backup_of(id))
            .collect();
        for r in self.backup.recovered.values() {
            if r.sweep_height.is_none() && !self.live_channel_backed_up(&r.channel.channel_id) {
                out.push(r.channel.clone());
            }
        }
        out
    }

    fn sealed_backup(
        &self,
        channels: Vec<ChannelBackup>,
        sequence: u64,
    ) -> Result<Vec<u8>, NodeError> {
        let b = StaticChannelBackup {
            chain_hash: self.config.chain_hash(),
            node_id: self.node_signer.node_id(),
            sequence,
            channels,
        };
        let key = self.backup_key(Domain::ChannelBackup)?;
        Ok(backup::seal(&key, &b, 0)?)
    }

    /// The encrypted backup of one channel (ARCHITECTURE.md, "Backups and
    /// watchtowers"), for a host that stores channels separately.
    pub fn export_channel_backup(&self, channel_id: ChannelId) -> Result<Vec<u8>, NodeError> {
        let c = self
            .channel_backup_of(&channel_id)
            .or_else(|| {
                self.backup
                    .recovered
                    .get(&channel_id)
                    .map(|r| r.channel.clone())
            })
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        self.sealed_backup(vec![c], self.backup.sequence)
    }

    /// The encrypted backup of every channel: the bytes of `backup/latest`
    /// and of the last [`Event::ChannelBackupUpdated`], or a fresh one when
    /// none was written yet.
    pub fn export_all_channel_backups(&self) -> Result<Vec<u8>, NodeError> {
        match &self.backup.latest {
            Some(b) => Ok(b.clone()),
            None => self.sealed_backup(self.backup_channels(), self.backup.sequence),
        }
    }

    /// Decrypts a backup and checks it is this node's (same seed: same
    /// key and node id) on this chain. Every failure is a typed
    /// [`BackupError`]: truncated, not a backup, an unknown version,
    /// corrupted or another seed's (`Decrypt`), malformed content.
    pub fn verify_channel_backup(&self, data: &[u8]) -> Result<StaticChannelBackup, BackupError> {
        let key = self.backup_key(Domain::ChannelBackup)?;
        backup::open(
            &key,
            data,
            &self.node_signer.node_id(),
            &self.config.chain_hash(),
        )
    }

    /// Tells the node where `peer` can be reached (`host:port` strings,
    /// at most 8): they go into the backups, so a restored node knows
    /// where to connect.
    pub fn set_peer_addresses(&mut self, peer: PublicKey, addresses: Vec<String>) {
        let addresses: Vec<String> = addresses
            .into_iter()
            .filter(|a| a.len() <= backup::format::MAX_ADDRESS_LEN)
            .take(backup::format::MAX_ADDRESSES)
            .collect();
        if self.backup.addresses.get(&peer) != Some(&addresses) {
            self.backup.addresses.insert(peer, addresses);
            self.backup.addresses_changed = true;
            let _ = self.finish();
        }
    }

    /// The addresses the node keeps for `peer`
    /// ([`Node::set_peer_addresses`], kept in the store with the backup
    /// while a channel with the peer is in it): where a host dials its
    /// channel peers again after a restart.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use lightning_core::node::{Node, NodeHost};
    /// # #[derive(Debug)] struct NoBroadcast;
    /// # impl lightning_chain::Broadcaster for NoBroadcast {
    /// #     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    /// # }
    /// # let mut node = Node::builder(bitcoin::Network::Regtest)
    /// #     .seed(&[1; 32])
    /// #     .store(Arc::new(lightning_persist::MemoryStore::new()))
    /// #     .host(NodeHost {
    /// #         broadcaster: Arc::new(NoBroadcast),
    /// #         fee_estimator: Arc::new(lightning_chain::FixedFeeEstimator::new(
    /// #             lightning_chain::FeeRate::from_sat_per_kw(253))),
    /// #     })
    /// #     .build()
    /// #     .unwrap();
    /// let peer = bitcoin::secp256k1::PublicKey::from_secret_key(
    ///     bitcoin::secp256k1::SECP256K1,
    ///     &bitcoin::secp256k1::SecretKey::from_slice(&[2; 32]).unwrap(),
    /// );
    /// node.set_peer_addresses(peer, vec!["10.0.0.2:9735".into()]);
    /// assert_eq!(node.peer_addresses(&peer), vec!["10.0.0.2:9735".to_string()]);
    /// ```
    pub fn peer_addresses(&self, peer: &PublicKey) -> Vec<String> {
        self.backup.addresses.get(peer).cloned().unwrap_or_default()
    }

    /// Called as every step ends ([`Node::finish`]): when the set of
    /// channels recovery needs changed (a channel funded, closed or
    /// recovered), writes the new backup in this step's batch and raises
    /// [`Event::ChannelBackupUpdated`].
    pub(super) fn refresh_channel_backup(&mut self) {
        if self.backup.ids_clean && !self.backup.addresses_changed {
            return;
        }
        // Compared by id first, without building a backup per channel:
        // this runs at the end of every step that changed something.
        let changed = match &self.backup.written {
            Some(w) => !w.iter().eq(self.backup_channel_ids()),
            None => self.backup_channel_ids().next().is_some(),
        };
        if !changed && !self.backup.addresses_changed {
            self.backup.ids_clean = true;
            return;
        }
        let channels = self.backup_channels();
        let ids: Vec<ChannelId> = channels.iter().map(|c| c.channel_id).collect();
        let now = self.now.as_secs();
        let sequence = self.backup.sequence.saturating_add(1).max(now);
        let n = channels.len();
        let Ok(sealed) = self.sealed_backup(channels, sequence) else {
            // The signer refused: try again at the next step.
            return;
        };
        if self
            .writer
            .write_record(BACKUP_KEY, sealed.clone())
            .is_err()
        {
            return;
        }
        self.backup.sequence = sequence;
        self.backup.written = Some(ids);
        self.backup.ids_clean = true;
        self.backup.addresses_changed = false;
        self.backup.latest = Some(sealed.clone());
        self.push_event(
            Event::ChannelBackupUpdated {
                backup: sealed,
                channels: n,
            },
            None,
        );
    }

    /// Restores from a backup (ARCHITECTURE.md, "Backups and watchtowers"):
    /// each channel that is not live in this node becomes a recovered
    /// channel, which never signs or broadcasts a commitment. It asks the
    /// peer to close when connected, and sweeps our `to_remote` when the
    /// peer's commitment confirms. Returns the channels recovered.
    ///
    /// The host then connects to each [`Node::recovered_channels`] peer,
    /// and feeds blocks from before the channels' funding (a rescan), so a
    /// close that already happened is seen. A backup older than one already
    /// restored is refused (`BackupError::Older`).
    pub fn restore_channel_backup(&mut self, data: &[u8]) -> Result<Vec<ChannelId>, NodeError> {
        let b = self.verify_channel_backup(data)?;
        self.restore_channels_from(b)
    }

    /// Restores the channels of an opened backup (from a file or a peer's
    /// storage).
    pub(super) fn restore_channels_from(
        &mut self,
        b: StaticChannelBackup,
    ) -> Result<Vec<ChannelId>, NodeError> {
        if let Some(have) = self.backup.restored_sequence {
            if b.sequence < have {
                return Err(BackupError::Older {
                    have,
                    got: b.sequence,
                }
                .into());
            }
        }
        let mut added = Vec::new();
        for c in b.channels {
            let id = c.channel_id;
            if self.channels.contains_key(&id) || self.backup.recovered.contains_key(&id) {
                continue;
            }
            self.keys_indexes.seen(c.keys_index);
            if !c.peer_addresses.is_empty() {
                self.backup
                    .addresses
                    .entry(c.peer)
                    .or_insert_with(|| c.peer_addresses.clone());
            }
            let record = RecoveryRecord::new(c, b.sequence);
            self.writer
                .write_record(&recovery_key(&id), record.encode())?;
            self.backup.ids_clean = false;
            self.backup.recovered.insert(id, record);
            added.push(id);
        }
        self.backup.restored_sequence = Some(b.sequence);
        self.backup.sequence = self.backup.sequence.max(b.sequence);
        // Peers already connected are asked at once.
        let peers: Vec<PublicKey> = added
            .iter()
            .filter_map(|id| self.backup.recovered.get(id).map(|r| r.channel.peer))
            .collect();
        for peer in peers {
            if self.peers.peer_for_node(&peer).is_some() {
                self.recovery_peer_connected(peer);
            }
        }
        self.finish()?;
        Ok(added)
    }

    /// The channels restored from a backup, and where each stands.
    pub fn recovered_channels(&self) -> Vec<RecoveredChannel> {
        self.backup
            .recovered
            .values()
            .map(|r| RecoveredChannel {
                channel_id: r.channel.channel_id,
                peer: r.channel.peer,
                peer_addresses: r.channel.peer_addresses.clone(),
                funding_outpoint: r.channel.funding_outpoint,
                funding_spent: r.funding_spend.is_some(),
                sweep_sat: r
                    .sweep
                    .as_ref()
                    .and_then(|t| t.output.first())
                    .map(|o| o.value),
                resolved: r.reported,
            })
            .collect()
    }

    /// A connection to `node_id` is up: each of its recovered channels not
    /// yet closed asks it to close.
    pub(super) fn recovery_peer_connected(&mut self, node_id: PublicKey) {
        let ids: Vec<ChannelId> = self
            .backup
            .recovered
            .values()
            .filter(|r| r.channel.peer == node_id && r.funding_spend.is_none())
            .map(|r| r.channel.channel_id)
            .collect();
        for id in ids {
            let Some(r) = self.backup.recovered.get(&id) else {
                continue;
            };
            // Any valid point (BOLT 2 "MUST set ... to a valid point"): our
            // first one, else our node id.
            let point = self
                .channel_signers
                .channel_signer(r.channel.keys_index)
                .ok()
                .and_then(|s| s.holder_per_commitment_point(0).ok())
                .unwrap_or_else(|| self.node_signer.node_id());
            self.queue_message(
                node_id,
                Message::ChannelReestablish(ChannelReestablish {
                    channel_id: id,
                    next_commitment_number: 0,
                    next_revocation_number: 0,
                    your_last_per_commitment_secret: [0; 32],
                    my_current_per_commitment_point: point,
                    tlvs: Default::default(),
                }),
            );
            self.queue_message(
                node_id,
                Message::Error(lightning_wire::msgs::Error {
                    channel_id: id,
                    data: b"we lost our channel state: please close the channel".to_vec(),
                    tlvs: Default::default(),
                }),
            );
        }
    }

    /// Whether `message` from `node_id` names one of its recovered
    /// channels: such messages are dropped (the channel cannot take part
    /// in anything).
    pub(super) fn recovery_message(&self, node_id: PublicKey, channel_id: ChannelId) -> bool {
        self.backup
            .recovered
            .get(&channel_id)
            .is_some_and(|r| r.channel.peer == node_id)
    }

    fn write_recovery(&mut self, id: ChannelId) {
        if let Some(r) = self.backup.recovered.get(&id) {
            let bytes = r.encode();
            // A failed write shows in `persist_failure`.
            let _ = self.writer.write_record(&recovery_key(&id), bytes);
        }
    }

    /// Confirmed transactions: a spend of a recovered channel's funding
    /// output is answered with our `to_remote` sweep; our sweep confirming
    /// is noted.
    pub(super) fn recovery_transactions_confirmed(
        &mut self,
        txdata: &[(usize, &Transaction)],
        txids: &[bitcoin::Txid],
        height: u32,
    ) {
        if self.backup.recovered.is_empty() {
            return;
        }
        for ((_, tx), &txid) in txdata.iter().zip(txids) {
            let spent: Vec<ChannelId> = self
                .backup
                .recovered
                .values()
                .filter(|r| {
                    tx.input
                        .iter()
                        .any(|i| i.previous_output == r.channel.funding_outpoint)
                })
                .map(|r| r.channel.channel_id)
                .collect();
            for id in spent {
                self.recovered_funding_spent(id, tx, height);
            }
            let ours: Vec<ChannelId> = self
                .backup
                .recovered
                .values()
                .filter(|r| r.sweep.as_ref().is_some_and(|s| s.compute_txid() == txid))
                .map(|r| r.channel.channel_id)
                .collect();
            for id in ours {
                self.backup.ids_clean = false;
                if let Some(r) = self.backup.recovered.get_mut(&id) {
                    r.sweep_height = Some(height);
                    let amount = Amount::from_sat(r.swept_value);
                    self.write_recovery(id);
                    self.push_event(
                        Event::ClaimConfirmed {
                            channel_id: id,
                            txid,
                            amount_sat: amount,
                        },
                        None,
                    );
                }
            }
        }
    }

    fn recovered_funding_spent(&mut self, id: ChannelId, tx: &Transaction, height: u32) {
        let txid = tx.compute_txid();
        let Some(r) = self.backup.recovered.get(&id) else {
            return;
        };
        if r.funding_spend.is_some_and(|(t, _)| t == txid) {
            self.backup.ids_clean = false;
            if let Some(r) = self.backup.recovered.get_mut(&id) {
                r.funding_spend = Some((txid, height));
            }
            self.write_recovery(id);
            return;
        }
        let channel = r.channel.clone();
        let feerate = FeeratePerKw(
            BoundedFeeEstimator::new(&*self.host.fee_estimator)
                .fee_rate(ConfirmationTarget::UrgentOnChainSweep)
                .sat_per_kw(),
        );
        let destination = self
            .config
            .shutdown_script
            .clone()
            .unwrap_or_else(|| self.default_shutdown_script.clone());
        let (sweep, value, kind) = match self.channel_signers.channel_signer(channel.keys_index) {
            Err(_) => (None, 0, "recovered channel: the signer refused"),
            Ok(signer) => match recovery::find_to_remote(tx, &channel, &*signer) {
                None => (None, 0, "recovered channel: nothing paid to us"),
                Some(out) => {
                    let value = out.value.to_sat();
                    match recovery::sign_sweep(&out, &*signer, destination, feerate) {
                        Ok(t) => (Some(t), value, "recovered channel: the peer's commitment"),
                        Err(_) => (None, value, "recovered channel: to_remote is dust"),
                    }
                }
            },
        };
        self.backup.ids_clean = false;
        if let Some(r) = self.backup.recovered.get_mut(&id) {
            r.funding_spend = Some((txid, height));
            r.sweep = sweep.clone();
            r.swept_value = value;
            r.sweep_height = None;
            r.reported = sweep.is_none();
        }
        self.write_recovery(id);
        self.push_event(
            Event::FundingSpent {
                channel_id: id,
                txid,
                recognised: true,
                kind: kind.into(),
            },
            None,
        );
        if let Some(t) = sweep {
            self.queue_broadcast(t);
        }
    }

    /// A new best height: confirmations above it are undone (a reorg);
    /// unconfirmed sweeps go out again (`rebroadcast`: not during a block
    /// disconnection); sweeps `SWEPT_DEPTH` deep raise `FundsSwept`.
    pub(super) fn recovery_best_height(&mut self, height: u32, rebroadcast: bool) {
        let ids: Vec<ChannelId> = self.backup.recovered.keys().copied().collect();
        for id in ids {
            self.backup.ids_clean = false;
            let Some(r) = self.backup.recovered.get_mut(&id) else {
                continue;
            };
            let mut dirty = false;
            if r.sweep_height.is_some_and(|h| h > height) {
                r.sweep_height = None;
                dirty = true;
            }
            if let Some((t, h)) = r.funding_spend {
                if h != u32::MAX && h > height {
                    // Reorganised out: the spend's height is unknown until
                    // it confirms again (the sweep is kept: it spends the
                    // same output if the same transaction comes back).
                    r.funding_spend = Some((t, u32::MAX));
                    dirty = true;
                }
            }
            let mut broadcast = None;
            let mut swept = None;
            match (&r.sweep, r.sweep_height) {
                (Some(tx), None) if rebroadcast => broadcast = Some(tx.clone()),
                (Some(tx), Some(h))
                    if !r.reported && height.saturating_add(1).saturating_sub(h) >= SWEPT_DEPTH =>
                {
                    r.reported = true;
                    dirty = true;
                    let value = tx.output.first().map(|o| o.value).unwrap_or(Amount::ZERO);
                    swept = Some((tx.compute_txid(), value));
                }
                _ => {}
            }
            if dirty {
                self.write_recovery(id);
            }
            if let Some(tx) = broadcast {
                self.queue_broadcast(tx);
            }
            if let Some((txid, amount_sat)) = swept {
                self.push_event(
                    Event::FundsSwept {
                        channel_id: id,
                        txid,
                        amount_sat,
                    },
                    None,
                );
            }
        }
    }

    /// On restore: the last backup written (its sequence, channels and peer
    /// addresses) and the recovered channels.
    pub(super) fn restore_backup_state(&mut self, store: &dyn KvStore) -> Result<(), NodeError> {
        let read = |key: &str| {
            store
                .read(NAMESPACE, key)
                .map_err(|e| NodeError::Restore(format!("{key}: {e}")))
        };
        if let Some(v) = read(BACKUP_KEY)? {
            self.writer.set_version(BACKUP_KEY, v.version);
            // A backup we cannot open is written again at the next change.
            if let Ok(b) = self.verify_channel_backup(&v.value) {
                self.backup.sequence = b.sequence;
                self.backup.written = Some(b.channels.iter().map(|c| c.channel_id).collect());
                for c in &b.channels {
                    if !c.peer_addresses.is_empty() {
                        self.backup
                            .addresses
                            .insert(c.peer, c.peer_addresses.clone());
                    }
                }
                self.backup.latest = Some(v.value);
            }
        }
        let keys = store
            .list_prefix(NAMESPACE, RECOVERY_PREFIX)
            .map_err(|e| NodeError::Restore(format!("{RECOVERY_PREFIX}: {e}")))?;
        for key in keys {
            let Some(v) = read(&key)? else { continue };
            self.writer.set_version(&key, v.version);
            // A damaged record loses that channel's recovery only.
            if let Ok(r) = RecoveryRecord::decode(&v.value) {
                self.keys_indexes.seen(r.channel.keys_index);
                self.backup.restored_sequence = Some(
                    self.backup
                        .restored_sequence
                        .map_or(r.sequence, |s| s.max(r.sequence)),
                );
                self.backup.ids_clean = false;
                self.backup.recovered.insert(r.channel.channel_id, r);
            }
        }
        Ok(())
    }
}

fn recovery_key(id: &ChannelId) -> String {
    format!("{RECOVERY_PREFIX}{}", hex::encode(id.0))
}
