//! Publishing transactions.

use std::sync::Arc;

use bitcoin::Transaction;

/// Publishes transactions to the Bitcoin network.
///
/// The node calls this to publish funding, closing, commitment, HTLC and
/// sweep transactions. It may call it again with the same transaction (it
/// rebroadcasts until it sees a confirmation) or with a fee-bumped
/// replacement, so an implementation must treat "already known" and
/// "replaced" as normal, not as errors. Broadcasting is fire-and-forget:
/// the node learns what happened from the chain, never from this call.
///
/// [`broadcast_transactions`](Broadcaster::broadcast_transactions) takes a
/// package: transactions that must be relayed together, parents before
/// children, such as a zero-fee anchor commitment with the child that pays for
/// it (CPFP). A host with package relay (`submitpackage`) should submit them as
/// one package; otherwise submit them in order.
///
/// ```
/// use std::sync::Mutex;
/// use bitcoin::Transaction;
/// use lightning_chain::Broadcaster;
///
/// #[derive(Debug, Default)]
/// struct Recorder(Mutex<Vec<Transaction>>);
///
/// impl Broadcaster for Recorder {
///     fn broadcast_transactions(&self, txs: &[&Transaction]) {
///         let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
///         seen.extend(txs.iter().map(|tx| (*tx).clone()));
///     }
/// }
///
/// let recorder = Recorder::default();
/// let tx = Transaction {
///     version: bitcoin::transaction::Version::TWO,
///     lock_time: bitcoin::absolute::LockTime::ZERO,
///     input: vec![],
///     output: vec![],
/// };
/// recorder.broadcast_transaction(&tx);
/// assert_eq!(recorder.0.lock().unwrap().len(), 1);
/// ```
pub trait Broadcaster {
    /// Publishes `txs` as one package, parents before children.
    fn broadcast_transactions(&self, txs: &[&Transaction]);

    /// Publishes one transaction.
    fn broadcast_transaction(&self, tx: &Transaction) {
        self.broadcast_transactions(&[tx]);
    }
}

impl<T: Broadcaster + ?Sized> Broadcaster for &T {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        (**self).broadcast_transactions(txs);
    }
}

impl<T: Broadcaster + ?Sized> Broadcaster for Box<T> {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        (**self).broadcast_transactions(txs);
    }
}

impl<T: Broadcaster + ?Sized> Broadcaster for Arc<T> {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        (**self).broadcast_transactions(txs);
    }
}
