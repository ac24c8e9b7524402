//! Known vulnerability classes of Lightning implementations, one test
//! each, so that none comes back (issue 13, "A CVE regression list").
//! Each test names its class in its doc comment; later issues add the
//! on-chain, forwarding and gossip classes here.
#![allow(clippy::unwrap_used)]

mod funding_support;

use funding_support::{channel_id_of, Feed, Funding, Hostile};
use lightning_core::channel::htlc_policy::HtlcError;
use lightning_core::channel::{ChannelError, ErrorAction, Phase};
use lightning_core::testing::pair::{open, OpenOptions, ONION};
use lightning_wire::msgs::{Message, UpdateFee};
use lightning_wire::types::PaymentHash;

/// Class: **unvalidated funding output** (CVE-2019-12998, CVE-2019-12999,
/// CVE-2019-13000). A funder names a funding outpoint whose output carries
/// less than `funding_satoshis`; a fundee that trusts the funder's word
/// makes a channel of money that is not there. The fundee must check the
/// output in the confirmed transaction and fail the channel.
#[test]
fn cve_unvalidated_funding_output() {
    let mut h = Hostile::with_defaults(Feed::FullBlocks);
    let (tx, outpoint) = h.open_and_fund(Funding::WrongAmount);
    h.mine(6, &tx);
    h.send_channel_ready(outpoint);
    assert!(!h.became_ready(), "{:?}", h.events);
    let id = channel_id_of(outpoint);
    assert!(!h
        .victim
        .list_channels()
        .iter()
        .any(|c| c.channel_id == id && c.is_usable));
    assert!(h
        .closed_reason()
        .is_some_and(|r| r.contains("funding_satoshis")));
}

/// Class: **dust exposure under `update_fee`** (the "dust HTLC exposure"
/// class, CVE-2021-41591/41592/41593). Without anchors a feerate raise
/// trims HTLCs from the commitments; their value goes to miners if a
/// commitment confirms. A raise that would push the trimmed total past
/// `max_dust_htlc_exposure_msat` is neither sent nor accepted (BOLT 2,
/// "Updating Fees: `update_fee`").
#[test]
fn cve_dust_exposure_under_update_fee() {
    let mut o = OpenOptions {
        feerate: 253,
        ..OpenOptions::default()
    };
    for c in [&mut o.a_config, &mut o.b_config] {
        c.anchors = false;
        c.max_dust_htlc_exposure_msat = 5_000_000;
    }
    let mut pair = open(o);
    // Three 2,000 sat HTLCs from the funder: untrimmed at 253 sat/kw,
    // trimmed at 2,500 in both commitments (546 + 703 * 2.5 = 2303 and
    // 546 + 663 * 2.5 = 2203 sat): 6,000,000 msat of exposure.
    for i in 0..3u8 {
        let (_, out) = pair
            .a
            .ch
            .send_htlc(2_000_000, PaymentHash([i; 32]), 800_000, ONION.to_vec())
            .unwrap();
        pair.a.apply(out);
    }
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.run_until_quiet();
    assert_eq!(pair.b.ch.phase(), Phase::Normal);

    // Both directions are checked; the failures are listed together.
    let mut wrong = Vec::new();
    // Received: a hostile funder's raise fails the channel.
    let raise = Message::UpdateFee(UpdateFee {
        channel_id: pair.b.ch.channel_id(),
        feerate_per_kw: 2_500,
        tlvs: Default::default(),
    });
    match pair.b.ch.handle_message(&raise) {
        Err(e) if e.action() == ErrorAction::FailChannel => {
            let text = e.to_string();
            if !text.starts_with("update_fee: dust exposure") {
                wrong.push(format!("failed for another reason: {text}"));
            }
        }
        other => wrong.push(format!("the fundee accepted the raise: {other:?}")),
    }
    // Sent: the funder does not propose it...
    match pair.a.ch.update_fee(2_500) {
        Err(ChannelError::CannotOffer(HtlcError::DustExposure { .. })) => {}
        other => wrong.push(format!("the funder offered the raise: {other:?}")),
    }
    // ...but a raise that trims nothing is fine.
    if let Err(e) = pair.a.ch.update_fee(300) {
        wrong.push(format!("a harmless raise was refused: {e}"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Class: **high-S (malleable) signatures** (the BIP 146 / bitcoin PR 6769
/// "LOW-S" standardness rule; a high-S signature makes a transaction
/// non-standard, so a commitment signed that way may never relay). Every
/// signature we make must be low-S, and BOLT 2 makes a peer's high-S
/// `commitment_signed` signature a reason to fail the channel. The full
/// sweep (HTLC, closing, gossip, invoice signatures, and the refusals) is
/// `tests/low_s_signatures.rs`.
#[test]
fn cve_high_s_signatures() {
    use bitcoin::secp256k1::ecdsa::Signature;
    let low = |s: &Signature| {
        let mut n = *s;
        n.normalize_s();
        n == *s
    };
    let mut pair = open(OpenOptions::default());
    let (_, out) = pair
        .a
        .ch
        .send_htlc(5_000_000, PaymentHash([7; 32]), 700_000, ONION.to_vec())
        .unwrap();
    pair.a.apply(out);
    let out = pair.a.ch.commit().unwrap();
    pair.a.apply(out);
    pair.deliver_a_to_b().unwrap(); // update_add_htlc
    let Some(Message::CommitmentSigned(cs)) = pair.a.outbox.front_mut() else {
        panic!("commitment_signed")
    };
    assert!(low(&cs.signature) && cs.htlc_signatures.iter().all(low));
    // s -> n - s: the same signature, high-S.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut c = cs.signature.serialize_compact();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(c[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        c[32 + i] = d.rem_euclid(256) as u8;
    }
    cs.signature = Signature::from_compact(&c).unwrap();
    assert!(!low(&cs.signature));
    let err = pair.deliver_a_to_b().unwrap_err();
    assert!(
        matches!(err, ChannelError::BadCommitmentSignature { .. }),
        "{err}"
    );
    assert_eq!(err.action(), ErrorAction::FailChannel);
}
