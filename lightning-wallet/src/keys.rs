//! The wallet's keys: BIP 32 from the seed, BIP 84 paths, and the P2WPKH
//! signatures [`Wallet::sign_wallet_inputs`](lightning_chain::Wallet::sign_wallet_inputs)
//! returns (no PSBT on that path).

use bdk_wallet::KeychainKind;
use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv};
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{CompressedPublicKey, Network, NetworkKind, ScriptBuf, Transaction, TxOut, Witness};

use crate::BdkWalletError;

/// The BIP 32 master key of the wallet and the BIP 84 account it uses.
#[derive(Clone)]
pub struct WalletKeys {
    master: Xpriv,
    network: Network,
    secp: Secp256k1<All>,
}

impl std::fmt::Debug for WalletKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletKeys")
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl WalletKeys {
    /// The master key of `seed` (16 to 64 bytes, BIP 32).
    pub fn from_seed(seed: &[u8], network: Network) -> Result<Self, BdkWalletError> {
        let kind = NetworkKind::from(network);
        let master =
            Xpriv::new_master(kind, seed).map_err(|e| BdkWalletError::Keys(e.to_string()))?;
        Ok(WalletKeys {
            master,
            network,
            secp: Secp256k1::new(),
        })
    }

    /// The BIP 32 master key.
    pub(crate) fn master(&self) -> &Xpriv {
        &self.master
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// BIP 44's coin type: 0 on mainnet, 1 on every test network.
    fn coin_type(&self) -> u32 {
        match self.network {
            Network::Bitcoin => 0,
            _ => 1,
        }
    }

    /// The receive and change descriptors, with the private key:
    /// `wpkh(xprv/84'/c'/0'/0/*)` and `wpkh(xprv/84'/c'/0'/1/*)`.
    pub fn descriptors(&self) -> (String, String) {
        let c = self.coin_type();
        let m = self.master;
        (
            format!("wpkh({m}/84'/{c}'/0'/0/*)"),
            format!("wpkh({m}/84'/{c}'/0'/1/*)"),
        )
    }

    fn path(&self, keychain: KeychainKind, index: u32) -> Result<DerivationPath, String> {
        let hardened = |i| ChildNumber::from_hardened_idx(i).map_err(|e| e.to_string());
        let normal = |i| ChildNumber::from_normal_idx(i).map_err(|e| e.to_string());
        let branch = match keychain {
            KeychainKind::External => 0,
            KeychainKind::Internal => 1,
        };
        Ok(DerivationPath::from(vec![
            hardened(84)?,
            hardened(self.coin_type())?,
            hardened(0)?,
            normal(branch)?,
            normal(index)?,
        ]))
    }

    /// The witness spending `prevout` (a P2WPKH of the key at `keychain`/
    /// `index`) as input `input` of `tx`, `SIGHASH_ALL` (BIP 143).
    pub(crate) fn sign_p2wpkh(
        &self,
        tx: &Transaction,
        input: usize,
        prevout: &TxOut,
        keychain: KeychainKind,
        index: u32,
    ) -> Result<Witness, String> {
        let path = self.path(keychain, index)?;
        let child = self
            .master
            .derive_priv(&self.secp, &path)
            .map_err(|e| e.to_string())?;
        let secret = child.private_key;
        let public = CompressedPublicKey(secret.public_key(&self.secp));
        if prevout.script_pubkey != ScriptBuf::new_p2wpkh(&public.wpubkey_hash()) {
            return Err("the output is not a P2WPKH of this key".into());
        }
        let sighash = SighashCache::new(tx)
            .p2wpkh_signature_hash(
                input,
                &prevout.script_pubkey,
                prevout.value,
                EcdsaSighashType::All,
            )
            .map_err(|e| e.to_string())?;
        let signature = self.secp.sign_ecdsa_low_r(&Message::from(sighash), &secret);
        let signature = bitcoin::ecdsa::Signature::sighash_all(signature);
        Ok(Witness::p2wpkh(&signature, &public.0))
    }
}
