//! A scriptable hostile peer: a test's stand-in for an attacker on the
//! other end of a connection to a real [`Node`].
//!
//! It completes the BOLT 8 Noise handshake (as the initiator, so the node
//! is the responder as it is for an inbound socket) and, unless told not
//! to, the BOLT 1 `init` exchange, all in process: it feeds
//! [`Node::handle_bytes`] and reads [`Node::poll_transmit`]. From then on
//! it sends whatever the test says — any message, any payload of up to
//! 65,535 bytes encrypted as one BOLT 8 message (malformed, oversized
//! fields, unknown types, messages out of order), a recorded frame again
//! (a replay; the nonce is stale, so the node must drop the connection),
//! or raw socket bytes — and decrypts what the node sends back, so the test
//! can assert on it: the size of an `error`, that no text of ours was
//! echoed, that the node disconnected us.
//!
//! Nothing here trusts the node either: a frame it cannot decrypt is a
//! [`HostileError`], not a panic.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use lightning_core::node::{Node, NodeConfig, NodeHost, Persistence};
//! use lightning_test_support::hostile::HostilePeer;
//! use lightning_chain::{BestBlock, FeeRate, FixedFeeEstimator};
//! use lightning_persist::MemoryStore;
//! use lightning_wire::msgs::{Message, Ping};
//!
//! #[derive(Debug)]
//! struct NoBroadcast;
//! impl lightning_chain::Broadcaster for NoBroadcast {
//!     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
//! }
//! let host = NodeHost {
//!     broadcaster: Arc::new(NoBroadcast),
//!     fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(2500))),
//! };
//! let network = bitcoin::Network::Regtest;
//! let mut node = Node::builder(network)
//!     .seed(&[1; 32])
//!     .store(Arc::new(MemoryStore::new()))
//!     .host(host)
//!     .build()?;
//! let now = Duration::from_secs(1_700_000_000);
//!
//! // Noise and `init` done: the node lists us as a connected peer.
//! let mut mallory = HostilePeer::connect(&mut node, [7; 32], now)?;
//! assert!(mallory.is_connected(&node));
//!
//! // A ping asking for 1,000 bytes is answered with a pong of 1,000 (among
//! // what the node sends a new peer: its gossip sync starts, BOLT 7).
//! mallory.send(&mut node, &Message::Ping(Ping { num_pong_bytes: 1000, ignored: vec![], tlvs: Default::default() }), now)?;
//! let answers = mallory.recv_messages(&mut node)?;
//! let pongs: Vec<_> = answers.iter().filter(|m| matches!(m, Message::Pong(_))).collect();
//! assert!(matches!(&pongs[..], [Message::Pong(p)] if p.ignored.len() == 1000));
//!
//! // An unknown even type is fatal (BOLT 1): the node closes the connection.
//! let _ = mallory.send_payload(&mut node, &[0x80, 0x02], now);
//! assert!(!mallory.is_connected(&node));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use bitcoin::secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
use lightning_wire::codec::DecodeError;
use lightning_wire::features::InitFeatures;
use lightning_wire::msgs::{Init, InitTlvs, Message};
use lightning_wire::noise::{
    HandshakeError, HandshakeProgress, NoiseHandshake, NoiseTransport, TransportError,
    MAX_MESSAGE_LEN,
};
use lightning_wire::types::ChainHash;

use lightning_core::node::{Node, NodeConfig, NodeError};
use lightning_core::peer::PeerId;

/// Why the hostile peer could not do what the test asked.
#[derive(Debug, thiserror::Error)]
pub enum HostileError {
    /// The node's handshake act did not verify (or never came).
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The node did not answer a handshake step.
    #[error("the node did not answer {0}")]
    NoAnswer(&'static str),
    /// The node refused our bytes (the connection is closed).
    #[error("node: {0}")]
    Node(#[from] NodeError),
    /// A frame from the node did not decrypt.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The node sent a message that does not decode.
    #[error("the node sent a message that does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// A payload longer than one BOLT 8 message can carry.
    #[error("a payload of {0} bytes does not fit one message")]
    TooLarge(usize),
    /// A message to send that cannot be encoded (use the raw-bytes calls
    /// to send what no encoder would produce).
    #[error("cannot encode: {0}")]
    Encode(#[from] lightning_wire::EncodeError),
    /// [`HostilePeer::discard`] was used, so what the node sends can no
    /// longer be decrypted.
    #[error("this peer discards what it receives")]
    Deaf,
}

/// The `init` an ordinary peer of a node configured with `config` would
/// send: the same features, the node's chain.
pub fn default_init(config: &NodeConfig) -> Message {
    Message::Init(Init {
        global_features: InitFeatures::empty(),
        features: config.features.clone(),
        tlvs: InitTlvs {
            networks: Some(vec![ChainHash::for_network(config.network)]),
            ..InitTlvs::default()
        },
    })
}

/// A message of the unknown odd type `ty` (BOLT 1: ignored) whose whole
/// encoding is `len` bytes (at least 2, the type): the largest junk a peer
/// may send is `unknown_odd(ty, 65_535)`.
pub fn unknown_odd(ty: u16, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(2));
    out.extend_from_slice(&(ty | 1).to_be_bytes());
    out.resize(len.max(2), 0xa5);
    out
}

/// One connection to a [`Node`], driven by a test. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct HostilePeer {
    key: Keypair,
    peer: PeerId,
    transport: NoiseTransport,
    inbox: VecDeque<Vec<u8>>,
    refused: bool,
    deaf: bool,
    bytes_received: usize,
}

impl HostilePeer {
    /// Connects to `node` as a new inbound connection with the static key
    /// `secret` (any 32 bytes; a bad scalar is nudged until it is valid),
    /// completes Noise, sends [`default_init`] and reads the node's `init`.
    pub fn connect(node: &mut Node, secret: [u8; 32], now: Duration) -> Result<Self, HostileError> {
        let init = default_init(node.config());
        Self::connect_with_init(node, secret, Some(&init.encode()?), now)
    }

    /// As [`HostilePeer::connect`], with `init` the raw payload of our first
    /// message (any bytes: a malformed or hostile `init`, or another
    /// message first), or `None` to stop right after the Noise handshake.
    /// The node's own `init` is in [`HostilePeer::recv`] afterwards; with a
    /// well-formed `init` from us it has been consumed already.
    pub fn connect_with_init(
        node: &mut Node,
        secret: [u8; 32],
        init: Option<&[u8]>,
        now: Duration,
    ) -> Result<Self, HostileError> {
        let key = keypair(secret);
        let ephemeral = valid_secret(tweak(secret));
        let peer = node.accept_inbound(now);
        let (mut handshake, act_one) =
            NoiseHandshake::new_initiator(&key, node.node_id(), &ephemeral);
        node.handle_bytes(peer, &act_one, now)?;
        let answer = node
            .poll_transmit(peer)
            .ok_or(HostileError::NoAnswer("act one"))?;
        let mut input = &answer[..];
        let HandshakeProgress::Complete(done) = handshake.handle_bytes(&mut input)? else {
            return Err(HostileError::NoAnswer("act one with a whole act two"));
        };
        let rest = input.to_vec();
        let act_three = done.act_three.ok_or(HostileError::NoAnswer("act two"))?;
        let mut this = HostilePeer {
            key,
            peer,
            transport: done.transport,
            inbox: VecDeque::new(),
            refused: false,
            deaf: false,
            bytes_received: 0,
        };
        this.absorb(&rest)?;
        this.send_bytes(node, &act_three, now)?;
        if let Some(init) = init {
            this.send_payload(node, init, now)?;
            // Consume the node's `init` so `recv` starts with what follows.
            this.pull(node)?;
            if let Some(first) = this.inbox.front() {
                if first.get(..2) == Some(&16u16.to_be_bytes()[..]) {
                    this.inbox.pop_front();
                }
            }
        }
        Ok(this)
    }

    /// Our node id (the static key the node learned from act three).
    pub fn node_id(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The node's id for this connection.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// Whether the node lists this connection as a connected peer (after
    /// `init`) and has not refused our bytes.
    pub fn is_connected(&self, node: &Node) -> bool {
        !self.refused && node.connected_peers().iter().any(|(p, _)| *p == self.peer)
    }

    /// Whether the node refused our bytes ([`Node::handle_bytes`] returned
    /// an error, which closes the connection).
    pub fn was_refused(&self) -> bool {
        self.refused
    }

    /// Encrypts `payload` as one BOLT 8 message without sending it: send
    /// the frame later (out of order, split, concatenated with others) or
    /// twice (a replay) with [`HostilePeer::send_bytes`].
    pub fn frame(&mut self, payload: &[u8]) -> Result<Vec<u8>, HostileError> {
        if payload.len() > MAX_MESSAGE_LEN {
            return Err(HostileError::TooLarge(payload.len()));
        }
        let mut out = Vec::with_capacity(payload.len() + lightning_wire::noise::FRAME_OVERHEAD);
        self.transport.encrypt_message(payload, &mut out)?;
        Ok(out)
    }

    /// Sends `payload` (a message's type and body, or any bytes) as one
    /// encrypted message.
    pub fn send_payload(
        &mut self,
        node: &mut Node,
        payload: &[u8],
        now: Duration,
    ) -> Result<(), HostileError> {
        let frame = self.frame(payload)?;
        self.send_bytes(node, &frame, now)
    }

    /// Sends `message`, encoded as this crate encodes it.
    pub fn send(
        &mut self,
        node: &mut Node,
        message: &Message,
        now: Duration,
    ) -> Result<(), HostileError> {
        self.send_payload(node, &message.encode()?, now)
    }

    /// Writes `bytes` to the node's socket as they are (frames from
    /// [`HostilePeer::frame`], or garbage).
    pub fn send_bytes(
        &mut self,
        node: &mut Node,
        bytes: &[u8],
        now: Duration,
    ) -> Result<(), HostileError> {
        match node.handle_bytes(self.peer, bytes, now) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.refused = true;
                Err(e.into())
            }
        }
    }

    /// Reads and decrypts everything the node has queued for us; returns
    /// how many messages arrived.
    pub fn pull(&mut self, node: &mut Node) -> Result<usize, HostileError> {
        if self.deaf {
            return Err(HostileError::Deaf);
        }
        let before = self.inbox.len();
        while let Some(bytes) = node.poll_transmit(self.peer) {
            self.absorb(&bytes)?;
        }
        Ok(self.inbox.len() - before)
    }

    /// Takes what the node has sent (after [`HostilePeer::pull`]ing it), as
    /// raw payloads, oldest first.
    pub fn recv(&mut self, node: &mut Node) -> Result<Vec<Vec<u8>>, HostileError> {
        self.pull(node)?;
        Ok(self.inbox.drain(..).collect())
    }

    /// As [`HostilePeer::recv`], decoded. A message the node sent that does
    /// not decode is an error.
    pub fn recv_messages(&mut self, node: &mut Node) -> Result<Vec<Message>, HostileError> {
        self.recv(node)?
            .iter()
            .map(|p| Message::decode(p).map_err(HostileError::from))
            .collect()
    }

    /// Takes and drops what the node queued for us without decrypting it
    /// (a flood peer that reads its socket but keeps nothing); returns the
    /// number of bytes. The peer cannot decrypt afterwards
    /// ([`HostileError::Deaf`]).
    pub fn discard(&mut self, node: &mut Node) -> usize {
        self.deaf = true;
        let mut n = 0;
        while let Some(bytes) = node.poll_transmit(self.peer) {
            n += bytes.len();
        }
        self.bytes_received += n;
        n
    }

    /// Total encrypted bytes the node has sent us (handshake excluded).
    pub fn bytes_received(&self) -> usize {
        self.bytes_received
    }

    /// Closes the connection from our side (the host saw the socket close).
    pub fn disconnect(&mut self, node: &mut Node) {
        node.peer_disconnected(self.peer);
        self.refused = true;
    }

    fn absorb(&mut self, bytes: &[u8]) -> Result<(), HostileError> {
        self.bytes_received += bytes.len();
        let mut input = bytes;
        while let Some(message) = self.transport.read_message(&mut input)? {
            self.inbox.push_back(message.to_vec());
        }
        Ok(())
    }
}

fn tweak(mut secret: [u8; 32]) -> [u8; 32] {
    secret[31] ^= 0x5a;
    secret[0] ^= 0xa5;
    secret
}

fn valid_secret(mut bytes: [u8; 32]) -> SecretKey {
    loop {
        if let Ok(k) = SecretKey::from_slice(&bytes) {
            return k;
        }
        // Zero or not below the curve order: any change will do.
        bytes[0] = bytes[0].wrapping_add(1) & 0x7f;
        bytes[31] = bytes[31].wrapping_add(1);
    }
}

fn keypair(secret: [u8; 32]) -> Keypair {
    Keypair::from_secret_key(SECP256K1, &valid_secret(secret))
}
