//! The channel record (ARCHITECTURE.md, "Channel record format"): one
//! snapshot plus small update records, all TLV streams that start with a
//! version.
//!
//! The state encodes as one TLV stream of *fields* (types 16 and up, one per
//! part of [`ChannelState`]). A **snapshot** is
//!
//! ```text
//! 0: version (u16)   2: seq (u64, the last change it contains)   16..: every field
//! ```
//!
//! and an **update record** carries only what changed since the previous
//! write:
//!
//! ```text
//! 0: version (u16)   2: seq (u64)   4: removed field types (u64...)   16..: changed fields
//! ```
//!
//! Restoring reads the snapshot, then overlays each update record with a
//! larger `seq` in order, so the result is exactly the state of the last
//! write. The update log is the one field that is not replaced whole in
//! update records: a snapshot holds it whole (field 78, each add's onion in
//! a field of its own), an update record the change since the previous
//! write (field 80, `log_delta`), so a write costs what changed.
//! (Update records written before field 80 hold the whole log in field 78;
//! they still restore.) Every [`ChannelConfig::snapshot_every`](super::ChannelConfig)
//! updates the record is compacted into a new snapshot and the folded update
//! keys become obsolete. Keys: `channels/<channel_id>/snapshot` (version =
//! seq) and `channels/<channel_id>/u/<seq, 20 digits>`, so a plain key
//! listing sorts update records in order.
//!
//! Unknown odd fields are skipped; an unknown even field is refused (a
//! newer format this code cannot honour).

use std::collections::BTreeMap;
use std::sync::Arc;

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, Transaction, Txid};
use lightning_wire::bigsize::BigSize;
use lightning_wire::codec::{Decode, DecodeError, Encode, Reader};
use lightning_wire::msgs::AttributionData;
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::types::{ChainHash, ChannelId, ShortChannelId};
use secp256k1::ecdsa::Signature;

use super::commitments::HolderSignatures;
use super::events::{ChannelWrite, RecordWrite};
use super::log_delta::{self, LogImage, StoredLog};
use super::params::{ChannelType, PartyParams};
use super::reestablish::{CommitmentNumbers, LastSent};
use super::state::{Channel, ChannelConfig, ChannelState, Phase, RemotePoints, Transient};
use super::update_log::{HtlcAdd, HtlcRemoval, Side, Update, UpdateKind, UpdateLog, UpdateStage};
use crate::keys::shachain::CounterpartyCommitmentSecrets;
use crate::keys::{ChannelPublicKeys, ChannelSigner};

/// The record format version this code writes.
pub const RECORD_VERSION: u16 = 1;

const T_VERSION: u64 = 0;
const T_SEQ: u64 = 2;
const T_REMOVED: u64 = 4;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Not a TLV stream, or a field that does not decode.
    #[error("channel record: {0}")]
    Decode(#[from] DecodeError),
    /// A version this code does not know.
    #[error("channel record version {0} is not supported")]
    UnsupportedVersion(u16),
    /// A required field is missing.
    #[error("channel record: field {0} is missing")]
    Missing(&'static str),
    /// A field value out of range.
    #[error("channel record: field {0} is invalid")]
    Invalid(&'static str),
    /// Update records with a gap in their sequence numbers.
    #[error("channel record: update {got} follows {previous}")]
    Gap {
        /// The sequence number reached.
        previous: u64,
        /// The next one found.
        got: u64,
    },
}

// Field types.
const F_PHASE: u64 = 16;
/// The peer's node id (odd: a reader that does not know it may skip it).
const F_COUNTERPARTY: u64 = 17;
/// Fundee: the height the wait for the funding transaction started (odd).
const F_FUNDING_WAIT: u64 = 19;
/// The funding output was checked against the funding transaction itself
/// (odd; one byte, 1, written only once checked). Records written before
/// it existed read as unchecked: a channel still waiting for its depth then
/// checks the funding transaction when the chain shows it again.
const F_FUNDING_VERIFIED: u64 = 21;
/// `announce_channel` of the `open_channel` (odd; one byte, 1, written
/// only when set: older records read as unannounced).
const F_ANNOUNCE: u64 = 23;
/// The peer's `announcement_signatures`: node then bitcoin signature,
/// 64 bytes each, compact (odd).
const F_REMOTE_ANN_SIGS: u64 = 25;
const F_KEYS_INDEX: u64 = 18;
const F_IS_FUNDER: u64 = 20;
const F_TEMP_ID: u64 = 22;
const F_CHANNEL_ID: u64 = 24;
const F_CHAIN: u64 = 26;
const F_TYPE: u64 = 28;
const F_FUNDING_SAT: u64 = 30;
const F_PUSH: u64 = 32;
const F_LOCAL_PARAMS: u64 = 34;
const F_REMOTE_PARAMS: u64 = 36;
const F_REMOTE_KEYS: u64 = 38;
const F_MIN_DEPTH: u64 = 40;
const F_OUTPOINT: u64 = 42;
const F_FUNDING_TX: u64 = 44;
const F_FUNDING_HEIGHT: u64 = 46;
const F_SCID: u64 = 48;
const F_LOCAL_ALIAS: u64 = 50;
const F_REMOTE_ALIAS: u64 = 52;
const F_FLAGS: u64 = 54;
const F_LOG: u64 = 56;
const F_NUMBERS: u64 = 58;
const F_REMOTE_POINTS: u64 = 60;
const F_HOLDER_SIGS: u64 = 62;
const F_SECRETS: u64 = 64;
const F_TO_FAIL: u64 = 66;
const F_LOCAL_UPFRONT: u64 = 68;
const F_REMOTE_UPFRONT: u64 = 70;
const F_LOCAL_SHUTDOWN: u64 = 72;
const F_REMOTE_SHUTDOWN: u64 = 74;
const F_CLOSING_TX: u64 = 76;
/// The update log with each add's onion in a field of its own (the log
/// changes at every write; an onion is written once). Replaces [`F_LOG`],
/// which records of earlier versions of this code still carry.
const F_UPDATES: u64 = 78;
/// In update records only: the change of the log since the previous record
/// ([`super::log_delta`]), applied to [`F_UPDATES`] (or [`F_LOG`]).
const F_LOG_DELTA: u64 = 80;
/// The last fixed field type.
const F_LAST: u64 = F_LOG_DELTA;
/// Onion fields: `F_ONIONS + 4 * htlc_id + 2 * side` (side 0: ours, 1: the
/// peer's), one per HTLC add in the log, written when the add is and
/// removed with it.
///
/// The odd type just above an onion field, `F_ONIONS + 4 * htlc_id + 2 *
/// side + 1`, holds the `attribution_data` (920 bytes, BOLT 2 TLV 1 of
/// `update_fulfill_htlc`/`update_fail_htlc`) of that HTLC's removal, when
/// the removal in the log carries it: written with the removal, removed
/// with it. Odd, so a reader that does not know it skips it (and loses
/// only the attribution); records written before it read as removals
/// without attribution.
const F_ONIONS: u64 = 1 << 20;

/// The field type of the onion of `side`'s add `id`, if it fits in a u64
/// (else the onion stays inline in the log).
fn onion_field(side: Side, id: u64) -> Option<u64> {
    id.checked_mul(4)?
        .checked_add(F_ONIONS + 2 * u64::from(side_code(side)))
}

/// The field type of the `attribution_data` of the removal of `offerer`'s
/// HTLC `id` (odd, beside its onion field). `None`: it does not fit, and
/// the attribution is not persisted.
fn attribution_field(offerer: Side, id: u64) -> Option<u64> {
    onion_field(offerer, id)?.checked_add(1)
}

fn enc<T: Encode + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

fn put_params(out: &mut Vec<u8>, p: &PartyParams) {
    p.dust_limit_satoshis.encode(out);
    p.max_htlc_value_in_flight_msat.encode(out);
    p.channel_reserve_satoshis.encode(out);
    p.htlc_minimum_msat.encode(out);
    p.to_self_delay.encode(out);
    p.max_accepted_htlcs.encode(out);
}

fn get_params(r: &mut Reader<'_>) -> Result<PartyParams, DecodeError> {
    Ok(PartyParams {
        dust_limit_satoshis: r.read()?,
        max_htlc_value_in_flight_msat: r.read()?,
        channel_reserve_satoshis: r.read()?,
        htlc_minimum_msat: r.read()?,
        to_self_delay: r.read()?,
        max_accepted_htlcs: r.read()?,
    })
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    BigSize(b.len() as u64).encode(out);
    out.extend_from_slice(b);
}

fn get_bytes(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let BigSize(n) = r.read()?;
    let n = usize::try_from(n).map_err(|_| DecodeError::invalid("length"))?;
    Ok(r.read_bytes(n)?.to_vec())
}

fn phase_code(p: Phase) -> u8 {
    match p {
        Phase::AwaitingAccept => 0,
        Phase::AwaitingFundingTx => 1,
        Phase::AwaitingFundingCreated => 2,
        Phase::AwaitingFundingSigned => 3,
        Phase::AwaitingChannelReady => 4,
        Phase::Normal => 5,
        Phase::ShuttingDown => 6,
        Phase::Closed => 7,
        Phase::Failed => 8,
    }
}

fn phase_from(c: u8) -> Option<Phase> {
    Some(match c {
        0 => Phase::AwaitingAccept,
        1 => Phase::AwaitingFundingTx,
        2 => Phase::AwaitingFundingCreated,
        3 => Phase::AwaitingFundingSigned,
        4 => Phase::AwaitingChannelReady,
        5 => Phase::Normal,
        6 => Phase::ShuttingDown,
        7 => Phase::Closed,
        8 => Phase::Failed,
        _ => return None,
    })
}

fn side_code(s: Side) -> u8 {
    match s {
        Side::Local => 0,
        Side::Remote => 1,
    }
}

pub(super) fn stage_code(s: UpdateStage) -> u8 {
    match s {
        UpdateStage::Proposed => 0,
        UpdateStage::ReceiverCommitted => 1,
        UpdateStage::ReceiverRevoked => 2,
        UpdateStage::ProposerCommitted => 3,
        UpdateStage::LockedIn => 4,
    }
}

fn stage_from(c: u8) -> Option<UpdateStage> {
    Some(match c {
        0 => UpdateStage::Proposed,
        1 => UpdateStage::ReceiverCommitted,
        2 => UpdateStage::ReceiverRevoked,
        3 => UpdateStage::ProposerCommitted,
        4 => UpdateStage::LockedIn,
        _ => return None,
    })
}

/// The onion fields of a state: field type to the (shared) onion.
type Onions = BTreeMap<u64, Arc<[u8]>>;

/// Encodes the log's head: the settled balances and feerate, and each
/// side's next HTLC id.
pub(super) fn encode_log_head(log: &UpdateLog, out: &mut Vec<u8>) {
    let (l, r, f) = log.settled();
    l.encode(out);
    r.encode(out);
    f.encode(out);
    log.next_htlc_id(Side::Local).encode(out);
    log.next_htlc_id(Side::Remote).encode(out);
}

/// Encodes one update. An add's onion is inline, or empty when
/// `onion_elsewhere` (it is then in its onion field).
pub(super) fn encode_update(out: &mut Vec<u8>, u: &Update, onion_elsewhere: bool) {
    side_code(u.proposer).encode(out);
    stage_code(u.stage).encode(out);
    match &u.kind {
        UpdateKind::Add(a) => {
            0u8.encode(out);
            a.id.encode(out);
            a.amount_msat.encode(out);
            a.payment_hash.encode(out);
            a.cltv_expiry.encode(out);
            put_bytes(
                out,
                if onion_elsewhere {
                    &[]
                } else {
                    &a.onion_routing_packet
                },
            );
            match &a.path_key {
                None => 0u8.encode(out),
                Some(k) => {
                    1u8.encode(out);
                    k.encode(out);
                }
            }
        }
        UpdateKind::Remove { htlc_id, removal } => match removal {
            // Attribution data goes to a field of its own
            // (`attribution_field`), never inline.
            HtlcRemoval::Fulfill {
                payment_preimage, ..
            } => {
                1u8.encode(out);
                htlc_id.encode(out);
                payment_preimage.encode(out);
            }
            HtlcRemoval::Fail { reason, .. } => {
                2u8.encode(out);
                htlc_id.encode(out);
                put_bytes(out, reason);
            }
            HtlcRemoval::FailMalformed {
                sha256_of_onion,
                failure_code,
            } => {
                3u8.encode(out);
                htlc_id.encode(out);
                sha256_of_onion.encode(out);
                failure_code.encode(out);
            }
        },
        UpdateKind::Fee { feerate_per_kw } => {
            4u8.encode(out);
            feerate_per_kw.encode(out);
        }
    }
}

/// The field of its own an update's bulky part goes to, and that part: an
/// add's onion (shared, not copied), or the `attribution_data` of a
/// removal that carries it. `None`: the update has none, or its id does
/// not fit a field type (an onion then stays inline; an attribution is not
/// persisted).
pub(super) fn update_side_field(u: &Update) -> Option<(u64, SideValue<'_>)> {
    match &u.kind {
        UpdateKind::Add(a) => Some((
            onion_field(u.proposer, a.id)?,
            SideValue::Onion(&a.onion_routing_packet),
        )),
        UpdateKind::Remove { htlc_id, removal } => {
            let data = removal.attribution_data()?;
            Some((
                attribution_field(u.proposer.other(), *htlc_id)?,
                SideValue::Attribution(data),
            ))
        }
        UpdateKind::Fee { .. } => None,
    }
}

/// What a field of an update's own holds ([`update_side_field`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum SideValue<'a> {
    /// An add's onion, shared with the log.
    Onion(&'a Arc<[u8]>),
    /// A removal's `attribution_data`.
    Attribution(&'a AttributionData),
}

impl SideValue<'_> {
    /// The field's value, shared when it is an onion.
    pub(super) fn to_shared(self) -> Arc<[u8]> {
        match self {
            SideValue::Onion(o) => Arc::clone(o),
            SideValue::Attribution(a) => Arc::from(enc(a)),
        }
    }
}

/// Encodes the log. With `onions`, each add's onion goes there (field type
/// to the shared onion, not copied) and the log carries an empty onion in
/// its place; without, the onions are inline (the first record format,
/// [`F_LOG`]).
fn encode_log(log: &UpdateLog, mut onions: Option<&mut Onions>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + 80 * log.updates().len());
    encode_log_head(log, &mut out);
    BigSize(log.updates().len() as u64).encode(&mut out);
    for u in log.updates() {
        let own_field = match (&mut onions, update_side_field(u)) {
            (Some(map), Some((ty, value))) => {
                map.insert(ty, value.to_shared());
                true
            }
            _ => false,
        };
        encode_update(&mut out, u, own_field);
    }
    out
}

/// The log's head: the settled (local msat, remote msat, feerate), and
/// the next local and remote HTLC ids.
type LogHead = ((u64, u64, u32), u64, u64);

/// Reads the log's head ([`encode_log_head`]).
pub(super) fn decode_log_head(r: &mut Reader<'_>) -> Result<LogHead, DecodeError> {
    Ok(((r.read()?, r.read()?, r.read()?), r.read()?, r.read()?))
}

/// Looks up the `attribution_data` field of the removal of an HTLC (by
/// its offerer and id), if the record holds one.
pub(super) type AttributionLookup<'a> =
    dyn FnMut(Side, u64) -> Result<Option<Arc<AttributionData>>, DecodeError> + 'a;

/// Decodes one update; an add with an empty onion takes it from `onion`
/// (given the proposer and the id), and a fulfil or failure its
/// attribution data from `attribution` (given the HTLC's offerer and id).
pub(super) fn decode_update(
    r: &mut Reader<'_>,
    onion: &mut dyn FnMut(Side, u64) -> Result<Arc<[u8]>, DecodeError>,
    attribution: &mut AttributionLookup<'_>,
) -> Result<Update, DecodeError> {
    let proposer = match r.read::<u8>()? {
        0 => Side::Local,
        1 => Side::Remote,
        _ => return Err(DecodeError::invalid("side")),
    };
    let stage = stage_from(r.read::<u8>()?).ok_or_else(|| DecodeError::invalid("stage"))?;
    let kind = match r.read::<u8>()? {
        0 => {
            let id = r.read()?;
            let amount_msat = r.read()?;
            let payment_hash = r.read()?;
            let cltv_expiry = r.read()?;
            let inline = get_bytes(r)?;
            let onion_routing_packet: Arc<[u8]> = if inline.is_empty() {
                onion(proposer, id)?
            } else {
                Arc::from(inline)
            };
            let path_key = match r.read::<u8>()? {
                0 => None,
                1 => Some(r.read()?),
                _ => return Err(DecodeError::invalid("path_key")),
            };
            UpdateKind::Add(HtlcAdd {
                id,
                amount_msat,
                payment_hash,
                cltv_expiry,
                onion_routing_packet,
                path_key,
            })
        }
        1 => {
            let htlc_id = r.read()?;
            UpdateKind::Remove {
                htlc_id,
                removal: HtlcRemoval::Fulfill {
                    payment_preimage: r.read()?,
                    attribution_data: attribution(proposer.other(), htlc_id)?,
                },
            }
        }
        2 => {
            let htlc_id = r.read()?;
            UpdateKind::Remove {
                htlc_id,
                removal: HtlcRemoval::Fail {
                    reason: get_bytes(r)?,
                    attribution_data: attribution(proposer.other(), htlc_id)?,
                },
            }
        }
        3 => UpdateKind::Remove {
            htlc_id: r.read()?,
            removal: HtlcRemoval::FailMalformed {
                sha256_of_onion: r.read()?,
                failure_code: r.read()?,
            },
        },
        4 => UpdateKind::Fee {
            feerate_per_kw: r.read()?,
        },
        _ => return Err(DecodeError::invalid("update kind")),
    };
    Ok(Update {
        proposer,
        kind,
        stage,
    })
}

/// Decodes the log; an add with an empty onion takes it from `onions`.
fn decode_log(r: &mut Reader<'_>, onions: &BTreeMap<u64, &[u8]>) -> Result<UpdateLog, DecodeError> {
    let (settled, next_local, next_remote) = decode_log_head(r)?;
    let BigSize(n) = r.read()?;
    let mut updates = Vec::new();
    let mut onion = |side: Side, id: u64| -> Result<Arc<[u8]>, DecodeError> {
        Ok(Arc::from(
            *onion_field(side, id)
                .and_then(|ty| onions.get(&ty))
                .ok_or_else(|| DecodeError::invalid("onion field missing"))?,
        ))
    };
    let mut attribution = |offerer: Side, id: u64| {
        attribution_field(offerer, id)
            .and_then(|ty| onions.get(&ty))
            .map(|v| {
                AttributionData::from_bytes(v)
                    .map(Arc::new)
                    .map_err(|e| e.at("attribution_data"))
            })
            .transpose()
    };
    for _ in 0..n {
        updates.push(decode_update(r, &mut onion, &mut attribution)?);
    }
    Ok(UpdateLog::from_parts(
        settled,
        updates,
        next_local,
        next_remote,
    ))
}

/// The state as a map of field type to value.
pub fn encode_fields(st: &ChannelState) -> BTreeMap<u64, Vec<u8>> {
    let (mut m, onions) = encode_parts(st);
    m.extend(onions.into_iter().map(|(ty, v)| (ty, v.to_vec())));
    m
}

/// The state's fields but the onions (field type to value), and the onion
/// fields, shared with the log: no onion is copied.
fn encode_parts(st: &ChannelState) -> (BTreeMap<u64, Vec<u8>>, Onions) {
    let mut m = encode_other_fields(st);
    if let Some(s) = &st.holder_sigs {
        m.insert(F_HOLDER_SIGS, encode_holder_sigs(s));
    }
    let mut onions = Onions::new();
    m.insert(F_UPDATES, encode_log(&st.log, Some(&mut onions)));
    (m, onions)
}

/// The peer's signatures on our latest commitment (field 62).
fn encode_holder_sigs(s: &HolderSignatures) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 * (s.htlcs.len() + 1) + 9);
    s.commitment.encode(&mut v);
    BigSize(s.htlcs.len() as u64).encode(&mut v);
    for sig in s.htlcs.iter() {
        sig.encode(&mut v);
    }
    v
}

/// The state's fields but the log, the onions and the HTLC signatures:
/// what an update record compares field by field (the log goes as a
/// delta, [`super::log_delta`]; the signatures are compared as they are,
/// shared, and encoded only when they changed).
fn encode_other_fields(st: &ChannelState) -> BTreeMap<u64, Vec<u8>> {
    let mut m = BTreeMap::new();
    m.insert(F_PHASE, vec![phase_code(st.phase)]);
    m.insert(F_KEYS_INDEX, enc(&st.keys_index));
    m.insert(F_IS_FUNDER, vec![u8::from(st.is_funder)]);
    m.insert(F_TEMP_ID, enc(&st.temporary_channel_id));
    m.insert(F_CHANNEL_ID, enc(&st.channel_id));
    m.insert(F_CHAIN, enc(&st.chain_hash));
    let t = st.channel_type;
    m.insert(
        F_TYPE,
        vec![u8::from(t.anchors) | u8::from(t.scid_alias) << 1 | u8::from(t.zeroconf) << 2],
    );
    m.insert(F_FUNDING_SAT, enc(&st.funding_satoshis));
    m.insert(F_PUSH, enc(&st.push_msat));
    let mut p = Vec::new();
    put_params(&mut p, &st.local_params);
    m.insert(F_LOCAL_PARAMS, p);
    let mut p = Vec::new();
    put_params(&mut p, &st.remote_params);
    m.insert(F_REMOTE_PARAMS, p);
    if let Some(k) = &st.remote_keys {
        let mut v = Vec::new();
        for key in [
            k.funding_pubkey,
            k.revocation_basepoint,
            k.payment_basepoint,
            k.delayed_payment_basepoint,
            k.htlc_basepoint,
        ] {
            key.encode(&mut v);
        }
        m.insert(F_REMOTE_KEYS, v);
    }
    m.insert(F_MIN_DEPTH, enc(&st.minimum_depth));
    if let Some(o) = &st.funding_outpoint {
        let mut v = enc(&o.txid);
        o.vout.encode(&mut v);
        m.insert(F_OUTPOINT, v);
    }
    if let Some(tx) = &st.funding_tx {
        m.insert(F_FUNDING_TX, serialize(tx));
    }
    if let Some(h) = st.funding_height {
        m.insert(F_FUNDING_HEIGHT, enc(&h));
    }
    if st.funding_verified {
        m.insert(F_FUNDING_VERIFIED, vec![1]);
    }
    for (ty, v) in [
        (F_SCID, st.short_channel_id),
        (F_LOCAL_ALIAS, st.local_alias),
        (F_REMOTE_ALIAS, st.remote_alias),
    ] {
        if let Some(s) = v {
            m.insert(ty, enc(&s));
        }
    }
    let flags = u8::from(st.channel_ready_sent)
        | u8::from(st.channel_ready_received) << 1
        | u8::from(st.we_initiated_close) << 2
        | u8::from(st.simple_close) << 3
        | u8::from(st.we_are_behind) << 4;
    m.insert(F_FLAGS, vec![flags]);
    if let Some(id) = &st.counterparty_node_id {
        m.insert(F_COUNTERPARTY, id.serialize().to_vec());
    }
    if let Some(h) = st.funding_wait_since {
        m.insert(F_FUNDING_WAIT, enc(&h));
    }
    if st.announce_channel {
        m.insert(F_ANNOUNCE, vec![1]);
    }
    if let Some(a) = &st.remote_announcement_sigs {
        let mut v = enc(&a.node_signature);
        a.bitcoin_signature.encode(&mut v);
        m.insert(F_REMOTE_ANN_SIGS, v);
    }
    let n = &st.numbers;
    let mut v = enc(&n.local);
    n.remote.encode(&mut v);
    u8::from(n.awaiting_remote_revoke).encode(&mut v);
    u8::from(n.last_sent == LastSent::CommitmentSignedLast).encode(&mut v);
    m.insert(F_NUMBERS, v);
    if let Some(p) = &st.remote_points {
        let mut v = enc(&p.current);
        for opt in [p.revoking, p.next] {
            match opt {
                None => 0u8.encode(&mut v),
                Some(k) => {
                    1u8.encode(&mut v);
                    k.encode(&mut v);
                }
            }
        }
        m.insert(F_REMOTE_POINTS, v);
    }
    let stored = st.secrets.stored();
    if !stored.is_empty() {
        let mut v = Vec::new();
        BigSize(stored.len() as u64).encode(&mut v);
        for (index, secret) in stored {
            index.encode(&mut v);
            secret.encode(&mut v);
        }
        m.insert(F_SECRETS, v);
    }
    if !st.htlcs_to_fail.is_empty() {
        let mut v = Vec::new();
        for id in &st.htlcs_to_fail {
            id.encode(&mut v);
        }
        m.insert(F_TO_FAIL, v);
    }
    for (ty, s) in [
        (F_LOCAL_UPFRONT, &st.local_upfront_shutdown),
        (F_REMOTE_UPFRONT, &st.remote_upfront_shutdown),
        (F_LOCAL_SHUTDOWN, &st.local_shutdown),
        (F_REMOTE_SHUTDOWN, &st.remote_shutdown),
    ] {
        if let Some(s) = s {
            m.insert(ty, s.clone());
        }
    }
    if let Some(tx) = &st.closing_tx {
        m.insert(F_CLOSING_TX, serialize(tx));
    }
    m
}

fn field<'a>(
    m: &'a BTreeMap<u64, Vec<u8>>,
    ty: u64,
    name: &'static str,
) -> Result<Reader<'a>, RecordError> {
    m.get(&ty)
        .map(|v| Reader::new(v))
        .ok_or(RecordError::Missing(name))
}

fn read_whole<T: Decode>(
    m: &BTreeMap<u64, Vec<u8>>,
    ty: u64,
    name: &'static str,
) -> Result<T, RecordError> {
    let v = m.get(&ty).ok_or(RecordError::Missing(name))?;
    Ok(T::from_bytes(v).map_err(|e| e.at(name))?)
}

fn read_opt<T: Decode>(
    m: &BTreeMap<u64, Vec<u8>>,
    ty: u64,
    name: &'static str,
) -> Result<Option<T>, RecordError> {
    match m.get(&ty) {
        None => Ok(None),
        Some(v) => Ok(Some(T::from_bytes(v).map_err(|e| e.at(name))?)),
    }
}

fn finish(r: Reader<'_>, name: &'static str) -> Result<(), RecordError> {
    r.finish().map_err(|e| RecordError::Decode(e.at(name)))
}

fn decode_fields(m: &BTreeMap<u64, Vec<u8>>) -> Result<ChannelState, RecordError> {
    let byte = |ty, name| -> Result<u8, RecordError> { read_whole::<u8>(m, ty, name) };
    let phase = phase_from(byte(F_PHASE, "phase")?).ok_or(RecordError::Invalid("phase"))?;
    let t = byte(F_TYPE, "channel_type")?;
    let flags = byte(F_FLAGS, "flags")?;
    let mut r = field(m, F_LOCAL_PARAMS, "local_params")?;
    let local_params = get_params(&mut r)?;
    finish(r, "local_params")?;
    let mut r = field(m, F_REMOTE_PARAMS, "remote_params")?;
    let remote_params = get_params(&mut r)?;
    finish(r, "remote_params")?;
    let remote_keys = match m.get(&F_REMOTE_KEYS) {
        None => None,
        Some(v) => {
            let mut r = Reader::new(v);
            let k = ChannelPublicKeys {
                funding_pubkey: r.read()?,
                revocation_basepoint: r.read()?,
                payment_basepoint: r.read()?,
                delayed_payment_basepoint: r.read()?,
                htlc_basepoint: r.read()?,
            };
            finish(r, "remote_keys")?;
            Some(k)
        }
    };
    let funding_outpoint = match m.get(&F_OUTPOINT) {
        None => None,
        Some(v) => {
            let mut r = Reader::new(v);
            let txid: Txid = r.read()?;
            let vout: u32 = r.read()?;
            finish(r, "funding_outpoint")?;
            Some(OutPoint { txid, vout })
        }
    };
    let tx = |ty| -> Result<Option<Transaction>, RecordError> {
        m.get(&ty)
            .map(|v| deserialize(v).map_err(|_| RecordError::Invalid("transaction")))
            .transpose()
    };
    let onions: BTreeMap<u64, &[u8]> = m
        .range(F_ONIONS..)
        .map(|(t, v)| (*t, v.as_slice()))
        .collect();
    let (ty, name) = if m.contains_key(&F_UPDATES) {
        (F_UPDATES, "updates")
    } else {
        (F_LOG, "log")
    };
    let mut r = field(m, ty, name)?;
    let log = decode_log(&mut r, &onions).map_err(|e| e.at(name))?;
    finish(r, name)?;
    let mut r = field(m, F_NUMBERS, "numbers")?;
    let numbers = CommitmentNumbers {
        local: r.read()?,
        remote: r.read()?,
        awaiting_remote_revoke: r.read::<u8>()? == 1,
        last_sent: if r.read::<u8>()? == 1 {
            LastSent::CommitmentSignedLast
        } else {
            LastSent::RevokeAndAckLast
        },
    };
    finish(r, "numbers")?;
    let remote_points = match m.get(&F_REMOTE_POINTS) {
        None => None,
        Some(v) => {
            let mut r = Reader::new(v);
            let current: PublicKey = r.read()?;
            let mut opt = || -> Result<Option<PublicKey>, DecodeError> {
                Ok(match r.read::<u8>()? {
                    0 => None,
                    _ => Some(r.read()?),
                })
            };
            let revoking = opt()?;
            let next = opt()?;
            finish(r, "remote_points")?;
            Some(RemotePoints {
                revoking,
                current,
                next,
            })
        }
    };
    let holder_sigs = match m.get(&F_HOLDER_SIGS) {
        None => None,
        Some(v) => {
            let mut r = Reader::new(v);
            let commitment: Signature = r.read()?;
            let BigSize(n) = r.read()?;
            let mut htlcs = Vec::new();
            for _ in 0..n {
                htlcs.push(r.read()?);
            }
            finish(r, "holder_sigs")?;
            Some(HolderSignatures {
                commitment,
                htlcs: htlcs.into(),
            })
        }
    };
    let mut secrets = CounterpartyCommitmentSecrets::new();
    if let Some(v) = m.get(&F_SECRETS) {
        let mut r = Reader::new(v);
        let BigSize(n) = r.read()?;
        // Written highest index first (`stored()`); read back only in that
        // order, so that the consistency checks here are the ones the
        // store made when the secrets arrived, and a record that restores
        // encodes one that restores again.
        let mut previous: Option<u64> = None;
        for _ in 0..n {
            let index: u64 = r.read()?;
            let secret: [u8; 32] = r.read()?;
            if previous.is_some_and(|p| index >= p) {
                return Err(RecordError::Invalid("secrets"));
            }
            previous = Some(index);
            secrets
                .insert_unordered(index, secret)
                .map_err(|_| RecordError::Invalid("secrets"))?;
        }
        finish(r, "secrets")?;
    }
    let mut htlcs_to_fail = Vec::new();
    if let Some(v) = m.get(&F_TO_FAIL) {
        let mut r = Reader::new(v);
        while !r.is_empty() {
            htlcs_to_fail.push(r.read()?);
        }
    }
    Ok(ChannelState {
        phase,
        keys_index: read_whole(m, F_KEYS_INDEX, "keys_index")?,
        is_funder: byte(F_IS_FUNDER, "is_funder")? == 1,
        temporary_channel_id: read_whole::<ChannelId>(m, F_TEMP_ID, "temporary_channel_id")?,
        channel_id: read_whole::<ChannelId>(m, F_CHANNEL_ID, "channel_id")?,
        chain_hash: read_whole::<ChainHash>(m, F_CHAIN, "chain_hash")?,
        channel_type: ChannelType {
            anchors: t & 1 != 0,
            scid_alias: t & 2 != 0,
            zeroconf: t & 4 != 0,
        },
        funding_satoshis: read_whole(m, F_FUNDING_SAT, "funding_satoshis")?,
        push_msat: read_whole(m, F_PUSH, "push_msat")?,
        local_params,
        remote_params,
        remote_keys,
        minimum_depth: read_whole(m, F_MIN_DEPTH, "minimum_depth")?,
        funding_outpoint,
        funding_tx: tx(F_FUNDING_TX)?,
        funding_height: read_opt(m, F_FUNDING_HEIGHT, "funding_height")?,
        funding_verified: match m.get(&F_FUNDING_VERIFIED).map(Vec::as_slice) {
            None => false,
            Some([1]) => true,
            Some(_) => return Err(RecordError::Invalid("funding_verified")),
        },
        short_channel_id: read_opt::<ShortChannelId>(m, F_SCID, "short_channel_id")?,
        local_alias: read_opt::<ShortChannelId>(m, F_LOCAL_ALIAS, "local_alias")?,
        remote_alias: read_opt::<ShortChannelId>(m, F_REMOTE_ALIAS, "remote_alias")?,
        channel_ready_sent: flags & 1 != 0,
        channel_ready_received: flags & 2 != 0,
        we_initiated_close: flags & 4 != 0,
        simple_close: flags & 8 != 0,
        we_are_behind: flags & 16 != 0,
        log,
        numbers,
        remote_points,
        holder_sigs,
        secrets,
        htlcs_to_fail,
        local_upfront_shutdown: m.get(&F_LOCAL_UPFRONT).cloned(),
        remote_upfront_shutdown: m.get(&F_REMOTE_UPFRONT).cloned(),
        local_shutdown: m.get(&F_LOCAL_SHUTDOWN).cloned(),
        remote_shutdown: m.get(&F_REMOTE_SHUTDOWN).cloned(),
        closing_tx: tx(F_CLOSING_TX)?,
        counterparty_node_id: read_opt(m, F_COUNTERPARTY, "counterparty_node_id")?,
        funding_wait_since: read_opt(m, F_FUNDING_WAIT, "funding_wait_since")?,
        announce_channel: match m.get(&F_ANNOUNCE).map(Vec::as_slice) {
            None => false,
            Some([1]) => true,
            Some(_) => return Err(RecordError::Invalid("announce_channel")),
        },
        remote_announcement_sigs: match m.get(&F_REMOTE_ANN_SIGS) {
            None => None,
            Some(v) => {
                let mut r = Reader::new(v);
                let node_signature = r.read().map_err(|e| e.at("announcement_sigs"))?;
                let bitcoin_signature = r.read().map_err(|e| e.at("announcement_sigs"))?;
                finish(r, "announcement_sigs")?;
                Some(super::announce::AnnouncementSigs {
                    node_signature,
                    bitcoin_signature,
                })
            }
        },
    })
}

/// Encodes a full snapshot of `st` as of change `seq`.
pub fn encode_snapshot(st: &ChannelState, seq: u64) -> Vec<u8> {
    let (fields, onions) = encode_parts(st);
    snapshot_bytes(&fields, &onions, seq)
}

fn snapshot_bytes(fields: &BTreeMap<u64, Vec<u8>>, onions: &Onions, seq: u64) -> Vec<u8> {
    let mut w = TlvStreamWriter::new();
    w.put(T_VERSION, &RECORD_VERSION);
    w.put(T_SEQ, &seq);
    // Every onion type is above every other field's.
    for (ty, v) in fields {
        w.put_raw(*ty, v);
    }
    for (ty, v) in onions {
        w.put_raw(*ty, v);
    }
    w.into_bytes()
}

/// Encodes a snapshot in the first record format: the whole log, onions
/// inline, in field 56. This code never writes it; tests use it to check
/// that records written by earlier versions stay readable.
#[cfg(feature = "test-support")]
pub fn encode_snapshot_first_format(st: &ChannelState, seq: u64) -> Vec<u8> {
    let mut fields = encode_fields(st);
    fields.retain(|ty, _| *ty < F_ONIONS && *ty != F_UPDATES);
    fields.insert(F_LOG, encode_log(&st.log, None));
    let mut w = TlvStreamWriter::new();
    w.put(T_VERSION, &RECORD_VERSION);
    w.put(T_SEQ, &seq);
    for (ty, v) in fields {
        w.put_raw(ty, &v);
    }
    w.into_bytes()
}

/// A parsed record: (seq, removed field types, fields).
type ParsedRecord = (u64, Vec<u64>, BTreeMap<u64, Vec<u8>>);

/// Reads a record.
fn parse_record(bytes: &[u8]) -> Result<ParsedRecord, RecordError> {
    let mut r = Reader::new(bytes);
    let mut s = TlvStreamReader::parse(&mut r)?;
    let version: u16 = s
        .take(T_VERSION, "version")?
        .ok_or(RecordError::Missing("version"))?;
    if version != RECORD_VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    let seq: u64 = s.take(T_SEQ, "seq")?.ok_or(RecordError::Missing("seq"))?;
    let removed = s
        .take_with(T_REMOVED, "removed", |r| {
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(r.read::<u64>()?);
            }
            Ok(v)
        })?
        .unwrap_or_default();
    let mut fields = BTreeMap::new();
    for ty in [
        F_COUNTERPARTY,
        F_FUNDING_WAIT,
        F_FUNDING_VERIFIED,
        F_ANNOUNCE,
        F_REMOTE_ANN_SIGS,
    ] {
        if let Some(v) = s.take_raw(ty) {
            fields.insert(ty, v.to_vec());
        }
    }
    for ty in (F_PHASE..=F_LAST).step_by(2) {
        if let Some(v) = s.take_raw(ty) {
            fields.insert(ty, v.to_vec());
        }
    }
    // Onion fields (even) and the attribution data of removals (odd, the
    // type above their HTLC's onion field).
    for (ty, v) in s.take_from(F_ONIONS) {
        fields.insert(ty, v.to_vec());
    }
    // Unknown odd fields are dropped; unknown even ones refused.
    s.finish()?;
    Ok((seq, removed, fields))
}

/// Decodes a snapshot (for tests and tools): the state and its seq.
pub fn decode_snapshot(bytes: &[u8]) -> Result<(ChannelState, u64), RecordError> {
    let (seq, _, fields) = parse_record(bytes)?;
    if fields.contains_key(&F_LOG_DELTA) {
        return Err(RecordError::Invalid("log delta in a snapshot"));
    }
    Ok((decode_fields(&fields)?, seq))
}

/// Tracks what the store holds, and turns each state change into the
/// smallest write.
///
/// A write costs in proportion to what changed: the fields but the log are
/// compared (a few dozen bytes, and the HTLC signatures when they changed),
/// the log goes as a delta computed from the updates' identities (one pass
/// over small integers; only new updates are encoded), and an onion is
/// written once, with the record that first holds its add. Only the
/// periodic snapshot encodes the whole state.
#[derive(Debug, Clone)]
pub struct Persister {
    /// The stored fields but the log (field 78) and its onion fields.
    /// (After a restore it may hold a first-format log, field 56, or an
    /// onion field no add names: the next write removes them.)
    stored: BTreeMap<u64, Vec<u8>>,
    /// The stored log; `None` when the next write must write it whole.
    stored_log: Option<StoredLog>,
    /// The stored HTLC signatures (field 62; shared with the state).
    stored_sigs: Option<HolderSignatures>,
    /// Debug builds: the stored log field (78) as a restore would rebuild
    /// it, to check every delta against the whole encoding.
    #[cfg(debug_assertions)]
    shadow: Option<Vec<u8>>,
    seq: u64,
    since_snapshot: u32,
    every: u32,
    started: bool,
}

impl Persister {
    pub(crate) fn new(every: u32) -> Self {
        Persister {
            stored: BTreeMap::new(),
            stored_log: None,
            stored_sigs: None,
            #[cfg(debug_assertions)]
            shadow: None,
            seq: 0,
            since_snapshot: 0,
            every: every.max(1),
            started: false,
        }
    }

    /// The sequence number of the last write.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    fn key_prefix(channel_id: &ChannelId) -> String {
        format!("channels/{}", hex::encode(channel_id.0))
    }

    /// The key of a channel's snapshot.
    pub fn snapshot_key(channel_id: &ChannelId) -> String {
        format!("{}/snapshot", Self::key_prefix(channel_id))
    }

    /// Every key the channel's record occupies now (the snapshot and the
    /// update records after it): what to remove to forget the channel.
    pub fn record_keys(&self, channel_id: &ChannelId) -> Vec<String> {
        let first = self.seq + 1 - u64::from(self.since_snapshot);
        std::iter::once(Self::snapshot_key(channel_id))
            .chain((first..=self.seq).map(|s| Self::update_key(channel_id, s)))
            .collect()
    }

    /// The key of a channel's update record `seq`.
    pub fn update_key(channel_id: &ChannelId, seq: u64) -> String {
        format!("{}/u/{seq:020}", Self::key_prefix(channel_id))
    }

    /// The write for the state `st`, if it changed since the last one.
    /// Nothing is written before the channel is funded (the record exists
    /// from `funding_created`/`funding_signed` on).
    pub(crate) fn write(&mut self, st: &ChannelState) -> Option<ChannelWrite> {
        if !self.started {
            let funded = st.funding_outpoint.is_some()
                && !matches!(st.phase, Phase::AwaitingFundingTx | Phase::AwaitingAccept);
            if !funded {
                return None;
            }
            self.started = true;
            return Some(self.snapshot(st));
        }
        let fields = encode_other_fields(st);
        let delta = self
            .stored_log
            .as_ref()
            .and_then(|stored| log_delta::diff(stored, &st.log));
        let sigs_same = st.holder_sigs == self.stored_sigs;
        if delta.as_ref().is_some_and(|d| !d.changed) && sigs_same && fields == self.stored {
            return None;
        }
        if self.since_snapshot + 1 >= self.every {
            return Some(self.snapshot(st));
        }
        self.seq += 1;
        self.since_snapshot += 1;
        let mut w = TlvStreamWriter::new();
        w.put(T_VERSION, &RECORD_VERSION);
        w.put(T_SEQ, &self.seq);
        let mut removed: Vec<u64> = self
            .stored
            .keys()
            .filter(|k| !fields.contains_key(k))
            .copied()
            .collect();
        for (ty, v) in &fields {
            if self.stored.get(ty) != Some(v) {
                w.put_raw(*ty, v);
            }
        }
        if !sigs_same {
            match &st.holder_sigs {
                Some(s) => w.put_raw(F_HOLDER_SIGS, &encode_holder_sigs(s)),
                None => removed.push(F_HOLDER_SIGS),
            }
            self.stored_sigs.clone_from(&st.holder_sigs);
        }
        match delta {
            Some(d) => {
                if d.changed {
                    #[cfg(debug_assertions)]
                    self.check_delta(&d.bytes, &st.log);
                    w.put_raw(F_LOG_DELTA, &d.bytes);
                    removed.extend(d.dropped_onions);
                    for (ty, value) in d.new_onions {
                        match value {
                            SideValue::Onion(o) => w.put_raw(ty, o),
                            SideValue::Attribution(a) => w.put(ty, a),
                        }
                    }
                }
                self.stored_log = Some(d.next);
            }
            None => {
                // The whole log: after a restore from the first format, or
                // if the log is not the stored one changed by the steps a
                // delta describes.
                let mut onions = Onions::new();
                let log = encode_log(&st.log, Some(&mut onions));
                if let Some(stored) = &self.stored_log {
                    removed.extend(stored.onion_fields().filter(|t| !onions.contains_key(t)));
                }
                w.put_raw(F_UPDATES, &log);
                for (ty, v) in &onions {
                    w.put_raw(*ty, v);
                }
                self.stored_log = Some(StoredLog::of(&st.log, |ty| onions.contains_key(&ty)));
                #[cfg(debug_assertions)]
                {
                    self.shadow = Some(log);
                }
            }
        }
        if !removed.is_empty() {
            let mut v = Vec::new();
            for t in &removed {
                t.encode(&mut v);
            }
            w.put_raw(T_REMOVED, &v);
        }
        self.stored = fields;
        Some(ChannelWrite {
            writes: vec![RecordWrite {
                key: Self::update_key(&st.channel_id, self.seq),
                version: self.seq,
                value: w.into_bytes(),
            }],
            obsolete: Vec::new(),
        })
    }

    /// Debug builds: the delta applied to the stored log field gives the
    /// whole encoding of `log`, as a restore needs.
    #[cfg(debug_assertions)]
    fn check_delta(&mut self, delta: &[u8], log: &UpdateLog) {
        let whole = encode_log(log, Some(&mut Onions::new()));
        if let Some(shadow) = &self.shadow {
            let applied = LogImage::parse(F_UPDATES, shadow).and_then(|mut image| {
                image.apply(delta)?;
                Ok(image.to_bytes())
            });
            debug_assert_eq!(
                applied.as_ref().ok(),
                Some(&whole),
                "the log delta does not rebuild the log: {applied:?}"
            );
        }
        self.shadow = Some(whole);
    }

    fn snapshot(&mut self, st: &ChannelState) -> ChannelWrite {
        let (mut fields, onions) = encode_parts(st);
        let first_update = self.seq + 1 - u64::from(self.since_snapshot);
        let obsolete = (first_update..=self.seq)
            .filter(|_| self.since_snapshot > 0)
            .map(|s| Self::update_key(&st.channel_id, s))
            .collect();
        self.seq += 1;
        self.since_snapshot = 0;
        let value = snapshot_bytes(&fields, &onions, self.seq);
        let _log = fields.remove(&F_UPDATES);
        #[cfg(debug_assertions)]
        {
            self.shadow = _log;
        }
        fields.remove(&F_HOLDER_SIGS);
        self.stored_sigs.clone_from(&st.holder_sigs);
        self.stored = fields;
        self.stored_log = Some(StoredLog::of(&st.log, |ty| onions.contains_key(&ty)));
        ChannelWrite {
            writes: vec![RecordWrite {
                key: Self::snapshot_key(&st.channel_id),
                version: self.seq,
                value,
            }],
            obsolete,
        }
    }
}

impl<S: ChannelSigner> Channel<S> {
    /// Rebuilds a channel from its record: the snapshot and the update
    /// records (any order; those the snapshot already holds are skipped).
    /// `signer` must be the one for `keys_index` (read it with
    /// [`decode_snapshot`] first if needed); its revocation counter is
    /// raised to match. The channel starts disconnected: call
    /// [`Channel::peer_disconnected`] to learn the HTLC offers that were
    /// never committed, then [`Channel::peer_reconnected`].
    pub fn restore(
        mut signer: S,
        config: ChannelConfig,
        snapshot: &[u8],
        updates: &[Vec<u8>],
    ) -> Result<Self, RecordError> {
        let (mut seq, _, mut fields) = parse_record(snapshot)?;
        if fields.contains_key(&F_LOG_DELTA) {
            return Err(RecordError::Invalid("log delta in a snapshot"));
        }
        let snapshot_seq = seq;
        let mut parsed = updates
            .iter()
            .map(|u| parse_record(u))
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort_by_key(|(s, _, _)| *s);
        // The log as the deltas so far left it (written back at the end).
        let mut image: Option<LogImage> = None;
        for (s, removed, mut changed) in parsed {
            if s <= seq {
                continue;
            }
            if s != seq + 1 {
                return Err(RecordError::Gap {
                    previous: seq,
                    got: s,
                });
            }
            let delta = changed.remove(&F_LOG_DELTA);
            for t in removed {
                fields.remove(&t);
                if t == F_UPDATES || t == F_LOG {
                    image = None;
                }
            }
            if changed.contains_key(&F_UPDATES) || changed.contains_key(&F_LOG) {
                image = None;
            }
            fields.extend(changed);
            if let Some(delta) = delta {
                let image = match &mut image {
                    Some(image) => image,
                    None => {
                        let ty = if fields.contains_key(&F_UPDATES) {
                            F_UPDATES
                        } else {
                            F_LOG
                        };
                        let log = fields.get(&ty).ok_or(RecordError::Missing("updates"))?;
                        image.insert(LogImage::parse(ty, log).map_err(|e| e.at("updates"))?)
                    }
                };
                image.apply(&delta).map_err(|e| e.at("log_delta"))?;
            }
            seq = s;
        }
        if let Some(image) = image {
            fields.insert(image.ty, image.to_bytes());
        }
        let st = decode_fields(&fields)?;
        if let Some(k) = st.remote_keys {
            signer.provide_counterparty_keys(k);
        }
        signer.restore_revocation_state(st.numbers.local);
        let since = u32::try_from(seq - snapshot_seq).unwrap_or(u32::MAX);
        // What the store holds: the log (unless of the first format, which
        // the next write replaces whole) and the other fields.
        let _log = fields.remove(&F_UPDATES);
        fields.remove(&F_HOLDER_SIGS);
        let stored_log = if fields.contains_key(&F_LOG) {
            None
        } else {
            let stored = StoredLog::of(&st.log, |ty| fields.contains_key(&ty));
            for ty in stored.onion_fields() {
                fields.remove(&ty);
            }
            Some(stored)
        };
        let persister = Persister {
            stored: fields,
            stored_log,
            stored_sigs: st.holder_sigs.clone(),
            #[cfg(debug_assertions)]
            shadow: _log,
            seq,
            since_snapshot: since,
            every: config.snapshot_every.max(1),
            started: true,
        };
        Ok(Channel {
            signer,
            config,
            st,
            tr: Transient::default(),
            persister,
        })
    }

    /// The state encoded as a snapshot (what a restore must reproduce).
    pub fn encoded_state(&self) -> Vec<u8> {
        encode_snapshot(&self.st, 0)
    }
}
