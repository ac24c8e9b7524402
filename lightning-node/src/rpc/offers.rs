//! BOLT 12 in the Core Lightning RPC:
//!
//! - `offer amount description [issuer] [label] [quantity_max]
//!   [absolute_expiry]`: a new offer of this node (`Node::create_offer`),
//!   answered as Core Lightning does (`offer_id`, `active`, `single_use`,
//!   `bolt12`, `used`, `created`, `label`), and recorded (with its label)
//!   for `listoffers`. `amount` is msat or `"any"`; offers in another
//!   currency, recurrence, `single_use` and the other options Core
//!   Lightning has are refused with a clear error.
//! - `listoffers [offer_id] [active_only]`: the offers made here; `active`
//!   until disabled, `used` once an invoice made for it was paid (the
//!   node's invoice records name their offer; `listinvoices` shows it as
//!   `local_offer_id` and filters by `offer_id`).
//! - `disableoffer offer_id`: the node answers no more requests for it
//!   (`Node::disable_offer`, kept across restarts); 1001 if it was
//!   disabled already. `enableoffer offer_id` undoes it
//!   (`Node::enable_offer`); 1006 if it was active already.
//! - `fetchinvoice offer [amount_msat] [quantity] ... [timeout]
//!   [payer_note]`: requests an invoice for someone's offer over onion
//!   messages and waits for it (`Node::fetch_offer_invoice`; `timeout`
//!   60 s by default, the node gives up after 60 s too), answering
//!   `invoice` (`lni1...`) and `changes` (`amount_msat` when the offer
//!   did not fix it). Errors are Core Lightning's: 1002 the offer
//!   expired, 1003 no onion message path to it, 1004 the issuer refused
//!   or its invoice failed our checks, 1005 no answer in time.
//!   Recurrence, `payer_metadata` and `bip353` are refused.
//! - `pay`/`xpay` of an `lni1` string: pays a BOLT 12 invoice of a request
//!   this node made (`Node::pay_fetched_bolt12_invoice_with`), listed by
//!   `listpays` under `bolt12`, with the fee limits of a BOLT 11 `pay`
//!   (`maxfee`, or `maxfeepercent` with `exemptfee`) or `xpay` (`maxfee`,
//!   default 5000 msat or 1 %), held over every retry.
//! - `decode` of an `lno1`, `lnr1` or `lni1` string: its fields under
//!   Core Lightning's names (`offer_*`, `invreq_*`, `invoice_*`).
//!
//! The node answers invoice requests for its offers by itself, over onion
//! messages; their payments are listed by `listinvoices` like any other.

use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use lightning_core::node::{InvoiceRequestParams, NodeError, OfferParams, PaymentHash, PaymentId};
use lightning_core::Msat;
use lightning_wire::bolt12::{
    BlindedPath, Bolt12Invoice, IntroductionNode, InvoiceRequest, InvreqFields, Offer, OfferFields,
};
use serde_json::{json, Map, Value};

use super::params::Params;
use super::{Ctx, RpcError};
use crate::meta::OfferMeta;
use crate::runtime::{now, State};

/// Core Lightning's `OFFER_ALREADY_DISABLED`.
const OFFER_ALREADY_DISABLED: i64 = 1001;
/// Core Lightning's `OFFER_ALREADY_ENABLED` (`enableoffer`).
const OFFER_ALREADY_ENABLED: i64 = 1006;
/// Core Lightning's `OFFER_EXPIRED`.
const OFFER_EXPIRED: i64 = 1002;
/// Core Lightning's `OFFER_ROUTE_NOT_FOUND`.
const OFFER_ROUTE_NOT_FOUND: i64 = 1003;
/// Core Lightning's `OFFER_BAD_INVREQ_REPLY`.
const OFFER_BAD_INVREQ_REPLY: i64 = 1004;
/// Core Lightning's `OFFER_TIMEOUT`.
const OFFER_TIMEOUT: i64 = 1005;

pub(super) fn offer(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let amount = match p.get("amount") {
        None => return Err(RpcError::params("missing required parameter: amount")),
        Some(Value::String(s)) if s == "any" => None,
        Some(_) => Some(p.msat("amount")?.unwrap_or(0)),
    };
    if amount == Some(0) {
        return Err(RpcError::params("amount: must be positive, or \"any\""));
    }
    let description = p.text("description")?;
    if amount.is_some() && description.is_none() {
        return Err(RpcError::params(
            "description: required with an amount (BOLT 12)",
        ));
    }
    p.unsupported(&[
        "recurrence",
        "recurrence_base",
        "recurrence_paywindow",
        "recurrence_limit",
        "recurrence_start_any_period",
        "single_use",
        "dev_paths",
        "proportional_amount",
        "optional_recurrence",
    ])?;
    let quantity_max = p.u64("quantity_max")?;
    let absolute_expiry = p.u64("absolute_expiry")?;
    let label = p.text("label")?;
    let issuer = p.text("issuer")?;
    let mut st = ctx.rt.lock();
    let offer = st
        .node
        .create_offer(OfferParams {
            amount_msat: amount.map(Msat),
            description,
            issuer,
            absolute_expiry,
            quantity_max,
        })
        .map_err(|e| RpcError::general(e.to_string()))?;
    let id = hex::encode(offer.id());
    let meta = OfferMeta {
        bolt12: offer.to_string(),
        label,
    };
    st.meta
        .save_offer(&id, meta.clone())
        .map_err(|e| RpcError::general(format!("recording the offer: {e}")))?;
    let mut v = offer_json(&st, &id, &meta);
    v["created"] = json!(true);
    Ok(v)
}

/// An offer as `offer`, `listoffers` and `disableoffer` answer it.
fn offer_json(st: &State, id: &str, meta: &OfferMeta) -> Value {
    let mut raw = [0u8; 32];
    let known = hex::decode_to_slice(id, &mut raw).is_ok();
    let mut v = json!({
        "offer_id": id,
        "active": known && !st.node.is_offer_disabled(&raw),
        "single_use": false,
        "bolt12": meta.bolt12,
        "used": known && offer_used(st, &raw),
    });
    if let Some(label) = &meta.label {
        v["label"] = json!(label);
    }
    v
}

/// Whether an invoice made for our offer `offer_id` was paid (the
/// node's invoice records name the offer they answer).
fn offer_used(st: &State, offer_id: &[u8; 32]) -> bool {
    st.node.list_invoices().iter().any(|i| {
        i.offer_id.as_ref() == Some(offer_id)
            && i.status == lightning_core::node::InvoiceStatus::Paid
    })
}

/// `listoffers [offer_id] [active_only]`: the offers made through this
/// RPC, with whether each is still answered.
pub(super) fn listoffers(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let wanted = p.text("offer_id")?;
    let active_only = p.bool("active_only")?.unwrap_or(false);
    if let Some(w) = &wanted {
        if w.len() != 64 || hex::decode(w).is_err() {
            return Err(RpcError::params("offer_id: should be a 32-byte hex id"));
        }
    }
    let st = ctx.rt.lock();
    let offers: Vec<Value> = st
        .meta
        .offers
        .iter()
        .filter(|(id, _)| wanted.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(id)))
        .map(|(id, m)| offer_json(&st, id, m))
        .filter(|v| !active_only || v["active"] == true)
        .collect();
    Ok(json!({ "offers": offers }))
}

/// `disableoffer offer_id`: the node stops answering requests for it
/// (`Node::disable_offer`); CLN's 1001 when it was disabled already.
pub(super) fn disableoffer(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    switch_offer(ctx, p, false)
}

/// `enableoffer offer_id`: the node answers requests for it again
/// (`Node::enable_offer`); CLN's 1006 when it was active already.
pub(super) fn enableoffer(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    switch_offer(ctx, p, true)
}

/// `disableoffer` and `enableoffer`: the offer as `listoffers` shows it
/// afterwards.
fn switch_offer(ctx: &Ctx, p: &Params, enable: bool) -> Result<Value, RpcError> {
    let id = p.req_text("offer_id")?.to_ascii_lowercase();
    let mut st = ctx.rt.lock();
    let Some(meta) = st.meta.offers.get(&id).cloned() else {
        return Err(RpcError::params(format!("offer_id: unknown offer {id}")));
    };
    let offer: Offer = meta
        .bolt12
        .parse()
        .map_err(|e| RpcError::general(format!("our recorded offer: {e}")))?;
    let changed = if enable {
        st.node.enable_offer(&offer)
    } else {
        st.node.disable_offer(&offer)
    };
    match changed {
        Ok(true) => Ok(offer_json(&st, &id, &meta)),
        Ok(false) if enable => Err(RpcError::new(OFFER_ALREADY_ENABLED, "offer already active")),
        Ok(false) => Err(RpcError::new(OFFER_ALREADY_DISABLED, "offer is not active")),
        Err(e) => Err(RpcError::general(e.to_string())),
    }
}

pub(super) fn fetchinvoice(
    ctx: &Ctx,
    p: &Params,
    alive: &dyn Fn() -> bool,
) -> Result<Value, RpcError> {
    let text = p.req_text("offer")?;
    let offer: Offer = text
        .parse()
        .map_err(|e| RpcError::params(format!("offer: invalid offer: {e}")))?;
    p.unsupported(&[
        "recurrence_counter",
        "recurrence_start",
        "recurrence_label",
        "payer_metadata",
        "bip353",
    ])?;
    let params = InvoiceRequestParams {
        amount_msat: p.msat("amount_msat")?.map(Msat),
        quantity: p.u64("quantity")?,
        payer_note: p.text("payer_note")?,
    };
    let timeout = Duration::from_secs(p.u64("timeout")?.unwrap_or(60));
    let id = {
        let mut st = ctx.rt.lock();
        if offer.fields().issuer_id == Some(st.node.node_id()) {
            return Err(RpcError::params("offer: this is our own offer"));
        }
        st.node
            .fetch_offer_invoice(&offer, params, now())
            .map_err(|e| match e {
                NodeError::Invoice(m) if m.contains("expired") => {
                    RpcError::new(OFFER_EXPIRED, "Offer expired")
                }
                NodeError::Invoice(m) => RpcError::params(m),
                e @ (NodeError::Route(_) | NodeError::NotConnected(_)) => {
                    RpcError::new(OFFER_ROUTE_NOT_FOUND, e.to_string())
                }
                e => RpcError::general(e.to_string()),
            })?
    };
    let deadline = Instant::now() + timeout;
    let outcome = loop {
        let got = ctx.rt.wait_until(Duration::from_millis(500), |st| {
            let at = st.offer_outcomes.iter().position(|(i, _)| *i == id)?;
            st.offer_outcomes.remove(at).map(|(_, o)| o)
        });
        if let Some(o) = got {
            break o;
        }
        if Instant::now() >= deadline || ctx.rt.is_stopping() || !alive() {
            return Err(RpcError::new(OFFER_TIMEOUT, "Timeout waiting for response"));
        }
    };
    let invoice = match outcome {
        Ok(invoice) => invoice,
        Err(reason) if reason.starts_with("no invoice") => {
            return Err(RpcError::new(OFFER_TIMEOUT, "Timeout waiting for response"))
        }
        Err(reason) => return Err(RpcError::new(OFFER_BAD_INVREQ_REPLY, reason)),
    };
    let parsed: Bolt12Invoice = invoice
        .parse()
        .map_err(|e| RpcError::general(format!("our own fetched invoice: {e}")))?;
    let f = offer.fields();
    let expected = f
        .amount
        .filter(|_| f.currency.is_none())
        .map(|a| a.saturating_mul(p.u64("quantity").ok().flatten().unwrap_or(1)));
    let mut changes = Map::new();
    if expected != Some(parsed.amount_msat()) {
        changes.insert("amount_msat".into(), json!(parsed.amount_msat()));
    }
    Ok(json!({ "invoice": invoice, "changes": changes }))
}

/// `pay`/`xpay` of a BOLT 12 invoice (`s`, an `lni1` string).
pub(super) fn pay_bolt12(
    ctx: &Ctx,
    p: &Params,
    inv_param: &str,
    s: &str,
    xpay: bool,
    alive: &dyn Fn() -> bool,
) -> Result<Value, RpcError> {
    let invoice: Bolt12Invoice = s
        .parse()
        .map_err(|e| RpcError::params(format!("{inv_param}: Invalid bolt12 invoice: {e}")))?;
    if p.get("amount_msat").is_some() {
        return Err(RpcError::params("amount_msat: parameter unnecessary"));
    }
    p.unsupported(&[
        "partial_msat",
        "localinvreqid",
        "layers",
        "payer_note",
        "exclude",
    ])?;
    let options = super::methods::pay_options(p, invoice.amount_msat(), xpay)?;
    p.number("riskfactor")?;
    p.u64("maxdelay")?;
    let retry_for = p
        .u64("retry_for")?
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(60));
    let hash = PaymentHash(invoice.payment_hash().to_byte_array());
    super::methods::start_payment(
        ctx,
        s,
        hash,
        &invoice.node_id(),
        |node| node.pay_fetched_bolt12_invoice_with(&invoice, &options, now()),
        |m| RpcError::params(format!("{inv_param}: {m}")),
    )?;
    let details = super::methods::wait_settled(ctx, PaymentId(hash.0), retry_for, alive)?;
    Ok(super::methods::paid_result(&ctx.rt.lock(), &details, xpay))
}

/// `decode` of a BOLT 12 string, or `None` if `s` is not one.
pub(super) fn decode_bolt12(s: &str) -> Option<Result<Value, RpcError>> {
    let lower = s.to_ascii_lowercase();
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        Err(RpcError::params(format!("string: invalid {what}: {e}")))
    };
    if lower.starts_with("lno1") {
        return Some(match s.parse::<Offer>() {
            Ok(o) => {
                let mut v = Map::new();
                v.insert("type".into(), json!("bolt12 offer"));
                v.insert("valid".into(), json!(true));
                v.insert("offer_id".into(), json!(hex::encode(o.id())));
                offer_fields(o.fields(), &mut v);
                Ok(Value::Object(v))
            }
            Err(e) => bad("offer", &e),
        });
    }
    if lower.starts_with("lnr1") {
        return Some(match s.parse::<InvoiceRequest>() {
            Ok(r) => {
                let mut v = Map::new();
                v.insert("type".into(), json!("bolt12 invoice_request"));
                v.insert("valid".into(), json!(true));
                offer_fields(r.offer_fields(), &mut v);
                invreq_fields(r.fields(), &mut v);
                Ok(Value::Object(v))
            }
            Err(e) => bad("invoice_request", &e),
        });
    }
    if lower.starts_with("lni1") {
        return Some(match s.parse::<Bolt12Invoice>() {
            Ok(i) => {
                let mut v = Map::new();
                v.insert("type".into(), json!("bolt12 invoice"));
                v.insert("valid".into(), json!(true));
                offer_fields(i.offer_fields(), &mut v);
                invreq_fields(i.invreq_fields(), &mut v);
                v.insert("invoice_amount_msat".into(), json!(i.amount_msat()));
                v.insert("invoice_created_at".into(), json!(i.created_at()));
                v.insert(
                    "invoice_relative_expiry".into(),
                    json!(i.expires_at() - i.created_at()),
                );
                v.insert(
                    "invoice_payment_hash".into(),
                    json!(i.payment_hash().to_string()),
                );
                v.insert("invoice_node_id".into(), json!(i.node_id().to_string()));
                let paths: Vec<Value> = i.usable_paths().map(|(p, _)| path_json(p)).collect();
                v.insert("invoice_paths".into(), json!(paths));
                Ok(Value::Object(v))
            }
            Err(e) => bad("invoice", &e),
        });
    }
    None
}

fn offer_fields(f: &OfferFields, v: &mut Map<String, Value>) {
    if let Some(c) = &f.chains {
        let c: Vec<String> = c.iter().map(ToString::to_string).collect();
        v.insert("offer_chains".into(), json!(c));
    }
    if let Some(m) = &f.metadata {
        v.insert("offer_metadata".into(), json!(hex::encode(m)));
    }
    match (&f.currency, f.amount) {
        (Some(c), Some(a)) => {
            v.insert("offer_currency".into(), json!(c));
            v.insert("offer_amount".into(), json!(a));
        }
        (None, Some(a)) => {
            v.insert("offer_amount_msat".into(), json!(a));
        }
        _ => {}
    }
    if let Some(d) = &f.description {
        v.insert("offer_description".into(), json!(d));
    }
    if let Some(i) = &f.issuer {
        v.insert("offer_issuer".into(), json!(i));
    }
    if let Some(e) = f.absolute_expiry {
        v.insert("offer_absolute_expiry".into(), json!(e));
    }
    if let Some(q) = f.quantity_max {
        v.insert("offer_quantity_max".into(), json!(q));
    }
    if let Some(id) = f.issuer_id {
        v.insert("offer_issuer_id".into(), json!(id.to_string()));
    }
    if let Some(p) = &f.paths {
        let p: Vec<Value> = p.iter().map(path_json).collect();
        v.insert("offer_paths".into(), json!(p));
    }
}

fn invreq_fields(f: &InvreqFields, v: &mut Map<String, Value>) {
    if let Some(m) = &f.metadata {
        v.insert("invreq_metadata".into(), json!(hex::encode(m)));
    }
    if let Some(a) = f.amount {
        v.insert("invreq_amount_msat".into(), json!(a));
    }
    if let Some(q) = f.quantity {
        v.insert("invreq_quantity".into(), json!(q));
    }
    if let Some(k) = f.payer_id {
        v.insert("invreq_payer_id".into(), json!(k.to_string()));
    }
    if let Some(n) = &f.payer_note {
        v.insert("invreq_payer_note".into(), json!(n));
    }
    if let Some(c) = &f.chain {
        v.insert("invreq_chain".into(), json!(c.to_string()));
    }
}

fn path_json(p: &BlindedPath) -> Value {
    let mut v = json!({
        "first_path_key": p.first_path_key.to_string(),
        "path": p.hops.iter().map(|h| json!({
            "blinded_node_id": h.blinded_node_id.to_string(),
            "encrypted_recipient_data": hex::encode(&h.encrypted_recipient_data),
        })).collect::<Vec<_>>(),
    });
    match p.first_node_id {
        IntroductionNode::NodeId(k) => v["first_node_id"] = json!(k.to_string()),
        IntroductionNode::DirectedScid { direction, scid } => {
            v["first_scid"] = json!(scid.to_string());
            v["first_scid_dir"] = json!(direction);
        }
    }
    v
}
