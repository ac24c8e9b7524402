//! BOLT 1 setup and control messages: `init`, `error`, `warning`, `ping`,
//! `pong`, the peer storage messages, and BOLT 4's `onion_message`.

use secp256k1::PublicKey;

use crate::features::InitFeatures;
use crate::msgs::{ExtensionTlvs, U16Bytes};
use crate::types::{ChainHash, ChannelId};

tlv_stream! {
    /// `init_tlvs` (BOLT 1, "The `init` Message").
    InitTlvs {
        /// `networks`: the chains the node is interested in.
        1 => networks: Vec<ChainHash>,
        /// `remote_addr`: the peer's address as the sender sees it, an
        /// address descriptor of BOLT 7 (see [`Init::remote_address`]). Kept
        /// as bytes: the receiver only MAY use it, so a malformed one must not
        /// fail the connection.
        #[cfg_attr(feature = "serde", serde(with = "crate::types::serde_hex::option"))]
        3 => remote_addr: Vec<u8>,
    }
}

crate::types::rest_array!(ChainHash);

wire_message! {
    /// `init` (BOLT 1, "The `init` Message"): the first message on every
    /// connection, with the sender's features.
    ///
    /// `globalfeatures` is historical: the receiver combines it with
    /// `features` by logical OR ([`Init::merged_features`]).
    Init = 16, "init" {
        /// `globalfeatures`: at most bits 0..13 by convention.
        global_features: InitFeatures,
        /// `features`.
        features: InitFeatures,
    }
    tlvs: InitTlvs
}

impl Init {
    /// The two feature fields OR-ed together, as BOLT 1 tells the receiver
    /// to use them.
    pub fn merged_features(&self) -> InitFeatures {
        self.features.union(&self.global_features)
    }

    /// `remote_addr` parsed as one BOLT 7 address descriptor, if present.
    pub fn remote_address(
        &self,
    ) -> Option<Result<crate::msgs::NodeAddress, crate::codec::DecodeError>> {
        let bytes = self.tlvs.remote_addr.as_deref()?;
        let mut r = crate::codec::Reader::new(bytes);
        Some(match crate::msgs::NodeAddress::read(&mut r) {
            Ok(Some(addr)) => r.finish().map(|()| addr),
            Ok(None) => Err(crate::codec::DecodeError::invalid(
                "unknown address descriptor type",
            )),
            Err(e) => Err(e),
        })
    }
}

wire_message! {
    /// `error` (BOLT 1, "The `error` and `warning` Messages"): the sender
    /// fails the channel `channel_id` (all channels when it is all zero).
    Error = 17, "error" {
        /// The channel, or [`ChannelId::ALL`].
        channel_id: ChannelId,
        /// Free-form data, usually ASCII text. Do not print it verbatim
        /// unless it is printable ASCII.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        data: Vec<u8> => U16Bytes,
    }
    tlvs: ExtensionTlvs
}

wire_message! {
    /// `warning` (BOLT 1, "The `error` and `warning` Messages"): something is
    /// wrong, but the sender does not fail the channel.
    Warning = 1, "warning" {
        /// The channel, or [`ChannelId::ALL`].
        channel_id: ChannelId,
        /// Free-form data, usually ASCII text.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        data: Vec<u8> => U16Bytes,
    }
    tlvs: ExtensionTlvs
}

/// `data` as text if it is printable ASCII (BOLT 1: otherwise it SHOULD NOT
/// be printed verbatim).
fn printable(data: &[u8]) -> Option<&str> {
    if data.iter().all(|b| (32..=126).contains(b)) {
        core::str::from_utf8(data).ok()
    } else {
        None
    }
}

impl Error {
    /// The data as text, if it is printable ASCII.
    pub fn printable_data(&self) -> Option<&str> {
        printable(&self.data)
    }
}

impl Warning {
    /// The data as text, if it is printable ASCII.
    pub fn printable_data(&self) -> Option<&str> {
        printable(&self.data)
    }
}

wire_message! {
    /// `ping` (BOLT 1, "The `ping` and `pong` Messages").
    Ping = 18, "ping" {
        /// How many bytes the `pong` must carry.
        num_pong_bytes: u16,
        /// Padding; should be zeroes.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        ignored: Vec<u8> => U16Bytes,
    }
    tlvs: ExtensionTlvs
}

/// `num_pong_bytes` from which no `pong` is sent: a `pong` with 65532 bytes
/// or more would not fit the 65535-byte message limit (BOLT 1).
pub const PONG_BYTES_LIMIT: u16 = 65532;

impl Ping {
    /// The `pong` to answer with, or `None` when `num_pong_bytes` is at least
    /// 65532 and the ping must be ignored (BOLT 1, "The `ping` and `pong`
    /// Messages": "if `num_pong_bytes` is less than 65532: MUST respond ...
    /// otherwise: MUST ignore the `ping`").
    ///
    /// ```
    /// use lightning_wire::msgs::Ping;
    /// let ping = |n| Ping { num_pong_bytes: n, ignored: vec![], tlvs: Default::default() };
    /// assert_eq!(ping(65531).pong_response().unwrap().ignored.len(), 65531);
    /// assert!(ping(65532).pong_response().is_none());
    /// ```
    pub fn pong_response(&self) -> Option<Pong> {
        (self.num_pong_bytes < PONG_BYTES_LIMIT).then(|| Pong {
            ignored: vec![0; usize::from(self.num_pong_bytes)],
            tlvs: ExtensionTlvs::default(),
        })
    }
}

wire_message! {
    /// `pong` (BOLT 1, "The `ping` and `pong` Messages").
    Pong = 19, "pong" {
        /// Padding of the length the `ping` asked for.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        ignored: Vec<u8> => U16Bytes,
    }
    tlvs: ExtensionTlvs
}

wire_message! {
    /// `peer_storage` (BOLT 1, "Peer Storage", `option_provide_storage`): a
    /// blob the sender asks the peer to keep and give back. Added to the
    /// spec after the stored BOLT 1 copy this crate was first written from;
    /// follows the `option_provide_storage` (bits 42/43) text.
    PeerStorage = 7, "peer_storage" {
        /// The sender's encrypted data.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        blob: Vec<u8> => U16Bytes,
    }
    tlvs: ExtensionTlvs
}

wire_message! {
    /// `peer_storage_retrieval` (BOLT 1, "Peer Storage"): the latest blob a
    /// peer stored with us, sent back after reconnection.
    PeerStorageRetrieval = 9, "peer_storage_retrieval" {
        /// The stored data.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        blob: Vec<u8> => U16Bytes,
    }
    tlvs: ExtensionTlvs
}

wire_message! {
    /// `onion_message` (BOLT 4, "Onion Messages"): a message routed over
    /// peers in an onion, every hop blinded; `path_key` lets the receiver
    /// unblind its hop.
    OnionMessage = 513, "onion_message" {
        /// `path_key`.
        path_key: PublicKey,
        /// `onion_message_packet`: version, ephemeral key, `hop_payloads`
        /// of any length, HMAC.
        #[cfg_attr(feature = "serde", serde(with = "crate::msgs::serde_wire::hex_u16"))]
        onion_message_packet: Vec<u8> => U16Bytes,
    }
    tlvs: ExtensionTlvs
}
