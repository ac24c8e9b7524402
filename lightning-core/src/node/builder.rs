//! [`NodeBuilder`]: the one way to start a [`Node`], new or from its store.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Network, ScriptBuf};
use lightning_chain::{BestBlock, Wallet};
use lightning_persist::KvStore;
use lightning_wire::types::ChainHash;

use super::identity::{self, Identity, Stored};
use super::{InboundChannelAcceptor, Node, NodeConfig, NodeError, NodeHost, NodeKeys, Persistence};
use crate::keys::{ChannelSignerProvider, EntropySource, KeyError, KeysManager, NodeSigner};

/// Why [`NodeBuilder::build`] refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither a seed nor signers were given.
    #[error("no keys: give the builder a seed, a KeysManager or signers")]
    MissingKeys,
    /// No store was given.
    #[error("no persistence: give the builder a store")]
    MissingPersistence,
    /// No broadcaster and fee estimator were given.
    #[error("no host services: give the builder a NodeHost")]
    MissingHost,
    /// The node's keys come from host signers and the configuration names
    /// no shutdown script ([`NodeConfig::shutdown_script`]): only a seed
    /// gives the node a wallet key of its own to close to.
    #[error("signers without a shutdown script: set NodeConfig::shutdown_script")]
    MissingShutdownScript,
    /// The store belongs to another node: starting over it would use that
    /// node's channels with keys that cannot sign for them.
    #[error("the store belongs to node {stored}, not to this node {ours}")]
    WrongNode {
        /// The node id recorded in the store.
        stored: Box<PublicKey>,
        /// This node's id.
        ours: Box<PublicKey>,
    },
    /// The store belongs to a node on another chain.
    #[error("the store is for chain {stored} ({stored_network:?}), not {ours}")]
    WrongNetwork {
        /// The chain hash recorded in the store.
        stored: ChainHash,
        /// The network it names, if `bitcoin` knows it.
        stored_network: Option<Network>,
        /// The network this node is configured for.
        ours: Network,
    },
    /// The store could not be read, or its identity record is damaged.
    #[error("store: {0}")]
    Store(String),
    /// A key operation failed.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// Restoring the node from the store failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

enum KeysSource {
    Seed([u8; 32]),
    Manager(Arc<KeysManager>),
    Signers {
        node_signer: Arc<dyn NodeSigner + Send + Sync>,
        entropy: Arc<dyn EntropySource + Send + Sync>,
        channel_signers: Arc<dyn ChannelSignerProvider + Send + Sync>,
    },
}

/// Builds a [`Node`]: keys (a seed, a [`KeysManager`], or the host's own
/// signers), the network and configuration, the store, and the host's
/// services. [`build`](NodeBuilder::build) restores the node from the store
/// when the store holds one, and starts an empty node over an empty store.
///
/// The store remembers whose it is: the first build over a store records
/// the node id and the chain, and a later build with another seed or
/// signer fails with [`BuildError::WrongNode`], with another network with
/// [`BuildError::WrongNetwork`]. So a host cannot start an empty node over
/// another node's channels, or over its own on the wrong chain.
///
/// ```
/// use std::sync::Arc;
/// use bitcoin::Network;
/// use lightning_chain::{FeeRate, FixedFeeEstimator};
/// use lightning_core::node::{BuildError, Node, NodeHost};
/// use lightning_persist::MemoryStore;
///
/// #[derive(Debug)]
/// struct NoBroadcast;
/// impl lightning_chain::Broadcaster for NoBroadcast {
///     fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
/// }
/// let host = NodeHost {
///     broadcaster: Arc::new(NoBroadcast),
///     fee_estimator: Arc::new(FixedFeeEstimator::new(FeeRate::from_sat_per_kw(2500))),
/// };
/// let store = Arc::new(MemoryStore::new());
///
/// // A new node: the store is empty.
/// let node = Node::builder(Network::Regtest)
///     .seed(&[1; 32])
///     .store(store.clone())
///     .host(host.clone())
///     .build()?;
/// assert!(node.list_channels().is_empty());
/// drop(node);
///
/// // The same node again, restored from its store.
/// let again = Node::builder(Network::Regtest)
///     .seed(&[1; 32])
///     .store(store.clone())
///     .host(host.clone())
///     .build()?;
///
/// // Another seed over that store is refused.
/// let other = Node::builder(Network::Regtest)
///     .seed(&[2; 32])
///     .store(store)
///     .host(host)
///     .build();
/// assert!(matches!(other, Err(BuildError::WrongNode { .. })));
/// # let _ = again;
/// # Ok::<(), BuildError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct NodeBuilder {
    config: NodeConfig,
    keys: Option<KeysSource>,
    persistence: Option<Persistence>,
    host: Option<NodeHost>,
    best_block: Option<BestBlock>,
    acceptor: Option<Arc<dyn InboundChannelAcceptor>>,
    wallet: Option<Arc<dyn Wallet + Send + Sync>>,
    utxo: Option<Arc<dyn lightning_gossip::UtxoLookup + Send + Sync>>,
}

impl core::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("network", &self.config.network)
            .field("keys", &self.keys.is_some())
            .field("persistence", &self.persistence.is_some())
            .field("host", &self.host.is_some())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A [`NodeBuilder`] for `network`, with [`NodeConfig::new`]'s defaults.
    pub fn builder(network: Network) -> NodeBuilder {
        NodeBuilder::new(network)
    }
}

impl NodeBuilder {
    /// A builder for `network`, with [`NodeConfig::new`]'s defaults.
    pub fn new(network: Network) -> Self {
        NodeBuilder {
            config: NodeConfig::new(network),
            keys: None,
            persistence: None,
            host: None,
            best_block: None,
            acceptor: None,
            wallet: None,
            utxo: None,
        }
    }

    /// A builder for `config`'s network, with `config`.
    pub fn from_config(config: NodeConfig) -> Self {
        NodeBuilder::new(config.network).config(config)
    }

    /// The node's settings; the network is the configuration's
    /// ([`NodeConfig::network`]).
    pub fn config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    /// The network (replaces the configuration's, and the channels'
    /// `chain_hash` with it).
    pub fn network(mut self, network: Network) -> Self {
        self.config.network = network;
        self.config.channel.chain_hash = ChainHash::for_network(network);
        self
    }

    /// Every key from one 32-byte seed ([`KeysManager`]): the node key, the
    /// channels' keys, entropy, and the wallet key cooperative closes pay to
    /// when [`NodeConfig::shutdown_script`] is `None`.
    pub fn seed(mut self, seed: &[u8; 32]) -> Self {
        self.keys = Some(KeysSource::Seed(*seed));
        self
    }

    /// A [`KeysManager`] the host keeps a handle to (to mix in its own
    /// randomness first, say): it plays all three roles, as with
    /// [`seed`](Self::seed).
    pub fn keys_manager(mut self, keys: Arc<KeysManager>) -> Self {
        self.keys = Some(KeysSource::Manager(keys));
        self
    }

    /// The host's own signers: the node key ([`NodeSigner`]: BOLT 8 and
    /// BOLT 4 ECDH, invoice and gossip signatures), the entropy the node
    /// draws ephemeral keys, preimages and ids from ([`EntropySource`]), and
    /// each channel's signer by keys index ([`ChannelSignerProvider`]). The
    /// node then holds no secret key. [`NodeConfig::shutdown_script`] must
    /// be set ([`BuildError::MissingShutdownScript`]).
    pub fn signers(
        mut self,
        node_signer: Arc<dyn NodeSigner + Send + Sync>,
        entropy: Arc<dyn EntropySource + Send + Sync>,
        channel_signers: Arc<dyn ChannelSignerProvider + Send + Sync>,
    ) -> Self {
        self.keys = Some(KeysSource::Signers {
            node_signer,
            entropy,
            channel_signers,
        });
        self
    }

    /// Where the node writes, inline or handed out to the host (see
    /// [`Persistence`]); the store is also what the node restores from.
    pub fn persistence(mut self, persistence: Persistence) -> Self {
        self.persistence = Some(persistence);
        self
    }

    /// Inline persistence to `store` ([`Persistence::Inline`]).
    pub fn store(self, store: Arc<dyn KvStore>) -> Self {
        self.persistence(Persistence::Inline(store))
    }

    /// The host's broadcaster and fee estimator.
    pub fn host(mut self, host: NodeHost) -> Self {
        self.host = Some(host);
        self
    }

    /// The chain tip the host will feed blocks from (default: the
    /// network's genesis block).
    pub fn best_block(mut self, best_block: BestBlock) -> Self {
        self.best_block = Some(best_block);
        self
    }

    /// The host's decision on inbound channels (default
    /// [`AcceptAll`](super::AcceptAll)).
    pub fn inbound_channel_acceptor(mut self, acceptor: Arc<dyn InboundChannelAcceptor>) -> Self {
        self.acceptor = Some(acceptor);
        self
    }

    /// The host's wallet, which pays for fee bumps (BOLT 5 on-chain
    /// claims, issue 15): the CPFP of an unconfirmed `option_anchors`
    /// commitment through our anchor, and the fee of our zero-fee anchors
    /// HTLC-timeout/success transactions (wallet inputs and change). It
    /// lists confirmed coins, gives change scripts and signs its inputs
    /// ([`Wallet`]). Without one (the default), claims that pay for
    /// themselves are still bumped by RBF, but an anchors commitment or HTLC
    /// transaction that needs the wallet is broadcast as it is, and
    /// [`Event::FeeBumpUnavailable`](super::Event::FeeBumpUnavailable) says
    /// so. Also [`Node::set_wallet`].
    pub fn wallet(mut self, wallet: Arc<dyn Wallet + Send + Sync>) -> Self {
        self.wallet = Some(wallet);
        self
    }

    /// The host's view of the UTXO set, by `short_channel_id`: the public
    /// graph checks each `channel_announcement`'s funding output through
    /// it (BOLT 7: the output must be the channel's unspent P2WSH), and
    /// learns capacities from it. Without one, announcements are taken on
    /// their signatures alone (the light-client option) and capacities are
    /// unknown.
    pub fn utxo_lookup(
        mut self,
        utxo: Arc<dyn lightning_gossip::UtxoLookup + Send + Sync>,
    ) -> Self {
        self.utxo = Some(utxo);
        self
    }

    /// Builds the node: checks that the store is this node's and on this
    /// network (or empty, or written before stores recorded it: see
    /// [`Node::store_adopted`]), then restores everything it holds or
    /// starts empty. Restoring rebuilds the channels (each disconnected:
    /// HTLC offers never committed are failed, the rest resumes after
    /// `channel_reestablish`; each channel's signer comes back from the
    /// provider by the keys index its record kept), the invoices,
    /// payments and counters; broadcasts funding and closing transactions
    /// again; writes a new entropy epoch first; and raises again the
    /// payment and close events the host had not acknowledged (see
    /// [`Node::poll_event`]).
    pub fn build(self) -> Result<Node, BuildError> {
        let keys = match self.keys.ok_or(BuildError::MissingKeys)? {
            KeysSource::Seed(seed) => Self::from_manager(Arc::new(KeysManager::new(&seed)?))?,
            KeysSource::Manager(km) => Self::from_manager(km)?,
            KeysSource::Signers {
                node_signer,
                entropy,
                channel_signers,
            } => NodeKeys {
                shutdown_script: self
                    .config
                    .shutdown_script
                    .clone()
                    .ok_or(BuildError::MissingShutdownScript)?,
                node_signer,
                entropy,
                channel_signers,
                wallet: None,
            },
        };
        let keys = NodeKeys {
            wallet: self.wallet,
            ..keys
        };
        let persistence = self.persistence.ok_or(BuildError::MissingPersistence)?;
        let host = self.host.ok_or(BuildError::MissingHost)?;
        let best_block = self
            .best_block
            .unwrap_or_else(|| BestBlock::genesis(self.config.network));

        let store = match &persistence {
            Persistence::Inline(store) | Persistence::Async(store) => Arc::clone(store),
        };
        let ours = Identity {
            node_id: keys.node_signer.node_id(),
            chain_hash: ChainHash::for_network(self.config.network),
        };
        let stored = identity::read(&*store).map_err(BuildError::Store)?;
        if let Stored::Identity(id, _) = &stored {
            if id.node_id != ours.node_id {
                return Err(BuildError::WrongNode {
                    stored: Box::new(id.node_id),
                    ours: Box::new(ours.node_id),
                });
            }
            if id.chain_hash != ours.chain_hash {
                return Err(BuildError::WrongNetwork {
                    stored: id.chain_hash,
                    stored_network: id.chain_hash.network(),
                    ours: self.config.network,
                });
            }
        }

        let mut node = Node::restore(keys, self.config, persistence, host, best_block, &*store)?;
        match stored {
            Stored::Identity(_, version) => node.identity_kept(version),
            Stored::Absent { legacy } => node.identity_written(ours, legacy)?,
        }
        if let Some(acceptor) = self.acceptor {
            node.set_inbound_channel_acceptor(acceptor);
        }
        if let Some(utxo) = self.utxo {
            node.set_utxo_lookup(utxo);
        }
        Ok(node)
    }

    fn from_manager(km: Arc<KeysManager>) -> Result<NodeKeys, BuildError> {
        let wallet = km.wallet_key(0)?;
        let pk = bitcoin::CompressedPublicKey(PublicKey::from_secret_key(
            bitcoin::secp256k1::SECP256K1,
            &wallet,
        ));
        Ok(NodeKeys {
            shutdown_script: ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()),
            node_signer: km.clone(),
            entropy: km.clone(),
            channel_signers: km,
            wallet: None,
        })
    }
}
