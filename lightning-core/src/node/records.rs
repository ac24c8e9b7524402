//! Node-level records: invoices, payments, the channel index and counters.
//! Each is a TLV stream (type 0: format version) under its own key, so that
//! losing or corrupting one never touches a channel record.
//!
//! | key | value |
//! | --- | --- |
//! | `channels/<id>/snapshot`, `channels/<id>/u/<seq>` | the channel record ([`crate::channel::record`]) |
//! | `channel_peers/<id>` | the channel's counterparty node id (33 bytes) |
//! | `invoices/<payment hash>` | [`InvoiceRecord`] |
//! | `payments/<payment hash>` | [`PaymentRecord`] |
//! | `meta/keys_index` | the next channel keys index (u32) |
//! | `meta/entropy_epoch` | the entropy epoch of the last start (u32) |

use bitcoin::secp256k1::PublicKey;
use lightning_wire::codec::{Decode, DecodeError, Reader};
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::types::ChannelId;

use super::events::{InvoiceStatus, PaymentHash, PaymentPreimage, PaymentStatus};

const FORMAT_VERSION: u16 = 1;

pub(crate) fn channel_peer_key(id: &ChannelId) -> String {
    format!("channel_peers/{}", hex::encode(id.0))
}
pub(crate) fn invoice_key(hash: &PaymentHash) -> String {
    format!("invoices/{hash}")
}
pub(crate) fn payment_key(hash: &PaymentHash) -> String {
    format!("payments/{hash}")
}
pub(crate) const KEYS_INDEX_KEY: &str = "meta/keys_index";
pub(crate) const ENTROPY_EPOCH_KEY: &str = "meta/entropy_epoch";

fn u32_value(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

pub(crate) fn encode_u32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub(crate) fn decode_u32(bytes: &[u8]) -> Option<u32> {
    u32_value(bytes)
}

fn arr32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], DecodeError> {
    bytes
        .try_into()
        .map_err(|_| DecodeError::invalid(format!("{what}: not 32 bytes")))
}

fn u64_of(bytes: &[u8], what: &'static str) -> Result<u64, DecodeError> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| {
        DecodeError::invalid(format!("{what}: not 8 bytes"))
    })?))
}

fn required<'a>(
    r: &mut TlvStreamReader<'a>,
    ty: u64,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    r.take_raw(ty)
        .ok_or_else(|| DecodeError::invalid(format!("{what} missing")))
}

fn open(bytes: &[u8]) -> Result<TlvStreamReader<'_>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut r = TlvStreamReader::parse(&mut reader)?;
    let version = required(&mut r, 0, "format version")?;
    if version != FORMAT_VERSION.to_be_bytes() {
        return Err(DecodeError::invalid("unknown record format version"));
    }
    Ok(r)
}

/// An invoice we issued, with its preimage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvoiceRecord {
    pub bolt11: String,
    pub preimage: PaymentPreimage,
    pub status: InvoiceStatus,
    pub amount_received_msat: u64,
    /// The HTLC (channel, HTLC id) whose fulfilment made the invoice
    /// paid: the one HTLC re-fulfilled without the checks (type 11, odd:
    /// absent in records written before it).
    pub paid_by: Option<(ChannelId, u64)>,
}

impl InvoiceRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, self.bolt11.as_bytes());
        w.put_raw(4, &self.preimage.0);
        w.put_raw(6, &[u8::from(self.status == InvoiceStatus::Paid)]);
        w.put_raw(8, &self.amount_received_msat.to_be_bytes());
        if let Some((channel, htlc)) = &self.paid_by {
            w.put_raw(11, &[&channel.0[..], &htlc.to_be_bytes()[..]].concat());
        }
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open(bytes)?;
        let bolt11 = String::from_utf8(required(&mut r, 2, "bolt11")?.to_vec())
            .map_err(|_| DecodeError::invalid("bolt11: not UTF-8"))?;
        let preimage = PaymentPreimage(arr32(required(&mut r, 4, "preimage")?, "preimage")?);
        let status = match required(&mut r, 6, "status")? {
            [0] => InvoiceStatus::Open,
            [1] => InvoiceStatus::Paid,
            _ => return Err(DecodeError::invalid("invoice status")),
        };
        let amount_received_msat = u64_of(required(&mut r, 8, "amount")?, "amount")?;
        let paid_by = match r.take_raw(11) {
            None => None,
            Some(b) if b.len() == 40 => Some((
                ChannelId(arr32(&b[..32], "paid_by")?),
                u64_of(&b[32..], "paid_by")?,
            )),
            Some(_) => return Err(DecodeError::invalid("paid_by: not 40 bytes")),
        };
        r.finish()?;
        Ok(InvoiceRecord {
            bolt11,
            preimage,
            status,
            amount_received_msat,
            paid_by,
        })
    }
}

/// A payment we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentRecord {
    pub payment_hash: PaymentHash,
    pub payee: PublicKey,
    pub amount_msat: u64,
    pub status: PaymentStatus,
    pub preimage: Option<PaymentPreimage>,
    pub failure: Option<String>,
    pub created_at: u64,
    /// The onion's shared secrets, to decode a returned error.
    pub shared_secrets: Vec<[u8; 32]>,
    /// The channel and HTLC carrying it.
    pub channel_id: ChannelId,
    pub htlc_id: u64,
}

impl PaymentRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, &self.payment_hash.0);
        w.put_raw(4, &self.payee.serialize());
        w.put_raw(6, &self.amount_msat.to_be_bytes());
        let status = match self.status {
            PaymentStatus::Pending => 0u8,
            PaymentStatus::Succeeded => 1,
            PaymentStatus::Failed => 2,
        };
        w.put_raw(8, &[status]);
        if let Some(p) = &self.preimage {
            w.put_raw(10, &p.0);
        }
        if let Some(f) = &self.failure {
            w.put_raw(12, f.as_bytes());
        }
        w.put_raw(14, &self.created_at.to_be_bytes());
        w.put_raw(16, &self.shared_secrets.concat());
        w.put_raw(18, &self.channel_id.0);
        w.put_raw(20, &self.htlc_id.to_be_bytes());
        w.into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open(bytes)?;
        let payment_hash =
            PaymentHash(arr32(required(&mut r, 2, "payment_hash")?, "payment_hash")?);
        let payee = <PublicKey as Decode>::from_bytes(required(&mut r, 4, "payee")?)?;
        let amount_msat = u64_of(required(&mut r, 6, "amount")?, "amount")?;
        let status = match required(&mut r, 8, "status")? {
            [0] => PaymentStatus::Pending,
            [1] => PaymentStatus::Succeeded,
            [2] => PaymentStatus::Failed,
            _ => return Err(DecodeError::invalid("payment status")),
        };
        let preimage = r
            .take_raw(10)
            .map(|b| arr32(b, "preimage").map(PaymentPreimage))
            .transpose()?;
        let failure = r
            .take_raw(12)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let created_at = u64_of(required(&mut r, 14, "created_at")?, "created_at")?;
        let secrets = required(&mut r, 16, "shared_secrets")?;
        if secrets.len() % 32 != 0 {
            return Err(DecodeError::invalid("shared_secrets"));
        }
        let shared_secrets = secrets
            .chunks(32)
            .map(|c| arr32(c, "shared secret"))
            .collect::<Result<_, _>>()?;
        let channel_id = ChannelId(arr32(required(&mut r, 18, "channel_id")?, "channel_id")?);
        let htlc_id = u64_of(required(&mut r, 20, "htlc_id")?, "htlc_id")?;
        r.finish()?;
        Ok(PaymentRecord {
            payment_hash,
            payee,
            amount_msat,
            status,
            preimage,
            failure,
            created_at,
            shared_secrets,
            channel_id,
            htlc_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let inv = InvoiceRecord {
            bolt11: "lnbcrt1".into(),
            preimage: PaymentPreimage([3; 32]),
            status: InvoiceStatus::Paid,
            amount_received_msat: 42,
            paid_by: Some((ChannelId([5; 32]), 6)),
        };
        assert_eq!(InvoiceRecord::decode(&inv.encode()).unwrap(), inv);
        // A record of the previous format (no type 11) still reads.
        let old = InvoiceRecord {
            paid_by: None,
            ..inv.clone()
        };
        let mut w = TlvStreamWriter::new();
        w.put_raw(0, &FORMAT_VERSION.to_be_bytes());
        w.put_raw(2, old.bolt11.as_bytes());
        w.put_raw(4, &old.preimage.0);
        w.put_raw(6, &[1]);
        w.put_raw(8, &old.amount_received_msat.to_be_bytes());
        assert_eq!(InvoiceRecord::decode(&w.into_bytes()).unwrap(), old);
        let key = bitcoin::secp256k1::SecretKey::from_slice(&[1; 32]).unwrap();
        let pay = PaymentRecord {
            payment_hash: PaymentHash([1; 32]),
            payee: PublicKey::from_secret_key(bitcoin::secp256k1::SECP256K1, &key),
            amount_msat: 1000,
            status: PaymentStatus::Failed,
            preimage: None,
            failure: Some("no".into()),
            created_at: 7,
            shared_secrets: vec![[9; 32]],
            channel_id: ChannelId([4; 32]),
            htlc_id: 5,
        };
        assert_eq!(PaymentRecord::decode(&pay.encode()).unwrap(), pay);
    }
}
