//! Two runtimes on the simulated chain's bitcoind RPC, driven through
//! their CLN-compatible sockets: fund, connect, open, mine, invoice, pay,
//! close, with every balance checked.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::*;

const COINBASE: u64 = 50 * 100_000_000;

#[test]
fn open_pay_close_with_balances() {
    let net = Net::start();
    let (alice, bob) = (&net.alice, &net.bob);
    net.fund(alice);
    let funds = alice.call("listfunds", json!([]));
    assert_eq!(onchain_sat(&funds), COINBASE);

    let info = alice.call("getinfo", json!([]));
    assert_eq!(info["id"], alice.id());
    assert_eq!(info["blockheight"], 101);
    assert_eq!(info["network"], "regtest");

    let funded = net.open_channel(1_000_000);
    let txid = funded["txid"].as_str().unwrap().to_owned();
    let chans = alice.call("listpeerchannels", json!([]));
    let c = &chans["channels"][0];
    assert_eq!(c["funding_txid"], txid);
    assert_eq!(c["total_msat"], 1_000_000_000u64);
    assert_eq!(c["to_us_msat"], 1_000_000_000u64);
    assert_eq!(c["opener"], "local");
    let info = alice.call("getinfo", json!([]));
    assert_eq!(info["num_active_channels"], 1);
    assert_eq!(info["num_peers"], 1);

    // Alice's wallet paid the channel and a fee.
    let after_open = onchain_sat(&alice.call("listfunds", json!([])));
    let open_fee = COINBASE - 1_000_000 - after_open;
    assert!(open_fee > 0 && open_fee < 10_000, "open fee {open_fee}");

    // Bob invoices, waits for it; Alice pays.
    let waiter = {
        let socket = bob.socket.clone();
        std::thread::spawn(move || raw_call(&socket, "waitanyinvoice", json!([99999999999u64])))
    };
    let inv = bob.call(
        "invoice",
        json!(["50000000", "order-1", "a coffee", 3600, null, null, null]),
    );
    let paid = alice.call("xpay", json!([inv["bolt11"], null, null]));
    assert_eq!(paid["amount_msat"], 50_000_000u64);
    assert_eq!(paid["amount_sent_msat"], 50_000_000u64);
    let preimage = paid["payment_preimage"].as_str().unwrap().to_owned();
    let got = waiter.join().unwrap();
    assert_eq!(got["result"]["label"], "order-1", "{got}");
    assert_eq!(got["result"]["status"], "paid");
    assert_eq!(got["result"]["pay_index"], 1);
    let listed = bob.call("listinvoices", json!(["order-1"]));
    let i = &listed["invoices"][0];
    assert_eq!(i["status"], "paid");
    assert_eq!(i["payment_preimage"], preimage);
    assert_eq!(i["amount_received_msat"], 50_000_000u64);
    let pays = alice.call("listpays", json!([null, inv["payment_hash"]]));
    assert_eq!(pays["pays"][0]["status"], "complete");
    assert_eq!(pays["pays"][0]["preimage"], preimage);

    let chans = bob.call("listpeerchannels", json!([]));
    assert_eq!(chans["channels"][0]["to_us_msat"], 50_000_000u64);

    // Keysend, both forms, with a custom record (bLIP 3).
    let ks = alice.call(
        "keysend",
        json!([bob.id(), 20_000_000, "tip", null, null, null, null, null, {"65537": "68656c6c6f"}]),
    );
    assert_eq!(ks["status"], "complete", "{ks}");
    assert_eq!(ks["amount_msat"], 20_000_000u64);
    assert_eq!(ks["amount_sent_msat"], 20_000_000u64, "direct: no fee");
    assert_eq!(ks["destination"], bob.id());
    let pre = hex::decode(ks["payment_preimage"].as_str().unwrap()).unwrap();
    let hash = {
        use bitcoin::hashes::{sha256, Hash};
        sha256::Hash::hash(&pre).to_string()
    };
    assert_eq!(ks["payment_hash"], hash);
    let xks = alice.call(
        "xkeysend",
        json!({"destination": bob.id(), "amount_msat": "10000sat", "maxfee": 0}),
    );
    assert_eq!(xks["amount_msat"], 10_000_000u64, "{xks}");
    assert_eq!(xks["successful_parts"], 1);
    let pays = alice.call("listpays", json!([null, ks["payment_hash"]]));
    assert_eq!(pays["pays"][0]["status"], "complete");
    assert!(pays["pays"][0].get("bolt11").is_none());
    wait("bob holds both keysends", || {
        let chans = bob.call("listpeerchannels", json!([]));
        chans["channels"][0]["to_us_msat"] == 80_000_000u64
    });
    // A fee cap given twice over, and records outside the custom range.
    assert_eq!(
        alice
            .call_err(
                "pay",
                json!({"bolt11": inv["bolt11"], "maxfee": 1, "maxfeepercent": 1})
            )
            .0,
        -32602
    );
    assert_eq!(
        alice
            .call_err(
                "keysend",
                json!({"destination": bob.id(), "amount_msat": 1000, "extratlvs": {"5": "00"}})
            )
            .0,
        -32602
    );

    // Cooperative close; the outputs reach both wallets.
    let closed = alice.call("close", json!([bob.id()]));
    assert_eq!(closed["type"], "mutual");
    net.mine_empty(1);
    wait("bob's wallet holds his channel balance", || {
        onchain_sat(&bob.call("listfunds", json!([]))) == 80_000
    });
    wait("alice's wallet holds hers", || {
        onchain_sat(&alice.call("listfunds", json!([]))) > after_open
    });
    let alice_final = onchain_sat(&alice.call("listfunds", json!([])));
    let close_fee = after_open + 1_000_000 - 80_000 - alice_final;
    assert!(close_fee > 0 && close_fee < 10_000, "close fee {close_fee}");

    // Sending back on chain: withdraw from Bob to Alice.
    let addr = alice.call("newaddr", json!([]))["bech32"].clone();
    let w = bob.call("withdraw", json!([addr, "all"]));
    assert!(w["txid"].is_string());
    net.mine_empty(1);
    wait("alice got bob's withdrawal", || {
        onchain_sat(&alice.call("listfunds", json!([]))) > alice_final + 70_000
    });
    assert_eq!(onchain_sat(&bob.call("listfunds", json!([]))), 0);
}

/// `invoice` with `deschashonly` (what BTCPay sends for LNURL-pay): the
/// invoice carries only the description's SHA256 (BOLT 11 `h`), of any
/// length; without it a description over 639 bytes is refused.
#[test]
fn a_description_hash_only_invoice() {
    use bitcoin::hashes::{sha256, Hash};
    let net = Net::start();
    let long = "[[\"text/plain\",\"a coffee\"]]".repeat(40);
    assert!(long.len() > 639);
    assert_eq!(
        net.bob
            .call_err(
                "invoice",
                json!({"amount_msat": 1000, "label": "long", "description": long})
            )
            .0,
        -32602
    );
    let inv = net.bob.call(
        "invoice",
        json!({"amount_msat": 1000, "label": "hashed", "description": long, "deschashonly": true}),
    );
    let d = net.alice.call("decode", json!([inv["bolt11"]]));
    assert_eq!(
        d["description_hash"],
        sha256::Hash::hash(long.as_bytes()).to_string(),
        "{d}"
    );
    assert!(d.get("description").is_none(), "{d}");
    // listinvoices still shows the description the invoice was made for.
    let listed = net.bob.call("listinvoices", json!(["hashed"]));
    assert_eq!(listed["invoices"][0]["description"], long);
}

/// `pay` of an invoice without an amount (`invoice` with `"any"`): CLN's
/// `amount_msat` is then required, and refused for an invoice with one.
#[test]
fn an_invoice_without_an_amount_is_paid_the_amount_given() {
    let net = Net::start();
    net.fund(&net.alice);
    net.open_channel(100_000);
    let any = net.bob.call(
        "invoice",
        json!({"amount_msat": "any", "label": "tip", "description": "a tip"}),
    );
    let err = net.alice.call_err("pay", json!({"bolt11": any["bolt11"]}));
    assert_eq!(err.0, -32602, "{err:?}");
    assert!(err.1.contains("amount_msat"), "{err:?}");
    let paid = net.alice.call(
        "pay",
        json!({"bolt11": any["bolt11"], "amount_msat": 12_345_000}),
    );
    assert_eq!(paid["status"], "complete", "{paid}");
    assert_eq!(paid["amount_msat"], 12_345_000u64);
    let listed = net.bob.call("listinvoices", json!(["tip"]));
    assert_eq!(listed["invoices"][0]["status"], "paid", "{listed}");
    assert_eq!(listed["invoices"][0]["amount_received_msat"], 12_345_000u64);

    let fixed = net.bob.call(
        "invoice",
        json!({"amount_msat": 5_000, "label": "fixed", "description": "fixed"}),
    );
    let err = net.alice.call_err(
        "pay",
        json!({"bolt11": fixed["bolt11"], "amount_msat": 6_000}),
    );
    assert_eq!(err.0, -32602, "{err:?}");
}
