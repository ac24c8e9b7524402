//! Blinded payment paths as a router sees them: the path a recipient gave
//! (BOLT 4 "Route Blinding", BOLT 12 `blinded_path`) with its
//! `blinded_payinfo` (BOLT 12 "Invoices"), and the blinded tail a route
//! ends with.
//!
//! The sender knows the blinded part only in aggregate: one fee policy and
//! one CLTV delta for the whole path, computed by the recipient as BOLT 4
//! "Requirements" (for the creator of `encrypted_recipient_data`) defines,
//! rounding up at each hop so that the sender's amount always covers what
//! every blinded hop deducts. The router treats a blinded path as one
//! virtual last hop from its introduction node, charging
//! [`BlindedPayInfo::fee_for`] on the amount the recipient receives and
//! [`BlindedPayInfo::cltv_expiry_delta`] above the current height.

use lightning_wire::Msat;
use secp256k1::PublicKey;

use crate::graph::NodeId;

/// One hop of a blinded path (BOLT 12 `onionmsg_hop`): its blinded id and
/// the `encrypted_recipient_data` the sender puts in its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindedHop {
    /// `blinded_node_id`.
    pub blinded_node_id: PublicKey,
    /// `encrypted_recipient_data`, opaque to the sender.
    pub encrypted_recipient_data: Vec<u8>,
}

/// What the sender pays for a whole blinded path (BOLT 12
/// `blinded_payinfo`), aggregated over its hops by the recipient (BOLT 4
/// `total_fee_base_msat(n+1)`, `total_fee_proportional_millionths(n+1)`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlindedPayInfo {
    /// The aggregated base fee.
    pub fee_base_msat: u32,
    /// The aggregated proportional fee.
    pub fee_proportional_millionths: u32,
    /// The CLTV delta of the whole path, the recipient's final delta
    /// included: the introduction node's HTLC expires this many blocks
    /// above the current height.
    pub cltv_expiry_delta: u16,
    /// The smallest HTLC every hop of the path accepts.
    pub htlc_minimum_msat: Msat,
    /// The largest HTLC every hop of the path accepts. The router also
    /// takes it as the path's liquidity: the parts of one route together
    /// put at most this much on the path.
    pub htlc_maximum_msat: Msat,
    /// `features` (big-endian bytes, BOLT 9 context `B`).
    pub features: Vec<u8>,
}

/// One forwarding hop's `payment_relay` (BOLT 4 `encrypted_data_tlv`
/// type 10), as [`BlindedPayInfo::aggregate`] takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HopRelay {
    /// `fee_base_msat`.
    pub fee_base_msat: u32,
    /// `fee_proportional_millionths`.
    pub fee_proportional_millionths: u32,
    /// `cltv_expiry_delta`.
    pub cltv_expiry_delta: u16,
}

impl BlindedPayInfo {
    /// The fee the sender pays for the path when the recipient is to
    /// receive `final_amount`: `fee_base_msat + final_amount *
    /// fee_proportional_millionths / 1000000`, rounded down, the formula of
    /// BOLT 7 "HTLC Fees" applied to the aggregate (the aggregate is
    /// rounded up at each hop, so this amount always covers what the hops
    /// deduct with BOLT 4's `amt_to_forward`; `tests/blinded.rs` checks it).
    /// `None` when it overflows.
    pub fn fee_for(&self, final_amount: Msat) -> Option<Msat> {
        let prop =
            u128::from(final_amount.0) * u128::from(self.fee_proportional_millionths) / 1_000_000;
        let fee = u128::from(self.fee_base_msat) + prop;
        u64::try_from(fee).ok().map(Msat)
    }

    /// What the introduction node must receive for the recipient to get
    /// `final_amount`: `final_amount` plus [`BlindedPayInfo::fee_for`].
    pub fn amount_to_introduction(&self, final_amount: Msat) -> Option<Msat> {
        final_amount.checked_add(self.fee_for(final_amount)?)
    }

    /// Whether the path carries a part of which the recipient gets
    /// `final_amount` and the introduction node receives `intro_amount`:
    /// every hop's HTLC lies between those two, so both must lie within
    /// `htlc_minimum_msat ..= htlc_maximum_msat`.
    pub fn accepts(&self, final_amount: Msat, intro_amount: Msat) -> bool {
        final_amount >= self.htlc_minimum_msat && intro_amount <= self.htlc_maximum_msat
    }

    /// Whether `features` sets an even bit (BOLT 12: a path whose
    /// `features` has an unknown even bit must not be used; no blinded
    /// path feature is known yet).
    pub fn has_unknown_required_features(&self) -> bool {
        // Bit i is in byte len-1-i/8; even bits are 0x55 within a byte.
        self.features.iter().any(|b| b & 0x55 != 0)
    }

    /// The aggregate of a path whose forwarding hops (introduction node
    /// first, the recipient excluded) relay with `relays`, and whose
    /// recipient needs `final_cltv_expiry_delta` blocks: BOLT 4
    /// "Requirements" for the creator of `encrypted_recipient_data`, from
    /// the recipient backwards:
    ///
    /// ```text
    /// total_fee_base_msat(n+1) = (fee_base_msat(n+1) * 1000000
    ///     + total_fee_base_msat(n) * (1000000 + fee_proportional_millionths(n+1))
    ///     + 1000000 - 1) / 1000000
    /// total_fee_proportional_millionths(n+1) = ((total_fee_proportional_millionths(n)
    ///     + fee_proportional_millionths(n+1)) * 1000000
    ///     + total_fee_proportional_millionths(n) * fee_proportional_millionths(n+1)
    ///     + 1000000 - 1) / 1000000
    /// ```
    ///
    /// and the CLTV deltas summed. `None` when a total overflows its
    /// field. HTLC limits and features are left to the caller.
    pub fn aggregate(relays: &[HopRelay], final_cltv_expiry_delta: u16) -> Option<BlindedPayInfo> {
        let mut base: u128 = 0;
        let mut prop: u128 = 0;
        let mut cltv: u32 = u32::from(final_cltv_expiry_delta);
        for r in relays.iter().rev() {
            let b = u128::from(r.fee_base_msat);
            let p = u128::from(r.fee_proportional_millionths);
            // The spec's `+ 1000000 - 1) / 1000000`: rounding up.
            base = (b * 1_000_000 + base * (1_000_000 + p)).div_ceil(1_000_000);
            prop = ((prop + p) * 1_000_000 + prop * p).div_ceil(1_000_000);
            cltv += u32::from(r.cltv_expiry_delta);
        }
        Some(BlindedPayInfo {
            fee_base_msat: u32::try_from(base).ok()?,
            fee_proportional_millionths: u32::try_from(prop).ok()?,
            cltv_expiry_delta: u16::try_from(cltv).ok()?,
            htlc_minimum_msat: Msat::ZERO,
            htlc_maximum_msat: Msat(u64::MAX),
            features: Vec::new(),
        })
    }
}

impl HopRelay {
    /// What this hop forwards when it receives `amount_msat`: BOLT 4
    /// `amt_to_forward = ((amount_msat - fee_base_msat) * 1000000 +
    /// 1000000 + fee_proportional_millionths - 1) / (1000000 +
    /// fee_proportional_millionths)`. `None` when the amount does not
    /// even cover the base fee.
    pub fn amount_to_forward(&self, amount_msat: Msat) -> Option<Msat> {
        let over = u128::from(amount_msat.0.checked_sub(u64::from(self.fee_base_msat))?);
        let p = u128::from(self.fee_proportional_millionths);
        let fwd = (over * 1_000_000 + 1_000_000 + p - 1) / (1_000_000 + p);
        u64::try_from(fwd).ok().map(Msat)
    }
}

/// A blinded payment path given by a recipient (BOLT 12 `blinded_path`
/// with its `blinded_payinfo`).
///
/// `hops[0]` is the introduction node's hop (its `blinded_node_id` is
/// unused by the sender, who reaches the introduction node by its real
/// id); the last hop is the recipient's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindedPaymentPath {
    /// The introduction node (`first_node_id`), reached unblinded.
    pub introduction_node: NodeId,
    /// The first path key `E(0)` (`first_path_key`), handed to the
    /// introduction node as `current_path_key` in its payload.
    pub first_path_key: PublicKey,
    /// The hops, introduction node first, at least one.
    pub hops: Vec<BlindedHop>,
    /// What the path costs.
    pub payinfo: BlindedPayInfo,
}

impl BlindedPaymentPath {
    /// Onion payloads the path takes beyond the introduction node's: one
    /// per later blinded hop.
    pub fn extra_hops(&self) -> u8 {
        u8::try_from(self.hops.len().saturating_sub(1)).unwrap_or(u8::MAX)
    }
}

/// The blinded end of a [`RoutePath`](crate::RoutePath): which of
/// [`RouteParams::blinded_paths`](crate::RouteParams::blinded_paths) it
/// takes and what is handed to its introduction node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindedTail {
    /// The index of the path in the request's `blinded_paths`.
    pub path_index: usize,
    /// The path itself.
    pub path: BlindedPaymentPath,
    /// What the introduction node receives (the HTLC amount into it, or
    /// what the payer hands itself when it is the introduction node).
    pub amount: Msat,
    /// The CLTV delta of the HTLC into the introduction node above the
    /// current height (the path's `cltv_expiry_delta`).
    pub cltv_expiry_delta: u32,
    /// What the recipient receives over this part (`amt_to_forward` of the
    /// final blinded hop).
    pub final_amount: Msat,
}

impl BlindedTail {
    /// The fee the blinded part of the path takes.
    pub fn fee(&self) -> Msat {
        self.amount.saturating_sub(self.final_amount)
    }
}
