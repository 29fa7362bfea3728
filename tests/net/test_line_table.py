"""The fused path: chunks end to end, with every public guarantee of the per-item path."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

import numpy as np
import pytest
import reactivex.operators as ops

from rxrand import ControlledSubscription, SocketObserver, controlled, random_integers
from rxrand.core import Fusable
from rxrand.net.line_table import LineTable
from rxrand.ops.fused import FUSED_BATCH
from rxrand.sources import CHUNK_SIZE, IntegerBatches
from rxrand.testing import RecordingSubscriber

from .test_socket_observer import read_all, run, tcp_pair

pytestmark = pytest.mark.timeout(60)


def per_item(count: int, **kwargs: int) -> list[int]:
    values: list[int] = random_integers(count, **kwargs).pipe(ops.to_list()).run()
    return values


def test_fused_batches_yield_the_per_item_sequence_whatever_the_sizes() -> None:
    batches = random_integers(30_000, seed=8).open_batches()
    assert isinstance(batches, IntegerBatches)
    taken: list[int] = []
    for size in (1, 5000, 8191, 3, 100_000):
        taken.extend(batches.take(size).tolist())
    assert taken == per_item(30_000, seed=8)
    assert batches.exhausted
    assert batches.take(10).size == 0


def test_fused_batches_never_exceed_the_count_or_the_request() -> None:
    batches = random_integers(10, seed=1).open_batches()
    assert batches.take(4).size == 4
    assert batches.take(100).size == 6
    assert batches.taken == 10


def test_fused_batches_stop_when_closed() -> None:
    batches = random_integers(seed=1).open_batches()
    batches.take(10)
    batches.close()
    assert batches.exhausted
    assert batches.take(10).size == 0
    assert batches.taken == 10


def test_fused_only_random_integers_itself_is_fusable() -> None:
    assert isinstance(random_integers(5), Fusable)
    assert not isinstance(random_integers(5).pipe(ops.map(lambda v: v)), Fusable)


class BulkProbe:
    """A bulk subscriber that records batches as they come."""

    def __init__(self, initial: int = 0) -> None:
        self.initial = initial
        self.batches: list[Sequence[int]] = []
        self.completed = False
        self.subscription: ControlledSubscription[int] | None = None

    def on_subscribe(self, subscription: ControlledSubscription[int]) -> None:
        self.subscription = subscription
        if self.initial:
            subscription.request(self.initial)

    def on_next(self, value: int) -> None:
        raise AssertionError("a bulk subscriber gets batches")

    def on_next_batch(self, batch: Sequence[int]) -> None:
        self.batches.append(batch)

    def on_error(self, error: Exception) -> None:
        raise error

    def on_completed(self) -> None:
        self.completed = True


def test_fused_bulk_subscriber_gets_numpy_batches_within_demand() -> None:
    source = random_integers(20_000, seed=3)
    probe = BulkProbe(initial=5)
    subscription = source.pipe(controlled()).subscribe(probe)
    assert subscription.fused
    assert [len(batch) for batch in probe.batches] == [5]
    assert isinstance(probe.batches[0], np.ndarray)
    subscription.request(12_000)
    subscription.request(10_000)
    assert sum(map(len, probe.batches)) == 20_000
    assert probe.completed
    assert np.concatenate(probe.batches).tolist() == per_item(20_000, seed=3)
    assert subscription.pulled == subscription.delivered == 20_000


def test_fused_generates_exactly_the_demand() -> None:
    source = random_integers(seed=3)
    probe = BulkProbe(initial=5)
    subscription = source.pipe(controlled()).subscribe(probe)
    assert source.generated == 5  # drawn in one call for the batch, no chunk ahead
    subscription.request(CHUNK_SIZE)
    assert source.generated == 5 + CHUNK_SIZE
    subscription.cancel()
    subscription.request(CHUNK_SIZE)
    assert source.generated == 5 + CHUNK_SIZE


@pytest.mark.parametrize("requests", [[5, 8192, 3], [8191, 2, 20_000], [1] * 50 + [30_000]])
def test_fused_batches_are_the_per_item_sequence_however_demand_cuts_them(
    requests: list[int],
) -> None:
    total = sum(requests)
    probe = BulkProbe(initial=0)
    subscription = random_integers(total, seed=11).pipe(controlled()).subscribe(probe)
    for n in requests:
        subscription.request(n)
    assert sum(map(len, probe.batches)) == total
    assert max(map(len, probe.batches)) <= FUSED_BATCH  # 20,000 comes as two batches
    assert [int(v) for batch in probe.batches for v in batch] == per_item(total, seed=11)
    assert all(batch.dtype == np.int64 for batch in probe.batches)


def test_fused_not_offered_through_operators() -> None:
    probe = BulkProbe(initial=5)
    subscription = (
        random_integers(5, seed=1).pipe(ops.map(lambda v: v), controlled()).subscribe(probe)
    )
    assert not subscription.fused
    assert [list(batch) for batch in probe.batches] == [per_item(5, seed=1)]
    assert all(isinstance(batch, list) for batch in probe.batches)
    assert probe.completed


def test_fused_plain_subscriber_stays_on_the_per_item_path() -> None:
    probe = RecordingSubscriber[int](initial=3)
    subscription = random_integers(5, seed=1).pipe(controlled()).subscribe(probe)
    assert not subscription.fused
    probe.expect_values(*per_item(5, seed=1)[:3])


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
