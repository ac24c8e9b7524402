//! Announcing a channel (BOLT 7, "The `announcement_signatures` Message"
//! and "The `channel_announcement` Message"): when the channel may send
//! its half of the announcement, the check of the peer's half, and the
//! hashes every BOLT 7 signature is made over.
//!
//! The channel holds the funding key (through its signer) and the peer's
//! funding key; the node holds both node ids and the node key, so the node
//! drives the exchange ([`crate::node`]) and the channel answers for its
//! part: [`Channel::announcement_due`], [`Channel::announcement_signatures`]
//! and [`Channel::on_announcement_signatures`].

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{ecdsa::Signature, Message as SecpMessage, PublicKey, SECP256K1};
use lightning_wire::codec::Encode;
use lightning_wire::features::ChannelFeatures;
use lightning_wire::msgs::{
    AnnouncementSignatures, ChannelAnnouncement, ChannelUpdate, Message, NodeAnnouncement,
};
use lightning_wire::types::{ChainHash, ShortChannelId};

use super::error::ChannelError;
use super::events::ChannelOutput;
use super::state::{Channel, Phase};
use crate::keys::{ChannelSigner, KeyError};

/// BOLT 7, "The `announcement_signatures` Message": not before "the
/// funding transaction has at least six confirmations".
pub const ANNOUNCEMENT_DEPTH: u32 = 6;

/// The peer's two signatures from its `announcement_signatures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncementSigs {
    /// By the peer's node key.
    pub node_signature: Signature,
    /// By the peer's funding key.
    pub bitcoin_signature: Signature,
}

/// What a received `announcement_signatures` did.
#[derive(Debug)]
pub enum AnnouncementReceipt {
    /// Ignored as BOLT 7 says (an unannounced channel, or `channel_ready`
    /// not yet sent: "MUST ignore it"; or no real `short_channel_id` yet).
    Ignored(&'static str),
    /// Checked; `output` writes the signatures (persist before the answer).
    Stored(ChannelOutput),
}

/// A signature that is never checked: the placeholder of an unsigned
/// message, whose hash skips the signature fields.
#[allow(clippy::unwrap_used)]
fn placeholder() -> Signature {
    // r = s = 1: a constant, valid compact encoding (no outside input).
    let mut b = [0u8; 64];
    b[31] = 1;
    b[63] = 1;
    Signature::from_compact(&b).unwrap()
}

fn double_sha256_from(body: &[u8], offset: usize) -> [u8; 32] {
    sha256d::Hash::hash(body.get(offset..).unwrap_or(&[])).to_byte_array()
}

/// `h` of a `channel_announcement`: the double-SHA256 "beginning at offset
/// 256, up to the end of the message" (BOLT 7), i.e. after the four
/// signatures.
pub fn channel_announcement_hash(ann: &ChannelAnnouncement) -> [u8; 32] {
    double_sha256_from(&ann.to_bytes(), 256)
}

/// The hash a `node_announcement` signs: the double-SHA256 "of the entire
/// remaining packet after `signature`" (BOLT 7).
pub fn node_announcement_hash(ann: &NodeAnnouncement) -> [u8; 32] {
    double_sha256_from(&ann.to_bytes(), 64)
}

/// The hash a `channel_update` signs: the double-SHA256 "of the entire
/// remaining packet after `signature`" (BOLT 7).
pub fn channel_update_hash(update: &ChannelUpdate) -> [u8; 32] {
    double_sha256_from(&update.to_bytes(), 64)
}

/// Whether `sig` by `key` signs `hash`.
pub fn verify_hash(hash: &[u8; 32], sig: &Signature, key: &PublicKey) -> bool {
    SECP256K1
        .verify_ecdsa(&SecpMessage::from_digest(*hash), sig, key)
        .is_ok()
}

/// A `channel_announcement` with placeholder signatures: `node_id_1` is the
/// lexicographically lesser compressed key, `bitcoin_key_1` its funding
/// key (BOLT 7, "The `channel_announcement` Message"). No channel feature
/// is negotiated today, so `features` is empty (`len` 0).
pub fn unsigned_channel_announcement(
    chain_hash: ChainHash,
    short_channel_id: ShortChannelId,
    (node_a, bitcoin_a): (PublicKey, PublicKey),
    (node_b, bitcoin_b): (PublicKey, PublicKey),
) -> ChannelAnnouncement {
    let ((node_id_1, bitcoin_key_1), (node_id_2, bitcoin_key_2)) =
        if node_a.serialize() <= node_b.serialize() {
            ((node_a, bitcoin_a), (node_b, bitcoin_b))
        } else {
            ((node_b, bitcoin_b), (node_a, bitcoin_a))
        };
    ChannelAnnouncement {
        node_signature_1: placeholder(),
        node_signature_2: placeholder(),
        bitcoin_signature_1: placeholder(),
        bitcoin_signature_2: placeholder(),
        features: ChannelFeatures::empty(),
        chain_hash,
        short_channel_id,
        node_id_1,
        node_id_2,
        bitcoin_key_1,
        bitcoin_key_2,
        tlvs: Default::default(),
    }
}

/// Whether all four signatures of `ann` are valid over its hash.
pub fn verify_channel_announcement(ann: &ChannelAnnouncement) -> bool {
    let h = channel_announcement_hash(ann);
    verify_hash(&h, &ann.node_signature_1, &ann.node_id_1)
        && verify_hash(&h, &ann.node_signature_2, &ann.node_id_2)
        && verify_hash(&h, &ann.bitcoin_signature_1, &ann.bitcoin_key_1)
        && verify_hash(&h, &ann.bitcoin_signature_2, &ann.bitcoin_key_2)
}

impl<S: ChannelSigner> Channel<S> {
    /// BOLT 7's conditions to send `announcement_signatures`, this
    /// connection: `announce_channel` set, no `shutdown` sent,
    /// `channel_ready` sent and received, six confirmations, the peer
    /// connected and `channel_reestablish` done; and not yet sent on this
    /// connection. After a reconnection it is sent first only if the peer's
    /// has not been received ("SHOULD retransmit"); otherwise it answers
    /// the peer's first one ("MUST respond to the first
    /// `announcement_signatures` message with its own").
    pub fn announcement_due(&self) -> bool {
        // The flags that end it first: checked for every channel at every
        // block, and most channels announced theirs long ago.
        self.st.announce_channel
            && !self.tr.announcement_sent
            && self.tr.connected
            && self.st.local_shutdown.is_none()
            && matches!(self.st.phase, Phase::Normal)
            && self.st.channel_ready_sent
            && self.st.channel_ready_received
            && self.st.short_channel_id.is_some()
            && self.funding_depth() >= ANNOUNCEMENT_DEPTH
            && (self.st.remote_announcement_sigs.is_none() || self.tr.announcement_received)
    }

    /// The channel's `channel_announcement` without signatures, between
    /// `our_node_id` and `their_node_id`.
    pub fn unsigned_announcement(
        &self,
        our_node_id: PublicKey,
        their_node_id: PublicKey,
    ) -> Result<ChannelAnnouncement, ChannelError> {
        let scid = self.st.short_channel_id.ok_or(ChannelError::NotNow(
            "announce before the funding confirmed",
        ))?;
        let remote = self.remote_keys()?;
        Ok(unsigned_channel_announcement(
            self.st.chain_hash,
            scid,
            (our_node_id, self.signer.pubkeys().funding_pubkey),
            (their_node_id, remote.funding_pubkey),
        ))
    }

    /// Our `announcement_signatures` (BOLT 7), `node_sign` giving the node
    /// key's signature of the hash. Marks it sent on this connection; the
    /// message is in the output (nothing to write: the sigs are derived
    /// again, RFC 6979, whenever needed).
    pub fn announcement_signatures(
        &mut self,
        our_node_id: PublicKey,
        their_node_id: PublicKey,
        node_sign: impl FnOnce([u8; 32]) -> Result<Signature, KeyError>,
    ) -> Result<ChannelOutput, ChannelError> {
        let ann = self.unsigned_announcement(our_node_id, their_node_id)?;
        let h = channel_announcement_hash(&ann);
        let bitcoin_signature = self.signer.sign_channel_announcement(&h)?;
        let node_signature = node_sign(h).map_err(crate::keys::SignerError::from)?;
        self.tr.announcement_sent = true;
        Ok(ChannelOutput {
            messages: vec![Message::AnnouncementSignatures(AnnouncementSignatures {
                channel_id: self.st.channel_id,
                short_channel_id: ann.short_channel_id,
                node_signature,
                bitcoin_signature,
                tlvs: Default::default(),
            })],
            ..ChannelOutput::default()
        })
    }

    /// The peer's `announcement_signatures` (BOLT 7, "A recipient node"):
    /// ignored for an unannounced channel or before we sent `channel_ready`;
    /// a wrong `short_channel_id` or a bad signature is
    /// [`ChannelError::BadAnnouncementSignatures`] (a `warning` and a
    /// disconnect, which BOLT 7 allows for both). Valid signatures are
    /// stored, with a write.
    pub fn on_announcement_signatures(
        &mut self,
        m: &AnnouncementSignatures,
        our_node_id: PublicKey,
        their_node_id: PublicKey,
    ) -> Result<AnnouncementReceipt, ChannelError> {
        if !self.st.announce_channel {
            return Ok(AnnouncementReceipt::Ignored("the channel is not announced"));
        }
        if !self.st.channel_ready_sent {
            return Ok(AnnouncementReceipt::Ignored("channel_ready not sent"));
        }
        let Some(scid) = self.st.short_channel_id else {
            return Ok(AnnouncementReceipt::Ignored("no short_channel_id yet"));
        };
        if m.short_channel_id != scid {
            return Err(ChannelError::BadAnnouncementSignatures(
                "short_channel_id is not the channel's",
            ));
        }
        let ann = self.unsigned_announcement(our_node_id, their_node_id)?;
        let h = channel_announcement_hash(&ann);
        if !verify_hash(&h, &m.node_signature, &their_node_id) {
            return Err(ChannelError::BadAnnouncementSignatures("node_signature"));
        }
        let funding = self.remote_keys()?.funding_pubkey;
        if !verify_hash(&h, &m.bitcoin_signature, &funding) {
            return Err(ChannelError::BadAnnouncementSignatures("bitcoin_signature"));
        }
        let sigs = AnnouncementSigs {
            node_signature: m.node_signature,
            bitcoin_signature: m.bitcoin_signature,
        };
        // The first valid pair is kept: a retransmission (or the same
        // signatures with other nonces) costs no write.
        let ((), out) = self.run(|ch, _| {
            ch.tr.announcement_received = true;
            if ch.st.remote_announcement_sigs.is_none() {
                ch.st.remote_announcement_sigs = Some(sigs);
            }
            Ok(())
        })?;
        Ok(AnnouncementReceipt::Stored(out))
    }

    /// The full `channel_announcement`, once the peer's signatures are
    /// stored: ours are made again (deterministic) with `node_sign`.
    pub fn channel_announcement(
        &self,
        our_node_id: PublicKey,
        their_node_id: PublicKey,
        node_sign: impl FnOnce([u8; 32]) -> Result<Signature, KeyError>,
    ) -> Result<Option<ChannelAnnouncement>, ChannelError> {
        let Some(theirs) = self.st.remote_announcement_sigs else {
            return Ok(None);
        };
        let mut ann = self.unsigned_announcement(our_node_id, their_node_id)?;
        let h = channel_announcement_hash(&ann);
        let our_bitcoin = self.signer.sign_channel_announcement(&h)?;
        let our_node = node_sign(h).map_err(crate::keys::SignerError::from)?;
        if ann.node_id_1 == our_node_id {
            ann.node_signature_1 = our_node;
            ann.bitcoin_signature_1 = our_bitcoin;
            ann.node_signature_2 = theirs.node_signature;
            ann.bitcoin_signature_2 = theirs.bitcoin_signature;
        } else {
            ann.node_signature_2 = our_node;
            ann.bitcoin_signature_2 = our_bitcoin;
            ann.node_signature_1 = theirs.node_signature;
            ann.bitcoin_signature_1 = theirs.bitcoin_signature;
        }
        Ok(Some(ann))
    }
}
