//! Witness scripts and output scripts of BOLT 3.
//!
//! Every function returns the *witness script*; the output script is its
//! P2WSH ([`ScriptBuf::new_p2wsh`] of [`Script::wscript_hash`]), except the
//! `to_remote` output of `option_static_remotekey`, which is P2WPKH.

use bitcoin::hashes::{hash160, ripemd160, Hash};
use bitcoin::opcodes::all::*;
use bitcoin::script::{Builder, Script, ScriptBuf};
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, WPubkeyHash};

use super::CommitmentFormat;
use lightning_wire::types::PaymentHash;

/// The value of each anchor output (BOLT 3, "`to_local_anchor` and
/// `to_remote_anchor` Output (option_anchors)").
pub const ANCHOR_OUTPUT_VALUE: Amount = Amount::from_sat(330);

/// The relative delay (blocks) after which anyone may spend an anchor.
pub const ANCHOR_ANYONE_CAN_SPEND_DELAY: u16 = 16;

/// Funding output: `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`, where pubkey1
/// is the lexicographically lesser of the two compressed funding keys
/// (BOLT 3, "Funding Transaction Output").
///
/// ```
/// use lightning_core::transactions::scripts::funding_script;
/// use bitcoin::secp256k1::PublicKey;
/// use std::str::FromStr;
/// let a = PublicKey::from_str("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb").unwrap();
/// let b = PublicKey::from_str("030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1").unwrap();
/// assert_eq!(funding_script(&a, &b), funding_script(&b, &a));
/// ```
pub fn funding_script(a: &PublicKey, b: &PublicKey) -> ScriptBuf {
    let (first, second) = sort_keys(a, b);
    Builder::new()
        .push_opcode(OP_PUSHNUM_2)
        .push_slice(first.serialize())
        .push_slice(second.serialize())
        .push_opcode(OP_PUSHNUM_2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

/// The two funding keys in script order (lesser compressed encoding first).
pub fn sort_keys<'a>(a: &'a PublicKey, b: &'a PublicKey) -> (&'a PublicKey, &'a PublicKey) {
    if a.serialize() <= b.serialize() {
        (a, b)
    } else {
        (b, a)
    }
}

/// `to_local` output, also the output of HTLC-success and HTLC-timeout
/// transactions (BOLT 3, "`to_local` Output"):
///
/// ```text
/// OP_IF <revocationpubkey> OP_ELSE `to_self_delay` OP_CHECKSEQUENCEVERIFY OP_DROP
/// <local_delayedpubkey> OP_ENDIF OP_CHECKSIG
/// ```
pub fn to_local_script(
    revocation_pubkey: &PublicKey,
    to_self_delay: u16,
    local_delayed_pubkey: &PublicKey,
) -> ScriptBuf {
    Builder::new()
        .push_opcode(OP_IF)
        .push_slice(revocation_pubkey.serialize())
        .push_opcode(OP_ELSE)
        .push_int(i64::from(to_self_delay))
        .push_opcode(OP_CSV)
        .push_opcode(OP_DROP)
        .push_slice(local_delayed_pubkey.serialize())
        .push_opcode(OP_ENDIF)
        .push_opcode(OP_CHECKSIG)
        .into_script()
}

/// `to_remote` output script (BOLT 3, "`to_remote` Output"): P2WPKH of
/// `remotepubkey` with `option_static_remotekey`; with `option_anchors`,
/// P2WSH of `<remotepubkey> OP_CHECKSIGVERIFY 1 OP_CHECKSEQUENCEVERIFY`.
pub fn to_remote_script_pubkey(
    remote_pubkey: &PublicKey,
    channel_type: CommitmentFormat,
) -> ScriptBuf {
    match channel_type {
        CommitmentFormat::StaticRemoteKey => p2wpkh(remote_pubkey),
        CommitmentFormat::AnchorsZeroFeeHtlc => {
            ScriptBuf::new_p2wsh(&to_remote_anchors_script(remote_pubkey).wscript_hash())
        }
    }
}

/// The witness script of the `option_anchors` `to_remote` output.
pub fn to_remote_anchors_script(remote_pubkey: &PublicKey) -> ScriptBuf {
    Builder::new()
        .push_slice(remote_pubkey.serialize())
        .push_opcode(OP_CHECKSIGVERIFY)
        .push_int(1)
        .push_opcode(OP_CSV)
        .into_script()
}

/// P2WPKH output script of a compressed key.
pub fn p2wpkh(pubkey: &PublicKey) -> ScriptBuf {
    let hash =
        WPubkeyHash::from_byte_array(hash160::Hash::hash(&pubkey.serialize()).to_byte_array());
    ScriptBuf::new_p2wpkh(&hash)
}

/// P2WSH output script of a witness script.
pub fn p2wsh(witness_script: &Script) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&witness_script.wscript_hash())
}

/// `RIPEMD160(SHA256(key))`, as the HTLC scripts commit to the revocation key.
fn hash160_of_key(key: &PublicKey) -> [u8; 20] {
    hash160::Hash::hash(&key.serialize()).to_byte_array()
}

/// `RIPEMD160(payment_hash)`.
fn ripemd_of_payment_hash(payment_hash: &PaymentHash) -> [u8; 20] {
    ripemd160::Hash::hash(&payment_hash.0).to_byte_array()
}

/// The per-HTLC keys of one commitment transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtlcScriptKeys<'a> {
    /// `revocationpubkey`.
    pub revocation_pubkey: &'a PublicKey,
    /// `local_htlcpubkey` (the commitment holder's).
    pub local_htlc_pubkey: &'a PublicKey,
    /// `remote_htlcpubkey`.
    pub remote_htlc_pubkey: &'a PublicKey,
}

/// Offered HTLC output (BOLT 3, "Offered HTLC Outputs"): the commitment
/// holder offered the HTLC; the remote claims it with the preimage, the
/// holder times it out through an HTLC-timeout transaction.
///
/// `option_anchors` adds `1 OP_CHECKSEQUENCEVERIFY OP_DROP` before the final
/// `OP_ENDIF`.
pub fn offered_htlc_script(
    keys: HtlcScriptKeys<'_>,
    payment_hash: &PaymentHash,
    channel_type: CommitmentFormat,
) -> ScriptBuf {
    let b = Builder::new()
        .push_opcode(OP_DUP)
        .push_opcode(OP_HASH160)
        .push_slice(hash160_of_key(keys.revocation_pubkey))
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_IF)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ELSE)
        .push_slice(keys.remote_htlc_pubkey.serialize())
        .push_opcode(OP_SWAP)
        .push_opcode(OP_SIZE)
        .push_int(32)
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_NOTIF)
        .push_opcode(OP_DROP)
        .push_int(2)
        .push_opcode(OP_SWAP)
        .push_slice(keys.local_htlc_pubkey.serialize())
        .push_int(2)
        .push_opcode(OP_CHECKMULTISIG)
        .push_opcode(OP_ELSE)
        .push_opcode(OP_HASH160)
        .push_slice(ripemd_of_payment_hash(payment_hash))
        .push_opcode(OP_EQUALVERIFY)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ENDIF);
    anchors_csv(b, channel_type)
        .push_opcode(OP_ENDIF)
        .into_script()
}

/// Received HTLC output (BOLT 3, "Received HTLC Outputs"): the holder claims
/// it with the preimage through an HTLC-success transaction; the remote
/// times it out after `cltv_expiry`.
pub fn received_htlc_script(
    keys: HtlcScriptKeys<'_>,
    payment_hash: &PaymentHash,
    cltv_expiry: u32,
    channel_type: CommitmentFormat,
) -> ScriptBuf {
    let b = Builder::new()
        .push_opcode(OP_DUP)
        .push_opcode(OP_HASH160)
        .push_slice(hash160_of_key(keys.revocation_pubkey))
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_IF)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ELSE)
        .push_slice(keys.remote_htlc_pubkey.serialize())
        .push_opcode(OP_SWAP)
        .push_opcode(OP_SIZE)
        .push_int(32)
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_IF)
        .push_opcode(OP_HASH160)
        .push_slice(ripemd_of_payment_hash(payment_hash))
        .push_opcode(OP_EQUALVERIFY)
        .push_int(2)
        .push_opcode(OP_SWAP)
        .push_slice(keys.local_htlc_pubkey.serialize())
        .push_int(2)
        .push_opcode(OP_CHECKMULTISIG)
        .push_opcode(OP_ELSE)
        .push_opcode(OP_DROP)
        .push_int(i64::from(cltv_expiry))
        .push_opcode(OP_CLTV)
        .push_opcode(OP_DROP)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ENDIF);
    anchors_csv(b, channel_type)
        .push_opcode(OP_ENDIF)
        .into_script()
}

fn anchors_csv(b: Builder, channel_type: CommitmentFormat) -> Builder {
    match channel_type {
        CommitmentFormat::StaticRemoteKey => b,
        CommitmentFormat::AnchorsZeroFeeHtlc => {
            b.push_int(1).push_opcode(OP_CSV).push_opcode(OP_DROP)
        }
    }
}

/// Anchor output (BOLT 3, "`to_local_anchor` and `to_remote_anchor`
/// Output"): `<funding_pubkey> OP_CHECKSIG OP_IFDUP OP_NOTIF
/// OP_16 OP_CHECKSEQUENCEVERIFY OP_ENDIF`. Spendable by the funding key at
/// once, or by anyone after 16 blocks.
pub fn anchor_script(funding_pubkey: &PublicKey) -> ScriptBuf {
    Builder::new()
        .push_slice(funding_pubkey.serialize())
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_IFDUP)
        .push_opcode(OP_NOTIF)
        .push_int(i64::from(ANCHOR_ANYONE_CAN_SPEND_DELAY))
        .push_opcode(OP_CSV)
        .push_opcode(OP_ENDIF)
        .into_script()
}
