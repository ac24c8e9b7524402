//! Fee bumping for on-chain claims (issue 15, "Deadlines and fee bumping"),
//! sans-IO: building blocks the resolver calls, with the host's
//! [`Wallet`] paying where a claim cannot
//! pay for itself.
//!
//! - [`schedule`]: [`FeeBumpState`], a claim's fee history persisted as
//!   bytes, and [`next_bump`], the fee rate of its next (re)broadcast:
//!   starting from the estimator's estimate, rising monotonically toward the
//!   claim's deadline, never falling, not even after a conflicting spend is
//!   seen (the LND replacement-stalling class), each step a valid BIP 125
//!   replacement of the last.
//! - [`anchor`]: CPFP of an unconfirmed `option_anchors` commitment
//!   through our anchor (BOLT 3, "`to_local_anchor` and `to_remote_anchor`
//!   Output": spent with our `funding_pubkey`'s signature), with wallet
//!   inputs and change, so the package reaches a target fee rate.
//! - [`htlc`]: our zero-fee HTLC-timeout / HTLC-success transactions of an
//!   `option_anchors` channel, given wallet inputs and change so they pay a
//!   target fee rate (BOLT 3, "HTLC-Timeout and HTLC-Success
//!   Transactions": the peer's `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY`
//!   signature lets us add inputs and outputs; ours is `SIGHASH_ALL`).
//!
//! Claims that pay for themselves (justice, sweeps, HTLC claims on the
//! peer's commitment) are rebuilt with
//! [`build_claim_transaction`](super::build_claim_transaction) at the rate
//! [`next_bump`] gives.

// Until the resolver calls them, the re-exports are for `test-support`.
#![cfg_attr(not(feature = "test-support"), allow(unused_imports))]

pub mod anchor;
pub mod htlc;
pub mod policy;
pub mod record;
pub mod schedule;

pub use anchor::{build_anchor_cpfp, find_anchor, AnchorCpfp};
pub use htlc::build_funded_holder_htlc_transaction;
pub use schedule::{
    anchor_cpfp_deadline, htlc_success_deadline, htlc_timeout_deadline, justice_deadline,
    next_bump, value_cap, FeeBumpState, FeeTarget, MIN_FEERATE_INCREMENT, NO_DEADLINE_HORIZON,
};

use std::collections::HashMap;

use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use lightning_chain::wallet::WalletError;
use lightning_chain::wallet::{
    select_coins, CoinSelection, CoinSelectionRequest, Wallet, WalletUtxo,
};

use crate::keys::SignerError;
use crate::transactions::TxError;

/// Building a fee-bumped transaction failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BumpError {
    /// The wallet failed, or its coins cannot pay
    /// ([`WalletError::InsufficientFunds`]).
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// The channel signer refused or failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// Building the transaction failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The channel is not `option_anchors`: its commitment has no anchor and
    /// its HTLC transactions are signed `SIGHASH_ALL` by the peer, so
    /// nothing can be added to them.
    #[error("not an option_anchors channel")]
    NotAnchors,
    /// The commitment has no anchor output paying our `funding_pubkey`.
    #[error("no anchor output of ours in the commitment")]
    NoAnchor,
    /// The commitment to CPFP carries no witness: its weight is unknown.
    #[error("the parent transaction is not signed")]
    UnsignedParent,
    /// The inputs do not fit together.
    #[error("mismatch: {0}")]
    Mismatch(&'static str),
}

/// A transaction funded from the wallet: what it pays and an upper bound of
/// its weight (signatures counted at 73 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundedTransaction {
    /// The signed transaction.
    pub tx: Transaction,
    /// Its fee.
    pub fee: Amount,
    /// An upper bound of its weight, on which the fee was computed.
    pub weight: u64,
    /// The wallet coins it spends: give them back as `reuse` when building
    /// its replacement, since the wallet no longer lists coins its mempool
    /// spends.
    pub wallet_inputs: Vec<WalletUtxo>,
}

/// Who holds a wallet coin picked for a claim: a claim of a channel (its
/// index in the resolver's claims) or the channel's anchor CPFP child
/// (`None`).
pub type CoinHolder = (lightning_wire::types::ChannelId, Option<usize>);

/// The host's wallet as one claim sees it: without the coins other pending
/// claims hold (`reserved`, by their holder). Every claim's coin selection
/// goes through it, so two claims never spend the same coin, whether they
/// are built in the same step (the wallet only stops listing a coin once
/// the transaction spending it is in its mempool, after the step's write)
/// or in different blocks and channels.
pub struct ReservedWallet<'a, W: ?Sized> {
    /// The host's wallet.
    pub wallet: &'a W,
    /// The coins held, by holder.
    pub reserved: &'a HashMap<OutPoint, CoinHolder>,
    /// The claim selecting: its own coins stay visible to it.
    pub me: CoinHolder,
}

impl<W: ?Sized> std::fmt::Debug for ReservedWallet<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReservedWallet")
            .field("reserved", &self.reserved.len())
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl<W: Wallet + ?Sized> ReservedWallet<'_, W> {
    /// Whether `coin` is held by another claim.
    pub fn held_by_other(&self, coin: &OutPoint) -> bool {
        self.reserved.get(coin).is_some_and(|h| *h != self.me)
    }

    /// The coins of the last version, less those another claim holds.
    pub fn reusable(&self, coins: &[WalletUtxo]) -> Vec<WalletUtxo> {
        coins
            .iter()
            .filter(|c| !self.held_by_other(&c.outpoint))
            .cloned()
            .collect()
    }
}

impl<W: Wallet + ?Sized> Wallet for ReservedWallet<'_, W> {
    fn confirmed_utxos(&self) -> Result<Vec<WalletUtxo>, WalletError> {
        let mut coins = self.wallet.confirmed_utxos()?;
        coins.retain(|c| !self.held_by_other(&c.outpoint));
        Ok(coins)
    }

    fn change_script(&self) -> Result<ScriptBuf, WalletError> {
        self.wallet.change_script()
    }

    fn sign_wallet_inputs(
        &self,
        tx: &Transaction,
        prevouts: &[TxOut],
    ) -> Result<Vec<(usize, Witness)>, WalletError> {
        self.wallet.sign_wallet_inputs(tx, prevouts)
    }
}

/// Selects wallet coins (the wallet's, plus `reuse`: those of the
/// transaction being replaced) for `request` so that the fee also meets
/// `target.min_fee(weight)` (BIP 125 against what it replaces), which
/// depends on the weight the selection ends with: a few rounds at most.
fn select_for_target<W: Wallet>(
    wallet: &W,
    reuse: &[WalletUtxo],
    mut request: CoinSelectionRequest,
    target: &FeeTarget,
) -> Result<CoinSelection, BumpError> {
    let mut utxos = wallet.confirmed_utxos()?;
    for coin in reuse {
        if !utxos.iter().any(|u| u.outpoint == coin.outpoint) {
            utxos.push(coin.clone());
        }
    }
    request.min_fee = target.min_fee(request.base_weight);
    for _ in 0..4 {
        let sel = select_coins(&utxos, &request)?;
        let needed = target.min_fee(sel.weight);
        if sel.fee >= needed {
            return Ok(sel);
        }
        request.min_fee = needed;
    }
    Err(BumpError::Mismatch("coin selection does not converge"))
}

/// Has the wallet sign its inputs (every input from index `first_wallet`
/// on) and puts the witnesses in place; any other input it claims, or one of
/// its inputs it leaves unsigned, is an error.
fn apply_wallet_signatures<W: Wallet>(
    wallet: &W,
    tx: &mut Transaction,
    prevouts: &[TxOut],
    first_wallet: usize,
) -> Result<(), BumpError> {
    let witnesses = wallet.sign_wallet_inputs(tx, prevouts)?;
    let mut signed = vec![false; tx.input.len()];
    for (index, witness) in witnesses {
        if index < first_wallet {
            return Err(WalletError::NotOurInput(index).into());
        }
        let input = tx
            .input
            .get_mut(index)
            .ok_or(WalletError::NotOurInput(index))?;
        input.witness = witness;
        if let Some(s) = signed.get_mut(index) {
            *s = true;
        }
    }
    if signed.iter().skip(first_wallet).any(|s| !s) {
        return Err(BumpError::Mismatch(
            "the wallet left one of its inputs unsigned",
        ));
    }
    Ok(())
}

/// A witness of `n` placeholder elements sized as given, for weight
/// estimates.
fn placeholder_witness(sizes: &[usize]) -> Witness {
    let mut w = Witness::new();
    for s in sizes {
        w.push(vec![0u8; *s]);
    }
    w
}
