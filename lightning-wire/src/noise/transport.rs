//! The encrypted message transport that follows the handshake.
//!
//! BOLT 8, "Lightning Message Specification": "Encrypting and Sending
//! Messages", "Receiving and Decrypting Messages", "Lightning Message Key
//! Rotation".

use zeroize::Zeroize;

use super::cipher::{CipherState, MAC_LEN};
use super::{TransportError, FRAME_OVERHEAD, MAX_MESSAGE_LEN};

/// Encrypted length prefix plus its MAC.
const HEADER_LEN: usize = 2 + MAC_LEN;

/// How far the frame being received has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receive {
    /// Reading the 18-byte encrypted length (`header_filled` bytes so far).
    Header,
    /// Reading a body of `len` bytes plus its MAC into `body`.
    Body { len: usize },
    /// `body[..len]` holds a decrypted message not yet taken.
    Ready { len: usize },
    /// A MAC failed; nothing more is accepted.
    Poisoned,
}

/// An established BOLT 8 transport: encrypts outgoing messages and decrypts
/// incoming ones, rotating each direction's key every 1000 uses.
///
/// Obtained from a completed [`NoiseHandshake`](super::NoiseHandshake).
/// Incoming bytes may arrive in any split. The transport buffers at most one
/// frame (up to 65535 + 34 bytes), reuses that buffer for every message and
/// decrypts in place. After a MAC failure every call returns
/// [`TransportError::Poisoned`]: BOLT 8 requires the connection be dropped.
pub struct NoiseTransport {
    sender: CipherState,
    receiver: CipherState,
    receive: Receive,
    header: [u8; HEADER_LEN],
    header_filled: usize,
    /// Ciphertext, then plaintext, of the body being received, with its MAC.
    body: Vec<u8>,
}

impl NoiseTransport {
    /// A transport from keys derived elsewhere: the final chaining key `ck`
    /// (both directions start rotating from it), the sending key `sk` and
    /// the receiving key `rk`, all nonces at 0.
    ///
    /// [`NoiseHandshake`](super::NoiseHandshake) calls this; it is public for
    /// hosts and tests that hold keys from BOLT 8's test vectors.
    ///
    /// ```
    /// use lightning_wire::noise::NoiseTransport;
    ///
    /// // BOLT 8, "Message Encryption Tests".
    /// let hex32 = |s: &str| -> [u8; 32] { hex::decode(s).unwrap().try_into().unwrap() };
    /// let ck = hex32("919219dbb2920afa8db80f9a51787a840bcf111ed8d588caf9ab4be716e42b01");
    /// let sk = hex32("969ab31b4d288cedf6218839b27a3e2140827047f2c0f01bf5c04435d43511a9");
    /// let rk = hex32("bb9020b8965f4df047e07f955f3c4b88418984aadc5cdb35096b9ea8fa5c3442");
    /// let mut transport = NoiseTransport::from_keys(&ck, &sk, &rk);
    /// let mut out = Vec::new();
    /// transport.encrypt_message(b"hello", &mut out)?;
    /// assert_eq!(
    ///     hex::encode(&out),
    ///     "cf2b30ddf0cf3f80e7c35a6e6730b59fe802473180f396d88a8fb0db8cbcf25d2f214cf9ea1d95"
    /// );
    /// # Ok::<(), lightning_wire::noise::TransportError>(())
    /// ```
    pub fn from_keys(
        chaining_key: &[u8; 32],
        sending_key: &[u8; 32],
        receiving_key: &[u8; 32],
    ) -> Self {
        NoiseTransport {
            sender: CipherState::new(chaining_key, sending_key),
            receiver: CipherState::new(chaining_key, receiving_key),
            receive: Receive::Header,
            header: [0u8; HEADER_LEN],
            header_filled: 0,
            body: Vec::new(),
        }
    }

    /// Encrypts `message` and appends its frame (`message.len() + 34`
    /// bytes) to `out`. The message is copied into `out` once and encrypted
    /// there; nothing else is allocated beyond growing `out`.
    ///
    /// BOLT 8, "Encrypting and Sending Messages".
    ///
    /// ```
    /// use lightning_wire::noise::{NoiseTransport, TransportError, FRAME_OVERHEAD};
    ///
    /// let mut transport = NoiseTransport::from_keys(&[1; 32], &[2; 32], &[3; 32]);
    /// let mut out = Vec::new();
    /// transport.encrypt_message(&[0u8; 100], &mut out)?;
    /// assert_eq!(out.len(), 100 + FRAME_OVERHEAD);
    /// assert_eq!(
    ///     transport.encrypt_message(&vec![0u8; 65536], &mut out),
    ///     Err(TransportError::MessageTooLarge { len: 65536 })
    /// );
    /// # Ok::<(), TransportError>(())
    /// ```
    pub fn encrypt_message(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        if self.receive == Receive::Poisoned {
            return Err(TransportError::Poisoned);
        }
        let len = u16::try_from(message.len())
            .map_err(|_| TransportError::MessageTooLarge { len: message.len() })?;
        debug_assert!(message.len() <= MAX_MESSAGE_LEN);
        out.reserve(message.len() + FRAME_OVERHEAD);

        let mut length = len.to_be_bytes();
        let mac = self.sender.seal_length(&mut length);
        out.extend_from_slice(&length);
        out.extend_from_slice(&mac);

        let start = out.len();
        out.extend_from_slice(message);
        let mac = self.sender.seal(&mut out[start..]);
        out.extend_from_slice(&mac);
        Ok(())
    }

    /// Takes bytes read from the peer, up to the end of the frame being
    /// received, and returns how many it took. A frame is decrypted (in
    /// place) as soon as its last byte arrives.
    ///
    /// Takes nothing while a decrypted message waits for
    /// [`next_message`](Self::next_message), so at most one frame is ever
    /// buffered; the caller keeps the rest of its bytes and feeds them after
    /// taking the message. [`read_message`](Self::read_message) does that
    /// loop.
    ///
    /// BOLT 8, "Receiving and Decrypting Messages".
    ///
    /// ```
    /// use lightning_wire::noise::NoiseTransport;
    ///
    /// let mut alice = NoiseTransport::from_keys(&[1; 32], &[2; 32], &[3; 32]);
    /// let mut bob = NoiseTransport::from_keys(&[1; 32], &[3; 32], &[2; 32]);
    /// let mut wire = Vec::new();
    /// alice.encrypt_message(b"one", &mut wire)?;
    /// alice.encrypt_message(b"two", &mut wire)?;
    ///
    /// let mut received = Vec::new();
    /// for byte in wire.chunks(1) {
    ///     // One byte at a time; a one-byte chunk is always taken whole here
    ///     // because each message is collected as soon as it is ready.
    ///     assert_eq!(bob.feed(byte)?, 1);
    ///     if let Some(message) = bob.next_message()? {
    ///         received.push(message.to_vec());
    ///     }
    /// }
    /// assert_eq!(received, [b"one".to_vec(), b"two".to_vec()]);
    /// # Ok::<(), lightning_wire::noise::TransportError>(())
    /// ```
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, TransportError> {
        let mut used = 0;
        loop {
            match self.receive {
                Receive::Poisoned => return Err(TransportError::Poisoned),
                Receive::Ready { .. } => return Ok(used),
                Receive::Header => {
                    let rest = &input[used..];
                    let take = (HEADER_LEN - self.header_filled).min(rest.len());
                    self.header[self.header_filled..self.header_filled + take]
                        .copy_from_slice(&rest[..take]);
                    self.header_filled += take;
                    used += take;
                    if self.header_filled < HEADER_LEN {
                        return Ok(used);
                    }
                    self.header_filled = 0;
                    let mut length = [self.header[0], self.header[1]];
                    if self
                        .receiver
                        .open_length(&mut length, &self.header[2..])
                        .is_err()
                    {
                        return Err(self.poison(TransportError::BadLengthMac));
                    }
                    let len = usize::from(u16::from_be_bytes(length));
                    self.body.clear();
                    self.receive = Receive::Body { len };
                }
                Receive::Body { len } => {
                    let rest = &input[used..];
                    let take = (len + MAC_LEN - self.body.len()).min(rest.len());
                    self.body.extend_from_slice(&rest[..take]);
                    used += take;
                    if self.body.len() < len + MAC_LEN {
                        return Ok(used);
                    }
                    let (message, mac) = self.body.split_at_mut(len);
                    if self.receiver.open(message, mac).is_err() {
                        return Err(self.poison(TransportError::BadMessageMac));
                    }
                    self.receive = Receive::Ready { len };
                }
            }
        }
    }

    /// The next decrypted message, if a whole one has arrived. The slice
    /// borrows the transport's buffer; copy or decode it before feeding more.
    ///
    /// ```
    /// use lightning_wire::noise::NoiseTransport;
    ///
    /// let mut bob = NoiseTransport::from_keys(&[1; 32], &[3; 32], &[2; 32]);
    /// assert_eq!(bob.next_message()?, None);
    /// # Ok::<(), lightning_wire::noise::TransportError>(())
    /// ```
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, TransportError> {
        match self.receive {
            Receive::Poisoned => Err(TransportError::Poisoned),
            Receive::Ready { len } => {
                self.receive = Receive::Header;
                Ok(Some(&self.body[..len]))
            }
            Receive::Header | Receive::Body { .. } => Ok(None),
        }
    }

    /// Feeds from the front of `input`, advancing it past the bytes used, and
    /// returns the next message once one is complete. `Ok(None)` means all of
    /// `input` was used and no message is complete yet.
    ///
    /// Call it in a loop until it returns `Ok(None)`; that consumes a read
    /// buffer of any size while holding at most one frame.
    ///
    /// ```
    /// use lightning_wire::noise::NoiseTransport;
    ///
    /// let mut alice = NoiseTransport::from_keys(&[1; 32], &[2; 32], &[3; 32]);
    /// let mut bob = NoiseTransport::from_keys(&[1; 32], &[3; 32], &[2; 32]);
    /// let mut wire = Vec::new();
    /// for message in [&b"ping"[..], b"pong", b""] {
    ///     alice.encrypt_message(message, &mut wire)?;
    /// }
    ///
    /// let mut input = &wire[..];
    /// let mut count = 0;
    /// while let Some(message) = bob.read_message(&mut input)? {
    ///     assert!(message.len() <= 4);
    ///     count += 1;
    /// }
    /// assert_eq!((count, input.len()), (3, 0));
    /// # Ok::<(), lightning_wire::noise::TransportError>(())
    /// ```
    pub fn read_message(&mut self, input: &mut &[u8]) -> Result<Option<&[u8]>, TransportError> {
        let used = self.feed(input)?;
        *input = &input[used..];
        self.next_message()
    }

    /// Whether part of a frame has been received but not all of it; if the
    /// connection ends now, the peer's last message was cut short.
    pub fn has_partial_frame(&self) -> bool {
        match self.receive {
            Receive::Header => self.header_filled > 0,
            Receive::Body { .. } => true,
            Receive::Ready { .. } | Receive::Poisoned => false,
        }
    }

    /// Whether a MAC failure has made the transport unusable.
    pub fn is_poisoned(&self) -> bool {
        self.receive == Receive::Poisoned
    }

    fn poison(&mut self, error: TransportError) -> TransportError {
        self.receive = Receive::Poisoned;
        self.body.zeroize();
        error
    }
}

impl core::fmt::Debug for NoiseTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Keys and plaintext stay out of logs.
        f.debug_struct("NoiseTransport")
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .field("receive", &self.receive)
            .finish_non_exhaustive()
    }
}

impl Drop for NoiseTransport {
    fn drop(&mut self) {
        // Keys wipe themselves (see `CipherState`); the last plaintext may
        // still sit in the receive buffer.
        self.body.zeroize();
    }
}
