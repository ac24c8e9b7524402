//! Channel establishment v1 (BOLT 2, "Channel Establishment v1"):
//! `open_channel`, `accept_channel`, `funding_created`, `funding_signed`,
//! `channel_ready`, and the funding confirmations that gate it.
//!
//! ```text
//!  funder                                   fundee
//!    | open_channel      -->                  |  from_open_channel
//!    |                   <--  accept_channel  |
//!    | FundingNeeded event; host builds the funding tx (not broadcast)
//!    | funding_created   -->  (persisted first)
//!    |                   <--  funding_signed  |  (persisted first)
//!    | BroadcastFunding event
//!    | channel_ready  <-->  channel_ready (after minimum_depth, 0 for zero-conf)
//! ```
//!
//! The record is first written with `funding_created` (funder) and
//! `funding_signed` (fundee): from then on the peer can broadcast a
//! commitment spending the funding output, so we must be able to resume.

use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, Transaction};
use lightning_wire::features::TlvFeatures;
use lightning_wire::msgs::{
    AcceptChannel, ChannelReady, ChannelReadyTlvs, FundingCreated, FundingSigned, Message,
    OpenChannel, OpenChannelTlvs,
};
use lightning_wire::tlv::UnknownTlvs;
use lightning_wire::types::{ChannelId, ShortChannelId};

use super::close::is_valid_shutdown_script;
use super::commitments::{sign_counterparty, verify_holder_signatures, HolderSignatures};
use super::error::ChannelError;
use super::events::{ChannelEvent, ChannelOutput};
use super::params::{
    check_accept_channel, check_open_channel, AcceptResponse, ChannelType, OpenProposal,
    PartyParams,
};
use super::record::Persister;
use super::reestablish::CommitmentNumbers;
use super::state::{
    BestHeight, Channel, ChannelConfig, ChannelState, Phase, RemotePoints, Transient,
};
use super::update_log::{UpdateLog, Which};
use crate::keys::shachain::CounterpartyCommitmentSecrets;
use crate::keys::{ChannelPublicKeys, ChannelSigner};

/// Our parameters for a channel of `funding_satoshis`: a zero reserve in the
/// config means 1% of the funding, at least both dust limits.
fn our_params(config: &ChannelConfig, funding_satoshis: u64, their_dust: u64) -> PartyParams {
    let mut p = config.our_params;
    if p.channel_reserve_satoshis == 0 {
        p.channel_reserve_satoshis = (funding_satoshis / 100)
            .max(p.dust_limit_satoshis)
            .max(their_dust);
    }
    p
}

fn our_upfront(config: &ChannelConfig) -> Option<Vec<u8>> {
    config
        .upfront_shutdown_script
        .then(|| config.shutdown_script.to_bytes())
}

/// The `upfront_shutdown_script` field of our `open_channel` and
/// `accept_channel`: always present, empty when we commit to no script.
/// BOLT 2: "if both nodes advertised the `option_upfront_shutdown_script`
/// feature: MUST include `upfront_shutdown_script` with either a valid
/// `shutdown_scriptpubkey` [...] or a zero-length `shutdown_scriptpubkey`";
/// "otherwise: MAY include `upfront_shutdown_script`". Including it always
/// satisfies both, whatever the peer's `init` said.
fn upfront_field(committed: &Option<Vec<u8>>) -> Option<Vec<u8>> {
    Some(committed.clone().unwrap_or_default())
}

/// The peer's upfront script: absent and empty both mean "none".
fn their_upfront(
    script: &Option<Vec<u8>>,
    anysegwit: bool,
) -> Result<Option<Vec<u8>>, ChannelError> {
    match script {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if is_valid_shutdown_script(s, anysegwit) => Ok(Some(s.clone())),
        Some(_) => Err(ChannelError::BadShutdownScript(
            "upfront_shutdown_script is not a valid shutdown script",
        )),
    }
}

fn party_keys(
    funding_pubkey: PublicKey,
    revocation_basepoint: PublicKey,
    payment_basepoint: PublicKey,
    delayed_payment_basepoint: PublicKey,
    htlc_basepoint: PublicKey,
) -> ChannelPublicKeys {
    ChannelPublicKeys {
        funding_pubkey,
        revocation_basepoint,
        payment_basepoint,
        delayed_payment_basepoint,
        htlc_basepoint,
    }
}

/// The `minimum_depth` a fundee sends in `accept_channel` and waits for
/// (BOLT 2, "The `accept_channel` Message": "SHOULD set `minimum_depth` to a
/// number of blocks it considers reasonable to avoid double-spending of the
/// funding transaction"): the configured
/// [`ChannelConfig::minimum_depth`], and never below 1 unless the peer is
/// trusted for zero-conf. Zero only for a trusted peer: when it asked for
/// `option_zeroconf` (which [`check_open_channel`] refuses from anyone
/// else), or when the configuration says 0 for it.
fn inbound_minimum_depth(config: &ChannelConfig, channel_type: ChannelType) -> u32 {
    if config.trusted_for_zeroconf {
        if channel_type.zeroconf {
            0
        } else {
            config.minimum_depth
        }
    } else {
        config.minimum_depth.max(1)
    }
}

/// How long a fundee waits for the funding transaction to confirm before it
/// forgets the channel (BOLT 2, "The `channel_ready` Message").
pub const FUNDING_TIMEOUT_BLOCKS: u32 = 2016;

impl<S: ChannelSigner> Channel<S> {
    fn with_state(signer: S, config: ChannelConfig, st: ChannelState) -> Self {
        let persister = Persister::new(config.snapshot_every);
        Channel {
            signer,
            config,
            st,
            tr: Transient {
                connected: true,
                ..Transient::default()
            },
            persister,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn initial_state(
        config: &ChannelConfig,
        keys_index: u32,
        is_funder: bool,
        temporary_channel_id: ChannelId,
        channel_type: ChannelType,
        funding_satoshis: u64,
        push_msat: u64,
        feerate_per_kw: u32,
        local_params: PartyParams,
    ) -> Result<ChannelState, ChannelError> {
        let funding_msat = funding_satoshis
            .checked_mul(1000)
            .ok_or(ChannelError::InvalidArgument("funding_satoshis overflows"))?;
        let funder_msat = funding_msat
            .checked_sub(push_msat)
            .ok_or(ChannelError::InvalidArgument("push_msat above the funding"))?;
        let (local_msat, remote_msat) = if is_funder {
            (funder_msat, push_msat)
        } else {
            (push_msat, funder_msat)
        };
        Ok(ChannelState {
            phase: if is_funder {
                Phase::AwaitingAccept
            } else {
                Phase::AwaitingFundingCreated
            },
            keys_index,
            is_funder,
            temporary_channel_id,
            channel_id: temporary_channel_id,
            chain_hash: config.chain_hash,
            channel_type,
            funding_satoshis,
            push_msat,
            local_params,
            remote_params: local_params,
            remote_keys: None,
            minimum_depth: config.minimum_depth,
            funding_outpoint: None,
            funding_tx: None,
            funding_height: None,
            funding_verified: false,
            short_channel_id: None,
            local_alias: config.local_alias,
            remote_alias: None,
            channel_ready_sent: false,
            channel_ready_received: false,
            log: UpdateLog::new(local_msat, remote_msat, feerate_per_kw),
            numbers: CommitmentNumbers::OPENED,
            remote_points: None,
            holder_sigs: None,
            secrets: CounterpartyCommitmentSecrets::new(),
            htlcs_to_fail: Vec::new(),
            local_upfront_shutdown: our_upfront(config),
            remote_upfront_shutdown: None,
            local_shutdown: None,
            remote_shutdown: None,
            we_initiated_close: false,
            simple_close: config.simple_close,
            closing_tx: None,
            we_are_behind: false,
            funding_wait_since: None,
            counterparty_node_id: None,
            announce_channel: is_funder && config.announce_channel,
            remote_announcement_sigs: None,
        })
    }

    /// Opens a channel as funder: the `open_channel` to send (BOLT 2, "The
    /// `open_channel` Message"). `temporary_channel_id` comes from the
    /// host's entropy; `keys_index` names the signer's keys and is stored in
    /// the record.
    pub fn new_outbound(
        signer: S,
        config: ChannelConfig,
        keys_index: u32,
        temporary_channel_id: ChannelId,
        funding_satoshis: u64,
        push_msat: u64,
        feerate_per_kw: u32,
    ) -> Result<(Self, OpenChannel), ChannelError> {
        let channel_type = ChannelType {
            anchors: config.anchors,
            scid_alias: config.scid_alias,
            zeroconf: config.trusted_for_zeroconf && config.minimum_depth == 0,
        };
        let params = our_params(&config, funding_satoshis, 0);
        let st = Self::initial_state(
            &config,
            keys_index,
            true,
            temporary_channel_id,
            channel_type,
            funding_satoshis,
            push_msat,
            feerate_per_kw,
            params,
        )?;
        let keys = signer.pubkeys();
        let open = OpenChannel {
            chain_hash: config.chain_hash,
            temporary_channel_id,
            funding_satoshis,
            push_msat,
            dust_limit_satoshis: params.dust_limit_satoshis,
            max_htlc_value_in_flight_msat: params.max_htlc_value_in_flight_msat,
            channel_reserve_satoshis: params.channel_reserve_satoshis,
            htlc_minimum_msat: params.htlc_minimum_msat,
            feerate_per_kw,
            to_self_delay: params.to_self_delay,
            max_accepted_htlcs: params.max_accepted_htlcs,
            funding_pubkey: keys.funding_pubkey,
            revocation_basepoint: keys.revocation_basepoint,
            payment_basepoint: keys.payment_basepoint,
            delayed_payment_basepoint: keys.delayed_payment_basepoint,
            htlc_basepoint: keys.htlc_basepoint,
            first_per_commitment_point: signer.holder_per_commitment_point(0)?,
            // BOLT 2 `channel_flags` bit 0: `announce_channel`.
            channel_flags: u8::from(st.announce_channel),
            tlvs: OpenChannelTlvs {
                upfront_shutdown_script: upfront_field(&st.local_upfront_shutdown),
                channel_type: Some(TlvFeatures(channel_type.to_features())),
                unknown: UnknownTlvs::default(),
            },
        };
        Ok((Self::with_state(signer, config, st), open))
    }

    /// Accepts the peer's `open_channel` as fundee: the channel and the
    /// `accept_channel` to send (BOLT 2, "The `accept_channel` Message"),
    /// or the rule it broke (send `error` with the temporary id).
    pub fn from_open_channel(
        mut signer: S,
        config: ChannelConfig,
        keys_index: u32,
        open: &OpenChannel,
    ) -> Result<(Self, AcceptChannel), ChannelError> {
        let their_params = PartyParams {
            dust_limit_satoshis: open.dust_limit_satoshis,
            max_htlc_value_in_flight_msat: open.max_htlc_value_in_flight_msat,
            channel_reserve_satoshis: open.channel_reserve_satoshis,
            htlc_minimum_msat: open.htlc_minimum_msat,
            to_self_delay: open.to_self_delay,
            max_accepted_htlcs: open.max_accepted_htlcs,
        };
        let mut ours = lightning_wire::features::InitFeatures::empty();
        ours.set_optional(lightning_wire::features::Feature::StaticRemoteKey);
        if config.anchors {
            ours.set_optional(lightning_wire::features::Feature::AnchorsZeroFeeHtlcTx);
        }
        let channel_type = check_open_channel(
            &OpenProposal {
                chain_is_ours: open.chain_hash == config.chain_hash,
                funding_satoshis: open.funding_satoshis,
                push_msat: open.push_msat,
                feerate_per_kw: open.feerate_per_kw,
                channel_type: open.tlvs.channel_type.as_ref().map(|t| t.0.clone()),
                params: their_params,
            },
            &ours,
            &ours,
            config.feerates,
            &config.limits,
            config.trusted_for_zeroconf,
        )?;
        let remote_upfront = their_upfront(&open.tlvs.upfront_shutdown_script, config.anysegwit)?;
        let params = our_params(&config, open.funding_satoshis, open.dust_limit_satoshis);
        let mut st = Self::initial_state(
            &config,
            keys_index,
            false,
            open.temporary_channel_id,
            channel_type,
            open.funding_satoshis,
            open.push_msat,
            open.feerate_per_kw,
            params,
        )?;
        st.remote_params = their_params;
        st.announce_channel = open.channel_flags & 1 != 0;
        st.minimum_depth = inbound_minimum_depth(&config, channel_type);
        let remote_keys = party_keys(
            open.funding_pubkey,
            open.revocation_basepoint,
            open.payment_basepoint,
            open.delayed_payment_basepoint,
            open.htlc_basepoint,
        );
        st.remote_keys = Some(remote_keys);
        st.remote_upfront_shutdown = remote_upfront;
        st.remote_points = Some(RemotePoints {
            revoking: None,
            current: open.first_per_commitment_point,
            next: None,
        });
        signer.provide_counterparty_keys(remote_keys);
        let keys = signer.pubkeys();
        let accept = AcceptChannel {
            temporary_channel_id: open.temporary_channel_id,
            dust_limit_satoshis: params.dust_limit_satoshis,
            max_htlc_value_in_flight_msat: params.max_htlc_value_in_flight_msat,
            channel_reserve_satoshis: params.channel_reserve_satoshis,
            htlc_minimum_msat: params.htlc_minimum_msat,
            minimum_depth: st.minimum_depth,
            to_self_delay: params.to_self_delay,
            max_accepted_htlcs: params.max_accepted_htlcs,
            funding_pubkey: keys.funding_pubkey,
            revocation_basepoint: keys.revocation_basepoint,
            payment_basepoint: keys.payment_basepoint,
            delayed_payment_basepoint: keys.delayed_payment_basepoint,
            htlc_basepoint: keys.htlc_basepoint,
            first_per_commitment_point: signer.holder_per_commitment_point(0)?,
            tlvs: OpenChannelTlvs {
                upfront_shutdown_script: upfront_field(&st.local_upfront_shutdown),
                channel_type: Some(TlvFeatures(channel_type.to_features())),
                unknown: UnknownTlvs::default(),
            },
        };
        Ok((Self::with_state(signer, config, st), accept))
    }

    pub(crate) fn on_accept_channel(
        &mut self,
        m: &AcceptChannel,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if self.st.phase != Phase::AwaitingAccept || m.temporary_channel_id != self.st.channel_id {
            return Err(self.unexpected("accept_channel"));
        }
        let their_params = PartyParams {
            dust_limit_satoshis: m.dust_limit_satoshis,
            max_htlc_value_in_flight_msat: m.max_htlc_value_in_flight_msat,
            channel_reserve_satoshis: m.channel_reserve_satoshis,
            htlc_minimum_msat: m.htlc_minimum_msat,
            to_self_delay: m.to_self_delay,
            max_accepted_htlcs: m.max_accepted_htlcs,
        };
        check_accept_channel(
            &AcceptResponse {
                minimum_depth: m.minimum_depth,
                channel_type: m.tlvs.channel_type.as_ref().map(|t| t.0.clone()),
                params: their_params,
            },
            &self.st.local_params,
            self.st.funding_satoshis,
            self.st.channel_type,
            &self.config.limits,
        )?;
        let remote_upfront = their_upfront(&m.tlvs.upfront_shutdown_script, self.config.anysegwit)?;
        let remote_keys = party_keys(
            m.funding_pubkey,
            m.revocation_basepoint,
            m.payment_basepoint,
            m.delayed_payment_basepoint,
            m.htlc_basepoint,
        );
        self.st.remote_params = their_params;
        self.st.minimum_depth = m.minimum_depth;
        self.st.remote_keys = Some(remote_keys);
        self.st.remote_upfront_shutdown = remote_upfront;
        self.st.remote_points = Some(RemotePoints {
            revoking: None,
            current: m.first_per_commitment_point,
            next: None,
        });
        self.signer.provide_counterparty_keys(remote_keys);
        self.st.phase = Phase::AwaitingFundingTx;
        out.events.push(ChannelEvent::FundingNeeded {
            temporary_channel_id: self.st.temporary_channel_id,
            funding_satoshis: self.st.funding_satoshis,
            script_pubkey: self.funding_script_pubkey()?,
        });
        Ok(())
    }

    /// The host's funding transaction (unbroadcast): the channel finds the
    /// funding output, signs the fundee's first commitment and returns
    /// `funding_created` (BOLT 2, "The `funding_created` Message"), with the
    /// first record write.
    pub fn funding_transaction(&mut self, tx: Transaction) -> Result<ChannelOutput, ChannelError> {
        self.run(|ch, out| {
            if ch.st.phase != Phase::AwaitingFundingTx {
                return Err(ChannelError::NotNow("take a funding transaction"));
            }
            let spk = ch.funding_script_pubkey()?;
            let vout = tx
                .output
                .iter()
                .position(|o| o.script_pubkey == spk && o.value.to_sat() == ch.st.funding_satoshis)
                .ok_or(ChannelError::InvalidArgument(
                    "the funding transaction has no output of funding_satoshis to the 2-of-2",
                ))?;
            let vout = u16::try_from(vout)
                .map_err(|_| ChannelError::InvalidArgument("funding output index above 65535"))?;
            let txid = tx.compute_txid();
            ch.st.funding_outpoint = Some(OutPoint {
                txid,
                vout: u32::from(vout),
            });
            ch.st.channel_id = ChannelId::v1_from_funding_outpoint(&txid, vout);
            // The outpoint comes from the transaction itself: checked. The
            // txid commits to the outputs, so the one that confirms is this.
            ch.check_funding_output(&tx)?;
            ch.st.funding_verified = true;
            ch.st.funding_tx = Some(tx);
            let point = ch.remote_point_current()?;
            let ctx = ch.build_counterparty(Which::Current, 0, &point)?;
            let (signature, _) = sign_counterparty(&ch.signer, &ctx)?;
            ch.st.phase = Phase::AwaitingFundingSigned;
            out.messages.push(Message::FundingCreated(FundingCreated {
                temporary_channel_id: ch.st.temporary_channel_id,
                funding_txid: txid,
                funding_output_index: vout,
                signature,
                tlvs: Default::default(),
            }));
            Ok(())
        })
        .map(|((), out)| out)
    }

    pub(crate) fn remote_point_current(&self) -> Result<PublicKey, ChannelError> {
        self.st
            .remote_points
            .map(|p| p.current)
            .ok_or(ChannelError::NotNow("sign before accept_channel"))
    }

    pub(crate) fn on_funding_created(
        &mut self,
        m: &FundingCreated,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if self.st.phase != Phase::AwaitingFundingCreated
            || m.temporary_channel_id != self.st.temporary_channel_id
        {
            return Err(self.unexpected("funding_created"));
        }
        self.st.funding_outpoint = Some(OutPoint {
            txid: m.funding_txid,
            vout: u32::from(m.funding_output_index),
        });
        self.st.channel_id =
            ChannelId::v1_from_funding_outpoint(&m.funding_txid, m.funding_output_index);
        let sigs = self.verify_initial_signature(m.signature, "funding_created")?;
        let point = self.remote_point_current()?;
        let theirs = self.build_counterparty(Which::Current, 0, &point)?;
        let (signature, _) = sign_counterparty(&self.signer, &theirs)?;
        self.st.holder_sigs = Some(sigs);
        self.st.phase = Phase::AwaitingChannelReady;
        out.messages.push(Message::FundingSigned(FundingSigned {
            channel_id: self.st.channel_id,
            signature,
            tlvs: Default::default(),
        }));
        self.maybe_channel_ready(out)
    }

    /// Checks the peer's signature on our initial commitment (number 0, no
    /// HTLCs), which `funding_created` and `funding_signed` carry (BOLT 2:
    /// the receiver must fail the channel if it is not valid).
    fn verify_initial_signature(
        &self,
        signature: bitcoin::secp256k1::ecdsa::Signature,
        message: &'static str,
    ) -> Result<HolderSignatures, ChannelError> {
        let sigs = HolderSignatures {
            commitment: signature,
            htlcs: std::sync::Arc::from([]),
        };
        let ours = self.build_holder(Which::Current, 0)?;
        let remote = self.remote_keys()?;
        verify_holder_signatures(&ours, &remote.funding_pubkey, &sigs)
            .map_err(|_| ChannelError::BadFundingSignature { message })?;
        Ok(sigs)
    }

    pub(crate) fn on_funding_signed(
        &mut self,
        m: &FundingSigned,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if self.st.phase != Phase::AwaitingFundingSigned || m.channel_id != self.st.channel_id {
            return Err(self.unexpected("funding_signed"));
        }
        let sigs = self.verify_initial_signature(m.signature, "funding_signed")?;
        self.st.holder_sigs = Some(sigs);
        self.st.phase = Phase::AwaitingChannelReady;
        if let Some(tx) = &self.st.funding_tx {
            out.events
                .push(ChannelEvent::BroadcastFunding { tx: tx.clone() });
        }
        self.maybe_channel_ready(out)
    }

    /// Checks the funding output against the funding transaction itself
    /// (BOLT 2, "The `funding_created` Message" and "The `channel_ready`
    /// Message"; BOLT 3, "Funding Transaction Output"): the output at
    /// `funding_output_index` exists, pays exactly the P2WSH of the 2-of-2
    /// of both `funding_pubkey`s, and carries exactly `funding_satoshis`.
    /// The fundee learns the outpoint from the funder alone, so without
    /// this a funder could make a channel of an output that does not exist,
    /// is smaller, or is not locked to our key (CVE-2019-12998, -12999,
    /// -13000).
    fn check_funding_output(&self, tx: &Transaction) -> Result<(), ChannelError> {
        let outpoint = self.st.funding_outpoint.ok_or(ChannelError::NotNow(
            "check a funding transaction before funding",
        ))?;
        if tx.compute_txid() != outpoint.txid {
            return Err(ChannelError::InvalidArgument(
                "the transaction is not this channel's funding transaction",
            ));
        }
        let output = usize::try_from(outpoint.vout)
            .ok()
            .and_then(|i| tx.output.get(i))
            .ok_or(ChannelError::BadFundingOutput(
                "funding_output_index is not an output of the funding transaction",
            ))?;
        if output.script_pubkey != self.funding_script_pubkey()? {
            return Err(ChannelError::BadFundingOutput(
                "the funding output does not pay the 2-of-2 P2WSH of both funding_pubkeys",
            ));
        }
        if output.value.to_sat() != self.st.funding_satoshis {
            return Err(ChannelError::BadFundingOutput(
                "the funding output does not carry exactly funding_satoshis",
            ));
        }
        Ok(())
    }

    /// The funding transaction `tx` confirmed and has `depth` confirmations
    /// (1 = in the best block); once confirmed, this is the short channel
    /// id. A zero depth means it was reorganised out (as
    /// [`Channel::funding_unconfirmed`]).
    ///
    /// `tx` is the transaction the chain holds, not the peer's word: its
    /// funding output is checked (see [`ChannelError::BadFundingOutput`])
    /// before the depth counts, so `channel_ready` never goes out, and the
    /// channel never becomes usable, for a funding output that is missing,
    /// pays another script or carries another amount. A mismatch fails the
    /// channel (BOLT 2: "fail the channel"). A zero-conf channel, usable
    /// before any confirmation, is failed the same way when it confirms.
    pub fn funding_confirmed(
        &mut self,
        tx: &Transaction,
        depth: u32,
        short_channel_id: Option<ShortChannelId>,
    ) -> Result<ChannelOutput, ChannelError> {
        self.run(|ch, out| {
            ch.check_funding_output(tx)?;
            ch.st.funding_verified = true;
            if depth == 0 {
                ch.st.funding_height = None;
            } else {
                let best = ch.tr.best_height.get();
                let height = best.saturating_add(1).saturating_sub(depth);
                ch.st.funding_height = Some(height);
                if best == 0 {
                    // Without a best height the depth is the only measure
                    // (a channel alone: a node's channels share its height,
                    // which a confirmation never finds at 0).
                    ch.tr.best_height.set(depth.saturating_sub(1));
                    ch.st.funding_height = Some(0);
                }
            }
            if short_channel_id.is_some() {
                ch.st.short_channel_id = short_channel_id;
            }
            ch.maybe_channel_ready(out)
        })
        .map(|((), out)| out)
    }

    /// The block that confirmed the funding transaction left the best
    /// chain: it is unconfirmed again.
    pub fn funding_unconfirmed(&mut self) -> Result<ChannelOutput, ChannelError> {
        self.run(|ch, out| {
            ch.st.funding_height = None;
            ch.maybe_channel_ready(out)
        })
        .map(|((), out)| out)
    }

    /// A new best block: updates the funding depth and the height used as
    /// the closing transaction's `locktime`.
    ///
    /// A fundee whose funding transaction has not confirmed
    /// [`FUNDING_TIMEOUT_BLOCKS`] blocks after it started waiting gets
    /// [`ChannelEvent::FundingTimedOut`] (BOLT 2, "The `channel_ready`
    /// Message": the fundee "SHOULD forget the channel if it does not see
    /// the correct funding transaction after a timeout of 2016 blocks").
    /// The wait starts at the first block seen after `funding_created` and
    /// is persisted, so restarts do not reset it. The event comes again at
    /// every block until the host drops the channel.
    ///
    /// Only a channel waiting for its funding or for `channel_ready` has
    /// anything to do at a block; every other channel notes the height and
    /// returns at once, without the transaction (state copy and record
    /// diff) an input costs (issue 15: the per-block cost of a node with
    /// thousands of channels).
    pub fn best_block_updated(&mut self, height: u32) -> Result<ChannelOutput, ChannelError> {
        self.tr.best_height.set(height);
        if !self.waits_for_blocks() {
            return Ok(ChannelOutput::default());
        }
        self.run(|ch, out| {
            ch.check_funding_timeout(height, out);
            ch.maybe_channel_ready(out)
        })
        .map(|((), out)| out)
    }

    /// Whether [`Channel::best_block_updated`] has more to do than note
    /// the height: the channel waits for its funding or `channel_ready`.
    fn waits_for_blocks(&self) -> bool {
        self.st.phase == Phase::AwaitingChannelReady || self.st.funding_wait_since.is_some()
    }

    /// Whether a new block, alone, has nothing for this channel but its
    /// height, which a node's channels share ([`Channel::share_best_height`]):
    /// it waits for no funding or `channel_ready`, holds no HTLC update
    /// (whose deadlines each block checks), is not a failed anchors
    /// channel whose commitment each block may bump, and cannot have an
    /// `announcement_signatures` come due by depth alone. Such a channel
    /// the node need not visit at a block until something else touches it.
    pub fn idle_at_blocks(&self) -> bool {
        let failed_anchors = self.st.phase == Phase::Failed
            && self.st.channel_type.anchors
            && self.st.funding_height.is_some();
        let announcement_pending = self.st.announce_channel
            && !self.tr.announcement_sent
            && self.tr.connected
            && self.st.local_shutdown.is_none()
            && self.st.phase == Phase::Normal;
        !self.waits_for_blocks()
            && self.st.log.updates().is_empty()
            && !failed_anchors
            && !announcement_pending
    }

    /// Reads the best height from `height` from now on (the node's cell,
    /// shared by all its channels; it holds the node's height already).
    pub fn share_best_height(&mut self, height: &BestHeight) {
        self.tr.best_height = height.clone();
    }

    /// The fundee's funding timeout (see [`Channel::best_block_updated`]).
    fn check_funding_timeout(&mut self, height: u32, out: &mut ChannelOutput) {
        let waiting = !self.st.is_funder
            && self.st.phase == Phase::AwaitingChannelReady
            && self.st.funding_height.is_none();
        if !waiting {
            self.st.funding_wait_since = None;
            return;
        }
        let since = *self.st.funding_wait_since.get_or_insert(height);
        if height >= since.saturating_add(FUNDING_TIMEOUT_BLOCKS) {
            // Again at every block until the host drops the channel, so a
            // crash before it did repeats the decision.
            out.events.push(ChannelEvent::FundingTimedOut {
                channel_id: self.st.channel_id,
                waiting_since: since,
            });
        }
    }

    /// Confirmations of the funding transaction (0 when unconfirmed).
    pub fn funding_depth(&self) -> u32 {
        match self.st.funding_height {
            None => 0,
            Some(h) => self.tr.best_height.get().saturating_add(1).saturating_sub(h),
        }
    }

    /// The `channel_ready` we send (and retransmit).
    pub(crate) fn channel_ready_message(&self) -> Result<Message, ChannelError> {
        Ok(Message::ChannelReady(ChannelReady {
            channel_id: self.st.channel_id,
            second_per_commitment_point: self.signer.holder_per_commitment_point(1)?,
            tlvs: ChannelReadyTlvs {
                short_channel_id: self.st.local_alias,
                unknown: UnknownTlvs::default(),
            },
        }))
    }

    /// Sends `channel_ready` once funded and deep enough (BOLT 2, "The
    /// `channel_ready` Message": after `minimum_depth`, at once for
    /// zero-conf).
    pub(crate) fn maybe_channel_ready(
        &mut self,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if self.st.phase != Phase::AwaitingChannelReady || self.st.channel_ready_sent {
            return Ok(());
        }
        // Zero-conf (only for a trusted peer) waits for nothing; otherwise
        // the funding output must have been checked against the confirmed
        // transaction, and be deep enough.
        let deep_enough = self.st.minimum_depth == 0
            || (self.st.funding_verified && self.funding_depth() >= self.st.minimum_depth);
        if !deep_enough {
            return Ok(());
        }
        self.st.channel_ready_sent = true;
        if self.tr.connected {
            out.messages.push(self.channel_ready_message()?);
        }
        self.maybe_normal(out);
        Ok(())
    }

    fn maybe_normal(&mut self, out: &mut ChannelOutput) {
        if self.st.phase == Phase::AwaitingChannelReady
            && self.st.channel_ready_sent
            && self.st.channel_ready_received
        {
            self.st.phase = Phase::Normal;
            out.events.push(ChannelEvent::ChannelReady {
                channel_id: self.st.channel_id,
                short_channel_id: self.st.short_channel_id,
                remote_alias: self.st.remote_alias,
            });
        }
    }

    pub(crate) fn on_channel_ready(
        &mut self,
        m: &ChannelReady,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        let points = self
            .st
            .remote_points
            .as_mut()
            .ok_or(ChannelError::UnexpectedMessage {
                message: "channel_ready",
                phase: "establishing",
            })?;
        if self.st.channel_ready_received {
            // A retransmission (BOLT 2: the point must be the same).
            if self.st.numbers.remote == 0 && points.next != Some(m.second_per_commitment_point) {
                return Err(ChannelError::UnexpectedMessage {
                    message: "channel_ready with a different second_per_commitment_point",
                    phase: "normal",
                });
            }
            return Ok(());
        }
        if self.st.phase != Phase::AwaitingChannelReady {
            return Err(self.unexpected("channel_ready"));
        }
        points.next = Some(m.second_per_commitment_point);
        self.st.channel_ready_received = true;
        self.st.remote_alias = m.tlvs.short_channel_id;
        self.maybe_normal(out);
        Ok(())
    }
}
