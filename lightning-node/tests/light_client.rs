//! A runtime that follows the chain as a light client (issues 16 and 20):
//! Alice over the Esplora API (`simchain`'s Esplora server), or over a
//! real ElectrumX, Bob over the bitcoind RPC, on one simulated chain. Alice's wallet sees its coins
//! through the script histories of its addresses, her node its funding
//! output through the scripts it registers (`Node::set_watch_filter`):
//! fund, open, pay, and Bob's force close, which Alice sees only through
//! the funding output her node watches, and sweeps.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use lightning_node::ChainConfig;
use lightning_simchain::electrumx::ElectrumX;
use lightning_simchain::esplora::EsploraServer;
use serde_json::json;
use support::*;

#[test]
fn over_esplora_a_node_funds_opens_pays_and_sweeps() {
    light_client(false);
}

/// The same over a real ElectrumX indexing the chain (skipped, with a
/// message, when ElectrumX is not installed; CI installs it).
#[test]
fn over_electrum_a_node_funds_opens_pays_and_sweeps() {
    light_client(true);
}

fn light_client(electrum: bool) {
    let net = Net::start();
    let electrumx = if electrum {
        let Some(program) = ElectrumX::locate("over_electrum_a_node_funds_opens_pays_and_sweeps")
        else {
            return;
        };
        // ElectrumX wants header times near the wall clock.
        net.chain.chain().with(|c| c.use_wall_clock(true));
        Some(std::sync::Mutex::new(
            ElectrumX::start(&program, &net.chain).unwrap(),
        ))
    } else {
        None
    };
    let esplora = EsploraServer::start(net.chain.chain().clone(), "127.0.0.1:0").unwrap();
    let source = match &electrumx {
        Some(e) => ChainConfig::Electrum {
            url: e.lock().unwrap().url(),
        },
        None => ChainConfig::Esplora { url: esplora.url() },
    };
    let Net { chain, alice, bob } = net;
    alice.rt.stop();
    drop(alice);
    // Syncs on demand (`sync_chain`) and every 5 s: a light sync over
    // Electrum holds the node for its round trips.
    let alice = start_on(
        source,
        0xa1,
        tempfile::tempdir().unwrap(),
        "127.0.0.1:0",
        Duration::from_secs(5),
    );
    let mine = |n: usize, script: &bitcoin::Script| {
        chain.chain().mine_blocks(n, script);
        if let Some(e) = &electrumx {
            e.lock()
                .unwrap()
                .wait_for_height(chain.chain().best_block().height, Duration::from_secs(60))
                .unwrap();
        }
        for node in [&alice, &bob] {
            node.rt.sync_chain(Duration::from_secs(30)).unwrap();
        }
    };
    let empty = bitcoin::ScriptBuf::new_op_return([0u8; 4]);
    let addr = alice.call("newaddr", json!([]))["bech32"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = addr
        .parse::<bitcoin::Address<_>>()
        .unwrap()
        .assume_checked()
        .script_pubkey();
    mine(1, &script);
    mine(100, &empty);
    assert_eq!(
        onchain_sat(&alice.call("listfunds", json!([]))),
        50 * 100_000_000,
        "the coinbase, seen through its script's history"
    );

    alice.call("connect", json!([bob.uri()]));
    alice.call("fundchannel", json!({"id": bob.id(), "amount": 1_000_000}));
    mine(6, &empty);
    for node in [&alice, &bob] {
        wait("the channel is normal", || {
            node.call("listpeerchannels", json!([]))["channels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["state"] == "CHANNELD_NORMAL")
        });
    }
    let after_open = onchain_sat(&alice.call("listfunds", json!([])));
    let open_fee = 50 * 100_000_000 - 1_000_000 - after_open;
    assert!(open_fee > 0 && open_fee < 10_000, "open fee {open_fee}");

    let inv = bob.call("invoice", json!([30_000_000, "light", "light"]));
    let paid = alice.call("xpay", json!([inv["bolt11"]]));
    assert_eq!(paid["amount_msat"], 30_000_000u64);

    // Bob force-closes: his commitment pays Alice's `to_remote` to no
    // script of her wallet, so only the funding output her node asked the
    // light client to watch shows it to her.
    bob.rt
        .with_node(|n| {
            let id = n.list_channels()[0].channel_id;
            n.force_close_channel(id)
        })
        .unwrap();
    wait("bob's commitment is in the mempool", || {
        !chain.chain().mempool().is_empty()
    });
    let mut blocks = 0;
    wait("alice sweeps her to_remote, seen as a light client", || {
        mine(1, &empty);
        blocks += 1;
        onchain_sat(&alice.call("listfunds", json!([]))) > after_open + 960_000
    });
    assert!(blocks < 20, "{blocks} blocks");
    let got = onchain_sat(&alice.call("listfunds", json!([]))) - after_open;
    assert!(got < 970_000, "her balance less the fees: {got}");
}
