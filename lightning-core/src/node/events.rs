//! What the node tells its host ([`Node::poll_event`](super::Node::poll_event)),
//! and the public record types (channels, payments, invoices).

use std::collections::VecDeque;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction};
use lightning_wire::types::{ChannelId, ShortChannelId};
pub use lightning_wire::types::{PaymentHash, PaymentPreimage};

use crate::amount::Msat;
use crate::channel::Phase;
use crate::onion::FailureReason;

macro_rules! hex32 {
    (@debug $name:ident) => {
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }
    };
    // A secret: never in `Debug` output (its `Display` is for the host to
    // show on purpose, as proof of payment).
    (@debug $name:ident secret) => {
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}(<redacted>)", stringify!($name))
            }
        }
    };
    ($(#[$doc:meta])* $name:ident $($secret:ident)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        hex32!(@debug $name $($secret)?);

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                let mut out = [0u8; 32];
                hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
                Ok($name(out))
            }
        }
    };
}

hex32!(
    /// A payment this node sends. It is the payment hash: the node pays an
    /// invoice at most once at a time.
    PaymentId
);

/// Something the host must know or act on, in the order it happened, and
/// only once the writes it reports are durable.
///
/// `PaymentReceived`, `PaymentSent`, `PaymentFailed` and `ChannelClosed`
/// (of a channel that may have been funded) are delivered at least once:
/// [`Node::poll_event`](super::Node::poll_event) acknowledges the event it
/// returned before, and a node restored after a crash raises again those
/// not acknowledged. Deduplicate by payment hash or channel id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Event {
    /// Build (do not broadcast) a transaction paying `amount_sat` to
    /// `script_pubkey` and hand it to
    /// [`Node::funding_transaction_generated`](super::Node::funding_transaction_generated).
    /// The node broadcasts it once the peer signed our first commitment.
    FundingNeeded {
        /// The channel, by its temporary id.
        temporary_channel_id: ChannelId,
        /// The peer.
        counterparty: PublicKey,
        /// The funding output's amount.
        amount_sat: Amount,
        /// The funding output's script (P2WSH of the 2-of-2).
        script_pubkey: ScriptBuf,
    },
    /// A channel can carry payments.
    ChannelReady {
        /// The channel.
        channel_id: ChannelId,
        /// The peer.
        counterparty: PublicKey,
        /// Its short channel id, once confirmed.
        short_channel_id: Option<ShortChannelId>,
    },
    /// One of our invoices was paid (its HTLC fulfilled; for a payment in
    /// several parts, every part, once they reached the total: one event
    /// for the whole payment).
    PaymentReceived {
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
        /// What we received (the sum of the parts' HTLC amounts).
        amount_msat: Msat,
    },
    /// A payment we sent succeeded.
    PaymentSent {
        /// The payment.
        payment_hash: PaymentHash,
        /// Proof of payment.
        preimage: PaymentPreimage,
        /// Routing fees paid (zero to a direct peer).
        fee_msat: Msat,
        /// The hold times (units of 100 ms, first hop first) reported by
        /// the attribution data of the fulfil that proved the payment,
        /// verified hop by hop (BOLT 4, "Hold times for successful
        /// payments"); as [`PaymentDetails::hold_times`]. Empty when that
        /// fulfil carried none or it did not verify, and when the
        /// preimage was learnt on chain. A multi-part payment's other
        /// parts report theirs in [`PaymentPart::hold_times`].
        hold_times: Vec<u32>,
    },
    /// A payment we sent failed; nothing was paid.
    PaymentFailed {
        /// The payment.
        payment_hash: PaymentHash,
        /// Why.
        reason: PaymentFailure,
    },
    /// A channel closed: cooperatively (`closing_tx` is the closing
    /// transaction, already broadcast) or by failure (`closing_tx` is our
    /// commitment, broadcast, or `None` when there was nothing safe to
    /// broadcast).
    ChannelClosed {
        /// The channel.
        channel_id: ChannelId,
        /// Why.
        reason: String,
        /// What was broadcast.
        closing_tx: Option<Transaction>,
    },
    /// A transaction spending a channel's funding output confirmed (BOLT
    /// 5). `recognised` is `false` for a spend the node could not classify
    /// (funds may be lost: BOLT 5, "General Requirements", asks to warn
    /// loudly); `kind` names it in words either way.
    FundingSpent {
        /// The channel.
        channel_id: ChannelId,
        /// The spending transaction.
        txid: bitcoin::Txid,
        /// Whether the node recognised it.
        recognised: bool,
        /// Its kind, or why it was not recognised.
        kind: String,
    },
    /// One of our on-chain claims confirmed (depth 1; it may still be
    /// reorganised out, and is then rebroadcast).
    ClaimConfirmed {
        /// The channel.
        channel_id: ChannelId,
        /// The claim's transaction.
        txid: bitcoin::Txid,
        /// The value of the outputs it spends.
        amount_sat: Amount,
    },
    /// A claim paying the node's wallet (its sweep script) is 6 blocks
    /// deep: `amount_sat` less the claim's fee is the host wallet's now.
    FundsSwept {
        /// The channel.
        channel_id: ChannelId,
        /// The claim's transaction.
        txid: bitcoin::Txid,
        /// What reached the wallet (the claim's output).
        amount_sat: Amount,
    },
    /// An on-chain transaction needs a fee bump the node cannot make: no
    /// wallet is configured ([`NodeBuilder::wallet`](super::NodeBuilder::wallet)),
    /// or the wallet cannot pay. An `option_anchors` commitment waiting
    /// for its CPFP, or a zero-fee anchors HTLC transaction, may then not
    /// confirm before its deadline: fund the wallet (or set one) at once.
    /// Raised once per transaction; the node keeps broadcasting it as it
    /// is and bumps it as soon as it can.
    FeeBumpUnavailable {
        /// The channel.
        channel_id: ChannelId,
        /// The transaction left unbumped (the commitment, or the HTLC
        /// transaction as last broadcast).
        txid: bitcoin::Txid,
        /// Why.
        reason: String,
    },
    /// The static channel backup changed (a channel opened or closed, or a
    /// peer address changed): `backup` is the new encrypted file
    /// ([`Node::export_all_channel_backups`](super::Node::export_all_channel_backups)
    /// gives the same bytes). The node already wrote it to its store
    /// (`backup/latest`); a host keeps a copy elsewhere (another disk, the
    /// cloud). Not raised again after a restart.
    ChannelBackupUpdated {
        /// The encrypted backup.
        #[cfg_attr(feature = "serde", serde(with = "hex_bytes"))]
        backup: Vec<u8>,
        /// How many channels it holds.
        channels: usize,
    },
    /// We forwarded an HTLC and the next hop fulfilled it: the fee is
    /// earned (the preimage claims the incoming HTLC). Delivered at least
    /// once, like the other money events; deduplicate by the incoming
    /// channel and HTLC id.
    PaymentForwarded {
        /// The incoming channel and its HTLC id.
        prev_channel_id: ChannelId,
        /// The incoming HTLC's id.
        prev_htlc_id: u64,
        /// The outgoing channel.
        next_channel_id: ChannelId,
        /// The payment hash.
        payment_hash: PaymentHash,
        /// What we forwarded (the outgoing HTLC's amount).
        amount_forwarded_msat: Msat,
        /// What we earned: incoming less outgoing amount.
        fee_earned_msat: Msat,
    },
    /// A payment without an invoice reached us and was claimed: keysend
    /// (BOLT 4 payload TLV 5482373484 carries the preimage; accepted only
    /// with [`ForwardingConfig::accept_keysend`](super::ForwardingConfig::accept_keysend)).
    /// A keysend sent in parts (with
    /// [`MppReceiveConfig::accept_keysend_parts`](super::MppReceiveConfig::accept_keysend_parts))
    /// is reported once, when every part has arrived.
    /// Delivered at least once; deduplicate by payment hash.
    SpontaneousPaymentReceived {
        /// The payment hash.
        payment_hash: PaymentHash,
        /// What we received: the HTLC's amount, or the sum of the parts'.
        amount_msat: Msat,
        /// The onion's custom records (odd types of 65536 and above), type
        /// and value.
        custom_records: Vec<(u64, Vec<u8>)>,
    },
    /// The HTLC paying one of our hold invoices (or every part of a
    /// multi-part payment, once they reached the total) arrived and is
    /// held: claim it with [`Node::claim_for_hash`](super::Node::claim_for_hash)
    /// or fail it with [`Node::fail_for_hash`](super::Node::fail_for_hash)
    /// before `claim_deadline_height` (the node fails it itself then).
    HoldInvoiceAccepted {
        /// The payment hash.
        payment_hash: PaymentHash,
        /// What the HTLCs held pay together (one HTLC, or every part of a
        /// multi-part payment).
        amount_msat: Msat,
        /// The last height at which a claim is still safe.
        claim_deadline_height: u32,
    },
    /// The invoice for an offer we are paying ([`Node::pay_offer`](super::Node::pay_offer))
    /// arrived, answered our request and is being paid: `PaymentSent` or
    /// `PaymentFailed` for `payment_hash` follows.
    OfferInvoiceReceived {
        /// What `pay_offer` returned.
        offer_payment_id: super::OfferPaymentId,
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
        /// The invoice's amount.
        amount_msat: Msat,
    },
    /// The invoice [`Node::fetch_offer_invoice`](super::Node::fetch_offer_invoice)
    /// asked for came and passed every check: pay it, if the user will,
    /// with [`Node::pay_fetched_bolt12_invoice`](super::Node::pay_fetched_bolt12_invoice).
    OfferInvoiceFetched {
        /// What `fetch_offer_invoice` returned.
        offer_payment_id: super::OfferPaymentId,
        /// The invoice, in BOLT 12's string form (`lni1...`).
        invoice: String,
    },
    /// Paying an offer ended before any HTLC was sent: the issuer answered
    /// with an `invoice_error`, its invoice was refused, or none came in
    /// time.
    OfferPaymentFailed {
        /// What `pay_offer` returned.
        offer_payment_id: super::OfferPaymentId,
        /// Why.
        reason: String,
    },
}

/// A forwarded HTLC ([`Node::list_forwards`](super::Node::list_forwards)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ForwardDetails {
    /// The incoming channel and HTLC id.
    pub incoming_channel_id: ChannelId,
    /// The incoming HTLC's id.
    pub incoming_htlc_id: u64,
    /// The outgoing channel and HTLC id.
    pub outgoing_channel_id: ChannelId,
    /// The outgoing HTLC's id.
    pub outgoing_htlc_id: u64,
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The incoming HTLC's amount.
    pub incoming_amount_msat: Msat,
    /// The outgoing HTLC's amount.
    pub outgoing_amount_msat: Msat,
    /// Incoming less outgoing (earned only when settled).
    pub fee_msat: Msat,
    /// Where it stands.
    pub status: ForwardStatus,
    /// UNIX seconds (host time) of the decision.
    pub created_at: u64,
    /// UNIX seconds (host time) of the resolution.
    pub resolved_at: Option<u64>,
}

/// Where a forward stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ForwardStatus {
    /// Offered downstream, not resolved.
    InFlight,
    /// Fulfilled downstream: the fee is earned.
    Settled,
    /// Failed back upstream.
    Failed,
}

/// `Vec<u8>` as a hex string in JSON.
#[cfg(feature = "serde")]
mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// What the node writes once the host has handled an event: events that
/// matter for money are raised again after a restart until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// `PaymentReceived`: the invoice record's `event_handled`.
    Invoice(PaymentHash),
    /// `PaymentSent` / `PaymentFailed`: the payment record's
    /// `event_handled`, for the attempt carried by this HTLC (a payment
    /// retried after a failure is a new attempt with a new HTLC).
    Payment {
        hash: PaymentHash,
        channel_id: ChannelId,
        htlc_id: u64,
    },
    /// `ChannelClosed` of a funded channel: the key
    /// `acks/channel_closed/<id>`.
    ChannelClosed(ChannelId),
    /// `PaymentForwarded`: the forwarding record's `event_handled`, by its
    /// incoming HTLC.
    Forward(ChannelId, u64),
    /// `SpontaneousPaymentReceived`: the keysend record's `event_handled`.
    Keysend(PaymentHash),
    /// `PaymentReceived` of a claimed hold invoice: its record's
    /// `event_handled`.
    Hold(PaymentHash),
}

/// The events waiting for the host, each behind the writes made before it
/// was queued (an event leaves only once what it reports is durable), and
/// the acknowledgement of the one handed out last.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    queue: VecDeque<(u64, Event, Option<Ack>)>,
    delivered: Option<Ack>,
}

impl EventQueue {
    /// Queues `event` behind every write up to `dep`.
    pub(crate) fn push(&mut self, dep: u64, event: Event, ack: Option<Ack>) {
        self.queue.push_back((dep, event, ack));
    }

    /// The acknowledgement of the event handed out last, once.
    pub(crate) fn take_delivered(&mut self) -> Option<Ack> {
        self.delivered.take()
    }

    /// The oldest event, if the writes before it are durable (events keep
    /// their order: a later one never overtakes it).
    pub(crate) fn pop(&mut self, durable: impl Fn(u64) -> bool) -> Option<Event> {
        let (dep, _, _) = self.queue.front()?;
        if !durable(*dep) {
            return None;
        }
        let (_, event, ack) = self.queue.pop_front()?;
        self.delivered = ack;
        Some(event)
    }
}

/// Why a payment failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaymentFailure {
    /// The BOLT 4 `failure_code`, when known (decoded from the returned
    /// onion error, or from `update_fail_malformed_htlc`).
    pub failure_code: Option<u16>,
    /// The decoded failure message, when the error packet decoded.
    pub failure: Option<FailureReason>,
    /// Index in the route of the node that failed it (0: the payee of a
    /// direct payment).
    pub failing_hop: Option<usize>,
    /// In words (for a retried payment: the last attempt's failure and
    /// why no further attempt was made).
    pub message: String,
    /// Attempts made, the failed one included (1 when the payment was
    /// not retried; see [`Node::pay_invoice`](super::Node::pay_invoice)).
    #[cfg_attr(feature = "serde", serde(default = "one"))]
    pub attempts: u32,
    /// The hold times the returned error's attribution data reported, in
    /// units of 100 ms, one per hop whose attribution verified, first hop
    /// first (BOLT 4, "Returning Errors": the origin "record\[s\] the
    /// reported htlc hold time for this hop"). A hop's time includes the
    /// time of the hops after it; a hop without timing reports 0. Empty
    /// when no attribution data came back (a peer without
    /// `option_attribution_data`, a malformed onion, an HTLC never
    /// committed).
    #[cfg_attr(feature = "serde", serde(default))]
    pub hold_times: Vec<u32>,
    /// Where the attribution data's HMAC chain broke (BOLT 4, "Origin
    /// node": a hop whose HMAC "is invalid ... should [be penalized]";
    /// "blame is still only assignable to a pair of nodes"): the route
    /// index `i` such that hop `i` or the hop before it (our own node for
    /// `i = 0`) altered the returned error. Also set, to the erring hop,
    /// when every HMAC verified but the error packet itself did not: that
    /// hop sent a packet it could not have made honestly. A retried
    /// payment leaves out the channel into hop `i` when the error could
    /// not be attributed otherwise (`failing_hop` is `None`); when it was,
    /// a break here only means a hop downstream does not support
    /// attribution data. `None`: nothing broke, or no attribution data.
    #[cfg_attr(feature = "serde", serde(default))]
    pub attribution_failed_at: Option<usize>,
}

#[cfg(feature = "serde")]
fn one() -> u32 {
    1
}

/// A channel as the host sees it ([`Node::list_channels`](super::Node::list_channels)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChannelDetails {
    /// The channel id (the temporary one before funding).
    pub channel_id: ChannelId,
    /// The peer.
    pub counterparty: PublicKey,
    /// Whether we opened it.
    pub is_outbound: bool,
    /// Where it stands.
    pub phase: Phase,
    /// Whether a payment can be sent over it now (normal, peer connected).
    pub is_usable: bool,
    /// The funding output, once known.
    pub funding_txo: Option<OutPoint>,
    /// The short channel id, once confirmed.
    pub short_channel_id: Option<ShortChannelId>,
    /// `announce_channel` of its `open_channel`: the channel is to be
    /// public (BOLT 7).
    pub announce_channel: bool,
    /// Both `announcement_signatures` were exchanged: its
    /// `channel_announcement` exists ([`Node::poll_gossip`](super::Node::poll_gossip)).
    pub is_announced: bool,
    /// Funding amount.
    pub capacity_sat: Amount,
    /// Our balance in our latest commitment, before fees.
    pub local_balance_msat: Msat,
    /// The most we can send in one HTLC now (an estimate: our balance
    /// less the reserve the peer asked for and the commitment fee if we
    /// are the funder).
    pub outbound_capacity_msat: Msat,
    /// Once the funding output is spent on chain: what spent it, and
    /// whether every claim of ours is resolved (6 blocks deep).
    pub closing: Option<ClosingState>,
}

/// A channel whose funding output is spent ([`ChannelDetails::closing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClosingState {
    /// What spent it: a mutual close, our commitment, the peer's current
    /// or next one, a revoked one (punished), or an unknown transaction.
    pub spent_by: crate::onchain::SpendTag,
    /// Every claim is 6 blocks deep (the record is kept until 100).
    pub resolved: bool,
}

/// Totals over the node's channels ([`Node::balances`](super::Node::balances)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Balances {
    /// Our balance in channels that are open (normal or shutting down).
    pub lightning_msat: Msat,
    /// Our balance in channels still being opened.
    pub pending_open_msat: Msat,
    /// Total of what we can send now.
    pub outbound_capacity_msat: Msat,
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PaymentStatus {
    /// In flight.
    Pending,
    /// Paid.
    Succeeded,
    /// Failed; nothing paid.
    Failed,
}

/// A payment we sent ([`Node::list_payments`](super::Node::list_payments)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaymentDetails {
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The payee.
    pub payee: PublicKey,
    /// The amount sent to the payee.
    pub amount_msat: Msat,
    /// Routing fees, on top of `amount_msat`: of the attempt that paid
    /// (every fulfilled part of a multi-part payment), or while pending of
    /// what is in flight (the current attempt, or the parts not failed).
    /// Zero for a failed payment (nothing was paid) and for a payment to
    /// a direct peer.
    #[cfg_attr(feature = "serde", serde(default))]
    pub fee_msat: Msat,
    /// Where it stands.
    pub status: PaymentStatus,
    /// The preimage, once paid.
    pub preimage: Option<PaymentPreimage>,
    /// Why it failed.
    pub failure: Option<String>,
    /// When it was sent (host time, seconds).
    pub created_at: u64,
    /// Attempts made so far, the current one included (1 for a payment
    /// that was not retried; see [`Node::pay_invoice`](super::Node::pay_invoice)).
    #[cfg_attr(feature = "serde", serde(default = "one"))]
    pub attempts: u32,
    /// A multi-part payment's HTLCs (an invoice's, or a keysend's that
    /// [`Node::keysend_to`](super::Node::keysend_to) split), every
    /// attempt's, oldest first (BOLT 4 "Basic Multi-Part Payments"); empty
    /// for a payment made one HTLC at a time.
    #[cfg_attr(feature = "serde", serde(default))]
    pub parts: Vec<PaymentPart>,
    /// Every HTLC sent for this payment that its record keeps, oldest
    /// first: the earlier ones (failed: the attempts before the current
    /// one of a payment made one HTLC at a time, at most
    /// [`NodeConfig::payment_retry_attempts`](super::NodeConfig::payment_retry_attempts)
    /// of them and never more than 32, and those of an earlier failed
    /// payment of the same hash), then every part, or the current attempt.
    /// Each with its [`PaymentPart::created_index`] and
    /// [`PaymentPart::partid`], given as it was sent and kept across
    /// restarts (Core Lightning's `listsendpays` entries).
    #[cfg_attr(feature = "serde", serde(default))]
    pub htlcs: Vec<PaymentPart>,
    /// For a succeeded payment: the hold times (units of 100 ms, first hop
    /// first) that the attribution data of the fulfil that proved it
    /// reported, verified hop by hop with the route's shared secrets
    /// (BOLT 4, "Hold times for successful payments"). Empty when that
    /// fulfil carried none, or it did not verify.
    #[cfg_attr(feature = "serde", serde(default))]
    pub hold_times: Vec<u32>,
}

/// One HTLC we sent: a part of a multi-part payment
/// ([`PaymentDetails::parts`]), or any HTLC of a payment
/// ([`PaymentDetails::htlcs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaymentPart {
    /// The channel it left by.
    pub channel_id: ChannelId,
    /// Its HTLC id there.
    pub htlc_id: u64,
    /// What the payee receives by it.
    pub amount_msat: Msat,
    /// Its routing fees.
    pub fee_msat: Msat,
    /// Where it stands.
    pub status: PartStatus,
    /// The node ids it went through, the payee last.
    pub route: Vec<PublicKey>,
    /// The hold times (units of 100 ms, first hop first) this part's own
    /// fulfil reported in its attribution data, verified with the part's
    /// shared secrets (BOLT 4, "Hold times for successful payments").
    /// Empty while it is pending, when it failed, when its fulfil carried
    /// none or it did not verify.
    #[cfg_attr(feature = "serde", serde(default))]
    pub hold_times: Vec<u32>,
    /// Its place among every HTLC the node sent, from 1 in the order they
    /// were sent: given as it is sent, stored with it, never changed nor
    /// given again (Core Lightning's `created_index`). Records written
    /// before indexes get theirs when the node next starts.
    #[cfg_attr(feature = "serde", serde(default))]
    pub created_index: u64,
    /// Its number among the payment's HTLCs, in the order they were sent:
    /// from 0 while the payment goes one HTLC at a time, from 1 for the
    /// parts of a split payment (Core Lightning's `partid`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub partid: u64,
}

/// What became of one part of a multi-part payment we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PartStatus {
    /// Offered, not resolved.
    Pending,
    /// Failed back (its removal irrevocably committed), or never
    /// committed.
    Failed,
    /// Fulfilled, or the payment's preimage is known (the payee must
    /// fulfil every part of the set it took).
    Fulfilled,
}

/// Where an invoice of ours stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum InvoiceStatus {
    /// Waiting to be paid.
    Open,
    /// Paid.
    Paid,
}

/// An invoice we issued ([`Node::list_invoices`](super::Node::list_invoices)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InvoiceDetails {
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The BOLT 11 string.
    pub bolt11: String,
    /// The amount asked, if any.
    pub amount_msat: Option<Msat>,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// What was received.
    pub amount_received_msat: Msat,
    /// Its timestamp (seconds since the UNIX epoch).
    pub created_at: u64,
    /// Expiry (seconds after `created_at`).
    pub expiry_secs: u64,
    /// The id ([`Offer::id`](lightning_wire::bolt12::Offer::id)) of our
    /// BOLT 12 offer this invoice was made for, if it was.
    pub offer_id: Option<[u8; 32]>,
}
