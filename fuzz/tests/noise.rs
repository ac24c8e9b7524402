//! Runs the BOLT 8 fuzz targets over their checked-in corpora.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use lightning_fuzz::{assert_corpus, corpus_dir, noise};
use lightning_wire::noise::{NoiseTransport, MAX_MESSAGE_LEN};

// Inputs that complete a handshake, or (transport) decrypt a message and
// compare it with what was sent, as measured on the checked-in corpora.
const NOISE_RESPONDER_MIN: usize = 3;
const NOISE_INITIATOR_MIN: usize = 4;
const NOISE_TRANSPORT_MIN: usize = 6;

#[test]
fn noise_responder_corpus() {
    assert_corpus("noise_responder", noise::responder, NOISE_RESPONDER_MIN);
}

#[test]
fn noise_initiator_corpus() {
    assert_corpus("noise_initiator", noise::initiator, NOISE_INITIATOR_MIN);
}

#[test]
fn noise_transport_corpus() {
    assert_corpus("noise_transport", noise::transport, NOISE_TRANSPORT_MIN);
}

/// Edge inputs that need no corpus file.
#[test]
fn noise_targets_on_edge_inputs() {
    for data in [&[][..], &[0], &[0x80], &[0xff; 300], &[0x01; 67]] {
        noise::responder(data);
        noise::initiator(data);
        noise::transport(data);
    }
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn with_mode(mode: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![mode];
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// Rewrites the corpora from the BOLT 8 vectors:
/// `cargo test -p lightning-fuzz --test noise -- --ignored regenerate`.
#[test]
#[ignore]
fn regenerate_noise_corpus() {
    // BOLT 8 Appendix A, with the keys `lightning_fuzz::noise` uses.
    let act_one = hex("00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a");
    let act_two = hex("0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae");
    let act_three = hex("00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba");
    assert_eq!(act_one, noise::valid_act_one());
    let key = |s: &str| -> [u8; 32] { hex(s).try_into().unwrap() };
    let ck = key("919219dbb2920afa8db80f9a51787a840bcf111ed8d588caf9ab4be716e42b01");
    let sk = key("969ab31b4d288cedf6218839b27a3e2140827047f2c0f01bf5c04435d43511a9");
    let rk = key("bb9020b8965f4df047e07f955f3c4b88418984aadc5cdb35096b9ea8fa5c3442");
    // Frames the initiator sends after act three, and the responder sends.
    let frames = |send: [u8; 32], receive: [u8; 32], sizes: &[usize]| {
        let mut t = NoiseTransport::from_keys(&ck, &send, &receive);
        let mut out = Vec::new();
        for &n in sizes {
            t.encrypt_message(&vec![0x5a; n], &mut out).unwrap();
        }
        out
    };
    let from_initiator = frames(sk, rk, &[5, 0, 300]);
    let from_responder = frames(rk, sk, &[5, 0, 300]);
    let flip = |bytes: &[u8], at: usize| {
        let mut v = bytes.to_vec();
        v[at] ^= 1;
        v
    };

    let responder: Vec<(&str, Vec<u8>)> = vec![
        ("act1-whole", with_mode(0x00, &[&act_one])),
        ("act1-bytewise", with_mode(0x01, &[&act_one])),
        ("act1-short", with_mode(0x00, &[&act_one[..49]])),
        ("act1-bad-version", with_mode(0x00, &[&flip(&act_one, 0)])),
        (
            "act1-bad-key",
            with_mode(0x00, &[&hex("04"), &act_one[2..]]),
        ),
        ("act1-bad-mac", with_mode(0x00, &[&flip(&act_one, 49)])),
        (
            "full-with-messages",
            with_mode(0x07, &[&act_one, &act_three, &from_initiator]),
        ),
        ("act3-whole", with_mode(0x80, &[&act_three])),
        (
            "act3-split",
            with_mode(0x91, &[&act_three, &from_initiator]),
        ),
        ("act3-bad-version", with_mode(0x80, &[&flip(&act_three, 0)])),
        (
            "act3-bad-ciphertext",
            with_mode(0x80, &[&flip(&act_three, 1)]),
        ),
        ("act3-bad-mac", with_mode(0x80, &[&flip(&act_three, 65)])),
        ("act3-short", with_mode(0x80, &[&act_three[..65]])),
    ];
    let initiator: Vec<(&str, Vec<u8>)> = vec![
        ("act2-whole", with_mode(0x00, &[&act_two])),
        ("act2-bytewise", with_mode(0x01, &[&act_two])),
        (
            "act2-with-messages",
            with_mode(0x0b, &[&act_two, &from_responder]),
        ),
        ("act2-short", with_mode(0x00, &[&act_two[..49]])),
        ("act2-bad-version", with_mode(0x00, &[&flip(&act_two, 0)])),
        (
            "act2-bad-key",
            with_mode(0x00, &[&hex("04"), &act_two[2..]]),
        ),
        ("act2-bad-mac", with_mode(0x00, &[&flip(&act_two, 49)])),
        (
            "act2-then-garbage",
            with_mode(0x00, &[&act_two, &[0u8; 40]]),
        ),
    ];
    // Transport ops: (op % 3 == 0, n) a frame of n * 257 bytes; (1, n) n raw
    // bytes; (2, n) flip a bit.
    let max = u8::try_from(MAX_MESSAGE_LEN / 257).unwrap();
    let transport: Vec<(&str, Vec<u8>)> = vec![
        ("frames-whole", vec![0x00, 0, 1, 3, 2, 6, 0]),
        ("frames-bytewise", vec![0x01, 0, 0, 3, 1, 6, 2]),
        ("frames-odd-reads", vec![0x11, 0, 4, 3, 9, 6, 1, 9, 0]),
        ("frame-max", vec![0x00, 0, max]),
        (
            "frames-over-rotation",
            [vec![0x00], [0u8, 0].repeat(510)].concat(),
        ),
        ("flip-length", vec![0x00, 0, 1, 2, 0]),
        ("flip-body", vec![0x05, 0, 1, 5, 5]),
        ("raw-garbage", [vec![0x03, 1, 40], vec![0xee; 40]].concat()),
        (
            "frame-then-garbage",
            [vec![0x00, 0, 2, 1, 20], vec![0x11; 20]].concat(),
        ),
    ];
    for (target, files) in [
        ("noise_responder", responder),
        ("noise_initiator", initiator),
        ("noise_transport", transport),
    ] {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in files {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}
