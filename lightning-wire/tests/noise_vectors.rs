//! BOLT 8 "Appendix A: Transport Test Vectors", every case
//! (tests/data/bolt08-transport.json).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lightning_wire::noise::{
    Act, EcdhError, HandshakeError, HandshakeProgress, NoiseHandshake, NoiseTransport,
    StaticKeyEcdh, ACT_ONE_LEN,
};
use secp256k1::ecdh::SharedSecret;
use secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};
use serde_json::Value;

/// A static key held outside the handshake, as a signer would hold it; it
/// counts the ECDHs it is asked for.
struct Signer {
    secret: SecretKey,
    ecdhs: AtomicUsize,
}

impl StaticKeyEcdh for Signer {
    fn public_key(&self) -> PublicKey {
        self.secret.public_key(SECP256K1)
    }

    fn ecdh(&self, point: &PublicKey) -> Result<[u8; 32], EcdhError> {
        self.ecdhs.fetch_add(1, Ordering::Relaxed);
        Ok(SharedSecret::new(point, &self.secret).secret_bytes())
    }
}

fn signer(v: &Value) -> Arc<Signer> {
    Arc::new(Signer {
        secret: secret(v),
        ecdhs: AtomicUsize::new(0),
    })
}

/// How a vector's handshake gets its static key.
#[derive(Debug, Clone, Copy)]
enum StaticKey {
    /// `new_initiator` / `new_responder` with a `Keypair`.
    Keypair,
    /// `*_with_key` with a [`Signer`].
    Signer,
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/bolt08-transport.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn secret(v: &Value) -> SecretKey {
    SecretKey::from_slice(&bytes(v)).unwrap()
}

fn keypair(v: &Value) -> Keypair {
    Keypair::from_secret_key(SECP256K1, &secret(v))
}

fn key32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().unwrap()
}

/// The spec's error label mapped to ours.
fn expected_error(label: &str) -> HandshakeError {
    let label = label.split_whitespace().next().unwrap();
    let act = match &label[..4] {
        "ACT1" => Act::One,
        "ACT2" => Act::Two,
        "ACT3" => Act::Three,
        other => panic!("unknown act in {other}"),
    };
    match &label[5..] {
        "BAD_VERSION" => HandshakeError::BadVersion { act, version: 1 },
        "BAD_PUBKEY" => HandshakeError::BadPublicKey { act },
        "BAD_TAG" => HandshakeError::BadMac { act },
        "BAD_CIPHERTEXT" => HandshakeError::BadStaticKeyMac,
        "READ_FAILED" => {
            let expected = if act == Act::Three { 66 } else { 50 };
            HandshakeError::ShortRead {
                act,
                received: expected - 1,
                expected,
            }
        }
        other => panic!("unknown error label {other}"),
    }
}

/// Feeds `input` (a whole act, or the truncated act of a short-read test)
/// and, for a short read, closes the connection.
fn feed_act(
    hs: &mut NoiseHandshake,
    input: &[u8],
    full_len: usize,
) -> Result<HandshakeProgress, HandshakeError> {
    let mut rest = input;
    let progress = hs.handle_bytes(&mut rest)?;
    assert!(rest.is_empty(), "an act's bytes are all consumed");
    if input.len() < full_len {
        assert!(matches!(progress, HandshakeProgress::NeedMore));
        hs.handle_eof()?;
        panic!("handle_eof after a short act must fail");
    }
    Ok(progress)
}

#[test]
fn initiator_vectors() {
    initiator_vectors_with(StaticKey::Keypair);
}

#[test]
fn initiator_vectors_through_a_signer() {
    initiator_vectors_with(StaticKey::Signer);
}

#[test]
fn responder_vectors() {
    responder_vectors_with(StaticKey::Keypair);
}

#[test]
fn responder_vectors_through_a_signer() {
    responder_vectors_with(StaticKey::Signer);
}

fn initiator_vectors_with(static_key: StaticKey) {
    let v = vectors();
    let cases = v["initiator"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ls = keypair(&case["ls_priv"]);
        assert_eq!(
            ls.public_key().serialize().to_vec(),
            bytes(&case["ls_pub"]),
            "{name}"
        );
        let rs = PublicKey::from_slice(&bytes(&case["rs_pub"])).unwrap();
        let signer = signer(&case["ls_priv"]);
        let (mut hs, act_one) = match static_key {
            StaticKey::Keypair => NoiseHandshake::new_initiator(&ls, rs, &secret(&case["e_priv"])),
            StaticKey::Signer => {
                NoiseHandshake::new_initiator_with_key(signer.clone(), rs, &secret(&case["e_priv"]))
            }
        };
        assert_eq!(
            act_one.to_vec(),
            bytes(&case["act_one"]["output"]),
            "{name}: act one"
        );

        let act_two = &case["act_two"];
        let result = feed_act(&mut hs, &bytes(&act_two["input"]), 50);
        if let Some(label) = act_two.get("error") {
            assert_eq!(
                result.unwrap_err(),
                expected_error(label.as_str().unwrap()),
                "{name}"
            );
            assert!(hs.is_finished());
            assert_eq!(
                hs.handle_bytes(&mut &[0u8; 50][..]).unwrap_err(),
                HandshakeError::Finished
            );
            continue;
        }
        let HandshakeProgress::Complete(done) = result.unwrap() else {
            panic!("{name}: not complete")
        };
        if let StaticKey::Signer = static_key {
            // `se`, in act three.
            assert_eq!(signer.ecdhs.load(Ordering::Relaxed), 1, "{name}");
        }
        assert_eq!(
            done.act_three.unwrap().to_vec(),
            bytes(&case["act_three"]["output"]),
            "{name}: act three"
        );
        assert_eq!(done.remote_static, rs);
        check_final_keys(
            done.transport,
            &case["final_keys"],
            &v["message_encryption"]["ck"],
        );
    }
}

fn responder_vectors_with(static_key: StaticKey) {
    let v = vectors();
    let cases = v["responder"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    let initiator_static = PublicKey::from_slice(&bytes(&v["initiator"][0]["ls_pub"])).unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ls = keypair(&case["ls_priv"]);
        assert_eq!(
            ls.public_key().serialize().to_vec(),
            bytes(&case["ls_pub"]),
            "{name}"
        );
        let signer = signer(&case["ls_priv"]);
        let mut hs = match static_key {
            StaticKey::Keypair => NoiseHandshake::new_responder(&ls, &secret(&case["e_priv"])),
            StaticKey::Signer => {
                NoiseHandshake::new_responder_with_key(signer.clone(), &secret(&case["e_priv"]))
            }
        };

        let act_one = &case["act_one"];
        let result = feed_act(&mut hs, &bytes(&act_one["input"]), ACT_ONE_LEN);
        if let Some(label) = act_one.get("error") {
            assert_eq!(
                result.unwrap_err(),
                expected_error(label.as_str().unwrap()),
                "{name}"
            );
            assert!(hs.is_finished());
            continue;
        }
        let HandshakeProgress::ActTwo(act_two) = result.unwrap() else {
            panic!("{name}: no act two")
        };
        if let StaticKey::Signer = static_key {
            // `es`, in act one.
            assert_eq!(signer.ecdhs.load(Ordering::Relaxed), 1, "{name}");
        }
        assert_eq!(
            act_two.to_vec(),
            bytes(&case["act_two"]["output"]),
            "{name}: act two"
        );

        let act_three = &case["act_three"];
        let result = feed_act(&mut hs, &bytes(&act_three["input"]), 66);
        if let Some(label) = act_three.get("error") {
            assert_eq!(
                result.unwrap_err(),
                expected_error(label.as_str().unwrap()),
                "{name}"
            );
            assert!(hs.is_finished());
            assert_eq!(
                hs.handle_bytes(&mut &[0u8; 66][..]).unwrap_err(),
                HandshakeError::Finished
            );
            continue;
        }
        let HandshakeProgress::Complete(done) = result.unwrap() else {
            panic!("{name}: not complete")
        };
        assert!(done.act_three.is_none());
        assert_eq!(
            done.remote_static, initiator_static,
            "{name}: learned static key"
        );
        assert_eq!(hs.remote_static(), Some(initiator_static));
        check_final_keys(
            done.transport,
            &case["final_keys"],
            &v["message_encryption"]["ck"],
        );
    }
}

/// The transport's keys are the vector's: a transport built from the vector's
/// `sk`/`rk` (and the final `ck`) talks to it in both directions, across a
/// key rotation.
fn check_final_keys(mut ours: NoiseTransport, keys: &Value, ck: &Value) {
    let (sk, rk, ck) = (key32(&keys["sk"]), key32(&keys["rk"]), key32(ck));
    let mut peer = NoiseTransport::from_keys(&ck, &rk, &sk);
    let mut wire = Vec::new();
    for i in 0..600u32 {
        let message = i.to_be_bytes();
        wire.clear();
        ours.encrypt_message(&message, &mut wire).unwrap();
        assert_eq!(
            peer.read_message(&mut &wire[..]).unwrap(),
            Some(&message[..])
        );
        wire.clear();
        peer.encrypt_message(&message, &mut wire).unwrap();
        assert_eq!(
            ours.read_message(&mut &wire[..]).unwrap(),
            Some(&message[..])
        );
    }
}

#[test]
fn message_encryption_vectors() {
    let v = vectors();
    let m = &v["message_encryption"];
    let (ck, sk, rk) = (key32(&m["ck"]), key32(&m["sk"]), key32(&m["rk"]));
    let plaintext = bytes(&m["plaintext"]);
    let outputs: Vec<(u64, Vec<u8>)> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["message_index"].as_u64().unwrap(),
                bytes(&o["ciphertext"]),
            )
        })
        .collect();
    assert_eq!(
        outputs.iter().map(|o| o.0).collect::<Vec<_>>(),
        [0, 1, 500, 501, 1000, 1001]
    );

    let mut sender = NoiseTransport::from_keys(&ck, &sk, &rk);
    // The responder's view: its receiving key is the initiator's sending key.
    let mut receiver = NoiseTransport::from_keys(&ck, &rk, &sk);
    let mut checked = 0;
    for index in 0..=1001u64 {
        let mut out = Vec::new();
        sender.encrypt_message(&plaintext, &mut out).unwrap();
        if let Some((_, expected)) = outputs.iter().find(|o| o.0 == index) {
            assert_eq!(hex::encode(&out), hex::encode(expected), "message {index}");
            checked += 1;
        }
        let mut input = &out[..];
        assert_eq!(
            receiver.read_message(&mut input).unwrap(),
            Some(&plaintext[..]),
            "message {index}"
        );
        assert!(input.is_empty());
    }
    assert_eq!(checked, 6);
}

/// 1002 frames across two rotations, delivered in one buffer, come out whole.
#[test]
fn message_vectors_in_one_buffer() {
    let v = vectors();
    let m = &v["message_encryption"];
    let (ck, sk, rk) = (key32(&m["ck"]), key32(&m["sk"]), key32(&m["rk"]));
    let mut sender = NoiseTransport::from_keys(&ck, &sk, &rk);
    let mut receiver = NoiseTransport::from_keys(&ck, &rk, &sk);
    let mut wire = Vec::new();
    for _ in 0..1002 {
        sender.encrypt_message(b"hello", &mut wire).unwrap();
    }
    let mut input = &wire[..];
    let mut count = 0;
    while let Some(message) = receiver.read_message(&mut input).unwrap() {
        assert_eq!(message, b"hello");
        count += 1;
    }
    assert_eq!(count, 1002);
}

/// A key holder that cannot do the ECDH fails the handshake at the act that
/// needed it, with an error that names it, and nothing is sent.
#[test]
fn failing_static_key_ecdh_fails_the_handshake() {
    struct Unreachable(PublicKey);
    impl StaticKeyEcdh for Unreachable {
        fn public_key(&self) -> PublicKey {
            self.0
        }
        fn ecdh(&self, _: &PublicKey) -> Result<[u8; 32], EcdhError> {
            Err(EcdhError::new("signer unreachable"))
        }
    }
    let key = |b: u8| SecretKey::from_slice(&[b; 32]).unwrap();
    let alice = Keypair::from_secret_key(SECP256K1, &key(1));
    let bob = Keypair::from_secret_key(SECP256K1, &key(2));
    let error = |act| HandshakeError::StaticKeyEcdh {
        act,
        error: EcdhError::new("signer unreachable"),
    };

    // Responder: `es` in act one.
    let (_, act_one) = NoiseHandshake::new_initiator(&alice, bob.public_key(), &key(3));
    let mut responder =
        NoiseHandshake::new_responder_with_key(Arc::new(Unreachable(bob.public_key())), &key(4));
    assert_eq!(
        responder.handle_bytes(&mut &act_one[..]).unwrap_err(),
        error(Act::One)
    );
    assert!(responder.is_finished());

    // Initiator: `se` in act three.
    let (mut initiator, act_one) = NoiseHandshake::new_initiator_with_key(
        Arc::new(Unreachable(alice.public_key())),
        bob.public_key(),
        &key(3),
    );
    let mut responder = NoiseHandshake::new_responder(&bob, &key(4));
    let HandshakeProgress::ActTwo(act_two) = responder.handle_bytes(&mut &act_one[..]).unwrap()
    else {
        panic!("no act two")
    };
    assert_eq!(
        initiator.handle_bytes(&mut &act_two[..]).unwrap_err(),
        error(Act::Three)
    );
    assert!(initiator.is_finished());
}
