//! Issue 13, "high-S signatures in anything we sign": every signature this
//! node produces is in low-S form (BIP 146 / bitcoin PR 6769, the rule
//! BOLT 2 calls "LOW-S-standard"), and a peer's high-S signature is refused
//! wherever BOLT 2 says "non-compliant with LOW-S-standard rule: MUST send a
//! `warning` and close the connection, or send an `error` and fail the
//! channel" (`funding_created`, `funding_signed`, `commitment_signed`,
//! `closing_signed`, `closing_complete`, `closing_sig`). BOLT 11 readers
//! must accept high-S invoice signatures in recovery; that path is the
//! wire crate's and is not changed here.
#![allow(clippy::unwrap_used)]

use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::ecdsa::Signature;
use lightning_core::channel::ChannelError;
use lightning_core::keys::{GossipMessageHash, KeysManager, NodeInvoiceSigner, NodeSigner};
use lightning_test_support::pair::{open, preimage, OpenOptions, Pair, ONION};
use lightning_wire::msgs::Message;

fn is_low_s(sig: &Signature) -> bool {
    let mut normalized = *sig;
    normalized.normalize_s();
    normalized == *sig
}

/// The secp256k1 group order.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// The same signature with `s` replaced by `n - s`: equally valid for
/// plain ECDSA, but high-S (malleated).
fn high_s(sig: &Signature) -> Signature {
    let compact = sig.serialize_compact();
    let mut out = compact;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(compact[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = d.rem_euclid(256) as u8;
    }
    let high = Signature::from_compact(&out).unwrap();
    assert!(!is_low_s(&high));
    let mut back = high;
    back.normalize_s();
    assert_eq!(&back, sig, "n - s normalizes back to s");
    high
}

/// Every signature a message carries.
fn signatures(m: &Message) -> Vec<Signature> {
    match m {
        Message::FundingCreated(m) => vec![m.signature],
        Message::FundingSigned(m) => vec![m.signature],
        Message::CommitmentSigned(m) => {
            let mut v = vec![m.signature];
            v.extend(&m.htlc_signatures);
            v
        }
        Message::ClosingSigned(m) => vec![m.signature],
        Message::ClosingComplete(m) => closing(&m.tlvs),
        Message::ClosingSig(m) => closing(&m.tlvs),
        _ => Vec::new(),
    }
}

fn closing(t: &lightning_wire::msgs::ClosingTlvs) -> Vec<Signature> {
    [
        t.closer_output_only,
        t.closee_output_only,
        t.closer_and_closee_outputs,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Delivers everything both ways, checking each message's signatures.
/// Returns how many signatures were checked.
fn run_checking(pair: &mut Pair) -> usize {
    let mut checked = 0;
    while !pair.a.outbox.is_empty() || !pair.b.outbox.is_empty() {
        for from_a in [true, false] {
            let outbox = if from_a {
                &pair.a.outbox
            } else {
                &pair.b.outbox
            };
            let Some(m) = outbox.front() else { continue };
            for sig in signatures(m) {
                assert!(is_low_s(&sig), "high-S signature in {}", m.name());
                checked += 1;
            }
            if from_a {
                pair.deliver_a_to_b().unwrap();
            } else {
                pair.deliver_b_to_a().unwrap();
            }
        }
    }
    checked
}

fn add_htlc(pair: &mut Pair, from_a: bool, n: u64) -> u64 {
    let (_, hash) = preimage(n);
    let side = if from_a { &mut pair.a } else { &mut pair.b };
    let (id, out) = side
        .ch
        .send_htlc(5_000_000 + n * 1000, hash, 700_000, ONION.to_vec())
        .unwrap();
    side.apply(out);
    let out = side.ch.commit().unwrap();
    side.apply(out);
    id
}

#[test]
fn every_signature_we_produce_is_low_s() {
    let mut pair = open(OpenOptions {
        push_msat: 400_000_000,
        ..OpenOptions::default()
    });
    // The funding_created / funding_signed signatures, kept by each side.
    for side in [&pair.a, &pair.b] {
        let sigs = side.ch.state().holder_sigs.as_ref().unwrap();
        assert!(is_low_s(&sigs.commitment));
    }

    // Commitments with HTLC signatures both ways, then removals.
    let mut checked = 0;
    let mut ids = Vec::new();
    for n in 0..12 {
        let from_a = n % 2 == 0;
        ids.push((from_a, add_htlc(&mut pair, from_a, n)));
        checked += run_checking(&mut pair);
    }
    for (n, (from_a, id)) in ids.into_iter().enumerate() {
        let payee = if from_a { &mut pair.b } else { &mut pair.a };
        let out = payee.ch.fulfill_htlc(id, preimage(n as u64).0).unwrap();
        payee.apply(out);
        let out = payee.ch.commit().unwrap();
        payee.apply(out);
        checked += run_checking(&mut pair);
    }
    assert!(checked > 100, "only {checked} signatures seen");

    // Cooperative close.
    let out = pair.a.ch.shutdown().unwrap();
    pair.a.apply(out);
    let closing = run_checking(&mut pair);
    assert!(closing > 0, "the close was signed");

    // Node-level: gossip and invoice signatures, over many messages (a
    // signer that did not normalise would give high-S about half the time).
    let km = KeysManager::new(&[0x42; 32]).unwrap();
    for i in 0u8..=255 {
        let hash = bitcoin::hashes::sha256::Hash::hash(&[i]).to_byte_array();
        let sig = km
            .sign_gossip_message(GossipMessageHash::DoubleSha256(hash))
            .unwrap();
        assert!(is_low_s(&sig));
        let invoice =
            lightning_wire::bolt11::InvoiceBuilder::new(lightning_wire::bolt11::Currency::Regtest)
                .payment_hash(lightning_wire::types::PaymentHash(hash))
                .payment_secret(lightning_wire::bolt11::PaymentSecret([i; 32]))
                .description("low-S")
                .timestamp(1_700_000_000)
                .build_signed(&NodeInvoiceSigner(&km))
                .unwrap();
        assert!(is_low_s(&invoice.signature().to_standard()));
    }
}

#[test]
fn high_s_commitment_and_htlc_signatures_fail_the_channel() {
    for htlc_sig in [false, true] {
        let mut pair = open(OpenOptions::default());
        add_htlc(&mut pair, true, 1);
        let Some(Message::UpdateAddHtlc(_)) = pair.a.outbox.front() else {
            panic!("update_add_htlc first")
        };
        pair.deliver_a_to_b().unwrap();
        let Some(Message::CommitmentSigned(cs)) = pair.a.outbox.front_mut() else {
            panic!("commitment_signed next")
        };
        if htlc_sig {
            assert_eq!(cs.htlc_signatures.len(), 1);
            cs.htlc_signatures[0] = high_s(&cs.htlc_signatures[0]);
        } else {
            cs.signature = high_s(&cs.signature);
        }
        let err = pair.deliver_a_to_b().unwrap_err();
        if htlc_sig {
            assert!(
                matches!(err, ChannelError::BadHtlcSignature { index: 0 }),
                "{err}"
            );
        } else {
            assert!(
                matches!(err, ChannelError::BadCommitmentSignature { .. }),
                "{err}"
            );
        }
    }
}

#[test]
fn high_s_closing_signature_is_refused() {
    let mut pair = open(OpenOptions::default());
    let out = pair.a.ch.shutdown().unwrap();
    pair.a.apply(out);
    let mut refused = false;
    for _ in 0..20 {
        let from_a = !pair.a.outbox.is_empty();
        let outbox = if from_a {
            &mut pair.a.outbox
        } else {
            &mut pair.b.outbox
        };
        let Some(m) = outbox.front_mut() else { break };
        let touched = match m {
            Message::ClosingSigned(c) => {
                c.signature = high_s(&c.signature);
                true
            }
            Message::ClosingComplete(c) => {
                let t = &mut c.tlvs;
                for s in [
                    &mut t.closer_output_only,
                    &mut t.closee_output_only,
                    &mut t.closer_and_closee_outputs,
                ]
                .into_iter()
                .flatten()
                {
                    *s = high_s(s);
                }
                true
            }
            _ => false,
        };
        let result = if from_a {
            pair.deliver_a_to_b()
        } else {
            pair.deliver_b_to_a()
        };
        if touched {
            let err = result.unwrap_err();
            assert!(
                matches!(err, ChannelError::BadClosingSignature { .. }),
                "{err}"
            );
            refused = true;
            break;
        }
        result.unwrap();
    }
    assert!(refused, "a closing signature was sent and refused");
}

/// The wire decoder keeps a high-S signature as it is (it is a valid
/// encoding); refusing it is the channel's job, above.
#[test]
fn the_wire_carries_a_high_s_signature_unchanged() {
    let mut pair = open(OpenOptions::default());
    add_htlc(&mut pair, true, 1);
    pair.deliver_a_to_b().unwrap();
    let Some(Message::CommitmentSigned(mut cs)) = pair.a.outbox.front().cloned() else {
        panic!("commitment_signed")
    };
    cs.signature = high_s(&cs.signature);
    let bytes = Message::CommitmentSigned(cs.clone()).encode().unwrap();
    match Message::decode(&bytes) {
        Ok(Message::CommitmentSigned(back)) => assert_eq!(back.signature, cs.signature),
        other => panic!("{other:?}"),
    }
}
