//! A signer behind a message-passing boundary, as a remote signer or an
//! HSM would be: one thread owns the `KeysManager` (the seed, the node key
//! and every channel's keys) and answers requests over `std::sync::mpsc`;
//! the node holds only client handles, which carry owned requests to the
//! thread and wait for its reply. Nothing but public keys, signatures, ECDH
//! results, random bytes and released per-commitment secrets (which BOLT 2
//! sends to the peer anyway) crosses the boundary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bitcoin::secp256k1::{ecdsa, PublicKey, SECP256K1};
use bitcoin::{Amount, ScriptBuf, Transaction};
use lightning_core::keys::signer::CounterpartyCommitmentSignatures;
use lightning_core::keys::{
    ChannelPublicKeys, ChannelSigner, ChannelSignerProvider, DynChannelSigner, EntropySource,
    GossipMessageHash, InMemorySigner, KeyError, KeysManager, NodeSigner, SignerError,
    SpendKeyMaterial,
};
use lightning_core::transactions::commitment::{
    CommitmentHtlc, CommitmentKeys, CommitmentTransaction,
};
use lightning_core::transactions::sweep::SpendableOutput;
use lightning_wire::bolt11::UnsignedInvoice;

/// What the node asks the signer. Every field is owned: the request
/// crosses a thread boundary (a socket, in a real deployment).
enum Request {
    NodeId,
    Ecdh(PublicKey, Option<[u8; 32]>),
    SignGossip(GossipMessageHash),
    /// The whole unsigned invoice, so the signer can check what it signs.
    SignInvoice {
        hrp: String,
        data: Vec<u8>,
        hash: [u8; 32],
    },
    RandomBytes,
    BeginEpoch(u32),
    NewChannelSigner(u32),
    DropChannelSigner(u64),
    Channel(u64, Box<ChannelOp>),
}

enum ChannelOp {
    Pubkeys,
    ProvideCounterpartyKeys(ChannelPublicKeys),
    HolderPoint(u64),
    Release(u64),
    NextUnrevoked,
    RestoreRevocation(u64),
    CounterpartyKeys(PublicKey),
    SignCounterparty(CommitmentTransaction),
    SignHolder(CommitmentTransaction),
    SignHolderHtlc(CommitmentTransaction, CommitmentHtlc, Transaction),
    SignClosing(Transaction, Amount),
    SignSpend(Transaction, usize, SpendableOutput, SpendKeyMaterial),
}

/// The signer's answer.
enum Reply {
    Point(PublicKey),
    Bytes(Result<[u8; 32], KeyError>),
    Gossip(Result<ecdsa::Signature, KeyError>),
    Invoice(Result<ecdsa::RecoverableSignature, KeyError>),
    Done,
    Instance(Result<u64, KeyError>),
    Pubkeys(ChannelPublicKeys),
    HolderPoint(Result<PublicKey, SignerError>),
    Secret(Result<[u8; 32], SignerError>),
    Number(u64),
    Keys(Result<CommitmentKeys, SignerError>),
    Counterparty(Result<CounterpartyCommitmentSignatures, SignerError>),
    Signature(Result<bitcoin::ecdsa::Signature, SignerError>),
    Spend(Transaction, Result<bitcoin::ecdsa::Signature, SignerError>),
}

type Envelope = (Request, Sender<Reply>);

/// What the signer thread saw, for tests to check that the node used it.
#[derive(Debug, Default)]
pub struct Served {
    pub ecdh: AtomicU64,
    pub invoices: AtomicU64,
    pub random: AtomicU64,
    pub channel_ops: AtomicU64,
    /// The keys index of every `channel_signer` request, in order.
    pub indexes: Mutex<Vec<u32>>,
    /// Invoices refused because their hrp was not for regtest.
    pub refused_invoices: AtomicU64,
}

/// The signer thread and its client handle.
pub struct RemoteSigner {
    client: Client,
    thread: Option<JoinHandle<()>>,
    pub served: Arc<Served>,
    node_id: PublicKey,
    shutdown_script: ScriptBuf,
}

/// The node's side: a sender to the signer thread. Cheap to clone; holds no
/// key.
#[derive(Clone)]
pub struct Client {
    tx: Arc<Mutex<Option<Sender<Envelope>>>>,
}

impl Client {
    fn call(&self, request: Request) -> Result<Reply, KeyError> {
        let (reply_tx, reply_rx) = channel();
        {
            let guard = self.tx.lock().unwrap();
            let tx = guard
                .as_ref()
                .ok_or_else(|| KeyError::Unavailable("signer stopped".into()))?;
            tx.send((request, reply_tx))
                .map_err(|_| KeyError::Unavailable("signer gone".into()))?;
        }
        reply_rx
            .recv()
            .map_err(|_| KeyError::Unavailable("no reply".into()))
    }

    fn channel(&self, instance: u64, op: ChannelOp) -> Reply {
        self.call(Request::Channel(instance, Box::new(op)))
            .unwrap_or_else(|e| panic!("remote channel signer: {e}"))
    }
}

impl RemoteSigner {
    /// Starts a signer thread owning the keys of `seed`.
    pub fn start(seed: [u8; 32]) -> RemoteSigner {
        let (tx, rx) = channel::<Envelope>();
        let served = Arc::new(Served::default());
        let served_thread = Arc::clone(&served);
        let thread = std::thread::Builder::new()
            .name("remote-signer".into())
            .spawn(move || serve(seed, rx, &served_thread))
            .unwrap();
        // Public facts the host configures the node with.
        let keys = KeysManager::new(&seed).unwrap();
        let wallet = keys.wallet_key(0).unwrap();
        let pk = bitcoin::CompressedPublicKey(PublicKey::from_secret_key(SECP256K1, &wallet));
        RemoteSigner {
            client: Client {
                tx: Arc::new(Mutex::new(Some(tx))),
            },
            thread: Some(thread),
            served,
            node_id: keys.node_id(),
            shutdown_script: ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()),
        }
    }

    /// The client handle, as the node's three key traits.
    pub fn client(&self) -> Arc<Client> {
        Arc::new(self.client.clone())
    }

    /// The node id the signer's key gives (public).
    pub fn node_id(&self) -> PublicKey {
        self.node_id
    }

    /// A P2WPKH script of the signer's wallet key (public), for
    /// `NodeConfig::shutdown_script`.
    pub fn shutdown_script(&self) -> ScriptBuf {
        self.shutdown_script.clone()
    }

    /// Stops the thread: every later request fails with
    /// `KeyError::Unavailable`.
    pub fn stop(&mut self) {
        self.client.tx.lock().unwrap().take();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for RemoteSigner {
    fn drop(&mut self) {
        self.client.tx.lock().unwrap().take();
        // The thread ends once every client handle is dropped as well.
    }
}

/// The signer thread: the only place the seed and the keys live.
fn serve(seed: [u8; 32], rx: std::sync::mpsc::Receiver<Envelope>, served: &Served) {
    let keys = KeysManager::new(&seed).unwrap();
    let node_secret = keys_node_secret(&seed);
    assert_eq!(node_secret.public_key(SECP256K1), keys.node_id());
    let mut signers: HashMap<u64, InMemorySigner> = HashMap::new();
    let mut next_instance = 0u64;
    for (request, reply) in rx {
        let answer = match request {
            Request::NodeId => Reply::Point(keys.node_id()),
            Request::Ecdh(point, tweak) => {
                served.ecdh.fetch_add(1, Ordering::Relaxed);
                Reply::Bytes(NodeSigner::ecdh(&keys, &point, tweak.as_ref()))
            }
            Request::SignGossip(msg) => Reply::Gossip(keys.sign_gossip_message(msg)),
            Request::SignInvoice { hrp, data, hash } => {
                served.invoices.fetch_add(1, Ordering::Relaxed);
                // A signer that shows what it signs checks the invoice: a
                // regtest node signs regtest invoices only, and the hash must
                // be the one of the hrp and data it was shown (BOLT 11).
                if !hrp.starts_with("lnbcrt") || signing_hash(&hrp, &data) != hash {
                    served.refused_invoices.fetch_add(1, Ordering::Relaxed);
                    Reply::Invoice(Err(KeyError::Unavailable("invoice refused".into())))
                } else {
                    Reply::Invoice(Ok(SECP256K1.sign_ecdsa_recoverable(
                        &bitcoin::secp256k1::Message::from_digest(hash),
                        &node_secret,
                    )))
                }
            }
            Request::RandomBytes => {
                served.random.fetch_add(1, Ordering::Relaxed);
                Reply::Bytes(Ok(keys.random_bytes()))
            }
            Request::BeginEpoch(epoch) => {
                keys.begin_epoch(epoch);
                Reply::Done
            }
            Request::NewChannelSigner(index) => {
                served.indexes.lock().unwrap().push(index);
                Reply::Instance(keys.derive_channel_signer(index).map(|s| {
                    next_instance += 1;
                    signers.insert(next_instance, s);
                    next_instance
                }))
            }
            Request::DropChannelSigner(instance) => {
                signers.remove(&instance);
                Reply::Done
            }
            Request::Channel(instance, op) => {
                served.channel_ops.fetch_add(1, Ordering::Relaxed);
                let Some(s) = signers.get_mut(&instance) else {
                    // The client asked for an instance it never got: drop
                    // the reply sender, so the client sees no answer.
                    continue;
                };
                channel_op(s, *op)
            }
        };
        // A client that stopped waiting is not the signer's problem.
        let _ = reply.send(answer);
    }
}

fn channel_op(s: &mut InMemorySigner, op: ChannelOp) -> Reply {
    match op {
        ChannelOp::Pubkeys => Reply::Pubkeys(s.pubkeys()),
        ChannelOp::ProvideCounterpartyKeys(k) => {
            s.provide_counterparty_keys(k);
            Reply::Done
        }
        ChannelOp::HolderPoint(n) => Reply::HolderPoint(s.holder_per_commitment_point(n)),
        ChannelOp::Release(n) => Reply::Secret(s.release_holder_commitment_secret(n)),
        ChannelOp::NextUnrevoked => Reply::Number(s.next_unrevoked_holder_commitment()),
        ChannelOp::RestoreRevocation(n) => {
            s.restore_revocation_state(n);
            Reply::Done
        }
        ChannelOp::CounterpartyKeys(p) => Reply::Keys(s.counterparty_commitment_keys(&p)),
        ChannelOp::SignCounterparty(c) => Reply::Counterparty(s.sign_counterparty_commitment(&c)),
        ChannelOp::SignHolder(c) => Reply::Signature(s.sign_holder_commitment(&c)),
        ChannelOp::SignHolderHtlc(c, h, tx) => {
            Reply::Signature(s.sign_holder_htlc_transaction(&c, &h, &tx))
        }
        ChannelOp::SignClosing(tx, amount) => {
            Reply::Signature(s.sign_closing_transaction(&tx, amount))
        }
        ChannelOp::SignSpend(mut tx, i, out, material) => {
            let r = s.sign_spend_input(&mut tx, i, &out, material);
            Reply::Spend(tx, r)
        }
    }
}

/// The node secret `m/0'` of `seed`: only the signer thread calls this.
fn keys_node_secret(seed: &[u8; 32]) -> bitcoin::secp256k1::SecretKey {
    use bitcoin::bip32::{ChildNumber, Xpriv};
    let master = Xpriv::new_master(bitcoin::Network::Bitcoin, seed).unwrap();
    master
        .derive_priv(SECP256K1, &[ChildNumber::from_hardened_idx(0).unwrap()])
        .unwrap()
        .private_key
}

/// BOLT 11: SHA256 of the hrp's bytes and the data's 5-bit groups packed
/// into bytes, zero-padded.
fn signing_hash(hrp: &str, data: &[u8]) -> [u8; 32] {
    use bitcoin::hashes::{sha256, Hash, HashEngine};
    let mut bytes = hrp.as_bytes().to_vec();
    let mut acc = 0u32;
    let mut bits = 0u32;
    for v in data {
        acc = (acc << 5) | u32::from(*v);
        bits += 5;
        while bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits > 0 {
        bytes.push((acc << (8 - bits)) as u8);
    }
    let mut e = sha256::Hash::engine();
    e.input(&bytes);
    sha256::Hash::from_engine(e).to_byte_array()
}

impl NodeSigner for Client {
    fn node_id(&self) -> PublicKey {
        match self.call(Request::NodeId) {
            Ok(Reply::Point(p)) => p,
            _ => panic!("remote signer: no node id"),
        }
    }

    fn ecdh(&self, other: &PublicKey, tweak: Option<&[u8; 32]>) -> Result<[u8; 32], KeyError> {
        match self.call(Request::Ecdh(*other, tweak.copied()))? {
            Reply::Bytes(r) => r,
            _ => Err(KeyError::Unavailable("wrong reply".into())),
        }
    }

    fn sign_gossip_message(&self, msg: GossipMessageHash) -> Result<ecdsa::Signature, KeyError> {
        match self.call(Request::SignGossip(msg))? {
            Reply::Gossip(r) => r,
            _ => Err(KeyError::Unavailable("wrong reply".into())),
        }
    }

    fn sign_invoice(
        &self,
        invoice: &UnsignedInvoice<'_>,
    ) -> Result<ecdsa::RecoverableSignature, KeyError> {
        let request = Request::SignInvoice {
            hrp: invoice.hrp().to_string(),
            data: invoice.data().to_vec(),
            hash: invoice.message_hash(),
        };
        match self.call(request)? {
            Reply::Invoice(r) => r,
            _ => Err(KeyError::Unavailable("wrong reply".into())),
        }
    }
}

impl EntropySource for Client {
    fn random_bytes(&self) -> [u8; 32] {
        match self.call(Request::RandomBytes) {
            Ok(Reply::Bytes(Ok(b))) => b,
            _ => panic!("remote signer: no entropy"),
        }
    }

    fn begin_epoch(&self, epoch: u32) {
        match self.call(Request::BeginEpoch(epoch)) {
            Ok(Reply::Done) => {}
            _ => panic!("remote signer: epoch not set"),
        }
    }
}

impl ChannelSignerProvider for Client {
    fn channel_signer(&self, keys_index: u32) -> Result<DynChannelSigner, KeyError> {
        match self.call(Request::NewChannelSigner(keys_index))? {
            Reply::Instance(r) => Ok(Box::new(RemoteChannelSigner {
                client: self.clone(),
                instance: r?,
            })),
            _ => Err(KeyError::Unavailable("wrong reply".into())),
        }
    }
}

/// One channel's signer: an instance number on the signer thread.
pub struct RemoteChannelSigner {
    client: Client,
    instance: u64,
}

impl Drop for RemoteChannelSigner {
    fn drop(&mut self) {
        let _ = self.client.call(Request::DropChannelSigner(self.instance));
    }
}

macro_rules! expect_reply {
    ($reply:expr, $variant:ident) => {
        match $reply {
            Reply::$variant(r) => r,
            _ => panic!(concat!("remote signer: expected ", stringify!($variant))),
        }
    };
}

impl ChannelSigner for RemoteChannelSigner {
    fn pubkeys(&self) -> ChannelPublicKeys {
        expect_reply!(
            self.client.channel(self.instance, ChannelOp::Pubkeys),
            Pubkeys
        )
    }

    fn provide_counterparty_keys(&mut self, keys: ChannelPublicKeys) {
        let r = self
            .client
            .channel(self.instance, ChannelOp::ProvideCounterpartyKeys(keys));
        assert!(matches!(r, Reply::Done));
    }

    fn holder_per_commitment_point(
        &self,
        commitment_number: u64,
    ) -> Result<PublicKey, SignerError> {
        expect_reply!(
            self.client
                .channel(self.instance, ChannelOp::HolderPoint(commitment_number)),
            HolderPoint
        )
    }

    fn release_holder_commitment_secret(
        &mut self,
        commitment_number: u64,
    ) -> Result<[u8; 32], SignerError> {
        expect_reply!(
            self.client
                .channel(self.instance, ChannelOp::Release(commitment_number)),
            Secret
        )
    }

    fn next_unrevoked_holder_commitment(&self) -> u64 {
        expect_reply!(
            self.client.channel(self.instance, ChannelOp::NextUnrevoked),
            Number
        )
    }

    fn restore_revocation_state(&mut self, next_unrevoked: u64) {
        let r = self
            .client
            .channel(self.instance, ChannelOp::RestoreRevocation(next_unrevoked));
        assert!(matches!(r, Reply::Done));
    }

    fn counterparty_commitment_keys(
        &self,
        per_commitment_point: &PublicKey,
    ) -> Result<CommitmentKeys, SignerError> {
        expect_reply!(
            self.client.channel(
                self.instance,
                ChannelOp::CounterpartyKeys(*per_commitment_point)
            ),
            Keys
        )
    }

    fn sign_counterparty_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<CounterpartyCommitmentSignatures, SignerError> {
        expect_reply!(
            self.client.channel(
                self.instance,
                ChannelOp::SignCounterparty(commitment.clone())
            ),
            Counterparty
        )
    }

    fn sign_holder_commitment(
        &self,
        commitment: &CommitmentTransaction,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        expect_reply!(
            self.client
                .channel(self.instance, ChannelOp::SignHolder(commitment.clone())),
            Signature
        )
    }

    fn sign_holder_htlc_transaction(
        &self,
        commitment: &CommitmentTransaction,
        htlc: &CommitmentHtlc,
        htlc_tx: &Transaction,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        expect_reply!(
            self.client.channel(
                self.instance,
                ChannelOp::SignHolderHtlc(commitment.clone(), htlc.clone(), htlc_tx.clone())
            ),
            Signature
        )
    }

    fn sign_closing_transaction(
        &self,
        tx: &Transaction,
        funding_amount: Amount,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        expect_reply!(
            self.client.channel(
                self.instance,
                ChannelOp::SignClosing(tx.clone(), funding_amount)
            ),
            Signature
        )
    }

    fn sign_spend_input(
        &self,
        tx: &mut Transaction,
        input_index: usize,
        output: &SpendableOutput,
        commitment_secret_or_point: SpendKeyMaterial,
    ) -> Result<bitcoin::ecdsa::Signature, SignerError> {
        let reply = self.client.channel(
            self.instance,
            ChannelOp::SignSpend(
                tx.clone(),
                input_index,
                output.clone(),
                commitment_secret_or_point,
            ),
        );
        match reply {
            Reply::Spend(signed, r) => {
                *tx = signed;
                r
            }
            _ => panic!("remote signer: expected Spend"),
        }
    }
}
