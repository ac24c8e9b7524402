//! `lightning-wire` message codec: decode and re-encode a mixed corpus of
//! real-sized messages, beside the floor of copying the same bytes.
//!
//! Decoding validates every point (a secp256k1 decompression, several
//! microseconds each) and signature; the points of `revoke_and_ack` and
//! `node_announcement` are most of the cost of this corpus.

use std::hint::black_box;

use bitcoin::hashes::{sha256, Hash};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lightning_wire::features::{Feature, InitFeatures, NodeFeatures};
use lightning_wire::msgs::{
    ChannelUpdate, CommitmentSigned, Init, InitTlvs, Message, NodeAddress, NodeAddresses,
    NodeAnnouncement, Ping, RevokeAndAck, UpdateAddHtlc, UpdateAddHtlcTlvs,
};
use lightning_wire::types::{ChainHash, ChannelId, ShortChannelId};
use secp256k1::{PublicKey, Secp256k1, SecretKey};

/// One of each common message, at the sizes seen on the wire.
fn corpus() -> Vec<Vec<u8>> {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[7; 32]).unwrap();
    let pk = PublicKey::from_secret_key(&secp, &sk);
    let sig = secp.sign_ecdsa(&secp256k1::Message::from_digest([9; 32]), &sk);
    let chain = ChainHash::for_network(bitcoin::Network::Bitcoin);
    let channel_id = ChannelId([3; 32]);
    let mut features = InitFeatures::empty();
    for f in [
        Feature::DataLossProtect,
        Feature::VarOnionOptin,
        Feature::StaticRemoteKey,
        Feature::PaymentSecret,
        Feature::BasicMpp,
        Feature::AnchorsZeroFeeHtlcTx,
        Feature::ChannelType,
        Feature::ScidAlias,
    ] {
        features.set_optional(f);
    }
    let messages: Vec<Message> = vec![
        UpdateAddHtlc {
            channel_id,
            id: 42,
            amount_msat: 1_000_000,
            payment_hash: sha256::Hash::hash(b"preimage").into(),
            cltv_expiry: 800_000,
            onion_routing_packet: [0x5a; 1366].into(),
            tlvs: UpdateAddHtlcTlvs::default(),
        }
        .into(),
        CommitmentSigned {
            channel_id,
            signature: sig,
            htlc_signatures: vec![sig; 30],
            tlvs: Default::default(),
        }
        .into(),
        RevokeAndAck {
            channel_id,
            per_commitment_secret: [1; 32],
            next_per_commitment_point: pk,
            tlvs: Default::default(),
        }
        .into(),
        ChannelUpdate {
            signature: sig,
            chain_hash: chain,
            short_channel_id: ShortChannelId::new(800_000, 1234, 1).unwrap(),
            timestamp: 1_700_000_000,
            message_flags: 1,
            channel_flags: 0,
            cltv_expiry_delta: 144,
            htlc_minimum_msat: 1000,
            fee_base_msat: 1000,
            fee_proportional_millionths: 100,
            htlc_maximum_msat: 990_000_000,
            tlvs: Default::default(),
        }
        .into(),
        NodeAnnouncement {
            signature: sig,
            features: NodeFeatures::from_be_bytes(features.as_be_bytes().to_vec()),
            timestamp: 1_700_000_000,
            node_id: pk,
            rgb_color: [1, 2, 3],
            alias: *b"bench-node\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            addresses: NodeAddresses {
                addresses: vec![
                    NodeAddress::Ipv4 {
                        addr: [203, 0, 113, 7].into(),
                        port: 9735,
                    },
                    NodeAddress::TorV3 {
                        onion: [0x42; 35],
                        port: 9735,
                    },
                    NodeAddress::Dns {
                        hostname: "node.example.com".into(),
                        port: 9735,
                    },
                ],
                unparsed: Vec::new(),
            },
            tlvs: Default::default(),
        }
        .into(),
        Init {
            global_features: InitFeatures::empty(),
            features,
            tlvs: InitTlvs {
                networks: Some(vec![chain]),
                ..Default::default()
            },
        }
        .into(),
        Ping {
            num_pong_bytes: 64,
            ignored: vec![0; 64],
            tlvs: Default::default(),
        }
        .into(),
    ];
    messages
        .iter()
        .map(|m| m.encode().expect("the corpus messages fit a frame"))
        .collect()
}

fn wire(c: &mut Criterion) {
    let corpus = corpus();
    let bytes: u64 = corpus.iter().map(|m| m.len() as u64).sum();
    for (name, throughput) in [
        ("wire/bytes", Throughput::Bytes(bytes)),
        ("wire/messages", Throughput::Elements(corpus.len() as u64)),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(throughput);
        group.bench_function("decode_encode", |b| {
            b.iter(|| {
                for m in &corpus {
                    let msg = Message::decode(black_box(m)).expect("valid message");
                    black_box(msg.encode().ok());
                }
            })
        });
        group.bench_function("floor_copy", |b| {
            b.iter(|| {
                for m in &corpus {
                    black_box(black_box(m).clone());
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, wire);
criterion_main!(benches);
