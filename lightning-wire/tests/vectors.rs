//! The BOLT 1 and BOLT 7 test vectors in `tests/data/` (see its README):
//! BigSize, TLV streams in the test namespaces n1 and n2, the `init`
//! extension examples, signed integers, and the extended gossip queries.

// Helpers outside `#[test]` functions unwrap too: a malformed vector file is a
// test failure.
#![allow(clippy::unwrap_used)]

use lightning_wire::bigsize::BigSize;
use lightning_wire::msgs::{ChannelUpdateChecksums, ChannelUpdateTimestamps, EncodedList, Message};
use lightning_wire::tlv::{TlvStreamReader, TlvStreamWriter, UnknownTlvs};
use lightning_wire::types::{ShortChannelId, Tu32, Tu64};
use lightning_wire::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
use secp256k1::PublicKey;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn bigsize_decoding() {
    let v = load("bolt01-bigsize.json");
    let cases = v["decoding"].as_array().unwrap();
    assert_eq!(cases.len(), 18);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let result = BigSize::from_bytes(&hex(&case["bytes"]));
        match case["exp_error"].as_str() {
            None => assert_eq!(result.unwrap().0, case["value"].as_u64().unwrap(), "{name}"),
            Some("decoded bigsize is not canonical") => assert_eq!(
                result.unwrap_err().kind(),
                &DecodeErrorKind::NonCanonicalBigSize,
                "{name}"
            ),
            Some(eof) => {
                assert!(eof.ends_with("EOF"), "{name}");
                let err = result.unwrap_err();
                assert!(
                    matches!(err.kind(), DecodeErrorKind::ShortRead { .. }),
                    "{name}: {err}"
                );
            }
        }
    }
}

#[test]
fn bigsize_encoding() {
    let v = load("bolt01-bigsize.json");
    let cases = v["encoding"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let value = case["value"].as_u64().unwrap();
        assert_eq!(
            BigSize(value).to_bytes(),
            hex(&case["bytes"]),
            "{}",
            case["name"]
        );
        assert_eq!(BigSize::encoded_len(value), hex(&case["bytes"]).len());
    }
}

/// `tlv3` of namespace n1.
#[derive(Debug, Clone, PartialEq)]
struct Tlv3 {
    node_id: PublicKey,
    amount_msat_1: u64,
    amount_msat_2: u64,
}

impl Encode for Tlv3 {
    fn encode(&self, out: &mut Vec<u8>) {
        self.node_id.encode(out);
        self.amount_msat_1.encode(out);
        self.amount_msat_2.encode(out);
    }
}

impl Decode for Tlv3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Tlv3 {
            node_id: r.read_field("node_id")?,
            amount_msat_1: r.read_field("amount_msat_1")?,
            amount_msat_2: r.read_field("amount_msat_2")?,
        })
    }
}

/// The test namespace n1 of BOLT 1, Appendix B.
#[derive(Debug, Clone, PartialEq, Default)]
struct N1 {
    tlv1: Option<Tu64>,
    tlv2: Option<ShortChannelId>,
    tlv3: Option<Tlv3>,
    tlv4: Option<u16>,
    unknown: UnknownTlvs,
}

impl Decode for N1 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut s = TlvStreamReader::parse(r)?;
        Ok(N1 {
            tlv1: s.take(1, "tlv1")?,
            tlv2: s.take(2, "tlv2")?,
            tlv3: s.take(3, "tlv3")?,
            tlv4: s.take(254, "tlv4")?,
            unknown: s.finish()?,
        })
    }
}

impl Encode for N1 {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = TlvStreamWriter::new();
        w.put_opt(1, self.tlv1.as_ref());
        w.put_opt(2, self.tlv2.as_ref());
        w.put_opt(3, self.tlv3.as_ref());
        w.put_opt(254, self.tlv4.as_ref());
        w.put_unknown(&self.unknown);
        w.write(out);
    }
}

/// The test namespace n2 of BOLT 1, Appendix B.
#[derive(Debug, Clone, PartialEq, Default)]
struct N2 {
    tlv1: Option<Tu64>,
    tlv2: Option<Tu32>,
    unknown: UnknownTlvs,
}

impl Decode for N2 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut s = TlvStreamReader::parse(r)?;
        Ok(N2 {
            tlv1: s.take(0, "tlv1")?,
            tlv2: s.take(11, "tlv2")?,
            unknown: s.finish()?,
        })
    }
}

impl Encode for N2 {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = TlvStreamWriter::new();
        w.put_opt(0, self.tlv1.as_ref());
        w.put_opt(11, self.tlv2.as_ref());
        w.put_unknown(&self.unknown);
        w.write(out);
    }
}

/// Decodes `stream` in namespace `ns` and, on success, checks that it
/// re-encodes to the same bytes.
fn decode_in(ns: &str, stream: &[u8]) -> Result<Option<N1>, DecodeError> {
    match ns {
        "n1" => {
            let v = N1::from_bytes(stream)?;
            assert_eq!(v.to_bytes(), stream);
            Ok(Some(v))
        }
        "n2" => {
            let v = N2::from_bytes(stream)?;
            assert_eq!(v.to_bytes(), stream);
            Ok(None)
        }
        other => panic!("unknown namespace {other}"),
    }
}

fn namespaces(case: &Value) -> Vec<&str> {
    case["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect()
}

/// The kind of error each reason in the vectors must give.
fn expected_kind(reason: &str, err: &DecodeError) -> bool {
    let k = err.kind();
    if reason.contains("truncated") || reason.starts_with("missing") {
        matches!(k, DecodeErrorKind::ShortRead { .. })
    } else if reason.contains("not minimally encoded") {
        k == &DecodeErrorKind::NonCanonicalBigSize
    } else if reason.contains("unknown even") {
        matches!(k, DecodeErrorKind::TlvUnknownEvenType(_))
    } else if reason.contains("not a valid point") {
        k == &DecodeErrorKind::InvalidPoint
    } else if reason.contains("is not minimal") || reason.contains("`tlv1`") {
        k == &DecodeErrorKind::NonMinimalTruncatedInt
    } else if reason.starts_with("greater than") {
        matches!(k, DecodeErrorKind::TrailingBytes(_))
    } else if reason.starts_with("less than") {
        matches!(k, DecodeErrorKind::ShortRead { .. })
    } else if reason.contains("ordering") {
        matches!(k, DecodeErrorKind::TlvOutOfOrder { .. })
    } else if reason.contains("duplicate") {
        matches!(k, DecodeErrorKind::TlvDuplicate(_))
    } else {
        panic!("unclassified reason {reason:?}")
    }
}

#[test]
fn tlv_decoding_failures() {
    let v = load("bolt01-tlv.json");
    let cases = v["decoding_failures"].as_array().unwrap();
    assert_eq!(cases.len(), 33);
    let mut checked = 0;
    for case in cases {
        let stream = hex(&case["stream"]);
        let reason = case["reason"].as_str().unwrap();
        for ns in namespaces(case) {
            let err = decode_in(ns, &stream).unwrap_err();
            assert!(expected_kind(reason, &err), "{ns} {reason}: got {err}");
            checked += 1;
        }
    }
    assert!(checked > 33);
}

#[test]
fn tlv_stream_decoding_failures() {
    let v = load("bolt01-tlv.json");
    let cases = v["stream_decoding_failures"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let stream = hex(&case["stream"]);
        let reason = case["reason"].as_str().unwrap();
        for ns in namespaces(case) {
            let err = decode_in(ns, &stream).unwrap_err();
            // "valid TLV records but invalid ordering" and duplicates are
            // framing errors; the last case is an unknown even type in n2.
            assert!(
                expected_kind(reason, &err)
                    || matches!(err.kind(), DecodeErrorKind::TlvUnknownEvenType(_)),
                "{ns} {reason}: got {err}"
            );
        }
    }
}

#[test]
fn tlv_decoding_successes() {
    let v = load("bolt01-tlv.json");
    let cases = v["decoding_successes"].as_array().unwrap();
    assert_eq!(cases.len(), 19);
    for case in cases {
        let stream = hex(&case["stream"]);
        for ns in namespaces(case) {
            let decoded =
                decode_in(ns, &stream).unwrap_or_else(|e| panic!("{ns} {}: {e}", case["stream"]));
            let Some(n1) = decoded else { continue };
            let values = &case["values"];
            if values.is_null() {
                // Only ignored (unknown odd) records.
                assert_eq!((n1.tlv1, n1.tlv2, n1.tlv4), (None, None, None));
                assert!(n1.tlv3.is_none());
                continue;
            }
            if let Some(t) = values.get("tlv1") {
                assert_eq!(n1.tlv1, Some(Tu64(t["amount_msat"].as_u64().unwrap())));
            }
            if let Some(t) = values.get("tlv2") {
                let scid: ShortChannelId = t["scid"].as_str().unwrap().parse().unwrap();
                assert_eq!(n1.tlv2, Some(scid));
            }
            if let Some(t) = values.get("tlv3") {
                let tlv3 = n1.tlv3.as_ref().unwrap();
                assert_eq!(hex::encode(tlv3.node_id.serialize()), t["node_id"]);
                assert_eq!(tlv3.amount_msat_1, t["amount_msat_1"].as_u64().unwrap());
                assert_eq!(tlv3.amount_msat_2, t["amount_msat_2"].as_u64().unwrap());
            }
            if let Some(t) = values.get("tlv4") {
                assert_eq!(n1.tlv4, Some(t["cltv_delta"].as_u64().unwrap() as u16));
            }
        }
    }
}

/// "Any appending of an invalid stream to a valid stream should trigger a
/// decoding failure", and appending a higher-numbered valid stream to a
/// lower-numbered one should not.
#[test]
fn tlv_stream_appending_rules() {
    let v = load("bolt01-tlv.json");
    assert_eq!(v["stream_rules"].as_array().unwrap().len(), 2);
    let valid: Vec<(Vec<&str>, Vec<u8>)> = v["decoding_successes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (namespaces(c), hex(&c["stream"])))
        .collect();
    let invalid: Vec<(Vec<&str>, Vec<u8>)> = v["decoding_failures"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["stream_decoding_failures"].as_array().unwrap())
        .map(|c| (namespaces(c), hex(&c["stream"])))
        .collect();
    let types = |s: &[u8]| -> Vec<u64> {
        let mut r = Reader::new(s);
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(BigSize::decode(&mut r).unwrap().0);
            let len = BigSize::decode(&mut r).unwrap().0;
            r.read_bytes(len as usize).unwrap();
        }
        out
    };
    for (vns, vs) in &valid {
        for (ins, is) in &invalid {
            for ns in vns.iter().filter(|n| ins.contains(n)) {
                let joined = [vs.clone(), is.clone()].concat();
                assert!(
                    decode_in(ns, &joined).is_err(),
                    "{ns}: {}",
                    hex::encode(&joined)
                );
            }
        }
        for (wns, ws) in &valid {
            let (a, b) = (types(vs), types(ws));
            if a.is_empty() || b.is_empty() || a.last() >= b.first() {
                continue;
            }
            for ns in vns.iter().filter(|n| wns.contains(n)) {
                let joined = [vs.clone(), ws.clone()].concat();
                decode_in(ns, &joined)
                    .unwrap_or_else(|e| panic!("{ns}: {}: {e}", hex::encode(&joined)));
            }
        }
    }
}

#[test]
fn init_message_extension() {
    let v = load("bolt01-tlv.json");
    let ext = &v["init_message_extension"];
    for case in ext["valid"].as_array().unwrap() {
        let bytes = hex(&case["message"]);
        let m = Message::decode(&bytes).unwrap();
        assert_eq!(m.name(), "init");
        assert_eq!(m.encode().unwrap(), bytes, "{}", case["description"]);
    }
    let invalid = ext["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 3);
    for case in invalid {
        let err = Message::decode(&hex(&case["message"])).unwrap_err();
        assert_eq!(err.path()[..2], ["init", "tlvs"], "{}", case["description"]);
    }
}

#[test]
fn signed_integers() {
    let v = load("bolt01-fundamental-types.json");
    let cases = v["signed_integers"].as_array().unwrap();
    assert_eq!(cases.len(), 23);
    for case in cases {
        let value = case["value"].as_i64().unwrap();
        let bytes = hex(&case["bytes"]);
        // The smallest of s8..s64 that holds the value.
        let encoded = if let Ok(x) = i8::try_from(value) {
            assert_eq!(i8::from_bytes(&bytes).unwrap(), x);
            x.to_bytes()
        } else if let Ok(x) = i16::try_from(value) {
            assert_eq!(i16::from_bytes(&bytes).unwrap(), x);
            x.to_bytes()
        } else if let Ok(x) = i32::try_from(value) {
            assert_eq!(i32::from_bytes(&bytes).unwrap(), x);
            x.to_bytes()
        } else {
            assert_eq!(i64::from_bytes(&bytes).unwrap(), value);
            value.to_bytes()
        };
        assert_eq!(encoded, bytes, "{value}");
    }
}

/// A minimal zlib inflater (stored and fixed-Huffman blocks), enough to
/// check the decompressed contents of the deprecated zlib vectors. The
/// library itself keeps zlib lists opaque.
fn inflate(data: &[u8]) -> Vec<u8> {
    struct Bits<'a> {
        data: &'a [u8],
        pos: usize,
    }
    impl Bits<'_> {
        fn bit(&mut self) -> u32 {
            let b = (self.data[self.pos / 8] >> (self.pos % 8)) & 1;
            self.pos += 1;
            u32::from(b)
        }
        fn lsb(&mut self, n: u32) -> u32 {
            (0..n).fold(0, |acc, i| acc | (self.bit() << i))
        }
        fn msb(&mut self, n: u32) -> u32 {
            (0..n).fold(0, |acc, _| (acc << 1) | self.bit())
        }
    }
    const LEN_BASE: [u32; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEN_EXTRA: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DIST_BASE: [u32; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    assert_eq!(data[0] & 0x0f, 8, "zlib deflate header");
    let mut b = Bits {
        data: &data[2..],
        pos: 0,
    };
    let mut out: Vec<u8> = Vec::new();
    loop {
        let last = b.lsb(1);
        match b.lsb(2) {
            0 => {
                b.pos = b.pos.div_ceil(8) * 8;
                let len = b.lsb(16) as usize;
                b.lsb(16);
                let start = b.pos / 8;
                out.extend_from_slice(&b.data[start..start + len]);
                b.pos += len * 8;
            }
            1 => loop {
                let mut code = b.msb(7);
                let sym = if code <= 23 {
                    256 + code
                } else {
                    code = (code << 1) | b.bit();
                    if (48..=191).contains(&code) {
                        code - 48
                    } else if (192..=199).contains(&code) {
                        280 + code - 192
                    } else {
                        code = (code << 1) | b.bit();
                        144 + code - 400
                    }
                };
                if sym < 256 {
                    out.push(sym as u8);
                } else if sym == 256 {
                    break;
                } else {
                    let i = (sym - 257) as usize;
                    let len = LEN_BASE[i] + b.lsb(LEN_EXTRA[i]);
                    let d = b.msb(5) as usize;
                    let extra = if d < 4 { 0 } else { (d as u32 - 2) / 2 };
                    let dist = (DIST_BASE[d] + b.lsb(extra)) as usize;
                    for _ in 0..len {
                        out.push(out[out.len() - dist]);
                    }
                }
            },
            t => panic!("block type {t} not needed by these vectors"),
        }
        if last == 1 {
            return out;
        }
    }
}

fn scids(list: &EncodedList<ShortChannelId>) -> Vec<String> {
    let items: Vec<ShortChannelId> = match list {
        EncodedList::Uncompressed(v) => v.clone(),
        EncodedList::Zlib(z) => inflate(z)
            .chunks(8)
            .map(|c| ShortChannelId::from_bytes(c).unwrap())
            .collect(),
    };
    items.iter().map(ToString::to_string).collect()
}

fn encoding_name<T>(list: &EncodedList<T>) -> &'static str {
    match list {
        EncodedList::Uncompressed(_) => "UNCOMPRESSED",
        EncodedList::Zlib(_) => "COMPRESSED_ZLIB",
    }
}

fn expect_scids(json: &Value, list: &EncodedList<ShortChannelId>) {
    assert_eq!(json["encoding"], encoding_name(list));
    let want: Vec<String> = json["array"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(scids(list), want);
}

/// Items of an encoded list; zlib lists are inflated by the test.
fn items<T: Decode + Clone>(list: &EncodedList<T>, size: usize) -> Vec<T> {
    match list {
        EncodedList::Uncompressed(v) => v.clone(),
        EncodedList::Zlib(z) => {
            let raw = inflate(z);
            let mut r = Reader::new(&raw);
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(T::decode(&mut r).unwrap());
            }
            assert_eq!(raw.len() % size, 0);
            v
        }
    }
}

#[test]
fn extended_queries() {
    let v = load("extended-queries.json");
    let cases = v.as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for case in cases {
        let bytes = hex(&case["hex"]);
        let msg = &case["msg"];
        let m = Message::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case["hex"]));
        assert_eq!(m.encode().unwrap(), bytes, "re-encoding {}", case["hex"]);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), m);
        match (&m, msg["type"].as_str().unwrap()) {
            (Message::QueryChannelRange(q), "QueryChannelRange") => {
                assert_eq!(q.chain_hash.to_string(), msg["chainHash"]);
                assert_eq!(q.first_blocknum, msg["firstBlockNum"]);
                assert_eq!(q.number_of_blocks, msg["numberOfBlocks"]);
                let records = msg["tlvStream"]["records"].as_array().unwrap();
                match records.first().and_then(Value::as_str) {
                    None => assert_eq!(q.tlvs.query_option, None),
                    Some("WANT_TIMESTAMPS | WANT_CHECKSUMS") => {
                        assert_eq!(q.tlvs.query_option, Some(BigSize(3)))
                    }
                    Some(other) => panic!("unexpected record {other}"),
                }
            }
            (Message::ReplyChannelRange(r), "ReplyChannelRange") => {
                assert_eq!(r.chain_hash.to_string(), msg["chainHash"]);
                assert_eq!(r.first_blocknum, msg["firstBlockNum"]);
                assert_eq!(r.number_of_blocks, msg["numberOfBlocks"]);
                assert_eq!(r.sync_complete, msg["complete"]);
                expect_scids(&msg["shortChannelIds"], &r.encoded_short_ids);
                match (&r.tlvs.timestamps_tlv, msg.get("timestamps")) {
                    (None, None) => {}
                    (Some(t), Some(want)) => {
                        assert_eq!(want["encoding"], encoding_name(t));
                        let got: Vec<ChannelUpdateTimestamps> = items(t, 8);
                        let want: Vec<_> = want["timestamps"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|t| ChannelUpdateTimestamps {
                                timestamp_node_id_1: t["timestamp1"].as_u64().unwrap() as u32,
                                timestamp_node_id_2: t["timestamp2"].as_u64().unwrap() as u32,
                            })
                            .collect();
                        assert_eq!(got, want);
                    }
                    other => panic!("timestamps mismatch {other:?}"),
                }
                match (&r.tlvs.checksums_tlv, msg.get("checksums")) {
                    (None, None) => {}
                    (Some(got), Some(want)) => {
                        let want: Vec<_> = want["checksums"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|c| ChannelUpdateChecksums {
                                checksum_node_id_1: c["checksum1"].as_u64().unwrap() as u32,
                                checksum_node_id_2: c["checksum2"].as_u64().unwrap() as u32,
                            })
                            .collect();
                        assert_eq!(got, &want);
                    }
                    other => panic!("checksums mismatch {other:?}"),
                }
            }
            (Message::QueryShortChannelIds(q), "QueryShortChannelIds") => {
                assert_eq!(q.chain_hash.to_string(), msg["chainHash"]);
                expect_scids(&msg["shortChannelIds"], &q.encoded_short_ids);
                let records = msg["tlvStream"]["records"].as_array().unwrap();
                match (records.first(), &q.tlvs.query_flags) {
                    (None, None) => {}
                    (Some(want), Some(flags)) => {
                        assert_eq!(want["encoding"], encoding_name(flags));
                        let got: Vec<u64> = items(flags, 1).iter().map(|b| b.0).collect();
                        let want: Vec<u64> = want["array"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_u64().unwrap())
                            .collect();
                        assert_eq!(got, want);
                    }
                    other => panic!("query_flags mismatch {other:?}"),
                }
            }
            (m, ty) => panic!("decoded {} for {ty}", m.name()),
        }
    }
}
