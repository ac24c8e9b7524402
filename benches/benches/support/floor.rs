//! The cryptographic floors of the payment and forward benches: the
//! secp256k1, SHA-256, HMAC-SHA256, ChaCha20 and ChaCha20-Poly1305 work the
//! protocol needs, done on dummy data with the plain primitives (the
//! `secp256k1` crate; SHA-256 from `bitcoin::hashes`; HMAC-SHA256 and the
//! ChaCha20 stream through `lightning_core::onion::keys`, thin wrappers
//! over the `hmac`/`sha2` and `chacha20` crates; `chacha20poly1305` for the
//! Noise AEAD). Nothing here parses, encodes, allocates per message or
//! persists: what remains of a measured figure above the floor is the
//! implementation's own cost.
//!
//! - [`Floor`]: the channel-level work of one payment's two commitment
//!   dances (both ends of one channel), counted from BOLT 2/3;
//! - [`OnionFloor`]: building a one-hop payment onion, peeling it as the
//!   final hop, and peeling one hop as a forwarder (BOLT 4);
//! - [`InvoiceFloor`]: the invoice's signature (BOLT 11), its recovery
//!   when the payer parses it, and the two SHA-256 of the preimage;
//! - [`NoiseFloor`]: the BOLT 8 transport encryption and decryption of a
//!   list of messages, each sealed and opened twice (the 2-byte length and
//!   the body, each with its 16-byte tag), one key for all (the key
//!   rotation every 1000 messages, one HKDF, is left out).

#![allow(dead_code)]

use bitcoin::hashes::{sha256, Hash, HashEngine};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use lightning_core::onion::keys::{apply_stream, blinding_factor, derive_key, hmac_sha256};
use lightning_core::onion::SharedSecret;
use secp256k1::ecdsa::{RecoverableSignature, Signature};
use secp256k1::{Message, PublicKey, Scalar, Secp256k1, SecretKey};

/// The cryptographic floor of one payment's round trip over one channel,
/// both ends, counted from the protocol.
///
/// Four commitments are signed and verified per payment (one each way for
/// the add, one each way for the fulfill); the two of the add carry one
/// untrimmed HTLC output, the two of the fulfill none. Per commitment:
/// - both sides derive its keys (BOLT 3): `revocationpubkey` (two point
///   multiplications and an addition), `local_htlcpubkey`,
///   `remote_htlcpubkey` and `local_delayedpubkey` (one tweak-add each);
///   the signer derives the HTLC private key when there is an HTLC;
/// - the sender makes 1 signature + 1 per HTLC, the receiver verifies as
///   many;
/// - the receiver revokes its previous commitment (`revoke_and_ack`): it
///   derives the secret from its shachain seed and the next
///   per-commitment point (two seed derivations, one generator
///   multiplication), and the peer checks the secret against the point it
///   holds (one generator multiplication).
///
/// A forwarding node does one end of each of the four commitments on each
/// of its two channels, mirrored (it signs on one channel what it verifies
/// on the other, it revokes as often as it checks revocations), which adds
/// up to the same work: one [`Floor::round_trip`] per forward.
pub struct Floor {
    secp: Secp256k1<secp256k1::All>,
    key: SecretKey,
    pubkey: PublicKey,
    point: PublicKey,
    msg: Message,
    sig: Signature,
    seed: [u8; 32],
}

const COMMITMENTS: [usize; 4] = [1, 1, 0, 0];

impl Floor {
    pub fn new() -> Self {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[0x11; 32]).expect("key");
        let pubkey = PublicKey::from_secret_key(&secp, &key);
        let point =
            PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[0x22; 32]).expect("key"));
        let msg = Message::from_digest([0x33; 32]);
        let sig = secp.sign_ecdsa(&msg, &key);
        Floor {
            secp,
            key,
            pubkey,
            point,
            msg,
            sig,
            seed: [0x44; 32],
        }
    }

    fn tweak(a: &PublicKey, b: &PublicKey) -> Scalar {
        let mut e = sha256::Hash::engine();
        e.input(&a.serialize());
        e.input(&b.serialize());
        Scalar::from_be_bytes(sha256::Hash::from_engine(e).to_byte_array()).expect("tweak")
    }

    fn derive_keys(&self) -> [PublicKey; 4] {
        let (base, point) = (&self.pubkey, &self.point);
        let revocation = base
            .mul_tweak(&self.secp, &Self::tweak(base, point))
            .expect("mul")
            .combine(
                &point
                    .mul_tweak(&self.secp, &Self::tweak(point, base))
                    .expect("mul"),
            )
            .expect("combine");
        let t = Self::tweak(point, base);
        let one = || base.add_exp_tweak(&self.secp, &t).expect("tweak");
        [revocation, one(), one(), one()]
    }

    /// Derives one per-commitment secret from the seed (BOLT 3, up to 48
    /// flip-and-hash steps; a low commitment number sets nearly all).
    fn shachain(&self, index: u64) -> [u8; 32] {
        let mut p = self.seed;
        for b in (0..48).rev() {
            if (index >> b) & 1 == 1 {
                p[b / 8] ^= 1 << (b % 8);
                p = sha256::Hash::hash(&p).to_byte_array();
            }
        }
        p
    }

    /// The work of payment `n` (any number; it picks the commitment
    /// numbers).
    pub fn round_trip(&self, n: u64) -> usize {
        let mut acc = 0usize;
        for (i, htlcs) in COMMITMENTS.into_iter().enumerate() {
            // Both sides derive the commitment's keys.
            for _ in 0..2 {
                acc += self.derive_keys()[0].serialize()[1] as usize;
            }
            if htlcs > 0 {
                let htlc_key = self
                    .key
                    .add_tweak(&Self::tweak(&self.point, &self.pubkey))
                    .expect("tweak");
                acc += htlc_key.secret_bytes()[0] as usize;
            }
            for _ in 0..=htlcs {
                acc += self
                    .secp
                    .sign_ecdsa(&self.msg, &self.key)
                    .serialize_compact()[0] as usize;
                acc += usize::from(
                    self.secp
                        .verify_ecdsa(&self.msg, &self.sig, &self.pubkey)
                        .is_ok(),
                );
            }
            // revoke_and_ack: the secret, the next point, the peer's check.
            let index = (1 << 48) - 1 - (n * 4 + i as u64);
            let secret = self.shachain(index);
            let next = self.shachain(index - 1);
            let next_point = PublicKey::from_secret_key(
                &self.secp,
                &SecretKey::from_slice(&next).expect("secret"),
            );
            let check = PublicKey::from_secret_key(
                &self.secp,
                &SecretKey::from_slice(&secret).expect("secret"),
            );
            acc += usize::from(next_point == check);
        }
        acc
    }
}

/// The `hop_payloads` of a payment onion (BOLT 4).
pub const ONION_PAYLOADS: usize = 1300;

/// What peeling shifts out for a forwarding hop: its payload (a 1-byte
/// length, then `amt_to_forward` as tu64 in 2 + 4 bytes,
/// `outgoing_cltv_value` as tu32 in 2 + 3, `short_channel_id` in 2 + 8:
/// typical sizes, a byte either way changes no 64-byte ChaCha20 block
/// count) and the next hop's 32-byte HMAC.
pub const FORWARD_HOP_SHIFT: usize = 1 + 6 + 5 + 10 + 32;

/// What the final hop decrypts of its onion: its payload (a 1-byte length,
/// `amt_to_forward` 2 + 4, `outgoing_cltv_value` 2 + 3, `payment_data`
/// with the 32-byte secret and a tu64 total, 2 + 36) and the next HMAC,
/// all zero, that says it is the last (it need not decrypt the rest).
pub const FINAL_HOP_SHIFT: usize = 1 + 6 + 5 + 38 + 32;

/// The onion work of a payment (BOLT 4, "Packet Construction", "Onion
/// Decryption"), on dummy data.
pub struct OnionFloor {
    secp: Secp256k1<secp256k1::All>,
    session: SecretKey,
    node_key: SecretKey,
    node_id: PublicKey,
    ephemeral: [u8; 33],
    hash: [u8; 32],
    packet: Vec<u8>,
}

impl OnionFloor {
    pub fn new() -> Self {
        let secp = Secp256k1::new();
        let session = SecretKey::from_slice(&[0x51; 32]).expect("key");
        let node_key = SecretKey::from_slice(&[0x52; 32]).expect("key");
        let node_id = PublicKey::from_secret_key(&secp, &node_key);
        let ephemeral = PublicKey::from_secret_key(&secp, &session).serialize();
        OnionFloor {
            secp,
            session,
            node_key,
            node_id,
            ephemeral,
            hash: [0x53; 32],
            packet: vec![0u8; ONION_PAYLOADS + FORWARD_HOP_SHIFT],
        }
    }

    /// The payer builds a one-hop onion: the session key's public key (one
    /// generator multiplication), one ECDH with the payee, the `pad`, `rho`
    /// and `mu` keys (three HMACs), the 1300 starting bytes from the `pad`
    /// stream, the `rho` stream over the 1300 bytes, and the packet's HMAC
    /// (over the 1300 bytes and the payment hash). One hop needs no filler
    /// and no blinding of the ephemeral key.
    pub fn build_one_hop(&mut self) -> u8 {
        let epk = PublicKey::from_secret_key(&self.secp, &self.session);
        let ss = SharedSecret::new(&self.node_id, &self.session);
        let pad = derive_key(b"pad", &ss.0);
        let rho = derive_key(b"rho", &ss.0);
        let mu = derive_key(b"mu", &ss.0);
        let packet = &mut self.packet[..ONION_PAYLOADS];
        packet.fill(0);
        apply_stream(&pad, packet);
        apply_stream(&rho, packet);
        let hmac = hmac_sha256(&mu, &[packet, &self.hash]);
        hmac[0] ^ epk.serialize()[1] ^ packet[0]
    }

    /// The payee peels the final hop: parses the ephemeral key, one ECDH,
    /// the `rho` and `mu` keys, checks the packet's HMAC, and decrypts its
    /// payload and the (zero) next HMAC ([`FINAL_HOP_SHIFT`] bytes).
    pub fn peel_final(&mut self) -> u8 {
        let point = PublicKey::from_slice(&self.ephemeral).expect("point");
        let ss = SharedSecret::new(&point, &self.node_key);
        let rho = derive_key(b"rho", &ss.0);
        let mu = derive_key(b"mu", &ss.0);
        let hmac = hmac_sha256(&mu, &[&self.packet[..ONION_PAYLOADS], &self.hash]);
        let payload = &mut self.packet[..FINAL_HOP_SHIFT];
        apply_stream(&rho, payload);
        hmac[0] ^ payload[0]
    }

    /// A forwarding hop peels its layer: parses the ephemeral key, one
    /// ECDH, the `rho` and `mu` keys, checks the packet's HMAC, runs the
    /// `rho` stream over the 1300 bytes and what its payload shifts in
    /// ([`FORWARD_HOP_SHIFT`]), and blinds the ephemeral key for the next
    /// hop (one SHA-256 and one point multiplication).
    pub fn peel_forward(&mut self) -> u8 {
        let point = PublicKey::from_slice(&self.ephemeral).expect("point");
        let ss = SharedSecret::new(&point, &self.node_key);
        let rho = derive_key(b"rho", &ss.0);
        let mu = derive_key(b"mu", &ss.0);
        let hmac = hmac_sha256(&mu, &[&self.packet[..ONION_PAYLOADS], &self.hash]);
        apply_stream(&rho, &mut self.packet);
        let factor = blinding_factor(&self.ephemeral, &ss);
        let next = point
            .mul_tweak(&self.secp, &Scalar::from_be_bytes(factor).expect("tweak"))
            .expect("blind");
        hmac[0] ^ self.packet[0] ^ next.serialize()[1]
    }
}

/// The invoice work of a payment (BOLT 11): the payee hashes the preimage
/// into the payment hash and signs the invoice (SHA-256 of its human
/// readable part and data, one recoverable signature); the payer, on the
/// fulfill, checks the preimage against the hash (one SHA-256).
///
/// With `recover`, also the payer's check of a parsed invoice: SHA-256 of
/// the same bytes and the recovery of the payee's key from the signature.
/// The benches hand the payer the invoice object the payee made (ours and
/// LDK's alike), so no one parses or recovers, and their floor leaves it
/// out ([`InvoiceFloor::new`] with `recover: false`).
pub struct InvoiceFloor {
    secp: Secp256k1<secp256k1::All>,
    key: SecretKey,
    signed: Vec<u8>,
    sig: RecoverableSignature,
    recover: bool,
}

impl InvoiceFloor {
    /// `signed_len`: the bytes the signature covers.
    pub fn new(signed_len: usize, recover: bool) -> Self {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[0x61; 32]).expect("key");
        let signed = vec![0x62u8; signed_len];
        let msg = Message::from_digest(sha256::Hash::hash(&signed).to_byte_array());
        let sig = secp.sign_ecdsa_recoverable(&msg, &key);
        InvoiceFloor {
            secp,
            key,
            signed,
            sig,
            recover,
        }
    }

    pub fn round_trip(&self) -> u8 {
        let preimage = [0x63u8; 32];
        let hash = sha256::Hash::hash(&preimage);
        let digest = sha256::Hash::hash(&self.signed).to_byte_array();
        let sig = self
            .secp
            .sign_ecdsa_recoverable(&Message::from_digest(digest), &self.key);
        let mut acc = sig.serialize_compact().1[0];
        if self.recover {
            let digest = sha256::Hash::hash(&self.signed).to_byte_array();
            let payee = self
                .secp
                .recover_ecdsa(&Message::from_digest(digest), &self.sig)
                .expect("recover");
            acc ^= payee.serialize()[1];
        }
        acc ^ u8::from(sha256::Hash::hash(&preimage) == hash)
    }
}

/// BOLT 2 sizes (type included, no TLV extension) of the ten messages of
/// one payment over one channel: `update_add_htlc` (2 + 32 + 8 + 8 + 32 +
/// 4 + 1366), four `commitment_signed` (2 + 32 + 64 + 2 + 64 per HTLC: two
/// with the HTLC, two without), four `revoke_and_ack` (2 + 32 + 32 + 33)
/// and `update_fulfill_htlc` (2 + 32 + 8 + 32).
pub const PAYMENT_MESSAGES: [usize; 10] = [1452, 164, 99, 164, 99, 74, 100, 99, 100, 99];

/// The BOLT 8 overhead of one message on the wire: the encrypted 2-byte
/// length with its tag, and the body's tag.
pub const NOISE_OVERHEAD: usize = 2 + 16 + 16;

/// The Noise transport work (BOLT 8) for a list of message sizes: each
/// sealed by its sender and opened by its receiver, length and body.
pub struct NoiseFloor {
    cipher: ChaCha20Poly1305,
    sizes: Vec<usize>,
    buf: Vec<u8>,
    nonce: u64,
}

impl NoiseFloor {
    pub fn new(sizes: &[usize]) -> Self {
        NoiseFloor {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&[0x71; 32])),
            sizes: sizes.to_vec(),
            buf: Vec::with_capacity(65535),
            nonce: 0,
        }
    }

    fn nonce(&mut self) -> Nonce {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.nonce.to_le_bytes());
        self.nonce = (self.nonce + 1) % 1000;
        Nonce::from(nonce)
    }

    fn seal_open(&mut self, len: usize) -> u8 {
        let nonce = self.nonce();
        self.buf.clear();
        self.buf.resize(len, 0x5a);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, &[], &mut self.buf)
            .expect("seal");
        self.cipher
            .decrypt_in_place_detached(&nonce, &[], &mut self.buf, &tag)
            .expect("open");
        self.buf.first().copied().unwrap_or(0)
    }

    /// Every message sealed and opened, its length and its body.
    pub fn round_trip(&mut self) -> u8 {
        let mut acc = 0u8;
        for i in 0..self.sizes.len() {
            acc ^= self.seal_open(2);
            acc ^= self.seal_open(self.sizes[i]);
        }
        acc
    }
}
