//! The local static key, behind a trait so that a signer or HSM can hold it.
//!
//! BOLT 8 uses the node's secret key in two ECDHs per handshake: the
//! responder's `es = ECDH(s.priv, re)` in act one and the initiator's
//! `se = ECDH(s.priv, re)` in act three. Everything else needs only the
//! public key.

use std::sync::Arc;

use secp256k1::ecdh::SharedSecret;
use secp256k1::{Keypair, PublicKey};

/// A node's static key as the handshake uses it: the public key (the node
/// id) and ECDH with the secret key.
///
/// Implemented for [`Keypair`] (the key in memory), for references and for
/// [`Arc`]s of implementors; a node whose key lives in a signer implements it
/// over that signer.
///
/// ```
/// use lightning_wire::noise::{EcdhError, StaticKeyEcdh};
/// use secp256k1::{ecdh::SharedSecret, PublicKey, SecretKey, SECP256K1};
///
/// /// Stands in for a remote signer: it holds the key, the node does not.
/// struct Signer(SecretKey);
///
/// impl StaticKeyEcdh for Signer {
///     fn public_key(&self) -> PublicKey {
///         self.0.public_key(SECP256K1)
///     }
///     fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
///         Ok(SharedSecret::new(point, &self.0).secret_bytes())
///     }
/// }
/// # let _ = Signer(SecretKey::from_slice(&[1; 32]).unwrap()).public_key();
/// ```
pub trait StaticKeyEcdh {
    /// The static public key: the node id.
    fn public_key(&self) -> PublicKey;

    /// `ECDH(s.priv, point)` as BOLT 8 defines it ("Handshake State",
    /// `ECDH`): SHA-256 of the compressed encoding of the point
    /// `s.priv * point`. That is libsecp256k1's default ECDH hash, which
    /// `secp256k1::ecdh::SharedSecret::new` computes.
    ///
    /// An `Err` fails the handshake with
    /// [`HandshakeError::StaticKeyEcdh`](super::HandshakeError::StaticKeyEcdh).
    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError>;
}

/// A static key shared between connections: one per node, cloned into every
/// handshake (a reference count, no copy of the secret).
pub type SharedStaticKey = Arc<dyn StaticKeyEcdh + Send + Sync>;

/// A [`StaticKeyEcdh`] could not compute the shared secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct EcdhError {
    /// What the key holder reported.
    pub reason: String,
}

impl EcdhError {
    /// An error saying `reason`.
    pub fn new(reason: impl core::fmt::Display) -> Self {
        EcdhError {
            reason: reason.to_string(),
        }
    }
}

impl StaticKeyEcdh for Keypair {
    fn public_key(&self) -> PublicKey {
        Keypair::public_key(self)
    }

    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
        Ok(SharedSecret::new(point, &self.secret_key()).secret_bytes())
    }
}

impl<T: StaticKeyEcdh + ?Sized> StaticKeyEcdh for &T {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }

    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
        (**self).ecdh(point)
    }
}

impl<T: StaticKeyEcdh + ?Sized> StaticKeyEcdh for Arc<T> {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }

    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
        (**self).ecdh(point)
    }
}

/// A copy of a [`Keypair`] that erases itself when dropped: what the
/// `Keypair` conveniences of [`NoiseHandshake`](super::NoiseHandshake)
/// share with the handshake.
pub(crate) struct ErasedOnDrop(pub(crate) Keypair);

impl StaticKeyEcdh for ErasedOnDrop {
    fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
        self.0.ecdh(point)
    }
}

impl Drop for ErasedOnDrop {
    fn drop(&mut self) {
        self.0.non_secure_erase();
    }
}
