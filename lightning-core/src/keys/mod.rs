//! Keys: per-commitment derivation (BOLT 3), per-commitment secrets, the
//! host-facing key traits ([`EntropySource`], [`NodeSigner`],
//! [`ChannelSigner`]) and the seed-based [`KeysManager`] that implements
//! them.

pub mod derivation;
pub mod manager;
pub mod shachain;
pub mod signer;

use bitcoin::secp256k1::{ecdsa, PublicKey};

pub use manager::KeysManager;
pub use signer::{ChannelSigner, InMemorySigner, SignerError, SpendKeyMaterial};

/// A key operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A 32-byte string is not a valid secp256k1 secret key.
    #[error("invalid secret key")]
    InvalidSecret,
    /// A tweak hashed to a value outside the curve order, or a sum landed on
    /// the point at infinity (probability ~2^-128).
    #[error("key tweak out of range")]
    TweakOutOfRange,
    /// BIP32 derivation failed.
    #[error("BIP32 derivation failed: {0}")]
    Bip32(String),
}

/// The five public basepoints of one side of a channel (BOLT 2
/// `open_channel`/`accept_channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChannelPublicKeys {
    /// `funding_pubkey`.
    pub funding_pubkey: PublicKey,
    /// `revocation_basepoint`.
    pub revocation_basepoint: PublicKey,
    /// `payment_basepoint`.
    pub payment_basepoint: PublicKey,
    /// `delayed_payment_basepoint`.
    pub delayed_payment_basepoint: PublicKey,
    /// `htlc_basepoint`.
    pub htlc_basepoint: PublicKey,
}

/// Random bytes from the host (sans-IO: the library never draws its own).
pub trait EntropySource {
    /// 32 fresh random bytes.
    fn random_bytes(&self) -> [u8; 32];
}

/// Which message a [`NodeSigner`] is asked to sign over; the node signer
/// hashes nothing itself beyond what the variant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipMessageHash {
    /// The double-SHA256 of a `channel_announcement`, `node_announcement`
    /// or `channel_update` from the field after the signatures (BOLT 7).
    DoubleSha256([u8; 32]),
}

/// The node secret: ECDH for Noise and onions, gossip and invoice signatures.
pub trait NodeSigner {
    /// The node id.
    fn node_id(&self) -> PublicKey;
    /// `SHA256(compressed(node_secret * other))`, the secp256k1 ECDH of
    /// BOLT 4 and BOLT 8; with `tweak` the node secret is first multiplied
    /// by it (blinded paths).
    fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError>;
    /// Sign a gossip message digest with the node key.
    fn sign_gossip_message(&self, msg: GossipMessageHash) -> Result<ecdsa::Signature, KeyError>;
    /// Sign a BOLT 11 invoice: `hash` is SHA256 of the human-readable part
    /// followed by the data part; returns a recoverable signature.
    fn sign_invoice(&self, hash: &[u8; 32]) -> Result<ecdsa::RecoverableSignature, KeyError>;
}

/// Stands in for a secret in `Debug` output: preimages, payment and
/// per-commitment secrets and private keys never appear in logs (issue 13).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl core::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("<redacted>")
    }
}
