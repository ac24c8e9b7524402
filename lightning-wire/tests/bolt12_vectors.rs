//! BOLT 12 test vectors (`tests/data/`, copied verbatim from
//! `lightning/bolts` `bolt12/`, see `tests/data/README.md`): the string
//! format, every offer case and the Merkle-root and signature cases.

#![allow(clippy::unwrap_used)]

use lightning_wire::bolt12::{merkle, string, InvoiceRequest, Offer};
use serde_json::Value;

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// The string after `H(`LnLeaf`,` in a vector's key.
fn key_hex(key: &str, prefix: &str) -> Vec<u8> {
    let inner = key.strip_prefix(prefix).unwrap().strip_suffix(')').unwrap();
    hex::decode(inner).unwrap()
}

#[test]
fn format_strings() {
    let cases = load("format-string-test.json");
    assert_eq!(cases.len(), 12);
    for c in cases {
        let s = c["string"].as_str().unwrap();
        let valid = c["valid"].as_bool().unwrap();
        let got = s.parse::<Offer>();
        assert_eq!(got.is_ok(), valid, "{}: {s:?} gave {got:?}", c["comment"]);
        if valid {
            // All the valid strings are the same offer.
            let canonical = "lno1pqps7sjqpgtyzm3qv4uxzmtsd3jjqer9wd3hy6tsw35k7msjzfpy7nz5yqcnygrfdej82um5wf5k2uckyypwa3eyt44h6txtxquqh7lz5djge4afgfjn7k4rgrkuag0jsd5xvxg";
            assert_eq!(got.unwrap().to_string(), canonical);
        }
    }
}

#[test]
fn offers() {
    let cases = load("offers-test.json");
    assert_eq!(cases.len(), 53);
    let (mut valid_seen, mut invalid_seen) = (0, 0);
    for c in cases {
        let s = c["bolt12"].as_str().unwrap();
        let what = c["description"].as_str().unwrap();
        let got = s.parse::<Offer>();
        if c["valid"].as_bool().unwrap() {
            valid_seen += 1;
            let offer = got.unwrap_or_else(|e| panic!("{what}: {e}"));
            // The fields are exactly the listed records, in order.
            let mut expect = Vec::new();
            for f in c["fields"].as_array().unwrap() {
                let ty = f["type"].as_u64().unwrap();
                let value = hex(&f["hex"]);
                assert_eq!(value.len() as u64, f["length"].as_u64().unwrap());
                let mut w = lightning_wire::tlv::TlvStreamWriter::new();
                w.put_raw(ty, &value);
                expect.extend(w.into_bytes());
            }
            assert_eq!(offer.as_bytes(), &expect[..], "{what}");
            // Written back, the string is the vector's.
            assert_eq!(offer.to_string(), s, "{what}");
            assert_eq!(Offer::from_bytes(expect).unwrap(), offer);
        } else {
            invalid_seen += 1;
            assert!(got.is_err(), "{what}: accepted {s}");
        }
    }
    assert_eq!((valid_seen, invalid_seen), (20, 33));
}

#[test]
fn merkle_roots_and_signature() {
    let cases = load("signature-test.json");
    assert_eq!(cases.len(), 4);
    for c in &cases {
        let mut stream = Vec::new();
        for leaf in c["leaves"].as_array().unwrap() {
            let obj = leaf.as_object().unwrap();
            let (key, value) = obj
                .iter()
                .find(|(k, _)| k.starts_with("H(`LnLeaf`,"))
                .unwrap();
            let tlv = key_hex(key, "H(`LnLeaf`,");
            assert_eq!(
                merkle::tagged_hash(b"LnLeaf", &tlv).to_vec(),
                hex(value),
                "{}",
                c["comment"]
            );
            stream.extend(tlv);
        }
        let root = merkle::merkle_root(&stream).unwrap().unwrap();
        assert_eq!(root.to_vec(), hex(&c["merkle"]), "{}", c["comment"]);
    }
    // The signed invoice_request.
    let c = &cases[3];
    let req: InvoiceRequest = c["bolt12"].as_str().unwrap().parse().unwrap();
    let root = merkle::merkle_root(req.as_bytes()).unwrap().unwrap();
    assert_eq!(root.to_vec(), hex(&c["merkle"]));
    let digest = merkle::signature_digest("invoice_request", "signature", &root);
    assert_eq!(digest.to_vec(), hex(&c["H(signature_tag,merkle)"]));
    assert_eq!(
        req.signature().unwrap().as_ref().to_vec(),
        hex(&c["signature"])
    );
    // Bob's key (0x4242...) is the payer.
    let bob = secp256k1::SecretKey::from_slice(&[0x42; 32]).unwrap();
    assert_eq!(
        req.payer_id(),
        secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &bob)
    );
    // One flipped bit anywhere before the signature breaks it.
    let bytes = req.as_bytes().to_vec();
    for i in 0..bytes.len() - 66 {
        let mut b = bytes.clone();
        b[i] ^= 1;
        assert!(InvoiceRequest::from_bytes(b).is_err(), "byte {i}");
    }
    // The string form round-trips.
    assert_eq!(req.to_string(), c["bolt12"].as_str().unwrap());
    assert_eq!(
        string::encode("lnr", req.as_bytes()),
        c["bolt12"].as_str().unwrap()
    );
}
