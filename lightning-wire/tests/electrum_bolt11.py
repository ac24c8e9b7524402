"""Decode and encode BOLT 11 invoices with Electrum's `electrum.lnaddr`.

Reads one JSON request per line on stdin and writes one JSON reply per line
on stdout, so a single process serves a whole differential test run.
Used by tests/bolt11_differential.rs; this file is ours, Electrum is the
implementation under comparison.
"""
import json
import sys
from decimal import Decimal
from hashlib import sha256

from electrum import constants, lnaddr

NETS = {
    "bc": constants.BitcoinMainnet,
    "tb": constants.BitcoinTestnet,
    "tbs": constants.BitcoinSignet,
    "bcrt": constants.BitcoinRegtest,
    "sb": constants.BitcoinSimnet,
}


def u5(bits):
    bits = bits[:]
    return [bits[i:i + 5].uint for i in range(0, bits.len - bits.len % 5, 5)]


def decode(req):
    a = lnaddr.lndecode(req["invoice"], net=NETS[req["net"]])
    tags = {}
    fallbacks, hints = [], []
    for k, v in a.tags:
        if k == "f":
            fallbacks.append(v)
        elif k == "r":
            hints.append([[pk.hex(), int.from_bytes(scid, "big"), base, prop, cltv]
                          for (pk, scid, base, prop, cltv) in v])
        elif k in ("d", "x", "9"):
            tags.setdefault(k, v)
        elif k == "h":
            tags.setdefault(k, v.hex())
    feats = tags.get("9", 0)
    return {
        "prefix": a.net.BOLT11_HRP,
        "amount_msat": a.get_amount_msat(),
        "timestamp": a.date,
        "payment_hash": a.paymenthash.hex(),
        "payment_secret": a.payment_secret.hex() if a.payment_secret else None,
        "description": tags.get("d"),
        "description_hash": tags.get("h"),
        "payee": a.pubkey.serialize().hex(),
        "expiry": tags.get("x"),
        "min_final_cltv": a.get_min_final_cltv_expiry(),
        "fallbacks": fallbacks,
        "route_hints": hints,
        "features": [b for b in range(feats.bit_length()) if feats >> b & 1],
        "unknown": [["qpzry9x8gf2tvdw0s3jn54khce6mua7l".index(t), u5(d)] for t, d in a.unknown_tags],
    }


def encode(req):
    net = NETS[req["net"]]
    tags = []
    for k, v in req["tags"]:
        if k == "r":
            v = [(bytes.fromhex(pk), scid.to_bytes(8, "big"), base, prop, cltv)
                 for pk, scid, base, prop, cltv in v]
        elif k == "n":
            v = bytes.fromhex(v)
        elif k == "9":
            v = sum(1 << b for b in v)
        tags.append((k, v))
    amount = req["amount_msat"]
    addr = lnaddr.LnAddr(
        paymenthash=bytes.fromhex(req["payment_hash"]),
        amount=None if amount is None else Decimal(amount) / Decimal(10 ** 11),
        net=net,
        tags=tags,
        date=req["timestamp"],
        payment_secret=bytes.fromhex(req["payment_secret"]),
    )
    return {"invoice": lnaddr.lnencode(addr, bytes.fromhex(req["key"]))}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = decode(req) if req["op"] == "decode" else encode(req)
            reply["ok"] = True
        except Exception as e:  # report, keep serving
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
