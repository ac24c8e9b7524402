//! Properties of the BOLT 12 readers and writers: no input panics them,
//! what we write reads back equal, an invoice answers the request it was
//! made for and no other, and any changed byte of a signed message is
//! refused.

#![allow(clippy::unwrap_used)]

use bitcoin::hashes::{sha256, Hash};
use lightning_wire::bolt12::{
    BlindedPath, BlindedPayInfo, Bolt12Error, Bolt12Invoice, IntroductionNode, InvoiceError,
    InvoiceFields, InvoiceRequest, InvreqFields, Offer, OfferFields, OnionMsgHop,
};
use lightning_wire::types::ShortChannelId;
use lightning_wire::{Decode, Encode};
use proptest::prelude::*;
use secp256k1::{Keypair, PublicKey, SecretKey, SECP256K1};

fn key(seed: u8) -> Keypair {
    let secret = sha256::Hash::hash(&[seed]).to_byte_array();
    Keypair::from_secret_key(SECP256K1, &SecretKey::from_slice(&secret).unwrap())
}

fn point(seed: u8) -> PublicKey {
    key(seed).public_key()
}

fn path_strategy() -> impl Strategy<Value = BlindedPath> {
    (
        any::<bool>(),
        1u8..=255,
        prop::collection::vec((1u8..=255, prop::collection::vec(any::<u8>(), 0..40)), 1..4),
    )
        .prop_map(|(by_scid, k, hops)| BlindedPath {
            first_node_id: if by_scid {
                IntroductionNode::DirectedScid {
                    direction: k % 2,
                    scid: ShortChannelId(u64::from(k) << 40 | 7),
                }
            } else {
                IntroductionNode::NodeId(point(k))
            },
            first_path_key: point(k.wrapping_add(1)),
            hops: hops
                .into_iter()
                .map(|(s, d)| OnionMsgHop {
                    blinded_node_id: point(s),
                    encrypted_recipient_data: d,
                })
                .collect(),
        })
}

fn offer_strategy() -> impl Strategy<Value = OfferFields> {
    (
        proptest::option::of(1u64..u64::MAX / 1_000),
        proptest::option::of("[a-zA-Z0-9 ]{0,20}"),
        proptest::option::of(prop::collection::vec(any::<u8>(), 0..16)),
        proptest::option::of(any::<u64>()),
        proptest::option::of(0u64..10),
        proptest::option::of(prop::collection::vec(path_strategy(), 1..3)),
        any::<bool>(),
        proptest::option::of("[a-z]{0,10}"),
    )
        .prop_map(
            |(amount, description, metadata, expiry, quantity_max, mut paths, with_id, issuer)| {
                // Without `offer_issuer_id` the invoice is signed by the
                // last blinded node of a path: make one of them the
                // issuer's key (7).
                if !with_id {
                    if let Some(hop) = paths.as_mut().and_then(|p| p[0].hops.last_mut()) {
                        hop.blinded_node_id = point(7);
                    }
                }
                let description = if amount.is_some() {
                    Some(description.unwrap_or_default())
                } else {
                    description
                };
                OfferFields {
                    amount,
                    description,
                    metadata,
                    absolute_expiry: expiry,
                    quantity_max,
                    issuer_id: (with_id || paths.is_none()).then(|| point(7)),
                    paths,
                    issuer,
                    ..Default::default()
                }
            },
        )
}

fn payinfo(max: u64) -> BlindedPayInfo {
    BlindedPayInfo {
        fee_base_msat: 1_000,
        fee_proportional_millionths: 100,
        cltv_expiry_delta: 144,
        htlc_minimum_msat: 1,
        htlc_maximum_msat: max,
        features: vec![],
    }
}

/// A request for `offer` and the issuer's invoice for it.
fn exchange(
    offer: &Offer,
    metadata: Vec<u8>,
    quantity: Option<u64>,
) -> (InvoiceRequest, Bolt12Invoice) {
    let o = offer.fields();
    let quantity = o
        .quantity_max
        .map(|max| quantity.unwrap_or(1).clamp(1, max.max(1)));
    let amount = if o.amount.is_none() {
        Some(5_000)
    } else {
        None
    };
    let req = InvoiceRequest::for_offer(
        offer,
        InvreqFields {
            metadata: Some(metadata),
            amount,
            quantity,
            payer_note: Some("thanks".into()),
            ..Default::default()
        },
        &key(9),
    )
    .unwrap();
    let path = BlindedPath {
        first_node_id: IntroductionNode::NodeId(point(3)),
        first_path_key: point(4),
        hops: vec![
            OnionMsgHop {
                blinded_node_id: point(5),
                encrypted_recipient_data: vec![1; 30],
            },
            OnionMsgHop {
                blinded_node_id: point(6),
                encrypted_recipient_data: vec![2; 20],
            },
        ],
    };
    let invoice = Bolt12Invoice::for_request(
        &req,
        InvoiceFields {
            paths: Some(vec![path]),
            blindedpay: Some(vec![payinfo(1 << 40)]),
            created_at: Some(1_800_000_000),
            payment_hash: Some(sha256::Hash::hash(&[1, 2, 3])),
            amount: req.amount_msat(),
            features: Some(vec![0x02, 0x00, 0x00]),
            ..Default::default()
        },
        &key(7),
    )
    .unwrap();
    (req, invoice)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Offer::from_bytes(bytes.clone());
        let _ = InvoiceRequest::from_bytes(bytes.clone());
        let _ = Bolt12Invoice::from_bytes(bytes.clone());
        let _ = InvoiceError::from_bytes(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = text.parse::<Offer>();
        let _ = format!("lno1{text}").parse::<Offer>();
    }

    #[test]
    fn offers_round_trip(fields in offer_strategy()) {
        let offer = Offer::new(fields.clone()).unwrap();
        prop_assert_eq!(offer.fields(), &fields);
        let text = offer.to_string();
        prop_assert_eq!(text.parse::<Offer>().unwrap(), offer.clone());
        prop_assert_eq!(text.to_uppercase().parse::<Offer>().unwrap(), offer.clone());
        // Split with `+` and whitespace anywhere between characters.
        let split = format!("{}+\n  {}", &text[..text.len() / 2], &text[text.len() / 2..]);
        prop_assert_eq!(split.parse::<Offer>().unwrap(), offer);
    }

    #[test]
    fn invoices_answer_their_request_and_no_other(
        fields in offer_strategy(),
        m1 in prop::collection::vec(any::<u8>(), 1..32),
        m2 in prop::collection::vec(any::<u8>(), 1..32),
        q in 1u64..5,
    ) {
        prop_assume!(m1 != m2);
        let offer = Offer::new(fields).unwrap();
        let (req, invoice) = exchange(&offer, m1, Some(q));
        let read: Bolt12Invoice = invoice.to_string().parse().unwrap();
        prop_assert_eq!(&read, &invoice);
        prop_assert!(read.check_answers(&req).is_ok());
        prop_assert!(read.allows_mpp());
        prop_assert_eq!(read.amount_msat(), req.amount_msat().unwrap());
        // The offer part of the request is the offer, byte for byte.
        prop_assert_eq!(req.offer_bytes(), offer.as_bytes().to_vec());
        // Another request for the same offer (other metadata) is not
        // answered by this invoice.
        let (other, _) = exchange(&offer, m2, Some(q));
        prop_assert!(matches!(read.check_answers(&other), Err(Bolt12Error::Mismatch(_))));
    }

    #[test]
    fn a_changed_byte_is_refused(fields in offer_strategy(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let offer = Offer::new(fields).unwrap();
        let (req, invoice) = exchange(&offer, vec![5; 16], None);
        for bytes in [req.as_bytes(), invoice.as_bytes()] {
            let mut b = bytes.to_vec();
            b[at.index(bytes.len())] ^= 1 << bit;
            if bytes == req.as_bytes() {
                prop_assert!(InvoiceRequest::from_bytes(b).is_err());
            } else {
                prop_assert!(Bolt12Invoice::from_bytes(b).is_err());
            }
        }
    }
}

#[test]
fn readers_refuse_what_bolt12_says_they_must() {
    let offer = Offer::new(OfferFields {
        amount: Some(1_000),
        description: Some("x".into()),
        issuer_id: Some(point(7)),
        quantity_max: Some(3),
        ..Default::default()
    })
    .unwrap();
    let req = |f: InvreqFields| InvoiceRequest::for_offer(&offer, f, &key(9));
    let base = || InvreqFields {
        metadata: Some(vec![1; 8]),
        quantity: Some(2),
        ..Default::default()
    };
    // The expected amount is offer_amount x quantity.
    assert_eq!(req(base()).unwrap().amount_msat(), Some(2_000));
    // No invreq_metadata.
    assert!(req(InvreqFields {
        metadata: None,
        ..base()
    })
    .is_err());
    // Quantity 0, above the maximum, or missing.
    assert!(req(InvreqFields {
        quantity: Some(0),
        ..base()
    })
    .is_err());
    assert!(req(InvreqFields {
        quantity: Some(4),
        ..base()
    })
    .is_err());
    assert!(req(InvreqFields {
        quantity: None,
        ..base()
    })
    .is_err());
    // An amount below the expected one.
    assert!(req(InvreqFields {
        amount: Some(1_999),
        ..base()
    })
    .is_err());
    assert!(req(InvreqFields {
        amount: Some(2_500),
        ..base()
    })
    .is_ok());
    // An unknown even invreq feature.
    assert!(matches!(
        req(InvreqFields {
            features: Some(vec![0x01, 0x00]),
            ..base()
        }),
        Err(Bolt12Error::UnknownRequiredFeature { bit: 8, .. })
    ));
    // A bip_353 name with a forbidden byte.
    let name = |n: &[u8]| lightning_wire::bolt12::Bip353Name {
        name: n.to_vec(),
        domain: b"example.com".to_vec(),
    };
    assert!(req(InvreqFields {
        bip_353_name: Some(name(b"alice")),
        ..base()
    })
    .is_ok());
    assert!(req(InvreqFields {
        bip_353_name: Some(name(b"al ce")),
        ..base()
    })
    .is_err());

    // An invoice without a signature, with a payinfo count that differs from
    // the paths, or whose only path needs an unknown feature.
    let good = exchange(&offer, vec![1; 8], Some(2)).1;
    let mut unsigned = good.as_bytes().to_vec();
    unsigned.truncate(unsigned.len() - 66);
    assert_eq!(
        Bolt12Invoice::from_bytes(unsigned),
        Err(Bolt12Error::BadSignature)
    );
    let r = req(base()).unwrap();
    let path = good.fields().paths.clone().unwrap();
    let two_infos = InvoiceFields {
        blindedpay: Some(vec![payinfo(10), payinfo(10)]),
        ..good.fields().clone()
    };
    assert!(Bolt12Invoice::for_request(&r, two_infos, &key(7)).is_err());
    let mut needs_feature = payinfo(10);
    needs_feature.features = vec![0x01];
    let unusable = InvoiceFields {
        paths: Some(path),
        blindedpay: Some(vec![needs_feature]),
        ..good.fields().clone()
    };
    assert!(Bolt12Invoice::for_request(&r, unusable, &key(7)).is_err());
    // Signed by a key other than offer_issuer_id.
    assert!(matches!(
        Bolt12Invoice::for_request(&r, good.fields().clone(), &key(8)),
        Err(Bolt12Error::Mismatch(_))
    ));
    // An invoice amount other than invreq_amount.
    let asked = req(InvreqFields {
        amount: Some(2_500),
        ..base()
    })
    .unwrap();
    let wrong = InvoiceFields {
        amount: Some(2_000),
        ..good.fields().clone()
    };
    assert!(matches!(
        Bolt12Invoice::for_request(&asked, wrong, &key(7)),
        Err(Bolt12Error::Mismatch(_))
    ));
    // Unknown even invoice feature.
    let f = InvoiceFields {
        features: Some(vec![0x10, 0x00, 0x00]),
        ..good.fields().clone()
    };
    assert!(matches!(
        Bolt12Invoice::for_request(&r, f, &key(7)),
        Err(Bolt12Error::UnknownRequiredFeature { bit: 20, .. })
    ));
    // invoice_error round trip; suggested_value is dropped without a field.
    let e = InvoiceError {
        erroneous_field: None,
        suggested_value: Some(vec![1]),
        error: "no".into(),
    };
    assert_eq!(
        InvoiceError::from_bytes(&e.to_bytes())
            .unwrap()
            .suggested_value,
        None
    );
}
