//! Hop payloads (BOLT 4, "`payload` format") and the checks a forwarding or
//! final node applies to them.

use lightning_wire::bigsize::BigSize;
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter, UnknownTlvs};
use lightning_wire::types::{ShortChannelId, Tu32, Tu64};
use lightning_wire::{Decode, DecodeErrorKind, Encode, Reader};
use secp256k1::PublicKey;

/// TLV type of `amt_to_forward`.
pub const AMT_TO_FORWARD: u64 = 2;
/// TLV type of `outgoing_cltv_value`.
pub const OUTGOING_CLTV_VALUE: u64 = 4;
/// TLV type of `short_channel_id`.
pub const SHORT_CHANNEL_ID: u64 = 6;
/// TLV type of `payment_data`.
pub const PAYMENT_DATA: u64 = 8;
/// TLV type of `encrypted_recipient_data`.
pub const ENCRYPTED_RECIPIENT_DATA: u64 = 10;
/// TLV type of `current_path_key`.
pub const CURRENT_PATH_KEY: u64 = 12;
/// TLV type of `payment_metadata`.
pub const PAYMENT_METADATA: u64 = 16;
/// TLV type of `total_amount_msat`.
pub const TOTAL_AMOUNT_MSAT: u64 = 18;
/// 5482373484 keysend preimage (bLIP 3), kept among
/// [`HopPayload::unknown`].
pub const KEYSEND_PREIMAGE: u64 = 5_482_373_484;

/// `payment_data`: the invoice's `payment_secret` and the total of a
/// multi-part payment.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaymentData {
    /// `payment_secret`.
    pub payment_secret: [u8; 32],
    /// `total_msat` (a `tu64`).
    pub total_msat: u64,
}

impl core::fmt::Debug for PaymentData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PaymentData")
            .field("payment_secret", &crate::keys::Redacted)
            .field("total_msat", &self.total_msat)
            .finish()
    }
}

/// A decoded hop payload: every field BOLT 4 defines, and unknown odd
/// records kept so the payload re-encodes byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HopPayload {
    /// 2 `amt_to_forward`.
    pub amt_to_forward: Option<u64>,
    /// 4 `outgoing_cltv_value`.
    pub outgoing_cltv_value: Option<u32>,
    /// 6 `short_channel_id`.
    pub short_channel_id: Option<ShortChannelId>,
    /// 8 `payment_data`.
    pub payment_data: Option<PaymentData>,
    /// 10 `encrypted_recipient_data`.
    pub encrypted_recipient_data: Option<Vec<u8>>,
    /// 12 `current_path_key`.
    pub current_path_key: Option<PublicKey>,
    /// 16 `payment_metadata`.
    pub payment_metadata: Option<Vec<u8>>,
    /// 18 `total_amount_msat`.
    pub total_amount_msat: Option<u64>,
    /// Unknown odd records (custom records, for example keysend's).
    pub unknown: UnknownTlvs,
}

/// Why a payload is `invalid_onion_payload`: the offending TLV type and
/// its byte offset in the payload (0 when a required type is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid onion payload: type {type} at offset {offset}")]
pub struct InvalidPayload {
    /// The TLV type.
    pub r#type: u64,
    /// Byte offset of its record in the decrypted payload.
    pub offset: u16,
}

impl InvalidPayload {
    /// A required type is missing.
    pub fn missing(r#type: u64) -> Self {
        InvalidPayload { r#type, offset: 0 }
    }
}

/// Where each record starts, checking the framing the way
/// [`TlvStreamReader::parse`] does, so that a failure names the type and
/// offset BOLT 4 asks for.
pub(crate) fn locate_records(bytes: &[u8]) -> Result<Vec<(u64, u16)>, InvalidPayload> {
    let mut out = Vec::new();
    let mut r = Reader::new(bytes);
    let mut previous: Option<u64> = None;
    while !r.is_empty() {
        let offset = u16::try_from(bytes.len() - r.remaining()).unwrap_or(u16::MAX);
        let BigSize(ty) = BigSize::decode(&mut r).map_err(|_| InvalidPayload {
            r#type: previous.map_or(0, |p| p.saturating_add(1)),
            offset,
        })?;
        let bad = InvalidPayload { r#type: ty, offset };
        if previous.is_some_and(|p| ty <= p) {
            return Err(bad);
        }
        let BigSize(len) = BigSize::decode(&mut r).map_err(|_| bad)?;
        let len = usize::try_from(len).map_err(|_| bad)?;
        r.read_bytes(len).map_err(|_| bad)?;
        out.push((ty, offset));
        previous = Some(ty);
    }
    Ok(out)
}

impl HopPayload {
    /// Decodes a hop payload (the TLV stream, without its length prefix),
    /// naming the type and offset of the first bad record.
    pub fn decode_payload(bytes: &[u8]) -> Result<Self, InvalidPayload> {
        let records = locate_records(bytes)?;
        let at = |ty: u64| InvalidPayload {
            r#type: ty,
            offset: records
                .iter()
                .find(|(t, _)| *t == ty)
                .map_or(0, |(_, o)| *o),
        };
        let mut r = TlvStreamReader::parse(&mut Reader::new(bytes)).map_err(|_| at(0))?;
        let amt_to_forward = r
            .take::<Tu64>(AMT_TO_FORWARD, "amt_to_forward")
            .map_err(|_| at(AMT_TO_FORWARD))?
            .map(|v| v.0);
        let outgoing_cltv_value = r
            .take::<Tu32>(OUTGOING_CLTV_VALUE, "outgoing_cltv_value")
            .map_err(|_| at(OUTGOING_CLTV_VALUE))?
            .map(|v| v.0);
        let short_channel_id = r
            .take(SHORT_CHANNEL_ID, "short_channel_id")
            .map_err(|_| at(SHORT_CHANNEL_ID))?;
        let payment_data = r
            .take_with(PAYMENT_DATA, "payment_data", |r| {
                Ok(PaymentData {
                    payment_secret: r.read_field("payment_secret")?,
                    total_msat: r.read_field::<Tu64>("total_msat")?.0,
                })
            })
            .map_err(|_| at(PAYMENT_DATA))?;
        let encrypted_recipient_data = r
            .take(ENCRYPTED_RECIPIENT_DATA, "encrypted_recipient_data")
            .map_err(|_| at(ENCRYPTED_RECIPIENT_DATA))?;
        let current_path_key = r
            .take(CURRENT_PATH_KEY, "current_path_key")
            .map_err(|_| at(CURRENT_PATH_KEY))?;
        let payment_metadata = r
            .take(PAYMENT_METADATA, "payment_metadata")
            .map_err(|_| at(PAYMENT_METADATA))?;
        let total_amount_msat = r
            .take::<Tu64>(TOTAL_AMOUNT_MSAT, "total_amount_msat")
            .map_err(|_| at(TOTAL_AMOUNT_MSAT))?
            .map(|v| v.0);
        // bLIP 3 keysend: an even type (a node that does not know it must
        // refuse the payment), kept with the custom records for the node to
        // decide; it must be a 32-byte preimage.
        let keysend = r.take_raw(KEYSEND_PREIMAGE);
        if keysend.is_some_and(|v| v.len() != 32) {
            return Err(at(KEYSEND_PREIMAGE));
        }
        let mut unknown = r.finish().map_err(|e| match e.kind() {
            DecodeErrorKind::TlvUnknownEvenType(ty) => at(*ty),
            _ => at(0),
        })?;
        if let Some(v) = keysend {
            let at = unknown.0.partition_point(|t| t.r#type < KEYSEND_PREIMAGE);
            unknown.0.insert(
                at,
                lightning_wire::tlv::TlvRecord {
                    r#type: KEYSEND_PREIMAGE,
                    value: v.to_vec(),
                },
            );
        }
        Ok(HopPayload {
            amt_to_forward,
            outgoing_cltv_value,
            short_channel_id,
            payment_data,
            encrypted_recipient_data,
            current_path_key,
            payment_metadata,
            total_amount_msat,
            unknown,
        })
    }

    /// The types present, known and unknown, in increasing order.
    pub fn present_types(&self) -> Vec<u64> {
        let mut v = Vec::new();
        let known = [
            (AMT_TO_FORWARD, self.amt_to_forward.is_some()),
            (OUTGOING_CLTV_VALUE, self.outgoing_cltv_value.is_some()),
            (SHORT_CHANNEL_ID, self.short_channel_id.is_some()),
            (PAYMENT_DATA, self.payment_data.is_some()),
            (
                ENCRYPTED_RECIPIENT_DATA,
                self.encrypted_recipient_data.is_some(),
            ),
            (CURRENT_PATH_KEY, self.current_path_key.is_some()),
            (PAYMENT_METADATA, self.payment_metadata.is_some()),
            (TOTAL_AMOUNT_MSAT, self.total_amount_msat.is_some()),
        ];
        v.extend(known.iter().filter(|(_, p)| *p).map(|(t, _)| *t));
        v.extend(self.unknown.0.iter().map(|r| r.r#type));
        v.sort_unstable();
        v
    }
}

/// Writes the TLV stream (without the length prefix the packet adds).
impl Encode for HopPayload {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = TlvStreamWriter::new();
        w.put_opt(AMT_TO_FORWARD, self.amt_to_forward.map(Tu64).as_ref());
        w.put_opt(
            OUTGOING_CLTV_VALUE,
            self.outgoing_cltv_value.map(Tu32).as_ref(),
        );
        w.put_opt(SHORT_CHANNEL_ID, self.short_channel_id.as_ref());
        if let Some(pd) = &self.payment_data {
            let mut v = Vec::with_capacity(40);
            v.extend_from_slice(&pd.payment_secret);
            Tu64(pd.total_msat).encode(&mut v);
            w.put_raw(PAYMENT_DATA, &v);
        }
        w.put_opt(
            ENCRYPTED_RECIPIENT_DATA,
            self.encrypted_recipient_data.as_ref(),
        );
        w.put_opt(CURRENT_PATH_KEY, self.current_path_key.as_ref());
        w.put_opt(PAYMENT_METADATA, self.payment_metadata.as_ref());
        w.put_opt(TOTAL_AMOUNT_MSAT, self.total_amount_msat.map(Tu64).as_ref());
        w.put_unknown(&self.unknown);
        w.write(out);
    }
}
