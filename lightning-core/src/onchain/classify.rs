//! Recognising a spend of the funding outpoint (BOLT 5, "Commitment
//! Transaction", "Mutual Close Handling", "Unilateral Close Handling",
//! "Revoked Transaction Close Handling", "General Requirements").
//!
//! A commitment transaction carries its obscured commitment number in
//! `nLockTime` (upper byte 0x20) and `nSequence` (upper byte 0x80) (BOLT 3,
//! "Commitment Transaction"). Both sides' commitments use the same
//! obscuring factor, so the number alone does not tell whose commitment it
//! is: a commitment we can still rebuild (ours, the peer's current and next
//! ones) must have exactly the txid of the one we rebuild; a revoked one is
//! rebuilt from its secret only as far as its scripts go (`to_local` and the
//! HTLCs we know of), and at least one of its outputs must pay a script
//! derived from that secret.

use bitcoin::transaction::Version;
use bitcoin::{Amount, ScriptBuf, Transaction, Txid};
use lightning_wire::types::PaymentHash;

use super::OnchainError;
use crate::amount::Msat;
use crate::channel::commitments::CommitmentBasis;
use crate::channel::state::ChannelState;
use crate::channel::update_log::{Side, Update, UpdateKind, UpdateLog, UpdateStage, Which};
use crate::keys::derivation::per_commitment_point;
use crate::keys::shachain::commitment_number_to_index;
use crate::keys::{ChannelPublicKeys, ChannelSigner, Redacted};
use crate::transactions::scripts::{
    anchor_script, offered_htlc_script, p2wsh, received_htlc_script, to_local_script,
    to_remote_script_pubkey,
};
use crate::transactions::{
    obscuring_factor, CommitmentFormat, CommitmentKeys, CommitmentTransaction, HtlcDirection,
};

/// An HTLC that may appear on a revoked commitment of the peer: its
/// script is rebuilt from these fields to find (and punish) its output.
/// The channel's update log gives the HTLCs still in flight; older ones
/// must come from a history the node keeps (planned, see ARCHITECTURE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HtlcCandidate {
    /// Who offered it.
    pub offerer: Side,
    /// `amount_msat`.
    pub amount_msat: u64,
    /// `payment_hash`.
    pub payment_hash: PaymentHash,
    /// `cltv_expiry`.
    pub cltv_expiry: u32,
}

/// An HTLC output of a revoked commitment, spendable with the revocation
/// key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedHtlc {
    /// Its output index.
    pub output_index: u32,
    /// Its value.
    pub amount: Amount,
    /// The HTLC it matched (offered by the peer or by us).
    pub htlc: HtlcCandidate,
    /// The offered or received HTLC witness script.
    pub witness_script: ScriptBuf,
}

/// A revoked commitment of the peer, with what unlocks it.
#[derive(Clone, PartialEq, Eq)]
pub struct RevokedCommitment {
    /// The commitment transaction's txid.
    pub txid: Txid,
    /// The commitment number.
    pub commitment_number: u64,
    /// The peer's per-commitment secret of that number, from the
    /// revocation store.
    pub per_commitment_secret: [u8; 32],
    /// The commitment's keys, derived from the secret's point.
    pub keys: CommitmentKeys,
    /// The commitment format.
    pub format: CommitmentFormat,
    /// The peer's `to_self_delay` (the one we announced): the CSV of its
    /// `to_local` and of its HTLC transactions' outputs.
    pub to_self_delay: u16,
    /// The peer's `to_local` (index, value, witness script), if present.
    pub to_local: Option<(u32, Amount, ScriptBuf)>,
    /// Our `to_remote` (index, value), if present.
    pub to_remote: Option<(u32, Amount)>,
    /// The HTLC outputs matched against the known HTLCs.
    pub htlcs: Vec<RevokedHtlc>,
    /// Outputs no known script matched (HTLCs this node no longer
    /// remembers): they cannot be claimed, and the node must warn.
    pub unmatched_outputs: Vec<u32>,
}

impl core::fmt::Debug for RevokedCommitment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RevokedCommitment")
            .field("txid", &self.txid)
            .field("commitment_number", &self.commitment_number)
            .field("per_commitment_secret", &Redacted)
            .field("format", &self.format)
            .field("to_self_delay", &self.to_self_delay)
            .field("to_local", &self.to_local)
            .field("to_remote", &self.to_remote)
            .field("htlcs", &self.htlcs)
            .field("unmatched_outputs", &self.unmatched_outputs)
            .finish()
    }
}

/// Why a funding spend was not recognised. Each one means funds may be
/// lost: BOLT 5 ("General Requirements") says to warn about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSpend {
    /// Neither a commitment (no obscured number) nor a closing transaction
    /// to the shutdown scripts.
    NotACommitment,
    /// Commitment-shaped, but its number and txid match no commitment we
    /// can rebuild (for example a number ahead of ours: we lost data).
    UnknownCommitment {
        /// The number its `nLockTime`/`nSequence` carry.
        commitment_number: u64,
    },
    /// A number below the peer's lowest unrevoked commitment whose secret
    /// we do not hold.
    MissingSecret {
        /// The number.
        commitment_number: u64,
    },
    /// A revoked number whose secret we hold, but no output pays a script
    /// derived from that secret.
    RevokedOutputsMismatch {
        /// The number.
        commitment_number: u64,
    },
}

/// What a spend of the funding outpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendKind {
    /// A closing transaction (BOLT 5, "Mutual Close Handling"): nothing to
    /// do, the outputs pay the shutdown scripts.
    MutualClose {
        /// Its txid.
        txid: Txid,
    },
    /// Our latest commitment (BOLT 5, "Local Commitment Transaction").
    Holder(CommitmentTransaction),
    /// The peer's current commitment: the latest one it revoked the
    /// predecessor of.
    CounterpartyCurrent(CommitmentTransaction),
    /// The peer's next commitment: signed by us, its predecessor not yet
    /// revoked (BOLT 5: "either commitment may serve as the remote node's
    /// commitment transaction").
    CounterpartyNext(CommitmentTransaction),
    /// A commitment of the peer it revoked (BOLT 5, "Revoked Transaction
    /// Close Handling").
    CounterpartyRevoked(Box<RevokedCommitment>),
    /// Not recognised: warn loudly.
    Unknown(UnknownSpend),
}

/// The commitment number a commitment transaction carries, obscured by
/// `factor` in its `nLockTime` and `nSequence` (BOLT 3, "Commitment
/// Transaction"), or `None` if `tx` is not commitment-shaped (version 2,
/// one input, upper bytes 0x20 and 0x80).
pub fn commitment_number_from_tx(tx: &Transaction, factor: u64) -> Option<u64> {
    if tx.version != Version::TWO || tx.input.len() != 1 {
        return None;
    }
    let lock_time = tx.lock_time.to_consensus_u32();
    let sequence = tx.input.first()?.sequence.0;
    if lock_time >> 24 != 0x20 || sequence >> 24 != 0x80 {
        return None;
    }
    let obscured = (u64::from(sequence & 0xFF_FFFF) << 24) | u64::from(lock_time & 0xFF_FFFF);
    Some((obscured ^ factor) & 0xFFFF_FFFF_FFFF)
}

/// Classifies `tx`, a transaction spending the funding outpoint of the
/// channel whose persisted state is `state` and whose signer is `signer`.
///
/// `history` adds HTLCs no longer in the update log, so that their outputs
/// on an old revoked commitment can be found; the log's own HTLCs are
/// always tried.
pub fn classify_spend<S: ChannelSigner>(
    state: &ChannelState,
    signer: &S,
    tx: &Transaction,
    history: &[HtlcCandidate],
) -> Result<SpendKind, OnchainError> {
    let funding = state.funding_outpoint.ok_or(OnchainError::Unfunded)?;
    if !tx.input.iter().any(|i| i.previous_output == funding) {
        return Err(OnchainError::NotAFundingSpend);
    }
    let remote_keys = state.remote_keys.ok_or(OnchainError::Unfunded)?;
    let local_keys = signer.pubkeys();
    let txid = tx.compute_txid();
    if state
        .closing_tx
        .as_ref()
        .is_some_and(|c| c.compute_txid() == txid)
    {
        return Ok(SpendKind::MutualClose { txid });
    }
    let (opener, accepter) = if state.is_funder {
        (&local_keys, &remote_keys)
    } else {
        (&remote_keys, &local_keys)
    };
    let factor = obscuring_factor(&opener.payment_basepoint, &accepter.payment_basepoint);
    let Some(number) = commitment_number_from_tx(tx, factor) else {
        if pays_only_shutdown_scripts(state, tx) {
            return Ok(SpendKind::MutualClose { txid });
        }
        return Ok(SpendKind::Unknown(UnknownSpend::NotACommitment));
    };
    let basis = CommitmentBasis {
        we_are_funder: state.is_funder,
        channel_type: state.channel_type,
        funding_outpoint: funding,
        funding_satoshis: state.funding_satoshis,
        local_keys: &local_keys,
        remote_keys: &remote_keys,
        local_params: &state.local_params,
        remote_params: &state.remote_params,
    };

    // Our latest commitment: the only one we hold signatures for.
    if number == state.numbers.local && state.holder_sigs.is_some() {
        let point = signer.holder_per_commitment_point(number)?;
        let ours = basis.build(&state.log.view(Side::Local, Which::Current), number, &point)?;
        if ours.txid() == txid {
            return Ok(SpendKind::Holder(ours));
        }
    }

    // The peer's valid commitments.
    let Some(points) = state.remote_points else {
        return Ok(SpendKind::Unknown(UnknownSpend::UnknownCommitment {
            commitment_number: number,
        }));
    };
    let awaiting = state.numbers.awaiting_remote_revoke;
    if number == state.numbers.remote {
        let keys = signer.counterparty_commitment_keys(&points.current)?;
        let theirs =
            basis.build_with_keys(&state.log.view(Side::Remote, Which::Current), number, &keys)?;
        if theirs.txid() == txid {
            return Ok(if awaiting {
                SpendKind::CounterpartyNext(theirs)
            } else {
                SpendKind::CounterpartyCurrent(theirs)
            });
        }
    }
    let lowest_unrevoked = if awaiting {
        state.numbers.remote.saturating_sub(1)
    } else {
        state.numbers.remote
    };
    if awaiting && number == lowest_unrevoked {
        if let Some(point) = points.revoking {
            let keys = signer.counterparty_commitment_keys(&point)?;
            let log = log_before_last_signature(&state.log);
            let theirs =
                basis.build_with_keys(&log.view(Side::Remote, Which::Current), number, &keys)?;
            if theirs.txid() == txid {
                return Ok(SpendKind::CounterpartyCurrent(theirs));
            }
        }
    }
    if number >= lowest_unrevoked {
        return Ok(SpendKind::Unknown(UnknownSpend::UnknownCommitment {
            commitment_number: number,
        }));
    }

    // A revoked commitment of the peer.
    let secret = commitment_number_to_index(number).and_then(|i| state.secrets.get_secret(i));
    let Some(secret) = secret else {
        return Ok(SpendKind::Unknown(UnknownSpend::MissingSecret {
            commitment_number: number,
        }));
    };
    let point = per_commitment_point(&secret)?;
    let keys = CommitmentKeys::derive(&point, &remote_keys, &local_keys)?;
    let format = state.channel_type.commitment_format();
    let mut candidates = log_candidates(&state.log);
    candidates.extend_from_slice(history);
    let revoked = match_revoked(
        tx,
        RevokedScripts {
            keys: &keys,
            format,
            // The peer's `to_self_delay` is the one we announced.
            to_self_delay: state.local_params.to_self_delay,
            local_keys: &local_keys,
            remote_keys: &remote_keys,
        },
        &candidates,
    );
    if revoked.to_local.is_none() && revoked.htlcs.is_empty() {
        return Ok(SpendKind::Unknown(UnknownSpend::RevokedOutputsMismatch {
            commitment_number: number,
        }));
    }
    Ok(SpendKind::CounterpartyRevoked(Box::new(
        RevokedCommitment {
            commitment_number: number,
            per_commitment_secret: secret,
            keys,
            format,
            ..revoked
        },
    )))
}

/// The offerer and `id` of each HTLC of the commitment `kind` names, in
/// the order [`CommitmentHtlc::htlc_index`](crate::transactions::CommitmentHtlc)
/// counts them (the commitment's view of the log, trimmed HTLCs
/// included), so that an HTLC output is known by (channel, HTLC id), never
/// by its hash. Empty for anything but our commitment and the peer's
/// current or next one (a revoked commitment is matched by scripts only).
pub fn commitment_htlc_ids(state: &ChannelState, kind: &SpendKind) -> Vec<(Side, u64)> {
    let ids = |log: &UpdateLog, holder: Side| -> Vec<(Side, u64)> {
        log.view(holder, Which::Current)
            .htlcs
            .iter()
            .map(|h| (h.offerer, h.add.id))
            .collect()
    };
    match kind {
        SpendKind::Holder(_) => ids(&state.log, Side::Local),
        SpendKind::CounterpartyNext(_) => ids(&state.log, Side::Remote),
        // While the peer's `revoke_and_ack` is awaited its current
        // commitment is the one before our last signature (see
        // [`classify_spend`]).
        SpendKind::CounterpartyCurrent(ctx)
            if state.numbers.awaiting_remote_revoke
                && ctx.commitment_number != state.numbers.remote =>
        {
            ids(&log_before_last_signature(&state.log), Side::Remote)
        }
        SpendKind::CounterpartyCurrent(_) => ids(&state.log, Side::Remote),
        _ => Vec::new(),
    }
}

/// The log as it was before our last `commitment_signed`, while the peer's
/// `revoke_and_ack` of its previous commitment is awaited: our updates that
/// signature moved into the peer's commitment go back to proposed, the
/// peer's it moved into the peer's own commitment go back to acknowledged
/// (BOLT 2, "Normal Operation": at most one `commitment_signed` is
/// outstanding per direction, so exactly these moved).
pub(crate) fn log_before_last_signature(log: &UpdateLog) -> UpdateLog {
    let updates: Vec<Update> = log
        .updates()
        .iter()
        .map(|u| {
            let mut u = u.clone();
            u.stage = match (u.proposer, u.stage) {
                (Side::Local, UpdateStage::ReceiverCommitted) => UpdateStage::Proposed,
                (Side::Remote, UpdateStage::ProposerCommitted) => UpdateStage::ReceiverRevoked,
                (_, s) => s,
            };
            u
        })
        .collect();
    UpdateLog::from_parts(
        log.settled(),
        updates,
        log.next_htlc_id(Side::Local),
        log.next_htlc_id(Side::Remote),
    )
}

/// Every HTLC add in the log, as a candidate.
fn log_candidates(log: &UpdateLog) -> Vec<HtlcCandidate> {
    log.updates()
        .iter()
        .filter_map(|u| match &u.kind {
            UpdateKind::Add(a) => Some(HtlcCandidate {
                offerer: u.proposer,
                amount_msat: a.amount_msat,
                payment_hash: a.payment_hash,
                cltv_expiry: a.cltv_expiry,
            }),
            _ => None,
        })
        .collect()
}

struct RevokedScripts<'a> {
    keys: &'a CommitmentKeys,
    format: CommitmentFormat,
    to_self_delay: u16,
    local_keys: &'a ChannelPublicKeys,
    remote_keys: &'a ChannelPublicKeys,
}

/// Matches each output of a revoked commitment of the peer against the
/// scripts its keys give (BOLT 3 output scripts, the peer as holder).
fn match_revoked(
    tx: &Transaction,
    s: RevokedScripts<'_>,
    candidates: &[HtlcCandidate],
) -> RevokedCommitment {
    let to_local_ws = to_local_script(
        &s.keys.revocation_pubkey,
        s.to_self_delay,
        &s.keys.local_delayed_pubkey,
    );
    let to_local_spk = p2wsh(&to_local_ws);
    let to_remote_spk = to_remote_script_pubkey(&s.local_keys.payment_basepoint, s.format);
    let anchors: [ScriptBuf; 2] = [
        p2wsh(&anchor_script(&s.local_keys.funding_pubkey)),
        p2wsh(&anchor_script(&s.remote_keys.funding_pubkey)),
    ];
    let scripts: Vec<(HtlcCandidate, ScriptBuf, ScriptBuf, Amount)> = candidates
        .iter()
        .map(|c| {
            let ws = htlc_script(s.keys, c, s.format);
            let spk = p2wsh(&ws);
            (*c, ws, spk, Msat(c.amount_msat).to_sat_floor())
        })
        .collect();
    let mut out = RevokedCommitment {
        txid: tx.compute_txid(),
        commitment_number: 0,
        per_commitment_secret: [0; 32],
        keys: *s.keys,
        format: s.format,
        to_self_delay: s.to_self_delay,
        to_local: None,
        to_remote: None,
        htlcs: Vec::new(),
        unmatched_outputs: Vec::new(),
    };
    for (i, o) in tx.output.iter().enumerate() {
        let Ok(index) = u32::try_from(i) else { break };
        if o.script_pubkey == to_local_spk && out.to_local.is_none() {
            out.to_local = Some((index, o.value, to_local_ws.clone()));
        } else if o.script_pubkey == to_remote_spk && out.to_remote.is_none() {
            out.to_remote = Some((index, o.value));
        } else if anchors.contains(&o.script_pubkey) {
        } else if let Some((c, ws, _, _)) = scripts
            .iter()
            .find(|(_, _, spk, v)| *spk == o.script_pubkey && *v == o.value)
        {
            out.htlcs.push(RevokedHtlc {
                output_index: index,
                amount: o.value,
                htlc: *c,
                witness_script: ws.clone(),
            });
        } else {
            out.unmatched_outputs.push(index);
        }
    }
    out
}

/// The witness script of `c` on a commitment held by the peer.
fn htlc_script(keys: &CommitmentKeys, c: &HtlcCandidate, format: CommitmentFormat) -> ScriptBuf {
    // The holder is the peer: an HTLC it offered is an offered output.
    let direction = match c.offerer {
        Side::Remote => HtlcDirection::Offered,
        Side::Local => HtlcDirection::Received,
    };
    match direction {
        HtlcDirection::Offered => {
            offered_htlc_script(keys.htlc_script_keys(), &c.payment_hash, format)
        }
        HtlcDirection::Received => received_htlc_script(
            keys.htlc_script_keys(),
            &c.payment_hash,
            c.cltv_expiry,
            format,
        ),
    }
}

/// Whether every output of `tx` pays one of the shutdown scripts (or is an
/// `OP_RETURN`, as `option_simple_close` allows) and one pays a shutdown
/// script: a closing transaction we did not keep (an earlier variant).
fn pays_only_shutdown_scripts(state: &ChannelState, tx: &Transaction) -> bool {
    let ours = state.local_shutdown.as_deref();
    let theirs = state.remote_shutdown.as_deref();
    if ours.is_none() && theirs.is_none() {
        return false;
    }
    let is_shutdown = |s: &[u8]| Some(s) == ours || Some(s) == theirs;
    !tx.output.is_empty()
        && tx
            .output
            .iter()
            .all(|o| is_shutdown(o.script_pubkey.as_bytes()) || o.script_pubkey.is_op_return())
        && tx
            .output
            .iter()
            .any(|o| is_shutdown(o.script_pubkey.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transactions::commitment::obscured_locktime_and_sequence;
    use bitcoin::absolute::LockTime;
    use bitcoin::{OutPoint, Sequence, TxIn, Witness};

    fn commitment_shaped(factor: u64, n: u64) -> Transaction {
        let (lt, seq) = obscured_locktime_and_sequence(factor, n);
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(lt),
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::new(),
                sequence: Sequence(seq),
                witness: Witness::new(),
            }],
            output: vec![],
        }
    }

    #[test]
    fn obscured_number_round_trips() {
        for (factor, n) in [
            (0x2bb0_3852_1914, 42),
            (0, 0),
            (0xFFFF_FFFF_FFFF, (1 << 48) - 1),
        ] {
            let tx = commitment_shaped(factor, n);
            assert_eq!(commitment_number_from_tx(&tx, factor), Some(n));
            assert_ne!(commitment_number_from_tx(&tx, factor ^ 1), Some(n));
        }
    }

    #[test]
    fn not_commitment_shaped() {
        let mut tx = commitment_shaped(7, 3);
        tx.lock_time = LockTime::ZERO;
        assert_eq!(commitment_number_from_tx(&tx, 7), None);
        let mut tx = commitment_shaped(7, 3);
        tx.input[0].sequence = Sequence::MAX;
        assert_eq!(commitment_number_from_tx(&tx, 7), None);
        let mut tx = commitment_shaped(7, 3);
        tx.input.push(tx.input[0].clone());
        assert_eq!(commitment_number_from_tx(&tx, 7), None);
        let mut tx = commitment_shaped(7, 3);
        tx.version = Version::ONE;
        assert_eq!(commitment_number_from_tx(&tx, 7), None);
    }
}
