"""The fastest plain-Python server for the random-integer protocol that we know how to write.

A single-threaded ``selectors`` loop over non-blocking sockets. Integers are made in chunks
by numpy (``rng.integers(0, 10001, size=k)``) and formatted without a Python-level loop:
every encoded line ``b"%d\\r\\n"`` (3 to 7 bytes) is precomputed as one little 8-byte row
plus a row of "byte is used" flags, so a chunk is two gathers and one ``np.compress``
(about 4x faster than ``b"".join(map(table.__getitem__, arr.tolist()))``, which is kept as
``--formatter join``). Each chunk is sent straight from the numpy buffer with large
``send`` calls; a chunk is made only when the previous one is fully in the kernel, so a
slow reader costs one chunk of user memory. The first chunk of a connection is small so
that 100 clients starting together all see their first integer quickly.

Run: ``python ceiling.py --host 127.0.0.1 --port 1234``
"""

from __future__ import annotations

import argparse
import selectors
import socket
from collections.abc import Callable

import numpy as np

GREETING = b"how many random integers do you want?\r\n"
FIRST_CHUNK = 4096
CHUNK = 65536
MAX_LINE = 64

Buffer = bytes | memoryview


def make_formatter(kind: str, rng: np.random.Generator) -> Callable[[int], Buffer]:
    """Return ``fmt(k)`` giving the wire bytes of ``k`` fresh random integers."""
    table = [b"%d\r\n" % i for i in range(10001)]
    if kind == "join":
        getitem = table.__getitem__

        def fmt_join(k: int) -> Buffer:
            return b"".join(map(getitem, rng.integers(0, 10001, size=k).tolist()))

        return fmt_join
    rows = np.zeros((len(table), 8), np.uint8)
    used = np.zeros((len(table), 8), np.bool_)
    for i, line in enumerate(table):
        rows[i, : len(line)] = np.frombuffer(line, np.uint8)
        used[i, : len(line)] = True
    rows64 = rows.view(np.uint64).ravel()
    used64 = used.view(np.uint64).ravel()

    def fmt_gather(k: int) -> Buffer:
        ints = rng.integers(0, 10001, size=k, dtype=np.int32)
        out = np.compress(used64[ints].view(np.bool_), rows64[ints].view(np.uint8))
        return memoryview(out)

    return fmt_gather


class Conn:
    """One client: reading its count line, then sending ``remaining`` more integers."""

    __slots__ = ("inbuf", "out", "remaining", "sent", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.remaining = -1  # -1 while the count line has not arrived
        self.out: Buffer = b""
        self.sent = 0


class Server:
    def __init__(self, host: str, port: int, fmt: Callable[[int], Buffer], lowat: int) -> None:
        self.sel = selectors.DefaultSelector()
        self.fmt = fmt
        self.lowat = lowat
        self.listener = socket.create_server((host, port), backlog=1024)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, None)

    def run(self) -> None:
        select = self.sel.select
        while True:
            for key, _ in select():
                conn: Conn | None = key.data
                if conn is None:
                    self._accept()
                elif conn.remaining < 0:
                    self._read(conn)
                else:
                    self._write(conn)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            if self.lowat:
                # Make "writable" mean "the kernel is nearly out of unsent data", so a slow
                # reader does not park megabytes of our output in the socket buffer.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, self.lowat)
            try:
                sock.send(GREETING)
            except OSError:
                sock.close()
                continue
            self.sel.register(sock, selectors.EVENT_READ, Conn(sock))

    def _close(self, conn: Conn) -> None:
        self.sel.unregister(conn.sock)
        conn.sock.close()

    def _read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(256)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.inbuf += data
        line, nl, _ = conn.inbuf.partition(b"\n")
        if not nl:
            if len(conn.inbuf) > MAX_LINE:
                self._close(conn)
            return
        try:
            count = int(line)
        except ValueError:
            count = -1
        if count <= 0:
            self._close(conn)
            return
        first = min(count, FIRST_CHUNK)
        conn.out = self.fmt(first)
        conn.remaining = count - first
        self.sel.modify(conn.sock, selectors.EVENT_WRITE, conn)
        self._write(conn)

    def _write(self, conn: Conn) -> None:
        send = conn.sock.send
        while True:
            if conn.sent == len(conn.out):
                if not conn.remaining:
                    self._close(conn)
                    return
                k = min(conn.remaining, CHUNK)
                conn.out = self.fmt(k)
                conn.remaining -= k
                conn.sent = 0
            want = len(conn.out) - conn.sent
            try:
                n = send(conn.out[conn.sent :])
            except BlockingIOError:
                return
            except OSError:
                self._close(conn)
                return
            conn.sent += n
            if n < want:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1234)
    parser.add_argument("--formatter", choices=["gather", "join"], default="gather")
    parser.add_argument(
        "--notsent-lowat", type=int, default=128 * 1024, help="TCP_NOTSENT_LOWAT; 0 = unset"
    )
    args = parser.parse_args()
    fmt = make_formatter(args.formatter, np.random.default_rng())
    Server(args.host, args.port, fmt, args.notsent_lowat).run()


if __name__ == "__main__":
    main()
