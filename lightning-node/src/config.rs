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
//! watchtower_server = true        # serve as a watchtower for any peer
//! watchtowers = ["02ab…@10.0.0.5:9735"]  # send justice kits to these
//! accept_keysend = true           # take payments without an invoice (bLIP 3)
//! forward_history_days = 90       # prune resolved forwards older than this
//! rpc_tcp = "127.0.0.1:9835"      # the RPC over HTTP too, behind a bearer token
//! rpc_token_file = "rpc-token"    # that token (created, mode 0600, if absent)
//!
//! # The chain source: [bitcoind], or one of
//! # electrum = "ssl://electrum.example:50002"   (a light client)
//! # esplora = "https://blockstream.info/api"    (a light client)
//!
//! [bitcoind]
//! url = "http://127.0.0.1:18443/"
//! user = "u"
//! password = "p"
//! # or: cookie = "/path/to/regtest/.cookie"
//! rest = true                     # blocks by REST (bitcoind -rest=1)
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
    /// Blocks from Core's REST interface (`-rest=1`).
    pub rest: Option<bool>,
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
    /// Serve as a watchtower (issue 21) for any peer.
    pub watchtower_server: Option<bool>,
    /// Watchtowers to send a justice kit per revoked commitment to, each
    /// `<node id>@<host:port>`.
    pub watchtowers: Option<Vec<String>>,
    /// Accept keysend payments (bLIP 3; default false).
    pub accept_keysend: Option<bool>,
    /// Days resolved forwards stay in the history (`fwdinghistory`);
    /// unset: kept (`ForwardingConfig::history_retention`).
    pub forward_history_days: Option<u32>,
    /// An Electrum server to follow as a light client instead of bitcoind.
    pub electrum: Option<String>,
    /// An Esplora API to follow as a light client instead of bitcoind.
    pub esplora: Option<String>,
    /// Serve the RPC over TCP (HTTP `POST`) on this address too.
    pub rpc_tcp: Option<String>,
    /// The TCP RPC's bearer token file, relative to the data directory
    /// (default `rpc-token`; created with a fresh token if absent).
    pub rpc_token_file: Option<PathBuf>,
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
            watchtower_server: other.watchtower_server.or(self.watchtower_server),
            watchtowers: other.watchtowers.or(self.watchtowers),
            accept_keysend: other.accept_keysend.or(self.accept_keysend),
            forward_history_days: other.forward_history_days.or(self.forward_history_days),
            rpc_tcp: other.rpc_tcp.or(self.rpc_tcp),
            electrum: other.electrum.or(self.electrum),
            esplora: other.esplora.or(self.esplora),
            rpc_token_file: other.rpc_token_file.or(self.rpc_token_file),
            bitcoind: BitcoindSection {
                url: other.bitcoind.url.or(self.bitcoind.url),
                user: other.bitcoind.user.or(self.bitcoind.user),
                password: other.bitcoind.password.or(self.bitcoind.password),
                cookie: other.bitcoind.cookie.or(self.bitcoind.cookie),
                rest: other.bitcoind.rest.or(self.bitcoind.rest),
            },
        }
    }

    /// The configured watchtowers, parsed.
    pub fn watchtowers(
        &self,
    ) -> Result<Vec<(bitcoin::secp256k1::PublicKey, std::net::SocketAddr)>, String> {
        self.watchtowers
            .iter()
            .flatten()
            .map(|t| {
                let (id, addr) = t
                    .split_once('@')
                    .ok_or_else(|| format!("watchtower {t:?}: expected <node id>@<host:port>"))?;
                let id = id
                    .parse()
                    .map_err(|e| format!("watchtower {t:?}: bad node id: {e}"))?;
                let addr = addr
                    .parse()
                    .map_err(|e| format!("watchtower {t:?}: bad address: {e}"))?;
                Ok((id, addr))
            })
            .collect()
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

    #[test]
    fn watchtowers_parse_or_say_why_not() {
        let id = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
        let c = Config::parse(&format!(
            "watchtower_server = true\nwatchtowers = [\"{id}@127.0.0.1:9735\"]\n"
        ))
        .unwrap();
        assert_eq!(c.watchtower_server, Some(true));
        let towers = c.watchtowers().unwrap();
        assert_eq!(towers.len(), 1);
        assert_eq!(towers[0].0.to_string(), id);
        assert_eq!(towers[0].1.port(), 9735);
        for bad in ["nope", &format!("{id}@nowhere"), "02zz@127.0.0.1:1"] {
            let c = Config {
                watchtowers: Some(vec![bad.to_owned()]),
                ..Config::default()
            };
            assert!(c.watchtowers().is_err(), "{bad}");
        }
    }
}
