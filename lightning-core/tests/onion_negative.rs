//! Corrupted onions are refused with their BOLT 4 failure code, and random
//! bytes never make a decoder panic.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use lightning_core::onion::*;
use lightning_wire::types::PaymentHash;
use lightning_wire::Encode;
use proptest::prelude::*;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

const HASH: [u8; 32] = [0x42; 32];

fn key(i: u8) -> SecretKey {
    SecretKey::from_slice(&[i; 32]).unwrap()
}

fn two_hop_onion() -> OnionPacket {
    let route = [
        (
            PublicKey::from_secret_key(SECP256K1, &key(1)),
            HopPayload {
                amt_to_forward: Some(1000),
                outgoing_cltv_value: Some(500),
                short_channel_id: Some(lightning_wire::types::ShortChannelId(7)),
                ..Default::default()
            },
        ),
        (
            PublicKey::from_secret_key(SECP256K1, &key(2)),
            HopPayload {
                amt_to_forward: Some(1000),
                outgoing_cltv_value: Some(500),
                ..Default::default()
            },
        ),
    ];
    build_payment_onion(&key(9), &route, &PaymentHash(HASH))
        .unwrap()
        .0
}

fn process(onion: &OnionPacket) -> Result<ProcessedHtlc, HtlcFailure> {
    let htlc = IncomingHtlc {
        onion,
        payment_hash: PaymentHash(HASH),
        amount_msat: 1100,
        cltv_expiry: 600,
        path_key: None,
    };
    process_htlc_onion(&key(1), &htlc, None)
}

/// Builds a one-hop onion around raw payload bytes.
fn raw_payload_onion(payload: &[u8]) -> OnionPacket {
    let hop = SphinxHop {
        node_id: PublicKey::from_secret_key(SECP256K1, &key(1)),
        payload,
    };
    build_packet(&key(9), &[hop], &HASH, 1300).unwrap().0
}

#[test]
fn valid_onion_forwards() {
    assert!(matches!(
        process(&two_hop_onion()),
        Ok(ProcessedHtlc::Forward(_))
    ));
}

#[test]
fn corrupted_version() {
    let mut onion = two_hop_onion();
    onion.version = 1;
    let f = process(&onion).unwrap_err();
    assert_eq!(f.code(), FailureCode::INVALID_ONION_VERSION);
    assert!(f.malformed);
    assert_eq!(
        f.reason,
        FailureReason::InvalidOnionVersion {
            sha256_of_onion: onion.sha256()
        }
    );
}

#[test]
fn corrupted_public_key() {
    let mut onion = two_hop_onion();
    onion.public_key[0] = 0x04; // not a compressed point prefix
    assert_eq!(
        process(&onion).unwrap_err().code(),
        FailureCode::INVALID_ONION_KEY
    );
    let mut onion = two_hop_onion();
    onion.public_key[1..].fill(0xff); // x not on the curve
    assert_eq!(
        process(&onion).unwrap_err().code(),
        FailureCode::INVALID_ONION_KEY
    );
    // A valid point that is not the right one: the HMAC fails.
    let mut onion = two_hop_onion();
    onion.public_key = PublicKey::from_secret_key(SECP256K1, &key(3)).serialize();
    assert_eq!(
        process(&onion).unwrap_err().code(),
        FailureCode::INVALID_ONION_HMAC
    );
}

#[test]
fn corrupted_hmac_and_payloads() {
    let mut onion = two_hop_onion();
    onion.hmac[31] ^= 1;
    assert_eq!(
        process(&onion).unwrap_err().code(),
        FailureCode::INVALID_ONION_HMAC
    );
    let mut onion = two_hop_onion();
    onion.hop_payloads[0] ^= 1; // the length byte
    assert_eq!(
        process(&onion).unwrap_err().code(),
        FailureCode::INVALID_ONION_HMAC
    );
    let mut onion = two_hop_onion();
    onion.hop_payloads[1299] ^= 1;
    assert_eq!(
        process(&onion).unwrap_err().code(),
        FailureCode::INVALID_ONION_HMAC
    );
    // Wrong associated data (payment hash).
    let onion = two_hop_onion();
    let htlc = IncomingHtlc {
        onion: &onion,
        payment_hash: PaymentHash([0; 32]),
        amount_msat: 1100,
        cltv_expiry: 600,
        path_key: None,
    };
    assert_eq!(
        process_htlc_onion(&key(1), &htlc, None).unwrap_err().code(),
        FailureCode::INVALID_ONION_HMAC
    );
}

#[test]
fn truncated_and_oversized_packets() {
    let bytes = two_hop_onion().to_bytes();
    assert!(OnionPacket::from_payment_bytes(&bytes[..1365]).is_err());
    assert!(OnionPacket::from_payment_bytes(&[bytes.clone(), vec![0]].concat()).is_err());
    assert!(OnionPacket::from_bytes_any_len(&bytes[..65]).is_err());
    // A payload that does not fit in the packet cannot be built.
    let big = vec![0x01; 1300];
    let hop = SphinxHop {
        node_id: PublicKey::from_secret_key(SECP256K1, &key(1)),
        payload: &big,
    };
    assert!(matches!(
        build_packet(&key(9), &[hop], &HASH, 1300),
        Err(BuildError::PayloadsTooLarge { .. })
    ));
}

#[test]
fn payload_framing_is_invalid_onion_payload() {
    // Payload that is not a valid TLV stream: type 2 with length past end.
    let onion = raw_payload_onion(&[0x02, 0x09, 0x01]);
    let f = process(&onion).unwrap_err();
    assert_eq!(
        f.reason,
        FailureReason::InvalidOnionPayload {
            r#type: 2,
            offset: 0
        }
    );
    assert!(!f.malformed);
    assert!(f.error_packet().is_some());
    // Non-canonical BigSize type.
    let onion = raw_payload_onion(&[0x02, 0x01, 0x01, 0xfd, 0x00, 0x04, 0x00]);
    let f = process(&onion).unwrap_err();
    assert_eq!(
        f.reason,
        FailureReason::InvalidOnionPayload {
            r#type: 3,
            offset: 3
        }
    );
    // Unknown even type at offset 6.
    let onion = raw_payload_onion(&[0x02, 0x01, 0x01, 0x04, 0x01, 0x01, 0x20, 0x00]);
    let f = process(&onion).unwrap_err();
    assert_eq!(
        f.reason,
        FailureReason::InvalidOnionPayload {
            r#type: 0x20,
            offset: 6
        }
    );
    // Missing amt_to_forward.
    let onion = raw_payload_onion(&[0x04, 0x01, 0x01]);
    let f = process(&onion).unwrap_err();
    assert_eq!(
        f.reason,
        FailureReason::InvalidOnionPayload {
            r#type: 2,
            offset: 0
        }
    );
    // A non-minimal tu64.
    let onion = raw_payload_onion(&[0x02, 0x02, 0x00, 0x01, 0x04, 0x01, 0x01]);
    let f = process(&onion).unwrap_err();
    assert_eq!(
        f.reason,
        FailureReason::InvalidOnionPayload {
            r#type: 2,
            offset: 0
        }
    );
}

#[test]
fn frame_length_zero_or_one_is_refused() {
    // Craft decrypted payloads directly: a packet whose first frame byte
    // decrypts to 0 (legacy) or 1 (reserved).
    for first in [0u8, 1] {
        let ss = SharedSecret::new(&PublicKey::from_secret_key(SECP256K1, &key(9)), &key(1));
        let rho = keys::derive_key(keys::RHO, ss.as_bytes());
        let mut payloads = vec![0u8; 1300];
        payloads[0] = first;
        keys::apply_stream(&rho, &mut payloads);
        let mu = keys::derive_key(keys::MU, ss.as_bytes());
        let hmac = keys::hmac_sha256(&mu, &[&payloads, &HASH]);
        let onion = OnionPacket {
            version: 0,
            public_key: PublicKey::from_secret_key(SECP256K1, &key(9)).serialize(),
            hop_payloads: payloads,
            hmac,
        };
        let f = process(&onion).unwrap_err();
        assert_eq!(f.code(), FailureCode::INVALID_ONION_PAYLOAD);
    }
}

use lightning_core::onion::keys;

#[test]
fn final_hop_checks() {
    let route = [(
        PublicKey::from_secret_key(SECP256K1, &key(1)),
        HopPayload {
            amt_to_forward: Some(1000),
            outgoing_cltv_value: Some(500),
            ..Default::default()
        },
    )];
    let onion = build_payment_onion(&key(9), &route, &PaymentHash(HASH))
        .unwrap()
        .0;
    let run = |amount_msat, cltv_expiry| {
        let htlc = IncomingHtlc {
            onion: &onion,
            payment_hash: PaymentHash(HASH),
            amount_msat,
            cltv_expiry,
            path_key: None,
        };
        process_htlc_onion(&key(1), &htlc, None)
    };
    assert!(matches!(run(1000, 500), Ok(ProcessedHtlc::Receive(_))));
    assert_eq!(
        run(999, 500).unwrap_err().reason,
        FailureReason::FinalIncorrectHtlcAmount {
            incoming_htlc_amt: 999
        }
    );
    assert_eq!(
        run(1000, 499).unwrap_err().reason,
        FailureReason::FinalIncorrectCltvExpiry { cltv_expiry: 499 }
    );
    // A path key in update_add_htlc where none belongs: invalid_onion_blinding.
    let htlc = IncomingHtlc {
        onion: &onion,
        payment_hash: PaymentHash(HASH),
        amount_msat: 1000,
        cltv_expiry: 500,
        path_key: Some(PublicKey::from_secret_key(SECP256K1, &key(5))),
    };
    let f = process_htlc_onion(&key(1), &htlc, None).unwrap_err();
    assert_eq!(f.code(), FailureCode::INVALID_ONION_BLINDING);
    assert!(f.malformed);
}

#[test]
fn replay_is_detected() {
    let onion = two_hop_onion();
    let mut cache = InMemorySharedSecretCache::new();
    let htlc = IncomingHtlc {
        onion: &onion,
        payment_hash: PaymentHash(HASH),
        amount_msat: 1100,
        cltv_expiry: 600,
        path_key: None,
    };
    assert!(process_htlc_onion(&key(1), &htlc, Some(&mut cache)).is_ok());
    let f = process_htlc_onion(&key(1), &htlc, Some(&mut cache)).unwrap_err();
    assert_eq!(f.code(), FailureCode::TEMPORARY_NODE_FAILURE);
    assert_eq!(cache.len(), 1);
}

#[test]
fn every_failure_round_trips() {
    use FailureReason::*;
    let upd = vec![0x01, 0x02, 0xaa];
    let all = vec![
        InvalidRealm,
        TemporaryNodeFailure,
        PermanentNodeFailure,
        RequiredNodeFeatureMissing,
        InvalidOnionVersion {
            sha256_of_onion: [1; 32],
        },
        InvalidOnionHmac {
            sha256_of_onion: [2; 32],
        },
        InvalidOnionKey {
            sha256_of_onion: [3; 32],
        },
        TemporaryChannelFailure {
            channel_update: upd.clone(),
        },
        PermanentChannelFailure,
        RequiredChannelFeatureMissing,
        UnknownNextPeer,
        AmountBelowMinimum {
            htlc_msat: 5,
            channel_update: upd.clone(),
        },
        FeeInsufficient {
            htlc_msat: 6,
            channel_update: upd.clone(),
        },
        IncorrectCltvExpiry {
            cltv_expiry: 7,
            channel_update: upd.clone(),
        },
        ExpiryTooSoon {
            channel_update: upd.clone(),
        },
        IncorrectOrUnknownPaymentDetails {
            htlc_msat: 8,
            height: 9,
        },
        FinalIncorrectCltvExpiry { cltv_expiry: 10 },
        FinalIncorrectHtlcAmount {
            incoming_htlc_amt: 11,
        },
        ChannelDisabled {
            disabled_flags: 0,
            channel_update: upd.clone(),
        },
        ExpiryTooFar,
        InvalidOnionPayload {
            r#type: 70000,
            offset: 12,
        },
        MppTimeout,
        InvalidOnionBlinding {
            sha256_of_onion: [4; 32],
        },
        Unknown {
            code: 0x0099,
            data: vec![1, 2],
        },
    ];
    for reason in all {
        let msg = FailureMessage::from(reason.clone());
        let bytes = msg.to_bytes();
        assert_eq!(u16::from_be_bytes([bytes[0], bytes[1]]), reason.code().0);
        use lightning_wire::Decode;
        assert_eq!(
            FailureMessage::from_bytes(&bytes).unwrap(),
            msg,
            "{reason:?}"
        );
        assert_eq!(
            reason.code().has_update(),
            reason.channel_update().is_some()
        );
    }
}

proptest! {
    #[test]
    fn random_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 1366)) {
        let onion = OnionPacket::from_payment_bytes(&bytes).unwrap();
        // A random packet carries no valid HMAC (a 2^-256 chance): it is
        // refused, as a bad version, key or HMAC, never peeled.
        prop_assert!(process(&onion).is_err());
        let peeled = peel_packet(&onion, &HASH, &key(1));
        prop_assert!(
            matches!(
                peeled,
                Err(PeelError::InvalidVersion(_) | PeelError::InvalidKey | PeelError::InvalidHmac)
            ),
            "{:?}",
            peeled.err()
        );
        // With version 0 and a valid ephemeral key, the HMAC is what fails.
        let mut fixed = bytes.clone();
        fixed[0] = 0;
        fixed[1..34].copy_from_slice(&PublicKey::from_secret_key(SECP256K1, &key(2)).serialize());
        let onion = OnionPacket::from_payment_bytes(&fixed).unwrap();
        prop_assert!(process(&onion).is_err());
        let peeled = peel_packet(&onion, &HASH, &key(1));
        prop_assert!(matches!(peeled, Err(PeelError::InvalidHmac)), "{:?}", peeled.err());
    }

    #[test]
    fn random_error_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200), attr in proptest::collection::vec(any::<u8>(), 920)) {
        let secrets = [SharedSecret([1; 32]), SharedSecret([2; 32]), SharedSecret([3; 32])];
        let attr = AttributionData::from_slice(&attr).unwrap();
        let d = decode_error_packet(&secrets, &bytes, Some(&attr));
        prop_assert!(d.failing_hop.is_none() || bytes.len() >= 34);
    }

    #[test]
    fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = HopPayload::decode_payload(&bytes) {
            prop_assert_eq!(HopPayload::decode_payload(&p.to_bytes()).unwrap(), p);
        }
        use lightning_wire::Decode;
        let _ = FailureMessage::from_bytes(&bytes);
        let _ = EncryptedDataTlv::from_bytes(&bytes);
        let _ = OnionMessagePayload::from_bytes(&bytes);
    }

    #[test]
    fn payload_round_trip(
        amt in proptest::option::of(any::<u64>()),
        cltv in proptest::option::of(any::<u32>()),
        scid in proptest::option::of(any::<u64>()),
        secret in proptest::option::of(any::<[u8; 32]>()),
        total in any::<u64>(),
        metadata in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        total_amount in proptest::option::of(any::<u64>()),
        custom in proptest::collection::btree_map(32_768u64..100_000, proptest::collection::vec(any::<u8>(), 0..20), 0..4),
    ) {
        let p = HopPayload {
            amt_to_forward: amt,
            outgoing_cltv_value: cltv,
            short_channel_id: scid.map(lightning_wire::types::ShortChannelId),
            payment_data: secret.map(|payment_secret| PaymentData { payment_secret, total_msat: total }),
            payment_metadata: metadata,
            total_amount_msat: total_amount,
            unknown: lightning_wire::tlv::UnknownTlvs(custom.into_iter().map(|(t, value)| (t | 1, value)).collect::<std::collections::BTreeMap<_, _>>().into_iter().map(|(r#type, value)| lightning_wire::tlv::TlvRecord { r#type, value }).collect()),
            ..Default::default()
        };
        let bytes = p.to_bytes();
        prop_assert_eq!(HopPayload::decode_payload(&bytes).unwrap(), p);
    }
}
