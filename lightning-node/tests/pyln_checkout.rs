//! pyln-client (Core Lightning's own Python client, from PyPI) drives a
//! runtime's socket through a BTCPay-like checkout: `getinfo`, `invoice`,
//! the other node pays, `waitanyinvoice`, `listinvoices` paid with the
//! preimage, `xpay` of the other node's invoice, `listpays` complete,
//! `listfunds`, `listpeerchannels`, `newaddr`, `connect`, `fundchannel`.
//!
//! It needs a Python with `pyln.client` (`LN_TEST_PYLN_PYTHON`, as `.ci/run`
//! sets it); without one it says so on stderr and returns.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::*;

const SCRIPT: &str = r#"
import json, sys, threading
from pyln.client import LightningRpc, RpcError

alice = LightningRpc(sys.argv[1])
bob_id, bob_uri, bob_invoice = sys.argv[2], sys.argv[3], sys.argv[4]
out = {}

info = alice.getinfo()
out["getinfo"] = {k: info[k] for k in ("id", "blockheight", "network", "num_peers")}
out["newaddr"] = alice.newaddr()["bech32"]
out["connect"] = alice.connect(bob_uri)["id"]
out["fundchannel"] = alice.fundchannel(bob_id, 1000000)["txid"]

# Mining happens outside; wait until the channel is normal.
print(json.dumps({"stage": "funded", **out}), flush=True)
sys.stdin.readline()

chans = alice.listpeerchannels()["channels"]
out["listpeerchannels"] = [{k: c.get(k) for k in ("peer_id", "state", "to_us_msat", "total_msat", "funding_txid", "funding_outnum", "private")} for c in chans]
funds = alice.listfunds()
out["listfunds"] = {"outputs": len(funds["outputs"]), "channels": [{k: c.get(k) for k in ("our_amount_msat", "amount_msat", "state")} for c in funds["channels"]]}

# Alice pays Bob first, so that Bob can pay her back.
paid = alice.call("xpay", {"invstring": bob_invoice})
out["xpay"] = {k: paid.get(k) for k in ("payment_preimage", "amount_msat", "amount_sent_msat")}
pays = alice.listpays(bob_invoice)["pays"]
out["listpays"] = [{k: p.get(k) for k in ("status", "preimage", "amount_msat", "amount_sent_msat", "bolt11")} for p in pays]

# A BTCPay-like checkout: an invoice, paid by the other node, seen by
# waitanyinvoice.
inv = alice.invoice(25000000, "btcpay-1", "order #1", 900)
out["invoice"] = {k: inv[k] for k in ("payment_hash", "bolt11", "expires_at", "payment_secret")}
print(json.dumps({"stage": "invoice", "bolt11": inv["bolt11"]}), flush=True)
got = alice.waitanyinvoice(0)
out["waitanyinvoice"] = {k: got.get(k) for k in ("label", "status", "pay_index", "amount_received_msat", "payment_hash")}
listed = alice.listinvoices("btcpay-1")["invoices"][0]
out["listinvoices"] = {k: listed.get(k) for k in ("label", "status", "payment_preimage", "amount_msat", "amount_received_msat", "paid_at", "pay_index")}
byhash = alice.listinvoices(payment_hash=inv["payment_hash"])["invoices"]
out["listinvoices_by_hash"] = len(byhash)


try:
    alice.call("nosuchmethod")
    out["error"] = None
except RpcError as e:
    out["error"] = e.error["code"]
print(json.dumps({"stage": "done", **out}), flush=True)
"#;

#[test]
fn pyln_client_checkout() {
    let Some(python) = lightning_test_support::external::python_with(
        "pyln-client",
        "LN_TEST_PYLN_PYTHON",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/.venv/bin/python"),
        "pyln.client",
    ) else {
        return;
    };
    let net = Net::start();
    let (alice, bob) = (&net.alice, &net.bob);
    net.fund(alice);
    // Bob's invoice for alice to pay later (over the channel she opens).
    let bob_inv = bob.call("invoice", json!([100_000_000, "bob-1", "for alice"]));

    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&alice.socket)
        .arg(bob.id())
        .arg(bob.uri())
        .arg(bob_inv["bolt11"].as_str().unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> Value {
        let line = lines
            .next()
            .expect("the script ended early (see its stderr)")
            .unwrap();
        serde_json::from_str(&line).unwrap()
    };

    let funded = next();
    assert_eq!(funded["stage"], "funded");
    assert_eq!(funded["getinfo"]["id"], alice.id());
    assert_eq!(funded["getinfo"]["network"], "regtest");
    assert_eq!(funded["connect"], bob.id());
    assert!(funded["newaddr"].as_str().unwrap().starts_with("bcrt1q"));
    net.mine_empty(6);
    wait("the channel is normal on both sides", || {
        [alice, bob].iter().all(|n| {
            n.call("listpeerchannels", json!([]))["channels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["state"] == "CHANNELD_NORMAL" && c["peer_connected"] == true)
        })
    });
    writeln!(stdin, "go").unwrap();

    let inv = next();
    assert_eq!(inv["stage"], "invoice");
    // Bob pays alice's invoice.
    let paid = bob.call("pay", json!([inv["bolt11"]]));
    assert_eq!(paid["status"], "complete");

    let done = next();
    assert_eq!(done["stage"], "done", "{done}");
    let c = &done["listpeerchannels"][0];
    assert_eq!(c["peer_id"], bob.id());
    assert_eq!(c["state"], "CHANNELD_NORMAL");
    assert_eq!(c["total_msat"], 1_000_000_000u64);
    assert_eq!(c["funding_txid"], funded["fundchannel"]);
    assert_eq!(
        done["listfunds"]["channels"][0]["amount_msat"],
        1_000_000_000u64
    );
    assert_eq!(done["listfunds"]["outputs"], 1, "the change output");
    let w = &done["waitanyinvoice"];
    assert_eq!(w["label"], "btcpay-1");
    assert_eq!(w["status"], "paid");
    assert_eq!(w["pay_index"], 1);
    assert_eq!(w["amount_received_msat"], 25_000_000u64);
    let l = &done["listinvoices"];
    assert_eq!(l["status"], "paid");
    assert_eq!(l["payment_preimage"], paid["payment_preimage"]);
    assert_eq!(l["amount_msat"], 25_000_000u64);
    assert!(l["paid_at"].as_u64().unwrap() > 0);
    assert_eq!(done["listinvoices_by_hash"], 1);
    let x = &done["xpay"];
    assert_eq!(x["amount_msat"], 100_000_000u64);
    assert_eq!(x["amount_sent_msat"], 100_000_000u64);
    let p = &done["listpays"][0];
    assert_eq!(p["status"], "complete");
    assert_eq!(p["preimage"], x["payment_preimage"]);
    assert_eq!(p["bolt11"], bob_inv["bolt11"]);
    assert_eq!(done["error"], -32601);
    // Bob's view of what he was paid.
    let bl = bob.call("listinvoices", json!(["bob-1"]));
    assert_eq!(bl["invoices"][0]["status"], "paid");
    assert_eq!(bl["invoices"][0]["payment_preimage"], x["payment_preimage"]);
    assert!(child.wait().unwrap().success());
}
