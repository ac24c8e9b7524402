//! Runs the onion fuzz targets over their checked-in corpus, counting the
//! inputs that reach the checks; peels the spec's onion from the corpus and
//! checks what comes out; checks the error target's attribution checks on
//! a return it built and on a doctored one.
#![allow(clippy::unwrap_used)]

use lightning_core::onion::{
    decode_error_packet, error_packet::create_unobfuscated_error_packet, obfuscate_error_packet,
    peel_packet, AttributionData, FailureMessage, FailureReason, OnionPacket, Peeled, SharedSecret,
};
use lightning_fuzz::{assert_corpus, corpus_dir, onion};
use lightning_wire::Encode;
use secp256k1::SecretKey;

#[test]
fn onion_peel_corpus() {
    // Only the spec's onion carries a valid HMAC for the target's key.
    assert_corpus("onion_peel", onion::peel, 1);
}

/// The corpus's `spec-onion-test` is BOLT 4's `onion-test.json` packet:
/// hop 0 (key 0x41..) peels it with associated data 0x42.. and finds the
/// spec's first payload and a packet to forward.
#[test]
fn onion_peel_corpus_holds_the_spec_onion() {
    let bytes = std::fs::read(corpus_dir("onion_peel").join("spec-onion-test")).unwrap();
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../lightning-core/tests/data/onion-test.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(hex::encode(&bytes), v["onion"].as_str().unwrap());
    let onion = OnionPacket::from_payment_bytes(&bytes).unwrap();
    let key = SecretKey::from_slice(&[0x41; 32]).unwrap();
    let hop = peel_packet(&onion, &[0x42; 32], &key).unwrap();
    // The vector's payload carries its BigSize length (one byte here).
    let payload = hex::decode(v["generate"]["hops"][0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(usize::from(payload[0]), payload.len() - 1);
    assert_eq!(hop.payload, payload[1..]);
    assert!(matches!(hop.next, Peeled::Forward(_)), "hop 0 forwards");
    // The HMAC covers the packet: one flipped bit and it does not peel.
    let mut bad = bytes.clone();
    bad[700] ^= 1;
    let onion = OnionPacket::from_payment_bytes(&bad).unwrap();
    assert!(peel_packet(&onion, &[0x42; 32], &key).is_err());
}

#[test]
fn onion_error_packet_corpus() {
    // Inputs with attribution data (920 bytes first): the spec's return
    // and `own-attributed-hop2` (see below).
    assert_corpus("onion_error_packet", onion::error_packet, 2);
}

#[test]
fn onion_hop_payload_corpus() {
    assert_corpus("onion_hop_payload", onion::hop_payload, 6);
}

/// A return from hop 2 of the target's five-hop route, attributed by hops
/// 2, 1 and 0: the target's input (attribution data, then the packet).
fn attributed_return() -> (Vec<SharedSecret>, AttributionData, Vec<u8>) {
    let secrets: Vec<SharedSecret> = (1..=5u8).map(|i| SharedSecret([i; 32])).collect();
    let failure: FailureMessage = FailureReason::TemporaryNodeFailure.into();
    let mut packet = create_unobfuscated_error_packet(&secrets[2], &failure.to_bytes());
    let mut attribution = AttributionData::default();
    for (hold, i) in [2usize, 1, 0].into_iter().enumerate() {
        attribution.add_hop(&secrets[i], hold as u32 + 7, &packet);
        obfuscate_error_packet(&secrets[i], &mut packet);
    }
    (secrets, attribution, packet)
}

#[test]
fn error_packet_attribution_checks_run_on_a_real_return() {
    let (secrets, attribution, packet) = attributed_return();
    let decoded = decode_error_packet(&secrets, &packet, Some(&attribution));
    assert_eq!(decoded.failing_hop, Some(2));
    assert_eq!(decoded.hold_times, vec![9, 8, 7]);
    assert_eq!(decoded.attribution_failed_at, None);
    let input = [&attribution.0[..], &packet].concat();
    onion::error_packet(&input);
    // The corpus holds this input (`WRITE_ONION_CORPUS=1` writes it again).
    let path = corpus_dir("onion_error_packet").join("own-attributed-hop2");
    if std::env::var_os("WRITE_ONION_CORPUS").is_some() {
        std::fs::write(&path, &input).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), input);
    // Doctored attribution: hop 1 is blamed, one hold time survives.
    let mut bad = attribution.clone();
    bad.0[200] ^= 1;
    let decoded = decode_error_packet(&secrets, &packet, Some(&bad));
    onion::check_attribution(&decoded, true, secrets.len());
    onion::error_packet(&[&bad.0[..], &packet].concat());
}

/// The consistency check fails on a decoded failure whose hold times do
/// not match its blame (what a wrong attribution decoder would return).
#[test]
fn attribution_consistency_catches_a_doctored_result() {
    let (secrets, attribution, packet) = attributed_return();
    let mut decoded = decode_error_packet(&secrets, &packet, Some(&attribution));
    decoded.hold_times.pop();
    let r = std::panic::catch_unwind(|| onion::check_attribution(&decoded, true, 5));
    assert!(r.is_err(), "a hold time missing went unnoticed");
    let mut decoded = decode_error_packet(&secrets, &packet, Some(&attribution));
    decoded.attribution_failed_at = Some(0);
    let r = std::panic::catch_unwind(|| onion::check_attribution(&decoded, true, 5));
    assert!(r.is_err(), "blame with every hold time went unnoticed");
}
