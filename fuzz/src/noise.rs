//! Fuzz targets for the BOLT 8 handshake and transport
//! (`lightning_wire::noise`).
//!
//! Keys are fixed (the BOLT 8 test-vector keys), so a checked-in corpus that
//! starts from valid acts lets the fuzzer reach every step. The first input
//! byte picks how the rest is split into reads, so partial-read paths are
//! covered too.

use lightning_wire::noise::{
    HandshakeProgress, NoiseHandshake, NoiseTransport, TransportError, MAX_MESSAGE_LEN,
};
use secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};

fn secret(byte: u8) -> SecretKey {
    SecretKey::from_slice(&[byte; 32]).expect("a repeated non-zero byte is a valid scalar")
}

/// The BOLT 8 test vectors' initiator static key (`ls.priv` = 0x11..).
pub fn initiator_static() -> Keypair {
    Keypair::from_secret_key(SECP256K1, &secret(0x11))
}

/// The initiator's ephemeral key in the vectors (0x12..).
pub fn initiator_ephemeral() -> SecretKey {
    secret(0x12)
}

/// The BOLT 8 test vectors' responder static key (0x21..).
pub fn responder_static() -> Keypair {
    Keypair::from_secret_key(SECP256K1, &secret(0x21))
}

/// The responder's ephemeral key in the vectors (0x22..).
pub fn responder_ephemeral() -> SecretKey {
    secret(0x22)
}

/// The act-one bytes of the BOLT 8 vectors' initiator.
pub fn valid_act_one() -> [u8; 50] {
    NoiseHandshake::new_initiator(
        &initiator_static(),
        responder_static().public_key(),
        &initiator_ephemeral(),
    )
    .1
}

/// Splits `data` into a read size (from its first byte) and the bytes.
fn split_reads(data: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = data.split_first()?;
    // 0 means "all at once"; otherwise reads of 1..=127 bytes.
    let read = if first & 0x7f == 0 {
        rest.len().max(1)
    } else {
        usize::from(first & 0x7f)
    };
    Some((read, rest))
}

/// Feeds `input` to a handshake in reads of `read` bytes; once it completes,
/// the rest goes to its transport. Checks the invariants that hold for any
/// input.
fn drive(mut handshake: NoiseHandshake, input: &[u8], read: usize) {
    let mut transport: Option<NoiseTransport> = None;
    for chunk in input.chunks(read) {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            if let Some(transport) = transport.as_mut() {
                match transport.read_message(&mut chunk) {
                    Ok(Some(message)) => assert!(message.len() <= MAX_MESSAGE_LEN),
                    Ok(None) => assert!(
                        chunk.is_empty(),
                        "read_message returns None only when input is used up"
                    ),
                    Err(_) => {
                        assert!(transport.is_poisoned());
                        assert_eq!(transport.next_message(), Err(TransportError::Poisoned));
                        return;
                    }
                }
                continue;
            }
            let before = chunk.len();
            match handshake.handle_bytes(&mut chunk) {
                Ok(HandshakeProgress::NeedMore) => assert!(chunk.is_empty()),
                Ok(HandshakeProgress::ActTwo(_)) => assert!(chunk.len() < before),
                Ok(HandshakeProgress::Complete(done)) => {
                    assert!(handshake.is_finished());
                    crate::reached_checks();
                    transport = Some(done.transport);
                }
                Err(_) => {
                    assert!(handshake.is_finished());
                    assert!(handshake.handle_bytes(&mut &[0u8][..]).is_err());
                    return;
                }
            }
        }
    }
    if transport.is_none() {
        assert!(handshake.handle_eof().is_err() || handshake.is_finished());
    }
}

/// A responder fed arbitrary bytes as act one (and act three). If the first
/// byte's top bit is set, a valid act one comes first, so the rest is read
/// as act three.
pub fn responder(data: &[u8]) {
    let Some((read, rest)) = split_reads(data) else {
        return;
    };
    let mut handshake = NoiseHandshake::new_responder(&responder_static(), &responder_ephemeral());
    if data[0] & 0x80 != 0 {
        let act_one = valid_act_one();
        let progress = handshake.handle_bytes(&mut &act_one[..]);
        assert!(
            matches!(progress, Ok(HandshakeProgress::ActTwo(_))),
            "valid act one accepted"
        );
    }
    drive(handshake, rest, read);
}

/// An initiator (the vectors' keys) fed arbitrary bytes as act two, then as
/// transport bytes once act two was valid.
pub fn initiator(data: &[u8]) {
    let Some((read, rest)) = split_reads(data) else {
        return;
    };
    let responder: PublicKey = responder_static().public_key();
    let (handshake, _act_one) =
        NoiseHandshake::new_initiator(&initiator_static(), responder, &initiator_ephemeral());
    drive(handshake, rest, read);
}

/// A transport after the vectors' handshake (their final `ck`, `sk`, `rk`),
/// fed a stream built from the input: valid frames from the peer, raw bytes
/// and bit flips. Frames arrive whole and in order until the first damage;
/// then the transport must fail and stay failed.
pub fn transport(data: &[u8]) {
    let Some((read, mut ops)) = split_reads(data) else {
        return;
    };
    let hex32 = |s: &str| -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("constant hex");
        }
        out
    };
    let ck = hex32("919219dbb2920afa8db80f9a51787a840bcf111ed8d588caf9ab4be716e42b01");
    let sk = hex32("969ab31b4d288cedf6218839b27a3e2140827047f2c0f01bf5c04435d43511a9");
    let rk = hex32("bb9020b8965f4df047e07f955f3c4b88418984aadc5cdb35096b9ea8fa5c3442");
    let mut peer = NoiseTransport::from_keys(&ck, &sk, &rk);
    let mut ours = NoiseTransport::from_keys(&ck, &rk, &sk);

    let mut wire = Vec::new();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    // Where the stream stops being exactly the peer's frames.
    let mut damaged_at: Option<usize> = None;
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let (&arg, rest) = ops.split_first().unwrap_or((&0, &[]));
        ops = rest;
        match op % 3 {
            0 => {
                // A valid frame; `arg` scales its length, up to the maximum.
                let len = (usize::from(arg) * 257).min(MAX_MESSAGE_LEN);
                let message: Vec<u8> = (0..len).map(|i| (i as u8) ^ op).collect();
                peer.encrypt_message(&message, &mut wire)
                    .expect("at most the maximum length");
                sent.push(message);
            }
            1 => {
                let take = usize::from(arg).min(ops.len());
                damaged_at.get_or_insert(wire.len());
                wire.extend_from_slice(&ops[..take]);
                ops = &ops[take..];
            }
            _ => {
                if !wire.is_empty() {
                    let at = usize::from(arg) * 31 % wire.len();
                    wire[at] ^= 1 << (op % 8);
                    damaged_at = Some(damaged_at.map_or(at, |d| d.min(at)));
                }
            }
        }
    }

    let mut received = 0usize;
    let mut offset = 0usize;
    for chunk in wire.chunks(read) {
        let mut input = chunk;
        loop {
            match ours.read_message(&mut input) {
                Ok(Some(message)) => {
                    assert!(received < sent.len(), "more messages than frames sent");
                    assert_eq!(
                        message,
                        &sent[received][..],
                        "a message decrypted to other bytes"
                    );
                    received += 1;
                    crate::reached_checks();
                }
                Ok(None) => break,
                Err(_) => {
                    // The bad frame part ends inside this read.
                    assert!(
                        damaged_at.is_some_and(|d| d < offset + chunk.len()),
                        "undamaged stream rejected"
                    );
                    assert!(ours.is_poisoned());
                    assert_eq!(ours.feed(&[0]), Err(TransportError::Poisoned));
                    assert_eq!(
                        ours.encrypt_message(b"", &mut Vec::new()),
                        Err(TransportError::Poisoned)
                    );
                    return;
                }
            }
        }
        offset += chunk.len();
    }
    if damaged_at.is_none() {
        assert_eq!(received, sent.len(), "every frame sent came out");
        assert!(!ours.has_partial_frame());
    }
}
