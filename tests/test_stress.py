"""Stress and faults (marked slow; .ci/run runs them): many clients, aborts, garbage, slowloris."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rxrand.net import PROMPT

from .conftest import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent


def raise_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def fetch(port: int, count: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"%d\r\n" % count)
    await writer.drain()
    data = bytearray()
    while chunk := await reader.read(1 << 16):
        data += chunk
    writer.close()
    assert data.startswith(PROMPT)
    body = bytes(data[len(PROMPT) :])
    return body.count(b"\r\n") if body.endswith(b"\r\n") or not body else -1


def test_stress_1000_clients_served_exactly_while_200_idle_connections_wait(
    make_server: Callable[..., RunningServer],
) -> None:
    raise_open_file_limit(8192)
    server = make_server(idle_timeout=120)

    async def scenario() -> None:
        idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(200)]
        counts = [1000 + (i * 37) % 5000 for i in range(1000)]
        started = time.monotonic()
        got = await asyncio.gather(*(fetch(server.port, n) for n in counts))
        elapsed = time.monotonic() - started
        assert got == counts
        assert elapsed < 120
        # The idle ones are still there, and still served when they ask.
        deadline = time.monotonic() + 10
        while server.call(lambda: len(server.server.connections)) > 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert server.call(lambda: len(server.server.connections)) == 200
        for reader, writer in idle[:5]:
            await reader.readexactly(len(PROMPT))
            writer.write(b"3\n")
            data = await reader.read()
            assert data.count(b"\r\n") == 3
        for _, writer in idle:
            writer.close()

    asyncio.run(scenario())


def test_stress_5000_aborted_connections_leave_no_trace(
    make_server: Callable[..., RunningServer],
) -> None:
    raise_open_file_limit(8192)
    server = make_server()

    def abort_one() -> None:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"1000000000\n")
        received = 0
        while received < 20_000:
            received += len(sock.recv(65536))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def settle() -> None:
        deadline = time.monotonic() + 20
        while server.call(lambda: len(server.server.connections)) and time.monotonic() < deadline:
            time.sleep(0.05)
        gc.collect()

    for _ in range(200):  # warm up: caches, allocator arenas
        abort_one()
    settle()
    fds_before, rss_before = open_fds(), rss_bytes()
    for _ in range(5000):
        abort_one()
    settle()
    fds_after, rss_after = open_fds(), rss_bytes()
    print(f"fds {fds_before} -> {fds_after}, RSS {rss_before >> 20} -> {rss_after >> 20} MiB")
    assert server.call(lambda: len(server.server.connections)) == 0
    assert fds_after <= fds_before
    assert rss_after - rss_before < 20 << 20
    assert server.call(lambda: server.server.accepted) == 5200


def test_stress_garbage_and_slowloris_are_closed_by_their_bounds_while_others_are_served(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server(idle_timeout=2.0)

    async def garbage_without_line_end() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        # More than the line bound, less than what the server reads while it
        # closes politely: the error line must arrive, not be lost to a reset.
        writer.write(os.urandom(64 * 1024).replace(b"\n", b"x"))
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data

    async def garbage_lines_never_read() -> float:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        try:
            while time.monotonic() - started < 30:
                writer.write(b"junk\n" * 1000)
                await asyncio.wait_for(writer.drain(), 30)
        except (ConnectionError, TimeoutError):
            pass
        writer.close()
        return time.monotonic() - started

    async def slowloris() -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        data = b""
        try:
            while not reader.at_eof() and time.monotonic() - started < 30:
                writer.write(b"1")
                await writer.drain()
                try:
                    data += await asyncio.wait_for(reader.read(4096), 0.5)
                except TimeoutError:
                    pass
        except ConnectionError:
            pass
        writer.close()
        return data, time.monotonic() - started

    async def scenario() -> None:
        tasks = [
            asyncio.create_task(garbage_without_line_end()),
            asyncio.create_task(garbage_lines_never_read()),
            asyncio.create_task(slowloris()),
        ]
        await asyncio.sleep(0.5)
        served = await asyncio.gather(*(fetch(server.port, 20_000) for _ in range(20)))
        assert served == [20_000] * 20
        garbage, flood_time, (loris, loris_time) = await asyncio.gather(*tasks)
        assert garbage.startswith(PROMPT + b"error: line longer than 1024 bytes")
        assert flood_time < 29  # closed by the idle bound, not by the test's deadline
        assert b"error: no complete line within 2 seconds; closing" in loris
        assert 1.5 < loris_time < 10

    asyncio.run(scenario())


def process_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server_process(*args: str) -> Iterator[tuple[int, int]]:
    """examples/tcp_server.py in a subprocess, its log in a file: (pid, port)."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "tcp_server.py"), "--port", "0", *args],
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                log.seek(0)
                found = re.search(r"listening on [^ ]*:(\d+)", log.read())
                if found:
                    break
                assert time.monotonic() < deadline, "the server did not report its port"
                time.sleep(0.05)
            yield process.pid, int(found.group(1))
        finally:
            process.kill()
            process.wait()


def stalled_rounds(port: int, pid: int, rounds: int, clients: int) -> list[int]:
    """RSS of the server after each round of ``clients`` that ask for 10**9 and never read."""
    curve = []
    for _ in range(rounds):
        socks = []
        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sock.sendall(b"1000000000\n")
            socks.append(sock)
        time.sleep(1.0)  # the server fills every kernel buffer and stalls
        for sock in socks:
            sock.close()
        time.sleep(0.5)
        curve.append(process_rss(pid))
    return curve


def test_stress_rss_is_flat_over_rounds_of_stalled_readers() -> None:
    """Finding 5: 20 rounds of 200 clients that ask for 10**9 and never read."""
    raise_open_file_limit(4096)
    with server_process() as (pid, port):
        curve = stalled_rounds(port, pid, rounds=20, clients=200)
    mib = [round(rss / (1 << 20), 1) for rss in curve]
    print("RSS after each round (MiB):", mib)
    # Creep, not a high-water mark. Real creep (41 -> 168 MiB over 20 rounds before) raises
    # RSS a little every round. On a loaded machine one round's connections may still be
    # open when the next round starts: the allocator then keeps a higher level once
    # (seen in CI: 57.9 -> 67.6 MiB at round 4, then 67.6 for 16 rounds), which is no leak.
    # So: the typical (median) increase per round after warm-up is nil, and all steps
    # together stay under one such high-water step.
    settled = curve[2:]
    increases = sorted(later - earlier for earlier, later in itertools.pairwise(settled))
    assert increases[len(increases) // 2] <= 256 << 10, mib
    assert min(curve[-3:]) - curve[2] <= 16 << 20, mib


def test_stress_one_flooding_client_costs_the_server_almost_no_cpu() -> None:
    """Finding 3: a client that asks for 10**9, never reads and floods input for 3 s.

    Before: 93-99 % of a core (everything read and thrown away). Now the
    server does not read while streaming: TCP flow control stops the flood.
    Other clients are served meanwhile.
    """
    with server_process() as (pid, port):
        flooder = socket.create_connection(("127.0.0.1", port), timeout=10)
        flooder.sendall(b"1000000000\n")
        flooder.setblocking(False)
        time.sleep(0.5)
        cpu_before, started = process_cpu_seconds(pid), time.monotonic()
        pushed = 0
        served = 0
        while time.monotonic() - started < 3.0:
            try:
                pushed += flooder.send(b"x" * 65536)
            except BlockingIOError:
                time.sleep(0.001)
            if time.monotonic() - started > 1.0 and not served:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
                    other.sendall(b"1000\n")
                    served = read_lines(other)
        cpu = (process_cpu_seconds(pid) - cpu_before) / (time.monotonic() - started) * 100
        flooder.close()
    print(f"flooding client: server CPU {cpu:.1f} %, {pushed >> 10} KiB pushed")
    assert served == 1000
    assert cpu <= 5.0


def read_lines(sock: socket.socket) -> int:
    data = bytearray()
    while chunk := sock.recv(1 << 16):
        data += chunk
    return data.count(b"\r\n") - 1  # minus the prompt
