//! Invoice requests (BOLT 12, "Invoice Requests"): a payer's signed
//! request for an invoice, carrying every field of the offer it answers,
//! written `lnr1...` when not sent in an onion message.

use core::fmt;
use core::str::FromStr;

use secp256k1::schnorr::Signature;
use secp256k1::Keypair;

use super::fields::{unknown_required_bit, InvreqFields, OfferFields};
use super::offer::{supports_chain, Offer};
use super::{check_ranges, merkle, string, Bolt12Error};
use crate::codec::Reader;
use crate::tlv::{TlvStreamReader, TlvStreamWriter};
use crate::types::ChainHash;

/// The non-signature TLV types an invoice request may hold.
pub const INVREQ_TYPES: [core::ops::RangeInclusive<u64>; 2] =
    [0..=159, 1_000_000_000..=2_999_999_999];

/// The message name its signature is tagged with.
pub const MESSAGE_NAME: &str = "invoice_request";

/// A checked, signature-verified invoice request.
///
/// ```
/// use lightning_wire::bolt12::{InvoiceRequest, InvreqFields, Offer, OfferFields};
/// use secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
///
/// let issuer = PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[7; 32]).unwrap());
/// let offer = Offer::new(OfferFields {
///     description: Some("tips".into()),
///     issuer_id: Some(issuer),
///     ..Default::default()
/// })
/// .unwrap();
/// let payer = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[9; 32]).unwrap());
/// let request = InvoiceRequest::for_offer(
///     &offer,
///     InvreqFields { metadata: Some(vec![1; 16]), amount: Some(21_000), ..Default::default() },
///     &payer,
/// )
/// .unwrap();
/// assert_eq!(request.to_string().parse::<InvoiceRequest>().unwrap(), request);
/// assert!(request.is_for_offer());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRequest {
    bytes: Vec<u8>,
    offer: OfferFields,
    fields: InvreqFields,
    signature: Option<Signature>,
}

impl InvoiceRequest {
    /// Answers `offer`: copies every field of the offer (unknown ones
    /// too), adds `fields` with `invreq_payer_id` set to `payer`'s key,
    /// and signs with it (BOLT 12, "Requirements for Invoice Requests",
    /// the writer). The result is read back with [`Self::from_bytes`], so
    /// a request the reader would refuse (no `invreq_metadata`, a missing
    /// amount, a quantity out of bounds) is an error here.
    pub fn for_offer(
        offer: &Offer,
        mut fields: InvreqFields,
        payer: &Keypair,
    ) -> Result<InvoiceRequest, Bolt12Error> {
        fields.payer_id = Some(payer.public_key());
        let mut w = TlvStreamWriter::new();
        fields.put(&mut w);
        let mut bytes = w.into_bytes();
        bytes.extend_from_slice(offer.as_bytes());
        let bytes = sort_stream(&bytes)?;
        let sig = merkle::sign(MESSAGE_NAME, "signature", &bytes, payer)?;
        InvoiceRequest::from_bytes(append_signature(bytes, &sig))
    }

    /// Reads and checks an invoice request (BOLT 12, the reader):
    /// - `invreq_payer_id` and `invreq_metadata` present;
    /// - non-signature fields only in 0 to 159 and 1,000,000,000 to
    ///   2,999,999,999, no unknown even field;
    /// - no unknown even bit in `invreq_features` (nor in
    ///   `offer_features`);
    /// - `signature` by `invreq_payer_id` correct, and present when the
    ///   request answers an offer;
    /// - no blinded path of 0 hops;
    /// - for an offer: `invreq_quantity` as `offer_quantity_max` allows,
    ///   `invreq_amount` present without `offer_amount`, and at least the
    ///   expected amount when `offer_amount` is in msat;
    /// - without an offer: no `offer_chains`, `offer_features` or
    ///   `offer_quantity_max`, and `invreq_amount` present;
    /// - `invreq_bip_353_name` only of `0-9a-zA-Z-_.`.
    ///
    /// Whether the offer fields match one of our offers, the chain and
    /// how it arrived are the issuer's to check.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<InvoiceRequest, Bolt12Error> {
        check_ranges(&bytes, &INVREQ_TYPES, Some(merkle::SIGNATURE_TYPES))?;
        let mut r = TlvStreamReader::parse(&mut Reader::new(&bytes))?;
        let offer = OfferFields::take(&mut r)?;
        let fields = InvreqFields::take(&mut r)?;
        let signature = take_signature(&mut r)?;
        r.finish()?;
        let req = InvoiceRequest {
            bytes,
            offer,
            fields,
            signature,
        };
        req.check()?;
        Ok(req)
    }

    fn check(&self) -> Result<(), Bolt12Error> {
        let (o, f) = (&self.offer, &self.fields);
        let payer_id = f
            .payer_id
            .ok_or_else(|| Bolt12Error::invalid("no invreq_payer_id"))?;
        if f.metadata.is_none() {
            return Err(Bolt12Error::invalid("no invreq_metadata"));
        }
        for (field, features) in [
            ("invreq_features", &f.features),
            ("offer_features", &o.features),
        ] {
            if let Some(bit) = features
                .as_deref()
                .and_then(|b| unknown_required_bit(b, &[]))
            {
                return Err(Bolt12Error::UnknownRequiredFeature { field, bit });
            }
        }
        let signed = match &self.signature {
            Some(sig) => merkle::verify(
                MESSAGE_NAME,
                "signature",
                &self.bytes,
                sig,
                &payer_id.x_only_public_key().0,
            ),
            None => !self.is_for_offer(),
        };
        if !signed {
            return Err(Bolt12Error::BadSignature);
        }
        if f.paths.as_ref().is_some_and(Vec::is_empty) {
            return Err(Bolt12Error::invalid("invreq_paths holds no path"));
        }
        if self.is_for_offer() {
            match (o.quantity_max, f.quantity) {
                (Some(_), None) => return Err(Bolt12Error::invalid("no invreq_quantity")),
                (Some(max), Some(q)) if q == 0 || (max != 0 && q > max) => {
                    return Err(Bolt12Error::invalid("invreq_quantity out of bounds"))
                }
                (None, Some(_)) => {
                    return Err(Bolt12Error::invalid(
                        "invreq_quantity without offer_quantity_max",
                    ))
                }
                _ => {}
            }
            match (o.amount, f.amount) {
                (None, None) => return Err(Bolt12Error::invalid("no invreq_amount")),
                (Some(_), Some(paid)) => {
                    if let Some(expected) = self.expected_amount_msat() {
                        if paid < expected {
                            return Err(Bolt12Error::invalid(
                                "invreq_amount below the expected amount",
                            ));
                        }
                    }
                }
                _ => {}
            }
        } else {
            if o.chains.is_some() || o.features.is_some() || o.quantity_max.is_some() {
                return Err(Bolt12Error::invalid(
                    "offer_chains, offer_features or offer_quantity_max without an offer",
                ));
            }
            if f.amount.is_none() {
                return Err(Bolt12Error::invalid("no invreq_amount"));
            }
        }
        if let Some(n) = &f.bip_353_name {
            let ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
            if !n.name.iter().all(ok) || !n.domain.iter().all(ok) {
                return Err(Bolt12Error::invalid(
                    "invreq_bip_353_name has a forbidden byte",
                ));
            }
        }
        if f.amount == Some(0) {
            return Err(Bolt12Error::invalid("invreq_amount is 0"));
        }
        Ok(())
    }

    /// Whether it answers an offer (`offer_issuer_id` or `offer_paths`
    /// present).
    pub fn is_for_offer(&self) -> bool {
        self.offer.issuer_id.is_some() || self.offer.paths.is_some()
    }

    /// The *expected amount* in msat: `offer_amount` times
    /// `invreq_quantity` (1 if absent), when the offer is priced in msat;
    /// `None` when it names a currency (converting is the issuer's) or
    /// has no amount, or on overflow.
    pub fn expected_amount_msat(&self) -> Option<u64> {
        if self.offer.currency.is_some() {
            return None;
        }
        self.offer
            .amount?
            .checked_mul(self.fields.quantity.unwrap_or(1))
    }

    /// The amount to invoice: `invreq_amount`, else the expected amount.
    pub fn amount_msat(&self) -> Option<u64> {
        self.fields.amount.or_else(|| self.expected_amount_msat())
    }

    /// The offer's fields, as copied into the request.
    pub fn offer_fields(&self) -> &OfferFields {
        &self.offer
    }

    /// The request's own fields.
    pub fn fields(&self) -> &InvreqFields {
        &self.fields
    }

    /// The payer's key (`invreq_payer_id`, always present once checked).
    pub fn payer_id(&self) -> secp256k1::PublicKey {
        // `check` refused a request without it.
        self.fields.payer_id.expect("checked on reading")
    }

    /// The signature, if any.
    pub fn signature(&self) -> Option<&Signature> {
        self.signature.as_ref()
    }

    /// The TLV stream as read or written, signature included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the request is for `chain` (`invreq_chain`, or bitcoin when
    /// absent).
    pub fn is_for_chain(&self, chain: &ChainHash) -> bool {
        match &self.fields.chain {
            Some(c) => c == chain,
            None => supports_chain(None, chain),
        }
    }

    /// The offer part of the request: the records of types 1 to 79 and
    /// 1,000,000,000 to 1,999,999,999, exactly as the payer copied them.
    pub fn offer_bytes(&self) -> Vec<u8> {
        super::filter_records(&self.bytes, &super::offer::OFFER_TYPES)
    }
}

/// Takes the `signature` (type 240) record: a 64-byte BIP 340 signature.
pub(crate) fn take_signature(
    r: &mut TlvStreamReader<'_>,
) -> Result<Option<Signature>, Bolt12Error> {
    match r.take_raw(240) {
        None => Ok(None),
        Some(v) => Signature::from_slice(v)
            .map(Some)
            .map_err(|_| Bolt12Error::invalid("signature is not a BIP 340 signature")),
    }
}

/// Appends a `signature` record to a stream whose types are all below 240.
pub(crate) fn append_signature(mut bytes: Vec<u8>, sig: &Signature) -> Vec<u8> {
    let mut w = TlvStreamWriter::new();
    w.put_raw(240, sig.as_ref());
    w.write(&mut bytes);
    bytes
}

/// Re-writes a concatenation of TLV records in increasing type order.
pub(crate) fn sort_stream(bytes: &[u8]) -> Result<Vec<u8>, Bolt12Error> {
    let mut recs = merkle::records(bytes)?;
    recs.sort_by_key(|(t, _)| *t);
    if recs.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Bolt12Error::invalid("a field appears twice"));
    }
    Ok(recs.iter().flat_map(|(_, b)| b.iter().copied()).collect())
}

impl fmt::Display for InvoiceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&string::encode("lnr", &self.bytes))
    }
}

impl FromStr for InvoiceRequest {
    type Err = Bolt12Error;
    fn from_str(s: &str) -> Result<InvoiceRequest, Bolt12Error> {
        InvoiceRequest::from_bytes(string::decode(s, "lnr")?)
    }
}
