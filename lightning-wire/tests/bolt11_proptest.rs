//! Property tests: built invoices read back as built; no input panics.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt11::{
    Bolt11Invoice, Currency, Fallback, InvoiceBuilder, InvoiceDescription, PaymentSecret,
    RouteHint, RouteHintHop, TaggedField,
};
use lightning_wire::features::Bolt11InvoiceFeatures;
use lightning_wire::types::{PaymentHash, ShortChannelId};
use proptest::prelude::*;
use secp256k1::{PublicKey, SecretKey, SECP256K1};

const VALID: &str = "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqsfpp3qjmp7lwpagxun9pygexvgpjdc4jdj85fr9yq20q82gphp2nflc7jtzrcazrra7wwgzxqc8u7754cdlpfrmccae92qgzqvzq2ps8pqqqqqqpqqqqq9qqqvpeuqafqxu92d8lr6fvg0r5gv0heeeqgcrqlnm6jhphu9y00rrhy4grqszsvpcgpy9qqqqqqgqqqqq7qqzq9qrsgqdfjcdk6w3ak5pca9hwfwfh63zrrz06wwfya0ydlzpgzxkn5xagsqz7x9j4jwe7yj7vaf2k9lqsdk45kts2fd0fkr28am0u4w95tt2nsq76cqw0";

fn key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_filter_map("valid key", |b| SecretKey::from_slice(&b).ok())
}

fn hop() -> impl Strategy<Value = RouteHintHop> {
    (
        key(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u16>(),
    )
        .prop_map(|(k, s, b, p, c)| RouteHintHop {
            src_node_id: PublicKey::from_secret_key(SECP256K1, &k).into(),
            short_channel_id: ShortChannelId(s),
            fee_base_msat: b,
            fee_proportional_millionths: p,
            cltv_expiry_delta: c,
        })
}

fn fallback() -> impl Strategy<Value = Fallback> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(Fallback::PubKeyHash),
        any::<[u8; 20]>().prop_map(Fallback::ScriptHash),
        (prop_oneof![Just(20usize), Just(32)], any::<[u8; 32]>()).prop_map(|(n, p)| Fallback::new(
            0,
            &p[..n]
        )
        .unwrap()),
        (1u8..=16, proptest::collection::vec(any::<u8>(), 2..=40))
            .prop_map(|(v, p)| Fallback::new(v, &p).unwrap()),
    ]
}

/// Optional fields, in a random order.
fn extra_fields() -> impl Strategy<Value = Vec<TaggedField>> {
    let unknown_tag =
        (0u8..32).prop_filter("unknown", |t| !lightning_wire::bolt11::tag::is_known(*t));
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec(fallback(), 0..3),
        proptest::collection::vec(proptest::collection::vec(hop(), 1..4), 0..3),
        proptest::collection::btree_set(0usize..200, 0..6),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..60)),
        proptest::collection::vec(
            (unknown_tag, proptest::collection::vec(0u8..32, 0..80)),
            0..3,
        ),
        proptest::option::of(key()),
        any::<u64>(),
    )
        .prop_map(
            |(x, c, fallbacks, hints, odd_bits, m, unknown, n, shuffle)| {
                let mut fields = Vec::new();
                fields.extend(x.map(TaggedField::Expiry));
                fields.extend(c.map(TaggedField::MinFinalCltvExpiryDelta));
                fields.extend(fallbacks.into_iter().map(TaggedField::Fallback));
                fields.extend(
                    hints
                        .into_iter()
                        .map(|h| TaggedField::RouteHint(RouteHint(h))),
                );
                let mut f = Bolt11InvoiceFeatures::empty();
                f.set_bit(14);
                for b in odd_bits {
                    f.set_bit(2 * b + 101);
                }
                fields.push(TaggedField::Features(f));
                fields.extend(m.map(TaggedField::PaymentMetadata));
                fields.extend(unknown.into_iter().map(|(tag, data)| {
                    TaggedField::Unknown(lightning_wire::bolt11::RawTaggedField { tag, data })
                }));
                fields.extend(
                    n.map(|k| TaggedField::PayeePubKey(PublicKey::from_secret_key(SECP256K1, &k))),
                );
                // A cheap deterministic shuffle.
                let len = fields.len().max(1);
                fields.rotate_left((shuffle as usize) % len);
                fields
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn built_invoices_read_back(
        currency in prop::sample::select(Currency::ALL.to_vec()),
        amount in proptest::option::of(1u64..=lightning_wire::bolt11::MAX_AMOUNT_MSAT / 16),
        timestamp in 0u64..(1 << 35),
        hash in any::<[u8; 32]>(),
        secret in any::<[u8; 32]>(),
        desc in prop_oneof![
            ".{0,200}".prop_map(InvoiceDescription::Direct),
            any::<[u8; 32]>().prop_map(|h| InvoiceDescription::Hash(sha256::Hash::from_byte_array(h))),
        ],
        extra in extra_fields(),
        signer in key(),
    ) {
        let mut b = InvoiceBuilder::new(currency)
            .timestamp(timestamp)
            .payment_hash(PaymentHash(hash))
            .payment_secret(PaymentSecret(secret));
        if let Some(a) = amount {
            b = b.amount_msat(a);
        }
        b = match &desc {
            InvoiceDescription::Direct(d) => b.description(d.clone()),
            InvoiceDescription::Hash(h) => b.description_hash(*h),
        };
        // `n` must name the signer, or build_signed rejects the result.
        let me = PublicKey::from_secret_key(SECP256K1, &signer);
        for f in &extra {
            b = b.field(match f {
                TaggedField::PayeePubKey(_) => TaggedField::PayeePubKey(me),
                other => other.clone(),
            });
        }
        let inv = b.build_signed(&signer).unwrap();
        let text = inv.to_string();
        let back: Bolt11Invoice = text.parse().unwrap();
        prop_assert_eq!(&back, &inv);
        prop_assert_eq!(back.to_string(), text.clone());
        prop_assert_eq!(text.to_uppercase().parse::<Bolt11Invoice>().unwrap(), inv.clone());

        prop_assert_eq!(inv.currency(), currency);
        prop_assert_eq!(inv.amount_msat(), amount);
        prop_assert_eq!(inv.timestamp(), timestamp);
        prop_assert_eq!(inv.payment_hash().0, hash);
        prop_assert_eq!(inv.payment_secret().0, secret);
        prop_assert_eq!(inv.description(), &desc);
        prop_assert_eq!(inv.payee(), &me);
        let mut fallbacks = Vec::new();
        let mut hints = Vec::new();
        let mut unknown = Vec::new();
        for f in &extra {
            match f {
                TaggedField::Expiry(x) => prop_assert_eq!(inv.expiry(), Some(*x)),
                TaggedField::MinFinalCltvExpiryDelta(c) => {
                    prop_assert_eq!(inv.min_final_cltv_expiry_delta_field(), Some(*c))
                }
                TaggedField::Fallback(fb) => fallbacks.push(fb.clone()),
                TaggedField::RouteHint(h) => hints.push(h.clone()),
                TaggedField::Features(ft) => prop_assert_eq!(inv.features(), Some(ft)),
                TaggedField::PaymentMetadata(m) => prop_assert_eq!(inv.payment_metadata(), Some(&m[..])),
                TaggedField::Unknown(raw) => unknown.push(raw.clone()),
                TaggedField::PayeePubKey(_) => prop_assert_eq!(inv.payee_pub_key(), Some(&me)),
                _ => {}
            }
        }
        prop_assert_eq!(inv.fallbacks(), &fallbacks[..]);
        prop_assert_eq!(inv.route_hints(), &hints[..]);
        prop_assert_eq!(inv.other_fields(), &unknown[..]);
        // Expiry arithmetic never overflows.
        let _ = inv.is_expired(u64::MAX);
    }

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,400}") {
        let _ = s.parse::<Bolt11Invoice>();
    }

    #[test]
    fn bech32_shaped_strings_never_panic(
        hrp in "ln(bc|tb|tbs|bcrt|sb|xx)[0-9]{0,4}[munpx]?",
        data in "[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{0,700}",
    ) {
        let _ = format!("{hrp}1{data}").parse::<Bolt11Invoice>();
    }

    #[test]
    fn mutated_invoices_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..32, 0u8..3), 1..6),
    ) {
        const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        let mut s: Vec<u8> = VALID.as_bytes().to_vec();
        for (at, v, op) in edits {
            let i = at.index(s.len());
            match op {
                0 => s[i] = CHARSET[usize::from(v)],
                1 => s.insert(i, CHARSET[usize::from(v)]),
                _ => { s.remove(i); }
            }
        }
        let s = String::from_utf8(s).unwrap();
        if let Ok(inv) = s.parse::<Bolt11Invoice>() {
            // Whatever parses re-encodes to itself.
            prop_assert_eq!(inv.to_string(), s);
        }
    }
}

/// Mutations keep the checksum wrong almost always; this re-checksums each
/// mutation so that the field parser sees them.
#[test]
fn rechecksummed_mutations_never_panic() {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let sep = VALID.rfind('1').unwrap();
    let data: Vec<u8> = VALID[sep + 1..VALID.len() - 6]
        .bytes()
        .map(|c| CHARSET.iter().position(|x| *x == c).unwrap() as u8)
        .collect();
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let key = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let mut parsed = 0;
    let mut resigned_parsed = 0;
    for _ in 0..3000 {
        let mut d = data.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % d.len();
            match next() % 3 {
                0 => d[i] = (next() % 32) as u8,
                1 => d.insert(i, (next() % 32) as u8),
                _ => {
                    d.remove(i);
                }
            }
        }
        let s = checksummed("lnbc20m", &d);
        if let Ok(inv) = s.parse::<Bolt11Invoice>() {
            parsed += 1;
            assert_eq!(inv.to_string(), s, "a parsed mutation re-encodes to itself");
        }
        // Same fields, re-signed: exercises field decoding past the
        // signature check. Whatever parses re-encodes to the same string.
        if let Some(s) = resign(&d, &key) {
            if let Ok(inv) = s.parse::<Bolt11Invoice>() {
                resigned_parsed += 1;
                assert_eq!(
                    inv.to_string(),
                    s,
                    "a re-signed mutation that parses re-encodes to itself"
                );
            }
        }
    }
    eprintln!("{parsed} mutations parsed, {resigned_parsed} re-signed mutations parsed");
    // Most mutations break the signature; a valid parse is rare but allowed.
    assert!(parsed < 3000);
    // The re-signed ones must reach the field parser and often pass it, or
    // the re-encoding check above checked nothing.
    assert!(
        resigned_parsed >= 300,
        "only {resigned_parsed} of 3000 re-signed mutations parsed"
    );
}

fn checksummed(hrp: &str, data: &[u8]) -> String {
    // An independent Bech32 encoder, so the test does not lean on the code
    // under test.
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let polymod = |values: &[u8]| {
        let mut chk = 1u32;
        for v in values {
            let b = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ u32::from(*v);
            for (i, g) in GEN.iter().enumerate() {
                if (b >> i) & 1 == 1 {
                    chk ^= g;
                }
            }
        }
        chk
    };
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    values.extend(data);
    values.extend([0; 6]);
    let chk = polymod(&values) ^ 1;
    let mut s = format!("{hrp}1");
    s.extend(data.iter().map(|v| CHARSET[usize::from(*v)] as char));
    s.extend((0..6).map(|i| CHARSET[((chk >> (5 * (5 - i))) & 31) as usize] as char));
    s
}

/// Replaces the last 104 values (the signature) with a fresh one over the
/// rest, signed by `key`.
fn resign(data: &[u8], key: &SecretKey) -> Option<String> {
    if data.len() < 104 {
        return None;
    }
    let body = &data[..data.len() - 104];
    let mut msg = b"lnbc20m".to_vec();
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in body {
        acc = (acc << 5) | u32::from(*v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            msg.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        msg.push((acc << (8 - bits)) as u8);
    }
    let hash = sha256::Hash::hash(&msg).to_byte_array();
    let sig = SECP256K1.sign_ecdsa_recoverable(&secp256k1::Message::from_digest(hash), key);
    let (id, rs) = sig.serialize_compact();
    let mut bytes = rs.to_vec();
    bytes.push(id.to_i32() as u8);
    let mut out = body.to_vec();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(((acc >> bits) & 31) as u8);
        }
    }
    Some(checksummed("lnbc20m", &out))
}
