"""The Sender over a real loopback connection: order, partial writes, one writer, whole lines."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rxrand import ConnectionLost
from rxrand.net import Sender
from rxrand.net.sender import BUFFER_SIZES, WriterBusyError

from ..conftest import tcp_pair as shared_tcp_pair

pytestmark = pytest.mark.timeout(60)


@contextmanager
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection with 4 KiB buffers: the kernel fills up soon."""
    with shared_tcp_pair(server_sndbuf=4096, client_rcvbuf=4096) as (server, client):
        server.setblocking(False)
        yield server, client


def fill(sender: Sender, line: bytes) -> int:
    """Write lines until the kernel stops taking them; how many were written."""
    written = 0
    while sender.write(line):
        written += 1
    return written + 1


async def read_some(client: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    client.setblocking(False)
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(client, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_sender_keeps_order_across_partial_writes_and_calls_ready_once_empty() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, client):
            sender = Sender(server)
            ready: list[int] = []
            sender.claim(lambda: ready.append(sender.pending))
            lines = [b"%06d\r\n" % i for i in range(10_000)]
            for line in lines:
                sender.write(line)
            assert sender.pending > 0
            assert sender.kernel_full >= 1
            data = await read_some(client, 8 * len(lines))
            while not ready:
                await asyncio.sleep(0.01)
            assert data == b"".join(lines)
            assert ready == [0]
            assert sender.bytes_sent == len(data)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_sender_finish_line_keeps_only_the_rest_of_the_line_begun() -> None:
    """Finding 1: the kernel never gets a partial line that is not completed."""

    async def scenario() -> None:
        with tcp_pair() as (server, client):
            sender = Sender(server)
            line = b"123456789\r\n"
            written = fill(sender, line * 50)
            sender.write(line * 1000)
            sender.finish_line()
            sender.write(b"error: cut\r\n")
            server_total = sender.bytes_sent + sender.pending
            data = await read_some(client, server_total)
            body, _, tail = data.rpartition(b"error: ")
            assert tail == b"cut\r\n"
            assert body.endswith(b"\r\n")
            assert set(body.split(b"\r\n")[:-1]) == {b"123456789"}
            assert len(body) < written * len(line * 50)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_sender_finish_line_drops_everything_at_a_line_boundary() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            sender = Sender(server)
            assert sender.write(b"1\r\n")
            sender.finish_line()
            assert sender.pending == 0
            sender.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_sender_reports_a_reset_once_and_writes_nothing_after() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, client):
            lost: list[ConnectionLost] = []
            sender = Sender(server, on_lost=lost.append)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            client.close()
            await asyncio.sleep(0.05)
            for _ in range(3):
                sender.write(b"x" * 1000)
            assert len(lost) == 1
            assert sender.closed
            assert not sender.write(b"more")

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_sender_buffer_is_the_smallest_size_that_holds_the_tail() -> None:
    """A slow reader's tail (a few KiB) costs a 16 KiB buffer, not a whole window's."""

    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            sender = Sender(server)
            assert sender.capacity == 0
            fill(sender, b"x" * 1000)
            assert sender.pending <= 1000
            assert sender.capacity == BUFFER_SIZES[0]
            sender.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_sender_buffer_grows_one_size_at_a_time_and_keeps_every_byte_in_order() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, client):
            sender = Sender(server)
            ready: list[bool] = []
            sender.claim(lambda: ready.append(True))
            lines = fill(sender, b"a" * 999 + b"\n")
            expected = b"a" * 999 + b"\n"
            expected *= lines
            capacities = [sender.capacity]
            for letter, size in ((b"b", 20_000), (b"c", 30_000), (b"d", 70_000), (b"e", 10)):
                assert not sender.write(letter * size)
                expected += letter * size
                capacities.append(sender.capacity)
            # 16 KiB, then 32 KiB for 20 KB more, then the largest; 70 KB does not fit any
            # buffer and waits beside it, and so does what comes after it (order).
            assert capacities == [
                BUFFER_SIZES[0],
                *BUFFER_SIZES[1:],
                BUFFER_SIZES[2],
                BUFFER_SIZES[2],
            ]
            assert sender.pending == len(expected) - sender.bytes_sent
            received = await read_some(client, len(expected))
            assert received == expected
            while not ready:
                await asyncio.sleep(0.01)
            fill(sender, b"f" * 1000)
            assert sender.capacity == BUFFER_SIZES[2]  # it does not shrink (reuse: test_send_queue)
            sender.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_sender_writer_slot_refuses_a_second_claimant_until_released() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            sender = Sender(server)
            first: list[str] = []
            second: list[str] = []

            def first_ready() -> None:
                first.append("ready")

            def second_ready() -> None:
                second.append("ready")

            sender.claim(first_ready)
            sender.claim(first_ready)  # the holder again: no conflict
            with pytest.raises(
                WriterBusyError, match=r"^the sender's writer slot is held by .*first_ready"
            ):
                sender.claim(second_ready)
            sender.release(second_ready)  # not the holder: nothing happens
            with pytest.raises(WriterBusyError):
                sender.claim(second_ready)
            sender.release(first_ready)
            sender.claim(second_ready)
            sender.wait_writable()
            await asyncio.sleep(0.05)
            assert (first, second) == ([], ["ready"])
            assert sender.kernel_full == 1  # a wait for room, counted by the sender itself
            sender.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_sender_counters_are_read_only() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            sender = Sender(server)
            for name in ("bytes_sent", "sends", "kernel_full", "max_held_bytes"):
                with pytest.raises(AttributeError):
                    setattr(sender, name, 1)
            sender.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
