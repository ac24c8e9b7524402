"""Drives Electrum's `electrum.lnonion` for lightning-core's differential
onion tests: one JSON request per line on stdin, one JSON reply per line on
stdout."""
import json
import sys

from electrum import lnonion
from electrum.lnonion import (OnionHopsDataSingle, OnionPacket, OnionRoutingFailure,
                              new_onion_packet, process_onion_packet,
                              construct_onion_error, decode_onion_error)


def build(req):
    hops = []
    for p in req["payloads"]:
        h = OnionHopsDataSingle(is_tlv_payload=True)
        h._raw_bytes_payload = bytes.fromhex(p)
        hops.append(h)
    packet = new_onion_packet([bytes.fromhex(k) for k in req["pubkeys"]],
                              bytes.fromhex(req["session_key"]), hops,
                              bytes.fromhex(req["ad"]))
    return {"onion": packet.to_bytes().hex()}


def peel(req):
    packet = OnionPacket.from_bytes(bytes.fromhex(req["onion"]))
    p = process_onion_packet(packet, bytes.fromhex(req["ad"]), bytes.fromhex(req["privkey"]))
    d = p.hop_data.payload
    out = {"final": p.are_we_final, "next": p.next_packet.to_bytes().hex()}
    if "amt_to_forward" in d:
        out["amt_to_forward"] = d["amt_to_forward"]["amt_to_forward"]
    if "outgoing_cltv_value" in d:
        out["outgoing_cltv_value"] = d["outgoing_cltv_value"]["outgoing_cltv_value"]
    if "short_channel_id" in d:
        out["short_channel_id"] = d["short_channel_id"]["short_channel_id"].hex()
    if "payment_data" in d:
        out["payment_secret"] = d["payment_data"]["payment_secret"].hex()
        out["total_msat"] = d["payment_data"]["total_msat"]
    return out


def error_create(req):
    packet = OnionPacket.from_bytes(bytes.fromhex(req["onion"]))
    failure = OnionRoutingFailure(req["code"], bytes.fromhex(req["data"]))
    err = construct_onion_error(failure, packet, bytes.fromhex(req["privkey"]))
    return {"packet": err.hex()}


def error_decode(req):
    failure, index = decode_onion_error(bytes.fromhex(req["packet"]),
                                        [bytes.fromhex(k) for k in req["pubkeys"]],
                                        bytes.fromhex(req["session_key"]))
    return {"index": index, "code": int(failure.code), "data": failure.data.hex()}


HANDLERS = {"build": build, "peel": peel, "error_create": error_create,
            "error_decode": error_decode}

for line in sys.stdin:
    req = json.loads(line)
    try:
        reply = HANDLERS[req["cmd"]](req)
    except Exception as e:  # reported to the test, which fails on it
        reply = {"error": repr(e)}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
