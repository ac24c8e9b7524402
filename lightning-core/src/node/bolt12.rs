//! BOLT 12 offers at the node: issuing offers, requesting invoices for
//! offers, answering requests with invoices paid through our blinded
//! paths, and paying such invoices.
//!
//! - **Offers** ([`Node::create_offer`]) name us as `offer_issuer_id` and
//!   carry `offer_metadata` = a 16-byte nonce and a 16-byte tag,
//!   HMAC-SHA256 under a key only our node key can derive, over the nonce
//!   and every other record of the offer. An invoice request is for one of
//!   our offers exactly when its offer records (types 1 to 79 and
//!   1,000,000,000 to 1,999,999,999) carry a tag that verifies: the node
//!   keeps no offer state, and a request whose offer fields differ from
//!   ours in any byte, unknown ones included, is refused (BOLT 12: "MUST
//!   reject the invoice request if the offer fields do not exactly match a
//!   valid, unexpired offer").
//! - **Requests** ([`Node::request_invoice`]): `invreq_metadata` is 32
//!   random bytes and `invreq_payer_id` a key derived from them and a
//!   secret of our node key's, so the payer key is remembered without
//!   storing it ("MUST remember the secret key"), and an invoice can be
//!   checked to answer a request we made.
//! - **Invoices** ([`Node::respond_to_invoice_request`]): a new payment
//!   hash held as one of our invoices (the same record, preimage and
//!   `payment_secret` as a BOLT 11 invoice, which `listinvoices` shows),
//!   our blinded paths for it (`create_blinded_payment_paths`: the
//!   `path_id` is the payment secret), signed by the node key with BIP 340
//!   through [`NodeSigner::sign_bolt12_invoice`](crate::keys::NodeSigner::sign_bolt12_invoice).
//! - **Paying** ([`Node::pay_bolt12_invoice`]): the invoice must answer
//!   our request, be unexpired and for our chain; its amount must be what
//!   we asked (`invreq_amount`) or the offer's price; it is paid over its
//!   usable paths, in one part unless it sets the MPP feature.
//!
//! Offers carry up to 2 `offer_paths` through our connected channel peers
//! (and still name us as `offer_issuer_id`), so a payer that is not our
//! peer reaches us. Requests and invoices travel in onion messages
//! (`offers_flow`, [`Node::pay_offer`]); the functions here also serve a
//! host that carries them itself (as `lnr1...` and `lni1...` strings).

use bitcoin::hashes::{sha256, Hash, HashEngine, Hmac, HmacEngine};
use bitcoin::secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
use lightning_router::{BlindedHop, BlindedPayInfo as RouterPayInfo, BlindedPaymentPath, NodeId};
use lightning_wire::bolt12::{
    BlindedPath, BlindedPayInfo, Bolt12Invoice, IntroductionNode, InvoiceError, InvoiceFields,
    InvoiceRequest, InvreqFields, Offer, OfferFields, OnionMsgHop, UnsignedBolt12Invoice,
    DEFAULT_RELATIVE_EXPIRY, OFFER_TYPES,
};
use lightning_wire::types::ChainHash;

use super::events::{PaymentHash, PaymentId};
use super::pay_options::PayOptions;
use super::{Node, NodeError};
use crate::amount::Msat;

/// What [`Node::create_offer`] puts in an offer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferParams {
    /// `offer_amount` in msat, per item; `None` lets the payer choose.
    pub amount_msat: Option<Msat>,
    /// `offer_description` (required with an amount).
    pub description: Option<String>,
    /// `offer_issuer`: who the payer is paying.
    pub issuer: Option<String>,
    /// `offer_absolute_expiry`, seconds since 1970.
    pub absolute_expiry: Option<u64>,
    /// `offer_quantity_max`: `Some(0)` for any quantity.
    pub quantity_max: Option<u64>,
}

/// What [`Node::request_invoice`] asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceRequestParams {
    /// `invreq_amount`: required when the offer has no amount; otherwise
    /// at least the offer's price (a tip above it is allowed).
    pub amount_msat: Option<Msat>,
    /// `invreq_quantity`, when the offer sets `offer_quantity_max`.
    pub quantity: Option<u64>,
    /// `invreq_payer_note`.
    pub payer_note: Option<String>,
}

/// How many of our blinded paths an invoice carries at most.
const INVOICE_PATHS: usize = 3;

/// How many onion message paths an offer carries at most.
const OFFER_PATHS: usize = 2;

/// Length of the nonce and of the tag in our `offer_metadata`.
const OFFER_NONCE_LEN: usize = 16;
const OFFER_TAG_LEN: usize = 16;

impl Node {
    /// Issues an offer for us (BOLT 12 "Offers", the writer): issuer id
    /// our node id, `offer_chains` only off mainnet, and `offer_metadata`
    /// that lets us recognise our own offers later without storing them.
    ///
    /// Refused for an amount without a description (BOLT 12: "MUST set
    /// `offer_description`" with an amount), an amount of 0 and a quantity
    /// limit with no amount rule to apply it to.
    ///
    /// ```no_run
    /// # use lightning_core::node::{Node, NodeError, OfferParams};
    /// # use lightning_core::Msat;
    /// # fn f(node: &mut Node) -> Result<(), NodeError> {
    /// let offer = node.create_offer(OfferParams {
    ///     amount_msat: Some(Msat(25_000_000)),
    ///     description: Some("a book".into()),
    ///     ..Default::default()
    /// })?;
    /// println!("{offer}"); // lno1...
    /// # Ok(()) }
    /// ```
    pub fn create_offer(&mut self, params: OfferParams) -> Result<Offer, NodeError> {
        let chain = self.chain_hash();
        let mut fields = OfferFields {
            chains: (chain != ChainHash::for_network(bitcoin::Network::Bitcoin))
                .then(|| vec![chain]),
            amount: params.amount_msat.map(|a| a.0),
            description: params.description,
            issuer: params.issuer,
            absolute_expiry: params.absolute_expiry,
            quantity_max: params.quantity_max,
            issuer_id: Some(self.node_id()),
            ..OfferFields::default()
        };
        let nonce: [u8; OFFER_NONCE_LEN] = self.keys_random_16();
        // Paths through our channel peers, so a payer that is not our peer
        // reaches us (BOLT 12: a node reachable only by private channels
        // "MUST include `offer_paths`"); our hop's `path_id` binds a
        // request to this offer's nonce (`offers_flow`).
        if self
            .channels
            .values()
            .any(|e| self.is_connected(&e.counterparty))
        {
            let path_id = self.offer_path_id(&nonce)?;
            fields.paths = Some(self.onion_message_paths_to_us(&path_id, OFFER_PATHS)?);
        }
        // The tag covers every other record: write them once without it.
        let bare = Offer::new(fields.clone()).map_err(|e| NodeError::Invoice(e.to_string()))?;
        let tag = self.offer_tag(&nonce, bare.as_bytes())?;
        fields.metadata = Some([nonce.as_slice(), &tag].concat());
        Offer::new(fields).map_err(|e| NodeError::Invoice(e.to_string()))
    }

    /// Stops answering invoice requests for `offer`, one of ours, until
    /// [`Node::enable_offer`] (Core Lightning's `disableoffer`): they get an
    /// `invoice_error`.
    /// Invoices already made stay payable until they expire. The choice is
    /// a record (`offers/disabled/<offer id>`) written before this returns
    /// (with async persistence: once the pending writes complete).
    /// Returns `false` when the offer was disabled already; refused when
    /// the offer is not ours.
    ///
    /// ```no_run
    /// # use lightning_core::node::{Node, NodeError, OfferParams};
    /// # fn f(node: &mut Node) -> Result<(), NodeError> {
    /// let offer = node.create_offer(OfferParams::default())?;
    /// assert!(node.disable_offer(&offer)?);
    /// assert!(node.is_offer_disabled(&offer.id()));
    /// # Ok(()) }
    /// ```
    pub fn disable_offer(&mut self, offer: &Offer) -> Result<bool, NodeError> {
        self.check_our_offer(offer)?;
        let id = offer.id();
        if self.offers.disabled.contains(&id) {
            return Ok(false);
        }
        self.writer
            .write_record(&super::records::disabled_offer_key(&id), vec![1])?;
        self.offers.disabled.insert(id);
        self.finish()?;
        Ok(true)
    }

    /// Answers invoice requests for `offer`, one of ours, again after
    /// [`Node::disable_offer`] (Core Lightning's `enableoffer`): the
    /// record is removed before this returns (with async persistence: once
    /// the pending writes complete). Returns `false` when the offer was
    /// not disabled; refused when the offer is not ours.
    ///
    /// ```no_run
    /// # use lightning_core::node::{Node, NodeError, OfferParams};
    /// # fn f(node: &mut Node) -> Result<(), NodeError> {
    /// let offer = node.create_offer(OfferParams::default())?;
    /// assert!(!node.enable_offer(&offer)?);
    /// node.disable_offer(&offer)?;
    /// assert!(node.enable_offer(&offer)?);
    /// assert!(!node.is_offer_disabled(&offer.id()));
    /// # Ok(()) }
    /// ```
    pub fn enable_offer(&mut self, offer: &Offer) -> Result<bool, NodeError> {
        self.check_our_offer(offer)?;
        let id = offer.id();
        if !self.offers.disabled.contains(&id) {
            return Ok(false);
        }
        self.writer
            .remove_after_writes(super::records::disabled_offer_key(&id));
        self.offers.disabled.remove(&id);
        self.finish()?;
        Ok(true)
    }

    /// Refuses an offer this node did not make.
    fn check_our_offer(&self, offer: &Offer) -> Result<(), NodeError> {
        if offer.fields().issuer_id != Some(self.node_id()) || !self.is_our_offer(offer.as_bytes())
        {
            return Err(NodeError::Invoice("not an offer of this node".into()));
        }
        Ok(())
    }

    /// Whether our offer `offer_id` ([`Offer::id`]) was disabled.
    pub fn is_offer_disabled(&self, offer_id: &[u8; 32]) -> bool {
        self.offers.disabled.contains(offer_id)
    }

    /// Requests an invoice for `offer` (BOLT 12 "Invoice Requests", the
    /// writer): every offer field copied, `invreq_metadata` 32 random
    /// bytes, `invreq_payer_id` derived from them (see the module), signed
    /// by that key. The host sends it to the offer's issuer and hands the
    /// answer to [`Node::pay_bolt12_invoice`] with this request.
    ///
    /// Refused when the offer has expired, is not for our chain, names an
    /// unknown required feature (checked when it was read), prices in a
    /// currency (we do not convert) without an amount given, or when the
    /// amount or quantity break the offer's rules.
    pub fn request_invoice(
        &mut self,
        offer: &Offer,
        params: InvoiceRequestParams,
        now: std::time::Duration,
    ) -> Result<InvoiceRequest, NodeError> {
        let chain = self.chain_hash();
        if offer.is_expired(now.as_secs()) {
            return Err(NodeError::Invoice("the offer has expired".into()));
        }
        if !offer.supports_chain(&chain) {
            return Err(NodeError::Invoice("the offer is for another chain".into()));
        }
        if offer.fields().currency.is_some() && params.amount_msat.is_none() {
            return Err(NodeError::Invoice(
                "the offer is priced in a currency: give the amount in msat".into(),
            ));
        }
        let metadata = self.keys_random();
        let payer = self.payer_keypair(&metadata)?;
        let fields = InvreqFields {
            metadata: Some(metadata.to_vec()),
            chain: (chain != ChainHash::for_network(bitcoin::Network::Bitcoin)).then_some(chain),
            amount: params.amount_msat.map(|a| a.0),
            quantity: params.quantity,
            payer_note: params.payer_note,
            ..InvreqFields::default()
        };
        InvoiceRequest::for_offer(offer, fields, &payer)
            .map_err(|e| NodeError::Invoice(format!("invoice request: {e}")))
    }

    /// Answers an invoice request for one of our offers (BOLT 12, the
    /// reader of `invoice_request` and the writer of `invoice`), or says
    /// why not as an [`InvoiceError`] for the payer.
    ///
    /// Checked: the offer records are one of our offers byte for byte
    /// (`offer_metadata`'s tag), unexpired, and name us; the request is for
    /// our chain. The invoice's amount is `invreq_amount` or the expected
    /// amount (the offer's amount times the quantity); a new payment hash
    /// is held as one of our invoices for that amount, expiring with the
    /// BOLT 12 default of 7200 s; the invoice carries up to 3 of our
    /// blinded paths and allows MPP.
    pub fn respond_to_invoice_request(
        &mut self,
        request: &InvoiceRequest,
        now: std::time::Duration,
    ) -> Result<Bolt12Invoice, InvoiceError> {
        let offer = request.offer_fields();
        if offer.issuer_id != Some(self.node_id()) {
            return Err(InvoiceError::new("not an offer of this node").with_field(22, None));
        }
        let offer_bytes = request.offer_bytes();
        if !self.is_our_offer(&offer_bytes) {
            return Err(InvoiceError::new("unknown offer").with_field(4, None));
        }
        if self.offers.disabled.contains(&offer_id_of(&offer_bytes)) {
            return Err(InvoiceError::new("offer no longer available"));
        }
        if offer.absolute_expiry.is_some_and(|e| now.as_secs() > e) {
            return Err(InvoiceError::new("offer expired").with_field(14, None));
        }
        if !request.is_for_chain(&self.chain_hash()) {
            return Err(InvoiceError::new("unsupported chain").with_field(80, None));
        }
        let Some(amount) = request.amount_msat() else {
            return Err(InvoiceError::new("no amount").with_field(82, None));
        };
        let description = offer.description.clone().unwrap_or_default();
        let expiry = std::time::Duration::from_secs(u64::from(DEFAULT_RELATIVE_EXPIRY));
        let internal = self
            .create_invoice_record(
                Some(Msat(amount)),
                &lightning_wire::bolt11::InvoiceDescription::Direct(description),
                expiry,
                now,
                Some(offer_id_of(&offer_bytes)),
            )
            .map_err(|e| InvoiceError::new(format!("cannot hold a payment: {e}")))?;
        let hash = *internal.payment_hash();
        let paths = self
            .create_blinded_payment_paths(&hash, INVOICE_PATHS)
            .map_err(|e| InvoiceError::new(format!("no path to us: {e}")))?;
        let (wire_paths, infos) = paths.into_iter().map(wire_path).unzip();
        let fields = InvoiceFields {
            paths: Some(wire_paths),
            blindedpay: Some(infos),
            created_at: Some(now.as_secs()),
            payment_hash: Some(sha256::Hash::from_byte_array(hash.0)),
            amount: Some(amount),
            // MPP/optional (bit 17): our receiver takes parts.
            features: Some(vec![0x02, 0x00, 0x00]),
            ..InvoiceFields::default()
        };
        let unsigned = UnsignedBolt12Invoice::new(request, fields, self.node_id())
            .map_err(|e| InvoiceError::new(format!("building the invoice: {e}")))?;
        let sig = self
            .node_signer
            .sign_bolt12_invoice(&unsigned)
            .map_err(|e| InvoiceError::new(format!("signing the invoice: {e}")))?;
        unsigned
            .sign(sig, request)
            .map_err(|e| InvoiceError::new(format!("our invoice does not check: {e}")))
    }

    /// Pays a BOLT 12 invoice that answers `request`, one of ours (BOLT 12
    /// "Invoices", the reader): refused when it does not answer it
    /// ([`Bolt12Invoice::check_answers`]), the request is not one we made,
    /// it has expired, is for another chain, or asks more than the
    /// request's amount (the amount we authorised). Paid over its usable
    /// paths as [`Node::pay_blinded_paths`] does, in one part unless the
    /// invoice sets MPP (bit 16 or 17); a path whose introduction node is
    /// a channel end we cannot find in the graph is left out.
    pub fn pay_bolt12_invoice(
        &mut self,
        invoice: &Bolt12Invoice,
        request: &InvoiceRequest,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.check_bolt12_invoice(invoice, request, now)?;
        self.pay_checked_bolt12_invoice(invoice, None, now)
    }

    /// Pays a BOLT 12 invoice fetched earlier ([`Node::fetch_offer_invoice`],
    /// or any request of ours), when only the invoice is at hand: the
    /// caller, who read its amount, authorises it. Refused unless the
    /// invoice answers a request this node made (its `invreq_payer_id` is
    /// the key our `invreq_metadata` derives, which only our node key
    /// gives), is unexpired and is for our chain; its signature was checked
    /// when it was read. Paid as [`Node::pay_bolt12_invoice`] pays.
    ///
    /// ```no_run
    /// # use lightning_core::node::{Node, NodeError};
    /// # fn f(node: &mut Node, now: std::time::Duration) -> Result<(), NodeError> {
    /// let invoice: lightning_wire::bolt12::Bolt12Invoice =
    ///     "lni1...".parse().map_err(|e| NodeError::Invoice(format!("{e}")))?;
    /// let id = node.pay_fetched_bolt12_invoice(&invoice, now)?;
    /// # Ok(()) }
    /// ```
    pub fn pay_fetched_bolt12_invoice(
        &mut self,
        invoice: &Bolt12Invoice,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.pay_fetched_bolt12_invoice_with(invoice, &PayOptions::default(), now)
    }

    /// [`Node::pay_fetched_bolt12_invoice`] with the caller's cap on this
    /// payment's routing fees ([`PayOptions::max_fee_msat`]), held over
    /// every retry as [`Node::pay_invoice_with`] holds it. The invoice
    /// fixes the amount and brings its own blinded paths, so
    /// [`PayOptions::amount_msat`] and [`PayOptions::route_hints`] are
    /// refused.
    ///
    /// ```no_run
    /// # use lightning_core::amount::Msat;
    /// # use lightning_core::node::{Node, NodeError, PayOptions};
    /// # fn f(node: &mut Node, now: std::time::Duration) -> Result<(), NodeError> {
    /// let invoice: lightning_wire::bolt12::Bolt12Invoice =
    ///     "lni1...".parse().map_err(|e| NodeError::Invoice(format!("{e}")))?;
    /// let mut options = PayOptions::default();
    /// options.max_fee_msat = Some(Msat(2_000)); // at most 2 sat in fees
    /// let id = node.pay_fetched_bolt12_invoice_with(&invoice, &options, now)?;
    /// # Ok(()) }
    /// ```
    pub fn pay_fetched_bolt12_invoice_with(
        &mut self,
        invoice: &Bolt12Invoice,
        options: &PayOptions,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        if options.amount_msat.is_some() {
            return Err(NodeError::Invoice(
                "a BOLT 12 invoice fixes its amount: no amount may be given".into(),
            ));
        }
        if !options.route_hints.is_empty() {
            return Err(NodeError::Invoice(
                "a BOLT 12 invoice brings its own blinded paths: route hints do not apply".into(),
            ));
        }
        let fields = invoice.invreq_fields();
        let metadata = fields.metadata.as_deref().unwrap_or_default();
        if fields.payer_id != Some(self.payer_keypair(metadata)?.public_key()) {
            return Err(NodeError::Invoice(
                "the invoice answers a request we did not make".into(),
            ));
        }
        self.check_bolt12_invoice_terms(invoice, fields.chain.as_ref(), now)?;
        self.pay_checked_bolt12_invoice(invoice, options.max_fee_msat, now)
    }

    /// Everything [`Node::pay_bolt12_invoice`] checks before paying.
    pub(super) fn check_bolt12_invoice(
        &self,
        invoice: &Bolt12Invoice,
        request: &InvoiceRequest,
        now: std::time::Duration,
    ) -> Result<(), NodeError> {
        invoice
            .check_answers(request)
            .map_err(|e| NodeError::Invoice(e.to_string()))?;
        let metadata = request.fields().metadata.as_deref().unwrap_or_default();
        if self.payer_keypair(metadata)?.public_key() != request.payer_id() {
            return Err(NodeError::Invoice(
                "the invoice answers a request we did not make".into(),
            ));
        }
        self.check_bolt12_invoice_terms(invoice, request.fields().chain.as_ref(), now)?;
        let authorised = request.amount_msat();
        if authorised.is_none_or(|a| invoice.amount_msat() > a) {
            return Err(NodeError::Invoice(format!(
                "the invoice asks {} msat, more than the request's {authorised:?}",
                invoice.amount_msat()
            )));
        }
        Ok(())
    }

    /// Unexpired, and for our chain (`invreq_chain`, mainnet when absent).
    fn check_bolt12_invoice_terms(
        &self,
        invoice: &Bolt12Invoice,
        invreq_chain: Option<&ChainHash>,
        now: std::time::Duration,
    ) -> Result<(), NodeError> {
        if invoice.is_expired(now.as_secs()) {
            return Err(NodeError::Invoice("the invoice has expired".into()));
        }
        let mainnet = ChainHash::for_network(bitcoin::Network::Bitcoin);
        if *invreq_chain.unwrap_or(&mainnet) != self.chain_hash() {
            return Err(NodeError::Invoice(
                "the invoice is for another chain".into(),
            ));
        }
        Ok(())
    }

    /// Pays `invoice` over its usable paths, in one part unless it sets
    /// MPP, routing fees within `max_fee` (`None`: the node's budget); its
    /// checks were made.
    fn pay_checked_bolt12_invoice(
        &mut self,
        invoice: &Bolt12Invoice,
        max_fee: Option<Msat>,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        let paths: Vec<BlindedPaymentPath> = invoice
            .usable_paths()
            .filter_map(|(p, i)| self.router_path(p, i))
            .collect();
        if paths.is_empty() {
            return Err(NodeError::Route(
                "no path of the invoice starts at a node we know".into(),
            ));
        }
        let max_parts = if invoice.allows_mpp() {
            self.config.payment_max_parts
        } else {
            1
        };
        let hash = PaymentHash(invoice.payment_hash().to_byte_array());
        self.pay_blinded_paths_split(hash, invoice.amount_msat(), paths, max_parts, max_fee, now)
    }

    /// Whether `offer_bytes` (an offer's records as a request copied them)
    /// carry a tag of ours.
    fn is_our_offer(&self, offer_bytes: &[u8]) -> bool {
        let Ok(records) = lightning_wire::bolt12::merkle::records(offer_bytes) else {
            return false;
        };
        let mut metadata = None;
        let mut rest = Vec::with_capacity(offer_bytes.len());
        for (ty, bytes) in records {
            if !OFFER_TYPES.iter().any(|r| r.contains(&ty)) {
                return false;
            }
            if ty == 4 {
                // The value follows the type (1 byte) and length (1 byte:
                // our metadata is 32 bytes).
                metadata = bytes.get(2..);
            } else {
                rest.extend_from_slice(bytes);
            }
        }
        let Some(m) = metadata.filter(|m| m.len() == OFFER_NONCE_LEN + OFFER_TAG_LEN) else {
            return false;
        };
        let (nonce, tag) = m.split_at(OFFER_NONCE_LEN);
        match self.offer_tag(nonce, &rest) {
            Ok(expected) => constant_time_eq(&expected, tag),
            Err(_) => false,
        }
    }

    /// HMAC-SHA256(offer key, nonce || records)[..16], the offer key a
    /// secret of the node key's ([`Node::bolt12_secret`]).
    fn offer_tag(&self, nonce: &[u8], records: &[u8]) -> Result<[u8; OFFER_TAG_LEN], NodeError> {
        let key = self.bolt12_secret(b"offer")?;
        let mut e = HmacEngine::<sha256::Hash>::new(&key);
        e.input(nonce);
        e.input(records);
        let full = Hmac::<sha256::Hash>::from_engine(e).to_byte_array();
        let mut tag = [0u8; OFFER_TAG_LEN];
        tag.copy_from_slice(&full[..OFFER_TAG_LEN]);
        Ok(tag)
    }

    /// The `path_id` of our hop in an offer's paths: the offer's nonce and
    /// a 16-byte HMAC of it, so a request that names the offer's nonce
    /// proves it came over one of the offer's paths.
    pub(super) fn offer_path_id(&self, nonce: &[u8]) -> Result<Vec<u8>, NodeError> {
        let key = self.bolt12_secret(b"offer path")?;
        let mut e = HmacEngine::<sha256::Hash>::new(&key);
        e.input(nonce);
        let mac = Hmac::<sha256::Hash>::from_engine(e).to_byte_array();
        Ok([nonce, &mac[..16]].concat())
    }

    /// The payer key of a request with `metadata`:
    /// `SHA256(payer secret || metadata)` as a secret key.
    fn payer_keypair(&self, metadata: &[u8]) -> Result<Keypair, NodeError> {
        let base = self.bolt12_secret(b"payer")?;
        let mut e = sha256::Hash::engine();
        e.input(&base);
        e.input(metadata);
        let secret = SecretKey::from_slice(sha256::Hash::from_engine(e).as_byte_array())
            .map_err(|_| NodeError::Invoice("payer key out of range".into()))?;
        Ok(Keypair::from_secret_key(SECP256K1, &secret))
    }

    /// A secret for `purpose` that only the node key gives: the node's ECDH
    /// with a fixed point of unknown discrete logarithm (the point whose x
    /// is `SHA256("lightning-sdk bolt12 " || purpose)`, incremented until it
    /// is on the curve), hashed with the purpose. The signer is asked for
    /// ECDH only, as for onions, so a remote signer serves it.
    fn bolt12_secret(&self, purpose: &[u8]) -> Result<[u8; 32], NodeError> {
        let point = nums_point(purpose);
        let shared = self
            .node_signer
            .ecdh(&point, None)
            .map_err(|e| NodeError::Invoice(format!("signer: {e}")))?;
        let mut e = sha256::Hash::engine();
        e.input(b"lightning-sdk bolt12 secret ");
        e.input(purpose);
        e.input(&shared);
        Ok(sha256::Hash::from_engine(e).to_byte_array())
    }

    fn keys_random_16(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.keys_random()[..16]);
        out
    }

    fn chain_hash(&self) -> ChainHash {
        ChainHash::for_network(self.config.network)
    }

    /// The router's form of an invoice path: the introduction node by id
    /// (a `short_channel_id` and direction looked up in our graph).
    fn router_path(&self, path: &BlindedPath, info: &BlindedPayInfo) -> Option<BlindedPaymentPath> {
        let introduction = match path.first_node_id {
            IntroductionNode::NodeId(k) => NodeId::from_pubkey(&k),
            IntroductionNode::DirectedScid { direction, scid } => {
                NodeId::from_pubkey(&self.graph_channel_end(scid, direction)?)
            }
        };
        Some(BlindedPaymentPath {
            introduction_node: introduction,
            first_path_key: path.first_path_key,
            hops: path
                .hops
                .iter()
                .map(|h| BlindedHop {
                    blinded_node_id: h.blinded_node_id,
                    encrypted_recipient_data: h.encrypted_recipient_data.clone(),
                })
                .collect(),
            payinfo: RouterPayInfo {
                fee_base_msat: info.fee_base_msat,
                fee_proportional_millionths: info.fee_proportional_millionths,
                cltv_expiry_delta: info.cltv_expiry_delta,
                htlc_minimum_msat: Msat(info.htlc_minimum_msat),
                htlc_maximum_msat: Msat(info.htlc_maximum_msat),
                features: info.features.clone(),
            },
        })
    }
}

/// One of our paths in the invoice's wire form.
fn wire_path(p: BlindedPaymentPath) -> (BlindedPath, BlindedPayInfo) {
    let intro = p
        .introduction_node
        .to_pubkey()
        .map(IntroductionNode::NodeId)
        // Our own paths name real nodes; a key that does not parse cannot
        // come from `create_blinded_payment_paths`.
        .unwrap_or(IntroductionNode::NodeId(p.first_path_key));
    let info = BlindedPayInfo {
        fee_base_msat: p.payinfo.fee_base_msat,
        fee_proportional_millionths: p.payinfo.fee_proportional_millionths,
        cltv_expiry_delta: p.payinfo.cltv_expiry_delta,
        htlc_minimum_msat: p.payinfo.htlc_minimum_msat.0,
        htlc_maximum_msat: p.payinfo.htlc_maximum_msat.0,
        features: p.payinfo.features,
    };
    let path = BlindedPath {
        first_node_id: intro,
        first_path_key: p.first_path_key,
        hops: p
            .hops
            .into_iter()
            .map(|h| OnionMsgHop {
                blinded_node_id: h.blinded_node_id,
                encrypted_recipient_data: h.encrypted_recipient_data,
            })
            .collect(),
    };
    (path, info)
}

/// A point nobody knows the discrete logarithm of, for `purpose`.
fn nums_point(purpose: &[u8]) -> PublicKey {
    let mut e = sha256::Hash::engine();
    e.input(b"lightning-sdk bolt12 ");
    e.input(purpose);
    let mut x = sha256::Hash::from_engine(e).to_byte_array();
    loop {
        let mut bytes = [0u8; 33];
        bytes[0] = 0x02;
        bytes[1..].copy_from_slice(&x);
        if let Ok(p) = PublicKey::from_slice(&bytes) {
            return p;
        }
        // About half of all x are on the curve: this ends in a few rounds.
        x = sha256::Hash::hash(&x).to_byte_array();
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The offer id (BOLT 12: the Merkle root of the offer's records) of
/// offer records as a request copied them.
fn offer_id_of(offer_bytes: &[u8]) -> [u8; 32] {
    lightning_wire::bolt12::merkle::merkle_root(offer_bytes)
        .ok()
        .flatten()
        .unwrap_or_default()
}
