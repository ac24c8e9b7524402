"""BOLT 8 echo peer over Electrum's transport (electrum.lntransport).

See README.md in this directory for the arguments and the exchange.
"""
import asyncio
import hashlib
import socket
import sys

from electrum.lntransport import LNResponderTransport, LNTransport
from electrum.lnutil import LNPeerAddr


def no_delay(transport):
    # Each echo waits on the last one: without this, Nagle's algorithm and
    # delayed ACKs add ~40 ms per message.
    sock = transport.writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def echo(transport, count):
    no_delay(transport)
    digest = hashlib.sha256()
    received = 0
    async for message in transport.read_messages():
        digest.update(len(message).to_bytes(2, "big"))
        digest.update(message)
        transport.send_bytes(message)
        await transport.writer.drain()
        received += 1
        if received == count:
            break
    transport.send_bytes(b"DONE" + digest.digest())
    await transport.writer.drain()
    transport.writer.close()


async def main():
    role, port, privkey, remote, count = sys.argv[1:6]
    privkey, count = bytes.fromhex(privkey), int(count)
    if role == "initiator":
        peer = LNPeerAddr("127.0.0.1", int(port), bytes.fromhex(remote))
        transport = LNTransport(privkey, peer, proxy=None)
        await transport.handshake()
        await echo(transport, count)
        return
    finished = asyncio.get_running_loop().create_future()

    async def accept(reader, writer):
        try:
            transport = LNResponderTransport(privkey, reader, writer)
            remote_static = await transport.handshake()
            print("REMOTE", remote_static.hex(), flush=True)
            await echo(transport, count)
            finished.set_result(None)
        except BaseException as e:  # report through the exit status
            finished.set_exception(e)

    server = await asyncio.start_server(accept, "127.0.0.1", int(port))
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.wait_for(finished, timeout=120)


if __name__ == "__main__":
    asyncio.run(main())
