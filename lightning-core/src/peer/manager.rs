//! [`PeerManager`]: every connection of a node, driven by the host.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::{Keypair, PublicKey, SecretKey};
use lightning_wire::features::InitFeatures;
use lightning_wire::msgs::Message;
use lightning_wire::noise::{NoiseHandshake, SharedStaticKey};

use super::connection::{Connection, Received};
use super::{Direction, DisconnectReason, PeerConfig, PeerError, PeerEvent, PeerId};

/// The connections of one node: BOLT 8 handshakes and transports, and what
/// BOLT 1 asks of every connection (`init` first, feature and network
/// checks, `ping`/`pong`, `warning`/`error`, unknown message types).
/// Channel and gossip messages go up as [`PeerEvent::Message`].
///
/// Sans-IO: the host owns the sockets and the clock. It feeds what it reads
/// to [`handle_bytes`](Self::handle_bytes), writes what
/// [`poll_transmit`](Self::poll_transmit) returns, drains
/// [`poll_event`](Self::poll_event), and calls
/// [`handle_timeout`](Self::handle_timeout) at
/// [`next_timeout`](Self::next_timeout). Time is a [`Duration`] since any
/// epoch the host likes (it must not go backwards by much: deadlines are
/// computed from it). Ephemeral keys come from the host's entropy.
///
/// Peer input never panics: each failure closes that one connection with a
/// [`PeerError`], reported both as the `Err` of the call and as
/// [`PeerEvent::Disconnected`].
///
/// The node's static key is a [`StaticKeyEcdh`](lightning_wire::noise::StaticKeyEcdh):
/// a [`Keypair`] ([`new`](Self::new)) or a signer that keeps the secret,
/// such as [`KeysManager`](crate::keys::KeysManager), or any node signer
/// through [`NodeStaticKey`](crate::keys::NodeStaticKey)
/// ([`with_static_key`](Self::with_static_key)).
///
/// # Example
///
/// Two managers in one process; the host's job is moving bytes.
///
/// ```
/// use std::time::Duration;
/// use bitcoin::secp256k1::{Keypair, SecretKey, SECP256K1};
/// use lightning_core::peer::{PeerConfig, PeerEvent, PeerManager};
/// use lightning_wire::{features::InitFeatures, types::ChainHash};
///
/// let key = |b: u8| SecretKey::from_slice(&[b; 32]).unwrap();
/// let config = PeerConfig::new(ChainHash::for_network(bitcoin::Network::Regtest), InitFeatures::empty());
/// let mut alice = PeerManager::new(config.clone(), Keypair::from_secret_key(SECP256K1, &key(1)));
/// let mut bob = PeerManager::new(config, Keypair::from_secret_key(SECP256K1, &key(2)));
/// let now = Duration::ZERO;
///
/// // Ephemeral keys come from the host's entropy (EntropySource).
/// let (a, act_one) = alice.connect_outbound(bob.node_id(), &key(3), now);
/// let b = bob.accept_inbound(&key(4), now);
/// bob.handle_bytes(b, &act_one, now)?;
/// loop {
///     let mut moved = false;
///     while let Some(bytes) = bob.poll_transmit(b) { alice.handle_bytes(a, &bytes, now)?; moved = true; }
///     while let Some(bytes) = alice.poll_transmit(a) { bob.handle_bytes(b, &bytes, now)?; moved = true; }
///     if !moved { break; }
/// }
/// assert!(matches!(alice.poll_event(), Some(PeerEvent::Connected { node_id, .. }) if node_id == bob.node_id()));
/// assert!(matches!(bob.poll_event(), Some(PeerEvent::Connected { node_id, .. }) if node_id == alice.node_id()));
/// // Next: a ping if Bob stays quiet for `ping_interval`.
/// assert_eq!(alice.next_timeout(), Some(Duration::from_secs(30)));
/// # Ok::<(), lightning_core::peer::PeerError>(())
/// ```
pub struct PeerManager {
    config: PeerConfig,
    /// Cloned (a reference count) into every handshake.
    our_static: SharedStaticKey,
    node_id: PublicKey,
    /// By id, so that iteration (timeouts, events) is deterministic.
    peers: BTreeMap<PeerId, Connection>,
    /// The active connection (both `init`s exchanged, not closed) of each
    /// node: at most one, as [`Self::replace_older_connections`] keeps
    /// it. Finding a node's connection is then one lookup, not a
    /// comparison with every connection's key (which serializes both):
    /// the node does it for every message it sends and for every node an
    /// onion-message route search visits, so with many connections a
    /// scan made each step cost connections times messages.
    active: HashMap<PublicKey, PeerId>,
    next_id: u64,
    events: VecDeque<PeerEvent>,
}

impl PeerManager {
    /// A manager for the node whose static key (node secret) is
    /// `our_static`.
    pub fn new(config: PeerConfig, our_static: Keypair) -> Self {
        Self::with_static_key(config, Arc::new(our_static))
    }

    /// A manager whose static key is held by `our_static`, which does the
    /// one ECDH with it each handshake needs (BOLT 8 `es` when we accept,
    /// `se` when we connect). Its public key, read once here, is our node
    /// id.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use bitcoin::secp256k1::SecretKey;
    /// use lightning_core::keys::{KeysManager, NodeSigner};
    /// use lightning_core::peer::{PeerConfig, PeerManager};
    /// use lightning_wire::{features::InitFeatures, types::ChainHash};
    ///
    /// let keys = Arc::new(KeysManager::new(&[7; 32]).unwrap());
    /// let config = PeerConfig::new(ChainHash::for_network(bitcoin::Network::Regtest), InitFeatures::empty());
    /// let mut peers = PeerManager::with_static_key(config, keys.clone());
    /// assert_eq!(peers.node_id(), keys.node_id());
    /// let inbound = peers.accept_inbound(&SecretKey::from_slice(&[9; 32]).unwrap(), Default::default());
    /// # let _ = inbound;
    /// ```
    pub fn with_static_key(config: PeerConfig, our_static: SharedStaticKey) -> Self {
        PeerManager {
            config,
            node_id: our_static.public_key(),
            our_static,
            peers: BTreeMap::new(),
            active: HashMap::new(),
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.node_id
    }

    /// The configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    fn allocate_id(&mut self) -> PeerId {
        let id = PeerId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Opens a connection to `their_node_id` (BOLT 8, initiator). Returns its
    /// id and act one, which the host writes to the new socket first.
    ///
    /// `ephemeral_secret` must be fresh entropy, never used before.
    pub fn connect_outbound(
        &mut self,
        their_node_id: PublicKey,
        ephemeral_secret: &SecretKey,
        now: Duration,
    ) -> (PeerId, Vec<u8>) {
        let (handshake, act_one) = NoiseHandshake::new_initiator_with_key(
            Arc::clone(&self.our_static),
            their_node_id,
            ephemeral_secret,
        );
        let id = self.allocate_id();
        let connection = Connection::new(Direction::Outbound, handshake, Some(their_node_id), now);
        self.peers.insert(id, connection);
        (id, act_one.to_vec())
    }

    /// Registers a connection the host accepted (BOLT 8, responder); the
    /// peer's node id is learned from act three.
    ///
    /// `ephemeral_secret` must be fresh entropy, never used before.
    pub fn accept_inbound(&mut self, ephemeral_secret: &SecretKey, now: Duration) -> PeerId {
        let handshake =
            NoiseHandshake::new_responder_with_key(Arc::clone(&self.our_static), ephemeral_secret);
        let id = self.allocate_id();
        self.peers.insert(
            id,
            Connection::new(Direction::Inbound, handshake, None, now),
        );
        id
    }

    /// Feeds bytes read from `peer`'s socket, split anywhere.
    ///
    /// On `Err` the connection is closed (unless the error is
    /// [`PeerError::UnknownPeer`] or [`PeerError::Closed`], which mean it
    /// already was): a [`PeerEvent::Disconnected`] carries the same error,
    /// [`poll_transmit`](Self::poll_transmit) may still return a last
    /// `warning` explaining it, and then the host closes the socket.
    /// Messages that arrived intact before the failure are still reported.
    pub fn handle_bytes(
        &mut self,
        peer: PeerId,
        bytes: &[u8],
        now: Duration,
    ) -> Result<(), PeerError> {
        let connection = self
            .peers
            .get_mut(&peer)
            .ok_or(PeerError::UnknownPeer(peer))?;
        let mut received = Vec::new();
        let result = connection.handle_bytes(bytes, now, &self.config, &mut received);
        for r in received {
            self.surface(peer, r);
        }
        match result {
            Err(PeerError::Closed) => Err(PeerError::Closed),
            Err(e) => {
                self.fail(peer, e.clone());
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Turns what a connection received into events.
    fn surface(&mut self, peer: PeerId, received: Received) {
        let Some(connection) = self.peers.get(&peer) else {
            return;
        };
        let Some(node_id) = connection.node_id() else {
            // Nothing is received before the handshake names the peer.
            return;
        };
        let event = match received {
            Received::Init(their_features) => {
                let direction = connection.direction;
                self.replace_older_connections(peer, node_id);
                self.active.insert(node_id, peer);
                PeerEvent::Connected {
                    peer,
                    node_id,
                    their_features,
                    direction,
                }
            }
            Received::Message(message) => PeerEvent::Message {
                peer,
                node_id,
                message,
            },
            Received::Warning { channel_id, data } => PeerEvent::WarningReceived {
                peer,
                node_id,
                channel_id,
                data,
            },
            Received::Error { channel_id, data } => PeerEvent::ErrorReceived {
                peer,
                node_id,
                channel_id,
                data,
            },
        };
        self.events.push_back(event);
    }

    /// One active connection per node: when a new one completes `init`, the
    /// older ones to the same node close (the newer is the one both sides
    /// are using after a reconnection).
    fn replace_older_connections(&mut self, newer: PeerId, node_id: PublicKey) {
        let older: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, c)| **id != newer && c.is_active() && c.node_id() == Some(node_id))
            .map(|(id, _)| *id)
            .collect();
        for id in older {
            self.close(id, None, DisconnectReason::Replaced { by: newer });
        }
    }

    fn fail(&mut self, peer: PeerId, error: PeerError) {
        self.close(peer, Some(&error), DisconnectReason::Failed(error.clone()));
    }

    fn close(&mut self, peer: PeerId, error: Option<&PeerError>, reason: DisconnectReason) {
        let Some(connection) = self.peers.get_mut(&peer) else {
            return;
        };
        if connection.is_closed() {
            return;
        }
        let was_connected = connection.is_active();
        let node_id = connection.node_id();
        if let Some(n) = node_id {
            if self.active.get(&n) == Some(&peer) {
                self.active.remove(&n);
            }
        }
        // The host closed the socket when it requested this: drop what is
        // queued. Otherwise it flushes the queue, then closes.
        connection.close(error, !matches!(reason, DisconnectReason::Requested));
        self.events.push_back(PeerEvent::Disconnected {
            peer,
            node_id,
            was_connected,
            reason,
        });
    }

    /// The next bytes to write to `peer`'s socket, all that is queued, or
    /// `None` when nothing is.
    ///
    /// After the connection closed, returns its last bytes (a `warning` that
    /// says why) and then `None`, at which point the manager forgets the
    /// peer.
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Vec<u8>> {
        let connection = self.peers.get_mut(&peer)?;
        let out = connection.take_outbound();
        if out.is_none() && connection.is_closed() {
            self.peers.remove(&peer);
        }
        out
    }

    /// Queues `message` for `peer`, once both `init`s are exchanged.
    ///
    /// Refused, leaving the connection as it was: before `init`
    /// ([`PeerError::NotReady`]), `init`/`ping`/`pong` (the peer layer sends
    /// those), or when the outbound queue would pass
    /// [`PeerConfig::max_outbound_bytes`] ([`PeerError::OutboundQueueFull`];
    /// nothing is queued: drain with `poll_transmit` and retry).
    ///
    /// Encoding a hand-built message whose length-prefixed field exceeds
    /// 65535 bytes panics in the encoder (a caller bug, never peer input).
    pub fn send_message(&mut self, peer: PeerId, message: &Message) -> Result<(), PeerError> {
        if let Message::Init(_) | Message::Ping(_) | Message::Pong(_) = message {
            return Err(PeerError::ReservedMessage(message.name()));
        }
        let connection = self
            .peers
            .get_mut(&peer)
            .ok_or(PeerError::UnknownPeer(peer))?;
        if connection.is_closed() {
            return Err(PeerError::Closed);
        }
        if !connection.is_active() {
            return Err(PeerError::NotReady);
        }
        connection.queue(message, Some(self.config.max_outbound_bytes))
    }

    /// [`send_message`](Self::send_message) to the active connection with
    /// `node_id`.
    pub fn send_to_node(
        &mut self,
        node_id: &PublicKey,
        message: &Message,
    ) -> Result<(), PeerError> {
        let peer = self
            .peer_for_node(node_id)
            .ok_or(PeerError::NodeNotConnected(*node_id))?;
        self.send_message(peer, message)
    }

    /// The connection with `node_id` that has completed `init`, if any.
    pub fn peer_for_node(&self, node_id: &PublicKey) -> Option<PeerId> {
        let found = self.active.get(node_id).copied().filter(|id| {
            self.peers
                .get(id)
                .is_some_and(|c| c.is_active() && c.node_id().as_ref() == Some(node_id))
        });
        // Every test runs this build: a miss must agree with a scan (a
        // hit is checked above, and `replace_older_connections` keeps one
        // active connection per node).
        #[cfg(debug_assertions)]
        if found.is_none() {
            let scanned = self
                .peers
                .iter()
                .find(|(_, c)| c.is_active() && c.node_id().as_ref() == Some(node_id))
                .map(|(id, _)| *id);
            debug_assert_eq!(found, scanned, "the active-connection index is stale");
        }
        found
    }

    /// How many nodes the active-connection index holds (tests: it must
    /// not keep closed connections).
    #[cfg(test)]
    pub(crate) fn indexed_nodes(&self) -> usize {
        self.active.len()
    }

    /// The features `node_id` sent in its `init`, when a connection to it
    /// is active (one lookup: see [`PeerManager::peer_for_node`]).
    pub fn features_of(&self, node_id: &PublicKey) -> Option<&InitFeatures> {
        let peer = self.peer_for_node(node_id)?;
        self.peers.get(&peer)?.their_features()
    }

    /// Every connection that has completed `init`: id, node id, and the
    /// features the peer sent.
    pub fn connected_peers(&self) -> impl Iterator<Item = (PeerId, PublicKey, &InitFeatures)> {
        self.peers.iter().filter_map(|(id, c)| {
            let features = c.their_features().filter(|_| !c.is_closed())?;
            Some((*id, c.node_id()?, features))
        })
    }

    /// Bytes queued for `peer` and not yet taken by `poll_transmit`.
    pub fn queued_bytes(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, Connection::queued_bytes)
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Sends liveness pings to peers quiet for
    /// [`PeerConfig::ping_interval`], and closes connections whose `pong`
    /// is later than [`PeerConfig::pong_timeout`] or whose handshake and
    /// `init` took longer than [`PeerConfig::setup_timeout`]; each closure
    /// is a [`PeerEvent::Disconnected`].
    pub fn handle_timeout(&mut self, now: Duration) {
        let mut failed = Vec::new();
        for (id, connection) in &mut self.peers {
            if let Err(e) = connection.handle_timeout(now, &self.config) {
                failed.push((*id, e));
            }
        }
        for (id, error) in failed {
            self.fail(id, error);
        }
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) has work,
    /// or `None` with no open connection.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.peers
            .values()
            .filter_map(|c| c.next_timeout(&self.config))
            .min()
    }

    /// Closes `peer` for `error`: a `warning` naming it is queued after what
    /// is already queued (whatever the outbound bound), the queue stays for
    /// [`poll_transmit`](Self::poll_transmit), and a
    /// [`PeerEvent::Disconnected`] with [`DisconnectReason::Failed`]
    /// follows. Returns whether the connection was open.
    pub fn disconnect_with_warning(&mut self, peer: PeerId, error: PeerError) -> bool {
        if self.peers.get(&peer).is_none_or(|c| c.is_closed()) {
            return false;
        }
        self.fail(peer, error);
        true
    }

    /// Closes `peer` once the bytes already queued (a `warning` the node
    /// just sent) are written: nothing more is queued, and a
    /// [`PeerEvent::Disconnected`] with
    /// `DisconnectReason::Failed(PeerError::Warned)` follows. Returns
    /// whether the connection was open.
    pub fn close_after_queued(&mut self, peer: PeerId) -> bool {
        if self.peers.get(&peer).is_none_or(|c| c.is_closed()) {
            return false;
        }
        self.close(peer, None, DisconnectReason::Failed(PeerError::Warned));
        true
    }

    /// Closes `peer` because the host closed or lost its socket, or wants it
    /// closed. Queued bytes are dropped; a [`PeerEvent::Disconnected`] with
    /// [`DisconnectReason::Requested`] follows if the connection was still
    /// open. Returns whether the peer was known.
    pub fn disconnect(&mut self, peer: PeerId) -> bool {
        if !self.peers.contains_key(&peer) {
            return false;
        }
        self.close(peer, None, DisconnectReason::Requested);
        self.peers.remove(&peer);
        true
    }
}

impl core::fmt::Debug for PeerManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The static key stays out of logs; its public half is the node id.
        f.debug_struct("PeerManager")
            .field("node_id", &self.node_id)
            .field("config", &self.config)
            .field("peers", &self.peers)
            .field("next_id", &self.next_id)
            .field("events", &self.events)
            .finish()
    }
}
