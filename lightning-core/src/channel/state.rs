//! The channel: its phases, what it stores, and the one entry point for the
//! peer's messages.
//!
//! Every input runs as a transaction on the channel state: if it fails,
//! the state is put back as it was, so a bad message never leaves a half
//! applied change; the undo costs in proportion to what the input changed
//! (the update log is journaled, not copied). A successful input ends by
//! raising the HTLC events its `revoke_and_ack`s reported and by encoding
//! the state to produce the record write (see [`record`](super::record)).

use bitcoin::{OutPoint, ScriptBuf, Transaction};
use lightning_wire::msgs::Message;
use lightning_wire::types::{ChainHash, ChannelId, ShortChannelId};

use super::close::ClosingNegotiation;
use super::commitments::{finalize_holder, CommitmentBasis, HolderSignatures};
use super::error::{ChannelError, ErrorAction};
use super::events::{ChannelEvent, ChannelOutput, HolderCommitment, HtlcFailReason};
use super::htlc_policy::ChannelTerms;
use super::params::{ChannelLimits, ChannelType, FeerateBounds, PartyParams};
use super::record::Persister;
use super::reestablish::CommitmentNumbers;
use super::update_log::{HtlcRemoval, Revoked, Side, UpdateLog, Which};
use crate::keys::shachain::CounterpartyCommitmentSecrets;
use crate::keys::{ChannelPublicKeys, ChannelSigner};
use crate::transactions::scripts;

/// Where a channel is in its life (BOLT 2: establishment, normal operation,
/// close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Phase {
    /// Funder: `open_channel` sent.
    AwaitingAccept,
    /// Funder: `accept_channel` received; waiting for the host's funding
    /// transaction ([`ChannelEvent::FundingNeeded`]).
    AwaitingFundingTx,
    /// Fundee: `accept_channel` sent.
    AwaitingFundingCreated,
    /// Funder: `funding_created` sent.
    AwaitingFundingSigned,
    /// Funded; `channel_ready` not yet exchanged both ways.
    AwaitingChannelReady,
    /// HTLCs flow.
    Normal,
    /// `shutdown` sent or received: no new HTLCs; waiting for the pending
    /// ones to clear, then negotiating the closing transaction.
    ShuttingDown,
    /// A closing transaction is fully signed.
    Closed,
    /// Failed: our commitment was handed out for broadcast (unless we are
    /// behind).
    Failed,
}

impl Phase {
    /// A short name for errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Phase::AwaitingAccept => "awaiting accept_channel",
            Phase::AwaitingFundingTx => "awaiting the funding transaction",
            Phase::AwaitingFundingCreated => "awaiting funding_created",
            Phase::AwaitingFundingSigned => "awaiting funding_signed",
            Phase::AwaitingChannelReady => "awaiting channel_ready",
            Phase::Normal => "normal",
            Phase::ShuttingDown => "shutting down",
            Phase::Closed => "closed",
            Phase::Failed => "failed",
        }
    }
}

/// The node's settings for one channel. Hosts build one per channel (some
/// fields depend on the peer: `trusted_for_zeroconf`, `simple_close`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The chain we are on.
    pub chain_hash: ChainHash,
    /// The limits we impose on the peer. A zero `channel_reserve_satoshis`
    /// means 1% of the funding (at least our dust limit).
    pub our_params: PartyParams,
    /// What we accept from the peer's `open_channel`/`accept_channel`.
    pub limits: ChannelLimits,
    /// The feerates we accept in `open_channel` and `update_fee`.
    pub feerates: FeerateBounds,
    /// Confirmations we require before `channel_ready` as fundee (the
    /// `minimum_depth` of our `accept_channel`; at least 1 unless
    /// `trusted_for_zeroconf`).
    pub minimum_depth: u32,
    /// Whether we accept zero-conf channels from this peer (and open them).
    pub trusted_for_zeroconf: bool,
    /// Whether both nodes support `option_anchors_zero_fee_htlc_tx`.
    pub anchors: bool,
    /// Whether both nodes support `option_scid_alias` (asked for in
    /// `channel_type` by the funder).
    pub scid_alias: bool,
    /// Our alias for this channel, sent in `channel_ready`.
    pub local_alias: Option<ShortChannelId>,
    /// Our closing script, used in `shutdown`.
    pub shutdown_script: ScriptBuf,
    /// Commit to `shutdown_script` in `open_channel`/`accept_channel`
    /// (`option_upfront_shutdown_script`).
    pub upfront_shutdown_script: bool,
    /// Whether both nodes support `option_shutdown_anysegwit`.
    pub anysegwit: bool,
    /// Whether both nodes support `option_simple_close`: close with
    /// `closing_complete`/`closing_sig` instead of `closing_signed`.
    pub simple_close: bool,
    /// Highest total of trimmed HTLCs in either commitment.
    pub max_dust_htlc_exposure_msat: u64,
    /// Compact the record into a new snapshot after this many update
    /// records.
    pub snapshot_every: u32,
    /// Set `announce_channel` in the `open_channel` of channels we open
    /// (BOLT 2 `channel_flags` bit 0): the channel is announced once it is
    /// 6 blocks deep (BOLT 7). Inbound channels follow the funder's flag.
    pub announce_channel: bool,
    /// Raise [`ChannelEvent::CounterpartyRevoked`]
    /// with the commitment each `revoke_and_ack` of the peer revokes (for
    /// a watchtower client: the node turns it into a justice kit). Off by
    /// default: it costs one commitment build per revocation.
    pub report_revocations: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            chain_hash: ChainHash::for_network(bitcoin::Network::Regtest),
            our_params: PartyParams {
                dust_limit_satoshis: 546,
                max_htlc_value_in_flight_msat: u64::MAX,
                channel_reserve_satoshis: 0,
                htlc_minimum_msat: 1,
                to_self_delay: 144,
                max_accepted_htlcs: 483,
            },
            limits: ChannelLimits::default(),
            feerates: FeerateBounds {
                min_feerate_per_kw: 253,
                max_feerate_per_kw: 100_000,
            },
            minimum_depth: 3,
            trusted_for_zeroconf: false,
            anchors: true,
            scid_alias: false,
            local_alias: None,
            shutdown_script: ScriptBuf::new(),
            upfront_shutdown_script: false,
            anysegwit: true,
            simple_close: false,
            max_dust_htlc_exposure_msat: 5_000_000,
            snapshot_every: 64,
            announce_channel: false,
            report_revocations: false,
        }
    }
}

/// The peer's per-commitment points we still need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemotePoints {
    /// The point of the commitment before `current`, while its revocation
    /// is awaited (the `revoke_and_ack` secret must generate it).
    pub revoking: Option<bitcoin::secp256k1::PublicKey>,
    /// The point of the peer's latest commitment we signed.
    pub current: bitcoin::secp256k1::PublicKey,
    /// The point of the next one (from `channel_ready` or `revoke_and_ack`).
    pub next: Option<bitcoin::secp256k1::PublicKey>,
}

/// Everything a channel persists: the one record (ARCHITECTURE.md,
/// "Channel record format").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelState {
    /// Phase.
    pub phase: Phase,
    /// The host's index for the channel's keys
    /// ([`KeysManager::derive_channel_signer`](crate::keys::KeysManager::derive_channel_signer)).
    pub keys_index: u32,
    /// Whether we opened the channel.
    pub is_funder: bool,
    /// The id during establishment.
    pub temporary_channel_id: ChannelId,
    /// The id from the funding outpoint (the temporary one before).
    pub channel_id: ChannelId,
    /// The chain.
    pub chain_hash: ChainHash,
    /// The negotiated type.
    pub channel_type: ChannelType,
    /// Funding amount.
    pub funding_satoshis: u64,
    /// `push_msat`.
    pub push_msat: u64,
    /// What we announced.
    pub local_params: PartyParams,
    /// What the peer announced.
    pub remote_params: PartyParams,
    /// The peer's basepoints.
    pub remote_keys: Option<ChannelPublicKeys>,
    /// `minimum_depth` of `accept_channel`.
    pub minimum_depth: u32,
    /// The funding outpoint.
    pub funding_outpoint: Option<OutPoint>,
    /// The funding transaction (funder only), to broadcast after
    /// `funding_signed`.
    pub funding_tx: Option<Transaction>,
    /// Height of the block that confirmed the funding transaction.
    pub funding_height: Option<u32>,
    /// The funding output was checked against a funding transaction itself:
    /// the one the host handed the funder, or the confirmed one (see
    /// [`Channel::funding_confirmed`]). `channel_ready` waits for it.
    pub funding_verified: bool,
    /// The real short channel id.
    pub short_channel_id: Option<ShortChannelId>,
    /// Our alias.
    pub local_alias: Option<ShortChannelId>,
    /// The peer's alias (from its `channel_ready`).
    pub remote_alias: Option<ShortChannelId>,
    /// Whether we sent `channel_ready`.
    pub channel_ready_sent: bool,
    /// Whether we received `channel_ready`.
    pub channel_ready_received: bool,
    /// Every update and where it stands.
    pub log: UpdateLog,
    /// Both commitment chains' numbers.
    pub numbers: CommitmentNumbers,
    /// The peer's per-commitment points.
    pub remote_points: Option<RemotePoints>,
    /// The peer's signatures on our latest commitment.
    pub holder_sigs: Option<HolderSignatures>,
    /// The peer's revealed per-commitment secrets.
    pub secrets: CounterpartyCommitmentSecrets,
    /// HTLCs the peer offered that we accepted only to fail back.
    pub htlcs_to_fail: Vec<u64>,
    /// Our `upfront_shutdown_script`, if we committed to one.
    pub local_upfront_shutdown: Option<Vec<u8>>,
    /// The peer's `upfront_shutdown_script`, if it committed to one.
    pub remote_upfront_shutdown: Option<Vec<u8>>,
    /// Our `shutdown` script once sent.
    pub local_shutdown: Option<Vec<u8>>,
    /// The peer's `shutdown` script once received.
    pub remote_shutdown: Option<Vec<u8>>,
    /// Whether we initiated the close (the closer in `closing_complete`).
    pub we_initiated_close: bool,
    /// Whether the close uses `option_simple_close`.
    pub simple_close: bool,
    /// The fully signed closing transaction.
    pub closing_tx: Option<Transaction>,
    /// The peer proved our state is stale: never broadcast our commitment.
    pub we_are_behind: bool,
    /// Fundee: the first block height seen while waiting for the funding
    /// transaction to confirm (the start of the 2016-block timeout).
    pub funding_wait_since: Option<u32>,
    /// The peer's node id, when the host set it
    /// ([`Channel::set_counterparty_node_id`]): the record then names the
    /// peer itself, and a node restores from it alone.
    pub counterparty_node_id: Option<bitcoin::secp256k1::PublicKey>,
    /// `announce_channel` of the `open_channel` (odd record field 23).
    pub announce_channel: bool,
    /// The peer's valid `announcement_signatures` (odd record field 25),
    /// written before ours is sent in answer.
    pub remote_announcement_sigs: Option<super::announce::AnnouncementSigs>,
}

/// Whether an input's changes need a write before its output leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Written with the input's output (when the state changed).
    Now,
    /// Safe to lose in a crash, so carried by the next write: an update the
    /// peer sends again if we never acknowledged it, or a host update whose
    /// message the peer cannot act on until the `commitment_signed` that
    /// covers it, and that `commitment_signed` is written first.
    Deferred,
}

/// The best block height a channel reads (its funding depth, a closing
/// transaction's locktime). A node hands one cell to all its channels
/// ([`Channel::share_best_height`](super::Channel::share_best_height)), so
/// that a block is one store for them all and a channel with nothing to do
/// at a block is not visited (issue 15: `block_connected` with 10,000
/// channels); a channel alone has a cell of its own.
///
/// The cell is only read and written under the node's `&mut` (any handoff
/// between threads goes through the host's lock), so relaxed ordering is
/// enough.
#[derive(Debug, Clone, Default)]
pub struct BestHeight(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl BestHeight {
    /// The height.
    pub fn get(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the height, for every channel sharing the cell.
    pub fn set(&self, height: u32) {
        self.0.store(height, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What is not persisted: it restarts with the connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Transient {
    /// A [`Channel::handle_messages`] batch is running: inputs do not
    /// write; the batch writes once at its end.
    pub batching: bool,
    /// An input of the running batch needs the batch's write.
    pub batch_needs_write: bool,
    /// `closing_signed` negotiation (restarts after reconnection).
    pub closing: Option<ClosingNegotiation>,
    /// Whether our first `closing_signed`/`closing_complete` went out.
    pub closing_started: bool,
    /// Our last `closing_complete`, which the peer's `closing_sig` must
    /// echo (`option_simple_close`).
    pub closing_complete_sent: Option<super::close::SentClosingComplete>,
    /// The best block height (funding depth, closing locktimes): shared by
    /// all of a node's channels ([`BestHeight`]).
    pub best_height: BestHeight,
    /// Whether the peer is connected and `channel_reestablish` done.
    pub connected: bool,
    /// Our per-commitment point for the next holder commitment, as our
    /// last `revoke_and_ack` sent it (the next `commitment_signed` is
    /// verified against that commitment, so the point is not derived from
    /// the shachain seed and multiplied again).
    pub next_holder_point: Option<(u64, bitcoin::secp256k1::PublicKey)>,
    /// What the running input's `revoke_and_ack`s moved in the log, for
    /// its HTLC events.
    pub revoked: Vec<Revoked>,
    /// Our `announcement_signatures` went out on this connection.
    pub announcement_sent: bool,
    /// The peer's `announcement_signatures` came on this connection.
    pub announcement_received: bool,
}

/// One BOLT 2 channel with one peer, sans-IO.
///
/// Feed it the peer's messages with [`Channel::handle_message`] and the
/// host's requests with the other methods; each returns a
/// [`ChannelOutput`]: first make `persist` durable, then send `messages`,
/// then handle `events`.
///
/// ```
/// use lightning_core::channel::{Channel, ChannelConfig};
/// use lightning_core::keys::KeysManager;
/// use lightning_wire::msgs::Message;
/// use lightning_wire::types::ChannelId;
///
/// let alice = KeysManager::new(&[1; 32]).unwrap();
/// let bob = KeysManager::new(&[2; 32]).unwrap();
/// let cfg = ChannelConfig { minimum_depth: 1, ..ChannelConfig::default() };
/// // Alice opens (BOLT 2, "The `open_channel` Message").
/// let (mut a, open) = Channel::new_outbound(
///     alice.derive_channel_signer(0).unwrap(), cfg.clone(), 0,
///     ChannelId([7; 32]), 1_000_000, 0, 2500,
/// ).unwrap();
/// // Bob accepts.
/// let (mut b, accept) = Channel::from_open_channel(
///     bob.derive_channel_signer(0).unwrap(), cfg, 0, &open,
/// ).unwrap();
/// let out = a.handle_message(&Message::AcceptChannel(accept)).unwrap();
/// // Alice is asked for a funding transaction.
/// assert!(matches!(out.events[0],
///     lightning_core::channel::ChannelEvent::FundingNeeded { .. }));
/// ```
#[derive(Debug)]
pub struct Channel<S: ChannelSigner> {
    pub(crate) signer: S,
    pub(crate) config: ChannelConfig,
    pub(crate) st: ChannelState,
    pub(crate) tr: Transient,
    pub(crate) persister: Persister,
}

impl<S: ChannelSigner> Channel<S> {
    /// The channel id (the temporary one until funding).
    pub fn channel_id(&self) -> ChannelId {
        self.st.channel_id
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.st.phase
    }

    /// The persisted state (read only).
    pub fn state(&self) -> &ChannelState {
        &self.st
    }

    /// Records the peer's node id in the channel (persisted with the next
    /// write; the first write happens at funding, after the host set it).
    pub fn set_counterparty_node_id(&mut self, node_id: bitcoin::secp256k1::PublicKey) {
        self.st.counterparty_node_id = Some(node_id);
    }

    /// The keys of the channel's record in the store (the snapshot and its
    /// update records), to remove when the channel is forgotten.
    pub fn record_keys(&self) -> Vec<String> {
        self.persister.record_keys(&self.st.channel_id)
    }

    /// The signer.
    pub fn signer(&self) -> &S {
        &self.signer
    }

    /// Whether we may offer HTLCs now.
    pub fn is_usable(&self) -> bool {
        self.st.phase == Phase::Normal && self.tr.connected
    }

    /// Our balance in our latest commitment, before fees, in msat.
    pub fn local_balance_msat(&self) -> u64 {
        self.st.log.view(Side::Local, Which::Current).holder_msat
    }

    /// The peer's message: the channel's reaction, or an error the node
    /// handles with [`Channel::handle_error`].
    ///
    /// An `update_*` message gets no write of its own
    /// (`Durability::Deferred`): until the peer's `commitment_signed`
    /// covers it, a crash may lose it, and the peer sends it again after
    /// `channel_reestablish` (BOLT 2, "Message Retransmission"). It is
    /// written with the next write.
    pub fn handle_message(&mut self, msg: &Message) -> Result<ChannelOutput, ChannelError> {
        let durability = match msg {
            Message::UpdateAddHtlc(_)
            | Message::UpdateFulfillHtlc(_)
            | Message::UpdateFailHtlc(_)
            | Message::UpdateFailMalformedHtlc(_)
            | Message::UpdateFee(_) => Durability::Deferred,
            _ => Durability::Now,
        };
        self.run_as(durability, |ch, out| ch.dispatch(msg, out))
            .map(|((), out)| out)
    }

    /// The peer's messages as they arrived together (one read from the
    /// socket), with **one** write for the lot: the output holds the write
    /// of the final state, then every message and event in order. A
    /// `revoke_and_ack` followed by a `commitment_signed`, or updates
    /// followed by their `commitment_signed`, so cost one durable write
    /// instead of one each; nothing leaves before the write, so persist
    /// before send holds for every message of the batch.
    ///
    /// Handling stops at the first message that fails: the output then
    /// holds what the messages before it did (apply it first), and the
    /// error is returned beside it for [`Channel::handle_error`].
    ///
    /// ```
    /// # use lightning_test_support::pair::{open, OpenOptions, ONION};
    /// let mut pair = open(OpenOptions::default());
    /// let (_, out) = pair.a.ch.send_htlc(5_000_000, lightning_wire::types::PaymentHash([1; 32]), 800_000, ONION.to_vec()).unwrap();
    /// assert!(out.persist.is_none(), "an offer alone is not written");
    /// pair.a.apply(out);
    /// let out = pair.a.ch.commit().unwrap();
    /// assert!(out.persist.is_some(), "the commitment_signed is");
    /// pair.a.apply(out);
    /// // B gets update_add_htlc and commitment_signed in one read.
    /// let msgs: Vec<_> = pair.a.outbox.drain(..).collect();
    /// let (out, result) = pair.b.ch.handle_messages(&msgs);
    /// result.unwrap();
    /// assert_eq!(out.persist.map(|w| w.writes.len()), Some(1));
    /// assert_eq!(out.messages.len(), 2, "revoke_and_ack, commitment_signed");
    /// ```
    pub fn handle_messages(
        &mut self,
        msgs: &[Message],
    ) -> (ChannelOutput, Result<(), ChannelError>) {
        self.tr.batching = true;
        self.tr.batch_needs_write = false;
        let mut all = ChannelOutput::default();
        let mut result = Ok(());
        for msg in msgs {
            match self.handle_message(msg) {
                Ok(out) => {
                    all.messages.extend(out.messages);
                    all.events.extend(out.events);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.tr.batching = false;
        if std::mem::take(&mut self.tr.batch_needs_write) {
            all.persist = self.persister.write(&self.st);
        }
        (all, result)
    }

    fn dispatch(&mut self, msg: &Message, out: &mut ChannelOutput) -> Result<(), ChannelError> {
        match msg {
            Message::AcceptChannel(m) => self.on_accept_channel(m, out),
            Message::FundingCreated(m) => self.on_funding_created(m, out),
            Message::FundingSigned(m) => self.on_funding_signed(m, out),
            Message::ChannelReady(m) => self.on_channel_ready(m, out),
            Message::UpdateAddHtlc(m) => self.on_update_add_htlc(m),
            Message::UpdateFulfillHtlc(m) => self.on_update_fulfill_htlc(m, out),
            Message::UpdateFailHtlc(m) => self.on_update_fail_htlc(m),
            Message::UpdateFailMalformedHtlc(m) => self.on_update_fail_malformed_htlc(m),
            Message::CommitmentSigned(m) => self.on_commitment_signed(m, out),
            Message::RevokeAndAck(m) => self.on_revoke_and_ack(m, out),
            Message::UpdateFee(m) => self.on_update_fee(m),
            Message::ChannelReestablish(m) => self.on_channel_reestablish(m, out),
            Message::Shutdown(m) => self.on_shutdown(m, out),
            Message::ClosingSigned(m) => self.on_closing_signed(m, out),
            Message::ClosingComplete(m) => self.on_closing_complete(m, out),
            Message::ClosingSig(m) => self.on_closing_sig(m, out),
            Message::Error(e) => Err(ChannelError::PeerFailed(super::error::sanitize_peer_text(
                &e.data,
            ))),
            Message::Warning(_) => Ok(()),
            other => Err(self.unexpected(other.name())),
        }
    }

    pub(crate) fn unexpected(&self, message: &'static str) -> ChannelError {
        ChannelError::UnexpectedMessage {
            message,
            phase: self.st.phase.name(),
        }
    }

    /// What the node does with an error from this channel: nothing for a
    /// refused host call, a `warning` for a recoverable violation (the node
    /// then disconnects), or fail the channel: send `error`, persist the
    /// failure, and hand out our latest commitment to broadcast
    /// ([`ChannelEvent::ChannelFailed`]) unless we are behind.
    pub fn handle_error(&mut self, err: &ChannelError) -> ChannelOutput {
        match err.action() {
            ErrorAction::Refuse => ChannelOutput::default(),
            ErrorAction::Warn => {
                let mut out = ChannelOutput::default();
                out.messages.extend(err.to_message(self.st.channel_id));
                out
            }
            ErrorAction::FailChannel => self.fail_channel(
                err.to_string(),
                err.we_are_behind(),
                err.to_message(self.st.channel_id),
            ),
        }
    }

    /// The host gives up on the channel (BOLT 2 unilateral close): same as
    /// failing it, with an `error` to the peer.
    pub fn force_close(&mut self, reason: &str) -> ChannelOutput {
        let error = Message::Error(lightning_wire::msgs::Error {
            channel_id: self.st.channel_id,
            data: super::error::outgoing_error_text(reason),
            tlvs: Default::default(),
        });
        self.fail_channel(reason.to_string(), false, Some(error))
    }

    fn fail_channel(
        &mut self,
        reason: String,
        we_are_behind: bool,
        message: Option<Message>,
    ) -> ChannelOutput {
        let funded = self.st.holder_sigs.is_some();
        self.st.we_are_behind |= we_are_behind;
        if self.st.phase != Phase::Closed {
            self.st.phase = Phase::Failed;
        }
        let holder_commitment = if funded && !self.st.we_are_behind {
            self.holder_commitment().ok()
        } else {
            None
        };
        let mut out = ChannelOutput {
            persist: self.persister.write(&self.st),
            ..ChannelOutput::default()
        };
        out.messages.extend(message);
        out.event(ChannelEvent::ChannelFailed {
            channel_id: self.st.channel_id,
            reason,
            we_are_behind: self.st.we_are_behind,
            holder_commitment,
        })
    }

    /// Our latest commitment, fully signed, plus the HTLC-timeout
    /// transactions: what failing the channel broadcasts. Refused when we
    /// are behind.
    pub fn holder_commitment(&self) -> Result<HolderCommitment, ChannelError> {
        if self.st.we_are_behind {
            return Err(ChannelError::NotNow("broadcast a stale commitment"));
        }
        let sigs = self
            .st
            .holder_sigs
            .as_ref()
            .ok_or(ChannelError::NotNow("broadcast before funding"))?;
        let ctx = self.build_holder(Which::Current, self.st.numbers.local)?;
        let remote = self.remote_keys()?;
        finalize_holder(&self.signer, &ctx, &remote.funding_pubkey, sigs)
    }

    /// The txids of the latest commitment each side holds: (ours, the
    /// peer's). Two channels in agreement give mirrored pairs.
    pub fn commitment_txids(&self) -> Result<(bitcoin::Txid, bitcoin::Txid), ChannelError> {
        let holder = self.build_holder(Which::Current, self.st.numbers.local)?;
        let point = self.remote_point_current()?;
        let counterparty =
            self.build_counterparty(Which::Current, self.st.numbers.remote, &point)?;
        Ok((holder.txid(), counterparty.txid()))
    }

    /// Runs one input as a transaction on the state; its changes are
    /// written with its output ([`Durability::Now`]).
    pub(crate) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Self, &mut ChannelOutput) -> Result<T, ChannelError>,
    ) -> Result<(T, ChannelOutput), ChannelError> {
        self.run_as(Durability::Now, f)
    }

    /// Runs one input as a transaction on the state. Its changes are
    /// written with its output when `durability` is [`Durability::Now`]
    /// (and the state changed), unless a batch is running
    /// ([`Channel::handle_messages`]), which writes once at its end.
    ///
    /// The undo copy costs in proportion to what the input changes, not to
    /// the channel: the update log (every HTLC with its onion) is not
    /// copied but journaled ([`UpdateLog::begin`]), the rest of the state
    /// is small.
    pub(crate) fn run_as<T>(
        &mut self,
        durability: Durability,
        f: impl FnOnce(&mut Self, &mut ChannelOutput) -> Result<T, ChannelError>,
    ) -> Result<(T, ChannelOutput), ChannelError> {
        let log = std::mem::take(&mut self.st.log);
        let saved_st = self.st.clone();
        self.st.log = log;
        let began = self.st.log.begin();
        let saved_tr = self.tr.clone();
        let mut out = ChannelOutput::default();
        match f(self, &mut out) {
            Ok(v) => {
                if began {
                    self.st.log.commit();
                }
                self.htlc_events(&mut out);
                if durability == Durability::Now {
                    if self.tr.batching {
                        self.tr.batch_needs_write = true;
                    } else {
                        out.persist = self.persister.write(&self.st);
                    }
                }
                Ok((v, out))
            }
            Err(e) => {
                let mut log = std::mem::take(&mut self.st.log);
                if began {
                    log.rollback();
                }
                self.st = saved_st;
                self.st.log = log;
                self.tr = saved_tr;
                Err(e)
            }
        }
    }

    /// Notes what a `revoke_and_ack` (sent or received) moved in the log,
    /// for [`Channel::htlc_events`] at the end of the input.
    pub(crate) fn note_revoked(&mut self, moved: Revoked) {
        self.tr.revoked.push(moved);
    }

    /// Events for HTLCs that moved in this input: the peer's adds now
    /// irrevocably committed, and our adds whose failure is now settled.
    /// Built from what the log's transitions reported, so the cost is in
    /// proportion to the HTLCs that moved.
    fn htlc_events(&mut self, out: &mut ChannelOutput) {
        let moved = std::mem::take(&mut self.tr.revoked);
        if moved.is_empty() {
            return;
        }
        let mut settled_remote: Vec<u64> = Vec::new();
        for m in &moved {
            for (offerer, add) in &m.locked_in {
                if *offerer == Side::Remote {
                    out.events.push(ChannelEvent::HtlcReceived {
                        htlc_id: add.id,
                        add: add.clone(),
                        must_fail: self.st.htlcs_to_fail.contains(&add.id),
                    });
                }
            }
        }
        for m in moved {
            for (offerer, add, removal) in m.settled {
                if offerer == Side::Remote {
                    settled_remote.push(add.id);
                    continue;
                }
                let (reason, attribution_data) = match removal {
                    HtlcRemoval::Fail {
                        reason,
                        attribution_data,
                    } => (HtlcFailReason::Onion(reason), attribution_data),
                    HtlcRemoval::FailMalformed {
                        sha256_of_onion,
                        failure_code,
                    } => (
                        HtlcFailReason::Malformed {
                            failure_code,
                            sha256_of_onion,
                        },
                        None,
                    ),
                    // Fulfilled: reported when the preimage arrived.
                    HtlcRemoval::Fulfill { .. } => continue,
                };
                out.events.push(ChannelEvent::HtlcFailed {
                    htlc_id: add.id,
                    payment_hash: add.payment_hash,
                    reason,
                    attribution_data,
                });
            }
        }
        if !settled_remote.is_empty() && !self.st.htlcs_to_fail.is_empty() {
            self.st
                .htlcs_to_fail
                .retain(|id| !settled_remote.contains(id));
        }
    }

    pub(crate) fn remote_keys(&self) -> Result<ChannelPublicKeys, ChannelError> {
        self.st.remote_keys.ok_or(ChannelError::NotNow(
            "build commitments before accept_channel",
        ))
    }

    pub(crate) fn basis<'a>(
        &'a self,
        local_keys: &'a ChannelPublicKeys,
        remote_keys: &'a ChannelPublicKeys,
    ) -> Result<CommitmentBasis<'a>, ChannelError> {
        Ok(CommitmentBasis {
            we_are_funder: self.st.is_funder,
            channel_type: self.st.channel_type,
            funding_outpoint: self
                .st
                .funding_outpoint
                .ok_or(ChannelError::NotNow("build commitments before funding"))?,
            funding_satoshis: self.st.funding_satoshis,
            local_keys,
            remote_keys,
            local_params: &self.st.local_params,
            remote_params: &self.st.remote_params,
        })
    }

    /// Our commitment `number` from the log's current or next view.
    pub(crate) fn build_holder(
        &self,
        which: Which,
        number: u64,
    ) -> Result<crate::transactions::CommitmentTransaction, ChannelError> {
        self.build_holder_from(&self.st.log, which, number)
    }

    pub(crate) fn build_holder_from(
        &self,
        log: &UpdateLog,
        which: Which,
        number: u64,
    ) -> Result<crate::transactions::CommitmentTransaction, ChannelError> {
        let local = self.signer.pubkeys();
        let remote = self.remote_keys()?;
        let point = match self.tr.next_holder_point {
            Some((n, point)) if n == number => point,
            _ => self.signer.holder_per_commitment_point(number)?,
        };
        self.basis(&local, &remote)?
            .build(&log.view(Side::Local, which), number, &point)
    }

    /// The peer's commitment `number` with point `point`.
    /// The peer's commitment `number` whose revocation is awaited (point
    /// `point`): the one before our last `commitment_signed`, rebuilt from
    /// the log as it was then.
    pub(crate) fn build_revoking_counterparty(
        &self,
        number: u64,
        point: &bitcoin::secp256k1::PublicKey,
    ) -> Result<crate::transactions::CommitmentTransaction, ChannelError> {
        let local = self.signer.pubkeys();
        let remote = self.remote_keys()?;
        let keys = self.signer.counterparty_commitment_keys(point)?;
        let log = crate::onchain::classify::log_before_last_signature(&self.st.log);
        self.basis(&local, &remote)?
            .build_with_keys(&log.view(Side::Remote, Which::Current), number, &keys)
    }

    pub(crate) fn build_counterparty(
        &self,
        which: Which,
        number: u64,
        point: &bitcoin::secp256k1::PublicKey,
    ) -> Result<crate::transactions::CommitmentTransaction, ChannelError> {
        let local = self.signer.pubkeys();
        let remote = self.remote_keys()?;
        let keys = self.signer.counterparty_commitment_keys(point)?;
        self.basis(&local, &remote)?.build_with_keys(
            &self.st.log.view(Side::Remote, which),
            number,
            &keys,
        )
    }

    pub(crate) fn terms(&self) -> ChannelTerms {
        ChannelTerms {
            funder: if self.st.is_funder {
                Side::Local
            } else {
                Side::Remote
            },
            channel_type: self.st.channel_type,
            local: self.st.local_params,
            remote: self.st.remote_params,
            max_dust_htlc_exposure_msat: self.config.max_dust_htlc_exposure_msat,
        }
    }

    /// The funding output's script.
    pub fn funding_script_pubkey(&self) -> Result<ScriptBuf, ChannelError> {
        let remote = self.remote_keys()?;
        Ok(scripts::p2wsh(&scripts::funding_script(
            &self.signer.pubkeys().funding_pubkey,
            &remote.funding_pubkey,
        )))
    }
}
