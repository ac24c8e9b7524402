//! What the resolver keeps about fee bumping, beside each claim and for the
//! anchor CPFP of an unconfirmed commitment: the claim's
//! [`FeeBumpState`], the wallet coins of its last broadcast (reused by the
//! next replacement, since the wallet no longer lists coins its mempool
//! spends), the txids of the versions it replaced (any of them may still
//! confirm), and whether the host was warned that it could not be bumped.
//!
//! Persisted inside the resolver record (`onchain/record.rs`, version 2),
//! with the same rules: big-endian, every variable part length-prefixed,
//! counts checked against what is left, never a panic.

use bitcoin::hashes::Hash;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use lightning_chain::wallet::WalletUtxo;

use super::schedule::FeeBumpState;

/// The fee history of one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimBump {
    /// Its schedule (deadline, cap, broadcasts, conflicts).
    pub state: FeeBumpState,
    /// The wallet coins the last broadcast spends (anchors HTLC
    /// transactions), given back as `reuse` to its replacement.
    pub wallet_inputs: Vec<WalletUtxo>,
    /// Txids of earlier versions this claim replaced: one of them may
    /// still confirm, and then it is this claim that confirmed.
    pub replaced: Vec<Txid>,
    /// The host was told the claim cannot be bumped (no wallet, or the
    /// wallet cannot pay): told once.
    pub warned: bool,
    /// A confirmed transaction that is not this claim spent one of
    /// `wallet_inputs` (the host spent the coin, or an older claim held it
    /// too): the last version can never be mined, so the claim is rebuilt
    /// with other coins at the next block instead of broadcast again, and
    /// its coins are no longer reserved. Persisted from resolver record
    /// version 4.
    pub inputs_spent: bool,
}

impl ClaimBump {
    /// A claim's first bookkeeping, with `state`'s deadline and cap.
    pub fn new(state: FeeBumpState) -> Self {
        ClaimBump {
            state,
            wallet_inputs: Vec::new(),
            replaced: Vec::new(),
            warned: false,
            inputs_spent: false,
        }
    }
}

/// The CPFP of an unconfirmed `option_anchors` commitment (ours after a
/// force close, or the peer's once a reorg unconfirmed it) through our
/// anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorBump {
    /// The commitment, signed.
    pub parent: Transaction,
    /// Its fee (the funding value less its outputs).
    pub parent_fee: Amount,
    /// The child's schedule; its deadline is the earliest HTLC deadline of
    /// the commitment, or [`NO_DEADLINE_HORIZON`](super::NO_DEADLINE_HORIZON)
    /// blocks from the first broadcast.
    pub state: FeeBumpState,
    /// The last child broadcast.
    pub child: Option<Transaction>,
    /// The wallet coins the last child spends.
    pub wallet_inputs: Vec<WalletUtxo>,
    /// The host was told the commitment cannot be bumped.
    pub warned: bool,
}

impl AnchorBump {
    /// The parent's txid.
    pub fn parent_txid(&self) -> Txid {
        self.parent.compute_txid()
    }
}

/// A bump record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged(pub &'static str);

pub(crate) fn put_claim_bump(w: &mut Vec<u8>, b: &ClaimBump) {
    put_bytes(w, &b.state.encode());
    put_utxos(w, &b.wallet_inputs);
    put_len(w, b.replaced.len());
    for t in &b.replaced {
        w.extend_from_slice(t.as_byte_array());
    }
    w.push(u8::from(b.warned));
}

pub(crate) fn get_claim_bump(r: &mut Cursor<'_>) -> Result<ClaimBump, Damaged> {
    let state = FeeBumpState::decode(r.bytes()?).map_err(|_| Damaged("fee bump state"))?;
    let wallet_inputs = get_utxos(r)?;
    let n = r.count(32)?;
    let mut replaced = Vec::with_capacity(n);
    for _ in 0..n {
        replaced.push(Txid::from_byte_array(r.array()?));
    }
    let warned = r.flag()?;
    Ok(ClaimBump {
        state,
        wallet_inputs,
        replaced,
        warned,
        inputs_spent: false,
    })
}

pub(crate) fn put_anchor_bump(w: &mut Vec<u8>, b: &AnchorBump) {
    put_bytes(w, &bitcoin::consensus::serialize(&b.parent));
    w.extend_from_slice(&b.parent_fee.to_sat().to_be_bytes());
    put_bytes(w, &b.state.encode());
    match &b.child {
        None => w.push(0),
        Some(c) => {
            w.push(1);
            put_bytes(w, &bitcoin::consensus::serialize(c));
        }
    }
    put_utxos(w, &b.wallet_inputs);
    w.push(u8::from(b.warned));
}

pub(crate) fn get_anchor_bump(r: &mut Cursor<'_>) -> Result<AnchorBump, Damaged> {
    let parent = r.tx()?;
    let parent_fee = Amount::from_sat(u64::from_be_bytes(r.array()?));
    let state = FeeBumpState::decode(r.bytes()?).map_err(|_| Damaged("fee bump state"))?;
    let child = if r.flag()? { Some(r.tx()?) } else { None };
    let wallet_inputs = get_utxos(r)?;
    let warned = r.flag()?;
    Ok(AnchorBump {
        parent,
        parent_fee,
        state,
        child,
        wallet_inputs,
        warned,
    })
}

fn put_len(w: &mut Vec<u8>, n: usize) {
    w.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_len(w, b.len());
    w.extend_from_slice(b);
}

fn put_utxos(w: &mut Vec<u8>, utxos: &[WalletUtxo]) {
    put_len(w, utxos.len());
    for u in utxos {
        w.extend_from_slice(u.outpoint.txid.as_byte_array());
        w.extend_from_slice(&u.outpoint.vout.to_be_bytes());
        w.extend_from_slice(&u.txout.value.to_sat().to_be_bytes());
        put_bytes(w, u.txout.script_pubkey.as_bytes());
        w.extend_from_slice(&u.satisfaction_weight.to_be_bytes());
    }
}

fn get_utxos(r: &mut Cursor<'_>) -> Result<Vec<WalletUtxo>, Damaged> {
    // 32 + 4 + 8 + 4 + 8 bytes at least each.
    let n = r.count(56)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let txid = Txid::from_byte_array(r.array()?);
        let vout = u32::from_be_bytes(r.array()?);
        let value = Amount::from_sat(u64::from_be_bytes(r.array()?));
        let script_pubkey = ScriptBuf::from_bytes(r.bytes()?.to_vec());
        let satisfaction_weight = u64::from_be_bytes(r.array()?);
        v.push(WalletUtxo {
            outpoint: OutPoint { txid, vout },
            txout: TxOut {
                value,
                script_pubkey,
            },
            satisfaction_weight,
        });
    }
    Ok(v)
}

/// A bounds-checked reader over a record's bytes.
pub(crate) struct Cursor<'a>(pub(crate) &'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Damaged> {
        if self.0.len() < n {
            return Err(Damaged("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Damaged> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| Damaged("truncated"))
    }
    fn flag(&mut self) -> Result<bool, Damaged> {
        match self.array::<1>()?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Damaged("flag")),
        }
    }
    fn len(&mut self) -> Result<usize, Damaged> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| Damaged("length"))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Damaged> {
        let n = self.len()?;
        self.take(n)
    }
    fn count(&mut self, min_each: usize) -> Result<usize, Damaged> {
        let n = self.len()?;
        if n.saturating_mul(min_each) > self.0.len() {
            return Err(Damaged("truncated"));
        }
        Ok(n)
    }
    fn tx(&mut self) -> Result<Transaction, Damaged> {
        bitcoin::consensus::deserialize(self.bytes()?).map_err(|_| Damaged("transaction"))
    }
}
