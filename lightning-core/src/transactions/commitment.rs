//! The commitment transaction (BOLT 3, "Commitment Transaction" and
//! "Commitment Transaction Construction").

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::PublicKey;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::fees::{commitment_fee, is_htlc_trimmed};
use super::scripts::{
    anchor_script, funding_script, offered_htlc_script, p2wsh, received_htlc_script,
    to_local_script, to_remote_script_pubkey, HtlcScriptKeys, ANCHOR_OUTPUT_VALUE,
};
use super::{CommitmentFormat, TxError};
use crate::amount::{FeeratePerKw, Msat};
use crate::keys::derivation::{derive_public_key, derive_revocation_public_key};
use crate::keys::{ChannelPublicKeys, KeyError};
use lightning_wire::types::PaymentHash;

/// The keys of one commitment transaction, derived from its
/// `per_commitment_point` (BOLT 3, "Key Derivation"). *Local* is the holder
/// of the commitment (who can broadcast it), *remote* the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CommitmentKeys {
    /// The holder's `per_commitment_point` for this commitment.
    pub per_commitment_point: PublicKey,
    /// `revocationpubkey`, from the remote's `revocation_basepoint`.
    pub revocation_pubkey: PublicKey,
    /// `local_htlcpubkey`.
    pub local_htlc_pubkey: PublicKey,
    /// `remote_htlcpubkey`.
    pub remote_htlc_pubkey: PublicKey,
    /// `local_delayedpubkey`.
    pub local_delayed_pubkey: PublicKey,
    /// `remotepubkey` (`option_static_remotekey`: the remote's
    /// `payment_basepoint`).
    pub remote_payment_pubkey: PublicKey,
}

impl CommitmentKeys {
    /// Derive the keys of the commitment held by `holder` at
    /// `per_commitment_point` (the holder's point).
    ///
    /// For our own commitment pass `(our_keys, their_keys)` and our point;
    /// for theirs, `(their_keys, our_keys)` and their point.
    pub fn derive(
        per_commitment_point: &PublicKey,
        holder: &ChannelPublicKeys,
        counterparty: &ChannelPublicKeys,
    ) -> Result<Self, KeyError> {
        Ok(CommitmentKeys {
            per_commitment_point: *per_commitment_point,
            revocation_pubkey: derive_revocation_public_key(
                &counterparty.revocation_basepoint,
                per_commitment_point,
            )?,
            local_htlc_pubkey: derive_public_key(&holder.htlc_basepoint, per_commitment_point)?,
            remote_htlc_pubkey: derive_public_key(
                &counterparty.htlc_basepoint,
                per_commitment_point,
            )?,
            local_delayed_pubkey: derive_public_key(
                &holder.delayed_payment_basepoint,
                per_commitment_point,
            )?,
            remote_payment_pubkey: counterparty.payment_basepoint,
        })
    }

    pub(crate) fn htlc_script_keys(&self) -> HtlcScriptKeys<'_> {
        HtlcScriptKeys {
            revocation_pubkey: &self.revocation_pubkey,
            local_htlc_pubkey: &self.local_htlc_pubkey,
            remote_htlc_pubkey: &self.remote_htlc_pubkey,
        }
    }
}

/// Direction of an HTLC as seen by the commitment holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum HtlcDirection {
    /// The holder offered it (an outgoing payment): timed out by an
    /// HTLC-timeout transaction.
    Offered,
    /// The holder received it (an incoming payment): claimed by an
    /// HTLC-success transaction.
    Received,
}

/// An HTLC committed to a commitment transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HtlcInfo {
    /// Offered or received, from the holder's side.
    pub direction: HtlcDirection,
    /// `amount_msat`.
    pub amount: Msat,
    /// `payment_hash`.
    pub payment_hash: PaymentHash,
    /// `cltv_expiry` (absolute block height).
    pub cltv_expiry: u32,
}

/// Everything a commitment transaction is built from.
#[derive(Debug, Clone, Copy)]
pub struct CommitmentParams<'a> {
    /// The commitment format.
    pub channel_type: CommitmentFormat,
    /// The funding outpoint.
    pub funding_outpoint: OutPoint,
    /// The funding output's value.
    pub funding_amount: Amount,
    /// The holder's `funding_pubkey`.
    pub local_funding_pubkey: PublicKey,
    /// The other side's `funding_pubkey`.
    pub remote_funding_pubkey: PublicKey,
    /// The 48-bit obscuring factor, see [`obscuring_factor`].
    pub obscuring_factor: u64,
    /// The commitment number, counting up from 0.
    pub commitment_number: u64,
    /// The holder's `to_self_delay` (chosen by the other side).
    pub to_self_delay: u16,
    /// The holder's `dust_limit_satoshis`.
    pub dust_limit: Amount,
    /// `feerate_per_kw`.
    pub feerate: FeeratePerKw,
    /// Whether the holder funded (opened) the channel and so pays the fee
    /// (and the anchors).
    pub local_is_funder: bool,
    /// The holder's balance before fees, excluding HTLCs in flight.
    pub to_local: Msat,
    /// The other side's balance before fees, excluding HTLCs in flight.
    pub to_remote: Msat,
    /// Every committed HTLC.
    pub htlcs: &'a [HtlcInfo],
    /// This commitment's keys.
    pub keys: &'a CommitmentKeys,
}

/// An untrimmed HTLC of a commitment transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentHtlc {
    /// Its position in [`CommitmentParams::htlcs`].
    pub htlc_index: usize,
    /// The HTLC.
    pub htlc: HtlcInfo,
    /// Its output index in the commitment transaction.
    pub output_index: u32,
    /// The output's value (the HTLC amount rounded down to satoshis).
    pub amount: Amount,
    /// The offered or received HTLC witness script.
    pub witness_script: ScriptBuf,
}

/// A built, unsigned commitment transaction and what it takes to sign and
/// spend it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentTransaction {
    /// The transaction; its witness is empty until signed.
    pub tx: Transaction,
    /// The commitment format.
    pub channel_type: CommitmentFormat,
    /// The commitment number.
    pub commitment_number: u64,
    /// The funding output's value (signature hashes commit to it).
    pub funding_amount: Amount,
    /// The 2-of-2 funding witness script.
    pub funding_script: ScriptBuf,
    /// The keys this commitment uses.
    pub keys: CommitmentKeys,
    /// The holder's `to_self_delay`.
    pub to_self_delay: u16,
    /// `feerate_per_kw`.
    pub feerate: FeeratePerKw,
    /// Untrimmed HTLCs, in output order.
    pub htlcs: Vec<CommitmentHtlc>,
    /// The `to_local` output (index, value), if above the dust limit.
    pub to_local: Option<(u32, Amount)>,
    /// The `to_remote` output (index, value), if above the dust limit.
    pub to_remote: Option<(u32, Amount)>,
    /// The holder's anchor output index (`option_anchors`).
    pub local_anchor: Option<u32>,
    /// The other side's anchor output index (`option_anchors`).
    pub remote_anchor: Option<u32>,
    /// The fee actually paid: funding amount minus every output.
    pub fee: Amount,
}

impl CommitmentTransaction {
    /// The `to_local` witness script.
    pub fn to_local_script(&self) -> ScriptBuf {
        to_local_script(
            &self.keys.revocation_pubkey,
            self.to_self_delay,
            &self.keys.local_delayed_pubkey,
        )
    }

    /// The commitment's txid.
    pub fn txid(&self) -> bitcoin::Txid {
        self.tx.compute_txid()
    }
}

/// The obscuring factor of the commitment number: the lower 48 bits of
/// `SHA256(payment_basepoint from open_channel || payment_basepoint from
/// accept_channel)` (BOLT 3, "Commitment Transaction").
pub fn obscuring_factor(
    opener_payment_basepoint: &PublicKey,
    accepter_payment_basepoint: &PublicKey,
) -> u64 {
    let mut engine = sha256::Hash::engine();
    engine.input(&opener_payment_basepoint.serialize());
    engine.input(&accepter_payment_basepoint.serialize());
    let h = sha256::Hash::from_engine(engine).to_byte_array();
    let mut v = [0u8; 8];
    v[2..].copy_from_slice(&h[26..]);
    u64::from_be_bytes(v)
}

/// The commitment's `nLockTime` and `nSequence`: upper 8 bits 0x20 and 0x80,
/// lower 24 bits each half of the obscured commitment number.
pub fn obscured_locktime_and_sequence(obscuring_factor: u64, commitment_number: u64) -> (u32, u32) {
    let obscured = (obscuring_factor ^ commitment_number) & 0xFFFF_FFFF_FFFF;
    let locktime = (0x20 << 24) | (obscured & 0xFF_FFFF) as u32;
    let sequence = (0x80 << 24) | ((obscured >> 24) & 0xFF_FFFF) as u32;
    (locktime, sequence)
}

/// What an output of the commitment pays to, kept while sorting.
#[derive(Clone, Copy)]
enum OutputKind {
    ToLocal,
    ToRemote,
    LocalAnchor,
    RemoteAnchor,
    Htlc(usize),
}

/// Build a commitment transaction (BOLT 3, "Commitment Transaction
/// Construction"): trim HTLCs at the holder's dust limit for this feerate,
/// take the base fee (and with `option_anchors` the two 330-sat anchors)
/// from the funder with a floor of 0, drop `to_local`/`to_remote` below the
/// dust limit, and sort outputs in BIP 69 order with `cltv_expiry` breaking
/// ties between identical HTLC outputs.
///
/// ```
/// # use lightning_core::transactions::*;
/// # use lightning_core::amount::{Msat, FeeratePerKw};
/// # use bitcoin::{Amount, OutPoint};
/// # use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
/// let pk = |b: u8| PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[b; 32]).unwrap());
/// let keys = CommitmentKeys {
///     per_commitment_point: pk(1), revocation_pubkey: pk(2), local_htlc_pubkey: pk(3),
///     remote_htlc_pubkey: pk(4), local_delayed_pubkey: pk(5), remote_payment_pubkey: pk(6),
/// };
/// let c = build_commitment_transaction(&CommitmentParams {
///     channel_type: CommitmentFormat::AnchorsZeroFeeHtlc,
///     funding_outpoint: OutPoint::null(), funding_amount: Amount::from_sat(1_000_000),
///     local_funding_pubkey: pk(7), remote_funding_pubkey: pk(8),
///     obscuring_factor: obscuring_factor(&pk(9), &pk(10)), commitment_number: 0,
///     to_self_delay: 144, dust_limit: Amount::from_sat(354), feerate: FeeratePerKw(253),
///     local_is_funder: true, to_local: Msat(600_000_000), to_remote: Msat(400_000_000),
///     htlcs: &[], keys: &keys,
/// }).unwrap();
/// assert_eq!(c.tx.output.len(), 4); // to_local, to_remote and two anchors
/// ```
pub fn build_commitment_transaction(
    p: &CommitmentParams<'_>,
) -> Result<CommitmentTransaction, TxError> {
    let ct = p.channel_type;
    // Funds conservation: balances plus HTLCs never exceed the funding output.
    let mut total = p
        .to_local
        .checked_add(p.to_remote)
        .ok_or(TxError::Overflow("balances"))?;
    for h in p.htlcs {
        total = total
            .checked_add(h.amount)
            .ok_or(TxError::Overflow("htlcs"))?;
    }
    let funding_msat =
        Msat::from_sat(p.funding_amount.to_sat()).ok_or(TxError::Overflow("funding"))?;
    if total > funding_msat {
        return Err(TxError::ExceedsFunding {
            total_msat: total.0,
            funding_sat: p.funding_amount.to_sat(),
        });
    }

    // 1. Trim.
    let untrimmed: Vec<usize> = (0..p.htlcs.len())
        .filter(|&i| {
            let h = &p.htlcs[i];
            !is_htlc_trimmed(
                ct,
                h.direction == HtlcDirection::Offered,
                h.amount.to_sat_floor(),
                p.feerate,
                p.dust_limit,
            )
        })
        .collect();

    // 2-3. Base fee (and anchors) from the funder, floor 0.
    let fee = commitment_fee(ct, p.feerate, untrimmed.len());
    let anchors = if ct.has_anchors() {
        ANCHOR_OUTPUT_VALUE * 2
    } else {
        Amount::ZERO
    };
    let funder_cost = Msat::from_sat(fee.to_sat().saturating_add(anchors.to_sat()))
        .ok_or(TxError::Overflow("fee"))?;
    let (to_local, to_remote) = if p.local_is_funder {
        (p.to_local.saturating_sub(funder_cost), p.to_remote)
    } else {
        (p.to_local, p.to_remote.saturating_sub(funder_cost))
    };
    let to_local = to_local.to_sat_floor();
    let to_remote = to_remote.to_sat_floor();

    // 4-6. Outputs.
    let keys = p.keys;
    let mut outputs: Vec<(TxOut, OutputKind, u32)> = Vec::with_capacity(untrimmed.len() + 4);
    let mut htlc_scripts: Vec<Option<ScriptBuf>> = vec![None; p.htlcs.len()];
    for &i in &untrimmed {
        let h = &p.htlcs[i];
        let ws = match h.direction {
            HtlcDirection::Offered => {
                offered_htlc_script(keys.htlc_script_keys(), &h.payment_hash, ct)
            }
            HtlcDirection::Received => {
                received_htlc_script(keys.htlc_script_keys(), &h.payment_hash, h.cltv_expiry, ct)
            }
        };
        outputs.push((
            TxOut {
                value: h.amount.to_sat_floor(),
                script_pubkey: p2wsh(&ws),
            },
            OutputKind::Htlc(i),
            h.cltv_expiry,
        ));
        htlc_scripts[i] = Some(ws);
    }
    let has_to_local = to_local >= p.dust_limit;
    let has_to_remote = to_remote >= p.dust_limit;
    if has_to_local {
        let ws = to_local_script(
            &keys.revocation_pubkey,
            p.to_self_delay,
            &keys.local_delayed_pubkey,
        );
        outputs.push((
            TxOut {
                value: to_local,
                script_pubkey: p2wsh(&ws),
            },
            OutputKind::ToLocal,
            0,
        ));
    }
    if has_to_remote {
        let spk = to_remote_script_pubkey(&keys.remote_payment_pubkey, ct);
        outputs.push((
            TxOut {
                value: to_remote,
                script_pubkey: spk,
            },
            OutputKind::ToRemote,
            0,
        ));
    }
    if ct.has_anchors() {
        // BOLT 3: each anchor exists if its side's balance output exists or
        // any HTLC output does.
        if has_to_local || !untrimmed.is_empty() {
            let spk = p2wsh(&anchor_script(&p.local_funding_pubkey));
            outputs.push((
                TxOut {
                    value: ANCHOR_OUTPUT_VALUE,
                    script_pubkey: spk,
                },
                OutputKind::LocalAnchor,
                0,
            ));
        }
        if has_to_remote || !untrimmed.is_empty() {
            let spk = p2wsh(&anchor_script(&p.remote_funding_pubkey));
            outputs.push((
                TxOut {
                    value: ANCHOR_OUTPUT_VALUE,
                    script_pubkey: spk,
                },
                OutputKind::RemoteAnchor,
                0,
            ));
        }
    }

    // 7. BIP 69 + CLTV.
    outputs.sort_by(|a, b| {
        a.0.value
            .cmp(&b.0.value)
            .then_with(|| {
                a.0.script_pubkey
                    .as_bytes()
                    .cmp(b.0.script_pubkey.as_bytes())
            })
            .then_with(|| a.2.cmp(&b.2))
    });

    let (locktime, sequence) =
        obscured_locktime_and_sequence(p.obscuring_factor, p.commitment_number);
    let mut result = CommitmentTransaction {
        tx: Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(locktime),
            input: vec![TxIn {
                previous_output: p.funding_outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(sequence),
                witness: Witness::new(),
            }],
            output: Vec::with_capacity(outputs.len()),
        },
        channel_type: ct,
        commitment_number: p.commitment_number,
        funding_amount: p.funding_amount,
        funding_script: funding_script(&p.local_funding_pubkey, &p.remote_funding_pubkey),
        keys: *keys,
        to_self_delay: p.to_self_delay,
        feerate: p.feerate,
        htlcs: Vec::with_capacity(untrimmed.len()),
        to_local: None,
        to_remote: None,
        local_anchor: None,
        remote_anchor: None,
        fee: Amount::ZERO,
    };
    let mut out_total = Amount::ZERO;
    for (idx, (txout, kind, _)) in outputs.into_iter().enumerate() {
        let idx = u32::try_from(idx).map_err(|_| TxError::Overflow("output count"))?;
        out_total = out_total
            .checked_add(txout.value)
            .ok_or(TxError::Overflow("outputs"))?;
        match kind {
            OutputKind::ToLocal => result.to_local = Some((idx, txout.value)),
            OutputKind::ToRemote => result.to_remote = Some((idx, txout.value)),
            OutputKind::LocalAnchor => result.local_anchor = Some(idx),
            OutputKind::RemoteAnchor => result.remote_anchor = Some(idx),
            OutputKind::Htlc(i) => {
                let witness_script = htlc_scripts[i]
                    .take()
                    .ok_or(TxError::Overflow("htlc script"))?;
                result.htlcs.push(CommitmentHtlc {
                    htlc_index: i,
                    htlc: p.htlcs[i],
                    output_index: idx,
                    amount: txout.value,
                    witness_script,
                });
            }
        }
        result.tx.output.push(txout);
    }
    // Anchors are paid from the funder's balance; with tiny balances the
    // outputs could in principle exceed the funding, which we refuse.
    result.fee = p
        .funding_amount
        .checked_sub(out_total)
        .ok_or(TxError::ExceedsFunding {
            total_msat: total.0,
            funding_sat: p.funding_amount.to_sat(),
        })?;
    Ok(result)
}
