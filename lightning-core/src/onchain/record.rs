//! The resolver's persisted form (key `onchain/<channel id hex>`): its own
//! versioned binary encoding, big-endian, every variable part
//! length-prefixed. The decoder never panics and never allocates more than
//! the input could hold: a damaged record is an error, and the node then
//! classifies the funding spend again from the channel record.
//!
//! ```text
//! u16 version (1)
//! u8 has_spend [u8 kind, opt_u32 height, u32 len, tx]
//! u32 claims { u8 kind, u8 has_hash [32 hash], u32 len, tx, u64 value_sat,
//!              32 parent, opt_u32 parent_height, u16 csv, u32 cltv,
//!              opt_u32 confirmed_at, u8 has_conflict [32 txid, u32 height] }
//! u32 history { u8 offerer (0 us, 1 peer), u64 amount_msat, 32 hash,
//!               u32 cltv_expiry, u64 first_seen }
//! opt_u32 = u8 flag [u32]
//! -- version 2 adds, after the history (version 1 records end there and
//! -- still decode, with no fee bump data):
//! u32 claims { u8 has_bump [bump] }   (as many as the claims above)
//! u8 has_anchor [anchor]
//! u32 retired claims { as claims above }, u32 { u8 has_bump [bump] }
//! bump = bytes fee_bump_state, utxos, u32 n { 32 replaced txid }, u8 warned
//! anchor = bytes parent tx, u64 parent_fee, bytes fee_bump_state,
//!          u8 has_child [bytes tx], utxos, u8 warned
//! utxos = u32 n { 32 txid, u32 vout, u64 value, bytes script, u64 weight }
//! bytes = u32 len, data
//! -- version 3 adds, after the retired claims' bumps (version 1 and 2
//! -- records end before and still decode, with no HTLC ids):
//! u32 claims { u8 has_htlc_id [u64 htlc_id] }   (as many as the claims)
//! -- version 4 adds, after the HTLC ids (version 1 to 3 records end
//! -- before and still decode, no wallet coin marked spent):
//! u32 claims { u8 inputs_spent }   (as many as the claims; 1 only with
//!                                  bump data)
//! ```

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Amount, Transaction, Txid};
use lightning_wire::types::PaymentHash;

use super::bump::record::{
    get_anchor_bump, get_claim_bump, put_anchor_bump, put_claim_bump, Cursor,
};
use super::classify::HtlcCandidate;
use super::resolver::{
    ChannelResolver, ClaimTag, FundingSpend, HtlcHistoryEntry, PendingClaim, SpendTag,
};
use crate::channel::update_log::Side;

/// The format version written.
pub const RECORD_VERSION: u16 = 4;

/// A resolver record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Shorter than its fields say.
    #[error("truncated resolver record")]
    Truncated,
    /// A version this code does not read.
    #[error("unknown resolver record version {0}")]
    Version(u16),
    /// A field holds a value no writer produces.
    #[error("bad resolver record field: {0}")]
    Bad(&'static str),
    /// Bytes left after the last field.
    #[error("trailing bytes in resolver record")]
    Trailing,
}

/// Encodes `r`.
pub fn encode(r: &ChannelResolver) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&RECORD_VERSION.to_be_bytes());
    match &r.spend {
        None => w.push(0),
        Some(s) => {
            w.push(1);
            w.push(s.kind.to_u8());
            put_opt(&mut w, s.height);
            put_tx(&mut w, &s.tx);
        }
    }
    put_claims(&mut w, &r.claims);
    put_len(&mut w, r.history.len());
    for h in &r.history {
        w.push(u8::from(h.htlc.offerer == Side::Remote));
        w.extend_from_slice(&h.htlc.amount_msat.to_be_bytes());
        w.extend_from_slice(&h.htlc.payment_hash.0);
        w.extend_from_slice(&h.htlc.cltv_expiry.to_be_bytes());
        w.extend_from_slice(&h.first_seen.to_be_bytes());
    }
    put_bumps(&mut w, &r.claims);
    match &r.anchor {
        None => w.push(0),
        Some(a) => {
            w.push(1);
            put_anchor_bump(&mut w, a);
        }
    }
    put_claims(&mut w, &r.retired);
    put_bumps(&mut w, &r.retired);
    put_len(&mut w, r.claims.len());
    for c in &r.claims {
        match c.htlc_id {
            None => w.push(0),
            Some(id) => {
                w.push(1);
                w.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
    put_len(&mut w, r.claims.len());
    for c in &r.claims {
        w.push(u8::from(c.bump.as_ref().is_some_and(|b| b.inputs_spent)));
    }
    w
}

fn put_claims(w: &mut Vec<u8>, claims: &[PendingClaim]) {
    put_len(w, claims.len());
    for c in claims {
        w.push(c.kind.to_u8());
        match c.payment_hash {
            None => w.push(0),
            Some(h) => {
                w.push(1);
                w.extend_from_slice(&h.0);
            }
        }
        put_tx(w, &c.tx);
        w.extend_from_slice(&c.value.to_sat().to_be_bytes());
        w.extend_from_slice(c.parent.as_byte_array());
        put_opt(w, c.parent_height);
        w.extend_from_slice(&c.csv.to_be_bytes());
        w.extend_from_slice(&c.cltv.to_be_bytes());
        put_opt(w, c.confirmed_at);
        match c.conflicted {
            None => w.push(0),
            Some((txid, h)) => {
                w.push(1);
                w.extend_from_slice(txid.as_byte_array());
                w.extend_from_slice(&h.to_be_bytes());
            }
        }
    }
}

fn put_bumps(w: &mut Vec<u8>, claims: &[PendingClaim]) {
    put_len(w, claims.len());
    for c in claims {
        match &c.bump {
            None => w.push(0),
            Some(b) => {
                w.push(1);
                put_claim_bump(w, b);
            }
        }
    }
}

/// Decodes a record [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<ChannelResolver, RecordError> {
    let mut r = Reader(bytes);
    let version = u16::from_be_bytes(r.array()?);
    if !(1..=RECORD_VERSION).contains(&version) {
        return Err(RecordError::Version(version));
    }
    let spend = match r.u8()? {
        0 => None,
        1 => {
            let kind = SpendTag::from_u8(r.u8()?).ok_or(RecordError::Bad("spend kind"))?;
            let height = r.opt()?;
            let tx = r.tx()?;
            Some(FundingSpend { tx, height, kind })
        }
        _ => return Err(RecordError::Bad("spend flag")),
    };
    let mut claims = get_claims(&mut r)?;
    let n = r.count(53)?;
    let mut history = Vec::with_capacity(n);
    for _ in 0..n {
        let offerer = match r.u8()? {
            0 => Side::Local,
            1 => Side::Remote,
            _ => return Err(RecordError::Bad("offerer")),
        };
        let amount_msat = u64::from_be_bytes(r.array()?);
        let payment_hash = PaymentHash(r.array()?);
        let cltv_expiry = u32::from_be_bytes(r.array()?);
        let first_seen = u64::from_be_bytes(r.array()?);
        history.push(HtlcHistoryEntry {
            htlc: HtlcCandidate {
                offerer,
                amount_msat,
                payment_hash,
                cltv_expiry,
            },
            first_seen,
        });
    }
    let mut anchor = None;
    let mut retired = Vec::new();
    if version >= 2 {
        get_bumps(&mut r, &mut claims)?;
        anchor = match r.u8()? {
            0 => None,
            1 => {
                let mut c = Cursor(r.0);
                let a = get_anchor_bump(&mut c).map_err(|e| RecordError::Bad(e.0))?;
                r.0 = c.0;
                Some(a)
            }
            _ => return Err(RecordError::Bad("anchor flag")),
        };
        retired = get_claims(&mut r)?;
        get_bumps(&mut r, &mut retired)?;
    }
    if version >= 3 {
        if r.count(1)? != claims.len() {
            return Err(RecordError::Bad("HTLC id count"));
        }
        for claim in claims.iter_mut() {
            claim.htlc_id = match r.u8()? {
                0 => None,
                1 => Some(u64::from_be_bytes(r.array()?)),
                _ => return Err(RecordError::Bad("HTLC id flag")),
            };
        }
    }
    if version >= 4 {
        if r.count(1)? != claims.len() {
            return Err(RecordError::Bad("spent wallet coin count"));
        }
        for claim in claims.iter_mut() {
            match (r.u8()?, claim.bump.as_mut()) {
                (0, _) => {}
                (1, Some(b)) => b.inputs_spent = true,
                _ => return Err(RecordError::Bad("spent wallet coin flag")),
            }
        }
    }
    if !r.0.is_empty() {
        return Err(RecordError::Trailing);
    }
    Ok(ChannelResolver {
        spend,
        claims,
        history,
        anchor,
        retired,
    })
}

fn get_claims(r: &mut Reader<'_>) -> Result<Vec<PendingClaim>, RecordError> {
    // Each claim takes at least 70 bytes, each history entry 53: a count
    // above what is left is refused before anything is allocated.
    let n = r.count(70)?;
    let mut claims = Vec::with_capacity(n);
    for _ in 0..n {
        let kind = ClaimTag::from_u8(r.u8()?).ok_or(RecordError::Bad("claim kind"))?;
        let payment_hash = match r.u8()? {
            0 => None,
            1 => Some(PaymentHash(r.array()?)),
            _ => return Err(RecordError::Bad("hash flag")),
        };
        let tx = r.tx()?;
        let value = Amount::from_sat(u64::from_be_bytes(r.array()?));
        let parent = Txid::from_byte_array(r.array()?);
        let parent_height = r.opt()?;
        let csv = u16::from_be_bytes(r.array()?);
        let cltv = u32::from_be_bytes(r.array()?);
        let confirmed_at = r.opt()?;
        let conflicted = match r.u8()? {
            0 => None,
            1 => Some((
                Txid::from_byte_array(r.array()?),
                u32::from_be_bytes(r.array()?),
            )),
            _ => return Err(RecordError::Bad("conflict flag")),
        };
        claims.push(PendingClaim {
            kind,
            payment_hash,
            htlc_id: None,
            tx,
            value,
            parent,
            parent_height,
            csv,
            cltv,
            confirmed_at,
            conflicted,
            bump: None,
        });
    }
    Ok(claims)
}

fn get_bumps(r: &mut Reader<'_>, claims: &mut [PendingClaim]) -> Result<(), RecordError> {
    if r.count(1)? != claims.len() {
        return Err(RecordError::Bad("bump count"));
    }
    for claim in claims.iter_mut() {
        let has = r.u8()?;
        let mut c = Cursor(r.0);
        claim.bump = match has {
            0 => None,
            1 => Some(get_claim_bump(&mut c).map_err(|e| RecordError::Bad(e.0))?),
            _ => return Err(RecordError::Bad("bump flag")),
        };
        r.0 = c.0;
    }
    Ok(())
}

fn put_opt(w: &mut Vec<u8>, v: Option<u32>) {
    match v {
        None => w.push(0),
        Some(h) => {
            w.push(1);
            w.extend_from_slice(&h.to_be_bytes());
        }
    }
}

fn put_len(w: &mut Vec<u8>, n: usize) {
    w.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_tx(w: &mut Vec<u8>, tx: &Transaction) {
    let bytes = serialize(tx);
    put_len(w, bytes.len());
    w.extend_from_slice(&bytes);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let s = self.take(N)?;
        <[u8; N]>::try_from(s).map_err(|_| RecordError::Truncated)
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.array::<1>()?[0])
    }
    fn opt(&mut self) -> Result<Option<u32>, RecordError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(u32::from_be_bytes(self.array()?))),
            _ => Err(RecordError::Bad("option flag")),
        }
    }
    fn count(&mut self, min_each: usize) -> Result<usize, RecordError> {
        let n = usize::try_from(u32::from_be_bytes(self.array()?))
            .map_err(|_| RecordError::Bad("count"))?;
        if n.saturating_mul(min_each) > self.0.len() {
            return Err(RecordError::Truncated);
        }
        Ok(n)
    }
    fn tx(&mut self) -> Result<Transaction, RecordError> {
        let n = usize::try_from(u32::from_be_bytes(self.array()?))
            .map_err(|_| RecordError::Bad("length"))?;
        let bytes = self.take(n)?;
        deserialize(bytes).map_err(|_| RecordError::Bad("transaction"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};
    use lightning_chain::wallet::WalletUtxo;
    use lightning_chain::FeeRate;

    use crate::onchain::bump::record::{AnchorBump, ClaimBump};
    use crate::onchain::bump::FeeBumpState;

    fn sample() -> ChannelResolver {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(0x2000_0001),
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::new(),
                sequence: Sequence(0x8000_0002),
                witness: Witness::from_slice(&[vec![1u8; 3], vec![2u8; 5]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(12_345),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        };
        ChannelResolver {
            spend: Some(FundingSpend {
                tx: tx.clone(),
                height: Some(700),
                kind: SpendTag::CounterpartyRevoked,
            }),
            claims: vec![PendingClaim {
                kind: ClaimTag::RevokedHtlc,
                payment_hash: Some(PaymentHash([7; 32])),
                htlc_id: Some(3),
                tx: tx.clone(),
                value: Amount::from_sat(999),
                parent: tx.compute_txid(),
                parent_height: Some(700),
                csv: 1,
                cltv: 800,
                confirmed_at: None,
                conflicted: Some((tx.compute_txid(), 701)),
                bump: Some(sample_bump()),
            }],
            history: vec![HtlcHistoryEntry {
                htlc: HtlcCandidate {
                    offerer: Side::Remote,
                    amount_msat: 5_000_000,
                    payment_hash: PaymentHash([9; 32]),
                    cltv_expiry: 900,
                },
                first_seen: 4,
            }],
            retired: vec![PendingClaim {
                kind: ClaimTag::ToRemote,
                payment_hash: None,
                htlc_id: None,
                tx: tx.clone(),
                value: Amount::from_sat(5_000),
                parent: Txid::from_byte_array([5; 32]),
                parent_height: None,
                csv: 1,
                cltv: 0,
                confirmed_at: None,
                conflicted: None,
                bump: Some(sample_bump()),
            }],
            anchor: Some(AnchorBump {
                parent: tx.clone(),
                parent_fee: Amount::from_sat(1_234),
                state: FeeBumpState::new(900, FeeRate::from_sat_per_kw(9_000)),
                child: Some(tx),
                wallet_inputs: sample_bump().wallet_inputs,
                warned: true,
            }),
        }
    }

    fn sample_bump() -> ClaimBump {
        let mut state = FeeBumpState::new(800, FeeRate::from_sat_per_kw(20_000));
        state.record_broadcast(
            701,
            FeeRate::from_sat_per_kw(1_000),
            Amount::from_sat(700),
            700,
        );
        state.record_conflict(Amount::from_sat(900), 700);
        ClaimBump {
            state,
            wallet_inputs: vec![WalletUtxo {
                outpoint: OutPoint {
                    txid: Txid::from_byte_array([3; 32]),
                    vout: 2,
                },
                txout: TxOut {
                    value: Amount::from_sat(50_000),
                    script_pubkey: ScriptBuf::from_bytes(vec![0x00, 0x14, 7, 7]),
                },
                satisfaction_weight: 109,
            }],
            replaced: vec![Txid::from_byte_array([4; 32])],
            warned: false,
            inputs_spent: false,
        }
    }

    /// A record of version 1 (written before fee bumping) still decodes,
    /// without bump data.
    #[test]
    fn version_1_records_still_decode() {
        let mut r = sample();
        r.anchor = None;
        r.retired.clear();
        r.claims[0].bump = None;
        r.claims[0].htlc_id = None;
        let v4 = encode(&r);
        // Version 1: the same fields, without the bump section (a count,
        // a flag per claim, the anchor flag), the HTLC ids and the spent
        // coin flags (a count, a flag per claim, each).
        let ids = 4 + r.claims.len();
        let v2 = v4[..v4.len() - 2 * ids].to_vec();
        let mut v1 = v2[..v2.len() - (4 + r.claims.len() + 1 + 4 + 4)].to_vec();
        v1[..2].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(decode(&v1), Ok(r.clone()));
        // A version 1 record with trailing bump data is refused.
        let mut bad = v2.clone();
        bad[..2].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(decode(&bad), Err(RecordError::Trailing));
        assert_eq!(decode(&[0, 5]), Err(RecordError::Version(5)));
    }

    /// A record of version 2 (written before claims kept their HTLC id)
    /// still decodes, with no HTLC ids and its fee bump data.
    #[test]
    fn version_2_records_still_decode() {
        let mut r = sample();
        r.claims[0].htlc_id = None;
        let v4 = encode(&r);
        let v3 = v4[..v4.len() - (4 + r.claims.len())].to_vec();
        let mut v2 = v3[..v3.len() - (4 + r.claims.len())].to_vec();
        v2[..2].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(decode(&v2), Ok(r.clone()));
        // The id of a version 3 record survives.
        let mut with_id = sample();
        with_id.claims[0].htlc_id = Some(u64::MAX);
        assert_eq!(decode(&encode(&with_id)), Ok(with_id));
        // A version 2 record followed by the id section is refused.
        let mut bad = v3;
        bad[..2].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(decode(&bad), Err(RecordError::Trailing));
    }

    /// A record of version 3 (written before spent wallet coins were
    /// marked) still decodes, no coin marked; a version 4 mark survives,
    /// and a mark on a claim without bump data is refused.
    #[test]
    fn version_3_records_still_decode() {
        let mut r = sample();
        r.claims[0].htlc_id = Some(7);
        let v4 = encode(&r);
        let mut v3 = v4[..v4.len() - (4 + r.claims.len())].to_vec();
        v3[..2].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(decode(&v3), Ok(r.clone()));
        let mut spent = r.clone();
        if let Some(b) = spent.claims[0].bump.as_mut() {
            b.inputs_spent = true;
        }
        assert_eq!(decode(&encode(&spent)), Ok(spent));
        let mut no_bump = r;
        no_bump.claims[0].bump = None;
        let mut bad = encode(&no_bump);
        if let Some(last) = bad.last_mut() {
            *last = 1;
        }
        assert_eq!(
            decode(&bad),
            Err(RecordError::Bad("spent wallet coin flag"))
        );
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(decode(&encode(&r)), Ok(r));
        let empty = ChannelResolver::default();
        assert_eq!(decode(&encode(&empty)), Ok(empty));
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_a_record() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix {n} decoded");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let _ = decode(&b);
            }
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode(&long), Err(RecordError::Trailing));
        // A huge count is refused before allocation.
        let mut huge = encode(&ChannelResolver::default());
        // The claims count, after the version and the spend flag.
        let at = 3;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&huge), Err(RecordError::Truncated));
    }
}
