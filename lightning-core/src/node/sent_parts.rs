//! The HTLCs of a multi-part payment we send, as its record keeps them
//! (BOLT 4 "Basic Multi-Part Payments"): one [`SentPart`] per HTLC, with
//! what it needs to read a returned error (its onion's shared secrets and
//! route) and what the scorer learns from it (its path). And the index of
//! every HTLC we send ([`SendIndex`]: a node-wide `created_index` given
//! as it is sent, and its `partid` in the payment), stored with the HTLC
//! in the record written before it leaves, so that a list of them
//! (Core Lightning's `listsendpays`) names each the same way across
//! calls and restarts.
//!
//! Stored in the payment record as type 47: each part a TLV stream of its
//! own (types below), prefixed by its length (u16).
//!
//! | type | field |
//! | --- | --- |
//! | 0 | `channel_id` (32) |
//! | 2 | `htlc_id` (u64) |
//! | 4 | `amount_msat`: what the payee receives by it (u64) |
//! | 6 | `fee_msat` (u64) |
//! | 8 | state: 0 pending, 1 failed, 2 fulfilled |
//! | 10 | shared secrets (32 each) |
//! | 12 | route: node ids, first hop first (33 each) |
//! | 14 | path (25 bytes per hop, as the retry state's) |
//! | 15 | hold times its fulfil's attribution data reported (u32 each, first hop first; odd: absent in older records and when none verified) |
//! | 17 | its [`SendIndex`]: `created_index` and `partid` (u64 each; odd: absent in records written before them, numbered when such a record is restored) |
//!
//! The same encoding keeps a payment's earlier HTLCs (payment record type
//! 65): the failed attempts of a payment sent one HTLC at a time, and the
//! HTLCs of an earlier failed payment of the same hash, without their
//! onion secrets and path (empty types 10 and 14), at most
//! [`kept_earlier`] of them.

use bitcoin::secp256k1::PublicKey;
use lightning_wire::codec::{DecodeError, Reader};
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::types::ChannelId;

use super::events::PartStatus;
use super::record_fields::{
    arr32, keys_of, path_bytes, path_of, required, secrets_of, u32s_bytes, u32s_of, u64_of, PathHop,
};

/// One HTLC of a multi-part payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentPart {
    pub channel_id: ChannelId,
    pub htlc_id: u64,
    /// What the payee receives by this part (its `amt_to_forward` there).
    pub amount_msat: u64,
    /// Routing fees of this part.
    pub fee_msat: u64,
    pub state: PartStatus,
    /// The onion's shared secrets, to decode a returned error.
    pub shared_secrets: Vec<[u8; 32]>,
    /// The route's node ids, first hop first.
    pub route: Vec<PublicKey>,
    /// The path, for the scorer.
    pub path: Vec<PathHop>,
    /// The hold times (units of 100 ms, first hop first) that this part's
    /// fulfil reported in its attribution data, verified with the part's
    /// shared secrets (BOLT 4, "Hold times for successful payments");
    /// empty until then, and when the data did not verify.
    pub hold_times: Vec<u32>,
    /// Its place in the list of HTLCs we sent (`None` only in a record
    /// written before indexes and not restored since).
    pub index: Option<SendIndex>,
}

/// Where an HTLC we sent stands in the node's list of them (Core
/// Lightning's `listsendpays`): `created_index`, given from 1 as HTLCs
/// are sent, node-wide, never changed nor given again; `partid`, its
/// number among its payment's HTLCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendIndex {
    pub created_index: u64,
    pub partid: u64,
}

impl SendIndex {
    /// 16 bytes: `created_index`, `partid`.
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.created_index.to_be_bytes());
        b[8..].copy_from_slice(&self.partid.to_be_bytes());
        b
    }

    pub(crate) fn from_bytes(b: &[u8], what: &'static str) -> Result<Self, DecodeError> {
        if b.len() != 16 {
            return Err(DecodeError::invalid(format!("{what}: not 16 bytes")));
        }
        Ok(SendIndex {
            created_index: u64_of(&b[..8], what)?,
            partid: u64_of(&b[8..], what)?,
        })
    }
}

/// The node-wide counter of [`SendIndex::created_index`]: the last one
/// given. Written with the record naming the HTLC, before it leaves; on
/// restore, the stored value or the highest index a record holds,
/// whichever is greater.
#[derive(Debug, Default)]
pub(crate) struct SendCounter {
    last: u64,
}

impl SendCounter {
    /// The next `created_index`.
    pub(crate) fn take(&mut self) -> u64 {
        self.last = self.last.saturating_add(1);
        self.last
    }

    /// The last index given.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// Nothing at or below `index` is given again.
    pub(crate) fn seen(&mut self, index: u64) {
        self.last = self.last.max(index);
    }
}

/// How many earlier HTLCs a payment record keeps (the newest): the retry
/// budget's worth of attempts, between 1 and 32, so that no retry loop, nor
/// paying the same hash again and again, grows a record without limit.
pub(crate) fn kept_earlier(retry_attempts: u32) -> usize {
    usize::try_from(retry_attempts.clamp(1, 32)).unwrap_or(32)
}

impl SentPart {
    /// The HTLC carrying it.
    pub(crate) fn htlc(&self) -> (ChannelId, u64) {
        (self.channel_id, self.htlc_id)
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &self.channel_id.0);
        w.put_raw(2, &self.htlc_id.to_be_bytes());
        w.put_raw(4, &self.amount_msat.to_be_bytes());
        w.put_raw(6, &self.fee_msat.to_be_bytes());
        let state = match self.state {
            PartStatus::Pending => 0u8,
            PartStatus::Failed => 1,
            PartStatus::Fulfilled => 2,
        };
        w.put_raw(8, &[state]);
        w.put_raw(10, &self.shared_secrets.concat());
        let keys: Vec<[u8; 33]> = self.route.iter().map(PublicKey::serialize).collect();
        w.put_raw(12, &keys.concat());
        w.put_raw(14, &path_bytes(&self.path));
        if !self.hold_times.is_empty() {
            w.put_raw(15, &u32s_bytes(&self.hold_times));
        }
        if let Some(i) = self.index {
            w.put_raw(17, &i.to_bytes());
        }
        w.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let mut r = TlvStreamReader::parse(&mut reader)?;
        let channel_id = ChannelId(arr32(required(&mut r, 0, "part channel")?, "part channel")?);
        let htlc_id = u64_of(required(&mut r, 2, "part htlc")?, "part htlc")?;
        let amount_msat = u64_of(required(&mut r, 4, "part amount")?, "part amount")?;
        let fee_msat = u64_of(required(&mut r, 6, "part fee")?, "part fee")?;
        let state = match required(&mut r, 8, "part state")? {
            [0] => PartStatus::Pending,
            [1] => PartStatus::Failed,
            [2] => PartStatus::Fulfilled,
            _ => return Err(DecodeError::invalid("part state")),
        };
        let shared_secrets = secrets_of(required(&mut r, 10, "part secrets")?)?;
        let route = keys_of(required(&mut r, 12, "part route")?, "part route")?;
        let path = path_of(required(&mut r, 14, "part path")?)?;
        let hold_times = r
            .take_raw(15)
            .map(|b| u32s_of(b, "part hold times"))
            .transpose()?
            .unwrap_or_default();
        let index = r
            .take_raw(17)
            .map(|b| SendIndex::from_bytes(b, "part index"))
            .transpose()?;
        r.finish()?;
        Ok(SentPart {
            channel_id,
            htlc_id,
            amount_msat,
            fee_msat,
            state,
            shared_secrets,
            route,
            path,
            hold_times,
            index,
        })
    }
}

/// Type 47 of the payment record: every part, each prefixed by its length.
pub(super) fn encode_parts(parts: &[SentPart]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let b = p.encode();
        // A part is far below 64 KiB: 20 hops of 25 + 33 + 32 bytes.
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&b);
    }
    out
}

/// The parts [`encode_parts`] wrote.
pub(super) fn decode_parts(mut bytes: &[u8]) -> Result<Vec<SentPart>, DecodeError> {
    let mut parts = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes
            .split_first_chunk::<2>()
            .ok_or_else(|| DecodeError::invalid("part length"))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return Err(DecodeError::invalid("part: shorter than its length"));
        }
        let (part, rest) = rest.split_at(len);
        parts.push(SentPart::decode(part)?);
        bytes = rest;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use lightning_wire::types::ShortChannelId;

    fn part(i: u8, state: PartStatus) -> SentPart {
        let key = bitcoin::secp256k1::SecretKey::from_slice(&[i + 1; 32]).unwrap();
        SentPart {
            channel_id: ChannelId([i; 32]),
            htlc_id: u64::from(i) + 40,
            amount_msat: 1_000 * u64::from(i),
            fee_msat: u64::from(i),
            state,
            shared_secrets: vec![[i; 32], [i + 1; 32]],
            route: vec![PublicKey::from_secret_key(
                bitcoin::secp256k1::SECP256K1,
                &key,
            )],
            path: vec![PathHop {
                scid: ShortChannelId(u64::from(i)),
                direction: 1,
                amount_msat: 7,
                capacity_msat: 0,
            }],
            // Hold times only once fulfilled, as the node records them.
            hold_times: if state == PartStatus::Fulfilled {
                vec![12, 7]
            } else {
                Vec::new()
            },
            index: Some(SendIndex {
                created_index: u64::from(i) + 100,
                partid: u64::from(i),
            }),
        }
    }

    #[test]
    fn parts_round_trip_and_truncation_is_refused() {
        let parts = vec![
            part(1, PartStatus::Pending),
            part(2, PartStatus::Failed),
            part(3, PartStatus::Fulfilled),
        ];
        let bytes = encode_parts(&parts);
        assert_eq!(decode_parts(&bytes).unwrap(), parts);
        // A record written before hold times (no type 15) still reads.
        let older = part(3, PartStatus::Fulfilled);
        let mut without = older.clone();
        without.hold_times.clear();
        assert_eq!(
            decode_parts(&encode_parts(&[without.clone()])).unwrap(),
            [without]
        );
        // Hold times that are not whole u32s are refused.
        let mut odd = older.encode();
        // Type 15 is the last record: its header is the last `[15, 8]`.
        let at = odd.windows(2).rposition(|w| w == [15, 8]).unwrap();
        odd[at + 1] = 7;
        odd.truncate(at + 2 + 7);
        let mut framed = u16::try_from(odd.len()).unwrap().to_be_bytes().to_vec();
        framed.extend(odd);
        assert!(decode_parts(&framed).is_err());
        for cut in [1, 2, 10, bytes.len() - 1] {
            assert!(decode_parts(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A part state that is not one of the three.
        let mut bad = part(1, PartStatus::Pending).encode();
        let at = bad.windows(3).position(|w| w == [8, 1, 0]).unwrap();
        bad[at + 2] = 3;
        let mut framed = u16::try_from(bad.len()).unwrap().to_be_bytes().to_vec();
        framed.extend(bad);
        assert!(decode_parts(&framed).is_err());
        // A part written before indexes (no type 17) reads without one;
        // an index that is not 16 bytes is refused.
        let mut unindexed = part(2, PartStatus::Failed);
        unindexed.index = None;
        let bytes = encode_parts(&[unindexed.clone()]);
        assert_eq!(decode_parts(&bytes).unwrap(), [unindexed]);
        let mut short = part(2, PartStatus::Failed).encode();
        let at = short.windows(2).rposition(|w| w == [17, 16]).unwrap();
        short[at + 1] = 15;
        short.pop();
        let mut framed = u16::try_from(short.len()).unwrap().to_be_bytes().to_vec();
        framed.extend(short);
        assert!(decode_parts(&framed).is_err());
    }
}
