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
    /// `update_add_htlc` after the peer's `shutdown` ("MUST NOT send an
    /// `update_add_htlc` after a `shutdown`") once closing negotiation has
    /// begun. Before that, such an add is accepted and failed back.
    #[error("update_add_htlc after shutdown, during closing negotiation")]
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
    /// The peer sent `error` for this channel. The text is the peer's,
    /// sanitised and bounded ([`sanitize_peer_text`]); it is shown to the
    /// host and never sent back (no `error` answers this one).
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
    /// The peer's `announcement_signatures` names another
    /// `short_channel_id` or carries a bad signature (BOLT 7, "The
    /// `announcement_signatures` Message": "send a `warning` and close the
    /// connection").
    #[error("bad announcement_signatures: {0}")]
    BadAnnouncementSignatures(&'static str),
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
            | UnexpectedMessage { .. }
            | BadAnnouncementSignatures(_) => ErrorAction::Warn,
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

    /// The `warning` or `error` message for the peer, if any. Its text is
    /// ours and bounded ([`outgoing_error_text`]). A [`PeerFailed`] gets no
    /// message: BOLT 1 asks nothing back for an `error`, and answering one
    /// with another is how two nodes would quote each other forever.
    ///
    /// [`PeerFailed`]: ChannelError::PeerFailed
    pub fn to_message(&self, channel_id: ChannelId) -> Option<Message> {
        if let ChannelError::PeerFailed(_) = self {
            return None;
        }
        let data = outgoing_error_text(&self.to_string());
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

/// The most bytes of text we put in an `error` or `warning`, and the most
/// characters of a peer's text we show the host.
pub const MAX_ERROR_TEXT: usize = 256;

/// A text from the peer (the `data` of an `error` or `warning`), made safe
/// to show: printable ASCII only (anything else becomes `?`), at most
/// [`MAX_ERROR_TEXT`] characters, ending in `...` when cut. BOLT 1 only
/// says `data` "SHOULD" be ASCII; nothing the peer sends is trusted to be.
pub fn sanitize_peer_text(data: &[u8]) -> String {
    bounded_ascii(data.iter().map(|b| char::from(*b)), data.len())
}

/// The `data` of an `error` or `warning` we send: our own text, printable
/// ASCII, at most [`MAX_ERROR_TEXT`] bytes (ending in `...` when cut). Every
/// outgoing `error`/`warning` text goes through this, so none can grow
/// with what a peer sent (issue 13, findings 1 and 2).
pub fn outgoing_error_text(text: &str) -> Vec<u8> {
    bounded_ascii(text.chars(), text.chars().count()).into_bytes()
}

fn bounded_ascii(chars: impl Iterator<Item = char>, count: usize) -> String {
    let keep = if count > MAX_ERROR_TEXT {
        MAX_ERROR_TEXT - 3
    } else {
        MAX_ERROR_TEXT
    };
    let mut out: String = chars
        .take(keep)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if count > MAX_ERROR_TEXT {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn peer_text_is_printable_ascii_and_bounded() {
        assert_eq!(sanitize_peer_text(b"bad sig"), "bad sig");
        assert_eq!(sanitize_peer_text(b"a\x00\nb\xffc"), "a??b?c");
        let long = sanitize_peer_text(&[0xff; 21_846]);
        assert_eq!(long.len(), MAX_ERROR_TEXT);
        assert!(long.ends_with("?..."));
        assert_eq!(
            sanitize_peer_text(&[b'x'; MAX_ERROR_TEXT]).len(),
            MAX_ERROR_TEXT
        );
    }

    #[test]
    fn outgoing_text_is_bounded() {
        assert_eq!(outgoing_error_text("fine"), b"fine");
        let t = outgoing_error_text(&"\u{e9}".repeat(100_000));
        assert_eq!(t.len(), MAX_ERROR_TEXT);
        assert!(t.iter().all(|b| b.is_ascii_graphic() || *b == b' '));
    }

    #[test]
    fn a_peer_error_is_never_answered() {
        let e = ChannelError::PeerFailed(sanitize_peer_text(&[0xff; 30_000]));
        assert_eq!(e.to_message(ChannelId([1; 32])), None);
        assert!(e.to_string().len() < 2 * MAX_ERROR_TEXT);
    }
}
