//! Two `PeerManager`s over real TCP on 127.0.0.1, each on its own thread:
//! handshake, `init`, messages both ways, and liveness pings answered across
//! the socket (an unanswered ping would fail the connection within the idle
//! period).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod peer_support;

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Keypair, SecretKey, SECP256K1};
use lightning_core::peer::{PeerConfig, PeerEvent, PeerManager};
use lightning_wire::features::{Feature, InitFeatures};
use lightning_wire::msgs::{GossipTimestampFilter, Message, Stfu};
use lightning_wire::types::{ChainHash, ChannelId};
use peer_support::Host;

const LIMIT: Duration = Duration::from_secs(20);

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).unwrap()
}

fn config() -> PeerConfig {
    let mut features = InitFeatures::empty();
    features.set_optional(Feature::VarOnionOptin);
    PeerConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(300),
        ..PeerConfig::new(ChainHash::for_network(bitcoin::Network::Regtest), features)
    }
}

fn stfu(initiator: u8) -> Message {
    Message::Stfu(Stfu {
        channel_id: ChannelId([9; 32]),
        initiator,
        tlvs: Default::default(),
    })
}

fn is_message(event: &PeerEvent, want: &Message) -> bool {
    matches!(event, PeerEvent::Message { message, .. } if **message == *want)
}

#[test]
fn two_peer_managers_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bob_key = Keypair::from_secret_key(SECP256K1, &key(2));
    let alice_key = Keypair::from_secret_key(SECP256K1, &key(1));
    let filter = Message::GossipTimestampFilter(GossipTimestampFilter {
        chain_hash: ChainHash::for_network(bitcoin::Network::Regtest),
        first_timestamp: 0,
        timestamp_range: 3600,
        tlvs: Default::default(),
    });

    let bob_filter = filter.clone();
    let bob = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let start = Instant::now();
        let mut pm = PeerManager::new(config(), bob_key);
        let peer = pm.accept_inbound(&key(4), start.elapsed());
        let mut host = Host::new(pm, peer, stream, start);
        let connected = host.until(LIMIT, |e| matches!(e, PeerEvent::Connected { .. }));
        let PeerEvent::Connected { node_id, .. } = connected else {
            unreachable!()
        };
        assert_eq!(node_id, alice_key.public_key());
        host.until(LIMIT, |e| is_message(e, &stfu(1)));
        host.pm.send_message(peer, &bob_filter).unwrap();
        host.until(LIMIT, |e| is_message(e, &stfu(0)));
        // Dropping the stream closes the socket; Alice sees EOF.
    });

    let stream = TcpStream::connect_timeout(&addr, LIMIT).unwrap();
    let start = Instant::now();
    let mut pm = PeerManager::new(config(), alice_key);
    let (peer, act_one) = pm.connect_outbound(bob_key.public_key(), &key(3), start.elapsed());
    let mut host = Host::new(pm, peer, stream, start);
    std::io::Write::write_all(&mut host.stream, &act_one).unwrap();
    let connected = host.until(LIMIT, |e| matches!(e, PeerEvent::Connected { .. }));
    let PeerEvent::Connected {
        node_id,
        their_features,
        ..
    } = connected
    else {
        unreachable!()
    };
    assert_eq!(node_id, bob_key.public_key());
    assert!(their_features.supports(Feature::VarOnionOptin));

    host.pm.send_message(peer, &stfu(1)).unwrap();
    host.until(LIMIT, |e| is_message(e, &filter));
    // Several ping intervals of silence: both sides ping and must be
    // answered within 300 ms, or `idle` panics on the disconnect.
    assert!(host.idle(Duration::from_millis(800)).is_empty());
    host.pm.send_message(peer, &stfu(0)).unwrap();
    host.until(LIMIT, |e| matches!(e, PeerEvent::Disconnected { .. }));
    bob.join().unwrap();
}
