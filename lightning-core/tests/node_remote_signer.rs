//! A node whose keys live behind a message-passing boundary (a signer
//! thread answering over channels, as a remote signer or an HSM would) runs
//! a channel's whole life: open, pay, get paid, restart, close.
#![allow(clippy::unwrap_used)]

mod node_support;
mod remote_signer;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use node_support::{Net, Signers};
use remote_signer::RemoteSigner;

fn signers(remote: &RemoteSigner) -> Signers {
    let client = remote.client();
    Signers {
        node_signer: client.clone(),
        entropy: client.clone(),
        channel_signers: client,
        shutdown_script: remote.shutdown_script(),
    }
}

fn whole_life(a_async: bool, bob_remote: bool) {
    let alice = RemoteSigner::start([0xa1; 32]);
    let bob = RemoteSigner::start([0xb0; 32]);
    let bob_signers = bob_remote.then(|| signers(&bob));
    let mut net = Net::with_signers(a_async, false, Some(signers(&alice)), bob_signers);
    let served = Arc::clone(&alice.served);

    // BOLT 8: the handshake's ECDH with the static key went to the signer.
    assert_eq!(net.a.node.node_id(), alice.node_id());
    let after_connect = served.ecdh.load(Ordering::Relaxed);
    assert!(after_connect >= 1, "handshake ECDH through the signer");
    assert!(
        net.a.node.connected_peers().len() == 1,
        "the handshake completed"
    );

    let capacity = 400_000;
    let id = net.open_channel(capacity, 0);
    let opened_with = served.indexes.lock().unwrap().clone();
    assert_eq!(opened_with.len(), 1, "one channel signer for one channel");
    assert!(served.channel_ops.load(Ordering::Relaxed) > 0);

    // Alice pays, then is paid: her invoice is signed by the signer (which
    // saw the invoice and checked it), and the onion Bob sends her is
    // peeled with the signer's ECDH.
    net.pay(true, 30_000_000);
    let before_paid = served.ecdh.load(Ordering::Relaxed);
    net.pay(false, 7_000_000);
    assert_eq!(served.invoices.load(Ordering::Relaxed), 1);
    assert_eq!(served.refused_invoices.load(Ordering::Relaxed), 0);
    assert!(
        served.ecdh.load(Ordering::Relaxed) > before_paid,
        "BOLT 4 onion peeled through the signer"
    );
    assert_eq!(
        Net::local_msat(&net.a.node, id),
        capacity * 1000 - 30_000_000 + 7_000_000
    );

    // Restart: the channel gets its signer back by the persisted keys
    // index, and carries payments both ways again.
    net.restart(true);
    let indexes = served.indexes.lock().unwrap().clone();
    assert_eq!(
        &indexes[opened_with.len()..],
        &opened_with[..],
        "restore asked for the channel's stored keys index"
    );
    net.pay(false, 2_000_000);
    net.pay(true, 1_000_000);
    assert_eq!(served.invoices.load(Ordering::Relaxed), 2);

    // Cooperative close: the closing transaction is checked against the
    // balances and pays Alice's configured script.
    let (a_sat, b_sat) = net.close_and_check(id, capacity);
    assert!(a_sat > 0 && b_sat > 0);
    assert_eq!(net.a.node.shutdown_script(), alice.shutdown_script());
    assert!(served.random.load(Ordering::Relaxed) > 0);
    println!("alice's signer served {served:?}");
    if bob_remote {
        assert!(bob.served.channel_ops.load(Ordering::Relaxed) > 0);
        assert_eq!(bob.served.invoices.load(Ordering::Relaxed), 2);
    }
}

#[test]
fn remote_signer_node_opens_pays_is_paid_restarts_and_closes() {
    whole_life(false, false);
}

#[test]
fn remote_signers_on_both_sides_with_async_persistence() {
    whole_life(true, true);
}
