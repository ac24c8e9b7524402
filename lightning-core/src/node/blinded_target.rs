//! The blinded target a payment record keeps for retries (BOLT 4 "Route
//! Blinding"; BOLT 12 `blinded_path` with its `blinded_payinfo`): the
//! recipient's paths, written in [`RetryState`](super::records::RetryState)
//! as odd type 61, so a reader from before it skips the field (and, finding
//! no invoice, gives the payment up rather than retry it).
//!
//! The value: `u16` number of paths; per path the introduction node (33
//! bytes), `first_path_key` (33), the payinfo (`fee_base_msat` u32,
//! `fee_proportional_millionths` u32, `cltv_expiry_delta` u16,
//! `htlc_minimum_msat` u64, `htlc_maximum_msat` u64, `u16` length and
//! features), `u8` number of hops, per hop `blinded_node_id` (33) and `u16`
//! length and `encrypted_recipient_data`. Then, optionally, one flags byte
//! (bit 0: pay in a single part, for a BOLT 12 invoice without the MPP
//! feature); a target written before it has none and may be split.

use bitcoin::secp256k1::PublicKey;
use lightning_router::{BlindedHop, BlindedPayInfo, BlindedPaymentPath, NodeId};
use lightning_wire::codec::DecodeError;

use crate::amount::Msat;

/// A blinded payment's target: the paths it may end in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct BlindedTarget {
    pub paths: Vec<BlindedPaymentPath>,
    /// One HTLC only (BOLT 12: without the invoice's MPP feature the payer
    /// "MUST NOT use multiple parts"), on retries too.
    pub single_part: bool,
}

impl BlindedTarget {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let n = u16::try_from(self.paths.len()).unwrap_or(u16::MAX);
        v.extend(n.to_be_bytes());
        for p in self.paths.iter().take(usize::from(n)) {
            v.extend(p.introduction_node.0);
            v.extend(p.first_path_key.serialize());
            let i = &p.payinfo;
            v.extend(i.fee_base_msat.to_be_bytes());
            v.extend(i.fee_proportional_millionths.to_be_bytes());
            v.extend(i.cltv_expiry_delta.to_be_bytes());
            v.extend(i.htlc_minimum_msat.0.to_be_bytes());
            v.extend(i.htlc_maximum_msat.0.to_be_bytes());
            put_bytes(&mut v, &i.features);
            let hops = u8::try_from(p.hops.len()).unwrap_or(u8::MAX);
            v.push(hops);
            for h in p.hops.iter().take(usize::from(hops)) {
                v.extend(h.blinded_node_id.serialize());
                put_bytes(&mut v, &h.encrypted_recipient_data);
            }
        }
        if self.single_part {
            v.push(1);
        }
        v
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Cursor(b);
        let n = u16::from_be_bytes(r.take::<2>()?);
        let mut paths = Vec::with_capacity(usize::from(n).min(64));
        for _ in 0..n {
            let introduction_node = NodeId(r.take::<33>()?);
            let first_path_key = key(&r.take::<33>()?)?;
            let payinfo = BlindedPayInfo {
                fee_base_msat: u32::from_be_bytes(r.take::<4>()?),
                fee_proportional_millionths: u32::from_be_bytes(r.take::<4>()?),
                cltv_expiry_delta: u16::from_be_bytes(r.take::<2>()?),
                htlc_minimum_msat: Msat(u64::from_be_bytes(r.take::<8>()?)),
                htlc_maximum_msat: Msat(u64::from_be_bytes(r.take::<8>()?)),
                features: r.bytes()?,
            };
            let hop_count = r.take::<1>()?[0];
            let mut hops = Vec::with_capacity(usize::from(hop_count));
            for _ in 0..hop_count {
                let blinded_node_id = key(&r.take::<33>()?)?;
                hops.push(BlindedHop {
                    blinded_node_id,
                    encrypted_recipient_data: r.bytes()?,
                });
            }
            paths.push(BlindedPaymentPath {
                introduction_node,
                first_path_key,
                hops,
                payinfo,
            });
        }
        let single_part = match r.0 {
            [] => false,
            // Written only when set: one canonical form.
            [1] => true,
            _ => return Err(DecodeError::invalid("blinded target: trailing bytes")),
        };
        Ok(BlindedTarget { paths, single_part })
    }
}

fn put_bytes(v: &mut Vec<u8>, b: &[u8]) {
    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
    v.extend(len.to_be_bytes());
    v.extend(&b[..usize::from(len)]);
}

fn key(b: &[u8; 33]) -> Result<PublicKey, DecodeError> {
    PublicKey::from_slice(b).map_err(|_| DecodeError::invalid("blinded target: not a point"))
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| DecodeError::invalid("blinded target: truncated"))?;
        self.0 = rest;
        Ok(*head)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = usize::from(u16::from_be_bytes(self.take::<2>()?));
        if self.0.len() < len {
            return Err(DecodeError::invalid("blinded target: truncated"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bitcoin::secp256k1::{SecretKey, SECP256K1};

    #[test]
    fn blinded_targets_round_trip_and_damage_is_refused() {
        let k =
            |b| PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[b; 32]).unwrap());
        let path = |b| BlindedPaymentPath {
            introduction_node: NodeId::from_pubkey(&k(b)),
            first_path_key: k(b + 1),
            hops: vec![
                BlindedHop {
                    blinded_node_id: k(b + 2),
                    encrypted_recipient_data: vec![b; 40],
                },
                BlindedHop {
                    blinded_node_id: k(b + 3),
                    encrypted_recipient_data: vec![],
                },
            ],
            payinfo: BlindedPayInfo {
                fee_base_msat: 1000,
                fee_proportional_millionths: 7,
                cltv_expiry_delta: 52,
                htlc_minimum_msat: Msat(1),
                htlc_maximum_msat: Msat(u64::MAX),
                features: vec![0x02],
            },
        };
        let mut t = BlindedTarget {
            paths: vec![path(1), path(9)],
            single_part: false,
        };
        let bytes = t.encode();
        assert_eq!(BlindedTarget::decode(&bytes).unwrap(), t);
        t.single_part = true;
        let flagged = t.encode();
        assert_eq!(flagged.len(), bytes.len() + 1);
        assert_eq!(BlindedTarget::decode(&flagged).unwrap(), t);
        let mut two = flagged.clone();
        two.push(1);
        assert!(BlindedTarget::decode(&two).is_err());
        for cut in [0, 1, 50, bytes.len() - 1] {
            assert!(BlindedTarget::decode(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(BlindedTarget::decode(&extra).is_err());
    }
}
