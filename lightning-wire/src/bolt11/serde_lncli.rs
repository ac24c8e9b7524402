//! A JSON view of an invoice with the field names of LND's `lncli
//! decodepayreq`, so tools written against it can read ours.
//!
//! As in `lncli`, 64-bit integers (`num_satoshis`, `timestamp`, `expiry`,
//! `cltv_expiry`, `num_msat`, `chan_id`) are decimal strings, 32-bit ones are
//! numbers, bytes are hex, and absent values are empty strings or zero.
//! `features` maps each set bit to `{name, is_required, is_known}`; names are
//! BOLT 9's (`payment_secret`), not LND's spellings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Bolt11Invoice, InvoiceDescription};
use crate::features::Feature;

/// `lncli decodepayreq` output for an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedPayReq {
    /// The payee node id, hex.
    pub destination: String,
    /// Hex.
    pub payment_hash: String,
    /// The amount in whole satoshi (rounded down), as a string.
    pub num_satoshis: String,
    /// Seconds since 1970, as a string.
    pub timestamp: String,
    /// Seconds, as a string (3600 when the invoice has no `x`).
    pub expiry: String,
    /// `d`, or empty.
    pub description: String,
    /// `h` in hex, or empty.
    pub description_hash: String,
    /// The first fallback address, or empty.
    pub fallback_addr: String,
    /// `min_final_cltv_expiry_delta`, as a string.
    pub cltv_expiry: String,
    /// The `r` fields.
    pub route_hints: Vec<DecodedRouteHint>,
    /// `s`, hex.
    pub payment_addr: String,
    /// The amount in millisatoshi, as a string.
    pub num_msat: String,
    /// Set feature bits.
    pub features: BTreeMap<u32, DecodedFeature>,
}

/// One `r` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedRouteHint {
    /// Its hops in order.
    pub hop_hints: Vec<DecodedHopHint>,
}

/// One hop of an `r` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedHopHint {
    /// Hex.
    pub node_id: String,
    /// The short channel id as a decimal u64 string.
    pub chan_id: String,
    /// Fee base.
    pub fee_base_msat: u32,
    /// Fee rate.
    pub fee_proportional_millionths: u32,
    /// CLTV delta.
    pub cltv_expiry_delta: u32,
}

/// One set feature bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedFeature {
    /// BOLT 9 name, or `unknown`.
    pub name: String,
    /// Even bit.
    pub is_required: bool,
    /// Whether BOLT 9 assigns the bit.
    pub is_known: bool,
}

impl From<&Bolt11Invoice> for DecodedPayReq {
    fn from(inv: &Bolt11Invoice) -> Self {
        let (description, description_hash) = match inv.description() {
            InvoiceDescription::Direct(d) => (d.clone(), String::new()),
            InvoiceDescription::Hash(h) => (String::new(), h.to_string()),
        };
        let msat = inv.amount_msat().unwrap_or(0);
        let features = inv
            .features()
            .map(|f| {
                f.bits()
                    .map(|bit| {
                        let known = Feature::from_bit(bit);
                        (
                            u32::try_from(bit).unwrap_or(u32::MAX),
                            DecodedFeature {
                                name: known.map_or("unknown", Feature::name).to_owned(),
                                is_required: bit % 2 == 0,
                                is_known: known.is_some(),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        DecodedPayReq {
            destination: inv.payee().to_string(),
            payment_hash: inv.payment_hash().to_string(),
            num_satoshis: (msat / 1000).to_string(),
            timestamp: inv.timestamp().to_string(),
            expiry: inv.expiry_time().to_string(),
            description,
            description_hash,
            fallback_addr: inv
                .fallbacks()
                .first()
                .map(|f| f.address(inv.currency()))
                .unwrap_or_default(),
            cltv_expiry: inv.min_final_cltv_expiry_delta().to_string(),
            route_hints: inv
                .route_hints()
                .iter()
                .map(|r| DecodedRouteHint {
                    hop_hints: r
                        .0
                        .iter()
                        .map(|h| DecodedHopHint {
                            node_id: h.src_node_id.to_string(),
                            chan_id: h.short_channel_id.0.to_string(),
                            fee_base_msat: h.fee_base_msat,
                            fee_proportional_millionths: h.fee_proportional_millionths,
                            cltv_expiry_delta: u32::from(h.cltv_expiry_delta),
                        })
                        .collect(),
                })
                .collect(),
            payment_addr: hex::encode(inv.payment_secret().0),
            num_msat: msat.to_string(),
            features,
        }
    }
}
