//! The methods, with Core Lightning's parameter names and order and its
//! result fields (what BTCPayServer.Lightning's CLN client and pyln-client
//! send and read).
//!
//! Error codes are CLN's: -32602 bad parameters, -32601 unknown method,
//! -1 general, 200-210 pay (`200` in progress, `201` already paid, `205`
//! no route, `207` invoice expired, `210` failed), 301 cannot afford, 400
//! / 401 connect, 900 duplicate label, 904 wait timed out, 905 / 906
//! `delinvoice`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_chain::{FeeEstimator, FeeRate};
use lightning_core::channel::Phase;
use lightning_core::node::{
    ChannelDetails, InvoiceStatus, NodeError, PayOptions, PaymentHash, PaymentId, PaymentStatus,
};
use lightning_core::Msat;
use lightning_wire::bolt11::{Bolt11Invoice, InvoiceDescription};
use serde_json::{json, Value};

use super::params::Params;
use super::{Ctx, RpcError};
use crate::meta::{InvoiceMeta, PaymentMeta};
use crate::runtime::{now, RuntimeError, State};

/// Every method served.
pub const METHODS: &[&str] = &[
    "getinfo",
    "invoice",
    "listinvoices",
    "waitanyinvoice",
    "delinvoice",
    "pay",
    "xpay",
    "listpays",
    "listsendpays",
    "listfunds",
    "listpeerchannels",
    "newaddr",
    "connect",
    "fundchannel",
    "close",
    "withdraw",
    "decode",
    "decodepay",
    "stop",
    "keysend",
    "xkeysend",
    "exportchanbackup",
    "verifychanbackup",
    "restorechanbackup",
    "listchannels",
    "listnodes",
    "getroute",
    "listforwards",
    "offer",
    "fetchinvoice",
    "listoffers",
    "disableoffer",
    "enableoffer",
];

/// How long a method that waits on the node waits by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

pub(crate) fn call(
    ctx: &Ctx,
    method: &str,
    params: &Value,
    alive: &dyn Fn() -> bool,
) -> Result<Value, RpcError> {
    match method {
        "getinfo" => getinfo(ctx, &Params::parse(params, &[])?),
        "invoice" => invoice(
            ctx,
            &Params::parse(
                params,
                &[
                    "amount_msat",
                    "label",
                    "description",
                    "expiry",
                    "fallbacks",
                    "preimage",
                    "exposeprivatechannels",
                    "cltv",
                    "deschashonly",
                ],
            )?,
        ),
        "listinvoices" => listinvoices(
            ctx,
            &Params::parse(
                params,
                &[
                    "label",
                    "invstring",
                    "payment_hash",
                    "offer_id",
                    "index",
                    "start",
                    "limit",
                ],
            )?,
        ),
        "waitanyinvoice" => waitanyinvoice(
            ctx,
            &Params::parse(params, &["lastpay_index", "timeout"])?,
            alive,
        ),
        "delinvoice" => delinvoice(
            ctx,
            &Params::parse(params, &["label", "status", "desconly"])?,
        ),
        "pay" => pay(
            ctx,
            &Params::parse(
                params,
                &[
                    "bolt11",
                    "amount_msat",
                    "label",
                    "riskfactor",
                    "maxfeepercent",
                    "retry_for",
                    "maxdelay",
                    "exemptfee",
                    "localinvreqid",
                    "exclude",
                    "maxfee",
                    "description",
                    "partial_msat",
                ],
            )?,
            "bolt11",
            false,
            alive,
        ),
        "xpay" => pay(
            ctx,
            &Params::parse(
                params,
                &[
                    "invstring",
                    "amount_msat",
                    "maxfee",
                    "layers",
                    "retry_for",
                    "partial_msat",
                    "maxdelay",
                    "payer_note",
                ],
            )?,
            "invstring",
            true,
            alive,
        ),
        "listpays" => super::pays::listpays(
            ctx,
            &Params::parse(params, &["bolt11", "payment_hash", "status"])?,
        ),
        "listsendpays" => super::pays::listsendpays(
            ctx,
            &Params::parse(params, &["bolt11", "payment_hash", "status"])?,
        ),
        "listfunds" => listfunds(ctx, &Params::parse(params, &["spent"])?),
        "listpeerchannels" => listpeerchannels(ctx, &Params::parse(params, &["id"])?),
        "newaddr" => newaddr(ctx, &Params::parse(params, &["addresstype"])?),
        "connect" => connect(ctx, &Params::parse(params, &["id", "host", "port"])?),
        "fundchannel" => fundchannel(
            ctx,
            &Params::parse(
                params,
                &[
                    "id",
                    "amount",
                    "feerate",
                    "announce",
                    "minconf",
                    "push_msat",
                    "close_to",
                    "request_amt",
                    "compact_lease",
                    "utxos",
                    "mindepth",
                    "reserve",
                    "channel_type",
                ],
            )?,
        ),
        "close" => close(
            ctx,
            &Params::parse(
                params,
                &[
                    "id",
                    "unilateraltimeout",
                    "destination",
                    "fee_negotiation_step",
                    "wrong_funding",
                    "force_lease_closed",
                    "feerange",
                ],
            )?,
            alive,
        ),
        "withdraw" => withdraw(
            ctx,
            &Params::parse(
                params,
                &["destination", "satoshi", "feerate", "minconf", "utxos"],
            )?,
        ),
        "decode" => decode(&Params::parse(params, &["string"])?, "string"),
        "offer" => super::offers::offer(
            ctx,
            &Params::parse(
                params,
                &[
                    "amount",
                    "description",
                    "issuer",
                    "label",
                    "quantity_max",
                    "absolute_expiry",
                    "start_at",
                    "recurrence",
                    "recurrence_base",
                    "recurrence_paywindow",
                    "recurrence_limit",
                    "single_use",
                    "recurrence_start_any_period",
                    "dev_paths",
                    "proportional_amount",
                    "optional_recurrence",
                ],
            )?,
        ),
        "fetchinvoice" => super::offers::fetchinvoice(
            ctx,
            &Params::parse(
                params,
                &[
                    "offer",
                    "amount_msat",
                    "quantity",
                    "recurrence_counter",
                    "recurrence_start",
                    "recurrence_label",
                    "timeout",
                    "payer_note",
                    "payer_metadata",
                    "bip353",
                ],
            )?,
            alive,
        ),
        "listoffers" => {
            super::offers::listoffers(ctx, &Params::parse(params, &["offer_id", "active_only"])?)
        }
        "disableoffer" => super::offers::disableoffer(ctx, &Params::parse(params, &["offer_id"])?),
        "enableoffer" => super::offers::enableoffer(ctx, &Params::parse(params, &["offer_id"])?),
        "decodepay" => decode(
            &Params::parse(params, &["bolt11", "description"])?,
            "bolt11",
        ),
        "stop" => {
            Params::parse(params, &[])?;
            ctx.stop_requested.store(true, Ordering::SeqCst);
            Ok(json!("Shutdown complete"))
        }
        "listchannels" => super::graph::listchannels(
            ctx,
            &Params::parse(params, &["short_channel_id", "source", "destination"])?,
        ),
        "listnodes" => super::graph::listnodes(ctx, &Params::parse(params, &["id"])?),
        "getroute" => super::graph::getroute(
            ctx,
            &Params::parse(
                params,
                &[
                    "id",
                    "amount_msat",
                    "riskfactor",
                    "cltv",
                    "fromid",
                    "fuzzpercent",
                    "exclude",
                    "maxhops",
                ],
            )?,
        ),
        "listforwards" => super::graph::listforwards(
            ctx,
            &Params::parse(
                params,
                &[
                    "status",
                    "in_channel",
                    "out_channel",
                    "index",
                    "start",
                    "limit",
                ],
            )?,
        ),
        "exportchanbackup" => super::backup::export(ctx, &Params::parse(params, &["id"])?),
        "verifychanbackup" => super::backup::verify(ctx, &Params::parse(params, &["backup"])?),
        "restorechanbackup" => super::backup::restore(ctx, &Params::parse(params, &["backup"])?),
        "keysend" => super::keysend::keysend(
            ctx,
            &Params::parse(
                params,
                &[
                    "destination",
                    "amount_msat",
                    "label",
                    "maxfeepercent",
                    "retry_for",
                    "maxdelay",
                    "exemptfee",
                    "routehints",
                    "extratlvs",
                    "maxfee",
                ],
            )?,
            false,
            alive,
        ),
        "xkeysend" => super::keysend::keysend(
            ctx,
            &Params::parse(
                params,
                &[
                    "destination",
                    "amount_msat",
                    "maxfee",
                    "retry_for",
                    "maxdelay",
                    "extratlvs",
                    "layers",
                    "label",
                ],
            )?,
            true,
            alive,
        ),
        other => Err(RpcError::new(-32601, format!("Unknown command '{other}'"))),
    }
}

fn network_name(n: bitcoin::Network) -> &'static str {
    match n {
        bitcoin::Network::Bitcoin => "bitcoin",
        bitcoin::Network::Testnet | bitcoin::Network::Testnet4 => "testnet",
        bitcoin::Network::Signet => "signet",
        _ => "regtest",
    }
}

fn is_opening(p: Phase) -> bool {
    matches!(
        p,
        Phase::AwaitingAccept
            | Phase::AwaitingFundingTx
            | Phase::AwaitingFundingCreated
            | Phase::AwaitingFundingSigned
            | Phase::AwaitingChannelReady
    )
}

/// CLN's name of a channel's state.
fn cln_state(c: &ChannelDetails) -> &'static str {
    match c.phase {
        Phase::AwaitingAccept
        | Phase::AwaitingFundingTx
        | Phase::AwaitingFundingCreated
        | Phase::AwaitingFundingSigned => "OPENINGD",
        Phase::AwaitingChannelReady => "CHANNELD_AWAITING_LOCKIN",
        Phase::Normal => "CHANNELD_NORMAL",
        Phase::ShuttingDown => "CHANNELD_SHUTTING_DOWN",
        Phase::Closed | Phase::Failed => match c.closing {
            Some(_) => "ONCHAIN",
            None if c.phase == Phase::Closed => "CLOSINGD_COMPLETE",
            None => "AWAITING_UNILATERAL",
        },
    }
}

fn addr_json(a: SocketAddr) -> Value {
    let ty = if a.is_ipv4() { "ipv4" } else { "ipv6" };
    json!({"type": ty, "address": a.ip().to_string(), "port": a.port()})
}

fn getinfo(ctx: &Ctx, _: &Params) -> Result<Value, RpcError> {
    let st = ctx.rt.lock();
    let chans = st.node.list_channels();
    let pending = chans.iter().filter(|c| is_opening(c.phase)).count();
    let active = chans
        .iter()
        .filter(|c| c.phase == Phase::Normal && c.is_usable)
        .count();
    let inactive = chans
        .iter()
        .filter(|c| matches!(c.phase, Phase::Normal | Phase::ShuttingDown) && !c.is_usable)
        .count();
    let listen = ctx.rt.listen_addr();
    let address: Vec<Value> = listen
        .filter(|a| !a.ip().is_unspecified())
        .map(addr_json)
        .into_iter()
        .collect();
    let binding: Vec<Value> = listen.map(addr_json).into_iter().collect();
    Ok(json!({
        "id": st.node.node_id().to_string(),
        "alias": ctx.rt.alias(),
        "color": "3399ff",
        "num_peers": st.node.connected_peers().len(),
        "num_pending_channels": pending,
        "num_active_channels": active,
        "num_inactive_channels": inactive,
        "address": address,
        "binding": binding,
        "version": concat!("lnnode-v", env!("CARGO_PKG_VERSION")),
        "blockheight": st.node.best_block().height,
        "network": network_name(ctx.rt.network()),
        "fees_collected_msat": 0,
        "lightning-dir": ctx.rt.data_dir().display().to_string(),
        "our_features": {},
        "warning_bitcoind_sync": st.sync_error.clone(),
    }))
}

pub(super) fn hash_of(bolt11: &str) -> Option<PaymentHash> {
    let inv: Bolt11Invoice = bolt11.parse().ok()?;
    Some(PaymentHash(inv.payment_hash().0))
}

fn invoice(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let amount = match p.get("amount_msat") {
        None => return Err(RpcError::params("missing required parameter: amount_msat")),
        Some(Value::String(s)) if s == "any" => None,
        Some(_) => Some(p.msat("amount_msat")?.unwrap_or(0)),
    };
    if amount == Some(0) {
        return Err(RpcError::params(
            "amount_msat: must be positive, or \"any\"",
        ));
    }
    let label = p.req_string("label")?;
    let description = p.req_text("description")?;
    // `deschashonly`: the invoice carries the description's SHA256 only
    // (BOLT 11 `h`), as LNURL-pay needs; any length then.
    let hash_only = p.bool("deschashonly")? == Some(true);
    if description.len() > 639 && !hash_only {
        return Err(RpcError::params(
            "description: longer than 639 bytes (use deschashonly)",
        ));
    }
    let expiry = p.u64("expiry")?.unwrap_or(604_800);
    p.unsupported(&["fallbacks", "preimage"])?;
    if let Some(v) = p.get("exposeprivatechannels") {
        if !(v.is_boolean() || v.is_array() || v.is_string()) {
            return Err(RpcError::params("exposeprivatechannels: bad type"));
        }
    }
    let mut st = ctx.rt.lock();
    if let Some(cltv) = p.u64("cltv")? {
        let ours = u64::from(st.node.config().min_final_cltv_expiry_delta);
        if cltv != ours {
            return Err(RpcError::params(format!(
                "cltv: this node issues invoices with cltv {ours} only"
            )));
        }
    }
    if st.meta.by_label(&label).is_some() {
        return Err(RpcError::new(900, "Duplicate label"));
    }
    let created = now();
    let described = if hash_only {
        use bitcoin::hashes::{sha256, Hash};
        InvoiceDescription::Hash(sha256::Hash::hash(description.as_bytes()))
    } else {
        InvoiceDescription::Direct(description.clone())
    };
    let inv = st
        .node
        .create_invoice_described(
            amount.map(lightning_core::amount::Msat),
            &described,
            Duration::from_secs(expiry),
            created,
        )
        .map_err(|e| RpcError::general(e.to_string()))?;
    let hash = PaymentHash(inv.payment_hash().0);
    let created_index = st.meta.last_created_index + 1;
    st.meta.last_created_index = created_index;
    st.meta.invoices.insert(
        hash,
        InvoiceMeta {
            label,
            description,
            created_index,
            ..InvoiceMeta::default()
        },
    );
    st.meta
        .save_invoice(hash)
        .map_err(|e| RpcError::general(e.to_string()))?;
    Ok(json!({
        "payment_hash": hash.to_string(),
        "expires_at": created.as_secs().saturating_add(expiry),
        "bolt11": inv.to_string(),
        "payment_secret": hex::encode(inv.payment_secret().0),
        "created_index": created_index,
    }))
}

/// One invoice as `listinvoices` shows it; `None` if deleted.
fn invoice_json(st: &State, hash: &PaymentHash) -> Option<Value> {
    let d = st
        .node
        .list_invoices()
        .into_iter()
        .find(|i| i.payment_hash == *hash)?;
    let m = st.meta.invoices.get(hash).cloned().unwrap_or(InvoiceMeta {
        label: hash.to_string(),
        ..InvoiceMeta::default()
    });
    if m.deleted {
        return None;
    }
    let expires_at = d.created_at.saturating_add(d.expiry_secs);
    let paid = d.status == InvoiceStatus::Paid;
    let status = if paid {
        "paid"
    } else if now().as_secs() >= expires_at {
        "expired"
    } else {
        "unpaid"
    };
    let description = if m.description.is_empty() {
        d.bolt11
            .parse::<Bolt11Invoice>()
            .ok()
            .and_then(|i| match i.description() {
                InvoiceDescription::Direct(s) => Some(s.clone()),
                InvoiceDescription::Hash(_) => None,
            })
            .unwrap_or_default()
    } else {
        m.description.clone()
    };
    let mut v = json!({
        "label": m.label,
        "bolt11": d.bolt11,
        "payment_hash": hash.to_string(),
        "status": status,
        "description": description,
        "expires_at": expires_at,
        "created_index": m.created_index,
    });
    if let Some(id) = d.offer_id {
        v["local_offer_id"] = json!(hex::encode(id));
    }
    if let Some(a) = d.amount_msat {
        v["amount_msat"] = json!(a.0);
    }
    if paid {
        v["amount_received_msat"] =
            json!(m.amount_received_msat.unwrap_or(d.amount_received_msat.0));
        if let Some(i) = m.pay_index {
            v["pay_index"] = json!(i);
        }
        v["paid_at"] = json!(m.paid_at.unwrap_or(d.created_at));
        if let Some(pre) = st.node.invoice_preimage(hash) {
            v["payment_preimage"] = json!(pre.to_string());
        }
    }
    Some(v)
}

pub(super) fn parse_hash_hex(name: &str, s: &str) -> Result<PaymentHash, RpcError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| RpcError::params(format!("{name}: should be a 32-byte hex value")))?;
    Ok(PaymentHash(out))
}

fn listinvoices(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let label = p.string("label")?;
    let invstring = p.text("invstring")?;
    let hash = p
        .text("payment_hash")?
        .map(|h| parse_hash_hex("payment_hash", &h))
        .transpose()?;
    let offer_id = p
        .text("offer_id")?
        .map(|h| parse_hash_hex("offer_id", &h).map(|h| h.0))
        .transpose()?;
    if let Some(i) = p.text("index")? {
        if i != "created" && i != "updated" {
            return Err(RpcError::params("index: should be created or updated"));
        }
    }
    let start = p.u64("start")?.unwrap_or(0);
    let limit = p.u64("limit")?.unwrap_or(u64::MAX);
    let filters = [
        label.is_some(),
        invstring.is_some(),
        hash.is_some(),
        offer_id.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if filters > 1 {
        return Err(RpcError::params(
            "Can only specify one of {label}, {invstring}, {payment_hash} or {offer_id}",
        ));
    }
    let st = ctx.rt.lock();
    let wanted: Option<PaymentHash> = if let Some(l) = &label {
        match st.meta.by_label(l) {
            Some(h) => Some(h),
            None => return Ok(json!({"invoices": []})),
        }
    } else if let Some(s) = &invstring {
        Some(hash_of(s).ok_or_else(|| RpcError::params("invstring: not a valid invoice"))?)
    } else {
        hash
    };
    let mut out: Vec<(u64, Value)> = st
        .node
        .list_invoices()
        .iter()
        .filter(|d| wanted.is_none_or(|w| w == d.payment_hash))
        .filter(|d| offer_id.is_none() || d.offer_id == offer_id)
        .filter_map(|d| {
            let v = invoice_json(&st, &d.payment_hash)?;
            let ci = v["created_index"].as_u64().unwrap_or(0);
            Some((ci, v))
        })
        .filter(|(ci, _)| *ci >= start)
        .collect();
    out.sort_by_key(|(ci, _)| *ci);
    let list: Vec<Value> = out
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(_, v)| v)
        .collect();
    Ok(json!({"invoices": list}))
}

fn waitanyinvoice(ctx: &Ctx, p: &Params, alive: &dyn Fn() -> bool) -> Result<Value, RpcError> {
    let last = p.u64("lastpay_index")?;
    let timeout = p.u64("timeout")?;
    let first_after = |st: &State, after: u64| -> Option<PaymentHash> {
        st.meta
            .invoices
            .iter()
            .filter(|(_, m)| m.pay_index.is_some_and(|i| i > after) && !m.deleted)
            .min_by_key(|(_, m)| m.pay_index)
            .map(|(h, _)| *h)
    };
    let threshold = {
        let st = ctx.rt.lock();
        if let Some(last) = last {
            if let Some(h) = first_after(&st, last) {
                return invoice_json(&st, &h).ok_or_else(|| RpcError::general("invoice vanished"));
            }
        }
        // None paid after it: the next one paid from now on.
        st.meta.last_pay_index
    };
    let deadline = timeout.map(|t| std::time::Instant::now() + Duration::from_secs(t));
    loop {
        let step = Duration::from_millis(500);
        let found = ctx.rt.wait_until(step, |st| {
            let h = first_after(st, threshold)?;
            invoice_json(st, &h)
        });
        if let Some(v) = found {
            return Ok(v);
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(RpcError::new(904, "Timed out"));
        }
        if ctx.rt.is_stopping() || !alive() {
            return Err(RpcError::general("interrupted"));
        }
    }
}

fn delinvoice(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let label = p.req_string("label")?;
    let status = p.req_text("status")?;
    if !matches!(status.as_str(), "paid" | "unpaid" | "expired") {
        return Err(RpcError::params(
            "status: should be paid, unpaid or expired",
        ));
    }
    p.unsupported(&["desconly"])?;
    let mut st = ctx.rt.lock();
    let hash = st
        .meta
        .by_label(&label)
        .ok_or_else(|| RpcError::new(905, "Unknown invoice"))?;
    let v = invoice_json(&st, &hash).ok_or_else(|| RpcError::new(905, "Unknown invoice"))?;
    let actual = v["status"].as_str().unwrap_or("");
    if actual != status {
        return Err(RpcError::new(
            906,
            format!("Invoice status is {actual} not {status}"),
        ));
    }
    if let Some(m) = st.meta.invoices.get_mut(&hash) {
        m.deleted = true;
    }
    st.meta
        .save_invoice(hash)
        .map_err(|e| RpcError::general(e.to_string()))?;
    Ok(v)
}

fn pay(
    ctx: &Ctx,
    p: &Params,
    inv_param: &str,
    xpay: bool,
    alive: &dyn Fn() -> bool,
) -> Result<Value, RpcError> {
    let s = p.req_text(inv_param)?;
    let s = s
        .strip_prefix("lightning:")
        .or_else(|| s.strip_prefix("LIGHTNING:"))
        .unwrap_or(&s)
        .to_owned();
    if s.get(..4).is_some_and(|h| h.eq_ignore_ascii_case("lni1")) {
        return super::offers::pay_bolt12(ctx, p, inv_param, &s, xpay, alive);
    }
    let inv: Bolt11Invoice = s
        .parse()
        .map_err(|e| RpcError::params(format!("{inv_param}: Invalid bolt11: {e}")))?;
    // CLN: `amount_msat` for an invoice without an amount, and only then.
    let amount = p.msat("amount_msat")?;
    let amount_msat = match (inv.amount_msat(), amount) {
        (Some(_), Some(_)) => return Err(RpcError::params("amount_msat: parameter unnecessary")),
        (None, None) => return Err(RpcError::params("amount_msat: parameter required")),
        (None, Some(0)) => return Err(RpcError::params("amount_msat: must be positive")),
        (Some(a), None) | (None, Some(a)) => a,
    };
    p.unsupported(&["partial_msat", "localinvreqid", "layers", "payer_note"])?;
    let mut options = pay_options(p, amount_msat, xpay)?;
    if inv.amount_msat().is_none() {
        options.amount_msat = Some(Msat(amount_msat));
    }
    p.u64("maxdelay")?;
    let retry_for = p
        .u64("retry_for")?
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WAIT);
    let hash = PaymentHash(inv.payment_hash().0);
    start_payment(
        ctx,
        &s,
        hash,
        inv.payee(),
        |node| node.pay_invoice_with(&inv, &options, now()),
        |m| RpcError::new(210, m),
    )?;
    let details = wait_settled(ctx, PaymentId(hash.0), retry_for, alive)?;
    Ok(paid_result(&ctx.rt.lock(), &details, xpay))
}

/// Starts paying the invoice `text` (payment `hash`, to `payee`) with
/// `start`, as CLN's `pay` answers: a payment to ourselves is refused; a
/// started one has `text` recorded for `listpays`; one already paid is
/// let through (its earlier result is the answer); else CLN's codes: 200
/// in progress, 201 failed before, 205 no route, 207 expired, and
/// `refused` for anything else the node refused about the invoice.
pub(super) fn start_payment(
    ctx: &Ctx,
    text: &str,
    hash: PaymentHash,
    payee: &PublicKey,
    start: impl FnOnce(&mut lightning_core::node::Node) -> Result<PaymentId, NodeError>,
    refused: impl FnOnce(String) -> RpcError,
) -> Result<(), RpcError> {
    let mut st = ctx.rt.lock();
    if payee == &st.node.node_id() {
        return Err(RpcError::params(
            "This payment is destined for ourselves. Self-payment is not supported",
        ));
    }
    match start(&mut st.node) {
        Ok(_) => {
            st.meta.payments.insert(
                hash,
                PaymentMeta {
                    bolt11: text.to_owned(),
                    ..PaymentMeta::default()
                },
            );
            let _ = st.meta.save_payment(hash);
            Ok(())
        }
        Err(NodeError::DuplicatePayment(_)) => match st.node.payment(&PaymentId(hash.0)) {
            Some(d) if d.status == PaymentStatus::Succeeded => Ok(()),
            Some(d) if d.status == PaymentStatus::Pending => {
                Err(RpcError::new(200, "Payment is already in progress"))
            }
            _ => Err(RpcError::new(201, "Already paid or failed")),
        },
        Err(e @ (NodeError::NoRoute { .. } | NodeError::Route(_) | NodeError::NotConnected(_))) => {
            Err(RpcError::new(205, format!("Ran out of routes to try: {e}")))
        }
        Err(NodeError::Invoice(m)) if m.contains("expired") => {
            Err(RpcError::new(207, "Invoice expired"))
        }
        Err(NodeError::Invoice(m)) => Err(refused(m)),
        Err(e) => Err(RpcError::new(210, e.to_string())),
    }
}

/// A settled payment as CLN answers it: `xpay`'s shape (`x`), or
/// `pay`'s and `keysend`'s.
pub(super) fn paid_result(
    st: &State,
    details: &lightning_core::node::PaymentDetails,
    x: bool,
) -> Value {
    let fee = st
        .meta
        .payments
        .get(&details.payment_hash)
        .and_then(|m| m.fee_msat)
        .unwrap_or(0);
    let amount = details.amount_msat.0;
    let preimage = details.preimage.map(|p| p.to_string()).unwrap_or_default();
    // A split payment's parts (BOLT 4 "Basic Multi-Part Payments"); one
    // HTLC at a time counts as one part, its failed attempts as failed
    // parts.
    let (paid_parts, failed_parts) = if details.parts.is_empty() {
        (1, details.attempts.saturating_sub(1) as usize)
    } else {
        let paid = details
            .parts
            .iter()
            .filter(|p| p.status == lightning_core::node::PartStatus::Fulfilled)
            .count();
        (paid, details.parts.len() - paid)
    };
    if x {
        json!({
            "payment_preimage": preimage,
            "failed_parts": failed_parts,
            "successful_parts": paid_parts,
            "amount_msat": amount,
            "amount_sent_msat": amount.saturating_add(fee),
        })
    } else {
        json!({
            "destination": details.payee.to_string(),
            "payment_hash": details.payment_hash.to_string(),
            "created_at": details.created_at,
            "parts": paid_parts,
            "amount_msat": amount,
            "amount_sent_msat": amount.saturating_add(fee),
            "payment_preimage": preimage,
            "status": "complete",
        })
    }
}

/// The call's fee cap as [`PayOptions`]: CLN's `pay`/`keysend` rules, or
/// `xpay`/`xkeysend`'s (`x`).
pub(super) fn pay_options(p: &Params, amount_msat: u64, x: bool) -> Result<PayOptions, RpcError> {
    let mut options = PayOptions::default();
    options.max_fee_msat = if x {
        Some(xpay_fee_cap(p, amount_msat)?)
    } else {
        pay_fee_cap(p, amount_msat)?
    }
    .map(Msat);
    Ok(options)
}

/// Waits until payment `id` is no longer pending (at most `retry_for`,
/// or until the runtime stops or the client goes): its details once it
/// succeeded; CLN's 200 while it is in flight, 210 once it failed.
pub(super) fn wait_settled(
    ctx: &Ctx,
    id: PaymentId,
    retry_for: Duration,
    alive: &dyn Fn() -> bool,
) -> Result<lightning_core::node::PaymentDetails, RpcError> {
    let deadline = std::time::Instant::now() + retry_for;
    let details = loop {
        let d = ctx.rt.wait_until(Duration::from_millis(500), |st| {
            st.node
                .payment(&id)
                .filter(|d| d.status != PaymentStatus::Pending)
        });
        if let Some(d) = d {
            break d;
        }
        if std::time::Instant::now() >= deadline || ctx.rt.is_stopping() || !alive() {
            return Err(RpcError::new(200, "Payment is still in progress"));
        }
    };
    if details.status == PaymentStatus::Failed {
        let st = ctx.rt.lock();
        let why = st
            .meta
            .payments
            .get(&PaymentHash(id.0))
            .and_then(|m| m.failure.clone())
            .or(details.failure)
            .unwrap_or_else(|| "failed".into());
        return Err(RpcError::new(
            210,
            format!("Failed after {} attempts: {why}", details.attempts),
        ));
    }
    Ok(details)
}

/// The routing-fee cap of a `pay` or `keysend` call, CLN's way: `maxfee`
/// alone, or the larger of `maxfeepercent` (default 0.5) of `amount` and
/// `exemptfee` (default 5000 msat) when either is given; `None` (the
/// node's budget, the same 0.5 % and 5000 msat by default) otherwise.
fn pay_fee_cap(p: &Params, amount_msat: u64) -> Result<Option<u64>, RpcError> {
    let maxfee = p.msat("maxfee")?;
    let percent = p.number("maxfeepercent")?;
    let exempt = p.msat("exemptfee")?;
    if let Some(m) = maxfee {
        if percent.is_some() || exempt.is_some() {
            return Err(RpcError::params(
                "maxfee: cannot be combined with maxfeepercent or exemptfee",
            ));
        }
        return Ok(Some(m));
    }
    if percent.is_none() && exempt.is_none() {
        return Ok(None);
    }
    let percent = percent.unwrap_or(0.5);
    if !(0.0..=100.0).contains(&percent) {
        return Err(RpcError::params(
            "maxfeepercent: should be between 0 and 100",
        ));
    }
    // Per-million, exact for the two decimals CLN documents.
    let ppm = (percent * 10_000.0).round() as u64;
    let by_percent =
        u64::try_from(u128::from(amount_msat) * u128::from(ppm) / 1_000_000).unwrap_or(u64::MAX);
    Ok(Some(by_percent.max(exempt.unwrap_or(5000))))
}

/// The routing-fee cap of an `xpay` or `xkeysend` call: `maxfee`, else
/// CLN's default for them, 5000 msat or 1 % of `amount`, the larger.
fn xpay_fee_cap(p: &Params, amount_msat: u64) -> Result<u64, RpcError> {
    Ok(p.msat("maxfee")?.unwrap_or((amount_msat / 100).max(5000)))
}

fn listfunds(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let _spent = p.bool("spent")?;
    let st = ctx.rt.lock();
    let outputs: Vec<Value> = st
        .wallet
        .coins()
        .into_iter()
        .map(|c| {
            json!({
                "txid": c.outpoint.txid.to_string(),
                "output": c.outpoint.vout,
                "amount_msat": c.txout.value.to_sat().saturating_mul(1000),
                "scriptpubkey": hex::encode(c.txout.script_pubkey.as_bytes()),
                "address": st.wallet.address_of(&c.txout.script_pubkey),
                "status": "confirmed",
                "blockheight": c.height,
                "reserved": c.reserved,
            })
        })
        .collect();
    let connected = st.node.connected_peers();
    let channels: Vec<Value> = st
        .node
        .list_channels()
        .iter()
        .filter(|c| c.funding_txo.is_some())
        .map(|c| {
            let mut v = json!({
                "peer_id": c.counterparty.to_string(),
                "connected": connected.iter().any(|(_, n)| *n == c.counterparty),
                "state": cln_state(c),
                "channel_id": c.channel_id.to_string(),
                "our_amount_msat": c.local_balance_msat.0,
                "amount_msat": c.capacity_sat.to_sat().saturating_mul(1000),
            });
            if let Some(txo) = c.funding_txo {
                v["funding_txid"] = json!(txo.txid.to_string());
                v["funding_output"] = json!(txo.vout);
            }
            if let Some(scid) = c.short_channel_id {
                v["short_channel_id"] = json!(scid.to_string());
            }
            v
        })
        .collect();
    Ok(json!({"outputs": outputs, "channels": channels}))
}

pub(super) fn parse_pubkey(name: &str, s: &str) -> Result<PublicKey, RpcError> {
    PublicKey::from_str(s).map_err(|_| RpcError::params(format!("{name}: should be a node id")))
}

fn listpeerchannels(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let id = p
        .string("id")?
        .map(|s| parse_pubkey("id", &s))
        .transpose()?;
    let st = ctx.rt.lock();
    let connected = st.node.connected_peers();
    let channels: Vec<Value> = st
        .node
        .list_channels()
        .iter()
        .filter(|c| id.is_none_or(|i| i == c.counterparty))
        .map(|c| {
            let total = c.capacity_sat.to_sat().saturating_mul(1000);
            let mut v = json!({
                "peer_id": c.counterparty.to_string(),
                "peer_connected": connected.iter().any(|(_, n)| *n == c.counterparty),
                "state": cln_state(c),
                "channel_id": c.channel_id.to_string(),
                "private": !c.announce_channel,
                "opener": if c.is_outbound { "local" } else { "remote" },
                "to_us_msat": c.local_balance_msat.0,
                "total_msat": total,
                "spendable_msat": c.outbound_capacity_msat.0,
                "receivable_msat": total.saturating_sub(c.local_balance_msat.0),
            });
            if let Some(txo) = c.funding_txo {
                v["funding_txid"] = json!(txo.txid.to_string());
                v["funding_outnum"] = json!(txo.vout);
            }
            if let Some(scid) = c.short_channel_id {
                v["short_channel_id"] = json!(scid.to_string());
            }
            v
        })
        .collect();
    Ok(json!({"channels": channels}))
}

fn newaddr(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let ty = p.text("addresstype")?.unwrap_or_else(|| "bech32".into());
    match ty.as_str() {
        "bech32" | "all" => {}
        "p2tr" => {
            return Err(RpcError::params(
                "addresstype: p2tr is not supported by this node",
            ))
        }
        _ => {
            return Err(RpcError::params(
                "addresstype: should be bech32, p2tr or all",
            ))
        }
    }
    let addr = ctx
        .rt
        .new_address()
        .map_err(|e| RpcError::general(e.to_string()))?;
    Ok(json!({"bech32": addr.to_string()}))
}

fn connect(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let id = p.req_text("id")?;
    let (id_part, mut host, mut port) = match id.split_once('@') {
        Some((i, rest)) => match rest.rsplit_once(':') {
            Some((h, port)) => (
                i.to_owned(),
                Some(h.trim_matches(|c| c == '[' || c == ']').to_owned()),
                Some(
                    port.parse::<u16>()
                        .map_err(|_| RpcError::params("id: bad port"))?,
                ),
            ),
            None => (i.to_owned(), Some(rest.to_owned()), None),
        },
        None => (id.clone(), None, None),
    };
    if let Some(h) = p.text("host")? {
        if host.is_some() {
            return Err(RpcError::params("host: already given in id"));
        }
        host = Some(h);
    }
    if let Some(pt) = p.u64("port")? {
        port = Some(u16::try_from(pt).map_err(|_| RpcError::params("port: out of range"))?);
    }
    let node_id = parse_pubkey("id", &id_part)?;
    if node_id == ctx.rt.node_id() {
        return Err(RpcError::params("id: cannot connect to ourselves"));
    }
    let addr: SocketAddr = match host {
        Some(h) => (h.as_str(), port.unwrap_or(9735))
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| RpcError::new(401, format!("Unable to resolve {h}")))?,
        None => ctx
            .rt
            .lock()
            .peer_addrs
            .get(&node_id)
            .copied()
            .ok_or_else(|| RpcError::new(400, "Unable to connect, no address known for peer"))?,
    };
    ctx.rt
        .connect(node_id, addr, Duration::from_secs(30))
        .map_err(|e| RpcError::new(401, format!("Connection establishment: {e}")))?;
    Ok(json!({
        "id": node_id.to_string(),
        "features": "",
        "direction": "out",
        "address": addr_json(addr),
    }))
}

/// `Nperkb`, `Nperkw`, a bare number (per kB), or `slow`/`normal`/`urgent`.
fn parse_feerate(ctx: &Ctx, p: &Params, name: &str) -> Result<Option<FeeRate>, RpcError> {
    use lightning_chain::ConfirmationTarget as T;
    let v = match p.get(name) {
        None => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(RpcError::params(format!("{name}: bad feerate"))),
    };
    let bad = || RpcError::params(format!("{name}: bad feerate {v:?}"));
    let est = |t| ctx.rt.chain().fee_rate(t);
    let rate = match v.as_str() {
        "slow" => est(T::NonUrgentOnChainSweep),
        "normal" => est(T::NonAnchorChannelFee),
        "urgent" => est(T::UrgentOnChainSweep),
        "minimum" => est(T::ChannelCloseMinimum),
        s => {
            let (num, per_kw) = if let Some(n) = s.strip_suffix("perkw") {
                (n, true)
            } else if let Some(n) = s.strip_suffix("perkb") {
                (n, false)
            } else {
                (s, false)
            };
            let n: u32 = num.parse().map_err(|_| bad())?;
            FeeRate::from_sat_per_kw(if per_kw { n } else { n / 4 }).at_least_floor()
        }
    };
    Ok(Some(rate))
}

fn fundchannel(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let id = parse_pubkey("id", &p.req_text("id")?)?;
    if p.get("amount").is_none() {
        return Err(RpcError::params("missing required parameter: amount"));
    }
    if p.get("amount").and_then(Value::as_str) == Some("all") {
        return Err(RpcError::params(
            "amount: \"all\" is not supported by this node",
        ));
    }
    let amount = p.sat("amount")?.unwrap_or(0);
    let feerate = parse_feerate(ctx, p, "feerate")?;
    if let Some(announce) = p.bool("announce")? {
        let ours = ctx.rt.lock().node.config().channel.announce_channel;
        if announce != ours {
            return Err(RpcError::params(format!(
                "announce: this node opens channels with announce={ours} only"
            )));
        }
    }
    let _minconf = p.u64("minconf")?;
    let push = p.msat("push_msat")?.unwrap_or(0);
    p.unsupported(&[
        "close_to",
        "request_amt",
        "compact_lease",
        "utxos",
        "mindepth",
        "reserve",
        "channel_type",
    ])?;
    if !ctx.rt.is_connected(&id) {
        return Err(RpcError::general("Unknown peer (not connected)"));
    }
    let (channel_id, tx) = ctx
        .rt
        .open_channel(id, amount, push, feerate, DEFAULT_WAIT)
        .map_err(|e| match e {
            RuntimeError::Other(m) if m.contains("insufficient") => {
                RpcError::new(301, format!("Could not afford {amount}sat: {m}"))
            }
            e => RpcError::general(e.to_string()),
        })?;
    let st = ctx.rt.lock();
    let outnum = st
        .node
        .list_channels()
        .iter()
        .find(|c| c.channel_id == channel_id)
        .and_then(|c| c.funding_txo)
        .map(|o| o.vout)
        .unwrap_or(0);
    Ok(json!({
        "tx": bitcoin::consensus::encode::serialize_hex(&tx),
        "txid": tx.compute_txid().to_string(),
        "outnum": outnum,
        "channel_id": channel_id.to_string(),
    }))
}

pub(super) fn find_channel(st: &State, id: &str) -> Result<ChannelDetails, RpcError> {
    let chans = st.node.list_channels();
    let open = |c: &&ChannelDetails| !matches!(c.phase, Phase::Closed | Phase::Failed);
    let found = if id.len() == 66 {
        let pk = parse_pubkey("id", id)?;
        let mut it = chans.iter().filter(|c| c.counterparty == pk).filter(open);
        let first = it.next();
        if it.next().is_some() {
            return Err(RpcError::general(
                "Peer has multiple channels: use a channel id",
            ));
        }
        first.cloned()
    } else if id.len() == 64 {
        chans
            .iter()
            .find(|c| c.channel_id.to_string() == id)
            .cloned()
    } else {
        chans
            .iter()
            .find(|c| c.short_channel_id.is_some_and(|s| s.to_string() == id))
            .cloned()
    };
    found.ok_or_else(|| RpcError::general(format!("Short channel ID not active: '{id}'")))
}

fn close(ctx: &Ctx, p: &Params, alive: &dyn Fn() -> bool) -> Result<Value, RpcError> {
    let id = p.req_text("id")?;
    let timeout = p.u64("unilateraltimeout")?;
    p.unsupported(&["destination", "wrong_funding", "feerange"])?;
    let _ = p.string("fee_negotiation_step")?;
    let _ = p.bool("force_lease_closed")?;
    let channel_id = {
        let mut st = ctx.rt.lock();
        let c = find_channel(&st, &id)?;
        st.node
            .close_channel(c.channel_id)
            .map_err(|e| RpcError::general(e.to_string()))?;
        c.channel_id
    };
    let wait = Duration::from_secs(match timeout {
        Some(0) | None => 172_800,
        Some(t) => t,
    });
    let deadline = std::time::Instant::now() + wait;
    let closed = |st: &mut State| st.closed.get(&channel_id).cloned();
    loop {
        if let Some((_, tx)) = ctx.rt.wait_until(Duration::from_millis(500), closed) {
            return Ok(close_result("mutual", tx.as_ref()));
        }
        if ctx.rt.is_stopping() || !alive() {
            return Err(RpcError::general("interrupted"));
        }
        if std::time::Instant::now() >= deadline {
            break;
        }
    }
    // The peer did not agree in time: close unilaterally.
    ctx.rt
        .with_node(|n| n.force_close_channel(channel_id))
        .map_err(|e| RpcError::general(e.to_string()))?;
    let got = ctx.rt.wait_until(DEFAULT_WAIT, closed);
    Ok(close_result(
        "unilateral",
        got.as_ref().and_then(|(_, tx)| tx.as_ref()),
    ))
}

fn close_result(ty: &str, tx: Option<&bitcoin::Transaction>) -> Value {
    match tx {
        Some(tx) => json!({
            "type": ty,
            "tx": bitcoin::consensus::encode::serialize_hex(tx),
            "txid": tx.compute_txid().to_string(),
            "txs": [bitcoin::consensus::encode::serialize_hex(tx)],
            "txids": [tx.compute_txid().to_string()],
        }),
        None => json!({"type": ty}),
    }
}

fn withdraw(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let dest = p.req_text("destination")?;
    let addr = bitcoin::Address::from_str(&dest)
        .ok()
        .and_then(|a| a.require_network(ctx.rt.network()).ok())
        .ok_or_else(|| RpcError::params("destination: Could not parse destination address"))?;
    let amount = match p.get("satoshi") {
        None => return Err(RpcError::params("missing required parameter: satoshi")),
        Some(Value::String(s)) if s == "all" => None,
        Some(_) => Some(p.sat("satoshi")?.unwrap_or(0)),
    };
    let feerate = parse_feerate(ctx, p, "feerate")?;
    let _ = p.u64("minconf")?;
    p.unsupported(&["utxos"])?;
    let tx = ctx
        .rt
        .withdraw(addr.script_pubkey(), amount, feerate)
        .map_err(|e| match e {
            RuntimeError::Wallet(crate::wallet::WalletError::InsufficientFunds(m)) => {
                RpcError::new(301, format!("Could not afford: {m}"))
            }
            e => RpcError::general(e.to_string()),
        })?;
    Ok(json!({
        "tx": bitcoin::consensus::encode::serialize_hex(&tx),
        "txid": tx.compute_txid().to_string(),
        "psbt": "",
    }))
}

fn decode(p: &Params, name: &str) -> Result<Value, RpcError> {
    let s = p.req_text(name)?;
    let s = s.strip_prefix("lightning:").unwrap_or(&s);
    if name == "string" {
        if let Some(decoded) = super::offers::decode_bolt12(s) {
            return decoded;
        }
    }
    let inv: Bolt11Invoice = match s.parse() {
        Ok(i) => i,
        Err(e) => {
            return Err(RpcError::params(format!(
                "{name}: unknown or invalid string (BOLT 11 invoices and BOLT 12 offers, requests and invoices): {e}"
            )))
        }
    };
    let mut v = json!({
        "type": "bolt11 invoice",
        "valid": true,
        "currency": inv.hrp().trim_start_matches("ln").trim_end_matches(|c: char| c.is_ascii_digit() || "munp".contains(c)),
        "created_at": inv.timestamp(),
        "expiry": inv.expiry_time(),
        "payee": inv.payee().to_string(),
        "payment_hash": PaymentHash(inv.payment_hash().0).to_string(),
        "payment_secret": hex::encode(inv.payment_secret().0),
        "min_final_cltv_expiry": inv.min_final_cltv_expiry_delta(),
    });
    if let Some(a) = inv.amount_msat() {
        v["amount_msat"] = json!(a);
    }
    match inv.description() {
        InvoiceDescription::Direct(d) => v["description"] = json!(d),
        InvoiceDescription::Hash(h) => v["description_hash"] = json!(h.to_string()),
    }
    Ok(v)
}
