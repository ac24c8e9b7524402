//! Offers (BOLT 12, "Offers"): the long-lived, unsigned precursor of an
//! invoice request, written `lno1...`.

use core::fmt;
use core::str::FromStr;

use super::fields::{unknown_required_bit, OfferFields};
use super::{check_ranges, merkle, string, Bolt12Error};
use crate::codec::Reader;
use crate::tlv::{TlvStreamReader, TlvStreamWriter};
use crate::types::ChainHash;

/// The TLV types an offer may hold.
pub const OFFER_TYPES: [core::ops::RangeInclusive<u64>; 2] =
    [1..=79, 1_000_000_000..=1_999_999_999];

/// A checked offer: its TLV bytes as written, and the fields read from
/// them.
///
/// ```
/// use lightning_wire::bolt12::{Offer, OfferFields};
/// use secp256k1::{PublicKey, SecretKey, SECP256K1};
///
/// let issuer = PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[7; 32]).unwrap());
/// let offer = Offer::new(OfferFields {
///     amount: Some(50_000),
///     description: Some("coffee".into()),
///     issuer_id: Some(issuer),
///     ..Default::default()
/// })
/// .unwrap();
/// let text = offer.to_string();
/// assert!(text.starts_with("lno1"));
/// assert_eq!(text.parse::<Offer>().unwrap(), offer);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    bytes: Vec<u8>,
    fields: OfferFields,
}

impl Offer {
    /// Builds an offer from its fields, applying the reader's rules to the
    /// result (so an offer we write is one every reader accepts).
    pub fn new(fields: OfferFields) -> Result<Offer, Bolt12Error> {
        let mut w = TlvStreamWriter::new();
        fields.put(&mut w);
        Offer::from_bytes(w.into_bytes())
    }

    /// Reads an offer's TLV stream, refusing what BOLT 12 tells a reader
    /// not to respond to:
    /// - a field outside types 1 to 79 and 1,000,000,000 to 1,999,999,999,
    ///   or an unknown even field;
    /// - an unknown even bit in `offer_features`;
    /// - `offer_chains` with no chain, or a length not a multiple of 32;
    /// - `offer_amount` without `offer_description`, `offer_currency`
    ///   without `offer_amount`, or an `offer_amount` of 0;
    /// - neither `offer_issuer_id` nor `offer_paths` (or `offer_paths`
    ///   holding no path, or a path of no hop);
    /// - text fields that are not UTF-8.
    ///
    /// Expiry and the chain are the caller's to check ([`Offer::is_expired`],
    /// [`Offer::supports_chain`]).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Offer, Bolt12Error> {
        check_ranges(&bytes, &OFFER_TYPES, None)?;
        let mut r = TlvStreamReader::parse(&mut Reader::new(&bytes))?;
        let fields = OfferFields::take(&mut r)?;
        r.finish()?;
        check_offer_fields(&fields)?;
        if fields.issuer_id.is_none() && fields.paths.is_none() {
            return Err(Bolt12Error::invalid(
                "neither offer_issuer_id nor offer_paths",
            ));
        }
        Ok(Offer { bytes, fields })
    }

    /// The fields.
    pub fn fields(&self) -> &OfferFields {
        &self.fields
    }

    /// The TLV stream, as read or written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The offer's id: the Merkle root of its fields, as Core Lightning
    /// names offers.
    pub fn id(&self) -> [u8; 32] {
        // A checked offer has at least one field.
        merkle::merkle_root(&self.bytes)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Whether `now` (seconds since 1970) is past `offer_absolute_expiry`
    /// (BOLT 12: the reader "MUST NOT respond to the offer").
    pub fn is_expired(&self, now: u64) -> bool {
        self.fields.absolute_expiry.is_some_and(|e| now > e)
    }

    /// Whether the offer is valid on `chain` (`offer_chains`, or bitcoin
    /// when absent).
    pub fn supports_chain(&self, chain: &ChainHash) -> bool {
        supports_chain(self.fields.chains.as_deref(), chain)
    }
}

pub(crate) fn supports_chain(chains: Option<&[ChainHash]>, chain: &ChainHash) -> bool {
    match chains {
        Some(c) => c.contains(chain),
        None => *chain == ChainHash::for_network(bitcoin::Network::Bitcoin),
    }
}

pub(crate) fn check_offer_fields(f: &OfferFields) -> Result<(), Bolt12Error> {
    if let Some(bit) = f
        .features
        .as_deref()
        .and_then(|b| unknown_required_bit(b, &[]))
    {
        return Err(Bolt12Error::UnknownRequiredFeature {
            field: "offer_features",
            bit,
        });
    }
    if f.chains.as_ref().is_some_and(Vec::is_empty) {
        return Err(Bolt12Error::invalid("offer_chains names no chain"));
    }
    if f.amount == Some(0) {
        return Err(Bolt12Error::invalid("offer_amount is 0"));
    }
    if f.amount.is_some() && f.description.is_none() {
        return Err(Bolt12Error::invalid(
            "offer_amount without offer_description",
        ));
    }
    if f.currency.is_some() && f.amount.is_none() {
        return Err(Bolt12Error::invalid("offer_currency without offer_amount"));
    }
    if f.paths.as_ref().is_some_and(Vec::is_empty) {
        return Err(Bolt12Error::invalid("offer_paths holds no path"));
    }
    Ok(())
}

impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&string::encode("lno", &self.bytes))
    }
}

impl FromStr for Offer {
    type Err = Bolt12Error;
    fn from_str(s: &str) -> Result<Offer, Bolt12Error> {
        Offer::from_bytes(string::decode(s, "lno")?)
    }
}
