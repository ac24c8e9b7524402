//! BOLT 12 over onion messages: paying an offer end to end, and answering
//! the invoice requests our offers receive.
//!
//! - **Paying** ([`Node::pay_offer`]): an invoice request (BOLT 12
//!   "Invoice Requests") goes in an onion message (`onionmsg_tlv`
//!   `invoice_request`, type 64) along one of the offer's paths, or to its
//!   issuer when it has none, with a `reply_path` to us whose `path_id` is
//!   the request's `invreq_metadata`. The request waits in memory for
//!   [`OFFER_REQUEST_TIMEOUT`]. An `invoice` (66) that arrives over that
//!   reply path and answers it is paid ([`Node::pay_bolt12_invoice`]);
//!   [`Event::OfferInvoiceReceived`] names the payment hash, then
//!   `PaymentSent` or `PaymentFailed` follows. An `invoice_error` (68), a
//!   refused invoice or no answer in time gives
//!   [`Event::OfferPaymentFailed`]. [`Node::fetch_offer_invoice`] sends
//!   the same request but hands the checked invoice to the host
//!   ([`Event::OfferInvoiceFetched`]) instead of paying it. A request that has not been answered
//!   when the node stops is not resumed: no HTLC was sent for it, so
//!   nothing is lost, and the host may pay the offer again.
//! - **Answering** (`on_invoice_request`): a request with a `reply_path`
//!   is answered along it with an `invoice` or an `invoice_error`
//!   ([`Node::respond_to_invoice_request`]). BOLT 12: a request for an
//!   offer with `offer_paths` "MUST" be ignored unless it arrived over one
//!   of them (our hop's `path_id` authenticates the offer's nonce), and
//!   one for an offer without paths if it arrived over a blinded path of
//!   ours.
//! - Each answer writes an invoice record, and anyone holding an offer may
//!   ask: at most [`MAX_OFFER_INVOICES_PER_MINUTE`] invoices are made a
//!   minute, later requests get an `invoice_error`.
//! - Messages of other types, or over a `path_id` we do not know, are
//!   ignored (BOLT 4 gives onion messages no errors).
//!
//! [`Event::OfferInvoiceReceived`]: super::Event::OfferInvoiceReceived
//! [`Event::OfferPaymentFailed`]: super::Event::OfferPaymentFailed
//! [`Event::OfferInvoiceFetched`]: super::Event::OfferInvoiceFetched

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bitcoin::hashes::Hash;
use lightning_wire::bolt12::{Bolt12Invoice, InvoiceError, InvoiceRequest, Offer};
use lightning_wire::tlv::TlvRecord;
use lightning_wire::{Decode, Encode};

use super::bolt12::InvoiceRequestParams;
use super::events::{Event, PaymentHash};
use super::onion_messages::read_reply_path;
use super::{Node, NodeError};
use crate::amount::Msat;
use crate::onion::OnionMessagePayload;

/// `onionmsg_tlv` `invoice_request`.
pub const INVOICE_REQUEST_TYPE: u64 = 64;
/// `onionmsg_tlv` `invoice`.
pub const INVOICE_TYPE: u64 = 66;
/// `onionmsg_tlv` `invoice_error`.
pub const INVOICE_ERROR_TYPE: u64 = 68;

/// How long a request waits for its invoice.
pub const OFFER_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests waiting for an invoice at once, at most.
pub const MAX_PENDING_OFFER_REQUESTS: usize = 64;

/// Invoices the node makes for its offers in one minute, at most: each is
/// a durable invoice record, and anyone holding an offer may ask, so this
/// bounds what requests can write. More get an `invoice_error`.
pub const MAX_OFFER_INVOICES_PER_MINUTE: u32 = 120;

/// Names the payment of an offer before its invoice (and payment hash) is
/// known: the request's `invreq_metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OfferPaymentId(pub [u8; 32]);

#[derive(Debug)]
struct Pending {
    request: InvoiceRequest,
    sent_at: Duration,
    /// Pay the invoice when it comes ([`Node::pay_offer`]), or hand it to
    /// the host ([`Node::fetch_offer_invoice`]).
    pay: bool,
}

/// Requests waiting for their invoice, and our disabled offers.
#[derive(Debug, Default)]
pub(super) struct OffersState {
    pending: HashMap<[u8; 32], Pending>,
    /// Ids of our offers that no longer get invoices
    /// ([`Node::disable_offer`]; records `offers/disabled/<id>`).
    pub(super) disabled: HashSet<[u8; 32]>,
    /// The minute of the invoice window and the invoices made in it.
    invoices_made: (u64, u32),
}

impl Node {
    /// Pays `offer`: requests an invoice over onion messages, and pays the
    /// invoice when it comes (see the module). Returns at once; the events
    /// tell the rest.
    ///
    /// Refused as [`Node::request_invoice`] refuses, when
    /// [`MAX_PENDING_OFFER_REQUESTS`] requests already wait, or when the
    /// request cannot be sent: the offer's paths (or its issuer, without
    /// paths) must start at a connected peer, or at us.
    ///
    /// ```no_run
    /// # use lightning_core::node::{InvoiceRequestParams, Node, NodeError};
    /// # fn f(node: &mut Node, now: std::time::Duration) -> Result<(), NodeError> {
    /// let offer: lightning_wire::bolt12::Offer = "lno1...".parse().map_err(|e| NodeError::Invoice(format!("{e}")))?;
    /// let id = node.pay_offer(&offer, InvoiceRequestParams::default(), now)?;
    /// // Later: Event::OfferInvoiceReceived { offer_payment_id: id, .. }, then PaymentSent.
    /// # Ok(()) }
    /// ```
    pub fn pay_offer(
        &mut self,
        offer: &Offer,
        params: InvoiceRequestParams,
        now: Duration,
    ) -> Result<OfferPaymentId, NodeError> {
        self.send_invoice_request(offer, params, now, true)
    }

    /// Fetches an invoice for `offer` without paying it (Core Lightning's
    /// `fetchinvoice`): the request goes as [`Node::pay_offer`] sends it,
    /// and an invoice that answers it and passes every check
    /// [`Node::pay_bolt12_invoice`] makes is handed over in
    /// [`Event::OfferInvoiceFetched`];
    /// failures are [`Event::OfferPaymentFailed`]
    /// as for `pay_offer`. The host shows the invoice and pays it, if it
    /// will, with [`Node::pay_fetched_bolt12_invoice`]. Refused as
    /// `pay_offer` is refused.
    ///
    /// ```no_run
    /// # use lightning_core::node::{InvoiceRequestParams, Node, NodeError};
    /// # fn f(node: &mut Node, now: std::time::Duration) -> Result<(), NodeError> {
    /// let offer: lightning_wire::bolt12::Offer = "lno1...".parse().map_err(|e| NodeError::Invoice(format!("{e}")))?;
    /// let id = node.fetch_offer_invoice(&offer, InvoiceRequestParams::default(), now)?;
    /// // Later: Event::OfferInvoiceFetched { offer_payment_id: id, invoice }.
    /// # Ok(()) }
    /// ```
    pub fn fetch_offer_invoice(
        &mut self,
        offer: &Offer,
        params: InvoiceRequestParams,
        now: Duration,
    ) -> Result<OfferPaymentId, NodeError> {
        self.send_invoice_request(offer, params, now, false)
    }

    fn send_invoice_request(
        &mut self,
        offer: &Offer,
        params: InvoiceRequestParams,
        now: Duration,
        pay: bool,
    ) -> Result<OfferPaymentId, NodeError> {
        self.now = now;
        self.expire_offer_requests();
        if self.offers.pending.len() >= MAX_PENDING_OFFER_REQUESTS {
            return Err(NodeError::Invoice(format!(
                "{MAX_PENDING_OFFER_REQUESTS} offer requests already wait for an invoice"
            )));
        }
        let request = self.request_invoice(offer, params, now)?;
        let mut id = [0u8; 32];
        let metadata = request.fields().metadata.as_deref().unwrap_or_default();
        if metadata.len() != 32 {
            return Err(NodeError::Invoice("our request has no metadata".into()));
        }
        id.copy_from_slice(metadata);
        let reply = self
            .onion_message_paths_to_us(&id, 1)?
            .into_iter()
            .next()
            .ok_or_else(|| NodeError::Route("no reply path".into()))?;
        let contents = vec![TlvRecord {
            r#type: INVOICE_REQUEST_TYPE,
            value: request.as_bytes().to_vec(),
        }];
        let destinations = match (&offer.fields().paths, offer.fields().issuer_id) {
            (Some(paths), _) => paths.clone(),
            (None, Some(issuer)) => vec![self.direct_path_to(issuer)?],
            (None, None) => return Err(NodeError::Invoice("the offer has no issuer".into())),
        };
        let mut last_error = None;
        let mut sent = false;
        for d in &destinations {
            match self.send_onion_message(d, contents.clone(), Some(&reply)) {
                Ok(()) => {
                    sent = true;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if !sent {
            return Err(last_error.unwrap_or_else(|| NodeError::Route("no path".into())));
        }
        self.offers.pending.insert(
            id,
            Pending {
                request,
                sent_at: now,
                pay,
            },
        );
        self.finish()?;
        Ok(OfferPaymentId(id))
    }

    /// The contents of an onion message for us.
    pub(super) fn on_message_contents(
        &mut self,
        payload: OnionMessagePayload,
        path_id: Option<Vec<u8>>,
    ) {
        for rec in &payload.unknown.0 {
            match rec.r#type {
                INVOICE_REQUEST_TYPE => self.on_invoice_request(
                    &rec.value,
                    payload.reply_path.as_deref(),
                    path_id.as_deref(),
                ),
                INVOICE_TYPE => self.on_invoice(&rec.value, path_id.as_deref()),
                INVOICE_ERROR_TYPE => self.on_invoice_error(&rec.value, path_id.as_deref()),
                _ => {}
            }
        }
    }

    fn on_invoice_request(&mut self, bytes: &[u8], reply: Option<&[u8]>, path_id: Option<&[u8]>) {
        // Without a reply path there is nowhere to answer.
        let Some(reply) = reply.and_then(read_reply_path) else {
            return;
        };
        let answer = match InvoiceRequest::from_bytes(bytes.to_vec()) {
            Err(e) => Err(InvoiceError::new(format!("invalid invoice_request: {e}"))),
            Ok(req) => {
                if !self.arrived_as_offer_says(&req, path_id) {
                    return;
                }
                if self.offer_invoice_budget_spent() {
                    Err(InvoiceError::new(
                        "too many invoice requests: try again later",
                    ))
                } else {
                    let now = self.now;
                    self.respond_to_invoice_request(&req, now)
                }
            }
        };
        let record = match answer {
            Ok(invoice) => TlvRecord {
                r#type: INVOICE_TYPE,
                value: invoice.as_bytes().to_vec(),
            },
            Err(e) => TlvRecord {
                r#type: INVOICE_ERROR_TYPE,
                value: e.to_bytes(),
            },
        };
        // Onion messages have no errors: a reply path we cannot use ends
        // the exchange.
        let _ = self.send_onion_message(&reply, vec![record], None);
        let _ = self.finish();
    }

    fn on_invoice(&mut self, bytes: &[u8], path_id: Option<&[u8]>) {
        let Some(id) = path_id.and_then(|p| <[u8; 32]>::try_from(p).ok()) else {
            return;
        };
        let Some(pending) = self.offers.pending.remove(&id) else {
            return;
        };
        let now = self.now;
        let outcome = Bolt12Invoice::from_bytes(bytes.to_vec())
            .map_err(|e| format!("invalid invoice: {e}"))
            .and_then(|invoice| {
                let done = if pending.pay {
                    self.pay_bolt12_invoice(&invoice, &pending.request, now)
                        .map(|_| ())
                } else {
                    self.check_bolt12_invoice(&invoice, &pending.request, now)
                };
                done.map(|()| invoice).map_err(|e| e.to_string())
            });
        let event = match outcome {
            Ok(invoice) if !pending.pay => Event::OfferInvoiceFetched {
                offer_payment_id: OfferPaymentId(id),
                invoice: invoice.to_string(),
            },
            Ok(invoice) => Event::OfferInvoiceReceived {
                offer_payment_id: OfferPaymentId(id),
                payment_hash: PaymentHash(invoice.payment_hash().to_byte_array()),
                amount_msat: Msat(invoice.amount_msat()),
            },
            Err(reason) => Event::OfferPaymentFailed {
                offer_payment_id: OfferPaymentId(id),
                reason,
            },
        };
        self.push_event(event, None);
        let _ = self.finish();
    }

    fn on_invoice_error(&mut self, bytes: &[u8], path_id: Option<&[u8]>) {
        let Some(id) = path_id.and_then(|p| <[u8; 32]>::try_from(p).ok()) else {
            return;
        };
        if self.offers.pending.remove(&id).is_none() {
            return;
        }
        let reason = match InvoiceError::from_bytes(bytes) {
            // The issuer's words reach the host and the RPC's answer:
            // printable ASCII, bounded.
            Ok(e) => format!(
                "the issuer refused: {}",
                crate::channel::sanitize_peer_text(e.error.as_bytes())
            ),
            Err(e) => format!("the issuer refused (unreadable invoice_error: {e})"),
        };
        self.push_event(
            Event::OfferPaymentFailed {
                offer_payment_id: OfferPaymentId(id),
                reason,
            },
            None,
        );
        let _ = self.finish();
    }

    /// Counts one more invoice in this minute's budget; true when the
    /// budget ([`MAX_OFFER_INVOICES_PER_MINUTE`]) is already spent.
    fn offer_invoice_budget_spent(&mut self) -> bool {
        let minute = self.now.as_secs() / 60;
        let w = &mut self.offers.invoices_made;
        if w.0 != minute {
            *w = (minute, 0);
        }
        if w.1 >= MAX_OFFER_INVOICES_PER_MINUTE {
            return true;
        }
        w.1 += 1;
        false
    }

    /// BOLT 12: with `offer_paths`, "MUST ignore the invoice_request if it
    /// did not arrive via one of those paths"; without, "MUST ignore any
    /// invoice_request if it arrived via a blinded path" (one of ours).
    fn arrived_as_offer_says(&self, req: &InvoiceRequest, path_id: Option<&[u8]>) -> bool {
        let offer = req.offer_fields();
        match (&offer.paths, path_id) {
            (None, None) => true,
            (None, Some(_)) | (Some(_), None) => false,
            (Some(_), Some(id)) => {
                let nonce = offer.metadata.as_deref().and_then(|m| m.get(..16));
                nonce.is_some_and(|n| self.offer_path_id(n).is_ok_and(|ours| ours == id))
            }
        }
    }

    /// Requests that waited [`OFFER_REQUEST_TIMEOUT`] fail.
    pub(super) fn expire_offer_requests(&mut self) {
        let now = self.now;
        let expired: Vec<[u8; 32]> = self
            .offers
            .pending
            .iter()
            .filter(|(_, p)| now >= p.sent_at + OFFER_REQUEST_TIMEOUT)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.offers.pending.remove(&id);
            self.push_event(
                Event::OfferPaymentFailed {
                    offer_payment_id: OfferPaymentId(id),
                    reason: format!("no invoice within {} s", OFFER_REQUEST_TIMEOUT.as_secs()),
                },
                None,
            );
        }
    }

    /// When the oldest waiting request times out.
    pub(super) fn offer_requests_next_timeout(&self) -> Option<Duration> {
        self.offers
            .pending
            .values()
            .map(|p| p.sent_at + OFFER_REQUEST_TIMEOUT)
            .min()
    }
}
