//! Runs the `lnctl` binary: `decodemsg` and `encodemsg`.

use std::process::{Command, Output};

fn lnctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lnctl"))
        .args(args)
        .output()
        .expect("run lnctl")
}

fn ok(args: &[&str]) -> String {
    let out = lnctl(args);
    assert!(
        out.status.success(),
        "lnctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Fails with a one-line message on stderr.
fn fails(args: &[&str]) -> String {
    let out = lnctl(args);
    assert!(!out.status.success(), "lnctl {args:?} should fail");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

// Messages from the BOLT vectors: `init` with two odd TLVs (BOLT 1 Appendix
// C), a `reply_channel_range` with timestamps and checksums (BOLT 7
// extended queries), and a `ping`.
const MESSAGES: &[&str] = &[
    "001000000000c9012acb0104",
    "01080f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e22060001ddde000005dc01001900000000000000304300000000000778d6000000000046e1c1011900000282c1000e77c5000778ad00490ab00000b57800955bff031800000457000008ae00000d050000115c000015b300001a0a",
    "0012000a0004deadbeef",
];

#[test]
fn decodemsg_then_encodemsg_round_trips() {
    for hex in MESSAGES {
        let json = ok(&["decodemsg", hex]);
        assert!(json.contains("\"type\""), "{json}");
        assert_eq!(ok(&["encodemsg", &json]), *hex);
    }
}

#[test]
fn decodemsg_names_the_message_and_fields() {
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["decodemsg", "0012000a0004deadbeef"])).unwrap();
    assert_eq!(json["type"], "ping");
    assert_eq!(json["num_pong_bytes"], 10);
    assert_eq!(json["ignored"], "deadbeef");
}

#[test]
fn malformed_input_is_one_line_and_nonzero() {
    assert!(fails(&["decodemsg", "zz"]).contains("invalid hex"));
    // Unknown even type: the connection would be failed.
    assert!(fails(&["decodemsg", "0064"]).contains("unknown even message type 100"));
    // Truncated `open_channel`: the error names message and field.
    let err = fails(&["decodemsg", "0020aabb"]);
    assert!(err.contains("open_channel.chain_hash"), "{err}");
    // Unknown even TLV in `init`.
    assert!(fails(&["decodemsg", "001000000000ca012a"]).contains("init.tlvs"));
    assert!(fails(&["encodemsg", "{\"type\":\"nope\"}"]).contains("invalid message JSON"));
    assert!(fails(&["encodemsg", "not json"]).contains("invalid message JSON"));
    assert!(fails(&["decodemsg"]).contains("usage"));
}
