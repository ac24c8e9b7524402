//! Shared test helpers: the conformance suite every backend must pass, and
//! access to the PostgreSQL server of `.ci/postgres.sh`.
#![allow(dead_code)]

pub mod conformance;

/// Deterministic bytes for a record, so a reader can tell a right value from
/// a torn or mixed one. Its own xorshift64, not the shared generator: the
/// checked-in fixtures (`tests/fixtures/fs-v1`, see `upgrade.rs`) hold its
/// output byte for byte.
pub fn value_for(key: &str, version: u64, len: usize) -> Vec<u8> {
    let mut state = version ^ 0x9e37_79b9_7f4a_7c15;
    for b in key.bytes() {
        state = state.wrapping_mul(0x100_0000_01b3) ^ u64::from(b);
    }
    let mut out = Vec::with_capacity(len + 16);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&(len as u64).to_be_bytes());
    while out.len() < len + 16 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len + 16);
    out
}

/// Whether `value` is exactly what [`value_for`] gives for `version`.
pub fn value_is_valid(key: &str, version: u64, value: &[u8]) -> bool {
    if value.len() < 16 {
        return false;
    }
    let len = u64::from_be_bytes(value[8..16].try_into().unwrap()) as usize;
    value == value_for(key, version, len)
}
