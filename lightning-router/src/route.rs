//! What a router is asked for ([`RouteParams`], [`FirstHop`]) and what it
//! answers ([`Route`], [`RoutePath`], [`RouteHop`], [`RouteError`]).

use std::collections::HashSet;

use lightning_wire::bolt11::{Bolt11Invoice, RouteHint};
use lightning_wire::types::ShortChannelId;
use lightning_wire::Msat;

use crate::blinded::{BlindedPaymentPath, BlindedTail};
use crate::graph::{Direction, NodeId};
use crate::scorer::HopUse;

/// The most hops a path may have. BOLT 4 "Packet Structure": the onion's
/// `hop_payloads` is 1300 bytes, which holds 20 hops of the legacy 65-byte
/// size; TLV payloads of forwarding hops are about that size.
pub const MAX_PATH_LENGTH: u8 = 20;

/// The default of [`RouteParams::max_total_cltv_expiry_delta`]: 2016 blocks,
/// two weeks, the most a payer lets its funds be locked.
pub const DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA: u32 = 2016;

/// The default `min_final_cltv_expiry_delta` when an invoice has no `c`
/// field (BOLT 11 "Tagged Fields": 18).
pub const DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA: u16 = 18;

/// A channel of the payer's own, with what it can really send now (the
/// graph only knows capacities). When the caller gives first hops, the
/// router uses only them out of the payer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstHop {
    /// The channel's short id (or alias).
    pub scid: ShortChannelId,
    /// The peer.
    pub counterparty: NodeId,
    /// What the payer can send over it now, in total, for all parts.
    pub outbound_capacity: Msat,
    /// The peer's `htlc_minimum_msat` for HTLCs it receives.
    pub htlc_minimum_msat: Msat,
    /// The channel's capacity, if known (for the scorer's records).
    pub capacity: Option<Msat>,
}

/// What to route.
#[derive(Clone, Debug)]
pub struct RouteParams {
    /// The final recipient (ignored when [`RouteParams::blinded_paths`] is
    /// not empty: the recipient of a blinded path is unknown).
    pub payee: NodeId,
    /// What the payee must receive, in total over all parts.
    pub amount: Msat,
    /// The payee's `min_final_cltv_expiry_delta` (BOLT 11 `c`).
    pub min_final_cltv_expiry_delta: u16,
    /// The most fees the route may pay in total, over all parts.
    pub max_total_fee: Option<Msat>,
    /// The most blocks, above the current height, any part's first HTLC
    /// may expire at (default [`DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA`]).
    pub max_total_cltv_expiry_delta: u32,
    /// The most parts (1 forbids splitting).
    pub max_path_count: u8,
    /// The most hops per path, at most [`MAX_PATH_LENGTH`].
    pub max_path_length: u8,
    /// Private last hops from the invoice (BOLT 11 `r`).
    pub route_hints: Vec<RouteHint>,
    /// The recipient's blinded paths (BOLT 12 `invoice_paths` with their
    /// `invoice_blindedpay`). When not empty, every part ends in one of
    /// them ([`RoutePath::blinded_tail`]): the search targets their
    /// introduction nodes, `payee` and `min_final_cltv_expiry_delta` are
    /// ignored (each path's [`BlindedPayInfo`](crate::BlindedPayInfo)
    /// includes the recipient's delta), and so are `route_hints` (they
    /// lead to `payee`). Paths whose features set an even bit are skipped
    /// (BOLT 12).
    pub blinded_paths: Vec<BlindedPaymentPath>,
    /// Channels not to use.
    pub excluded_channels: HashSet<ShortChannelId>,
    /// Nodes not to route through (the payer and payee cannot be excluded).
    pub excluded_nodes: HashSet<NodeId>,
    /// Whether the payee accepts multi-part payments (BOLT 11 feature
    /// `basic_mpp`, bits 16/17).
    pub allow_mpp: bool,
    /// When the best single path succeeds with at least this probability,
    /// splitting is not tried (0.9).
    pub split_threshold: f64,
}

impl RouteParams {
    /// Defaults for paying `amount` to `payee`: single path or split, no
    /// fee limit, the default CLTV limits.
    pub fn new(payee: NodeId, amount: Msat) -> Self {
        RouteParams {
            payee,
            amount,
            min_final_cltv_expiry_delta: DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
            max_total_fee: None,
            max_total_cltv_expiry_delta: DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA,
            max_path_count: 10,
            max_path_length: MAX_PATH_LENGTH,
            route_hints: Vec::new(),
            blinded_paths: Vec::new(),
            excluded_channels: HashSet::new(),
            excluded_nodes: HashSet::new(),
            allow_mpp: true,
            split_threshold: 0.9,
        }
    }

    /// Defaults for paying `amount` over the recipient's blinded `paths`
    /// (BOLT 4 "Route Blinding"): the search ends at the paths'
    /// introduction nodes, each path one virtual last hop charging its
    /// aggregated `blinded_payinfo`.
    ///
    /// ```
    /// use lightning_router::{
    ///     find_route, BlindedHop, BlindedPayInfo, BlindedPaymentPath, ChannelPolicy,
    ///     ChannelSpec, CompactGraph, NodeId, RouteParams, ZeroPenalty,
    /// };
    /// use lightning_wire::{types::ShortChannelId, Msat};
    /// use secp256k1::{PublicKey, SecretKey, SECP256K1};
    ///
    /// let key = |i: u8| PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[i; 32]).unwrap());
    /// let (payer, intro) = (NodeId::from_pubkey(&key(1)), NodeId::from_pubkey(&key(2)));
    /// let policy = ChannelPolicy {
    ///     fee_base_msat: 1000, fee_proportional_millionths: 100, cltv_expiry_delta: 40,
    ///     htlc_minimum_msat: Msat(1), htlc_maximum_msat: Msat(1_000_000_000), disabled: false,
    /// };
    /// let graph = CompactGraph::build(vec![ChannelSpec {
    ///     scid: ShortChannelId(1), node_a: payer, node_b: intro, capacity: Some(Msat(2_000_000_000)),
    ///     a_to_b: Some(policy), b_to_a: Some(policy),
    /// }]).unwrap();
    /// let path = BlindedPaymentPath {
    ///     introduction_node: intro,
    ///     first_path_key: key(9),
    ///     hops: vec![
    ///         BlindedHop { blinded_node_id: key(10), encrypted_recipient_data: vec![1; 40] },
    ///         BlindedHop { blinded_node_id: key(11), encrypted_recipient_data: vec![2; 40] },
    ///     ],
    ///     payinfo: BlindedPayInfo {
    ///         fee_base_msat: 500, fee_proportional_millionths: 1000, cltv_expiry_delta: 100,
    ///         htlc_minimum_msat: Msat(1), htlc_maximum_msat: Msat(u64::MAX), features: vec![],
    ///     },
    /// };
    /// let params = RouteParams::for_blinded_paths(vec![path], Msat(1_000_000));
    /// let route = find_route(&graph, &payer, None, &params, &ZeroPenalty).unwrap();
    /// let tail = route.paths[0].blinded_tail.as_ref().unwrap();
    /// // 500 + 1_000_000 * 1000 / 1e6 for the blinded part, nothing for our own channel.
    /// assert_eq!(tail.amount, Msat(1_001_500));
    /// assert_eq!(route.paths[0].hops[0].amount, Msat(1_001_500));
    /// assert_eq!(route.paths[0].total_cltv_expiry_delta(), 100);
    /// ```
    pub fn for_blinded_paths(paths: Vec<BlindedPaymentPath>, amount: Msat) -> Self {
        let mut p = RouteParams::new(NodeId([0; 33]), amount);
        p.min_final_cltv_expiry_delta = 0;
        p.blinded_paths = paths;
        p
    }

    /// The parameters an invoice asks for: its payee, amount (or
    /// `amount` for an invoice without one), `c` field and `r` hints, and
    /// multi-part only if it sets `basic_mpp` (BOLT 11 "Feature Bits").
    pub fn from_invoice(invoice: &Bolt11Invoice, amount: Option<Msat>) -> Option<Self> {
        let amount = invoice.amount_msat().map(Msat).or(amount)?;
        let mut p = RouteParams::new(NodeId::from_pubkey(invoice.payee()), amount);
        p.min_final_cltv_expiry_delta =
            u16::try_from(invoice.min_final_cltv_expiry_delta()).unwrap_or(u16::MAX);
        p.route_hints = invoice.route_hints().to_vec();
        p.allow_mpp = invoice
            .features()
            .is_some_and(|f| f.supports(lightning_wire::features::Feature::BasicMpp));
        Some(p)
    }
}

/// One hop of a path: the channel into `node_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteHop {
    /// The channel.
    pub short_channel_id: ShortChannelId,
    /// The node the channel leads to.
    pub node_id: NodeId,
    /// The direction of the channel used.
    pub direction: Direction,
    /// The channel's capacity, if known.
    pub capacity: Option<Msat>,
    /// The HTLC amount on this channel (what `node_id` receives).
    pub amount: Msat,
    /// The fee `node_id` keeps for forwarding over the next hop (its own
    /// policy on that channel); zero on the last hop.
    pub fee: Msat,
    /// The HTLC's `cltv_expiry` minus the current height: the payee's
    /// `min_final_cltv_expiry_delta` on the last hop, plus each later hop's
    /// `cltv_expiry_delta` before it (BOLT 4 "Payload for the last node"
    /// and BOLT 7 `cltv_expiry_delta`).
    pub cltv_expiry_delta: u32,
}

/// One part of a route.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutePath {
    /// The hops from the payer's first channel to the payee.
    pub hops: Vec<RouteHop>,
    /// The scorer's estimate that this part arrives, given the parts
    /// before it in the same route.
    pub success_probability: f64,
    /// The blinded path this part ends in, when the request gave
    /// [`RouteParams::blinded_paths`]: `hops` then lead to its
    /// introduction node (and are empty when the payer is that node).
    pub blinded_tail: Option<BlindedTail>,
}

impl RoutePath {
    /// What the payee receives over this part.
    pub fn final_amount(&self) -> Msat {
        if let Some(t) = &self.blinded_tail {
            return t.final_amount;
        }
        self.hops.last().map_or(Msat::ZERO, |h| h.amount)
    }

    /// What the payer sends over its first channel (or hands itself as
    /// the introduction node of a blinded tail).
    pub fn sent_amount(&self) -> Msat {
        match (self.hops.first(), &self.blinded_tail) {
            (Some(h), _) => h.amount,
            (None, Some(t)) => t.amount,
            (None, None) => Msat::ZERO,
        }
    }

    /// The fees of this part.
    pub fn fee(&self) -> Msat {
        self.sent_amount().saturating_sub(self.final_amount())
    }

    /// The first HTLC's CLTV delta (the most the funds are locked).
    pub fn total_cltv_expiry_delta(&self) -> u32 {
        match (self.hops.first(), &self.blinded_tail) {
            (Some(h), _) => h.cltv_expiry_delta,
            (None, Some(t)) => t.cltv_expiry_delta,
            (None, None) => 0,
        }
    }

    /// The onion payloads this part takes: one per hop, plus one per
    /// blinded hop after the introduction node.
    pub fn onion_hop_count(&self) -> usize {
        self.hops.len()
            + self
                .blinded_tail
                .as_ref()
                .map_or(0, |t| usize::from(t.path.extra_hops()))
    }

    /// The hops as a scorer learns from them.
    pub fn hop_uses(&self) -> Vec<HopUse> {
        self.hops
            .iter()
            .map(|h| HopUse {
                scid: h.short_channel_id,
                direction: h.direction,
                amount: h.amount,
                capacity: h.capacity,
            })
            .collect()
    }
}

/// A route: one or more parts whose final amounts add up to
/// [`Route::total_msat`] (the onion's `total_msat` for multi-part
/// payments, BOLT 4 "Basic Multi-Part Payments").
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// The parts.
    pub paths: Vec<RoutePath>,
    /// What the payee receives in total.
    pub total_msat: Msat,
}

impl Route {
    /// All fees.
    pub fn total_fee(&self) -> Msat {
        self.paths
            .iter()
            .fold(Msat::ZERO, |acc, p| acc.saturating_add(p.fee()))
    }

    /// The largest first-hop CLTV delta of the parts.
    pub fn max_cltv_expiry_delta(&self) -> u32 {
        self.paths
            .iter()
            .map(RoutePath::total_cltv_expiry_delta)
            .max()
            .unwrap_or(0)
    }

    /// The estimate that every part arrives.
    pub fn success_probability(&self) -> f64 {
        self.paths.iter().map(|p| p.success_probability).product()
    }
}

/// Why no route was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Payer and payee are the same node.
    #[error("the payer is the payee")]
    PayerIsPayee,
    /// The amount is zero.
    #[error("cannot route a zero amount")]
    ZeroAmount,
    /// The payer is not in the graph and no first hops were given.
    #[error("the payer has no channels")]
    NoPayerChannels,
    /// The payee is not in the graph and no route hint reaches it.
    #[error("the payee is unknown and no route hint reaches it")]
    UnknownPayee,
    /// No path (or set of parts) satisfies every constraint.
    #[error("no route satisfies the constraints")]
    NoRoute,
    /// None of the blinded paths can be used: each has an unknown even
    /// feature bit, no hop, or an introduction node that is neither in the
    /// graph, nor a peer, nor reached by a route hint.
    #[error("no blinded path has a usable, known introduction node")]
    UnknownIntroductionNode,
    /// The introduction nodes are known but none is reachable from the
    /// payer over channels that are enabled and not excluded, at any
    /// amount.
    #[error("no blinded path's introduction node is reachable from the payer")]
    IntroductionNodeUnreachable,
}
