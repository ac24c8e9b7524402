//! A hostile peer with a funded channel to a real `Node` (issue 13,
//! finding 10): the onion replay cache is on.
//!
//! The peer drives its side of the channel with the library's own
//! `Channel`, so it can offer any HTLC with any onion.
#![allow(clippy::unwrap_used)]

mod node_hostile_support;

use bitcoin::secp256k1::SecretKey;
use lightning_core::onion::{build_payment_onion, HopPayload, PaymentData};
use lightning_wire::Encode;
use node_hostile_support::{Funded, NOW};

/// Finding 10: the same onion in a second HTLC is refused (BOLT 4: a
/// packet previously "locally redeemed"), even for an invoice whose
/// checks it passes; the first is fulfilled.
#[test]
fn a_replayed_onion_is_refused() {
    let mut s = Funded::usable();
    let invoice = s.node.create_invoice(Some(20_000), "x", 3600, NOW).unwrap();
    let hash: [u8; 32] = *invoice.payment_hash().as_ref();
    let cltv = s.chain.best_block().height + 30;
    let payload = HopPayload {
        amt_to_forward: Some(20_000),
        outgoing_cltv_value: Some(cltv),
        payment_data: Some(PaymentData {
            payment_secret: invoice.payment_secret().0,
            total_msat: 20_000,
        }),
        ..HopPayload::default()
    };
    let session = SecretKey::from_slice(&[0x33; 32]).unwrap();
    let (onion, _) = build_payment_onion(&session, &[(s.node.node_id(), payload)], &hash).unwrap();
    let mut packet = Vec::new();
    onion.encode(&mut packet);

    assert!(s.offer(20_000, hash, cltv, packet.clone()), "the payment");
    assert!(!s.offer(20_000, hash, cltv, packet), "the replay");
}
