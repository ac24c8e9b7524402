//! Shared test helpers: hex, keys, and script verification with
//! libbitcoinconsensus.
#![allow(dead_code, clippy::unwrap_used)]

use bitcoin::consensus::encode::serialize;
use bitcoin::secp256k1::{PublicKey, SecretKey, SECP256K1};
use bitcoin::{Transaction, TxOut};

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

/// Verify every input of `tx` against the outputs it spends (in input
/// order), with libbitcoinconsensus and all pre-taproot flags (P2SH,
/// DERSIG, NULLDUMMY, CLTV, CSV, WITNESS).
pub fn verify(tx: &Transaction, spent: &[TxOut]) -> Result<(), String> {
    assert_eq!(tx.input.len(), spent.len());
    let bytes = serialize(tx);
    for (i, out) in spent.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            &bytes,
            None,
            i,
            bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT,
        )
        .map_err(|e| format!("input {i}: {e:?}"))?;
    }
    Ok(())
}
