//! The options of one payment: the caller's part of what
//! [`Node::pay_invoice_with`](super::Node::pay_invoice_with),
//! [`Node::keysend_to_with`](super::Node::keysend_to_with) and
//! [`Node::pay_fetched_bolt12_invoice_with`](super::Node::pay_fetched_bolt12_invoice_with)
//! take. A leaf: every payment path depends on it, it on none of them.

use crate::amount::Msat;

/// What a caller may set for one payment ([`Node::pay_invoice_with`](super::Node::pay_invoice_with),
/// [`Node::keysend_to_with`](super::Node::keysend_to_with)); unset fields take the node's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PayOptions {
    /// The most the payment may pay in routing fees, over all its
    /// attempts' routes (each attempt's route stays within it). `None`:
    /// [`NodeConfig::payment_max_fee_ppm`](super::NodeConfig::payment_max_fee_ppm)
    /// of the amount, at least
    /// [`NodeConfig::payment_max_fee_base_msat`](super::NodeConfig::payment_max_fee_base_msat).
    pub max_fee_msat: Option<Msat>,
    /// What to pay an invoice that names no amount (BOLT 11: the payer
    /// chooses it). `None` for an invoice with an amount; an amount that
    /// differs from the invoice's is refused.
    pub amount_msat: Option<Msat>,
    /// Private routes to the payee of a keysend ([`Node::keysend_to_with`](super::Node::keysend_to_with)),
    /// as an invoice's `r` fields would give them (BOLT 11): the last hop
    /// of each is a channel into the payee. An invoice payment takes the
    /// invoice's own.
    pub route_hints: Vec<lightning_wire::bolt11::RouteHint>,
}
