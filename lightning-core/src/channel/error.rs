//! What can go wrong in a channel, and what the node does about it.
//!
//! Every variant names the BOLT 2 rule it enforces. [`ChannelError::action`]
//! says whether the peer gets a `warning` (and the connection closes), an
//! `error` (and the channel fails, BOLT 1 "The `error` and `warning`
//! Messages"), or nothing because the host asked for something the channel
//! cannot do now.

use lightning_wire::msgs::{Error as ErrorMessage, Message, Warning};
use lightning_wire::types::ChannelId;

use super::close::ClosingError;
use super::htlc_policy::HtlcError;
use super::params::EstablishError;
use super::reestablish::ReestablishError;
use super::update_log::UpdateError;
use crate::keys::shachain::ShachainError;
use crate::keys::SignerError;
use crate::transactions::TxError;

/// What the node does with a [`ChannelError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Send `warning` and close the connection; the channel survives and
    /// resumes with `channel_reestablish`.
    Warn,
    /// Send `error` and fail the channel: broadcast our latest commitment
    /// (unless we are behind).
    FailChannel,
    /// A host call that cannot be done now; nothing is sent.
    Refuse,
}

/// A channel error, naming the BOLT 2 rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// `open_channel` / `accept_channel` broke a rule ("The `open_channel`
    /// Message", "The `accept_channel` Message").
    #[error("channel establishment: {0}")]
    Establish(#[from] EstablishError),
    /// `update_add_htlc` broke a rule ("Adding an HTLC").
    #[error("update_add_htlc: {0}")]
    Htlc(#[from] HtlcError),
    /// An update named an unknown HTLC, reused an id, or removed one not yet
    /// irrevocably committed ("Removing an HTLC").
    #[error("update: {0}")]
    Update(#[from] UpdateError),
    /// `update_fulfill_htlc` whose `payment_preimage` does not hash to the
    /// HTLC's `payment_hash` ("MUST fail the channel").
    #[error("update_fulfill_htlc {htlc_id}: SHA256(payment_preimage) is not the payment_hash")]
    BadPreimage {
        /// The HTLC.
        htlc_id: u64,
    },
    /// `update_fail_malformed_htlc` without the `BADONION` bit in
    /// `failure_code` ("MUST fail the channel").
    #[error(
        "update_fail_malformed_htlc {htlc_id}: failure_code {failure_code:#06x} lacks BADONION"
    )]
    MalformedWithoutBadOnion {
        /// The HTLC.
        htlc_id: u64,
        /// The code sent.
        failure_code: u16,
    },
    /// `commitment_signed` whose `signature` is not valid for our next
    /// commitment ("MUST send a warning and close the connection, or send
    /// an error and fail the channel").
    #[error("commitment_signed: signature is not valid for commitment {commitment_number}")]
    BadCommitmentSignature {
        /// Our commitment number it was for.
        commitment_number: u64,
    },
    /// `num_htlcs` differs from the number of HTLC outputs of our next
    /// commitment ("MUST fail the channel").
    #[error("commitment_signed: {got} HTLC signatures for {expected} HTLC outputs")]
    HtlcSignatureCount {
        /// HTLC outputs in the commitment.
        expected: usize,
        /// Signatures received.
        got: usize,
    },
    /// An `htlc_signature` that is not valid for its HTLC transaction ("MUST
    /// fail the channel").
    #[error("commitment_signed: htlc_signature {index} is not valid")]
    BadHtlcSignature {
        /// Index in output order.
        index: usize,
    },
    /// A `commitment_signed` or `revoke_and_ack` that is not due: a
    /// `revoke_and_ack` with no commitment awaiting revocation.
    #[error("{message} is not expected now")]
    UnexpectedRevocation {
        /// The message.
        message: &'static str,
    },
    /// `per_commitment_secret` does not generate the previous
    /// `per_commitment_point` ("MUST send an error and fail the channel").
    #[error("revoke_and_ack: per_commitment_secret does not match the point of commitment {commitment_number}")]
    RevocationSecretMismatch {
        /// The peer's commitment it claimed to revoke.
        commitment_number: u64,
    },
    /// The secret is not consistent with the earlier ones (BOLT 3,
    /// "Efficient Per-commitment Secret Storage").
    #[error("revoke_and_ack: {0}")]
    Secrets(#[from] ShachainError),
    /// `update_fee` from the side that is not the funder ("MUST send a
    /// warning and close the connection, or send an error and fail the
    /// channel").
    #[error("update_fee from the non-funder")]
    UpdateFeeFromFundee,
    /// `update_fee` the funder cannot pay, or a raise that would push the
    /// trimmed HTLCs of either commitment past our
    /// `max_dust_htlc_exposure_msat` (BOLT 2, "Updating Fees: `update_fee`":
    /// "MAY fail the channel"; we fail it).
    #[error("update_fee: {0}")]
    UpdateFee(HtlcError),
    /// `update_fee` outside the feerates this node accepts.
    #[error("update_fee: feerate_per_kw {got} is outside [{min}, {max}]")]
    FeerateOutOfBounds {
        /// The feerate.
        got: u32,
        /// Lowest accepted.
        min: u32,
        /// Highest accepted.
        max: u32,
    },
    /// A message that does not belong in the channel's current phase.
    #[error("{message} is not expected while {phase}")]
    UnexpectedMessage {
        /// The message name.
        message: &'static str,
        /// The phase.
        phase: &'static str,
    },
    /// `update_add_htlc` after `shutdown` ("MUST NOT send an
    /// `update_add_htlc` after a `shutdown`").
    #[error("update_add_htlc after shutdown")]
    AddAfterShutdown,
    /// `funding_created`/`funding_signed`: the signature on our first
    /// commitment is not valid ("MUST send a warning and close the
    /// connection, or send an error and fail the channel").
    #[error("{message}: signature on our initial commitment is not valid")]
    BadFundingSignature {
        /// `funding_created` or `funding_signed`.
        message: &'static str,
    },
    /// The funding transaction, as the chain holds it, has no output at
    /// `funding_output_index`, or that output does not pay the 2-of-2
    /// P2WSH of both funding keys, or does not carry exactly
    /// `funding_satoshis` (BOLT 2, "The `funding_created` Message"; BOLT 3,
    /// "Funding Transaction Output"): the channel fails and never becomes
    /// usable.
    #[error("funding transaction: {0}")]
    BadFundingOutput(&'static str),
    /// `channel_reestablish` checks ("Message Retransmission").
    #[error("channel_reestablish: {0}")]
    Reestablish(#[from] ReestablishError),
    /// A `shutdown` script that is not one of the allowed forms, or differs
    /// from the `upfront_shutdown_script` ("Closing Initiation").
    #[error("shutdown: {0}")]
    BadShutdownScript(&'static str),
    /// `closing_signed` negotiation ("Closing Negotiation").
    #[error("closing_signed: {0}")]
    Closing(#[from] ClosingError),
    /// A closing signature that is not valid for the closing transaction.
    #[error("{message}: signature is not valid for the closing transaction")]
    BadClosingSignature {
        /// `closing_signed`, `closing_complete` or `closing_sig`.
        message: &'static str,
    },
    /// `closing_complete`/`closing_sig` that does not match the shutdown
    /// scripts, or carries no signature we can use.
    #[error("{message}: {reason}")]
    BadClosingMessage {
        /// The message.
        message: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The peer sent `error` for this channel.
    #[error("the peer failed the channel: {0}")]
    PeerFailed(String),
    /// The HTLC or fee the host asked to send breaks a limit; nothing was
    /// sent and the channel is unchanged.
    #[error("cannot offer: {0}")]
    CannotOffer(HtlcError),
    /// A host call that is not possible now (wrong phase, waiting for a
    /// `revoke_and_ack`, updates pending before `shutdown`...).
    #[error("cannot {0} now")]
    NotNow(&'static str),
    /// A host call with an argument the channel refuses (the funding
    /// transaction has no matching output, an HTLC id we do not know...).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The signer refused (a bug or a remote signer's policy).
    #[error("signer: {0}")]
    Signer(#[from] SignerError),
    /// A transaction could not be built from the agreed state.
    #[error("transaction: {0}")]
    Transaction(#[from] TxError),
}

impl ChannelError {
    /// What the node does about it.
    pub fn action(&self) -> ErrorAction {
        use ChannelError::*;
        match self {
            NotNow(_) | InvalidArgument(_) | CannotOffer(_) => ErrorAction::Refuse,
            BadShutdownScript(_)
            | Closing(_)
            | BadClosingSignature { .. }
            | BadClosingMessage { .. }
            | UnexpectedMessage { .. } => ErrorAction::Warn,
            _ => ErrorAction::FailChannel,
        }
    }

    /// Whether this error proves our state is older than the peer's: we
    /// must then never broadcast our commitment.
    pub fn we_are_behind(&self) -> bool {
        matches!(
            self,
            ChannelError::Reestablish(ReestablishError::WeAreBehind { .. })
        )
    }

    /// The `warning` or `error` message for the peer, if any.
    pub fn to_message(&self, channel_id: ChannelId) -> Option<Message> {
        let data = self.to_string().into_bytes();
        match self.action() {
            ErrorAction::Refuse => None,
            ErrorAction::Warn => Some(Message::Warning(Warning {
                channel_id,
                data,
                tlvs: Default::default(),
            })),
            ErrorAction::FailChannel => Some(Message::Error(ErrorMessage {
                channel_id,
                data,
                tlvs: Default::default(),
            })),
        }
    }
}
