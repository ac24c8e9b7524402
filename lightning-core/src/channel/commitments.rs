//! Building, signing and verifying the two commitment chains (BOLT 2,
//! "Committing Updates So Far"; BOLT 3, "Commitment Transaction").
//!
//! A commitment is a pure function of the channel's constants (funding,
//! keys, parameters, channel type), one side's [`CommitmentView`] from the
//! [`UpdateLog`](super::update_log::UpdateLog), a commitment number and that
//! side's per-commitment point. Signing is deterministic (RFC 6979), so a
//! lost `commitment_signed` is retransmitted by building it again.

use bitcoin::ecdsa;
use bitcoin::secp256k1::PublicKey;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{Amount, OutPoint};
use secp256k1::ecdsa::Signature;

use super::error::ChannelError;
use super::events::HolderCommitment;
use super::params::{ChannelType, PartyParams};
use super::update_log::{CommitmentView, Side};
use crate::amount::{FeeratePerKw, Msat};
use crate::keys::{ChannelPublicKeys, ChannelSigner};
use crate::transactions::htlc::{
    build_htlc_transaction, htlc_transaction_witness, remote_htlc_sighash_type,
};
use crate::transactions::{
    self, build_commitment_transaction, funding_witness, obscuring_factor, verify_p2wsh_signature,
    CommitmentKeys, CommitmentParams, CommitmentTransaction, HtlcDirection, HtlcInfo,
};

/// The constants every commitment of a channel is built from.
#[derive(Debug, Clone, Copy)]
pub struct CommitmentBasis<'a> {
    /// Whether we opened the channel.
    pub we_are_funder: bool,
    /// The channel type.
    pub channel_type: ChannelType,
    /// The funding output.
    pub funding_outpoint: OutPoint,
    /// Its value.
    pub funding_satoshis: u64,
    /// Our basepoints.
    pub local_keys: &'a ChannelPublicKeys,
    /// The peer's basepoints.
    pub remote_keys: &'a ChannelPublicKeys,
    /// What we announced (applies to the peer's commitment).
    pub local_params: &'a PartyParams,
    /// What the peer announced (applies to ours).
    pub remote_params: &'a PartyParams,
}

impl ChannelType {
    /// The BOLT 3 transaction format of this type.
    pub fn commitment_format(self) -> transactions::CommitmentFormat {
        if self.anchors {
            transactions::CommitmentFormat::AnchorsZeroFeeHtlc
        } else {
            transactions::CommitmentFormat::StaticRemoteKey
        }
    }
}

impl CommitmentBasis<'_> {
    /// Builds `view.holder`'s commitment number `number`, whose holder's
    /// per-commitment point is `point`.
    pub fn build(
        &self,
        view: &CommitmentView<'_>,
        number: u64,
        point: &PublicKey,
    ) -> Result<CommitmentTransaction, ChannelError> {
        let (holder_keys, cp_keys) = match view.holder {
            Side::Local => (self.local_keys, self.remote_keys),
            Side::Remote => (self.remote_keys, self.local_keys),
        };
        let keys = CommitmentKeys::derive(point, holder_keys, cp_keys)
            .map_err(|e| ChannelError::Transaction(e.into()))?;
        self.build_with_keys(view, number, &keys)
    }

    /// [`CommitmentBasis::build`] with the commitment's keys already
    /// derived (by the signer, for the peer's commitment: see
    /// [`ChannelSigner::counterparty_commitment_keys`]).
    pub fn build_with_keys(
        &self,
        view: &CommitmentView<'_>,
        number: u64,
        keys: &CommitmentKeys,
    ) -> Result<CommitmentTransaction, ChannelError> {
        let holder = view.holder;
        let (holder_keys, cp_keys, holder_dust, delay) = match holder {
            // Each side's `to_self_delay` and `dust_limit_satoshis` bind the
            // *other* side's outputs / its own commitment respectively.
            Side::Local => (
                self.local_keys,
                self.remote_keys,
                self.local_params.dust_limit_satoshis,
                self.remote_params.to_self_delay,
            ),
            Side::Remote => (
                self.remote_keys,
                self.local_keys,
                self.remote_params.dust_limit_satoshis,
                self.local_params.to_self_delay,
            ),
        };
        let htlcs: Vec<HtlcInfo> = view
            .htlcs
            .iter()
            .map(|h| HtlcInfo {
                direction: if h.offerer == holder {
                    HtlcDirection::Offered
                } else {
                    HtlcDirection::Received
                },
                amount: Msat(h.add.amount_msat),
                payment_hash: h.add.payment_hash,
                cltv_expiry: h.add.cltv_expiry,
            })
            .collect();
        let (opener, accepter) = if self.we_are_funder {
            (self.local_keys, self.remote_keys)
        } else {
            (self.remote_keys, self.local_keys)
        };
        let params = CommitmentParams {
            channel_type: self.channel_type.commitment_format(),
            funding_outpoint: self.funding_outpoint,
            funding_amount: Amount::from_sat(self.funding_satoshis),
            local_funding_pubkey: holder_keys.funding_pubkey,
            remote_funding_pubkey: cp_keys.funding_pubkey,
            obscuring_factor: obscuring_factor(
                &opener.payment_basepoint,
                &accepter.payment_basepoint,
            ),
            commitment_number: number,
            to_self_delay: delay,
            dust_limit: Amount::from_sat(holder_dust),
            feerate: FeeratePerKw(view.feerate_per_kw),
            local_is_funder: (holder == Side::Local) == self.we_are_funder,
            to_local: Msat(view.holder_msat),
            to_remote: Msat(view.counterparty_msat),
            htlcs: &htlcs,
            keys,
        };
        Ok(build_commitment_transaction(&params)?)
    }
}

/// The peer's signatures on one of our commitments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderSignatures {
    /// On the commitment's funding input.
    pub commitment: Signature,
    /// On each HTLC transaction, in output order.
    pub htlcs: Vec<Signature>,
}

/// Checks the peer's signatures on our commitment `ctx` (BOLT 2, "Receiving
/// `commitment_signed`": the `signature` MUST be valid for the commitment,
/// `num_htlcs` MUST equal the HTLC outputs, every `htlc_signature` MUST be
/// valid for its HTLC transaction).
pub fn verify_holder_signatures(
    ctx: &CommitmentTransaction,
    remote_funding_pubkey: &PublicKey,
    sigs: &HolderSignatures,
) -> Result<(), ChannelError> {
    let sig = ecdsa::Signature {
        signature: sigs.commitment,
        sighash_type: EcdsaSighashType::All,
    };
    if !verify_p2wsh_signature(
        &ctx.tx,
        0,
        &ctx.funding_script,
        ctx.funding_amount,
        &sig,
        remote_funding_pubkey,
    )? {
        return Err(ChannelError::BadCommitmentSignature {
            commitment_number: ctx.commitment_number,
        });
    }
    if sigs.htlcs.len() != ctx.htlcs.len() {
        return Err(ChannelError::HtlcSignatureCount {
            expected: ctx.htlcs.len(),
            got: sigs.htlcs.len(),
        });
    }
    let txid = ctx.txid();
    let sighash_type = remote_htlc_sighash_type(ctx.channel_type);
    for (index, (h, s)) in ctx.htlcs.iter().zip(&sigs.htlcs).enumerate() {
        let htx = build_htlc_transaction(txid, ctx, h)?;
        let sig = ecdsa::Signature {
            signature: *s,
            sighash_type,
        };
        if !verify_p2wsh_signature(
            &htx,
            0,
            &h.witness_script,
            h.amount,
            &sig,
            &ctx.keys.remote_htlc_pubkey,
        )? {
            return Err(ChannelError::BadHtlcSignature { index });
        }
    }
    Ok(())
}

/// Signs the peer's commitment: the funding signature and one signature per
/// HTLC output, in output order, as `commitment_signed` carries them.
pub fn sign_counterparty<S: ChannelSigner>(
    signer: &S,
    ctx: &CommitmentTransaction,
) -> Result<(Signature, Vec<Signature>), ChannelError> {
    let sigs = signer.sign_counterparty_commitment(ctx)?;
    Ok((
        sigs.commitment_signature.signature,
        sigs.htlc_signatures.iter().map(|s| s.signature).collect(),
    ))
}

/// Our commitment `ctx` with both signatures, ready to broadcast, and the
/// HTLC-timeout transactions of the HTLCs we offered.
pub fn finalize_holder<S: ChannelSigner>(
    signer: &S,
    ctx: &CommitmentTransaction,
    remote_funding_pubkey: &PublicKey,
    sigs: &HolderSignatures,
) -> Result<HolderCommitment, ChannelError> {
    let ours = signer.sign_holder_commitment(ctx)?;
    let theirs = ecdsa::Signature {
        signature: sigs.commitment,
        sighash_type: EcdsaSighashType::All,
    };
    let local_funding = signer.pubkeys().funding_pubkey;
    let mut tx = ctx.tx.clone();
    tx.input[0].witness = funding_witness(&ours, &local_funding, &theirs, remote_funding_pubkey);
    let txid = ctx.txid();
    let sighash_type = remote_htlc_sighash_type(ctx.channel_type);
    let mut htlc_timeouts = Vec::new();
    for (h, s) in ctx.htlcs.iter().zip(&sigs.htlcs) {
        if h.htlc.direction != HtlcDirection::Offered {
            continue;
        }
        let mut htx = build_htlc_transaction(txid, ctx, h)?;
        let local_sig = signer.sign_holder_htlc_transaction(ctx, h, &htx)?;
        let remote_sig = ecdsa::Signature {
            signature: *s,
            sighash_type,
        };
        htx.input[0].witness =
            htlc_transaction_witness(&remote_sig, &local_sig, None, &h.witness_script);
        htlc_timeouts.push(htx);
    }
    Ok(HolderCommitment {
        commitment: tx,
        htlc_timeouts,
    })
}
