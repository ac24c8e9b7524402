//! BOLT 11 "Examples" and "Examples of Invalid Invoices", from
//! `tests/data/bolt11-invoices.json` (see `tests/data/README.md`).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt11::{
    Bech32Error, Bolt11Invoice, Bolt11ParseError, Currency, Fallback, InvoiceDescription,
};
use lightning_wire::features::FeatureError;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/bolt11-invoices.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex32(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

#[test]
fn valid_invoices_match_every_listed_field() {
    let v = vectors();
    let valid = v["valid"].as_array().unwrap();
    assert_eq!(valid.len(), 16);
    for case in valid {
        let title = case["title"].as_str().unwrap();
        let s = case["invoice"].as_str().unwrap();
        let inv: Bolt11Invoice = s.parse().unwrap_or_else(|e| panic!("{title}: {e}"));

        let currency = match case["network"].as_str().unwrap() {
            "bitcoin" => Currency::Bitcoin,
            "testnet" => Currency::Testnet,
            other => panic!("network {other}"),
        };
        assert_eq!(inv.currency(), currency, "{title}");
        assert_eq!(
            format!("ln{}", inv.currency().prefix()),
            case["prefix"].as_str().unwrap()
        );
        assert_eq!(inv.amount_msat(), case["amount_msat"].as_u64(), "{title}");
        match case["amount_as_written"].as_str() {
            Some(a) => assert_eq!(inv.amount().unwrap().to_string(), a),
            None => assert!(inv.amount().is_none()),
        }
        assert_eq!(inv.timestamp(), case["timestamp"].as_u64().unwrap());
        assert_eq!(inv.payment_hash().to_string(), hex32(&case["payment_hash"]));
        assert_eq!(
            hex::encode(inv.payment_secret().0),
            hex32(&case["payment_secret"])
        );
        match (case.get("description"), case.get("description_hash")) {
            (Some(d), None) => {
                let d = d.as_str().unwrap();
                assert_eq!(inv.description(), &InvoiceDescription::Direct(d.into()));
                assert!(inv.matches_description(d));
            }
            (None, Some(h)) => {
                assert_eq!(
                    inv.description(),
                    &InvoiceDescription::Hash(h.as_str().unwrap().parse().unwrap())
                );
                let preimage = case["description_hash_preimage"].as_str().unwrap();
                assert_eq!(
                    sha256::Hash::hash(preimage.as_bytes()).to_string(),
                    h.as_str().unwrap()
                );
                assert!(inv.matches_description(preimage));
                assert!(!inv.matches_description("something else"));
            }
            _ => panic!("{title}: description"),
        }
        assert_eq!(
            inv.expiry(),
            case.get("expiry").and_then(Value::as_u64),
            "{title}"
        );
        assert_eq!(
            inv.expiry_time(),
            case.get("expiry").and_then(Value::as_u64).unwrap_or(3600)
        );
        assert_eq!(
            inv.min_final_cltv_expiry_delta_field(),
            case.get("min_final_cltv_expiry_delta")
                .and_then(Value::as_u64),
            "{title}"
        );
        assert_eq!(
            inv.payment_metadata().map(hex::encode),
            case.get("metadata").map(|m| m.as_str().unwrap().to_owned()),
            "{title}"
        );

        let empty = vec![];
        let fallbacks = case
            .get("fallback_addresses")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        assert_eq!(inv.fallbacks().len(), fallbacks.len(), "{title}");
        for (got, want) in inv.fallbacks().iter().zip(fallbacks) {
            assert_eq!(u64::from(got.version()), want["version"].as_u64().unwrap());
            assert_eq!(
                hex::encode(got.program()),
                want["program"].as_str().unwrap()
            );
            assert_eq!(got.address(currency), want["address"].as_str().unwrap());
            let kind = match got {
                Fallback::PubKeyHash(_) => "P2PKH",
                Fallback::ScriptHash(_) => "P2SH",
                Fallback::Segwit {
                    version: 0,
                    program,
                } if program.len() == 20 => "P2WPKH",
                Fallback::Segwit { version: 0, .. } => "P2WSH",
                Fallback::Segwit { version: 1, .. } => "P2TR",
                Fallback::Segwit { .. } => "segwit",
            };
            assert_eq!(kind, want["type"].as_str().unwrap());
        }

        let hints = case
            .get("route_hints")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        assert_eq!(inv.route_hints().len(), hints.len(), "{title}");
        for (got, want) in inv.route_hints().iter().zip(hints) {
            let want = want.as_array().unwrap();
            assert_eq!(got.0.len(), want.len());
            for (hop, w) in got.0.iter().zip(want) {
                assert_eq!(hop.src_node_id.to_string(), w["pubkey"].as_str().unwrap());
                hop.src_node_id.to_pubkey().unwrap();
                assert_eq!(
                    hop.short_channel_id.to_string(),
                    w["short_channel_id"].as_str().unwrap()
                );
                assert_eq!(
                    u64::from(hop.fee_base_msat),
                    w["fee_base_msat"].as_u64().unwrap()
                );
                assert_eq!(
                    u64::from(hop.fee_proportional_millionths),
                    w["fee_proportional_millionths"].as_u64().unwrap()
                );
                assert_eq!(
                    u64::from(hop.cltv_expiry_delta),
                    w["cltv_expiry_delta"].as_u64().unwrap()
                );
            }
        }

        let bits: Vec<usize> = case["feature_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            inv.features()
                .map(|f| f.bits().collect::<Vec<_>>())
                .unwrap_or_default(),
            bits,
            "{title}"
        );

        match case["payee_pubkey"].as_str() {
            Some(pk) => assert_eq!(inv.payee().to_string(), pk, "{title}"),
            None => {
                // The high-S example: recovery must accept it, and with flag
                // 1 yields the key the vector's notes name.
                assert!(title.contains("high-S"));
                assert_eq!(
                    inv.payee().to_string(),
                    "02d0139ce7427d6dfffd26a326c18be754ef1e64672b42694ba5b23ef6e6e7803d"
                );
            }
        }
        if let Some(sig) = case.get("signature") {
            let (recid, rs) = inv.signature().serialize_compact();
            assert_eq!(hex::encode(rs), sig["rs"].as_str().unwrap());
            assert_eq!(
                recid.to_i32() as u64,
                sig["recovery_flag"].as_u64().unwrap()
            );
            assert_eq!(
                hex::encode(inv.signing_hash()),
                sig["signing_data_sha256"].as_str().unwrap()
            );
        }

        // Re-encoding reproduces the string, skipped fields included.
        assert_eq!(inv.to_string(), s.to_ascii_lowercase(), "{title}");
    }
}

#[test]
fn ignored_fields_are_skipped_and_kept() {
    let v = vectors();
    let case = v["valid"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"].as_str().unwrap().contains("must be ignored"))
        .unwrap();
    let inv: Bolt11Invoice = case["invoice"].as_str().unwrap().parse().unwrap();
    let tags: String = inv
        .other_fields()
        .iter()
        .map(|f| b"qpzry9x8gf2tvdw0s3jn54khce6mua7l"[usize::from(f.tag)] as char)
        .collect();
    // `2` unknown, `f` version 19, then p/h/s/n of the wrong lengths.
    assert_eq!(tags, "2fpphhssnn");
    assert!(inv.payee_pub_key().is_none());
}

#[test]
fn invalid_invoices_fail_for_their_reason() {
    let v = vectors();
    let invalid = v["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 10);
    for case in invalid {
        let reason = case["reason"].as_str().unwrap();
        let err = case["invoice"]
            .as_str()
            .unwrap()
            .parse::<Bolt11Invoice>()
            .expect_err(reason);
        let ok = match reason {
            "unknown even (required) feature bit 100 is set" => matches!(
                &err,
                Bolt11ParseError::Features(FeatureError::UnknownRequiredBits { bits, .. })
                    if bits == &[100]
            ),
            "Bech32 checksum is invalid" => {
                err == Bolt11ParseError::Bech32(Bech32Error::InvalidChecksum)
            }
            "Malformed bech32 string (no 1)" => {
                err == Bolt11ParseError::Bech32(Bech32Error::MissingSeparator)
            }
            "Malformed bech32 string (mixed case)" => {
                err == Bolt11ParseError::Bech32(Bech32Error::MixedCase)
            }
            "Signature is not recoverable" => err == Bolt11ParseError::SignatureNotRecoverable,
            "String is too short" => err == Bolt11ParseError::TooShort,
            "Invalid multiplier" => {
                err == Bolt11ParseError::Amount(
                    lightning_wire::bolt11::AmountError::InvalidMultiplier('x'),
                )
            }
            "Invalid sub-millisatoshi precision" => {
                err == Bolt11ParseError::Amount(
                    lightning_wire::bolt11::AmountError::SubMillisatoshi,
                )
            }
            "Missing required `s` field" => err == Bolt11ParseError::MissingPaymentSecret,
            "Non canonical signature (high-S) with 'n' field defined" => {
                err == Bolt11ParseError::NonCanonicalSignature
            }
            other => panic!("unmapped reason {other:?}"),
        };
        assert!(ok, "{reason}: got {err:?}");
    }
}
