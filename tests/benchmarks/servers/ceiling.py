"""The fastest plain-Python server for the random-integer protocol that we know how to write.

A single-threaded ``selectors`` loop over non-blocking sockets. Integers are made in chunks
by numpy (``rng.integers(0, 10001, size=k)``) and formatted without a Python-level loop:
every encoded line ``b"%d\\r\\n"`` (3 to 7 bytes) is precomputed NUL-padded to 8 bytes, so a
chunk is one ``take`` and one ``bytes.translate(None, b"\\0")`` that drops the padding
(the trick rxrand's fused path uses; ~16 ns an integer here, against ~35 ns for a
gather + ``np.compress`` and ~110 ns for ``b"".join(map(table.__getitem__, ...))``, both
kept as ``--formatter``). Each chunk is sent through a memoryview (no copy on a partial
send); a chunk is made only when the previous one is fully in the kernel, and
``TCP_NOTSENT_LOWAT`` keeps the kernel's unsent queue short, so a slow reader costs about
one chunk of memory. The first chunk of a connection is small, so that 100 clients
starting together all see their first integer quickly.

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
CHUNK = 16384
MAX_LINE = 64


def make_formatter(kind: str, rng: np.random.Generator) -> Callable[[int], memoryview]:
    """Return ``fmt(k)`` giving the wire bytes of ``k`` fresh random integers."""
    table = [b"%d\r\n" % i for i in range(10001)]
    if kind == "join":
        getitem = table.__getitem__

        def fmt_join(k: int) -> memoryview:
            ints = rng.integers(0, 10001, size=k).tolist()
            return memoryview(b"".join(map(getitem, ints)))

        return fmt_join
    rows = np.zeros((len(table), 8), np.uint8)
    used = np.zeros((len(table), 8), np.bool_)
    for i, line in enumerate(table):
        rows[i, : len(line)] = np.frombuffer(line, np.uint8)
        used[i, : len(line)] = True
    rows64 = rows.view(np.uint64).ravel()
    used64 = used.view(np.uint64).ravel()
    if kind == "gather":

        def fmt_gather(k: int) -> memoryview:
            ints = rng.integers(0, 10001, size=k, dtype=np.int32)
            return np.compress(used64[ints].view(np.bool_), rows64[ints].view(np.uint8)).data

        return fmt_gather

    def fmt_translate(k: int) -> memoryview:
        ints = rng.integers(0, 10001, size=k, dtype=np.int32)
        return memoryview(rows64.take(ints).tobytes().translate(None, b"\0"))

    return fmt_translate


class Conn:
    """One client: reading its count line, then sending ``remaining`` more integers."""

    __slots__ = ("inbuf", "out", "remaining", "sent", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.remaining = -1  # -1 while the count line has not arrived
        self.out = memoryview(b"")
        self.sent = 0


class Server:
    def __init__(
        self, host: str, port: int, fmt: Callable[[int], memoryview], lowat: int, chunk: int
    ) -> None:
        self.chunk = chunk
        self.sel = selectors.DefaultSelector()
        self.fmt = fmt
        self.lowat = lowat
        self.listener = socket.create_server((host, port), backlog=1024)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, None)

    def run(self) -> None:
        select = self.sel.select
        while True:
            writable: list[Conn] = []
            for key, _ in select():
                conn: Conn | None = key.data
                if conn is None:
                    self._accept()
                elif conn.remaining < 0:
                    self._read(conn)
                else:
                    writable.append(conn)
            # New requests first, then at most one new chunk per busy connection: the
            # first integer of a new client never waits behind many chunks of others.
            for conn in writable:
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
        fresh = False
        while True:
            if conn.sent == len(conn.out):
                if not conn.remaining:
                    self._close(conn)
                    return
                if fresh:
                    return  # the selector calls again: the socket is still writable
                fresh = True
                k = min(conn.remaining, self.chunk)
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
    parser.add_argument("--formatter", choices=["translate", "gather", "join"], default="translate")
    parser.add_argument(
        "--notsent-lowat", type=int, default=128 * 1024, help="TCP_NOTSENT_LOWAT; 0 = unset"
    )
    parser.add_argument("--chunk", type=int, default=CHUNK, help="integers per chunk")
    args = parser.parse_args()
    fmt = make_formatter(args.formatter, np.random.default_rng())
    Server(args.host, args.port, fmt, args.notsent_lowat, args.chunk).run()


if __name__ == "__main__":
    main()
