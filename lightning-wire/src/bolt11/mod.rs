//! BOLT 11 invoices: parse and verify, build and sign.
//!
//! [`Bolt11Invoice`] is an invoice whose signature has been checked: it is
//! made only by [`Bolt11Invoice::from_str`] (a reader, following BOLT 11's
//! reader requirements) or by [`InvoiceBuilder::build_signed`] (a writer).
//! It keeps the data part exactly as received, so printing a parsed invoice
//! gives back the string it came from (in lower case), skipped and unknown
//! fields included.
//!
//! Reading:
//!
//! ```
//! use lightning_wire::bolt11::{Bolt11Invoice, Currency, InvoiceDescription};
//! let s = "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";
//! let invoice: Bolt11Invoice = s.parse().unwrap();
//! assert_eq!(invoice.currency(), Currency::Bitcoin);
//! assert_eq!(invoice.amount_msat(), Some(250_000_000));
//! assert_eq!(invoice.description(), &InvoiceDescription::Direct("1 cup coffee".into()));
//! assert_eq!(invoice.expiry_time(), 60);
//! assert!(invoice.is_expired(1496314658 + 61));
//! assert_eq!(
//!     invoice.payee().to_string(),
//!     "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"
//! );
//! assert_eq!(invoice.to_string(), s);
//! ```
//!
//! Writing, with any [`InvoiceSigner`] (a `SecretKey` is one; a node's
//! `NodeSigner` can be another):
//!
//! ```
//! use lightning_wire::bolt11::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
//! use lightning_wire::types::PaymentPreimage;
//! use secp256k1::SecretKey;
//! let key = SecretKey::from_slice(&[0x11; 32]).unwrap();
//! let invoice = InvoiceBuilder::new(Currency::Regtest)
//!     .amount_msat(1_500)
//!     .timestamp(1_700_000_000)
//!     .payment_hash(PaymentPreimage([1; 32]).payment_hash())
//!     .payment_secret(PaymentSecret([7; 32]))
//!     .description("coffee")
//!     .expiry(600)
//!     .build_signed(&key)
//!     .unwrap();
//! let text = invoice.to_string();
//! assert!(text.starts_with("lnbcrt15n1"));
//! assert_eq!(text.parse::<Bolt11Invoice>().unwrap(), invoice);
//! ```

pub(crate) mod bech32;
mod build;
mod fields;
mod hrp;
mod parse;
#[cfg(feature = "serde")]
mod serde_lncli;

use core::fmt;
use core::str::FromStr;

use bitcoin::hashes::{sha256, Hash};
use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::PublicKey;

pub use self::bech32::Bech32Error;
pub use build::{BuildError, InvoiceBuilder, InvoiceSigner, UnsignedInvoice};
pub use fields::{
    tag, Fallback, FieldError, NodeId, PaymentSecret, RawTaggedField, RouteHint, RouteHintHop,
    TaggedField, MAX_FIELD_LEN,
};
pub use hrp::{Amount, AmountError, Currency, HrpError, Multiplier, MAX_AMOUNT_MSAT};
pub use parse::{Bolt11ParseError, MAX_INVOICE_LEN};
#[cfg(feature = "serde")]
pub use serde_lncli::{DecodedFeature, DecodedHopHint, DecodedPayReq, DecodedRouteHint};

use crate::features::Bolt11InvoiceFeatures;
use crate::types::PaymentHash;

/// The expiry when there is no `x` field: one hour.
pub const DEFAULT_EXPIRY_SECS: u64 = 3600;
/// The `min_final_cltv_expiry_delta` when there is no `c` field.
pub const DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA: u64 = 18;

/// What the payment is for: `d` (the text) or `h` (its SHA256).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InvoiceDescription {
    /// `d`: the description itself.
    Direct(String),
    /// `h`: the SHA256 of a description given some other way.
    Hash(sha256::Hash),
}

/// A BOLT 11 invoice whose signature has been checked.
///
/// Fields that may appear once hold the first valid occurrence; `f` and `r`
/// keep every occurrence in order (most preferred first). Fields the reader
/// skipped are in [`Bolt11Invoice::other_fields`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bolt11Invoice {
    currency: Currency,
    amount: Option<Amount>,
    timestamp: u64,
    payment_hash: PaymentHash,
    payment_secret: PaymentSecret,
    description: InvoiceDescription,
    payee_pub_key: Option<PublicKey>,
    expiry: Option<u64>,
    min_final_cltv_expiry_delta: Option<u64>,
    fallbacks: Vec<Fallback>,
    route_hints: Vec<RouteHint>,
    features: Option<Bolt11InvoiceFeatures>,
    payment_metadata: Option<Vec<u8>>,
    other_fields: Vec<RawTaggedField>,
    signature: RecoverableSignature,
    payee: PublicKey,
    /// The data part as received (timestamp, fields, signature), packed as
    /// the signed message holds it.
    data: bech32::PackedValues,
}

impl Bolt11Invoice {
    /// The chain.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount as written, if the invoice asks for one.
    pub fn amount(&self) -> Option<&Amount> {
        self.amount.as_ref()
    }

    /// The amount in millisatoshi, if the invoice asks for one.
    pub fn amount_msat(&self) -> Option<u64> {
        self.amount.map(|a| a.msat())
    }

    /// Seconds since 1970 when the invoice was made.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `p`.
    pub fn payment_hash(&self) -> &PaymentHash {
        &self.payment_hash
    }

    /// `s`.
    pub fn payment_secret(&self) -> &PaymentSecret {
        &self.payment_secret
    }

    /// `d` or `h`.
    pub fn description(&self) -> &InvoiceDescription {
        &self.description
    }

    /// Whether `description` is what the invoice describes: equal to `d`, or
    /// hashing to `h` (BOLT 11: a reader "MUST check that the SHA2 256-bit
    /// hash in the `h` field exactly matches the hashed description").
    pub fn matches_description(&self, description: &str) -> bool {
        match &self.description {
            InvoiceDescription::Direct(d) => d == description,
            InvoiceDescription::Hash(h) => sha256::Hash::hash(description.as_bytes()) == *h,
        }
    }

    /// The `n` field, if present.
    pub fn payee_pub_key(&self) -> Option<&PublicKey> {
        self.payee_pub_key.as_ref()
    }

    /// The payee: the `n` field the signature verified against, or the key
    /// recovered from the signature.
    pub fn payee(&self) -> &PublicKey {
        &self.payee
    }

    /// `x` as written, if present.
    pub fn expiry(&self) -> Option<u64> {
        self.expiry
    }

    /// Seconds after [`timestamp`](Self::timestamp) during which the invoice
    /// may be paid (`x`, default 3600).
    pub fn expiry_time(&self) -> u64 {
        self.expiry.unwrap_or(DEFAULT_EXPIRY_SECS)
    }

    /// When the invoice expires, in seconds since 1970; `None` if that is
    /// beyond `u64` (it never does).
    pub fn expires_at(&self) -> Option<u64> {
        self.timestamp.checked_add(self.expiry_time())
    }

    /// Whether `now` (seconds since 1970) is after the expiry: a payer
    /// "SHOULD NOT attempt a payment" then.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at().is_some_and(|at| now > at)
    }

    /// `c` as written, if present.
    pub fn min_final_cltv_expiry_delta_field(&self) -> Option<u64> {
        self.min_final_cltv_expiry_delta
    }

    /// The CLTV delta for the last HTLC (`c`, default 18).
    pub fn min_final_cltv_expiry_delta(&self) -> u64 {
        self.min_final_cltv_expiry_delta
            .unwrap_or(DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA)
    }

    /// The `f` fields of known versions, most preferred first.
    pub fn fallbacks(&self) -> &[Fallback] {
        &self.fallbacks
    }

    /// The `r` fields.
    pub fn route_hints(&self) -> &[RouteHint] {
        &self.route_hints
    }

    /// The `9` field, if present (minimal bytes).
    pub fn features(&self) -> Option<&Bolt11InvoiceFeatures> {
        self.features.as_ref()
    }

    /// `m`, if present.
    pub fn payment_metadata(&self) -> Option<&[u8]> {
        self.payment_metadata.as_deref()
    }

    /// Fields the reader skipped, in order: unknown types, `p`/`h`/`s`/`n`
    /// of the wrong length, `f` of an unknown version, and repeats of
    /// single-valued fields after the first.
    pub fn other_fields(&self) -> &[RawTaggedField] {
        &self.other_fields
    }

    /// The signature.
    pub fn signature(&self) -> &RecoverableSignature {
        &self.signature
    }

    /// The hash the signature signs.
    pub fn signing_hash(&self) -> [u8; 32] {
        let mut hrp = String::new();
        hrp::write_hrp(&mut hrp, self.currency, self.amount.as_ref());
        let end = self.data.values().len() - parse::SIGNATURE_LEN;
        parse::signing_hash_packed(&hrp, self.data.as_bytes(), end)
    }

    /// Parses and verifies an invoice. Same as `s.parse()`.
    pub fn parse(s: &str) -> Result<Self, Bolt11ParseError> {
        parse::parse(s)
    }

    /// The human-readable part, `ln` + currency + amount.
    pub fn hrp(&self) -> String {
        let mut hrp = String::new();
        hrp::write_hrp(&mut hrp, self.currency, self.amount.as_ref());
        hrp
    }
}

impl FromStr for Bolt11Invoice {
    type Err = Bolt11ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse::parse(s)
    }
}

impl fmt::Display for Bolt11Invoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bech32::encode_to_fmt(f, &self.hrp(), self.data.values().iter())
    }
}

/// An invoice serializes as its string, and deserializing one parses and
/// verifies it. For the `lncli decodepayreq` view see [`DecodedPayReq`].
#[cfg(feature = "serde")]
impl serde::Serialize for Bolt11Invoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Bolt11Invoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
