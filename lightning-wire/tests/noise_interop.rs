//! BOLT 8 interop over real TCP on 127.0.0.1 against two implementations not
//! written here, each in both roles: Electrum's `electrum.lntransport` and
//! Core Lightning's `pyln.proto.wire` (peers in `tests/interop/`).
//!
//! Each run completes the handshake (checking the static key each side
//! learns), then sends 2,000 messages of pseudo-random sizes 0..=65535 that
//! the peer echoes back (crossing several key rotations in both directions),
//! checks every echoed byte, and finally checks the peer's SHA-256 over all
//! it received. Our reads use pseudo-random sizes, so frames arrive split
//! at arbitrary points.
//!
//! Skips with a notice when an interpreter or module is missing, unless
//! `LN_TEST_REQUIRE_ALL=1`, which makes that a failure.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning_test_support::external::{electrum_python, pyln_python, KillOnDrop};
use lightning_test_support::rng::Rng;
use lightning_wire::noise::{
    HandshakeProgress, NoiseHandshake, NoiseTransport, Role, MAX_MESSAGE_LEN,
};
use secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
use sha2::{Digest, Sha256};

const MESSAGES: usize = 2000;
const TIMEOUT: Duration = Duration::from_secs(60);

struct Implementation {
    name: &'static str,
    /// Finds an interpreter that can import `module`, or skips.
    python: fn(&str) -> Option<PathBuf>,
    module: &'static str,
    script: &'static str,
}

fn electrum() -> Implementation {
    Implementation {
        name: "Electrum",
        python: electrum_python,
        module: "electrum.lntransport",
        script: "electrum_peer.py",
    }
}

fn pyln() -> Implementation {
    Implementation {
        name: "pyln-proto",
        python: pyln_python,
        module: "pyln.proto.wire",
        script: "pyln_peer.py",
    }
}

/// The interpreter to run `imp` with, or `None` after the skip rule
/// (`lightning_test_support::external`).
fn python_for(imp: &Implementation) -> Option<PathBuf> {
    (imp.python)(imp.module)
}

/// Kills the peer if the test fails half way.
struct Peer {
    child: KillOnDrop,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(
        imp: &Implementation,
        python: &Path,
        role: &str,
        port: u16,
        privkey: &SecretKey,
        remote: &PublicKey,
    ) -> Peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop")
            .join(imp.script);
        let mut child = Command::new(python)
            .arg(script)
            .args([
                role,
                &port.to_string(),
                &hex::encode(privkey.secret_bytes()),
                &hex::encode(remote.serialize()),
                &MESSAGES.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start {}: {e}", imp.name, python.display()));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child: KillOnDrop(child),
            stdout,
        }
    }

    /// The value of the next `KEY value` line the peer prints.
    fn line(&mut self, key: &str) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let value = line
            .trim()
            .strip_prefix(key)
            .unwrap_or_else(|| panic!("expected {key} line, got {line:?}"));
        value.trim().to_string()
    }

    fn finish(mut self, name: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                assert!(status.success(), "{name} peer exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "{name} peer did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A read size: mostly large, sometimes tiny, so frames split anywhere.
fn read_len(rng: &mut Rng, max: usize) -> usize {
    if rng.below(8) == 0 {
        1 + rng.below(64) as usize
    } else {
        1 + rng.below(max as u64) as usize
    }
}

/// The messages a run sends: sizes 0 and 65535 first, then pseudo-random
/// sizes in 0..=65535 with pseudo-random contents.
struct Messages {
    rng: Rng,
    index: usize,
}

impl Messages {
    fn new(seed: u64) -> Self {
        Messages {
            rng: Rng::new(seed),
            index: 0,
        }
    }

    fn next_message(&mut self) -> Vec<u8> {
        let len = match self.index {
            0 => 0,
            1 => MAX_MESSAGE_LEN,
            _ => self.rng.below(MAX_MESSAGE_LEN as u64 + 1) as usize,
        };
        self.index += 1;
        let mut message = vec![0u8; len];
        self.rng.fill(&mut message);
        message
    }
}

fn keypair(byte: u8) -> Keypair {
    Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&[byte; 32]).unwrap())
}

/// Drives `handshake` over `stream` to completion; returns the transport,
/// the peer's static key, and any bytes read past the handshake.
fn drive_handshake(
    stream: &mut TcpStream,
    mut handshake: NoiseHandshake,
    act_one: Option<[u8; 50]>,
) -> (NoiseTransport, PublicKey, Vec<u8>) {
    if let Some(act_one) = act_one {
        stream.write_all(&act_one).unwrap();
    }
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            panic!(
                "peer closed during the handshake: {:?}",
                handshake.handle_eof()
            );
        }
        let mut input = &buf[..n];
        while !input.is_empty() {
            match handshake.handle_bytes(&mut input).unwrap() {
                HandshakeProgress::NeedMore => {}
                HandshakeProgress::ActTwo(act_two) => stream.write_all(&act_two).unwrap(),
                HandshakeProgress::Complete(done) => {
                    if let Some(act_three) = done.act_three {
                        stream.write_all(&act_three).unwrap();
                    }
                    return (done.transport, done.remote_static, input.to_vec());
                }
            }
        }
    }
}

/// Reads until one whole message has been decrypted, feeding the socket's
/// bytes in whatever pieces the reads return.
fn receive(
    stream: &mut TcpStream,
    transport: &Mutex<NoiseTransport>,
    pending: &mut Vec<u8>,
    rng: &mut Rng,
) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN + 34];
    loop {
        let mut input = &pending[..];
        let message = transport
            .lock()
            .unwrap()
            .read_message(&mut input)
            .unwrap()
            .map(<[u8]>::to_vec);
        let used = pending.len() - input.len();
        pending.drain(..used);
        if let Some(message) = message {
            return message;
        }
        let want = read_len(rng, buf.len());
        let n = stream.read(&mut buf[..want]).unwrap();
        assert!(
            n > 0,
            "peer closed mid-stream (partial frame: {})",
            transport.lock().unwrap().has_partial_frame()
        );
        pending.extend_from_slice(&buf[..n]);
    }
}

fn run(imp: &Implementation, python: &Path, our_role: Role, seed: u64) {
    let started = Instant::now();
    let (ours, theirs) = (keypair(0x41), keypair(0x42));
    let ephemeral = SecretKey::from_slice(&[0x43; 32]).unwrap();

    let (mut peer, mut stream, handshake, act_one) = match our_role {
        Role::Initiator => {
            let mut peer = Peer::spawn(
                imp,
                python,
                "responder",
                0,
                &theirs.secret_key(),
                &ours.public_key(),
            );
            let port: u16 = peer.line("PORT").parse().unwrap();
            let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (handshake, act_one) =
                NoiseHandshake::new_initiator(&ours, theirs.public_key(), &ephemeral);
            (peer, stream, handshake, Some(act_one))
        }
        Role::Responder => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut peer = Peer::spawn(
                imp,
                python,
                "initiator",
                port,
                &theirs.secret_key(),
                &ours.public_key(),
            );
            listener.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + TIMEOUT;
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if let Some(status) = peer.child.0.try_wait().unwrap() {
                            panic!("{} initiator exited before connecting: {status}", imp.name);
                        }
                        assert!(
                            Instant::now() < deadline,
                            "{} initiator never connected",
                            imp.name
                        );
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            (
                peer,
                stream,
                NoiseHandshake::new_responder(&ours, &ephemeral),
                None,
            )
        }
    };
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();

    let (transport, remote_static, mut pending) = drive_handshake(&mut stream, handshake, act_one);
    assert_eq!(
        remote_static,
        theirs.public_key(),
        "{}: peer's static key",
        imp.name
    );

    // A writer thread sends the messages while this thread reads the echoes
    // and regenerates each message from the same seed to compare, so the
    // peer is never waited on message by message.
    let transport = Arc::new(Mutex::new(transport));
    let writer = {
        let transport = Arc::clone(&transport);
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut messages = Messages::new(seed);
            let mut frame = Vec::new();
            for _ in 0..MESSAGES {
                let message = messages.next_message();
                frame.clear();
                transport
                    .lock()
                    .unwrap()
                    .encrypt_message(&message, &mut frame)
                    .unwrap();
                stream.write_all(&frame).unwrap();
            }
        })
    };

    let mut expected = Messages::new(seed);
    let mut reads = Rng::new(!seed);
    let mut digest = Sha256::new();
    let mut bytes = 0usize;
    for i in 0..MESSAGES {
        let message = expected.next_message();
        digest.update((message.len() as u16).to_be_bytes());
        digest.update(&message);
        bytes += message.len();
        let echoed = receive(&mut stream, &transport, &mut pending, &mut reads);
        assert!(
            echoed == message,
            "{}: echo of message {i} ({} bytes) differs",
            imp.name,
            message.len()
        );
    }
    writer.join().unwrap();
    let done = receive(&mut stream, &transport, &mut pending, &mut reads);
    let mut expected = b"DONE".to_vec();
    expected.extend_from_slice(&digest.finalize());
    assert_eq!(
        hex::encode(done),
        hex::encode(expected),
        "{}: peer's digest of what it received",
        imp.name
    );

    if our_role == Role::Initiator {
        // The responder reports the static key it learned from act three.
        assert_eq!(
            peer.line("REMOTE"),
            hex::encode(ours.public_key().serialize())
        );
    }
    drop(stream);
    peer.finish(imp.name);
    eprintln!(
        "{} as {:?} peer: {MESSAGES} messages ({bytes} bytes) each way in {:?}",
        imp.name,
        match our_role {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        },
        started.elapsed()
    );
}

#[test]
fn electrum_responder_rust_initiator() {
    let imp = electrum();
    if let Some(python) = python_for(&imp) {
        run(&imp, &python, Role::Initiator, 1);
    }
}

#[test]
fn electrum_initiator_rust_responder() {
    let imp = electrum();
    if let Some(python) = python_for(&imp) {
        run(&imp, &python, Role::Responder, 2);
    }
}

#[test]
fn pyln_responder_rust_initiator() {
    let imp = pyln();
    if let Some(python) = python_for(&imp) {
        run(&imp, &python, Role::Initiator, 3);
    }
}

#[test]
fn pyln_initiator_rust_responder() {
    let imp = pyln();
    if let Some(python) = python_for(&imp) {
        run(&imp, &python, Role::Responder, 4);
    }
}
