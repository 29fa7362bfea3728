"""A reference "server" that does no work per request: it replays a precomputed buffer.

It answers the protocol exactly (greeting, count line, ``count`` valid lines, close) but
the lines are cut from one buffer of ``BLOCK`` random lines made at start-up, sent with
``sendall`` from a thread per connection (the GIL is released inside ``sendall``). Its
rate is the most the measuring client and the loopback can take, so any server far below
it is measured, not the client.

Run: ``python blast.py --host 127.0.0.1 --port 1234``
"""

from __future__ import annotations

import argparse
import socket
import threading

import numpy as np

GREETING = b"how many random integers do you want?\r\n"
BLOCK = 1 << 20
MAX_LINE = 64


def make_block() -> tuple[bytes, list[int]]:
    """Return ``BLOCK`` encoded random lines and the end offset of each line."""
    ints = np.random.default_rng(1234).integers(0, 10001, size=BLOCK).tolist()
    lines = [b"%d\r\n" % i for i in ints]
    ends = np.cumsum([len(line) for line in lines]).tolist()
    return b"".join(lines), ends


def serve_one(sock: socket.socket, block: bytes, ends: list[int]) -> None:
    with sock:
        try:
            sock.sendall(GREETING)
            buf = b""
            while b"\n" not in buf:
                data = sock.recv(256)
                if not data or len(buf) > MAX_LINE:
                    return
                buf += data
            count = int(buf.partition(b"\n")[0])
            view = memoryview(block)
            for _ in range(count // BLOCK):
                sock.sendall(view)
            if count % BLOCK:
                sock.sendall(view[: ends[count % BLOCK - 1]])
        except (OSError, ValueError):
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1234)
    args = parser.parse_args()
    block, ends = make_block()
    with socket.create_server((args.host, args.port), backlog=1024) as listener:
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=serve_one, args=(sock, block, ends), daemon=True).start()


if __name__ == "__main__":
    main()
