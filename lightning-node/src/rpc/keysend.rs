//! `keysend` and `xkeysend`: a payment without an invoice (bLIP 3: the
//! preimage travels in the onion to the payee,
//! [`lightning_core::node::Node::keysend_to_with`]).
//!
//! `keysend destination amount_msat [label] [maxfeepercent] [retry_for]
//! [maxdelay] [exemptfee] [routehints] [extratlvs] [maxfee]`, CLN's
//! parameters and result (`payment_preimage`, `payment_hash`,
//! `created_at`, `parts`, `amount_msat`, `amount_sent_msat`, `status`,
//! `destination`). `xkeysend destination amount_msat [maxfee] [retry_for]
//! [maxdelay] [extratlvs]` answers like `xpay` (with `payment_hash`), its
//! fee cap defaulting as `xpay`'s. `extratlvs` is an object of
//! `"type": "hex value"`, each type at least 65536 (bLIP 3's custom
//! records); `routehints` and `layers` are refused. One attempt, one
//! path: a keysend is not retried over another route.

use std::time::Duration;

use lightning_core::node::{NodeError, PaymentHash, MIN_CUSTOM_RECORD_TYPE};
use lightning_core::Msat;
use serde_json::{json, Value};

use super::methods::{paid_result, parse_pubkey, pay_options, wait_settled};
use super::params::Params;
use super::{Ctx, RpcError};
use crate::meta::PaymentMeta;
use crate::runtime::now;

/// How long `keysend` waits by default (CLN's `retry_for` default).
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// `extratlvs` as custom records, in ascending type order.
fn extra_tlvs(p: &Params) -> Result<Vec<(u64, Vec<u8>)>, RpcError> {
    let Some(v) = p.get("extratlvs") else {
        return Ok(Vec::new());
    };
    let Value::Object(map) = v else {
        return Err(RpcError::params(
            "extratlvs: should be an object of \"type\": \"hex\"",
        ));
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let ty: u64 = k
            .parse()
            .map_err(|_| RpcError::params(format!("extratlvs: {k} is not a type number")))?;
        if ty < MIN_CUSTOM_RECORD_TYPE {
            return Err(RpcError::params(format!(
                "extratlvs: type {ty} is below {MIN_CUSTOM_RECORD_TYPE} (custom records only)"
            )));
        }
        let hex_value = v
            .as_str()
            .ok_or_else(|| RpcError::params(format!("extratlvs: {k} should be a hex string")))?;
        let bytes = hex::decode(hex_value)
            .map_err(|_| RpcError::params(format!("extratlvs: {k} is not hex")))?;
        out.push((ty, bytes));
    }
    out.sort_by_key(|(t, _)| *t);
    Ok(out)
}

pub(super) fn keysend(
    ctx: &Ctx,
    p: &Params,
    xkeysend: bool,
    alive: &dyn Fn() -> bool,
) -> Result<Value, RpcError> {
    let destination = parse_pubkey("destination", &p.req_text("destination")?)?;
    let amount = p
        .msat("amount_msat")?
        .ok_or_else(|| RpcError::params("amount_msat: missing"))?;
    if amount == 0 {
        return Err(RpcError::params("amount_msat: should be positive"));
    }
    p.unsupported(&["routehints", "layers"])?;
    let records = extra_tlvs(p)?;
    let options = pay_options(p, amount, xkeysend)?;
    p.u64("maxdelay")?;
    p.text("label")?;
    let retry_for = p
        .u64("retry_for")?
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WAIT);
    let id = {
        let mut st = ctx.rt.lock();
        if destination == st.node.node_id() {
            return Err(RpcError::params(
                "This payment is destined for ourselves. Self-payment is not supported",
            ));
        }
        let sent = st
            .node
            .keysend_to_with(destination, Msat(amount), records, &options, now());
        let id = match sent {
            Ok(id) => id,
            Err(e @ (NodeError::NoRoute { .. } | NodeError::NotConnected(_))) => {
                return Err(RpcError::new(205, format!("Ran out of routes to try: {e}")))
            }
            Err(e) => return Err(RpcError::new(210, e.to_string())),
        };
        let hash = PaymentHash(id.0);
        st.meta.payments.insert(hash, PaymentMeta::default());
        let _ = st.meta.save_payment(hash);
        id
    };
    let details = wait_settled(ctx, id, retry_for, alive)?;
    let mut v = paid_result(&ctx.rt.lock(), &details, xkeysend);
    if xkeysend {
        v["payment_hash"] = json!(PaymentHash(id.0).to_string());
    }
    Ok(v)
}
