//! A channel recovered from a backup: never a live channel. It has no
//! commitment to sign or broadcast; it waits for the peer's commitment to
//! spend the funding output, then claims our `to_remote` (BOLT 5, "Handling
//! a Remote Commitment Transaction": the output "needs no action" beyond a
//! sweep; with `option_anchors` after its 1-block CSV).
//!
//! Record (TLV, version in type 0):
//!
//! | type | field |
//! |---|---|
//! | 0 | record version (u8, 1) |
//! | 2 | the channel's backup ([`ChannelBackup`] stream) |
//! | 4 | backup sequence (u64) it came from |
//! | 5 | the funding spend: txid (32) and height (u32) |
//! | 7 | our sweep: the signed transaction |
//! | 9 | the value our sweep spends (u64) |
//! | 11 | the sweep's confirmation height (u32) |
//! | 13 | `FundsSwept` raised (u8) |

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use lightning_wire::codec::Reader;
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter};
use lightning_wire::DecodeError;

use super::{BackupError, ChannelBackup};
use crate::amount::FeeratePerKw;
use crate::keys::{ChannelSigner, SpendKeyMaterial};
use crate::transactions::scripts::{to_remote_anchors_script, to_remote_script_pubkey};
use crate::transactions::sweep::{build_sweep_transaction, SpendPath, SpendableOutput};
use crate::transactions::CommitmentFormat;

/// A recovered channel's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRecord {
    /// What the backup said of the channel.
    pub channel: ChannelBackup,
    /// The sequence of the backup it came from.
    pub sequence: u64,
    /// The transaction that spent the funding output, and its height.
    pub funding_spend: Option<(Txid, u32)>,
    /// Our signed `to_remote` sweep, once the spend paid us.
    pub sweep: Option<Transaction>,
    /// The value the sweep spends (our `to_remote`).
    pub swept_value: u64,
    /// The sweep's confirmation height.
    pub sweep_height: Option<u32>,
    /// `FundsSwept` was raised.
    pub reported: bool,
}

impl RecoveryRecord {
    /// A channel fresh from a backup.
    pub fn new(channel: ChannelBackup, sequence: u64) -> Self {
        RecoveryRecord {
            channel,
            sequence,
            funding_spend: None,
            sweep: None,
            swept_value: 0,
            sweep_height: None,
            reported: false,
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = TlvStreamWriter::new();
        w.put(0, &1u8);
        w.put_raw(2, &self.channel.encode());
        w.put(4, &self.sequence);
        if let Some((txid, h)) = self.funding_spend {
            let mut v = txid.to_byte_array().to_vec();
            v.extend_from_slice(&h.to_be_bytes());
            w.put_raw(5, &v);
        }
        if let Some(tx) = &self.sweep {
            w.put_raw(7, &serialize(tx));
            w.put(9, &self.swept_value);
        }
        if let Some(h) = self.sweep_height {
            w.put(11, &h);
        }
        if self.reported {
            w.put(13, &1u8);
        }
        w.into_bytes()
    }

    /// Reads a record; damage is an error, never a panic.
    pub fn decode(data: &[u8]) -> Result<Self, BackupError> {
        let bad = |what: &'static str| {
            move |e: DecodeError| BackupError::Malformed(format!("{what}: {e}"))
        };
        let mut r = Reader::new(data);
        let mut s = TlvStreamReader::parse(&mut r).map_err(bad("recovery record"))?;
        let version = s.take::<u8>(0, "version").map_err(bad("version"))?;
        if version != Some(1) {
            return Err(BackupError::UnsupportedVersion(version.unwrap_or(0)));
        }
        let channel = ChannelBackup::decode(
            s.take_raw(2)
                .ok_or_else(|| BackupError::Malformed("missing channel".into()))?,
        )?;
        let sequence = s
            .take::<u64>(4, "sequence")
            .map_err(bad("sequence"))?
            .unwrap_or(0);
        let funding_spend = s
            .take_with(5, "funding_spend", |r| {
                let txid = r.read_array::<32>()?;
                let h = r.read_array::<4>()?;
                Ok((Txid::from_byte_array(txid), u32::from_be_bytes(h)))
            })
            .map_err(bad("funding_spend"))?;
        let sweep = match s.take_raw(7) {
            None => None,
            Some(b) => Some(
                deserialize::<Transaction>(b)
                    .map_err(|_| BackupError::Malformed("sweep transaction".into()))?,
            ),
        };
        let swept_value = s
            .take::<u64>(9, "swept_value")
            .map_err(bad("swept_value"))?
            .unwrap_or(0);
        let sweep_height = s
            .take::<u32>(11, "sweep_height")
            .map_err(bad("sweep_height"))?;
        let reported = s
            .take::<u8>(13, "reported")
            .map_err(bad("reported"))?
            .is_some();
        s.finish().map_err(bad("recovery record"))?;
        Ok(RecoveryRecord {
            channel,
            sequence,
            funding_spend,
            sweep,
            swept_value,
            sweep_height,
            reported,
        })
    }
}

/// The commitment format of a backed-up channel.
pub fn format_of(channel: &ChannelBackup) -> CommitmentFormat {
    if channel.channel_type.anchors {
        CommitmentFormat::AnchorsZeroFeeHtlc
    } else {
        CommitmentFormat::StaticRemoteKey
    }
}

/// Our `to_remote` output in `tx` (the peer's commitment), if it pays us:
/// its script is fixed by our `payment_basepoint` alone (BOLT 3,
/// "`to_remote` Output", with `option_static_remotekey`).
pub fn find_to_remote(
    tx: &Transaction,
    channel: &ChannelBackup,
    signer: &dyn ChannelSigner,
) -> Option<SpendableOutput> {
    let payment = signer.pubkeys().payment_basepoint;
    let format = format_of(channel);
    let script = to_remote_script_pubkey(&payment, format);
    let txid = tx.compute_txid();
    let (vout, out) = tx
        .output
        .iter()
        .enumerate()
        .find(|(_, o)| o.script_pubkey == script)?;
    let (witness_script, path) = match format {
        CommitmentFormat::StaticRemoteKey => {
            (script, SpendPath::ToRemoteP2wpkh { pubkey: payment })
        }
        CommitmentFormat::AnchorsZeroFeeHtlc => (
            to_remote_anchors_script(&payment),
            SpendPath::ToRemoteAnchors,
        ),
    };
    Some(SpendableOutput {
        outpoint: OutPoint {
            txid,
            vout: u32::try_from(vout).ok()?,
        },
        value: out.value,
        witness_script,
        path,
    })
}

/// Builds and signs the sweep of `output` to `destination` at `feerate`.
pub fn sign_sweep(
    output: &SpendableOutput,
    signer: &dyn ChannelSigner,
    destination: ScriptBuf,
    feerate: FeeratePerKw,
) -> Result<Transaction, BackupError> {
    let mut tx = build_sweep_transaction(std::slice::from_ref(output), destination, feerate, 0)
        .map_err(|e| BackupError::Malformed(format!("sweep: {e}")))?;
    signer
        .sign_spend_input(&mut tx, 0, output, SpendKeyMaterial::None)
        .map_err(|e| BackupError::Key(e.to_string()))?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Amount;

    #[test]
    fn record_round_trip_and_truncation() {
        let ch = super::super::format::tests::sample(1).channels[0].clone();
        let mut r = RecoveryRecord::new(ch, 7);
        assert_eq!(RecoveryRecord::decode(&r.encode()).unwrap(), r);
        r.funding_spend = Some((Txid::from_byte_array([4; 32]), 200));
        r.sweep = Some(Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![],
            output: vec![bitcoin::TxOut {
                value: Amount::from_sat(5),
                script_pubkey: ScriptBuf::new(),
            }],
        });
        r.swept_value = 1000;
        r.sweep_height = Some(201);
        r.reported = true;
        let bytes = r.encode();
        assert_eq!(RecoveryRecord::decode(&bytes).unwrap(), r);
        // A cut inside a record is an error; at a record boundary the
        // optional fields after it are gone. Never a panic, never the
        // whole record back.
        for n in 0..bytes.len() {
            assert_ne!(
                RecoveryRecord::decode(&bytes[..n]).ok(),
                Some(r.clone()),
                "{n}"
            );
        }
    }
}
