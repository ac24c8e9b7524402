//! [`KeysManager`]: every key of a node, derived from one 32-byte seed.
//!
//! Derivation (BIP 32, hardened throughout, from the master key of the
//! seed):
//!
//! | path | key |
//! | --- | --- |
//! | `m/0'` | node secret (node id) |
//! | `m/1'/i'/0'` | channel `i` funding key |
//! | `m/1'/i'/1'` | channel `i` revocation base key |
//! | `m/1'/i'/2'` | channel `i` payment key (`payment_basepoint`) |
//! | `m/1'/i'/3'` | channel `i` delayed payment base key |
//! | `m/1'/i'/4'` | channel `i` HTLC base key |
//! | `m/1'/i'/5'` | channel `i` per-commitment seed (its 32 secret bytes) |
//! | `m/2'` | entropy key |
//!
//! Entropy is a ChaCha20 keystream under the entropy key, with the call
//! counter as nonce: deterministic given the seed, the *entropy epoch* and
//! the number of calls, so a node is reproducible in tests. The epoch
//! ([`KeysManager::set_entropy_epoch`]) fills the nonce's first four bytes:
//! the `Node` persists a counter it raises on every start, so a restarted
//! node never repeats the ephemeral keys, session keys or preimages of an
//! earlier run. A host may also mix in fresh randomness of its own
//! ([`KeysManager::mix_entropy`]).

use std::sync::Mutex;

use bitcoin::bip32::{ChildNumber, Xpriv};
use bitcoin::secp256k1::{ecdsa, Message, PublicKey, SecretKey, SECP256K1};
use bitcoin::Network;
use lightning_wire::noise::{EcdhError, StaticKeyEcdh};

use super::signer::InMemorySigner;
use super::{
    ChannelSignerProvider, DynChannelSigner, EntropySource, GossipMessageHash, KeyError, NodeSigner,
};

/// All keys of a node from one seed: the default implementation of every
/// key trait the node takes. Implements [`EntropySource`], [`NodeSigner`]
/// and [`ChannelSignerProvider`] (each channel's [`InMemorySigner`]), and,
/// through the node signer, the BOLT 8 static key ([`StaticKeyEcdh`], for
/// [`PeerManager::with_static_key`](crate::peer::PeerManager::with_static_key)).
///
/// ```
/// use lightning_core::keys::{KeysManager, NodeSigner, ChannelSigner};
/// let km = KeysManager::new(&[7; 32]).unwrap();
/// let signer = km.derive_channel_signer(0).unwrap();
/// assert_ne!(signer.pubkeys().funding_pubkey, km.node_id());
/// ```
pub struct KeysManager {
    master: Xpriv,
    node_secret: SecretKey,
    node_id: PublicKey,
    entropy_key: [u8; 32],
    /// The entropy epoch and the number of draws in it (one lock, so a
    /// new epoch and its counter's reset are seen together).
    entropy_state: Mutex<(u32, u64)>,
}

impl core::fmt::Debug for KeysManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeysManager")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

fn hardened(i: u32) -> Result<ChildNumber, KeyError> {
    ChildNumber::from_hardened_idx(i).map_err(|e| KeyError::Bip32(e.to_string()))
}

impl KeysManager {
    /// Derive everything from `seed`.
    pub fn new(seed: &[u8; 32]) -> Result<Self, KeyError> {
        // The network only affects xpriv serialisation, never the keys.
        let master = Xpriv::new_master(Network::Bitcoin, seed)
            .map_err(|e| KeyError::Bip32(e.to_string()))?;
        let node_secret = Self::derive(&master, &[hardened(0)?])?;
        let entropy_key = Self::derive(&master, &[hardened(2)?])?.secret_bytes();
        Ok(KeysManager {
            master,
            node_id: PublicKey::from_secret_key(SECP256K1, &node_secret),
            node_secret,
            entropy_key,
            entropy_state: Mutex::new((0, 0)),
        })
    }

    /// Starts a new entropy stream: `epoch` must differ from every epoch
    /// used before with this seed (the node persists a counter). Resets the
    /// call counter.
    pub fn set_entropy_epoch(&mut self, epoch: u32) {
        EntropySource::begin_epoch(self, epoch);
    }

    /// Mixes host randomness into the entropy key (`key = SHA256(key ||
    /// fresh)`), for hosts that have a good random source and want the
    /// node's entropy unpredictable even to someone who knows the seed.
    pub fn mix_entropy(&mut self, fresh: &[u8; 32]) {
        use bitcoin::hashes::{sha256, Hash, HashEngine};
        let mut engine = sha256::Hash::engine();
        engine.input(&self.entropy_key);
        engine.input(fresh);
        self.entropy_key = sha256::Hash::from_engine(engine).to_byte_array();
    }

    /// A P2WPKH key of the node's own on-chain wallet, at `m/3'/index'`
    /// (the default destination of cooperative closes).
    pub fn wallet_key(&self, index: u32) -> Result<SecretKey, KeyError> {
        Self::derive(&self.master, &[hardened(3)?, hardened(index)?])
    }

    fn derive(master: &Xpriv, path: &[ChildNumber]) -> Result<SecretKey, KeyError> {
        master
            .derive_priv(SECP256K1, &path)
            .map(|x| x.private_key)
            .map_err(|e| KeyError::Bip32(e.to_string()))
    }

    /// The signer of channel number `channel_index` (hosts number their
    /// channels and persist the index with the channel).
    pub fn derive_channel_signer(&self, channel_index: u32) -> Result<InMemorySigner, KeyError> {
        let key = |k: u32| -> Result<SecretKey, KeyError> {
            Self::derive(
                &self.master,
                &[hardened(1)?, hardened(channel_index)?, hardened(k)?],
            )
        };
        Ok(InMemorySigner::new(
            key(0)?,
            key(1)?,
            key(2)?,
            key(3)?,
            key(4)?,
            key(5)?.secret_bytes(),
        ))
    }
}

impl EntropySource for KeysManager {
    fn random_bytes(&self) -> [u8; 32] {
        let (epoch, n) = {
            // A panic while holding the lock leaves a consistent pair.
            let mut state = self
                .entropy_state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let drawn = *state;
            state.1 = state.1.wrapping_add(1);
            drawn
        };
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&epoch.to_le_bytes());
        nonce[4..].copy_from_slice(&n.to_le_bytes());
        let mut out = [0u8; 32];
        lightning_wire::crypto::chacha20_xor(&self.entropy_key, &nonce, 0, &mut out);
        out
    }

    /// Starts the stream of `epoch` from its first draw.
    fn begin_epoch(&self, epoch: u32) {
        let mut state = self
            .entropy_state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = (epoch, 0);
    }
}

impl ChannelSignerProvider for KeysManager {
    fn channel_signer(&self, keys_index: u32) -> Result<DynChannelSigner, KeyError> {
        Ok(Box::new(self.derive_channel_signer(keys_index)?))
    }
}

impl NodeSigner for KeysManager {
    fn node_id(&self) -> PublicKey {
        self.node_id
    }

    fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError> {
        super::NodeEcdh::ecdh(&self.node_secret, other, tweak)
    }

    fn sign_gossip_message(&self, msg: GossipMessageHash) -> Result<ecdsa::Signature, KeyError> {
        let GossipMessageHash::DoubleSha256(h) = msg;
        Ok(SECP256K1.sign_ecdsa(&Message::from_digest(h), &self.node_secret))
    }

    fn sign_invoice(
        &self,
        invoice: &lightning_wire::bolt11::UnsignedInvoice<'_>,
    ) -> Result<ecdsa::RecoverableSignature, KeyError> {
        Ok(SECP256K1.sign_ecdsa_recoverable(
            &Message::from_digest(invoice.message_hash()),
            &self.node_secret,
        ))
    }

    fn sign_bolt12_invoice(
        &self,
        invoice: &lightning_wire::bolt12::UnsignedBolt12Invoice,
    ) -> Result<secp256k1::schnorr::Signature, KeyError> {
        let keypair = secp256k1::Keypair::from_secret_key(SECP256K1, &self.node_secret);
        Ok(SECP256K1.sign_schnorr_no_aux_rand(&Message::from_digest(invoice.digest()), &keypair))
    }
}

/// BOLT 11 invoices are signed with the node key (as
/// [`NodeInvoiceSigner`](super::NodeInvoiceSigner) does for any node
/// signer).
impl lightning_wire::bolt11::InvoiceSigner for KeysManager {
    type Error = KeyError;

    fn sign_invoice(
        &self,
        invoice: &lightning_wire::bolt11::UnsignedInvoice<'_>,
    ) -> Result<ecdsa::RecoverableSignature, KeyError> {
        NodeSigner::sign_invoice(self, invoice)
    }
}

/// The node key as BOLT 8's static key: the node id, and
/// [`NodeSigner::ecdh`] without a tweak, which is BOLT 8's `ECDH` (SHA-256
/// of the compressed shared point).
impl StaticKeyEcdh for KeysManager {
    fn public_key(&self) -> PublicKey {
        self.node_id
    }

    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
        NodeSigner::ecdh(self, point, None).map_err(EcdhError::new)
    }
}
