//! Invoices (BOLT 12, "Invoices"): the issuer's signed answer to an
//! invoice request, paid through its blinded paths, written `lni1...`
//! when not sent in an onion message.

use core::fmt;
use core::str::FromStr;

use bitcoin::hashes::sha256;
use secp256k1::schnorr::Signature;
use secp256k1::{Keypair, PublicKey};

use super::fields::{unknown_required_bit, InvoiceFields, InvreqFields, OfferFields};
use super::invoice_request::{append_signature, sort_stream, take_signature, InvoiceRequest};
use super::paths::{BlindedPath, BlindedPayInfo};
use super::{filter_records, merkle, string, Bolt12Error};
use crate::codec::Reader;
use crate::tlv::{TlvStreamReader, TlvStreamWriter};

/// The message name its signature is tagged with.
pub const MESSAGE_NAME: &str = "invoice";

/// The default `invoice_relative_expiry`: 7200 seconds.
pub const DEFAULT_RELATIVE_EXPIRY: u32 = 7200;

/// The invoice feature bits we understand: MPP compulsory (16) and
/// optional (17).
pub const KNOWN_INVOICE_FEATURES: [usize; 2] = [16, 17];

/// A checked, signature-verified BOLT 12 invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bolt12Invoice {
    bytes: Vec<u8>,
    offer: OfferFields,
    invreq: InvreqFields,
    fields: InvoiceFields,
    signature: Signature,
}

impl Bolt12Invoice {
    /// Answers `request`: copies every non-signature field of the request
    /// (unknown ones too), adds `fields` with `invoice_node_id` set to
    /// `node`'s key, and signs with it (BOLT 12, "Invoices", the writer).
    /// The caller sets `invoice_amount` (the request's `invreq_amount`, or
    /// the expected amount), `invoice_created_at`, the payment hash, the
    /// paths and one `blinded_payinfo` per path. The result is read back
    /// with [`Self::from_bytes`] and checked against the request with
    /// [`Self::check_answers`]. A signer that keeps the key elsewhere uses
    /// [`UnsignedBolt12Invoice`].
    pub fn for_request(
        request: &InvoiceRequest,
        fields: InvoiceFields,
        node: &Keypair,
    ) -> Result<Bolt12Invoice, Bolt12Error> {
        let unsigned = UnsignedBolt12Invoice::new(request, fields, node.public_key())?;
        let sig = secp256k1::SECP256K1
            .sign_schnorr_no_aux_rand(&secp256k1::Message::from_digest(unsigned.digest()), node);
        unsigned.sign(sig, request)
    }

    /// Reads and checks an invoice (BOLT 12, "Invoices", the reader):
    /// `invoice_amount`, `invoice_created_at`, `invoice_payment_hash` and
    /// `invoice_node_id` present; `invoice_paths` present and not empty,
    /// no path of 0 hops; `invoice_blindedpay` with exactly one
    /// `blinded_payinfo` per path, at least one of them with no unknown
    /// even feature; no unknown even bit in `invoice_features`; exactly
    /// one `signature`, by `invoice_node_id`, correct; no unknown even
    /// field. Expiry, the chain and the match with our request are
    /// checked by [`Self::is_expired`] and [`Self::check_answers`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Bolt12Invoice, Bolt12Error> {
        let mut r = TlvStreamReader::parse(&mut Reader::new(&bytes))?;
        let offer = OfferFields::take(&mut r)?;
        let invreq = InvreqFields::take(&mut r)?;
        let fields = InvoiceFields::take(&mut r)?;
        let signature = take_signature(&mut r)?;
        let unknown = r.finish()?;
        if unknown
            .0
            .iter()
            .any(|rec| merkle::SIGNATURE_TYPES.contains(&rec.r#type))
        {
            return Err(Bolt12Error::invalid("more than one signature field"));
        }
        let signature = signature.ok_or(Bolt12Error::BadSignature)?;
        for (name, present) in [
            ("invoice_amount", fields.amount.is_some()),
            ("invoice_created_at", fields.created_at.is_some()),
            ("invoice_payment_hash", fields.payment_hash.is_some()),
            ("invoice_node_id", fields.node_id.is_some()),
        ] {
            if !present {
                return Err(Bolt12Error::invalid(format!("no {name}")));
            }
        }
        let paths = fields.paths.as_deref().unwrap_or_default();
        if paths.is_empty() {
            return Err(Bolt12Error::invalid("no invoice_paths"));
        }
        let payinfo = fields
            .blindedpay
            .as_deref()
            .ok_or_else(|| Bolt12Error::invalid("no invoice_blindedpay"))?;
        if payinfo.len() != paths.len() {
            return Err(Bolt12Error::invalid(
                "invoice_blindedpay does not hold one payinfo per path",
            ));
        }
        if let Some(bit) = fields
            .features
            .as_deref()
            .and_then(|b| unknown_required_bit(b, &KNOWN_INVOICE_FEATURES))
        {
            return Err(Bolt12Error::UnknownRequiredFeature {
                field: "invoice_features",
                bit,
            });
        }
        let invoice = Bolt12Invoice {
            bytes,
            offer,
            invreq,
            fields,
            signature,
        };
        if invoice.usable_paths().next().is_none() {
            return Err(Bolt12Error::invalid(
                "every path requires a feature we do not know",
            ));
        }
        if !merkle::verify(
            MESSAGE_NAME,
            "signature",
            &invoice.bytes,
            &invoice.signature,
            &invoice.node_id().x_only_public_key().0,
        ) {
            return Err(Bolt12Error::BadSignature);
        }
        Ok(invoice)
    }

    /// Checks that the invoice answers `request` (BOLT 12, the reader of
    /// an invoice that answers an invoice request): every field in types 0
    /// to 159 and 1,000,000,000 to 2,999,999,999 exactly as in the
    /// request; `invoice_node_id` equal to `offer_issuer_id` when the
    /// offer names one (else, with `offer_paths`, equal to the final
    /// blinded node id of one of them); `invoice_amount` equal to
    /// `invreq_amount` when the request named one.
    pub fn check_answers(&self, request: &InvoiceRequest) -> Result<(), Bolt12Error> {
        let ours = filter_records(request.as_bytes(), &super::invoice_request::INVREQ_TYPES);
        let theirs = filter_records(&self.bytes, &super::invoice_request::INVREQ_TYPES);
        if ours != theirs {
            return Err(Bolt12Error::Mismatch(
                "the request's fields are not copied exactly".into(),
            ));
        }
        let node_id = self.node_id();
        if let Some(issuer) = self.offer.issuer_id {
            if node_id != issuer {
                return Err(Bolt12Error::Mismatch(
                    "invoice_node_id is not offer_issuer_id".into(),
                ));
            }
        } else if let Some(paths) = &self.offer.paths {
            if !paths
                .iter()
                .any(|p| p.final_blinded_node_id() == Some(node_id))
            {
                return Err(Bolt12Error::Mismatch(
                    "invoice_node_id is not the end of an offer path".into(),
                ));
            }
        }
        if let Some(asked) = request.fields().amount {
            if self.fields.amount != Some(asked) {
                return Err(Bolt12Error::Mismatch(
                    "invoice_amount is not invreq_amount".into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether `now` (seconds since 1970) is past `invoice_created_at`
    /// plus `invoice_relative_expiry` (7200 when absent): the reader
    /// "MUST reject the invoice".
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.expires_at()
    }

    /// When the invoice expires, in seconds since 1970.
    pub fn expires_at(&self) -> u64 {
        self.created_at().saturating_add(u64::from(
            self.fields
                .relative_expiry
                .unwrap_or(DEFAULT_RELATIVE_EXPIRY),
        ))
    }

    /// The paths a payer may use, with their payinfo, in the invoice's
    /// order of preference: those whose payinfo `features` has no unknown
    /// even bit.
    pub fn usable_paths(&self) -> impl Iterator<Item = (&BlindedPath, &BlindedPayInfo)> {
        let paths = self.fields.paths.as_deref().unwrap_or_default();
        let info = self.fields.blindedpay.as_deref().unwrap_or_default();
        paths
            .iter()
            .zip(info)
            .filter(|(_, i)| unknown_required_bit(&i.features, &[]).is_none())
    }

    /// Whether the payer may split the payment (`invoice_features` bit 16
    /// or 17): BOLT 12 "MUST NOT use multiple parts" otherwise.
    pub fn allows_mpp(&self) -> bool {
        self.fields
            .features
            .as_deref()
            .is_some_and(|f| super::fields::feature_bits(f).any(|b| b == 16 || b == 17))
    }

    /// `invoice_amount` in msat.
    pub fn amount_msat(&self) -> u64 {
        self.fields.amount.unwrap_or_default()
    }

    /// `invoice_created_at`.
    pub fn created_at(&self) -> u64 {
        self.fields.created_at.unwrap_or_default()
    }

    /// `invoice_payment_hash`.
    pub fn payment_hash(&self) -> sha256::Hash {
        // Checked present on reading.
        self.fields
            .payment_hash
            .unwrap_or_else(|| sha256::Hash::const_hash(&[]))
    }

    /// `invoice_node_id`.
    pub fn node_id(&self) -> PublicKey {
        // Checked present on reading.
        self.fields.node_id.expect("checked on reading")
    }

    /// The offer fields copied into the invoice.
    pub fn offer_fields(&self) -> &OfferFields {
        &self.offer
    }

    /// The request fields copied into the invoice.
    pub fn invreq_fields(&self) -> &InvreqFields {
        &self.invreq
    }

    /// The invoice's own fields.
    pub fn fields(&self) -> &InvoiceFields {
        &self.fields
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The TLV stream, signature included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// An invoice before its signature: the bytes `invoice_node_id` signs
/// and the digest of BOLT 12 "Signature Calculation", for a signer that
/// keeps the node key out of the caller's reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedBolt12Invoice {
    bytes: Vec<u8>,
    digest: [u8; 32],
}

impl UnsignedBolt12Invoice {
    /// The answer to `request` with `fields`, `invoice_node_id` set to
    /// `node_id` (see [`Bolt12Invoice::for_request`]).
    pub fn new(
        request: &InvoiceRequest,
        mut fields: InvoiceFields,
        node_id: PublicKey,
    ) -> Result<UnsignedBolt12Invoice, Bolt12Error> {
        fields.node_id = Some(node_id);
        let mut w = TlvStreamWriter::new();
        fields.put(&mut w);
        let mut bytes = w.into_bytes();
        bytes.extend(filter_records(
            request.as_bytes(),
            &super::invoice_request::INVREQ_TYPES,
        ));
        let bytes = sort_stream(&bytes)?;
        let root = merkle::merkle_root(&bytes)?
            .ok_or_else(|| Bolt12Error::invalid("an invoice with no field"))?;
        let digest = merkle::signature_digest(MESSAGE_NAME, "signature", &root);
        Ok(UnsignedBolt12Invoice { bytes, digest })
    }

    /// The 32 bytes `invoice_node_id` signs with BIP 340:
    /// `H("lightninginvoicesignature", merkle_root)`.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The TLV stream without its signature.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Adds `sig` and reads the result back, checked as any invoice and
    /// against `request`.
    pub fn sign(
        self,
        sig: Signature,
        request: &InvoiceRequest,
    ) -> Result<Bolt12Invoice, Bolt12Error> {
        let invoice = Bolt12Invoice::from_bytes(append_signature(self.bytes, &sig))?;
        invoice.check_answers(request)?;
        Ok(invoice)
    }
}

impl fmt::Display for Bolt12Invoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&string::encode("lni", &self.bytes))
    }
}

impl FromStr for Bolt12Invoice {
    type Err = Bolt12Error;
    fn from_str(s: &str) -> Result<Bolt12Invoice, Bolt12Error> {
        Bolt12Invoice::from_bytes(string::decode(s, "lni")?)
    }
}
