//! Mutual close (BOLT 2, "Channel Close"): `shutdown`, then either the
//! legacy `closing_signed` fee negotiation ([`close`](super::close) decides,
//! this module signs) or, with `option_simple_close`, one
//! `closing_complete`/`closing_sig` round in which the closer pays the fee
//! from its own output.
//!
//! After `shutdown` no new HTLC may be added; the closing transaction is
//! negotiated only once no update is pending on either side.

use bitcoin::absolute::LockTime;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{ecdsa, Amount, ScriptBuf, Transaction};
use lightning_wire::msgs::{
    ClosingComplete, ClosingSig, ClosingSigned, ClosingSignedTlvs, ClosingTlvs,
    FeeRange as WireFeeRange, Message, Shutdown,
};
use lightning_wire::tlv::UnknownTlvs;
use secp256k1::ecdsa::Signature;

use super::close::{
    check_closing_locktime, closee_variant, closer_variants, is_valid_shutdown_script,
    ClosingNegotiation, ClosingStep, FeeRange, SentClosingComplete,
};
use super::error::ChannelError;
use super::events::{ChannelEvent, ChannelOutput};
use super::state::{Channel, Phase};
use super::update_log::{Side, UpdateStage, Which};
use crate::amount::Msat;
use crate::keys::ChannelSigner;
use crate::transactions::closing::{
    build_legacy_closing_transaction, build_simple_closing_transaction, dust_threshold,
    ClosingOutput, SimpleCloseVariant,
};
use crate::transactions::{funding_witness, scripts, verify_p2wsh_signature};

/// Weight of a closing transaction with two outputs, witness included
/// (an estimate for the fee we propose).
const CLOSING_WEIGHT: u64 = 672;

impl<S: ChannelSigner> Channel<S> {
    /// Starts a mutual close (BOLT 2, "Closing Initiation: `shutdown`"):
    /// `shutdown` goes out with the configured script as soon as none of our
    /// updates is pending on the peer's commitment (at once if there is
    /// none).
    pub fn shutdown(&mut self) -> Result<ChannelOutput, ChannelError> {
        self.run(|ch, out| {
            if !matches!(ch.st.phase, Phase::Normal | Phase::ShuttingDown) {
                return Err(ChannelError::NotNow("shut down"));
            }
            let script = ch.our_shutdown_script()?;
            if !is_valid_shutdown_script(&script, ch.config.anysegwit) {
                return Err(ChannelError::InvalidArgument(
                    "the shutdown script is not a valid shutdown script",
                ));
            }
            ch.st.we_initiated_close = ch.st.remote_shutdown.is_none();
            ch.st.phase = Phase::ShuttingDown;
            ch.maybe_commit(out)?;
            ch.progress_shutdown(out)
        })
        .map(|((), out)| out)
    }

    fn our_shutdown_script(&self) -> Result<Vec<u8>, ChannelError> {
        Ok(match &self.st.local_upfront_shutdown {
            Some(s) => s.clone(),
            None => self.config.shutdown_script.to_bytes(),
        })
    }

    /// Sends our `shutdown` when due, and starts the closing negotiation
    /// once both are exchanged and nothing is pending.
    pub(crate) fn progress_shutdown(
        &mut self,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if self.st.phase != Phase::ShuttingDown || !self.tr.connected {
            return Ok(());
        }
        let want = self.st.we_initiated_close || self.st.remote_shutdown.is_some();
        let ours_pending = self
            .st
            .log
            .updates()
            .iter()
            .any(|u| u.proposer == Side::Local && u.stage == UpdateStage::Proposed);
        if want && self.st.local_shutdown.is_none() && !ours_pending {
            let script = self.our_shutdown_script()?;
            self.st.local_shutdown = Some(script.clone());
            out.messages.push(Message::Shutdown(Shutdown {
                channel_id: self.st.channel_id,
                scriptpubkey: script,
                tlvs: Default::default(),
            }));
        }
        if !self.ready_to_close() || self.tr.closing_started {
            return Ok(());
        }
        if self.st.simple_close {
            if self.st.we_initiated_close {
                self.send_closing_complete(out)?;
            }
        } else if self.st.is_funder {
            let range = self.our_fee_range();
            let mut neg = ClosingNegotiation::new(true, range);
            if let ClosingStep::Propose { fee_satoshis } = neg.start(self.preferred_closing_fee()) {
                let msg = self.closing_signed(fee_satoshis, Some(range))?;
                out.messages.push(msg);
            }
            self.tr.closing = Some(neg);
            self.tr.closing_started = true;
        }
        Ok(())
    }

    fn ready_to_close(&self) -> bool {
        self.st.phase == Phase::ShuttingDown
            && self.st.local_shutdown.is_some()
            && self.st.remote_shutdown.is_some()
            && self.st.log.updates().is_empty()
            && !self.st.numbers.awaiting_remote_revoke
    }

    pub(crate) fn on_shutdown(
        &mut self,
        m: &Shutdown,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if !matches!(
            self.st.phase,
            Phase::Normal | Phase::ShuttingDown | Phase::AwaitingChannelReady
        ) {
            return Err(self.unexpected("shutdown"));
        }
        if let Some(previous) = &self.st.remote_shutdown {
            if *previous != m.scriptpubkey {
                return Err(ChannelError::BadShutdownScript(
                    "a second shutdown with a different script",
                ));
            }
            return Ok(());
        }
        if !is_valid_shutdown_script(&m.scriptpubkey, self.config.anysegwit) {
            return Err(ChannelError::BadShutdownScript(
                "scriptpubkey is not one of the allowed forms",
            ));
        }
        if let Some(upfront) = &self.st.remote_upfront_shutdown {
            if *upfront != m.scriptpubkey {
                return Err(ChannelError::BadShutdownScript(
                    "scriptpubkey differs from the upfront_shutdown_script",
                ));
            }
        }
        self.st.remote_shutdown = Some(m.scriptpubkey.clone());
        self.st.phase = Phase::ShuttingDown;
        self.maybe_commit(out)?;
        self.progress_shutdown(out)
    }

    fn balances(&self) -> (Msat, Msat) {
        let v = self.st.log.view(Side::Local, Which::Current);
        (Msat(v.holder_msat), Msat(v.counterparty_msat))
    }

    fn preferred_closing_fee(&self) -> u64 {
        let feerate = self.st.log.view(Side::Local, Which::Current).feerate_per_kw;
        (u64::from(feerate) * CLOSING_WEIGHT / 1000).max(1)
    }

    fn our_fee_range(&self) -> FeeRange {
        let (local, remote) = self.balances();
        let funder_sat = if self.st.is_funder { local } else { remote }.0 / 1000;
        let pref = self.preferred_closing_fee();
        FeeRange {
            min_fee_satoshis: (pref / 2).max(1).min(funder_sat),
            max_fee_satoshis: pref.saturating_mul(3).min(funder_sat),
        }
    }

    fn scripts(&self) -> Result<(Vec<u8>, Vec<u8>), ChannelError> {
        match (&self.st.local_shutdown, &self.st.remote_shutdown) {
            (Some(l), Some(r)) => Ok((l.clone(), r.clone())),
            _ => Err(ChannelError::NotNow("close before both shutdown messages")),
        }
    }

    /// The legacy closing transaction paying `fee` from the funder's output.
    /// Both sides trim at the larger dust limit, so they build the same one.
    fn legacy_closing_tx(&self, fee: u64) -> Result<Transaction, ChannelError> {
        let (local, remote) = self.balances();
        let (ls, rs) = self.scripts()?;
        let outpoint = self
            .st
            .funding_outpoint
            .ok_or(ChannelError::NotNow("close before funding"))?;
        let dust = self
            .st
            .local_params
            .dust_limit_satoshis
            .max(self.st.remote_params.dust_limit_satoshis);
        Ok(build_legacy_closing_transaction(
            outpoint,
            &ClosingOutput {
                script_pubkey: ScriptBuf::from_bytes(ls),
                balance: local,
            },
            &ClosingOutput {
                script_pubkey: ScriptBuf::from_bytes(rs),
                balance: remote,
            },
            self.st.is_funder,
            Amount::from_sat(fee),
            Amount::from_sat(dust),
            false,
        )?)
    }

    fn sign_closing(&self, tx: &Transaction) -> Result<ecdsa::Signature, ChannelError> {
        Ok(self
            .signer
            .sign_closing_transaction(tx, Amount::from_sat(self.st.funding_satoshis))?)
    }

    fn verify_closing(
        &self,
        tx: &Transaction,
        sig: &Signature,
        message: &'static str,
    ) -> Result<ecdsa::Signature, ChannelError> {
        let remote = self.remote_keys()?;
        let script = scripts::funding_script(
            &self.signer.pubkeys().funding_pubkey,
            &remote.funding_pubkey,
        );
        let sig = ecdsa::Signature {
            signature: *sig,
            sighash_type: EcdsaSighashType::All,
        };
        if !verify_p2wsh_signature(
            tx,
            0,
            &script,
            Amount::from_sat(self.st.funding_satoshis),
            &sig,
            &remote.funding_pubkey,
        )? {
            return Err(ChannelError::BadClosingSignature { message });
        }
        Ok(sig)
    }

    fn complete_close(
        &mut self,
        mut tx: Transaction,
        ours: &ecdsa::Signature,
        theirs: &ecdsa::Signature,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        let remote = self.remote_keys()?;
        tx.input[0].witness = funding_witness(
            ours,
            &self.signer.pubkeys().funding_pubkey,
            theirs,
            &remote.funding_pubkey,
        );
        self.st.closing_tx = Some(tx.clone());
        self.st.phase = Phase::Closed;
        self.tr.closing = None;
        out.events.push(ChannelEvent::ChannelClosed {
            channel_id: self.st.channel_id,
            closing_tx: tx,
        });
        Ok(())
    }

    fn closing_signed(&self, fee: u64, range: Option<FeeRange>) -> Result<Message, ChannelError> {
        let tx = self.legacy_closing_tx(fee)?;
        let sig = self.sign_closing(&tx)?;
        Ok(Message::ClosingSigned(ClosingSigned {
            channel_id: self.st.channel_id,
            fee_satoshis: fee,
            signature: sig.signature,
            tlvs: ClosingSignedTlvs {
                fee_range: range.map(|r| WireFeeRange {
                    min_fee_satoshis: r.min_fee_satoshis,
                    max_fee_satoshis: r.max_fee_satoshis,
                }),
                unknown: UnknownTlvs::default(),
            },
        }))
    }

    pub(crate) fn on_closing_signed(
        &mut self,
        m: &ClosingSigned,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if !self.ready_to_close() || self.st.simple_close {
            return Err(self.unexpected("closing_signed"));
        }
        let tx = self.legacy_closing_tx(m.fee_satoshis)?;
        let theirs = self.verify_closing(&tx, &m.signature, "closing_signed")?;
        let range = self.our_fee_range();
        let is_funder = self.st.is_funder;
        let neg = self
            .tr
            .closing
            .get_or_insert_with(|| ClosingNegotiation::new(is_funder, range));
        let their_range = m.tlvs.fee_range.map(|r| FeeRange {
            min_fee_satoshis: r.min_fee_satoshis,
            max_fee_satoshis: r.max_fee_satoshis,
        });
        let step = neg.on_closing_signed(m.fee_satoshis, their_range)?;
        self.tr.closing_started = true;
        let ours_range = their_range.map(|_| range);
        match step {
            ClosingStep::Propose { fee_satoshis } => {
                let msg = self.closing_signed(fee_satoshis, ours_range)?;
                out.messages.push(msg);
                Ok(())
            }
            ClosingStep::Agreed {
                fee_satoshis,
                reply,
            } => {
                if fee_satoshis != m.fee_satoshis {
                    return Err(ChannelError::BadClosingMessage {
                        message: "closing_signed",
                        reason: "agreed on a fee the peer did not sign",
                    });
                }
                let ours = self.sign_closing(&tx)?;
                if reply {
                    out.messages
                        .push(self.closing_signed(fee_satoshis, ours_range)?);
                }
                self.complete_close(tx, &ours, &theirs, out)
            }
        }
    }

    fn simple_outputs(
        &self,
        closer_script: &[u8],
        we_are_closer: bool,
    ) -> Result<(ClosingOutput, ClosingOutput), ChannelError> {
        let (local, remote) = self.balances();
        let (ls, rs) = self.scripts()?;
        let ours = |script: Vec<u8>, balance| ClosingOutput {
            script_pubkey: ScriptBuf::from_bytes(script),
            balance,
        };
        Ok(if we_are_closer {
            (ours(closer_script.to_vec(), local), ours(rs, remote))
        } else {
            (ours(closer_script.to_vec(), remote), ours(ls, local))
        })
    }

    fn simple_tx(
        &self,
        closer: &ClosingOutput,
        closee: &ClosingOutput,
        fee: u64,
        locktime: u32,
        variant: SimpleCloseVariant,
    ) -> Result<Transaction, ChannelError> {
        let outpoint = self
            .st
            .funding_outpoint
            .ok_or(ChannelError::NotNow("close before funding"))?;
        Ok(build_simple_closing_transaction(
            outpoint,
            closer,
            closee,
            Amount::from_sat(fee),
            LockTime::from_consensus(locktime),
            variant,
        )?)
    }

    /// `closing_complete` (BOLT 2, `option_simple_close`): we pay the fee
    /// from our output and sign the variants [`closer_variants`] allows, so
    /// we never sign away our own output unless it is dust. What we sent is
    /// kept for the peer's `closing_sig` to echo.
    fn send_closing_complete(&mut self, out: &mut ChannelOutput) -> Result<(), ChannelError> {
        let (ls, rs) = self.scripts()?;
        let (closer, closee) = self.simple_outputs(&ls, true)?;
        let fee = self.preferred_closing_fee();
        let locktime = self.tr.best_height.get();
        let fee_msat = Msat::from_sat(fee).ok_or(ChannelError::NotNow("close: fee overflows"))?;
        // BOLT 2: "MUST set `fee_satoshis` to a fee less than or equal to
        // its outstanding balance".
        let closer_amount = closer
            .balance
            .checked_sub(fee_msat)
            .ok_or(ChannelError::NotNow("close: the fee exceeds our balance"))?
            .to_sat_floor();
        let closer_dust = closer_amount < dust_threshold(&closer.script_pubkey);
        let closee_dust = closee.balance.to_sat_floor() < dust_threshold(&closee.script_pubkey);
        let variants =
            closer_variants(closer.balance.0, closee.balance.0, closer_dust, closee_dust);
        if variants.is_empty() {
            return Err(ChannelError::NotNow("close: every output would be dust"));
        }
        let mut tlvs = ClosingTlvs::default();
        for &variant in &variants {
            let tx = self.simple_tx(&closer, &closee, fee, locktime, variant)?;
            let sig = Some(self.sign_closing(&tx)?.signature);
            match variant {
                SimpleCloseVariant::CloserOutputOnly => tlvs.closer_output_only = sig,
                SimpleCloseVariant::CloseeOutputOnly => tlvs.closee_output_only = sig,
                SimpleCloseVariant::CloserAndCloseeOutputs => tlvs.closer_and_closee_outputs = sig,
            }
        }
        self.tr.closing_started = true;
        self.tr.closing_complete_sent = Some(SentClosingComplete {
            closer_scriptpubkey: ls.clone(),
            closee_scriptpubkey: rs.clone(),
            fee_satoshis: fee,
            locktime,
            variants,
        });
        out.messages.push(Message::ClosingComplete(ClosingComplete {
            channel_id: self.st.channel_id,
            closer_scriptpubkey: ls,
            closee_scriptpubkey: rs,
            fee_satoshis: fee,
            locktime,
            tlvs,
        }));
        Ok(())
    }

    /// The peer's `closing_complete` (BOLT 2, "The receiver of
    /// `closing_complete`"): the peer pays the fee, at most its balance;
    /// the `locktime` must be a height near our tip
    /// ([`check_closing_locktime`]); the transaction we sign is the one
    /// [`closee_variant`] selects, never one without our output while that
    /// output is not dust. A violation gets a `warning` and the connection
    /// closes; the channel survives.
    pub(crate) fn on_closing_complete(
        &mut self,
        m: &ClosingComplete,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if !self.ready_to_close() || !self.st.simple_close {
            return Err(self.unexpected("closing_complete"));
        }
        let bad = |reason| ChannelError::BadClosingMessage {
            message: "closing_complete",
            reason,
        };
        let (ls, rs) = self.scripts()?;
        if m.closee_scriptpubkey != ls {
            return Err(bad("closee_scriptpubkey is not our shutdown script"));
        }
        if m.closer_scriptpubkey != rs
            && !is_valid_shutdown_script(&m.closer_scriptpubkey, self.config.anysegwit)
        {
            return Err(bad("closer_scriptpubkey is not a valid shutdown script"));
        }
        let (closer, closee) = self.simple_outputs(&m.closer_scriptpubkey, false)?;
        if m.fee_satoshis > closer.balance.to_sat_floor().to_sat() {
            return Err(bad("fee_satoshis is above the closer's balance"));
        }
        check_closing_locktime(m.locktime, self.tr.best_height.get()).map_err(bad)?;
        let our_dust = closee.balance.to_sat_floor() < dust_threshold(&closee.script_pubkey);
        let variant = closee_variant(our_dust, m.tlvs.closer_and_closee_outputs.is_some());
        let sig = match variant {
            SimpleCloseVariant::CloserOutputOnly => m.tlvs.closer_output_only,
            SimpleCloseVariant::CloseeOutputOnly => m.tlvs.closee_output_only,
            SimpleCloseVariant::CloserAndCloseeOutputs => m.tlvs.closer_and_closee_outputs,
        }
        .ok_or(bad("the signature BOLT 2 selects for us is missing"))?;
        let tx = self
            .simple_tx(&closer, &closee, m.fee_satoshis, m.locktime, variant)
            .map_err(|_| bad("the selected closing transaction cannot be built"))?;
        let theirs = self.verify_closing(&tx, &sig, "closing_complete")?;
        let ours = self.sign_closing(&tx)?;
        let mut tlvs = ClosingTlvs::default();
        match variant {
            SimpleCloseVariant::CloserOutputOnly => tlvs.closer_output_only = Some(ours.signature),
            SimpleCloseVariant::CloseeOutputOnly => tlvs.closee_output_only = Some(ours.signature),
            SimpleCloseVariant::CloserAndCloseeOutputs => {
                tlvs.closer_and_closee_outputs = Some(ours.signature)
            }
        }
        out.messages.push(Message::ClosingSig(ClosingSig {
            channel_id: self.st.channel_id,
            closer_scriptpubkey: m.closer_scriptpubkey.clone(),
            closee_scriptpubkey: m.closee_scriptpubkey.clone(),
            fee_satoshis: m.fee_satoshis,
            locktime: m.locktime,
            tlvs,
        }));
        self.complete_close(tx, &ours, &theirs, out)
    }

    /// The peer's `closing_sig` for our `closing_complete` (BOLT 2, "The
    /// receiver of `closing_sig`"): it must echo our scripts, fee and
    /// locktime and carry exactly one signature, for a variant we signed;
    /// the transaction is rebuilt from what we sent, never from the
    /// peer's numbers (a peer-chosen fee would come out of our output).
    pub(crate) fn on_closing_sig(
        &mut self,
        m: &ClosingSig,
        out: &mut ChannelOutput,
    ) -> Result<(), ChannelError> {
        if !self.ready_to_close() || !self.tr.closing_started || !self.st.simple_close {
            return Err(self.unexpected("closing_sig"));
        }
        let sent = self
            .tr
            .closing_complete_sent
            .clone()
            .ok_or_else(|| self.unexpected("closing_sig"))?;
        let bad = |reason| ChannelError::BadClosingMessage {
            message: "closing_sig",
            reason,
        };
        if m.closer_scriptpubkey != sent.closer_scriptpubkey
            || m.closee_scriptpubkey != sent.closee_scriptpubkey
            || m.fee_satoshis != sent.fee_satoshis
            || m.locktime != sent.locktime
        {
            return Err(bad(
                "scripts, fee_satoshis or locktime differ from our closing_complete",
            ));
        }
        let (variant, sig) = match (
            m.tlvs.closer_output_only,
            m.tlvs.closee_output_only,
            m.tlvs.closer_and_closee_outputs,
        ) {
            (Some(s), None, None) => (SimpleCloseVariant::CloserOutputOnly, s),
            (None, Some(s), None) => (SimpleCloseVariant::CloseeOutputOnly, s),
            (None, None, Some(s)) => (SimpleCloseVariant::CloserAndCloseeOutputs, s),
            _ => return Err(bad("it must carry exactly one signature")),
        };
        if !sent.variants.contains(&variant) {
            return Err(bad("its signature is for a variant we did not sign"));
        }
        let (closer, closee) = self.simple_outputs(&sent.closer_scriptpubkey, true)?;
        let tx = self.simple_tx(&closer, &closee, sent.fee_satoshis, sent.locktime, variant)?;
        let theirs = self.verify_closing(&tx, &sig, "closing_sig")?;
        let ours = self.sign_closing(&tx)?;
        self.complete_close(tx, &ours, &theirs, out)
    }
}
