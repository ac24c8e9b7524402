//! Known vulnerability classes of Lightning implementations, one test
//! each, so that none comes back (issue 13, "A CVE regression list").
//! Each test names its class in its doc comment; later issues add the
//! on-chain, forwarding and gossip classes here (forwarding, issue 19:
//! `cve_forward_settled_from_own_invoice`, `cve_excessive_failback`,
//! `cve_duplicate_hash_and_amount_across_forwards`;
//! gossip, issue 17: `cve_gossip_timestamp_filter_dump`,
//! `cve_closed_channels_stay_in_the_graph`).
//!
//! The forwarding classes are in `forwarding.rs`, the gossip ones in
//! `gossip.rs`, replacement cycling (preimages from the mempool, issue
//! 15) in `replacement_cycling.rs`.
#![allow(clippy::unwrap_used)]

#[path = "../forward_support/mod.rs"]
mod forward_support;
#[path = "../funding_support/mod.rs"]
mod funding_support;
#[path = "../mempool_support/mod.rs"]
mod mempool_support;
#[path = "../node_hostile_support/mod.rs"]
mod node_hostile_support;
#[path = "../node_support/mod.rs"]
mod node_support;

mod forwarding;
mod gossip;
mod replacement_cycling;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use funding_support::{channel_id_of, Feed, Funding, Hostile};
use lightning_core::channel::htlc_policy::HtlcError;
use lightning_core::channel::{ChannelError, ErrorAction, Phase};
use lightning_test_support::pair::{open, OpenOptions, ONION};
use lightning_wire::msgs::{Message, UpdateFee};
use lightning_wire::types::PaymentHash;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated less bytes freed while armed.
    static NET: Cell<isize> = const { Cell::new(0) };
}

/// Notes the largest single allocation asked for on the current thread
/// while [`largest_allocation`] runs (tests run on threads of their own,
/// so another test's allocations are not counted).
struct LargestAllocation;

fn note(size: usize) {
    let armed = ARMED.try_with(Cell::get).unwrap_or(false);
    if armed {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        note_net(size as isize);
    }
}

fn note_net(delta: isize) {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = NET.try_with(|n| n.set(n.get().saturating_add(delta)));
    }
}

// A global allocator can only be written with `unsafe`: this one hands
// every call to `System` unchanged and only notes sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_net(-(layout.size() as isize));
        System.dealloc(ptr, layout);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        note_net(-(layout.size() as isize));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Runs `f` and returns what it returned and the largest single
/// allocation it asked for (on this thread).
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, LARGEST.with(Cell::get))
}

/// Runs `f` and returns what it returned and how many bytes it left
/// allocated (on this thread; what it freed of older allocations counts
/// against it, so this is at most what it kept).
fn retained_bytes<T>(f: impl FnOnce() -> T) -> (T, isize) {
    NET.with(|n| n.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, NET.with(Cell::get))
}

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

/// A payment onion for a final hop whose 1,300 bytes of `hop_payloads`
/// decrypt to `plaintext` (zero-padded), with a valid HMAC: what a sender
/// that writes any bytes it likes makes. Returns the packet and the secret
/// shared with `node`, to read the error that comes back.
fn final_hop_onion(
    node: &bitcoin::secp256k1::PublicKey,
    session: u8,
    plaintext: &[u8],
    payment_hash: &[u8; 32],
) -> (
    lightning_core::onion::OnionPacket,
    lightning_core::onion::SharedSecret,
) {
    use lightning_core::onion::keys;
    use lightning_core::onion::packet::PAYMENT_HOP_PAYLOADS_LEN;
    use lightning_core::onion::{OnionPacket, SharedSecret};
    let session = bitcoin::secp256k1::SecretKey::from_slice(&[session; 32]).unwrap();
    let ss = SharedSecret::new(node, &session);
    let mut hop_payloads = plaintext.to_vec();
    hop_payloads.resize(PAYMENT_HOP_PAYLOADS_LEN, 0);
    keys::apply_stream(
        &keys::derive_key(keys::RHO, ss.as_bytes()),
        &mut hop_payloads,
    );
    let hmac = keys::hmac_sha256(
        &keys::derive_key(keys::MU, ss.as_bytes()),
        &[&hop_payloads, payment_hash],
    );
    let packet = OnionPacket {
        version: 0,
        public_key: session
            .public_key(bitcoin::secp256k1::SECP256K1)
            .serialize(),
        hop_payloads,
        hmac,
    };
    (packet, ss)
}

/// `len` as a BigSize (canonical).
fn bigsize(len: u64) -> Vec<u8> {
    use lightning_wire::Encode;
    let mut out = Vec::new();
    lightning_wire::bigsize::BigSize(len).encode(&mut out);
    out
}

/// Class: **onion hop-payload length bombs** (the "onion bomb" class: a
/// Sphinx or TLV decoder that allocates, or slices, by a length it read;
/// a BigSize length in a 1,300-byte packet can claim up to 2^64 - 1
/// bytes). A hop payload whose length runs past the packet, or a TLV
/// record inside it whose length runs past the payload, must fail the
/// peel with a typed error and no allocation of the claimed size, and the
/// HTLC must go back with BOLT 4 `invalid_onion_payload` (PERM|22) in an
/// `update_fail_htlc` (it is not a `BADONION` failure, so not malformed),
/// naming the TLV type and offset where it can (BOLT 4, "Returning
/// Errors": "if the per-hop payload in the onion is invalid (e.g. it is
/// not a valid tlv stream) ... return an `invalid_onion_payload` error").
#[test]
fn cve_onion_hop_payload_length_bombs() {
    use lightning_core::channel::HtlcFailReason;
    use lightning_core::onion::{
        decode_error_packet, peel_packet, process_htlc_onion, FailureCode, FailureReason,
        HopPayload, IncomingHtlc, PeelError,
    };
    use lightning_wire::Encode;
    use node_hostile_support::Funded;

    let mut s = Funded::usable();
    let node_id = s.node.node_id();
    let node_secret = bitcoin::secp256k1::SecretKey::from_slice(&[0x55; 32]).unwrap();
    let node_point = node_secret.public_key(bitcoin::secp256k1::SECP256K1);
    let hash = [0x4b; 32];
    // (what the payload decrypts to, the failure BOLT 4 asks for)
    let mut bombs: Vec<(String, Vec<u8>, FailureReason)> = Vec::new();
    // The frame's length: 1,266 is the first that does not fit with its
    // HMAC after a 3-byte BigSize in 1,300 bytes.
    for len in [1_266, 65_535, u64::from(u32::MAX), u64::MAX] {
        bombs.push((
            format!("hop payload length {len}"),
            bigsize(len),
            FailureReason::InvalidOnionPayload {
                r#type: 0,
                offset: 0,
            },
        ));
    }
    // A framed payload of 2 + 9 bytes whose record type 2
    // (`amt_to_forward`) claims 2^64 - 1 bytes; and a record type 16
    // (`payment_metadata`, a byte string) after a valid type 2, claiming
    // 65,535.
    let mut tlv = vec![2];
    tlv.extend(bigsize(u64::MAX));
    let mut framed = bigsize(tlv.len() as u64);
    framed.extend(&tlv);
    bombs.push((
        "amt_to_forward of 2^64 - 1 bytes".into(),
        framed,
        FailureReason::InvalidOnionPayload {
            r#type: 2,
            offset: 0,
        },
    ));
    let mut tlv = vec![2, 2, 0x4e, 0x20, 16];
    tlv.extend(bigsize(65_535));
    tlv.extend([0; 16]);
    let mut framed = bigsize(tlv.len() as u64);
    framed.extend(&tlv);
    bombs.push((
        "payment_metadata of 65,535 bytes".into(),
        framed,
        FailureReason::InvalidOnionPayload {
            r#type: 16,
            offset: 4,
        },
    ));

    let mut wrong = Vec::new();
    for (i, (what, plaintext, expected)) in bombs.iter().enumerate() {
        // The decoders alone, with a key of our own: a typed error and no
        // allocation anywhere near the claimed length (the peel itself
        // needs one 2,600-byte buffer).
        let (packet, _) = final_hop_onion(&node_point, 0x60 + i as u8, plaintext, &hash);
        let (peeled, largest) = largest_allocation(|| peel_packet(&packet, &hash, &node_secret));
        let framing_bomb = expected
            == &FailureReason::InvalidOnionPayload {
                r#type: 0,
                offset: 0,
            };
        match (&peeled, framing_bomb) {
            (Err(e @ PeelError::InvalidPayloadFraming { .. }), true)
                if e.failure_code() == FailureCode::INVALID_ONION_PAYLOAD => {}
            (Ok(hop), false) => {
                let (decoded, largest) =
                    largest_allocation(|| HopPayload::decode_payload(&hop.payload));
                match decoded {
                    Err(e)
                        if expected
                            == &FailureReason::InvalidOnionPayload {
                                r#type: e.r#type,
                                offset: e.offset,
                            } => {}
                    other => wrong.push(format!("{what}: decode_payload gave {other:?}")),
                }
                if largest > 4_096 {
                    wrong.push(format!("{what}: decode_payload allocated {largest} bytes"));
                }
            }
            other => wrong.push(format!("{what}: peel gave {other:?}")),
        }
        if largest > 4_096 {
            wrong.push(format!("{what}: the peel allocated {largest} bytes"));
        }
        let htlc = IncomingHtlc {
            onion: &packet,
            payment_hash: PaymentHash(hash),
            amount_msat: 10_000,
            cltv_expiry: 1_000,
            path_key: None,
        };
        let (processed, largest) =
            largest_allocation(|| process_htlc_onion(&node_secret, &htlc, None));
        match processed {
            Err(f) if !f.malformed && f.shared_secret.is_some() && &f.reason == expected => {}
            other => wrong.push(format!("{what}: process_htlc_onion gave {other:?}")),
        }
        if largest > 4_096 {
            wrong.push(format!("{what}: processing allocated {largest} bytes"));
        }

        // The same bomb in an HTLC to a real node over a funded channel:
        // failed back with `update_fail_htlc`, the channel goes on.
        let (packet, ss) = final_hop_onion(&node_id, 0x70 + i as u8, plaintext, &hash);
        let mut onion = Vec::new();
        packet.encode(&mut onion);
        let cltv = s.chain.best_block().height + 40;
        match s.offer_answer(10_000, hash, cltv, onion) {
            Err(HtlcFailReason::Onion(reason)) => {
                let decoded = decode_error_packet(&[ss], &reason, None);
                let got = decoded.message.map(|m| m.reason);
                if decoded.failing_hop != Some(0) || got.as_ref() != Some(expected) {
                    wrong.push(format!("{what}: the node failed it with {got:?}"));
                }
            }
            other => wrong.push(format!("{what}: the node answered {other:?}")),
        }
    }
    // No bomb hurt the channel: an honest payment still goes through.
    assert!(s.pay_node(20_000, 0x33), "a payment after the bombs");
    assert!(s.node.list_channels()[0].is_usable);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A signed BOLT 11 invoice written by hand (so that it may break the
/// writer's limits): regtest, `amount` as written in the hrp, the current
/// time, `p`, `s`, a short `d`, then `extra` fields of type 31 (unknown,
/// skipped by readers) of 1,023 values each (the most a field's 10-bit
/// length allows, BOLT 11 "Tagged Fields"), signed with `key`.
fn hand_made_invoice(extra: usize, key: &bitcoin::secp256k1::SecretKey) -> String {
    hand_made_invoice_claiming(extra, key, None)
}

/// [`hand_made_invoice`] whose `d` field's header claims `d_len` values
/// (it has 5).
fn hand_made_invoice_claiming(
    extra: usize,
    key: &bitcoin::secp256k1::SecretKey,
    d_len: Option<usize>,
) -> String {
    use bitcoin::hashes::{sha256, Hash};
    const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    fn to_values(bytes: &[u8]) -> Vec<u8> {
        let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
        for b in bytes {
            acc = acc << 8 | u32::from(*b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push((acc >> bits) as u8 & 31);
            }
        }
        if bits > 0 {
            out.push((acc << (5 - bits)) as u8 & 31);
        }
        out
    }
    fn to_bytes(values: &[u8]) -> Vec<u8> {
        let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
        for v in values {
            acc = acc << 5 | u32::from(*v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            out.push((acc << (8 - bits)) as u8);
        }
        out
    }
    fn field_claiming(out: &mut Vec<u8>, tag: u8, data: &[u8], len: usize) {
        out.extend([tag, (len >> 5) as u8 & 31, (len & 31) as u8]);
        out.extend_from_slice(data);
    }
    fn field(out: &mut Vec<u8>, tag: u8, data: &[u8]) {
        field_claiming(out, tag, data, data.len());
    }
    fn polymod(values: impl Iterator<Item = u8>) -> u32 {
        const GEN: [u32; 5] = [
            0x3b6a_57b2,
            0x2650_8e6d,
            0x1ea1_19fa,
            0x3d42_33dd,
            0x2a14_62b3,
        ];
        let mut chk = 1u32;
        for v in values {
            let top = chk >> 25;
            chk = (chk & 0x1ff_ffff) << 5 ^ u32::from(v);
            for (i, g) in GEN.iter().enumerate() {
                if (top >> i) & 1 == 1 {
                    chk ^= g;
                }
            }
        }
        chk
    }
    let hrp = "lnbcrt10u";
    let now = node_hostile_support::NOW.as_secs();
    let mut data: Vec<u8> = (0..7).rev().map(|i| (now >> (5 * i)) as u8 & 31).collect();
    field(&mut data, 1, &to_values(&[0x5a; 32])); // p
    field(&mut data, 16, &to_values(&[0x5b; 32])); // s
    let d = to_values(b"big");
    field_claiming(&mut data, 13, &d, d_len.unwrap_or(d.len())); // d
    for i in 0..extra {
        field(&mut data, 31, &vec![i as u8 & 31; 1023]);
    }
    let mut signed = hrp.as_bytes().to_vec();
    signed.extend(to_bytes(&data));
    let digest = sha256::Hash::hash(&signed).to_byte_array();
    let msg = bitcoin::secp256k1::Message::from_digest(digest);
    let (recid, rs) = bitcoin::secp256k1::SECP256K1
        .sign_ecdsa_recoverable(&msg, key)
        .serialize_compact();
    let mut sig = rs.to_vec();
    sig.push(recid.to_i32() as u8);
    data.extend(to_values(&sig));
    let expanded = hrp
        .bytes()
        .map(|b| b >> 5)
        .chain([0])
        .chain(hrp.bytes().map(|b| b & 31));
    let chk = polymod(expanded.chain(data.iter().copied()).chain([0; 6])) ^ 1;
    let mut s = format!("{hrp}1");
    s.extend(data.iter().map(|v| CHARSET[usize::from(*v)] as char));
    s.extend((0..6).map(|i| CHARSET[(chk >> (5 * (5 - i))) as usize & 31] as char));
    s
}

/// Class: **oversized invoices** (BOLT 11 lifts BIP-173's 90-character
/// limit and sets none; a reader that checks nothing decodes, checksums
/// and packs whatever it is handed, and an invoice is exactly the input a
/// payer takes from a stranger). The reader refuses a string over
/// `MAX_INVOICE_LEN` (7,089) characters with a typed error before
/// decoding any of it, and without allocating by its length; a field
/// cannot claim more than 1,023 values (its length has 10 bits) nor run
/// past the signature; the writer refuses a field over 1,023 values and
/// an invoice over the bound. A `Node` asked to pay such a string refuses
/// with `NodeError::InvalidInvoice` and offers nothing.
#[test]
fn cve_oversized_invoices() {
    use lightning_core::node::NodeError;
    use lightning_wire::bolt11::{
        Bolt11Invoice, Bolt11ParseError, BuildError, Currency, InvoiceBuilder, PaymentSecret,
        MAX_INVOICE_LEN,
    };
    let key = bitcoin::secp256k1::SecretKey::from_slice(&[0x21; 32]).unwrap();
    let mut wrong = Vec::new();

    // Six maximal unknown fields: a valid invoice under the bound, read.
    let big = hand_made_invoice(6, &key);
    assert!(big.len() <= MAX_INVOICE_LEN, "{}", big.len());
    match big.parse::<Bolt11Invoice>() {
        Ok(inv) => assert_eq!(inv.other_fields().len(), 6),
        Err(e) => wrong.push(format!("a {}-character invoice: {e}", big.len())),
    }
    // Seven (over the bound) and 2,000 (2 MB), valid and signed all the
    // same: refused for their length, before any decoding.
    for extra in [7, 2_000] {
        let s = hand_made_invoice(extra, &key);
        let (parsed, largest) = largest_allocation(|| s.parse::<Bolt11Invoice>());
        match parsed {
            Err(Bolt11ParseError::TooLong { len, max })
                if len == s.len() && max == MAX_INVOICE_LEN => {}
            other => wrong.push(format!(
                "a {}-character invoice: {:?}",
                s.len(),
                other.map(|i| i.other_fields().len())
            )),
        }
        if largest > 4_096 {
            wrong.push(format!(
                "reading a {}-character invoice allocated {largest} bytes",
                s.len()
            ));
        }
    }
    // 10 MB of junk after a valid prefix.
    let junk = format!("lnbcrt10u1{}", "q".repeat(10_000_000));
    let (parsed, largest) = largest_allocation(|| junk.parse::<Bolt11Invoice>());
    if !matches!(parsed, Err(Bolt11ParseError::TooLong { .. })) || largest > 4_096 {
        wrong.push(format!(
            "10 MB of junk: {:?}, largest allocation {largest}",
            parsed.map(|_| ())
        ));
    }
    // A field's header can claim at most 1,023 values (10 bits); one that
    // runs past the signature is refused (here `d` claims 1,023 of the 5
    // it has, in an invoice otherwise valid, checksum and signature
    // included).
    match hand_made_invoice_claiming(0, &key, Some(1_023)).parse::<Bolt11Invoice>() {
        Err(Bolt11ParseError::FieldOverrun('d')) => {}
        other => wrong.push(format!("a d field claiming 1,023 values: {other:?}")),
    }
    // The same with its true length reads.
    if let Err(e) = hand_made_invoice_claiming(0, &key, Some(5)).parse::<Bolt11Invoice>() {
        wrong.push(format!("the hand-made invoice: {e}"));
    }

    // The writer: a 640-byte description is over 1,023 values; a field of
    // 1,024 values too; seven unknown fields of 1,023 would pass the
    // bound.
    let builder = || {
        InvoiceBuilder::new(Currency::Regtest)
            .amount_msat(1_000)
            .timestamp(1_700_000_000)
            .payment_hash(
                <bitcoin::hashes::sha256::Hash as bitcoin::hashes::Hash>::hash(b"x").into(),
            )
            .payment_secret(PaymentSecret([1; 32]))
    };
    match builder().description("x".repeat(640)).build_signed(&key) {
        Err(BuildError::FieldTooLong('d')) => {}
        other => wrong.push(format!("a 640-byte description: {:?}", other.map(|_| ()))),
    }
    match builder()
        .description("x")
        .unknown_field(31, vec![0; 1_024])
        .build_signed(&key)
    {
        Err(BuildError::FieldTooLong('l')) => {}
        other => wrong.push(format!("a field of 1,024 values: {:?}", other.map(|_| ()))),
    }
    let mut b = builder().description("x");
    for _ in 0..7 {
        b = b.unknown_field(31, vec![0; 1_023]);
    }
    match b.build_signed(&key) {
        Err(BuildError::TooLong { len, max }) if len > max && max == MAX_INVOICE_LEN => {}
        other => wrong.push(format!(
            "an invoice over the bound: {:?}",
            other.map(|_| ())
        )),
    }

    // A node asked to pay one refuses with a typed error, offers nothing.
    let mut net = node_support::Net::new(false, false);
    net.open_channel(500_000, 0);
    let huge = hand_made_invoice(2_000, &key);
    let now = net.now;
    match net.a.node.pay_invoice_str(&huge, now) {
        Err(NodeError::InvalidInvoice(Bolt11ParseError::TooLong { .. })) => {}
        other => wrong.push(format!("the node paying a 2 MB invoice: {other:?}")),
    }
    assert!(net.a.node.list_payments().is_empty());
    assert!(!net.a.node.has_held_messages());
    net.pay(true, 1_000);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Class: **fake-channel DoS** (disclosed against the four main
/// implementations in 2023: a peer opens channels it never funds, or
/// funds with a transaction it never broadcasts, and each costs the
/// fundee memory, a record and a key). One peer, then many, flood
/// `open_channel`s: the node keeps at most `InboundLimits`' 4 unfunded
/// inbound channels per peer and 64 in all, refuses the rest with an
/// `error` before spending anything on them, writes nothing of any of
/// them but the keys index block (one write per 32 indexes), and hands out
/// keys indexes only to the channels it kept.
#[test]
fn cve_fake_channel_dos() {
    use lightning_persist::KvStore;
    use lightning_wire::types::ChannelId;
    use node_hostile_support::{lone_node, node_config, Got, Raw};
    use std::collections::BTreeMap;

    let (mut node, store, _chain) = lone_node(8, node_config());
    let limits = node.config().inbound;
    assert_eq!(
        (limits.max_unfunded_per_peer, limits.max_unfunded_total),
        (4, 64)
    );
    let stored = |store: &lightning_persist::MemoryStore| -> Vec<String> {
        store.list_prefix("node", "").unwrap()
    };
    let before = stored(&store);
    assert!(!before.iter().any(|k| k == "meta/keys_index"));

    // Sends `n` opens from `raw` in one burst; returns (accepted, refused).
    let burst = |node: &mut lightning_core::node::Node, raw: &mut Raw, tag: u8, n: u8| {
        for i in 0..n {
            let mut temp = [tag; 32];
            temp[31] = i;
            let (_c, open) = raw.new_channel(u32::from(i), ChannelId(temp), 100_000);
            raw.queue(&open);
        }
        raw.shuttle(node);
        let got = raw.take();
        let accepted = got
            .iter()
            .filter(|g| matches!(g, Got::Message(Message::AcceptChannel(_))))
            .count();
        let refused = got.iter().filter(|g| matches!(g, Got::Error(..))).count();
        (accepted, refused)
    };

    // One peer, 40 opens.
    let mut first = Raw::connect(&mut node, 0x10);
    assert_eq!(burst(&mut node, &mut first, 0x10, 40), (4, 36));
    assert_eq!(node.list_channels().len(), 4);
    // 40 more peers, 10 opens each: 60 more fit the global cap.
    let mut peers = Vec::new();
    let mut accepted = 0;
    for p in 0..40u8 {
        let mut raw = Raw::connect(&mut node, 0x20 + p);
        let (a, r) = burst(&mut node, &mut raw, 0x20 + p, 10);
        assert_eq!(a + r, 10, "peer {p}: every open answered");
        accepted += a;
        peers.push(raw);
    }
    assert_eq!(accepted, 60);
    let channels = node.list_channels();
    assert_eq!(channels.len(), 64);
    let mut per_peer: BTreeMap<_, usize> = BTreeMap::new();
    for c in &channels {
        assert!(c.funding_txo.is_none() && !c.is_usable);
        *per_peer.entry(c.counterparty).or_default() += 1;
    }
    assert!(per_peer.values().all(|n| *n <= 4), "{per_peer:?}");
    // Every peer is still connected (a cap refuses the channel, not the
    // peer), and a new peer is refused.
    assert!(peers.iter().all(|p| p.connected(&node)));
    let mut late = Raw::connect(&mut node, 0x70);
    assert_eq!(burst(&mut node, &mut late, 0x70, 3), (0, 3));

    // Nothing durable but the keys index, reserved in two blocks of 32
    // for the 64 kept: the 379 refused opens spent no index.
    let after = stored(&store);
    let new: Vec<_> = after.iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(new, ["meta/keys_index"], "{after:?}");
    let index = store.read("node", "meta/keys_index").unwrap().unwrap();
    assert_eq!(
        index.value,
        64u32.to_be_bytes(),
        "keys indexes reserved up to 64"
    );
    assert!(index.version <= 2, "{} writes of the index", index.version);
}

/// A message for a channel nobody has: the node answers each with a
/// `warning` (BOLT 1), so a peer that sends them makes it queue replies.
fn unknown_channel_ready(n: u32) -> Message {
    let mut id = [0xc3; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    Message::ChannelReady(lightning_wire::msgs::ChannelReady {
        channel_id: lightning_wire::types::ChannelId(id),
        second_per_commitment_point: bitcoin::secp256k1::PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).unwrap(),
        ),
        tlvs: Default::default(),
    })
}

/// Class: **infinite inbox** (a peer that never reads its socket while it
/// makes the node answer: every reply waits in memory for ever, the
/// unbounded outbound queue of several implementations' early versions).
/// The peer layer holds at most 1 MiB for a connection; past it the node
/// holds at most `max_queued_messages_per_peer` messages, and one more
/// disconnects the peer with a `warning` (`PeerError::NodeQueueFull`).
/// Another peer's replies and an honest peer's payments go on meanwhile.
#[test]
fn cve_infinite_inbox() {
    use node_hostile_support::{Got, Raw};
    let mut net = node_support::Net::new(false, false);
    let channel = net.open_channel(500_000, 0);
    let limit = net.b.node.config().max_queued_messages_per_peer;
    assert_eq!(limit, 4_096);
    let mut slow = Raw::connect(&mut net.b.node, 0x90);
    let mut fast = Raw::connect(&mut net.b.node, 0x91);
    slow.reads = false;
    let mut sent = 0u32;
    let mut paid = 0u32;
    while slow.connected(&net.b.node) {
        assert!(sent < 60_000, "the silent peer is never cut off");
        for _ in 0..1_000 {
            slow.queue(&unknown_channel_ready(sent));
            sent += 1;
        }
        slow.shuttle(&mut net.b.node);
        // Meanwhile: another peer is answered, Alice's payment completes.
        fast.send(&mut net.b.node, &unknown_channel_ready(sent));
        assert!(
            fast.take().iter().any(|g| matches!(g, Got::Warning(..))),
            "the other peer's reply waits behind the silent one"
        );
        let before = node_support::Net::local_msat(&net.b.node, channel);
        net.pay(true, 1_000);
        assert_eq!(
            node_support::Net::local_msat(&net.b.node, channel),
            before + 1_000
        );
        paid += 1;
    }
    // Cut off only once the node itself held more than its bound, after
    // the peer layer's 1 MiB (85 bytes on the wire per warning).
    let peer_layer: usize = (1 << 20) / 85;
    assert!(
        sent as usize > peer_layer + 4_096,
        "cut off after {sent} messages"
    );
    // What it gets when it reads at last ends with the node's warning.
    slow.reads = true;
    slow.shuttle(&mut net.b.node);
    let got = slow.take();
    let last = got.iter().rev().find_map(|g| match g {
        Got::Warning(_, data) => Some(String::from_utf8_lossy(data).into_owned()),
        _ => None,
    });
    let expected = lightning_core::peer::PeerError::NodeQueueFull { limit }.to_string();
    assert!(
        last.as_deref().is_some_and(|w| w.contains(&expected)),
        "{last:?}"
    );
    println!(
        "silent peer cut off after {sent} messages, {} held for it; {paid} payments meanwhile",
        got.len()
    );
    assert!(
        got.len() <= peer_layer + limit + 2,
        "{} messages were held for it",
        got.len()
    );
    // The others are still served.
    fast.send(&mut net.b.node, &unknown_channel_ready(0));
    assert!(fast.take().iter().any(|g| matches!(g, Got::Warning(..))));
    net.pay(true, 1_000);
    assert!(net.usable(channel));
}

/// An `announcement_signatures` for `channel_id` with a made-up
/// `short_channel_id` and signatures that are well formed (they sign
/// nothing the node could check).
fn announcement_signatures(channel_id: lightning_wire::types::ChannelId) -> Message {
    use bitcoin::secp256k1::{Message as Digest, SecretKey, SECP256K1};
    let key = SecretKey::from_slice(&[0x77; 32]).unwrap();
    let sig = SECP256K1.sign_ecdsa(&Digest::from_digest([1; 32]), &key);
    Message::AnnouncementSignatures(lightning_wire::msgs::AnnouncementSignatures {
        channel_id,
        short_channel_id: lightning_wire::types::ShortChannelId(700_000 << 40 | 1 << 16),
        node_signature: sig,
        bitcoin_signature: sig,
        tlvs: Default::default(),
    })
}

/// The raw funder's `channel_ready`, with `point` and `alias` of the
/// caller's.
fn raw_channel_ready(
    s: &node_hostile_support::Funded,
    point: bitcoin::secp256k1::PublicKey,
    alias: Option<u64>,
) -> Message {
    Message::ChannelReady(lightning_wire::msgs::ChannelReady {
        channel_id: s.ch.channel_id(),
        second_per_commitment_point: point,
        tlvs: lightning_wire::msgs::ChannelReadyTlvs {
            short_channel_id: alias.map(lightning_wire::types::ShortChannelId),
            unknown: Default::default(),
        },
    })
}

/// Sends `m` from the raw peer and returns what came back.
fn answers(s: &mut node_hostile_support::Funded, m: &Message) -> Vec<node_hostile_support::Got> {
    assert!(s.raw.got.is_empty(), "{:?}", s.raw.got);
    s.raw.send(&mut s.node, m);
    s.raw.take()
}

/// The node's only channel: (phase, local balance).
fn the_channel(s: &node_hostile_support::Funded) -> (Phase, u64) {
    let c = &s.node.list_channels()[0];
    (c.phase, c.local_balance_msat.0)
}

/// Class: **zero-conf message-order races** (the early
/// `announcement_signatures` and second `channel_ready` class: messages
/// that an implementation does not expect in the phase a zero-conf channel
/// is in, used to crash it or to make it overwrite channel state). What
/// the BOLTs ask, and what the node must do:
///
/// - `announcement_signatures` before `channel_ready`, or before six
///   confirmations (a zero-conf channel is used at depth 0): BOLT 7, "The
///   `announcement_signatures` Message": "if it has not sent
///   `channel_ready`: MAY defer handling the announcement_signatures until
///   after it has sent `channel_ready`; otherwise: MUST ignore it". The
///   node announces no channel (it never sets `announce_channel`), so it
///   ignores every `announcement_signatures`: no answer, no state change,
///   the connection stays.
/// - A second `channel_ready` with the same point: BOLT 2 ("Message
///   Retransmission"): "MUST ignore any redundant `channel_ready` it
///   receives"; with another `alias`, BOLT 2 "The `channel_ready`
///   Message": a sender "MAY send multiple `channel_ready` messages to the
///   same peer with different `alias` values" and the receiver "MAY use any
///   of the `alias` it received": ignored too (the first alias is kept).
/// - A second `channel_ready` whose `second_per_commitment_point` differs
///   (the sender "MUST set `second_per_commitment_point` to the
///   per-commitment point to be used for commitment transaction #1"; the
///   BOLTs name no answer): before commitment 1 was signed, a protocol
///   violation answered with a `warning` and a disconnection (the point is
///   not replaced, the channel is not failed, the peer may reconnect);
///   after it, a retransmission of no consequence, ignored. Either way the
///   channel's state and balances are untouched, and payments go on.
#[test]
fn cve_zero_conf_message_order_races() {
    use lightning_core::keys::ChannelSigner;
    use node_hostile_support::{Funded, Got, Raw};
    let quiet = |got: &[Got]| got.is_empty();

    // Zero-conf (a trusted peer): the node sent `channel_ready` with
    // `funding_signed`; the peer's has not come, nothing has confirmed.
    let mut s = Funded::funding_created(true);
    let held = s.raw.take();
    assert!(
        held.iter()
            .any(|g| matches!(g, Got::Message(Message::ChannelReady(_)))),
        "zero-conf: the node is ready at once: {held:?}"
    );
    let id = s.ch.channel_id();
    let before = the_channel(&s);
    assert_eq!(before.0, Phase::AwaitingChannelReady);
    let got = answers(&mut s, &announcement_signatures(id));
    assert!(quiet(&got), "before channel_ready: {got:?}");
    assert!(s.raw.connected(&s.node));
    assert_eq!(the_channel(&s), before);
    // The peer's side catches up; the channel is usable at depth 0.
    for g in held {
        let Got::Message(m) = g else { panic!("{g:?}") };
        if !node_hostile_support::is_for_the_channel(&m) {
            continue;
        }
        let out = s.ch.handle_message(&m).unwrap();
        for m in out.messages {
            s.raw.queue(&m);
        }
    }
    s.pump();
    assert_eq!(s.ch.phase(), Phase::Normal);
    assert!(s.node.list_channels()[0].is_usable);
    let ready = the_channel(&s);
    // Before six confirmations (none here).
    let got = answers(&mut s, &announcement_signatures(id));
    assert!(quiet(&got), "at depth 0: {got:?}");
    // The same channel_ready again, and with another alias.
    let point = s.ch.signer().holder_per_commitment_point(1).unwrap();
    for alias in [None, Some(0x0102_0304), Some(0x0506_0708)] {
        let got = {
            let m = raw_channel_ready(&s, point, alias);
            answers(&mut s, &m)
        };
        assert!(quiet(&got), "channel_ready again, alias {alias:?}: {got:?}");
    }
    assert_eq!(the_channel(&s), ready);
    // Payments both use and move the state.
    assert!(s.pay_node(30_000, 0x34));
    let paid = the_channel(&s);
    assert_eq!(paid.1, ready.1 + 30_000);
    // Commitment 1 is signed: another point is a retransmission to
    // ignore, and must not become the peer's next point (the next
    // payment's signatures would not verify).
    let other = bitcoin::secp256k1::PublicKey::from_secret_key(
        bitcoin::secp256k1::SECP256K1,
        &bitcoin::secp256k1::SecretKey::from_slice(&[0x99; 32]).unwrap(),
    );
    let got = {
        let m = raw_channel_ready(&s, other, Some(9));
        answers(&mut s, &m)
    };
    assert!(quiet(&got), "a stale channel_ready: {got:?}");
    let got = answers(&mut s, &announcement_signatures(id));
    assert!(quiet(&got), "after payments: {got:?}");
    assert!(s.pay_node(40_000, 0x35));
    assert_eq!(the_channel(&s).1, paid.1 + 40_000);

    // Not zero-conf: announcement_signatures and an early channel_ready
    // before the funding confirms, a second one after, then one with
    // another point before commitment 1.
    let mut s = Funded::funding_created(false);
    s.pump();
    let id = s.ch.channel_id();
    let got = answers(&mut s, &announcement_signatures(id));
    assert!(quiet(&got), "unconfirmed: {got:?}");
    let point = s.ch.signer().holder_per_commitment_point(1).unwrap();
    let got = {
        let m = raw_channel_ready(&s, point, None);
        answers(&mut s, &m)
    };
    assert!(quiet(&got), "an early channel_ready: {got:?}");
    assert_eq!(the_channel(&s).0, Phase::AwaitingChannelReady);
    // The peer's own channel_ready follows at depth 3: a redundant one.
    s.confirm(3);
    assert!(s.node.list_channels()[0].is_usable);
    let ready = the_channel(&s);
    let got = {
        let m = raw_channel_ready(&s, other, None);
        answers(&mut s, &m)
    };
    assert!(
        got.iter().any(|g| matches!(g, Got::Warning(..)))
            && !got.iter().any(|g| matches!(g, Got::Error(..))),
        "another point before commitment 1: {got:?}"
    );
    assert!(!s.raw.connected(&s.node), "a warning closes the connection");
    assert_eq!(the_channel(&s), ready, "the channel is not failed");
    let mut closed = Vec::new();
    while let Some(e) = s.node.poll_event() {
        if matches!(e, lightning_core::node::Event::ChannelClosed { .. }) {
            closed.push(e);
        }
    }
    assert!(closed.is_empty(), "{closed:?}");
    // The peer reconnects and the channel works with the original point.
    s.raw = Raw::reconnect(&mut s.node, 0x41);
    let _ = s.ch.peer_disconnected();
    let reestablish = s.ch.peer_reconnected().unwrap();
    s.raw.queue(&Message::ChannelReestablish(reestablish));
    s.pump();
    assert!(s.pay_node(50_000, 0x36), "a payment after reconnecting");
    assert_eq!(the_channel(&s).1, ready.1 + 50_000);
}

/// Monotonic fee bumping (issue 15; the LND sweeper replacement-stalling
/// class): an attacker replaces our time-sensitive claim with a
/// conflicting spend and lets it leave the mempool, or the estimator's
/// rate collapses, and a fee function that restarts from the estimate
/// would bring our claim back to a low rate each time, stalling it past
/// its deadline. Our schedule never goes below the last broadcast, outbids
/// the conflict in rate and in fee, survives a restart from its persisted
/// bytes, and still reaches its maximum by the deadline.
#[test]
fn cve_monotonic_fee_bumping() {
    use bitcoin::Amount;
    use lightning_chain::FeeRate;
    use lightning_core::onchain::bump::{
        justice_deadline, next_bump, FeeBumpState, MIN_FEERATE_INCREMENT,
    };
    let weight = 800u64;
    let confirmed_at = 1_000;
    let deadline = justice_deadline(confirmed_at, 20);
    let cap = FeeRate::from_sat_per_kw(40_000);
    let mut state = FeeBumpState::new(deadline, cap);
    let mut last = 0u32;
    let mut last_fee = Amount::ZERO;
    for height in confirmed_at..=deadline + 2 {
        // The attacker's conflict appears at 12,000 sat/kw at block 1005,
        // then vanishes; the estimate collapses to the floor from then on.
        if height == confirmed_at + 5 {
            state.record_conflict(Amount::from_sat(12_000 * weight / 1000), weight);
        }
        let estimate = if height < confirmed_at + 5 {
            FeeRate::from_sat_per_kw(2_000)
        } else {
            FeeRate::FLOOR
        };
        // A restart every block: the schedule lives in its bytes.
        state = FeeBumpState::decode(&state.encode()).unwrap();
        if let Some(rate) = next_bump(&state, height, estimate) {
            let r = rate.sat_per_kw();
            assert!(r > last, "block {height}: {r} after {last}");
            if height >= confirmed_at + 5 {
                assert!(r >= 12_000 + MIN_FEERATE_INCREMENT, "block {height}: {r}");
            }
            let fee = Amount::from_sat(u64::from(r) * weight / 1000);
            assert!(state.is_valid_replacement(fee, weight), "block {height}");
            assert!(fee > last_fee);
            state.record_broadcast(height, rate, fee, weight);
            last = r;
            last_fee = fee;
        }
        assert_eq!(state.last_feerate().map(|f| f.sat_per_kw()), Some(last));
    }
    assert_eq!(last, cap.sat_per_kw(), "the cap is reached by the deadline");
}

/// Offers HTLC `n` (hash and CLTV from `n`) of `amount_msat` from A (or B)
/// and runs the dance to the end.
fn onchain_offer(
    p: &mut lightning_test_support::pair::Pair,
    from_a: bool,
    n: u64,
    amount_msat: u64,
) -> lightning_core::onchain::HtlcCandidate {
    use lightning_core::channel::update_log::Side;
    let hash = lightning_test_support::pair::preimage(n).1;
    let sender = if from_a { &mut p.a } else { &mut p.b };
    let (_, out) = sender
        .ch
        .send_htlc(amount_msat, hash, 700_000 + n as u32, ONION.to_vec())
        .unwrap();
    sender.apply(out);
    let out = sender.ch.commit().unwrap();
    sender.apply(out);
    p.run_until_quiet();
    lightning_core::onchain::HtlcCandidate {
        offerer: if from_a { Side::Local } else { Side::Remote },
        amount_msat,
        payment_hash: hash,
        cltv_expiry: 700_000 + n as u32,
    }
}

/// Fulfils HTLC `id` (offered by A when `to_b`) with preimage `n`.
fn onchain_fulfill(p: &mut lightning_test_support::pair::Pair, to_b: bool, id: u64, n: u64) {
    let receiver = if to_b { &mut p.b } else { &mut p.a };
    let out = receiver
        .ch
        .fulfill_htlc(id, lightning_test_support::pair::preimage(n).0)
        .unwrap();
    receiver.apply(out);
    let out = receiver.ch.commit().unwrap();
    receiver.apply(out);
    p.run_until_quiet();
}

/// On-chain class: duplicate HTLCs (same hash, amount and expiry, so the
/// same script) on a revoked commitment, settled and folded out of the
/// update log since. The node's history keeps one candidate for both (it
/// deduplicates); both outputs must still be recognised and each claimed
/// by a justice transaction of its own, so that the cheater spending one
/// of them first can never invalidate the claim on the other (the class
/// of conflicting aggregated claims, LDK ≤ 0.0.125, and of matching HTLC
/// outputs by hash+amount alone).
#[test]
fn duplicate_htlcs_on_a_revoked_commitment_are_both_punished() {
    use lightning_core::amount::FeeratePerKw;
    use lightning_core::onchain::*;
    for anchors in [false, true] {
        let mut o = OpenOptions::default();
        o.a_config.anchors = anchors;
        o.b_config.anchors = anchors;
        let mut p = open(o);
        let h = onchain_offer(&mut p, true, 1, 25_000_000);
        let h2 = onchain_offer(&mut p, true, 1, 25_000_000);
        assert_eq!(h, h2);
        let revoked = p.b.ch.holder_commitment().unwrap().commitment;
        onchain_fulfill(&mut p, true, 0, 1);
        onchain_fulfill(&mut p, true, 1, 1);
        onchain_offer(&mut p, false, 3, 1_000_000);
        let kind = classify_spend(p.a.ch.state(), p.a.ch.signer(), &revoked, &[h]).unwrap();
        let SpendKind::CounterpartyRevoked(rc) = &kind else {
            panic!("not revoked: {kind:?}")
        };
        assert_eq!(rc.htlcs.len(), 2, "both duplicate outputs matched: {rc:?}");
        assert!(rc.unmatched_outputs.is_empty());
        let r = resolve(&kind, p.a.ch.state(), &|_| None).unwrap();
        let htlc_claims: Vec<&Claim> = r
            .claims
            .iter()
            .filter(|c| matches!(c.kind, ClaimKind::RevokedHtlc { .. }))
            .collect();
        assert_eq!(htlc_claims.len(), 2);
        assert_ne!(
            htlc_claims[0].output.outpoint, htlc_claims[1].output.outpoint,
            "two outputs, two claims"
        );
        // Each claim stands alone and verifies against its output.
        let dest = bitcoin::ScriptBuf::new_op_return([1u8; 4]);
        for c in htlc_claims {
            let tx = build_claim_transaction(
                p.a.ch.signer(),
                std::slice::from_ref(c),
                dest.clone(),
                FeeratePerKw(1_000),
            )
            .unwrap();
            let spent = revoked.output[c.output.outpoint.vout as usize].clone();
            lightning_test_support::verify::verify(&tx, &[spent]).unwrap();
        }
    }
}

/// On-chain class: the preimage of an HTLC claimed on chain from an
/// *older* commitment of the peer (here a revoked one, whose HTLC the
/// cheater sweeps with an HTLC-success transaction) must be extracted
/// like one from its latest commitment (BOLT 5: "MUST extract the payment
/// preimage from the transaction input witness" of any spend of an HTLC
/// output; missing it for older commitments loses the incoming HTLC
/// upstream). The node looks at every spend of any output of the funding
/// spend, whichever commitment it is.
#[test]
fn preimage_is_extracted_from_an_older_commitment() {
    use bitcoin::{absolute::LockTime, transaction::Version, OutPoint, Sequence, TxIn, TxOut};
    use lightning_core::onchain::*;
    let mut p = open(OpenOptions::default());
    let h = onchain_offer(&mut p, true, 5, 30_000_000);
    let older = p.b.ch.holder_commitment().unwrap().commitment;
    onchain_fulfill(&mut p, true, 0, 5);
    onchain_offer(&mut p, false, 6, 1_000_000);
    let kind = classify_spend(p.a.ch.state(), p.a.ch.signer(), &older, &[h]).unwrap();
    let SpendKind::CounterpartyRevoked(rc) = &kind else {
        panic!("older commitment not recognised: {kind:?}")
    };
    let htlc = rc.htlcs.first().expect("the HTLC output");
    let (preimage, hash) = lightning_test_support::pair::preimage(5);
    // The success path of a received-HTLC script: 0 <sig> <sig> <preimage>
    // <script> (BOLT 3); signatures do not matter to the extraction.
    let spend = bitcoin::Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: older.compute_txid(),
                vout: htlc.output_index,
            },
            script_sig: bitcoin::ScriptBuf::new(),
            sequence: Sequence::ZERO,
            witness: bitcoin::Witness::from_slice(&[
                vec![],
                vec![0x30; 71],
                vec![0x30; 71],
                preimage.0.to_vec(),
                htlc.witness_script.to_bytes(),
            ]),
        }],
        output: vec![TxOut {
            value: htlc.amount,
            script_pubkey: bitcoin::ScriptBuf::new(),
        }],
    };
    let found = extract_preimages(&spend);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, preimage);
    assert_eq!(found[0].2, hash);
    assert_eq!(found[0].0.txid, older.compute_txid());
}
