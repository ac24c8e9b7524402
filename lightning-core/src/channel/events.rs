//! What a channel hands back for every input: a write, messages, events.
//!
//! The contract (ARCHITECTURE.md, "Invariants", 1): the node makes
//! [`ChannelOutput::persist`] durable **before** it sends any of
//! [`ChannelOutput::messages`]. Events may be handled at once.

use std::sync::Arc;

use bitcoin::{ScriptBuf, Transaction};
use lightning_wire::msgs::{AttributionData, Message};
use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage, ShortChannelId};

use super::update_log::HtlcAdd;

/// One key/value write of the channel record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite {
    /// The key, e.g. `channels/<channel_id>/snapshot` or
    /// `channels/<channel_id>/u/00000000000000000042`.
    pub key: String,
    /// Increasing per channel: the sequence number of the last state change
    /// the value contains. A store may drop a write older than one it has.
    pub version: u64,
    /// The encoded record.
    pub value: Vec<u8>,
}

/// The writes one input asks for, in order; then the keys that are no longer
/// needed (update records folded into a new snapshot), which the host may
/// remove once the writes are durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelWrite {
    /// Write these, in order, durably.
    pub writes: Vec<RecordWrite>,
    /// Then these may be removed.
    pub obsolete: Vec<String>,
}

/// Everything one input produced.
#[derive(Debug, Clone, Default)]
pub struct ChannelOutput {
    /// The record write to make durable before any message is sent.
    pub persist: Option<ChannelWrite>,
    /// Messages for the peer, in order.
    pub messages: Vec<Message>,
    /// Events for the node.
    pub events: Vec<ChannelEvent>,
}

impl ChannelOutput {
    pub(crate) fn event(mut self, e: ChannelEvent) -> Self {
        self.events.push(e);
        self
    }
}

/// How the peer failed one of our HTLCs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum HtlcFailReason {
    /// `update_fail_htlc`: the encrypted onion error to unwrap.
    Onion(Vec<u8>),
    /// `update_fail_malformed_htlc`.
    Malformed {
        /// `failure_code` (has `BADONION`).
        failure_code: u16,
        /// `sha256_of_onion`.
        sha256_of_onion: [u8; 32],
    },
}

/// The transactions that put our latest commitment on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderCommitment {
    /// Our latest commitment, fully signed.
    pub commitment: Transaction,
    /// The HTLC-timeout transactions of the HTLCs we offered, fully signed
    /// (they become valid at each HTLC's `cltv_expiry`). The rest is BOLT 5
    /// work for the chain monitor.
    pub htlc_timeouts: Vec<Transaction>,
}

/// Something the node must know or act on. Its `Debug` output never shows
/// a preimage.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelEvent {
    /// The funder must build a transaction paying `funding_satoshis` to
    /// `script_pubkey`, and hand it back with
    /// [`Channel::funding_transaction`](super::Channel::funding_transaction)
    /// without broadcasting it.
    FundingNeeded {
        /// The channel, still by its temporary id.
        temporary_channel_id: ChannelId,
        /// The amount of the funding output.
        funding_satoshis: u64,
        /// The funding output's script (P2WSH of the 2-of-2).
        script_pubkey: ScriptBuf,
    },
    /// The fundee signed our first commitment: the funding transaction may
    /// be broadcast now (never before, BOLT 2 "The `funding_signed`
    /// Message").
    BroadcastFunding {
        /// The transaction.
        tx: Transaction,
    },
    /// Both `channel_ready` were exchanged: HTLCs can flow.
    ChannelReady {
        /// The channel.
        channel_id: ChannelId,
        /// The real short channel id, once confirmed.
        short_channel_id: Option<ShortChannelId>,
        /// The alias the peer asked us to use in route hints.
        remote_alias: Option<ShortChannelId>,
    },
    /// An HTLC the peer offered is irrevocably committed on both sides:
    /// process its onion (forward, claim or fail it).
    HtlcReceived {
        /// Its id.
        htlc_id: u64,
        /// The HTLC.
        add: HtlcAdd,
        /// If set, the HTLC broke a rule that fails only it (dust exposure):
        /// the node must fail it back.
        must_fail: bool,
    },
    /// The peer fulfilled one of our HTLCs: the preimage is proof of payment
    /// and claims the incoming side at once. It may come again for the same
    /// HTLC if the connection dropped before the fulfill was committed (the
    /// peer sends it again); claiming is idempotent.
    HtlcFulfilled {
        /// Our HTLC's id.
        htlc_id: u64,
        /// Its payment hash.
        payment_hash: PaymentHash,
        /// The preimage.
        payment_preimage: PaymentPreimage,
        /// The fulfil's `attribution_data` (BOLT 4 "Hold times for
        /// successful payments"), when the peer sent it.
        attribution_data: Option<Arc<AttributionData>>,
    },
    /// The peer failed one of our HTLCs and the removal is irrevocably
    /// committed: fail it upstream.
    HtlcFailed {
        /// Our HTLC's id.
        htlc_id: u64,
        /// Its payment hash.
        payment_hash: PaymentHash,
        /// Why.
        reason: HtlcFailReason,
        /// The failure's `attribution_data` (BOLT 4 "Returning Errors"),
        /// when the peer sent it with `update_fail_htlc`.
        attribution_data: Option<Arc<AttributionData>>,
    },
    /// A mutual close completed: broadcast `closing_tx`.
    ChannelClosed {
        /// The channel.
        channel_id: ChannelId,
        /// The fully signed closing transaction.
        closing_tx: Transaction,
    },
    /// We are the fundee and the funding transaction did not confirm within
    /// [`FUNDING_TIMEOUT_BLOCKS`](super::FUNDING_TIMEOUT_BLOCKS) of our
    /// first block waiting for it (BOLT 2, "The `channel_ready` Message":
    /// the fundee "SHOULD forget the channel"). No funds of ours are in it:
    /// drop the channel and its record.
    FundingTimedOut {
        /// The channel.
        channel_id: ChannelId,
        /// The height at which we started waiting.
        waiting_since: u32,
    },
    /// The peer revoked `commitment` (its `revoke_and_ack` is in this
    /// output's write): with its secret now stored, a justice transaction
    /// for it can be signed ahead of any breach, for a watchtower (draft
    /// BOLT 13). Raised only with
    /// [`ChannelConfig::report_revocations`](super::ChannelConfig::report_revocations).
    CounterpartyRevoked {
        /// The channel.
        channel_id: ChannelId,
        /// The revoked commitment of the peer, as we signed it.
        commitment: Box<crate::transactions::CommitmentTransaction>,
    },
    /// The channel failed. Broadcast `holder_commitment` if present; it is
    /// absent when we are behind (our commitment may be revoked: broadcasting
    /// it could lose everything) or the channel never got funded.
    ChannelFailed {
        /// The channel.
        channel_id: ChannelId,
        /// Why, in words.
        reason: String,
        /// Whether the peer proved our state is stale.
        we_are_behind: bool,
        /// What to broadcast.
        holder_commitment: Option<HolderCommitment>,
    },
}

impl core::fmt::Debug for ChannelEvent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChannelEvent::FundingNeeded {
                temporary_channel_id,
                funding_satoshis,
                script_pubkey,
            } => f
                .debug_struct("FundingNeeded")
                .field("temporary_channel_id", temporary_channel_id)
                .field("funding_satoshis", funding_satoshis)
                .field("script_pubkey", script_pubkey)
                .finish(),
            ChannelEvent::BroadcastFunding { tx } => {
                f.debug_struct("BroadcastFunding").field("tx", tx).finish()
            }
            ChannelEvent::ChannelReady {
                channel_id,
                short_channel_id,
                remote_alias,
            } => f
                .debug_struct("ChannelReady")
                .field("channel_id", channel_id)
                .field("short_channel_id", short_channel_id)
                .field("remote_alias", remote_alias)
                .finish(),
            ChannelEvent::HtlcReceived {
                htlc_id,
                add,
                must_fail,
            } => f
                .debug_struct("HtlcReceived")
                .field("htlc_id", htlc_id)
                .field("add", add)
                .field("must_fail", must_fail)
                .finish(),
            ChannelEvent::HtlcFulfilled {
                htlc_id,
                payment_hash,
                payment_preimage: _,
                attribution_data,
            } => f
                .debug_struct("HtlcFulfilled")
                .field("htlc_id", htlc_id)
                .field("payment_hash", payment_hash)
                .field("payment_preimage", &crate::keys::Redacted)
                .field("attribution_data", &attribution_data.is_some())
                .finish(),
            ChannelEvent::HtlcFailed {
                htlc_id,
                payment_hash,
                reason,
                attribution_data,
            } => f
                .debug_struct("HtlcFailed")
                .field("htlc_id", htlc_id)
                .field("payment_hash", payment_hash)
                .field("reason", reason)
                .field("attribution_data", &attribution_data.is_some())
                .finish(),
            ChannelEvent::ChannelClosed {
                channel_id,
                closing_tx,
            } => f
                .debug_struct("ChannelClosed")
                .field("channel_id", channel_id)
                .field("closing_tx", closing_tx)
                .finish(),
            ChannelEvent::FundingTimedOut {
                channel_id,
                waiting_since,
            } => f
                .debug_struct("FundingTimedOut")
                .field("channel_id", channel_id)
                .field("waiting_since", waiting_since)
                .finish(),
            ChannelEvent::CounterpartyRevoked {
                channel_id,
                commitment,
            } => f
                .debug_struct("CounterpartyRevoked")
                .field("channel_id", channel_id)
                .field("commitment_number", &commitment.commitment_number)
                .field("txid", &commitment.txid())
                .finish(),
            ChannelEvent::ChannelFailed {
                channel_id,
                reason,
                we_are_behind,
                holder_commitment,
            } => f
                .debug_struct("ChannelFailed")
                .field("channel_id", channel_id)
                .field("reason", reason)
                .field("we_are_behind", we_are_behind)
                .field("holder_commitment", holder_commitment)
                .finish(),
        }
    }
}
