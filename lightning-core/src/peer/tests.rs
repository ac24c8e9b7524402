//! Two `PeerManager`s wired in memory (bytes split at random points), and a
//! hand-driven raw peer for the rules a well-behaved manager never breaks.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::ecdh::SharedSecret;
use bitcoin::secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
use lightning_test_support::rng::Rng;
use lightning_wire::codec::DecodeErrorKind;
use lightning_wire::features::{Feature, FeatureError, InitFeatures};
use lightning_wire::msgs::{
    Error as ErrorMsg, GossipTimestampFilter, Init, InitTlvs, Message, Ping, Pong, Stfu, Warning,
};
use lightning_wire::noise::{
    HandshakeError, HandshakeProgress, NoiseHandshake, NoiseTransport, StaticKeyEcdh,
    TransportError,
};
use lightning_wire::types::{ChainHash, ChannelId};

use super::*;
use crate::keys::{KeysManager, NodeSigner};

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).unwrap()
}

fn regtest() -> ChainHash {
    ChainHash::for_network(bitcoin::Network::Regtest)
}

fn our_features() -> InitFeatures {
    let mut f = InitFeatures::empty();
    f.set_optional(Feature::VarOnionOptin);
    f.set_required(Feature::StaticRemoteKey);
    f.set_optional(Feature::PaymentSecret);
    f.set_optional(Feature::BasicMpp);
    f
}

fn config() -> PeerConfig {
    PeerConfig::new(regtest(), our_features())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Alice dials Bob; bytes move between them in random chunks.
struct Pair {
    alice: PeerManager,
    bob: PeerManager,
    /// Alice's id for her connection to Bob.
    a: PeerId,
    /// Bob's id for his connection from Alice.
    b: PeerId,
    rng: Rng,
    /// Deliver Bob's bytes to Alice (false: drop them, a silent peer).
    bob_to_alice: bool,
}

impl Pair {
    fn new(seed: u64) -> Pair {
        Self::with_configs(seed, config(), config())
    }

    fn with_configs(seed: u64, alice_config: PeerConfig, bob_config: PeerConfig) -> Pair {
        let alice = PeerManager::new(alice_config, Keypair::from_secret_key(SECP256K1, &key(1)));
        let bob = PeerManager::new(bob_config, Keypair::from_secret_key(SECP256K1, &key(2)));
        Self::with_managers(seed, alice, bob)
    }

    fn with_managers(seed: u64, mut alice: PeerManager, mut bob: PeerManager) -> Pair {
        let (a, act_one) = alice.connect_outbound(bob.node_id(), &key(3), Duration::ZERO);
        let b = bob.accept_inbound(&key(4), Duration::ZERO);
        let mut pair = Pair {
            alice,
            bob,
            a,
            b,
            rng: Rng::new(seed | 1),
            bob_to_alice: true,
        };
        pair.deliver_to_bob(&act_one, Duration::ZERO);
        pair
    }

    fn chunks(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = match self.rng.next_u64() % 4 {
                0 => 1,
                1 => (self.rng.next_u64() % 40) as usize + 1,
                2 => (self.rng.next_u64() % 300) as usize + 1,
                _ => rest.len(),
            }
            .min(rest.len());
            out.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        out
    }

    fn deliver_to_bob(&mut self, bytes: &[u8], now: Duration) {
        for chunk in self.chunks(bytes) {
            self.bob.handle_bytes(self.b, &chunk, now).unwrap();
        }
    }

    /// Moves bytes both ways until neither side has any to send.
    fn pump(&mut self, now: Duration) {
        loop {
            let mut moved = false;
            while let Some(bytes) = self.alice.poll_transmit(self.a) {
                self.deliver_to_bob(&bytes, now);
                moved = true;
            }
            while let Some(bytes) = self.bob.poll_transmit(self.b) {
                if self.bob_to_alice {
                    for chunk in self.chunks(&bytes) {
                        self.alice.handle_bytes(self.a, &chunk, now).unwrap();
                    }
                }
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    fn connected(seed: u64) -> Pair {
        let mut pair = Pair::new(seed);
        pair.pump(Duration::ZERO);
        assert!(matches!(
            pair.alice.poll_event(),
            Some(PeerEvent::Connected { .. })
        ));
        assert!(matches!(
            pair.bob.poll_event(),
            Some(PeerEvent::Connected { .. })
        ));
        pair
    }
}

fn events(pm: &mut PeerManager) -> Vec<PeerEvent> {
    std::iter::from_fn(|| pm.poll_event()).collect()
}

fn sample_messages() -> Vec<Message> {
    vec![
        Message::Stfu(Stfu {
            channel_id: ChannelId([7; 32]),
            initiator: 1,
            tlvs: Default::default(),
        }),
        Message::GossipTimestampFilter(GossipTimestampFilter {
            chain_hash: regtest(),
            first_timestamp: 1,
            timestamp_range: u32::MAX,
            tlvs: Default::default(),
        }),
    ]
}

/// The node key behind a `KeysManager` (`NodeSigner` ECDH): handshakes
/// complete in both roles, against a `Keypair` peer and against another
/// signer, and the node ids are the signers'.
#[test]
fn static_key_behind_keys_manager() {
    let keys = Arc::new(KeysManager::new(&[7; 32]).unwrap());
    let other_keys = Arc::new(KeysManager::new(&[8; 32]).unwrap());
    let with_keys = |k: &Arc<KeysManager>| PeerManager::with_static_key(config(), k.clone());
    let with_keypair = || PeerManager::new(config(), Keypair::from_secret_key(SECP256K1, &key(2)));
    for (alice, bob) in [
        // The signer as initiator (its ECDH is `se`, act three) ...
        (with_keys(&keys), with_keypair()),
        // ... as responder (`es`, act one) ...
        (with_keypair(), with_keys(&keys)),
        // ... and on both sides.
        (with_keys(&keys), with_keys(&other_keys)),
    ] {
        let (alice_id, bob_id) = (alice.node_id(), bob.node_id());
        let mut pair = Pair::with_managers(3, alice, bob);
        pair.pump(Duration::ZERO);
        assert!(matches!(
            events(&mut pair.alice)[..],
            [PeerEvent::Connected { node_id, .. }] if node_id == bob_id
        ));
        assert!(matches!(
            events(&mut pair.bob)[..],
            [PeerEvent::Connected { node_id, .. }] if node_id == alice_id
        ));
        let message = sample_messages().remove(0);
        pair.alice.send_message(pair.a, &message).unwrap();
        pair.pump(Duration::ZERO);
        assert!(matches!(
            &events(&mut pair.bob)[..],
            [PeerEvent::Message { message: m, .. }] if **m == message
        ));
    }
    assert_eq!(with_keys(&keys).node_id(), keys.node_id());

    // BOLT 8's ECDH, SHA-256 of the compressed shared point, from either end.
    let theirs = key(9);
    assert_eq!(
        StaticKeyEcdh::ecdh(&*keys, &theirs.public_key(SECP256K1)).unwrap(),
        SharedSecret::new(&keys.node_id(), &theirs).secret_bytes()
    );
}

#[test]
fn handshake_and_init_exchange_over_random_splits() {
    for seed in 1..40 {
        let mut pair = Pair::new(seed);
        pair.pump(Duration::ZERO);
        let bob_id = pair.bob.node_id();
        let alice_id = pair.alice.node_id();
        assert_eq!(
            events(&mut pair.alice),
            [PeerEvent::Connected {
                peer: pair.a,
                node_id: bob_id,
                their_features: our_features(),
                direction: Direction::Outbound,
            }]
        );
        assert_eq!(
            events(&mut pair.bob),
            [PeerEvent::Connected {
                peer: pair.b,
                node_id: alice_id,
                their_features: our_features(),
                direction: Direction::Inbound,
            }]
        );
        assert_eq!(pair.alice.peer_for_node(&bob_id), Some(pair.a));
        assert_eq!(pair.bob.connected_peers().count(), 1);
    }
}

#[test]
fn messages_flow_both_ways() {
    for seed in 1..20 {
        let mut pair = Pair::connected(seed);
        let (alice_id, bob_id) = (pair.alice.node_id(), pair.bob.node_id());
        for m in sample_messages() {
            pair.alice.send_message(pair.a, &m).unwrap();
            pair.bob.send_to_node(&alice_id, &m).unwrap();
        }
        pair.pump(secs(1));
        let expect = |peer, node_id| -> Vec<PeerEvent> {
            sample_messages()
                .into_iter()
                .map(|message| PeerEvent::Message {
                    peer,
                    node_id,
                    message: Box::new(message),
                })
                .collect()
        };
        assert_eq!(events(&mut pair.bob), expect(pair.b, alice_id));
        assert_eq!(events(&mut pair.alice), expect(pair.a, bob_id));
    }
}

#[test]
fn warning_and_error_are_events_and_keep_the_connection() {
    let mut pair = Pair::connected(5);
    let warning = Message::Warning(Warning {
        channel_id: ChannelId::ALL,
        data: b"careful".to_vec(),
        tlvs: Default::default(),
    });
    let error = Message::Error(ErrorMsg {
        channel_id: ChannelId::ALL,
        data: b"all channels".to_vec(),
        tlvs: Default::default(),
    });
    pair.alice.send_message(pair.a, &warning).unwrap();
    pair.alice.send_message(pair.a, &error).unwrap();
    pair.alice
        .send_message(pair.a, &sample_messages()[0])
        .unwrap();
    pair.pump(secs(1));
    let alice_id = pair.alice.node_id();
    let got = events(&mut pair.bob);
    assert_eq!(
        got[..2],
        [
            PeerEvent::WarningReceived {
                peer: pair.b,
                node_id: alice_id,
                channel_id: ChannelId::ALL,
                data: b"careful".to_vec(),
            },
            PeerEvent::ErrorReceived {
                peer: pair.b,
                node_id: alice_id,
                channel_id: ChannelId::ALL,
                data: b"all channels".to_vec(),
            },
        ]
    );
    assert!(matches!(got[2], PeerEvent::Message { .. }));
    assert!(pair.bob.peer_for_node(&alice_id).is_some());
}

#[test]
fn idle_ping_is_answered_and_keeps_the_connection() {
    let mut pair = Pair::connected(7);
    let c = config();
    assert_eq!(pair.alice.next_timeout(), Some(c.ping_interval));
    // Both sides go quiet: both ping, both answer.
    pair.alice.handle_timeout(c.ping_interval);
    pair.bob.handle_timeout(c.ping_interval);
    assert_eq!(
        pair.alice.next_timeout(),
        Some(c.ping_interval + c.pong_timeout)
    );
    pair.pump(c.ping_interval + secs(1));
    // The pongs arrived: the next deadline is the next idle ping.
    assert_eq!(
        pair.alice.next_timeout(),
        Some(c.ping_interval + secs(1) + c.ping_interval)
    );
    pair.alice
        .handle_timeout(c.ping_interval + c.pong_timeout + secs(1));
    pair.bob
        .handle_timeout(c.ping_interval + c.pong_timeout + secs(1));
    assert!(events(&mut pair.alice).is_empty());
    assert!(events(&mut pair.bob).is_empty());
}

#[test]
fn no_pong_within_the_timeout_disconnects() {
    let mut pair = Pair::connected(9);
    let c = config();
    pair.bob_to_alice = false;
    pair.alice.handle_timeout(c.ping_interval);
    pair.pump(c.ping_interval);
    pair.alice
        .handle_timeout(c.ping_interval + c.pong_timeout - Duration::from_millis(1));
    assert!(events(&mut pair.alice).is_empty());
    pair.alice.handle_timeout(c.ping_interval + c.pong_timeout);
    assert_eq!(
        events(&mut pair.alice),
        [PeerEvent::Disconnected {
            peer: pair.a,
            node_id: Some(pair.bob.node_id()),
            was_connected: true,
            reason: DisconnectReason::Failed(PeerError::PongTimeout(c.pong_timeout)),
        }]
    );
    assert_eq!(pair.alice.next_timeout(), None);
    assert_eq!(
        pair.alice.send_message(pair.a, &sample_messages()[0]),
        Err(PeerError::Closed)
    );
}

#[test]
fn setup_must_finish_in_time() {
    let mut bob = PeerManager::new(config(), Keypair::from_secret_key(SECP256K1, &key(2)));
    let b = bob.accept_inbound(&key(4), secs(100));
    assert_eq!(bob.next_timeout(), Some(secs(130)));
    bob.handle_timeout(secs(129));
    assert!(bob.poll_event().is_none());
    bob.handle_timeout(secs(130));
    assert_eq!(
        events(&mut bob),
        [PeerEvent::Disconnected {
            peer: b,
            node_id: None,
            was_connected: false,
            reason: DisconnectReason::Failed(PeerError::SetupTimeout(secs(30))),
        }]
    );
    assert_eq!(bob.poll_transmit(b), None);
    assert_eq!(
        bob.handle_bytes(b, &[0], secs(131)),
        Err(PeerError::UnknownPeer(b))
    );
}

#[test]
fn send_is_refused_before_init_and_for_reserved_messages() {
    let mut pair = Pair::new(3);
    assert_eq!(
        pair.alice.send_message(pair.a, &sample_messages()[0]),
        Err(PeerError::NotReady)
    );
    pair.pump(Duration::ZERO);
    let ping = Message::Ping(Ping {
        num_pong_bytes: 1,
        ignored: vec![],
        tlvs: Default::default(),
    });
    assert_eq!(
        pair.alice.send_message(pair.a, &ping),
        Err(PeerError::ReservedMessage("ping"))
    );
    assert_eq!(
        pair.alice.send_message(PeerId(99), &sample_messages()[0]),
        Err(PeerError::UnknownPeer(PeerId(99)))
    );
}

#[test]
fn bounded_outbound_queue_refuses_without_losing_anything() {
    let c = PeerConfig {
        max_outbound_bytes: 1000,
        ..config()
    };
    let mut pair = Pair::with_configs(11, c.clone(), c);
    pair.pump(Duration::ZERO);
    events(&mut pair.alice);
    events(&mut pair.bob);
    let message = &sample_messages()[0];
    let mut sent = 0;
    let refusal = loop {
        match pair.alice.send_message(pair.a, message) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(
        refusal,
        PeerError::OutboundQueueFull { limit: 1000, .. }
    ));
    assert!(!refusal.closes_connection());
    assert!(pair.alice.queued_bytes(pair.a) <= 1000);
    pair.pump(secs(1));
    assert_eq!(events(&mut pair.bob).len(), sent);
    // Drained: sending works again.
    pair.alice.send_message(pair.a, message).unwrap();
}

#[test]
fn a_newer_connection_replaces_the_older() {
    let mut pair = Pair::connected(13);
    let bob_id = pair.bob.node_id();
    let (a2, act_one) = pair.alice.connect_outbound(bob_id, &key(5), secs(1));
    let b2 = pair.bob.accept_inbound(&key(6), secs(1));
    pair.bob.handle_bytes(b2, &act_one, secs(1)).unwrap();
    for _ in 0..3 {
        while let Some(bytes) = pair.alice.poll_transmit(a2) {
            pair.bob.handle_bytes(b2, &bytes, secs(1)).unwrap();
        }
        while let Some(bytes) = pair.bob.poll_transmit(b2) {
            pair.alice.handle_bytes(a2, &bytes, secs(1)).unwrap();
        }
    }
    let got = events(&mut pair.alice);
    assert_eq!(
        got[0],
        PeerEvent::Disconnected {
            peer: pair.a,
            node_id: Some(bob_id),
            was_connected: true,
            reason: DisconnectReason::Replaced { by: a2 },
        }
    );
    assert!(matches!(got[1], PeerEvent::Connected { peer, .. } if peer == a2));
    assert_eq!(pair.alice.peer_for_node(&bob_id), Some(a2));
    // Closing the replaced connection again changes nothing; closing the
    // newer leaves no connection to Bob.
    assert!(pair.alice.disconnect(pair.a));
    assert_eq!(pair.alice.peer_for_node(&bob_id), Some(a2));
    assert!(pair.alice.disconnect(a2));
    assert_eq!(pair.alice.peer_for_node(&bob_id), None);
    assert_eq!(pair.alice.indexed_nodes(), 0);
}

#[test]
fn host_disconnect_reports_once_and_forgets() {
    let mut pair = Pair::connected(15);
    let bob_id = pair.bob.node_id();
    assert_eq!(pair.alice.peer_for_node(&bob_id), Some(pair.a));
    assert!(pair.alice.disconnect(pair.a));
    assert_eq!(pair.alice.peer_for_node(&bob_id), None);
    assert_eq!(pair.alice.indexed_nodes(), 0);
    assert!(matches!(
        events(&mut pair.alice)[..],
        [PeerEvent::Disconnected {
            reason: DisconnectReason::Requested,
            was_connected: true,
            ..
        }]
    ));
    assert!(!pair.alice.disconnect(pair.a));
    assert!(pair.alice.poll_event().is_none());
}

/// The other end, driven by hand: completes the handshake with a manager,
/// then sends whatever plaintext it is told to.
struct RawPeer {
    pm: PeerManager,
    peer: PeerId,
    transport: NoiseTransport,
    /// What the manager sent, decrypted, after the handshake.
    inbox: Vec<Message>,
}

impl RawPeer {
    /// The raw side dials a fresh manager (as Bob, the responder).
    fn connect() -> RawPeer {
        Self::connect_with(config())
    }

    fn connect_with(config: PeerConfig) -> RawPeer {
        let mut pm = PeerManager::new(config, Keypair::from_secret_key(SECP256K1, &key(2)));
        let ours = Keypair::from_secret_key(SECP256K1, &key(1));
        let (mut hs, act_one) = NoiseHandshake::new_initiator(&ours, pm.node_id(), &key(3));
        let peer = pm.accept_inbound(&key(4), Duration::ZERO);
        pm.handle_bytes(peer, &act_one, Duration::ZERO).unwrap();
        let act_two = pm.poll_transmit(peer).unwrap();
        let HandshakeProgress::Complete(done) = hs.handle_bytes(&mut &act_two[..]).unwrap() else {
            panic!("act two should complete the initiator")
        };
        pm.handle_bytes(peer, &done.act_three.unwrap(), Duration::ZERO)
            .unwrap();
        let mut raw = RawPeer {
            pm,
            peer,
            transport: done.transport,
            inbox: Vec::new(),
        };
        raw.read();
        assert!(
            matches!(raw.inbox[..], [Message::Init(_)]),
            "init comes first"
        );
        raw.inbox.clear();
        raw
    }

    fn init(features: InitFeatures) -> Init {
        Init {
            global_features: InitFeatures::empty(),
            features,
            tlvs: InitTlvs {
                networks: Some(vec![regtest()]),
                ..Default::default()
            },
        }
    }

    /// Sends our `init` and checks the manager reports the connection.
    fn connect_and_init() -> RawPeer {
        let mut raw = Self::connect();
        raw.send(&Message::Init(Self::init(our_features())))
            .unwrap();
        assert!(matches!(
            raw.pm.poll_event(),
            Some(PeerEvent::Connected { .. })
        ));
        raw
    }

    fn send_bytes(&mut self, plaintext: &[u8]) -> Result<(), PeerError> {
        let mut wire = Vec::new();
        self.transport
            .encrypt_message(plaintext, &mut wire)
            .unwrap();
        let result = self.pm.handle_bytes(self.peer, &wire, secs(1));
        self.read();
        result
    }

    fn send(&mut self, message: &Message) -> Result<(), PeerError> {
        self.send_bytes(&message.encode().unwrap())
    }

    /// Decrypts what the manager queued into `inbox`.
    fn read(&mut self) {
        while let Some(bytes) = self.pm.poll_transmit(self.peer) {
            let mut input = &bytes[..];
            while let Some(m) = self.transport.read_message(&mut input).unwrap() {
                self.inbox.push(Message::decode(m).unwrap());
            }
        }
    }

    /// Expects the manager to have closed the connection with `error`, and
    /// to have told us in a `warning`.
    fn assert_failed(&mut self, result: Result<(), PeerError>, error: PeerError) {
        assert_eq!(result, Err(error.clone()));
        let got = events(&mut self.pm);
        let Some(PeerEvent::Disconnected { reason, .. }) = got.last() else {
            panic!("no disconnect in {got:?}")
        };
        assert_eq!(reason, &DisconnectReason::Failed(error.clone()));
        // The raw side's key is `key(1)`: no connection to it is active.
        let raw_id = Keypair::from_secret_key(SECP256K1, &key(1)).public_key();
        assert_eq!(self.pm.peer_for_node(&raw_id), None);
        assert_eq!(
            self.pm.indexed_nodes(),
            0,
            "a closed connection stays indexed"
        );
        let Some(Message::Warning(w)) = self.inbox.last() else {
            panic!("no warning in {:?}", self.inbox)
        };
        assert_eq!(w.data, error.to_string().into_bytes());
        // The connection is dead: nothing more is read.
        assert!(matches!(
            self.pm.handle_bytes(self.peer, &[0; 40], secs(2)),
            Err(PeerError::UnknownPeer(_) | PeerError::Closed)
        ));
        assert!(self.pm.poll_event().is_none());
    }
}

#[test]
fn init_must_be_first() {
    let mut raw = RawPeer::connect();
    let result = raw.send(&sample_messages()[0]);
    raw.assert_failed(
        result,
        PeerError::InitNotFirst {
            message_type: 2,
            got: "stfu",
        },
    );
    // An unknown odd message first is not `init` either.
    let mut raw = RawPeer::connect();
    let result = raw.send_bytes(&[0x80, 0x01, 0xaa]);
    raw.assert_failed(
        result,
        PeerError::InitNotFirst {
            message_type: 0x8001,
            got: "unknown",
        },
    );
}

#[test]
fn second_init_fails() {
    let mut raw = RawPeer::connect_and_init();
    let result = raw.send(&Message::Init(RawPeer::init(our_features())));
    raw.assert_failed(result, PeerError::DuplicateInit);
}

#[test]
fn unknown_required_feature_fails_with_the_bits() {
    let mut features = our_features();
    features.set_bit(100);
    features.set_bit(103); // odd: ignored
    let mut raw = RawPeer::connect();
    let result = raw.send(&Message::Init(RawPeer::init(features)));
    raw.assert_failed(
        result,
        PeerError::UnknownRequiredFeatures { bits: vec![100] },
    );
}

#[test]
fn global_features_are_merged() {
    // A required unknown bit in `globalfeatures` counts.
    let mut init = RawPeer::init(our_features());
    init.global_features.set_bit(10);
    let mut raw = RawPeer::connect();
    let result = raw.send(&Message::Init(init));
    raw.assert_failed(
        result,
        PeerError::UnknownRequiredFeatures { bits: vec![10] },
    );

    // And a known one appears in the merged features.
    let mut init = RawPeer::init(InitFeatures::empty());
    init.global_features.set_optional(Feature::VarOnionOptin);
    init.features.set_optional(Feature::GossipQueries);
    let mut raw = RawPeer::connect();
    raw.send(&Message::Init(init)).unwrap();
    let Some(PeerEvent::Connected { their_features, .. }) = raw.pm.poll_event() else {
        panic!()
    };
    assert!(their_features.supports(Feature::VarOnionOptin));
    assert!(their_features.supports(Feature::GossipQueries));
}

#[test]
fn missing_feature_dependency_fails() {
    let mut features = InitFeatures::empty();
    features.set_optional(Feature::BasicMpp); // needs payment_secret
    let mut raw = RawPeer::connect();
    let result = raw.send(&Message::Init(RawPeer::init(features)));
    raw.assert_failed(
        result,
        PeerError::FeatureDependency(FeatureError::MissingDependency {
            context: "init",
            feature: Feature::BasicMpp,
            missing: Feature::PaymentSecret,
        }),
    );
}

#[test]
fn networks_without_our_chain_fail() {
    let testnet = ChainHash::for_network(bitcoin::Network::Testnet);
    let mut init = RawPeer::init(our_features());
    init.tlvs.networks = Some(vec![testnet]);
    let mut raw = RawPeer::connect();
    let result = raw.send(&Message::Init(init.clone()));
    raw.assert_failed(
        result,
        PeerError::NoCommonNetwork {
            ours: regtest(),
            theirs: vec![testnet],
        },
    );
    // Ours among others, or no `networks` at all: fine.
    for networks in [Some(vec![testnet, regtest()]), None] {
        init.tlvs.networks = networks;
        let mut raw = RawPeer::connect();
        raw.send(&Message::Init(init.clone())).unwrap();
        assert!(matches!(
            raw.pm.poll_event(),
            Some(PeerEvent::Connected { .. })
        ));
    }
}

#[test]
fn we_send_init_with_our_features_and_chain() {
    let mut pm = PeerManager::new(config(), Keypair::from_secret_key(SECP256K1, &key(2)));
    let them = Keypair::from_secret_key(SECP256K1, &key(1));
    let mut hs = NoiseHandshake::new_responder(&them, &key(9));
    let (peer, act_one) = pm.connect_outbound(them.public_key(), &key(3), Duration::ZERO);
    let HandshakeProgress::ActTwo(act_two) = hs.handle_bytes(&mut &act_one[..]).unwrap() else {
        panic!()
    };
    pm.handle_bytes(peer, &act_two, Duration::ZERO).unwrap();
    let bytes = pm.poll_transmit(peer).unwrap();
    let mut input = &bytes[..];
    let HandshakeProgress::Complete(done) = hs.handle_bytes(&mut input).unwrap() else {
        panic!()
    };
    let mut transport = done.transport;
    let first = transport.read_message(&mut input).unwrap().unwrap();
    let Message::Init(init) = Message::decode(first).unwrap() else {
        panic!("first message is not init")
    };
    assert_eq!(init.features, our_features());
    assert_eq!(init.tlvs.networks, Some(vec![regtest()]));
    assert!(input.is_empty(), "nothing but init before theirs");
}

#[test]
fn unknown_odd_messages_are_handed_up_and_even_ones_fail() {
    let mut raw = RawPeer::connect_and_init();
    raw.send_bytes(&[0x80, 0x01, 1, 2, 3]).unwrap();
    raw.send_bytes(&[0xff, 0xff]).unwrap();
    // The connection stays up; the node decides (it ignores all but the
    // watchtower protocol's types).
    let mut seen = Vec::new();
    while let Some(e) = raw.pm.poll_event() {
        if let PeerEvent::Message { message, .. } = e {
            if let Message::Unknown { r#type, payload } = *message {
                seen.push((r#type, payload));
            }
        }
    }
    assert_eq!(seen, vec![(0x8001, vec![1, 2, 3]), (0xffff, vec![])]);
    let result = raw.send_bytes(&[0x80, 0x02, 1, 2, 3]);
    assert!(matches!(
        &result,
        Err(PeerError::Decode(e)) if e.kind() == &DecodeErrorKind::UnknownEvenMessageType(0x8002)
    ));
    let error = result.clone().unwrap_err();
    raw.assert_failed(result, error);
}

#[test]
fn undecodable_message_fails() {
    let mut raw = RawPeer::connect_and_init();
    // A ping cut short.
    let result = raw.send_bytes(&[0x00, 0x12, 0x00]);
    assert!(matches!(result, Err(PeerError::Decode(_))));
    let error = result.clone().unwrap_err();
    raw.assert_failed(result, error);
}

fn ping(num_pong_bytes: u16) -> Message {
    Message::Ping(Ping {
        num_pong_bytes,
        ignored: vec![0xee; 3],
        tlvs: Default::default(),
    })
}

#[test]
fn pings_are_answered_with_zeroes_below_65532() {
    let mut raw = RawPeer::connect_and_init();
    for n in [0, 10, 65531, 65532, 65535, 7] {
        raw.send(&ping(n)).unwrap();
    }
    let lens: Vec<usize> = raw
        .inbox
        .iter()
        .map(|m| match m {
            Message::Pong(p) => {
                assert!(p.ignored.iter().all(|b| *b == 0));
                p.ignored.len()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(lens, [0, 10, 65531, 7]);
    assert!(raw.pm.poll_event().is_none());
}

#[test]
fn unsolicited_pong_fails() {
    let mut raw = RawPeer::connect_and_init();
    let result = raw.send(&Message::Pong(Pong {
        ignored: vec![0; 4],
        tlvs: Default::default(),
    }));
    raw.assert_failed(
        result,
        PeerError::PongMismatch {
            expected: None,
            received: 4,
        },
    );
}

#[test]
fn pong_must_match_our_ping() {
    let mut raw = RawPeer::connect_and_init();
    raw.pm.handle_timeout(secs(31));
    raw.read();
    let Some(Message::Ping(p)) = raw.inbox.pop() else {
        panic!("no ping after the idle interval")
    };
    assert_eq!(p.num_pong_bytes, config().ping_pong_bytes);
    let wrong = Message::Pong(Pong {
        ignored: vec![0; usize::from(p.num_pong_bytes) + 1],
        tlvs: Default::default(),
    });
    let result = raw.send(&wrong);
    raw.assert_failed(
        result,
        PeerError::PongMismatch {
            expected: Some(p.num_pong_bytes),
            received: usize::from(p.num_pong_bytes) + 1,
        },
    );
}

#[test]
fn a_pong_owed_to_a_peer_that_does_not_read_is_dropped() {
    let c = PeerConfig {
        max_outbound_bytes: 2000,
        ..config()
    };
    let mut raw = RawPeer::connect_with(c);
    raw.send(&Message::Init(RawPeer::init(our_features())))
        .unwrap();
    raw.pm.poll_event();
    let mut wire = Vec::new();
    for _ in 0..10 {
        raw.transport
            .encrypt_message(&ping(500).encode().unwrap(), &mut wire)
            .unwrap();
    }
    raw.pm.handle_bytes(raw.peer, &wire, secs(1)).unwrap();
    assert!(raw.pm.queued_bytes(raw.peer) <= 2000);
    raw.read();
    assert_eq!(raw.inbox.len(), 3);
}

#[test]
fn transport_failure_kills_the_connection() {
    let mut raw = RawPeer::connect_and_init();
    let mut wire = Vec::new();
    raw.transport
        .encrypt_message(&sample_messages()[0].encode().unwrap(), &mut wire)
        .unwrap();
    let last = wire.len() - 1;
    wire[last] ^= 1;
    let result = raw.pm.handle_bytes(raw.peer, &wire, secs(1));
    let error = PeerError::Transport(TransportError::BadMessageMac);
    assert_eq!(result, Err(error.clone()));
    assert_eq!(
        events(&mut raw.pm),
        [PeerEvent::Disconnected {
            peer: raw.peer,
            node_id: Some(Keypair::from_secret_key(SECP256K1, &key(1)).public_key()),
            was_connected: true,
            reason: DisconnectReason::Failed(error),
        }]
    );
    // No warning over a broken transport, and nothing more is read.
    assert_eq!(raw.pm.poll_transmit(raw.peer), None);
    assert_eq!(
        raw.pm.handle_bytes(raw.peer, &wire, secs(2)),
        Err(PeerError::UnknownPeer(raw.peer))
    );
    assert!(raw.pm.poll_event().is_none());
}

#[test]
fn handshake_failure_is_typed() {
    let mut pm = PeerManager::new(config(), Keypair::from_secret_key(SECP256K1, &key(2)));
    let peer = pm.accept_inbound(&key(4), Duration::ZERO);
    let result = pm.handle_bytes(peer, &[1; 50], Duration::ZERO);
    let error = PeerError::Handshake(HandshakeError::BadVersion {
        act: lightning_wire::noise::Act::One,
        version: 1,
    });
    assert_eq!(result, Err(error.clone()));
    assert_eq!(
        events(&mut pm),
        [PeerEvent::Disconnected {
            peer,
            node_id: None,
            was_connected: false,
            reason: DisconnectReason::Failed(error),
        }]
    );
    // A responder dialled with the wrong node id fails act one's MAC.
    let stranger = Keypair::from_secret_key(SECP256K1, &key(8)).public_key();
    let (_, act_one) = NoiseHandshake::new_initiator(
        &Keypair::from_secret_key(SECP256K1, &key(1)),
        stranger,
        &key(3),
    );
    let peer = pm.accept_inbound(&key(5), Duration::ZERO);
    assert!(matches!(
        pm.handle_bytes(peer, &act_one, Duration::ZERO),
        Err(PeerError::Handshake(HandshakeError::BadMac { .. }))
    ));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng::new(0x1234_5678);
    for round in 0..200 {
        let mut raw = RawPeer::connect_and_init();
        let len = (rng.next_u64() % 64) as usize;
        let mut plaintext: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if round % 2 == 0 && len >= 2 {
            plaintext[0] = 0; // mostly known BOLT 1/2 types
        }
        let _ = raw.send_bytes(&plaintext);
        let garbage: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let _ = raw.pm.handle_bytes(raw.peer, &garbage, secs(3));
        raw.pm.handle_timeout(secs(1000));
    }
}

#[test]
fn ids_and_display() {
    assert_eq!(PeerId(3).to_string(), "peer#3");
    let _: PublicKey = Keypair::from_secret_key(SECP256K1, &key(1)).public_key();
}
