//! The subtypes BOLT 12 messages carry: `blinded_path` with its
//! `sciddir_or_pubkey` and `onionmsg_hop` (BOLT 4, "Route Blinding";
//! BOLT 1 "Fundamental Types"), `blinded_payinfo` and `fallback_address`
//! (BOLT 12, "Invoices").

use secp256k1::PublicKey;

use crate::codec::{write_u16_prefixed, Decode, DecodeError, Encode, Reader};
use crate::types::ShortChannelId;

/// `sciddir_or_pubkey`: the introduction node of a blinded path, by node
/// id or by a channel and the direction of its end (BOLT 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntroductionNode {
    /// A 33-byte node id.
    NodeId(PublicKey),
    /// A `short_channel_id` and which end of it: 0 is `node_id_1`, the
    /// lesser key of the channel's announcement, 1 is `node_id_2`.
    DirectedScid {
        /// 0 or 1.
        direction: u8,
        /// The channel.
        scid: ShortChannelId,
    },
}

impl Encode for IntroductionNode {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            IntroductionNode::NodeId(k) => k.encode(out),
            IntroductionNode::DirectedScid { direction, scid } => {
                out.push(*direction);
                scid.encode(out);
            }
        }
    }
}

impl Decode for IntroductionNode {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.peek_rest().first() {
            Some(0 | 1) => {
                let direction = r.read_array::<1>()?[0];
                Ok(IntroductionNode::DirectedScid {
                    direction,
                    scid: r.read()?,
                })
            }
            Some(2 | 3) => Ok(IntroductionNode::NodeId(r.read()?)),
            Some(b) => Err(DecodeError::invalid(format!(
                "sciddir_or_pubkey starts with {b:#04x}"
            ))),
            None => Err(DecodeError::invalid("sciddir_or_pubkey missing")),
        }
    }
}

/// `onionmsg_hop`: one hop of a blinded path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OnionMsgHop {
    /// `blinded_node_id`.
    pub blinded_node_id: PublicKey,
    /// `encrypted_recipient_data`.
    pub encrypted_recipient_data: Vec<u8>,
}

/// `blinded_path`: the introduction node, `first_path_key` and at least
/// one hop (a path of `num_hops` 0 is refused on reading, as BOLT 12 asks
/// of every reader of `offer_paths`, `invreq_paths` and `invoice_paths`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlindedPath {
    /// `first_node_id`.
    pub first_node_id: IntroductionNode,
    /// `first_path_key`.
    pub first_path_key: PublicKey,
    /// The hops, introduction node first; 1 to 255.
    pub hops: Vec<OnionMsgHop>,
}

impl BlindedPath {
    /// The `blinded_node_id` of the last hop: the key an offer without
    /// `offer_issuer_id` is answered with (BOLT 12).
    pub fn final_blinded_node_id(&self) -> Option<PublicKey> {
        self.hops.last().map(|h| h.blinded_node_id)
    }
}

impl Encode for BlindedPath {
    fn encode(&self, out: &mut Vec<u8>) {
        self.first_node_id.encode(out);
        self.first_path_key.encode(out);
        // Built paths are checked to hold 1 to 255 hops before encoding.
        out.push(self.hops.len().min(255) as u8);
        for h in self.hops.iter().take(255) {
            h.blinded_node_id.encode(out);
            write_u16_prefixed(out, &h.encrypted_recipient_data);
        }
    }
}

impl Decode for BlindedPath {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let first_node_id = r.read_field("first_node_id")?;
        let first_path_key = r.read_field("first_path_key")?;
        let num_hops = r.read_array::<1>()?[0];
        if num_hops == 0 {
            return Err(DecodeError::invalid("blinded_path with num_hops 0"));
        }
        let mut hops = Vec::with_capacity(usize::from(num_hops).min(r.remaining() / 35 + 1));
        for _ in 0..num_hops {
            let blinded_node_id = r.read_field("blinded_node_id")?;
            let data = r.read_u16_prefixed()?.to_vec();
            hops.push(OnionMsgHop {
                blinded_node_id,
                encrypted_recipient_data: data,
            });
        }
        Ok(BlindedPath {
            first_node_id,
            first_path_key,
            hops,
        })
    }
}

/// `blinded_payinfo`: what paying through a blinded path costs, for the
/// whole path (BOLT 12, "Invoices").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlindedPayInfo {
    /// `fee_base_msat`.
    pub fee_base_msat: u32,
    /// `fee_proportional_millionths`.
    pub fee_proportional_millionths: u32,
    /// `cltv_expiry_delta`.
    pub cltv_expiry_delta: u16,
    /// `htlc_minimum_msat`.
    pub htlc_minimum_msat: u64,
    /// `htlc_maximum_msat`.
    pub htlc_maximum_msat: u64,
    /// `features` (the path's `allowed_features`).
    pub features: Vec<u8>,
}

impl Encode for BlindedPayInfo {
    fn encode(&self, out: &mut Vec<u8>) {
        self.fee_base_msat.encode(out);
        self.fee_proportional_millionths.encode(out);
        self.cltv_expiry_delta.encode(out);
        self.htlc_minimum_msat.encode(out);
        self.htlc_maximum_msat.encode(out);
        write_u16_prefixed(out, &self.features);
    }
}

impl Decode for BlindedPayInfo {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlindedPayInfo {
            fee_base_msat: r.read()?,
            fee_proportional_millionths: r.read()?,
            cltv_expiry_delta: r.read()?,
            htlc_minimum_msat: r.read()?,
            htlc_maximum_msat: r.read()?,
            features: r.read_u16_prefixed()?.to_vec(),
        })
    }
}

/// `fallback_address`: an on-chain address an invoice accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FallbackAddress {
    /// The witness `version`.
    pub version: u8,
    /// The witness program.
    pub address: Vec<u8>,
}

impl FallbackAddress {
    /// Whether a reader on the bitcoin chain may use it: BOLT 12 "MUST
    /// ignore any `fallback_address` for which `version` is greater than
    /// 16" or whose `address` is shorter than 2 or longer than 40 bytes,
    /// and (for known versions) one that is not a valid witness program.
    pub fn is_usable(&self) -> bool {
        if self.version > 16 || !(2..=40).contains(&self.address.len()) {
            return false;
        }
        match self.version {
            0 => matches!(self.address.len(), 20 | 32),
            1 => self.address.len() == 32,
            _ => true,
        }
    }
}

impl Encode for FallbackAddress {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.version);
        write_u16_prefixed(out, &self.address);
    }
}

impl Decode for FallbackAddress {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FallbackAddress {
            version: r.read_array::<1>()?[0],
            address: r.read_u16_prefixed()?.to_vec(),
        })
    }
}

/// Reads values of `T` until `r` is empty (a `...*T` field).
pub(crate) fn read_all<T: Decode>(r: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(r.read()?);
    }
    Ok(out)
}

/// Writes each value of a `...*T` field.
pub(crate) fn write_all<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    for i in items {
        i.encode(out);
    }
}
