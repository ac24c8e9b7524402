//! The node as a watchtower client, and as a tower (issue 21; the draft
//! BOLT 13 format of `lightning-watchtower`).
//!
//! Client: with [`WatchtowerConfig::towers`] set, every channel reports
//! each commitment the peer revokes
//! ([`ChannelEvent::CounterpartyRevoked`](crate::channel::ChannelEvent::CounterpartyRevoked)).
//! Once that `revoke_and_ack` is written, the node classifies the revoked
//! commitment exactly as it would on chain (BOLT 5, "Revoked Transaction
//! Close Handling"), signs one justice transaction per output it could
//! claim (`to_local`, `to_remote`, every HTLC, each to
//! [`Node::shutdown_script`] at the urgent sweep feerate), seals them
//! under the commitment's txid and queues one update per tower. Updates go
//! out behind the write barrier, in order, and are sent again after a
//! reconnection until acknowledged; a full queue drops the update and
//! counts it (the node's own resolver still guards the channel while it
//! is online). The queue is durable: an update is written (namespace
//! [`WATCHTOWER_NAMESPACE`], `client/<tower id>/...`) in the step that
//! sealed it, and removed in the step that stored the tower's
//! acknowledgement, so a restart sends again what was not acknowledged.
//!
//! Tower: with [`WatchtowerConfig::server`] set, the node answers
//! `wt_create_session` / `wt_state_update` from any peer, bounded by the
//! [`TowerConfig`], checks every confirmed transaction's locator, and
//! broadcasts what a matching blob opens to, every block until it
//! confirms. A tower needs full blocks (`block_connected`): a filtered
//! light-client view cannot match locators. Sessions, updates and the
//! justice not yet confirmed are durable (`tower/...`): an update is
//! acknowledged only once written, and a restarted tower watches for
//! every update it acknowledged before.
//!
//! Record formats: [`lightning_watchtower::record`].

use std::collections::BTreeMap;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Transaction, Txid};
use lightning_chain::{ChainListener, FeeEstimator};
use lightning_persist::KvStore;
use lightning_watchtower::record::{self, Change};
use lightning_watchtower::wire::{TowerMessage, CREATE_SESSION, SESSION_ACK};
use lightning_watchtower::wire::{STATE_UPDATE, STATE_UPDATE_ACK};
use lightning_watchtower::{JusticeKit, Locator, Tower, TowerClient, TowerConfig};
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

use super::persistence::WATCHTOWER_NAMESPACE;
use super::{Node, NodeError};
use crate::channel::update_log::Side;
use crate::onchain::classify::{classify_spend, HtlcCandidate, SpendKind};
use crate::onchain::resolve::{build_claim_transaction, resolve};
use crate::transactions::{CommitmentTransaction, HtlcDirection};

/// Watchtower settings: the towers this node sends justice kits to, and
/// whether it serves as a tower itself.
///
/// ```
/// use lightning_core::node::{NodeConfig, WatchtowerConfig};
/// let mut config = NodeConfig::new(bitcoin::Network::Regtest);
/// assert!(config.watchtower.towers.is_empty() && config.watchtower.server.is_none());
/// config.watchtower.server = Some(Default::default());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchtowerConfig {
    /// The towers' node ids. The host connects to them like to any peer
    /// ([`Node::connect_outbound`]); updates wait in a queue while a tower
    /// is away.
    pub towers: Vec<PublicKey>,
    /// Unacknowledged updates kept per tower (in memory and in the store).
    /// Default 10,000.
    pub max_queue: usize,
    /// Serve as a tower for any peer, within these limits.
    pub server: Option<TowerConfig>,
}

impl Default for WatchtowerConfig {
    fn default() -> Self {
        WatchtowerConfig {
            towers: Vec::new(),
            max_queue: 10_000,
            server: None,
        }
    }
}

/// What the watchtower client and server have done
/// ([`Node::watchtower_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchtowerStats {
    /// Justice kits sealed (one per revoked commitment).
    pub kits_sealed: u64,
    /// Revoked commitments no kit could be made for (nothing claimable
    /// above dust, or the kit did not fit a blob).
    pub kits_skipped: u64,
    /// Updates dropped because a tower's queue was full.
    pub queue_full: u64,
    /// Answers from a tower that were refusals or fit nothing we sent.
    pub tower_errors: u64,
    /// Watchtower records skipped on restore because they did not decode.
    pub damaged_records: u64,
    /// Per tower: (node id, updates queued and not acknowledged, updates
    /// acknowledged since start).
    pub towers: Vec<(PublicKey, usize, u64)>,
    /// The tower's own counters, when this node serves as one.
    pub server: Option<lightning_watchtower::server::TowerStats>,
}

/// The node's watchtower state.
#[derive(Default)]
pub(super) struct Watchtowers {
    clients: BTreeMap<PublicKey, TowerClient>,
    server: Option<Tower>,
    stats: WatchtowerStats,
}

impl core::fmt::Debug for Watchtowers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Watchtowers")
            .field("towers", &self.clients.len())
            .field("server", &self.server.is_some())
            .finish_non_exhaustive()
    }
}

impl Watchtowers {
    pub(super) fn new(
        config: &WatchtowerConfig,
        broadcaster: std::sync::Arc<dyn lightning_chain::Broadcaster + Send + Sync>,
    ) -> Watchtowers {
        Watchtowers {
            clients: config
                .towers
                .iter()
                .map(|t| (*t, TowerClient::restore(config.max_queue, Vec::new())))
                .collect(),
            server: config
                .server
                .clone()
                .map(|c| Tower::restore(c, broadcaster, Vec::new())),
            stats: WatchtowerStats::default(),
        }
    }
}

/// The key prefix of the records of our client for `tower`.
fn client_prefix(tower: &PublicKey) -> String {
    format!("client/{tower}/")
}

const TOWER_PREFIX: &str = "tower/";

/// Whether `ty` is one of the tower protocol's message types.
pub(super) fn is_tower_message(ty: u16) -> bool {
    matches!(
        ty,
        CREATE_SESSION | SESSION_ACK | STATE_UPDATE | STATE_UPDATE_ACK
    )
}

impl Node {
    /// Rebuilds the clients and the tower from the store (on restore).
    /// Records of a tower no longer configured are left in place.
    pub(super) fn restore_watchtowers(&mut self, store: &dyn KvStore) -> Result<(), NodeError> {
        let mut load = |prefix: &str| -> Result<Vec<(String, Vec<u8>)>, NodeError> {
            let keys = store
                .list_prefix(WATCHTOWER_NAMESPACE, prefix)
                .map_err(|e| NodeError::Restore(format!("{WATCHTOWER_NAMESPACE}/{prefix}: {e}")))?;
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let Some(v) = store.read(WATCHTOWER_NAMESPACE, &key).map_err(|e| {
                    NodeError::Restore(format!("{WATCHTOWER_NAMESPACE}/{key}: {e}"))
                })?
                else {
                    continue;
                };
                let rel = key[prefix.len()..].to_string();
                if record::is_rewritten(&rel) {
                    self.writer
                        .set_version_in(WATCHTOWER_NAMESPACE, &key, v.version);
                }
                out.push((rel, v.value));
            }
            Ok(out)
        };
        let towers: Vec<PublicKey> = self.watchtowers.clients.keys().copied().collect();
        let mut restored = Vec::new();
        for t in towers {
            let records = load(&client_prefix(&t))?;
            restored.push((t, records));
        }
        let tower_records = match self.watchtowers.server.is_some() {
            true => Some(load(TOWER_PREFIX)?),
            false => None,
        };
        for (t, records) in restored {
            let c = TowerClient::restore(self.config.watchtower.max_queue, records);
            self.watchtowers.stats.damaged_records += c.damaged_records;
            self.watchtowers.clients.insert(t, c);
        }
        if let (Some(records), Some(config)) =
            (tower_records, self.config.watchtower.server.clone())
        {
            let tower = Tower::restore(config, self.host.broadcaster.clone(), records);
            self.watchtowers.stats.damaged_records += tower.stats().damaged_records;
            self.watchtowers.server = Some(tower);
        }
        Ok(())
    }

    /// Writes what the clients and the tower changed into this step's
    /// batch: the messages they queued wait for it (persist before send).
    fn persist_watchtower_changes(&mut self) {
        let mut all: Vec<(String, Change)> = Vec::new();
        for (t, c) in &mut self.watchtowers.clients {
            let prefix = client_prefix(t);
            all.extend(c.take_changes().into_iter().map(|ch| (prefix.clone(), ch)));
        }
        if let Some(server) = &mut self.watchtowers.server {
            all.extend(
                server
                    .take_changes()
                    .into_iter()
                    .map(|ch| (TOWER_PREFIX.to_string(), ch)),
            );
        }
        for (prefix, change) in all {
            let key = format!("{prefix}{}", change.key());
            // A refused write (the store failed earlier) stops everything
            // that depends on it already: nothing leaves any more.
            let _ = match change {
                Change::Insert { value, .. } => {
                    self.writer.write_in(WATCHTOWER_NAMESPACE, &key, 1, value)
                }
                Change::Put { value, .. } => {
                    self.writer
                        .write_record_in(WATCHTOWER_NAMESPACE, &key, value)
                }
                Change::Remove { .. } => {
                    self.writer.remove_in(WATCHTOWER_NAMESPACE, &key);
                    Ok(())
                }
                _ => Ok(()),
            };
        }
    }

    /// The watchtower client's and server's counters.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lightning_chain::{FeeRate, FixedFeeEstimator};
    /// use lightning_core::node::{NodeBuilder, NodeConfig, NodeHost};
    ///
    /// #[derive(Debug)]
    /// struct NoBroadcast;
    /// impl lightning_chain::Broadcaster for NoBroadcast {
    ///     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    /// }
    /// let mut config = NodeConfig::new(bitcoin::Network::Regtest);
    /// config.watchtower.server = Some(Default::default());
    /// let node = NodeBuilder::from_config(config)
    ///     .seed(&[1; 32])
    ///     .store(Arc::new(lightning_persist::MemoryStore::new()))
    ///     .host(NodeHost {
    ///         broadcaster: Arc::new(NoBroadcast),
    ///         fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(253))),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let stats = node.watchtower_stats();
    /// assert_eq!(stats.kits_sealed, 0);
    /// assert_eq!(stats.server.map(|s| s.updates), Some(0));
    /// ```
    pub fn watchtower_stats(&self) -> WatchtowerStats {
        let w = &self.watchtowers;
        let mut s = w.stats.clone();
        s.towers = w
            .clients
            .iter()
            .map(|(id, c)| (*id, c.pending(), c.acknowledged))
            .collect();
        s.server = w.server.as_ref().map(Tower::stats);
        s
    }

    fn send_tower_messages(&mut self, to: PublicKey, messages: Vec<TowerMessage>) {
        for m in messages {
            let bytes = m.encode();
            if bytes.len() < 2 {
                continue;
            }
            let message = Message::Unknown {
                r#type: u16::from_be_bytes([bytes[0], bytes[1]]),
                payload: bytes[2..].to_vec(),
            };
            self.queue_message(to, message);
        }
    }

    /// A peer connected: a tower of ours gets what waits for it.
    pub(super) fn watchtower_connected(&mut self, node_id: PublicKey) {
        let Some(c) = self.watchtowers.clients.get_mut(&node_id) else {
            return;
        };
        let out = c.connected();
        self.persist_watchtower_changes();
        self.send_tower_messages(node_id, out);
    }

    pub(super) fn watchtower_disconnected(&mut self, node_id: PublicKey) {
        if let Some(c) = self.watchtowers.clients.get_mut(&node_id) {
            c.disconnected();
        }
    }

    /// A tower protocol message from `node_id`: an answer from one of our
    /// towers, or a request to the tower we run. Anything else (or a
    /// message that does not decode) is ignored, as BOLT 1 has odd
    /// unknown messages ignored.
    pub(super) fn on_tower_message(&mut self, node_id: PublicKey, ty: u16, payload: &[u8]) {
        let mut data = ty.to_be_bytes().to_vec();
        data.extend_from_slice(payload);
        let Ok(msg) = TowerMessage::decode(&data) else {
            self.watchtowers.stats.tower_errors += 1;
            return;
        };
        let is_answer = matches!(
            msg,
            TowerMessage::SessionAck { .. } | TowerMessage::StateUpdateAck { .. }
        );
        if is_answer {
            let Some(c) = self.watchtowers.clients.get_mut(&node_id) else {
                return;
            };
            let handled = c.handle(&msg);
            self.persist_watchtower_changes();
            match handled {
                Ok(out) => self.send_tower_messages(node_id, out),
                Err(_) => self.watchtowers.stats.tower_errors += 1,
            }
            return;
        }
        let Some(server) = &mut self.watchtowers.server else {
            return;
        };
        let answer = server.handle_message(node_id, &msg);
        self.persist_watchtower_changes();
        if let Ok(answer) = answer {
            self.send_tower_messages(node_id, vec![answer]);
        }
    }

    /// The peer revoked `commitment` of channel `id` (its secret is
    /// stored): seal a justice kit for it and queue it for every tower.
    pub(super) fn watchtower_revoked(&mut self, id: ChannelId, commitment: &CommitmentTransaction) {
        if self.watchtowers.clients.is_empty() {
            return;
        }
        let Some(blob) = self.justice_blob(id, commitment) else {
            self.watchtowers.stats.kits_skipped += 1;
            return;
        };
        self.watchtowers.stats.kits_sealed += 1;
        let locator = Locator::of(&commitment.txid());
        let towers: Vec<PublicKey> = self.watchtowers.clients.keys().copied().collect();
        for t in towers {
            let Some(c) = self.watchtowers.clients.get_mut(&t) else {
                continue;
            };
            let queued = c.queue_update(locator, blob.clone());
            self.persist_watchtower_changes();
            match queued {
                Ok(out) => self.send_tower_messages(t, out),
                Err(_) => self.watchtowers.stats.queue_full += 1,
            }
        }
    }

    /// The sealed justice kit for the revoked `commitment` of channel
    /// `id`: what our own resolver would sign if it confirmed now.
    fn justice_blob(&self, id: ChannelId, commitment: &CommitmentTransaction) -> Option<Vec<u8>> {
        let entry = self.channels.get(&id)?;
        let st = entry.channel.state();
        let signer = entry.channel.signer();
        // The peer's commitment: its offered HTLCs are the peer's.
        let history: Vec<HtlcCandidate> = commitment
            .htlcs
            .iter()
            .map(|h| HtlcCandidate {
                offerer: match h.htlc.direction {
                    HtlcDirection::Offered => Side::Remote,
                    HtlcDirection::Received => Side::Local,
                },
                amount_msat: h.htlc.amount.0,
                payment_hash: h.htlc.payment_hash,
                cltv_expiry: h.htlc.cltv_expiry,
            })
            .collect();
        let kind = classify_spend(st, signer, &commitment.tx, &history).ok()?;
        if !matches!(kind, SpendKind::CounterpartyRevoked(_)) {
            return None;
        }
        let resolution = resolve(&kind, st, &|_| None).ok()?;
        let dest = self.shutdown_script();
        // The urgent sweep feerate, as the node's own justice uses (read
        // here: this module sits below the fee helpers in the layering).
        let feerate = crate::amount::FeeratePerKw(
            lightning_chain::BoundedFeeEstimator::new(&*self.host.fee_estimator)
                .fee_rate(lightning_chain::ConfirmationTarget::UrgentOnChainSweep)
                .sat_per_kw(),
        );
        // One transaction per output (one already spent by a second-stage
        // transaction leaves the others valid), grouped when there are
        // more outputs than a kit holds.
        let per_tx = resolution
            .claims
            .len()
            .div_ceil(lightning_watchtower::blob::MAX_KIT_TXS)
            .max(1);
        let transactions: Vec<Transaction> = resolution
            .claims
            .chunks(per_tx)
            .filter_map(|claims| {
                build_claim_transaction(signer, claims, dest.clone(), feerate).ok()
            })
            .collect();
        if transactions.is_empty() {
            return None;
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&self.entropy.random_bytes()[..12]);
        JusticeKit { transactions }
            .seal(&commitment.txid(), nonce)
            .ok()
    }

    /// A block's transactions (with the txids the node computed once),
    /// for the tower we run.
    pub(super) fn watchtower_transactions_confirmed(
        &mut self,
        txdata: &[(usize, &Transaction)],
        txids: &[Txid],
    ) {
        let Some(server) = &mut self.watchtowers.server else {
            return;
        };
        // Justice that confirmed is not broadcast again.
        for txid in txids {
            server.forget_justice(txid);
        }
        let txs: Vec<(&Transaction, Txid)> = txdata
            .iter()
            .map(|(_, t)| *t)
            .zip(txids.iter().copied())
            .collect();
        server.check_confirmed(&txs);
        self.persist_watchtower_changes();
    }

    /// A new tip: the tower we run broadcasts its pending justice again.
    pub(super) fn watchtower_best_block(&mut self, header: &bitcoin::block::Header, height: u32) {
        if let Some(server) = &mut self.watchtowers.server {
            server.best_block_updated(header, height);
        }
    }
}
