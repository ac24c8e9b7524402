//! BOLT 1 over BOLT 8 against implementations not written here, over TCP on
//! 127.0.0.1: Core Lightning's `pyln.proto.wire` and Electrum's
//! `electrum.lntransport` dial our `PeerManager` (peer script:
//! `tests/interop/bolt1_peer.py`). Both sides exchange `init`; the peer
//! pings us and checks our `pong`; we ping it (short interval) and it
//! answers; it then sends a `warning`, which must reach us as an event with
//! the connection still up.
//!
//! Skips with a notice when an interpreter or module is missing, unless
//! `LN_TEST_REQUIRE_ALL=1`, which makes that a failure.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod peer_support;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Keypair, SecretKey, SECP256K1};
use lightning_core::peer::{PeerConfig, PeerEvent, PeerManager};
use lightning_test_support::external::{electrum_python, pyln_python, KillOnDrop};
use lightning_wire::features::InitFeatures;
use lightning_wire::types::{ChainHash, ChannelId};
use peer_support::Host;

const LIMIT: Duration = Duration::from_secs(60);

fn run_against(implementation: &str, python: &Path) {
    let chain_hash = ChainHash::for_network(bitcoin::Network::Regtest);
    let config = PeerConfig {
        ping_interval: Duration::from_millis(200),
        pong_timeout: Duration::from_secs(10),
        ..PeerConfig::new(chain_hash, InitFeatures::empty())
    };
    let ours = Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x21; 32]).unwrap());
    let theirs = SecretKey::from_slice(&[0x11; 32]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/bolt1_peer.py");
    let mut child = Command::new(python)
        .arg(script)
        .args([
            implementation,
            &port.to_string(),
            &hex::encode(theirs.secret_bytes()),
            &hex::encode(ours.public_key().serialize()),
            &hex::encode(chain_hash.0),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Kill the peer if anything below panics.
    let mut stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);

    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + LIMIT;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "{implementation} never connected"
                );
                if let Ok(Some(status)) = child.0.try_wait() {
                    panic!("{implementation} peer exited early: {status}");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let start = Instant::now();
    let mut pm = PeerManager::new(config, ours);
    let peer = pm.accept_inbound(
        &SecretKey::from_slice(&[0x22; 32]).unwrap(),
        start.elapsed(),
    );
    let mut host = Host::new(pm, peer, stream, start);

    let connected = host.until(LIMIT, |e| matches!(e, PeerEvent::Connected { .. }));
    let PeerEvent::Connected {
        node_id,
        their_features,
        ..
    } = connected
    else {
        unreachable!()
    };
    assert_eq!(node_id, theirs.public_key(SECP256K1));
    assert!(
        their_features.is_set(1),
        "their option_data_loss_protect bit"
    );

    // The peer answers our ping before it sends the warning; an unanswered
    // ping would fail the connection and `until` would panic.
    let warning = host.until(LIMIT, |e| matches!(e, PeerEvent::WarningReceived { .. }));
    let PeerEvent::WarningReceived {
        channel_id, data, ..
    } = warning
    else {
        unreachable!()
    };
    assert_eq!(
        (channel_id, &data[..]),
        (ChannelId::ALL, &b"interop done"[..])
    );
    assert_eq!(host.pm.peer_for_node(&node_id), Some(peer));

    host.pm.disconnect(peer);
    drop(host);
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        status.success(),
        "{implementation} peer failed: {status}; stdout: {out}"
    );
    assert_eq!(out.trim(), "OK");
}

#[test]
fn bolt1_with_pyln_proto() {
    if let Some(python) = pyln_python("pyln.proto.wire") {
        run_against("pyln", &python);
    }
}

#[test]
fn bolt1_with_electrum() {
    if let Some(python) = electrum_python("electrum.lntransport") {
        run_against("electrum", &python);
    }
}
