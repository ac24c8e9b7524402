//! Writing an invoice: [`InvoiceBuilder`] collects fields in the order they
//! are given (BOLT 11: most preferred first), checks the writer's rules, and
//! has an [`InvoiceSigner`] sign the result.

use core::convert::Infallible;

use bitcoin::hashes::sha256;
use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};

use super::bech32 as b32;
use super::fields::{tag, Fallback, PaymentSecret, RawTaggedField, RouteHint, TaggedField};
use super::hrp::{self, Amount, AmountError, Currency};
use super::parse::{self, Bolt11ParseError, SIGNATURE_LEN};
use super::Bolt11Invoice;
use crate::features::{Bolt11InvoiceFeatures, FeatureError};
use crate::types::PaymentHash;

/// The part of an invoice a signature covers, handed to an
/// [`InvoiceSigner`]. A signer that shows the user what it signs (an HSM) can
/// read the fields from [`hrp`](Self::hrp) and [`data`](Self::data) and
/// recompute [`message_hash`](Self::message_hash) itself.
#[derive(Debug, Clone, Copy)]
pub struct UnsignedInvoice<'a> {
    hrp: &'a str,
    data: &'a [u8],
    hash: [u8; 32],
}

impl<'a> UnsignedInvoice<'a> {
    /// The human-readable part, e.g. `lnbc2500u`.
    pub fn hrp(&self) -> &'a str {
        self.hrp
    }

    /// The data part before the signature (timestamp and fields), one 5-bit
    /// value per byte.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// SHA256 of the hrp bytes and the zero-padded data: what to sign.
    pub fn message_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The bytes whose SHA256 is [`message_hash`](Self::message_hash).
    pub fn signing_preimage(&self) -> Vec<u8> {
        let mut out = self.hrp.as_bytes().to_vec();
        b32::for_each_byte(self.data, true, |b| out.push(b));
        out
    }
}

/// Signs invoices with the node key. `lightning-core`'s `NodeSigner`
/// implements it; so does a bare [`SecretKey`].
pub trait InvoiceSigner {
    /// Why signing failed (a remote signer may be unreachable).
    type Error: std::error::Error + Send + Sync + 'static;

    /// A recoverable ECDSA signature of `invoice.message_hash()`.
    fn sign_invoice(
        &self,
        invoice: &UnsignedInvoice<'_>,
    ) -> Result<RecoverableSignature, Self::Error>;
}

impl InvoiceSigner for SecretKey {
    type Error = Infallible;

    fn sign_invoice(
        &self,
        invoice: &UnsignedInvoice<'_>,
    ) -> Result<RecoverableSignature, Infallible> {
        let msg = Message::from_digest(invoice.message_hash());
        Ok(SECP256K1.sign_ecdsa_recoverable(&msg, self))
    }
}

impl<S: InvoiceSigner + ?Sized> InvoiceSigner for &S {
    type Error = S::Error;

    fn sign_invoice(
        &self,
        invoice: &UnsignedInvoice<'_>,
    ) -> Result<RecoverableSignature, S::Error> {
        (**self).sign_invoice(invoice)
    }
}

/// Why an invoice cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The amount is zero, too large, or not whole millisatoshi.
    #[error("amount: {0}")]
    Amount(#[from] AmountError),
    /// The timestamp does not fit in 35 bits.
    #[error("timestamp {0} does not fit in 35 bits")]
    TimestampTooLarge(u64),
    /// No timestamp was given (the library does not read the clock).
    #[error("no timestamp")]
    MissingTimestamp,
    /// No `p`.
    #[error("no payment hash (p)")]
    MissingPaymentHash,
    /// No `s`.
    #[error("no payment secret (s)")]
    MissingPaymentSecret,
    /// Neither `d` nor `h`.
    #[error("no description (d) or description hash (h)")]
    MissingDescription,
    /// A field that may appear once was given twice (`d` and `h` count as
    /// one).
    #[error("field {0:?} given more than once")]
    DuplicateField(char),
    /// A field holds more than 1023 5-bit values (a `d` over 639 bytes, for
    /// example).
    #[error("field {0:?} is too long")]
    FieldTooLong(char),
    /// An "unknown" field with a type this library knows, or data values
    /// over 31.
    #[error("raw field with type {0:?} is not an unknown field")]
    InvalidRawField(char),
    /// An `r` field with no hops.
    #[error("empty route hint")]
    EmptyRouteHint,
    /// The features break BOLT 9's rules (a missing dependency, or an even
    /// bit readers would not know).
    #[error("features: {0}")]
    Features(FeatureError),
    /// The signer failed.
    #[error("signer: {0}")]
    Signer(Box<dyn std::error::Error + Send + Sync>),
    /// The signature does not check out (a broken signer, or a payee key in
    /// `n` that is not the signer's).
    #[error("signed invoice does not verify: {0}")]
    Verify(Bolt11ParseError),
}

/// Builds and signs an invoice. Setters may be called in any order; fields
/// are written in the order they are set.
#[derive(Debug, Clone)]
#[must_use]
pub struct InvoiceBuilder {
    currency: Currency,
    amount: Result<Option<Amount>, AmountError>,
    timestamp: Option<u64>,
    fields: Vec<TaggedField>,
}

impl InvoiceBuilder {
    /// An invoice on `currency`'s chain, with no fields yet.
    pub fn new(currency: Currency) -> Self {
        InvoiceBuilder {
            currency,
            amount: Ok(None),
            timestamp: None,
            fields: Vec::new(),
        }
    }

    /// The amount, written the shortest way.
    pub fn amount_msat(mut self, msat: u64) -> Self {
        self.amount = Amount::from_msat(msat).map(Some);
        self
    }

    /// The amount, written as given.
    pub fn amount(mut self, amount: Amount) -> Self {
        self.amount = Ok(Some(amount));
        self
    }

    /// Seconds since 1970 (the library never reads the clock itself).
    pub fn timestamp(mut self, timestamp: u64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Adds any field.
    pub fn field(mut self, field: TaggedField) -> Self {
        self.fields.push(field);
        self
    }

    /// `p`.
    pub fn payment_hash(self, hash: PaymentHash) -> Self {
        self.field(TaggedField::PaymentHash(hash))
    }

    /// `s`.
    pub fn payment_secret(self, secret: PaymentSecret) -> Self {
        self.field(TaggedField::PaymentSecret(secret))
    }

    /// `d`.
    pub fn description(self, description: impl Into<String>) -> Self {
        self.field(TaggedField::Description(description.into()))
    }

    /// `h`.
    pub fn description_hash(self, hash: sha256::Hash) -> Self {
        self.field(TaggedField::DescriptionHash(hash))
    }

    /// `n`: name the payee, so readers verify instead of recovering.
    pub fn payee_pub_key(self, key: PublicKey) -> Self {
        self.field(TaggedField::PayeePubKey(key))
    }

    /// `x`, in seconds.
    pub fn expiry(self, seconds: u64) -> Self {
        self.field(TaggedField::Expiry(seconds))
    }

    /// `c`.
    pub fn min_final_cltv_expiry_delta(self, delta: u64) -> Self {
        self.field(TaggedField::MinFinalCltvExpiryDelta(delta))
    }

    /// `f` (may be repeated).
    pub fn fallback(self, fallback: Fallback) -> Self {
        self.field(TaggedField::Fallback(fallback))
    }

    /// `r` (may be repeated).
    pub fn route_hint(self, hint: RouteHint) -> Self {
        self.field(TaggedField::RouteHint(hint))
    }

    /// `9`. Empty features write no field, as the spec requires.
    pub fn features(self, features: Bolt11InvoiceFeatures) -> Self {
        self.field(TaggedField::Features(features))
    }

    /// `m`.
    pub fn payment_metadata(self, metadata: Vec<u8>) -> Self {
        self.field(TaggedField::PaymentMetadata(metadata))
    }

    /// A field of a type this library does not know, written as given.
    pub fn unknown_field(self, tag: u8, data: Vec<u8>) -> Self {
        self.field(TaggedField::Unknown(RawTaggedField { tag, data }))
    }

    /// The human-readable part and the data part without signature, after
    /// checking the writer's rules.
    fn encode(&self) -> Result<(String, Vec<u8>), BuildError> {
        let amount = self.amount.clone()?;
        let timestamp = self.timestamp.ok_or(BuildError::MissingTimestamp)?;
        if timestamp >> 35 != 0 {
            return Err(BuildError::TimestampTooLarge(timestamp));
        }
        let mut seen = [false; 32];
        for field in &self.fields {
            let t = field.tag();
            let single = matches!(
                t,
                tag::PAYMENT_HASH
                    | tag::PAYMENT_SECRET
                    | tag::PAYEE
                    | tag::EXPIRY
                    | tag::MIN_FINAL_CLTV
                    | tag::FEATURES
                    | tag::PAYMENT_METADATA
                    | tag::DESCRIPTION
                    | tag::DESCRIPTION_HASH
            );
            // `d` and `h` share a slot: exactly one of them.
            let slot = if t == tag::DESCRIPTION_HASH {
                tag::DESCRIPTION
            } else {
                t
            };
            if single && seen[usize::from(slot)] {
                return Err(BuildError::DuplicateField(field.letter()));
            }
            seen[usize::from(slot & 0x1f)] = true;
            match field {
                TaggedField::Unknown(raw)
                    if raw.tag > 31
                        || tag::is_known(raw.tag)
                        || raw.data.iter().any(|v| *v > 31) =>
                {
                    return Err(BuildError::InvalidRawField(field.letter()));
                }
                TaggedField::RouteHint(h) if h.0.is_empty() => {
                    return Err(BuildError::EmptyRouteHint)
                }
                TaggedField::Features(f) => {
                    parse::check_features(f).map_err(BuildError::Features)?
                }
                _ => {}
            }
        }
        if !seen[usize::from(tag::PAYMENT_HASH)] {
            return Err(BuildError::MissingPaymentHash);
        }
        if !seen[usize::from(tag::PAYMENT_SECRET)] {
            return Err(BuildError::MissingPaymentSecret);
        }
        if !seen[usize::from(tag::DESCRIPTION)] {
            return Err(BuildError::MissingDescription);
        }

        let mut hrp = String::new();
        hrp::write_hrp(&mut hrp, self.currency, amount.as_ref());
        let mut data = Vec::with_capacity(self.fields.len() * 60 + 7 + SIGNATURE_LEN);
        b32::push_u64_fixed(&mut data, timestamp, 7);
        for field in &self.fields {
            if matches!(field, TaggedField::Features(f) if f.is_empty()) {
                continue;
            }
            field.encode(&mut data).map_err(BuildError::FieldTooLong)?;
        }
        Ok((hrp, data))
    }

    /// Signs with `signer` and returns the invoice, checked by the same
    /// reader as [`Bolt11Invoice::parse`] (so a signer that signs with a key
    /// other than the `n` field's is caught here).
    pub fn build_signed<S: InvoiceSigner>(&self, signer: &S) -> Result<Bolt11Invoice, BuildError> {
        let (hrp, mut data) = self.encode()?;
        let unsigned = UnsignedInvoice {
            hrp: &hrp,
            data: &data,
            hash: parse::signing_hash(&hrp, &data),
        };
        let signature = signer
            .sign_invoice(&unsigned)
            .map_err(|e| BuildError::Signer(Box::new(e)))?;
        let (recid, rs) = signature.serialize_compact();
        let mut sig = [0u8; 65];
        sig[..64].copy_from_slice(&rs);
        sig[64] = recid.to_i32() as u8;
        b32::push_bytes(&mut data, &sig);
        let mut text = String::with_capacity(hrp.len() + 1 + data.len() + 6);
        // Writing to a String cannot fail.
        let _ = b32::encode_to_fmt(&mut text, &hrp, data.iter().copied());
        text.parse().map_err(BuildError::Verify)
    }
}
