//! Peeling one layer off a Sphinx packet (BOLT 4, "Packet Forwarding").

use lightning_wire::bigsize::BigSize;
use lightning_wire::{Decode, Reader};
use secp256k1::{PublicKey, SECP256K1};

use super::failure::FailureCode;
use super::keys::{self, SharedSecret};
use super::packet::{OnionPacket, HMAC_LEN, VERSION};
use super::replay::SharedSecretCache;
use crate::keys::NodeEcdh;

/// Why a packet could not be peeled. Each maps to the BOLT 4 failure code a
/// node returns for it ([`PeelError::failure_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeelError {
    /// The version byte is not 0.
    #[error("unknown onion version {0}")]
    InvalidVersion(u8),
    /// The ephemeral key is not a point on the curve.
    #[error("onion ephemeral key is not a valid point")]
    InvalidKey,
    /// The HMAC does not match.
    #[error("onion HMAC mismatch")]
    InvalidHmac,
    /// The packet's shared secret was seen before (a replay).
    #[error("onion replayed")]
    Replayed,
    /// The hop payload's length is 0 or 1 (legacy or reserved), is not a
    /// canonical BigSize, or runs past the packet.
    #[error("invalid hop payload framing at offset {offset}")]
    InvalidPayloadFraming {
        /// Byte offset of the problem in the decrypted payloads.
        offset: u16,
    },
    /// The next ephemeral key could not be derived (probability ~2^-128).
    #[error("next ephemeral key is invalid")]
    InvalidNextKey,
    /// The node signer's ECDH failed (a remote signer unreachable): no
    /// shared secret, so the packet cannot be read.
    #[error("the node signer's ECDH failed")]
    Signer,
}

impl PeelError {
    /// The BOLT 4 failure code to return for this error.
    ///
    /// A replay is answered with `temporary_node_failure`: BOLT 4 asks for
    /// "a route failure" and names no code, and a transient node failure
    /// tells the origin nothing it did not know.
    pub fn failure_code(&self) -> FailureCode {
        match self {
            PeelError::InvalidVersion(_) => FailureCode::INVALID_ONION_VERSION,
            PeelError::InvalidKey => FailureCode::INVALID_ONION_KEY,
            PeelError::InvalidHmac => FailureCode::INVALID_ONION_HMAC,
            PeelError::Replayed | PeelError::InvalidNextKey => FailureCode::TEMPORARY_NODE_FAILURE,
            PeelError::InvalidPayloadFraming { .. } => FailureCode::INVALID_ONION_PAYLOAD,
            // Without a shared secret the only answer BOLT 2 allows is
            // `update_fail_malformed_htlc`, whose code must have BADONION.
            PeelError::Signer => FailureCode::INVALID_ONION_KEY,
        }
    }
}

/// What follows this hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peeled {
    /// Forward this packet to the next hop.
    Forward(OnionPacket),
    /// The next HMAC is all zero: this node is the final hop.
    Final,
}

/// One peeled layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeeledHop {
    /// This hop's raw TLV payload (not yet decoded).
    pub payload: Vec<u8>,
    /// The secret shared with the origin: keep it to wrap a returned error.
    pub shared_secret: SharedSecret,
    /// What to do next.
    pub next: Peeled,
}

/// Peels `packet` with the node's key (or, inside a blinded route, the
/// blinded key): checks the version and the point, runs ECDH, and then
/// [`peel_packet_with_shared_secret`]. The key is a
/// [`NodeSigner`](crate::keys::NodeSigner) or a bare `SecretKey`
/// ([`NodeEcdh`]).
pub fn peel_packet<K: NodeEcdh + ?Sized>(
    packet: &OnionPacket,
    associated_data: &[u8],
    node_key: &K,
) -> Result<PeeledHop, PeelError> {
    peel_packet_with_replay(packet, associated_data, node_key, None)
}

/// Like [`peel_packet`], consulting a replay cache after the HMAC check
/// (so that garbage never fills the cache).
pub fn peel_packet_with_replay<K: NodeEcdh + ?Sized>(
    packet: &OnionPacket,
    associated_data: &[u8],
    node_key: &K,
    replay: Option<&mut dyn SharedSecretCache>,
) -> Result<PeeledHop, PeelError> {
    if packet.version != VERSION {
        return Err(PeelError::InvalidVersion(packet.version));
    }
    let point = PublicKey::from_slice(&packet.public_key).map_err(|_| PeelError::InvalidKey)?;
    let shared_secret = SharedSecret(node_key.ecdh(&point, None).map_err(|_| PeelError::Signer)?);
    peel_packet_with_shared_secret(packet, associated_data, &point, shared_secret, replay)
}

/// Peels `packet` given the ECDH result computed elsewhere (for example by
/// a `NodeSigner` holding the node key in an HSM) and the parsed ephemeral
/// key.
///
/// Order of checks (BOLT 4, "Packet Forwarding"): the HMAC first, compared
/// in constant time; then the replay cache; then the payload framing.
pub fn peel_packet_with_shared_secret(
    packet: &OnionPacket,
    associated_data: &[u8],
    ephemeral_key: &PublicKey,
    shared_secret: SharedSecret,
    replay: Option<&mut dyn SharedSecretCache>,
) -> Result<PeeledHop, PeelError> {
    if packet.version != VERSION {
        return Err(PeelError::InvalidVersion(packet.version));
    }
    let ss = shared_secret.as_bytes();
    let mu = keys::derive_key(keys::MU, ss);
    let expected = keys::hmac_sha256(&mu, &[&packet.hop_payloads, associated_data]);
    if !keys::ct_eq(&expected, &packet.hmac) {
        return Err(PeelError::InvalidHmac);
    }
    if let Some(cache) = replay {
        if !cache.check_and_insert(ss) {
            return Err(PeelError::Replayed);
        }
    }

    // Decrypt `hop_payloads || 0^len` with a `2 * len` stream.
    let len = packet.hop_payloads.len();
    let mut buf = vec![0u8; 2 * len];
    buf[..len].copy_from_slice(&packet.hop_payloads);
    keys::apply_stream(&keys::derive_key(keys::RHO, ss), &mut buf);

    let (payload_start, payload_len) = read_frame(&buf[..len])?;
    let payload_end = payload_start + payload_len;
    let mut next_hmac = [0u8; HMAC_LEN];
    next_hmac.copy_from_slice(&buf[payload_end..payload_end + HMAC_LEN]);
    let payload = buf[payload_start..payload_end].to_vec();

    let next = if next_hmac == [0u8; HMAC_LEN] {
        Peeled::Final
    } else {
        let factor = keys::blinding_factor(&packet.public_key, &shared_secret);
        let tweak = keys::scalar(factor).ok_or(PeelError::InvalidNextKey)?;
        let next_key = ephemeral_key
            .mul_tweak(SECP256K1, &tweak)
            .map_err(|_| PeelError::InvalidNextKey)?;
        let shift = payload_end + HMAC_LEN;
        buf.copy_within(shift..shift + len, 0);
        buf.truncate(len);
        Peeled::Forward(OnionPacket {
            version: VERSION,
            public_key: next_key.serialize(),
            hop_payloads: buf,
            hmac: next_hmac,
        })
    };
    Ok(PeeledHop {
        payload,
        shared_secret,
        next,
    })
}

/// Reads the BigSize length of the first frame of decrypted payloads and
/// checks that the payload and its HMAC fit; returns where the payload
/// starts and its length.
fn read_frame(data: &[u8]) -> Result<(usize, usize), PeelError> {
    let framing = PeelError::InvalidPayloadFraming { offset: 0 };
    let mut r = Reader::new(data);
    let BigSize(len) = BigSize::decode(&mut r).map_err(|_| framing.clone())?;
    // Length 0 was the legacy fixed-size payload, 1 is reserved: neither is
    // a TLV stream any payload could be.
    if len < 2 {
        return Err(framing);
    }
    let start = data.len() - r.remaining();
    let len = usize::try_from(len).map_err(|_| framing.clone())?;
    if len
        .checked_add(HMAC_LEN)
        .is_none_or(|need| need > r.remaining())
    {
        return Err(framing);
    }
    Ok((start, len))
}
