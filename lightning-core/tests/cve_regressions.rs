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
            .send_htlc(2_000_000, [i; 32], 800_000, ONION.to_vec())
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
