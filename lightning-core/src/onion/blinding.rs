//! Route blinding (BOLT 4, "Route Blinding").
//!
//! The recipient builds a path to itself in which each node is known by a
//! blinded id `B(i) = HMAC256("blinded_node_id", ss(i)) * N(i)` and reads an
//! `encrypted_data_tlv` sealed with ChaCha20-Poly1305 under `rho(i)`. Each
//! node unblinds with the `path_key` `E(i)` handed to it and passes
//! `E(i+1) = SHA256(E(i) || ss(i)) * E(i)` (or an override) along.

use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter, UnknownTlvs};
use lightning_wire::types::{ShortChannelId, Tu32, Tu64};
use lightning_wire::{Decode, DecodeError, Encode, Reader};
use secp256k1::{PublicKey, SecretKey, SECP256K1};

use super::construct::BuildError;
use super::keys::{self, SharedSecret};
use crate::keys::NodeEcdh;

/// `payment_relay`: what a blinded hop charges and the CLTV delta it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaymentRelay {
    /// `cltv_expiry_delta`.
    pub cltv_expiry_delta: u16,
    /// `fee_proportional_millionths`.
    pub fee_proportional_millionths: u32,
    /// `fee_base_msat` (a `tu32`).
    pub fee_base_msat: u32,
}

/// `payment_constraints`: limits on the payments a blinded path accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaymentConstraints {
    /// `max_cltv_expiry`.
    pub max_cltv_expiry: u32,
    /// `htlc_minimum_msat` (a `tu64`).
    pub htlc_minimum_msat: u64,
}

/// `encrypted_data_tlv`: what a blinded hop reads once it has decrypted its
/// `encrypted_recipient_data`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptedDataTlv {
    /// 1 `padding`.
    pub padding: Option<Vec<u8>>,
    /// 2 `short_channel_id`.
    pub short_channel_id: Option<ShortChannelId>,
    /// 4 `next_node_id`.
    pub next_node_id: Option<PublicKey>,
    /// 6 `path_id`.
    pub path_id: Option<Vec<u8>>,
    /// 8 `next_path_key_override`.
    pub next_path_key_override: Option<PublicKey>,
    /// 10 `payment_relay`.
    pub payment_relay: Option<PaymentRelay>,
    /// 12 `payment_constraints`.
    pub payment_constraints: Option<PaymentConstraints>,
    /// 14 `allowed_features`.
    pub allowed_features: Option<Vec<u8>>,
    /// Unknown odd records, kept.
    pub unknown: UnknownTlvs,
}

impl Encode for EncryptedDataTlv {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = TlvStreamWriter::new();
        w.put_opt(1, self.padding.as_ref());
        w.put_opt(2, self.short_channel_id.as_ref());
        w.put_opt(4, self.next_node_id.as_ref());
        w.put_opt(6, self.path_id.as_ref());
        w.put_opt(8, self.next_path_key_override.as_ref());
        if let Some(r) = &self.payment_relay {
            let mut v = Vec::with_capacity(10);
            r.cltv_expiry_delta.encode(&mut v);
            r.fee_proportional_millionths.encode(&mut v);
            Tu32(r.fee_base_msat).encode(&mut v);
            w.put_raw(10, &v);
        }
        if let Some(c) = &self.payment_constraints {
            let mut v = Vec::with_capacity(12);
            c.max_cltv_expiry.encode(&mut v);
            Tu64(c.htlc_minimum_msat).encode(&mut v);
            w.put_raw(12, &v);
        }
        w.put_opt(14, self.allowed_features.as_ref());
        w.put_unknown(&self.unknown);
        w.write(out);
    }
}

/// Reads the whole input as an `encrypted_data_tlv` stream.
impl Decode for EncryptedDataTlv {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut r = TlvStreamReader::parse(reader).map_err(|e| e.at("encrypted_data_tlv"))?;
        let padding = r.take(1, "padding")?;
        let short_channel_id = r.take(2, "short_channel_id")?;
        let next_node_id = r.take(4, "next_node_id")?;
        let path_id = r.take(6, "path_id")?;
        let next_path_key_override = r.take(8, "next_path_key_override")?;
        let payment_relay = r.take_with(10, "payment_relay", |r| {
            Ok(PaymentRelay {
                cltv_expiry_delta: r.read_field("cltv_expiry_delta")?,
                fee_proportional_millionths: r.read_field("fee_proportional_millionths")?,
                fee_base_msat: r.read_field::<Tu32>("fee_base_msat")?.0,
            })
        })?;
        let payment_constraints = r.take_with(12, "payment_constraints", |r| {
            Ok(PaymentConstraints {
                max_cltv_expiry: r.read_field("max_cltv_expiry")?,
                htlc_minimum_msat: r.read_field::<Tu64>("htlc_minimum_msat")?.0,
            })
        })?;
        let allowed_features = r.take(14, "allowed_features")?;
        let unknown = r.finish().map_err(|e| e.at("encrypted_data_tlv"))?;
        Ok(EncryptedDataTlv {
            padding,
            short_channel_id,
            next_node_id,
            path_id,
            next_path_key_override,
            payment_relay,
            payment_constraints,
            allowed_features,
            unknown,
        })
    }
}

/// One hop of a blinded path as the sender sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindedHop {
    /// `blinded_node_id`: the key the sender encrypts this hop's onion to.
    pub blinded_node_id: PublicKey,
    /// `encrypted_recipient_data`, put in this hop's onion payload.
    pub encrypted_data: Vec<u8>,
}

/// A blinded path: the real introduction node, the first `path_key` and
/// the blinded hops (the introduction node's included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindedPath {
    /// The unblinded id of the introduction node.
    pub introduction_node_id: PublicKey,
    /// `E(0)`, the path key the introduction node unblinds with.
    pub first_path_key: PublicKey,
    /// Every hop, introduction node first.
    pub hops: Vec<BlindedHop>,
}

impl BlindedPath {
    /// The path as the router takes it (BOLT 4 "Route Blinding"; BOLT 12's
    /// `blinded_path` with its `blinded_payinfo`): the introduction node
    /// by id, `E(0)`, each hop's blinded id and encrypted data, and the
    /// path's aggregated fees and CLTV delta `payinfo`.
    ///
    /// ```
    /// use lightning_core::onion::blind_path;
    /// use lightning_router::BlindedPayInfo;
    /// use secp256k1::{PublicKey, SecretKey, SECP256K1};
    ///
    /// let node = PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[1; 32]).unwrap());
    /// let session = SecretKey::from_slice(&[2; 32]).unwrap();
    /// let path = blind_path(&session, &[(node, vec![])]).unwrap();
    /// let routed = path.into_payment_path(BlindedPayInfo::aggregate(&[], 18).unwrap());
    /// assert_eq!(routed.hops.len(), 1);
    /// ```
    pub fn into_payment_path(
        self,
        payinfo: lightning_router::BlindedPayInfo,
    ) -> lightning_router::BlindedPaymentPath {
        lightning_router::BlindedPaymentPath {
            introduction_node: lightning_router::NodeId::from_pubkey(&self.introduction_node_id),
            first_path_key: self.first_path_key,
            hops: self
                .hops
                .into_iter()
                .map(|h| lightning_router::BlindedHop {
                    blinded_node_id: h.blinded_node_id,
                    encrypted_recipient_data: h.encrypted_data,
                })
                .collect(),
            payinfo,
        }
    }
}

impl BlindedPath {
    /// The path in BOLT 12's wire form (`blinded_path`, the introduction
    /// node by id), as offers, reply paths and onion messages carry it.
    ///
    /// ```
    /// use lightning_core::onion::blind_path;
    /// use secp256k1::{PublicKey, SecretKey, SECP256K1};
    ///
    /// let node = PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[1; 32]).unwrap());
    /// let path = blind_path(&SecretKey::from_slice(&[2; 32]).unwrap(), &[(node, vec![])]).unwrap();
    /// assert_eq!(path.into_bolt12_path().hops.len(), 1);
    /// ```
    pub fn into_bolt12_path(self) -> lightning_wire::bolt12::BlindedPath {
        lightning_wire::bolt12::BlindedPath {
            first_node_id: lightning_wire::bolt12::IntroductionNode::NodeId(
                self.introduction_node_id,
            ),
            first_path_key: self.first_path_key,
            hops: self
                .hops
                .into_iter()
                .map(|h| lightning_wire::bolt12::OnionMsgHop {
                    blinded_node_id: h.blinded_node_id,
                    encrypted_recipient_data: h.encrypted_data,
                })
                .collect(),
        }
    }
}

/// Seals `plaintext` with ChaCha20-Poly1305 under `rho`, all-zero nonce, no
/// associated data.
pub fn encrypt_recipient_data(rho: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    lightning_wire::crypto::aead_seal(rho, &[0u8; 12], &[], plaintext)
}

/// Opens `encrypted_recipient_data` with `rho`; `None` if it does not
/// authenticate.
pub fn decrypt_recipient_data(rho: &[u8; 32], ciphertext: &[u8]) -> Option<Vec<u8>> {
    lightning_wire::crypto::aead_open(rho, &[0u8; 12], &[], ciphertext)
}

/// `E(i+1) = SHA256(E(i) || ss(i)) * E(i)`.
pub fn next_path_key(path_key: &PublicKey, shared_secret: &SharedSecret) -> Option<PublicKey> {
    let factor = keys::blinding_factor(&path_key.serialize(), shared_secret);
    path_key.mul_tweak(SECP256K1, &keys::scalar(factor)?).ok()
}

/// Builds a blinded path over `hops` (real node ids with the serialized
/// `encrypted_data_tlv` of each, the last being the recipient), starting
/// from the ephemeral secret `session_key` (`e(0)`, drawn by the caller).
///
/// ```
/// use lightning_core::onion::{blind_path, unblind, EncryptedDataTlv};
/// use lightning_wire::Encode;
/// use secp256k1::{PublicKey, SecretKey, SECP256K1};
/// let bob = SecretKey::from_slice(&[0x42; 32]).unwrap();
/// let tlv = EncryptedDataTlv { path_id: Some(vec![1, 2, 3]), ..Default::default() };
/// let path = blind_path(
///     &SecretKey::from_slice(&[1; 32]).unwrap(),
///     &[(PublicKey::from_secret_key(SECP256K1, &bob), tlv.to_bytes())],
/// ).unwrap();
/// let opened = unblind(&bob, &path.first_path_key, &path.hops[0].encrypted_data).unwrap();
/// assert_eq!(opened.data.path_id, Some(vec![1, 2, 3]));
/// ```
pub fn blind_path(
    session_key: &SecretKey,
    hops: &[(PublicKey, Vec<u8>)],
) -> Result<BlindedPath, BuildError> {
    let (first, _) = hops.first().ok_or(BuildError::EmptyRoute)?;
    let mut e = *session_key;
    let first_path_key = PublicKey::from_secret_key(SECP256K1, &e);
    let mut out = Vec::with_capacity(hops.len());
    for (i, (node_id, plaintext)) in hops.iter().enumerate() {
        let e_pub = PublicKey::from_secret_key(SECP256K1, &e);
        let ss = SharedSecret::new(node_id, &e);
        let tweak = keys::scalar(keys::derive_key(keys::BLINDED_NODE_ID, ss.as_bytes()))
            .ok_or(BuildError::InvalidKey(i))?;
        let blinded_node_id = node_id
            .mul_tweak(SECP256K1, &tweak)
            .map_err(|_| BuildError::InvalidKey(i))?;
        let rho = keys::derive_key(keys::RHO, ss.as_bytes());
        out.push(BlindedHop {
            blinded_node_id,
            encrypted_data: encrypt_recipient_data(&rho, plaintext),
        });
        let factor = keys::scalar(keys::blinding_factor(&e_pub.serialize(), &ss))
            .ok_or(BuildError::InvalidKey(i))?;
        e = e
            .mul_tweak(&factor)
            .map_err(|_| BuildError::InvalidKey(i))?;
    }
    Ok(BlindedPath {
        introduction_node_id: *first,
        first_path_key,
        hops: out,
    })
}

/// Keys a node derives from the `path_key` it was handed.
#[derive(Debug, Clone, Copy)]
pub struct BlindedHopKeys {
    /// `ss(i) = SHA256(k(i) * E(i))`.
    pub shared_secret: SharedSecret,
    /// `HMAC256("blinded_node_id", ss(i))`: the blinded node secret is
    /// `b(i) = tweak * k(i)`, the key that decrypts the onion addressed to
    /// the blinded id. The node never forms `b(i)`: it asks its signer for
    /// ECDH with this tweak ([`NodeEcdh::ecdh`]).
    pub blinded_node_tweak: [u8; 32],
    /// `rho(i)`, which opens `encrypted_recipient_data`.
    pub rho: [u8; 32],
    /// `E(i+1)`, before any override.
    pub next_path_key: PublicKey,
}

impl BlindedHopKeys {
    /// `b(i) = HMAC256("blinded_node_id", ss(i)) * k(i)` for a node that
    /// holds its key `k(i)` (tests and vectors).
    pub fn blinded_node_secret(&self, node_secret: &SecretKey) -> Option<SecretKey> {
        node_secret
            .mul_tweak(&keys::scalar(self.blinded_node_tweak)?)
            .ok()
    }
}

/// Derives the keys of a blinded hop with the node key (a
/// [`NodeSigner`](crate::keys::NodeSigner) or a bare `SecretKey`); `None`
/// when a derived scalar is invalid (probability ~2^-128) or the signer's
/// ECDH failed.
pub fn blinded_hop_keys<K: NodeEcdh + ?Sized>(
    node_key: &K,
    path_key: &PublicKey,
) -> Option<BlindedHopKeys> {
    let shared_secret = SharedSecret(node_key.ecdh(path_key, None).ok()?);
    let blinded_node_tweak = keys::derive_key(keys::BLINDED_NODE_ID, shared_secret.as_bytes());
    keys::scalar(blinded_node_tweak)?;
    Some(BlindedHopKeys {
        shared_secret,
        blinded_node_tweak,
        rho: keys::derive_key(keys::RHO, shared_secret.as_bytes()),
        next_path_key: next_path_key(path_key, &shared_secret)?,
    })
}

/// What a blinded hop learned from its `encrypted_recipient_data`.
#[derive(Debug, Clone)]
pub struct Unblinded {
    /// The decrypted and decoded `encrypted_data_tlv`.
    pub data: EncryptedDataTlv,
    /// The path key to hand the next hop: the override if present, else
    /// `E(i+1)`.
    pub next_path_key: PublicKey,
    /// The keys derived on the way.
    pub keys: BlindedHopKeys,
}

/// Why `encrypted_recipient_data` could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnblindError {
    /// A derived key was invalid.
    #[error("blinding key derivation failed")]
    InvalidKey,
    /// The data did not authenticate under `rho`.
    #[error("encrypted_recipient_data does not decrypt")]
    Decrypt,
    /// The plaintext is not a valid `encrypted_data_tlv`.
    #[error("encrypted_data_tlv: {0}")]
    Decode(DecodeError),
}

/// Decrypts and decodes a hop's `encrypted_recipient_data` with the
/// `path_key` it was handed.
pub fn unblind<K: NodeEcdh + ?Sized>(
    node_key: &K,
    path_key: &PublicKey,
    encrypted_data: &[u8],
) -> Result<Unblinded, UnblindError> {
    let keys = blinded_hop_keys(node_key, path_key).ok_or(UnblindError::InvalidKey)?;
    unblind_with_keys(keys, encrypted_data)
}

/// [`unblind`] with the keys already derived.
pub fn unblind_with_keys(
    keys: BlindedHopKeys,
    encrypted_data: &[u8],
) -> Result<Unblinded, UnblindError> {
    let plaintext =
        decrypt_recipient_data(&keys.rho, encrypted_data).ok_or(UnblindError::Decrypt)?;
    let data = EncryptedDataTlv::from_bytes(&plaintext).map_err(UnblindError::Decode)?;
    Ok(Unblinded {
        next_path_key: data.next_path_key_override.unwrap_or(keys.next_path_key),
        data,
        keys,
    })
}
