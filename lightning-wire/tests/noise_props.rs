//! Property tests of the BOLT 8 transport and handshake: any split of the
//! byte stream gives the same result, and any flipped bit is rejected.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use lightning_wire::noise::{
    HandshakeError, HandshakeProgress, NoiseHandshake, NoiseTransport, TransportError,
    MAX_MESSAGE_LEN,
};
use proptest::prelude::*;
use secp256k1::{Keypair, SecretKey, SECP256K1};

fn pair() -> (NoiseTransport, NoiseTransport) {
    let ck = [7u8; 32];
    let (a, b) = ([1u8; 32], [2u8; 32]);
    (
        NoiseTransport::from_keys(&ck, &a, &b),
        NoiseTransport::from_keys(&ck, &b, &a),
    )
}

/// Messages of mixed sizes, mostly small, some up to the maximum.
fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let size = prop_oneof![
        8 => 0usize..64,
        3 => 64usize..2048,
        1 => (MAX_MESSAGE_LEN - 64)..=MAX_MESSAGE_LEN,
    ];
    prop::collection::vec(
        size.prop_flat_map(|n| prop::collection::vec(any::<u8>(), n)),
        1..12,
    )
}

/// Splits `wire` at the given cut sizes (cycled) and collects the messages.
fn receive_in_chunks(
    receiver: &mut NoiseTransport,
    wire: &[u8],
    cuts: &[usize],
) -> Result<Vec<Vec<u8>>, TransportError> {
    let mut received = Vec::new();
    let mut offset = 0;
    let mut cut = cuts.iter().cycle();
    while offset < wire.len() {
        let n = (*cut.next().unwrap()).min(wire.len() - offset);
        let mut input = &wire[offset..offset + n];
        while let Some(message) = receiver.read_message(&mut input)? {
            received.push(message.to_vec());
        }
        assert!(input.is_empty());
        offset += n;
    }
    assert!(!receiver.has_partial_frame());
    Ok(received)
}

fn encrypt_all(sender: &mut NoiseTransport, messages: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for message in messages {
        sender.encrypt_message(message, &mut wire).unwrap();
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_split_yields_the_same_messages(
        messages in messages(),
        cuts in prop::collection::vec(1usize..70_000, 1..16),
    ) {
        let (mut alice, mut bob) = pair();
        let wire = encrypt_all(&mut alice, &messages);
        prop_assert_eq!(receive_in_chunks(&mut bob, &wire, &cuts).unwrap(), messages);
    }

    #[test]
    fn one_byte_at_a_time(messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)) {
        let (mut alice, mut bob) = pair();
        let wire = encrypt_all(&mut alice, &messages);
        prop_assert_eq!(receive_in_chunks(&mut bob, &wire, &[1]).unwrap(), messages);
    }

    #[test]
    fn a_flipped_bit_is_rejected_and_poisons(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..6),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
        cut in 1usize..64,
    ) {
        let (mut alice, mut bob) = pair();
        let mut wire = encrypt_all(&mut alice, &messages);
        let at = position.index(wire.len());
        wire[at] ^= 1 << bit;
        let err = receive_in_chunks(&mut bob, &wire, &[cut]).unwrap_err();
        prop_assert!(matches!(err, TransportError::BadLengthMac | TransportError::BadMessageMac), "{:?}", err);
        prop_assert!(bob.is_poisoned());
        prop_assert_eq!(bob.feed(&[0]), Err(TransportError::Poisoned));
        prop_assert_eq!(bob.next_message(), Err(TransportError::Poisoned));
        prop_assert_eq!(bob.encrypt_message(b"x", &mut Vec::new()), Err(TransportError::Poisoned));
    }

    #[test]
    fn handshake_in_any_split(cut_one in 1usize..=50, cut_two in 1usize..=50, cut_three in 1usize..=66, tail in 0usize..40) {
        let key = |b: u8| SecretKey::from_slice(&[b; 32]).unwrap();
        let alice = Keypair::from_secret_key(SECP256K1, &key(1));
        let bob = Keypair::from_secret_key(SECP256K1, &key(2));
        let (mut initiator, act_one) = NoiseHandshake::new_initiator(&alice, bob.public_key(), &key(3));
        let mut responder = NoiseHandshake::new_responder(&bob, &key(4));

        let mut act_two = None;
        for chunk in act_one.chunks(cut_one) {
            let mut input = chunk;
            match responder.handle_bytes(&mut input).unwrap() {
                HandshakeProgress::NeedMore => {}
                HandshakeProgress::ActTwo(bytes) => act_two = Some(bytes),
                HandshakeProgress::Complete(_) => panic!("complete after act one"),
            }
            prop_assert!(input.is_empty());
        }
        let act_two = act_two.unwrap();
        let mut done_initiator = None;
        for chunk in act_two.chunks(cut_two) {
            if let HandshakeProgress::Complete(done) = initiator.handle_bytes(&mut &chunk[..]).unwrap() {
                done_initiator = Some(done);
            }
        }
        let mut done_initiator = done_initiator.unwrap();

        // Act three followed by the initiator's first message, in one stream.
        let mut stream = done_initiator.act_three.unwrap().to_vec();
        let first = vec![0xab; tail];
        done_initiator.transport.encrypt_message(&first, &mut stream).unwrap();
        let mut done_responder = None;
        let mut received = Vec::new();
        for chunk in stream.chunks(cut_three) {
            let mut input = chunk;
            if done_responder.is_none() {
                if let HandshakeProgress::Complete(done) = responder.handle_bytes(&mut input).unwrap() {
                    done_responder = Some(done);
                }
            }
            if let Some(done) = done_responder.as_mut() {
                while let Some(message) = done.transport.read_message(&mut input).unwrap() {
                    received.push(message.to_vec());
                }
            }
            prop_assert!(input.is_empty());
        }
        let done_responder = done_responder.unwrap();
        prop_assert_eq!(done_responder.remote_static, alice.public_key());
        prop_assert_eq!(received, vec![first]);
        prop_assert_eq!(responder.handle_bytes(&mut &[0u8][..]).unwrap_err(), HandshakeError::Finished);
    }
}

#[test]
fn oversized_message_is_a_typed_error() {
    let (mut alice, mut bob) = pair();
    let mut out = Vec::new();
    assert_eq!(
        alice.encrypt_message(&vec![0; MAX_MESSAGE_LEN + 1], &mut out),
        Err(TransportError::MessageTooLarge {
            len: MAX_MESSAGE_LEN + 1
        })
    );
    assert!(out.is_empty(), "nothing written for a refused message");
    // The refused message used no nonce: the next one still decrypts.
    alice
        .encrypt_message(&vec![9; MAX_MESSAGE_LEN], &mut out)
        .unwrap();
    assert_eq!(
        bob.read_message(&mut &out[..]).unwrap().map(<[u8]>::len),
        Some(MAX_MESSAGE_LEN)
    );
}

#[test]
fn a_waiting_message_holds_back_further_input() {
    let (mut alice, mut bob) = pair();
    let mut wire = Vec::new();
    alice.encrypt_message(b"first", &mut wire).unwrap();
    alice.encrypt_message(b"second", &mut wire).unwrap();
    let used = bob.feed(&wire).unwrap();
    assert_eq!(used, 5 + 34, "takes exactly one frame");
    assert_eq!(
        bob.feed(&wire[used..]).unwrap(),
        0,
        "nothing while a message waits"
    );
    assert_eq!(bob.next_message().unwrap(), Some(&b"first"[..]));
    assert_eq!(bob.feed(&wire[used..]).unwrap(), 6 + 34);
    assert_eq!(bob.next_message().unwrap(), Some(&b"second"[..]));
    assert_eq!(bob.next_message().unwrap(), None);
}

#[test]
fn truncated_frame_is_reported() {
    let (mut alice, mut bob) = pair();
    let mut wire = Vec::new();
    alice.encrypt_message(b"cut short", &mut wire).unwrap();
    assert!(!bob.has_partial_frame());
    assert_eq!(
        bob.read_message(&mut &wire[..wire.len() - 1]).unwrap(),
        None
    );
    assert!(bob.has_partial_frame());
}

#[test]
fn wrong_responder_key_fails_act_one_mac() {
    let key = |b: u8| SecretKey::from_slice(&[b; 32]).unwrap();
    let alice = Keypair::from_secret_key(SECP256K1, &key(1));
    let bob = Keypair::from_secret_key(SECP256K1, &key(2));
    let carol = Keypair::from_secret_key(SECP256K1, &key(5));
    let (_initiator, act_one) = NoiseHandshake::new_initiator(&alice, carol.public_key(), &key(3));
    let mut responder = NoiseHandshake::new_responder(&bob, &key(4));
    assert_eq!(
        responder.handle_bytes(&mut &act_one[..]).unwrap_err(),
        HandshakeError::BadMac {
            act: lightning_wire::noise::Act::One
        }
    );
}
