//! The payments we sent, as Core Lightning lists them:
//!
//! - `listpays [bolt11] [payment_hash] [status]`: one entry per payment
//!   (`payment_hash`, `status`, `destination`, `created_at`, `bolt11`;
//!   `amount_msat` and `amount_sent_msat`, fees included, while pending
//!   or complete; `preimage` once complete, and `number_of_parts` when
//!   more than one part paid it), ordered by `created_at`;
//! - `listsendpays [bolt11] [payment_hash] [status]`: one entry per HTLC
//!   sent (`id`, `groupid`, `partid`, `payment_hash`, `status`,
//!   `amount_msat`, `amount_sent_msat`, `destination`, `created_at`,
//!   `bolt11`, and `payment_preimage` for a fulfilled part), ordered by
//!   `id`.
//!
//! A multi-part payment lists each of its parts, every attempt's, with
//! `partid` from 1 in the order they were sent; a payment made one HTLC
//! at a time lists its current (or last) attempt as part 0. The node
//! pays a payment hash once, so `groupid` is always 1. `id` numbers the
//! entries of the whole list from 1 in that order (payments by creation,
//! parts as sent): it names an entry within one answer, and is not kept
//! across calls by a store of its own as Core Lightning's is.

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

fn with_bolt11(v: &mut Value, m: Option<&PaymentMeta>) {
    if let Some(m) = m.filter(|m| !m.bolt11.is_empty()) {
        v["bolt11"] = json!(m.bolt11);
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
    let mut id = 0u64;
    let mut payments = Vec::new();
    for d in st.node.list_payments() {
        let meta = st.meta.payments.get(&d.payment_hash);
        // (partid, status, amount to the payee, fees) of each HTLC.
        let sent: Vec<(usize, &'static str, u64, u64)> = if d.parts.is_empty() {
            let fee = if d.status == PaymentStatus::Failed {
                // The failed attempt's fees are not kept: what it
                // offered is at least the amount.
                0
            } else {
                d.fee_msat.0
            };
            vec![(0, payment_status(d.status), d.amount_msat.0, fee)]
        } else {
            d.parts
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    (
                        i + 1,
                        part_status(part.status),
                        part.amount_msat.0,
                        part.fee_msat.0,
                    )
                })
                .collect()
        };
        for (partid, status, amount, fee) in sent {
            id += 1;
            if !filter.payment(&d) || !filter.status(status) {
                continue;
            }
            let mut v = json!({
                "created_index": id,
                "id": id,
                "groupid": 1,
                "partid": partid,
                "payment_hash": d.payment_hash.to_string(),
                "status": status,
                "amount_msat": amount,
                "amount_sent_msat": amount.saturating_add(fee),
                "destination": d.payee.to_string(),
                "created_at": d.created_at,
            });
            with_bolt11(&mut v, meta);
            if status == "complete" {
                if let Some(pre) = d.preimage {
                    v["payment_preimage"] = json!(pre.to_string());
                }
            }
            payments.push(v);
        }
    }
    Ok(json!({ "payments": payments }))
}
