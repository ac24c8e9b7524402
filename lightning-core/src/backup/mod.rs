//! Static channel backups (issue 21): what a node needs, beside its seed,
//! to get its channels' funds back after losing its store.
//!
//! A backup names each channel's peer, funding outpoint and value, channel
//! type and keys index ([`ChannelBackup`]); no commitment state, so it
//! stays valid for the channel's whole life and changes only when a channel
//! opens or closes. Recovery cannot resume a channel: it asks the peer to
//! close (BOLT 2 `channel_reestablish` with `next_commitment_number` 0, the
//! current spec's "we lost state" signal, plus an `error`), and sweeps our
//! `to_remote` output of the commitment the peer broadcasts. With
//! `option_static_remotekey` (and `option_anchors`) that output pays our
//! `payment_basepoint` directly, so it needs no per-commitment data. See
//! ARCHITECTURE.md, "Backups and watchtowers".
//!
//! - [`format`](mod@format): the plaintext (TLV streams, versioned);
//! - [`crypto`]: the key (ECDH of the node key with a fixed point, then
//!   HKDF-SHA256 with a domain label) and the ChaCha20-Poly1305 envelope;
//! - [`recovery`]: a recovered channel's record and its `to_remote` sweep.

pub mod crypto;
pub mod format;
pub mod recovery;

use bitcoin::secp256k1::PublicKey;
use lightning_wire::types::ChainHash;

pub use crypto::{BackupKey, Domain};
pub use format::{ChannelBackup, StaticChannelBackup};
pub use recovery::RecoveryRecord;

/// The envelope version this library writes and the highest it reads.
pub const BACKUP_VERSION: u8 = 1;

/// Why a backup could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Shorter than the smallest envelope.
    #[error("backup truncated: {len} bytes")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// Not a backup of this kind (channel backup file or peer storage).
    #[error("not a backup (bad magic)")]
    BadMagic,
    /// A version this library cannot read.
    #[error("unsupported backup version {0}")]
    UnsupportedVersion(u8),
    /// The authentication tag did not verify: the data was changed, or it
    /// was sealed under another seed's key.
    #[error("backup does not decrypt: corrupted, or made by another seed")]
    Decrypt,
    /// It decrypted, but its content is not a valid backup.
    #[error("malformed backup: {0}")]
    Malformed(String),
    /// It decrypted, but names another node (cannot happen without the
    /// same key; kept as a check).
    #[error("backup of node {found}, not ours ({expected})")]
    WrongNode {
        /// Our node id.
        expected: Box<PublicKey>,
        /// The backup's.
        found: Box<PublicKey>,
    },
    /// A backup of another chain.
    #[error("backup of another chain")]
    WrongNetwork,
    /// Older than what the node already restored.
    #[error("backup sequence {got} is older than the restored {have}")]
    Older {
        /// The sequence already restored.
        have: u64,
        /// This backup's.
        got: u64,
    },
    /// The key could not be derived (the node signer refused).
    #[error("backup key: {0}")]
    Key(String),
}

/// Seals `backup` under `key`, its plaintext padded to at least `pad_to`
/// bytes.
pub fn seal(
    key: &BackupKey,
    backup: &StaticChannelBackup,
    pad_to: usize,
) -> Result<Vec<u8>, BackupError> {
    key.seal(BACKUP_VERSION, &backup.encode(pad_to))
}

/// Opens and checks a sealed backup: it must decrypt under `key` and name
/// `node_id` on `chain`.
pub fn open(
    key: &BackupKey,
    data: &[u8],
    node_id: &PublicKey,
    chain: &ChainHash,
) -> Result<StaticChannelBackup, BackupError> {
    let (_version, plain) = key.open(data, BACKUP_VERSION)?;
    let backup = StaticChannelBackup::decode(&plain)?;
    if backup.node_id != *node_id {
        return Err(BackupError::WrongNode {
            expected: Box::new(*node_id),
            found: Box::new(backup.node_id),
        });
    }
    if backup.chain_hash != *chain {
        return Err(BackupError::WrongNetwork);
    }
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_backup_opens_only_for_its_node_and_chain() {
        let b = format::tests::sample(2);
        let key = BackupKey::from_secret(&[3; 32], Domain::ChannelBackup);
        let sealed = seal(&key, &b, 0).unwrap();
        assert_eq!(open(&key, &sealed, &b.node_id, &b.chain_hash).unwrap(), b);
        let other = b.channels[0].peer;
        assert!(matches!(
            open(&key, &sealed, &other, &b.chain_hash),
            Err(BackupError::WrongNode { .. })
        ));
        let main = ChainHash::for_network(bitcoin::Network::Bitcoin);
        assert_eq!(
            open(&key, &sealed, &b.node_id, &main),
            Err(BackupError::WrongNetwork)
        );
    }
}
