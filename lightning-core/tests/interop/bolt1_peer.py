"""BOLT 1 peer over a BOLT 8 transport not written here: Core Lightning's
pyln-proto (`pyln.proto.wire`) or Electrum's `electrum.lntransport`.

    bolt1_peer.py pyln|electrum PORT LOCAL_PRIVKEY_HEX REMOTE_PUBKEY_HEX CHAIN_HASH_HEX

Connects to 127.0.0.1:PORT as initiator, then:
1. reads the first message, which must be `init` listing CHAIN_HASH in
   `networks`;
2. sends `init` (feature bit 1 and `networks` = CHAIN_HASH);
3. sends `ping` asking for 12 bytes;
4. reads until it has both a `pong` of exactly 12 zero bytes and a `ping`
   from the other side, which it answers with a `pong`;
5. sends `warning` ("interop done") on channel 0 and waits for the other
   side to close. Prints OK and exits 0; any surprise raises.

Messages are built by hand from BOLT 1 so nothing here shares code with the
Rust side.
"""
import asyncio
import socket
import struct
import sys


def init_message(chain_hash):
    features = bytes([0x02])  # option_data_loss_protect, optional
    tlv = bytes([1, 32]) + chain_hash  # networks
    return struct.pack(">HH", 16, 0) + struct.pack(">H", len(features)) + features + tlv


def ping_message(num_pong_bytes):
    ignored = bytes(4)
    return struct.pack(">HHH", 18, num_pong_bytes, len(ignored)) + ignored


def pong_message(n):
    return struct.pack(">HH", 19, n) + bytes(n)


def warning_message(text):
    data = text.encode()
    return struct.pack(">H", 1) + bytes(32) + struct.pack(">H", len(data)) + data


def parse_networks(tlvs):
    """The `networks` of an init TLV stream (types and lengths < 253 here)."""
    while tlvs:
        t, n = tlvs[0], tlvs[1]
        if t == 1:
            return [tlvs[2 + i:2 + i + 32] for i in range(0, n, 32)]
        tlvs = tlvs[2 + n:]
    return None


class Pyln:
    async def connect(self, port, privkey, remote):
        from pyln.proto.primitives import PrivateKey, PublicKey
        from pyln.proto.wire import LightningConnection

        class Whole:
            def __init__(self, sock):
                self.sock = sock

            def recv(self, n):
                return self.sock.recv(n, socket.MSG_WAITALL)

            def send(self, data):
                self.sock.sendall(data)
                return len(data)

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.conn = LightningConnection(
            Whole(self.sock), PublicKey(remote), PrivateKey(privkey), is_initiator=True)
        self.conn.shake()

    async def recv(self):
        return self.conn.read_message()

    async def send(self, message):
        self.conn.send_message(message)

    async def wait_closed(self):
        self.sock.settimeout(10)
        try:
            while self.sock.recv(4096):
                pass
        except OSError:
            pass
        self.sock.close()


class Electrum:
    async def connect(self, port, privkey, remote):
        from electrum.lntransport import LNTransport
        from electrum.lnutil import LNPeerAddr

        self.transport = LNTransport(privkey, LNPeerAddr("127.0.0.1", port, remote), proxy=None)
        await self.transport.handshake()
        self.messages = self.transport.read_messages().__aiter__()

    async def recv(self):
        return await asyncio.wait_for(self.messages.__anext__(), timeout=30)

    async def send(self, message):
        self.transport.send_bytes(message)
        await self.transport.writer.drain()

    async def wait_closed(self):
        try:
            while True:
                await asyncio.wait_for(self.messages.__anext__(), timeout=10)
        except (StopAsyncIteration, Exception):
            pass
        self.transport.writer.close()


async def main():
    impl, port, privkey, remote, chain_hash = sys.argv[1:6]
    peer = {"pyln": Pyln, "electrum": Electrum}[impl]()
    chain_hash = bytes.fromhex(chain_hash)
    await peer.connect(int(port), bytes.fromhex(privkey), bytes.fromhex(remote))

    first = await peer.recv()
    (msg_type,) = struct.unpack(">H", first[:2])
    assert msg_type == 16, f"first message has type {msg_type}, not init"
    gflen = struct.unpack(">H", first[2:4])[0]
    flen = struct.unpack(">H", first[4 + gflen:6 + gflen])[0]
    networks = parse_networks(first[6 + gflen + flen:])
    assert networks == [chain_hash], f"networks {networks}"

    await peer.send(init_message(chain_hash))
    await peer.send(ping_message(12))

    got_pong = answered_ping = False
    while not (got_pong and answered_ping):
        message = await peer.recv()
        (msg_type,) = struct.unpack(">H", message[:2])
        if msg_type == 19:
            n = struct.unpack(">H", message[2:4])[0]
            assert n == 12 and message[4:] == bytes(12), f"bad pong {message.hex()}"
            got_pong = True
        elif msg_type == 18:
            num_pong_bytes = struct.unpack(">H", message[2:4])[0]
            await peer.send(pong_message(num_pong_bytes))
            answered_ping = True
        else:
            raise AssertionError(f"unexpected message type {msg_type}")

    await peer.send(warning_message("interop done"))
    await peer.wait_closed()
    print("OK", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
