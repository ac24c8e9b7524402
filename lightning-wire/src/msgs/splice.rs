//! BOLT 2 quiescence (`stfu`), splicing (`splice_init`, `splice_ack`,
//! `splice_locked`) and `start_batch`, as of the splicing revision of the
//! spec (commit a3772650, "Channel Splicing (feature 62/63)").

use bitcoin::Txid;
use secp256k1::PublicKey;

use crate::msgs::Empty;
use crate::tlv::UnknownTlvs;
use crate::types::ChannelId;

wire_message! {
    /// `stfu` (BOLT 2, "Channel Quiescence"): the sender will send no more
    /// updates.
    Stfu = 2, "stfu" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// 1 if the sender initiates quiescence, 0 if it replies.
        initiator: u8,
    }
    tlvs: UnknownTlvs
}

tlv_stream! {
    /// `splice_init_tlvs` and `splice_ack_tlvs` (BOLT 2, "The `splice_init`
    /// Message").
    SpliceTlvs {
        /// `require_confirmed_inputs`.
        2 => require_confirmed_inputs: Empty,
    }
}

wire_message! {
    /// `splice_init` (BOLT 2, "The `splice_init` Message"): the quiescence
    /// initiator proposes a splice.
    SpliceInit = 80, "splice_init" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// Added to (splice-in) or taken from (splice-out, negative) the
        /// sender's balance.
        funding_contribution_satoshis: i64,
        /// Feerate of the splice transaction.
        funding_feerate_perkw: u32,
        /// nLockTime of the splice transaction.
        locktime: u32,
        /// The sender's key in the new funding output.
        funding_pubkey: PublicKey,
    }
    tlvs: SpliceTlvs
}

wire_message! {
    /// `splice_ack` (BOLT 2, "The `splice_ack` Message").
    SpliceAck = 81, "splice_ack" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The accepter's contribution (may be zero).
        funding_contribution_satoshis: i64,
        /// The sender's key in the new funding output.
        funding_pubkey: PublicKey,
    }
    tlvs: SpliceTlvs
}

wire_message! {
    /// `splice_locked` (BOLT 2, "The `splice_locked` Message"): a splice
    /// transaction is deep enough.
    SpliceLocked = 77, "splice_locked" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The locked splice transaction.
        splice_txid: Txid,
    }
    tlvs: UnknownTlvs
}

tlv_stream! {
    /// `start_batch_tlvs` (BOLT 2, "Batching Channel Messages").
    StartBatchTlvs {
        /// `message_type`: the type of the batched messages (132,
        /// `commitment_signed`).
        1 => message_type: u16,
    }
}

wire_message! {
    /// `start_batch` (BOLT 2, "Batching Channel Messages"): the next
    /// `batch_size` messages for `channel_id` are one logical message (the
    /// `commitment_signed` of each pending splice).
    StartBatch = 127, "start_batch" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// How many messages follow (2..=20).
        batch_size: u16,
    }
    tlvs: StartBatchTlvs
}
