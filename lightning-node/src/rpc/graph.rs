//! The public graph, routes and forwards, with Core Lightning's methods
//! and fields: `listchannels [short_channel_id] [source] [destination]`
//! (one entry per direction with a `channel_update`), `listnodes [id]`,
//! `getroute id amount_msat riskfactor [cltv] [fromid] [fuzzpercent]
//! [exclude] [maxhops]` and `listforwards [status] [in_channel]
//! [out_channel]`.

use lightning_core::node::{ForwardStatus, NodeId, RouteParams};
use lightning_core::Msat;
use lightning_wire::msgs::NodeAddress;
use lightning_wire::types::ShortChannelId;
use serde_json::{json, Value};

use super::methods::parse_pubkey;
use super::params::Params;
use super::{Ctx, RpcError};

fn scid_param(p: &Params, name: &str) -> Result<Option<ShortChannelId>, RpcError> {
    p.text(name)?
        .map(|s| {
            s.parse::<ShortChannelId>()
                .map_err(|_| RpcError::params(format!("{name}: should be a short channel id")))
        })
        .transpose()
}

pub(super) fn listchannels(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let scid = scid_param(p, "short_channel_id")?;
    let source = p
        .text("source")?
        .map(|s| parse_pubkey("source", &s))
        .transpose()?;
    let destination = p
        .text("destination")?
        .map(|s| parse_pubkey("destination", &s))
        .transpose()?;
    let st = ctx.rt.lock();
    // Capacities the graph does not know (it checks no UTXO) are known
    // for our own channels.
    let ours: std::collections::BTreeMap<ShortChannelId, u64> = st
        .node
        .list_channels()
        .iter()
        .filter_map(|c| Some((c.short_channel_id?, c.capacity_sat.to_sat())))
        .collect();
    let mut out = Vec::new();
    if let Some(graph) = st.node.network_graph() {
        let store = graph.store();
        for (_, c) in store.channels() {
            if scid.is_some_and(|s| s != c.scid()) {
                continue;
            }
            let (Some(one), Some(two)) = (store.node(c.node_one()), store.node(c.node_two()))
            else {
                continue;
            };
            for (dir, from, to) in [(0u8, one, two), (1, two, one)] {
                let Some(policy) = c.direction(dir) else {
                    continue;
                };
                if source.is_some_and(|s| &s != from.node_id())
                    || destination.is_some_and(|d| &d != to.node_id())
                {
                    continue;
                }
                out.push(json!({
                    "source": from.node_id().to_string(),
                    "destination": to.node_id().to_string(),
                    "short_channel_id": c.scid().to_string(),
                    "direction": dir,
                    "public": true,
                    "amount_msat": c
                        .capacity_sat()
                        .or_else(|| ours.get(&c.scid()).copied())
                        .map(|s| s.saturating_mul(1000)),
                    "message_flags": policy.message_flags,
                    "channel_flags": policy.channel_flags,
                    "active": policy.channel_flags & 2 == 0,
                    "last_update": policy.timestamp,
                    "base_fee_millisatoshi": policy.fee_base_msat,
                    "fee_per_millionth": policy.fee_proportional_millionths,
                    "delay": policy.cltv_expiry_delta,
                    "htlc_minimum_msat": policy.htlc_minimum_msat,
                    "htlc_maximum_msat": policy.htlc_maximum_msat,
                }));
            }
        }
    }
    Ok(json!({"channels": out}))
}

fn address(a: &NodeAddress) -> Value {
    match a {
        NodeAddress::Ipv4 { addr, port } => {
            json!({"type": "ipv4", "address": addr.to_string(), "port": port})
        }
        NodeAddress::Ipv6 { addr, port } => {
            json!({"type": "ipv6", "address": addr.to_string(), "port": port})
        }
        NodeAddress::TorV3 { onion, port } => {
            json!({"type": "torv3", "address": hex::encode(onion), "port": port})
        }
        NodeAddress::Dns { hostname, port } => {
            json!({"type": "dns", "address": hostname, "port": port})
        }
    }
}

pub(super) fn listnodes(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let id = p.text("id")?.map(|s| parse_pubkey("id", &s)).transpose()?;
    let st = ctx.rt.lock();
    let mut out = Vec::new();
    if let Some(graph) = st.node.network_graph() {
        for (_, n) in graph.store().nodes() {
            if id.is_some_and(|i| &i != n.node_id()) {
                continue;
            }
            let mut v = json!({"nodeid": n.node_id().to_string()});
            if let Some(a) = n.announcement() {
                v["alias"] = json!(a.alias_str().unwrap_or(""));
                v["color"] = json!(hex::encode(a.rgb_color));
                v["last_timestamp"] = json!(a.timestamp);
                v["addresses"] = json!(a
                    .addresses
                    .addresses
                    .iter()
                    .map(address)
                    .collect::<Vec<_>>());
            }
            out.push(v);
        }
    }
    Ok(json!({"nodes": out}))
}

pub(super) fn getroute(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let id = parse_pubkey("id", &p.req_text("id")?)?;
    let amount = p
        .msat("amount_msat")?
        .ok_or_else(|| RpcError::params("amount_msat: missing"))?;
    let _riskfactor = p.number("riskfactor")?;
    let cltv = p.u64("cltv")?.unwrap_or(9);
    let cltv = u16::try_from(cltv).map_err(|_| RpcError::params("cltv: too large"))?;
    if p.get("fromid").is_some() {
        return Err(RpcError::params("fromid: only routes from this node"));
    }
    let _ = p.number("fuzzpercent")?;
    let maxhops = p.u64("maxhops")?;
    let mut params = RouteParams::new(NodeId::from_pubkey(&id), Msat(amount));
    params.min_final_cltv_expiry_delta = cltv;
    params.max_path_count = 1;
    params.allow_mpp = false;
    if let Some(Value::Array(items)) = p.get("exclude") {
        for item in items {
            let s = item
                .as_str()
                .ok_or_else(|| RpcError::params("exclude: strings only"))?;
            if s.len() == 66 {
                params
                    .excluded_nodes
                    .insert(NodeId::from_pubkey(&parse_pubkey("exclude", s)?));
            } else {
                let scid = s
                    .split('/')
                    .next()
                    .and_then(|c| c.parse::<ShortChannelId>().ok())
                    .ok_or_else(|| {
                        RpcError::params(format!("exclude: {s} is no node or channel"))
                    })?;
                params.excluded_channels.insert(scid);
            }
        }
    }
    let route = ctx
        .rt
        .with_node(|n| n.find_route(&params))
        .map_err(|e| RpcError::new(205, format!("Could not find a route: {e}")))?;
    let path = route
        .paths
        .first()
        .ok_or_else(|| RpcError::new(205, "Could not find a route"))?;
    if maxhops.is_some_and(|m| path.hops.len() as u64 > m) {
        return Err(RpcError::new(
            205,
            format!(
                "Could not find a route within {} hops",
                maxhops.unwrap_or(0)
            ),
        ));
    }
    let hops: Vec<Value> = path
        .hops
        .iter()
        .map(|h| {
            json!({
                "id": h.node_id.to_pubkey().map(|k| k.to_string()).unwrap_or_default(),
                "channel": h.short_channel_id.to_string(),
                "direction": h.direction.bit(),
                "amount_msat": h.amount.0,
                "delay": h.cltv_expiry_delta,
                "style": "tlv",
            })
        })
        .collect();
    Ok(json!({"route": hops}))
}

pub(super) fn listforwards(ctx: &Ctx, p: &Params) -> Result<Value, RpcError> {
    let status = p.text("status")?;
    if let Some(s) = &status {
        if !matches!(
            s.as_str(),
            "offered" | "settled" | "failed" | "local_failed"
        ) {
            return Err(RpcError::params(
                "status: should be offered, settled, failed or local_failed",
            ));
        }
    }
    let in_channel = scid_param(p, "in_channel")?;
    let out_channel = scid_param(p, "out_channel")?;
    let st = ctx.rt.lock();
    let channels = st.node.list_channels();
    let scid_of = |id: &lightning_wire::types::ChannelId| {
        channels
            .iter()
            .find(|c| &c.channel_id == id)
            .and_then(|c| c.short_channel_id)
    };
    let out: Vec<Value> = st
        .node
        .list_forwards()
        .into_iter()
        .filter_map(|f| {
            let s = match f.status {
                ForwardStatus::InFlight => "offered",
                ForwardStatus::Settled => "settled",
                ForwardStatus::Failed => "failed",
            };
            if status.as_deref().is_some_and(|w| w != s) {
                return None;
            }
            let (i, o) = (
                scid_of(&f.incoming_channel_id),
                scid_of(&f.outgoing_channel_id),
            );
            if in_channel.is_some_and(|c| Some(c) != i) || out_channel.is_some_and(|c| Some(c) != o)
            {
                return None;
            }
            let mut v = json!({
                "in_channel": i.map(|s| s.to_string()),
                "in_htlc_id": f.incoming_htlc_id,
                "out_channel": o.map(|s| s.to_string()),
                "out_htlc_id": f.outgoing_htlc_id,
                "payment_hash": f.payment_hash.to_string(),
                "in_msat": f.incoming_amount_msat.0,
                "out_msat": f.outgoing_amount_msat.0,
                "fee_msat": f.fee_msat.0,
                "status": s,
                "style": "tlv",
                "received_time": f.created_at,
            });
            if let Some(r) = f.resolved_at {
                v["resolved_time"] = json!(r);
            }
            Some(v)
        })
        .collect();
    Ok(json!({"forwards": out}))
}
