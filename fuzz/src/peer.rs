//! Fuzz target for the peer layer (`lightning_core::peer::PeerManager`).
//!
//! A responder `PeerManager` with the BOLT 8 test-vector keys is fed bytes
//! from the input. The first byte picks the mode:
//!
//! - bit 0 clear, "raw": the rest goes straight to the manager as socket
//!   bytes (act one onwards); with bit 1 set a valid act one comes first, so
//!   the rest is read as act three.
//! - bit 0 set, "framed": a valid handshake is done first (a fixed
//!   initiator), then the rest is a sequence of `[u8: op][u16: len][len
//!   bytes]`: op even = encrypt the bytes as one message from the peer,
//!   op odd = advance the clock by `len` seconds and run `handle_timeout`.
//!   With bit 1 set a valid `init` is sent first, so the fuzzer starts past
//!   BOLT 1's setup.
//!
//! Bits 2..7 pick the read size (0: all at once).
//!
//! Checked for every input: no panic; once a call fails (closing the
//! connection) nothing is read again and no event but the one
//! `Disconnected` follows; at most one `Connected`; and, in framed mode,
//! every byte the manager sends decrypts to a message that decodes.

use std::time::Duration;

use lightning_core::peer::{PeerConfig, PeerError, PeerEvent, PeerId, PeerManager};
use lightning_wire::features::{Feature, InitFeatures};
use lightning_wire::msgs::{Init, InitTlvs, Message};
use lightning_wire::noise::{HandshakeProgress, NoiseHandshake, NoiseTransport};
use lightning_wire::types::ChainHash;

use crate::noise::{
    initiator_ephemeral, initiator_static, responder_ephemeral, responder_static, valid_act_one,
};

/// Our chain (any fixed value will do).
fn chain() -> ChainHash {
    ChainHash([0x06; 32])
}

fn manager() -> PeerManager {
    let mut features = InitFeatures::empty();
    features.set_optional(Feature::VarOnionOptin);
    features.set_optional(Feature::PaymentSecret);
    PeerManager::new(PeerConfig::new(chain(), features), responder_static())
}

/// The `init` a well-behaved peer sends.
pub fn valid_init() -> Vec<u8> {
    Message::Init(Init {
        global_features: InitFeatures::empty(),
        features: InitFeatures::empty(),
        tlvs: InitTlvs {
            networks: Some(vec![chain()]),
            ..InitTlvs::default()
        },
    })
    .encode()
}

/// Tracks the invariants across calls.
struct Checker {
    pm: PeerManager,
    peer: PeerId,
    closed: bool,
    connected: bool,
    now: Duration,
}

impl Checker {
    fn feed(&mut self, bytes: &[u8], read: usize) {
        for chunk in bytes.chunks(read.max(1)) {
            let result = self.pm.handle_bytes(self.peer, chunk, self.now);
            if self.closed {
                assert!(
                    matches!(result, Err(PeerError::Closed | PeerError::UnknownPeer(_))),
                    "a closed connection read bytes: {result:?}"
                );
            }
            self.after(result.err());
        }
    }

    fn after(&mut self, error: Option<PeerError>) {
        let mut disconnected = false;
        while let Some(event) = self.pm.poll_event() {
            assert!(!self.closed, "event after close: {event:?}");
            match event {
                PeerEvent::Connected { .. } => {
                    assert!(!self.connected, "connected twice");
                    self.connected = true;
                    crate::reached_checks();
                }
                PeerEvent::Disconnected { reason, .. } => {
                    assert!(!disconnected, "disconnected twice: {reason:?}");
                    disconnected = true;
                }
                _ => assert!(
                    self.connected && !disconnected,
                    "message outside a connection"
                ),
            }
        }
        if let Some(e) = error {
            if !self.closed {
                assert!(e.closes_connection(), "{e}");
                assert!(disconnected, "failure {e} without Disconnected");
            }
        }
        self.closed |= disconnected;
    }
}

/// The target.
pub fn peer_bytes(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let read = match usize::from(mode >> 2) {
        0 => rest.len().max(1),
        n => n,
    };
    let mut pm = manager();
    let peer = pm.accept_inbound(&responder_ephemeral(), Duration::ZERO);
    let mut checker = Checker {
        pm,
        peer,
        closed: false,
        connected: false,
        now: Duration::ZERO,
    };
    if mode & 1 == 0 {
        if mode & 2 != 0 {
            checker.feed(&valid_act_one(), 50);
        }
        checker.feed(rest, read);
        return;
    }

    // Framed: handshake as the vectors' initiator.
    let (mut handshake, act_one) = NoiseHandshake::new_initiator(
        &initiator_static(),
        responder_static().public_key(),
        &initiator_ephemeral(),
    );
    checker.feed(&act_one, 50);
    let act_two = checker
        .pm
        .poll_transmit(peer)
        .expect("a valid act one is answered");
    let Ok(HandshakeProgress::Complete(done)) = handshake.handle_bytes(&mut &act_two[..]) else {
        panic!("our act two does not complete a valid initiator");
    };
    let mut transport: NoiseTransport = done.transport;
    let act_three = done.act_three.expect("the initiator sends act three");
    checker.feed(&act_three, 66);
    let mut wire = Vec::new();
    if mode & 2 != 0 {
        transport
            .encrypt_message(&valid_init(), &mut wire)
            .expect("init fits a frame");
    }
    let mut ops = rest;
    while let [op, hi, lo, tail @ ..] = ops {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if op % 2 == 1 {
            checker.feed(&std::mem::take(&mut wire), read);
            checker.now += Duration::from_secs(len as u64);
            checker.pm.handle_timeout(checker.now);
            checker.after(None);
            ops = tail;
            continue;
        }
        let body = &tail[..len.min(tail.len())];
        transport
            .encrypt_message(body, &mut wire)
            .expect("at most 65535 bytes");
        ops = &tail[body.len()..];
    }
    checker.feed(&wire, read);

    // Everything the manager sent is a valid message on a valid transport.
    while let Some(bytes) = checker.pm.poll_transmit(peer) {
        let mut input = &bytes[..];
        loop {
            match transport.read_message(&mut input) {
                Ok(Some(message)) => {
                    Message::decode(message).expect("the manager sends decodable messages");
                }
                Ok(None) => break,
                Err(e) => panic!("the manager's bytes do not decrypt: {e}"),
            }
        }
        assert!(input.is_empty());
    }
}
