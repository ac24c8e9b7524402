//! BOLT 8 encrypted and authenticated transport, as a sans-IO state machine.
//!
//! Two steps, each a plain value the host drives with bytes:
//!
//! 1. [`NoiseHandshake`]: the three acts of `Noise_XK_secp256k1_ChaChaPoly_SHA256`
//!    with prologue `lightning` (BOLT 8, "Authenticated Key Exchange
//!    Handshake Specification"). The initiator knows the responder's static
//!    key; the responder learns the initiator's from act three. Ephemeral keys
//!    come from the caller: nothing here draws randomness.
//! 2. [`NoiseTransport`]: framed messages, each a 2-byte encrypted length and
//!    its MAC, then the encrypted body and its MAC, with each direction's key
//!    rotated every 1000 uses (BOLT 8, "Lightning Message Specification").
//!
//! Input may arrive split anywhere, down to one byte at a time. A peer costs
//! at most one maximum-size frame of buffer (18 + 65535 + 16 bytes), reused
//! for every message and decrypted in place. Every failure is a typed error;
//! after a MAC failure the transport refuses all further use.
//!
//! # Example
//!
//! Both roles in one process, bytes passed by hand where a host would use a
//! socket:
//!
//! ```
//! use lightning_wire::noise::{HandshakeProgress, NoiseHandshake};
//! use secp256k1::{Keypair, SecretKey, SECP256K1};
//!
//! let key = |b: u8| SecretKey::from_slice(&[b; 32]).unwrap();
//! let alice = Keypair::from_secret_key(SECP256K1, &key(1));
//! let bob = Keypair::from_secret_key(SECP256K1, &key(2));
//!
//! // Alice connects to Bob, whose node id she knows.
//! let (mut initiator, act_one) = NoiseHandshake::new_initiator(&alice, bob.public_key(), &key(3));
//! let mut responder = NoiseHandshake::new_responder(&bob, &key(4));
//!
//! let HandshakeProgress::ActTwo(act_two) = responder.handle_bytes(&mut &act_one[..])? else {
//!     unreachable!()
//! };
//! let HandshakeProgress::Complete(alice_done) = initiator.handle_bytes(&mut &act_two[..])? else {
//!     unreachable!()
//! };
//! let act_three = alice_done.act_three.expect("the initiator sends act three");
//! let HandshakeProgress::Complete(bob_done) = responder.handle_bytes(&mut &act_three[..])? else {
//!     unreachable!()
//! };
//! assert_eq!(bob_done.remote_static, alice.public_key());
//!
//! let (mut alice_t, mut bob_t) = (alice_done.transport, bob_done.transport);
//! let mut wire = Vec::new();
//! alice_t.encrypt_message(b"hello", &mut wire)?;
//! let mut input = &wire[..];
//! assert_eq!(bob_t.read_message(&mut input)?, Some(&b"hello"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cipher;
mod handshake;
mod length_prefix;
mod static_key;
mod transport;

pub use handshake::{HandshakeComplete, HandshakeProgress, NoiseHandshake, Role};
pub use static_key::{EcdhError, SharedStaticKey, StaticKeyEcdh};
pub use transport::NoiseTransport;

/// Length of act one and of act two: version, ephemeral key, MAC.
pub const ACT_ONE_LEN: usize = 50;
/// Length of act two (same layout as act one).
pub const ACT_TWO_LEN: usize = 50;
/// Length of act three: version, encrypted static key with its MAC, MAC.
pub const ACT_THREE_LEN: usize = 66;
/// The largest message body the transport carries (BOLT 8, "Lightning
/// Message Specification": the length prefix is a `u16`).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Bytes a frame adds to its message: encrypted length (2), its MAC (16),
/// and the body's MAC (16).
pub const FRAME_OVERHEAD: usize = 2 + 16 + 16;
/// The one handshake version BOLT 8 defines.
pub const HANDSHAKE_VERSION: u8 = 0;

/// One of the three handshake acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Act {
    /// Act one, initiator to responder.
    One,
    /// Act two, responder to initiator.
    Two,
    /// Act three, initiator to responder.
    Three,
}

impl core::fmt::Display for Act {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Act::One => "act one",
            Act::Two => "act two",
            Act::Three => "act three",
        })
    }
}

/// Why a handshake failed. Each ends the handshake; the host should close the
/// connection (BOLT 8: "the initiator/responder MUST abort the connection
/// attempt").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The act's version byte is not 0.
    #[error("{act}: unknown handshake version {version}")]
    BadVersion {
        /// The act that carried it.
        act: Act,
        /// The version byte received.
        version: u8,
    },
    /// The act's public key (ephemeral in acts one and two, the initiator's
    /// static key in act three) is not a valid compressed secp256k1 point.
    #[error("{act}: invalid public key")]
    BadPublicKey {
        /// The act that carried it.
        act: Act,
    },
    /// Act three's encrypted static key failed its MAC check.
    #[error("act three: encrypted static key failed its MAC check")]
    BadStaticKeyMac,
    /// The act's final MAC did not verify: the peer does not hold the keys it
    /// claims, or it addressed a different node id.
    #[error("{act}: MAC check failed")]
    BadMac {
        /// The act whose MAC failed.
        act: Act,
    },
    /// Our own static key failed to do its ECDH (the responder's `es` in act
    /// one, the initiator's `se` in act three): a signer or HSM behind
    /// [`StaticKeyEcdh`] refused or could not be reached. Nothing the peer
    /// did.
    #[error("{act}: ECDH with our static key failed: {error}")]
    StaticKeyEcdh {
        /// The act being processed.
        act: Act,
        /// What the key holder reported.
        error: EcdhError,
    },
    /// The connection ended before the act was complete.
    #[error("{act}: connection closed after {received} of {expected} bytes")]
    ShortRead {
        /// The act being read.
        act: Act,
        /// Bytes of it received.
        received: usize,
        /// Bytes it needs.
        expected: usize,
    },
    /// The handshake already failed, or already completed and handed over
    /// its transport.
    #[error("handshake is no longer in progress")]
    Finished,
}

/// Why the transport refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A message longer than [`MAX_MESSAGE_LEN`] cannot be framed.
    #[error("message of {len} bytes exceeds the 65535-byte limit")]
    MessageTooLarge {
        /// Length of the rejected message.
        len: usize,
    },
    /// The encrypted length prefix failed its MAC check.
    #[error("message length failed its MAC check")]
    BadLengthMac,
    /// The encrypted message body failed its MAC check.
    #[error("message body failed its MAC check")]
    BadMessageMac,
    /// An earlier MAC failure left the transport unusable (BOLT 8: "MUST
    /// fail the connection"); every later call returns this.
    #[error("transport closed after an earlier decryption failure")]
    Poisoned,
}
