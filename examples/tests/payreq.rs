//! `lnctl decodepayreq` run as a program.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const INVOICE: &str = "lnbc9678785340p1pwmna7lpp5gc3xfm08u9qy06djf8dfflhugl6p7lgza6dsjxq454gxhj9t7a0sd8dgfkx7cmtwd68yetpd5s9xar0wfjn5gpc8qhrsdfq24f5ggrxdaezqsnvda3kkum5wfjkzmfqf3jkgem9wgsyuctwdus9xgrcyqcjcgpzgfskx6eqf9hzqnteypzxz7fzypfhg6trddjhygrcyqezcgpzfysywmm5ypxxjemgw3hxjmn8yptk7untd9hxwg3q2d6xjcmtv4ezq7pqxgsxzmnyyqcjqmt0wfjjq6t5v4khxsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygsxqyjw5qcqp2rzjq0gxwkzc8w6323m55m4jyxcjwmy7stt9hwkwe2qxmy8zpsgg7jcuwz87fcqqeuqqqyqqqqlgqqqqn3qq9q9qrsgqrvgkpnmps664wgkp43l22qsgdw4ve24aca4nymnxddlnp8vh9v2sdxlu5ywdxefsfvm0fq3sesf08uf6q9a2ke0hc9j6z6wlxg5z5kqpu2v9wz";

fn lnctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lnctl"))
        .args(args)
        .output()
        .expect("run lnctl")
}

#[test]
fn decodes_the_spec_example() {
    let out = lnctl(&["decodepayreq", INVOICE]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["destination"],
        "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"
    );
    assert_eq!(
        json["payment_hash"],
        "462264ede7e14047e9b249da94fefc47f41f7d02ee9b091815a5506bc8abf75f"
    );
    assert_eq!(json["num_satoshis"], "967878");
    assert_eq!(json["num_msat"], "967878534");
    assert_eq!(json["timestamp"], "1572468703");
    assert_eq!(json["expiry"], "604800");
    assert_eq!(json["cltv_expiry"], "10");
    assert_eq!(json["description_hash"], "");
    assert_eq!(json["fallback_addr"], "");
    assert!(json["description"]
        .as_str()
        .unwrap()
        .starts_with("Blockstream Store: 88.85 USD"));
    assert_eq!(
        json["payment_addr"],
        "1111111111111111111111111111111111111111111111111111111111111111"
    );
    let hop = &json["route_hints"][0]["hop_hints"][0];
    assert_eq!(
        hop["node_id"],
        "03d06758583bb5154774a6eb221b1276c9e82d65bbaceca806d90e20c108f4b1c7"
    );
    // 589390x3312x1 as a u64.
    assert_eq!(
        hop["chan_id"],
        ((589390u64 << 40) | (3312 << 16) | 1).to_string()
    );
    assert_eq!(hop["fee_base_msat"], 1000);
    assert_eq!(hop["fee_proportional_millionths"], 2500);
    assert_eq!(hop["cltv_expiry_delta"], 40);
    assert_eq!(json["features"]["8"]["name"], "var_onion_optin");
    assert_eq!(json["features"]["8"]["is_required"], true);
    assert_eq!(json["features"]["14"]["name"], "payment_secret");
    assert_eq!(json["features"]["14"]["is_known"], true);
}

#[test]
fn rejects_an_invalid_invoice_with_one_line() {
    // The spec's "Invalid multiplier" example.
    let bad = "lnbc2500x1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqrrzc4cvfue4zp3hggxp47ag7xnrlr8vgcmkjxk3j5jqethnumgkpqp23z9jclu3v0a7e0aruz366e9wqdykw6dxhdzcjjhldxq0w6wgqcnu43j";
    let out = lnctl(&["decodepayreq", bad]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid multiplier"), "{err}");
}
