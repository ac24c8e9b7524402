//! Per-commitment key derivation (BOLT 3, "Key Derivation").
//!
//! Every commitment transaction uses keys tweaked by that commitment's
//! `per_commitment_point`, so that a watcher cannot link commitments to one
//! another and so that publishing a revoked commitment hands the
//! counterparty the key that takes everything.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::{PublicKey, Scalar, SecretKey, SECP256K1};

use super::KeyError;

/// SHA256(a || b) as a scalar tweak.
fn tweak(a: &PublicKey, b: &PublicKey) -> Result<Scalar, KeyError> {
    let mut engine = sha256::Hash::engine();
    engine.input(&a.serialize());
    engine.input(&b.serialize());
    let hash = sha256::Hash::from_engine(engine);
    Scalar::from_be_bytes(hash.to_byte_array()).map_err(|_| KeyError::TweakOutOfRange)
}

/// `per_commitment_point = per_commitment_secret * G`.
pub fn per_commitment_point(per_commitment_secret: &[u8; 32]) -> Result<PublicKey, KeyError> {
    let secret =
        SecretKey::from_slice(per_commitment_secret).map_err(|_| KeyError::InvalidSecret)?;
    Ok(PublicKey::from_secret_key(SECP256K1, &secret))
}

/// `pubkey = basepoint + SHA256(per_commitment_point || basepoint) * G`.
///
/// BOLT 3, "`localpubkey`, `local_htlcpubkey`, `remote_htlcpubkey`,
/// `local_delayedpubkey`, and `remote_delayedpubkey` Derivation". Use it with
/// the `payment_basepoint`, `htlc_basepoint` or `delayed_payment_basepoint`.
///
/// ```
/// use lightning_core::keys::derivation::derive_public_key;
/// use bitcoin::secp256k1::PublicKey;
/// use std::str::FromStr;
/// let basepoint = PublicKey::from_str("036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2fe6838a95b216691468e2").unwrap();
/// let point = PublicKey::from_str("025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486").unwrap();
/// let key = derive_public_key(&basepoint, &point).unwrap();
/// assert_eq!(key.to_string(), "0235f2dbfaa89b57ec7b055afe29849ef7ddfeb1cefdb9ebdc43f5494984db29e5");
/// ```
pub fn derive_public_key(
    basepoint: &PublicKey,
    per_commitment_point: &PublicKey,
) -> Result<PublicKey, KeyError> {
    let t = tweak(per_commitment_point, basepoint)?;
    basepoint
        .add_exp_tweak(SECP256K1, &t)
        .map_err(|_| KeyError::TweakOutOfRange)
}

/// `privkey = basepoint_secret + SHA256(per_commitment_point || basepoint)`.
pub fn derive_private_key(
    basepoint_secret: &SecretKey,
    per_commitment_point: &PublicKey,
) -> Result<SecretKey, KeyError> {
    let basepoint = PublicKey::from_secret_key(SECP256K1, basepoint_secret);
    derive_private_key_with_basepoint(basepoint_secret, &basepoint, per_commitment_point)
}

/// [`derive_private_key`] for a caller that already holds the basepoint
/// (`basepoint_secret * G`), sparing one point multiplication.
pub(crate) fn derive_private_key_with_basepoint(
    basepoint_secret: &SecretKey,
    basepoint: &PublicKey,
    per_commitment_point: &PublicKey,
) -> Result<SecretKey, KeyError> {
    let t = tweak(per_commitment_point, basepoint)?;
    basepoint_secret
        .add_tweak(&t)
        .map_err(|_| KeyError::TweakOutOfRange)
}

/// `revocationpubkey = revocation_basepoint * SHA256(revocation_basepoint || per_commitment_point)
///  + per_commitment_point * SHA256(per_commitment_point || revocation_basepoint)`.
///
/// BOLT 3, "`revocationpubkey` Derivation".
pub fn derive_revocation_public_key(
    revocation_basepoint: &PublicKey,
    per_commitment_point: &PublicKey,
) -> Result<PublicKey, KeyError> {
    let t_base = tweak(revocation_basepoint, per_commitment_point)?;
    let t_point = tweak(per_commitment_point, revocation_basepoint)?;
    let a = revocation_basepoint
        .mul_tweak(SECP256K1, &t_base)
        .map_err(|_| KeyError::TweakOutOfRange)?;
    let b = per_commitment_point
        .mul_tweak(SECP256K1, &t_point)
        .map_err(|_| KeyError::TweakOutOfRange)?;
    a.combine(&b).map_err(|_| KeyError::TweakOutOfRange)
}

/// `revocationprivkey = revocation_basepoint_secret * SHA256(revocation_basepoint || per_commitment_point)
///  + per_commitment_secret * SHA256(per_commitment_point || revocation_basepoint)`.
///
/// Computable only once the counterparty has revealed `per_commitment_secret`.
pub fn derive_revocation_private_key(
    revocation_basepoint_secret: &SecretKey,
    per_commitment_secret: &[u8; 32],
) -> Result<SecretKey, KeyError> {
    let pcs = SecretKey::from_slice(per_commitment_secret).map_err(|_| KeyError::InvalidSecret)?;
    let revocation_basepoint = PublicKey::from_secret_key(SECP256K1, revocation_basepoint_secret);
    let point = PublicKey::from_secret_key(SECP256K1, &pcs);
    let t_base = tweak(&revocation_basepoint, &point)?;
    let t_point = tweak(&point, &revocation_basepoint)?;
    let a = revocation_basepoint_secret
        .mul_tweak(&t_base)
        .map_err(|_| KeyError::TweakOutOfRange)?;
    let b = pcs
        .mul_tweak(&t_point)
        .map_err(|_| KeyError::TweakOutOfRange)?;
    a.add_tweak(&Scalar::from(b))
        .map_err(|_| KeyError::TweakOutOfRange)
}

/// The `remotepubkey` of a commitment transaction (BOLT 3, "`remotepubkey`
/// Derivation"): with `option_static_remotekey` (and therefore with
/// `option_anchors`) it is the remote node's `payment_basepoint` itself.
pub fn static_remote_pubkey(remote_payment_basepoint: &PublicKey) -> PublicKey {
    *remote_payment_basepoint
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for callers that hold the basepoint gives the same key
    /// as BOLT 3's `privkey = basepoint_secret + SHA256(per_commitment_point
    /// || basepoint)`.
    #[test]
    fn private_key_with_known_basepoint_is_the_same() {
        let secret = SecretKey::from_slice(&[0x5a; 32]).unwrap();
        let basepoint = PublicKey::from_secret_key(SECP256K1, &secret);
        let point =
            PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[7; 32]).unwrap());
        let key = derive_private_key_with_basepoint(&secret, &basepoint, &point).unwrap();
        assert_eq!(key, derive_private_key(&secret, &point).unwrap());
        assert_eq!(
            PublicKey::from_secret_key(SECP256K1, &key),
            derive_public_key(&basepoint, &point).unwrap()
        );
    }
}
