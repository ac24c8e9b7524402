//! The node's seed at rest: a BIP39 mnemonic's entropy, encrypted with a
//! password (Argon2id key derivation, ChaCha20-Poly1305), in
//! `<datadir>/seed.json`.
//!
//! `create` draws 32 bytes from the OS (a 24-word mnemonic, shown once);
//! `unlock` decrypts them. A wrong password fails the Poly1305 tag:
//! [`SeedError::WrongPassword`]. The node's 32-byte seed is the first half
//! of the BIP39 seed of the mnemonic with an empty passphrase, so the
//! words alone restore the node.

use std::io::Read;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

/// The file name inside the data directory.
pub const SEED_FILE: &str = "seed.json";

/// Why the seed could not be created or unlocked.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// `create` over an existing seed.
    #[error("a seed already exists at {0}")]
    Exists(PathBuf),
    /// `unlock` without a seed.
    #[error("no seed at {0}: run `lnnode create` first")]
    Missing(PathBuf),
    /// The password does not decrypt the seed.
    #[error("wrong password")]
    WrongPassword,
    /// The file is not a seed file.
    #[error("corrupt seed file: {0}")]
    Corrupt(String),
    /// Reading or writing the file.
    #[error("seed file: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Serialize, Deserialize)]
struct SeedFile {
    version: u32,
    kdf: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

/// Argon2id memory cost (KiB), iterations, lanes: OWASP's second
/// recommended set.
const ARGON2: (u32, u32, u32) = (19 * 1024, 2, 1);

fn random<const N: usize>() -> Result<[u8; N], SeedError> {
    let mut out = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut out)?;
    Ok(out)
}

fn derive_key(password: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], SeedError> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|e| SeedError::Corrupt(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(password.as_bytes(), salt, &mut key)
        .map_err(|e| SeedError::Corrupt(format!("argon2: {e}")))?;
    Ok(key)
}

/// The node seed of a mnemonic (see the module documentation).
pub fn node_seed(mnemonic: &bip39::Mnemonic) -> [u8; 32] {
    let full = mnemonic.to_seed_normalized("");
    let mut out = [0u8; 32];
    out.copy_from_slice(&full[..32]);
    out
}

/// Path of the seed file in `datadir`.
pub fn seed_path(datadir: &Path) -> PathBuf {
    datadir.join(SEED_FILE)
}

/// Whether `datadir` holds a seed.
pub fn exists(datadir: &Path) -> bool {
    seed_path(datadir).exists()
}

/// Creates a new seed in `datadir`, encrypted with `password`; returns the
/// mnemonic (to show once) and the node seed.
pub fn create(datadir: &Path, password: &str) -> Result<(bip39::Mnemonic, [u8; 32]), SeedError> {
    let entropy: [u8; 32] = random()?;
    let mnemonic =
        bip39::Mnemonic::from_entropy(&entropy).map_err(|e| SeedError::Corrupt(e.to_string()))?;
    store(datadir, password, &mnemonic)?;
    let seed = node_seed(&mnemonic);
    Ok((mnemonic, seed))
}

/// Stores `mnemonic` (a restore from words) encrypted with `password`.
pub fn store(datadir: &Path, password: &str, mnemonic: &bip39::Mnemonic) -> Result<(), SeedError> {
    let path = seed_path(datadir);
    if path.exists() {
        return Err(SeedError::Exists(path));
    }
    std::fs::create_dir_all(datadir)?;
    let salt: [u8; 16] = random()?;
    let nonce: [u8; 12] = random()?;
    let (m, t, p) = ARGON2;
    let key = derive_key(password, &salt, m, t, p)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), mnemonic.to_entropy().as_slice())
        .map_err(|_| SeedError::Corrupt("encryption failed".into()))?;
    let file = SeedFile {
        version: 1,
        kdf: "argon2id".into(),
        m_cost_kib: m,
        t_cost: t,
        p_cost: p,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| SeedError::Corrupt(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    write_private(&tmp, &json)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Decrypts the seed in `datadir` with `password`.
pub fn unlock(datadir: &Path, password: &str) -> Result<[u8; 32], SeedError> {
    let path = seed_path(datadir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SeedError::Missing(path)),
        Err(e) => return Err(e.into()),
    };
    let file: SeedFile =
        serde_json::from_slice(&bytes).map_err(|e| SeedError::Corrupt(e.to_string()))?;
    if file.version != 1 || file.kdf != "argon2id" {
        return Err(SeedError::Corrupt(format!(
            "unknown version {} / kdf {}",
            file.version, file.kdf
        )));
    }
    let hexd = |s: &str| hex::decode(s).map_err(|e| SeedError::Corrupt(e.to_string()));
    let salt = hexd(&file.salt)?;
    let nonce = hexd(&file.nonce)?;
    let ciphertext = hexd(&file.ciphertext)?;
    if nonce.len() != 12 {
        return Err(SeedError::Corrupt("nonce length".into()));
    }
    let key = derive_key(password, &salt, file.m_cost_kib, file.t_cost, file.p_cost)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    let entropy = cipher
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| SeedError::WrongPassword)?;
    let mnemonic =
        bip39::Mnemonic::from_entropy(&entropy).map_err(|e| SeedError::Corrupt(e.to_string()))?;
    Ok(node_seed(&mnemonic))
}
