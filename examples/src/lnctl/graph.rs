//! `lnctl` commands over the graph, routes, pending channels and
//! forwards, in lncli's shapes: `pendingchannels`, `closeallchannels
//! [--force]`, `getchaninfo <chan_id>`, `describegraph`, `queryroutes
//! --dest PUBKEY --amt SAT`, `fwdinghistory`.

use serde_json::{json, Value};

use super::node::{s, scid_u64, u, Args};

/// The commands this module serves.
pub const COMMANDS: &[&str] = &[
    "pendingchannels",
    "closeallchannels",
    "getchaninfo",
    "describegraph",
    "queryroutes",
    "fwdinghistory",
];

/// lncli's 64-bit channel id as `BxTxO`.
fn scid_of_u64(v: &str) -> Result<String, String> {
    let n: u64 = v
        .parse()
        .map_err(|_| format!("chan_id {v:?}: not a 64-bit channel id"))?;
    Ok(format!(
        "{}x{}x{}",
        n >> 40,
        (n >> 16) & 0xff_ffff,
        n & 0xffff
    ))
}

fn point(c: &Value) -> String {
    format!(
        "{}:{}",
        c["funding_txid"].as_str().unwrap_or(""),
        c["funding_outnum"]
    )
}

fn pending_channel(c: &Value) -> Value {
    let total = u(&c["total_msat"]) / 1000;
    let local = u(&c["to_us_msat"]) / 1000;
    json!({
        "remote_node_pub": c["peer_id"],
        "channel_point": point(c),
        "capacity": s(total),
        "local_balance": s(local),
        "remote_balance": s(total.saturating_sub(local)),
        "initiator": if c["opener"] == "local" { "INITIATOR_LOCAL" } else { "INITIATOR_REMOTE" },
    })
}

/// One direction's policy from a `listchannels` entry.
fn policy(e: &Value) -> Value {
    json!({
        "time_lock_delta": e["delay"],
        "min_htlc": s(u(&e["htlc_minimum_msat"])),
        "max_htlc_msat": s(u(&e["htlc_maximum_msat"])),
        "fee_base_msat": s(u(&e["base_fee_millisatoshi"])),
        "fee_rate_milli_msat": s(u(&e["fee_per_millionth"])),
        "disabled": e["active"] == false,
        "last_update": e["last_update"],
    })
}

/// lncli's `ChannelEdge` from the `listchannels` entries of one channel.
fn edge(entries: &[&Value]) -> Value {
    let first = entries[0];
    // node1 is the smaller node id (BOLT 7), direction 0 leaves it.
    let (n1, n2) = if first["direction"] == 0 {
        (&first["source"], &first["destination"])
    } else {
        (&first["destination"], &first["source"])
    };
    let mut v = json!({
        "channel_id": scid_u64(first["short_channel_id"].as_str()),
        "chan_point": "",
        "node1_pub": n1,
        "node2_pub": n2,
        "capacity": s(u(&first["amount_msat"]) / 1000),
        "last_update": entries.iter().map(|e| u(&e["last_update"])).max().unwrap_or(0),
        "node1_policy": Value::Null,
        "node2_policy": Value::Null,
    });
    for e in entries {
        let key = if e["direction"] == 0 {
            "node1_policy"
        } else {
            "node2_policy"
        };
        v[key] = policy(e);
    }
    v
}

fn edges(channels: &Value) -> Vec<Value> {
    let list = channels["channels"].as_array().cloned().unwrap_or_default();
    let mut by_scid: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for c in &list {
        by_scid
            .entry(c["short_channel_id"].as_str().unwrap_or("").to_owned())
            .or_default()
            .push(c);
    }
    by_scid.values().map(|e| edge(e)).collect()
}

/// Runs `command`; `rpc` calls the node.
pub(crate) fn run(
    command: &str,
    a: &Args,
    rpc: &dyn Fn(&str, Value) -> Result<Value, String>,
) -> Result<Value, String> {
    Ok(match command {
        "pendingchannels" => {
            let r = rpc("listpeerchannels", json!({}))?;
            let (mut open, mut force, mut waiting, mut limbo) =
                (Vec::new(), Vec::new(), Vec::new(), 0);
            for c in r["channels"].as_array().cloned().unwrap_or_default() {
                let us = u(&c["to_us_msat"]) / 1000;
                match c["state"].as_str() {
                    Some("OPENINGD") | Some("CHANNELD_AWAITING_LOCKIN") => {
                        open.push(json!({"channel": pending_channel(&c)}))
                    }
                    Some("ONCHAIN") | Some("AWAITING_UNILATERAL") => {
                        limbo += us;
                        force.push(json!({"channel": pending_channel(&c), "limbo_balance": s(us)}))
                    }
                    Some("CHANNELD_SHUTTING_DOWN") => {
                        limbo += us;
                        waiting
                            .push(json!({"channel": pending_channel(&c), "limbo_balance": s(us)}))
                    }
                    _ => {}
                }
            }
            json!({
                "total_limbo_balance": s(limbo),
                "pending_open_channels": open,
                "pending_force_closing_channels": force,
                "waiting_close_channels": waiting,
            })
        }
        "closeallchannels" => {
            let r = rpc("listpeerchannels", json!({}))?;
            let mut out = Vec::new();
            for c in r["channels"].as_array().cloned().unwrap_or_default() {
                if !matches!(c["state"].as_str(), Some("CHANNELD_NORMAL")) {
                    continue;
                }
                let mut params = json!({"id": c["channel_id"]});
                if a.flag("force") {
                    params["unilateraltimeout"] = json!(1);
                }
                let closed = rpc("close", params)?;
                out.push(json!({
                    "remote_pub_key": c["peer_id"],
                    "channel_point": point(&c),
                    "closing_txid": closed["txid"],
                }));
            }
            json!({"closed_channels": out})
        }
        "getchaninfo" => {
            let id = a.get(&["chan_id"], 0).ok_or("getchaninfo <chan_id>")?;
            let scid = if id.contains('x') {
                id
            } else {
                scid_of_u64(&id)?
            };
            let r = rpc("listchannels", json!({"short_channel_id": scid}))?;
            edges(&r)
                .into_iter()
                .next()
                .ok_or_else(|| format!("edge not found: {scid}"))?
        }
        "describegraph" => {
            let nodes = rpc("listnodes", json!({}))?;
            let channels = rpc("listchannels", json!({}))?;
            let nodes: Vec<Value> = nodes["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|n| {
                    let addrs: Vec<Value> = n["addresses"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|x| json!({"network": "tcp", "addr": format!("{}:{}", x["address"].as_str().unwrap_or(""), x["port"])}))
                        .collect();
                    json!({
                        "pub_key": n["nodeid"],
                        "alias": n.get("alias").cloned().unwrap_or(json!("")),
                        "color": format!("#{}", n.get("color").and_then(Value::as_str).unwrap_or("000000")),
                        "last_update": n.get("last_timestamp").cloned().unwrap_or(json!(0)),
                        "addresses": addrs,
                    })
                })
                .collect();
            json!({"nodes": nodes, "edges": edges(&channels)})
        }
        "queryroutes" => {
            let dest = a
                .get(&["dest"], 0)
                .ok_or("queryroutes --dest PUBKEY --amt SAT")?;
            let amt: u64 = a
                .get(&["amt"], 1)
                .ok_or("queryroutes --dest PUBKEY --amt SAT")?
                .parse()
                .map_err(|_| "--amt: not a number of sat".to_string())?;
            let height = u(&rpc("getinfo", json!({}))?["blockheight"]);
            let r = rpc(
                "getroute",
                json!({"id": dest, "amount_msat": amt * 1000, "riskfactor": 1}),
            )?;
            let route = r["route"].as_array().cloned().unwrap_or_default();
            let total_msat = route.first().map_or(0, |h| u(&h["amount_msat"]));
            let fees_msat = total_msat.saturating_sub(amt * 1000);
            let hops: Vec<Value> = route
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let next = route.get(i + 1).map_or(u(&h["amount_msat"]), |n| u(&n["amount_msat"]));
                    let fee = u(&h["amount_msat"]).saturating_sub(next);
                    json!({
                        "chan_id": scid_u64(h["channel"].as_str()),
                        "amt_to_forward": s(next / 1000),
                        "amt_to_forward_msat": s(next),
                        "fee": s(fee / 1000),
                        "fee_msat": s(fee),
                        "expiry": height + route.get(i + 1).map_or(u(&h["delay"]), |n| u(&n["delay"])),
                        "pub_key": h["id"],
                    })
                })
                .collect();
            json!({"routes": [{
                "total_time_lock": height + route.first().map_or(0, |h| u(&h["delay"])),
                "total_fees": s(fees_msat / 1000),
                "total_fees_msat": s(fees_msat),
                "total_amt": s(total_msat / 1000),
                "total_amt_msat": s(total_msat),
                "hops": hops,
            }]})
        }
        "fwdinghistory" => {
            let r = rpc("listforwards", json!({"status": "settled"}))?;
            let events: Vec<Value> = r["forwards"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    json!({
                        "timestamp": s(u(&f["resolved_time"])),
                        "chan_id_in": scid_u64(f["in_channel"].as_str()),
                        "chan_id_out": scid_u64(f["out_channel"].as_str()),
                        "amt_in": s(u(&f["in_msat"]) / 1000),
                        "amt_out": s(u(&f["out_msat"]) / 1000),
                        "amt_in_msat": s(u(&f["in_msat"])),
                        "amt_out_msat": s(u(&f["out_msat"])),
                        "fee": s(u(&f["fee_msat"]) / 1000),
                        "fee_msat": s(u(&f["fee_msat"])),
                    })
                })
                .collect();
            let n = events.len();
            json!({"forwarding_events": events, "last_offset_index": n})
        }
        other => return Err(format!("unknown command {other}")),
    })
}
