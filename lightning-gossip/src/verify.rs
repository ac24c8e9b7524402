//! Signature hashes and checks of the three gossip messages, and the
//! funding script a `channel_announcement` must match.
//!
//! BOLT 7: the signatures of `channel_announcement` cover "the double-SHA256
//! hash `h` of the message, beginning at offset 256, up to the end of the
//! message" (after the four signatures); those of `node_announcement` and
//! `channel_update` cover "the double-SHA256 of the entire remaining packet
//! after `signature`". The wire structs re-encode byte for byte what they
//! decoded (ARCHITECTURE.md, "Messages"), so the hash is taken over a
//! re-encoding.

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::opcodes::all::OP_CHECKMULTISIG;
use bitcoin::script::{Builder, ScriptBuf};
use lightning_wire::codec::Encode;
use lightning_wire::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SECP256K1};

use crate::GossipError;

/// Length of the four signatures that start a `channel_announcement`.
const ANNOUNCEMENT_SIGS_LEN: usize = 4 * 64;
/// Length of the one signature that starts the other two messages.
const SIG_LEN: usize = 64;

fn hash_after(encoded: &[u8], skip: usize) -> Result<Message, GossipError> {
    let body = encoded.get(skip..).ok_or(GossipError::Unencodable)?;
    Ok(Message::from_digest(
        sha256d::Hash::hash(body).to_byte_array(),
    ))
}

/// The digest the four `channel_announcement` signatures sign.
pub fn channel_announcement_digest(msg: &ChannelAnnouncement) -> Result<Message, GossipError> {
    hash_after(&msg.to_bytes(), ANNOUNCEMENT_SIGS_LEN)
}

/// The digest `node_announcement.signature` signs.
pub fn node_announcement_digest(msg: &NodeAnnouncement) -> Result<Message, GossipError> {
    hash_after(&msg.to_bytes(), SIG_LEN)
}

/// The digest `channel_update.signature` signs.
pub fn channel_update_digest(msg: &ChannelUpdate) -> Result<Message, GossipError> {
    hash_after(&msg.to_bytes(), SIG_LEN)
}

/// Verifies `sig` by `key` over `digest`. A high-S signature is accepted
/// after normalising: BOLT 7 notes that "an intermediate node ... can
/// rebroadcast it just by changing the `s` component of signature with
/// `-s`", which must not make an honest message invalid.
pub fn check(
    digest: &Message,
    sig: &Signature,
    key: &PublicKey,
    which: &'static str,
) -> Result<(), GossipError> {
    let mut sig = *sig;
    sig.normalize_s();
    SECP256K1
        .verify_ecdsa(digest, &sig, key)
        .map_err(|_| GossipError::InvalidSignature { which })
}

/// Verifies all four signatures of a `channel_announcement` (BOLT 7:
/// "MUST verify the integrity AND authenticity of the message by verifying
/// the signatures").
pub fn check_channel_announcement(msg: &ChannelAnnouncement) -> Result<(), GossipError> {
    let digest = channel_announcement_digest(msg)?;
    check(
        &digest,
        &msg.node_signature_1,
        &msg.node_id_1,
        "node_signature_1",
    )?;
    check(
        &digest,
        &msg.node_signature_2,
        &msg.node_id_2,
        "node_signature_2",
    )?;
    check(
        &digest,
        &msg.bitcoin_signature_1,
        &msg.bitcoin_key_1,
        "bitcoin_signature_1",
    )?;
    check(
        &digest,
        &msg.bitcoin_signature_2,
        &msg.bitcoin_key_2,
        "bitcoin_signature_2",
    )
}

/// The P2WSH `script_pubkey` of the 2-of-2 funding output of two funding
/// keys (BOLT 3, "Funding Transaction Output": `2 <pubkey1> <pubkey2> 2
/// OP_CHECKMULTISIG`, keys in lexicographic order of their compressed
/// encoding).
pub fn funding_script_pubkey(a: &PublicKey, b: &PublicKey) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&funding_witness_script(&a.serialize(), &b.serialize()).wscript_hash())
}

/// The funding output's witness script (BOLT 3, "Funding Transaction
/// Output": `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`, keys in
/// lexicographic order), of two compressed keys. Every spend of the
/// funding output carries it as its last witness element.
pub fn funding_witness_script(a: &[u8; 33], b: &[u8; 33]) -> ScriptBuf {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    Builder::new()
        .push_int(2)
        .push_slice(first)
        .push_slice(second)
        .push_int(2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BOLT 3 appendix B: the funding witness script of the test keys.
    #[test]
    fn funding_script_matches_bolt3_vector() {
        let k1 = PublicKey::from_slice(
            &hex::decode("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb")
                .unwrap(),
        )
        .unwrap();
        let k2 = PublicKey::from_slice(
            &hex::decode("030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1")
                .unwrap(),
        )
        .unwrap();
        let witness = hex::decode("5221023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb21030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c152ae").unwrap();
        let expect = ScriptBuf::new_p2wsh(&bitcoin::Script::from_bytes(&witness).wscript_hash());
        assert_eq!(funding_script_pubkey(&k1, &k2), expect);
        assert_eq!(funding_script_pubkey(&k2, &k1), expect);
    }
}
