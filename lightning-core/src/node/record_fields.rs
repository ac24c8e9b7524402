//! Field codecs the node's records share: fixed-size values, runs of
//! keys and secrets, and an attempt's path (25 bytes per hop). Errors name
//! the field.

use bitcoin::secp256k1::PublicKey;
use lightning_wire::codec::{Decode, DecodeError};
use lightning_wire::tlv::TlvStreamReader;
use lightning_wire::types::ShortChannelId;

pub(crate) fn arr32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], DecodeError> {
    bytes
        .try_into()
        .map_err(|_| DecodeError::invalid(format!("{what}: not 32 bytes")))
}

pub(crate) fn u64_of(bytes: &[u8], what: &'static str) -> Result<u64, DecodeError> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| {
        DecodeError::invalid(format!("{what}: not 8 bytes"))
    })?))
}

pub(crate) fn required<'a>(
    r: &mut TlvStreamReader<'a>,
    ty: u64,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    r.take_raw(ty)
        .ok_or_else(|| DecodeError::invalid(format!("{what} missing")))
}

/// One hop of an attempt's path as the scorer learns from it (the
/// router's `HopUse`): channel, direction bit, amount, capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathHop {
    pub scid: ShortChannelId,
    pub direction: u8,
    pub amount_msat: u64,
    /// 0: unknown.
    pub capacity_msat: u64,
}

const PATH_HOP_LEN: usize = 25;

/// A path as stored: 25 bytes per hop (scid, direction, amount, capacity).
pub(crate) fn path_bytes(path: &[PathHop]) -> Vec<u8> {
    let mut v = Vec::with_capacity(path.len() * PATH_HOP_LEN);
    for h in path {
        v.extend_from_slice(&h.scid.0.to_be_bytes());
        v.push(h.direction);
        v.extend_from_slice(&h.amount_msat.to_be_bytes());
        v.extend_from_slice(&h.capacity_msat.to_be_bytes());
    }
    v
}

/// The path [`path_bytes`] wrote.
pub(crate) fn path_of(b: &[u8]) -> Result<Vec<PathHop>, DecodeError> {
    if !b.len().is_multiple_of(PATH_HOP_LEN) {
        return Err(DecodeError::invalid("attempt path"));
    }
    b.chunks(PATH_HOP_LEN)
        .map(|c| {
            Ok(PathHop {
                scid: ShortChannelId(u64_of(&c[..8], "path scid")?),
                direction: c[8] & 1,
                amount_msat: u64_of(&c[9..17], "path amount")?,
                capacity_msat: u64_of(&c[17..], "path capacity")?,
            })
        })
        .collect()
}

/// Node ids as stored: 33 bytes each.
pub(crate) fn keys_of(b: &[u8], what: &'static str) -> Result<Vec<PublicKey>, DecodeError> {
    if !b.len().is_multiple_of(33) {
        return Err(DecodeError::invalid(format!("{what}: not 33-byte keys")));
    }
    b.chunks(33)
        .map(<PublicKey as Decode>::from_bytes)
        .collect()
}

/// Shared secrets as stored: 32 bytes each.
pub(crate) fn secrets_of(b: &[u8]) -> Result<Vec<[u8; 32]>, DecodeError> {
    if !b.len().is_multiple_of(32) {
        return Err(DecodeError::invalid("shared_secrets"));
    }
    b.chunks(32).map(|c| arr32(c, "shared secret")).collect()
}
