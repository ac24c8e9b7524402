//! Fuzz targets for BOLT 4 onions: peeling, error decoding and hop
//! payloads.

use lightning_core::onion::{
    build_payment_onion, decode_error_packet, peel_packet, process_htlc_onion, AttributionData,
    DecodedFailure, HopPayload, IncomingHtlc, OnionPacket, SharedSecret, PAYMENT_ONION_LEN,
};
use lightning_wire::types::PaymentHash;
use lightning_wire::Encode;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

const HASH: [u8; 32] = [0x42; 32];

fn node_key() -> SecretKey {
    SecretKey::from_slice(&[0x41; 32]).expect("valid key")
}

/// Peels an arbitrary 1366-byte packet (shorter inputs are padded with
/// zeros) with a fixed node key, through the full HTLC checks.
pub fn peel(data: &[u8]) {
    let mut bytes = [0u8; PAYMENT_ONION_LEN];
    let n = data.len().min(PAYMENT_ONION_LEN);
    bytes[..n].copy_from_slice(&data[..n]);
    let onion = OnionPacket::from_payment_bytes(&bytes).expect("right length");
    let key = node_key();
    if peel_packet(&onion, &HASH, &key).is_ok() {
        crate::reached_checks();
    }
    let htlc = IncomingHtlc {
        onion: &onion,
        payment_hash: PaymentHash(HASH),
        amount_msat: 1_000,
        cltv_expiry: 500,
        path_key: None,
    };
    if let Err(f) = process_htlc_onion(&key, &htlc, None) {
        let _ = f.error_packet();
    }
}

/// Decodes an arbitrary error packet (and attribution data, from the first
/// 920 bytes when there are that many) against a fixed five-hop route.
pub fn error_packet(data: &[u8]) {
    let secrets: Vec<SharedSecret> = (1..=5u8).map(|i| SharedSecret([i; 32])).collect();
    let (attribution, packet) = if data.len() >= 920 {
        (AttributionData::from_slice(&data[..920]), &data[920..])
    } else {
        (None, data)
    };
    let decoded = decode_error_packet(&secrets, packet, attribution.as_ref());
    assert!(decoded.hold_times.len() <= 20);
    assert_eq!(
        decoded.failing_hop.is_some(),
        decoded.raw_message.is_some(),
        "a failuremsg exactly when an HMAC matched"
    );
    assert!(decoded.message.is_none() || decoded.raw_message.is_some());
    check_attribution(&decoded, attribution.is_some(), secrets.len());
    if let Some(a) = &attribution {
        let _ = a.verify_fulfill(&secrets);
    }
}

/// Decodes a hop payload; one that decodes re-encodes and decodes equal.
/// The attribution part of a decoded failure is consistent: without
/// attribution data there are no hold times and no blame; with it, the
/// hold times are those of the hops before the first whose HMAC failed, or
/// of every hop up to the erring one when all verified.
pub fn check_attribution(decoded: &DecodedFailure, attributed: bool, hops: usize) {
    if !attributed {
        assert!(
            decoded.hold_times.is_empty(),
            "hold times without attribution"
        );
        assert_eq!(
            decoded.attribution_failed_at, None,
            "blame without attribution"
        );
        return;
    }
    match (decoded.attribution_failed_at, decoded.failing_hop) {
        (Some(i), _) => {
            assert!(i < hops, "blamed hop {i} of {hops}");
            assert_eq!(
                decoded.hold_times.len(),
                i,
                "hold times of the hops before the blamed one"
            );
        }
        (None, Some(e)) => assert_eq!(
            decoded.hold_times.len(),
            e + 1,
            "all verified: one hold time per hop up to the erring one"
        ),
        (None, None) => assert!(
            !decoded.hold_times.is_empty() && decoded.hold_times.len() <= hops,
            "no HMAC matched and no blame: the attribution must tell how far the return came"
        ),
    }
    crate::reached_checks();
}

pub fn hop_payload(data: &[u8]) {
    if let Ok(p) = HopPayload::decode_payload(data) {
        crate::reached_checks();
        let bytes = p.to_bytes();
        let again = HopPayload::decode_payload(&bytes).expect("re-encoded payload decodes");
        assert_eq!(again, p);
        assert_eq!(again.to_bytes(), bytes);
        // It also fits in an onion when small enough.
        if bytes.len() >= 2 && bytes.len() <= 1200 {
            let key = node_key();
            let route = [(PublicKey::from_secret_key(SECP256K1, &key), p)];
            let session = SecretKey::from_slice(&[7; 32]).expect("valid key");
            let (onion, _) =
                build_payment_onion(&session, &route, &PaymentHash(HASH)).expect("fits");
            let hop = peel_packet(&onion, &HASH, &key).expect("own onion peels");
            assert_eq!(hop.payload, bytes);
        }
    }
}
