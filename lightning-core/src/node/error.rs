//! What went wrong in a [`Node`](super::Node) call.

use bitcoin::secp256k1::PublicKey;
use lightning_wire::types::ChannelId;

use super::PaymentHash;
use crate::channel::ChannelError;
use crate::keys::KeyError;
use crate::peer::PeerError;

/// What went wrong in a [`Node`](super::Node) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A key operation failed.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// The connection failed (it is closed; see [`Node::poll_transmit`](super::Node::poll_transmit)
    /// for its last bytes).
    #[error("peer: {0}")]
    Peer(#[from] PeerError),
    /// A channel refused the request.
    #[error("channel: {0}")]
    Channel(#[from] ChannelError),
    /// A write failed: the node releases no message from now on (restart
    /// it from its store).
    #[error("persistence: {0}")]
    Persist(String),
    /// Reading the store on restore failed.
    #[error("restore: {0}")]
    Restore(String),
    /// A channel backup could not be read or used (issue 21).
    #[error("backup: {0}")]
    Backup(#[from] crate::backup::BackupError),
    /// The peer is not connected.
    #[error("peer {0} is not connected")]
    NotConnected(PublicKey),
    /// No channel has this id.
    #[error("no channel {0}")]
    UnknownChannel(ChannelId),
    /// The invoice cannot be paid or built.
    #[error("invoice: {0}")]
    Invoice(String),
    /// [`Node::pay_invoice_str`](super::Node::pay_invoice_str) was given a string that is not a valid
    /// BOLT 11 invoice (too long, bad checksum, bad signature...).
    #[error("invalid invoice: {0}")]
    InvalidInvoice(#[from] lightning_wire::bolt11::Bolt11ParseError),
    /// No channel to the payee can carry the amount now.
    #[error("no usable channel to {payee} with {amount_msat} msat of outbound capacity")]
    NoRoute {
        /// The payee.
        payee: PublicKey,
        /// The amount.
        amount_msat: u64,
    },
    /// The funding transaction gives the channel the id of another channel
    /// (the same outpoint): the new channel was forgotten.
    #[error("channel id {0} is already in use")]
    ChannelIdCollision(ChannelId),
    /// The route cannot be used (empty, too long, bad custom records...).
    #[error("route: {0}")]
    Route(String),
    /// This invoice is being paid or was paid.
    #[error("payment {0} is already pending or done")]
    DuplicatePayment(PaymentHash),
    /// The invoice's `min_final_cltv_expiry_delta` is above
    /// [`NodeConfig::max_final_cltv_expiry_delta`](super::NodeConfig::max_final_cltv_expiry_delta): paying it could lock
    /// the amount for that long.
    #[error("the invoice's min_final_cltv_expiry_delta {delta} is above our cap of {max} blocks")]
    FinalCltvExpiryDeltaTooLarge {
        /// The invoice's delta.
        delta: u64,
        /// The configured cap.
        max: u32,
    },
}
