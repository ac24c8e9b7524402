//! Building a Sphinx packet (BOLT 4, "Packet Construction", "Filler
//! Generation").

use lightning_wire::bigsize::BigSize;
use lightning_wire::types::PaymentHash;
use lightning_wire::Encode;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

use super::keys::{self, SharedSecret};
use super::packet::{OnionPacket, HMAC_LEN, VERSION};

/// Why a packet could not be built. These are errors in the caller's
/// route, never in data received from a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The route has no hops.
    #[error("route has no hops")]
    EmptyRoute,
    /// The hop payloads (with their lengths and HMACs) do not fit.
    #[error("hop payloads need {needed} bytes, the packet holds {available}")]
    PayloadsTooLarge {
        /// Bytes the hops need.
        needed: usize,
        /// `hop_payloads` length of the packet.
        available: usize,
    },
    /// A hop payload is empty, which a reader would not accept.
    #[error("hop {0} has an empty payload")]
    EmptyPayload(usize),
    /// A blinding or tweak produced an invalid key (probability ~2^-128).
    #[error("key derivation produced an invalid key at hop {0}")]
    InvalidKey(usize),
    /// A field that must be set for this kind of hop is missing, or one
    /// that must not be is set.
    #[error("hop {hop}: {reason}")]
    InvalidHop {
        /// The hop's index in the route.
        hop: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The ephemeral key and shared secret of one hop, as the origin computes
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopKeys {
    /// The ephemeral public key this hop sees in its packet.
    pub ephemeral_public_key: PublicKey,
    /// The secret shared with this hop.
    pub shared_secret: SharedSecret,
}

/// Computes the shared secret and ephemeral key of every hop of a route
/// (BOLT 4, "Packet Construction": `ek(k+1) = ek(k) * SHA256(epk(k) ||
/// ss(k))`).
///
/// The ephemeral private key is blinded by scalar multiplication, which is
/// cheap, and each ephemeral public key comes from a fixed-base
/// multiplication, cheaper than tweaking the previous public key.
pub fn hop_keys(session_key: &SecretKey, route: &[PublicKey]) -> Result<Vec<HopKeys>, BuildError> {
    let mut out = Vec::with_capacity(route.len());
    for_each_hop_key(session_key, route, |k| out.push(k))?;
    Ok(out)
}

/// The shared secrets of a route, origin side: what error decoding needs.
pub fn route_shared_secrets(
    session_key: &SecretKey,
    route: &[PublicKey],
) -> Result<Vec<SharedSecret>, BuildError> {
    let mut out = Vec::with_capacity(route.len());
    for_each_hop_key(session_key, route, |k| out.push(k.shared_secret))?;
    Ok(out)
}

fn for_each_hop_key(
    session_key: &SecretKey,
    route: &[PublicKey],
    mut f: impl FnMut(HopKeys),
) -> Result<(), BuildError> {
    let mut ephemeral = *session_key;
    for (i, node) in route.iter().enumerate() {
        let ephemeral_public_key = PublicKey::from_secret_key(SECP256K1, &ephemeral);
        let shared_secret = SharedSecret::new(node, &ephemeral);
        f(HopKeys {
            ephemeral_public_key,
            shared_secret,
        });
        if i + 1 < route.len() {
            let factor = keys::blinding_factor(&ephemeral_public_key.serialize(), &shared_secret);
            let tweak = keys::scalar(factor).ok_or(BuildError::InvalidKey(i))?;
            ephemeral = ephemeral
                .mul_tweak(&tweak)
                .map_err(|_| BuildError::InvalidKey(i))?;
        }
    }
    Ok(())
}

/// One hop of a route to build: its node id (blinded, inside a blinded
/// path) and its raw TLV payload (without the length prefix).
#[derive(Debug, Clone, Copy)]
pub struct SphinxHop<'a> {
    /// The key the hop decrypts with.
    pub node_id: PublicKey,
    /// The TLV stream the hop reads.
    pub payload: &'a [u8],
}

/// The room a hop takes in `hop_payloads`: BigSize length, payload, HMAC.
fn hop_frame_len(payload_len: usize) -> usize {
    BigSize::encoded_len(payload_len as u64) + payload_len + HMAC_LEN
}

/// Builds a Sphinx packet with `hop_payloads_len` bytes of payloads
/// (1300 for payments; 1300 or 32768 for onion messages), returning it with
/// the shared secret of each hop (keep them to decode a returned error).
///
/// Nothing random is drawn: the caller passes a fresh `session_key`.
///
/// ```
/// use lightning_core::onion::{build_packet, peel_packet, SphinxHop, Peeled};
/// use secp256k1::{SecretKey, PublicKey, SECP256K1};
///
/// let keys: Vec<SecretKey> = (1..=3u8).map(|i| SecretKey::from_slice(&[i; 32]).unwrap()).collect();
/// let payloads = [vec![0x02, 0x01, 0x2a], vec![0x02, 0x01, 0x2b], vec![0x02, 0x01, 0x2c]];
/// let hops: Vec<SphinxHop> = keys.iter().zip(&payloads)
///     .map(|(k, p)| SphinxHop { node_id: PublicKey::from_secret_key(SECP256K1, k), payload: p })
///     .collect();
/// let session = SecretKey::from_slice(&[0x41; 32]).unwrap();
/// let (mut packet, _secrets) = build_packet(&session, &hops, b"payment hash", 1300).unwrap();
/// for (i, key) in keys.iter().enumerate() {
///     let hop = peel_packet(&packet, b"payment hash", key).unwrap();
///     assert_eq!(hop.payload, payloads[i]);
///     match hop.next {
///         Peeled::Forward(next) => packet = next,
///         Peeled::Final => assert_eq!(i, 2),
///     }
/// }
/// ```
pub fn build_packet(
    session_key: &SecretKey,
    hops: &[SphinxHop<'_>],
    associated_data: &[u8],
    hop_payloads_len: usize,
) -> Result<(OnionPacket, Vec<SharedSecret>), BuildError> {
    let n = hops.len();
    if n == 0 {
        return Err(BuildError::EmptyRoute);
    }
    let mut needed = 0usize;
    for (i, h) in hops.iter().enumerate() {
        if h.payload.is_empty() {
            return Err(BuildError::EmptyPayload(i));
        }
        needed = needed.saturating_add(hop_frame_len(h.payload.len()));
    }
    if needed > hop_payloads_len {
        return Err(BuildError::PayloadsTooLarge {
            needed,
            available: hop_payloads_len,
        });
    }

    let mut secrets = Vec::with_capacity(n);
    let mut first_public_key = None;
    for_each_hop_key(session_key, &route_ids(hops), |k| {
        if first_public_key.is_none() {
            first_public_key = Some(k.ephemeral_public_key);
        }
        secrets.push(k.shared_secret);
    })?;
    let first_public_key = first_public_key.ok_or(BuildError::EmptyRoute)?;

    let filler = generate_filler(hops, &secrets, hop_payloads_len);

    // The starting state is the `pad` stream of the session key.
    let mut mix = vec![0u8; hop_payloads_len];
    keys::apply_stream(
        &keys::derive_key(keys::PAD, &session_key.secret_bytes()),
        &mut mix,
    );

    let mut next_hmac = [0u8; HMAC_LEN];
    let mut frame = Vec::with_capacity(hop_payloads_len);
    for i in (0..n).rev() {
        let ss = secrets[i].as_bytes();
        frame.clear();
        BigSize(hops[i].payload.len() as u64).encode(&mut frame);
        frame.extend_from_slice(hops[i].payload);
        frame.extend_from_slice(&next_hmac);
        let shift = frame.len();
        mix.copy_within(..hop_payloads_len - shift, shift);
        mix[..shift].copy_from_slice(&frame);
        keys::apply_stream(&keys::derive_key(keys::RHO, ss), &mut mix);
        if i == n - 1 {
            let start = hop_payloads_len - filler.len();
            mix[start..].copy_from_slice(&filler);
        }
        next_hmac = keys::hmac_sha256(&keys::derive_key(keys::MU, ss), &[&mix, associated_data]);
    }

    Ok((
        OnionPacket {
            version: VERSION,
            public_key: first_public_key.serialize(),
            hop_payloads: mix,
            hmac: next_hmac,
        },
        secrets,
    ))
}

fn route_ids(hops: &[SphinxHop<'_>]) -> Vec<PublicKey> {
    hops.iter().map(|h| h.node_id).collect()
}

/// The filler: what the hops before the last will have shifted into the end
/// of the packet, which the origin must reproduce for the HMACs to match
/// (BOLT 4, "Filler Generation"). Only the stream bytes that land in the
/// filler are generated.
fn generate_filler(hops: &[SphinxHop<'_>], secrets: &[SharedSecret], len: usize) -> Vec<u8> {
    let n = hops.len();
    let total: usize = hops[..n - 1]
        .iter()
        .map(|h| hop_frame_len(h.payload.len()))
        .sum();
    let mut filler = vec![0u8; total];
    let mut before = 0usize;
    for i in 0..n - 1 {
        let this = hop_frame_len(hops[i].payload.len());
        let end = before + this;
        // Hop i shifts its frame out and reads `len + this` stream bytes;
        // the filler so far sits at `len - before` in that stream.
        let rho = keys::derive_key(keys::RHO, secrets[i].as_bytes());
        keys::apply_stream_at(&rho, (len - before) as u64, &mut filler[..end]);
        before = end;
    }
    filler
}

/// Builds a payment onion (1300-byte `hop_payloads`) for a route of
/// `(node_id, payload)`, with the payment hash as associated data. Returns
/// the packet and each hop's shared secret (keep them to decode errors and
/// verify attribution data).
///
/// For a blinded tail, use the blinded node ids and put each hop's
/// `encrypted_recipient_data` (and the first path key, as
/// `current_path_key`, at the introduction node) in its payload.
pub fn build_payment_onion(
    session_key: &SecretKey,
    route: &[(PublicKey, super::payload::HopPayload)],
    payment_hash: &PaymentHash,
) -> Result<(OnionPacket, Vec<SharedSecret>), BuildError> {
    let encoded: Vec<Vec<u8>> = route.iter().map(|(_, p)| p.to_bytes()).collect();
    let hops: Vec<SphinxHop<'_>> = route
        .iter()
        .zip(&encoded)
        .map(|((node_id, _), payload)| SphinxHop {
            node_id: *node_id,
            payload,
        })
        .collect();
    build_packet(
        session_key,
        &hops,
        &payment_hash.0,
        super::packet::PAYMENT_HOP_PAYLOADS_LEN,
    )
}
