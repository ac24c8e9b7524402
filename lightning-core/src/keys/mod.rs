//! Keys: per-commitment derivation (BOLT 3), per-commitment secrets, the
//! host-facing key traits ([`EntropySource`], [`NodeSigner`],
//! [`ChannelSignerProvider`] and its [`ChannelSigner`]s) and the seed-based
//! [`KeysManager`] that implements all of them.
//!
//! A host that keeps its keys elsewhere (a remote signer, an HSM)
//! implements the traits and gives them to
//! [`NodeBuilder::signers`](crate::node::NodeBuilder::signers); the node
//! then never holds a secret key. Each trait is implemented for `&T`,
//! `Box<T>` and `Arc<T>` of its implementors, so one `Arc<KeysManager>`
//! can play all three roles.

pub mod derivation;
mod forward;
pub mod manager;
pub mod shachain;
pub mod signer;

use bitcoin::secp256k1::{ecdsa, PublicKey};
use lightning_wire::bolt11::UnsignedInvoice;

#[cfg(doc)]
use bitcoin::secp256k1::SecretKey;

pub use forward::{NodeInvoiceSigner, NodeStaticKey};
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
    /// A signer outside the node (another process, an HSM) did not answer
    /// or refused.
    #[error("signer unavailable: {0}")]
    Unavailable(String),
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
///
/// [`KeysManager`] implements it from the seed (a ChaCha20 stream, see
/// [`begin_epoch`](EntropySource::begin_epoch)); a host with a good random
/// source may give its own:
///
/// ```
/// use lightning_core::keys::EntropySource;
///
/// /// Stands in for the operating system's generator.
/// struct HostRng(std::sync::atomic::AtomicU8);
/// impl EntropySource for HostRng {
///     fn random_bytes(&self) -> [u8; 32] {
///         let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         [n; 32] // a real host reads its CSPRNG here
///     }
/// }
/// let rng = HostRng(Default::default());
/// assert_ne!(rng.random_bytes(), rng.random_bytes());
/// ```
pub trait EntropySource {
    /// 32 fresh random bytes.
    fn random_bytes(&self) -> [u8; 32];

    /// A new run of the node begins: `epoch` differs from the epoch of
    /// every earlier run over the same store (the node persists a counter
    /// and raises it on every start, before anything is drawn). A source
    /// that is deterministic given its seed must not give the bytes of an
    /// earlier epoch again; a source of real randomness ignores it (the
    /// default).
    fn begin_epoch(&self, epoch: u32) {
        let _ = epoch;
    }
}

/// Which message a [`NodeSigner`] is asked to sign over; the node signer
/// hashes nothing itself beyond what the variant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipMessageHash {
    /// The double-SHA256 of a `channel_announcement`, `node_announcement`
    /// or `channel_update` from the field after the signatures (BOLT 7).
    DoubleSha256([u8; 32]),
}

/// The node secret: ECDH for Noise (BOLT 8) and onions (BOLT 4), gossip
/// (BOLT 7) and invoice (BOLT 11) signatures. The [`Node`](crate::node::Node)
/// reaches its node key only through this trait, so the key can live in
/// another process or an HSM. [`KeysManager`] implements it from the seed.
///
/// ```
/// use bitcoin::secp256k1::{ecdh::SharedSecret, ecdsa, Message, PublicKey, Scalar, SecretKey, SECP256K1};
/// use lightning_core::keys::{GossipMessageHash, KeyError, NodeSigner};
/// use lightning_wire::bolt11::UnsignedInvoice;
///
/// /// Stands in for an HSM: the key is inside, only results come out.
/// struct Hsm(SecretKey);
/// impl NodeSigner for Hsm {
///     fn node_id(&self) -> PublicKey {
///         self.0.public_key(SECP256K1)
///     }
///     fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError> {
///         let key = match tweak {
///             Some(t) => self.0.mul_tweak(&Scalar::from_be_bytes(*t).map_err(|_| KeyError::TweakOutOfRange)?)
///                 .map_err(|_| KeyError::TweakOutOfRange)?,
///             None => self.0,
///         };
///         Ok(SharedSecret::new(other, &key).secret_bytes())
///     }
///     fn sign_gossip_message(&self, msg: GossipMessageHash) -> Result<ecdsa::Signature, KeyError> {
///         let GossipMessageHash::DoubleSha256(h) = msg;
///         Ok(SECP256K1.sign_ecdsa(&Message::from_digest(h), &self.0))
///     }
///     fn sign_invoice(&self, invoice: &UnsignedInvoice<'_>) -> Result<ecdsa::RecoverableSignature, KeyError> {
///         // An HSM would show `invoice.hrp()` (the amount) to its user here.
///         Ok(SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(invoice.message_hash()), &self.0))
///     }
/// }
/// let hsm = Hsm(SecretKey::from_slice(&[3; 32]).unwrap());
/// let other = SecretKey::from_slice(&[4; 32]).unwrap();
/// assert_eq!(
///     hsm.ecdh(&other.public_key(SECP256K1), None).unwrap(),
///     SharedSecret::new(&hsm.node_id(), &other).secret_bytes(),
/// );
/// ```
pub trait NodeSigner {
    /// The node id.
    fn node_id(&self) -> PublicKey;
    /// `SHA256(compressed(node_secret * other))`, the secp256k1 ECDH of
    /// BOLT 4 and BOLT 8; with `tweak` the node secret is first multiplied
    /// by it (blinded paths, BOLT 4 "Route Blinding": the blinded node
    /// secret `b(i) = HMAC256("blinded_node_id", ss(i)) * k(i)`).
    fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError>;
    /// Sign a gossip message digest with the node key.
    fn sign_gossip_message(&self, msg: GossipMessageHash) -> Result<ecdsa::Signature, KeyError>;
    /// Sign a BOLT 11 invoice: a recoverable signature of
    /// `invoice.message_hash()` (SHA256 of the human-readable part followed
    /// by the data part). The signer may read the invoice it signs from
    /// `invoice.hrp()` and `invoice.data()`, and refuse.
    fn sign_invoice(
        &self,
        invoice: &UnsignedInvoice<'_>,
    ) -> Result<ecdsa::RecoverableSignature, KeyError>;
    /// Sign a BOLT 12 invoice with the node key: a BIP 340 signature of
    /// `invoice.digest()` (BOLT 12 "Signature Calculation"; the invoice's
    /// `invoice_node_id` is the node id when our offer names it as
    /// `offer_issuer_id`). The signer may read the invoice from
    /// `invoice.as_bytes()` and refuse.
    ///
    /// The default refuses, so a signer written before BOLT 12 keeps
    /// working; the node then answers invoice requests with an
    /// `invoice_error`.
    fn sign_bolt12_invoice(
        &self,
        invoice: &lightning_wire::bolt12::UnsignedBolt12Invoice,
    ) -> Result<secp256k1::schnorr::Signature, KeyError> {
        let _ = invoice;
        Err(KeyError::Unavailable(
            "this signer does not sign BOLT 12 invoices".into(),
        ))
    }
}

/// ECDH with the node key, as onion peeling (BOLT 4) needs it: implemented
/// by every [`NodeSigner`] and by a bare [`SecretKey`] (tests and vectors),
/// so [`process_htlc_onion`](crate::onion::process_htlc_onion) takes
/// either.
///
/// ```
/// use bitcoin::secp256k1::{ecdh::SharedSecret, SecretKey, SECP256K1};
/// use lightning_core::keys::{KeysManager, NodeEcdh, NodeSigner};
/// let km = KeysManager::new(&[7; 32]).unwrap();
/// let other = SecretKey::from_slice(&[9; 32]).unwrap();
/// assert_eq!(
///     NodeEcdh::ecdh(&km, &other.public_key(SECP256K1), None).unwrap(),
///     NodeEcdh::ecdh(&other, &km.node_id(), None).unwrap(),
/// );
/// ```
pub trait NodeEcdh {
    /// As [`NodeSigner::ecdh`].
    fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError>;
}

/// A channel's signer as the [`Node`](crate::node::Node) holds it: any
/// [`ChannelSigner`], boxed.
pub type DynChannelSigner = Box<dyn ChannelSigner + Send>;

/// Gives each channel its [`ChannelSigner`] by *keys index*: the node
/// numbers its channels, persists the index in the channel record, and on
/// restore asks again with the stored index, so the same index must give
/// the same keys whenever it is asked. [`KeysManager`] derives
/// `m/1'/index'/*` from the seed.
///
/// ```
/// use lightning_core::keys::{ChannelSigner, ChannelSignerProvider, DynChannelSigner, KeyError, KeysManager};
///
/// /// Hands out the seed's signers, and counts them.
/// struct Counting(KeysManager, std::sync::atomic::AtomicU32);
/// impl ChannelSignerProvider for Counting {
///     fn channel_signer(&self, keys_index: u32) -> Result<DynChannelSigner, KeyError> {
///         self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.0.channel_signer(keys_index)
///     }
/// }
/// let p = Counting(KeysManager::new(&[1; 32]).unwrap(), Default::default());
/// let a = p.channel_signer(5).unwrap();
/// let b = p.channel_signer(5).unwrap();
/// assert_eq!(a.pubkeys(), b.pubkeys());
/// ```
pub trait ChannelSignerProvider {
    /// The signer of the channel with keys index `keys_index`.
    fn channel_signer(&self, keys_index: u32) -> Result<DynChannelSigner, KeyError>;
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
