"""The socket Observer against a real loopback TCP connection (no mock of the kernel)."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import reactivex.operators as ops
from reactivex.subject import Subject

from rxrand import ConnectionLost, SocketObserver, controlled, random_integers
from rxrand.net import KERNEL_BUDGET, WINDOW_BYTES, unsent_bytes

from ..conftest import tcp_pair as shared_tcp_pair

pytestmark = pytest.mark.timeout(60)

_R = TypeVar("_R")


@contextmanager
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of one loopback TCP connection, a 64 KiB receive buffer."""
    with shared_tcp_pair(client_rcvbuf=64 * 1024) as pair:
        yield pair


def run(scenario: Callable[[], Awaitable[_R]]) -> _R:
    return asyncio.run(asyncio.wait_for(scenario(), timeout=30))  # type: ignore[arg-type]


async def read_all(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    sock.setblocking(False)
    chunks = []
    while True:
        chunk = await loop.sock_recv(sock, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_socket_observer_writes_every_item_and_finishes() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, client):
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            random_integers(100_000, seed=3).pipe(controlled()).subscribe(observer)
            reader = loop.create_task(read_all(loop, client))
            while not finished:
                await asyncio.sleep(0.01)
            server.shutdown(socket.SHUT_WR)
            data = await reader
        expected = random_integers(100_000, seed=3).pipe(ops.to_list()).run()
        assert data == b"".join(b"%d\r\n" % v for v in expected)
        assert finished == [None]
        assert observer.stats.items_written == 100_000
        assert observer.stats.bytes_sent == len(data)

    run(scenario)


def test_socket_observer_coalesces_items_into_few_sends() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, client):
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            random_integers(200_000, seed=1).pipe(controlled()).subscribe(observer)
            reader = loop.create_task(read_all(loop, client))
            while not finished:
                await asyncio.sleep(0.01)
            server.shutdown(socket.SHUT_WR)
            await reader
        # ~1.2 MB in windows of up to 64 KiB (96 KiB once open): each send carries at least
        # half a window, but for a few partial ones where the kernel pushed back.
        stats = observer.stats
        assert stats.sends <= stats.bytes_sent // (WINDOW_BYTES // 2) + 8  # ~43; 20 measured

    run(scenario)


def test_socket_observer_window_bound_while_the_reader_does_not_read() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            observer: SocketObserver[int] = SocketObserver(server)
            subscription = random_integers(seed=1).pipe(controlled()).subscribe(observer)
            held = []
            for _ in range(50):
                await asyncio.sleep(0.01)
                held.append(observer.held_bytes)
            assert max(held) <= WINDOW_BYTES
            if observer.kernel_aware:
                assert (unsent_bytes(server) or 0) <= KERNEL_BUDGET
            # Quiet once full: no busy loop while nobody reads.
            sends, pulled = observer.stats.sends, subscription.pulled
            await asyncio.sleep(0.3)
            assert observer.stats.sends == sends
            assert subscription.pulled == pulled
            assert observer.stats.kernel_full >= 1
            observer.close()

    run(scenario)


def test_socket_observer_demand_resumes_when_the_reader_reads() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with tcp_pair() as (server, client):
            observer: SocketObserver[int] = SocketObserver(server)
            subscription = random_integers(seed=1).pipe(controlled()).subscribe(observer)
            await asyncio.sleep(0.2)
            stalled_at = subscription.pulled
            client.setblocking(False)
            for _ in range(50):
                await loop.sock_recv(client, 1 << 16)
            await asyncio.sleep(0.05)
            assert subscription.pulled > stalled_at
            observer.close()

    run(scenario)


def test_socket_observer_cancels_on_reset() -> None:
    async def scenario() -> None:
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, client):
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            subscription = random_integers(seed=1).pipe(controlled()).subscribe(observer)
            await asyncio.sleep(0.05)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            for _ in range(200):
                if finished:
                    break
                await asyncio.sleep(0.01)
            assert len(finished) == 1
            assert isinstance(finished[0], ConnectionLost)
            assert subscription.is_cancelled
            pulled = subscription.pulled
            await asyncio.sleep(0.1)
            assert subscription.pulled == pulled

    run(scenario)


def test_socket_observer_writes_nothing_after_close() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            subject: Subject[int] = Subject()
            observer: SocketObserver[int] = SocketObserver(server)
            subscription = subject.pipe(controlled()).subscribe(observer)
            await asyncio.sleep(0.01)
            subject.on_next(1)
            await asyncio.sleep(0.01)
            sent = observer.stats.bytes_sent
            assert sent == 3
            observer.close()
            subject.on_next(2)
            observer.on_next(3)
            observer.on_completed()
            await asyncio.sleep(0.01)
            assert observer.stats.bytes_sent == sent
            assert subscription.is_cancelled
            assert not subject.observers

    run(scenario)


def test_socket_observer_rule_2_5_cancels_a_second_subscription() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            observer: SocketObserver[int] = SocketObserver(server)
            first = random_integers(10).pipe(controlled()).subscribe(observer)
            second = random_integers(10).pipe(controlled()).subscribe(observer)
            assert second.is_cancelled
            assert not first.is_cancelled
            observer.close()

    run(scenario)


def test_socket_observer_on_subscribe_from_another_thread_wakes_the_loop() -> None:
    requested: list[int] = []

    def subscribe_and_watch(observer: SocketObserver[int], subject: Subject[int]) -> None:
        time.sleep(0.1)  # until the loop waits in select(), with nothing to do for 0.8 s
        subject.pipe(controlled()).subscribe(observer)
        deadline = time.monotonic() + 0.5
        while not observer.stats.items_requested and time.monotonic() < deadline:
            time.sleep(0.005)
        requested.append(observer.stats.items_requested)

    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            observer: SocketObserver[int] = SocketObserver(server)
            subject: Subject[int] = Subject()
            thread = threading.Thread(target=subscribe_and_watch, args=(observer, subject))
            thread.start()
            # The loop stays idle meanwhile: only the observer's own call can wake it.
            await asyncio.sleep(0.8)
            thread.join()
            observer.close()

    run(scenario)
    assert requested[0] > 0, "the first request waited for an unrelated wake-up of the loop"


def test_socket_observer_rule_2_1_requests_on_subscribe() -> None:
    async def scenario() -> None:
        with tcp_pair() as (server, _client):
            observer: SocketObserver[int] = SocketObserver(server)
            subject: Subject[int] = Subject()
            subscription = subject.pipe(controlled()).subscribe(observer)
            await asyncio.sleep(0.01)
            assert observer.stats.items_requested > 0
            assert subscription.pending > 0
            observer.close()

    run(scenario)


def test_socket_observer_error_in_the_stream_finishes_with_it() -> None:
    async def scenario() -> None:
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, _client):
            subject: Subject[int] = Subject()
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            subject.pipe(controlled()).subscribe(observer)
            await asyncio.sleep(0.01)
            subject.on_error(RuntimeError("boom"))
            assert [str(e) for e in finished] == ["boom"]

    run(scenario)


def test_socket_observer_encoder_is_a_parameter() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, client):
            observer: SocketObserver[str] = SocketObserver(
                server, encoder=lambda word: word.encode() + b"\n", on_finished=finished.append
            )
            source = random_integers(3, seed=1).pipe(ops.map(lambda v: f"n{v}"), controlled())
            source.subscribe(observer)
            reader = loop.create_task(read_all(loop, client))
            while not finished:
                await asyncio.sleep(0.01)
            server.shutdown(socket.SHUT_WR)
            data = await reader
        values = random_integers(3, seed=1).pipe(ops.to_list()).run()
        assert data == b"".join(b"n%d\n" % v for v in values)

    run(scenario)


def test_socket_observer_bad_item_fails_the_stream_without_raising() -> None:
    async def scenario() -> None:
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, _client):
            subject: Subject[object] = Subject()
            observer: SocketObserver[object] = SocketObserver(
                server,
                encoder=lambda v: b"%d\r\n" % v,
                on_finished=finished.append,  # type: ignore[operator]
            )
            subscription = subject.pipe(controlled()).subscribe(observer)
            await asyncio.sleep(0.01)
            subject.on_next("not a number")  # rule 2.13: returns normally
            for _ in range(100):
                if finished:
                    break
                await asyncio.sleep(0.01)
            assert len(finished) == 1
            assert isinstance(finished[0], TypeError)
            assert subscription.is_cancelled

    run(scenario)


def test_socket_observer_one_endless_stream_does_not_starve_another() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        finished: list[BaseException | None] = []
        with tcp_pair() as (server_a, client_a), tcp_pair() as (server_b, client_b):
            endless: SocketObserver[int] = SocketObserver(server_a)
            random_integers(seed=1).pipe(controlled()).subscribe(endless)
            drain = loop.create_task(read_all(loop, client_a))
            small: SocketObserver[int] = SocketObserver(server_b, on_finished=finished.append)
            random_integers(1000, seed=2).pipe(controlled()).subscribe(small)
            ticks = 0
            while not finished:
                await asyncio.sleep(0)
                ticks += 1
                assert ticks < 10_000
            endless.close()
            server_a.shutdown(socket.SHUT_RDWR)
            drain.cancel()
            client_b.close()
            assert finished == [None]

    run(scenario)


def test_socket_observer_items_from_another_thread_reach_the_loop_once_per_burst() -> None:
    """Every item arrives, in order; not one ``call_soon_threadsafe`` per item."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        finished: list[BaseException | None] = []
        handoffs = [0]
        original = loop.call_soon_threadsafe

        def counting(callback, *args, **kwargs):  # type: ignore[no-untyped-def]
            handoffs[0] += 1
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        with tcp_pair() as (server, client):
            subject: Subject[int] = Subject()
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            subject.pipe(controlled()).subscribe(observer)
            await asyncio.sleep(0.01)

            def produce() -> None:
                for value in range(1000):
                    subject.on_next(value)

            await loop.run_in_executor(None, produce)
            handed = handoffs[0]
            subject.on_completed()
            reader = loop.create_task(read_all(loop, client))
            while not finished:
                await asyncio.sleep(0.01)
            server.shutdown(socket.SHUT_WR)
            data = await reader
        assert data == b"".join(b"%d\r\n" % v for v in range(1000))
        assert handed <= 20, handed

    run(scenario)


@pytest.mark.parametrize(("low", "high"), [(-(10**12), 10**12), (5, 9), (0, 10_000)])
def test_socket_observer_any_range_takes_the_fused_path(low: int, high: int) -> None:
    """Item 7: any [low, high] travels in bulk and is encoded in bulk, not only [0, 10000]."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, client):
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            source = random_integers(50_000, low=low, high=high, seed=4)
            source.pipe(controlled()).subscribe(observer)
            assert observer.fused
            reader = loop.create_task(read_all(loop, client))
            while not finished:
                await asyncio.sleep(0.01)
            server.shutdown(socket.SHUT_WR)
            data = await reader
        expected = random_integers(50_000, low=low, high=high, seed=4).pipe(ops.to_list()).run()
        assert data == b"".join(b"%d\r\n" % v for v in expected)
        assert finished == [None]

    run(scenario)


def test_socket_observer_without_an_encoder_takes_ints_only_for_the_type_checker(
    tmp_path: Path,
) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is in the [lint] extra")
    snippet = tmp_path / "typed.py"
    snippet.write_text(
        "import socket\n"
        "from rxrand import SocketObserver\n"
        "def f(sock: socket.socket) -> None:\n"
        "    ints: SocketObserver[int] = SocketObserver(sock)\n"
        "    text: SocketObserver[str] = SocketObserver(sock)\n"
        "    encoded: SocketObserver[str] = SocketObserver(sock, encoder=str.encode)\n",
        encoding="utf-8",
    )
    cache = Path(__file__).resolve().parents[2] / ".mypy_cache"
    stdout, _, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(cache), str(snippet)]
    )
    assert status == 1
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1
    assert "typed.py:5:" in errors[0]
