//! `lnnode`'s settings: a TOML file (`<datadir>/lnnode.toml` unless
//! `--config` names another) overridden by command-line flags.
//!
//! ```toml
//! network = "regtest"
//! listen = "127.0.0.1:9735"
//! alias = "alice"
//! rpc_file = "lightning-rpc"      # relative to the data directory
//! log_level = "info"
//! store = "fs"                    # fs | sqlite | postgres
//! postgres_url = "postgresql://…" # store = "postgres"
//! sync_interval_ms = 1000
//!
//! [bitcoind]
//! url = "http://127.0.0.1:18443/"
//! user = "u"
//! password = "p"
//! # or: cookie = "/path/to/regtest/.cookie"
//! ```

use std::path::PathBuf;

use serde::Deserialize;

/// The `[bitcoind]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BitcoindSection {
    /// The RPC URL.
    pub url: Option<String>,
    /// `rpcuser`.
    pub user: Option<String>,
    /// `rpcpassword`.
    pub password: Option<String>,
    /// A cookie file instead of user and password.
    pub cookie: Option<PathBuf>,
}

/// Every setting (file and flags).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `bitcoin`, `testnet`, `signet`, `regtest`.
    pub network: Option<String>,
    /// Peer listen address.
    pub listen: Option<String>,
    /// The alias.
    pub alias: Option<String>,
    /// The RPC socket (relative paths are in the data directory).
    pub rpc_file: Option<PathBuf>,
    /// `error`, `warn`, `info`, `debug`.
    pub log_level: Option<String>,
    /// `fs`, `sqlite`, `postgres`.
    pub store: Option<String>,
    /// For `store = "postgres"`.
    pub postgres_url: Option<String>,
    /// Chain polling interval.
    pub sync_interval_ms: Option<u64>,
    /// The chain source.
    #[serde(default)]
    pub bitcoind: BitcoindSection,
}

impl Config {
    /// Parses a TOML file's text.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// `other`'s settings where it has them, ours elsewhere.
    pub fn overridden_by(self, other: Config) -> Config {
        Config {
            network: other.network.or(self.network),
            listen: other.listen.or(self.listen),
            alias: other.alias.or(self.alias),
            rpc_file: other.rpc_file.or(self.rpc_file),
            log_level: other.log_level.or(self.log_level),
            store: other.store.or(self.store),
            postgres_url: other.postgres_url.or(self.postgres_url),
            sync_interval_ms: other.sync_interval_ms.or(self.sync_interval_ms),
            bitcoind: BitcoindSection {
                url: other.bitcoind.url.or(self.bitcoind.url),
                user: other.bitcoind.user.or(self.bitcoind.user),
                password: other.bitcoind.password.or(self.bitcoind.password),
                cookie: other.bitcoind.cookie.or(self.bitcoind.cookie),
            },
        }
    }

    /// The network.
    pub fn network(&self) -> Result<bitcoin::Network, String> {
        match self.network.as_deref().unwrap_or("regtest") {
            "bitcoin" | "mainnet" => Ok(bitcoin::Network::Bitcoin),
            "testnet" => Ok(bitcoin::Network::Testnet),
            "signet" => Ok(bitcoin::Network::Signet),
            "regtest" => Ok(bitcoin::Network::Regtest),
            other => Err(format!("unknown network {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let file = Config::parse(
            "network = \"regtest\"\nlisten = \"127.0.0.1:1\"\n[bitcoind]\nurl = \"http://x/\"\nuser = \"u\"\n",
        )
        .unwrap();
        let flags = Config {
            listen: Some("127.0.0.1:2".into()),
            ..Config::default()
        };
        let c = file.overridden_by(flags);
        assert_eq!(c.listen.as_deref(), Some("127.0.0.1:2"));
        assert_eq!(c.bitcoind.user.as_deref(), Some("u"));
        assert_eq!(c.network().unwrap(), bitcoin::Network::Regtest);
        assert!(Config::parse("bogus = 1").is_err());
    }
}
