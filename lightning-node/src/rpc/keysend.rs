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
//! records); `routehints` is CLN's: an array of routes, each an array of
//! hops `{"id": pubkey, "scid": "BxTxO", "feebase": msat, "feeprop":
//! u32, "expirydelta": u16}`, the last hop's channel leading to the
//! destination (BOLT 11 `r` fields, for a destination the public graph does
//! not reach). `layers` is refused. The node routes it (`Node::keysend_to_with`):
//! one path when one carries it, else split in parts, failed attempts
//! retried with the same preimage.

use std::time::Duration;

use lightning_core::node::{NodeError, PaymentHash, MIN_CUSTOM_RECORD_TYPE};
use lightning_core::Msat;
use lightning_wire::bolt11::{RouteHint, RouteHintHop};
use lightning_wire::types::ShortChannelId;
use serde_json::{json, Value};

use super::methods::{paid_result, parse_pubkey, pay_options, wait_settled};
use super::params::{parse_msat, Params};
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

/// The most routes `routehints` may give, and hops per route.
const MAX_HINT_ROUTES: usize = 16;
const MAX_HINT_HOPS: usize = 8;

/// CLN's `routehints`: routes of `{id, scid, feebase, feeprop,
/// expirydelta}` hops.
fn route_hints(p: &Params) -> Result<Vec<RouteHint>, RpcError> {
    let Some(v) = p.get("routehints") else {
        return Ok(Vec::new());
    };
    let bad = |why: &str| RpcError::params(format!("routehints: {why}"));
    let Value::Array(routes) = v else {
        return Err(bad("should be an array of routes"));
    };
    // Bounds: a request is at most 1 MiB, but a route search walks every
    // hint hop; BOLT 11's own `r` fields carry a few short routes.
    if routes.len() > MAX_HINT_ROUTES {
        return Err(bad(&format!("more than {MAX_HINT_ROUTES} routes")));
    }
    let mut out = Vec::with_capacity(routes.len());
    for route in routes {
        let Value::Array(hops) = route else {
            return Err(bad("each route should be an array of hops"));
        };
        if hops.is_empty() || hops.len() > MAX_HINT_HOPS {
            return Err(bad(&format!("a route of 1 to {MAX_HINT_HOPS} hops")));
        }
        let mut hint = Vec::with_capacity(hops.len());
        for hop in hops {
            let field = |name: &str| {
                hop.get(name)
                    .ok_or_else(|| bad(&format!("a hop without {name}")))
            };
            let id = parse_pubkey("routehints id", field("id")?.as_str().unwrap_or(""))?;
            let scid = field("scid")?
                .as_str()
                .and_then(|s| s.parse::<ShortChannelId>().ok())
                .ok_or_else(|| bad("scid should be a short channel id"))?;
            let fee_base_msat = u32::try_from(parse_msat("routehints feebase", field("feebase")?)?)
                .map_err(|_| bad("feebase over 2^32 msat"))?;
            let number = |name: &str, max: u64| {
                field(name)?
                    .as_u64()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| bad(&format!("{name} should be a number up to {max}")))
            };
            let fee_proportional_millionths =
                u32::try_from(number("feeprop", u64::from(u32::MAX))?)
                    .map_err(|_| bad("feeprop"))?;
            let cltv_expiry_delta = u16::try_from(number("expirydelta", u64::from(u16::MAX))?)
                .map_err(|_| bad("expirydelta"))?;
            hint.push(RouteHintHop {
                src_node_id: id.into(),
                short_channel_id: scid,
                fee_base_msat,
                fee_proportional_millionths,
                cltv_expiry_delta,
            });
        }
        out.push(RouteHint(hint));
    }
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
    p.unsupported(&["layers"])?;
    let records = extra_tlvs(p)?;
    let mut options = pay_options(p, amount, xkeysend)?;
    options.route_hints = route_hints(p)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

    fn hints(v: Value) -> Result<Vec<RouteHint>, RpcError> {
        route_hints(&Params::parse(&json!({ "routehints": v }), &["routehints"]).unwrap())
    }

    #[test]
    fn routehints_are_clns_routes_of_hops() {
        let hop = json!({"id": KEY, "scid": "700x1x0", "feebase": "1000msat", "feeprop": 200, "expirydelta": 40});
        let got = hints(json!([[hop.clone()], [hop.clone(), hop.clone()]])).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0.len(), 2);
        let h = &got[0].0[0];
        assert_eq!(h.short_channel_id, "700x1x0".parse().unwrap());
        assert_eq!(
            (
                h.fee_base_msat,
                h.fee_proportional_millionths,
                h.cltv_expiry_delta
            ),
            (1000, 200, 40)
        );
        // Every malformed shape is a parameter error, none a panic.
        let mut missing = hop.clone();
        missing.as_object_mut().unwrap().remove("scid");
        let mut over = hop.clone();
        over["expirydelta"] = json!(70_000);
        let mut bad_key = hop.clone();
        bad_key["id"] = json!("02");
        for v in [
            json!({}),
            json!([hop.clone()]),
            json!([[]]),
            json!([[missing]]),
            json!([[over]]),
            json!([[bad_key]]),
            json!(vec![json!([hop.clone()]); 17]),
            json!([vec![hop.clone(); 9]]),
        ] {
            let e = hints(v.clone()).unwrap_err();
            assert_eq!(e.code, -32602, "{v}");
        }
    }
}
