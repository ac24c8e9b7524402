//! The plaintext of a backup: TLV streams (BOLT 1 rules: increasing types,
//! unknown odd types skipped, unknown even types refused), so a later
//! version can add fields that this one reads past.
//!
//! Backup (version 1):
//!
//! | type | field | |
//! |---|---|---|
//! | 0 | `chain_hash` | 32 bytes |
//! | 2 | `node_id` | 33 bytes |
//! | 4 | `sequence` | u64: grows with every backup a node writes |
//! | 6 | `channels` | u16 count, then each channel as u16 length + TLV stream |
//! | 1001 | padding | zeroes (peer storage pads its blob) |
//!
//! Channel:
//!
//! | type | field | |
//! |---|---|---|
//! | 0 | `channel_id` | 32 |
//! | 2 | `peer` | 33, the peer's node id |
//! | 4 | `funding_txid` | 32 |
//! | 6 | `funding_vout` | u32 |
//! | 8 | `funding_sat` | u64 |
//! | 10 | `channel_type` | u8: 1 anchors, 2 scid_alias, 4 zeroconf |
//! | 12 | `keys_index` | u32, the channel signer's derivation index |
//! | 14 | `is_funder` | u8 |
//! | 16 | `our_to_self_delay` | u16 (the delay on our outputs) |
//! | 18 | `their_to_self_delay` | u16 |
//! | 21 | `peer_addresses` | u16 count, then u16-prefixed UTF-8 strings |
//! | 23 | `funding_height` | u32, when known |

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, Txid};
use lightning_wire::codec::{write_u16_prefixed, Reader};
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::types::{ChainHash, ChannelId};
use lightning_wire::{Decode, DecodeError};

use super::BackupError;
use crate::channel::ChannelType;

/// At most this many addresses per peer, each at most
/// [`MAX_ADDRESS_LEN`] bytes.
pub const MAX_ADDRESSES: usize = 8;
/// The longest address string kept.
pub const MAX_ADDRESS_LEN: usize = 256;

/// What recovery needs of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBackup {
    /// The channel.
    pub channel_id: ChannelId,
    /// The peer's node id.
    pub peer: PublicKey,
    /// Where the peer was reached (`host:port` strings), newest first.
    pub peer_addresses: Vec<String>,
    /// The funding outpoint.
    pub funding_outpoint: OutPoint,
    /// The funding output's value.
    pub funding_sat: u64,
    /// The channel type (`to_remote`'s script depends on `anchors`).
    pub channel_type: ChannelType,
    /// The index our channel keys are derived at.
    pub keys_index: u32,
    /// Whether we opened the channel.
    pub is_funder: bool,
    /// The CSV delay on our outputs (the peer's `to_self_delay`).
    pub our_to_self_delay: u16,
    /// The CSV delay on the peer's outputs.
    pub their_to_self_delay: u16,
    /// The funding transaction's height, when known.
    pub funding_height: Option<u32>,
}

/// A backup of every channel of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticChannelBackup {
    /// The chain.
    pub chain_hash: ChainHash,
    /// The node the backup belongs to.
    pub node_id: PublicKey,
    /// Grows with every backup the node writes: of two backups, the one
    /// with the higher sequence is the newer.
    pub sequence: u64,
    /// The channels.
    pub channels: Vec<ChannelBackup>,
}

fn channel_type_bits(t: &ChannelType) -> u8 {
    u8::from(t.anchors) | u8::from(t.scid_alias) << 1 | u8::from(t.zeroconf) << 2
}

impl ChannelBackup {
    /// The TLV stream of this channel.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &self.channel_id.0);
        w.put_raw(2, &self.peer.serialize());
        w.put_raw(4, &self.funding_outpoint.txid.to_byte_array());
        w.put(6, &self.funding_outpoint.vout);
        w.put(8, &self.funding_sat);
        w.put(10, &channel_type_bits(&self.channel_type));
        w.put(12, &self.keys_index);
        w.put(14, &u8::from(self.is_funder));
        w.put(16, &self.our_to_self_delay);
        w.put(18, &self.their_to_self_delay);
        if !self.peer_addresses.is_empty() {
            let mut v = Vec::new();
            let addrs: Vec<&String> = self
                .peer_addresses
                .iter()
                .filter(|a| a.len() <= MAX_ADDRESS_LEN)
                .take(MAX_ADDRESSES)
                .collect();
            v.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
            for a in addrs {
                write_u16_prefixed(&mut v, a.as_bytes());
            }
            w.put_raw(21, &v);
        }
        if let Some(h) = self.funding_height {
            w.put(23, &h);
        }
        w.into_bytes()
    }

    /// Reads a channel's TLV stream.
    pub fn decode(data: &[u8]) -> Result<ChannelBackup, BackupError> {
        let mut r = Reader::new(data);
        let mut s = TlvStreamReader::parse(&mut r).map_err(malformed("channel"))?;
        let channel_id = ChannelId(need(s.take::<[u8; 32]>(0, "channel_id"), "channel_id")?);
        let peer = need(s.take::<PublicKey>(2, "peer"), "peer")?;
        let txid = need(s.take::<[u8; 32]>(4, "funding_txid"), "funding_txid")?;
        let vout = need(s.take::<u32>(6, "funding_vout"), "funding_vout")?;
        let funding_sat = need(s.take::<u64>(8, "funding_sat"), "funding_sat")?;
        let bits = need(s.take::<u8>(10, "channel_type"), "channel_type")?;
        if bits & !7 != 0 {
            return Err(BackupError::Malformed(format!(
                "unknown channel type bits {bits:#x}"
            )));
        }
        let keys_index = need(s.take::<u32>(12, "keys_index"), "keys_index")?;
        let is_funder = need(s.take::<u8>(14, "is_funder"), "is_funder")? != 0;
        let our_to_self_delay = need(s.take::<u16>(16, "our_to_self_delay"), "our_to_self_delay")?;
        let their_to_self_delay = need(
            s.take::<u16>(18, "their_to_self_delay"),
            "their_to_self_delay",
        )?;
        let peer_addresses = s
            .take_with(21, "peer_addresses", |r| {
                let n = u16::decode(r)? as usize;
                if n > MAX_ADDRESSES {
                    return Err(DecodeError::invalid("too many addresses"));
                }
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let b = r.read_u16_prefixed()?;
                    if b.len() > MAX_ADDRESS_LEN {
                        return Err(DecodeError::invalid("address too long"));
                    }
                    let a = core::str::from_utf8(b)
                        .map_err(|_| DecodeError::invalid("address is not UTF-8"))?;
                    out.push(a.to_string());
                }
                Ok(out)
            })
            .map_err(malformed("peer_addresses"))?
            .unwrap_or_default();
        let funding_height = s
            .take::<u32>(23, "funding_height")
            .map_err(malformed("funding_height"))?;
        s.finish().map_err(malformed("channel"))?;
        Ok(ChannelBackup {
            channel_id,
            peer,
            peer_addresses,
            funding_outpoint: OutPoint {
                txid: Txid::from_byte_array(txid),
                vout,
            },
            funding_sat,
            channel_type: ChannelType {
                anchors: bits & 1 != 0,
                scid_alias: bits & 2 != 0,
                zeroconf: bits & 4 != 0,
            },
            keys_index,
            is_funder,
            our_to_self_delay,
            their_to_self_delay,
            funding_height,
        })
    }
}

fn malformed(what: &'static str) -> impl Fn(DecodeError) -> BackupError {
    move |e| BackupError::Malformed(format!("{what}: {e}"))
}

fn need<T>(v: Result<Option<T>, DecodeError>, what: &'static str) -> Result<T, BackupError> {
    v.map_err(malformed(what))?
        .ok_or_else(|| BackupError::Malformed(format!("missing {what}")))
}

/// A lower bound of the bytes one channel takes in the plaintext: its
/// length prefix and the records every channel has (channel id, peer,
/// funding txid and index, amount, type, keys index, funder flag, both
/// delays), each with its type and length.
const MIN_ENCODED_CHANNEL_LEN: usize = 128;

impl StaticChannelBackup {
    /// The plaintext, padded with an odd record to at least `pad_to`
    /// bytes (0: no padding).
    pub fn encode(&self, pad_to: usize) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &self.chain_hash.0);
        w.put_raw(2, &self.node_id.serialize());
        w.put(4, &self.sequence);
        let n = self.channels.len().min(u16::MAX as usize);
        // About 150 bytes a channel without addresses.
        let mut ch = Vec::with_capacity(2 + n * 160);
        ch.extend_from_slice(&(n as u16).to_be_bytes());
        for c in self.channels.iter().take(n) {
            write_u16_prefixed(&mut ch, &c.encode());
        }
        w.put_raw(6, &ch);
        let mut out = w.into_bytes();
        // Padding record: type 1001 (3-byte BigSize), its length (1 byte
        // below 253, else 3), zeroes: exactly `pad_to` bytes, or up to 2
        // short where the length's size changes.
        let remaining = pad_to.saturating_sub(out.len());
        if remaining >= 4 {
            let len = if remaining >= 6 + 0xfd {
                remaining - 6
            } else {
                (remaining - 4).min(0xfc)
            };
            let mut w = TlvStreamWriter::new();
            w.put_raw(1001, &vec![0u8; len]);
            let pad = w.into_bytes();
            out.extend_from_slice(&pad);
        }
        out
    }

    /// Keeps the most channels (in order) whose plaintext without padding
    /// fits in `room` bytes: a binary search over the count, since the
    /// length grows with it (a few encodings, not one per channel left
    /// out).
    pub fn truncate_to_fit(&mut self, room: usize) {
        // No channel takes fewer bytes than its always-present records:
        // more than `room / MIN_ENCODED_CHANNEL_LEN` cannot fit.
        self.channels.truncate(room / MIN_ENCODED_CHANNEL_LEN + 1);
        if self.encode(0).len() <= room {
            return;
        }
        let all = std::mem::take(&mut self.channels);
        // `fits` channels fit (none, at worst); `too_many` do not.
        let (mut fits, mut too_many) = (0, all.len());
        while too_many - fits > 1 {
            let mid = fits + (too_many - fits) / 2;
            self.channels = all[..mid].to_vec();
            if self.encode(0).len() <= room {
                fits = mid;
            } else {
                too_many = mid;
            }
        }
        self.channels = all;
        self.channels.truncate(fits);
    }

    /// Reads the plaintext.
    pub fn decode(data: &[u8]) -> Result<StaticChannelBackup, BackupError> {
        let mut r = Reader::new(data);
        let mut s = TlvStreamReader::parse(&mut r).map_err(malformed("backup"))?;
        let chain = need(s.take::<[u8; 32]>(0, "chain_hash"), "chain_hash")?;
        let node_id = need(s.take::<PublicKey>(2, "node_id"), "node_id")?;
        let sequence = need(s.take::<u64>(4, "sequence"), "sequence")?;
        let raw = s
            .take_raw(6)
            .ok_or_else(|| BackupError::Malformed("missing channels".into()))?;
        let mut cr = Reader::new(raw);
        let n = u16::decode(&mut cr).map_err(malformed("channels"))? as usize;
        // Each channel takes at least 2 bytes: a count past what is left is
        // refused before anything is allocated for it.
        if n > cr.remaining() / 2 {
            return Err(BackupError::Malformed("channel count".into()));
        }
        let mut channels = Vec::with_capacity(n);
        for _ in 0..n {
            let c = cr.read_u16_prefixed().map_err(malformed("channels"))?;
            channels.push(ChannelBackup::decode(c)?);
        }
        cr.finish().map_err(malformed("channels"))?;
        let _padding = s.take_raw(1001);
        s.finish().map_err(malformed("backup"))?;
        Ok(StaticChannelBackup {
            chain_hash: ChainHash(chain),
            node_id,
            sequence,
            channels,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bitcoin::secp256k1::{SecretKey, SECP256K1};

    pub(crate) fn sample(n: usize) -> StaticChannelBackup {
        let pk = |b: u8| {
            PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[b; 32]).unwrap())
        };
        StaticChannelBackup {
            chain_hash: ChainHash::for_network(bitcoin::Network::Regtest),
            node_id: pk(1),
            sequence: 42,
            channels: (0..n)
                .map(|i| ChannelBackup {
                    channel_id: ChannelId([i as u8; 32]),
                    peer: pk(2 + i as u8),
                    peer_addresses: vec!["127.0.0.1:9735".into()],
                    funding_outpoint: OutPoint {
                        txid: Txid::from_byte_array([9; 32]),
                        vout: i as u32,
                    },
                    funding_sat: 1_000_000,
                    channel_type: if i % 2 == 0 {
                        ChannelType::ANCHORS
                    } else {
                        ChannelType::STATIC_REMOTEKEY
                    },
                    keys_index: i as u32,
                    is_funder: i % 2 == 0,
                    our_to_self_delay: 144,
                    their_to_self_delay: 720,
                    funding_height: (i % 2 == 0).then_some(100),
                })
                .collect(),
        }
    }

    #[test]
    fn round_trip_with_and_without_padding() {
        let b = sample(3);
        let plain = b.encode(0);
        assert_eq!(StaticChannelBackup::decode(&plain).unwrap(), b);
        let padded = b.encode(4000);
        assert_eq!(padded.len(), 4000);
        assert_eq!(StaticChannelBackup::decode(&padded).unwrap(), b);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let plain = sample(2).encode(0);
        for n in 0..plain.len() {
            assert!(StaticChannelBackup::decode(&plain[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn unknown_even_field_is_refused_odd_is_skipped() {
        let mut c = sample(1).channels[0].encode();
        let mut odd = TlvStreamWriter::new();
        odd.put_raw(99, &[1, 2]);
        let mut with_odd = c.clone();
        with_odd.extend(odd.into_bytes());
        assert!(ChannelBackup::decode(&with_odd).is_ok());
        let mut even = TlvStreamWriter::new();
        even.put_raw(100, &[1, 2]);
        c.extend(even.into_bytes());
        assert!(ChannelBackup::decode(&c).is_err());
    }

    #[test]
    fn truncate_to_fit_keeps_the_longest_prefix_that_fits() {
        let full = sample(50);
        let len = |n: usize| {
            let mut b = full.clone();
            b.channels.truncate(n);
            b.encode(0).len()
        };
        for c in &full.channels {
            assert!(2 + c.encode().len() >= MIN_ENCODED_CHANNEL_LEN);
        }
        for room in [
            0,
            len(0),
            len(1),
            len(1) + 1,
            len(17) - 1,
            len(17),
            len(50),
            len(50) + 9,
        ] {
            let mut b = full.clone();
            b.truncate_to_fit(room);
            let n = b.channels.len();
            assert_eq!(b.channels[..], full.channels[..n], "a prefix, in order");
            assert!(n == 0 || len(n) <= room, "room {room}: {n} channels fit");
            assert!(
                n == 50 || len(n + 1) > room,
                "room {room}: one more would not fit"
            );
        }
    }
}
