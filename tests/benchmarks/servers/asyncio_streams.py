"""An idiomatic asyncio-streams server for the random-integer protocol.

What a careful engineer writes first with ``asyncio.start_server``: ``readline`` for the
count, then batches of ``random.randint(0, 10000)`` lines, each batch written and followed
by ``await writer.drain()`` so a slow reader pauses the coroutine. Same generator as the
seed, so the difference from the seed is the I/O layer and the batching.

Run: ``python asyncio_streams.py --host 127.0.0.1 --port 1234``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random

GREETING = b"how many random integers do you want?\r\n"
BATCH = 4096


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(GREETING)
        line = await reader.readline()
        count = int(line)
        if count < 0:
            raise ValueError(count)
        randint = random.randint
        remaining = count
        while remaining:
            k = min(remaining, BATCH)
            writer.write(b"".join([b"%d\r\n" % randint(0, 10000) for _ in range(k)]))
            await writer.drain()
            remaining -= k
    except (ValueError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1234)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
