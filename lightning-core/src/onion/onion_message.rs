//! Onion message packets (BOLT 4, "Onion Messages"): the same Sphinx
//! construction with any payload size and no associated data, every hop
//! blinded.

use lightning_wire::tlv::{TlvRecord, TlvStreamReader, TlvStreamWriter, UnknownTlvs};
use lightning_wire::types::ShortChannelId;
use lightning_wire::{Decode, DecodeError, Encode, Reader};
use secp256k1::{PublicKey, SecretKey};

use super::blinding::{self, EncryptedDataTlv};
use super::construct::{build_packet, BuildError, SphinxHop};
use super::keys::SharedSecret;
use super::packet::OnionPacket;
use super::peel::{peel_packet_with_shared_secret, PeelError, Peeled};
use crate::keys::NodeEcdh;

/// `hop_payloads` length of an onion message the size of a payment onion.
pub const ONION_MESSAGE_SMALL: usize = 1300;
/// `hop_payloads` length of a large onion message (32834-byte packet).
pub const ONION_MESSAGE_LARGE: usize = 32768;

/// `onionmsg_tlv`: a hop's payload in an onion message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnionMessagePayload {
    /// 2 `reply_path`: a `blinded_path`, kept as its encoded bytes.
    pub reply_path: Option<Vec<u8>>,
    /// 4 `encrypted_recipient_data`.
    pub encrypted_recipient_data: Option<Vec<u8>>,
    /// Other records (the final hop's message contents: odd types, and
    /// types 64 and above), kept as they are.
    pub unknown: UnknownTlvs,
}

impl Encode for OnionMessagePayload {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = TlvStreamWriter::new();
        w.put_opt(2, self.reply_path.as_ref());
        w.put_opt(4, self.encrypted_recipient_data.as_ref());
        w.put_unknown(&self.unknown);
        w.write(out);
    }
}

/// Reads the whole input as an `onionmsg_tlv` stream. Unknown even types
/// are refused, except 64 and above, which are the final hop's message
/// contents for the application to read.
impl Decode for OnionMessagePayload {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = reader.peek_rest();
        let mut r = TlvStreamReader::parse(reader).map_err(|e| e.at("onionmsg_tlv"))?;
        let reply_path = r.take(2, "reply_path")?;
        let encrypted_recipient_data = r.take(4, "encrypted_recipient_data")?;
        // Take the message contents (64 and above) before `finish`, which
        // refuses unknown even types. The stream parsed, so locating its
        // records cannot fail.
        let mut contents = Vec::new();
        for (ty, _) in super::payload::locate_records(bytes).unwrap_or_default() {
            if ty >= 64 {
                if let Some(value) = r.take_raw(ty) {
                    contents.push(TlvRecord {
                        r#type: ty,
                        value: value.to_vec(),
                    });
                }
            }
        }
        let mut unknown = r.finish().map_err(|e| e.at("onionmsg_tlv"))?.0;
        unknown.extend(contents);
        unknown.sort_by_key(|rec| rec.r#type);
        Ok(OnionMessagePayload {
            reply_path,
            encrypted_recipient_data,
            unknown: UnknownTlvs(unknown),
        })
    }
}

/// What a node does with an onion message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum OnionMessageHop {
    /// Send `onion_message { path_key: next_path_key, packet }` to the
    /// next node.
    Forward {
        /// The next node (`next_node_id`), or the channel to reach it by.
        next_node_id: Option<PublicKey>,
        /// The channel to the next node, when given instead of its id.
        short_channel_id: Option<ShortChannelId>,
        /// The `path_key` of the outgoing `onion_message`.
        next_path_key: PublicKey,
        /// The packet to send on.
        packet: OnionPacket,
    },
    /// The message is for this node.
    Receive {
        /// The payload: `reply_path` and the message contents.
        payload: OnionMessagePayload,
        /// The decrypted `encrypted_data_tlv`, whose `path_id` tells which
        /// path of ours was used.
        data: EncryptedDataTlv,
        /// The shared secret with the sender.
        shared_secret: SharedSecret,
    },
}

/// Why an onion message is ignored (no error is ever returned for onion
/// messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnionMessageError {
    /// The packet could not be peeled.
    #[error("onion message packet: {0}")]
    Peel(#[from] PeelError),
    /// A derived key is invalid.
    #[error("invalid path key")]
    InvalidPathKey,
    /// The payload is not a valid `onionmsg_tlv`.
    #[error("onion message payload: {0}")]
    Payload(DecodeError),
    /// `encrypted_recipient_data` is missing, does not decrypt or decode.
    #[error("encrypted_recipient_data missing or unreadable")]
    EncryptedData,
    /// A forwarding hop's payload or data breaks the rules (fields other
    /// than `encrypted_recipient_data`, a `path_id`, no next node).
    #[error("onion message breaks a forwarding rule: {0}")]
    Forwarding(&'static str),
}

/// Builds an onion message packet to the blinded `hops` (blinded node id
/// and encoded `onionmsg_tlv` of each), with no associated data.
pub fn build_onion_message_packet(
    session_key: &SecretKey,
    hops: &[(PublicKey, Vec<u8>)],
    hop_payloads_len: usize,
) -> Result<(OnionPacket, Vec<SharedSecret>), BuildError> {
    let sphinx: Vec<SphinxHop<'_>> = hops
        .iter()
        .map(|(node_id, payload)| SphinxHop {
            node_id: *node_id,
            payload,
        })
        .collect();
    build_packet(session_key, &sphinx, &[], hop_payloads_len)
}

/// Peels an incoming onion message with the node key and the `path_key`
/// of the `onion_message` (BOLT 4, "Onion Messages", the reader).
pub fn peel_onion_message<K: NodeEcdh + ?Sized>(
    node_key: &K,
    path_key: &PublicKey,
    packet: &OnionPacket,
) -> Result<OnionMessageHop, OnionMessageError> {
    let keys =
        blinding::blinded_hop_keys(node_key, path_key).ok_or(OnionMessageError::InvalidPathKey)?;
    if packet.version != super::packet::VERSION {
        return Err(PeelError::InvalidVersion(packet.version).into());
    }
    let point = PublicKey::from_slice(&packet.public_key).map_err(|_| PeelError::InvalidKey)?;
    let ss = SharedSecret(
        node_key
            .ecdh(&point, Some(&keys.blinded_node_tweak))
            .map_err(|_| PeelError::Signer)?,
    );
    let peeled = peel_packet_with_shared_secret(packet, &[], &point, ss, None)?;
    let payload =
        OnionMessagePayload::from_bytes(&peeled.payload).map_err(OnionMessageError::Payload)?;
    let encrypted = payload
        .encrypted_recipient_data
        .as_deref()
        .ok_or(OnionMessageError::EncryptedData)?;
    let unblinded = blinding::unblind_with_keys(keys, encrypted)
        .map_err(|_| OnionMessageError::EncryptedData)?;
    match peeled.next {
        Peeled::Forward(next) => {
            if payload.reply_path.is_some() || !payload.unknown.is_empty() {
                return Err(OnionMessageError::Forwarding(
                    "payload has fields other than encrypted_recipient_data",
                ));
            }
            if unblinded.data.path_id.is_some() {
                return Err(OnionMessageError::Forwarding("path_id at a forwarding hop"));
            }
            if unblinded.data.next_node_id.is_none() && unblinded.data.short_channel_id.is_none() {
                return Err(OnionMessageError::Forwarding("no next node"));
            }
            Ok(OnionMessageHop::Forward {
                next_node_id: unblinded.data.next_node_id,
                short_channel_id: unblinded.data.short_channel_id,
                next_path_key: unblinded.next_path_key,
                packet: next,
            })
        }
        Peeled::Final => Ok(OnionMessageHop::Receive {
            payload,
            data: unblinded.data,
            shared_secret: ss,
        }),
    }
}

/// Builds the packet of an onion message along blinded `hops` (each hop's
/// `blinded_node_id` and `encrypted_recipient_data`), the last hop's
/// payload also carrying `contents` (records of type 64 and above) and
/// the encoded `reply_path`. The packet has [`ONION_MESSAGE_SMALL`] bytes
/// of `hop_payloads` when the payloads fit, else [`ONION_MESSAGE_LARGE`];
/// larger contents are refused.
///
/// ```
/// use lightning_core::onion::onion_message::build_onion_message_along;
/// use lightning_core::onion::{blind_path, peel_onion_message, EncryptedDataTlv, OnionMessageHop};
/// use lightning_wire::tlv::TlvRecord;
/// use lightning_wire::Encode;
/// use secp256k1::{PublicKey, SecretKey, SECP256K1};
///
/// let bob = SecretKey::from_slice(&[2; 32]).unwrap();
/// let path = blind_path(
///     &SecretKey::from_slice(&[3; 32]).unwrap(),
///     &[(PublicKey::from_secret_key(SECP256K1, &bob), EncryptedDataTlv::default().to_bytes())],
/// )
/// .unwrap();
/// let hops: Vec<_> = path.hops.iter().map(|h| (h.blinded_node_id, h.encrypted_data.clone())).collect();
/// let hello = TlvRecord { r#type: 65, value: b"hello".to_vec() };
/// let session = SecretKey::from_slice(&[4; 32]).unwrap();
/// let packet = build_onion_message_along(&session, &hops, vec![hello.clone()], None).unwrap();
/// match peel_onion_message(&bob, &path.first_path_key, &packet).unwrap() {
///     OnionMessageHop::Receive { payload, .. } => assert_eq!(payload.unknown.0, vec![hello]),
///     OnionMessageHop::Forward { .. } => unreachable!("Bob is the last hop"),
/// }
/// ```
pub fn build_onion_message_along(
    session_key: &SecretKey,
    hops: &[(PublicKey, Vec<u8>)],
    contents: Vec<TlvRecord>,
    reply_path: Option<Vec<u8>>,
) -> Result<OnionPacket, BuildError> {
    let last = hops.len().checked_sub(1).ok_or(BuildError::EmptyRoute)?;
    let mut contents = Some(contents);
    let mut reply_path = reply_path;
    let payloads: Vec<(PublicKey, Vec<u8>)> = hops
        .iter()
        .enumerate()
        .map(|(i, (node, data))| {
            let mut p = OnionMessagePayload {
                encrypted_recipient_data: Some(data.clone()),
                ..Default::default()
            };
            if i == last {
                p.reply_path = reply_path.take();
                p.unknown = UnknownTlvs(contents.take().unwrap_or_default());
            }
            (*node, p.to_bytes())
        })
        .collect();
    // Each hop takes its payload, a length prefix of up to 3 bytes and an
    // HMAC.
    let needed: usize = payloads.iter().map(|(_, p)| p.len() + 3 + 32).sum();
    let size = if needed <= ONION_MESSAGE_SMALL {
        ONION_MESSAGE_SMALL
    } else {
        ONION_MESSAGE_LARGE
    };
    build_onion_message_packet(session_key, &payloads, size).map(|(packet, _)| packet)
}
