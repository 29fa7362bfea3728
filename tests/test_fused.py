"""The fused path: chunks end to end, with every public guarantee of the per-item path."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest
import reactivex.operators as ops

from rxrand import SocketObserver, controlled, random_integers
from rxrand._fused import IntegerBatches, LineTable, batches_for
from rxrand.testing import RecordingSubscriber

from .test_socket import read_all, run, tcp_pair

pytestmark = pytest.mark.timeout(60)


def per_item(count: int, **kwargs: int) -> list[int]:
    values: list[int] = random_integers(count, **kwargs).pipe(ops.to_list()).run()
    return values


def test_fused_batches_yield_the_per_item_sequence_whatever_the_sizes() -> None:
    batches = batches_for(random_integers(30_000, seed=8))
    assert isinstance(batches, IntegerBatches)
    taken: list[int] = []
    for size in (1, 5000, 8191, 3, 100_000):
        taken.extend(batches.take(size).tolist())
    assert taken == per_item(30_000, seed=8)
    assert batches.exhausted
    assert batches.take(10).size == 0


def test_fused_batches_never_exceed_the_count_or_the_request() -> None:
    batches = batches_for(random_integers(10, seed=1))
    assert batches is not None
    assert batches.take(4).size == 4
    assert batches.take(100).size == 6
    assert batches.taken == 10


def test_fused_batches_stop_when_closed() -> None:
    batches = batches_for(random_integers(seed=1))
    assert batches is not None
    batches.take(10)
    batches.close()
    assert batches.exhausted
    assert batches.take(10).size == 0
    assert batches.taken == 10


def test_fused_only_for_random_integers_itself() -> None:
    assert batches_for(random_integers(5).pipe(ops.map(lambda v: v))) is None


def test_fused_subscription_fuses_only_during_on_subscribe() -> None:
    fused: list[IntegerBatches | None] = []
    publisher = random_integers(5, seed=1).pipe(controlled())
    subscription = publisher.subscribe(
        lambda _: None, on_subscribe=lambda s: fused.append(s.fuse())
    )
    assert fused[0] is not None
    assert subscription.fuse() is None  # too late: not a second time
    assert fused[0].take(2).size == 2
    assert subscription.pulled == subscription.delivered == 2
    subscription.cancel()
    assert fused[0].exhausted


def test_fused_not_offered_through_operators() -> None:
    fused: list[IntegerBatches | None] = []
    probe = RecordingSubscriber[int]()

    def on_subscribe(subscription: object) -> None:
        fused.append(subscription.fuse())  # type: ignore[attr-defined]
        probe.on_subscribe(subscription)  # type: ignore[arg-type]

    random_integers(5, seed=1).pipe(ops.map(lambda v: v), controlled()).subscribe(
        probe.on_next, probe.on_error, probe.on_completed, on_subscribe=on_subscribe
    )
    assert fused == [None]
    probe.request(5)
    probe.expect_count(5).expect_completed()


@pytest.mark.parametrize(("low", "high"), [(0, 10_000), (-50, 50), (0, 2**40)])
def test_fused_line_table_matches_the_per_item_format(low: int, high: int) -> None:
    values = np.random.default_rng(1).integers(low, high, size=5000, endpoint=True)
    table = LineTable.for_range(low, high)
    expected = b"".join(b"%d\r\n" % v for v in values.tolist())
    if high - low > 1 << 20:
        assert table is None
    else:
        assert table is not None
        assert table.encode(values) == expected


def test_fused_socket_observer_sends_the_same_bytes_as_the_per_item_path() -> None:
    async def send(source_pipe: bool) -> tuple[bytes, bool]:
        loop = asyncio.get_running_loop()
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, client):
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            source = random_integers(50_000, seed=12)
            if source_pipe:
                source = source.pipe(ops.map(lambda v: v))
            source.pipe(controlled()).subscribe(observer)
            reader = loop.create_task(read_all(loop, client))
            while not finished:
                await asyncio.sleep(0.01)
            server.shutdown(socket.SHUT_WR)
            data = await reader
        assert finished == [None]
        return data, observer.fused

    async def scenario() -> None:
        fused_bytes, fused = await send(source_pipe=False)
        item_bytes, item_fused = await send(source_pipe=True)
        assert fused
        assert not item_fused
        assert fused_bytes == item_bytes
        assert fused_bytes == b"".join(b"%d\r\n" % v for v in per_item(50_000, seed=12))

    run(scenario)


def test_fused_socket_observer_count_zero_finishes_at_once() -> None:
    async def scenario() -> None:
        finished: list[BaseException | None] = []
        with tcp_pair() as (server, _client):
            observer: SocketObserver[int] = SocketObserver(server, on_finished=finished.append)
            random_integers(0).pipe(controlled()).subscribe(observer)
            for _ in range(100):
                if finished:
                    break
                await asyncio.sleep(0.01)
        assert finished == [None]
        assert observer.stats.bytes_sent == 0

    run(scenario)
