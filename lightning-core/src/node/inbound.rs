//! Inbound channels: what an `open_channel` must pass before the node
//! spends anything on it, and channel keys indexes that cost no durable
//! write per open.
//!
//! In order, an `open_channel` is refused when:
//!
//! 1. its `temporary_channel_id` is the id or temporary id of any channel
//!    the node knows, with any peer (a `warning`, then the connection
//!    closes: an `error` naming that id would oblige us to fail the channel
//!    it names, BOLT 1);
//! 2. the peer already has [`InboundLimits::max_unfunded_per_peer`](super::InboundLimits::max_unfunded_per_peer)
//!    inbound channels whose funding has not confirmed, or the node has
//!    [`InboundLimits::max_unfunded_total`](super::InboundLimits::max_unfunded_total) of them over all peers (a peer
//!    with a confirmed channel is not held to the global cap). These are
//!    the channels of the "fake channel" denial of service of 2023: a peer
//!    opens channels it never funds, or funds with a transaction it never
//!    broadcasts, and each costs the fundee memory and a record;
//! 3. the host's [`InboundChannelAcceptor`] rejects it.
//!
//! Peers in [`NodeConfig::trusted_zeroconf_peers`](super::NodeConfig::trusted_zeroconf_peers)
//! are not counted nor capped. Zero-conf (`minimum_depth` 0) is granted
//! only when the acceptor asks for it *and* the peer is trusted.
//!
//! Only then is a keys index taken. Indexes are reserved in blocks of
//! [`KEYS_INDEX_BLOCK`]: the store holds the end of the reserved block
//! (`meta/keys_index`), written once per block, before the first message
//! built from the block's keys leaves. A restart starts after that end, so
//! an index is never handed out twice, even when the runs before left part
//! of a block unused.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use lightning_wire::msgs::{Message, OpenChannel};
use lightning_wire::types::ChannelId;

use super::{records, ChannelEntry, Node, NodeError};
use crate::channel::{Channel, Phase};
use crate::keys::{DynChannelSigner, KeyError};

/// Keys indexes reserved per durable write.
pub const KEYS_INDEX_BLOCK: u32 = 32;

/// An `open_channel` that passed the node's own checks, for the host to
/// decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundChannelRequest {
    /// The peer.
    pub counterparty: PublicKey,
    /// The peer's temporary id for the channel.
    pub temporary_channel_id: ChannelId,
    /// The capacity the peer would fund.
    pub funding_satoshis: u64,
    /// What the peer would give us at open.
    pub push_msat: u64,
    /// Whether the peer is in
    /// [`NodeConfig::trusted_zeroconf_peers`](super::NodeConfig::trusted_zeroconf_peers):
    /// only then can the channel be zero-conf.
    pub trusted_for_zero_conf: bool,
    /// The peer's inbound channels not yet confirmed, this one excluded.
    pub unfunded_from_peer: usize,
}

/// The host's answer to an [`InboundChannelRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundChannelDecision {
    /// Accept. `zero_conf`: use the channel before its funding confirms
    /// (`minimum_depth` 0), honoured only for a trusted peer.
    Accept {
        /// Ask for zero-conf.
        zero_conf: bool,
    },
    /// Refuse: the peer gets an `error` for its temporary id.
    Reject,
}

/// The host's say on inbound channels (set with
/// [`Node::set_inbound_channel_acceptor`]). Called synchronously, once per
/// `open_channel` that passed the node's checks, before any key or write
/// is spent on it.
///
/// The default accepts every request, zero-conf for trusted peers (what
/// the node did before the hook existed).
///
/// ```
/// use lightning_core::node::{InboundChannelAcceptor, InboundChannelDecision, InboundChannelRequest};
/// /// Only channels of at least 100,000 sat, never zero-conf.
/// struct Big;
/// impl InboundChannelAcceptor for Big {
///     fn decide(&self, r: &InboundChannelRequest) -> InboundChannelDecision {
///         if r.funding_satoshis >= 100_000 {
///             InboundChannelDecision::Accept { zero_conf: false }
///         } else {
///             InboundChannelDecision::Reject
///         }
///     }
/// }
/// ```
pub trait InboundChannelAcceptor: Send + Sync {
    /// Accept or reject `request`.
    fn decide(&self, request: &InboundChannelRequest) -> InboundChannelDecision {
        InboundChannelDecision::Accept {
            zero_conf: request.trusted_for_zero_conf,
        }
    }
}

/// The default [`InboundChannelAcceptor`]: accepts everything the node's
/// own checks let through.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl InboundChannelAcceptor for AcceptAll {}

/// Why an `open_channel` was refused before any key was spent on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The temporary id names a channel we know: `warning` and close.
    Collision,
    /// A cap or the host: `error` with this text.
    Error(&'static str),
}

/// Where the next keys index comes from.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct KeysIndexes {
    /// The next index to hand out.
    pub next: u32,
    /// The end (exclusive) of the block reserved in the store.
    pub reserved_end: u32,
}

impl KeysIndexes {
    /// After a restart: nothing below `stored` is handed out again.
    pub(super) fn restored(stored: u32) -> Self {
        KeysIndexes {
            next: stored,
            reserved_end: stored,
        }
    }

    /// Raises the floor past an index found in a channel record.
    pub(super) fn seen(&mut self, index: u32) {
        let after = index.saturating_add(1);
        self.next = self.next.max(after);
        self.reserved_end = self.reserved_end.max(after);
    }
}

impl Node {
    /// Whether `id` is the id or temporary id of a channel the node knows.
    pub(super) fn channel_id_in_use(&self, id: &ChannelId) -> bool {
        self.channels.contains_key(id)
            || self.channels.values().any(|e| {
                let st = e.channel.state();
                st.temporary_channel_id == *id || st.channel_id == *id
            })
    }

    fn is_trusted(&self, node_id: &PublicKey) -> bool {
        self.config.trusted_zeroconf_peers.contains(node_id)
    }

    /// Inbound channels of untrusted peers (of `peer` only, if given) whose
    /// funding has not confirmed.
    pub(super) fn unfunded_inbound(&self, peer: Option<&PublicKey>) -> usize {
        self.channels
            .values()
            .filter(|e| peer.is_none_or(|p| *p == e.counterparty))
            .filter(|e| !self.is_trusted(&e.counterparty))
            .filter(|e| {
                let st = e.channel.state();
                !st.is_funder
                    && st.funding_height.is_none()
                    && matches!(
                        st.phase,
                        Phase::AwaitingFundingCreated | Phase::AwaitingChannelReady | Phase::Normal
                    )
            })
            .count()
    }

    /// Steps 1 to 3 of the [module](self) documentation: `Ok(zero_conf)`
    /// when the open may go on.
    pub(super) fn check_inbound_open(
        &self,
        node_id: PublicKey,
        open: &OpenChannel,
    ) -> Result<bool, Refusal> {
        if self.channel_id_in_use(&open.temporary_channel_id) {
            return Err(Refusal::Collision);
        }
        let trusted = self.is_trusted(&node_id);
        let from_peer = self.unfunded_inbound(Some(&node_id));
        if !trusted {
            let limits = self.config.inbound;
            if from_peer >= limits.max_unfunded_per_peer {
                return Err(Refusal::Error("too many unfunded channels from this peer"));
            }
            let has_confirmed = self
                .channels
                .values()
                .any(|e| e.counterparty == node_id && e.channel.state().funding_height.is_some());
            if !has_confirmed && self.unfunded_inbound(None) >= limits.max_unfunded_total {
                return Err(Refusal::Error("too many unfunded channels"));
            }
        }
        let request = InboundChannelRequest {
            counterparty: node_id,
            temporary_channel_id: open.temporary_channel_id,
            funding_satoshis: open.funding_satoshis,
            push_msat: open.push_msat,
            trusted_for_zero_conf: trusted,
            unfunded_from_peer: from_peer,
        };
        match self.acceptor.decide(&request) {
            InboundChannelDecision::Accept { zero_conf } => Ok(zero_conf && trusted),
            InboundChannelDecision::Reject => Err(Refusal::Error("channel rejected")),
        }
    }

    /// The next channel keys index; one durable write per
    /// [`KEYS_INDEX_BLOCK`] indexes.
    pub(super) fn allocate_keys_index(&mut self) -> Result<u32, NodeError> {
        let exhausted = || NodeError::Keys(KeyError::Bip32("keys index exhausted".into()));
        let index = self.keys_indexes.next;
        let after = index.checked_add(1).ok_or_else(exhausted)?;
        if index >= self.keys_indexes.reserved_end {
            let end = index.checked_add(KEYS_INDEX_BLOCK).ok_or_else(exhausted)?;
            // Durable before anything built from these keys leaves.
            self.writer
                .write_record(records::KEYS_INDEX_KEY, records::encode_u32(end))?;
            self.keys_indexes.reserved_end = end;
        }
        self.keys_indexes.next = after;
        Ok(index)
    }
}

impl Node {
    /// BOLT 2 `funding_created`: whether its outpoint, or the `channel_id`
    /// derived from it, is already used by a channel other than `key`
    /// (ours with any peer; ids and temporary ids alike). Such a channel
    /// would replace the other one in memory and write under its keys.
    pub(super) fn funding_collides(
        &self,
        key: ChannelId,
        m: &lightning_wire::msgs::FundingCreated,
    ) -> bool {
        let derived = ChannelId::v1_from_funding_outpoint(&m.funding_txid, m.funding_output_index);
        let outpoint = bitcoin::OutPoint {
            txid: m.funding_txid,
            vout: u32::from(m.funding_output_index),
        };
        self.channels.iter().any(|(id, e)| {
            let st = e.channel.state();
            *id != key
                && (*id == derived
                    || st.channel_id == derived
                    || st.temporary_channel_id == derived
                    || st.funding_outpoint == Some(outpoint))
        })
    }

    pub(super) fn on_open_channel(
        &mut self,
        node_id: PublicKey,
        open: &lightning_wire::msgs::OpenChannel,
    ) {
        // Nothing is spent on an open before the policy lets it through
        // ([`inbound`]).
        let zero_conf = match self.check_inbound_open(node_id, open) {
            Ok(zero_conf) => zero_conf,
            Err(Refusal::Collision) => {
                self.queue_message(
                    node_id,
                    Message::Warning(lightning_wire::msgs::Warning {
                        channel_id: open.temporary_channel_id,
                        data: b"temporary_channel_id already in use".to_vec(),
                        tlvs: Default::default(),
                    }),
                );
                self.queue_disconnect(node_id);
                return;
            }
            Err(Refusal::Error(text)) => {
                self.queue_message(
                    node_id,
                    Message::Error(lightning_wire::msgs::Error {
                        channel_id: open.temporary_channel_id,
                        data: text.as_bytes().to_vec(),
                        tlvs: Default::default(),
                    }),
                );
                return;
            }
        };
        let result = (|| -> Result<(Channel<DynChannelSigner>, Message), NodeError> {
            let mut config = self.channel_config(&node_id);
            if !zero_conf {
                config.trusted_for_zeroconf = false;
                config.minimum_depth = config.minimum_depth.max(self.config.channel.minimum_depth);
            }
            // The index is taken (and its block reserved) only once the
            // channel accepted the open: a refused open costs no index and
            // no write.
            let index = self.keys_indexes.next;
            config.local_alias = config.local_alias.or(Some(self.channel_alias(index)));
            let signer = self.channel_signers.channel_signer(index)?;
            let (mut channel, accept) = Channel::from_open_channel(signer, config, index, open)?;
            self.allocate_keys_index()?;
            channel.set_counterparty_node_id(node_id);
            Ok((channel, Message::AcceptChannel(accept)))
        })();
        match result {
            Ok((channel, accept)) => {
                let id = channel.channel_id();
                self.backup_ids_changed();
                self.channels.insert(
                    id,
                    ChannelEntry {
                        channel,
                        counterparty: node_id,
                        watched: None,
                        block_settled: false,
                    },
                );
                self.queue_message(node_id, accept);
            }
            Err(e) => {
                // Our own bounded text: a channel refusal names the rule,
                // anything else (keys, store) stays private (issue 13).
                let data = match &e {
                    NodeError::Channel(c) => crate::channel::outgoing_error_text(&c.to_string()),
                    _ => b"cannot open a channel now".to_vec(),
                };
                self.queue_message(
                    node_id,
                    Message::Error(lightning_wire::msgs::Error {
                        channel_id: open.temporary_channel_id,
                        data,
                        tlvs: Default::default(),
                    }),
                );
            }
        }
    }

    /// The host's decision on inbound channels (default [`AcceptAll`]);
    /// see [`InboundChannelAcceptor`] for what is asked and when.
    pub fn set_inbound_channel_acceptor(&mut self, acceptor: Arc<dyn InboundChannelAcceptor>) {
        self.acceptor = acceptor;
    }
}
