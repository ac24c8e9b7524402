//! On-chain resolution (BOLT 5), sans-IO: what a transaction spending a
//! channel's funding output is, and what we can claim from it.
//!
//! - [`classify`]: a spend of the funding outpoint is a mutual close, our
//!   commitment, the peer's current or next commitment, a revoked
//!   commitment of the peer (with the per-commitment secret that unlocks
//!   it), or an unknown spend (BOLT 5, "General Requirements": warn about
//!   lost funds).
//! - [`resolve`](mod@resolve): for each kind, the outputs we can claim and how, as data
//!   ([`Claim`], [`HolderHtlcClaim`]), and the signed transactions that
//!   claim them, built with [`crate::transactions::sweep`] and
//!   [`crate::transactions::htlc`].
//!
//! - [`bump`]: fee bumping: the fee schedule of every claim, anchor CPFP
//!   and wallet-funded HTLC transactions, paid from the host's
//!   [`Wallet`](lightning_chain::wallet::Wallet).
//! - [`resolver`]: a channel's persisted bookkeeping after its funding
//!   output is spent (claims, their heights, reorgs), encoded by
//!   [`record`]; the node (`node/onchain.rs`) drives it.
//!
//! The node calls [`bump`] every block (`node/bumping.rs`); the policy it
//! follows (deadlines, caps, rebuilding a claim) is `bump::policy`.
//! Like the channel's state machine, `classify` and `resolve` are public
//! only with the `test-support` feature.
#![cfg_attr(not(feature = "test-support"), allow(dead_code, unreachable_pub))]

#[cfg(feature = "test-support")]
pub mod bump;
#[cfg(not(feature = "test-support"))]
pub(crate) mod bump;
#[cfg(feature = "test-support")]
pub mod classify;
#[cfg(not(feature = "test-support"))]
pub(crate) mod classify;
#[cfg(feature = "test-support")]
pub mod resolve;
#[cfg(not(feature = "test-support"))]
pub(crate) mod resolve;

pub mod record;
pub mod resolver;

pub use bump::record::{AnchorBump, ClaimBump};
pub use resolver::{ChannelResolver, ClaimTag, FundingSpend, PendingClaim, SpendTag};

#[cfg(feature = "test-support")]
pub use classify::{
    classify_spend, commitment_number_from_tx, HtlcCandidate, RevokedCommitment, RevokedHtlc,
    SpendKind, UnknownSpend,
};
#[cfg(feature = "test-support")]
pub use resolve::{
    build_claim_transaction, build_holder_htlc_transaction, extract_preimages, resolve,
    second_stage_claim, second_stage_justice, Claim, ClaimKind, HolderHtlcClaim, Resolution,
    UnclaimedHtlc,
};

use crate::channel::ChannelError;
use crate::keys::{KeyError, SignerError};
use crate::transactions::TxError;

/// Classifying or resolving a spend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnchainError {
    /// The transaction does not spend the channel's funding outpoint.
    #[error("the transaction does not spend the funding outpoint")]
    NotAFundingSpend,
    /// The channel has no funding outpoint or no counterparty keys yet.
    #[error("the channel is not funded")]
    Unfunded,
    /// Building a commitment failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The signer refused or failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// Building a transaction failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A key derivation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A claim does not belong to the resolution it is built from.
    #[error("claim mismatch: {0}")]
    Mismatch(&'static str),
}
