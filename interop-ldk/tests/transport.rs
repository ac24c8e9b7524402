//! Transport interop without the node: our `PeerManager` connects to an
//! LDK node over TCP and completes BOLT 8 and the BOLT 1 `init` exchange,
//! then keeps the connection alive through several ping/pong rounds in both
//! directions (ours every 100 ms; LDK's on its timer).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Keypair, SecretKey, SECP256K1};
use interop_ldk::ldk::{LdkConfig, LdkNode};
use interop_ldk::world::World;
use lightning_core::peer::{PeerConfig, PeerEvent, PeerManager};
use lightning_wire::features::{Feature, InitFeatures};
use lightning_wire::types::ChainHash;

#[test]
fn peer_manager_handshake_init_and_ping_with_ldk() {
    let world = World::new();
    let wallets = world.wallets(&[[1; 32]], 1);
    let ldk = LdkNode::start(
        "ldk",
        [21; 32],
        world.chain.clone(),
        wallets[0].clone(),
        LdkConfig::new(true),
    );

    // LDK requires these of every peer (BOLT 9 "required" bits in its init).
    let mut features = InitFeatures::empty();
    for feature in [
        Feature::DataLossProtect,
        Feature::VarOnionOptin,
        Feature::StaticRemoteKey,
        Feature::PaymentSecret,
        Feature::ChannelType,
    ] {
        features.set_required(feature);
    }
    features.set_optional(Feature::BasicMpp);
    let config = PeerConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(500),
        ..PeerConfig::new(ChainHash::for_network(bitcoin::Network::Regtest), features)
    };
    let key = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[7; 32]).unwrap());
    let mut pm = PeerManager::new(config, key);
    let start = Instant::now();
    let ephemeral = SecretKey::from_slice(&[8; 32]).unwrap();
    let (peer, act_one) = pm.connect_outbound(ldk.node_id(), &ephemeral, start.elapsed());
    let mut stream = TcpStream::connect(ldk.addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    stream.write_all(&act_one).unwrap();

    let mut events = Vec::new();
    let mut buf = [0u8; 4096];
    let mut connected_at = None;
    let mut ldk_ticks = 0;
    while start.elapsed() < Duration::from_secs(15) {
        while let Some(bytes) = pm.poll_transmit(peer) {
            stream.write_all(&bytes).unwrap();
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("LDK closed the connection; events: {events:?}"),
            Ok(n) => pm.handle_bytes(peer, &buf[..n], start.elapsed()).unwrap(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        let now = start.elapsed();
        if pm.next_timeout().is_some_and(|t| t <= now) {
            pm.handle_timeout(now);
        }
        while let Some(event) = pm.poll_event() {
            match &event {
                PeerEvent::Connected {
                    node_id,
                    their_features,
                    ..
                } => {
                    assert_eq!(*node_id, ldk.node_id());
                    assert!(their_features.supports(Feature::StaticRemoteKey));
                    assert!(their_features.supports(Feature::AnchorsZeroFeeHtlcTx));
                    connected_at = Some(Instant::now());
                }
                PeerEvent::Disconnected { reason, .. } => {
                    panic!("disconnected: {reason:?}")
                }
                _ => {}
            }
            events.push(event);
        }
        // A second of silence after init: about ten of our pings must each
        // be answered within 500 ms or the connection fails above. LDK's
        // timer pings us three times; a tick finding its previous ping
        // unanswered would drop us.
        if let Some(at) = connected_at {
            let elapsed = at.elapsed();
            if elapsed > Duration::from_millis(300 * (ldk_ticks + 1)) && ldk_ticks < 3 {
                ldk.peer_timer_tick();
                ldk_ticks += 1;
            }
            if elapsed > Duration::from_millis(1300) {
                break;
            }
        }
    }
    assert!(
        connected_at.is_some(),
        "no init exchange; events: {events:?}"
    );
    assert!(ldk.is_connected(&key.public_key()));
    assert_eq!(ldk_ticks, 3);
    assert!(ldk.log_contains("Received message Pong"));
    pm.disconnect(peer);
}
