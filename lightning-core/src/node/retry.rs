//! Invoice payments the node routes and retries itself: [`Node::pay_invoice`]
//! (sending one attempt is the payments code's, `Node::start_attempt`).
//! Keysends sent with [`Node::keysend_to`] are retried the same way: their
//! record keeps the keysend's target (payee, preimage, the secret of its
//! parts, records, hints) where an invoice payment's keeps the invoice,
//! and a keysend not yet split asks the router for one path first.
//!
//! An invoice payment is made of *attempts*: each a route from the router
//! and fresh onions, one HTLC per path. The first attempt goes over a
//! direct channel to the payee when one can carry it, else over the
//! router's route ([`Node::find_route`]): one path, or several when no
//! single path is likely enough and the invoice sets `basic_mpp` (up to
//! [`NodeConfig::payment_max_parts`](super::NodeConfig::payment_max_parts)
//! parts, sent and tracked by the `mpp_send` module; a retry then routes
//! only what the parts in flight do not carry). When an attempt (or a
//! part) fails, BOLT 4 "Receiving Failure Codes" decides:
//!
//! - the *final node* returned the error: with the PERM bit
//!   (`incorrect_or_unknown_payment_details`, ...) the payment fails
//!   ("SHOULD fail the payment"); its understood non-PERM errors are
//!   retried ("MAY retry the payment"): `mpp_timeout` and
//!   `temporary_node_failure` with nothing excluded, `final_incorrect_*`
//!   through a hop with the channel into the payee left out (that hop
//!   altered the HTLC; `final_node_verdict`);
//! - an *intermediate hop* returned it: with the NODE bit, the erring node
//!   is excluded for this payment; otherwise the channel outgoing from it
//!   is ("SHOULD eliminate the channel outgoing from the erring node from
//!   consideration"); the scorer learns (the channels before the failing
//!   one carried the amount; `temporary_channel_failure` bounds the
//!   failing channel's liquidity) and a new route is asked for ("SHOULD
//!   then retry routing and sending the payment");
//! - an error that did not decode, with attribution data that names the
//!   pair of hops where its HMAC chain broke (BOLT 4 "Origin node"): the
//!   channel between them is excluded and the scorer learns it failed;
//! - an error that could not be attributed at all (it did not decode, and
//!   no attribution data came), or an HTLC that never got committed
//!   (disconnection, restart): retried, nothing excluded.
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

use std::collections::BTreeSet;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_router::{HopUse, RoutePath};
use lightning_wire::bolt11::Bolt11Invoice;
use lightning_wire::msgs::Message;
use lightning_wire::types::ShortChannelId;

use super::events::PartStatus;
use super::events::{PaymentFailure, PaymentHash, PaymentId, PaymentStatus};
use super::mpp_send::PartsOf;
use super::pay_options::PayOptions;
use super::payments::recipient_of;
use super::records::{KeysendTarget, RetryState};
use super::route::{RecipientOnion, Route};
use super::router_path::{
    attempt_params, blinded_params, hop_uses, keysend_params, keysend_recipient, node_route,
    single_path,
};
use super::{Node, NodeError};
use crate::amount::Msat;
use crate::channel::Phase;
use crate::onion::FailureCode;

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
    /// The `created_index` of the HTLCs we send, every attempt and part
    /// ([`super::sent_parts::SendIndex`]). Kept here, with the rest of the
    /// node's in-memory payment sending state.
    pub(super) sends: super::sent_parts::SendCounter,
}

impl RetryQueue {
    /// Whether an attempt is due in this step.
    pub(super) fn has_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// Payment `hash` is owed an attempt in this step.
    pub(super) fn mark_due(&mut self, hash: PaymentHash) {
        self.due.insert(hash);
    }

    /// Payment `hash` ended (paid or failed): nothing is owed any more.
    pub(super) fn forget(&mut self, hash: &PaymentHash) {
        self.due.remove(hash);
        self.deferred.remove(hash);
        self.restored.remove(hash);
    }
}

/// What a payment the node routes itself pays: an invoice, or a keysend
/// ([`Node::keysend_to`]).
enum Target {
    Invoice(Box<Bolt11Invoice>),
    Keysend(KeysendTarget),
    /// A recipient's blinded paths ([`Node::pay_blinded_paths`]).
    Blinded(super::blinded_target::BlindedTarget),
}

/// The first channel of each path.
fn first_scids(paths: &[RoutePath]) -> Vec<ShortChannelId> {
    paths
        .iter()
        .filter_map(|p| p.hops.first().map(|h| h.short_channel_id))
        .collect()
}

/// What a failed attempt means for the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The payee refused: no retry.
    Final,
    /// Retry, excluding this channel or node for the payment.
    Retry {
        exclude_channel: Option<ShortChannelId>,
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
    let code = FailureCode(code.unwrap_or(0));
    if i + 1 >= route.len() {
        return (final_node_verdict(code, path, malformed), ScorerNote::None);
    }
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

/// A failed part of a blinded payment ([`Node::pay_blinded_paths`]) whose
/// error came from its path's introduction node, the last of `route`, or
/// beyond (`failing_hop`): BOLT 4 "Failure Messages" turns every error
/// inside a blinded route into the introduction node's
/// `invalid_onion_blinding`, so a refusal by the recipient cannot be told
/// from a channel failing inside the path. The payment is retried over
/// the other paths: the introduction node is excluded (and with it every
/// path it introduces); the hops up to it carried the amount. `None` for
/// a failure before the introduction node (judged as any other) and for
/// a path the recipient introduces itself (its own errors are final).
fn judge_blinded(
    target: &super::blinded_target::BlindedTarget,
    route: &[PublicKey],
    failing_hop: Option<usize>,
    carried: usize,
) -> Option<(Verdict, ScorerNote)> {
    let intro = *route.last()?;
    let i = failing_hop?;
    let id = lightning_router::NodeId::from_pubkey(&intro);
    let recipient_introduces = target
        .paths
        .iter()
        .any(|p| p.introduction_node == id && p.hops.len() == 1);
    (i + 1 >= route.len() && !recipient_introduces).then_some((
        Verdict::Retry {
            exclude_channel: None,
            exclude_node: Some(intro),
        },
        ScorerNote::Passed(carried),
    ))
}

/// A failure whose error could not be read, judged by its attribution
/// data (BOLT 4, "Origin node": "When the failure source cannot be
/// identified from the return packet AND `attribution_data` is present:
/// SHOULD use `attribution_data` to identify the failure source"; a hop
/// whose HMAC "is invalid ... should [be penalized] for future path
/// selection", and "blame is still only assignable to a pair of nodes").
/// `broken_at` is the route index where the HMAC chain broke: hop
/// `broken_at` or the one before it altered the return, so the channel
/// between them (`path[broken_at]`) is left out of this payment and the
/// scorer learns it failed; the channels before it carried the HTLC.
pub(super) fn judge_by_attribution(path: &[HopUse], broken_at: usize) -> (Verdict, ScorerNote) {
    (
        Verdict::Retry {
            exclude_channel: path.get(broken_at).map(|h| h.scid),
            exclude_node: None,
        },
        ScorerNote::FailedAt(broken_at),
    )
}

/// The payee's own error (BOLT 4 "Receiving Failure Codes": with the PERM
/// bit the payment SHOULD fail; otherwise, "if the error code is
/// understood and valid", the origin MAY retry). Retried:
///
/// - `mpp_timeout`: the payee gave up waiting for the rest of a
///   multi-part payment; sending the parts again may complete it;
/// - `temporary_node_failure`: it "could resolve within a few seconds";
/// - `final_incorrect_cltv_expiry` and `final_incorrect_htlc_amount` when
///   the HTLC came through a hop (`path` not empty): the hop before the
///   payee changed what our onion asked for, so the channel into the payee
///   is left out. Over a direct channel the HTLC was ours: final.
///
/// Anything else from the payee, and a malformed onion, is final.
fn final_node_verdict(code: FailureCode, path: &[HopUse], malformed: bool) -> Verdict {
    let retry = |c| Verdict::Retry {
        exclude_channel: c,
        exclude_node: None,
    };
    if malformed || code.is_permanent() {
        return Verdict::Final;
    }
    match code {
        FailureCode::MPP_TIMEOUT | FailureCode::TEMPORARY_NODE_FAILURE => retry(None),
        FailureCode::FINAL_INCORRECT_CLTV_EXPIRY | FailureCode::FINAL_INCORRECT_HTLC_AMOUNT
            if path.len() > 1 =>
        {
            retry(path.last().map(|h| h.scid))
        }
        _ => Verdict::Final,
    }
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

impl Node {
    /// Pays a BOLT 11 invoice given as a string (see [`Node::pay_invoice`]).
    /// A string that does not parse is refused with
    /// [`NodeError::InvalidInvoice`]; one over
    /// [`MAX_INVOICE_LEN`](lightning_wire::bolt11::MAX_INVOICE_LEN)
    /// characters before any of it is decoded.
    pub fn pay_invoice_str(
        &mut self,
        invoice: &str,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        let invoice: Bolt11Invoice = invoice.parse()?;
        self.pay_invoice(&invoice, now)
    }

    /// Pays `invoice` to its payee, wherever it is: over a direct channel
    /// to the payee when one can carry the amount, else over a path the
    /// router finds ([`Node::find_route`]: the public graph, our usable
    /// channels as first hops, the invoice's route hints). When no single
    /// path is likely enough to carry the amount and the invoice sets
    /// `basic_mpp`, the payment is split in up to
    /// [`NodeConfig::payment_max_parts`](super::NodeConfig::payment_max_parts)
    /// parts (BOLT 4 "Basic Multi-Part Payments": one HTLC per path, each
    /// with the invoice's `payment_secret` and the whole `total_msat`);
    /// [`PaymentDetails::parts`](super::PaymentDetails::parts) lists them.
    ///
    /// A failed attempt is retried over a new route (BOLT 4 "Receiving
    /// Failure Codes": the failing channel or node excluded, the scorer
    /// told), up to [`NodeConfig::payment_retry_attempts`](super::NodeConfig::payment_retry_attempts)
    /// attempts within [`NodeConfig::payment_retry_timeout`](super::NodeConfig::payment_retry_timeout),
    /// each route's fees within the budget of
    /// [`NodeConfig::payment_max_fee_ppm`](super::NodeConfig::payment_max_fee_ppm)
    /// (0.5 % by default, 5 sat at least);
    /// an error from the payee itself is final. Every attempt is written
    /// to the store before its HTLC leaves, and a restart resumes the
    /// payment (see the `retry` module).
    ///
    /// Refused when the invoice is for another chain, has expired, has no
    /// amount (pay it with [`Node::pay_invoice_with`] and
    /// [`PayOptions::amount_msat`]), asks for a `min_final_cltv_expiry_delta` above
    /// [`NodeConfig::max_final_cltv_expiry_delta`](super::NodeConfig::max_final_cltv_expiry_delta),
    /// is already being paid, or no route is found now
    /// ([`NodeError::NoRoute`]).
    /// [`Event::PaymentSent`](super::Event::PaymentSent) or, once no more
    /// attempts are made, [`Event::PaymentFailed`](super::Event::PaymentFailed) follows.
    ///
    /// ```no_run
    /// # use lightning_core::node::{Event, Node, NodeError};
    /// # fn f(node: &mut Node, invoice: &lightning_wire::bolt11::Bolt11Invoice, now: std::time::Duration) -> Result<(), NodeError> {
    /// let id = node.pay_invoice(invoice, now)?;
    /// // ... the host loop runs; later:
    /// while let Some(event) = node.poll_event() {
    ///     match event {
    ///         Event::PaymentSent { fee_msat, .. } => println!("paid {id}, fee {fee_msat}"),
    ///         Event::PaymentFailed { reason, .. } => {
    ///             println!("failed after {} attempts: {}", reason.attempts, reason.message)
    ///         }
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn pay_invoice(
        &mut self,
        invoice: &Bolt11Invoice,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.pay_invoice_with(invoice, &PayOptions::default(), now)
    }

    /// [`Node::pay_invoice`] with the caller's [`PayOptions`]: a cap on
    /// this payment's routing fees ([`PayOptions::max_fee_msat`]) instead
    /// of the node's budget, and the amount of an invoice that names none
    /// ([`PayOptions::amount_msat`]), both kept across retries and
    /// restarts.
    ///
    /// ```no_run
    /// # use lightning_core::node::{Node, NodeError, PayOptions};
    /// # use lightning_core::Msat;
    /// # fn f(node: &mut Node, invoice: &lightning_wire::bolt11::Bolt11Invoice, now: std::time::Duration) -> Result<(), NodeError> {
    /// let mut options = PayOptions::default();
    /// options.max_fee_msat = Some(Msat(2_000)); // at most 2 sat in fees
    /// node.pay_invoice_with(invoice, &options, now)?;
    /// # Ok(()) }
    /// ```
    pub fn pay_invoice_with(
        &mut self,
        invoice: &Bolt11Invoice,
        options: &PayOptions,
        now: std::time::Duration,
    ) -> Result<PaymentId, NodeError> {
        self.now = now;
        let (amount_msat, delta) = self.check_invoice(invoice, options.amount_msat, now)?;
        let payment_hash = *invoice.payment_hash();
        let payee = *invoice.payee();
        if let Some(p) = self.payments.get(&payment_hash) {
            if p.status != PaymentStatus::Failed {
                return Err(NodeError::DuplicatePayment(payment_hash));
            }
        }
        let mut retry = RetryState {
            bolt11: invoice.to_string(),
            attempts: 1,
            max_fee_msat: options.max_fee_msat.map(|m| m.0),
            amount_msat: invoice.amount_msat().is_none().then_some(amount_msat),
            ..RetryState::default()
        };
        let recipient = recipient_of(invoice, amount_msat, delta);
        // A direct channel that can carry it: one hop, no router.
        if let Some(channel_id) = self.direct_channel(&payee, amount_msat) {
            let route = Route::direct(payee);
            self.start_attempt(
                &route,
                payment_hash,
                &recipient,
                Some(channel_id),
                Some((now.as_secs(), retry)),
            )?;
            self.finish()?;
            return Ok(PaymentId(payment_hash.0));
        }
        let no_route = || NodeError::NoRoute { payee, amount_msat };
        let params = attempt_params(invoice, &retry, &self.config).ok_or_else(no_route)?;
        let route = self.find_route(&params).map_err(|_| no_route())?;
        if route.paths.len() > 1 {
            // Split by the router: one HTLC per path (`mpp_send`).
            let created_at = now.as_secs();
            self.send_parts(
                payment_hash,
                &recipient,
                &route.paths,
                PartsOf::New { created_at, retry },
            )?;
            self.finish()?;
            return Ok(PaymentId(payment_hash.0));
        }
        let path = route.paths.first().ok_or_else(no_route)?;
        let (route, path) = node_route(path).map_err(NodeError::Route)?;
        retry.path = path;
        self.start_attempt(
            &route,
            payment_hash,
            &recipient,
            None,
            Some((now.as_secs(), retry)),
        )?;
        self.finish()?;
        Ok(PaymentId(payment_hash.0))
    }

    /// The current attempt of routed payment `hash` failed with `failure`
    /// (`malformed`: our peer could not read the onion), or, for a
    /// multi-part payment, its part `part`. Retries within the budget,
    /// else reports the payment failed (once no part is in flight). A
    /// payment over a caller's route (no retry state) fails at once, as
    /// before.
    pub(super) fn attempt_failed(
        &mut self,
        hash: PaymentHash,
        part: Option<usize>,
        mut failure: PaymentFailure,
        malformed: bool,
    ) {
        let Some(p) = self.payments.get_mut(&hash) else {
            return;
        };
        if let Some(s) = part.and_then(|i| p.parts.get_mut(i)) {
            s.state = PartStatus::Failed;
        }
        let Some(retry) = p.retry.as_ref() else {
            self.finish_failed(hash, failure);
            return;
        };
        if retry.abandoned {
            // No part is sent any more: the payment fails with the last
            // failure once no part is in flight.
            let last = p.last_failure(retry.attempts);
            if p.has_pending_parts() {
                self.save_payment(hash);
            } else {
                self.finish_failed(hash, last);
            }
            return;
        }
        let (channel_id, route, path) = match part.and_then(|i| p.parts.get(i)) {
            Some(s) => (s.channel_id, s.route.clone(), s.path.clone()),
            None => (p.channel_id, p.route.clone(), retry.path.clone()),
        };
        // An attempt whose channel is no longer normal (force closed, its
        // HTLC timed out on chain, shutting down) ends the payment: an
        // HTLC resolved on chain could still be reorganised, so no new
        // attempt is sent while it might yet pay.
        let channel_open = self
            .channels
            .get(&channel_id)
            .is_some_and(|e| e.channel.phase() == Phase::Normal);
        if !channel_open {
            self.finish_failed(hash, failure);
            return;
        }
        let Some(p) = self.payments.get(&hash) else {
            return;
        };
        let Some(retry) = p.retry.as_ref() else {
            return;
        };
        let uses = hop_uses(&path);
        let blinded = retry
            .blinded
            .as_ref()
            .and_then(|b| judge_blinded(b, &route, failure.failing_hop, uses.len()));
        let (verdict, note) = match (blinded, failure.failing_hop, failure.attribution_failed_at) {
            (Some(judged), _, _) => judged,
            (None, None, Some(broken_at)) => judge_by_attribution(&uses, broken_at),
            (None, failing_hop, _) => {
                judge(&route, &uses, failing_hop, failure.failure_code, malformed)
            }
        };
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

    /// Payment `hash` ended: nothing is owed any more; when `paid`, the
    /// scorer learns that every channel of the attempt's path carried the
    /// amount, which moved (`path_succeeded`).
    pub(super) fn routed_payment_ended(&mut self, hash: PaymentHash, paid: bool) {
        self.payment_retries.forget(&hash);
        if !paid {
            return;
        }
        let now = self.now;
        for path in self.paid_paths(&hash) {
            if !path.is_empty() {
                self.scorer_mut().path_succeeded(&path, now);
            }
        }
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
        // A round may leave a payment due again in this step (a part its
        // first channel refused is routed anew); bounded, each round
        // excluding the refusing channels and counting an attempt.
        for _ in 0..4 {
            let due = std::mem::take(&mut self.payment_retries.due);
            if due.is_empty() {
                break;
            }
            for hash in due {
                self.retry_payment(hash);
            }
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
    pub(super) fn retry_timer(&mut self) {
        let deferred = std::mem::take(&mut self.payment_retries.deferred);
        self.payment_retries.due.extend(deferred);
    }

    /// When [`Node::handle_timeout`] must next run for retries: the
    /// earliest retry deadline of a payment waiting for a channel.
    pub(super) fn retry_next_timeout(&self) -> Option<Duration> {
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
        let Some(retry) = p.retry.clone().filter(|r| r.awaiting && !r.abandoned) else {
            return;
        };
        if p.status != PaymentStatus::Pending {
            return;
        }
        let last = p.last_failure(retry.attempts);
        let created_at = p.created_at;
        let multipart = p.is_multipart();
        let total_msat = p.amount_msat;
        // What the parts in flight carry is not routed again (BOLT 4: the
        // payee holds them until `total_msat` arrives).
        let (committed_msat, committed_fee) = (p.committed_msat(), p.committed_fee_msat());
        let deadline = created_at.saturating_add(self.config.payment_retry_timeout.as_secs());
        if self.now.as_secs() > deadline {
            self.give_up(hash, last, "the retry timeout passed before a new attempt");
            return;
        }
        let target = match (&retry.keysend, &retry.blinded) {
            (_, Some(b)) => Target::Blinded(b.clone()),
            (Some(k), None) => Target::Keysend(k.clone()),
            (None, None) => match retry.bolt11.parse::<Bolt11Invoice>() {
                Ok(i) => Target::Invoice(Box::new(i)),
                Err(e) => {
                    self.give_up(
                        hash,
                        last,
                        &format!("the stored invoice does not parse: {e}"),
                    );
                    return;
                }
            },
        };
        // What one HTLC carries (`recipient`) and what a part does
        // (`part_recipient`: a keysend's parts add our `payment_secret`).
        let (amount_msat, recipient, part_recipient) = match &target {
            Target::Invoice(invoice) => {
                let chosen = retry.amount_msat.map(Msat);
                let (amount_msat, delta) = match self.check_invoice(invoice, chosen, self.now) {
                    Ok(x) => x,
                    Err(e) => {
                        self.give_up(hash, last, &e.to_string());
                        return;
                    }
                };
                let r = recipient_of(invoice, amount_msat, delta);
                (amount_msat, r.clone(), r)
            }
            Target::Keysend(k) => (
                total_msat,
                keysend_recipient(k, total_msat, false),
                keysend_recipient(k, total_msat, true),
            ),
            Target::Blinded(_) => {
                let r = RecipientOnion {
                    amount_msat: total_msat,
                    ..RecipientOnion::default()
                };
                (total_msat, r.clone(), r)
            }
        };
        let Some(outstanding) = amount_msat.checked_sub(committed_msat).filter(|a| *a > 0) else {
            // The parts in flight carry it all: nothing to route.
            if let Some(r) = self.payments.get_mut(&hash).and_then(|p| p.retry.as_mut()) {
                r.awaiting = false;
            }
            self.save_payment(hash);
            return;
        };
        let in_flight = self.parts_in_flight(&hash);
        let mut retry = retry;
        // A first hop that cannot take the HTLC after all is excluded and
        // the search repeats (bounded: each round excludes one channel).
        for _ in 0..8 {
            let params = match &target {
                Target::Invoice(invoice) => attempt_params(invoice, &retry, &self.config),
                Target::Keysend(k) => Some(keysend_params(k, amount_msat, &retry, &self.config)),
                Target::Blinded(b) => {
                    let (left, _) = self.blinded_paths_left(&b.paths, &retry.excluded_nodes);
                    let p = blinded_params(&left, amount_msat, &retry, &self.config);
                    // BOLT 12: an invoice without MPP is paid in one part.
                    Some(if b.single_part { single_path(&p) } else { p })
                }
            };
            let Some(mut params) = params else {
                self.give_up(hash, last, "the stored invoice has no amount");
                return;
            };
            params.amount = Msat(outstanding);
            params.max_total_fee = params
                .max_total_fee
                .map(|m| m.saturating_sub(Msat(committed_fee)));
            // A keysend not split yet stays one path if one carries it.
            let single_first = matches!(target, Target::Keysend(_)) && !multipart;
            let found = if single_first {
                self.find_route_beside(&single_path(&params), &in_flight)
                    .or_else(|_| self.find_route_beside(&params, &in_flight))
            } else {
                self.find_route_beside(&params, &in_flight)
            };
            let found = found.map_err(|e| e.to_string()).and_then(|r| {
                if r.paths.is_empty() {
                    Err("an empty route".into())
                } else {
                    Ok(r.paths)
                }
            });
            let paths = match found {
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
            let mut next = retry.clone();
            next.attempts = retry.attempts.saturating_add(1);
            next.awaiting = false;
            if paths.len() > 1 || multipart {
                // Parts (`mpp_send`): the ones a first hop refuses stay
                // outstanding, routed again in this step.
                match self.send_parts(hash, &part_recipient, &paths, PartsOf::Retry(next)) {
                    Ok(_) => {
                        self.payment_retries.restored.remove(&hash);
                        return;
                    }
                    Err(NodeError::NoRoute { .. }) => {
                        retry.excluded_channels.extend(first_scids(&paths));
                        continue;
                    }
                    Err(e) => {
                        self.give_up(hash, last, &format!("a new attempt could not be sent: {e}"));
                        return;
                    }
                }
            }
            // A blinded path we introduce: our hop opened (`blinded_intro`).
            let first = match self.introduce_our_blinded_hop(&paths[0], &retry.excluded_nodes) {
                Ok(p) => p,
                Err(e) => {
                    self.give_up(hash, last, &format!("a new attempt could not be sent: {e}"));
                    return;
                }
            };
            let (route, path) = match node_route(&first) {
                Ok(x) => x,
                Err(e) => {
                    self.give_up(hash, last, &e);
                    return;
                }
            };
            let first_scid = route.hops[0].short_channel_id;
            next.path = path;
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
    use lightning_router::Direction;
    use lightning_wire::Msat;

    fn key(b: u8) -> PublicKey {
        PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &bitcoin::secp256k1::SecretKey::from_slice(&[b; 32]).unwrap(),
        )
    }

    #[test]
    fn failures_are_judged_by_who_returned_them() {
        let route = [key(2), key(3), key(4)];
        let hop = |scid: u64| HopUse {
            scid: ShortChannelId(scid),
            direction: Direction::FromNode1,
            amount: Msat(1_000),
            capacity: None,
        };
        let uses = vec![hop(1), hop(2), hop(3)];
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
        // The payee's PERM errors are final.
        for code in [
            FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
            FailureCode::PERMANENT_NODE_FAILURE,
            FailureCode::INVALID_ONION_PAYLOAD,
        ] {
            let (v, n) = judge(&route, &uses, Some(2), Some(code.0), false);
            assert_eq!((v, n), (Verdict::Final, ScorerNote::None), "{code:?}");
        }
        // Its other understood errors are retried (BOLT 4: "MAY retry"):
        // an altered HTLC leaves out the channel into the payee.
        let retry = |c: Option<u64>| Verdict::Retry {
            exclude_channel: c.map(ShortChannelId),
            exclude_node: None,
        };
        for (code, verdict) in [
            (FailureCode::FINAL_INCORRECT_CLTV_EXPIRY, retry(Some(3))),
            (FailureCode::FINAL_INCORRECT_HTLC_AMOUNT, retry(Some(3))),
            (FailureCode::TEMPORARY_NODE_FAILURE, retry(None)),
            (FailureCode::MPP_TIMEOUT, retry(None)),
        ] {
            let (v, n) = judge(&route, &uses, Some(2), Some(code.0), false);
            assert_eq!((v, n), (verdict, ScorerNote::None), "{code:?}");
        }
        // Over a direct channel the HTLC was ours: final; and an unknown
        // code from the payee is final too.
        let cltv = Some(FailureCode::FINAL_INCORRECT_CLTV_EXPIRY.0);
        assert_eq!(
            judge(&[key(4)], &[], Some(0), cltv, false).0,
            Verdict::Final
        );
        assert_eq!(
            judge(&route, &uses, Some(2), Some(0x0077), false).0,
            Verdict::Final
        );
        // A direct payment: the payee is hop 0.
        assert_eq!(judge(&[key(4)], &[], Some(0), tcf, true).0, Verdict::Final);
        // Unreadable, with attribution data that broke at hop 1 (C): C
        // or B altered the return, the channel B-C (path index 1) is out;
        // at hop 0, our own channel to B.
        assert_eq!(
            judge_by_attribution(&uses, 1),
            (
                Verdict::Retry {
                    exclude_channel: Some(ShortChannelId(2)),
                    exclude_node: None
                },
                ScorerNote::FailedAt(1)
            )
        );
        assert_eq!(
            judge_by_attribution(&uses, 0).0,
            Verdict::Retry {
                exclude_channel: Some(ShortChannelId(1)),
                exclude_node: None
            }
        );
        // A direct payment: nothing to leave out but the payee.
        assert_eq!(
            judge_by_attribution(&[], 0).0,
            Verdict::Retry {
                exclude_channel: None,
                exclude_node: None
            }
        );
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
