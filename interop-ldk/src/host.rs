//! Our node's TCP host: the shared host loop of `lightning-test-support`
//! ([`TcpHost`](lightning_test_support::host::TcpHost), here [`OurNode`]), and the configuration the scenarios
//! start from.

use bitcoin::Network;
use lightning_core::node::NodeConfig;

pub use lightning_test_support::host::{now, HostState, TcpHost as OurNode};

/// The regtest configuration the scenarios start from: anchors offered
/// when `anchors`, funding depth 1.
pub fn config(anchors: bool) -> NodeConfig {
    let mut config = NodeConfig::new(Network::Regtest);
    config.channel.anchors = anchors;
    config.channel.minimum_depth = 1;
    config
}
