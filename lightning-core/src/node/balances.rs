//! What the host can expect to get back on chain, channel by channel
//! ([`Node::claimable_balances`]).

use bitcoin::{Amount, Txid};
use lightning_wire::types::{ChannelId, PaymentHash};

use super::Node;
use crate::channel::update_log::{Side, UpdateKind};
use crate::channel::Phase;
use crate::onchain::ClaimTag;

/// One amount the node expects on chain, by how it gets there. Amounts
/// are the outputs' values, before the fee of the transaction that claims
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClaimableBalance {
    /// An open channel: our balance, claimable by closing it (less the
    /// commitment fee if we are the funder).
    ClaimableOnChannelClose {
        /// The channel.
        channel_id: ChannelId,
        /// Our balance.
        amount_sat: Amount,
    },
    /// A claim that confirmed and is not yet 6 blocks deep.
    AwaitingConfirmation {
        /// The channel.
        channel_id: ChannelId,
        /// The claim.
        txid: Txid,
        /// What it claims.
        amount_sat: Amount,
        /// The height at which it counts as resolved.
        resolved_at_height: u32,
    },
    /// An output we will claim once a relative or absolute timelock
    /// expires (`to_local` and second-stage outputs after `to_self_delay`,
    /// anchors `to_remote` after 1 block).
    TimelockedUntil {
        /// The channel.
        channel_id: ChannelId,
        /// What it holds.
        amount_sat: Amount,
        /// The first height its claim can be mined at (`None` while the
        /// transaction it spends is unconfirmed).
        height: Option<u32>,
    },
    /// An HTLC on chain we expect to win but the peer may still take
    /// (ours to time out at `expiry`; it wins with the preimage first).
    ContentiousHtlc {
        /// The channel.
        channel_id: ChannelId,
        /// The HTLC.
        payment_hash: PaymentHash,
        /// Its value.
        amount_sat: Amount,
        /// Its `cltv_expiry`.
        expiry: u32,
    },
    /// An HTLC offered to us in flight whose preimage we do not hold.
    AwaitingPreimage {
        /// The channel.
        channel_id: ChannelId,
        /// The HTLC.
        payment_hash: PaymentHash,
        /// Its value.
        amount_sat: Amount,
        /// Its `cltv_expiry`.
        expiry: u32,
    },
    /// A claim broadcast (its timelocks expired), not yet confirmed.
    PendingSweep {
        /// The channel.
        channel_id: ChannelId,
        /// The claim.
        txid: Txid,
        /// What it claims.
        amount_sat: Amount,
    },
}

impl Node {
    /// Every amount the node expects to get back on chain, per channel.
    /// Open channels count our balance; closed ones each pending claim of
    /// their on-chain resolver (BOLT 5), until it is 6 blocks deep.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use lightning_core::node::{Node, NodeConfig, NodeHost, ClaimableBalance};
    /// # #[derive(Debug)]
    /// # struct NoBroadcast;
    /// # impl lightning_chain::Broadcaster for NoBroadcast {
    /// #     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
    /// # }
    /// # let host = NodeHost {
    /// #     broadcaster: Arc::new(NoBroadcast),
    /// #     fee_estimator: Arc::new(lightning_chain::FixedFeeEstimator::new(
    /// #         lightning_chain::FeeRate::from_sat_per_kw(1000),
    /// #     )),
    /// # };
    /// # let node = Node::builder(bitcoin::Network::Regtest)
    /// #     .seed(&[1; 32])
    /// #     .store(Arc::new(lightning_persist::MemoryStore::new()))
    /// #     .host(host)
    /// #     .build()
    /// #     .unwrap();
    /// let total: u64 = node
    ///     .claimable_balances()
    ///     .iter()
    ///     .map(|b| match b {
    ///         ClaimableBalance::ClaimableOnChannelClose { amount_sat, .. }
    ///         | ClaimableBalance::AwaitingConfirmation { amount_sat, .. }
    ///         | ClaimableBalance::TimelockedUntil { amount_sat, .. }
    ///         | ClaimableBalance::ContentiousHtlc { amount_sat, .. }
    ///         | ClaimableBalance::AwaitingPreimage { amount_sat, .. }
    ///         | ClaimableBalance::PendingSweep { amount_sat, .. } => amount_sat.to_sat(),
    ///         _ => 0,
    ///     })
    ///     .sum();
    /// assert_eq!(total, 0); // no channel yet
    /// ```
    pub fn claimable_balances(&self) -> Vec<ClaimableBalance> {
        let tip = self.best_height();
        let mut v = Vec::new();
        for (id, entry) in &self.channels {
            let channel_id = *id;
            let resolver = self.onchain.get(id).filter(|r| r.spend.is_some());
            let Some(r) = resolver else {
                if matches!(entry.channel.phase(), Phase::Normal | Phase::ShuttingDown) {
                    v.push(ClaimableBalance::ClaimableOnChannelClose {
                        channel_id,
                        amount_sat: Amount::from_sat(entry.channel.local_balance_msat() / 1000),
                    });
                    let st = entry.channel.state();
                    for u in st.log.updates() {
                        if let UpdateKind::Add(a) = &u.kind {
                            if u.proposer == Side::Remote
                                && st.log.find_removal(Side::Remote, a.id).is_none()
                            {
                                v.push(ClaimableBalance::AwaitingPreimage {
                                    channel_id,
                                    payment_hash: a.payment_hash,
                                    amount_sat: Amount::from_sat(a.amount_msat / 1000),
                                    expiry: a.cltv_expiry,
                                });
                            }
                        }
                    }
                }
                continue;
            };
            for c in &r.claims {
                let txid = c.tx.compute_txid();
                let amount_sat = c.value;
                if let Some(h) = c.confirmed_at {
                    let resolved_at_height =
                        h.saturating_add(crate::onchain::resolver::RESOLVED_DEPTH - 1);
                    if tip < resolved_at_height {
                        v.push(ClaimableBalance::AwaitingConfirmation {
                            channel_id,
                            txid,
                            amount_sat,
                            resolved_at_height,
                        });
                    }
                    continue;
                }
                if c.conflicted.is_some() {
                    continue;
                }
                if c.kind.is_timeout() {
                    if !c.due(tip) {
                        v.push(ClaimableBalance::ContentiousHtlc {
                            channel_id,
                            payment_hash: c.payment_hash.unwrap_or(PaymentHash([0; 32])),
                            amount_sat,
                            expiry: c.cltv,
                        });
                        continue;
                    }
                } else if !c.due(tip) {
                    v.push(ClaimableBalance::TimelockedUntil {
                        channel_id,
                        amount_sat,
                        height: c.mature_height(),
                    });
                    continue;
                }
                if c.kind == ClaimTag::HolderHtlcSuccess
                    || c.kind.pays_wallet()
                    || c.kind.is_timeout()
                {
                    v.push(ClaimableBalance::PendingSweep {
                        channel_id,
                        txid,
                        amount_sat,
                    });
                }
            }
        }
        v
    }
}
