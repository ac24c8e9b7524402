//! Forwarding impls of the key traits (for `&T`, `Box<T>`, `Arc<T>`), the
//! boxed channel signer, and the two adapters that show a [`NodeSigner`]
//! to `lightning-wire` as a BOLT 8 static key ([`NodeStaticKey`]) and as a
//! BOLT 11 invoice signer ([`NodeInvoiceSigner`]).

use std::sync::Arc;

use bitcoin::secp256k1::{ecdh::SharedSecret, ecdsa, PublicKey, Scalar, SecretKey};
use bitcoin::Transaction;
use lightning_wire::bolt11::{InvoiceSigner, UnsignedInvoice};
use lightning_wire::noise::{EcdhError, StaticKeyEcdh};

use super::signer::{CounterpartyCommitmentSignatures, SignerError};
use super::{
    ChannelPublicKeys, ChannelSigner, ChannelSignerProvider, DynChannelSigner, EntropySource,
    GossipMessageHash, KeyError, NodeEcdh, NodeSigner, SpendKeyMaterial,
};
use crate::transactions::commitment::{CommitmentHtlc, CommitmentKeys, CommitmentTransaction};
use crate::transactions::sweep::SpendableOutput;

macro_rules! forward_key_traits {
    ($($ptr:ty),*) => {$(
        impl<T: EntropySource + ?Sized> EntropySource for $ptr {
            fn random_bytes(&self) -> [u8; 32] {
                (**self).random_bytes()
            }
            fn begin_epoch(&self, epoch: u32) {
                (**self).begin_epoch(epoch)
            }
        }

        impl<T: NodeSigner + ?Sized> NodeSigner for $ptr {
            fn node_id(&self) -> PublicKey {
                (**self).node_id()
            }
            fn ecdh(
                &self,
                other: &PublicKey,
                tweak: Option<&[u8; 32]>,
            ) -> Result<[u8; 32], KeyError> {
                NodeSigner::ecdh(&**self, other, tweak)
            }
            fn sign_gossip_message(
                &self,
                msg: GossipMessageHash,
            ) -> Result<ecdsa::Signature, KeyError> {
                (**self).sign_gossip_message(msg)
            }
            fn sign_invoice(
                &self,
                invoice: &UnsignedInvoice<'_>,
            ) -> Result<ecdsa::RecoverableSignature, KeyError> {
                (**self).sign_invoice(invoice)
            }
            fn sign_bolt12_invoice(
                &self,
                invoice: &lightning_wire::bolt12::UnsignedBolt12Invoice,
            ) -> Result<secp256k1::schnorr::Signature, KeyError> {
                (**self).sign_bolt12_invoice(invoice)
            }
        }

        impl<T: ChannelSignerProvider + ?Sized> ChannelSignerProvider for $ptr {
            fn channel_signer(&self, keys_index: u32) -> Result<DynChannelSigner, KeyError> {
                (**self).channel_signer(keys_index)
            }
        }
    )*};
}

forward_key_traits!(&T, Box<T>, Arc<T>);

/// Every node signer does the onion's ECDH.
impl<T: NodeSigner + ?Sized> NodeEcdh for T {
    fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError> {
        NodeSigner::ecdh(self, other, tweak)
    }
}

/// A bare key (tests, spec vectors, fuzz targets).
impl NodeEcdh for SecretKey {
    fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError> {
        let secret = match tweak {
            Some(t) => {
                let s = Scalar::from_be_bytes(*t).map_err(|_| KeyError::TweakOutOfRange)?;
                self.mul_tweak(&s).map_err(|_| KeyError::TweakOutOfRange)?
            }
            None => *self,
        };
        Ok(SharedSecret::new(other, &secret).secret_bytes())
    }
}

/// A boxed signer is a signer (the node holds [`DynChannelSigner`]s).
impl<S: ChannelSigner + ?Sized> ChannelSigner for Box<S> {
    fn sign_channel_announcement(
        &self,
        hash: &[u8; 32],
    ) -> Result<bitcoin::secp256k1::ecdsa::Signature, SignerError> {
        (**self).sign_channel_announcement(hash)
    }
    fn pubkeys(&self) -> ChannelPublicKeys {
        (**self).pubkeys()
    }
    fn provide_counterparty_keys(&mut self, keys: ChannelPublicKeys) {
        (**self).provide_counterparty_keys(keys)
    }
    fn holder_per_commitment_point(
        &self,
        commitment_number: u64,
    ) -> Result<PublicKey, SignerError> {
        (**self).holder_per_commitment_point(commitment_number)
    }
    fn release_holder_commitment_secret(
        &mut self,
        commitment_number: u64,
    ) -> Result<[u8; 32], SignerError> {
        (**self).release_holder_commitment_secret(commitment_number)
    }
    fn next_unrevoked_holder_commitment(&self) -> u64 {
        (**self).next_unrevoked_holder_commitment()
    }
    fn restore_revocation_state(&mut self, next_unrevoked: u64) {
        (**self).restore_revocation_state(next_unrevoked)
    }
    fn counterparty_commitment_keys(
        &self,
        per_commitment_point: &PublicKey,
    ) -> Result<CommitmentKeys, SignerError> {
        (**self).counterparty_commitment_keys(per_commitment_point)
    }
    fn sign_counterparty_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<CounterpartyCommitmentSignatures, SignerError> {
        (**self).sign_counterparty_commitment(commitment)
    }
    fn sign_holder_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        (**self).sign_holder_commitment(commitment)
    }
    fn sign_holder_htlc_transaction(
        &self,
        commitment: &CommitmentTransaction,
        htlc: &CommitmentHtlc,
        htlc_tx: &Transaction,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        (**self).sign_holder_htlc_transaction(commitment, htlc, htlc_tx)
    }
    fn sign_closing_transaction(
        &self,
        tx: &Transaction,
        funding_amount: bitcoin::Amount,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        (**self).sign_closing_transaction(tx, funding_amount)
    }
    fn sign_spend_input(
        &self,
        tx: &mut Transaction,
        input_index: usize,
        output: &SpendableOutput,
        commitment_secret_or_point: SpendKeyMaterial,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        (**self).sign_spend_input(tx, input_index, output, commitment_secret_or_point)
    }
}

/// A boxed signer prints only its public keys (no secret is reachable
/// through the trait anyway).
impl core::fmt::Debug for dyn ChannelSigner + Send {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChannelSigner")
            .field("pubkeys", &self.pubkeys())
            .field("next_unrevoked", &self.next_unrevoked_holder_commitment())
            .finish_non_exhaustive()
    }
}

/// A [`NodeSigner`] as BOLT 8's static key ([`StaticKeyEcdh`]): the node id
/// and [`NodeSigner::ecdh`] without a tweak, which is BOLT 8's `ECDH`
/// (SHA-256 of the compressed shared point). The node builds its
/// [`PeerManager`](crate::peer::PeerManager) over one of these, so the
/// handshake's two ECDHs reach the node key only through the signer.
///
/// ```
/// use std::sync::Arc;
/// use lightning_core::keys::{KeysManager, NodeSigner, NodeStaticKey};
/// use lightning_wire::noise::StaticKeyEcdh;
/// let signer: Arc<dyn NodeSigner + Send + Sync> = Arc::new(KeysManager::new(&[7; 32]).unwrap());
/// let key = NodeStaticKey(signer.clone());
/// assert_eq!(key.public_key(), signer.node_id());
/// ```
#[derive(Debug, Clone)]
pub struct NodeStaticKey<S>(pub S);

impl<S: NodeSigner> StaticKeyEcdh for NodeStaticKey<S> {
    fn public_key(&self) -> PublicKey {
        self.0.node_id()
    }

    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
        NodeSigner::ecdh(&self.0, point, None).map_err(EcdhError::new)
    }
}

/// A [`NodeSigner`] as BOLT 11's [`InvoiceSigner`]: invoices are signed
/// with the node key ("the signature ... by the payee node"), through
/// [`NodeSigner::sign_invoice`], which sees the whole unsigned invoice.
///
/// ```
/// use lightning_core::keys::{KeysManager, NodeInvoiceSigner, NodeSigner};
/// use lightning_wire::bolt11::{Currency, InvoiceBuilder, PaymentSecret};
/// let km = KeysManager::new(&[7; 32]).unwrap();
/// let invoice = InvoiceBuilder::new(Currency::Regtest)
///     .payment_hash(lightning_wire::types::PaymentHash([1; 32]))
///     .payment_secret(PaymentSecret([2; 32]))
///     .description("coffee")
///     .timestamp(1_700_000_000)
///     .build_signed(&NodeInvoiceSigner(&km))
///     .unwrap();
/// assert_eq!(*invoice.payee(), km.node_id());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NodeInvoiceSigner<S>(pub S);

impl<S: NodeSigner> InvoiceSigner for NodeInvoiceSigner<S> {
    type Error = KeyError;

    fn sign_invoice(
        &self,
        invoice: &UnsignedInvoice<'_>,
    ) -> Result<ecdsa::RecoverableSignature, KeyError> {
        self.0.sign_invoice(invoice)
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::bip32::{ChildNumber, Xpriv};
    use bitcoin::secp256k1::SECP256K1;

    use super::*;
    use crate::keys::KeysManager;

    /// The node secret `m/0'` of a seed, derived here the way
    /// `KeysManager` documents it.
    fn node_secret(seed: &[u8; 32]) -> SecretKey {
        let master = Xpriv::new_master(bitcoin::Network::Bitcoin, seed).unwrap();
        let path = [ChildNumber::from_hardened_idx(0).unwrap()];
        master.derive_priv(SECP256K1, &path).unwrap().private_key
    }

    #[test]
    fn signer_ecdh_is_the_secret_keys_with_and_without_tweak() {
        let km = Arc::new(KeysManager::new(&[5; 32]).unwrap());
        let secret = node_secret(&[5; 32]);
        assert_eq!(secret.public_key(SECP256K1), km.node_id());
        let other = SecretKey::from_slice(&[6; 32])
            .unwrap()
            .public_key(SECP256K1);
        let tweak = [7u8; 32];
        // Through every pointer the node may hold.
        let dyn_signer: Arc<dyn NodeSigner + Send + Sync> = km.clone();
        for tw in [None, Some(&tweak)] {
            let want = NodeEcdh::ecdh(&secret, &other, tw).unwrap();
            assert_eq!(NodeEcdh::ecdh(&*km, &other, tw).unwrap(), want);
            assert_eq!(NodeEcdh::ecdh(&dyn_signer, &other, tw).unwrap(), want);
            assert_eq!(NodeEcdh::ecdh(&*dyn_signer, &other, tw).unwrap(), want);
        }
        let tweaked = secret
            .mul_tweak(&Scalar::from_be_bytes(tweak).unwrap())
            .unwrap();
        assert_eq!(
            NodeEcdh::ecdh(&*km, &other, Some(&tweak)).unwrap(),
            SharedSecret::new(&other, &tweaked).secret_bytes()
        );
        // A tweak outside the curve order is refused, not reduced.
        assert_eq!(
            NodeEcdh::ecdh(&*km, &other, Some(&[0xff; 32])),
            Err(KeyError::TweakOutOfRange)
        );
    }

    #[test]
    fn static_key_adapter_does_bolt8_ecdh_through_the_signer() {
        let km = Arc::new(KeysManager::new(&[5; 32]).unwrap());
        let key = NodeStaticKey(km.clone() as Arc<dyn NodeSigner + Send + Sync>);
        let other = SecretKey::from_slice(&[6; 32]).unwrap();
        assert_eq!(key.public_key(), km.node_id());
        assert_eq!(
            StaticKeyEcdh::ecdh(&key, &other.public_key(SECP256K1)).unwrap(),
            SharedSecret::new(&km.node_id(), &other).secret_bytes()
        );
    }

    #[test]
    fn provider_gives_the_same_keys_for_an_index_and_boxed_signers_print_no_secret() {
        let km = KeysManager::new(&[5; 32]).unwrap();
        let provider: &dyn ChannelSignerProvider = &km;
        let a = provider.channel_signer(3).unwrap();
        let b = provider.channel_signer(3).unwrap();
        let c = provider.channel_signer(4).unwrap();
        assert_eq!(a.pubkeys(), b.pubkeys());
        assert_ne!(a.pubkeys(), c.pubkeys());
        assert_eq!(a.pubkeys(), km.derive_channel_signer(3).unwrap().pubkeys());
        let printed = format!("{a:?}");
        assert!(printed.contains("pubkeys"), "{printed}");
    }

    #[test]
    fn entropy_epochs_give_different_streams_through_a_shared_handle() {
        let km = Arc::new(KeysManager::new(&[5; 32]).unwrap());
        let entropy: Arc<dyn EntropySource + Send + Sync> = km.clone();
        entropy.begin_epoch(1);
        let first = entropy.random_bytes();
        let second = entropy.random_bytes();
        assert_ne!(first, second);
        entropy.begin_epoch(2);
        let other_epoch = entropy.random_bytes();
        assert_ne!(other_epoch, first);
        // The same epoch again gives the same stream: the node must never
        // reuse one, which is why it persists the counter.
        entropy.begin_epoch(1);
        assert_eq!(entropy.random_bytes(), first);
    }
}
