//! The payments we sent, as Core Lightning lists them:
//!
//! - `listpays [bolt11] [payment_hash] [status]`: one entry per payment
//!   (`payment_hash`, `status`, `destination`, `created_at`, `bolt11`;
//!   `amount_msat` and `amount_sent_msat`, fees included, while pending
//!   or complete; `preimage` once complete, and `number_of_parts` when
//!   more than one part paid it), ordered by `created_at`;
//! - `listsendpays [bolt11] [payment_hash] [status]`: one entry per HTLC
//!   sent (`id`, `created_index`, `groupid`, `partid`, `payment_hash`,
//!   `status`, `amount_msat`, `amount_sent_msat` (what the HTLC offered,
//!   fees included, also when it failed), `destination`, `created_at`,
//!   `bolt11`, and `payment_preimage` for a fulfilled one), ordered by
//!   `id`.
//!
//! Every HTLC the node sends for a payment is an entry: each attempt of a
//! payment made one HTLC at a time (the earlier ones failed), each part
//! of a split one. `id` (and `created_index`, the same) is the node's
//! index of the HTLC (`PaymentPart::created_index`): given from 1 as
//! HTLCs are sent, stored with the HTLC in the payment's record before it
//! leaves, never changed nor given again, so an entry keeps its id across
//! calls, new payments and restarts, as Core Lightning's does. `partid`
//! numbers a payment's HTLCs in the order they were sent: from 0 while it
//! goes one HTLC at a time (a payment never retried is part 0), its parts
//! from 1 once split. The record keeps a payment's earlier failed HTLCs
//! up to the retry budget (`payment_retry_attempts`, at most 32); older
//! ones are no longer listed. The node pays a payment hash once at a time
//! (a failed payment's hash may be paid again, its HTLCs listed on), so
//! `groupid` is always 1.

use lightning_core::node::{PartStatus, PaymentDetails, PaymentHash, PaymentStatus};
use serde_json::{json, Value};

use super::methods::{hash_of, parse_hash_hex};
use super::params::Params;
use super::{Ctx, RpcError};
use crate::meta::PaymentMeta;

/// The filters both methods take: the payment (by invoice or hash, not
/// both) and the status.
struct Filter {
    hash: Option<PaymentHash>,
    status: Option<String>,
}

impl Filter {
    fn parse(p: &Params) -> Result<Filter, RpcError> {
        let by_bolt11 = match p.text("bolt11")? {
            Some(b) => Some(hash_of(&b).ok_or_else(|| RpcError::params("bolt11: Invalid bolt11"))?),
            None => None,
        };
        let by_hash = p
            .text("payment_hash")?
            .map(|h| parse_hash_hex("payment_hash", &h))
            .transpose()?;
        if by_bolt11.is_some() && by_hash.is_some() {
            return Err(RpcError::params(
                "Can only specify one of {bolt11} or {payment_hash}",
            ));
        }
        let status = p.text("status")?;
        if let Some(s) = &status {
            if !matches!(s.as_str(), "pending" | "complete" | "failed") {
                return Err(RpcError::params(
                    "status: should be pending, complete or failed",
                ));
            }
        }
        Ok(Filter {
            hash: by_bolt11.or(by_hash),
            status,
        })
    }

    fn payment(&self, d: &PaymentDetails) -> bool {
        self.hash.is_none_or(|h| h == d.payment_hash)
    }

    fn status(&self, s: &str) -> bool {
        self.status.as_deref().is_none_or(|w| w == s)
    }
}

fn payment_status(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Succeeded => "complete",
        PaymentStatus::Failed => "failed",
    }
}

fn part_status(s: PartStatus) -> &'static str {
    match s {
        PartStatus::Pending => "pending",
        PartStatus::Fulfilled => "complete",
        PartStatus::Failed => "failed",
    }
}

/// The invoice paid, under `bolt11`, or `bolt12` for a BOLT 12 invoice
/// (Core Lightning's names).
fn with_bolt11(v: &mut Value, m: Option<&PaymentMeta>) {
    if let Some(m) = m.filter(|m| !m.bolt11.is_empty()) {
        let key = if m
            .bolt11
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("lni1"))
        {
            "bolt12"
        } else {
            "bolt11"
        };
        v[key] = json!(m.bolt11);
    }
}

pub(super) fn listpays(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let filter = Filter::parse(p)?;
    let st = ctx.rt.lock();
    let pays: Vec<Value> = st
        .node
        .list_payments()
        .into_iter()
        .filter(|d| filter.payment(d))
        .filter_map(|d| {
            let s = payment_status(d.status);
            if !filter.status(s) {
                return None;
            }
            let mut v = json!({
                "payment_hash": d.payment_hash.to_string(),
                "status": s,
                "destination": d.payee.to_string(),
                "created_at": d.created_at,
            });
            with_bolt11(&mut v, st.meta.payments.get(&d.payment_hash));
            if d.status != PaymentStatus::Failed {
                v["amount_msat"] = json!(d.amount_msat.0);
                v["amount_sent_msat"] = json!(d.amount_msat.0.saturating_add(d.fee_msat.0));
            }
            if d.status == PaymentStatus::Succeeded {
                if let Some(pre) = d.preimage {
                    v["preimage"] = json!(pre.to_string());
                }
                let parts = d
                    .parts
                    .iter()
                    .filter(|p| p.status == PartStatus::Fulfilled)
                    .count();
                if parts > 1 {
                    v["number_of_parts"] = json!(parts);
                }
            }
            Some(v)
        })
        .collect();
    Ok(json!({ "pays": pays }))
}

pub(super) fn listsendpays(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let filter = Filter::parse(p)?;
    let st = ctx.rt.lock();
    let mut payments: Vec<(u64, Value)> = Vec::new();
    for d in st.node.list_payments() {
        if !filter.payment(&d) {
            continue;
        }
        let meta = st.meta.payments.get(&d.payment_hash);
        for h in &d.htlcs {
            let status = part_status(h.status);
            if !filter.status(status) {
                continue;
            }
            let amount = h.amount_msat.0;
            let mut v = json!({
                "created_index": h.created_index,
                "id": h.created_index,
                "groupid": 1,
                "partid": h.partid,
                "payment_hash": d.payment_hash.to_string(),
                "status": status,
                "amount_msat": amount,
                "amount_sent_msat": amount.saturating_add(h.fee_msat.0),
                "destination": d.payee.to_string(),
                "created_at": d.created_at,
            });
            with_bolt11(&mut v, meta);
            if status == "complete" {
                if let Some(pre) = d.preimage {
                    v["payment_preimage"] = json!(pre.to_string());
                }
            }
            payments.push((h.created_index, v));
        }
    }
    payments.sort_by_key(|(id, _)| *id);
    let payments: Vec<Value> = payments.into_iter().map(|(_, v)| v).collect();
    Ok(json!({ "payments": payments }))
}
