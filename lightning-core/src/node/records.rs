//! Node-level records: invoices, payments, the channel index and counters.
//! Each is a TLV stream (type 0: format version) under its own key, so that
//! losing or corrupting one never touches a channel record.
//!
//! | key | value |
//! | --- | --- |
//! | `channels/<id>/snapshot`, `channels/<id>/u/<seq>` | the channel record ([`crate::channel::record`]) |
//! | `channel_peers/<id>` | the channel's counterparty node id (33 bytes) |
//! | `invoices/<payment hash>` | [`InvoiceRecord`] |
//! | `payments/<payment hash>` | [`PaymentRecord`] |
//! | `meta/keys_index` | the next channel keys index (u32) |
//! | `meta/entropy_epoch` | the entropy epoch of the last start (u32) |
//! | `meta/send_index` | the last `created_index` given to an HTLC we sent (u64; [`SendIndex`]) |
//! | `acks/channel_closed/<channel id>` | the host took the channel's `ChannelClosed` event (one byte, 1) |
//! | `forwards/<channel id>/<htlc id>` | a forwarded HTLC ([`super::forward_record`]) |
//! | `keysend/<payment hash>` | [`KeysendRecord`]: a spontaneous payment we claimed |
//! | `hold/<payment hash>` | [`HoldRecord`]: a hold invoice (the host holds the preimage) |
//! | `offers/disabled/<offer id>` | one of our BOLT 12 offers no longer answered (one byte, 1) |

use bitcoin::secp256k1::PublicKey;
use lightning_wire::codec::{Decode, DecodeError, Reader};
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::types::{ChannelId, ShortChannelId};

use super::events::{InvoiceStatus, PaymentHash, PaymentPreimage, PaymentStatus};
pub(crate) use super::record_fields::KeysendTarget;
pub(crate) use super::record_fields::PathHop;
use super::record_fields::{
    arr32, custom_records_bytes, custom_records_of, keys_of, path_bytes, path_of, required,
    secrets_of, u32s_bytes, u32s_of, u64_of,
};
use super::sent_parts::{decode_parts, encode_parts, SendIndex, SentPart};

const FORMAT_VERSION: u16 = 1;

pub(crate) fn channel_peer_key(id: &ChannelId) -> String {
    format!("channel_peers/{}", hex::encode(id.0))
}
pub(crate) fn invoice_key(hash: &PaymentHash) -> String {
    format!("invoices/{hash}")
}
pub(crate) fn payment_key(hash: &PaymentHash) -> String {
    format!("payments/{hash}")
}
/// The prefix of [`channel_closed_ack_key`].
pub(crate) const CHANNEL_CLOSED_ACKS: &str = "acks/channel_closed/";
pub(crate) fn channel_closed_ack_key(id: &ChannelId) -> String {
    format!("{CHANNEL_CLOSED_ACKS}{}", hex::encode(id.0))
}
pub(crate) const KEYSEND_PREFIX: &str = "keysend/";
pub(crate) fn keysend_key(hash: &PaymentHash) -> String {
    format!("{KEYSEND_PREFIX}{hash}")
}
pub(crate) const HOLD_PREFIX: &str = "hold/";
pub(crate) fn hold_key(hash: &PaymentHash) -> String {
    format!("{HOLD_PREFIX}{hash}")
}
/// The prefix of [`disabled_offer_key`].
pub(crate) const DISABLED_OFFERS: &str = "offers/disabled/";
pub(crate) fn disabled_offer_key(offer_id: &[u8; 32]) -> String {
    format!("{DISABLED_OFFERS}{}", hex::encode(offer_id))
}
pub(crate) const KEYS_INDEX_KEY: &str = "meta/keys_index";
pub(crate) const ENTROPY_EPOCH_KEY: &str = "meta/entropy_epoch";
/// The last `created_index` given to an HTLC we sent ([`SendIndex`]; u64).
pub(crate) const SEND_INDEX_KEY: &str = "meta/send_index";

fn u32_value(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

pub(crate) fn encode_u32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub(crate) fn decode_u32(bytes: &[u8]) -> Option<u32> {
    u32_value(bytes)
}

/// An optional one-byte flag: absent or `[0]` is false, `[1]` true.
fn flag(bytes: Option<&[u8]>, what: &'static str) -> Result<bool, DecodeError> {
    match bytes {
        None | Some([0]) => Ok(false),
        Some([1]) => Ok(true),
        Some(_) => Err(DecodeError::invalid(format!("{what}: not a flag"))),
    }
}

/// An HTLC named by (channel, HTLC id): 40 bytes.
fn htlc_ref((channel, htlc): &(ChannelId, u64)) -> Vec<u8> {
    [&channel.0[..], &htlc.to_be_bytes()[..]].concat()
}

/// A run of 40-byte [`htlc_ref`]s.
fn htlc_refs(bytes: &[u8], what: &'static str) -> Result<Vec<(ChannelId, u64)>, DecodeError> {
    if !bytes.len().is_multiple_of(40) {
        return Err(DecodeError::invalid(format!("{what}: not 40-byte entries")));
    }
    bytes
        .chunks(40)
        .map(|c| Ok((ChannelId(arr32(&c[..32], what)?), u64_of(&c[32..], what)?)))
        .collect()
}

fn open(bytes: &[u8]) -> Result<TlvStreamReader<'_>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut r = TlvStreamReader::parse(&mut reader)?;
    let version = required(&mut r, 0, "format version")?;
    if version != FORMAT_VERSION.to_be_bytes() {
        return Err(DecodeError::invalid("unknown record format version"));
    }
    Ok(r)
}

/// An invoice we issued, with its preimage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvoiceRecord {
    pub bolt11: String,
    pub preimage: PaymentPreimage,
    pub status: InvoiceStatus,
    pub amount_received_msat: u64,
    /// The HTLCs (channel, HTLC id) whose fulfilment made the invoice
    /// paid: every part of its HTLC set (BOLT 4 "Basic Multi-Part
    /// Payments"), the only HTLCs re-fulfilled without the checks. The
    /// first is type 11 (odd: absent in records written before it), the
    /// others type 15 (odd, 40 bytes each). Empty in records of versions
    /// that did not record the paying HTLC.
    pub paid_by: Vec<(ChannelId, u64)>,
    /// The host took the `PaymentReceived` event of this (paid) invoice
    /// (type 13, odd). Absent in records written before it: a paid
    /// invoice of such a record is reported again once (at least once).
    pub event_handled: bool,
    /// The id of our BOLT 12 offer the invoice answers a request for
    /// (type 17, odd: absent in records written before it and for BOLT 11
    /// invoices).
    pub offer_id: Option<[u8; 32]>,
}

impl InvoiceRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, self.bolt11.as_bytes());
        w.put_raw(4, &self.preimage.0);
        w.put_raw(6, &[u8::from(self.status == InvoiceStatus::Paid)]);
        w.put_raw(8, &self.amount_received_msat.to_be_bytes());
        if let Some((first, rest)) = self.paid_by.split_first() {
            w.put_raw(11, &htlc_ref(first));
            if self.event_handled {
                w.put_raw(13, &[1]);
            }
            if !rest.is_empty() {
                w.put_raw(15, &rest.iter().flat_map(htlc_ref).collect::<Vec<u8>>());
            }
        } else if self.event_handled {
            w.put_raw(13, &[1]);
        }
        if let Some(id) = &self.offer_id {
            w.put_raw(17, id);
        }
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open(bytes)?;
        let bolt11 = String::from_utf8(required(&mut r, 2, "bolt11")?.to_vec())
            .map_err(|_| DecodeError::invalid("bolt11: not UTF-8"))?;
        let preimage = PaymentPreimage(arr32(required(&mut r, 4, "preimage")?, "preimage")?);
        let status = match required(&mut r, 6, "status")? {
            [0] => InvoiceStatus::Open,
            [1] => InvoiceStatus::Paid,
            _ => return Err(DecodeError::invalid("invoice status")),
        };
        let amount_received_msat = u64_of(required(&mut r, 8, "amount")?, "amount")?;
        let mut paid_by = match r.take_raw(11) {
            None => Vec::new(),
            Some(b) if b.len() == 40 => htlc_refs(b, "paid_by")?,
            Some(_) => return Err(DecodeError::invalid("paid_by: not 40 bytes")),
        };
        let event_handled = flag(r.take_raw(13), "event_handled")?;
        if let Some(b) = r.take_raw(15) {
            paid_by.extend(htlc_refs(b, "paid_by")?);
        }
        let offer_id = r.take_raw(17).map(|b| arr32(b, "offer_id")).transpose()?;
        r.finish()?;
        Ok(InvoiceRecord {
            bolt11,
            preimage,
            status,
            amount_received_msat,
            paid_by,
            event_handled,
            offer_id,
        })
    }
}

/// A payment we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentRecord {
    pub payment_hash: PaymentHash,
    pub payee: PublicKey,
    pub amount_msat: u64,
    pub status: PaymentStatus,
    pub preimage: Option<PaymentPreimage>,
    pub failure: Option<String>,
    pub created_at: u64,
    /// The onion's shared secrets, to decode a returned error.
    pub shared_secrets: Vec<[u8; 32]>,
    /// The channel and HTLC carrying it.
    pub channel_id: ChannelId,
    pub htlc_id: u64,
    /// The host took this attempt's `PaymentSent` or `PaymentFailed`
    /// event (type 21, odd; absent in older records: a finished payment
    /// of such a record is reported again once).
    pub event_handled: bool,
    /// What `PaymentFailed` reported beyond `failure`, to report it again
    /// after a restart: the `failure_code` (type 23), the failing hop
    /// (type 25) and the decoded `failuremsg`, re-encoded (type 27). All
    /// odd: absent in older records.
    pub failure_code: Option<u16>,
    pub failing_hop: Option<u64>,
    pub failure_message: Option<Vec<u8>>,
    /// Routing fees paid (type 29, odd; 0 in older records and for a
    /// direct peer).
    pub fee_msat: u64,
    /// The route's node ids, first hop first (type 31, odd; empty in
    /// older records), to name the hop a failure came from.
    pub route: Vec<PublicKey>,
    /// A payment the node routes and retries itself ([`RetryState`],
    /// types 33 to 49, all odd: absent in older records and for payments
    /// over a caller's route, which are never retried).
    pub retry: Option<RetryState>,
    /// A multi-part payment's HTLCs, every attempt's (type 47, odd;
    /// [`super::sent_parts`]). Empty for a payment made one HTLC at a
    /// time, whose current attempt is the fields above; once it has
    /// parts, `channel_id` .. `route` above name no live HTLC (they keep
    /// the first attempt's, for the record's required fields).
    pub parts: Vec<SentPart>,
    /// The hold times (100 ms units, first hop first) the attribution data
    /// of the fulfil that proved the payment reported, verified (type 53,
    /// odd; BOLT 4 "Hold times for successful payments"). Empty without
    /// verified attribution data, and in older records.
    pub hold_times: Vec<u32>,
    /// What the last failure's attribution data showed, to report it
    /// again after a restart (odd, absent in older records): the verified
    /// hold times (type 55) and the hop where it broke (type 57;
    /// [`PaymentFailure::attribution_failed_at`](super::PaymentFailure::attribution_failed_at)).
    pub failure_hold_times: Vec<u32>,
    pub attribution_failed_at: Option<u64>,
    /// The current attempt's place in the list of HTLCs we sent (type 63,
    /// odd, 16 bytes: `created_index`, `partid`; [`SendIndex`]), for a
    /// payment made one HTLC at a time; `None` once it has parts (each
    /// part keeps its own), and in records written before it until they
    /// are restored (then numbered).
    pub send_index: Option<SendIndex>,
    /// The payment's earlier HTLCs, failed (type 65, odd, encoded as
    /// type 47's; [`super::sent_parts`]): the attempts before the current
    /// one of a payment made one HTLC at a time, and the HTLCs of an
    /// earlier failed payment of the same hash, oldest first, the newest
    /// [`super::sent_parts::kept_earlier`] only. Empty in older records.
    pub earlier: Vec<SentPart>,
}

/// What retrying a payment needs across restarts: the invoice to route
/// again, the attempts made, what this payment excludes, whether an
/// attempt is due, and the current attempt's path (for the scorer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RetryState {
    /// The invoice (BOLT 11 string; type 33).
    pub bolt11: String,
    /// Attempts made, the current one included (type 35).
    pub attempts: u32,
    /// Channels excluded for this payment (type 37).
    pub excluded_channels: Vec<ShortChannelId>,
    /// Nodes excluded for this payment (type 39).
    pub excluded_nodes: Vec<PublicKey>,
    /// The current attempt failed (its HTLC irrevocably removed, or never
    /// committed) and the next one is not sent yet (type 41).
    pub awaiting: bool,
    /// The current attempt's path (type 43; empty for a direct payment).
    pub path: Vec<PathHop>,
    /// The caller's cap on routing fees for this payment (type 45; `None`:
    /// the node's budget, `NodeConfig::payment_max_fee_ppm`).
    pub max_fee_msat: Option<u64>,
    /// No part is sent any more: the payment fails once its parts still
    /// in flight are resolved, unless one of them brings the preimage
    /// (type 49; multi-part payments only).
    pub abandoned: bool,
    /// The amount the payer chose for an invoice without one (type 51).
    pub amount_msat: Option<u64>,
    /// A keysend's payee, preimage, secret for its parts, records and
    /// hints (type 59, odd, a TLV stream of its own;
    /// [`KeysendTarget::encode`]). `bolt11` is then empty (type 33 is
    /// still written, so a reader of the previous version decodes the
    /// record; its retry finds no invoice and gives the payment up).
    pub keysend: Option<KeysendTarget>,
    /// A blinded payment's paths (type 61, odd;
    /// [`BlindedTarget`](super::blinded_target::BlindedTarget)): `bolt11`
    /// is then empty, as for a keysend.
    pub blinded: Option<super::blinded_target::BlindedTarget>,
}

impl RetryState {
    fn write(&self, w: &mut TlvStreamWriter) {
        w.put_raw(33, self.bolt11.as_bytes());
        w.put_raw(35, &self.attempts.to_be_bytes());
        if !self.excluded_channels.is_empty() {
            let v: Vec<[u8; 8]> = self
                .excluded_channels
                .iter()
                .map(|s| s.0.to_be_bytes())
                .collect();
            w.put_raw(37, &v.concat());
        }
        if !self.excluded_nodes.is_empty() {
            let v: Vec<[u8; 33]> = self
                .excluded_nodes
                .iter()
                .map(PublicKey::serialize)
                .collect();
            w.put_raw(39, &v.concat());
        }
        if self.awaiting {
            w.put_raw(41, &[1]);
        }
        if !self.path.is_empty() {
            w.put_raw(43, &path_bytes(&self.path));
        }
        if let Some(m) = self.max_fee_msat {
            w.put_raw(45, &m.to_be_bytes());
        }
        if self.abandoned {
            w.put_raw(49, &[1]);
        }
        if let Some(a) = self.amount_msat {
            w.put_raw(51, &a.to_be_bytes());
        }
        if let Some(k) = &self.keysend {
            w.put_raw(59, &k.encode());
        }
        if let Some(b) = &self.blinded {
            w.put_raw(61, &b.encode());
        }
    }

    fn read(r: &mut TlvStreamReader<'_>) -> Result<Option<Self>, DecodeError> {
        let bolt11 = r.take_raw(33);
        let attempts = r.take_raw(35);
        let channels = r.take_raw(37);
        let nodes = r.take_raw(39);
        let awaiting = flag(r.take_raw(41), "awaiting")?;
        let path = r.take_raw(43);
        let max_fee = r.take_raw(45);
        let abandoned = flag(r.take_raw(49), "abandoned")?;
        let amount = r.take_raw(51);
        let keysend = r.take_raw(59);
        let blinded = r.take_raw(61);
        let (Some(bolt11), Some(attempts)) = (bolt11, attempts) else {
            if channels.is_some()
                || keysend.is_some()
                || blinded.is_some()
                || nodes.is_some()
                || awaiting
                || abandoned
                || amount.is_some()
                || path.is_some()
                || max_fee.is_some()
            {
                return Err(DecodeError::invalid("retry state without its invoice"));
            }
            return Ok(None);
        };
        let bolt11 = String::from_utf8(bolt11.to_vec())
            .map_err(|_| DecodeError::invalid("retry invoice: not UTF-8"))?;
        let attempts =
            u32_value(attempts).ok_or_else(|| DecodeError::invalid("attempts: not 4 bytes"))?;
        let excluded_channels = match channels {
            None => Vec::new(),
            Some(b) if b.len() % 8 == 0 => b
                .chunks(8)
                .map(|c| u64_of(c, "excluded channel").map(ShortChannelId))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(DecodeError::invalid("excluded channels")),
        };
        let excluded_nodes = match nodes {
            None => Vec::new(),
            Some(b) if b.len() % 33 == 0 => b
                .chunks(33)
                .map(<PublicKey as Decode>::from_bytes)
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(DecodeError::invalid("excluded nodes")),
        };
        let path = path.map(path_of).transpose()?.unwrap_or_default();
        let max_fee_msat = max_fee.map(|b| u64_of(b, "max fee")).transpose()?;
        Ok(Some(RetryState {
            bolt11,
            attempts,
            excluded_channels,
            excluded_nodes,
            awaiting,
            path,
            max_fee_msat,
            abandoned,
            amount_msat: amount.map(|b| u64_of(b, "chosen amount")).transpose()?,
            keysend: keysend.map(KeysendTarget::decode).transpose()?,
            blinded: blinded
                .map(super::blinded_target::BlindedTarget::decode)
                .transpose()?,
        }))
    }
}

impl PaymentRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, &self.payment_hash.0);
        w.put_raw(4, &self.payee.serialize());
        w.put_raw(6, &self.amount_msat.to_be_bytes());
        let status = match self.status {
            PaymentStatus::Pending => 0u8,
            PaymentStatus::Succeeded => 1,
            PaymentStatus::Failed => 2,
        };
        w.put_raw(8, &[status]);
        if let Some(p) = &self.preimage {
            w.put_raw(10, &p.0);
        }
        if let Some(f) = &self.failure {
            w.put_raw(12, f.as_bytes());
        }
        w.put_raw(14, &self.created_at.to_be_bytes());
        w.put_raw(16, &self.shared_secrets.concat());
        w.put_raw(18, &self.channel_id.0);
        w.put_raw(20, &self.htlc_id.to_be_bytes());
        if self.event_handled {
            w.put_raw(21, &[1]);
        }
        if let Some(code) = self.failure_code {
            w.put_raw(23, &code.to_be_bytes());
        }
        if let Some(hop) = self.failing_hop {
            w.put_raw(25, &hop.to_be_bytes());
        }
        if let Some(m) = &self.failure_message {
            w.put_raw(27, m);
        }
        if self.fee_msat != 0 {
            w.put_raw(29, &self.fee_msat.to_be_bytes());
        }
        if !self.route.is_empty() {
            let keys: Vec<[u8; 33]> = self.route.iter().map(PublicKey::serialize).collect();
            w.put_raw(31, &keys.concat());
        }
        if let Some(retry) = &self.retry {
            retry.write(&mut w);
        }
        if !self.parts.is_empty() {
            w.put_raw(47, &encode_parts(&self.parts));
        }
        if !self.hold_times.is_empty() {
            w.put_raw(53, &u32s_bytes(&self.hold_times));
        }
        if !self.failure_hold_times.is_empty() {
            w.put_raw(55, &u32s_bytes(&self.failure_hold_times));
        }
        if let Some(i) = self.attribution_failed_at {
            w.put_raw(57, &i.to_be_bytes());
        }
        if let Some(i) = self.send_index {
            w.put_raw(63, &i.to_bytes());
        }
        if !self.earlier.is_empty() {
            w.put_raw(65, &encode_parts(&self.earlier));
        }
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open(bytes)?;
        let payment_hash =
            PaymentHash(arr32(required(&mut r, 2, "payment_hash")?, "payment_hash")?);
        let payee = <PublicKey as Decode>::from_bytes(required(&mut r, 4, "payee")?)?;
        let amount_msat = u64_of(required(&mut r, 6, "amount")?, "amount")?;
        let status = match required(&mut r, 8, "status")? {
            [0] => PaymentStatus::Pending,
            [1] => PaymentStatus::Succeeded,
            [2] => PaymentStatus::Failed,
            _ => return Err(DecodeError::invalid("payment status")),
        };
        let preimage = r
            .take_raw(10)
            .map(|b| arr32(b, "preimage").map(PaymentPreimage))
            .transpose()?;
        let failure = r
            .take_raw(12)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let created_at = u64_of(required(&mut r, 14, "created_at")?, "created_at")?;
        let shared_secrets = secrets_of(required(&mut r, 16, "shared_secrets")?)?;
        let channel_id = ChannelId(arr32(required(&mut r, 18, "channel_id")?, "channel_id")?);
        let htlc_id = u64_of(required(&mut r, 20, "htlc_id")?, "htlc_id")?;
        let event_handled = flag(r.take_raw(21), "event_handled")?;
        let failure_code = r
            .take_raw(23)
            .map(|b| {
                <[u8; 2]>::try_from(b)
                    .map(u16::from_be_bytes)
                    .map_err(|_| DecodeError::invalid("failure_code: not 2 bytes"))
            })
            .transpose()?;
        let failing_hop = r
            .take_raw(25)
            .map(|b| u64_of(b, "failing_hop"))
            .transpose()?;
        let failure_message = r.take_raw(27).map(<[u8]>::to_vec);
        let fee_msat = r
            .take_raw(29)
            .map(|b| u64_of(b, "fee_msat"))
            .transpose()?
            .unwrap_or(0);
        let route = r
            .take_raw(31)
            .map(|b| keys_of(b, "route"))
            .transpose()?
            .unwrap_or_default();
        let retry = RetryState::read(&mut r)?;
        let parts = r.take_raw(47).map(decode_parts).transpose()?;
        let hold_times = r
            .take_raw(53)
            .map(|b| u32s_of(b, "hold_times"))
            .transpose()?
            .unwrap_or_default();
        let failure_hold_times = r
            .take_raw(55)
            .map(|b| u32s_of(b, "failure hold_times"))
            .transpose()?
            .unwrap_or_default();
        let attribution_failed_at = r
            .take_raw(57)
            .map(|b| u64_of(b, "attribution_failed_at"))
            .transpose()?;
        let send_index = r
            .take_raw(63)
            .map(|b| SendIndex::from_bytes(b, "send_index"))
            .transpose()?;
        let earlier = r.take_raw(65).map(decode_parts).transpose()?;
        r.finish()?;
        Ok(PaymentRecord {
            payment_hash,
            payee,
            amount_msat,
            status,
            preimage,
            failure,
            created_at,
            shared_secrets,
            channel_id,
            htlc_id,
            event_handled,
            failure_code,
            failing_hop,
            failure_message,
            fee_msat,
            route,
            retry,
            parts: parts.unwrap_or_default(),
            hold_times,
            failure_hold_times,
            attribution_failed_at,
            send_index,
            earlier: earlier.unwrap_or_default(),
        })
    }
}

/// A spontaneous (keysend) payment we claimed: its preimage came in the
/// onion. Written before the claim can leave, like a paid invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeysendRecord {
    pub payment_hash: PaymentHash,
    pub preimage: PaymentPreimage,
    /// What we received: the sum of the paying HTLCs' amounts.
    pub amount_msat: u64,
    /// The HTLCs that paid it (re-fulfilled without checks when answered
    /// again after a restart): the first in type 8, the other parts of a
    /// multi-part keysend in odd type 15 (40 bytes each; absent in older
    /// records, which had one part).
    pub paid_by: Vec<(ChannelId, u64)>,
    /// The onion's custom records, type and value.
    pub custom_records: Vec<(u64, Vec<u8>)>,
    /// The host took the event (odd type 13).
    pub event_handled: bool,
}

impl KeysendRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, &self.payment_hash.0);
        w.put_raw(4, &self.preimage.0);
        w.put_raw(6, &self.amount_msat.to_be_bytes());
        if let Some((first, rest)) = self.paid_by.split_first() {
            w.put_raw(8, &htlc_ref(first));
            if !rest.is_empty() {
                w.put_raw(15, &rest.iter().flat_map(htlc_ref).collect::<Vec<u8>>());
            }
        }
        w.put_raw(10, &custom_records_bytes(&self.custom_records));
        if self.event_handled {
            w.put_raw(13, &[1]);
        }
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open(bytes)?;
        let payment_hash =
            PaymentHash(arr32(required(&mut r, 2, "payment_hash")?, "payment_hash")?);
        let preimage = PaymentPreimage(arr32(required(&mut r, 4, "preimage")?, "preimage")?);
        let amount_msat = u64_of(required(&mut r, 6, "amount")?, "amount")?;
        let paid = required(&mut r, 8, "paid_by")?;
        if paid.len() != 40 {
            return Err(DecodeError::invalid("paid_by: not 40 bytes"));
        }
        let mut paid_by = htlc_refs(paid, "paid_by")?;
        let custom_records = custom_records_of(required(&mut r, 10, "custom records")?)?;
        let event_handled = flag(r.take_raw(13), "event_handled")?;
        if let Some(b) = r.take_raw(15) {
            paid_by.extend(htlc_refs(b, "paid_by parts")?);
        }
        r.finish()?;
        Ok(KeysendRecord {
            payment_hash,
            preimage,
            amount_msat,
            paid_by,
            custom_records,
            event_handled,
        })
    }
}

/// Where a hold invoice stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HoldState {
    /// Waiting for an HTLC.
    Open,
    /// An HTLC pays it and is held for the host's decision.
    Accepted,
    /// The host claimed it with this preimage.
    Claimed(PaymentPreimage),
    /// The host failed it, or its deadline passed.
    Failed,
}

/// An HTLC a hold invoice holds (one part of its HTLC set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldHtlc {
    pub channel_id: ChannelId,
    pub htlc_id: u64,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
    /// The onion's shared secret, to fail it.
    pub shared_secret: [u8; 32],
}

impl HeldHtlc {
    const LEN: usize = 84;

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.extend_from_slice(&self.channel_id.0);
        v.extend_from_slice(&self.htlc_id.to_be_bytes());
        v.extend_from_slice(&self.amount_msat.to_be_bytes());
        v.extend_from_slice(&self.cltv_expiry.to_be_bytes());
        v.extend_from_slice(&self.shared_secret);
        v
    }

    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() != Self::LEN {
            return Err(DecodeError::invalid("held: not 84 bytes"));
        }
        Ok(HeldHtlc {
            channel_id: ChannelId(arr32(&b[..32], "held")?),
            htlc_id: u64_of(&b[32..40], "held")?,
            amount_msat: u64_of(&b[40..48], "held")?,
            cltv_expiry: u32_value(&b[48..52]).ok_or_else(|| DecodeError::invalid("held cltv"))?,
            shared_secret: arr32(&b[52..], "held")?,
        })
    }
}

/// A hold invoice: issued for a hash the host chose; the host claims or
/// fails the HTLC that pays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HoldRecord {
    pub bolt11: String,
    pub state: HoldState,
    /// The HTLC set held (BOLT 4 "Basic Multi-Part Payments"): empty
    /// while the invoice is open. The first part is type 8, the others
    /// type 15 (odd, 84 bytes each; absent in records of one part).
    pub held: Vec<HeldHtlc>,
    /// The host took the `PaymentReceived` of a claimed one (odd 13).
    pub event_handled: bool,
}

impl HoldRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, self.bolt11.as_bytes());
        match &self.state {
            HoldState::Open => w.put_raw(4, &[0]),
            HoldState::Accepted => w.put_raw(4, &[1]),
            HoldState::Claimed(p) => {
                w.put_raw(4, &[2]);
                w.put_raw(6, &p.0);
            }
            HoldState::Failed => w.put_raw(4, &[3]),
        }
        if let Some(first) = self.held.first() {
            w.put_raw(8, &first.encode());
        }
        if self.event_handled {
            w.put_raw(13, &[1]);
        }
        if self.held.len() > 1 {
            let rest: Vec<u8> = self.held[1..].iter().flat_map(HeldHtlc::encode).collect();
            w.put_raw(15, &rest);
        }
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open(bytes)?;
        let bolt11 = String::from_utf8(required(&mut r, 2, "bolt11")?.to_vec())
            .map_err(|_| DecodeError::invalid("bolt11: not UTF-8"))?;
        let preimage = r.take_raw(6).map(|b| arr32(b, "preimage")).transpose()?;
        let state = match (required(&mut r, 4, "state")?, preimage) {
            ([0], _) => HoldState::Open,
            ([1], _) => HoldState::Accepted,
            ([2], Some(p)) => HoldState::Claimed(PaymentPreimage(p)),
            ([3], _) => HoldState::Failed,
            _ => return Err(DecodeError::invalid("hold state")),
        };
        let mut held = match r.take_raw(8) {
            None => Vec::new(),
            Some(b) if b.len() == HeldHtlc::LEN => vec![HeldHtlc::decode(b)?],
            Some(_) => return Err(DecodeError::invalid("held: not 84 bytes")),
        };
        let event_handled = flag(r.take_raw(13), "event_handled")?;
        if let Some(b) = r.take_raw(15) {
            if held.is_empty() || !b.len().is_multiple_of(HeldHtlc::LEN) {
                return Err(DecodeError::invalid("held parts"));
            }
            for c in b.chunks(HeldHtlc::LEN) {
                held.push(HeldHtlc::decode(c)?);
            }
        }
        r.finish()?;
        Ok(HoldRecord {
            bolt11,
            state,
            held,
            event_handled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let inv = InvoiceRecord {
            bolt11: "lnbcrt1".into(),
            preimage: PaymentPreimage([3; 32]),
            status: InvoiceStatus::Paid,
            amount_received_msat: 42,
            paid_by: vec![(ChannelId([5; 32]), 6)],
            event_handled: true,
            offer_id: None,
        };
        assert_eq!(InvoiceRecord::decode(&inv.encode()).unwrap(), inv);
        // An invoice for one of our offers.
        let offered = InvoiceRecord {
            offer_id: Some([8; 32]),
            ..inv.clone()
        };
        assert_eq!(InvoiceRecord::decode(&offered.encode()).unwrap(), offered);
        assert_ne!(InvoiceRecord::decode(&offered.encode()).unwrap(), inv);
        // Paid by an HTLC set of three parts.
        let mpp = InvoiceRecord {
            paid_by: vec![
                (ChannelId([5; 32]), 6),
                (ChannelId([7; 32]), 0),
                (ChannelId([5; 32]), 9),
            ],
            ..inv.clone()
        };
        assert_eq!(InvoiceRecord::decode(&mpp.encode()).unwrap(), mpp);
        assert_ne!(InvoiceRecord::decode(&mpp.encode()).unwrap(), inv);
        // A record of the previous format (no type 11) still reads.
        let old = InvoiceRecord {
            paid_by: Vec::new(),
            event_handled: false,
            ..inv.clone()
        };
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, old.bolt11.as_bytes());
        w.put_raw(4, &old.preimage.0);
        w.put_raw(6, &[1]);
        w.put_raw(8, &old.amount_received_msat.to_be_bytes());
        assert_eq!(InvoiceRecord::decode(&w.into_bytes()).unwrap(), old);
        let key = bitcoin::secp256k1::SecretKey::from_slice(&[1; 32]).unwrap();
        let pay = PaymentRecord {
            payment_hash: PaymentHash([1; 32]),
            payee: PublicKey::from_secret_key(bitcoin::secp256k1::SECP256K1, &key),
            amount_msat: 1000,
            status: PaymentStatus::Failed,
            preimage: None,
            failure: Some("no".into()),
            created_at: 7,
            shared_secrets: vec![[9; 32]],
            channel_id: ChannelId([4; 32]),
            htlc_id: 5,
            event_handled: true,
            failure_code: Some(0x400f),
            failing_hop: Some(0),
            failure_message: Some(vec![0x40, 0x0f]),
            fee_msat: 1001,
            route: vec![PublicKey::from_secret_key(
                bitcoin::secp256k1::SECP256K1,
                &key,
            )],
            retry: None,
            parts: Vec::new(),
            hold_times: Vec::new(),
            failure_hold_times: Vec::new(),
            attribution_failed_at: None,
            send_index: None,
            earlier: Vec::new(),
        };
        assert_eq!(PaymentRecord::decode(&pay.encode()).unwrap(), pay);
        // With the attribution data's findings (types 53 to 57).
        let attributed = PaymentRecord {
            hold_times: vec![3, 0, 12],
            failure_hold_times: vec![1, u32::MAX],
            attribution_failed_at: Some(2),
            ..pay.clone()
        };
        let bytes = attributed.encode();
        assert_eq!(PaymentRecord::decode(&bytes).unwrap(), attributed);
        assert_eq!(
            pay.encode().len() + 3 * 4 + 2 * 4 + 8 + 3 * 2,
            bytes.len(),
            "absent when empty: the previous format"
        );
        // With its HTLC's index (type 63): 18 bytes more, absent before.
        let indexed = PaymentRecord {
            send_index: Some(SendIndex {
                created_index: 12,
                partid: 3,
            }),
            ..pay.clone()
        };
        let bytes = indexed.encode();
        assert_eq!(PaymentRecord::decode(&bytes).unwrap(), indexed);
        assert_eq!(pay.encode().len() + 18, bytes.len());
        // With the retry state of a routed payment (types 33 to 43).
        let routed = PaymentRecord {
            retry: Some(RetryState {
                bolt11: "lnbcrt1x".into(),
                attempts: 3,
                excluded_channels: vec![ShortChannelId(7), ShortChannelId(1 << 40)],
                excluded_nodes: vec![pay.payee],
                awaiting: true,
                max_fee_msat: Some(12_345),
                abandoned: true,
                amount_msat: Some(77_000),
                keysend: None,
                blinded: None,
                path: vec![
                    PathHop {
                        scid: ShortChannelId(9),
                        direction: 1,
                        amount_msat: 1_001,
                        capacity_msat: 0,
                    },
                    PathHop {
                        scid: ShortChannelId(10),
                        direction: 0,
                        amount_msat: 1_000,
                        capacity_msat: 5_000_000,
                    },
                ],
            }),
            ..pay.clone()
        };
        let bytes = routed.encode();
        assert_eq!(PaymentRecord::decode(&bytes).unwrap(), routed);
        // A keysend the node routes itself (type 59): no invoice, its
        // target kept for the retries, hints included.
        let hint_hop = lightning_wire::bolt11::RouteHintHop {
            src_node_id: lightning_wire::bolt11::NodeId::from_pubkey(&pay.payee),
            short_channel_id: ShortChannelId(0xF0_0000 << 40),
            fee_base_msat: 1_000,
            fee_proportional_millionths: 7,
            cltv_expiry_delta: 144,
        };
        let target = KeysendTarget {
            payee: pay.payee,
            preimage: [3; 32],
            payment_secret: [4; 32],
            final_cltv_expiry_delta: 48,
            custom_records: vec![(65_537, b"hi".to_vec())],
            route_hints: vec![
                lightning_wire::bolt11::RouteHint(vec![hint_hop, hint_hop]),
                lightning_wire::bolt11::RouteHint(vec![hint_hop]),
            ],
        };
        let mut keysend = routed.clone();
        if let Some(r) = keysend.retry.as_mut() {
            r.bolt11 = String::new();
            r.keysend = Some(target.clone());
        }
        let bytes = keysend.encode();
        assert_eq!(PaymentRecord::decode(&bytes).unwrap(), keysend);
        assert_eq!(KeysendTarget::decode(&target.encode()).unwrap(), target);
        let no_hints = KeysendTarget {
            route_hints: Vec::new(),
            custom_records: Vec::new(),
            ..target.clone()
        };
        assert_eq!(KeysendTarget::decode(&no_hints.encode()).unwrap(), no_hints);
        let t = target.encode();
        for cut in [1, 40, t.len() - 1] {
            assert!(KeysendTarget::decode(&t[..cut]).is_err(), "cut at {cut}");
        }
        // Type 33 is there, empty: a reader of the previous version still
        // finds a retry state (and no invoice in it).
        assert!(bytes.windows(2).any(|w| w == [33, 0]));
        // The record without it is the previous format, byte for byte.
        let plain = PaymentRecord {
            retry: None,
            ..routed.clone()
        };
        assert!(plain.encode().len() < bytes.len());
        assert_eq!(PaymentRecord::decode(&plain.encode()).unwrap(), plain);
        // A record of the previous format (no types 21 to 27) still reads,
        // as not handled: its event is raised again (at least once).
        let old = PaymentRecord {
            event_handled: false,
            failure_code: None,
            failing_hop: None,
            failure_message: None,
            fee_msat: 0,
            route: Vec::new(),
            ..pay.clone()
        };
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, &old.payment_hash.0);
        w.put_raw(4, &old.payee.serialize());
        w.put_raw(6, &old.amount_msat.to_be_bytes());
        w.put_raw(8, &[2]);
        w.put_raw(12, b"no");
        w.put_raw(14, &old.created_at.to_be_bytes());
        w.put_raw(16, &[9; 32]);
        w.put_raw(18, &old.channel_id.0);
        w.put_raw(20, &old.htlc_id.to_be_bytes());
        assert_eq!(PaymentRecord::decode(&w.into_bytes()).unwrap(), old);
        let ks = KeysendRecord {
            payment_hash: PaymentHash([1; 32]),
            preimage: PaymentPreimage([2; 32]),
            amount_msat: 3,
            paid_by: vec![(ChannelId([4; 32]), 5)],
            custom_records: vec![(65_537, vec![6, 7]), (65_539, vec![])],
            event_handled: true,
        };
        let bytes = ks.encode();
        assert_eq!(KeysendRecord::decode(&bytes).unwrap(), ks);
        assert!(KeysendRecord::decode(&bytes[..bytes.len() - 5]).is_err());
        // A single-part keysend is written as before: no type 15.
        assert!(!bytes.windows(2).any(|w| w == [15, 80]));
        // A multi-part keysend names its other parts in odd type 15; a
        // reader that knows nothing of it still reads the first.
        let mut parts = ks.clone();
        parts.paid_by.push((ChannelId([6; 32]), 7));
        parts.paid_by.push((ChannelId([8; 32]), 9));
        let bytes = parts.encode();
        assert_eq!(KeysendRecord::decode(&bytes).unwrap(), parts);
        let mut bad = bytes.clone();
        let at = bad.windows(2).position(|w| w == [15, 80]).unwrap();
        bad[at + 1] = 79;
        bad.pop();
        assert!(KeysendRecord::decode(&bad).is_err(), "not 40-byte entries");
        // A record of the previous version (types 0 to 13) reads as one
        // part.
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, &[1; 32]);
        w.put_raw(4, &[2; 32]);
        w.put_raw(6, &3u64.to_be_bytes());
        w.put_raw(8, &[&[4u8; 32][..], &5u64.to_be_bytes()[..]].concat());
        w.put_raw(10, &[]);
        let old = KeysendRecord::decode(&w.into_bytes()).unwrap();
        assert_eq!(old.paid_by, vec![(ChannelId([4; 32]), 5)]);
        assert!(old.custom_records.is_empty() && !old.event_handled);
        for state in [
            HoldState::Open,
            HoldState::Accepted,
            HoldState::Claimed(PaymentPreimage([8; 32])),
            HoldState::Failed,
        ] {
            let part = HeldHtlc {
                channel_id: ChannelId([1; 32]),
                htlc_id: 2,
                amount_msat: 3,
                cltv_expiry: 4,
                shared_secret: [5; 32],
            };
            let h = HoldRecord {
                bolt11: "lnbcrt1".into(),
                state,
                held: vec![part.clone()],
                event_handled: true,
            };
            assert_eq!(HoldRecord::decode(&h.encode()).unwrap(), h);
            // A set of three parts.
            let mut h3 = h.clone();
            for i in 0..2u8 {
                h3.held.push(HeldHtlc {
                    channel_id: ChannelId([i + 8; 32]),
                    htlc_id: u64::from(i),
                    ..part.clone()
                });
            }
            assert_eq!(HoldRecord::decode(&h3.encode()).unwrap(), h3);
        }
    }
}
