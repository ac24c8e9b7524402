"""BOLT 8 echo peer over Core Lightning's pyln-proto (pyln.proto.wire).

See README.md in this directory for the arguments and the exchange.
"""
import hashlib
import socket
import sys

from pyln.proto.primitives import PrivateKey, PublicKey
from pyln.proto.wire import LightningConnection


class Whole:
    """A socket whose recv(n) returns exactly n bytes (or b"" at EOF) and
    whose send writes everything: pyln reads fixed-size frames with single
    recv calls, which TCP may split."""

    def __init__(self, sock):
        self.sock = sock
        # Each echo waits on the last one: without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms per message.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv(self, n):
        return self.sock.recv(n, socket.MSG_WAITALL)

    def send(self, data):
        self.sock.sendall(data)
        return len(data)


def echo(connection, count):
    digest = hashlib.sha256()
    for _ in range(count):
        message = connection.read_message()
        digest.update(len(message).to_bytes(2, "big"))
        digest.update(message)
        connection.send_message(message)
    connection.send_message(b"DONE" + digest.digest())


def main():
    role, port, privkey, remote, count = sys.argv[1:6]
    privkey, count = PrivateKey(bytes.fromhex(privkey)), int(count)
    if role == "initiator":
        sock = socket.create_connection(("127.0.0.1", int(port)))
        connection = LightningConnection(
            Whole(sock), PublicKey(bytes.fromhex(remote)), privkey, is_initiator=True)
        connection.shake()
    else:
        server = socket.socket()
        server.bind(("127.0.0.1", int(port)))
        server.listen(1)
        server.settimeout(60)
        print("PORT", server.getsockname()[1], flush=True)
        sock, _ = server.accept()
        sock.settimeout(60)
        connection = LightningConnection(Whole(sock), None, privkey, is_initiator=False)
        connection.shake()
        print("REMOTE", connection.remote_pubkey.serializeCompressed().hex(), flush=True)
    echo(connection, count)
    sock.shutdown(socket.SHUT_WR)
    sock.close()


if __name__ == "__main__":
    main()
