//! Building a node over what its store already holds (the checks and the
//! keys come from [`NodeBuilder`](super::NodeBuilder)).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_chain::{BestBlock, ConfirmationTracker};
use lightning_persist::KvStore;
use lightning_wire::types::ChannelId;

use super::channels::is_unfunded;
use super::graph;
use super::identity;
use super::inbound::KeysIndexes;
use super::outbox::Outbox;
use super::persistence::Writer;
use super::records::{self, InvoiceRecord, PaymentRecord};
use super::{
    delivery, events, invoices, AcceptAll, ChannelEntry, Node, NodeConfig, NodeError, NodeHost,
    NodeKeys, Persistence, NAMESPACE,
};
use crate::channel::{Channel, Phase};
use crate::keys::NodeStaticKey;
use crate::peer::{PeerConfig, PeerManager};

/// Shared secrets of received HTLCs the node remembers (about 120 bytes
/// each): in memory, not persisted. At the final hop a replay makes the
/// replaying peer pay again, and a replayed forward pays us our fee again
/// (the replaying peer pays the whole amount); after a restart a
/// replay of a paid invoice's HTLC still has to pass every check of a new
/// payment ([`Node`]'s `check_receive`), and persisting each secret would
/// cost a durable write per received HTLC.
const REPLAY_CACHE_CAPACITY: usize = 65_536;

impl Node {
    pub(super) fn empty(
        keys: NodeKeys,
        config: NodeConfig,
        persistence: Persistence,
        host: NodeHost,
        best_block: BestBlock,
    ) -> Node {
        let mut config = config;
        if !config.network_graph.enabled {
            config
                .features
                .clear(lightning_wire::features::Feature::GossipQueries);
            config
                .features
                .clear(lightning_wire::features::Feature::GossipQueriesEx);
        }
        let public_graph = graph::PublicGraph::new(&config.network_graph, config.chain_hash());
        let mut peer_config = PeerConfig::new(config.chain_hash(), config.features.clone());
        peer_config.ping_interval = config.ping_interval;
        // BOLT 8's two ECDHs per handshake go through the node signer.
        let static_key = Arc::new(NodeStaticKey(Arc::clone(&keys.node_signer)));
        let peers = PeerManager::with_static_key(peer_config, static_key);
        let watchtowers =
            super::watchtower::Watchtowers::new(&config.watchtower, host.broadcaster.clone());
        Node {
            node_signer: keys.node_signer,
            entropy: keys.entropy,
            channel_signers: keys.channel_signers,
            default_shutdown_script: keys.shutdown_script,
            wallet: keys.wallet,
            store_adopted: false,
            config,
            peers,
            writer: Writer::new(persistence),
            host,
            channels: super::channel_map::ChannelMap::at_height(best_block.height),
            tracker: ConfirmationTracker::new(best_block),
            funding_index: Default::default(),
            last_feerate_bounds: None,
            invoices: BTreeMap::new(),
            invoice_terms: BTreeMap::new(),
            replay: crate::onion::replay::HtlcReplayCache::new(REPLAY_CACHE_CAPACITY),
            payments: BTreeMap::new(),
            outbox: Outbox::default(),
            events: events::EventQueue::default(),
            to_commit: BTreeSet::new(),
            preimage_learned: false,
            keys_indexes: KeysIndexes::default(),
            epoch_write: 0,
            gossip: Default::default(),
            public_graph,
            acceptor: Arc::new(AcceptAll),
            now: Duration::ZERO,
            onchain: Default::default(),
            watch_filter: None,
            filter_registered: BTreeSet::new(),
            history_dirty: BTreeSet::new(),
            history_seen: BTreeMap::new(),
            backup: Default::default(),
            peer_storage: Default::default(),
            onion_messages: Default::default(),
            offers: Default::default(),
            forwards: BTreeMap::new(),
            forwards_by_out: BTreeMap::new(),
            forward_pruned_at: None,
            keysends: BTreeMap::new(),
            holds: BTreeMap::new(),
            payment_retries: Default::default(),
            peer_policies: Default::default(),
            mempool: Default::default(),
            htlc_sets: Default::default(),
            watchtowers,
        }
    }

    /// Whether this node's build found a store written before stores
    /// recorded their node id and chain (channels, invoices or counters
    /// and no identity record), and took it as its own, recording this
    /// node's id and chain in it. The build cannot prove such a store was
    /// this node's: a host should log it, once, when it is `true`.
    pub fn store_adopted(&self) -> bool {
        self.store_adopted
    }

    /// The store's identity record is this node's: later writes (none
    /// are made) would continue from `version`.
    pub(super) fn identity_kept(&mut self, version: u64) {
        self.writer.set_version(identity::IDENTITY_KEY, version);
    }

    /// The store had no identity record: write ours (once, for every
    /// later build to check). `legacy`: the store held records of an
    /// earlier version, adopted.
    pub(super) fn identity_written(
        &mut self,
        identity: identity::Identity,
        legacy: bool,
    ) -> Result<(), NodeError> {
        self.writer
            .write_record(identity::IDENTITY_KEY, identity.encode())?;
        self.store_adopted = legacy;
        // The build is a step of its own: inline, the identity is durable
        // when `build` returns; async, it is the first batch handed out.
        self.finish()
    }

    /// Rebuilds a node from what `store` holds: channels (each starts
    /// disconnected: HTLC offers never committed are failed, the rest
    /// resumes after `channel_reestablish` once the peer reconnects),
    /// invoices, payments and counters. Funding and closing transactions
    /// are broadcast again. A new entropy epoch is written first, so no
    /// key or preimage of an earlier run is drawn again. Payment and close
    /// events the host had not acknowledged are raised again (see
    /// [`Node::poll_event`]).
    ///
    /// Reached through [`NodeBuilder::build`](super::NodeBuilder::build),
    /// which first checks that the store is this node's.
    pub(super) fn restore(
        keys: NodeKeys,
        config: NodeConfig,
        persistence: Persistence,
        host: NodeHost,
        best_block: BestBlock,
        store: &dyn KvStore,
    ) -> Result<Node, NodeError> {
        let mut node = Self::empty(keys, config, persistence, host, best_block);
        let read = |key: &str| -> Result<Option<lightning_persist::Versioned>, NodeError> {
            store
                .read(NAMESPACE, key)
                .map_err(|e| NodeError::Restore(format!("{key}: {e}")))
        };
        let list = |prefix: &str| -> Result<Vec<String>, NodeError> {
            store
                .list_prefix(NAMESPACE, prefix)
                .map_err(|e| NodeError::Restore(format!("{prefix}: {e}")))
        };
        // The public graph, the scorer and our gossip timestamps.
        node.restore_public_graph(store)?;
        node.restore_gossip_timestamp(store)?;

        // Entropy first: a fresh epoch, durable before anything is drawn
        // from it leaves.
        let (epoch, epoch_version) = match read(records::ENTROPY_EPOCH_KEY)? {
            Some(v) => (records::decode_u32(&v.value).unwrap_or(0), v.version),
            None => (0, 0),
        };
        let epoch = epoch.wrapping_add(1);
        node.writer
            .set_version(records::ENTROPY_EPOCH_KEY, epoch_version);
        node.writer
            .write_record(records::ENTROPY_EPOCH_KEY, records::encode_u32(epoch))?;
        node.entropy.begin_epoch(epoch);
        node.epoch_write = node.writer.barrier();

        if let Some(v) = read(records::KEYS_INDEX_KEY)? {
            let stored = records::decode_u32(&v.value).ok_or_else(|| {
                // Starting from 0 again would reuse keys: refuse.
                NodeError::Restore(format!("{}: not a u32", records::KEYS_INDEX_KEY))
            })?;
            node.keys_indexes = KeysIndexes::restored(stored);
            node.writer.set_version(records::KEYS_INDEX_KEY, v.version);
        }

        for key in list("invoices/")? {
            if let Some(v) = read(&key)? {
                // A damaged invoice record loses that invoice only.
                if let Ok(r) = InvoiceRecord::decode(&v.value) {
                    if let Ok(inv) = r.bolt11.parse::<lightning_wire::bolt11::Bolt11Invoice>() {
                        let hash = *inv.payment_hash();
                        node.invoices.insert(hash, r);
                        node.invoice_terms
                            .insert(hash, invoices::InvoiceTerms::of(&inv));
                    }
                }
                node.writer.set_version(&key, v.version);
            }
        }
        for key in list("payments/")? {
            if let Some(v) = read(&key)? {
                if let Ok(r) = PaymentRecord::decode(&v.value) {
                    node.payments.insert(r.payment_hash, r);
                }
                node.writer.set_version(&key, v.version);
            }
        }
        // The index of the HTLCs we send continues; records of versions
        // before it are numbered (and written back) once.
        // A damaged counter is not worth refusing to start over: the
        // highest index the records hold takes over.
        let send_index = match read(records::SEND_INDEX_KEY)? {
            Some(v) => {
                node.writer.set_version(records::SEND_INDEX_KEY, v.version);
                <[u8; 8]>::try_from(v.value.as_slice()).map_or(0, u64::from_be_bytes)
            }
            None => 0,
        };
        node.restore_send_indexes(send_index)?;
        // Payments owed a new attempt wait for a usable channel.
        node.restore_payment_retries();

        for key in list(records::HOLD_PREFIX)? {
            if let Some(v) = read(&key)? {
                if let Ok(r) = records::HoldRecord::decode(&v.value) {
                    if let Ok(inv) = r.bolt11.parse::<lightning_wire::bolt11::Bolt11Invoice>() {
                        node.holds.insert(*inv.payment_hash(), r);
                    }
                }
                node.writer.set_version(&key, v.version);
            }
        }
        for key in list(records::DISABLED_OFFERS)? {
            if let Some(v) = read(&key)? {
                let id = key
                    .strip_prefix(records::DISABLED_OFFERS)
                    .and_then(|h| hex::decode(h).ok())
                    .and_then(|b| <[u8; 32]>::try_from(b).ok());
                if let Some(id) = id {
                    node.offers.disabled.insert(id);
                }
                node.writer.set_version(&key, v.version);
            }
        }
        for key in list(records::KEYSEND_PREFIX)? {
            if let Some(v) = read(&key)? {
                if let Ok(r) = records::KeysendRecord::decode(&v.value) {
                    node.keysends.insert(r.payment_hash, r);
                }
                node.writer.set_version(&key, v.version);
            }
        }
        for key in list(super::forward_record::FORWARDS_PREFIX)? {
            if let Some(v) = read(&key)? {
                node.restore_forward(&key, &v.value, v.version);
            }
        }

        // Channels: `channels/<id>/snapshot` and `channels/<id>/u/<seq>`.
        let mut by_id: BTreeMap<String, StoredChannel> = BTreeMap::new();
        for key in list("channels/")? {
            let mut parts = key.splitn(3, '/');
            let (Some(_), Some(id), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Some(v) = read(&key)? else { continue };
            let slot = by_id.entry(id.to_string()).or_default();
            if rest == "snapshot" {
                slot.0 = Some(v.value);
            } else {
                slot.1.push(v.value);
            }
        }
        for (id_hex, (snapshot, updates)) in by_id {
            let Some(snapshot) = snapshot else {
                return Err(NodeError::Restore(format!("channel {id_hex}: no snapshot")));
            };
            let mut id = [0u8; 32];
            hex::decode_to_slice(&id_hex, &mut id)
                .map_err(|_| NodeError::Restore(format!("channel key {id_hex}")))?;
            let (state, _) = crate::channel::record::decode_snapshot(&snapshot)
                .map_err(|e| NodeError::Restore(format!("channel {id_hex}: {e}")))?;
            // The record names the peer; stores written before it did keep
            // the peer under `channel_peers/<id>`.
            let counterparty = match state.counterparty_node_id {
                Some(id) => id,
                None => read(&records::channel_peer_key(&ChannelId(id)))?
                    .and_then(|v| PublicKey::from_slice(&v.value).ok())
                    .ok_or_else(|| {
                        NodeError::Restore(format!("channel {id_hex}: counterparty unknown"))
                    })?,
            };
            // The signer comes back by the keys index the record kept.
            let signer = node.channel_signers.channel_signer(state.keys_index)?;
            let mut config = node.channel_config(&counterparty);
            config.trusted_for_zeroconf =
                node.config.trusted_zeroconf_peers.contains(&counterparty);
            let mut channel = Channel::restore(signer, config, &snapshot, &updates)
                .map_err(|e| NodeError::Restore(format!("channel {id_hex}: {e}")))?;
            channel.set_counterparty_node_id(counterparty);
            node.keys_indexes.seen(state.keys_index);
            let cid = channel.channel_id();
            node.channels.insert(
                cid,
                ChannelEntry {
                    channel,
                    counterparty,
                    watched: None,
                    block_settled: false,
                },
            );
        }

        // Every funded channel's funding transaction is watched and its
        // outpoint indexed before the first block comes.
        node.watch_all_funding();

        // On-chain resolvers (BOLT 5). A damaged one is dropped: the
        // funding spend is classified again when the host rescans it, and
        // the HTLC history of the log still covers HTLCs in flight.
        for key in list(super::onchain::ONCHAIN_PREFIX)? {
            let Some(v) = read(&key)? else { continue };
            node.writer.set_version(&key, v.version);
            let mut id = [0u8; 32];
            let hex_id = key.trim_start_matches(super::onchain::ONCHAIN_PREFIX);
            if hex::decode_to_slice(hex_id, &mut id).is_err() {
                continue;
            }
            if let Ok(r) = crate::onchain::record::decode(&v.value) {
                node.onchain.insert(ChannelId(id), r);
            }
        }

        // Static backup and recovered channels (issue 21).
        node.restore_backup_state(store)?;
        node.restore_peer_storage(store)?;
        node.restore_watchtowers(store)?;

        // Money events the host had not acknowledged come again
        // ([`delivery`]), before anything this restore itself reports.
        let mut closed_acks = BTreeSet::new();
        for key in list(records::CHANNEL_CLOSED_ACKS)? {
            let hex_id = key.trim_start_matches(records::CHANNEL_CLOSED_ACKS);
            let mut id = [0u8; 32];
            if hex::decode_to_slice(hex_id, &mut id).is_ok() {
                closed_acks.insert(ChannelId(id));
            }
            if let Some(v) = read(&key)? {
                node.writer.set_version(&key, v.version);
            }
        }
        node.raise_unhandled_events(&closed_acks);

        // Every channel starts disconnected.
        let ids: Vec<ChannelId> = node.channels.keys().copied().collect();
        for id in ids {
            let Some(entry) = node.channels.get_mut(&id) else {
                continue;
            };
            if is_unfunded(entry.channel.phase()) {
                node.forget_unfunded(id, "restarted before the channel was funded");
                continue;
            }
            if delivery::failed_unfunded(&entry.channel) {
                // Written by a version that kept such channels.
                node.forget_failed_unfunded(id);
                continue;
            }
            let (out, dropped) = entry.channel.peer_disconnected();
            let st = entry.channel.state();
            let rebroadcast = match st.phase {
                Phase::AwaitingChannelReady | Phase::Normal | Phase::ShuttingDown
                    if st.is_funder =>
                {
                    st.funding_tx.clone()
                }
                Phase::Closed => st.closing_tx.clone(),
                // Force-closed or failed before the restart, its funding
                // output not yet seen spent: our commitment goes out again.
                Phase::Failed if node.onchain.get(&id).is_none_or(|r| r.spend.is_none()) => {
                    entry.channel.holder_commitment().ok().map(|h| h.commitment)
                }
                _ => None,
            };
            node.apply(id, out);
            if let Some(tx) = rebroadcast {
                node.queue_broadcast(tx);
            }
            for add in dropped {
                node.fail_unsent_payment(
                    id,
                    add.id,
                    add.payment_hash,
                    "the node restarted before the HTLC was committed",
                );
            }
        }
        // Forwards whose outgoing offer the restored channels never had
        // fail back; fulfils already held are claimed ([`forward`]).
        node.reconcile_forwards();
        // Our announced channels' funding outpoints, for a graph snapshot
        // older than their announcement.
        node.graph_index_own_funding();
        // Resolvers resume: what is due at this height goes out again.
        node.onchain_best_height(best_block.height, true, None);
        // A failed write shows in `persist_failure` (as before any call).
        // A failed write of the new entropy epoch fails the restore.
        node.finish()?;
        Ok(node)
    }
}

/// A channel's snapshot and update records as read from the store.
type StoredChannel = (Option<Vec<u8>>, Vec<Vec<u8>>);
