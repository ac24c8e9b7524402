//! Locators, keys and the encrypted justice kit.
//!
//! - Locator: the first 16 bytes of the revoked commitment's txid, in the
//!   txid's internal byte order (`Txid::to_byte_array`).
//! - Key: `SHA256("lightning-sdk watchtower" || txid)` (all 32 bytes of the
//!   txid: the tower cannot decrypt before the commitment is public).
//! - Blob: `version (1) || nonce (12) || ChaCha20-Poly1305(kit) || tag
//!   (16)`, `version` as associated data; the nonce is the client's (a key
//!   is used for one commitment, and the client draws a fresh nonce for
//!   every blob it seals, so a re-signed kit never reuses one).
//! - Kit (version 1): `u8 count`, then each justice transaction as `u32
//!   length || consensus bytes`.

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Transaction, Txid};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The blob format this crate writes and reads.
pub const BLOB_VERSION: u8 = 1;
/// The largest blob a tower accepts (a kit of a commitment with every
/// HTLC slot used fits well inside).
pub const MAX_BLOB_LEN: usize = 65_000;
/// The most transactions in one kit.
pub const MAX_KIT_TXS: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The first 16 bytes of a commitment's txid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Locator(pub [u8; 16]);

impl Locator {
    /// The locator of `txid`.
    pub fn of(txid: &Txid) -> Locator {
        let mut l = [0u8; 16];
        l.copy_from_slice(&txid.to_byte_array()[..16]);
        Locator(l)
    }
}

/// Why a blob could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Too short, or longer than [`MAX_BLOB_LEN`].
    #[error("blob length {0} out of range")]
    Length(usize),
    /// An unknown version byte.
    #[error("unsupported blob version {0}")]
    Version(u8),
    /// The tag did not verify (a wrong txid, or damage).
    #[error("blob does not decrypt")]
    Decrypt,
    /// It decrypted, but the kit is malformed.
    #[error("malformed justice kit: {0}")]
    Malformed(&'static str),
    /// A kit transaction spends something other than the commitment.
    #[error("justice transaction does not spend the breach")]
    NotAJustice,
}

/// What the tower broadcasts for one breach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JusticeKit {
    /// The signed justice transactions, each spending only outputs of the
    /// revoked commitment.
    pub transactions: Vec<Transaction>,
}

fn key_of(txid: &Txid) -> [u8; 32] {
    let mut data = b"lightning-sdk watchtower".to_vec();
    data.extend_from_slice(&txid.to_byte_array());
    sha256::Hash::hash(&data).to_byte_array()
}

impl JusticeKit {
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.transactions.len().min(MAX_KIT_TXS) as u8];
        for tx in self.transactions.iter().take(MAX_KIT_TXS) {
            let b = serialize(tx);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(&b);
        }
        out
    }

    fn decode(data: &[u8]) -> Result<JusticeKit, BlobError> {
        let (&n, mut rest) = data.split_first().ok_or(BlobError::Malformed("empty"))?;
        if usize::from(n) > MAX_KIT_TXS || n == 0 {
            return Err(BlobError::Malformed("transaction count"));
        }
        let mut transactions = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            if rest.len() < 4 {
                return Err(BlobError::Malformed("length"));
            }
            let (len, r) = rest.split_at(4);
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if len > r.len() {
                return Err(BlobError::Malformed("length"));
            }
            let (tx, r) = r.split_at(len);
            transactions.push(deserialize(tx).map_err(|_| BlobError::Malformed("transaction"))?);
            rest = r;
        }
        if !rest.is_empty() {
            return Err(BlobError::Malformed("trailing bytes"));
        }
        Ok(JusticeKit { transactions })
    }

    /// Seals the kit for the commitment `txid` with the client's `nonce`.
    pub fn seal(&self, txid: &Txid, nonce: [u8; NONCE_LEN]) -> Result<Vec<u8>, BlobError> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key_of(txid)));
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &self.encode(),
                    aad: &[BLOB_VERSION],
                },
            )
            .map_err(|_| BlobError::Decrypt)?;
        let mut out = vec![BLOB_VERSION];
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        if out.len() > MAX_BLOB_LEN {
            return Err(BlobError::Length(out.len()));
        }
        Ok(out)
    }

    /// Opens a blob with the breach's txid, and checks every transaction
    /// spends only outputs of `breach` (a client cannot make a tower
    /// broadcast anything else).
    pub fn open(blob: &[u8], breach: &Transaction) -> Result<JusticeKit, BlobError> {
        if blob.len() < 1 + NONCE_LEN + TAG_LEN || blob.len() > MAX_BLOB_LEN {
            return Err(BlobError::Length(blob.len()));
        }
        if blob[0] != BLOB_VERSION {
            return Err(BlobError::Version(blob[0]));
        }
        let txid = breach.compute_txid();
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key_of(&txid)));
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&blob[1..1 + NONCE_LEN]),
                Payload {
                    msg: &blob[1 + NONCE_LEN..],
                    aad: &blob[..1],
                },
            )
            .map_err(|_| BlobError::Decrypt)?;
        let kit = JusticeKit::decode(&plain)?;
        for tx in &kit.transactions {
            if tx.input.is_empty()
                || tx.input.iter().any(|i| {
                    i.previous_output.txid != txid
                        || i.previous_output.vout as usize >= breach.output.len()
                })
            {
                return Err(BlobError::NotAJustice);
            }
        }
        Ok(kit)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    /// A "commitment" with `n` outputs, made unique by `tag`.
    pub(crate) fn commitment(tag: u32, n: usize) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(tag),
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([7; 32]),
                    vout: tag,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: (0..n)
                .map(|i| TxOut {
                    value: Amount::from_sat(10_000 + i as u64),
                    script_pubkey: ScriptBuf::new_op_return([i as u8]),
                })
                .collect(),
        }
    }

    /// A "justice transaction" spending every output of `c`.
    pub(crate) fn justice(c: &Transaction) -> Transaction {
        let txid = c.compute_txid();
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: (0..c.output.len())
                .map(|v| TxIn {
                    previous_output: OutPoint {
                        txid,
                        vout: v as u32,
                    },
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::from_slice(&[vec![1u8; 72]]),
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(9_000),
                script_pubkey: ScriptBuf::new_op_return([0xaa]),
            }],
        }
    }

    #[test]
    fn seal_open_and_every_bad_blob() {
        let c = commitment(1, 3);
        let kit = JusticeKit {
            transactions: vec![justice(&c)],
        };
        let blob = kit.seal(&c.compute_txid(), [5; 12]).unwrap();
        assert_eq!(JusticeKit::open(&blob, &c).unwrap(), kit);
        // Another commitment's txid cannot open it.
        assert_eq!(
            JusticeKit::open(&blob, &commitment(2, 3)),
            Err(BlobError::Decrypt)
        );
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 1;
            assert!(JusticeKit::open(&b, &c).is_err());
        }
        for n in 0..blob.len() {
            assert!(JusticeKit::open(&blob[..n], &c).is_err());
        }
        // A kit that spends something else is refused.
        let other = JusticeKit {
            transactions: vec![justice(&commitment(9, 1))],
        };
        let lying = other.seal(&c.compute_txid(), [6; 12]).unwrap();
        assert_eq!(JusticeKit::open(&lying, &c), Err(BlobError::NotAJustice));
    }
}
