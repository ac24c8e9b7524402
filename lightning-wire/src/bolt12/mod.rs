//! BOLT 12 offers, invoice requests and invoices: their TLV streams, text
//! form, Merkle-tree signatures and the readers' rules. No IO: sending
//! requests and invoices in onion messages is the node's.
//!
//! - [`Offer`] (`lno1...`): what a merchant publishes.
//! - [`InvoiceRequest`] (`lnr1...`): a payer's signed request, every offer
//!   field copied ([`InvoiceRequest::for_offer`]).
//! - [`Bolt12Invoice`] (`lni1...`): the issuer's signed answer, paid
//!   through its blinded paths ([`Bolt12Invoice::for_request`],
//!   [`Bolt12Invoice::check_answers`]).
//! - [`InvoiceError`]: why one of them was refused.
//! - [`merkle`]: "Signature Calculation".
//!
//! Every reader keeps the bytes it read: signatures cover the records
//! exactly as written, unknown odd ones included, and answers copy them.
//!
//! ```
//! use lightning_wire::bolt12::{Bolt12Invoice, InvoiceFields, InvoiceRequest, InvreqFields, Offer, OfferFields};
//! use lightning_wire::bolt12::{BlindedPath, BlindedPayInfo, IntroductionNode, OnionMsgHop};
//! use bitcoin::hashes::{sha256, Hash};
//! use secp256k1::{Keypair, SecretKey, SECP256K1};
//!
//! let issuer = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[7; 32]).unwrap());
//! let offer = Offer::new(OfferFields {
//!     amount: Some(10_000),
//!     description: Some("a coffee".into()),
//!     issuer_id: Some(issuer.public_key()),
//!     ..Default::default()
//! })
//! .unwrap();
//!
//! let payer = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[9; 32]).unwrap());
//! let request = InvoiceRequest::for_offer(
//!     &offer,
//!     InvreqFields { metadata: Some(vec![3; 16]), ..Default::default() },
//!     &payer,
//! )
//! .unwrap();
//! assert_eq!(request.amount_msat(), Some(10_000));
//!
//! let path = BlindedPath {
//!     first_node_id: IntroductionNode::NodeId(issuer.public_key()),
//!     first_path_key: payer.public_key(),
//!     hops: vec![OnionMsgHop { blinded_node_id: issuer.public_key(), encrypted_recipient_data: vec![0; 16] }],
//! };
//! let payinfo = BlindedPayInfo {
//!     fee_base_msat: 0, fee_proportional_millionths: 0, cltv_expiry_delta: 18,
//!     htlc_minimum_msat: 1, htlc_maximum_msat: 1_000_000, features: vec![],
//! };
//! let invoice = Bolt12Invoice::for_request(
//!     &request,
//!     InvoiceFields {
//!         paths: Some(vec![path]),
//!         blindedpay: Some(vec![payinfo]),
//!         created_at: Some(1_700_000_000),
//!         payment_hash: Some(sha256::Hash::hash(&[42; 32])),
//!         amount: request.amount_msat(),
//!         ..Default::default()
//!     },
//!     &issuer,
//! )
//! .unwrap();
//! let read: Bolt12Invoice = invoice.to_string().parse().unwrap();
//! assert!(read.check_answers(&request).is_ok());
//! assert!(!read.is_expired(1_700_000_000 + 7_200));
//! assert!(read.is_expired(1_700_000_000 + 7_201));
//! ```

mod fields;
mod invoice;
mod invoice_error;
mod invoice_request;
pub mod merkle;
mod offer;
mod paths;
pub mod string;

use core::ops::RangeInclusive;

pub use fields::{
    feature_bits, unknown_required_bit, Bip353Name, InvoiceFields, InvreqFields, OfferFields,
};
pub use invoice::{
    Bolt12Invoice, UnsignedBolt12Invoice, DEFAULT_RELATIVE_EXPIRY, KNOWN_INVOICE_FEATURES,
};
pub use invoice_error::InvoiceError;
pub use invoice_request::{InvoiceRequest, INVREQ_TYPES};
pub use offer::{Offer, OFFER_TYPES};
pub use paths::{BlindedPath, BlindedPayInfo, FallbackAddress, IntroductionNode, OnionMsgHop};

use crate::codec::DecodeError;

/// Why a BOLT 12 string or message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Bolt12Error {
    /// The text form is wrong (prefix, case, `+`, alphabet, padding).
    #[error("bolt12 string: {0}")]
    Encoding(String),
    /// The TLV stream or a field does not decode.
    #[error("bolt12 decode: {0}")]
    Decode(#[from] DecodeError),
    /// A field whose type this message may not hold.
    #[error("bolt12 field of type {0} is outside the message's ranges")]
    FieldOutOfRange(u64),
    /// A feature bit that is even (required) and unknown.
    #[error("{field} requires unknown feature bit {bit}")]
    UnknownRequiredFeature {
        /// The feature field.
        field: &'static str,
        /// The bit.
        bit: usize,
    },
    /// A rule of BOLT 12 the message breaks.
    #[error("bolt12: {0}")]
    Invalid(String),
    /// The signature is missing or does not verify.
    #[error("bolt12 signature missing or invalid")]
    BadSignature,
    /// An invoice that does not answer our request.
    #[error("bolt12 invoice does not answer the request: {0}")]
    Mismatch(String),
}

impl Bolt12Error {
    pub(crate) fn invalid(reason: impl Into<String>) -> Bolt12Error {
        Bolt12Error::Invalid(reason.into())
    }
}

/// Refuses a record whose type is in none of `ranges` (nor in `extra`).
fn check_ranges(
    bytes: &[u8],
    ranges: &[RangeInclusive<u64>],
    extra: Option<RangeInclusive<u64>>,
) -> Result<(), Bolt12Error> {
    for (ty, _) in merkle::records(bytes)? {
        let allowed = ranges.iter().any(|r| r.contains(&ty))
            || extra.as_ref().is_some_and(|r| r.contains(&ty));
        if !allowed {
            return Err(Bolt12Error::FieldOutOfRange(ty));
        }
    }
    Ok(())
}

/// The records of `bytes` whose types are in `ranges`, in order. A stream
/// that does not frame yields the records before the fault (callers read
/// streams that were checked).
fn filter_records(bytes: &[u8], ranges: &[RangeInclusive<u64>]) -> Vec<u8> {
    merkle::records(bytes)
        .unwrap_or_default()
        .into_iter()
        .filter(|(ty, _)| ranges.iter().any(|r| r.contains(ty)))
        .flat_map(|(_, b)| b.iter().copied())
        .collect()
}
