//! The per-channel signer: [`ChannelSigner`] and its in-memory
//! implementation [`InMemorySigner`].
//!
//! The signer is the last line of defence against losing funds by
//! publishing an old state. It tracks how many holder commitment secrets it
//! has released: once the secret of holder commitment `n` is out, the signer
//! refuses forever to sign holder commitment `n` (or its HTLC
//! transactions), and it releases secrets only in order.

use bitcoin::ecdsa;
use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::Transaction;
use std::sync::Mutex;

use super::derivation::{
    derive_private_key, derive_private_key_with_basepoint, derive_revocation_private_key,
    per_commitment_point,
};
use super::shachain::{build_commitment_secret, commitment_number_to_index};
use super::{ChannelPublicKeys, KeyError};
use crate::transactions::commitment::{CommitmentHtlc, CommitmentKeys, CommitmentTransaction};
use crate::transactions::htlc::{build_htlc_transaction, remote_htlc_sighash_type};
use crate::transactions::sweep::{sign_sweep_input, SpendPath, SpendableOutput};
use crate::transactions::{scripts, sign_p2wsh_input, TxError};

/// Why a signer refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// Holder commitment `commitment_number` was revoked (its secret was
    /// released); signing it could hand the counterparty all funds.
    #[error("holder commitment {commitment_number} is revoked (next unrevoked: {next_unrevoked})")]
    RevokedHolderCommitment {
        /// The commitment asked for.
        commitment_number: u64,
        /// The lowest unrevoked holder commitment number.
        next_unrevoked: u64,
    },
    /// A secret was requested out of order (secrets are released one by one,
    /// commitment 0 first).
    #[error("per-commitment secret {requested} requested out of order (next: {next})")]
    SecretOutOfOrder {
        /// The commitment number asked for.
        requested: u64,
        /// The only number that may be released next.
        next: u64,
    },
    /// More than 2^48 commitments.
    #[error("commitment number {0} is beyond 2^48 - 1")]
    CommitmentNumberOutOfRange(u64),
    /// The counterparty's basepoints were not provided yet.
    #[error("counterparty channel keys not provided")]
    MissingCounterpartyKeys,
    /// The transaction to sign does not use this channel's keys.
    #[error("transaction does not match this channel: {0}")]
    Mismatch(&'static str),
    /// Key derivation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Building or hashing the transaction failed.
    #[error(transparent)]
    Tx(#[from] TxError),
}

/// Signatures for a counterparty's commitment (BOLT 2 `commitment_signed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterpartyCommitmentSignatures {
    /// Our funding signature on their commitment.
    pub commitment_signature: ecdsa::Signature,
    /// Our signature on each of their HTLC transactions, in output order
    /// (`SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` with `option_anchors`).
    pub htlc_signatures: Vec<ecdsa::Signature>,
}

/// Per-channel signing operations. A remote signer or HSM can implement it.
///
/// Commitment numbers count up from 0 (BOLT 2); the signer converts to the
/// per-commitment secret index (`2^48 - 1 - n`) itself.
pub trait ChannelSigner {
    /// Our five public basepoints.
    fn pubkeys(&self) -> ChannelPublicKeys;

    /// Give the counterparty's basepoints (once known from
    /// `open_channel`/`accept_channel`), needed to check what is signed.
    fn provide_counterparty_keys(&mut self, keys: ChannelPublicKeys);

    /// Our `per_commitment_point` for holder commitment `commitment_number`.
    fn holder_per_commitment_point(&self, commitment_number: u64)
        -> Result<PublicKey, SignerError>;

    /// Release the per-commitment secret of holder commitment
    /// `commitment_number`, revoking it. Only the next unrevoked number
    /// may be released; an already released one is returned again (for
    /// `revoke_and_ack` retransmission).
    fn release_holder_commitment_secret(
        &mut self,
        commitment_number: u64,
    ) -> Result<[u8; 32], SignerError>;

    /// The lowest holder commitment number that is not revoked.
    fn next_unrevoked_holder_commitment(&self) -> u64;

    /// Raise the revocation counter to `next_unrevoked` when a channel is
    /// restored from its persisted record (every holder commitment below it
    /// was revoked). It never moves down, so a stale record cannot make the
    /// signer sign a revoked commitment again.
    fn restore_revocation_state(&mut self, next_unrevoked: u64);

    /// The keys of the counterparty's commitment at its
    /// `per_commitment_point` (BOLT 3, "Key Derivation"), derived by the
    /// signer from the two sides' basepoints.
    ///
    /// Build the counterparty's commitment with these keys:
    /// [`ChannelSigner::sign_counterparty_commitment`] refuses a commitment
    /// whose keys differ from the signer's own derivation, and a signer may
    /// remember the keys it handed out here so that this check costs no
    /// second derivation.
    fn counterparty_commitment_keys(
        &self,
        per_commitment_point: &PublicKey,
    ) -> Result<CommitmentKeys, SignerError>;

    /// Sign the counterparty's commitment and its HTLC transactions.
    fn sign_counterparty_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<CounterpartyCommitmentSignatures, SignerError>;

    /// Our funding signature on our own commitment, to broadcast it.
    /// Refused for a revoked commitment.
    fn sign_holder_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<ecdsa::Signature, SignerError>;

    /// Our (SIGHASH_ALL) signature on one of our HTLC transactions.
    /// Refused for a revoked commitment.
    fn sign_holder_htlc_transaction(
        &self,
        commitment: &CommitmentTransaction,
        htlc: &CommitmentHtlc,
        htlc_tx: &Transaction,
    ) -> Result<ecdsa::Signature, SignerError>;

    /// Our signature on a (legacy or simple) closing transaction.
    fn sign_closing_transaction(
        &self,
        tx: &Transaction,
        funding_amount: bitcoin::Amount,
    ) -> Result<ecdsa::Signature, SignerError>;

    /// Sign one input of a spending transaction and set its witness:
    /// - [`SpendPath::RevokedToLocal`]/[`SpendPath::RevokedHtlc`] (justice)
    ///   need the counterparty's revealed `per_commitment_secret`;
    /// - [`SpendPath::DelayedToLocal`] needs our `per_commitment_point`;
    /// - [`SpendPath::HtlcPreimageOnRemote`]/[`SpendPath::HtlcTimeoutOnRemote`]
    ///   need the counterparty's `per_commitment_point`;
    /// - `to_remote` and anchor paths need nothing.
    fn sign_spend_input(
        &self,
        tx: &mut Transaction,
        input_index: usize,
        output: &SpendableOutput,
        commitment_secret_or_point: SpendKeyMaterial,
    ) -> Result<ecdsa::Signature, SignerError>;

    /// Our `bitcoin_signature` (the funding key's) over `hash`, the
    /// double-SHA256 of a `channel_announcement` from offset 256 (BOLT 7,
    /// "The `announcement_signatures` Message"). The default refuses: a
    /// signer that does not implement it leaves its channels unannounced.
    fn sign_channel_announcement(
        &self,
        hash: &[u8; 32],
    ) -> Result<bitcoin::secp256k1::ecdsa::Signature, SignerError> {
        let _ = hash;
        Err(SignerError::Mismatch(
            "channel announcements are not supported",
        ))
    }
}

/// What a spending signature is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendKeyMaterial {
    /// The counterparty's revealed per-commitment secret (justice).
    CounterpartySecret([u8; 32]),
    /// A per-commitment point (ours for delayed outputs, theirs for HTLC
    /// claims on their commitment).
    Point(PublicKey),
    /// Nothing (static keys: `to_remote`, anchors).
    None,
}

/// The channel's secret keys, held in memory.
pub struct InMemorySigner {
    funding_key: SecretKey,
    revocation_base_key: SecretKey,
    payment_key: SecretKey,
    delayed_payment_base_key: SecretKey,
    htlc_base_key: SecretKey,
    commitment_seed: [u8; 32],
    pubkeys: ChannelPublicKeys,
    counterparty: Option<ChannelPublicKeys>,
    next_unrevoked: u64,
    /// The counterparty commitment keys this signer derived last (see
    /// [`ChannelSigner::counterparty_commitment_keys`]): the check before
    /// signing compares against them instead of deriving again. Only keys
    /// the signer derived itself are stored here.
    derived: Mutex<Option<CommitmentKeys>>,
}

impl core::fmt::Debug for InMemorySigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InMemorySigner")
            .field("pubkeys", &self.pubkeys)
            .field("next_unrevoked", &self.next_unrevoked)
            .finish_non_exhaustive()
    }
}

impl InMemorySigner {
    /// A signer from its six secrets.
    pub fn new(
        funding_key: SecretKey,
        revocation_base_key: SecretKey,
        payment_key: SecretKey,
        delayed_payment_base_key: SecretKey,
        htlc_base_key: SecretKey,
        commitment_seed: [u8; 32],
    ) -> Self {
        let pk = |k: &SecretKey| PublicKey::from_secret_key(SECP256K1, k);
        InMemorySigner {
            pubkeys: ChannelPublicKeys {
                funding_pubkey: pk(&funding_key),
                revocation_basepoint: pk(&revocation_base_key),
                payment_basepoint: pk(&payment_key),
                delayed_payment_basepoint: pk(&delayed_payment_base_key),
                htlc_basepoint: pk(&htlc_base_key),
            },
            funding_key,
            revocation_base_key,
            payment_key,
            delayed_payment_base_key,
            htlc_base_key,
            commitment_seed,
            counterparty: None,
            next_unrevoked: 0,
            derived: Mutex::new(None),
        }
    }

    fn secret(&self, commitment_number: u64) -> Result<[u8; 32], SignerError> {
        let idx = commitment_number_to_index(commitment_number)
            .ok_or(SignerError::CommitmentNumberOutOfRange(commitment_number))?;
        Ok(build_commitment_secret(&self.commitment_seed, idx))
    }

    /// The counterparty's commitment keys at `point`: from the memo when it
    /// holds that point, else derived (and remembered).
    fn derive_counterparty_keys(&self, point: &PublicKey) -> Result<CommitmentKeys, SignerError> {
        // A poisoned lock only loses the memo; the keys are derived again.
        let memo = self.derived.lock().ok().and_then(|m| *m);
        if let Some(keys) = memo.filter(|k| k.per_commitment_point == *point) {
            return Ok(keys);
        }
        let keys = CommitmentKeys::derive(point, self.counterparty()?, &self.pubkeys)?;
        if let Ok(mut m) = self.derived.lock() {
            *m = Some(keys);
        }
        Ok(keys)
    }

    fn counterparty(&self) -> Result<&ChannelPublicKeys, SignerError> {
        self.counterparty
            .as_ref()
            .ok_or(SignerError::MissingCounterpartyKeys)
    }

    fn check_not_revoked(&self, commitment_number: u64) -> Result<(), SignerError> {
        if commitment_number < self.next_unrevoked {
            return Err(SignerError::RevokedHolderCommitment {
                commitment_number,
                next_unrevoked: self.next_unrevoked,
            });
        }
        Ok(())
    }

    /// Check that `commitment` is held by us at `commitment_number` and uses
    /// this channel's keys.
    fn check_holder(&self, commitment: &CommitmentTransaction) -> Result<(), SignerError> {
        self.check_not_revoked(commitment.commitment_number)?;
        let cp = self.counterparty()?;
        let point = self.holder_per_commitment_point(commitment.commitment_number)?;
        if CommitmentKeys::derive(&point, &self.pubkeys, cp)? != commitment.keys {
            return Err(SignerError::Mismatch("holder commitment keys"));
        }
        self.check_funding(commitment, cp)
    }

    fn check_funding(
        &self,
        commitment: &CommitmentTransaction,
        cp: &ChannelPublicKeys,
    ) -> Result<(), SignerError> {
        if commitment.funding_script
            != scripts::funding_script(&self.pubkeys.funding_pubkey, &cp.funding_pubkey)
        {
            return Err(SignerError::Mismatch("funding script"));
        }
        Ok(())
    }

    fn sign_funding(
        &self,
        tx: &Transaction,
        commitment: &CommitmentTransaction,
    ) -> Result<ecdsa::Signature, SignerError> {
        Ok(sign_p2wsh_input(
            tx,
            0,
            &commitment.funding_script,
            commitment.funding_amount,
            EcdsaSighashType::All,
            &self.funding_key,
        )?)
    }
}

impl ChannelSigner for InMemorySigner {
    fn sign_channel_announcement(
        &self,
        hash: &[u8; 32],
    ) -> Result<bitcoin::secp256k1::ecdsa::Signature, SignerError> {
        Ok(bitcoin::secp256k1::SECP256K1.sign_ecdsa(
            &bitcoin::secp256k1::Message::from_digest(*hash),
            &self.funding_key,
        ))
    }

    fn pubkeys(&self) -> ChannelPublicKeys {
        self.pubkeys
    }

    fn provide_counterparty_keys(&mut self, keys: ChannelPublicKeys) {
        self.counterparty = Some(keys);
        // Keys derived from other basepoints must not satisfy the check.
        if let Ok(m) = self.derived.get_mut() {
            *m = None;
        }
    }

    fn counterparty_commitment_keys(
        &self,
        per_commitment_point: &PublicKey,
    ) -> Result<CommitmentKeys, SignerError> {
        self.derive_counterparty_keys(per_commitment_point)
    }

    fn holder_per_commitment_point(
        &self,
        commitment_number: u64,
    ) -> Result<PublicKey, SignerError> {
        Ok(per_commitment_point(&self.secret(commitment_number)?)?)
    }

    fn release_holder_commitment_secret(
        &mut self,
        commitment_number: u64,
    ) -> Result<[u8; 32], SignerError> {
        if commitment_number > self.next_unrevoked {
            return Err(SignerError::SecretOutOfOrder {
                requested: commitment_number,
                next: self.next_unrevoked,
            });
        }
        let secret = self.secret(commitment_number)?;
        if commitment_number == self.next_unrevoked {
            self.next_unrevoked += 1;
        }
        Ok(secret)
    }

    fn next_unrevoked_holder_commitment(&self) -> u64 {
        self.next_unrevoked
    }

    fn restore_revocation_state(&mut self, next_unrevoked: u64) {
        self.next_unrevoked = self.next_unrevoked.max(next_unrevoked);
    }

    fn sign_counterparty_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<CounterpartyCommitmentSignatures, SignerError> {
        let cp = self.counterparty()?;
        let point = commitment.keys.per_commitment_point;
        if self.derive_counterparty_keys(&point)? != commitment.keys {
            return Err(SignerError::Mismatch("counterparty commitment keys"));
        }
        self.check_funding(commitment, cp)?;
        let commitment_signature = self.sign_funding(&commitment.tx, commitment)?;
        let mut htlc_signatures = Vec::with_capacity(commitment.htlcs.len());
        if commitment.htlcs.is_empty() {
            return Ok(CounterpartyCommitmentSignatures {
                commitment_signature,
                htlc_signatures,
            });
        }
        // Our basepoint is known: no multiplication to recompute it.
        let htlc_key = derive_private_key_with_basepoint(
            &self.htlc_base_key,
            &self.pubkeys.htlc_basepoint,
            &point,
        )?;
        let txid = commitment.txid();
        let sighash_type = remote_htlc_sighash_type(commitment.channel_type);
        for h in &commitment.htlcs {
            let htx = build_htlc_transaction(txid, commitment, h)?;
            htlc_signatures.push(sign_p2wsh_input(
                &htx,
                0,
                &h.witness_script,
                h.amount,
                sighash_type,
                &htlc_key,
            )?);
        }
        Ok(CounterpartyCommitmentSignatures {
            commitment_signature,
            htlc_signatures,
        })
    }

    fn sign_holder_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<ecdsa::Signature, SignerError> {
        self.check_holder(commitment)?;
        self.sign_funding(&commitment.tx, commitment)
    }

    fn sign_holder_htlc_transaction(
        &self,
        commitment: &CommitmentTransaction,
        htlc: &CommitmentHtlc,
        htlc_tx: &Transaction,
    ) -> Result<ecdsa::Signature, SignerError> {
        self.check_holder(commitment)?;
        if !commitment.htlcs.contains(htlc) {
            return Err(SignerError::Mismatch("HTLC not in commitment"));
        }
        let key = derive_private_key(&self.htlc_base_key, &commitment.keys.per_commitment_point)?;
        Ok(sign_p2wsh_input(
            htlc_tx,
            0,
            &htlc.witness_script,
            htlc.amount,
            EcdsaSighashType::All,
            &key,
        )?)
    }

    fn sign_closing_transaction(
        &self,
        tx: &Transaction,
        funding_amount: bitcoin::Amount,
    ) -> Result<ecdsa::Signature, SignerError> {
        let cp = self.counterparty()?;
        let script = scripts::funding_script(&self.pubkeys.funding_pubkey, &cp.funding_pubkey);
        Ok(sign_p2wsh_input(
            tx,
            0,
            &script,
            funding_amount,
            EcdsaSighashType::All,
            &self.funding_key,
        )?)
    }

    fn sign_spend_input(
        &self,
        tx: &mut Transaction,
        input_index: usize,
        output: &SpendableOutput,
        material: SpendKeyMaterial,
    ) -> Result<ecdsa::Signature, SignerError> {
        let key = match (output.path, material) {
            (
                SpendPath::RevokedToLocal | SpendPath::RevokedHtlc { .. },
                SpendKeyMaterial::CounterpartySecret(s),
            ) => {
                let key = derive_revocation_private_key(&self.revocation_base_key, &s)?;
                let pubkey = PublicKey::from_secret_key(SECP256K1, &key).serialize();
                let matches = match output.path {
                    SpendPath::RevokedHtlc { revocation_pubkey } => {
                        revocation_pubkey.serialize() == pubkey
                    }
                    // OP_IF <revocationpubkey> ...
                    _ => output.witness_script.as_bytes().get(2..35) == Some(&pubkey[..]),
                };
                if !matches {
                    return Err(SignerError::Mismatch("revocation key"));
                }
                key
            }
            (SpendPath::DelayedToLocal { .. }, SpendKeyMaterial::Point(p)) => {
                derive_private_key(&self.delayed_payment_base_key, &p)?
            }
            (
                SpendPath::HtlcPreimageOnRemote { .. } | SpendPath::HtlcTimeoutOnRemote { .. },
                SpendKeyMaterial::Point(p),
            ) => derive_private_key(&self.htlc_base_key, &p)?,
            (
                SpendPath::ToRemoteP2wpkh { .. } | SpendPath::ToRemoteAnchors,
                SpendKeyMaterial::None,
            ) => self.payment_key,
            (SpendPath::AnchorWithFundingKey, SpendKeyMaterial::None) => self.funding_key,
            _ => {
                return Err(SignerError::Mismatch(
                    "key material does not fit the spend path",
                ))
            }
        };
        Ok(sign_sweep_input(tx, input_index, output, &key)?)
    }
}
