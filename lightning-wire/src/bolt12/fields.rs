//! The field groups BOLT 12 messages share: an offer's fields (types 1 to
//! 79) are mirrored into the `invoice_request` and the `invoice`, and the
//! request's (0, 80 to 159) into the `invoice`. Each group puts its
//! records into a [`TlvStreamWriter`] and takes them out of a
//! [`TlvStreamReader`].

use bitcoin::hashes::sha256;
use secp256k1::PublicKey;

use super::paths::{read_all, write_all, BlindedPath, BlindedPayInfo, FallbackAddress};
use crate::codec::{DecodeError, Reader};
use crate::tlv::{TlvStreamReader, TlvStreamWriter};
use crate::types::{ChainHash, Tu32, Tu64};
use crate::Decode;

fn utf8(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    String::from_utf8(r.read_rest().to_vec()).map_err(|_| DecodeError::invalid("invalid UTF-8"))
}

fn bytes(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    Ok(r.read_rest().to_vec())
}

fn tu64(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    Ok(Tu64::decode(r)?.0)
}

fn paths(r: &mut Reader<'_>) -> Result<Vec<BlindedPath>, DecodeError> {
    read_all(r)
}

/// The bit numbers set in a feature field (big-endian bytes, bit 0 the
/// last byte's least significant).
pub fn feature_bits(features: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let n = features.len();
    features.iter().enumerate().flat_map(move |(i, b)| {
        (0..8)
            .filter(move |bit| b & (1 << bit) != 0)
            .map(move |bit| (n - 1 - i) * 8 + bit)
    })
}

/// The first even bit set in `features` that is not in `known`: such a
/// feature is required and not understood.
pub fn unknown_required_bit(features: &[u8], known: &[usize]) -> Option<usize> {
    feature_bits(features).find(|b| b % 2 == 0 && !known.contains(b))
}

/// An offer's fields (BOLT 12, "TLV Fields for Offers").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfferFields {
    /// 2 `offer_chains`: absent means bitcoin only.
    pub chains: Option<Vec<ChainHash>>,
    /// 4 `offer_metadata`: the issuer's own bytes.
    pub metadata: Option<Vec<u8>>,
    /// 6 `offer_currency`: an ISO 4217 code.
    pub currency: Option<String>,
    /// 8 `offer_amount`: per item, in msat or in `currency` units.
    pub amount: Option<u64>,
    /// 10 `offer_description`.
    pub description: Option<String>,
    /// 12 `offer_features`.
    pub features: Option<Vec<u8>>,
    /// 14 `offer_absolute_expiry`: seconds since 1970.
    pub absolute_expiry: Option<u64>,
    /// 16 `offer_paths`.
    pub paths: Option<Vec<BlindedPath>>,
    /// 18 `offer_issuer`.
    pub issuer: Option<String>,
    /// 20 `offer_quantity_max`: 0 means no limit.
    pub quantity_max: Option<u64>,
    /// 22 `offer_issuer_id`.
    pub issuer_id: Option<PublicKey>,
}

impl OfferFields {
    pub(crate) fn put(&self, w: &mut TlvStreamWriter) {
        if let Some(c) = &self.chains {
            let mut v = Vec::with_capacity(c.len() * 32);
            write_all(c, &mut v);
            w.put_raw(2, &v);
        }
        put_bytes(w, 4, self.metadata.as_deref());
        put_bytes(w, 6, self.currency.as_deref().map(str::as_bytes));
        w.put_opt(8, self.amount.map(Tu64).as_ref());
        put_bytes(w, 10, self.description.as_deref().map(str::as_bytes));
        put_bytes(w, 12, self.features.as_deref());
        w.put_opt(14, self.absolute_expiry.map(Tu64).as_ref());
        if let Some(p) = &self.paths {
            let mut v = Vec::new();
            write_all(p, &mut v);
            w.put_raw(16, &v);
        }
        put_bytes(w, 18, self.issuer.as_deref().map(str::as_bytes));
        w.put_opt(20, self.quantity_max.map(Tu64).as_ref());
        w.put_opt(22, self.issuer_id.as_ref());
    }

    pub(crate) fn take(r: &mut TlvStreamReader<'_>) -> Result<Self, DecodeError> {
        let chains = r.take_with(2, "offer_chains", |r| {
            if r.remaining() % 32 != 0 {
                return Err(DecodeError::invalid("length not a multiple of 32"));
            }
            read_all::<ChainHash>(r)
        })?;
        Ok(OfferFields {
            chains,
            metadata: r.take_with(4, "offer_metadata", bytes)?,
            currency: r.take_with(6, "offer_currency", utf8)?,
            amount: r.take_with(8, "offer_amount", tu64)?,
            description: r.take_with(10, "offer_description", utf8)?,
            features: r.take_with(12, "offer_features", bytes)?,
            absolute_expiry: r.take_with(14, "offer_absolute_expiry", tu64)?,
            paths: r.take_with(16, "offer_paths", paths)?,
            issuer: r.take_with(18, "offer_issuer", utf8)?,
            quantity_max: r.take_with(20, "offer_quantity_max", tu64)?,
            issuer_id: r.take(22, "offer_issuer_id")?,
        })
    }
}

/// `invreq_bip_353_name`: the human-readable name the offer was found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bip353Name {
    /// The part before the `@`.
    pub name: Vec<u8>,
    /// The part after the `@`.
    pub domain: Vec<u8>,
}

/// An invoice request's own fields (BOLT 12, "TLV Fields for
/// `invoice_request`").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvreqFields {
    /// 0 `invreq_metadata`: unpredictable bytes of the payer's.
    pub metadata: Option<Vec<u8>>,
    /// 80 `invreq_chain`.
    pub chain: Option<ChainHash>,
    /// 82 `invreq_amount` in msat.
    pub amount: Option<u64>,
    /// 84 `invreq_features`.
    pub features: Option<Vec<u8>>,
    /// 86 `invreq_quantity`.
    pub quantity: Option<u64>,
    /// 88 `invreq_payer_id`: a transient key of the payer's.
    pub payer_id: Option<PublicKey>,
    /// 89 `invreq_payer_note`.
    pub payer_note: Option<String>,
    /// 90 `invreq_paths`.
    pub paths: Option<Vec<BlindedPath>>,
    /// 91 `invreq_bip_353_name`.
    pub bip_353_name: Option<Bip353Name>,
}

impl InvreqFields {
    pub(crate) fn put(&self, w: &mut TlvStreamWriter) {
        put_bytes(w, 0, self.metadata.as_deref());
        w.put_opt(80, self.chain.as_ref());
        w.put_opt(82, self.amount.map(Tu64).as_ref());
        put_bytes(w, 84, self.features.as_deref());
        w.put_opt(86, self.quantity.map(Tu64).as_ref());
        w.put_opt(88, self.payer_id.as_ref());
        put_bytes(w, 89, self.payer_note.as_deref().map(str::as_bytes));
        if let Some(p) = &self.paths {
            let mut v = Vec::new();
            write_all(p, &mut v);
            w.put_raw(90, &v);
        }
        if let Some(n) = &self.bip_353_name {
            let mut v = Vec::new();
            v.push(n.name.len().min(255) as u8);
            v.extend_from_slice(&n.name[..n.name.len().min(255)]);
            v.push(n.domain.len().min(255) as u8);
            v.extend_from_slice(&n.domain[..n.domain.len().min(255)]);
            w.put_raw(91, &v);
        }
    }

    pub(crate) fn take(r: &mut TlvStreamReader<'_>) -> Result<Self, DecodeError> {
        Ok(InvreqFields {
            metadata: r.take_with(0, "invreq_metadata", bytes)?,
            chain: r.take(80, "invreq_chain")?,
            amount: r.take_with(82, "invreq_amount", tu64)?,
            features: r.take_with(84, "invreq_features", bytes)?,
            quantity: r.take_with(86, "invreq_quantity", tu64)?,
            payer_id: r.take(88, "invreq_payer_id")?,
            payer_note: r.take_with(89, "invreq_payer_note", utf8)?,
            paths: r.take_with(90, "invreq_paths", paths)?,
            bip_353_name: r.take_with(91, "invreq_bip_353_name", |r| {
                let n = usize::from(r.read_array::<1>()?[0]);
                let name = r.read_bytes(n)?.to_vec();
                let d = usize::from(r.read_array::<1>()?[0]);
                let domain = r.read_bytes(d)?.to_vec();
                Ok(Bip353Name { name, domain })
            })?,
        })
    }
}

/// An invoice's own fields (BOLT 12, "Invoices").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceFields {
    /// 160 `invoice_paths`.
    pub paths: Option<Vec<BlindedPath>>,
    /// 162 `invoice_blindedpay`: one per path, in order.
    pub blindedpay: Option<Vec<BlindedPayInfo>>,
    /// 164 `invoice_created_at`: seconds since 1970.
    pub created_at: Option<u64>,
    /// 166 `invoice_relative_expiry`: seconds after `created_at`.
    pub relative_expiry: Option<u32>,
    /// 168 `invoice_payment_hash`.
    pub payment_hash: Option<sha256::Hash>,
    /// 170 `invoice_amount` in msat.
    pub amount: Option<u64>,
    /// 172 `invoice_fallbacks`.
    pub fallbacks: Option<Vec<FallbackAddress>>,
    /// 174 `invoice_features`.
    pub features: Option<Vec<u8>>,
    /// 176 `invoice_node_id`.
    pub node_id: Option<PublicKey>,
}

impl InvoiceFields {
    pub(crate) fn put(&self, w: &mut TlvStreamWriter) {
        if let Some(p) = &self.paths {
            let mut v = Vec::new();
            write_all(p, &mut v);
            w.put_raw(160, &v);
        }
        if let Some(p) = &self.blindedpay {
            let mut v = Vec::new();
            write_all(p, &mut v);
            w.put_raw(162, &v);
        }
        w.put_opt(164, self.created_at.map(Tu64).as_ref());
        w.put_opt(166, self.relative_expiry.map(Tu32).as_ref());
        w.put_opt(168, self.payment_hash.as_ref());
        w.put_opt(170, self.amount.map(Tu64).as_ref());
        if let Some(f) = &self.fallbacks {
            let mut v = Vec::new();
            write_all(f, &mut v);
            w.put_raw(172, &v);
        }
        put_bytes(w, 174, self.features.as_deref());
        w.put_opt(176, self.node_id.as_ref());
    }

    pub(crate) fn take(r: &mut TlvStreamReader<'_>) -> Result<Self, DecodeError> {
        Ok(InvoiceFields {
            paths: r.take_with(160, "invoice_paths", paths)?,
            blindedpay: r.take_with(162, "invoice_blindedpay", read_all)?,
            created_at: r.take_with(164, "invoice_created_at", tu64)?,
            relative_expiry: r
                .take_with(166, "invoice_relative_expiry", |r| Ok(Tu32::decode(r)?.0))?,
            payment_hash: r.take(168, "invoice_payment_hash")?,
            amount: r.take_with(170, "invoice_amount", tu64)?,
            fallbacks: r.take_with(172, "invoice_fallbacks", read_all)?,
            features: r.take_with(174, "invoice_features", bytes)?,
            node_id: r.take(176, "invoice_node_id")?,
        })
    }
}

fn put_bytes(w: &mut TlvStreamWriter, ty: u64, v: Option<&[u8]>) {
    if let Some(v) = v {
        w.put_raw(ty, v);
    }
}
