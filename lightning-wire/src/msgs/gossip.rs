//! BOLT 7 announcements: `announcement_signatures`, `channel_announcement`,
//! `node_announcement` (with its address descriptors) and `channel_update`.

use std::net::{Ipv4Addr, Ipv6Addr};

use secp256k1::ecdsa::Signature;
use secp256k1::PublicKey;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::features::{ChannelFeatures, NodeFeatures};
use crate::msgs::{ExtensionTlvs, U16Framed};
use crate::types::{ChainHash, ChannelId, ShortChannelId};

wire_message! {
    /// `announcement_signatures` (BOLT 7, "The `announcement_signatures`
    /// Message"): the sender's half of a `channel_announcement`.
    AnnouncementSignatures = 259, "announcement_signatures" {
        /// `channel_id`.
        channel_id: ChannelId,
        /// The channel's `short_channel_id`.
        short_channel_id: ShortChannelId,
        /// Signature by the sender's node key.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        node_signature: Signature,
        /// Signature by the sender's funding key.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        bitcoin_signature: Signature,
    }
    tlvs: ExtensionTlvs
}

wire_message! {
    /// `channel_announcement` (BOLT 7, "The `channel_announcement`
    /// Message"). The signatures cover everything after them, extension
    /// included, which is why unknown records are kept byte for byte.
    ChannelAnnouncement = 256, "channel_announcement" {
        /// Signature by `node_id_1`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        node_signature_1: Signature,
        /// Signature by `node_id_2`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        node_signature_2: Signature,
        /// Signature by `bitcoin_key_1`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        bitcoin_signature_1: Signature,
        /// Signature by `bitcoin_key_2`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        bitcoin_signature_2: Signature,
        /// The channel's features.
        features: ChannelFeatures,
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// `short_channel_id`.
        short_channel_id: ShortChannelId,
        /// The lesser node id (as bytes).
        node_id_1: PublicKey,
        /// The greater node id.
        node_id_2: PublicKey,
        /// `node_id_1`'s funding key.
        bitcoin_key_1: PublicKey,
        /// `node_id_2`'s funding key.
        bitcoin_key_2: PublicKey,
    }
    tlvs: ExtensionTlvs
}

/// The longest DNS hostname an address descriptor carries (BOLT 7, "The
/// `node_announcement` Message": `[u8:hostname_len]`).
pub const MAX_HOSTNAME_LEN: usize = 255;

/// One address descriptor of `node_announcement` (BOLT 7, "The
/// `node_announcement` Message").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
pub enum NodeAddress {
    /// Type 1: IPv4 address and port.
    Ipv4 {
        /// The address.
        addr: Ipv4Addr,
        /// The port.
        port: u16,
    },
    /// Type 2: IPv6 address and port.
    Ipv6 {
        /// The address.
        addr: Ipv6Addr,
        /// The port.
        port: u16,
    },
    /// Type 4: Tor v3 onion service: 32-byte ed25519 key, 2-byte checksum,
    /// 1-byte version.
    TorV3 {
        /// The 35 bytes that base32-encode to the `.onion` name.
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))]
        onion: [u8; 35],
        /// The port.
        port: u16,
    },
    /// Type 5: DNS hostname (ASCII, 1..=255 bytes) and port.
    Dns {
        /// The hostname.
        #[cfg_attr(feature = "serde", serde(deserialize_with = "hostname_de"))]
        hostname: String,
        /// The port.
        port: u16,
    },
}

#[cfg(feature = "serde")]
fn hostname_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::Deserialize;
    let s = String::deserialize(d)?;
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(serde::de::Error::custom(
            "hostname must be 1..=255 printable ASCII characters",
        ));
    }
    Ok(s)
}

impl NodeAddress {
    /// The descriptor's type byte.
    pub fn type_byte(&self) -> u8 {
        match self {
            NodeAddress::Ipv4 { .. } => 1,
            NodeAddress::Ipv6 { .. } => 2,
            NodeAddress::TorV3 { .. } => 4,
            NodeAddress::Dns { .. } => 5,
        }
    }

    /// Reads one descriptor. `Ok(None)` means the type is not one this crate
    /// parses (including the deprecated Tor v2, type 3, and a hostname that
    /// is not printable ASCII): BOLT 7 tells the reader to stop parsing the
    /// addresses there. A known type cut short is an error.
    pub fn read(r: &mut Reader<'_>) -> Result<Option<NodeAddress>, DecodeError> {
        let ty = u8::decode(r)?;
        let addr = match ty {
            1 => NodeAddress::Ipv4 {
                addr: Ipv4Addr::from(r.read_array::<4>()?),
                port: r.read()?,
            },
            2 => NodeAddress::Ipv6 {
                addr: Ipv6Addr::from(r.read_array::<16>()?),
                port: r.read()?,
            },
            4 => NodeAddress::TorV3 {
                onion: r.read_array()?,
                port: r.read()?,
            },
            5 => {
                let len = u8::decode(r)?;
                let name = r.read_bytes(usize::from(len))?;
                let port = r.read()?;
                if name.is_empty() || !name.iter().all(u8::is_ascii_graphic) {
                    return Ok(None);
                }
                NodeAddress::Dns {
                    hostname: String::from_utf8_lossy(name).into_owned(),
                    port,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(addr))
    }
}

impl Encode for NodeAddress {
    /// Never panics. A DNS hostname longer than [`MAX_HOSTNAME_LEN`] cannot
    /// be framed: its first 255 bytes are written, and
    /// [`Message::encode`](crate::msgs::Message::encode) refuses a
    /// `node_announcement` holding one ([`EncodeError::FieldTooLong`]), so
    /// a cut hostname never reaches the wire.
    ///
    /// [`EncodeError::FieldTooLong`]: crate::codec::EncodeError::FieldTooLong
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.type_byte());
        match self {
            NodeAddress::Ipv4 { addr, port } => {
                out.extend_from_slice(&addr.octets());
                port.encode(out);
            }
            NodeAddress::Ipv6 { addr, port } => {
                out.extend_from_slice(&addr.octets());
                port.encode(out);
            }
            NodeAddress::TorV3 { onion, port } => {
                out.extend_from_slice(onion);
                port.encode(out);
            }
            NodeAddress::Dns { hostname, port } => {
                let bytes = hostname.as_bytes();
                let bytes = &bytes[..bytes.len().min(MAX_HOSTNAME_LEN)];
                out.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(bytes);
                port.encode(out);
            }
        }
    }
}

/// The `addresses` of `node_announcement`: the descriptors this crate
/// parses, then, from the first descriptor it does not, the remaining bytes
/// unparsed (BOLT 7: the receiver "SHOULD ignore the first address
/// descriptor that does NOT match the types defined above"). Keeping them
/// makes re-encoding exact, which the signature needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeAddresses {
    /// The parsed descriptors, in order.
    pub addresses: Vec<NodeAddress>,
    /// The bytes from the first unparsed descriptor to the end (starting
    /// with its type byte), or empty.
    #[cfg_attr(
        feature = "serde",
        serde(
            with = "crate::msgs::serde_wire::hex_u16",
            default,
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub unparsed: Vec<u8>,
}

impl Encode for NodeAddresses {
    fn encode(&self, out: &mut Vec<u8>) {
        for a in &self.addresses {
            a.encode(out);
        }
        out.extend_from_slice(&self.unparsed);
    }
}

/// Reads every remaining byte (the inside of `[u16:addrlen]`).
impl Decode for NodeAddresses {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut addresses = Vec::new();
        while !r.is_empty() {
            let mut probe = r.clone();
            match NodeAddress::read(&mut probe)? {
                Some(a) => {
                    addresses.push(a);
                    *r = probe;
                }
                None => break,
            }
        }
        Ok(NodeAddresses {
            addresses,
            unparsed: r.read_rest().to_vec(),
        })
    }
}

wire_message! {
    /// `node_announcement` (BOLT 7, "The `node_announcement` Message").
    NodeAnnouncement = 257, "node_announcement" {
        /// Signature by `node_id` of everything after it.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        signature: Signature,
        /// The node's features.
        features: NodeFeatures,
        /// Orders announcements of one node.
        timestamp: u32,
        /// The node.
        node_id: PublicKey,
        /// A color for display.
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))]
        rgb_color: [u8; 3],
        /// A name for display, UTF-8 padded with zeroes
        /// ([`NodeAnnouncement::alias_str`]).
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex"))]
        alias: [u8; 32],
        /// `[u16:addrlen][addrlen*byte:addresses]`.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::u16_framed"))]
        addresses: NodeAddresses => U16Framed,
    }
    tlvs: ExtensionTlvs
}

impl NodeAnnouncement {
    /// The alias without its zero padding, if it is UTF-8.
    pub fn alias_str(&self) -> Option<&str> {
        let end = self
            .alias
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.alias.len());
        core::str::from_utf8(&self.alias[..end]).ok()
    }
}

wire_message! {
    /// `channel_update` (BOLT 7, "The `channel_update` Message"): one
    /// direction's relay policy. `htlc_maximum_msat` is always present
    /// (`message_flags` bit 0, `must_be_one`).
    ChannelUpdate = 258, "channel_update" {
        /// Signature by the origin node of everything after it.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::sig"))]
        signature: Signature,
        /// `chain_hash`.
        chain_hash: ChainHash,
        /// `short_channel_id`.
        short_channel_id: ShortChannelId,
        /// Orders updates of one direction.
        timestamp: u32,
        /// Bit 0: `must_be_one`; bit 1: `dont_forward`.
        message_flags: u8,
        /// Bit 0: `direction`; bit 1: `disable`.
        channel_flags: u8,
        /// Blocks subtracted from an incoming HTLC's `cltv_expiry`.
        cltv_expiry_delta: u16,
        /// The smallest HTLC relayed.
        htlc_minimum_msat: u64,
        /// Base fee.
        fee_base_msat: u32,
        /// Proportional fee.
        fee_proportional_millionths: u32,
        /// The largest HTLC relayed.
        htlc_maximum_msat: u64,
    }
    tlvs: ExtensionTlvs
}

impl ChannelUpdate {
    /// `channel_flags` bit 0: 0 if the origin is `node_id_1`, 1 if
    /// `node_id_2`.
    pub fn direction(&self) -> u8 {
        self.channel_flags & 1
    }

    /// `channel_flags` bit 1: the channel is disabled in this direction.
    pub fn is_disabled(&self) -> bool {
        self.channel_flags & 2 != 0
    }

    /// `message_flags` bit 1: the update is for the peer only, not to be
    /// relayed.
    pub fn dont_forward(&self) -> bool {
        self.message_flags & 2 != 0
    }
}
