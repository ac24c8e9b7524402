//! BOLT 2 channel establishment: v1 (`open_channel`, `accept_channel`,
//! `funding_created`, `funding_signed`, `channel_ready`) and v2
//! (`open_channel2`, `accept_channel2`).

use bitcoin::Txid;
use secp256k1::ecdsa::Signature;
use secp256k1::PublicKey;

use crate::features::{ChannelTypeContext, TlvFeatures};
use crate::msgs::Empty;
use crate::tlv::UnknownTlvs;
use crate::types::{ChainHash, ChannelId, ShortChannelId};

tlv_stream! {
    /// `open_channel_tlvs` and `accept_channel_tlvs` (BOLT 2, "The
    /// `open_channel` Message").
    OpenChannelTlvs {
        /// `upfront_shutdown_script`: where a mutual close must pay; empty
        /// when the sender does not commit to one.
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex::option"))]
        0 => upfront_shutdown_script: Vec<u8>,
        /// `channel_type`.
        1 => channel_type: TlvFeatures<ChannelTypeContext>,
    }
}

wire_message! {
    /// `open_channel` (BOLT 2, "The `open_channel` Message"): the funder
    /// proposes a v1 channel.
    OpenChannel = 32, "open_channel" {
        /// The chain the channel is on.
        chain_hash: ChainHash,
        /// A per-peer id until the funding transaction is known.
        temporary_channel_id: ChannelId,
        /// The funder's contribution.
        funding_satoshis: u64,
        /// An amount given to the fundee up front.
        push_msat: u64,
        /// Below this, outputs are not created on the sender's transactions.
        dust_limit_satoshis: u64,
        /// Cap on the total of HTLCs offered to the sender.
        max_htlc_value_in_flight_msat: u64,
        /// What the fundee must keep as a direct balance.
        channel_reserve_satoshis: u64,
        /// The smallest HTLC the sender accepts.
        htlc_minimum_msat: u64,
        /// The initial commitment feerate.
        feerate_per_kw: u32,
        /// The CSV delay on the fundee's `to_local` output.
        to_self_delay: u16,
        /// Cap on the number of HTLCs offered to the sender.
        max_accepted_htlcs: u16,
        /// The sender's key in the 2-of-2 funding output.
        funding_pubkey: PublicKey,
        /// `revocation_basepoint`.
        revocation_basepoint: PublicKey,
        /// `payment_basepoint`.
        payment_basepoint: PublicKey,
        /// `delayed_payment_basepoint`.
        delayed_payment_basepoint: PublicKey,
        /// `htlc_basepoint`.
        htlc_basepoint: PublicKey,
        /// The per-commitment point of commitment 0.
        first_per_commitment_point: PublicKey,
        /// Bit 0: `announce_channel`.
        channel_flags: u8,
    }
    tlvs: OpenChannelTlvs
}

impl OpenChannel {
    /// Whether the funder wants the channel announced (bit 0 of
    /// `channel_flags`).
    pub fn announce_channel(&self) -> bool {
        self.channel_flags & 1 == 1
    }
}

wire_message! {
    /// `accept_channel` (BOLT 2, "The `accept_channel` Message"): the fundee
    /// accepts a v1 channel.
    AcceptChannel = 33, "accept_channel" {
        /// The id of the `open_channel`.
        temporary_channel_id: ChannelId,
        /// `dust_limit_satoshis`.
        dust_limit_satoshis: u64,
        /// `max_htlc_value_in_flight_msat`.
        max_htlc_value_in_flight_msat: u64,
        /// `channel_reserve_satoshis`.
        channel_reserve_satoshis: u64,
        /// `htlc_minimum_msat`.
        htlc_minimum_msat: u64,
        /// Confirmations the fundee waits for before `channel_ready`.
        minimum_depth: u32,
        /// `to_self_delay`.
        to_self_delay: u16,
        /// `max_accepted_htlcs`.
        max_accepted_htlcs: u16,
        /// `funding_pubkey`.
        funding_pubkey: PublicKey,
        /// `revocation_basepoint`.
        revocation_basepoint: PublicKey,
        /// `payment_basepoint`.
        payment_basepoint: PublicKey,
        /// `delayed_payment_basepoint`.
        delayed_payment_basepoint: PublicKey,
        /// `htlc_basepoint`.
        htlc_basepoint: PublicKey,
        /// `first_per_commitment_point`.
        first_per_commitment_point: PublicKey,
    }
    tlvs: OpenChannelTlvs
}

wire_message! {
    /// `funding_created` (BOLT 2, "The `funding_created` Message"): the
    /// funding outpoint and the funder's signature of the fundee's first
    /// commitment.
    FundingCreated = 34, "funding_created" {
        /// The id of the `open_channel`.
        temporary_channel_id: ChannelId,
        /// The funding transaction's id (wire byte order).
        funding_txid: Txid,
        /// The funding output's index.
        funding_output_index: u16,
        /// The signature of the fundee's commitment 0.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        signature: Signature,
    }
    tlvs: UnknownTlvs
}

wire_message! {
    /// `funding_signed` (BOLT 2, "The `funding_signed` Message").
    FundingSigned = 35, "funding_signed" {
        /// The channel id derived from the funding outpoint.
        channel_id: ChannelId,
        /// The signature of the funder's commitment 0.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        signature: Signature,
    }
    tlvs: UnknownTlvs
}

tlv_stream! {
    /// `channel_ready_tlvs` (BOLT 2, "The `channel_ready` Message").
    ChannelReadyTlvs {
        /// `short_channel_id`: an alias to route through the channel by.
        1 => short_channel_id: ShortChannelId,
    }
}

wire_message! {
    /// `channel_ready` (BOLT 2, "The `channel_ready` Message"; formerly
    /// `funding_locked`): the funding transaction is deep enough.
    ChannelReady = 36, "channel_ready" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The per-commitment point of commitment 1.
        second_per_commitment_point: PublicKey,
    }
    tlvs: ChannelReadyTlvs
}

tlv_stream! {
    /// `opening_tlvs` of `open_channel2` and `accept_tlvs` of
    /// `accept_channel2` (BOLT 2, "The `open_channel2` Message").
    OpenChannel2Tlvs {
        /// `upfront_shutdown_script`.
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex::option"))]
        0 => upfront_shutdown_script: Vec<u8>,
        /// `channel_type`.
        1 => channel_type: TlvFeatures<ChannelTypeContext>,
        /// `require_confirmed_inputs`: the peer may only add confirmed
        /// inputs.
        2 => require_confirmed_inputs: Empty,
    }
}

wire_message! {
    /// `open_channel2` (BOLT 2, "The `open_channel2` Message"): the opener
    /// proposes a dual-funded channel.
    OpenChannel2 = 64, "open_channel2" {
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// Derived from the opener's revocation basepoint and zeroes.
        temporary_channel_id: ChannelId,
        /// Feerate of the funding transaction.
        funding_feerate_perkw: u32,
        /// Feerate of the commitment transactions.
        commitment_feerate_perkw: u32,
        /// The opener's contribution.
        funding_satoshis: u64,
        /// `dust_limit_satoshis`.
        dust_limit_satoshis: u64,
        /// `max_htlc_value_in_flight_msat`.
        max_htlc_value_in_flight_msat: u64,
        /// `htlc_minimum_msat`.
        htlc_minimum_msat: u64,
        /// `to_self_delay`.
        to_self_delay: u16,
        /// `max_accepted_htlcs`.
        max_accepted_htlcs: u16,
        /// nLockTime of the funding transaction.
        locktime: u32,
        /// `funding_pubkey`.
        funding_pubkey: PublicKey,
        /// `revocation_basepoint`.
        revocation_basepoint: PublicKey,
        /// `payment_basepoint`.
        payment_basepoint: PublicKey,
        /// `delayed_payment_basepoint`.
        delayed_payment_basepoint: PublicKey,
        /// `htlc_basepoint`.
        htlc_basepoint: PublicKey,
        /// `first_per_commitment_point`.
        first_per_commitment_point: PublicKey,
        /// `second_per_commitment_point`.
        second_per_commitment_point: PublicKey,
        /// Bit 0: `announce_channel`.
        channel_flags: u8,
    }
    tlvs: OpenChannel2Tlvs
}

wire_message! {
    /// `accept_channel2` (BOLT 2, "The `accept_channel2` Message").
    AcceptChannel2 = 65, "accept_channel2" {
        /// The id of the `open_channel2`.
        temporary_channel_id: ChannelId,
        /// The accepter's contribution (may be zero).
        funding_satoshis: u64,
        /// `dust_limit_satoshis`.
        dust_limit_satoshis: u64,
        /// `max_htlc_value_in_flight_msat`.
        max_htlc_value_in_flight_msat: u64,
        /// `htlc_minimum_msat`.
        htlc_minimum_msat: u64,
        /// `minimum_depth`.
        minimum_depth: u32,
        /// `to_self_delay`.
        to_self_delay: u16,
        /// `max_accepted_htlcs`.
        max_accepted_htlcs: u16,
        /// `funding_pubkey`.
        funding_pubkey: PublicKey,
        /// `revocation_basepoint`.
        revocation_basepoint: PublicKey,
        /// `payment_basepoint`.
        payment_basepoint: PublicKey,
        /// `delayed_payment_basepoint`.
        delayed_payment_basepoint: PublicKey,
        /// `htlc_basepoint`.
        htlc_basepoint: PublicKey,
        /// `first_per_commitment_point`.
        first_per_commitment_point: PublicKey,
        /// `second_per_commitment_point`.
        second_per_commitment_point: PublicKey,
    }
    tlvs: OpenChannel2Tlvs
}
