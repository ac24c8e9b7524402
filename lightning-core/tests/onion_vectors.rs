//! BOLT 4 test vectors (tests/data/, see its README).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use lightning_core::onion::*;
use lightning_wire::types::PaymentHash;
use lightning_wire::{Decode, Encode};
use secp256k1::{PublicKey, SecretKey, SECP256K1};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}
fn sk(v: &Value) -> SecretKey {
    SecretKey::from_slice(&h(v)).unwrap()
}
fn pk(v: &Value) -> PublicKey {
    PublicKey::from_slice(&h(v)).unwrap()
}
fn arr32(v: &Value) -> [u8; 32] {
    h(v).try_into().unwrap()
}
/// The node keys of the spec's vectors: 0x41.., 0x42.., ... for hops 0..
fn node_key(i: usize) -> SecretKey {
    SecretKey::from_slice(&[0x41 + i as u8; 32]).unwrap()
}

#[test]
fn onion_test_construct_and_peel() {
    let v = load("onion-test.json");
    let g = &v["generate"];
    let session = sk(&g["session_key"]);
    let ad = h(&g["associated_data"]);
    let payloads: Vec<Vec<u8>> = g["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hop| {
            // The vector's payloads include their BigSize length prefix.
            let raw = h(&hop["payload"]);
            let mut r = lightning_wire::Reader::new(&raw);
            let lightning_wire::bigsize::BigSize(len) = r.read().unwrap();
            let body = r.read_rest();
            assert_eq!(body.len() as u64, len);
            body.to_vec()
        })
        .collect();
    let hops: Vec<SphinxHop> = g["hops"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&payloads)
        .map(|(hop, p)| SphinxHop {
            node_id: pk(&hop["pubkey"]),
            payload: p,
        })
        .collect();
    let (packet, _) = build_packet(&session, &hops, &ad, 1300).unwrap();
    assert_eq!(hex::encode(packet.to_bytes()), v["onion"].as_str().unwrap());

    // Peel at every hop.
    let mut packet = OnionPacket::from_payment_bytes(&h(&v["onion"])).unwrap();
    for (i, expected) in payloads.iter().enumerate() {
        assert_eq!(
            PublicKey::from_secret_key(SECP256K1, &node_key(i)),
            hops[i].node_id
        );
        let hop = peel_packet(&packet, &ad, &node_key(i)).unwrap();
        assert_eq!(&hop.payload, expected, "hop {i}");
        match hop.next {
            Peeled::Forward(next) => packet = next,
            Peeled::Final => assert_eq!(i, payloads.len() - 1),
        }
    }
}

#[test]
fn onion_test_payloads_decode() {
    let v = load("onion-test.json");
    for hop in v["generate"]["hops"].as_array().unwrap() {
        let raw = h(&hop["payload"]);
        let mut r = lightning_wire::Reader::new(&raw);
        let _len: lightning_wire::bigsize::BigSize = r.read().unwrap();
        let body = r.read_rest();
        let decoded = HopPayload::decode_payload(body).unwrap();
        assert_eq!(decoded.to_bytes(), body);
    }
}

#[test]
fn onion_error_test_legacy_256() {
    let v = load("onion-error-test.json");
    let g = &v["generate"];
    let hops = g["hops"].as_array().unwrap();
    let secrets: Vec<SharedSecret> = hops
        .iter()
        .map(|hop| SharedSecret(arr32(&hop["hop_shared_secret"])))
        .collect();
    // Our derivation of the shared secrets agrees.
    let route: Vec<PublicKey> = hops.iter().map(|hop| pk(&hop["pubkey"])).collect();
    assert_eq!(
        route_shared_secrets(&sk(&g["session_key"]), &route).unwrap(),
        secrets
    );

    let failure = FailureMessage::from_bytes(&h(&g["failure_message"])).unwrap();
    assert_eq!(failure.reason, FailureReason::TemporaryNodeFailure);
    let last = secrets.len() - 1;
    let mut packet = create_error_packet(&secrets[last], &failure);
    for i in (0..last).rev() {
        obfuscate_error_packet(&secrets[i], &mut packet);
    }
    assert_eq!(hex::encode(&packet), v["errorpacket"].as_str().unwrap());
    let ammag = lightning_core::onion::keys::derive_key(keys::AMMAG, secrets[0].as_bytes());
    assert_eq!(hex::encode(ammag), hops[0]["ammag_key"].as_str().unwrap());

    let decoded = decode_error_packet(&secrets, &h(&v["errorpacket"]), None);
    assert_eq!(decoded.failing_hop, Some(last));
    assert_eq!(decoded.message, Some(failure));
}

use lightning_core::onion::keys;

#[test]
fn returning_errors_with_attribution() {
    let v = load("bolt04-returning-errors.json");
    let p = &v["parameters"];
    let route: Vec<PublicKey> = p["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hop| pk(&hop["pubkey"]))
        .collect();
    let secrets = route_shared_secrets(&sk(&p["session_key"]), &route).unwrap();

    // Error creation at node 4.
    let c = &v["error_creation"];
    let failure = FailureMessage::from_bytes(&h(&c["encoded_failure_message"])[..320]).unwrap();
    assert_eq!(
        failure.reason,
        FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: 100,
            height: 800_000
        }
    );
    assert_eq!(failure.tlvs.0.len(), 1);
    assert_eq!(failure.tlvs.0[0].r#type, 34001);
    assert_eq!(failure.tlvs.0[0].value, vec![0x80; 300]);
    assert_eq!(secrets[4], SharedSecret(arr32(&c["shared_secret"])));
    assert_eq!(
        keys::derive_key(keys::UM, secrets[4].as_bytes()).to_vec(),
        h(&c["um_key"])
    );
    let raw = error_packet::create_unobfuscated_error_packet(&secrets[4], &failure.to_bytes());
    assert_eq!(hex::encode(&raw), c["raw_error_packet"].as_str().unwrap());
    assert_eq!(&raw[32..], &h(&c["payload"])[..]);

    // Each forwarding step, node 4 back to node 0.
    let mut packet = raw.clone();
    let mut attribution = AttributionData::default();
    for (step, f) in v["forwarding"].as_array().unwrap().iter().enumerate() {
        let node = f["node"].as_u64().unwrap() as usize;
        let ss = &secrets[node];
        assert_eq!(*ss, SharedSecret(arr32(&f["shared_secret"])));
        assert_eq!(
            keys::derive_key(keys::AMMAG, ss.as_bytes()).to_vec(),
            h(&f["ammag_key"])
        );
        attribution.add_hop(ss, step as u32 + 1, &packet);
        obfuscate_error_packet(ss, &mut packet);
        assert_eq!(
            hex::encode(&packet),
            f["error_packet"].as_str().unwrap(),
            "node {node}"
        );
        assert_eq!(
            hex::encode(attribution.0),
            f["attribution_data"].as_str().unwrap(),
            "attribution at node {node}"
        );
    }

    // The origin.
    let decoded = decode_error_packet(&secrets, &packet, Some(&attribution));
    assert_eq!(decoded.failing_hop, Some(4));
    assert_eq!(decoded.message, Some(failure));
    assert_eq!(decoded.hold_times, vec![5, 4, 3, 2, 1]);
    assert_eq!(decoded.attribution_failed_at, None);

    // A hop that corrupts the attribution data is pinned down.
    let mut bad = attribution.clone();
    bad.0[80 + 4 * 15] ^= 1; // hop 0's HMAC for 4 hops downstream
    let decoded = decode_error_packet(&secrets, &packet, Some(&bad));
    assert_eq!(decoded.failing_hop, Some(4));
    assert!(decoded.attribution_failed_at.is_some());

    // A corrupted message: no HMAC matches; attribution still reads.
    let mut garbled = packet.clone();
    garbled[100] ^= 1;
    let decoded = decode_error_packet(&secrets, &garbled, Some(&attribution));
    assert_eq!(decoded.failing_hop, None);
    assert!(decoded.attribution_failed_at.is_some());
}

#[test]
fn returning_success_attribution() {
    let v = load("bolt04-returning-errors.json");
    let p = &v["parameters"];
    let route: Vec<PublicKey> = p["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hop| pk(&hop["pubkey"]))
        .collect();
    let secrets = route_shared_secrets(&sk(&p["session_key"]), &route).unwrap();
    let mut attribution = AttributionData::default();
    for (step, a) in v["returning_success"]["attribution_data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let node = a["node"].as_u64().unwrap() as usize;
        attribution.add_hop(&secrets[node], step as u32 + 1, &[]);
        assert_eq!(
            hex::encode(attribution.0),
            a["attribution_data"].as_str().unwrap()
        );
    }
    assert_eq!(
        attribution.verify_fulfill(&secrets),
        Ok(vec![5, 4, 3, 2, 1])
    );
    let mut bad = attribution.clone();
    bad.0[0] ^= 1; // hop 0's hold time
    assert_eq!(bad.verify_fulfill(&secrets), Err(0));
}

fn encrypted_data_from_json(t: &Value) -> EncryptedDataTlv {
    let mut d = EncryptedDataTlv::default();
    for (k, val) in t.as_object().unwrap() {
        match k.as_str() {
            "padding" => d.padding = Some(h(val)),
            "short_channel_id" => d.short_channel_id = Some(val.as_str().unwrap().parse().unwrap()),
            "next_node_id" => d.next_node_id = Some(pk(val)),
            "path_id" => d.path_id = Some(h(val)),
            "next_path_key_override" => d.next_path_key_override = Some(pk(val)),
            "path_key_override_secret" => {}
            "payment_relay" => {
                d.payment_relay = Some(PaymentRelay {
                    cltv_expiry_delta: val["cltv_expiry_delta"].as_u64().unwrap() as u16,
                    fee_proportional_millionths: val["fee_proportional_millionths"]
                        .as_u64()
                        .unwrap() as u32,
                    fee_base_msat: val["fee_base_msat"].as_u64().unwrap_or(0) as u32,
                })
            }
            "payment_constraints" => {
                d.payment_constraints = Some(PaymentConstraints {
                    max_cltv_expiry: val["max_cltv_expiry"].as_u64().unwrap() as u32,
                    htlc_minimum_msat: val["htlc_minimum_msat"].as_u64().unwrap(),
                })
            }
            "allowed_features" => {
                let bits: Vec<usize> = val["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap() as usize)
                    .collect();
                let len = bits.iter().map(|b| b / 8 + 1).max().unwrap_or(0);
                let mut f = vec![0u8; len];
                for b in bits {
                    f[len - 1 - b / 8] |= 1 << (b % 8);
                }
                d.allowed_features = Some(f);
            }
            other if other.starts_with("unknown_tag_") => {
                let ty: u64 = other["unknown_tag_".len()..].parse().unwrap();
                d.unknown.0.push(lightning_wire::tlv::TlvRecord {
                    r#type: ty,
                    value: h(val),
                });
            }
            other => panic!("unexpected tlv {other}"),
        }
    }
    d
}

#[test]
fn route_blinding_test() {
    let v = load("route-blinding-test.json");
    let hops = v["generate"]["hops"].as_array().unwrap();
    // Encoding of each encrypted_data_tlv.
    for hop in hops {
        let tlv = encrypted_data_from_json(&hop["tlvs"]);
        assert_eq!(
            hex::encode(tlv.to_bytes()),
            hop["encoded_tlvs"].as_str().unwrap()
        );
        assert_eq!(
            EncryptedDataTlv::from_bytes(&h(&hop["encoded_tlvs"])).unwrap(),
            tlv
        );
    }
    // Bob -> Carol from Bob's session key, Dave -> Eve from Eve's.
    let paths = [(0usize, 2usize), (2, 4)];
    let mut all = Vec::new();
    for (start, end) in paths {
        let session = sk(&hops[start]["session_key"]);
        let input: Vec<(PublicKey, Vec<u8>)> = hops[start..end]
            .iter()
            .map(|hop| (pk(&hop["node_id"]), h(&hop["encoded_tlvs"])))
            .collect();
        let path = blind_path(&session, &input).unwrap();
        assert_eq!(path.first_path_key, pk(&hops[start]["path_key"]));
        all.extend(path.hops);
    }
    let route = &v["route"];
    assert_eq!(all.len(), route["hops"].as_array().unwrap().len());
    for (ours, theirs) in all.iter().zip(route["hops"].as_array().unwrap()) {
        assert_eq!(ours.blinded_node_id, pk(&theirs["blinded_node_id"]));
        assert_eq!(
            hex::encode(&ours.encrypted_data),
            theirs["encrypted_data"].as_str().unwrap()
        );
    }
    // Unblinding at each hop.
    for (i, u) in v["unblind"]["hops"].as_array().unwrap().iter().enumerate() {
        let node = sk(&u["node_privkey"]);
        let path_key = pk(&u["path_key"]);
        let opened = unblind(&node, &path_key, &all[i].encrypted_data).unwrap();
        assert_eq!(
            opened.keys.blinded_node_secret.secret_bytes().to_vec(),
            h(&u["blinded_privkey"])
        );
        assert_eq!(
            hex::encode(opened.data.to_bytes()),
            u["decrypted_data"].as_str().unwrap()
        );
        assert_eq!(opened.keys.next_path_key, pk(&u["next_path_key"]));
        if let Some(o) = u.get("next_path_key_override") {
            assert_eq!(opened.next_path_key, pk(o));
        }
    }
}

#[test]
fn blinded_payment_onion_test() {
    let v = load("blinded-payment-onion-test.json");
    let g = &v["generate"];
    let hash = arr32(&g["associated_data"]);
    let full = g["full_route"]["hops"].as_array().unwrap();
    let route: Vec<(PublicKey, HopPayload)> = full
        .iter()
        .map(|hop| {
            // The vector's payloads include their BigSize length prefix.
            let raw = h(&hop["payload"]);
            let mut r = lightning_wire::Reader::new(&raw);
            let _len: lightning_wire::bigsize::BigSize = r.read().unwrap();
            let body = r.read_rest();
            let payload = HopPayload::decode_payload(body).unwrap();
            assert_eq!(payload.to_bytes(), body);
            (pk(&hop["pubkey"]), payload)
        })
        .collect();
    let (onion, _) =
        build_payment_onion(&sk(&g["session_key"]), &route, &PaymentHash(hash)).unwrap();
    assert_eq!(hex::encode(onion.to_bytes()), g["onion"].as_str().unwrap());

    // Processing at each hop, with the HTLC values the spec's route implies.
    let decrypt = v["decrypt"]["hops"].as_array().unwrap();
    let mut amount = route[0].1.amt_to_forward.unwrap() + 1_000;
    let mut cltv = route[0].1.outgoing_cltv_value.unwrap() + 100;
    let mut path_key: Option<PublicKey> = None;
    let mut packet = onion;
    let mut received = false;
    for (i, d) in decrypt.iter().enumerate() {
        assert_eq!(
            hex::encode(packet.to_bytes()),
            d["onion"].as_str().unwrap(),
            "hop {i}"
        );
        let htlc = IncomingHtlc {
            onion: &packet,
            payment_hash: PaymentHash(hash),
            amount_msat: amount,
            cltv_expiry: cltv,
            path_key,
        };
        match process_htlc_onion(&sk(&d["node_privkey"]), &htlc, None).unwrap() {
            ProcessedHtlc::Forward(fwd) => {
                if let Some(k) = d.get("next_path_key") {
                    assert_eq!(fwd.next_path_key, Some(pk(k)));
                }
                amount = fwd.amt_to_forward;
                cltv = fwd.outgoing_cltv_value;
                path_key = fwd.next_path_key;
                packet = fwd.next_packet;
            }
            ProcessedHtlc::Receive(rcv) => {
                assert_eq!(i, decrypt.len() - 1);
                assert!(rcv.blinded);
                assert_eq!(rcv.amt_to_forward, g["final_amount_msat"].as_u64().unwrap());
                assert!(rcv.path_id.is_some());
                received = true;
            }
        }
    }
    assert!(received);
}

#[test]
fn blinded_onion_message_test() {
    let v = load("blinded-onion-message-onion-test.json");
    let g = &v["generate"];
    let hops = g["hops"].as_array().unwrap();
    for hop in hops {
        let tlv = encrypted_data_from_json(&hop["tlvs"]);
        assert_eq!(
            hex::encode(tlv.to_bytes()),
            hop["encrypted_data_tlv"].as_str().unwrap()
        );
    }
    // Alice's hop comes from the sender's own path; Bob, Carol and Dave
    // from Dave's.
    let mut blinded = Vec::new();
    for (start, end) in [(0usize, 1usize), (1, 4)] {
        let input: Vec<(PublicKey, Vec<u8>)> = hops[start..end]
            .iter()
            .enumerate()
            .map(|(j, hop)| {
                let alias = hop["alias"].as_str().unwrap();
                let key = node_key(start + j);
                let _ = alias;
                (
                    PublicKey::from_secret_key(SECP256K1, &key),
                    h(&hop["encrypted_data_tlv"]),
                )
            })
            .collect();
        let path = blind_path(&sk(&hops[start]["path_key_secret"]), &input).unwrap();
        blinded.extend(path.hops);
    }
    for (ours, theirs) in blinded.iter().zip(v["route"]["hops"].as_array().unwrap()) {
        assert_eq!(ours.blinded_node_id, pk(&theirs["blinded_node_id"]));
        assert_eq!(
            hex::encode(&ours.encrypted_data),
            theirs["encrypted_recipient_data"].as_str().unwrap()
        );
    }
    let payloads: Vec<(PublicKey, Vec<u8>)> = blinded
        .iter()
        .enumerate()
        .map(|(i, hop)| {
            let mut p = OnionMessagePayload {
                encrypted_recipient_data: Some(hop.encrypted_data.clone()),
                ..Default::default()
            };
            if i == blinded.len() - 1 {
                p.unknown.0.push(lightning_wire::tlv::TlvRecord {
                    r#type: 1,
                    value: h(&v["onionmessage"]["unknown_tag_1"]),
                });
            }
            (hop.blinded_node_id, p.to_bytes())
        })
        .collect();
    let (packet, _) = build_onion_message_packet(&sk(&g["session_key"]), &payloads, 1300).unwrap();
    assert_eq!(
        hex::encode(packet.to_bytes()),
        v["onionmessage"]["onion_message_packet"].as_str().unwrap()
    );

    // Peel each `onion_message` (type 513: path_key, u16 len, packet).
    for (i, d) in v["decrypt"]["hops"].as_array().unwrap().iter().enumerate() {
        let msg = h(&d["onion_message"]);
        assert_eq!(&msg[..2], &[0x02, 0x01]);
        let path_key = PublicKey::from_slice(&msg[2..35]).unwrap();
        let len = u16::from_be_bytes([msg[35], msg[36]]) as usize;
        let packet = OnionPacket::from_bytes_any_len(&msg[37..37 + len]).unwrap();
        match peel_onion_message(&sk(&d["privkey"]), &path_key, &packet).unwrap() {
            OnionMessageHop::Forward {
                next_node_id,
                next_path_key,
                packet: next,
                ..
            } => {
                assert_eq!(next_node_id, Some(pk(&d["next_node_id"])));
                let following = h(&v["decrypt"]["hops"][i + 1]["onion_message"]);
                assert_eq!(&following[2..35], &next_path_key.serialize());
                assert_eq!(&following[37..], &next.to_bytes()[..]);
            }
            OnionMessageHop::Receive { payload, data, .. } => {
                assert_eq!(i, 3);
                assert_eq!(payload.unknown.0[0].value, b"hello");
                assert_eq!(data.path_id, Some(h(&hops[3]["tlvs"]["path_id"])));
            }
        }
    }
}
