//! Static channel backups over the RPC (issue 21). Not Core Lightning
//! methods (its `staticbackup` has its own format): named after lncli's
//! commands, the backup as hex.
//!
//! - `exportchanbackup [id]`: one channel's backup (`id` as `close` takes
//!   it: peer id, channel id or short channel id), or the node's whole
//!   backup, the file it keeps in its store;
//! - `verifychanbackup backup`: whether it opens under this node's seed,
//!   and what it holds;
//! - `restorechanbackup backup`: its channels become recovery-only: each
//!   peer is asked to close (`channel_reestablish` telling it we lost
//!   state) and our output is swept to the wallet.
//!
//! Each answers `backup` (hex, export only), `sequence` and `channels`
//! (`channel_id`, `peer_id`, `funding_txid`, `funding_outnum`,
//! `amount_msat`, `anchors`); restore adds `recovered`, the channels it
//! had not known. A backup that does not open is error -1 with the
//! reason (another seed's, damaged, another chain's).

use lightning_core::backup::StaticChannelBackup;
use serde_json::{json, Value};

use super::methods::find_channel;
use super::params::Params;
use super::{Ctx, RpcError};

fn describe(b: &StaticChannelBackup) -> Value {
    let channels: Vec<Value> = b
        .channels
        .iter()
        .map(|c| {
            json!({
                "channel_id": c.channel_id.to_string(),
                "peer_id": c.peer.to_string(),
                "funding_txid": c.funding_outpoint.txid.to_string(),
                "funding_outnum": c.funding_outpoint.vout,
                "amount_msat": c.funding_sat.saturating_mul(1000),
                "anchors": c.channel_type.anchors,
            })
        })
        .collect();
    json!({"sequence": b.sequence, "channels": channels})
}

fn backup_bytes(p: &Params) -> Result<Vec<u8>, RpcError> {
    let text = p.req_text("backup")?;
    hex::decode(text.trim()).map_err(|_| RpcError::params("backup: should be hex"))
}

pub(super) fn export(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let id = p.text("id")?;
    let st = ctx.rt.lock();
    let bytes = match id {
        Some(id) => {
            let c = find_channel(&st, &id)?;
            st.node.export_channel_backup(c.channel_id)
        }
        None => st.node.export_all_channel_backups(),
    }
    .map_err(|e| RpcError::general(e.to_string()))?;
    let opened = st
        .node
        .verify_channel_backup(&bytes)
        .map_err(|e| RpcError::general(e.to_string()))?;
    let mut v = describe(&opened);
    v["backup"] = json!(hex::encode(&bytes));
    Ok(v)
}

pub(super) fn verify(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let bytes = backup_bytes(p)?;
    let opened = ctx
        .rt
        .with_node(|n| n.verify_channel_backup(&bytes))
        .map_err(|e| RpcError::general(format!("the backup does not open: {e}")))?;
    Ok(describe(&opened))
}

pub(super) fn restore(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let bytes = backup_bytes(p)?;
    let mut st = ctx.rt.lock();
    let opened = st
        .node
        .verify_channel_backup(&bytes)
        .map_err(|e| RpcError::general(format!("the backup does not open: {e}")))?;
    let recovered = st
        .node
        .restore_channel_backup(&bytes)
        .map_err(|e| RpcError::general(e.to_string()))?;
    let mut v = describe(&opened);
    v["recovered"] = json!(recovered.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    Ok(v)
}
