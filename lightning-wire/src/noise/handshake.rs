//! The three-act handshake, `Noise_XK_secp256k1_ChaChaPoly_SHA256`.
//!
//! BOLT 8, "Authenticated Key Exchange Handshake Specification".

use std::sync::Arc;

use secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
use zeroize::Zeroizing;

use super::cipher::{decrypt_with_ad, ecdh, encrypt_with_ad, hkdf, mix_hash, Secret32, MAC_LEN};
use super::static_key::{ErasedOnDrop, SharedStaticKey};
use super::transport::NoiseTransport;
use super::{Act, HandshakeError, ACT_ONE_LEN, ACT_THREE_LEN, ACT_TWO_LEN, HANDSHAKE_VERSION};

/// BOLT 8, "Handshake State Initialization": `protocolName`.
const PROTOCOL_NAME: &[u8] = b"Noise_XK_secp256k1_ChaChaPoly_SHA256";
/// BOLT 8, "Handshake State Initialization": `prologue`.
const PROLOGUE: &[u8] = b"lightning";

/// Which side of the connection a handshake is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Role {
    /// Opened the connection; knows the responder's static key.
    Initiator,
    /// Accepted the connection; learns the initiator's static key.
    Responder,
}

/// What [`NoiseHandshake::handle_bytes`] achieved.
#[derive(Debug)]
pub enum HandshakeProgress {
    /// The current act is not complete yet; call again with more bytes.
    NeedMore,
    /// Responder only: act one was valid. Send these bytes (act two) to the
    /// initiator, then keep feeding bytes.
    ActTwo([u8; ACT_TWO_LEN]),
    /// The handshake is done. The initiator must send
    /// [`HandshakeComplete::act_three`] before any message.
    Complete(Box<HandshakeComplete>),
}

/// The result of a completed handshake.
#[derive(Debug)]
pub struct HandshakeComplete {
    /// The encrypted transport, keyed for this side.
    pub transport: NoiseTransport,
    /// The peer's static key (its node id): the one the initiator dialled,
    /// or the one the responder learned from act three.
    pub remote_static: PublicKey,
    /// Initiator: act three, to send before any message. Responder: `None`.
    pub act_three: Option<[u8; ACT_THREE_LEN]>,
}

/// Where the handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Responder, reading act one.
    AwaitActOne,
    /// Initiator, reading act two.
    AwaitActTwo,
    /// Responder, reading act three.
    AwaitActThree,
    /// Completed or failed; nothing more to do.
    Finished,
}

impl Step {
    fn act(self) -> Option<(Act, usize)> {
        match self {
            Step::AwaitActOne => Some((Act::One, ACT_ONE_LEN)),
            Step::AwaitActTwo => Some((Act::Two, ACT_TWO_LEN)),
            Step::AwaitActThree => Some((Act::Three, ACT_THREE_LEN)),
            Step::Finished => None,
        }
    }
}

/// A BOLT 8 handshake in progress, for either role.
///
/// Feed it the bytes read from the peer with [`handle_bytes`](Self::handle_bytes)
/// in any split; it consumes exactly the bytes of each act and leaves the
/// rest, so bytes that follow act three (the initiator's first messages) stay
/// with the caller for the [`NoiseTransport`].
///
/// The local static key is a [`StaticKeyEcdh`](super::StaticKeyEcdh): a
/// [`Keypair`] ([`new_initiator`](Self::new_initiator),
/// [`new_responder`](Self::new_responder)) or a key held elsewhere, such as
/// a signer ([`new_initiator_with_key`](Self::new_initiator_with_key),
/// [`new_responder_with_key`](Self::new_responder_with_key)). The handshake
/// asks it for one ECDH: `es` in act one (responder) or `se` in act three
/// (initiator).
///
/// Costs: each side does three ECDHs and one public-key derivation (its
/// ephemeral key); the static public key is read once, at construction.
pub struct NoiseHandshake {
    role: Role,
    step: Step,
    local_static: SharedStaticKey,
    local_static_pub: PublicKey,
    local_ephemeral: SecretKey,
    local_ephemeral_pub: PublicKey,
    /// Responder: `None` until act three. Initiator: the key it dialled.
    remote_static: Option<PublicKey>,
    /// The handshake hash `h`.
    hash: [u8; 32],
    /// The chaining key `ck`.
    chaining_key: Secret32,
    /// `temp_k2`, needed again in act three.
    temp_k2: Secret32,
    /// The act being read, and how much of it has arrived.
    buf: [u8; ACT_THREE_LEN],
    filled: usize,
}

impl NoiseHandshake {
    /// Starts a handshake as initiator towards `remote_static` (the node id
    /// being dialled) and returns act one, to be sent first.
    ///
    /// `local_ephemeral` must be fresh randomness from the host, never reused.
    ///
    /// BOLT 8, "Handshake State Initialization" and "Act One" (sender).
    ///
    /// ```
    /// use lightning_wire::noise::{NoiseHandshake, ACT_ONE_LEN};
    /// use secp256k1::{Keypair, SecretKey, SECP256K1};
    ///
    /// let ours = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x11; 32]).unwrap());
    /// let theirs = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x21; 32]).unwrap());
    /// let ephemeral = SecretKey::from_slice(&[0x12; 32]).unwrap(); // from the host's RNG
    /// let (handshake, act_one) = NoiseHandshake::new_initiator(&ours, theirs.public_key(), &ephemeral);
    /// assert_eq!(act_one.len(), ACT_ONE_LEN); // write these to the socket
    /// # drop(handshake);
    /// ```
    pub fn new_initiator(
        local_static: &Keypair,
        remote_static: PublicKey,
        local_ephemeral: &SecretKey,
    ) -> (Self, [u8; ACT_ONE_LEN]) {
        Self::new_initiator_with_key(
            Arc::new(ErasedOnDrop(*local_static)),
            remote_static,
            local_ephemeral,
        )
    }

    /// [`new_initiator`](Self::new_initiator) with the static key behind a
    /// [`StaticKeyEcdh`](super::StaticKeyEcdh), which does the `se` ECDH of
    /// act three.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lightning_wire::noise::{NoiseHandshake, SharedStaticKey};
    /// use secp256k1::{Keypair, SecretKey, SECP256K1};
    ///
    /// // Any `StaticKeyEcdh + Send + Sync`: a `Keypair` here, a signer in a node.
    /// let ours: SharedStaticKey =
    ///     Arc::new(Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x11; 32]).unwrap()));
    /// let theirs = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x21; 32]).unwrap());
    /// let ephemeral = SecretKey::from_slice(&[0x12; 32]).unwrap();
    /// let (_handshake, act_one) =
    ///     NoiseHandshake::new_initiator_with_key(Arc::clone(&ours), theirs.public_key(), &ephemeral);
    /// # let _ = act_one;
    /// ```
    pub fn new_initiator_with_key(
        local_static: SharedStaticKey,
        remote_static: PublicKey,
        local_ephemeral: &SecretKey,
    ) -> (Self, [u8; ACT_ONE_LEN]) {
        let local_static_pub = local_static.public_key();
        let mut hs = Self::init(
            Role::Initiator,
            local_static,
            local_static_pub,
            &remote_static,
            local_ephemeral,
        );
        hs.remote_static = Some(remote_static);
        hs.step = Step::AwaitActTwo;

        // Act One: e, es.
        let e_pub = hs.local_ephemeral_pub.serialize();
        hs.hash = mix_hash(&hs.hash, &e_pub);
        let es = ecdh(&hs.local_ephemeral, &remote_static);
        let (chaining_key, temp_k1) = hkdf(&hs.chaining_key, &es[..]);
        hs.chaining_key = chaining_key;
        let mac = encrypt_with_ad(&temp_k1, 0, &hs.hash, &mut []);
        hs.hash = mix_hash(&hs.hash, &mac);

        let mut act_one = [0u8; ACT_ONE_LEN];
        act_one[0] = HANDSHAKE_VERSION;
        act_one[1..34].copy_from_slice(&e_pub);
        act_one[34..].copy_from_slice(&mac);
        (hs, act_one)
    }

    /// Starts a handshake as responder, waiting for act one.
    ///
    /// `local_ephemeral` must be fresh randomness from the host, never reused.
    ///
    /// BOLT 8, "Handshake State Initialization".
    ///
    /// ```
    /// use lightning_wire::noise::{HandshakeProgress, NoiseHandshake};
    /// use secp256k1::{Keypair, SecretKey, SECP256K1};
    ///
    /// let ours = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x21; 32]).unwrap());
    /// let ephemeral = SecretKey::from_slice(&[0x22; 32]).unwrap(); // from the host's RNG
    /// let mut handshake = NoiseHandshake::new_responder(&ours, &ephemeral);
    /// // Half of act one so far: nothing to do yet.
    /// assert!(matches!(handshake.handle_bytes(&mut &[0u8; 25][..]), Ok(HandshakeProgress::NeedMore)));
    /// ```
    pub fn new_responder(local_static: &Keypair, local_ephemeral: &SecretKey) -> Self {
        Self::new_responder_with_key(Arc::new(ErasedOnDrop(*local_static)), local_ephemeral)
    }

    /// [`new_responder`](Self::new_responder) with the static key behind a
    /// [`StaticKeyEcdh`](super::StaticKeyEcdh), which does the `es` ECDH of
    /// act one.
    pub fn new_responder_with_key(
        local_static: SharedStaticKey,
        local_ephemeral: &SecretKey,
    ) -> Self {
        let local_static_pub = local_static.public_key();
        let mut hs = Self::init(
            Role::Responder,
            local_static,
            local_static_pub,
            &local_static_pub,
            local_ephemeral,
        );
        hs.step = Step::AwaitActOne;
        hs
    }

    /// Handshake State Initialization: `h` and `ck` from the protocol name,
    /// the prologue and the responder's static key.
    fn init(
        role: Role,
        local_static: SharedStaticKey,
        local_static_pub: PublicKey,
        responder_static: &PublicKey,
        local_ephemeral: &SecretKey,
    ) -> Self {
        let protocol_hash: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(PROTOCOL_NAME).into()
        };
        let hash = mix_hash(&protocol_hash, PROLOGUE);
        let hash = mix_hash(&hash, &responder_static.serialize());
        NoiseHandshake {
            role,
            step: Step::Finished,
            local_static,
            local_static_pub,
            local_ephemeral: *local_ephemeral,
            local_ephemeral_pub: local_ephemeral.public_key(SECP256K1),
            remote_static: None,
            hash,
            chaining_key: Zeroizing::new(protocol_hash),
            temp_k2: Zeroizing::new([0u8; 32]),
            buf: [0u8; ACT_THREE_LEN],
            filled: 0,
        }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's static key, once known: from the start for the initiator,
    /// after act three for the responder.
    pub fn remote_static(&self) -> Option<PublicKey> {
        self.remote_static
    }

    /// Whether the handshake has completed or failed.
    pub fn is_finished(&self) -> bool {
        self.step == Step::Finished
    }

    /// Feeds bytes read from the peer.
    ///
    /// Consumes from the front of `input` at most the rest of the act being
    /// read, advancing `input` past what it used. Call it again while it
    /// returns [`HandshakeProgress::ActTwo`] and bytes remain; after
    /// [`HandshakeProgress::Complete`] whatever is left of `input` belongs to
    /// the transport ([`NoiseTransport::read_message`]).
    ///
    /// Any error ends the handshake: every later call returns
    /// [`HandshakeError::Finished`].
    ///
    /// BOLT 8, "Act One", "Act Two" and "Act Three" (receivers).
    ///
    /// ```
    /// use lightning_wire::noise::{HandshakeError, NoiseHandshake, Act};
    /// use secp256k1::{Keypair, SecretKey, SECP256K1};
    ///
    /// let ours = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x21; 32]).unwrap());
    /// let mut handshake = NoiseHandshake::new_responder(&ours, &SecretKey::from_slice(&[0x22; 32]).unwrap());
    /// // Act one must start with version 0.
    /// let err = handshake.handle_bytes(&mut &[1u8][..]).unwrap_err();
    /// assert_eq!(err, HandshakeError::BadVersion { act: Act::One, version: 1 });
    /// assert_eq!(handshake.handle_bytes(&mut &[0u8][..]).unwrap_err(), HandshakeError::Finished);
    /// ```
    pub fn handle_bytes(&mut self, input: &mut &[u8]) -> Result<HandshakeProgress, HandshakeError> {
        let Some((act, len)) = self.step.act() else {
            return Err(HandshakeError::Finished);
        };
        let take = (len - self.filled).min(input.len());
        self.buf[self.filled..self.filled + take].copy_from_slice(&input[..take]);
        *input = &input[take..];
        let was_empty = self.filled == 0;
        self.filled += take;

        // Fail fast on a wrong version, before the rest of the act arrives.
        if was_empty && self.filled > 0 && self.buf[0] != HANDSHAKE_VERSION {
            return Err(self.fail(HandshakeError::BadVersion {
                act,
                version: self.buf[0],
            }));
        }
        if self.filled < len {
            return Ok(HandshakeProgress::NeedMore);
        }
        self.filled = 0;
        let result = match self.step {
            Step::AwaitActOne => self.read_act_one().map(HandshakeProgress::ActTwo),
            Step::AwaitActTwo => self.read_act_two(),
            Step::AwaitActThree => self.read_act_three(),
            Step::Finished => Err(HandshakeError::Finished),
        };
        result.map_err(|e| self.fail(e))
    }

    /// Tells the handshake the peer closed the connection. Returns
    /// [`HandshakeError::ShortRead`] if an act was still expected (BOLT 8:
    /// "if the read fails ... MUST abort"), `Ok(())` if the handshake had
    /// already completed or failed.
    ///
    /// ```
    /// use lightning_wire::noise::{Act, HandshakeError, NoiseHandshake};
    /// use secp256k1::{Keypair, SecretKey, SECP256K1};
    ///
    /// let ours = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x21; 32]).unwrap());
    /// let mut handshake = NoiseHandshake::new_responder(&ours, &SecretKey::from_slice(&[0x22; 32]).unwrap());
    /// handshake.handle_bytes(&mut &[0u8; 49][..]).unwrap();
    /// assert_eq!(
    ///     handshake.handle_eof(),
    ///     Err(HandshakeError::ShortRead { act: Act::One, received: 49, expected: 50 })
    /// );
    /// ```
    pub fn handle_eof(&mut self) -> Result<(), HandshakeError> {
        match self.step.act() {
            None => Ok(()),
            Some((act, expected)) => {
                let received = self.filled;
                Err(self.fail(HandshakeError::ShortRead {
                    act,
                    received,
                    expected,
                }))
            }
        }
    }

    fn fail(&mut self, error: HandshakeError) -> HandshakeError {
        self.step = Step::Finished;
        self.filled = 0;
        error
    }

    /// Parses the version and ephemeral key of act one or act two (version
    /// already checked) and mixes the key into `h`.
    fn read_remote_ephemeral(&mut self, act: Act) -> Result<PublicKey, HandshakeError> {
        let re = PublicKey::from_slice(&self.buf[1..34])
            .map_err(|_| HandshakeError::BadPublicKey { act })?;
        self.hash = mix_hash(&self.hash, &self.buf[1..34]);
        Ok(re)
    }

    /// Responder: BOLT 8, "Act One" receiver steps, then "Act Two" sender
    /// steps.
    fn read_act_one(&mut self) -> Result<[u8; ACT_TWO_LEN], HandshakeError> {
        let re = self.read_remote_ephemeral(Act::One)?;
        let es = self.static_ecdh(Act::One, &re)?;
        let (chaining_key, temp_k1) = hkdf(&self.chaining_key, &es[..]);
        let mac: [u8; MAC_LEN] = self.act_mac(34);
        decrypt_with_ad(&temp_k1, 0, &self.hash, &mut [], &mac)
            .map_err(|()| HandshakeError::BadMac { act: Act::One })?;
        self.chaining_key = chaining_key;
        self.hash = mix_hash(&self.hash, &mac);

        // Act Two: e, ee.
        let e_pub = self.local_ephemeral_pub.serialize();
        self.hash = mix_hash(&self.hash, &e_pub);
        let ee = ecdh(&self.local_ephemeral, &re);
        let (chaining_key, temp_k2) = hkdf(&self.chaining_key, &ee[..]);
        self.chaining_key = chaining_key;
        let mac = encrypt_with_ad(&temp_k2, 0, &self.hash, &mut []);
        self.hash = mix_hash(&self.hash, &mac);
        self.temp_k2 = temp_k2;
        self.step = Step::AwaitActThree;

        let mut act_two = [0u8; ACT_TWO_LEN];
        act_two[0] = HANDSHAKE_VERSION;
        act_two[1..34].copy_from_slice(&e_pub);
        act_two[34..].copy_from_slice(&mac);
        Ok(act_two)
    }

    /// Initiator: BOLT 8, "Act Two" receiver steps, then "Act Three" sender
    /// steps.
    fn read_act_two(&mut self) -> Result<HandshakeProgress, HandshakeError> {
        let re = self.read_remote_ephemeral(Act::Two)?;
        let ee = ecdh(&self.local_ephemeral, &re);
        let (chaining_key, temp_k2) = hkdf(&self.chaining_key, &ee[..]);
        let mac: [u8; MAC_LEN] = self.act_mac(34);
        decrypt_with_ad(&temp_k2, 0, &self.hash, &mut [], &mac)
            .map_err(|()| HandshakeError::BadMac { act: Act::Two })?;
        self.chaining_key = chaining_key;
        self.hash = mix_hash(&self.hash, &mac);

        // Act Three: s, se.
        let mut act_three = [0u8; ACT_THREE_LEN];
        act_three[0] = HANDSHAKE_VERSION;
        act_three[1..34].copy_from_slice(&self.local_static_pub.serialize());
        let mac = encrypt_with_ad(&temp_k2, 1, &self.hash, &mut act_three[1..34]);
        act_three[34..50].copy_from_slice(&mac);
        self.hash = mix_hash(&self.hash, &act_three[1..50]);
        let se = self.static_ecdh(Act::Three, &re)?;
        let (chaining_key, temp_k3) = hkdf(&self.chaining_key, &se[..]);
        let mac = encrypt_with_ad(&temp_k3, 0, &self.hash, &mut []);
        act_three[50..].copy_from_slice(&mac);
        let (sk, rk) = hkdf(&chaining_key, &[]);

        let remote_static = self
            .remote_static
            .expect("an initiator is created with the responder's static key");
        self.step = Step::Finished;
        Ok(HandshakeProgress::Complete(Box::new(HandshakeComplete {
            transport: NoiseTransport::from_keys(&chaining_key, &sk, &rk),
            remote_static,
            act_three: Some(act_three),
        })))
    }

    /// Responder: BOLT 8, "Act Three" receiver steps.
    fn read_act_three(&mut self) -> Result<HandshakeProgress, HandshakeError> {
        let ciphertext: [u8; 49] = {
            let mut c = [0u8; 49];
            c.copy_from_slice(&self.buf[1..50]);
            c
        };
        let mut rs_bytes = [0u8; 33];
        rs_bytes.copy_from_slice(&ciphertext[..33]);
        decrypt_with_ad(
            &self.temp_k2,
            1,
            &self.hash,
            &mut rs_bytes,
            &ciphertext[33..],
        )
        .map_err(|()| HandshakeError::BadStaticKeyMac)?;
        let rs = PublicKey::from_slice(&rs_bytes)
            .map_err(|_| HandshakeError::BadPublicKey { act: Act::Three })?;
        self.hash = mix_hash(&self.hash, &ciphertext);
        let se = ecdh(&self.local_ephemeral, &rs);
        let (chaining_key, temp_k3) = hkdf(&self.chaining_key, &se[..]);
        let mac: [u8; MAC_LEN] = self.act_mac(50);
        decrypt_with_ad(&temp_k3, 0, &self.hash, &mut [], &mac)
            .map_err(|()| HandshakeError::BadMac { act: Act::Three })?;
        let (rk, sk) = hkdf(&chaining_key, &[]);

        self.remote_static = Some(rs);
        self.step = Step::Finished;
        Ok(HandshakeProgress::Complete(Box::new(HandshakeComplete {
            transport: NoiseTransport::from_keys(&chaining_key, &sk, &rk),
            remote_static: rs,
            act_three: None,
        })))
    }

    /// `ECDH(s.priv, point)` by the static key's holder, wiped when dropped.
    fn static_ecdh(&self, act: Act, point: &PublicKey) -> Result<Secret32, HandshakeError> {
        self.local_static
            .ecdh(point)
            .map(Zeroizing::new)
            .map_err(|error| HandshakeError::StaticKeyEcdh { act, error })
    }

    /// The 16-byte MAC at `offset` of the act buffer.
    fn act_mac(&self, offset: usize) -> [u8; MAC_LEN] {
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&self.buf[offset..offset + MAC_LEN]);
        mac
    }
}

impl core::fmt::Debug for NoiseHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("NoiseHandshake")
            .field("role", &self.role)
            .field("step", &self.step)
            .field("remote_static", &self.remote_static)
            .field("buffered", &self.filled)
            .finish_non_exhaustive()
    }
}

impl Drop for NoiseHandshake {
    fn drop(&mut self) {
        // `chaining_key` and `temp_k2` wipe themselves; so does the copy of a
        // `Keypair` the conveniences make (`ErasedOnDrop`).
        self.local_ephemeral.non_secure_erase();
    }
}
