//! Shared test helpers: hex, keys and the test vectors (script
//! verification is `lightning_test_support::verify`).
#![allow(dead_code, clippy::unwrap_used)]

use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};

pub fn hex32(s: &str) -> [u8; 32] {
    let v = hex::decode(&s[..64]).unwrap();
    v.try_into().unwrap()
}

/// A secret from the vectors' "32 bytes + 01" notation (or plain 32 bytes).
pub fn secret(s: &str) -> SecretKey {
    SecretKey::from_slice(&hex32(s)).unwrap()
}

pub fn pubkey(s: &str) -> PublicKey {
    s.parse().unwrap()
}

pub fn pk_of(s: &SecretKey) -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, s)
}

pub fn load(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{}", env!("CARGO_MANIFEST_DIR"), name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
