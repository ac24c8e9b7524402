//! `lnctl` subcommands. Each returns its output, or a one-line error that
//! the binary prints to stderr before exiting non-zero.

pub mod graph;
pub mod msg;
pub mod node;
pub mod payreq;

/// Runs `lnctl` with `args` (without the program name).
pub fn run(args: &[String]) -> Result<String, String> {
    match args.first().map(String::as_str) {
        // Subcommands are added here, one module each.
        Some("decodemsg") => msg::decodemsg(&args[1..]),
        Some("encodemsg") => msg::encodemsg(&args[1..]),
        Some("decodepayreq") => payreq::decodepayreq(&args[1..]),
        Some(cmd) if node::COMMANDS.contains(&cmd) || graph::COMMANDS.contains(&cmd) => {
            node::run(cmd, &args[1..])
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    }
}

/// Usage text.
pub const USAGE: &str = "usage: lnctl <command> [args]
  decodemsg <hex>          a Lightning message (2-byte type + payload) as JSON
  encodemsg <json>         the inverse of decodemsg: JSON to hex
  decodepayreq <invoice>   a BOLT 11 invoice as lncli-style JSON

Commands for a running lnnode (--rpc PATH | --datadir DIR | $LNCTL_RPC):
  getinfo, connect <id@host:port>, openchannel --node_key K --local_amt SAT [--push_amt SAT],
  listchannels, channelbalance, addinvoice --amt SAT [--memo M], listinvoices,
  payinvoice <bolt11> [--amt SAT] [--fee_limit SAT], sendpayment --pay_req R | --keysend --dest PUBKEY --amt SAT [--fee_limit SAT], listpayments, closechannel --funding_txid T [--output_index N] [--force],
  newaddress [p2wkh], walletbalance, pendingchannels, closeallchannels [--force],
  getchaninfo <chan_id>, describegraph, queryroutes --dest PUBKEY --amt SAT, fwdinghistory,
  exportchanbackup --chan_point P | --all, verifychanbackup / restorechanbackup --multi_backup HEX | --multi_file F,
  stop";
