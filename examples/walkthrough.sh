#!/usr/bin/env bash
# The lnd simnet tutorial's walkthrough with this project's programs: a
# simulated chain (`simchain`, bitcoind's RPC), Alice and Bob (`lnnode`),
# driven by `lnctl` with lncli's commands: create wallets, get an address,
# mine to it, connect, open a channel, mine to confirm it, add an invoice,
# pay it, list channels, close, mine, check the wallet balances. Every
# balance is checked; any mismatch exits non-zero.
#
#   cargo build -p lightning-node -p lightning-simchain -p examples
#   bash examples/walkthrough.sh            # BIN=target/debug by default
#
# Needs curl and jq. `examples/tests/walkthrough.rs` runs it in CI.
set -euo pipefail

BIN=${BIN:-target/debug}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
fail() { echo "walkthrough: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

chain_port=$(free_port)
chain="127.0.0.1:$chain_port"
rpc() {
    curl -sf --user u:p -H 'Content-Type: application/json' \
        --data-binary "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "http://$chain/"
}

say "start the chain (simchain on $chain)"
mkfifo "$work/hold"
"$BIN/simchain" --rpcbind "$chain" --rpcuser u --rpcpassword p <"$work/hold" >"$work/simchain.log" 2>&1 &
pids+=($!)
exec 7>"$work/hold"   # simchain serves until this closes
for _ in $(seq 100); do grep -q listening "$work/simchain.log" && break; sleep 0.1; done
grep -q listening "$work/simchain.log" || fail "simchain did not start"

# create, then run, a node named $1 listening on port $2
start_node() {
    local name=$1 port=$2 dir="$work/$1"
    echo "correct horse $name" | "$BIN/lnnode" create --datadir "$dir" >"$work/$name.create" 2>&1
    echo "created $name's wallet: $(sed -n 2p "$work/$name.create" | wc -w) seed words, shown once"
    echo "correct horse $name" | "$BIN/lnnode" --datadir "$dir" \
        --bitcoind-url "http://$chain/" --bitcoind-user u --bitcoind-password p \
        --listen "127.0.0.1:$port" --sync-interval-ms 100 >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 100); do grep -q "lnnode ready" "$work/$name.out" && return; sleep 0.1; done
    fail "$name did not start: $(cat "$work/$name.log")"
}

say "create and start Alice and Bob"
alice_port=$(free_port)
bob_port=$(free_port)
start_node alice "$alice_port"
start_node bob "$bob_port"
alice() { LNCTL_RPC="$work/alice/lightning-rpc" "$BIN/lnctl" "$@"; }
bob() { LNCTL_RPC="$work/bob/lightning-rpc" "$BIN/lnctl" "$@"; }

# mine $1 blocks to address $2 and wait until both nodes have them
mine() {
    rpc generatetoaddress "[$1, \"$2\"]" >/dev/null || fail "generatetoaddress"
    local want
    want=$(rpc getblockcount "[]" | jq .result)
    for _ in $(seq 300); do
        if [ "$(alice getinfo | jq .block_height)" = "$want" ] && [ "$(bob getinfo | jq .block_height)" = "$want" ]; then
            return
        fi
        sleep 0.1
    done
    fail "the nodes did not reach height $want"
}
expect() { # expect <what> <actual> <expected>
    [ "$2" = "$3" ] || fail "$1: $2, expected $3"
    echo "ok: $1 = $2"
}

say "alice gets an address and mines 101 blocks to it"
addr=$(alice newaddress p2wkh | jq -r .address)
echo "alice's address: $addr"
mine 1 "$addr"
# Blocks after the first pay nobody here (a BIP 173 example address).
burn=bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080
mine 100 "$burn"
expect "alice's confirmed balance (sat)" "$(alice walletbalance | jq -r .confirmed_balance)" 5000000000

say "alice connects to bob and opens a 1,000,000 sat channel"
bob_id=$(bob getinfo | jq -r .identity_pubkey)
alice connect "$bob_id@127.0.0.1:$bob_port" >/dev/null
alice openchannel --node_key "$bob_id" --local_amt 1000000 | jq -c .
expect "pending open channels" "$(alice pendingchannels | jq '.pending_open_channels | length')" 1
mine 6 "$burn"
for _ in $(seq 100); do
    [ "$(alice listchannels | jq '[.channels[] | select(.active)] | length')" = 1 ] && break
    sleep 0.1
done
alice listchannels | jq -c '.channels[] | {remote_pubkey, capacity, local_balance, active}'
expect "active channels" "$(alice listchannels | jq '[.channels[] | select(.active)] | length')" 1

say "bob adds an invoice for 10,000 sat; alice pays it"
req=$(bob addinvoice --amt 10000 --memo coffee | jq -r .payment_request)
echo "invoice: $req"
alice payinvoice "$req" | jq -c '{status, value, fee}'
expect "bob's invoice state" "$(bob listinvoices | jq -r '.invoices[0].state')" SETTLED
expect "bob's channel balance (sat)" "$(bob channelbalance | jq -r .balance)" 10000
expect "alice's channel balance (sat)" "$(alice channelbalance | jq -r .balance)" 990000

say "alice closes the channel; one block confirms it"
point=$(alice listchannels | jq -r '.channels[0].channel_point')
alice closechannel --funding_txid "${point%:*}" --output_index "${point#*:}" | jq -c .
mine 1 "$burn"
for _ in $(seq 100); do
    [ "$(bob walletbalance | jq -r .confirmed_balance)" != 0 ] && break
    sleep 0.1
done
expect "bob's confirmed balance (sat)" "$(bob walletbalance | jq -r .confirmed_balance)" 10000
a=$(alice walletbalance | jq -r .confirmed_balance)
fees=$((5000000000 - 10000 - a))
[ "$fees" -gt 0 ] && [ "$fees" -lt 20000 ] || fail "alice's balance $a: fees of $fees sat"
echo "ok: alice's confirmed balance = $a sat (5,000,000,000 less 10,000 paid and $fees in fees)"

say "stop both nodes"
alice stop >/dev/null
bob stop >/dev/null
echo "walkthrough passed"
