//! Round-trip properties over every message, from a seeded generator that
//! `proptest` drives, and negative tests for the BOLT 1 rules.

use std::sync::OnceLock;

use bitcoin::hashes::{sha256, Hash};
use proptest::prelude::*;
use secp256k1::ecdsa::Signature;
use secp256k1::{PublicKey, Secp256k1, SecretKey};

use super::*;
use crate::bigsize::BigSize;
use crate::features::{FeatureContext, Features, InitFeatures, TlvFeatures};
use crate::tlv::{TlvRecord, UnknownTlvs};
use crate::types::{ChainHash, ChannelId, PaymentHash, PaymentPreimage, ShortChannelId};

/// A small deterministic generator (SplitMix64): proptest chooses the seed.
#[derive(Debug)]
pub(crate) struct Gen(u64, usize);

impl Gen {
    pub(crate) fn new(seed: u64) -> Self {
        Gen(seed, 0)
    }

    /// A generator whose lengths are, one time in four, anything up to
    /// `max` (bytes or items): values no message can carry.
    pub(crate) fn with_big_lengths(seed: u64, max: usize) -> Self {
        Gen(seed, max)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A length: mostly short, sometimes a few hundred (or, with
    /// [`Gen::with_big_lengths`], sometimes up to the big maximum).
    fn len(&mut self) -> usize {
        if self.1 > 0 && self.below(4) == 0 {
            self.below(self.1 as u64 + 1) as usize
        } else if self.below(10) == 0 {
            self.below(300) as usize
        } else {
            self.below(6) as usize
        }
    }
}

/// A value drawn from a [`Gen`], valid and canonical on the wire.
pub(crate) trait Sample {
    fn sample(g: &mut Gen) -> Self;
}

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn sample(g: &mut Gen) -> Self {
                // Favour edge values now and then.
                match g.below(8) {
                    0 => 0,
                    1 => <$t>::MAX,
                    _ => g.next() as $t,
                }
            }
        }
    )*};
}
sample_int!(u8, u16, u32, u64, i64);

impl<const N: usize> Sample for [u8; N] {
    fn sample(g: &mut Gen) -> Self {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = g.next() as u8;
        }
        a
    }
}

impl<const N: usize> Sample for [u32; N] {
    fn sample(g: &mut Gen) -> Self {
        let mut a = [0u32; N];
        for v in &mut a {
            *v = g.next() as u32;
        }
        a
    }
}

impl<const N: usize> Sample for FixedBytes<N> {
    fn sample(g: &mut Gen) -> Self {
        let mut b = Box::new([0u8; N]);
        for x in b.iter_mut() {
            *x = g.next() as u8;
        }
        FixedBytes(b)
    }
}

impl<T: Sample> Sample for Vec<T> {
    fn sample(g: &mut Gen) -> Self {
        let n = g.len();
        (0..n).map(|_| T::sample(g)).collect()
    }
}

impl<T: Sample> Sample for Option<T> {
    fn sample(g: &mut Gen) -> Self {
        (g.below(2) == 0).then(|| T::sample(g))
    }
}

fn keys() -> &'static [(SecretKey, PublicKey)] {
    static KEYS: OnceLock<Vec<(SecretKey, PublicKey)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secp = Secp256k1::new();
        (1u8..=8)
            .map(|i| {
                let sk = SecretKey::from_slice(&[i; 32]).unwrap();
                (sk, PublicKey::from_secret_key(&secp, &sk))
            })
            .collect()
    })
}

fn sigs() -> &'static [Signature] {
    static SIGS: OnceLock<Vec<Signature>> = OnceLock::new();
    SIGS.get_or_init(|| {
        let secp = Secp256k1::new();
        keys()
            .iter()
            .enumerate()
            .map(|(i, (sk, _))| {
                let msg = secp256k1::Message::from_digest([i as u8 + 1; 32]);
                secp.sign_ecdsa(&msg, sk)
            })
            .collect()
    })
}

impl Sample for PublicKey {
    fn sample(g: &mut Gen) -> Self {
        let k = keys();
        k[g.below(k.len() as u64) as usize].1
    }
}

impl Sample for Signature {
    fn sample(g: &mut Gen) -> Self {
        let s = sigs();
        s[g.below(s.len() as u64) as usize]
    }
}

impl Sample for ChannelId {
    fn sample(g: &mut Gen) -> Self {
        ChannelId(Sample::sample(g))
    }
}

impl Sample for PaymentHash {
    fn sample(g: &mut Gen) -> Self {
        PaymentHash(Sample::sample(g))
    }
}

impl Sample for PaymentPreimage {
    fn sample(g: &mut Gen) -> Self {
        PaymentPreimage(Sample::sample(g))
    }
}

impl Sample for ChainHash {
    fn sample(g: &mut Gen) -> Self {
        ChainHash(Sample::sample(g))
    }
}

impl Sample for ShortChannelId {
    fn sample(g: &mut Gen) -> Self {
        ShortChannelId(g.next())
    }
}

impl Sample for bitcoin::Txid {
    fn sample(g: &mut Gen) -> Self {
        bitcoin::Txid::from_byte_array(Sample::sample(g))
    }
}

impl Sample for sha256::Hash {
    fn sample(g: &mut Gen) -> Self {
        sha256::Hash::from_byte_array(Sample::sample(g))
    }
}

impl Sample for BigSize {
    fn sample(g: &mut Gen) -> Self {
        BigSize(g.next() >> (g.below(4) * 16))
    }
}

impl<C: FeatureContext> Sample for Features<C> {
    fn sample(g: &mut Gen) -> Self {
        let n = if g.1 > 0 {
            g.len()
        } else {
            g.below(6) as usize
        };
        Features::from_be_bytes(g.bytes(n))
    }
}

impl<C: FeatureContext> Sample for TlvFeatures<C> {
    fn sample(g: &mut Gen) -> Self {
        TlvFeatures(Sample::sample(g))
    }
}

impl Sample for UnknownTlvs {
    /// Odd types above every type a namespace here defines, increasing.
    fn sample(g: &mut Gen) -> Self {
        let mut ty = 1001 + 2 * g.below(100);
        let n = g.below(3);
        let mut records = Vec::new();
        for _ in 0..n {
            let len = g.len();
            records.push(TlvRecord {
                r#type: ty,
                value: g.bytes(len),
            });
            ty += 2 + 2 * g.below(70_000);
        }
        UnknownTlvs(records)
    }
}

impl Sample for Empty {
    fn sample(_: &mut Gen) -> Self {
        Empty
    }
}

impl Sample for TxWitness {
    fn sample(g: &mut Gen) -> Self {
        TxWitness(Sample::sample(g))
    }
}

impl Sample for AttributionData {
    fn sample(g: &mut Gen) -> Self {
        AttributionData {
            htlc_hold_times: Sample::sample(g),
            truncated_hmacs: Sample::sample(g),
        }
    }
}

impl Sample for FeeRange {
    fn sample(g: &mut Gen) -> Self {
        FeeRange {
            min_fee_satoshis: Sample::sample(g),
            max_fee_satoshis: Sample::sample(g),
        }
    }
}

impl Sample for FundingRetransmit {
    fn sample(g: &mut Gen) -> Self {
        FundingRetransmit {
            txid: Sample::sample(g),
            retransmit_flags: Sample::sample(g),
        }
    }
}

impl Sample for ChannelUpdateTimestamps {
    fn sample(g: &mut Gen) -> Self {
        ChannelUpdateTimestamps {
            timestamp_node_id_1: Sample::sample(g),
            timestamp_node_id_2: Sample::sample(g),
        }
    }
}

impl Sample for ChannelUpdateChecksums {
    fn sample(g: &mut Gen) -> Self {
        ChannelUpdateChecksums {
            checksum_node_id_1: Sample::sample(g),
            checksum_node_id_2: Sample::sample(g),
        }
    }
}

impl<T: Sample> Sample for EncodedList<T> {
    fn sample(g: &mut Gen) -> Self {
        if g.below(4) == 0 {
            EncodedList::Zlib(Sample::sample(g))
        } else {
            EncodedList::Uncompressed(Sample::sample(g))
        }
    }
}

impl Sample for NodeAddress {
    fn sample(g: &mut Gen) -> Self {
        let port = Sample::sample(g);
        match g.below(4) {
            0 => NodeAddress::Ipv4 {
                addr: <[u8; 4]>::sample(g).into(),
                port,
            },
            1 => NodeAddress::Ipv6 {
                addr: <[u8; 16]>::sample(g).into(),
                port,
            },
            2 => NodeAddress::TorV3 {
                onion: Sample::sample(g),
                port,
            },
            _ => {
                let n = if g.1 > 0 && g.below(4) == 0 {
                    g.below(400)
                } else {
                    1 + g.below(40)
                };
                let hostname = (0..n).map(|_| (b'!' + g.below(94) as u8) as char).collect();
                NodeAddress::Dns { hostname, port }
            }
        }
    }
}

impl Sample for NodeAddresses {
    fn sample(g: &mut Gen) -> Self {
        let addresses = Sample::sample(g);
        let unparsed = if g.below(3) == 0 {
            // A type this crate does not parse (3 is the old Tor v2).
            let ty = [0u8, 3, 6, 7, 200][g.below(5) as usize];
            let mut v = vec![ty];
            let n = g.len();
            v.extend(g.bytes(n));
            v
        } else {
            Vec::new()
        };
        NodeAddresses {
            addresses,
            unparsed,
        }
    }
}

/// Every known message, plus an unknown odd one, from `seed`.
fn all_samples(seed: u64) -> Vec<Message> {
    samples_from(Gen::new(seed))
}

/// Every known message, plus an unknown odd one, from `g`.
fn samples_from(mut g: Gen) -> Vec<Message> {
    let mut v = Message::samples(&mut g);
    let mut ty = (g.next() as u16) | 1;
    while Message::KNOWN_TYPES.contains(&ty) {
        ty = ty.wrapping_add(2);
    }
    v.push(Message::Unknown {
        r#type: ty,
        payload: Sample::sample(&mut g),
    });
    v
}

/// Asserts the wire and JSON round trips of `m`.
fn check_round_trip(m: &Message) {
    let bytes = m.encode().unwrap();
    let back = Message::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", m.name()));
    assert_eq!(&back, m);
    assert_eq!(back.encode().unwrap(), bytes);
    let json = serde_json::to_string(m).unwrap();
    let from_json: Message =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}\n{json}", m.name()));
    assert_eq!(&from_json, m, "{json}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// decode(encode(m)) == m, encode is stable, and JSON round-trips, for
    /// every message type.
    #[test]
    fn every_message_round_trips(seed in any::<u64>()) {
        for m in all_samples(seed) {
            check_round_trip(&m);
        }
    }

    /// Random bytes never panic the decoder, and whatever decodes is
    /// canonical: it re-encodes to the same bytes.
    #[test]
    fn random_bytes_never_panic(ty in prop::sample::select(Message::KNOWN_TYPES.to_vec()),
                                payload in prop::collection::vec(any::<u8>(), 0..400),
                                raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = ty.to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        for input in [&bytes, &raw] {
            if let Ok(m) = Message::decode(input) {
                prop_assert_eq!(&m.encode().unwrap(), input);
            }
        }
    }

    /// Valid messages with bytes flipped or cut off never panic the decoder
    /// and, when they still decode, re-encode exactly.
    #[test]
    fn mutated_messages_never_panic(seed in any::<u64>(), pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        for m in all_samples(seed) {
            let bytes = m.encode().unwrap();
            let mut flipped = bytes.clone();
            let i = pos % flipped.len();
            flipped[i] = byte;
            let truncated = &bytes[..cut % (bytes.len() + 1)];
            for input in [&flipped[..], truncated] {
                if let Ok(m2) = Message::decode(input) {
                    prop_assert_eq!(&m2.encode().unwrap()[..], input);
                }
            }
        }
    }
}

/// The largest field length the no-panic property tries (200 KB).
const BIG_FIELD: usize = 200 * 1024;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// No message encoder panics, whatever the lengths of its fields (up to
    /// 200 KB of bytes or items per field): `Message::encode` either gives
    /// a message that fits a transport frame and decodes back to the value,
    /// or refuses it with an `EncodeError`. The struct-level `Encode` never
    /// panics either.
    #[test]
    fn no_encoder_panics_on_any_field_length(seed in any::<u64>()) {
        for m in samples_from(Gen::with_big_lengths(seed, BIG_FIELD)) {
            match m.encode() {
                Ok(bytes) => {
                    prop_assert!(bytes.len() <= crate::codec::MAX_MESSAGE_LEN);
                    let back = Message::decode(&bytes);
                    prop_assert_eq!(back.as_ref(), Ok(&m), "{}", m.name());
                }
                Err(crate::codec::EncodeError::MessageTooLong { message, len }) => {
                    prop_assert_eq!(message, m.name());
                    prop_assert!(len > crate::codec::MAX_MESSAGE_LEN);
                }
                Err(crate::codec::EncodeError::FieldTooLong { len, max, .. }) => {
                    prop_assert!(len > max);
                }
            }
            // The unchecked building blocks do not panic either.
            let mut out = Vec::new();
            if let Message::Error(e) = &m {
                e.encode(&mut out);
            }
        }
    }
}

/// Finding 2 of issue 13 at the encoder: an `error` whose text is longer
/// than a `u16` can frame used to panic in `write_u16_prefixed`; now the
/// message is refused and the raw writer never panics.
#[test]
fn oversized_error_text_is_an_encode_error_not_a_panic() {
    let error = Message::Error(Error {
        channel_id: ChannelId([0; 32]),
        data: vec![0xef; 3 * 21_846],
        tlvs: Default::default(),
    });
    assert_eq!(
        error.encode(),
        Err(crate::codec::EncodeError::MessageTooLong {
            message: "error",
            len: 2 + 32 + 2 + 3 * 21_846,
        })
    );
    let mut out = vec![7];
    assert!(error.encode_into(&mut out).is_err());
    assert_eq!(out, [7], "a refused message leaves the buffer as it was");

    let mut raw = Vec::new();
    crate::codec::write_u16_prefixed(&mut raw, &[1; 70_000]);
    assert_eq!(raw[..2], [0xff, 0xff]);
    assert_eq!(raw.len(), 2 + 70_000);

    // Right at the limit a field still fits, and the message is refused only
    // when the whole is over 65535.
    let fits = Message::Warning(Warning {
        channel_id: ChannelId([0; 32]),
        data: vec![b'a'; crate::codec::MAX_MESSAGE_LEN - 2 - 32 - 2],
        tlvs: Default::default(),
    });
    assert_eq!(fits.encode().unwrap().len(), crate::codec::MAX_MESSAGE_LEN);
}

/// Finding 1 of issue 13 at the encoder: a `u16`-counted list or a feature
/// vector too long for its prefix is an error, not a panic; so is a DNS
/// hostname over 255 bytes.
#[test]
fn oversized_counts_features_and_hostnames_are_errors() {
    let mut init = Init {
        global_features: InitFeatures::empty(),
        features: InitFeatures::from_be_bytes(vec![0xff; 70_000]),
        tlvs: Default::default(),
    };
    assert!(matches!(
        Message::Init(init.clone()).encode(),
        Err(crate::codec::EncodeError::MessageTooLong {
            message: "init",
            ..
        })
    ));
    init.features = InitFeatures::empty();
    assert!(Message::Init(init).encode().is_ok());

    let sig = sigs()[0];
    let commit = CommitmentSigned {
        channel_id: ChannelId([0; 32]),
        signature: sig,
        htlc_signatures: vec![sig; 65_536],
        tlvs: Default::default(),
    };
    assert!(matches!(
        Message::CommitmentSigned(commit).encode(),
        Err(crate::codec::EncodeError::MessageTooLong { .. })
    ));

    let mut ann = match Message::samples(&mut Gen::new(1))
        .into_iter()
        .find_map(|m| match m {
            Message::NodeAnnouncement(a) => Some(a),
            _ => None,
        }) {
        Some(a) => a,
        None => panic!("samples include a node_announcement"),
    };
    ann.addresses = NodeAddresses {
        addresses: vec![NodeAddress::Dns {
            hostname: "a".repeat(256),
            port: 9735,
        }],
        unparsed: Vec::new(),
    };
    assert_eq!(
        Message::NodeAnnouncement(ann).encode(),
        Err(crate::codec::EncodeError::FieldTooLong {
            message: "node_announcement",
            field: "addresses.hostname",
            len: 256,
            max: 255,
        })
    );
}

#[test]
fn type_numbers_match_the_structs() {
    let mut g = Gen::new(7);
    for m in Message::samples(&mut g) {
        assert_eq!(Message::name_of(m.r#type()), Some(m.name()));
        assert_eq!(m.encode().unwrap()[..2], m.r#type().to_be_bytes());
    }
    assert_eq!(Message::KNOWN_TYPES.len(), 50);
}

fn sample_open_channel() -> OpenChannel {
    let mut g = Gen::new(1);
    let mut m = OpenChannel::sample(&mut g);
    m.tlvs = OpenChannelTlvs::default();
    m
}

#[test]
fn unknown_even_message_type_fails_the_connection() {
    let err = Message::decode(&[0x00, 0x64, 0x01]).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::UnknownEvenMessageType(100));
    assert!(err.is_unknown_even_message());
    // Odd is ignored (kept).
    let m = Message::decode(&[0x00, 0x65, 0x01]).unwrap();
    assert_eq!(
        m,
        Message::Unknown {
            r#type: 101,
            payload: vec![1]
        }
    );
    assert_eq!(
        Message::decode(&[0x00]).unwrap_err().kind(),
        &DecodeErrorKind::MissingMessageType
    );
}

#[test]
fn unknown_even_tlv_is_an_error_odd_is_kept() {
    let base = Message::OpenChannel(sample_open_channel())
        .encode()
        .unwrap();
    let mut even = base.clone();
    even.extend_from_slice(&[0x04, 0x00]);
    let err = Message::decode(&even).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::TlvUnknownEvenType(4));
    assert_eq!(err.path(), ["open_channel", "tlvs"]);

    let mut odd = base.clone();
    odd.extend_from_slice(&[0x05, 0x01, 0xaa]);
    let Message::OpenChannel(m) = Message::decode(&odd).unwrap() else {
        panic!()
    };
    assert_eq!(m.tlvs.unknown.0[0].r#type, 5);
    assert_eq!(Message::OpenChannel(m).encode().unwrap(), odd);
}

#[test]
fn a_tail_that_is_not_a_tlv_stream_is_an_error() {
    let mut bytes = Message::UpdateFee(UpdateFee {
        channel_id: ChannelId([1; 32]),
        feerate_per_kw: 253,
        tlvs: ExtensionTlvs::default(),
    })
    .encode()
    .unwrap();
    bytes.push(0xfd); // a truncated BigSize type
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(err.path(), ["update_fee", "tlvs", "type"]);
}

#[test]
fn truncated_fields_name_message_and_field() {
    let bytes = Message::OpenChannel(sample_open_channel())
        .encode()
        .unwrap();
    // Cut inside funding_pubkey (type 2 + 32 + 32 + 8*6 + 4 + 2 + 2 = 122).
    let err = Message::decode(&bytes[..130]).unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::ShortRead { .. }));
    assert_eq!(err.path(), ["open_channel", "funding_pubkey"]);
    assert_eq!(
        err.to_string(),
        "open_channel.funding_pubkey: short read: needed 33 bytes, 8 available"
    );
}

#[test]
fn bad_points_and_signatures_are_rejected() {
    let mut bytes = Message::OpenChannel(sample_open_channel())
        .encode()
        .unwrap();
    bytes[122] = 0x05; // not 02/03
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::InvalidPoint);
    assert_eq!(err.path(), ["open_channel", "funding_pubkey"]);

    let mut bytes = Message::FundingSigned(FundingSigned {
        channel_id: ChannelId([0; 32]),
        signature: sigs()[0],
        tlvs: ExtensionTlvs::default(),
    })
    .encode()
    .unwrap();
    bytes[34..66].fill(0xff); // r above the curve order
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::InvalidSignature);
    assert_eq!(err.path(), ["funding_signed", "signature"]);
}

#[test]
fn known_tlv_of_the_wrong_length_is_an_error() {
    let mut m = sample_open_channel();
    m.tlvs.channel_type = None;
    let mut bytes = Message::ChannelReady(ChannelReady {
        channel_id: ChannelId([2; 32]),
        second_per_commitment_point: m.funding_pubkey,
        tlvs: ChannelReadyTlvs::default(),
    })
    .encode()
    .unwrap();
    bytes.extend_from_slice(&[0x01, 0x07, 0, 0, 0, 0, 0, 0, 1]);
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(err.path(), ["channel_ready", "tlvs", "short_channel_id"]);
    // An empty TLV must be empty.
    let mut bytes = Message::SpliceAck(SpliceAck {
        channel_id: ChannelId([2; 32]),
        funding_contribution_satoshis: -5,
        funding_pubkey: m.funding_pubkey,
        tlvs: SpliceTlvs::default(),
    })
    .encode()
    .unwrap();
    bytes.extend_from_slice(&[0x02, 0x01, 0x00]);
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(
        err.path(),
        ["splice_ack", "tlvs", "require_confirmed_inputs"]
    );
}

#[test]
fn ping_pong_limit() {
    let ping = |n| Ping {
        num_pong_bytes: n,
        ignored: vec![],
        tlvs: ExtensionTlvs::default(),
    };
    assert_eq!(ping(0).pong_response().unwrap().ignored.len(), 0);
    assert_eq!(ping(65531).pong_response().unwrap().ignored, vec![0; 65531]);
    assert!(ping(65532).pong_response().is_none());
    assert!(ping(u16::MAX).pong_response().is_none());
}

#[test]
fn init_merges_feature_fields() {
    let m = Message::decode(&hex::decode("0010000102000110").unwrap()).unwrap();
    let Message::Init(init) = m else { panic!() };
    let merged = init.merged_features();
    assert!(merged.is_set(1) && merged.is_set(4));
}

#[test]
fn node_announcement_keeps_unknown_addresses() {
    let mut g = Gen::new(3);
    let mut m = NodeAnnouncement::sample(&mut g);
    m.addresses = NodeAddresses {
        addresses: vec![NodeAddress::Ipv4 {
            addr: [127, 0, 0, 1].into(),
            port: 9735,
        }],
        // A Tor v2 descriptor (type 3, 10 bytes + port), then a DNS one that
        // is never parsed because parsing stops at the first unknown type.
        unparsed: hex::decode("03000102030405060708092607050161260700").unwrap(),
    };
    let bytes = Message::NodeAnnouncement(m.clone()).encode().unwrap();
    let Message::NodeAnnouncement(back) = Message::decode(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(back, m);
    // A truncated known descriptor is an error.
    m.addresses = NodeAddresses::default();
    let mut bytes = Message::NodeAnnouncement(m).encode().unwrap();
    let addr_len_at = bytes.len() - 2;
    bytes[addr_len_at..].copy_from_slice(&[0, 3]);
    bytes.extend_from_slice(&[1, 127, 0]);
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(err.path(), ["node_announcement", "addresses"]);
}

#[test]
fn encoded_list_types() {
    let chain = ChainHash([6; 32]);
    let query = |ids: &[u8]| {
        let mut b = vec![0x01, 0x05];
        b.extend_from_slice(&chain.0);
        b.extend_from_slice(&(ids.len() as u16).to_be_bytes());
        b.extend_from_slice(ids);
        b
    };
    // Zlib is kept opaque.
    let m = Message::decode(&query(&[1, 0x78, 0x9c])).unwrap();
    let Message::QueryShortChannelIds(q) = &m else {
        panic!()
    };
    assert_eq!(q.encoded_short_ids, EncodedList::Zlib(vec![0x78, 0x9c]));
    // Unknown encoding types and partial ids are errors.
    let err = Message::decode(&query(&[2])).unwrap_err();
    assert_eq!(
        err.path(),
        [
            "query_short_channel_ids",
            "encoded_short_ids",
            "encoding_type"
        ]
    );
    assert!(Message::decode(&query(&[0, 1, 2, 3])).is_err());
    assert!(Message::decode(&query(&[])).is_err());
}

#[test]
fn json_shape() {
    let m = Message::Stfu(Stfu {
        channel_id: ChannelId([0xab; 32]),
        initiator: 1,
        tlvs: ExtensionTlvs::default(),
    });
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["type"], "stfu");
    assert_eq!(json["initiator"], 1);
    assert_eq!(json["channel_id"], "ab".repeat(32));
    let unknown: Message =
        serde_json::from_str(r#"{"type":"unknown","message_type":32769,"payload":"0102"}"#)
            .unwrap();
    assert_eq!(unknown.encode().unwrap(), [0x80, 0x01, 0x01, 0x02]);
    // Feature vectors may be written as plain hex.
    let init: Message =
        serde_json::from_str(r#"{"type":"init","global_features":"","features":"0a8a"}"#).unwrap();
    assert_eq!(hex::encode(init.encode().unwrap()), "0010000000020a8a");
    // Oversized length-prefixed fields are refused at the JSON boundary.
    let big = format!(
        r#"{{"type":"ping","num_pong_bytes":0,"ignored":"{}"}}"#,
        "00".repeat(65536)
    );
    assert!(serde_json::from_str::<Message>(&big).is_err());
}

#[test]
fn writer_drops_a_duplicate_instead_of_panicking() {
    let mut m = sample_open_channel();
    m.tlvs.upfront_shutdown_script = Some(vec![1]);
    m.tlvs.unknown = UnknownTlvs(vec![TlvRecord {
        r#type: 0,
        value: vec![2],
    }]);
    let bytes = m.to_bytes();
    let back = OpenChannel::from_bytes(&bytes).unwrap();
    assert_eq!(back.tlvs.upfront_shutdown_script, Some(vec![1]));
    assert!(back.tlvs.unknown.is_empty());
}

/// Writes one encoded sample of every message to `$LN_DUMP_CORPUS/<name>-<seed>`
/// (used to seed the fuzz corpus: `LN_DUMP_CORPUS=fuzz/corpus/wire_message
/// cargo test -p lightning-wire dump_corpus -- --ignored`).
#[test]
#[ignore]
fn dump_corpus() {
    let dir = std::env::var("LN_DUMP_CORPUS").expect("LN_DUMP_CORPUS");
    for seed in 0..2u64 {
        for m in all_samples(seed) {
            let path = format!("{dir}/{}-{seed}", m.name());
            std::fs::write(path, m.encode().unwrap()).unwrap();
        }
    }
}

#[test]
fn json_refuses_what_the_wire_cannot_carry() {
    let scids: Vec<String> = (0..8192).map(|i| format!("\"1x{i}x0\"")).collect();
    let json = format!(
        r#"{{"type":"query_short_channel_ids","chain_hash":"{}","encoded_short_ids":{{"encoding":"uncompressed","values":[{}]}}}}"#,
        "00".repeat(32),
        scids.join(",")
    );
    let err = serde_json::from_str::<Message>(&json).unwrap_err();
    assert!(err.to_string().contains("u16"), "{err}");
    let json = format!(
        r#"{{"type":"init","global_features":{{"hex":""}},"features":{{"hex":"{}"}}}}"#,
        "00".repeat(65536)
    );
    assert!(serde_json::from_str::<Message>(&json).is_err());
    let long_host = format!(
        r#"{{"type":"dns","hostname":"{}","port":1}}"#,
        "a".repeat(256)
    );
    assert!(serde_json::from_str::<NodeAddress>(&long_host).is_err());
}
