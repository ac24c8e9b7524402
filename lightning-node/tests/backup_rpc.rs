//! Issue 21 through the daemon's RPC: Alice exports her static channel
//! backup (`exportchanbackup`), checks it (`verifychanbackup`; Bob's seed
//! cannot open it), loses her data directory, and a node from her seed on
//! an empty directory restores from the backup alone
//! (`restorechanbackup`): once connected, Bob closes with his commitment
//! and Alice's wallet gets her whole balance back less the fees.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn export_verify_and_restore_over_the_rpc() {
    let net = Net::start();
    net.fund(&net.alice);
    net.open_channel(1_000_000);
    let exp = net.alice.call("exportchanbackup", json!([]));
    let channels = exp["channels"].as_array().unwrap().clone();
    assert_eq!(channels.len(), 1, "{exp}");
    assert_eq!(channels[0]["peer_id"], net.bob.id());
    assert_eq!(channels[0]["amount_msat"], 1_000_000_000u64);
    let channel_id = channels[0]["channel_id"].as_str().unwrap().to_owned();
    // One channel's backup, by its id.
    let one = net.alice.call("exportchanbackup", json!([channel_id]));
    assert_eq!(one["channels"][0]["channel_id"], channel_id);
    let v = net.alice.call("verifychanbackup", json!([exp["backup"]]));
    assert_eq!(v["channels"], exp["channels"]);
    // Another node's seed does not open it; damage is refused.
    assert_eq!(
        net.bob
            .call_err("verifychanbackup", json!([exp["backup"]]))
            .0,
        -1
    );
    let mut damaged = exp["backup"].as_str().unwrap().to_owned();
    let last = damaged.pop().unwrap();
    damaged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        net.alice.call_err("verifychanbackup", json!([damaged])).0,
        -1
    );

    // What her wallet holds besides the channel (the funding's change).
    let change = onchain_sat(&net.alice.call("listfunds", json!([])));
    // The disk is gone: a node from Alice's seed on an empty directory
    // (its wallet, from the same seed, finds the change again).
    let Net { chain, alice, bob } = net;
    alice.rt.stop();
    drop(alice);
    let alice = start_node(&chain, 0xa1);
    let r = alice.call("restorechanbackup", json!([exp["backup"]]));
    assert_eq!(r["recovered"], json!([channel_id]));
    assert!(alice.call("listpeerchannels", json!([]))["channels"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["state"] != "CHANNELD_NORMAL"));
    alice.call("connect", json!([bob.uri()]));
    let mine = |n: usize| {
        chain
            .chain()
            .mine_blocks(n, &bitcoin::ScriptBuf::new_op_return([0u8; 4]));
        for node in [&alice, &bob] {
            node.rt.sync_chain(Duration::from_secs(30)).unwrap();
        }
    };
    wait("bob publishes his commitment", || {
        !chain.chain().mempool().is_empty()
    });
    let mut blocks = 0;
    wait("alice's wallet gets her balance back", || {
        mine(1);
        blocks += 1;
        onchain_sat(&alice.call("listfunds", json!([]))) > change + 990_000
    });
    let got = onchain_sat(&alice.call("listfunds", json!([]))) - change;
    assert!(got < 1_000_000, "less the commitment and sweep fees: {got}");
    eprintln!("restored: {got} sat back after {blocks} blocks");
}
