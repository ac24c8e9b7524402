//! `lnctl` commands that drive a running `lnnode` over its Core
//! Lightning-compatible JSON-RPC socket, printing JSON with `lncli`'s field
//! names (64-bit integers as strings, as `lncli` prints them).
//!
//! The socket is `--rpc PATH`, else `--datadir DIR` (`DIR/lightning-rpc`),
//! else `$LNCTL_RPC`. Errors (a stopped daemon, a refused request) are one
//! line on stderr and a non-zero exit.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

/// The commands this module serves.
pub const COMMANDS: &[&str] = &[
    "getinfo",
    "connect",
    "openchannel",
    "listchannels",
    "channelbalance",
    "addinvoice",
    "listinvoices",
    "payinvoice",
    "sendpayment",
    "listpayments",
    "closechannel",
    "newaddress",
    "walletbalance",
    "exportchanbackup",
    "verifychanbackup",
    "restorechanbackup",
    "stop",
];

/// Options and positional arguments.
pub(crate) struct Args {
    rpc: Option<PathBuf>,
    named: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut out = Args {
            rpc: None,
            named: Vec::new(),
            positional: Vec::new(),
        };
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let (name, value) = match name.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => {
                        let flag = matches!(name, "force" | "private" | "keysend" | "all");
                        let v = if flag {
                            None
                        } else {
                            Some(
                                it.next()
                                    .cloned()
                                    .ok_or_else(|| format!("--{name} needs a value"))?,
                            )
                        };
                        (name.to_owned(), v)
                    }
                };
                match name.as_str() {
                    "rpc" | "rpcserver" => out.rpc = value.map(PathBuf::from),
                    "datadir" | "lnddir" => {
                        out.rpc = value.map(|d| PathBuf::from(d).join("lightning-rpc"))
                    }
                    _ => out.named.push((name, value)),
                }
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }

    fn opt(&self, names: &[&str]) -> Option<String> {
        self.named
            .iter()
            .find(|(n, _)| names.contains(&n.as_str()))
            .and_then(|(_, v)| v.clone())
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        self.named.iter().any(|(n, _)| n == name)
    }

    /// A named option, else the `i`-th positional argument.
    pub(crate) fn get(&self, names: &[&str], i: usize) -> Option<String> {
        self.opt(names).or_else(|| self.positional.get(i).cloned())
    }

    fn path(&self) -> Result<PathBuf, String> {
        self.rpc
            .clone()
            .or_else(|| std::env::var_os("LNCTL_RPC").map(PathBuf::from))
            .ok_or_else(|| "no node: give --rpc PATH, --datadir DIR or set LNCTL_RPC".to_owned())
    }
}

/// One JSON-RPC call to the socket at `path`.
pub fn call(path: &std::path::Path, method: &str, params: Value) -> Result<Value, String> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot reach lnnode at {}: {e} (is lnnode running?)",
            path.display()
        )
    })?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(600)));
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    s.write_all(req.to_string().as_bytes())
        .map_err(|e| format!("lnnode: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => {
                if let Some(e) = v.get("error") {
                    return Err(format!(
                        "[lnnode] rpc error {}: {}",
                        e["code"],
                        e["message"].as_str().unwrap_or("")
                    ));
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
            Some(Err(e)) if !e.is_eof() => return Err(format!("bad reply from lnnode: {e}")),
            _ => {}
        }
        let n = s.read(&mut chunk).map_err(|e| format!("lnnode: {e}"))?;
        if n == 0 {
            return Err("lnnode closed the connection without replying".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub(crate) fn s(v: u64) -> Value {
    Value::String(v.to_string())
}

pub(crate) fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn amount_sat(v: Option<String>, what: &str) -> Result<u64, String> {
    v.ok_or_else(|| format!("{what} is required"))?
        .parse()
        .map_err(|_| format!("{what}: not a number of satoshis"))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Runs `command` against the node.
pub fn run(command: &str, args: &[String]) -> Result<String, String> {
    let a = Args::parse(args)?;
    let path = a.path()?;
    let rpc = |m: &str, p: Value| call(&path, m, p);
    let out = match command {
        "getinfo" => {
            let i = rpc("getinfo", json!([]))?;
            let id = i["id"].as_str().unwrap_or("").to_owned();
            let uris: Vec<Value> = i["address"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            json!(format!(
                                "{id}@{}:{}",
                                x["address"].as_str().unwrap_or(""),
                                x["port"]
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "version": i["version"],
                "identity_pubkey": id,
                "alias": i["alias"],
                "color": format!("#{}", i["color"].as_str().unwrap_or("")),
                "num_pending_channels": i["num_pending_channels"],
                "num_active_channels": i["num_active_channels"],
                "num_inactive_channels": i["num_inactive_channels"],
                "num_peers": i["num_peers"],
                "block_height": i["blockheight"],
                "synced_to_chain": i["warning_bitcoind_sync"].is_null(),
                "chains": [{"chain": "bitcoin", "network": i["network"]}],
                "uris": uris,
            })
        }
        "connect" => {
            let target = a
                .get(&["addr"], 0)
                .ok_or("connect <pubkey>@<host>:<port>")?;
            rpc("connect", json!([target]))?;
            json!({})
        }
        "openchannel" => {
            let key = a.get(&["node_key"], 0).ok_or("--node_key is required")?;
            let amt = amount_sat(a.get(&["local_amt"], 1), "--local_amt")?;
            let push = a
                .opt(&["push_amt"])
                .map(|p| {
                    p.parse::<u64>()
                        .map_err(|_| "--push_amt: not a number".to_owned())
                })
                .transpose()?
                .unwrap_or(0);
            let mut params = json!({"id": key, "amount": amt});
            if push > 0 {
                params["push_msat"] = json!(push * 1000);
            }
            if let Some(f) = a.opt(&["sat_per_vbyte"]) {
                let f: u64 = f.parse().map_err(|_| "--sat_per_vbyte: not a number")?;
                params["feerate"] = json!(format!("{}perkb", f * 1000));
            }
            let r = rpc("fundchannel", params)?;
            json!({"funding_txid": r["txid"], "output_index": r["outnum"], "channel_id": r["channel_id"]})
        }
        "listchannels" => {
            let r = rpc("listpeerchannels", json!({}))?;
            let chans: Vec<Value> = r["channels"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|c| matches!(c["state"].as_str(), Some("CHANNELD_NORMAL") | Some("CHANNELD_SHUTTING_DOWN")))
                .map(|c| {
                    let total = u(&c["total_msat"]) / 1000;
                    let local = u(&c["to_us_msat"]) / 1000;
                    json!({
                        "active": c["state"] == "CHANNELD_NORMAL" && c["peer_connected"] == true,
                        "remote_pubkey": c["peer_id"],
                        "channel_point": format!("{}:{}", c["funding_txid"].as_str().unwrap_or(""), c["funding_outnum"]),
                        "chan_id": scid_u64(c["short_channel_id"].as_str()),
                        "channel_id": c["channel_id"],
                        "capacity": s(total),
                        "local_balance": s(local),
                        "remote_balance": s(total.saturating_sub(local)),
                        "initiator": c["opener"] == "local",
                        "private": c["private"],
                    })
                })
                .collect();
            json!({"channels": chans})
        }
        "channelbalance" => {
            let r = rpc("listpeerchannels", json!({}))?;
            let (mut local, mut remote, mut pending) = (0u64, 0u64, 0u64);
            for c in r["channels"].as_array().cloned().unwrap_or_default() {
                let us = u(&c["to_us_msat"]);
                match c["state"].as_str() {
                    Some("CHANNELD_NORMAL") => {
                        local += us;
                        remote += u(&c["total_msat"]).saturating_sub(us);
                    }
                    Some("OPENINGD") | Some("CHANNELD_AWAITING_LOCKIN") => pending += us,
                    _ => {}
                }
            }
            json!({
                "balance": s(local / 1000),
                "pending_open_balance": s(pending / 1000),
                "local_balance": {"sat": s(local / 1000), "msat": s(local)},
                "remote_balance": {"sat": s(remote / 1000), "msat": s(remote)},
            })
        }
        "addinvoice" => {
            let amt = a.get(&["amt"], 0);
            let msat = match (amt, a.opt(&["amt_msat"])) {
                (_, Some(m)) => json!(m.parse::<u64>().map_err(|_| "--amt_msat: not a number")?),
                (Some(sat), None) => {
                    json!(sat.parse::<u64>().map_err(|_| "--amt: not a number")? * 1000)
                }
                (None, None) => json!("any"),
            };
            let memo = a.opt(&["memo"]).unwrap_or_default();
            let label = format!(
                "lnctl-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            );
            let mut params = json!({"amount_msat": msat, "label": label, "description": memo});
            if let Some(e) = a.opt(&["expiry"]) {
                params["expiry"] = json!(e.parse::<u64>().map_err(|_| "--expiry: not a number")?);
            }
            let r = rpc("invoice", params)?;
            json!({
                "r_hash": r["payment_hash"],
                "payment_request": r["bolt11"],
                "add_index": s(u(&r["created_index"])),
                "payment_addr": r["payment_secret"],
            })
        }
        "listinvoices" => {
            let r = rpc("listinvoices", json!({}))?;
            let invs: Vec<Value> = r["invoices"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|i| {
                    let bolt11 = i["bolt11"].as_str().unwrap_or("");
                    let created = bolt11
                        .parse::<lightning_wire::bolt11::Bolt11Invoice>()
                        .map(|b| b.timestamp())
                        .unwrap_or(0);
                    let paid = i["status"] == "paid";
                    let state = match i["status"].as_str() {
                        Some("paid") => "SETTLED",
                        Some("expired") => "CANCELED",
                        _ => "OPEN",
                    };
                    json!({
                        "memo": i["description"],
                        "r_preimage": i.get("payment_preimage").cloned().unwrap_or(json!("")),
                        "r_hash": i["payment_hash"],
                        "value": s(u(&i["amount_msat"]) / 1000),
                        "value_msat": s(u(&i["amount_msat"])),
                        "settled": paid,
                        "creation_date": s(created),
                        "settle_date": s(u(&i["paid_at"])),
                        "payment_request": bolt11,
                        "expiry": s(u(&i["expires_at"]).saturating_sub(created)),
                        "amt_paid_sat": s(u(&i["amount_received_msat"]) / 1000),
                        "amt_paid_msat": s(u(&i["amount_received_msat"])),
                        "state": state,
                        "add_index": s(u(&i["created_index"])),
                        "settle_index": s(u(&i["pay_index"])),
                    })
                })
                .collect();
            json!({"invoices": invs})
        }
        "payinvoice" | "sendpayment" => {
            // lncli's `--fee_limit` (sat) is the payment's fee cap.
            let fee_limit = match a.get(&["fee_limit"], usize::MAX) {
                Some(f) => Some(
                    f.parse::<u64>()
                        .map_err(|_| format!("--fee_limit {f:?}: not a number of sat"))?
                        .saturating_mul(1000),
                ),
                None => None,
            };
            let (r, req) = if a.flag("keysend") {
                let dest = a
                    .get(&["dest"], usize::MAX)
                    .ok_or("sendpayment --keysend --dest <pubkey> --amt <sat>")?;
                let amt: u64 = a
                    .get(&["amt"], usize::MAX)
                    .ok_or("sendpayment --keysend --dest <pubkey> --amt <sat>")?
                    .parse()
                    .map_err(|_| "--amt: not a number of sat".to_string())?;
                let mut params = json!({"destination": dest, "amount_msat": amt * 1000});
                if let Some(f) = fee_limit {
                    params["maxfee"] = json!(f);
                }
                (rpc("keysend", params)?, String::new())
            } else {
                let req = a
                    .get(&["pay_req"], 0)
                    .ok_or(format!("{command} <payment request>"))?;
                let mut params = json!({"bolt11": req});
                if let Some(f) = fee_limit {
                    params["maxfee"] = json!(f);
                }
                // lncli's `--amt` (sat): the amount of an invoice without one.
                if let Some(amt) = a.get(&["amt"], usize::MAX) {
                    let sat: u64 = amt
                        .parse()
                        .map_err(|_| format!("--amt {amt:?}: not a number of sat"))?;
                    params["amount_msat"] = json!(sat.saturating_mul(1000));
                }
                (rpc("pay", params)?, req)
            };
            let amount = u(&r["amount_msat"]);
            let fee = u(&r["amount_sent_msat"]).saturating_sub(amount);
            json!({
                "payment_hash": r["payment_hash"],
                "value": s(amount / 1000),
                "value_msat": s(amount),
                "fee": s(fee / 1000),
                "fee_msat": s(fee),
                "payment_preimage": r["payment_preimage"],
                "payment_request": req,
                "status": "SUCCEEDED",
                "creation_date": s(u(&r["created_at"])),
            })
        }
        "listpayments" => {
            let r = rpc("listpays", json!({}))?;
            let pays: Vec<Value> = r["pays"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    let amount = u(&p["amount_msat"]);
                    let fee = p
                        .get("amount_sent_msat")
                        .map(|x| u(x).saturating_sub(amount))
                        .unwrap_or(0);
                    json!({
                        "payment_hash": p["payment_hash"],
                        "value": s(amount / 1000),
                        "value_sat": s(amount / 1000),
                        "value_msat": s(amount),
                        "creation_date": s(u(&p["created_at"])),
                        "fee": s(fee / 1000),
                        "fee_sat": s(fee / 1000),
                        "fee_msat": s(fee),
                        "payment_preimage": p.get("preimage").cloned().unwrap_or(json!("")),
                        "payment_request": p.get("bolt11").cloned().unwrap_or(json!("")),
                        "status": match p["status"].as_str() {
                            Some("complete") => "SUCCEEDED",
                            Some("failed") => "FAILED",
                            _ => "IN_FLIGHT",
                        },
                    })
                })
                .collect();
            json!({"payments": pays})
        }
        "closechannel" => {
            let point = match a.get(&["funding_txid"], 0) {
                Some(t) if t.contains(':') => t,
                Some(t) => format!(
                    "{t}:{}",
                    a.get(&["output_index"], 1).unwrap_or_else(|| "0".into())
                ),
                None => {
                    return Err(
                        "closechannel --funding_txid TXID [--output_index N] [--force]".into(),
                    )
                }
            };
            let mut params = json!({"id": channel_id_of_point(&rpc, &point)?});
            if a.flag("force") {
                params["unilateraltimeout"] = json!(1);
            }
            let c = rpc("close", params)?;
            json!({"closing_txid": c["txid"], "type": c["type"]})
        }
        "exportchanbackup" => {
            // `--chan_point TXID:N` (one channel) or `--all`.
            let id = match a.opt(&["chan_point"]) {
                Some(point) => Some(channel_id_of_point(&rpc, &point)?),
                None if a.flag("all") => None,
                None => return Err("exportchanbackup --chan_point TXID:N | --all".into()),
            };
            let r = rpc(
                "exportchanbackup",
                id.map_or_else(|| json!({}), |id| json!({"id": id})),
            )?;
            let points = chan_points(&r);
            if a.flag("all") {
                json!({"multi_chan_backup": {"chan_points": points, "multi_chan_backup": r["backup"]}})
            } else {
                json!({"chan_point": points.first().cloned().unwrap_or(Value::Null), "chan_backup": r["backup"]})
            }
        }
        "verifychanbackup" | "restorechanbackup" => {
            // `--multi_backup HEX` or `--multi_file PATH` (the raw file).
            let hex_backup = match (a.opt(&["multi_backup"]), a.opt(&["multi_file"])) {
                (Some(h), _) => h,
                (None, Some(path)) => hex::encode(
                    std::fs::read(&path).map_err(|e| format!("--multi_file {path}: {e}"))?,
                ),
                (None, None) => {
                    return Err(format!("{command} --multi_backup HEX | --multi_file PATH"))
                }
            };
            let r = rpc(command, json!({"backup": hex_backup}))?;
            let points = chan_points(&r);
            let mut out = json!({"chan_points": points, "sequence": r["sequence"]});
            if command == "restorechanbackup" {
                out["num_restored"] = json!(r["recovered"].as_array().map_or(0, Vec::len));
            }
            out
        }
        "newaddress" => {
            match a.positional.first().map(String::as_str) {
                None | Some("p2wkh") => {}
                Some(other) => {
                    return Err(format!(
                        "address type {other} is not supported (p2wkh only)"
                    ))
                }
            }
            let r = rpc("newaddr", json!({"addresstype": "bech32"}))?;
            json!({"address": r["bech32"]})
        }
        "walletbalance" => {
            let r = rpc("listfunds", json!({}))?;
            let (mut confirmed, mut locked) = (0u64, 0u64);
            for o in r["outputs"].as_array().cloned().unwrap_or_default() {
                let sat = u(&o["amount_msat"]) / 1000;
                if o["reserved"] == true {
                    locked += sat;
                } else {
                    confirmed += sat;
                }
            }
            json!({
                "total_balance": s(confirmed + locked),
                "confirmed_balance": s(confirmed),
                "unconfirmed_balance": s(0),
                "locked_balance": s(locked),
            })
        }
        "stop" => {
            rpc("stop", json!([]))?;
            json!({})
        }
        other if super::graph::COMMANDS.contains(&other) => super::graph::run(other, &a, &rpc)?,
        other => return Err(format!("unknown node command {other}")),
    };
    Ok(pretty(&out))
}

/// A short channel id `BxTxO` as lncli's 64-bit integer string.
pub(crate) fn scid_u64(scid: Option<&str>) -> Value {
    let Some(parts) = scid.map(|s| s.split('x').collect::<Vec<_>>()) else {
        return s(0);
    };
    let n = |i: usize| {
        parts
            .get(i)
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0)
    };
    s((n(0) << 40) | (n(1) << 16) | n(2))
}

/// The channel id of the channel whose funding output is `point`
/// (`txid:n`).
fn channel_id_of_point(
    rpc: &dyn Fn(&str, Value) -> Result<Value, String>,
    point: &str,
) -> Result<String, String> {
    let r = rpc("listpeerchannels", json!({}))?;
    r["channels"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|c| {
            format!(
                "{}:{}",
                c["funding_txid"].as_str().unwrap_or(""),
                c["funding_outnum"]
            ) == point
        })
        .and_then(|c| c["channel_id"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("no channel with channel point {point}"))
}

/// The channel points (`txid:n`) of a backup method's `channels`.
fn chan_points(r: &Value) -> Vec<Value> {
    r["channels"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!(format!(
                "{}:{}",
                c["funding_txid"].as_str().unwrap_or(""),
                c["funding_outnum"]
            ))
        })
        .collect()
}
