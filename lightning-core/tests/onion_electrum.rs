//! Differential tests against Electrum's `electrum.lnonion` (Debian's
//! `python3-electrum`), driven through one long-lived Python process
//! (`electrum_onion_driver.py`) over JSON lines.
//!
//! `LN_TEST_ELECTRUM_PYTHON` names the interpreter (default
//! `/usr/bin/python3`). Without it or the module the test is skipped, unless
//! `LN_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use lightning_wire::types::PaymentHash;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use lightning_core::onion::*;
use lightning_wire::tlv::TlvRecord;
use lightning_wire::types::ShortChannelId;
use lightning_wire::Encode;
use secp256k1::{PublicKey, SecretKey, SECP256K1};
use serde_json::{json, Value};

struct Electrum {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Electrum {
    fn start() -> Option<Electrum> {
        let python =
            std::env::var("LN_TEST_ELECTRUM_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
        let usable = Command::new(&python)
            .args(["-c", "import electrum.lnonion"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !usable {
            let msg = format!("{python} cannot import electrum.lnonion");
            if std::env::var("LN_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
                panic!("{msg}");
            }
            eprintln!("SKIP: {msg}");
            return None;
        }
        let driver = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/electrum_onion_driver.py"
        );
        let mut child = Command::new(&python)
            .args(["-u", driver])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Electrum {
            child,
            stdin,
            stdout,
        })
    }

    fn call(&mut self, req: Value) -> Value {
        writeln!(self.stdin, "{req}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert!(reply.get("error").is_none(), "electrum: {reply} for {req}");
        reply
    }
}

impl Drop for Electrum {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// xorshift64*: a deterministic generator for the random routes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in out.iter_mut() {
            *b = self.next() as u8;
        }
        out
    }
    fn key(&mut self) -> SecretKey {
        loop {
            if let Ok(k) = SecretKey::from_slice(&self.bytes::<32>()) {
                return k;
            }
        }
    }
}

fn random_payload(rng: &mut Rng, final_hop: bool, budget: usize) -> HopPayload {
    let bytes = 1 + rng.below(7);
    let mut p = HopPayload {
        amt_to_forward: Some(rng.below(1 << (8 * bytes))),
        outgoing_cltv_value: Some(rng.below(1 << 30) as u32),
        ..Default::default()
    };
    if final_hop {
        if rng.below(2) == 0 {
            p.payment_data = Some(PaymentData {
                payment_secret: rng.bytes(),
                total_msat: rng.below(1 << 40),
            });
        }
    } else {
        p.short_channel_id = Some(ShortChannelId(rng.next()));
    }
    // Custom odd records while there is room.
    let mut ty = 65_537u64;
    while p.to_bytes().len() + 16 < budget && rng.below(3) != 0 {
        let len = rng.below(12) as usize;
        let value: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        p.unknown.0.push(TlvRecord { r#type: ty, value });
        ty += 2 * (1 + rng.below(1000));
    }
    p
}

fn random_failure(rng: &mut Rng) -> FailureReason {
    match rng.below(6) {
        0 => FailureReason::TemporaryNodeFailure,
        1 => FailureReason::IncorrectOrUnknownPaymentDetails {
            htlc_msat: rng.next() >> 8,
            height: rng.below(1 << 24) as u32,
        },
        2 => FailureReason::InvalidOnionPayload {
            r#type: rng.below(70_000),
            offset: rng.below(1300) as u16,
        },
        3 => FailureReason::FeeInsufficient {
            htlc_msat: rng.next() >> 8,
            channel_update: (0..rng.below(130)).map(|i| i as u8).collect(),
        },
        4 => FailureReason::UnknownNextPeer,
        _ => FailureReason::MppTimeout,
    }
}

#[test]
fn differential_against_electrum() {
    let Some(mut el) = Electrum::start() else {
        return;
    };
    let mut rng = Rng(0x005e_ed0f_0e1e_c7a0);
    let (mut routes, mut peels, mut errors) = (0, 0, 0);
    for round in 0..48 {
        let n = 1 + (round % 20) as usize;
        let keys: Vec<SecretKey> = (0..n).map(|_| rng.key()).collect();
        let pubs: Vec<PublicKey> = keys
            .iter()
            .map(|k| PublicKey::from_secret_key(SECP256K1, k))
            .collect();
        let budget = 1300 / n - 35;
        let route: Vec<(PublicKey, HopPayload)> = pubs
            .iter()
            .enumerate()
            .map(|(i, pk)| (*pk, random_payload(&mut rng, i == n - 1, budget)))
            .collect();
        let session = rng.key();
        let hash: [u8; 32] = rng.bytes();
        let (onion, secrets) = build_payment_onion(&session, &route, &PaymentHash(hash)).unwrap();

        // Electrum builds the same onion from the same inputs.
        let built = el.call(json!({
            "cmd": "build",
            "payloads": route.iter().map(|(_, p)| hex::encode(p.to_bytes())).collect::<Vec<_>>(),
            "pubkeys": pubs.iter().map(|k| hex::encode(k.serialize())).collect::<Vec<_>>(),
            "session_key": hex::encode(session.secret_bytes()),
            "ad": hex::encode(hash),
        }));
        assert_eq!(
            built["onion"].as_str().unwrap(),
            hex::encode(onion.to_bytes()),
            "round {round}"
        );
        routes += 1;

        // Electrum peels ours at every hop; we peel alongside and compare.
        let mut packet = onion.clone();
        let mut received = Vec::new();
        for i in 0..n {
            received.push(packet.clone());
            let theirs = el.call(json!({
                "cmd": "peel",
                "onion": hex::encode(packet.to_bytes()),
                "ad": hex::encode(hash),
                "privkey": hex::encode(keys[i].secret_bytes()),
            }));
            let ours = peel_packet(&packet, &hash, &keys[i]).unwrap();
            assert_eq!(ours.shared_secret, secrets[i]);
            let payload = HopPayload::decode_payload(&ours.payload).unwrap();
            assert_eq!(payload, route[i].1);
            assert_eq!(theirs["amt_to_forward"].as_u64(), payload.amt_to_forward);
            assert_eq!(
                theirs["outgoing_cltv_value"].as_u64(),
                payload.outgoing_cltv_value.map(u64::from)
            );
            assert_eq!(
                theirs["short_channel_id"].as_str().map(String::from),
                payload
                    .short_channel_id
                    .map(|s| hex::encode(s.0.to_be_bytes()))
            );
            assert_eq!(
                theirs["payment_secret"].as_str().map(String::from),
                payload.payment_data.map(|d| hex::encode(d.payment_secret))
            );
            match ours.next {
                Peeled::Forward(next) => {
                    assert!(!theirs["final"].as_bool().unwrap());
                    assert_eq!(
                        theirs["next"].as_str().unwrap(),
                        hex::encode(next.to_bytes())
                    );
                    packet = next;
                }
                Peeled::Final => {
                    assert!(theirs["final"].as_bool().unwrap());
                    assert_eq!(i, n - 1);
                }
            }
            peels += 1;
        }

        // An error from a random hop, created by Electrum, decoded by us.
        let e = rng.below(n as u64) as usize;
        let failure = random_failure(&mut rng);
        let failure_bytes = FailureMessage::from(failure.clone()).to_bytes();
        let created = el.call(json!({
            "cmd": "error_create",
            "onion": hex::encode(received[e].to_bytes()),
            "privkey": hex::encode(keys[e].secret_bytes()),
            "code": u16::from_be_bytes([failure_bytes[0], failure_bytes[1]]),
            "data": hex::encode(&failure_bytes[2..]),
        }));
        let mut err = hex::decode(created["packet"].as_str().unwrap()).unwrap();
        for ss in secrets[..e].iter().rev() {
            obfuscate_error_packet(ss, &mut err);
        }
        let decoded = decode_error_packet(&secrets, &err, None);
        assert_eq!(decoded.failing_hop, Some(e));
        assert_eq!(decoded.message.unwrap().reason, failure);

        // And the other way: created by us, decoded by Electrum.
        let e = rng.below(n as u64) as usize;
        let failure = random_failure(&mut rng);
        let mut err = create_error_packet(&secrets[e], &failure.clone().into());
        for ss in secrets[..e].iter().rev() {
            obfuscate_error_packet(ss, &mut err);
        }
        let theirs = el.call(json!({
            "cmd": "error_decode",
            "packet": hex::encode(&err),
            "pubkeys": pubs.iter().map(|k| hex::encode(k.serialize())).collect::<Vec<_>>(),
            "session_key": hex::encode(session.secret_bytes()),
        }));
        assert_eq!(theirs["index"].as_u64(), Some(e as u64));
        let bytes = FailureMessage::from(failure).to_bytes();
        assert_eq!(
            theirs["code"].as_u64(),
            Some(u64::from(u16::from_be_bytes([bytes[0], bytes[1]])))
        );
        assert_eq!(theirs["data"].as_str().unwrap(), hex::encode(&bytes[2..]));
        errors += 2;
    }
    eprintln!("electrum differential: {routes} routes built identically, {peels} hops peeled on both sides, {errors} error packets attributed across");
}
