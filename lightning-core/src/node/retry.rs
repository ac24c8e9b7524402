//! Payments the node routes and retries itself ([`Node::pay_invoice`]).
//!
//! An invoice payment is made of *attempts*: one path at a time, each a
//! fresh onion and a new HTLC (multi-part sending is not done: the router
//! is asked for one path, `max_path_count` 1). The first attempt goes
//! over a direct channel to the payee when one can carry it, else over
//! the router's path ([`Node::find_route`]). When an attempt fails, BOLT
//! 4 "Receiving Failure Codes" decides:
//!
//! - the *final node* returned the error (`incorrect_or_unknown_payment_details`,
//!   `final_incorrect_*`, ...): the payment fails, without retry (BOLT 4
//!   lets an origin retry a final node's non-PERM error; we do not, a
//!   payee that refused once is not asked again);
//! - an *intermediate hop* returned it: with the NODE bit, the erring node
//!   is excluded for this payment; otherwise the channel outgoing from it
//!   is ("SHOULD eliminate the channel outgoing from the erring node from
//!   consideration"); the scorer learns (the channels before the failing
//!   one carried the amount; `temporary_channel_failure` bounds the
//!   failing channel's liquidity) and a new route is asked for ("SHOULD
//!   then retry routing and sending the payment");
//! - an error that could not be attributed (it did not decode), or an HTLC
//!   that never got committed (disconnection, restart): retried, nothing
//!   excluded.
//!
//! A payment stops after [`NodeConfig::payment_retry_attempts`](super::NodeConfig::payment_retry_attempts)
//! attempts, or once [`NodeConfig::payment_retry_timeout`](super::NodeConfig::payment_retry_timeout)
//! has passed since the first; only then does
//! [`Event::PaymentFailed`](super::Event::PaymentFailed) go out, with the
//! attempt count ([`PaymentFailure::attempts`]).
//!
//! Persist before send: the failed attempt's outcome (the record marked
//! *awaiting* its next attempt, with the exclusions) is written in the
//! step the HTLC's removal became irrevocable, and the next attempt's
//! record (its onion's shared secrets, channel and HTLC id) before its
//! HTLC leaves. After a restart, a pending attempt stays pending (its HTLC
//! is in the channel); an awaiting payment is retried once one of our
//! channels is usable again (or at [`Node::handle_timeout`]), and fails
//! cleanly when the retry timeout passes first.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_router::{Direction, HopUse, NodeId, RouteParams, RoutePath};
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::msgs::Message;
use lightning_wire::Msat;

use super::events::{PaymentFailure, PaymentHash, PaymentStatus};
use super::records::{PathHop, RetryState};
use super::route::{Route, RouteHop};
use super::{Node, NodeError};
use crate::channel::Phase;
use crate::onion::FailureCode;

/// Blocks added to the payee's `min_final_cltv_expiry_delta` for blocks
/// found while the HTLC travels (the payments code adds them to the final
/// expiry; the router's CLTV limit leaves room for them).
pub(super) const CLTV_SLACK: u32 = 3;

/// The payments waiting for their next attempt (in memory; the records
/// say the same with `awaiting`).
#[derive(Debug, Default)]
pub(super) struct RetryQueue {
    /// To route and send at the end of this step.
    due: BTreeSet<PaymentHash>,
    /// No route could be found while some of our channels were not
    /// usable: retried when more channels are usable than
    /// `usable_at_deferral`, at a timer, or failed at the timeout.
    deferred: BTreeSet<PaymentHash>,
    /// Usable channels and public channels known when the last payment
    /// was deferred: more of either wakes the deferred ones.
    usable_at_deferral: usize,
    graph_at_deferral: usize,
    /// Payments pending when the node was restored: the graph may still
    /// be syncing after the restart, so no route is not final for them
    /// before their retry timeout.
    restored: BTreeSet<PaymentHash>,
}

impl RetryQueue {
    /// Whether an attempt is due in this step.
    pub(super) fn has_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// Payment `hash` ended (paid or failed): nothing is owed any more.
    pub(super) fn forget(&mut self, hash: &PaymentHash) {
        self.due.remove(hash);
        self.deferred.remove(hash);
        self.restored.remove(hash);
    }
}

/// What a failed attempt means for the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The payee refused: no retry.
    Final,
    /// Retry, excluding this channel or node for the payment.
    Retry {
        exclude_channel: Option<lightning_wire::types::ShortChannelId>,
        exclude_node: Option<PublicKey>,
    },
}

/// Decides what a failure of an attempt over `route` (its node ids, first
/// hop first) means, and what the scorer learns from `path` (the router's
/// hops; empty for a direct payment): BOLT 4 "Receiving Failure Codes".
/// `failing_hop` is the index in `route` of the node that returned the
/// error; `code` its `failure_code`; `malformed` when our peer returned
/// `update_fail_malformed_htlc` (it could not read our onion itself).
pub(super) fn judge(
    route: &[PublicKey],
    path: &[HopUse],
    failing_hop: Option<usize>,
    code: Option<u16>,
    malformed: bool,
) -> (Verdict, ScorerNote) {
    let retry = |c, n| Verdict::Retry {
        exclude_channel: c,
        exclude_node: n,
    };
    let Some(i) = failing_hop else {
        // Not attributable: nothing to exclude or learn.
        return (retry(None, None), ScorerNote::None);
    };
    if i + 1 >= route.len() {
        return (Verdict::Final, ScorerNote::None);
    }
    let code = FailureCode(code.unwrap_or(0));
    if malformed || code.is_node() {
        // The erring node itself: every channel through it is out.
        let passed = path.len().min(i + 1);
        return (
            retry(None, route.get(i).copied()),
            ScorerNote::Passed(passed),
        );
    }
    // The channel outgoing from the erring node: path[i + 1].
    let channel = path.get(i + 1).map(|h| h.scid);
    let note = if code == FailureCode::TEMPORARY_CHANNEL_FAILURE {
        ScorerNote::FailedAt(i + 1)
    } else {
        ScorerNote::Passed(path.len().min(i + 1))
    };
    (retry(channel, None), note)
}

/// What the scorer learns from a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScorerNote {
    None,
    /// The first `n` hops carried the amount.
    Passed(usize),
    /// Hop `i` could not carry it; the ones before could.
    FailedAt(usize),
}

/// The node's [`Route`] for one of the router's paths, and the path as the
/// record keeps it for the scorer.
///
/// The router's [`lightning_router::RouteHop`] gives, per hop, the HTLC
/// amount into the hop's node and that HTLC's CLTV delta above the current
/// height (cumulative); the node's [`RouteHop`] wants what the hop's node
/// charges to forward into the next hop and the `cltv_expiry_delta` it
/// asks for (BOLT 7 "Routing Example": amounts and expiries are summed
/// backwards from the payee). So hop `i`'s fee is `amount[i] -
/// amount[i + 1]` (the router's `fee`, checked), its delta `cltv[i] -
/// cltv[i + 1]`; the last hop has neither.
pub(super) fn node_route(path: &RoutePath) -> Result<(Route, Vec<PathHop>), String> {
    let hops = &path.hops;
    if hops.is_empty() {
        return Err("the router returned an empty path".into());
    }
    let mut out = Vec::with_capacity(hops.len());
    for (i, h) in hops.iter().enumerate() {
        let node_id = h
            .node_id
            .to_pubkey()
            .map_err(|e| format!("hop {i}: a node id that is not a key: {e}"))?;
        let (fee_msat, cltv_expiry_delta) = match hops.get(i + 1) {
            Some(next) => {
                let fee = h.amount.0.checked_sub(next.amount.0);
                let delta = h.cltv_expiry_delta.checked_sub(next.cltv_expiry_delta);
                match (fee, delta) {
                    (Some(f), Some(d)) if f == h.fee.0 => (f, d),
                    _ => return Err(format!("hop {i}: amounts or CLTV deltas do not add up")),
                }
            }
            None => (0, 0),
        };
        out.push(RouteHop {
            node_id,
            short_channel_id: h.short_channel_id,
            fee_msat,
            cltv_expiry_delta,
        });
    }
    let kept = hops
        .iter()
        .map(|h| PathHop {
            scid: h.short_channel_id,
            direction: h.direction.bit(),
            amount_msat: h.amount.0,
            capacity_msat: h.capacity.map_or(0, |c| c.0),
        })
        .collect();
    Ok((Route { hops: out }, kept))
}

/// The kept path as the scorer takes it.
pub(super) fn hop_uses(path: &[PathHop]) -> Vec<HopUse> {
    path.iter()
        .map(|h| HopUse {
            scid: h.scid,
            direction: Direction::from_bit(h.direction),
            amount: Msat(h.amount_msat),
            capacity: (h.capacity_msat != 0).then_some(Msat(h.capacity_msat)),
        })
        .collect()
}

/// The router's parameters for an attempt at `invoice`: one path (no
/// multi-part sending), fees within `config`'s budget, room for
/// [`CLTV_SLACK`] under the CLTV limit, and the payment's exclusions so
/// far.
pub(super) fn attempt_params(
    invoice: &Bolt11Invoice,
    retry: &RetryState,
    config: &super::NodeConfig,
) -> Option<RouteParams> {
    let mut p = RouteParams::from_invoice(invoice, None)?;
    p.max_total_fee = Some(Msat(config.payment_max_fee_msat(p.amount.0)));
    p.max_path_count = 1;
    p.allow_mpp = false;
    p.max_total_cltv_expiry_delta = p.max_total_cltv_expiry_delta.saturating_sub(CLTV_SLACK);
    p.excluded_channels = retry.excluded_channels.iter().copied().collect();
    p.excluded_nodes = retry
        .excluded_nodes
        .iter()
        .map(NodeId::from_pubkey)
        .collect::<HashSet<_>>();
    Some(p)
}

impl Node {
    /// The current attempt of routed payment `hash` failed with `failure`
    /// (`malformed`: our peer could not read the onion). Retries within
    /// the budget, else reports the payment failed. A payment over a
    /// caller's route (no retry state) fails at once, as before.
    pub(super) fn attempt_failed(
        &mut self,
        hash: PaymentHash,
        mut failure: PaymentFailure,
        malformed: bool,
    ) {
        let Some(p) = self.payments.get(&hash) else {
            return;
        };
        let Some(retry) = p.retry.as_ref() else {
            self.finish_failed(hash, failure);
            return;
        };
        // An attempt whose channel is no longer normal (force closed, its
        // HTLC timed out on chain, shutting down) ends the payment: an
        // HTLC resolved on chain could still be reorganised, so no new
        // attempt is sent while it might yet pay.
        let channel_open = self
            .channels
            .get(&p.channel_id)
            .is_some_and(|e| e.channel.phase() == Phase::Normal);
        if !channel_open {
            self.finish_failed(hash, failure);
            return;
        }
        let uses = hop_uses(&retry.path);
        let (verdict, note) = judge(
            &p.route,
            &uses,
            failure.failing_hop,
            failure.failure_code,
            malformed,
        );
        let attempts = retry.attempts;
        let deadline = p
            .created_at
            .saturating_add(self.config.payment_retry_timeout.as_secs());
        let now = self.now;
        match note {
            ScorerNote::None => {}
            ScorerNote::Passed(n) => self.scorer_mut().probe_succeeded(&uses[..n], now),
            ScorerNote::FailedAt(i) => self.scorer_mut().path_failed(&uses, i, now),
        }
        failure.attempts = attempts;
        // BOLT 4: a valid, more recent `channel_update` in the failure is
        // applied to the graph (and relayed); the channel is still left
        // out for the rest of this payment.
        if let Some(update) = failure.failure.as_ref().and_then(|f| f.channel_update()) {
            if let Ok(m @ Message::ChannelUpdate(_)) = Message::decode(update) {
                self.graph_own_gossip(&m);
            }
        }
        let (exclude_channel, exclude_node) = match verdict {
            Verdict::Final => {
                self.finish_failed(hash, failure);
                return;
            }
            Verdict::Retry {
                exclude_channel,
                exclude_node,
            } => (exclude_channel, exclude_node),
        };
        if attempts >= self.config.payment_retry_attempts {
            failure.message = format!("{}; retries exhausted", failure.message);
            self.finish_failed(hash, failure);
            return;
        }
        if now.as_secs() > deadline {
            failure.message = format!("{}; the retry timeout passed", failure.message);
            self.finish_failed(hash, failure);
            return;
        }
        if let Some(p) = self.payments.get_mut(&hash) {
            p.note_failure(&failure);
            if let Some(r) = p.retry.as_mut() {
                r.awaiting = true;
                r.excluded_channels.extend(exclude_channel);
                r.excluded_nodes.extend(exclude_node);
            }
        }
        // Written in this step: the next attempt is owed even across a
        // restart.
        self.save_payment(hash);
        self.payment_retries.due.insert(hash);
    }

    /// Routes and sends the next attempt of every payment due (called by
    /// [`Node::finish`] before commitments are signed, so a new HTLC goes
    /// out in the same step). A payment with no route fails, unless some
    /// of our channels are not usable now (a peer away) or it was pending
    /// when the node was restored (the graph may still be syncing): it
    /// then waits, within its retry timeout, for more usable channels or
    /// public channels, or a timer.
    pub(super) fn run_payment_retries(&mut self) {
        if !self.payment_retries.deferred.is_empty() {
            let (usable, graph) = self.retry_wake_counts();
            let q = &mut self.payment_retries;
            if usable > q.usable_at_deferral || graph > q.graph_at_deferral {
                let deferred = std::mem::take(&mut q.deferred);
                q.due.extend(deferred);
            }
        }
        let due = std::mem::take(&mut self.payment_retries.due);
        for hash in due {
            self.retry_payment(hash);
        }
    }

    /// Our usable channels, and the public channels we know.
    fn retry_wake_counts(&self) -> (usize, usize) {
        let usable = self
            .channels
            .values()
            .filter(|e| e.channel.is_usable())
            .count();
        let graph = self
            .public_graph
            .parts
            .as_ref()
            .map_or(0, |p| p.graph.channel_count());
        (usable, graph)
    }

    /// At a timer: payments waiting for a usable channel are tried again,
    /// or fail once their retry timeout has passed.
    pub(super) fn payment_retry_timeout(&mut self) {
        let deferred = std::mem::take(&mut self.payment_retries.deferred);
        self.payment_retries.due.extend(deferred);
    }

    /// When [`Node::handle_timeout`] must next run for retries: the
    /// earliest retry deadline of a payment waiting for a channel.
    pub(super) fn payment_retry_next_timeout(&self) -> Option<Duration> {
        let timeout = self.config.payment_retry_timeout.as_secs();
        self.payment_retries
            .deferred
            .iter()
            .filter_map(|h| self.payments.get(h))
            .map(|p| Duration::from_secs(p.created_at.saturating_add(timeout).saturating_add(1)))
            .min()
    }

    /// Restore: payments whose next attempt was owed when the node stopped
    /// wait for a usable channel; every pending one may wait for the graph.
    pub(super) fn restore_payment_retries(&mut self) {
        for (hash, p) in &self.payments {
            let Some(r) = p.retry.as_ref() else {
                continue;
            };
            if p.status != PaymentStatus::Pending {
                continue;
            }
            // Pending (its attempt in flight) or awaiting: either may need
            // a route before the graph has synced again.
            self.payment_retries.restored.insert(*hash);
            if r.awaiting {
                self.payment_retries.deferred.insert(*hash);
            }
        }
        self.payment_retries.usable_at_deferral = 0;
        self.payment_retries.graph_at_deferral = 0;
    }

    fn retry_payment(&mut self, hash: PaymentHash) {
        let Some(p) = self.payments.get(&hash) else {
            return;
        };
        let Some(retry) = p.retry.clone().filter(|r| r.awaiting) else {
            return;
        };
        if p.status != PaymentStatus::Pending {
            return;
        }
        let last = p.last_failure(retry.attempts);
        let created_at = p.created_at;
        let deadline = created_at.saturating_add(self.config.payment_retry_timeout.as_secs());
        if self.now.as_secs() > deadline {
            self.give_up(hash, last, "the retry timeout passed before a new attempt");
            return;
        }
        let invoice = match retry.bolt11.parse::<Bolt11Invoice>() {
            Ok(i) => i,
            Err(e) => {
                self.give_up(
                    hash,
                    last,
                    &format!("the stored invoice does not parse: {e}"),
                );
                return;
            }
        };
        let mut retry = retry;
        // A first hop that cannot take the HTLC after all is excluded and
        // the search repeats (bounded: each round excludes one channel).
        for _ in 0..8 {
            let Some(params) = attempt_params(&invoice, &retry, &self.config) else {
                self.give_up(hash, last, "the stored invoice has no amount");
                return;
            };
            let found = self
                .find_route(&params)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    r.paths
                        .first()
                        .ok_or_else(|| "an empty route".into())
                        .cloned()
                })
                .and_then(|path| node_route(&path));
            let (route, path) = match found {
                Ok(x) => x,
                Err(why) => {
                    if self.some_channel_unusable() || self.payment_retries.restored.contains(&hash)
                    {
                        let (usable, graph) = self.retry_wake_counts();
                        let q = &mut self.payment_retries;
                        q.deferred.insert(hash);
                        q.usable_at_deferral = usable;
                        q.graph_at_deferral = graph;
                        return;
                    }
                    self.give_up(hash, last, &format!("no route for a new attempt: {why}"));
                    return;
                }
            };
            let first_scid = route.hops[0].short_channel_id;
            let mut next = retry.clone();
            next.attempts = retry.attempts.saturating_add(1);
            next.awaiting = false;
            next.path = path;
            let (amount_msat, delta) = match self.check_invoice(&invoice, self.now) {
                Ok(x) => x,
                Err(e) => {
                    self.give_up(hash, last, &e.to_string());
                    return;
                }
            };
            let recipient = super::payments::recipient_of(&invoice, amount_msat, delta);
            match self.start_attempt(&route, hash, &recipient, None, Some((created_at, next))) {
                Ok(()) => {
                    self.payment_retries.restored.remove(&hash);
                    return;
                }
                Err(NodeError::NoRoute { .. }) => retry.excluded_channels.push(first_scid),
                Err(e) => {
                    self.give_up(hash, last, &format!("a new attempt could not be sent: {e}"));
                    return;
                }
            }
        }
        self.give_up(hash, last, "no first hop could take a new attempt");
    }

    /// Whether one of our open channels cannot carry an HTLC now (its peer
    /// is away or it is being reestablished).
    fn some_channel_unusable(&self) -> bool {
        self.channels
            .values()
            .any(|e| e.channel.phase() == Phase::Normal && !e.channel.is_usable())
    }

    /// Ends routed payment `hash` failed: its last attempt's failure, and
    /// why no further attempt was made.
    fn give_up(&mut self, hash: PaymentHash, mut last: PaymentFailure, why: &str) {
        last.message = if last.message.is_empty() {
            why.to_string()
        } else {
            format!("{}; {why}", last.message)
        };
        self.finish_failed(hash, last);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use lightning_router::RouteHop as RouterHop;
    use lightning_wire::types::ShortChannelId;

    fn key(b: u8) -> PublicKey {
        PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &bitcoin::secp256k1::SecretKey::from_slice(&[b; 32]).unwrap(),
        )
    }

    /// BOLT 7 "Routing Example" A -> B -> C -> D as the router gives it
    /// (amounts into each node, cumulative CLTV deltas): B charges 200 +
    /// 2000 ppm and a delta of 20... here B forwards 4_999_999 + C's fee.
    fn router_path() -> RoutePath {
        // D receives 4_999_999 with a final delta of 9; C charges 1 +
        // 0 ppm... keep it simple and exact: C fee 10, delta 30; B fee
        // 200 + 2000 ppm of what it forwards, delta 20.
        let d_amount = 4_999_999u64;
        let c_fee = 10u64;
        let c_forwards = d_amount;
        let b_forwards = c_forwards + c_fee;
        let b_fee = 200 + b_forwards * 2000 / 1_000_000;
        let hop = |scid: u64, node: u8, amount: u64, fee: u64, cltv: u32| RouterHop {
            short_channel_id: ShortChannelId(scid),
            node_id: NodeId::from_pubkey(&key(node)),
            direction: Direction::FromNode2,
            capacity: Some(Msat(10_000_000)),
            amount: Msat(amount),
            fee: Msat(fee),
            cltv_expiry_delta: cltv,
        };
        RoutePath {
            hops: vec![
                hop(1, 2, b_forwards + b_fee, b_fee, 9 + 30 + 20),
                hop(2, 3, c_forwards + c_fee, c_fee, 9 + 30),
                hop(3, 4, d_amount, 0, 9),
            ],
            success_probability: 1.0,
        }
    }

    #[test]
    fn router_paths_become_node_routes_with_per_hop_fees_and_deltas() {
        let path = router_path();
        let (route, kept) = node_route(&path).unwrap();
        assert_eq!(route.hops.len(), 3);
        assert_eq!(route.hops[0].node_id, key(2));
        assert_eq!(route.hops[0].short_channel_id, ShortChannelId(1));
        assert_eq!(route.hops[0].fee_msat, path.hops[0].fee.0);
        assert_eq!(route.hops[0].cltv_expiry_delta, 20);
        assert_eq!(route.hops[1].fee_msat, 10);
        assert_eq!(route.hops[1].cltv_expiry_delta, 30);
        assert_eq!(
            (route.hops[2].fee_msat, route.hops[2].cltv_expiry_delta),
            (0, 0)
        );
        // The onion built from it sends exactly what the router computed.
        let recipient = super::super::route::RecipientOnion {
            amount_msat: 4_999_999,
            final_cltv_expiry_delta: 9,
            ..Default::default()
        };
        let p = super::super::route::route_payloads(&route, &recipient, 1000 + 9).unwrap();
        assert_eq!(p.first_amount_msat, path.sent_amount().0);
        assert_eq!(p.first_cltv_expiry, 1000 + path.total_cltv_expiry_delta());
        assert_eq!(route.fee_msat(), path.fee().0);
        assert_eq!(kept.len(), 3);
        assert_eq!(hop_uses(&kept), path.hop_uses());

        // A router path whose fee does not match its amounts is refused.
        let mut bad = path.clone();
        bad.hops[1].fee = Msat(11);
        assert!(node_route(&bad).is_err());
        let mut bad = path;
        bad.hops[1].cltv_expiry_delta = 100;
        assert!(node_route(&bad).is_err());
    }

    #[test]
    fn failures_are_judged_by_who_returned_them() {
        let route = [key(2), key(3), key(4)];
        let uses = router_path().hop_uses();
        let tcf = Some(FailureCode::TEMPORARY_CHANNEL_FAILURE.0);
        // B (hop 0) could not forward over B-C (path index 1).
        let (v, n) = judge(&route, &uses, Some(0), tcf, false);
        assert_eq!(
            v,
            Verdict::Retry {
                exclude_channel: Some(ShortChannelId(2)),
                exclude_node: None
            }
        );
        assert_eq!(n, ScorerNote::FailedAt(1));
        // C's channel C-D is disabled: excluded, the hops to C passed.
        let disabled = Some(FailureCode::CHANNEL_DISABLED.0);
        let (v, n) = judge(&route, &uses, Some(1), disabled, false);
        assert_eq!(
            v,
            Verdict::Retry {
                exclude_channel: Some(ShortChannelId(3)),
                exclude_node: None
            }
        );
        assert_eq!(n, ScorerNote::Passed(2));
        // A NODE error excludes the node.
        let node = Some(FailureCode::TEMPORARY_NODE_FAILURE.0);
        let (v, _) = judge(&route, &uses, Some(1), node, false);
        assert_eq!(
            v,
            Verdict::Retry {
                exclude_channel: None,
                exclude_node: Some(key(3))
            }
        );
        // The payee's errors are final, whatever they are.
        for code in [
            FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
            FailureCode::FINAL_INCORRECT_CLTV_EXPIRY,
            FailureCode::TEMPORARY_NODE_FAILURE,
        ] {
            let (v, n) = judge(&route, &uses, Some(2), Some(code.0), false);
            assert_eq!((v, n), (Verdict::Final, ScorerNote::None), "{code:?}");
        }
        // A direct payment: the payee is hop 0.
        assert_eq!(judge(&[key(4)], &[], Some(0), tcf, true).0, Verdict::Final);
        // Unattributed: retried, nothing excluded.
        let (v, n) = judge(&route, &uses, None, None, false);
        assert_eq!(
            (v, n),
            (
                Verdict::Retry {
                    exclude_channel: None,
                    exclude_node: None
                },
                ScorerNote::None
            )
        );
    }
}
