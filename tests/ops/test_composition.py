"""Demand under composition with reactivex's operators: the matrix (``tests/composition.py``)
and the cases it grew from (each failed before the credit-based redesign: a hang, a spin, an
overflow, a leak).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.scheduler import NewThreadScheduler, ThreadPoolScheduler
from reactivex.subject import Subject

import rxrand
from rxrand import BufferOverflowError, controlled, random_integers
from rxrand.ops.controlled import DEFAULT_CAPACITY, DEFAULT_RUN_AHEAD
from rxrand.sources import CHUNK_SIZE
from rxrand.testing import RecordingSubscriber

from ..composition import ROWS, Row, concat_map, run_row
from ..conftest import wait_until

pytestmark = pytest.mark.timeout(60)


def _in_thread(action: Any, timeout: float = 2.0) -> bool:
    """Run ``action`` on a daemon thread; whether it returned within ``timeout``."""
    done = threading.Event()

    def run() -> None:
        action()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(timeout)


# About 0.4 s a row (each waits out its cancel and CPU checks): the 27 rows run with the slow
# tests (`pytest -m slow`, and .ci/run); the finding tests below stay in the default run.
@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_composition_matrix_row_holds_every_property(row: Row) -> None:
    result = run_row(row)
    assert not result.problems, f"{row.name}: {result.problems} ({result.figures})"


# -- the cases, one by one -----------------------------------------------------------------


def test_zip_with_never_returns_and_parks_the_source() -> None:
    source = random_integers(seed=1)
    probe = RecordingSubscriber[Any]()
    reactivex.zip(source, reactivex.never()).pipe(controlled()).subscribe(probe)
    assert _in_thread(lambda: probe.request(1))
    generated = source.generated
    time.sleep(0.2)
    assert source.generated == generated <= CHUNK_SIZE
    assert probe.values == []


def test_merge_of_three_pull_sources_pulls_exactly_the_demand() -> None:
    sources = [rxrand.from_iterable(itertools.count()) for _ in range(3)]
    pulled: list[int] = []
    probe = RecordingSubscriber[int]()
    reactivex.merge(*(s.pipe(ops.do_action(pulled.append)) for s in sources)).pipe(
        controlled()
    ).subscribe(probe)
    probe.request(1)
    assert len(pulled) == 1
    probe.request(2)
    assert len(pulled) == 3


def test_pure_pull_chain_with_capacity_1_never_overflows() -> None:
    probe = RecordingSubscriber[int]()
    reactivex.merge(random_integers(seed=1), random_integers(seed=2), random_integers(seed=3)).pipe(
        controlled(capacity=1)
    ).subscribe(probe)
    probe.request(1)
    assert len(probe.values) == 1
    probe.request(99)
    probe.request(1000)
    assert len(probe.values) == 1100
    assert probe.errors == []


def test_nested_controlled_over_a_push_source_keeps_one_demand() -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    # The outer buffer holds 4: the inner must forward exactly the outer demand, not a
    # standing request that keeps delivering past it.
    subject.pipe(controlled(), ops.map(lambda v: v + 1), controlled(capacity=4)).subscribe(probe)
    probe.request(8)
    for value in range(50):
        subject.on_next(value)
    assert probe.values == list(range(1, 9))
    assert probe.errors == []
    probe.request(2)
    assert probe.values == list(range(1, 11))


def test_endless_push_source_subscribe_returns_and_stops() -> None:
    pulled = [0]

    def counting() -> Any:
        for value in itertools.count():
            pulled[0] += 1
            yield value

    probe = RecordingSubscriber[int]()
    publisher = reactivex.from_iterable(counting()).pipe(controlled(capacity=8))
    assert _in_thread(lambda: publisher.subscribe(probe))
    error = probe.expect_error(BufferOverflowError)
    assert "capacity=8" in str(error)
    assert pulled[0] <= 9
    time.sleep(0.1)
    assert pulled[0] <= 9


def test_range_stops_iterating_after_the_overflow() -> None:
    seen: list[int] = []
    probe = RecordingSubscriber[int]()
    started = time.monotonic()
    reactivex.range(10**6).pipe(ops.do_action(seen.append), controlled()).subscribe(probe)
    assert time.monotonic() - started < 1.0
    probe.expect_error(BufferOverflowError)
    assert len(seen) == 1025


@pytest.mark.parametrize("attempt", range(3))
def test_reactivex_observe_on_a_pool_delivers_within_demand(attempt: int) -> None:
    source = random_integers(seed=attempt)
    probe = RecordingSubscriber[int]()
    source.pipe(ops.observe_on(ThreadPoolScheduler(2)), controlled()).subscribe(probe)
    probe.request(5)
    assert wait_until(lambda: len(probe.values) == 5)
    time.sleep(0.1)
    assert len(probe.values) == 5
    assert probe.errors == []
    assert source.generated <= CHUNK_SIZE
    probe.cancel()


def _emitted_before_a_hop(hop: Any, request: int, **options: Any) -> tuple[int, Any]:
    """Items the source emitted (counted before the hop) once ``request`` was asked and
    things settled, and the subscriber."""
    emitted = [0]

    def count(_: int) -> None:
        emitted[0] += 1

    probe = RecordingSubscriber[int]()
    chain = random_integers(seed=1).pipe(ops.do_action(count), hop, controlled(**options))
    chain.subscribe(probe)
    probe.request(request)
    assert wait_until(lambda: len(probe.values) == request)
    time.sleep(0.3)
    probe.cancel()
    return emitted[0], probe


def test_reactivex_observe_on_with_a_large_buffer_runs_at_most_the_prefetch_ahead() -> None:
    # A user raises the capacity after an overflow: the buffer grows, not the credit
    # ahead of the hop (it was 9,517 items emitted for request(5), 258 MB at 10**6 items).
    emitted, probe = _emitted_before_a_hop(ops.observe_on(NewThreadScheduler()), 5, capacity=10**6)
    assert probe.errors == []
    assert emitted <= 5 + DEFAULT_RUN_AHEAD


def test_reactivex_observe_on_runs_at_most_an_explicit_prefetch_ahead() -> None:
    emitted, probe = _emitted_before_a_hop(ops.observe_on(NewThreadScheduler()), 5, prefetch=16)
    assert probe.errors == []
    assert emitted <= 5 + 16


def test_reactivex_subscribe_on_push_source_stops_at_the_capacity_after_an_overflow() -> None:
    # ops.subscribe_on drops the demand channel: the source pushes, and reactivex disposes
    # it on the scheduler's thread, too late to stop its loop. The item after the overflow
    # is refused into the loop: demand + capacity + the item that overflowed + that one
    # (it was 2,055 for request(5)).
    emitted, probe = _emitted_before_a_hop(ops.subscribe_on(NewThreadScheduler()), 5)
    probe.expect_error(BufferOverflowError)
    assert emitted <= 5 + DEFAULT_CAPACITY + 2


def test_reactivex_subscribe_on_stops_generating_after_overflow_and_cancel() -> None:
    source = random_integers(seed=1)
    probe = RecordingSubscriber[int]()
    source.pipe(ops.subscribe_on(NewThreadScheduler()), controlled()).subscribe(probe)
    probe.request(5)
    assert wait_until(lambda: probe.terminated)
    probe.cancel()
    time.sleep(0.2)
    generated = source.generated
    time.sleep(0.5)
    assert source.generated == generated


def test_concat_map_inner_sources_generate_only_what_they_hold() -> None:
    outer = random_integers(seed=1)
    inners: list[rxrand.sources.RandomIntegers] = []

    def inner(_: int) -> rxrand.sources.RandomIntegers:
        source = random_integers(3, seed=2)
        inners.append(source)
        return source

    probe = RecordingSubscriber[int]()
    outer.pipe(concat_map(inner), controlled()).subscribe(probe)
    probe.request(1000)
    probe.request(1000)
    assert len(probe.values) == 2000
    assert sum(source.generated for source in inners) <= 2000 + 3
    assert outer.generated <= CHUNK_SIZE


def test_flat_map_of_pairs_generates_within_demand() -> None:
    outer = random_integers(seed=1)
    generated = [0]

    def inner(_: int) -> Any:
        source = random_integers(2, seed=2)
        return source.pipe(ops.do_action(lambda _: generated.__setitem__(0, generated[0] + 1)))

    probe = RecordingSubscriber[int]()
    outer.pipe(ops.flat_map(inner), controlled()).subscribe(probe)
    probe.request(1000)
    probe.request(1000)
    assert len(probe.values) == 2000
    assert generated[0] <= 2000 + 2
    assert outer.generated <= CHUNK_SIZE


def test_delay_delivers_within_demand_without_overflow() -> None:
    source = random_integers(seed=1)
    probe = RecordingSubscriber[int]()
    source.pipe(ops.delay(0.01), controlled()).subscribe(probe)
    probe.request(5)
    assert wait_until(lambda: len(probe.values) == 5)
    time.sleep(0.1)
    assert len(probe.values) == 5
    assert probe.errors == []
    probe.request(3000)
    assert wait_until(lambda: len(probe.values) == 3005, timeout=5)
    assert probe.errors == []
    probe.cancel()


def test_batches_drained_on_another_thread_reach_the_bulk_subscriber() -> None:
    # The drain may run on any thread; delivery never swaps the subscriber's callbacks,
    # so a batch delivered from another thread is the subscriber's own on_next_batch call.
    got: list[tuple[int, int]] = []
    subscription_holder: list[Any] = []

    class Bulk:
        def on_subscribe(self, subscription: Any) -> None:
            subscription_holder.append(subscription)

        def on_next(self, value: int) -> None:
            raise AssertionError("batches only")

        def on_next_batch(self, batch: Any) -> None:
            got.append((threading.get_ident(), len(batch)))

        def on_error(self, error: Exception) -> None:
            raise error

        def on_completed(self) -> None:
            pass

    random_integers(seed=1).pipe(ops.map(lambda v: v), controlled()).subscribe(Bulk())
    worker = threading.Thread(target=lambda: subscription_holder[0].request(300))
    worker.start()
    worker.join(5)
    subscription_holder[0].request(200)
    assert sum(n for _, n in got) == 500
    assert len({thread for thread, _ in got}) == 2
