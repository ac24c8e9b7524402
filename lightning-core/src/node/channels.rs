//! The channel API: open, fund, close, update the fee, force-close, and
//! what the host sees of the channels (details and balances).

use bitcoin::secp256k1::PublicKey;
use bitcoin::Transaction;
use lightning_chain::ConfirmationTarget;
use lightning_wire::msgs::Message;
use lightning_wire::types::ChannelId;

use super::{payments, Balances, ChannelDetails, ChannelEntry, Node, NodeError};
use crate::amount::{FeeratePerKw, Msat};
use crate::channel::{Channel, Phase};

impl Node {
    /// Opens a channel of `amount_sat` to the connected peer `node_id`,
    /// pushing `push_msat` to it. Returns the temporary channel id; an
    /// [`Event::FundingNeeded`](super::Event::FundingNeeded) follows once the peer accepts.
    pub fn open_channel(
        &mut self,
        node_id: PublicKey,
        amount_sat: bitcoin::Amount,
        push_msat: Msat,
    ) -> Result<ChannelId, NodeError> {
        if self.peers.peer_for_node(&node_id).is_none() {
            return Err(NodeError::NotConnected(node_id));
        }
        let mut config = self.channel_config(&node_id);
        let feerate = self.feerate_per_kw(if config.anchors {
            ConfirmationTarget::AnchorChannelFee
        } else {
            ConfirmationTarget::NonAnchorChannelFee
        });
        let index = self.allocate_keys_index()?;
        config.local_alias = config.local_alias.or(Some(self.channel_alias(index)));
        let signer = self.channel_signers.channel_signer(index)?;
        let temporary_channel_id = ChannelId(self.entropy.random_bytes());
        let (mut channel, open) = Channel::new_outbound(
            signer,
            config,
            index,
            temporary_channel_id,
            amount_sat.to_sat(),
            push_msat.0,
            feerate,
        )?;
        channel.set_counterparty_node_id(node_id);
        self.backup_ids_changed();
        self.channels.insert(
            temporary_channel_id,
            ChannelEntry {
                channel,
                counterparty: node_id,
                watched: None,
                block_settled: false,
            },
        );
        self.queue_message(node_id, Message::OpenChannel(open));
        self.finish()?;
        Ok(temporary_channel_id)
    }

    /// The funding transaction for [`Event::FundingNeeded`](super::Event::FundingNeeded), signed and
    /// not broadcast: the node sends `funding_created` and broadcasts it
    /// after `funding_signed`. Returns the channel's real id.
    pub fn funding_transaction_generated(
        &mut self,
        temporary_channel_id: ChannelId,
        tx: Transaction,
    ) -> Result<ChannelId, NodeError> {
        let entry = self
            .channels
            .get_mut(&temporary_channel_id)
            .ok_or(NodeError::UnknownChannel(temporary_channel_id))?;
        let out = entry.channel.funding_transaction(tx)?;
        let id = entry.channel.channel_id();
        self.apply(temporary_channel_id, out);
        self.finish()?;
        let kept = self
            .channels
            .get(&id)
            .is_some_and(|e| e.channel.state().temporary_channel_id == temporary_channel_id);
        if !kept {
            // `apply` refused it: the outpoint is another channel's.
            return Err(NodeError::ChannelIdCollision(id));
        }
        Ok(id)
    }

    /// Starts a cooperative close (BOLT 2 `shutdown`); an
    /// [`Event::ChannelClosed`](super::Event::ChannelClosed) follows with the closing transaction, which
    /// the node broadcasts.
    pub fn close_channel(&mut self, channel_id: ChannelId) -> Result<(), NodeError> {
        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let out = entry.channel.shutdown()?;
        self.apply(channel_id, out);
        self.finish()
    }

    /// Proposes a new commitment feerate on a channel we funded (BOLT 2,
    /// "Updating Fees: `update_fee`": only the funder sends it) and signs
    /// it at once. Refused for the fundee, or when the funder could not
    /// pay the new fee.
    pub fn update_fee(
        &mut self,
        channel_id: ChannelId,
        feerate_per_kw: FeeratePerKw,
    ) -> Result<(), NodeError> {
        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let out = entry.channel.update_fee(feerate_per_kw.0)?;
        self.apply(channel_id, out);
        self.to_commit.insert(channel_id);
        self.finish()
    }

    /// Closes unilaterally: tells the peer (`error`) and broadcasts our
    /// latest commitment.
    pub fn force_close_channel(&mut self, channel_id: ChannelId) -> Result<(), NodeError> {
        let entry = self
            .channels
            .get_mut(&channel_id)
            .ok_or(NodeError::UnknownChannel(channel_id))?;
        let out = entry.channel.force_close("force-closed by the host");
        self.apply(channel_id, out);
        self.finish()
    }

    pub(super) fn details(&self, entry: &ChannelEntry) -> ChannelDetails {
        let ch = &entry.channel;
        let st = ch.state();
        let local = ch.local_balance_msat();
        ChannelDetails {
            channel_id: ch.channel_id(),
            counterparty: entry.counterparty,
            is_outbound: st.is_funder,
            phase: ch.phase(),
            is_usable: ch.is_usable(),
            funding_txo: st.funding_outpoint,
            short_channel_id: st.short_channel_id,
            announce_channel: st.announce_channel,
            is_announced: st.remote_announcement_sigs.is_some(),
            capacity_sat: bitcoin::Amount::from_sat(st.funding_satoshis),
            local_balance_msat: Msat(local),
            outbound_capacity_msat: Msat(if ch.is_usable() {
                payments::outbound_capacity_msat(ch)
            } else {
                0
            }),
            closing: self
                .onchain_status(&ch.channel_id(), self.best_height())
                .map(|(spent_by, resolved)| super::events::ClosingState { spent_by, resolved }),
        }
    }

    /// Every channel the node knows, closed ones included.
    pub fn list_channels(&self) -> Vec<ChannelDetails> {
        self.channels.values().map(|e| self.details(e)).collect()
    }

    /// Totals over the channels.
    pub fn balances(&self) -> Balances {
        let mut b = Balances::default();
        for entry in self.channels.values() {
            let d = self.details(entry);
            match d.phase {
                Phase::Normal | Phase::ShuttingDown => {
                    b.lightning_msat = b.lightning_msat.saturating_add(d.local_balance_msat)
                }
                Phase::AwaitingChannelReady | Phase::AwaitingFundingSigned => {
                    b.pending_open_msat = b.pending_open_msat.saturating_add(d.local_balance_msat)
                }
                _ => {}
            }
            b.outbound_capacity_msat = b
                .outbound_capacity_msat
                .saturating_add(d.outbound_capacity_msat);
        }
        b
    }
}

/// Before `funding_signed` (funder) or `funding_created` (fundee): the
/// funding transaction was never broadcast, so the channel can be
/// forgotten. The funder's record written at `funding_created` stays in
/// the store, unused.
pub(super) fn is_unfunded(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::AwaitingAccept
            | Phase::AwaitingFundingTx
            | Phase::AwaitingFundingCreated
            | Phase::AwaitingFundingSigned
    )
}
