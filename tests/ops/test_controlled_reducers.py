"""Issue 16 item 7: a stage that swallows its whole input before it emits, under small demand.

Each of these stalled before the fix: the credit given to a stage that swallows was capped at
demand + capacity, so ``random_integers(3000).pipe(ops.count(), controlled())`` parked its
source at 1,025 integers and never delivered the count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.scheduler import ThreadPoolScheduler

import rxrand
from rxrand import controlled, random_integers
from rxrand.sources import CHUNK_SIZE
from rxrand.testing import RecordingSubscriber

pytestmark = pytest.mark.timeout(30)

N = 3000

REDUCERS: dict[str, tuple[Callable[[], Any], Callable[[list[int]], list[Any]]]] = {
    "count": (ops.count, lambda xs: [len(xs)]),
    "sum": (ops.sum, lambda xs: [sum(xs)]),
    "reduce": (lambda: ops.reduce(lambda a, b: a + b), lambda xs: [sum(xs)]),
    "to_list": (ops.to_list, lambda xs: [xs]),
    "last": (ops.last, lambda xs: [xs[-1]]),
    "take_last(3)": (lambda: ops.take_last(3), lambda xs: xs[-3:]),
    "max": (ops.max, lambda xs: [max(xs)]),
    "min": (ops.min, lambda xs: [min(xs)]),
    "average": (ops.average, lambda xs: [sum(xs) / len(xs)]),
    "skip(2500)": (lambda: ops.skip(2500), lambda xs: xs[2500:]),
}


def _expected_input() -> list[int]:
    values: list[int] = []
    random_integers(N, seed=3).subscribe(values.append)
    return values


@pytest.mark.parametrize("name", list(REDUCERS))
def test_controlled_reducer_completes_under_request_one(name: str) -> None:
    make, expect = REDUCERS[name]
    wanted = expect(_expected_input())
    probe = RecordingSubscriber[Any]()
    random_integers(N, seed=3).pipe(make(), controlled()).subscribe(probe)
    for _ in range(len(wanted)):
        probe.request(1)
    assert probe.values == wanted
    assert probe.completed


def test_controlled_reducer_completes_under_request_one_over_a_sized_iterable() -> None:
    probe = RecordingSubscriber[Any]()
    rxrand.from_iterable(range(10**5)).pipe(ops.count(), controlled()).subscribe(probe)
    probe.request(1)
    assert probe.values == [10**5]
    assert probe.completed


def test_controlled_reducer_completes_under_unbounded_demand() -> None:
    got: list[int] = []
    random_integers(N, seed=3).pipe(ops.count(), controlled()).subscribe(got.append)
    assert got == [N]


def test_controlled_reducer_delivers_what_passes_within_demand() -> None:
    # skip swallows 2500, then lets 500 through: at most the demand delivered, the rest waits.
    probe = RecordingSubscriber[Any]()
    random_integers(N, seed=3).pipe(ops.skip(2500), controlled()).subscribe(probe)
    probe.request(2)
    assert len(probe.values) == 2
    assert not probe.completed
    probe.request(498)
    assert len(probe.values) == 500
    assert probe.completed


def test_controlled_reducer_of_an_endless_source_still_parks_it() -> None:
    # No known end: nothing would come out of count, so the source is not run on.
    source = random_integers(seed=1)
    probe = RecordingSubscriber[Any]()
    source.pipe(ops.count(), controlled()).subscribe(probe)
    probe.request(1)
    assert source.generated <= CHUNK_SIZE
    assert probe.values == []


def test_controlled_zip_of_a_finite_source_with_never_is_bounded_by_its_length() -> None:
    source = random_integers(N, seed=1)
    probe = RecordingSubscriber[Any]()
    reactivex.zip(source, reactivex.never()).pipe(controlled()).subscribe(probe)
    probe.request(1)
    assert source.generated <= N
    assert probe.values == []
    assert not probe.errors


def test_controlled_reducer_after_a_thread_hop_completes() -> None:
    pool = ThreadPoolScheduler(1)
    done = threading.Event()
    probe = RecordingSubscriber[Any]()
    random_integers(N, seed=3).pipe(
        ops.observe_on(pool), ops.count(), ops.do_action(on_completed=done.set), controlled()
    ).subscribe(probe)
    probe.request(1)
    assert done.wait(10)
    assert probe.values == [N]


def test_controlled_finite_source_through_a_hop_keeps_late_items_within_bounds() -> None:
    # Lifted credit may come back late through a hop: it fits, no BufferOverflowError.
    pool = ThreadPoolScheduler(1)
    for _ in range(20):
        probe = RecordingSubscriber[Any]()
        random_integers(20_000, seed=3).pipe(ops.observe_on(pool), controlled()).subscribe(probe)
        probe.request(5)
        probe.request(3000)
        deadline = threading.Event()
        deadline.wait(0.05)
        assert not probe.errors
        assert len(probe.values) <= 3005
        probe.cancel()


def test_controlled_reducer_of_a_repeated_finite_source_runs_until_cancelled() -> None:
    # Each repetition is a finite source, so the stage is given more, round after round: as
    # with Reactor's count of an endless Flux, request(1) runs on until a cancel reaches it.
    source = random_integers(100, seed=1)
    probe = RecordingSubscriber[Any]()
    source.pipe(ops.repeat(), ops.count(), controlled()).subscribe(probe)
    worker = threading.Thread(target=lambda: probe.request(1), daemon=True)
    worker.start()
    worker.join(0.2)
    probe.cancel()
    worker.join(2.0)
    assert not worker.is_alive()
    generated = source.generated
    time.sleep(0.05)
    assert source.generated == generated
    assert probe.values == []


def test_controlled_reducer_of_a_generator_parks_it_as_an_endless_source() -> None:
    # A generator's end is unknown: parked at demand + capacity, as documented.
    read = [0]

    def numbers() -> Any:
        for value in range(10**5):
            read[0] += 1
            yield value

    probe = RecordingSubscriber[Any]()
    rxrand.from_iterable(numbers()).pipe(ops.count(), controlled()).subscribe(probe)
    probe.request(1)
    assert probe.values == []
    assert read[0] <= 1 + 1024 + 1
