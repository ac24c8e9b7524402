//! Everything a host needs to embed a [`Node`], in one import:
//!
//! ```
//! use lightning_core::prelude::*;
//! ```
//!
//! It holds the node and what goes in and out of it: configuration, the
//! host services (chain, fees, storage), events, and the typed values
//! (amounts, hashes, ids) of its API.

pub use crate::amount::{FeeratePerKw, Msat};
pub use crate::keys::KeysManager;
pub use crate::node::{
    AcceptAll, Balances, BuildError, ChannelDetails, Event, InboundChannelAcceptor,
    InboundChannelDecision, InboundChannelRequest, InboundLimits, InvoiceDetails, InvoiceStatus,
    Node, NodeBuilder, NodeConfig, NodeError, NodeHost, PaymentDetails, PaymentFailure, PaymentId,
    PaymentStatus, PersistId, PersistRequest, Persistence,
};
pub use crate::peer::{PeerError, PeerId};
pub use lightning_chain::{
    BestBlock, Broadcaster, ChainListener, ConfirmationTarget, FeeEstimator, FeeRate,
    FixedFeeEstimator,
};
pub use lightning_persist::{BatchOp, KvStore, MemoryStore};
pub use lightning_wire::bolt11::Bolt11Invoice;
pub use lightning_wire::types::{ChannelId, PaymentHash, PaymentPreimage, ShortChannelId};
