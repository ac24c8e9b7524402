//! BOLT 12 "Signature Calculation": the Merkle root of a TLV stream and
//! the BIP 340 signature over it.
//!
//! Every TLV outside the signature range (types 240 to 1000) is a leaf
//! `H("LnLeaf", tlv)` paired with a nonce leaf
//! `H("LnNonce" || first-tlv, type)`; pairs, then pairs of pairs, are
//! joined by `H("LnBranch", lesser || greater)`, the deepest subtrees on
//! the lowest types. A signature field `f` of message `m` signs
//! `H("lightning" || m || f, root)`.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use secp256k1::schnorr::Signature;
use secp256k1::{Keypair, Message, XOnlyPublicKey, SECP256K1};

use crate::bigsize::BigSize;
use crate::codec::{DecodeError, Reader};
use crate::Encode;

/// The first and last types of the signature range (inclusive).
pub const SIGNATURE_TYPES: core::ops::RangeInclusive<u64> = 240..=1000;

/// `H(tag, msg) = SHA256(SHA256(tag) || SHA256(tag) || msg)` (BIP 340).
pub fn tagged_hash(tag: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut e = tag_engine(tag);
    e.input(msg);
    sha256::Hash::from_engine(e).to_byte_array()
}

fn tag_engine(tag: &[u8]) -> sha256::HashEngine {
    let t = sha256::Hash::hash(tag);
    let mut e = sha256::Hash::engine();
    e.input(t.as_byte_array());
    e.input(t.as_byte_array());
    e
}

fn branch(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo);
    buf[32..].copy_from_slice(hi);
    tagged_hash(b"LnBranch", &buf)
}

/// Each record of a TLV stream as `(type, whole record bytes)`; the
/// framing is checked (a truncated record is an error).
///
/// ```
/// use lightning_wire::bolt12::merkle::records;
/// assert_eq!(records(&[1, 1, 7, 3, 0]).unwrap(), vec![(1, &[1u8, 1, 7][..]), (3, &[3u8, 0][..])]);
/// assert!(records(&[1, 2, 7]).is_err());
/// ```
pub fn records(stream: &[u8]) -> Result<Vec<(u64, &[u8])>, DecodeError> {
    let mut r = Reader::new(stream);
    let mut out = Vec::new();
    while !r.is_empty() {
        let start = stream.len() - r.remaining();
        let BigSize(ty) = r.read::<BigSize>()?;
        let BigSize(len) = r.read::<BigSize>()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::invalid("TLV length"))?;
        r.read_bytes(len)?;
        let end = stream.len() - r.remaining();
        out.push((ty, &stream[start..end]));
    }
    Ok(out)
}

/// The Merkle root of `stream`'s records outside the signature range.
///
/// `None` if no record is left to hash (an empty stream has no root).
pub fn merkle_root(stream: &[u8]) -> Result<Option<[u8; 32]>, DecodeError> {
    let recs = records(stream)?;
    let Some(first) = recs.first().map(|(_, bytes)| *bytes) else {
        return Ok(None);
    };
    let nonce_engine = {
        let mut e = tag_engine(&[b"LnNonce".as_slice(), first].concat());
        // The engine is cloned per leaf; only the message differs.
        e.input(&[]);
        e
    };
    let leaf_engine = tag_engine(b"LnLeaf");
    let mut level: Vec<[u8; 32]> = recs
        .iter()
        .filter(|(ty, _)| !SIGNATURE_TYPES.contains(ty))
        .map(|(ty, bytes)| {
            let mut l = leaf_engine.clone();
            l.input(bytes);
            let leaf = sha256::Hash::from_engine(l).to_byte_array();
            let mut n = nonce_engine.clone();
            n.input(&BigSize(*ty).to_bytes());
            let nonce = sha256::Hash::from_engine(n).to_byte_array();
            branch(&leaf, &nonce)
        })
        .collect();
    if level.is_empty() {
        return Ok(None);
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|c| {
                if c.len() == 2 {
                    branch(&c[0], &c[1])
                } else {
                    c[0]
                }
            })
            .collect();
    }
    Ok(Some(level[0]))
}

/// The digest a signature field signs:
/// `H("lightning" || message_name || field_name, root)`.
pub fn signature_digest(message_name: &str, field_name: &str, root: &[u8; 32]) -> [u8; 32] {
    let tag = [
        b"lightning".as_slice(),
        message_name.as_bytes(),
        field_name.as_bytes(),
    ]
    .concat();
    tagged_hash(&tag, root)
}

/// Signs `stream` (its records outside the signature range) as field
/// `field_name` of `message_name`.
pub fn sign(
    message_name: &str,
    field_name: &str,
    stream: &[u8],
    keypair: &Keypair,
) -> Result<Signature, DecodeError> {
    let root = merkle_root(stream)?.ok_or_else(|| DecodeError::invalid("nothing to sign"))?;
    let digest = signature_digest(message_name, field_name, &root);
    Ok(SECP256K1.sign_schnorr_no_aux_rand(&Message::from_digest(digest), keypair))
}

/// Whether `sig` is `key`'s BIP 340 signature of `stream` as field
/// `field_name` of `message_name`.
pub fn verify(
    message_name: &str,
    field_name: &str,
    stream: &[u8],
    sig: &Signature,
    key: &XOnlyPublicKey,
) -> bool {
    let Ok(Some(root)) = merkle_root(stream) else {
        return false;
    };
    let digest = signature_digest(message_name, field_name, &root);
    SECP256K1
        .verify_schnorr(sig, &Message::from_digest(digest), key)
        .is_ok()
}
