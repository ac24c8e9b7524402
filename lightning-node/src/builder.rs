//! [`Builder`]: network, data directory, chain source, store, listen
//! address, seed; `build` opens the store (refusing a second instance),
//! restores the node, the wallet and the runtime's records, and starts the
//! threads.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bitcoin::{BlockHash, Network};
use lightning_chain::bitcoind::{BitcoindAuth, BitcoindSource};
use lightning_chain::{BestBlock, FeeConfig};
use lightning_core::keys::KeysManager;
use lightning_core::node::{NodeBuilder, NodeConfig, NodeHost};
use lightning_persist::{FsStore, KvStore, PersistError};

use crate::meta::Meta;
use crate::runtime::{ChainBackend, Runtime, Shared, State};
use crate::wallet::OnchainWallet;

/// Where blocks come from and transactions go.
#[derive(Clone)]
pub enum ChainConfig {
    /// Bitcoin Core's JSON-RPC (or `simchain`'s).
    Bitcoind {
        /// `http://127.0.0.1:18443/`.
        url: String,
        /// User and password, or a cookie file.
        auth: BitcoindAuth,
        /// Blocks from Core's REST interface (bitcoind run with
        /// `-rest=1`): binary, no hex or JSON; falls back to JSON-RPC if
        /// bitcoind has REST off
        /// ([`BitcoindSource::use_rest`](lightning_chain::bitcoind::BitcoindSource::use_rest)).
        rest: bool,
    },
    /// An Electrum server (`tcp://host:port` or `ssl://host:port`),
    /// followed as a light client: script histories of what the wallet
    /// and the node watch, each transaction checked against its block's
    /// merkle root (feature `electrum`).
    #[cfg(feature = "electrum")]
    Electrum {
        /// The server.
        url: String,
    },
    /// An Esplora HTTP API (`https://blockstream.info/api`), followed as
    /// a light client like Electrum (feature `esplora`).
    #[cfg(feature = "esplora")]
    Esplora {
        /// The API's base URL, without a trailing slash.
        url: String,
    },
    /// A backend the embedder made.
    Custom(Arc<dyn ChainBackend>),
}

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainConfig::Bitcoind { url, auth, rest } => f
                .debug_struct("Bitcoind")
                .field("url", url)
                .field("auth", auth)
                .field("rest", rest)
                .finish(),
            #[cfg(feature = "electrum")]
            ChainConfig::Electrum { url } => f.debug_struct("Electrum").field("url", url).finish(),
            #[cfg(feature = "esplora")]
            ChainConfig::Esplora { url } => f.debug_struct("Esplora").field("url", url).finish(),
            ChainConfig::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Where the node's state is kept.
#[derive(Clone, Default)]
pub enum StoreConfig {
    /// `FsStore` in `<datadir>/store` (the default).
    #[default]
    Fs,
    /// `SqliteStore` in `<datadir>/node.sqlite`.
    #[cfg(feature = "sqlite")]
    Sqlite,
    /// `PostgresStore` at `url`, store name `store`.
    #[cfg(feature = "postgres")]
    Postgres {
        /// `postgresql://user:pass@host/db`.
        url: String,
        /// The store's name in that database.
        store: String,
    },
    /// A store the embedder opened.
    Custom(Arc<dyn KvStore>),
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreConfig::Fs => f.write_str("Fs"),
            #[cfg(feature = "sqlite")]
            StoreConfig::Sqlite => f.write_str("Sqlite"),
            #[cfg(feature = "postgres")]
            StoreConfig::Postgres { store, .. } => write!(f, "Postgres({store})"),
            StoreConfig::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Why [`Builder::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A required setting is missing.
    #[error("missing setting: {0}")]
    Missing(&'static str),
    /// The store is held by another instance.
    #[error("the store is in use by another instance ({0}): is lnnode already running on this data directory?")]
    Locked(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] PersistError),
    /// The node refused its store or keys.
    #[error("node: {0}")]
    Node(#[from] lightning_core::node::BuildError),
    /// The chain source.
    #[error("chain source: {0}")]
    Chain(String),
    /// The listen address.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Configures and starts a [`Runtime`].
#[must_use]
pub struct Builder {
    network: Network,
    data_dir: Option<PathBuf>,
    chain: Option<ChainConfig>,
    store: StoreConfig,
    listen: Option<SocketAddr>,
    seed: Option<[u8; 32]>,
    alias: Option<String>,
    sync_interval: Duration,
    config: Option<NodeConfig>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("network", &self.network)
            .field("data_dir", &self.data_dir)
            .field("chain", &self.chain)
            .field("store", &self.store)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A builder for `network`.
    pub fn new(network: Network) -> Self {
        Builder {
            network,
            data_dir: None,
            chain: None,
            store: StoreConfig::Fs,
            listen: None,
            seed: None,
            alias: None,
            sync_interval: Duration::from_secs(1),
            config: None,
        }
    }
    /// The data directory (store, seed, RPC socket).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    /// The chain source.
    pub fn chain(mut self, chain: ChainConfig) -> Self {
        self.chain = Some(chain);
        self
    }
    /// The store.
    pub fn store(mut self, store: StoreConfig) -> Self {
        self.store = store;
        self
    }
    /// Where to accept peers (`127.0.0.1:0` picks a port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }
    /// The node's 32-byte seed (see [`crate::seed`]).
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }
    /// The alias `getinfo` shows.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }
    /// How often the chain is polled (default 1 s).
    pub fn sync_interval(mut self, d: Duration) -> Self {
        self.sync_interval = d;
        self
    }
    /// The node's configuration (default `NodeConfig::new(network)` with
    /// public channels: `channel.announce_channel` set).
    pub fn node_config(mut self, config: NodeConfig) -> Self {
        self.config = Some(config);
        self
    }

    fn open_store(&self, dir: &std::path::Path) -> Result<Arc<dyn KvStore>, BuildError> {
        let locked = |e: PersistError| match e {
            PersistError::Locked { .. } => BuildError::Locked(e.to_string()),
            e => BuildError::Store(e),
        };
        Ok(match &self.store {
            StoreConfig::Fs => {
                Arc::new(FsStore::open(dir.join("store"), "lnnode").map_err(locked)?)
            }
            #[cfg(feature = "sqlite")]
            StoreConfig::Sqlite => Arc::new(
                lightning_persist::SqliteStore::open(dir.join("node.sqlite"), "lnnode")
                    .map_err(locked)?,
            ),
            #[cfg(feature = "postgres")]
            StoreConfig::Postgres { url, store } => Arc::new(
                lightning_persist::PostgresStore::open(
                    url,
                    &lightning_persist::PostgresOptions::new(store, "lnnode"),
                )
                .map_err(locked)?,
            ),
            StoreConfig::Custom(s) => s.clone(),
        })
    }

    /// Opens the store, restores or creates the node and starts it.
    pub fn build(self) -> Result<Runtime, BuildError> {
        let dir = self
            .data_dir
            .clone()
            .ok_or(BuildError::Missing("data_dir"))?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| BuildError::Other(format!("{}: {e}", dir.display())))?;
        let seed = self.seed.ok_or(BuildError::Missing("seed"))?;
        let chain: Arc<dyn ChainBackend> =
            match self.chain.clone().ok_or(BuildError::Missing("chain"))? {
                ChainConfig::Bitcoind { url, auth, rest } => {
                    let source = BitcoindSource::new(&url, auth, FeeConfig::default())
                        .map_err(|e| BuildError::Chain(e.to_string()))?;
                    Arc::new(if rest { source.use_rest() } else { source })
                }
                #[cfg(feature = "electrum")]
                ChainConfig::Electrum { url } => Arc::new(
                    lightning_chain::electrum::ElectrumSource::new(
                        &url,
                        Duration::from_secs(30),
                        FeeConfig::default(),
                    )
                    .map_err(|e| BuildError::Chain(e.to_string()))?,
                ),
                #[cfg(feature = "esplora")]
                ChainConfig::Esplora { url } => {
                    Arc::new(lightning_chain::esplora::EsploraSource::new(
                        &url,
                        Duration::from_secs(30),
                        FeeConfig::default(),
                    ))
                }
                ChainConfig::Custom(c) => c,
            };
        let store = self.open_store(&dir)?;
        let meta = Meta::load(store.clone())?;
        let keys = Arc::new(KeysManager::new(&seed).map_err(|e| BuildError::Other(e.to_string()))?);
        let mut wallet =
            OnchainWallet::new(keys, self.network).map_err(|e| BuildError::Other(e.to_string()))?;
        let best = match meta.load_chain()? {
            Some(rec) => {
                let hash: BlockHash = rec
                    .hash
                    .parse()
                    .map_err(|_| BuildError::Other("corrupt chain record".into()))?;
                let bytes = serde_json::to_vec(&rec.wallet).unwrap_or_default();
                wallet
                    .restore(&bytes, rec.height)
                    .map_err(|e| BuildError::Other(e.to_string()))?;
                BestBlock::new(hash, rec.height)
            }
            None => BestBlock::genesis(self.network),
        };
        fn host_of(chain: &Arc<dyn ChainBackend>) -> NodeHost {
            struct B(Arc<dyn ChainBackend>);
            impl lightning_chain::Broadcaster for B {
                fn broadcast_transactions(&self, txs: &[&bitcoin::Transaction]) {
                    self.0.broadcast_transactions(txs)
                }
            }
            impl lightning_chain::FeeEstimator for B {
                fn fee_rate(
                    &self,
                    t: lightning_chain::ConfirmationTarget,
                ) -> lightning_chain::FeeRate {
                    self.0.fee_rate(t)
                }
            }
            let b = Arc::new(B(chain.clone()));
            NodeHost {
                broadcaster: b.clone(),
                fee_estimator: b,
            }
        }
        // Public channels by default, as Core Lightning's `fundchannel`
        // (`announce` defaults to true).
        let config = self.config.clone().unwrap_or_else(|| {
            let mut c = NodeConfig::new(self.network);
            c.channel.announce_channel = true;
            c
        });
        let node = NodeBuilder::from_config(config)
            .network(self.network)
            .seed(&seed)
            .store(store.clone())
            .host(host_of(&chain))
            .best_block(best)
            .build()?;
        let listener = match self.listen {
            Some(addr) => {
                let l = TcpListener::bind(addr).map_err(|e| BuildError::Listen(addr, e))?;
                l.set_nonblocking(true)
                    .map_err(|e| BuildError::Listen(addr, e))?;
                Some(l)
            }
            None => None,
        };
        let listen = listener.as_ref().and_then(|l| l.local_addr().ok());
        let alias = self.alias.clone().unwrap_or_else(|| {
            let id = node.node_id().serialize();
            format!("lnnode-{}", hex::encode(&id[1..4]))
        });
        // A light client sees only what is watched: the node registers
        // its outputs and transactions with it.
        let watched = Arc::new(crate::runtime::WatchedScripts::default());
        let mut node = node;
        if matches!(chain.follow(), crate::runtime::Follow::Scripts(_)) {
            node.set_watch_filter(watched.clone());
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                node,
                wallet,
                meta,
                conns: Vec::new(),
                subscribers: Vec::new(),
                fundings: Default::default(),
                closed: Default::default(),
                offer_outcomes: Default::default(),
                errors: Vec::new(),
                synced: false,
                sync_error: None,
                peer_addrs: Default::default(),
                mempool_transactions: 0,
                mempool_preimages: 0,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            chain,
            store,
            network: self.network,
            alias,
            listen,
            sync_interval: self.sync_interval,
            sync_now: AtomicBool::new(false),
            watched,
            data_dir: dir,
        });
        Ok(Runtime::start(shared, listener, best))
    }
}
