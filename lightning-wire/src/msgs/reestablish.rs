//! BOLT 2 `channel_reestablish` ("Message Retransmission").

use bitcoin::Txid;
use secp256k1::PublicKey;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::types::ChannelId;

/// A funding transaction and a `retransmit_flags` byte: the value of both
/// `next_funding` and `my_current_funding_locked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FundingRetransmit {
    /// The funding (or splice) transaction.
    pub txid: Txid,
    /// Messages the peer should retransmit for it: bit 0 is
    /// `commitment_signed` in `next_funding` and `announcement_signatures`
    /// in `my_current_funding_locked`.
    pub retransmit_flags: u8,
}

impl FundingRetransmit {
    /// Whether bit 0 of `retransmit_flags` is set.
    pub fn retransmit_bit0(&self) -> bool {
        self.retransmit_flags & 1 == 1
    }
}

impl Encode for FundingRetransmit {
    fn encode(&self, out: &mut Vec<u8>) {
        self.txid.encode(out);
        self.retransmit_flags.encode(out);
    }
}

impl Decode for FundingRetransmit {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FundingRetransmit {
            txid: reader.read_field("txid")?,
            retransmit_flags: reader.read_field("retransmit_flags")?,
        })
    }
}

tlv_stream! {
    /// `channel_reestablish_tlvs` (BOLT 2, "Message Retransmission"), as of
    /// the splicing revision (a3772650): `next_funding` is type 1 with a
    /// `retransmit_flags` byte, `my_current_funding_locked` type 5. The older
    /// draft types 0 (`next_funding_txid` alone), 1
    /// (`your_last_funding_locked_txid`) and 3 are gone: an old peer's type 0
    /// fails the stream, as an unknown even type must.
    ChannelReestablishTlvs {
        /// `next_funding`: an interactive transaction whose signatures are
        /// not all exchanged; bit 0 asks for `commitment_signed` again.
        1 => next_funding: FundingRetransmit,
        /// `my_current_funding_locked`: the latest funding or splice
        /// transaction the sender considers locked; bit 0 asks for
        /// `announcement_signatures` again.
        5 => my_current_funding_locked: FundingRetransmit,
    }
}

wire_message! {
    /// `channel_reestablish` (BOLT 2, "Message Retransmission"): sent for
    /// every channel on reconnection.
    ChannelReestablish = 136, "channel_reestablish" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The commitment number of the next `commitment_signed` expected.
        next_commitment_number: u64,
        /// The commitment number of the next `revoke_and_ack` expected.
        next_revocation_number: u64,
        /// The last `per_commitment_secret` received, or zeroes.
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))]
        your_last_per_commitment_secret: [u8; 32],
        /// The sender's current per-commitment point.
        my_current_per_commitment_point: PublicKey,
    }
    tlvs: ChannelReestablishTlvs
}
