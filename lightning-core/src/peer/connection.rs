//! One connection: the BOLT 8 handshake, then BOLT 1 over the transport.
//!
//! A [`Connection`] knows nothing of other connections or of events; it
//! reports what the manager must surface as [`Received`] values and fails
//! with the [`PeerError`] that closed it.

use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning_wire::features::InitFeatures;
use lightning_wire::msgs::{Init, InitTlvs, Message, Ping, Warning};
use lightning_wire::noise::{
    HandshakeComplete, HandshakeProgress, NoiseHandshake, NoiseTransport, FRAME_OVERHEAD,
};
use lightning_wire::types::ChannelId;

use super::{Direction, PeerConfig, PeerError};

/// What a connection received that the node must hear about.
#[derive(Debug)]
pub(super) enum Received {
    /// The peer's `init` passed every check.
    Init(InitFeatures),
    /// A message for the node (channel, gossip, peer storage, ...).
    Message(Box<Message>),
    /// `warning`.
    Warning {
        channel_id: ChannelId,
        data: Vec<u8>,
    },
    /// `error`.
    Error {
        channel_id: ChannelId,
        data: Vec<u8>,
    },
}

#[derive(Debug)]
enum Stage {
    /// BOLT 8 acts in progress.
    Handshake(NoiseHandshake),
    /// The transport is up; our `init` is queued or sent.
    Open(NoiseTransport),
    /// Failed or disconnected: no byte is read again.
    Closed,
}

/// A `ping` of ours not yet answered.
#[derive(Debug, Clone, Copy)]
struct OutstandingPing {
    num_pong_bytes: u16,
    sent_at: Duration,
}

#[derive(Debug)]
pub(super) struct Connection {
    pub(super) direction: Direction,
    stage: Stage,
    /// Known from the start when outbound, after act three when inbound.
    node_id: Option<PublicKey>,
    /// The peer's merged `init` features, once its `init` passed the checks.
    their_features: Option<InitFeatures>,
    /// Encrypted bytes for `poll_transmit`.
    outbound: Vec<u8>,
    started: Duration,
    last_received: Duration,
    ping: Option<OutstandingPing>,
}

impl Connection {
    pub(super) fn new(
        direction: Direction,
        handshake: NoiseHandshake,
        node_id: Option<PublicKey>,
        now: Duration,
    ) -> Self {
        Connection {
            direction,
            stage: Stage::Handshake(handshake),
            node_id,
            their_features: None,
            outbound: Vec::new(),
            started: now,
            last_received: now,
            ping: None,
        }
    }

    pub(super) fn node_id(&self) -> Option<PublicKey> {
        self.node_id
    }

    /// Both `init`s exchanged and the connection still open.
    pub(super) fn is_active(&self) -> bool {
        self.their_features.is_some() && !self.is_closed()
    }

    pub(super) fn is_closed(&self) -> bool {
        matches!(self.stage, Stage::Closed)
    }

    pub(super) fn their_features(&self) -> Option<&InitFeatures> {
        self.their_features.as_ref()
    }

    pub(super) fn queued_bytes(&self) -> usize {
        self.outbound.len()
    }

    pub(super) fn take_outbound(&mut self) -> Option<Vec<u8>> {
        (!self.outbound.is_empty()).then(|| std::mem::take(&mut self.outbound))
    }

    /// Reads `input` to its end, or up to the first failure. Messages
    /// reported before a failure stay reported: they arrived intact.
    pub(super) fn handle_bytes(
        &mut self,
        mut input: &[u8],
        now: Duration,
        config: &PeerConfig,
        received: &mut Vec<Received>,
    ) -> Result<(), PeerError> {
        if !input.is_empty() {
            self.last_received = self.last_received.max(now);
        }
        loop {
            match &mut self.stage {
                Stage::Closed => return Err(PeerError::Closed),
                Stage::Handshake(_) if input.is_empty() => return Ok(()),
                Stage::Handshake(handshake) => match handshake.handle_bytes(&mut input)? {
                    HandshakeProgress::NeedMore => return Ok(()),
                    HandshakeProgress::ActTwo(act_two) => self.outbound.extend_from_slice(&act_two),
                    HandshakeProgress::Complete(done) => self.handshake_complete(*done, config)?,
                },
                Stage::Open(transport) => {
                    let Some(bytes) = transport.read_message(&mut input)? else {
                        return Ok(());
                    };
                    let message = Message::decode(bytes)?;
                    self.handle_message(message, now, config, received)?;
                }
            }
        }
    }

    /// BOLT 1, "The `init` Message": "MUST send `init` as the first
    /// Lightning message for any connection", right after act three.
    fn handshake_complete(
        &mut self,
        done: HandshakeComplete,
        config: &PeerConfig,
    ) -> Result<(), PeerError> {
        let HandshakeComplete {
            transport,
            remote_static,
            act_three,
        } = done;
        if let Some(act_three) = act_three {
            self.outbound.extend_from_slice(&act_three);
        }
        self.node_id = Some(remote_static);
        self.stage = Stage::Open(transport);
        let init = Init {
            // Every bit we set lives in `features`; `globalfeatures` is
            // historical (BOLT 1: "SHOULD NOT set features greater than 13").
            global_features: InitFeatures::empty(),
            features: config.features.minimal(),
            tlvs: InitTlvs {
                networks: Some(vec![config.chain_hash]),
                ..InitTlvs::default()
            },
        };
        self.queue(&Message::Init(init), None)
    }

    fn handle_message(
        &mut self,
        message: Message,
        now: Duration,
        config: &PeerConfig,
        received: &mut Vec<Received>,
    ) -> Result<(), PeerError> {
        if self.their_features.is_none() {
            let Message::Init(init) = message else {
                return Err(PeerError::InitNotFirst {
                    message_type: message.r#type(),
                    got: message.name(),
                });
            };
            let features = check_init(&init, config)?;
            self.their_features = Some(features.clone());
            self.last_received = now;
            received.push(Received::Init(features));
            return Ok(());
        }
        match message {
            Message::Init(_) => return Err(PeerError::DuplicateInit),
            // BOLT 1, "The `ping` and `pong` Messages": answer below 65532,
            // ignore otherwise (`pong_response` decides).
            Message::Ping(ping) => {
                if let Some(pong) = ping.pong_response() {
                    match self.queue(&Message::Pong(pong), Some(config.max_outbound_bytes)) {
                        // A peer that does not read its pongs will not miss
                        // this one.
                        Ok(()) | Err(PeerError::OutboundQueueFull { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Message::Pong(pong) => match self.ping {
                Some(ping) if usize::from(ping.num_pong_bytes) == pong.ignored.len() => {
                    self.ping = None;
                }
                outstanding => {
                    return Err(PeerError::PongMismatch {
                        expected: outstanding.map(|p| p.num_pong_bytes),
                        received: pong.ignored.len(),
                    })
                }
            },
            Message::Warning(w) => received.push(Received::Warning {
                channel_id: w.channel_id,
                data: w.data,
            }),
            Message::Error(e) => received.push(Received::Error {
                channel_id: e.channel_id,
                data: e.data,
            }),
            // Odd and unknown to BOLT 1 ("MUST ignore", "Lightning Message
            // Format"): handed up, where the node ignores all but the
            // protocols it runs over the connection (the watchtower's).
            // Even unknown types never decode.
            other => received.push(Received::Message(Box::new(other))),
        }
        Ok(())
    }

    /// Encrypts `message` onto the outbound queue. With a `limit`, refuses
    /// (queuing nothing) when the queue would pass it.
    pub(super) fn queue(
        &mut self,
        message: &Message,
        limit: Option<usize>,
    ) -> Result<(), PeerError> {
        let Stage::Open(transport) = &mut self.stage else {
            return Err(if self.is_closed() {
                PeerError::Closed
            } else {
                PeerError::NotReady
            });
        };
        let bytes = message.encode()?;
        let adding = bytes.len() + FRAME_OVERHEAD;
        if let Some(limit) = limit {
            let queued = self.outbound.len();
            if queued.saturating_add(adding) > limit {
                return Err(PeerError::OutboundQueueFull {
                    queued,
                    adding,
                    limit,
                });
            }
        }
        transport.encrypt_message(&bytes, &mut self.outbound)?;
        Ok(())
    }

    /// Liveness and setup deadlines. An `Err` means the connection must be
    /// failed with it.
    pub(super) fn handle_timeout(
        &mut self,
        now: Duration,
        config: &PeerConfig,
    ) -> Result<(), PeerError> {
        if self.is_closed() {
            return Ok(());
        }
        if self.their_features.is_none() {
            if now >= self.started.saturating_add(config.setup_timeout) {
                return Err(PeerError::SetupTimeout(config.setup_timeout));
            }
            return Ok(());
        }
        match self.ping {
            Some(ping) => {
                if now >= ping.sent_at.saturating_add(config.pong_timeout) {
                    return Err(PeerError::PongTimeout(config.pong_timeout));
                }
            }
            None => {
                if now >= self.last_received.saturating_add(config.ping_interval) {
                    let ping = Ping {
                        num_pong_bytes: config.ping_pong_bytes,
                        ignored: Vec::new(),
                        tlvs: Default::default(),
                    };
                    // No limit: a ping is small, and a peer that stopped
                    // reading must still be found dead.
                    self.queue(&Message::Ping(ping), None)?;
                    self.ping = Some(OutstandingPing {
                        num_pong_bytes: config.ping_pong_bytes,
                        sent_at: now,
                    });
                }
            }
        }
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub(super) fn next_timeout(&self, config: &PeerConfig) -> Option<Duration> {
        if self.is_closed() {
            None
        } else if self.their_features.is_none() {
            Some(self.started.saturating_add(config.setup_timeout))
        } else if let Some(ping) = self.ping {
            Some(ping.sent_at.saturating_add(config.pong_timeout))
        } else {
            Some(self.last_received.saturating_add(config.ping_interval))
        }
    }

    /// Closes the connection. With a `reason` and a working transport, a
    /// `warning` naming it is queued first; with `flush`, queued bytes stay
    /// for the host to write before it closes the socket.
    ///
    /// A `warning`, not an `error`: an all-zero `error` would make the peer
    /// fail every channel with us (BOLT 1), and none of these reasons is
    /// about a channel.
    pub(super) fn close(&mut self, reason: Option<&PeerError>, flush: bool) {
        if let (Some(reason), Stage::Open(transport), true) = (reason, &self.stage, flush) {
            let tells_peer = !transport.is_poisoned()
                && !matches!(reason, PeerError::Transport(_) | PeerError::Handshake(_));
            if tells_peer {
                // Our own text, bounded and printable (issue 13).
                let data = crate::channel::outgoing_error_text(&reason.to_string());
                let warning = Warning {
                    channel_id: ChannelId::ALL,
                    data,
                    tlvs: Default::default(),
                };
                // Best effort: the connection closes either way.
                let _ = self.queue(&Message::Warning(warning), None);
            }
        }
        if !flush {
            self.outbound.clear();
        }
        self.stage = Stage::Closed;
    }
}

/// BOLT 1, "The `init` Message", receiving node: merges the two feature
/// fields, then checks required bits, dependencies and `networks`.
fn check_init(init: &Init, config: &PeerConfig) -> Result<InitFeatures, PeerError> {
    let features = init.merged_features();
    let bits = features.unknown_required_bits(&config.features);
    if !bits.is_empty() {
        return Err(PeerError::UnknownRequiredFeatures { bits });
    }
    features
        .check_dependencies()
        .map_err(PeerError::FeatureDependency)?;
    if let Some(networks) = &init.tlvs.networks {
        if !networks.contains(&config.chain_hash) {
            return Err(PeerError::NoCommonNetwork {
                ours: config.chain_hash,
                theirs: networks.clone(),
            });
        }
    }
    Ok(features)
}
