//! What we can claim from a classified spend, and the transactions that
//! claim it (BOLT 5, "Unilateral Close Handling" and "Revoked Transaction
//! Close Handling"; witnesses and sequences from BOLT 3).
//!
//! Resolutions are data: a [`Claim`] is one output we can spend with one
//! key, directly to our wallet ([`build_claim_transaction`] sweeps any set
//! of them in one transaction); a [`HolderHtlcClaim`] is an HTLC output of
//! our own commitment, which only the pre-signed HTLC-timeout or
//! HTLC-success transaction can spend ([`build_holder_htlc_transaction`]),
//! whose output is then a delayed [`Claim`] ([`second_stage_claim`]).
//! Fees: claims pay `feerate` from their own value; HTLC transactions of an
//! anchors channel pay none (fee bumping is planned, see ARCHITECTURE.md).

use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::{ecdsa, OutPoint, ScriptBuf, Transaction, Txid};
use lightning_wire::types::{PaymentHash, PaymentPreimage};

use super::classify::{RevokedCommitment, SpendKind};
use super::OnchainError;
use crate::amount::FeeratePerKw;
use crate::channel::state::ChannelState;
use crate::keys::{ChannelSigner, Redacted, SpendKeyMaterial};
use crate::transactions::htlc::{
    build_htlc_transaction, htlc_transaction_witness, remote_htlc_sighash_type,
};
use crate::transactions::scripts::{p2wpkh, to_local_script, to_remote_anchors_script};
use crate::transactions::sweep::{build_sweep_transaction, SpendPath, SpendableOutput};
use crate::transactions::{CommitmentFormat, CommitmentHtlc, CommitmentTransaction, HtlcDirection};
use bitcoin::hashes::{ripemd160, sha256, Hash};
use bitcoin::secp256k1::PublicKey;

/// What a [`Claim`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// `to_local` of our commitment, or the output of our HTLC-timeout /
    /// HTLC-success transaction, after `to_self_delay`.
    DelayedToLocal,
    /// Our `to_remote` on the peer's commitment (BOLT 5 lets us ignore it
    /// when our wallet watches the key; ours is a channel key, so it is
    /// swept; `option_anchors`: after 1 block).
    ToRemote,
    /// An HTLC the peer offered, on the peer's commitment, claimed
    /// directly with its preimage.
    HtlcPreimage {
        /// The HTLC's hash.
        payment_hash: PaymentHash,
    },
    /// An HTLC we offered, on the peer's commitment, claimed directly after
    /// its `cltv_expiry`.
    HtlcTimeout {
        /// The HTLC's hash.
        payment_hash: PaymentHash,
    },
    /// The peer's `to_local` on its revoked commitment (justice).
    RevokedToLocal,
    /// An HTLC output of the peer's revoked commitment (justice).
    RevokedHtlc {
        /// The HTLC's hash.
        payment_hash: PaymentHash,
    },
    /// The output of the peer's HTLC-timeout or HTLC-success transaction
    /// spending an HTLC output of its revoked commitment (justice on the
    /// second stage, before its CSV expires).
    RevokedSecondStage {
        /// The HTLC's hash, when the transaction's input at the same index
        /// spends a known HTLC output.
        payment_hash: Option<PaymentHash>,
    },
}

/// One output we can spend with one of our keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Claim {
    /// What it is.
    pub kind: ClaimKind,
    /// The output, its script and spend path.
    pub output: SpendableOutput,
    /// What the signer derives the key from.
    pub key: SpendKeyMaterial,
    /// Blocks the spent transaction must be deep first (`OP_CSV`; 0 for
    /// none).
    pub csv_delay: u16,
    /// The height from which a spend can be mined (`OP_CLTV`; 0 for none).
    pub cltv_expiry: u32,
}

impl core::fmt::Debug for Claim {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The key material may be a per-commitment secret.
        f.debug_struct("Claim")
            .field("kind", &self.kind)
            .field("outpoint", &self.output.outpoint)
            .field("value", &self.output.value)
            .field("key", &Redacted)
            .field("csv_delay", &self.csv_delay)
            .field("cltv_expiry", &self.cltv_expiry)
            .finish()
    }
}

/// An HTLC output of our commitment: spent by our HTLC-timeout (offered,
/// after `cltv_expiry`) or HTLC-success (received, with the preimage)
/// transaction, which carries the peer's signature.
#[derive(Clone, PartialEq, Eq)]
pub struct HolderHtlcClaim {
    /// The HTLC output.
    pub htlc: CommitmentHtlc,
    /// The preimage (HTLC-success); `None` for HTLC-timeout.
    pub preimage: Option<PaymentPreimage>,
    /// The peer's signature on the HTLC transaction.
    pub remote_signature: Signature,
}

impl core::fmt::Debug for HolderHtlcClaim {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HolderHtlcClaim")
            .field("htlc", &self.htlc)
            .field("preimage", &self.preimage.map(|_| Redacted))
            .finish_non_exhaustive()
    }
}

/// An HTLC output offered to us whose preimage we do not have: we cannot
/// claim it; the peer times it out after `cltv_expiry` unless we learn the
/// preimage first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnclaimedHtlc {
    /// The output index.
    pub output_index: u32,
    /// The HTLC's hash.
    pub payment_hash: PaymentHash,
    /// Its expiry.
    pub cltv_expiry: u32,
}

/// Everything we can claim from one classified spend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// Outputs we spend directly.
    pub claims: Vec<Claim>,
    /// HTLC outputs of our own commitment (first stage).
    pub holder_htlcs: Vec<HolderHtlcClaim>,
    /// HTLCs offered to us without a preimage.
    pub unclaimed: Vec<UnclaimedHtlc>,
}

/// The resolution of `kind` (BOLT 5): for our commitment, `to_local` after
/// its CSV and every HTLC by its HTLC transaction (received ones only with
/// a preimage `preimage_of` knows); for the peer's current or next
/// commitment, our `to_remote`, the HTLCs it offered with their preimage
/// and ours after their timeout, directly; for a revoked one, `to_local`,
/// `to_remote` and every known HTLC output by the revocation key. A mutual
/// close or an unknown spend has nothing to claim.
///
/// `preimage_of` must give only preimages the node may reveal on chain:
/// BOLT 5 forbids claiming an HTLC the peer is not irrevocably committed
/// to, or revealing a preimage when we are not the final recipient and have
/// not forwarded the HTLC.
pub fn resolve(
    kind: &SpendKind,
    state: &ChannelState,
    preimage_of: &dyn Fn(&PaymentHash) -> Option<PaymentPreimage>,
) -> Result<Resolution, OnchainError> {
    let mut r = Resolution::default();
    match kind {
        SpendKind::MutualClose { .. } | SpendKind::Unknown(_) => {}
        SpendKind::Holder(ctx) => {
            let txid = ctx.txid();
            if let Some((vout, value)) = ctx.to_local {
                r.claims.push(Claim {
                    kind: ClaimKind::DelayedToLocal,
                    output: SpendableOutput {
                        outpoint: OutPoint { txid, vout },
                        value,
                        witness_script: ctx.to_local_script(),
                        path: SpendPath::DelayedToLocal {
                            to_self_delay: ctx.to_self_delay,
                        },
                    },
                    key: SpendKeyMaterial::Point(ctx.keys.per_commitment_point),
                    csv_delay: ctx.to_self_delay,
                    cltv_expiry: 0,
                });
            }
            let sigs = state
                .holder_sigs
                .as_ref()
                .ok_or(OnchainError::Mismatch("no signatures on our commitment"))?;
            if sigs.htlcs.len() != ctx.htlcs.len() {
                return Err(OnchainError::Mismatch("HTLC signature count"));
            }
            for (h, sig) in ctx.htlcs.iter().zip(sigs.htlcs.iter()) {
                let preimage = match h.htlc.direction {
                    HtlcDirection::Offered => None,
                    HtlcDirection::Received => match preimage_of(&h.htlc.payment_hash) {
                        Some(p) => Some(p),
                        None => {
                            r.unclaimed.push(UnclaimedHtlc {
                                output_index: h.output_index,
                                payment_hash: h.htlc.payment_hash,
                                cltv_expiry: h.htlc.cltv_expiry,
                            });
                            continue;
                        }
                    },
                };
                r.holder_htlcs.push(HolderHtlcClaim {
                    htlc: h.clone(),
                    preimage,
                    remote_signature: *sig,
                });
            }
        }
        SpendKind::CounterpartyCurrent(ctx) | SpendKind::CounterpartyNext(ctx) => {
            let txid = ctx.txid();
            if let Some((vout, value)) = ctx.to_remote {
                r.claims.push(to_remote_claim(
                    OutPoint { txid, vout },
                    value,
                    &ctx.keys.remote_payment_pubkey,
                    ctx.channel_type,
                ));
            }
            let anchors = ctx.channel_type.has_anchors();
            let csv = u16::from(anchors);
            for h in &ctx.htlcs {
                let outpoint = OutPoint {
                    txid,
                    vout: h.output_index,
                };
                let hash = h.htlc.payment_hash;
                let (kind, path, cltv) = match h.htlc.direction {
                    // The peer offered it: ours with the preimage.
                    HtlcDirection::Offered => match preimage_of(&hash) {
                        Some(p) => (
                            ClaimKind::HtlcPreimage { payment_hash: hash },
                            SpendPath::HtlcPreimageOnRemote {
                                preimage: p.0,
                                anchors,
                            },
                            0,
                        ),
                        None => {
                            r.unclaimed.push(UnclaimedHtlc {
                                output_index: h.output_index,
                                payment_hash: hash,
                                cltv_expiry: h.htlc.cltv_expiry,
                            });
                            continue;
                        }
                    },
                    // We offered it: ours after its expiry.
                    HtlcDirection::Received => (
                        ClaimKind::HtlcTimeout { payment_hash: hash },
                        SpendPath::HtlcTimeoutOnRemote {
                            cltv_expiry: h.htlc.cltv_expiry,
                            anchors,
                        },
                        h.htlc.cltv_expiry,
                    ),
                };
                r.claims.push(Claim {
                    kind,
                    output: SpendableOutput {
                        outpoint,
                        value: h.amount,
                        witness_script: h.witness_script.clone(),
                        path,
                    },
                    key: SpendKeyMaterial::Point(ctx.keys.per_commitment_point),
                    csv_delay: csv,
                    cltv_expiry: cltv,
                });
            }
        }
        SpendKind::CounterpartyRevoked(rc) => {
            let secret = SpendKeyMaterial::CounterpartySecret(rc.per_commitment_secret);
            if let Some((vout, value, ws)) = &rc.to_local {
                r.claims.push(Claim {
                    kind: ClaimKind::RevokedToLocal,
                    output: SpendableOutput {
                        outpoint: OutPoint {
                            txid: rc.txid,
                            vout: *vout,
                        },
                        value: *value,
                        witness_script: ws.clone(),
                        path: SpendPath::RevokedToLocal,
                    },
                    key: secret,
                    csv_delay: 0,
                    cltv_expiry: 0,
                });
            }
            if let Some((vout, value)) = rc.to_remote {
                r.claims.push(to_remote_claim(
                    OutPoint {
                        txid: rc.txid,
                        vout,
                    },
                    value,
                    &rc.keys.remote_payment_pubkey,
                    rc.format,
                ));
            }
            for h in &rc.htlcs {
                r.claims.push(Claim {
                    kind: ClaimKind::RevokedHtlc {
                        payment_hash: h.htlc.payment_hash,
                    },
                    output: SpendableOutput {
                        outpoint: OutPoint {
                            txid: rc.txid,
                            vout: h.output_index,
                        },
                        value: h.amount,
                        witness_script: h.witness_script.clone(),
                        path: SpendPath::RevokedHtlc {
                            revocation_pubkey: rc.keys.revocation_pubkey,
                        },
                    },
                    key: secret,
                    csv_delay: 0,
                    cltv_expiry: 0,
                });
            }
        }
    }
    Ok(r)
}

fn to_remote_claim(
    outpoint: OutPoint,
    value: bitcoin::Amount,
    our_payment_pubkey: &PublicKey,
    format: CommitmentFormat,
) -> Claim {
    let (witness_script, path, csv) = match format {
        CommitmentFormat::StaticRemoteKey => (
            p2wpkh(our_payment_pubkey),
            SpendPath::ToRemoteP2wpkh {
                pubkey: *our_payment_pubkey,
            },
            0,
        ),
        CommitmentFormat::AnchorsZeroFeeHtlc => (
            to_remote_anchors_script(our_payment_pubkey),
            SpendPath::ToRemoteAnchors,
            1,
        ),
    };
    Claim {
        kind: ClaimKind::ToRemote,
        output: SpendableOutput {
            outpoint,
            value,
            witness_script,
            path,
        },
        key: SpendKeyMaterial::None,
        csv_delay: csv,
        cltv_expiry: 0,
    }
}

/// One signed transaction sweeping `claims` to `destination` at `feerate`
/// (its `nLockTime` the highest CLTV among them, each input's `nSequence`
/// its CSV).
pub fn build_claim_transaction<S: ChannelSigner>(
    signer: &S,
    claims: &[Claim],
    destination: ScriptBuf,
    feerate: FeeratePerKw,
) -> Result<Transaction, OnchainError> {
    let outputs: Vec<SpendableOutput> = claims.iter().map(|c| c.output.clone()).collect();
    let mut tx = build_sweep_transaction(&outputs, destination, feerate, 0)?;
    for (i, c) in claims.iter().enumerate() {
        signer.sign_spend_input(&mut tx, i, &c.output, c.key)?;
    }
    Ok(tx)
}

/// Our signed HTLC-timeout or HTLC-success transaction for `claim`, an
/// HTLC output of our commitment `commitment` (BOLT 3, "HTLC-Timeout and
/// HTLC-Success Transactions"). With `option_anchors` it pays no fee.
pub fn build_holder_htlc_transaction<S: ChannelSigner>(
    signer: &S,
    commitment: &CommitmentTransaction,
    claim: &HolderHtlcClaim,
) -> Result<Transaction, OnchainError> {
    if !commitment.htlcs.contains(&claim.htlc) {
        return Err(OnchainError::Mismatch("HTLC not in this commitment"));
    }
    let mut tx = build_htlc_transaction(commitment.txid(), commitment, &claim.htlc)?;
    let local = signer.sign_holder_htlc_transaction(commitment, &claim.htlc, &tx)?;
    let remote = ecdsa::Signature {
        signature: claim.remote_signature,
        sighash_type: remote_htlc_sighash_type(commitment.channel_type),
    };
    let preimage = claim.preimage.map(|p| p.0);
    let input = tx
        .input
        .first_mut()
        .ok_or(OnchainError::Mismatch("HTLC transaction without input"))?;
    input.witness = htlc_transaction_witness(
        &remote,
        &local,
        preimage.as_ref(),
        &claim.htlc.witness_script,
    );
    Ok(tx)
}

/// The delayed output of our HTLC transaction `htlc_tx` (of commitment
/// `commitment`), claimable after `to_self_delay` blocks.
pub fn second_stage_claim(
    commitment: &CommitmentTransaction,
    htlc_tx: &Transaction,
) -> Result<Claim, OnchainError> {
    let out = htlc_tx
        .output
        .first()
        .ok_or(OnchainError::Mismatch("HTLC transaction without output"))?;
    let txid: Txid = htlc_tx.compute_txid();
    Ok(Claim {
        kind: ClaimKind::DelayedToLocal,
        output: SpendableOutput {
            outpoint: OutPoint { txid, vout: 0 },
            value: out.value,
            witness_script: to_local_script(
                &commitment.keys.revocation_pubkey,
                commitment.to_self_delay,
                &commitment.keys.local_delayed_pubkey,
            ),
            path: SpendPath::DelayedToLocal {
                to_self_delay: commitment.to_self_delay,
            },
        },
        key: SpendKeyMaterial::Point(commitment.keys.per_commitment_point),
        csv_delay: commitment.to_self_delay,
        cltv_expiry: 0,
    })
}

/// Justice on the second stage (BOLT 5, "Revoked Transaction Close
/// Handling": "MUST *resolve* the _remote node's HTLC-timeout [and
/// HTLC-success] transaction by spending it using the revocation private
/// key"): every output of `tx` that pays the revocable `to_local`-style
/// script of the revoked commitment `rc`, when `tx` spends one of `rc`'s
/// outputs. Empty for a transaction that does not.
pub fn second_stage_justice(rc: &RevokedCommitment, tx: &Transaction) -> Vec<Claim> {
    if !tx.input.iter().any(|i| i.previous_output.txid == rc.txid) {
        return Vec::new();
    }
    let ws = to_local_script(
        &rc.keys.revocation_pubkey,
        rc.to_self_delay,
        &rc.keys.local_delayed_pubkey,
    );
    let spk = crate::transactions::scripts::p2wsh(&ws);
    let txid = tx.compute_txid();
    let mut claims = Vec::new();
    for (i, o) in tx.output.iter().enumerate() {
        let Ok(vout) = u32::try_from(i) else { break };
        if o.script_pubkey != spk {
            continue;
        }
        // HTLC transactions pair input i with output i (SIGHASH_SINGLE).
        let payment_hash = tx.input.get(i).and_then(|input| {
            rc.htlcs
                .iter()
                .find(|h| {
                    input.previous_output
                        == OutPoint {
                            txid: rc.txid,
                            vout: h.output_index,
                        }
                })
                .map(|h| h.htlc.payment_hash)
        });
        claims.push(Claim {
            kind: ClaimKind::RevokedSecondStage { payment_hash },
            output: SpendableOutput {
                outpoint: OutPoint { txid, vout },
                value: o.value,
                witness_script: ws.clone(),
                path: SpendPath::RevokedToLocal,
            },
            key: SpendKeyMaterial::CounterpartySecret(rc.per_commitment_secret),
            csv_delay: 0,
            cltv_expiry: 0,
        });
    }
    claims
}

/// The payment preimages `tx` reveals (BOLT 5: "MUST extract the payment
/// preimage from the transaction input witness"): for each input, every
/// 32-byte witness element whose `RIPEMD160(SHA256(element))` appears in
/// the input's witness script (the last element), as an HTLC script's
/// `OP_HASH160 <RIPEMD160(payment_hash)>` does. Returns the spent outpoint,
/// the preimage and its hash.
pub fn extract_preimages(tx: &Transaction) -> Vec<(OutPoint, PaymentPreimage, PaymentHash)> {
    let mut found = Vec::new();
    for input in &tx.input {
        let Some(script) = input.witness.last() else {
            continue;
        };
        let n = input.witness.len();
        for e in input.witness.iter().take(n.saturating_sub(1)) {
            let Ok(candidate) = <[u8; 32]>::try_from(e) else {
                continue;
            };
            let hash = sha256::Hash::hash(&candidate).to_byte_array();
            let ripemd = ripemd160::Hash::hash(&hash).to_byte_array();
            if script.windows(20).any(|w| w == ripemd) {
                found.push((
                    input.previous_output,
                    PaymentPreimage(candidate),
                    PaymentHash(hash),
                ));
            }
        }
    }
    found
}
