"""controlled(): the request(n) operator, rule by rule (Reactive Streams 1.x, 2.x, 3.x)."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.scheduler import ThreadPoolScheduler
from reactivex.subject import Subject

from rxrand import (
    UNBOUNDED,
    BufferOverflowError,
    ControlledSubscription,
    Overflow,
    controlled,
    from_iterable,
    random_integers,
)
from rxrand.sources import CHUNK_SIZE
from rxrand.testing import RecordingSubscriber


class CountingSource:
    """Wraps random_integers' pull path and counts what the source generated."""

    def __init__(self) -> None:
        self.generated = 0

    def observable(self, count: int | None = None) -> reactivex.Observable[int]:
        return random_integers(count, seed=1).pipe(ops.do_action(self._count))

    def _count(self, _: int) -> None:
        self.generated += 1


def test_controlled_generates_nothing_before_request() -> None:
    probe = RecordingSubscriber[int]()
    subscription = random_integers(seed=1).pipe(controlled()).subscribe(probe)
    assert probe.values == []
    assert subscription.pulled == 0


def test_controlled_pulls_lazily_through_map_filter_scan() -> None:
    counter = CountingSource()
    source = counter.observable().pipe(
        ops.map(lambda v: v + 1),
        ops.filter(lambda v: v % 2 == 0),
        ops.scan(lambda acc, v: acc + v, 0),
        controlled(),
    )
    probe = RecordingSubscriber[int]()
    source.subscribe(probe)
    assert counter.generated == 0
    probe.request(10)
    assert len(probe.values) == 10
    # The filter drops about half: the source made only what the demand needed.
    assert 10 <= counter.generated <= 60
    before = counter.generated
    probe.cancel()
    probe.request(10)
    assert counter.generated == before


def test_controlled_endless_source_generates_at_most_one_chunk_ahead() -> None:
    # Counted at the source (numpy draws), not at the request.
    source = random_integers(seed=2)
    probe = RecordingSubscriber[int]()
    subscription = source.pipe(ops.map(lambda v: v), controlled()).subscribe(probe)
    assert source.generated == 0
    probe.request(5)
    assert subscription.pulled == 5
    assert source.generated == CHUNK_SIZE
    probe.request(CHUNK_SIZE - 5)
    assert source.generated == CHUNK_SIZE  # exactly one chunk used up, none drawn ahead
    probe.request(1)
    assert source.generated == 2 * CHUNK_SIZE
    assert len(probe.values) == CHUNK_SIZE + 1


def test_controlled_rule_1_1_never_more_on_next_than_requested() -> None:
    probe = RecordingSubscriber[int]()
    random_integers(100, seed=1).pipe(controlled()).subscribe(probe)
    for total, n in ((3, 3), (10, 7), (11, 1)):
        probe.request(n)
        assert len(probe.values) == total


def test_controlled_rule_1_2_fewer_items_then_completes() -> None:
    probe = RecordingSubscriber[int](initial=10)
    random_integers(3, seed=1).pipe(controlled()).subscribe(probe)
    probe.expect_count(3).expect_completed()


def test_controlled_rule_1_3_signals_are_serialised_across_threads() -> None:
    active = 0
    overlaps = 0
    lock = threading.Lock()
    subject: Subject[int] = Subject()

    def on_value(_: RecordingSubscriber[int], __: int) -> None:
        nonlocal active, overlaps
        with lock:
            active += 1
            if active > 1:
                overlaps += 1
        for _ in range(50):
            pass
        with lock:
            active -= 1

    probe = RecordingSubscriber[int](on_value=on_value)
    subject.pipe(controlled(capacity=100_000)).subscribe(probe)

    def push(start: int) -> None:
        for i in range(start, start + 5000):
            subject.on_next(i)

    def pull() -> None:
        for _ in range(5000):
            probe.request(2)

    threads = [threading.Thread(target=push, args=(k * 5000,)) for k in range(2)]
    threads.append(threading.Thread(target=pull))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert overlaps == 0
    assert len(probe.values) == 10_000


def test_controlled_rule_1_5_finite_stream_completes() -> None:
    probe = RecordingSubscriber[int](initial=5)
    random_integers(5, seed=1).pipe(controlled()).subscribe(probe)
    probe.expect_count(5).expect_completed()


def test_controlled_empty_stream_completes_without_request() -> None:
    probe = RecordingSubscriber[int]()
    random_integers(0).pipe(controlled()).subscribe(probe)
    probe.expect_count(0).expect_completed()


def test_controlled_rule_1_7_nothing_after_terminal() -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int](initial=10)
    subject.pipe(controlled()).subscribe(probe)
    subject.on_next(1)
    subject.on_completed()
    subject.on_next(2)
    subject.on_error(RuntimeError("late"))
    probe.request(5)
    assert probe.signals == ["subscribe", "next", "completed"]


def test_controlled_completion_waits_for_buffered_items() -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    subject.pipe(controlled()).subscribe(probe)
    subject.on_next(1)
    subject.on_next(2)
    subject.on_completed()
    probe.expect_no_terminal()
    probe.request(1)
    probe.expect_values(1).expect_no_terminal()
    probe.request(1)
    probe.expect_values(1, 2).expect_completed()


def test_controlled_upstream_error_reaches_on_error() -> None:
    probe = RecordingSubscriber[int](initial=1)
    reactivex.throw(RuntimeError("boom")).pipe(controlled()).subscribe(probe)
    probe.expect_error(RuntimeError, "^boom$")


def test_controlled_rule_1_9_on_subscribe_comes_first() -> None:
    signals: list[str] = []

    def on_subscribe(subscription: ControlledSubscription[int]) -> None:
        signals.append("subscribe")
        subscription.request(3)
        # Rule 1.9: nothing is delivered before on_subscribe returns.
        signals.append("subscribe returns")

    random_integers(2, seed=1).pipe(controlled()).subscribe(
        lambda _: signals.append("next"),
        on_completed=lambda: signals.append("completed"),
        on_subscribe=on_subscribe,
    )
    assert signals == ["subscribe", "subscribe returns", "next", "next", "completed"]


def test_controlled_rule_1_9_null_subscriber_is_a_type_error() -> None:
    publisher = random_integers(2).pipe(controlled())
    with pytest.raises(TypeError, match=r"^subscribe\(\) needs a subscriber"):
        publisher.subscribe(None)


def test_controlled_rule_3_9_non_positive_request_signals_on_error() -> None:
    for bad in (0, -1):
        probe = RecordingSubscriber[int]()
        random_integers(seed=1).pipe(controlled()).subscribe(probe)
        probe.request(bad)  # does not raise
        probe.expect_error(ValueError, rf"^request\(n\) needs n > 0 \(rule 3.9\), got {bad}$")


def test_controlled_rule_3_9_non_int_request_signals_type_error() -> None:
    probe = RecordingSubscriber[int]()
    random_integers(seed=1).pipe(controlled()).subscribe(probe)
    probe.request(1.5)  # type: ignore[arg-type]
    probe.expect_error(TypeError, r"^request\(n\) takes an int, got float$")


def test_controlled_rule_3_3_request_from_on_next_does_not_recurse() -> None:
    depths: list[int] = []

    def on_value(probe: RecordingSubscriber[int], _: int) -> None:
        depths.append(len_stack())
        probe.request(1)

    probe = RecordingSubscriber[int](initial=1, on_value=on_value)
    random_integers(100_000, seed=1).pipe(controlled()).subscribe(probe)
    probe.expect_count(100_000).expect_completed()
    assert max(depths) - min(depths) == 0


def len_stack() -> int:
    frame: Any = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def test_controlled_rule_3_2_request_from_on_subscribe_is_synchronous_and_safe() -> None:
    probe = RecordingSubscriber[int](initial=3)
    random_integers(10, seed=1).pipe(controlled()).subscribe(probe)
    probe.expect_count(3)


def test_controlled_rule_3_6_request_after_cancel_is_a_no_op() -> None:
    probe = RecordingSubscriber[int](initial=2)
    subscription = random_integers(seed=1).pipe(controlled()).subscribe(probe)
    probe.cancel()
    probe.request(5)
    probe.request(-1)
    probe.expect_count(2).expect_no_terminal()
    assert subscription.pulled == 2


def test_controlled_rule_3_7_cancel_is_idempotent() -> None:
    probe = RecordingSubscriber[int](initial=2)
    random_integers(seed=1).pipe(controlled()).subscribe(probe)
    probe.cancel()
    probe.cancel()
    probe.expect_count(2).expect_no_terminal()


def test_controlled_rule_3_8_demand_is_additive() -> None:
    probe = RecordingSubscriber[int]()
    subject: Subject[int] = Subject()
    subject.pipe(controlled()).subscribe(probe)
    for value in range(10):
        subject.on_next(value)
    probe.request(2)
    probe.request(3)
    probe.expect_values(0, 1, 2, 3, 4)


def test_controlled_rule_3_12_cancel_from_on_next_stops_signals() -> None:
    def on_value(probe: RecordingSubscriber[int], _: int) -> None:
        if len(probe.values) == 3:
            probe.cancel()

    probe = RecordingSubscriber[int](initial=100, on_value=on_value)
    subscription = random_integers(seed=1).pipe(controlled()).subscribe(probe)
    probe.expect_count(3).expect_no_terminal()
    assert subscription.is_cancelled


def test_controlled_rule_3_13_cancel_drops_the_subscriber() -> None:
    probe = RecordingSubscriber[int](initial=2)
    subscription = random_integers(seed=1).pipe(controlled()).subscribe(probe)
    reference = weakref.ref(probe)
    subscription.cancel()
    del probe
    gc.collect()
    assert reference() is None


def test_controlled_rule_3_13_completion_drops_the_subscriber() -> None:
    probe = RecordingSubscriber[int](initial=5)
    subscription = random_integers(2, seed=1).pipe(controlled()).subscribe(probe)
    reference = weakref.ref(probe)
    del probe
    gc.collect()
    assert reference() is None
    assert subscription.delivered == 2


def test_controlled_rule_3_17_demand_up_to_2_63_minus_1_is_unbounded() -> None:
    probe = RecordingSubscriber[int]()
    subscription = random_integers(1000, seed=1).pipe(controlled()).subscribe(probe)
    probe.request(UNBOUNDED)
    probe.request(UNBOUNDED)
    probe.expect_count(1000).expect_completed()
    assert subscription.pending == UNBOUNDED


def test_controlled_rule_3_17_demand_beyond_2_63_is_not_an_error() -> None:
    probe = RecordingSubscriber[int]()
    random_integers(10, seed=1).pipe(controlled()).subscribe(probe)
    probe.request(2**62)
    probe.request(2**62)
    probe.request(2**70)
    probe.expect_count(10).expect_completed()


def test_controlled_each_subscription_has_its_own_demand() -> None:
    publisher = random_integers(100, seed=1).pipe(controlled())
    first = RecordingSubscriber[int](initial=3)
    second = RecordingSubscriber[int](initial=5)
    publisher.subscribe(first)
    publisher.subscribe(second)
    first.request(1)
    assert len(first.values) == 4
    assert len(second.values) == 5
    assert first.values == second.values[:4]


def test_controlled_plain_observer_gets_unbounded_demand_and_composes() -> None:
    values = (
        random_integers(100, seed=1).pipe(controlled(), ops.map(lambda v: -v), ops.to_list()).run()
    )
    assert values == [-v for v in random_integers(100, seed=1).pipe(ops.to_list()).run()]


def test_controlled_plain_callbacks_get_unbounded_demand() -> None:
    seen: list[int] = []
    random_integers(50, seed=1).pipe(controlled()).subscribe(seen.append)
    assert len(seen) == 50


def test_controlled_endless_plain_subscription_stops_on_take() -> None:
    values = random_integers().pipe(controlled(), ops.take(7), ops.to_list()).run()
    assert len(values) == 7


def test_controlled_take_between_source_and_operator_stops_the_source() -> None:
    probe = RecordingSubscriber[int](initial=100)
    subscription = random_integers(seed=1).pipe(ops.take(5), controlled()).subscribe(probe)
    probe.expect_count(5).expect_completed()
    assert subscription.pulled <= 6


def test_controlled_nested_operators_forward_demand_to_the_source() -> None:
    probe = RecordingSubscriber[int]()
    outer = random_integers(seed=1).pipe(controlled(), ops.map(lambda v: v + 1), controlled())
    outer.subscribe(probe)
    probe.request(4)
    assert len(probe.values) == 4


def test_controlled_concat_of_pull_sources_stays_lazy() -> None:
    probe = RecordingSubscriber[int]()
    source = reactivex.concat(random_integers(3, seed=1), random_integers(3, seed=2))
    subscription = source.pipe(controlled()).subscribe(probe)
    probe.request(4)
    probe.expect_count(4).expect_no_terminal()
    probe.request(10)
    probe.expect_count(6).expect_completed()
    assert subscription.pulled == 6


def test_controlled_push_source_is_buffered_until_requested() -> None:
    probe = RecordingSubscriber[int]()
    values = reactivex.from_iterable(range(10))
    values.pipe(controlled()).subscribe(probe)
    probe.expect_count(0)
    probe.request(4)
    probe.expect_values(0, 1, 2, 3)
    probe.request(100)
    probe.expect_count(10).expect_completed()


def test_controlled_overflow_error_names_the_capacity() -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    subject.pipe(controlled(capacity=3)).subscribe(probe)
    for value in range(4):
        subject.on_next(value)
    error = probe.expect_error(BufferOverflowError, r"capacity=3")
    assert isinstance(error, BufferOverflowError)
    assert error.capacity == 3
    assert not subject.observers  # upstream was cancelled


def test_controlled_overflow_of_a_push_source_says_to_use_a_pull_source() -> None:
    probe = RecordingSubscriber[int](initial=1)
    reactivex.range(10**6).pipe(controlled()).subscribe(probe)
    [error] = probe.errors
    with pytest.raises(
        BufferOverflowError,
        match=(
            r"^buffer overflow: the source pushed more than capacity=1024 items beyond demand; "
            r"it pushes whatever the demand \(reactivex\.range, reactivex\.from_iterable, "
            r"a Subject\): generate on demand with a pull source such as "
            r"rxrand\.from_iterable\(\.\.\.\) or rxrand\.random_integers\(\.\.\.\) instead, "
            r"or request more, or pass controlled\(capacity=\.\.\.\) or another Overflow$"
        ),
    ):
        raise error


class _Endless:
    """An endless iterable that counts what was read from it."""

    def __init__(self) -> None:
        self.read = 0

    def __iter__(self) -> Iterator[int]:
        while True:
            self.read += 1
            yield self.read


_AFTER_CONTROLLED = (
    r"^RecordingSubscriber is a Reactive Streams subscriber \(it has on_subscribe\), "
    r"subscribed through reactivex operators placed after controlled\(\): they drop the "
    r"subscription and would feed it unbounded items; put the operators before "
    r"controlled\(\), e\.g\. source\.pipe\(ops\.map\(f\), controlled\(\)\)"
    r"\.subscribe\(subscriber\)$"
)


def test_controlled_subscriber_behind_operators_after_controlled_is_told_where_they_go() -> None:
    probe = RecordingSubscriber[str](initial=2)
    random_integers(20).pipe(controlled(), ops.map(str)).subscribe(probe)
    assert probe.values == []
    [error] = probe.errors
    with pytest.raises(TypeError, match=_AFTER_CONTROLLED):
        raise error


def test_controlled_subscriber_behind_a_thread_hop_after_controlled_gets_no_flood() -> None:
    pool = ThreadPoolScheduler(1)
    probe = RecordingSubscriber[int](initial=5)
    generated = _Endless()
    # Before the fix: subscribe never returned (25,597 items in 3 s for 5 requested).
    thread = threading.Thread(
        target=lambda: (
            from_iterable(generated).pipe(controlled(), ops.observe_on(pool)).subscribe(probe)
        ),
        daemon=True,
    )
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), f"subscribe did not return; {generated.read} generated"
    deadline = time.monotonic() + 5
    while not probe.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.values == []
    assert generated.read == 0
    [error] = probe.errors
    with pytest.raises(TypeError, match=_AFTER_CONTROLLED):
        raise error


def test_controlled_plain_observer_after_operators_after_controlled_still_gets_everything() -> None:
    got = random_integers(20, seed=1).pipe(controlled(), ops.map(str), ops.to_list()).run()
    assert len(got) == 20


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [
        (Overflow.DROP_OLDEST, [2, 3, 4]),
        (Overflow.DROP_NEWEST, [0, 1, 2]),
        (Overflow.KEEP_LATEST, [0, 1, 4]),
    ],
)
def test_controlled_overflow_strategies_keep_the_bound(
    overflow: Overflow, expected: list[int]
) -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    subscription = subject.pipe(controlled(capacity=3, overflow=overflow)).subscribe(probe)
    for value in range(5):
        subject.on_next(value)
    probe.request(10)
    probe.expect_values(*expected).expect_no_terminal()
    assert subscription.dropped == 2


def test_controlled_push_items_with_demand_are_delivered_at_once() -> None:
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int](initial=2)
    subject.pipe(controlled(capacity=1)).subscribe(probe)
    subject.on_next(1)
    subject.on_next(2)
    probe.expect_values(1, 2)


def test_controlled_request_and_cancel_from_another_thread() -> None:
    probe = RecordingSubscriber[int]()
    subscription = random_integers(seed=1).pipe(controlled()).subscribe(probe)
    threads = [threading.Thread(target=probe.request, args=(1000,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    probe.expect_count(4000)
    canceller = threading.Thread(target=subscription.cancel)
    canceller.start()
    canceller.join(timeout=10)
    probe.request(10)
    probe.expect_count(4000)
    assert subscription.is_cancelled


def test_controlled_cancel_from_another_thread_while_emitting_stops() -> None:
    started = threading.Event()

    def on_value(probe: RecordingSubscriber[int], _: int) -> None:
        started.set()

    probe = RecordingSubscriber[int](on_value=on_value)
    subscription = random_integers(seed=1).pipe(controlled()).subscribe(probe)
    worker = threading.Thread(target=probe.request, args=(UNBOUNDED,))
    worker.start()
    assert started.wait(10)
    subscription.cancel()
    worker.join(timeout=10)
    assert not worker.is_alive()
    count = len(probe.values)
    probe.request(5)
    assert len(probe.values) == count


def test_controlled_subscriber_exception_cancels_and_reports() -> None:
    generated: list[int] = []

    def explode(_: int) -> None:
        raise RuntimeError("subscriber bug")

    errors: list[Exception] = []
    subscription = (
        random_integers(seed=1)
        .pipe(ops.do_action(generated.append), controlled())
        .subscribe(
            explode,
            errors.append,
            on_subscribe=lambda s: s.request(10),
        )
    )
    assert [str(e) for e in errors] == ["subscriber bug"]
    # The burst in flight was granted against the demand of 10; nothing more.
    assert 1 <= len(generated) <= 10
    subscription.request(100)
    assert len(generated) <= 10


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"capacity": 0}, ValueError, r"^capacity must be >= 1, got 0$"),
        ({"capacity": 2.0}, TypeError, r"^capacity must be an int, got float$"),
        ({"capacity": True}, TypeError, r"^capacity must be an int, got bool$"),
        ({"overflow": "error"}, TypeError, r"^overflow must be an Overflow, got str$"),
        ({"prefetch": 0}, ValueError, r"^prefetch must be >= 1, got 0$"),
        ({"prefetch": 1.5}, TypeError, r"^prefetch must be an int, got float$"),
        ({"prefetch": 2048}, ValueError, r"^prefetch must be <= capacity \(1024\), got 2048$"),
    ],
)
def test_controlled_rejects_bad_arguments_when_built(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        controlled(**kwargs)


def test_controlled_request_accepts_numpy_integers() -> None:
    import numpy as np

    probe = RecordingSubscriber[int]()
    random_integers(seed=1).pipe(controlled()).subscribe(probe)
    probe.request(np.int64(3))  # type: ignore[arg-type]
    assert len(probe.values) == 3
    assert probe.errors == []


def test_controlled_on_drop_sees_every_dropped_item() -> None:
    dropped: list[int] = []
    subject: Subject[int] = Subject()
    probe = RecordingSubscriber[int]()
    subscription = subject.pipe(
        controlled(capacity=2, overflow=Overflow.DROP_OLDEST, on_drop=dropped.append)
    ).subscribe(probe)
    for value in range(5):
        subject.on_next(value)
    assert dropped == [0, 1, 2]
    assert subscription.dropped == 3
    probe.request(5)
    assert probe.values == [3, 4]


def test_controlled_rejects_an_on_drop_that_is_not_callable() -> None:
    with pytest.raises(TypeError, match=r"^on_drop must be callable, got int$"):
        controlled(on_drop=3)  # type: ignore[arg-type]


def test_controlled_zip_with_never_parks_after_demand_plus_capacity() -> None:
    source = random_integers(seed=1)
    probe = RecordingSubscriber[Any]()
    subscription = (
        reactivex.zip(source, reactivex.never()).pipe(controlled(capacity=16)).subscribe(probe)
    )
    probe.request(10)
    assert subscription.pulled <= 10 + 16
    probe.request(10)
    assert subscription.pulled <= 20 + 16


def test_controlled_selective_filter_keeps_the_source_going() -> None:
    # 1 in 50 passes: what the filter drops is written off whenever something arrives in
    # the same burst, so the source keeps going however much was dropped in all.
    source = random_integers(seed=1)
    probe = RecordingSubscriber[int]()
    source.pipe(ops.filter(lambda v: v % 50 == 0), controlled()).subscribe(probe)
    probe.request(200)
    assert len(probe.values) == 200
    assert source.generated <= 200 * 50 * 2 + CHUNK_SIZE


def test_controlled_a_stage_that_swallows_everything_parks_the_source() -> None:
    # Nothing ever gets through: the source stops after demand + capacity, no spin, no hang.
    source = random_integers(seed=1)
    probe = RecordingSubscriber[int]()
    subscription = source.pipe(ops.filter(lambda _: False), controlled(capacity=64)).subscribe(
        probe
    )
    probe.request(5)
    assert subscription.pulled <= 5 + 64
    probe.request(5)  # more demand: as much more may go
    assert subscription.pulled <= 10 + 64
