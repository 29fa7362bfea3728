"""The write cycle and its wake-up, over a real loopback connection (no mock of the kernel)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from rxrand.net import INT_LINES, KernelWindow, Sender
from rxrand.net.kernel import make_kernel_aware
from rxrand.net.write_cycle import ROUNDS_PER_TURN, LoopWake, WriteCycle

from ..conftest import tcp_pair

pytestmark = pytest.mark.timeout(60)


class Upstream:
    """What the facade does for the cycle: records requests, answers them with items."""

    def __init__(self) -> None:
        self.cycle: WriteCycle[int] | None = None
        self.requests: list[int] = []
        self.flushed = 0
        self.errors: list[Exception] = []
        self.subscribed = True

    def request(self, n: int) -> bool:
        if not self.subscribed:
            return False
        self.requests.append(n)
        self.answer(n)
        return True

    def answer(self, n: int) -> None:
        """Deliver ``n`` items, one by one (inside the request, as a synchronous source does)."""
        assert self.cycle is not None
        self.cycle.values.extend(range(n))

    def on_flushed(self) -> None:
        self.flushed += 1

    def make(self, server: socket.socket, loop: asyncio.AbstractEventLoop) -> WriteCycle[int]:
        self.cycle = WriteCycle(
            server,
            Sender(server, loop),
            loop,
            INT_LINES,
            KernelWindow(window_bytes=700),
            kernel_aware=make_kernel_aware(server),
            request=self.request,
            on_flushed=self.on_flushed,
            on_error=self.errors.append,
        )
        return self.cycle


Scenario = Callable[[WriteCycle[int], Upstream, socket.socket], Awaitable[None]]


def run_cycle(scenario: Scenario, *, fused: bool = False) -> None:
    """Run ``scenario`` with a started cycle (per item by default) over a loopback connection."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with tcp_pair() as (server, client):
            upstream = Upstream()
            cycle = upstream.make(server, loop)
            cycle.start(fused=fused)
            try:
                await scenario(cycle, upstream, client)
            finally:
                cycle.stop()

    asyncio.run(main())


def test_write_cycle_requests_by_the_window_and_writes_what_arrived() -> None:
    async def scenario(cycle: WriteCycle[int], upstream: Upstream, _: socket.socket) -> None:
        cycle.schedule()
        await asyncio.sleep(0.05)
        # 700 bytes at 8 bytes an item (the guess before any item was seen).
        assert upstream.requests[0] == 700 // 8
        assert cycle.stats.items_written == sum(upstream.requests)
        assert cycle.stats.items_requested == sum(upstream.requests)

    run_cycle(scenario)


def test_write_cycle_after_complete_flushes_then_calls_on_flushed_once() -> None:
    async def scenario(cycle: WriteCycle[int], upstream: Upstream, client: socket.socket) -> None:
        upstream.subscribed = False
        cycle.values.extend([1, 22, 333])
        cycle.complete()
        cycle.schedule()
        await asyncio.sleep(0.05)
        assert upstream.flushed == 1
        client.settimeout(5)
        assert client.recv(100) == b"1\r\n22\r\n333\r\n"

    run_cycle(scenario)


def test_write_cycle_after_stop_writes_and_requests_nothing() -> None:
    async def scenario(cycle: WriteCycle[int], upstream: Upstream, _: socket.socket) -> None:
        cycle.stop()
        cycle.values.append(5)
        cycle.arrived()
        cycle.schedule()
        await asyncio.sleep(0.05)
        assert upstream.requests == []
        assert cycle.stats.bytes_sent == 0
        assert cycle.held_bytes == 0

    run_cycle(scenario)


def test_write_cycle_an_item_that_cannot_be_encoded_goes_to_on_error() -> None:
    async def scenario(cycle: WriteCycle[int], upstream: Upstream, _: socket.socket) -> None:
        upstream.subscribed = False
        cycle.values.append("not an int")  # type: ignore[arg-type]
        cycle.schedule()
        await asyncio.sleep(0.05)
        assert [type(error) for error in upstream.errors] == [TypeError]

    run_cycle(scenario)


def test_write_cycle_a_batch_arriving_inside_its_request_is_written_at_once() -> None:
    sent_between: list[int] = []

    async def scenario(cycle: WriteCycle[int], upstream: Upstream, _: socket.socket) -> None:
        def answer(n: int) -> None:
            cycle.write_batch(np.arange(n // 2))
            sent_between.append(cycle.stats.bytes_sent)  # before the second batch is drawn
            cycle.write_batch(np.arange(n - n // 2))

        upstream.answer = answer  # type: ignore[method-assign]
        cycle.schedule()
        await asyncio.sleep(0.05)
        assert sent_between[0] > 0
        assert cycle.stats.items_written == sum(upstream.requests)

    run_cycle(scenario)


def test_write_cycle_fused_first_turn_is_one_round_then_up_to_four() -> None:
    async def scenario(cycle: WriteCycle[int], upstream: Upstream, _: socket.socket) -> None:
        cycle.run()  # the first turn: one round, then the rest is scheduled
        assert len(upstream.requests) == 1
        cycle.run()
        assert len(upstream.requests) == 1 + ROUNDS_PER_TURN

    run_cycle(scenario, fused=True)


def test_loop_wake_on_the_loop_thread_calls_at_once() -> None:
    async def scenario() -> None:
        calls: list[int] = []
        wake = LoopWake(asyncio.get_running_loop(), lambda: calls.append(1))
        wake()
        wake()
        assert calls == [1, 1]

    asyncio.run(scenario())


def test_loop_wake_from_another_thread_folds_a_burst_into_one_call() -> None:
    async def scenario() -> None:
        calls: list[int] = []
        wake = LoopWake(asyncio.get_running_loop(), lambda: calls.append(1))
        burst = threading.Thread(target=lambda: [wake() for _ in range(100)])
        burst.start()
        burst.join()
        await asyncio.sleep(0.01)
        assert calls == [1]

    asyncio.run(scenario())
