//! One LDK node and our node on one simulated chain, connected over TCP,
//! with the steps the scenarios share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bitcoin::hashes::Hash;
use lightning::ln::types::ChannelId as LdkChannelId;
use lightning::types::payment::PaymentHash as LdkPaymentHash;
use lightning_core::channel::Phase;
use lightning_core::node::{
    Event, NodeConfig, PaymentDetails, PaymentHash, PaymentId, PaymentStatus,
};
use lightning_wire::types::ChannelId;

use crate::host::{self, OurNode};
use crate::ldk::{LdkConfig, LdkNode, LdkPaymentOutcome};
use crate::world::World;

/// How long any one wait may take before the scenario fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The LDK node's seed.
pub const LDK_SEED: [u8; 32] = [31; 32];

/// Our node's seed.
pub const OUR_SEED: [u8; 32] = [32; 32];

/// The two nodes and their chain.
#[derive(Debug)]
pub struct Pair {
    /// The chain.
    pub world: World,
    /// LDK.
    pub ldk: LdkNode,
    /// Ours.
    pub ours: OurNode,
    /// Whether the scenario runs `option_anchors_zero_fee_htlc_tx`.
    pub anchors: bool,
    /// The amount each payment of the scenario is for (msat), by hash: what
    /// the payee must receive and the payer's records must say.
    expected: Mutex<HashMap<PaymentHash, u64>>,
    /// Set by a scenario that makes our node fail a connection on purpose:
    /// then node errors are not a failure of the scenario.
    pub node_errors_expected: bool,
}

/// After each scenario (unless it already failed): neither harness met an
/// error. LDK's event handler records what it refused or failed at; our
/// host records what it could not do and every error our node returned
/// from `handle_bytes`.
impl Drop for Pair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let ldk = self.ldk.record(|r| r.errors.clone());
        assert!(ldk.is_empty(), "LDK's harness met errors: {ldk:?}");
        let (host, node) = self
            .ours
            .with_state(|s| (s.errors.clone(), s.node_errors.clone()));
        assert!(host.is_empty(), "our host met errors: {host:?}");
        assert!(
            self.node_errors_expected || node.is_empty(),
            "our node failed on LDK's bytes: {node:?}"
        );
    }
}

/// Converts our channel id to LDK's.
pub fn ldk_id(id: &ChannelId) -> LdkChannelId {
    LdkChannelId(id.0)
}

/// Converts LDK's payment hash to ours.
pub fn our_hash(hash: &LdkPaymentHash) -> PaymentHash {
    PaymentHash(hash.0)
}

impl Pair {
    /// Starts both nodes (our node connects to LDK).
    pub fn new(anchors: bool) -> Pair {
        Self::with_configs(LdkConfig::new(anchors), host::config(anchors))
    }

    /// Starts both nodes with the given configurations.
    pub fn with_configs(ldk_config: LdkConfig, our_config: NodeConfig) -> Pair {
        let world = World::new();
        let wallets = world.wallets(&[[1; 32], [2; 32]], 3);
        let ldk = LdkNode::start(
            "ldk",
            LDK_SEED,
            world.chain.clone(),
            wallets[0].clone(),
            ldk_config,
        );
        let ours = OurNode::start(
            OUR_SEED,
            our_config,
            world.chain.clone(),
            wallets[1].clone(),
        );
        ours.connect(ldk.node_id(), ldk.addr);
        ldk.wait_until("LDK sees us", LIMIT, || ldk.is_connected(&ours.node_id()));
        Pair {
            world,
            ldk,
            ours,
            anchors: ldk_config.anchors,
            expected: Mutex::new(HashMap::new()),
            node_errors_expected: false,
        }
    }

    /// Scenario 1's steps: we open a channel to LDK, it confirms, both see
    /// it ready. Returns the channel id.
    pub fn open_from_us(&self, sats: u64, push_msat: u64) -> ChannelId {
        let ldk_id_ = self.ldk.node_id();
        let known: Vec<ChannelId> = self
            .ours
            .with(|n| n.list_channels().iter().map(|c| c.channel_id).collect());
        let temp = self
            .ours
            .with(|n| {
                n.open_channel(
                    ldk_id_,
                    bitcoin::Amount::from_sat(sats),
                    lightning_core::amount::Msat(push_msat),
                )
            })
            .unwrap();
        self.ours.wait_until("funding is broadcast", LIMIT, |s| {
            s.events
                .iter()
                .any(|e| matches!(e, Event::FundingNeeded { temporary_channel_id, .. } if *temporary_channel_id == temp))
                && (!s.errors.is_empty() || !self.world.chain.mempool().is_empty())
        });
        assert!(
            self.ours.lock().errors.is_empty(),
            "{:?}",
            self.ours.lock().errors
        );
        let id = self.new_channel(&known);
        self.confirm_and_wait_ready(id);
        id
    }

    /// Scenario 2's steps: LDK opens a channel to us and we accept it.
    pub fn open_from_ldk(&self, sats: u64, push_msat: u64) -> ChannelId {
        let ours = self.ours.node_id();
        let known: Vec<ChannelId> = self
            .ours
            .with(|n| n.list_channels().iter().map(|c| c.channel_id).collect());
        let before = self.world.chain.mempool().len();
        self.ldk.open_channel(ours, sats, push_msat);
        self.ldk
            .wait_until("LDK broadcasts the funding", LIMIT, || {
                self.world.chain.mempool().len() > before
                    || !self.ldk.rejected_broadcasts().is_empty()
            });
        assert!(self.ldk.rejected_broadcasts().is_empty());
        let id = self.new_channel(&known);
        self.confirm_and_wait_ready(id);
        id
    }

    /// Scenario 9's steps, we fund: the channel is usable with its funding
    /// transaction unconfirmed.
    pub fn open_zero_conf_from_us(&self, sats: u64, push_msat: u64) -> ChannelId {
        let ldk_node = self.ldk.node_id();
        let known: Vec<ChannelId> = self
            .ours
            .with(|n| n.list_channels().iter().map(|c| c.channel_id).collect());
        self.ours
            .with(|n| {
                n.open_channel(
                    ldk_node,
                    bitcoin::Amount::from_sat(sats),
                    lightning_core::amount::Msat(push_msat),
                )
            })
            .unwrap();
        self.ours
            .wait_until("the funding is broadcast", LIMIT, |s| {
                !s.errors.is_empty()
                    || s.node
                        .list_channels()
                        .iter()
                        .any(|c| !known.contains(&c.channel_id) && c.funding_txo.is_some())
            });
        let id = self.new_channel(&known);
        self.wait_usable(id);
        id
    }

    /// Scenario 9's steps, LDK funds: the channel is usable with its
    /// funding transaction unconfirmed.
    pub fn open_zero_conf_from_ldk(&self, sats: u64, push_msat: u64) -> ChannelId {
        let known: Vec<ChannelId> = self
            .ours
            .with(|n| n.list_channels().iter().map(|c| c.channel_id).collect());
        self.ldk.open_channel(self.ours.node_id(), sats, push_msat);
        self.ours.wait_until("LDK's channel is funded", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| !known.contains(&c.channel_id) && c.funding_txo.is_some())
        });
        let id = self.new_channel(&known);
        self.wait_usable(id);
        id
    }

    /// Our node opens a channel of `sats` to `node_id` (a node other than
    /// the pair's LDK one), waits for its funding to be broadcast and mines
    /// `depth` blocks. Returns the channel id; the caller waits for what it
    /// needs next (usable, announced).
    pub fn open_from_us_to(
        &self,
        node_id: bitcoin::secp256k1::PublicKey,
        sats: u64,
        depth: usize,
    ) -> ChannelId {
        let known: Vec<ChannelId> = self
            .ours
            .with(|n| n.list_channels().iter().map(|c| c.channel_id).collect());
        let mempool = self.world.chain.mempool().len();
        self.ours
            .with(|n| {
                n.open_channel(
                    node_id,
                    bitcoin::Amount::from_sat(sats),
                    lightning_core::amount::Msat(0),
                )
            })
            .unwrap();
        self.ours
            .wait_until("our funding is broadcast", LIMIT, |s| {
                !s.errors.is_empty() || self.world.chain.mempool().len() > mempool
            });
        self.world.mine(depth);
        self.new_channel(&known)
    }

    /// A second LDK node (`name`, from `seed`, its coins from
    /// `wallet_seed`) behind the pair's LDK node: the pair's LDK node opens
    /// an unannounced channel of `sats` to it. Returns once the channel is
    /// usable and the new node's invoices carry its route hint (it has the
    /// pair's LDK node's `channel_update`).
    pub fn ldk_payee_behind_ldk(
        &self,
        name: &str,
        seed: [u8; 32],
        wallet_seed: [u8; 32],
        sats: u64,
    ) -> LdkNode {
        let wallets = self.world.wallets(&[wallet_seed], 2);
        let payee = LdkNode::start(
            name,
            seed,
            self.world.chain.clone(),
            wallets[0].clone(),
            self.ldk.config(),
        );
        self.ldk.connect(payee.node_id(), payee.addr);
        payee.wait_until("the payee sees the middle", LIMIT, || {
            payee.is_connected(&self.ldk.node_id())
        });
        let before = self.world.chain.mempool().len();
        self.ldk.open_channel(payee.node_id(), sats, 0);
        self.ldk
            .wait_until("the middle broadcasts its funding", LIMIT, || {
                self.world.chain.mempool().len() > before
            });
        self.world.mine(1);
        payee.wait_until("the middle's channel is usable", LIMIT, || {
            payee.channels().iter().any(|c| c.is_usable)
                && self
                    .ldk
                    .channels()
                    .iter()
                    .any(|c| c.counterparty.node_id == payee.node_id() && c.is_usable)
        });
        payee.wait_until("the payee has the middle's channel_update", LIMIT, || {
            payee
                .create_invoice(Some(1_000), "probe")
                .route_hints()
                .len()
                == 1
        });
        payee
    }

    /// The channel our node has that is not in `known` (and not closed).
    fn new_channel(&self, known: &[ChannelId]) -> ChannelId {
        self.ours.with(|n| {
            let fresh: Vec<ChannelId> = n
                .list_channels()
                .iter()
                .filter(|c| !known.contains(&c.channel_id) && c.phase != Phase::Closed)
                .map(|c| c.channel_id)
                .collect();
            assert_eq!(fresh.len(), 1, "one new channel: {:?}", n.list_channels());
            fresh[0]
        })
    }

    /// Mines a block (zero-conf channels need none) and waits until both
    /// sides can pay over `id`.
    pub fn confirm_and_wait_ready(&self, id: ChannelId) {
        self.world.mine(1);
        self.wait_usable(id);
    }

    /// Our node connects to LDK again and waits until `id` is usable on both
    /// sides (`channel_reestablish` done).
    pub fn reconnect(&self, id: ChannelId) {
        self.ours.connect(self.ldk.node_id(), self.ldk.addr);
        self.wait_usable(id);
    }

    /// Waits until both sides can pay over `id`.
    pub fn wait_usable(&self, id: ChannelId) {
        self.ours.wait_until("our side of the channel is usable", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.channel_id == id && c.is_usable)
                && s.events
                    .iter()
                    .any(|e| matches!(e, Event::ChannelReady { channel_id, .. } if *channel_id == id))
        });
        self.ldk
            .wait_until("LDK's side of the channel is usable", LIMIT, || {
                self.ldk
                    .channels()
                    .iter()
                    .any(|c| c.channel_id == ldk_id(&id) && c.is_usable)
                    && self.ldk.record(|r| r.ready.contains(&ldk_id(&id)))
            });
    }

    /// Records that payment `hash` is for `amount_msat`: the waits below
    /// check both sides' records against it.
    pub fn expect_amount(&self, hash: PaymentHash, amount_msat: u64) {
        self.expected.lock().unwrap().insert(hash, amount_msat);
    }

    fn expected_amount(&self, hash: &PaymentHash) -> u64 {
        *self
            .expected
            .lock()
            .unwrap()
            .get(hash)
            .unwrap_or_else(|| panic!("payment {hash}: no expected amount (Pair::expect_amount)"))
    }

    /// We create an invoice, LDK pays it; returns the hash. Does not wait.
    pub fn ldk_pays_us_start(&self, amount_msat: u64) -> PaymentHash {
        let invoice = self
            .ours
            .with(|n| {
                n.create_invoice(
                    Some(lightning_core::amount::Msat(amount_msat)),
                    "interop",
                    std::time::Duration::from_secs(3600),
                    host::now(),
                )
            })
            .unwrap();
        let hash = our_hash(&self.ldk.pay_invoice(&invoice.to_string(), None));
        self.expect_amount(hash, amount_msat);
        hash
    }

    /// LDK creates an invoice, we pay it; returns the hash. Does not wait.
    pub fn we_pay_ldk_start(&self, amount_msat: u64) -> PaymentHash {
        let invoice = self.ldk.create_invoice(Some(amount_msat), "interop");
        self.expect_amount(
            PaymentHash(invoice.payment_hash().to_byte_array()),
            amount_msat,
        );
        self.ours.with(|n| {
            if let Err(e) = n.pay_invoice_str(&invoice.to_string(), host::now()) {
                panic!("pay {amount_msat}: {e}; channels {:#?}", n.list_channels());
            }
        });
        PaymentHash(invoice.payment_hash().to_byte_array())
    }

    /// Waits until LDK's payment `hash` to us succeeded on both sides.
    pub fn wait_ldk_paid_us(&self, hash: &PaymentHash) {
        let ldk_hash = LdkPaymentHash(hash.0);
        self.ldk.wait_until("LDK's payment is sent", LIMIT, || {
            self.ldk.outcome(&ldk_hash).is_some()
        });
        let outcome = self.ldk.outcome(&ldk_hash);
        assert!(
            matches!(outcome, Some(LdkPaymentOutcome::Sent(_))),
            "LDK's payment {hash} failed: {outcome:?}"
        );
        self.ours
            .wait_until("we received the payment", LIMIT, |s| {
                s.events.iter().any(|e| matches!(e, Event::PaymentReceived { payment_hash, .. } if payment_hash == hash))
            });
        self.check_ldk_paid_us(hash);
    }

    /// LDK's payment `hash` to us: we received exactly the amount it was
    /// for, once, and LDK's `PaymentSent` says the recipient got that
    /// amount, with no fee (a direct channel).
    pub fn check_ldk_paid_us(&self, hash: &PaymentHash) {
        let amount = self.expected_amount(hash);
        let received: Vec<u64> = self.ours.with_state(|s| {
            s.events
                .iter()
                .filter_map(|e| match e {
                    Event::PaymentReceived {
                        payment_hash,
                        amount_msat,
                    } if payment_hash == hash => Some(amount_msat.0),
                    _ => None,
                })
                .collect()
        });
        assert_eq!(received, vec![amount], "what we received for {hash}");
        let ldk_hash = LdkPaymentHash(hash.0);
        let sent: Vec<(Option<u64>, Option<u64>)> = self.ldk.record(|r| {
            r.sent
                .iter()
                .filter(|(h, ..)| *h == ldk_hash)
                .map(|(_, a, f)| (*a, *f))
                .collect()
        });
        assert_eq!(
            sent,
            vec![(Some(amount), Some(0))],
            "LDK's PaymentSent for {hash}: (amount, fee)"
        );
    }

    /// Waits until our payment `hash` to LDK succeeded on both sides.
    pub fn wait_we_paid_ldk(&self, hash: &PaymentHash) {
        let id = PaymentId(hash.0);
        self.ours.wait_until("our payment ends", LIMIT, |s| {
            s.node
                .payment(&id)
                .is_some_and(|p| p.status != PaymentStatus::Pending)
        });
        let details = self.ours.with(|n| n.payment(&id));
        assert!(
            matches!(
                details,
                Some(PaymentDetails {
                    status: PaymentStatus::Succeeded,
                    ..
                })
            ),
            "our payment {hash} failed: {details:?}"
        );
        let ldk_hash = LdkPaymentHash(hash.0);
        self.ldk.wait_until("LDK claimed the payment", LIMIT, || {
            self.ldk
                .record(|r| r.claimed.iter().any(|(h, _)| *h == ldk_hash))
        });
        self.check_we_paid_ldk(hash);
    }

    /// Our payment `hash` to LDK: our record says the amount it was for,
    /// and LDK claimed exactly that amount, once.
    pub fn check_we_paid_ldk(&self, hash: &PaymentHash) {
        let amount = self.expected_amount(hash);
        let details = self.ours.with(|n| n.payment(&PaymentId(hash.0))).unwrap();
        assert_eq!(
            details.amount_msat.0, amount,
            "our payment {hash}: {details:?}"
        );
        let ldk_hash = LdkPaymentHash(hash.0);
        let claimed: Vec<u64> = self.ldk.record(|r| {
            r.claimed
                .iter()
                .filter(|(h, _)| *h == ldk_hash)
                .map(|(_, a)| *a)
                .collect()
        });
        assert_eq!(claimed, vec![amount], "what LDK claimed for {hash}");
    }

    /// Waits until LDK's own view of its balance in `id` (its channel
    /// monitor's latest commitment, [`LdkNode::monitor_balance_sat`])
    /// agrees with ours: the channel's capacity less our balance, rounded
    /// down to the satoshi. Needs nothing pending.
    pub fn wait_balances_agree(&self, id: &ChannelId) {
        let limit = std::time::Instant::now() + LIMIT;
        loop {
            let details = self.ours.channel(id).unwrap();
            let theirs_sat =
                (details.capacity_sat.to_sat() * 1000 - details.local_balance_msat.0) / 1000;
            let ours_sat = details.local_balance_msat.0 / 1000;
            // As funder on an anchors channel LDK also pays the two 330-sat
            // anchor outputs, which its monitor counts in neither figure
            // (only an elided anchor is in its fee): one per side with an
            // output.
            let anchors_paid_by_ldk = if self.anchors && !details.is_outbound {
                330 * [ours_sat, theirs_sat].iter().filter(|s| **s > 0).count() as u64
            } else {
                0
            };
            let ldk = self
                .ldk
                .monitor_balance_sat(&ldk_id(id))
                .map(|b| b + anchors_paid_by_ldk);
            if ldk == Some(theirs_sat) {
                return;
            }
            assert!(
                std::time::Instant::now() < limit,
                "LDK's monitor says it holds {ldk:?} sat in {id:?} (anchors it pays included); we say {theirs_sat} sat (our balance {} msat of {} sat)",
                details.local_balance_msat,
                details.capacity_sat
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Our balance in `id` (msat) in our latest commitment.
    pub fn our_balance_msat(&self, id: &ChannelId) -> u64 {
        self.ours.channel(id).unwrap().local_balance_msat.0
    }

    /// Waits until no HTLC is pending on LDK's side and our balance in
    /// `id` is `expected_msat` (the last removals' dances may still be
    /// finishing when the payment events arrive).
    pub fn wait_settled(&self, id: &ChannelId, expected_msat: u64) {
        self.ldk.wait_until("LDK has no HTLC pending", LIMIT, || {
            self.ldk
                .channels()
                .iter()
                .all(|c| c.pending_inbound_htlcs.is_empty() && c.pending_outbound_htlcs.is_empty())
        });
        let limit = std::time::Instant::now() + Duration::from_secs(5);
        while self.our_balance_msat(id) != expected_msat && std::time::Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(
            self.our_balance_msat(id),
            expected_msat,
            "our balance is what we received less what we sent"
        );
        self.wait_balances_agree(id);
    }

    /// Closes `id` cooperatively (`by_us` chooses the initiator), mines the
    /// closing transaction and checks both outputs against the balances
    /// before the close. Returns the closing transaction.
    pub fn close(&self, id: ChannelId, by_us: bool) -> bitcoin::Transaction {
        if by_us {
            self.ours.with(|n| n.close_channel(id)).unwrap();
        } else {
            self.ldk.close_channel(&ldk_id(&id), &self.ours.node_id());
        }
        self.check_close(id)
    }

    /// Waits until both sides closed `id`, finds the closing transaction
    /// (it must spend this channel's funding output) in the mempool, mines
    /// it and checks its outputs: ours pays our shutdown script, LDK's the
    /// script LDK's keys close to, each the owner's balance rounded down,
    /// the funder's less the fee. Returns the closing transaction.
    pub fn check_close(&self, id: ChannelId) -> bitcoin::Transaction {
        self.ours.wait_until("our side is closed", LIMIT, |s| {
            s.node
                .list_channels()
                .iter()
                .any(|c| c.channel_id == id && c.phase == Phase::Closed)
        });
        self.ldk.wait_until("LDK's side is closed", LIMIT, || {
            self.ldk
                .record(|r| r.closed.iter().any(|(c, _)| *c == ldk_id(&id)))
        });
        // The balances the close settled (updates still in flight when it
        // was asked for complete before `shutdown` finishes).
        let details = self.ours.channel(&id).unwrap();
        let funding = details.funding_txo.unwrap();
        let our_msat = details.local_balance_msat.0;
        let capacity = details.capacity_sat.to_sat();
        let closing = self
            .world
            .wait_for_mempool(1, LIMIT)
            .into_iter()
            .find(|tx| tx.input.iter().any(|i| i.previous_output == funding))
            .expect("the closing transaction is in the mempool");
        self.world.mine(1);
        assert_eq!(
            self.world.chain.tx_confirmations(&closing.compute_txid()),
            Some(1)
        );
        self.world.assert_no_rejections();
        assert!(self.ldk.rejected_broadcasts().is_empty());

        // Balances (BOLT 3, "Closing Transaction"): each output is its
        // owner's balance rounded down to the satoshi, the funder's less
        // the closing fee; the rounding remainder goes to the fee.
        let ours_script = self.ours.shutdown_script();
        let our_out: u64 = closing
            .output
            .iter()
            .filter(|o| o.script_pubkey == ours_script)
            .map(|o| o.value.to_sat())
            .sum();
        let total_out: u64 = closing.output.iter().map(|o| o.value.to_sat()).sum();
        let ldk_script = self.ldk.shutdown_script();
        let their_out: u64 = closing
            .output
            .iter()
            .filter(|o| o.script_pubkey == ldk_script)
            .map(|o| o.value.to_sat())
            .sum();
        assert_eq!(
            our_out + their_out,
            total_out,
            "the closing tx pays our shutdown script and LDK's only: {closing:?}"
        );
        assert_eq!(
            closing.input.len(),
            1,
            "the closing tx spends the funding output alone"
        );
        let fee = capacity - total_out;
        let their_msat = capacity * 1000 - our_msat;
        assert!(fee < 10_000, "closing fee {fee} sat");
        if details.is_outbound {
            assert_eq!(their_out, their_msat / 1000, "LDK's output is its balance");
            assert!(our_out < our_msat / 1000 && our_out + fee >= our_msat / 1000);
        } else {
            assert_eq!(our_out, our_msat / 1000, "our output is our balance");
            assert!(their_out < their_msat / 1000 && their_out + fee >= their_msat / 1000);
        }
        closing
    }

    /// Leaves one HTLC each way pending in both commitments of `id`:
    /// `to_ldk_msat` from us, which LDK holds without claiming, and
    /// `to_us_msat` from LDK for a hold invoice of ours whose preimage is
    /// `preimage` (held: [`lightning_core::node::Node::claim_for_hash`]
    /// settles it). Waits until both are irrevocably committed on LDK's
    /// side. Returns (our payment's hash, LDK's payment's hash).
    pub fn hold_an_htlc_each_way(
        &self,
        id: &ChannelId,
        to_ldk_msat: u64,
        to_us_msat: u64,
        preimage: lightning_core::node::PaymentPreimage,
    ) -> (PaymentHash, PaymentHash) {
        use lightning::ln::channel_state::{InboundHTLCStateDetails, OutboundHTLCStateDetails};
        self.ldk.set_hold(true);
        let ours = self.we_pay_ldk_start(to_ldk_msat);
        self.ldk
            .wait_until("LDK holds our HTLC", LIMIT, || self.ldk.held() >= 1);
        let hash = PaymentHash(bitcoin::hashes::sha256::Hash::hash(&preimage.0).to_byte_array());
        let invoice = self
            .ours
            .with(|n| {
                n.create_hold_invoice(
                    hash,
                    Some(lightning_core::amount::Msat(to_us_msat)),
                    "held",
                    Duration::from_secs(3600),
                    host::now(),
                )
            })
            .unwrap();
        self.ldk.pay_invoice(&invoice.to_string(), None);
        self.ours.wait_until("we hold LDK's HTLC", LIMIT, |s| {
            s.events.iter().any(|e| {
                matches!(e, Event::HoldInvoiceAccepted { payment_hash, .. } if *payment_hash == hash)
            })
        });
        self.ldk
            .wait_until("both HTLCs committed on both sides", LIMIT, || {
                self.ldk
                    .channels()
                    .into_iter()
                    .find(|c| c.channel_id == ldk_id(id))
                    .is_some_and(|c| {
                        c.pending_inbound_htlcs.len() == 1
                            && c.pending_outbound_htlcs.len() == 1
                            && c.pending_inbound_htlcs
                                .iter()
                                .all(|h| h.state == Some(InboundHTLCStateDetails::Committed))
                            && c.pending_outbound_htlcs
                                .iter()
                                .all(|h| h.state == Some(OutboundHTLCStateDetails::Committed))
                    })
            });
        (ours, hash)
    }

    /// Panics if either side saw a transaction refused.
    pub fn assert_chain_clean(&self) {
        self.world.assert_no_rejections();
        assert!(
            self.ldk.rejected_broadcasts().is_empty(),
            "{:?}",
            self.ldk.rejected_broadcasts()
        );
    }
}
