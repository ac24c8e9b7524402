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

/// Custom records as stored: per record its type and length (u64 each)
/// and its value.
pub(crate) fn custom_records_bytes(records: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ty, value) in records {
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&(value.len() as u64).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// The records [`custom_records_bytes`] wrote.
pub(crate) fn custom_records_of(mut rest: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, DecodeError> {
    let mut records = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 16 {
            return Err(DecodeError::invalid("custom records"));
        }
        let ty = u64_of(&rest[..8], "custom type")?;
        let len = usize::try_from(u64_of(&rest[8..16], "custom length")?)
            .map_err(|_| DecodeError::invalid("custom length"))?;
        let end = 16usize
            .checked_add(len)
            .ok_or_else(|| DecodeError::invalid("custom length"))?;
        let value = rest
            .get(16..end)
            .ok_or_else(|| DecodeError::invalid("custom records"))?;
        records.push((ty, value.to_vec()));
        rest = &rest[end..];
    }
    Ok(records)
}

/// A keysend the node routes and retries itself: what every attempt and
/// part sends again (the payment record's retry state, type 59; see
/// [`KeysendTarget::encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeysendTarget {
    pub payee: PublicKey,
    /// The preimage every HTLC of the payment carries (bLIP 3).
    pub preimage: [u8; 32],
    /// The `payment_secret` we chose for the parts' `payment_data` when
    /// the keysend is split (BOLT 4 "Basic Multi-Part Payments"); a
    /// single-path attempt carries none.
    pub payment_secret: [u8; 32],
    /// The final CLTV delta we give the payee.
    pub final_cltv_expiry_delta: u32,
    /// The host's custom records for the payee.
    pub custom_records: Vec<(u64, Vec<u8>)>,
    /// The caller's private routes to the payee.
    pub route_hints: Vec<lightning_wire::bolt11::RouteHint>,
}

/// A route hint's hop as stored: 33 + 8 + 4 + 4 + 2 bytes.
const HINT_HOP_LEN: usize = 51;

impl KeysendTarget {
    /// A TLV stream of its own: 0 payee, 2 preimage, 4 payment secret,
    /// 6 final CLTV delta (u32), 8 custom records (as the keysend
    /// record's), 9 route hints (per hint a u16 count of hops, then 51
    /// bytes per hop; absent when there are none).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = lightning_wire::tlv::TlvStreamWriter::new();
        w.put_raw(0, &self.payee.serialize());
        w.put_raw(2, &self.preimage);
        w.put_raw(4, &self.payment_secret);
        w.put_raw(6, &self.final_cltv_expiry_delta.to_be_bytes());
        w.put_raw(8, &custom_records_bytes(&self.custom_records));
        if !self.route_hints.is_empty() {
            let mut hints = Vec::new();
            for hint in &self.route_hints {
                let n = u16::try_from(hint.0.len()).unwrap_or(u16::MAX);
                hints.extend_from_slice(&n.to_be_bytes());
                for h in hint.0.iter().take(usize::from(n)) {
                    hints.extend_from_slice(h.src_node_id.as_bytes());
                    hints.extend_from_slice(&h.short_channel_id.0.to_be_bytes());
                    hints.extend_from_slice(&h.fee_base_msat.to_be_bytes());
                    hints.extend_from_slice(&h.fee_proportional_millionths.to_be_bytes());
                    hints.extend_from_slice(&h.cltv_expiry_delta.to_be_bytes());
                }
            }
            w.put_raw(9, &hints);
        }
        w.into_bytes()
    }

    /// The target [`KeysendTarget::encode`] wrote.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        use lightning_wire::bolt11::{NodeId, RouteHint, RouteHintHop};
        let mut reader = lightning_wire::codec::Reader::new(bytes);
        let mut r = TlvStreamReader::parse(&mut reader)?;
        let payee = <PublicKey as Decode>::from_bytes(required(&mut r, 0, "keysend payee")?)?;
        let preimage = arr32(required(&mut r, 2, "keysend preimage")?, "keysend preimage")?;
        let payment_secret = arr32(required(&mut r, 4, "keysend secret")?, "keysend secret")?;
        let delta = required(&mut r, 6, "keysend delta")?;
        let final_cltv_expiry_delta = u32::from_be_bytes(
            delta
                .try_into()
                .map_err(|_| DecodeError::invalid("keysend delta: not 4 bytes"))?,
        );
        let custom_records = custom_records_of(required(&mut r, 8, "keysend records")?)?;
        let mut route_hints = Vec::new();
        let mut rest = r.take_raw(9).unwrap_or_default();
        while !rest.is_empty() {
            let (n, after) = rest
                .split_first_chunk::<2>()
                .ok_or_else(|| DecodeError::invalid("keysend hint"))?;
            let len = usize::from(u16::from_be_bytes(*n)) * HINT_HOP_LEN;
            let hops = after
                .get(..len)
                .ok_or_else(|| DecodeError::invalid("keysend hint: short"))?;
            let hint = hops
                .chunks(HINT_HOP_LEN)
                .map(|c| {
                    let mut key = [0u8; 33];
                    key.copy_from_slice(&c[..33]);
                    Ok(RouteHintHop {
                        src_node_id: NodeId::from_bytes(key)
                            .ok_or_else(|| DecodeError::invalid("keysend hint node"))?,
                        short_channel_id: ShortChannelId(u64_of(&c[33..41], "hint scid")?),
                        fee_base_msat: u32::from_be_bytes([c[41], c[42], c[43], c[44]]),
                        fee_proportional_millionths: u32::from_be_bytes([
                            c[45], c[46], c[47], c[48],
                        ]),
                        cltv_expiry_delta: u16::from_be_bytes([c[49], c[50]]),
                    })
                })
                .collect::<Result<Vec<_>, DecodeError>>()?;
            route_hints.push(RouteHint(hint));
            rest = &after[len..];
        }
        r.finish()?;
        Ok(KeysendTarget {
            payee,
            preimage,
            payment_secret,
            final_cltv_expiry_delta,
            custom_records,
            route_hints,
        })
    }
}

/// `u32`s one after the other, big-endian.
pub(crate) fn u32s_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|t| t.to_be_bytes()).collect()
}

/// Reads [`u32s_bytes`].
pub(crate) fn u32s_of(b: &[u8], what: &str) -> Result<Vec<u32>, DecodeError> {
    if !b.len().is_multiple_of(4) {
        return Err(DecodeError::invalid(format!("{what}: not u32s")));
    }
    Ok(b.chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
