//! Reading an invoice: Bech32, the human-readable part, the fields, the
//! semantic rules and the signature (BOLT 11, the reader requirements).

use bitcoin::hashes::{sha256, Hash, HashEngine};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, SECP256K1};

use super::bech32::{self as b32, char_of, Bech32Error};
use super::fields::{self, FieldError, RawTaggedField, TaggedField};
use super::hrp::{self, AmountError, HrpError};
use super::{Bolt11Invoice, InvoiceDescription};
use crate::features::{Bolt11InvoiceContext, Bolt11InvoiceFeatures, Feature, FeatureError};

/// 5-bit values of the timestamp (35 bits).
pub(crate) const TIMESTAMP_LEN: usize = 7;
/// 5-bit values of the signature (520 bits: r, s, recovery id).
pub(crate) const SIGNATURE_LEN: usize = 104;

/// The longest invoice string read or written: 7,089 bytes (characters:
/// an invoice is ASCII).
///
/// BOLT 11 ("Encoding Overview") lifts BIP-173's 90-character limit and
/// sets none of its own, and nothing in the format bounds the number of
/// fields. Without a bound, the work and memory spent on a string a payer
/// is handed grow with it: every character is scanned, checksummed and
/// packed before any field is read (a 100 MB string meant 62 MB of packed
/// data). 7,089 is the most any QR code holds (in numeric mode; an
/// invoice in upper case, alphanumeric mode, fits in 4,296), so no invoice
/// a payer can scan is refused; one with a 639-byte description, twelve
/// route-hint hops and the usual fields is under 3,000 characters. The
/// length is checked before anything else, and
/// [`InvoiceBuilder`](super::InvoiceBuilder) refuses to write a longer one.
pub const MAX_INVOICE_LEN: usize = 7_089;

/// Why a string is not an acceptable invoice. Each variant names the part of
/// the invoice at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Bolt11ParseError {
    /// Longer than [`MAX_INVOICE_LEN`] characters (checked before
    /// anything is decoded).
    #[error("invoice of {len} characters is over the limit of {max}")]
    TooLong {
        /// The string's length in bytes.
        len: usize,
        /// [`MAX_INVOICE_LEN`].
        max: usize,
    },
    /// Not Bech32: bad character, mixed case, no separator, bad checksum.
    #[error("bech32: {0}")]
    Bech32(#[from] Bech32Error),
    /// Not `ln` + a known currency prefix.
    #[error("prefix: {0}")]
    Prefix(HrpError),
    /// The amount in the human-readable part.
    #[error("amount: {0}")]
    Amount(AmountError),
    /// Too short to hold a timestamp and a signature.
    #[error("too short for a timestamp and a signature")]
    TooShort,
    /// A field's header or data runs into the signature.
    #[error("field {0:?} runs past the end of the data")]
    FieldOverrun(char),
    /// A known field whose data cannot be read.
    #[error("field {field:?}: {error}")]
    InvalidField {
        /// The field's letter.
        field: char,
        /// What is wrong.
        error: FieldError,
    },
    /// No valid `p` field.
    #[error("no payment hash (p)")]
    MissingPaymentHash,
    /// No valid `s` field.
    #[error("no payment secret (s)")]
    MissingPaymentSecret,
    /// Neither `d` nor `h`.
    #[error("no description (d) or description hash (h)")]
    MissingDescription,
    /// More than one `d`/`h` field between them.
    #[error("more than one description (d) or description hash (h)")]
    MultipleDescriptions,
    /// The `9` field: an unknown even bit, or a missing dependency.
    #[error("features (9): {0}")]
    Features(FeatureError),
    /// The recovery id is not 0 to 3.
    #[error("signature recovery id {0} is not 0..=3")]
    InvalidRecoveryId(u8),
    /// `r` or `s` is zero or not below the curve order.
    #[error("signature is malformed")]
    MalformedSignature,
    /// No public key can be recovered from the signature.
    #[error("no public key can be recovered from the signature")]
    SignatureNotRecoverable,
    /// The signature does not verify against the `n` field's key.
    #[error("signature does not verify against the payee key (n)")]
    InvalidSignature,
    /// With an `n` field the signature must be in low-S form.
    #[error("signature is not in low-S form, which an invoice with an n field requires")]
    NonCanonicalSignature,
}

impl From<HrpError> for Bolt11ParseError {
    fn from(e: HrpError) -> Self {
        match e {
            HrpError::Amount(a) => Bolt11ParseError::Amount(a),
            other => Bolt11ParseError::Prefix(other),
        }
    }
}

/// The features a reader of this library understands in an invoice: every
/// BOLT 9 feature listed for the `9` context.
pub(crate) fn is_understood(bit: usize) -> bool {
    Feature::from_bit(bit).is_some_and(|f| f.allowed_in::<Bolt11InvoiceContext>())
}

/// BOLT 11 "Feature Bits", reader: unknown even bits fail the payment, and
/// so does a missing dependency.
pub(crate) fn check_features(f: &Bolt11InvoiceFeatures) -> Result<(), FeatureError> {
    let unknown: Vec<usize> = f
        .bits()
        .filter(|b| b % 2 == 0 && !is_understood(*b))
        .collect();
    if !unknown.is_empty() {
        return Err(FeatureError::UnknownRequiredBits {
            context: "invoice",
            bits: unknown,
        });
    }
    f.check_dependencies()
}

/// SHA256 of the human-readable part's bytes and the data part before the
/// signature, packed and zero-padded to a byte (BOLT 11, "Data Part").
/// `data` holds 5-bit values.
pub(crate) fn signing_hash(hrp: &str, data: &[u8]) -> [u8; 32] {
    signing_hash_packed(
        hrp,
        b32::PackedValues::from_values(data).as_bytes(),
        data.len(),
    )
}

/// [`signing_hash`] of the first `values` values of a data part that is
/// already packed (eight values to five bytes, big-endian) in `packed`,
/// which must reach at least to the byte holding the last value's last bit.
pub(crate) fn signing_hash_packed(hrp: &str, packed: &[u8], values: usize) -> [u8; 32] {
    let bits = values * 5;
    let mut engine = sha256::Hash::engine();
    engine.input(hrp.as_bytes());
    engine.input(&packed[..bits / 8]);
    if !bits.is_multiple_of(8) {
        // The bits past the last value are padding, which is zero.
        engine.input(&[packed[bits / 8] & (0xff << (8 - bits % 8))]);
    }
    sha256::Hash::from_engine(engine).to_byte_array()
}

fn is_high_s(sig: &secp256k1::ecdsa::Signature) -> bool {
    let mut normalized = *sig;
    normalized.normalize_s();
    normalized != *sig
}

pub(crate) fn parse(s: &str) -> Result<Bolt11Invoice, Bolt11ParseError> {
    if s.len() > MAX_INVOICE_LEN {
        return Err(Bolt11ParseError::TooLong {
            len: s.len(),
            max: MAX_INVOICE_LEN,
        });
    }
    let b32::Decoded { hrp, data } = b32::decode(s)?;
    let (currency, amount) = hrp::parse_hrp(&hrp)?;
    let values = data.values();
    if values.len() < TIMESTAMP_LEN + SIGNATURE_LEN {
        return Err(Bolt11ParseError::TooShort);
    }
    let sig_start = values.len() - SIGNATURE_LEN;
    let timestamp = values.slice(0, TIMESTAMP_LEN).to_u64().unwrap_or(0);

    let mut payment_hash = None;
    let mut payment_secret = None;
    let mut description = None;
    let mut descriptions = 0usize;
    let mut payee_pub_key = None;
    let mut expiry = None;
    let mut min_final_cltv_expiry_delta = None;
    let mut fallbacks = Vec::new();
    let mut route_hints = Vec::new();
    let mut features = None;
    let mut payment_metadata = None;
    let mut other_fields = Vec::new();

    let mut pos = TIMESTAMP_LEN;
    while pos < sig_start {
        let t = values.get(pos);
        if pos + 3 > sig_start {
            return Err(Bolt11ParseError::FieldOverrun(char_of(t)));
        }
        let len = usize::from(values.get(pos + 1)) << 5 | usize::from(values.get(pos + 2));
        let start = pos + 3;
        let end = start + len;
        if end > sig_start {
            return Err(Bolt11ParseError::FieldOverrun(char_of(t)));
        }
        pos = end;
        let field_data = values.slice(start, len);
        let field =
            fields::decode(t, field_data).map_err(|error| Bolt11ParseError::InvalidField {
                field: char_of(t),
                error,
            })?;
        // Single-valued fields: the first valid one wins (BOLT 11: "SHOULD
        // use the first `p` field that it did NOT skip"); later ones are
        // kept with the skipped fields.
        let repeated = match field {
            Some(TaggedField::PaymentHash(h)) => set_once(&mut payment_hash, h),
            Some(TaggedField::PaymentSecret(s)) => set_once(&mut payment_secret, s),
            Some(TaggedField::Description(d)) => {
                descriptions += 1;
                set_once(&mut description, InvoiceDescription::Direct(d))
            }
            Some(TaggedField::DescriptionHash(h)) => {
                descriptions += 1;
                set_once(&mut description, InvoiceDescription::Hash(h))
            }
            Some(TaggedField::PayeePubKey(pk)) => set_once(&mut payee_pub_key, pk),
            Some(TaggedField::Expiry(x)) => set_once(&mut expiry, x),
            Some(TaggedField::MinFinalCltvExpiryDelta(c)) => {
                set_once(&mut min_final_cltv_expiry_delta, c)
            }
            Some(TaggedField::Features(f)) => set_once(&mut features, f),
            Some(TaggedField::PaymentMetadata(m)) => set_once(&mut payment_metadata, m),
            Some(TaggedField::Fallback(f)) => {
                fallbacks.push(f);
                false
            }
            Some(TaggedField::RouteHint(r)) => {
                route_hints.push(r);
                false
            }
            Some(TaggedField::Unknown(_)) | None => true,
        };
        if repeated {
            other_fields.push(RawTaggedField {
                tag: t,
                data: field_data.to_vec(),
            });
        }
    }

    // Semantic rules, before the costly signature check.
    let payment_hash = payment_hash.ok_or(Bolt11ParseError::MissingPaymentHash)?;
    let payment_secret = payment_secret.ok_or(Bolt11ParseError::MissingPaymentSecret)?;
    if descriptions > 1 {
        return Err(Bolt11ParseError::MultipleDescriptions);
    }
    let description = description.ok_or(Bolt11ParseError::MissingDescription)?;
    if let Some(f) = &features {
        check_features(f).map_err(Bolt11ParseError::Features)?;
    }

    // 104 values are exactly 65 bytes.
    let mut sig_bytes = [0u8; 65];
    values
        .slice(sig_start, SIGNATURE_LEN)
        .read_bytes(&mut sig_bytes);
    let recid = sig_bytes[64];
    let recovery_id = RecoveryId::from_i32(i32::from(recid))
        .map_err(|_| Bolt11ParseError::InvalidRecoveryId(recid))?;
    let signature = RecoverableSignature::from_compact(&sig_bytes[..64], recovery_id)
        .map_err(|_| Bolt11ParseError::MalformedSignature)?;
    let msg = Message::from_digest(signing_hash_packed(&hrp, data.as_bytes(), sig_start));
    let payee = match payee_pub_key {
        // BOLT 11: with a valid `n` field, verify against it instead of
        // recovering. libsecp256k1's verification accepts only low-S
        // signatures, which is what the spec asks for in this case.
        Some(pk) => {
            let standard = signature.to_standard();
            if SECP256K1.verify_ecdsa(&msg, &standard, &pk).is_err() {
                return Err(if is_high_s(&standard) {
                    Bolt11ParseError::NonCanonicalSignature
                } else {
                    Bolt11ParseError::InvalidSignature
                });
            }
            pk
        }
        // Recovery accepts high-S signatures, as the spec requires.
        None => SECP256K1
            .recover_ecdsa(&msg, &signature)
            .map_err(|_| Bolt11ParseError::SignatureNotRecoverable)?,
    };

    Ok(Bolt11Invoice {
        currency,
        amount,
        timestamp,
        payment_hash,
        payment_secret,
        description,
        payee_pub_key,
        expiry,
        min_final_cltv_expiry_delta,
        fallbacks,
        route_hints,
        features,
        payment_metadata,
        other_fields,
        signature,
        payee,
        data,
    })
}

/// Stores `v` if `slot` is empty; returns whether it was already taken.
fn set_once<T>(slot: &mut Option<T>, v: T) -> bool {
    if slot.is_some() {
        true
    } else {
        *slot = Some(v);
        false
    }
}
