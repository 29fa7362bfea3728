"""random_integers: a cold, seedable, lazily generated Observable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rxrand import controlled, random_integers
from rxrand.core.producer import signals_of
from rxrand.sources import CHUNK_SIZE
from rxrand.sources.integers import PullEmitter
from rxrand.testing import RecordingSubscriber


def collect(source: reactivex.Observable[int]) -> list[int]:
    result: list[int] = source.pipe(ops.to_list()).run()
    return result


def test_random_integers_emits_count_and_completes() -> None:
    values = collect(random_integers(1000, seed=3))
    assert len(values) == 1000


def test_random_integers_default_range_is_inclusive_0_to_10000() -> None:
    values = collect(random_integers(200_000, seed=5))
    assert min(values) == 0
    assert max(values) == 10_000


def test_random_integers_respects_low_and_high_inclusive() -> None:
    values = collect(random_integers(5000, low=-3, high=3, seed=1))
    assert set(values) == set(range(-3, 4))


def test_random_integers_low_equal_high_is_constant() -> None:
    assert collect(random_integers(10, low=7, high=7)) == [7] * 10


def test_random_integers_handles_64_bit_bounds() -> None:
    # The whole signed 64-bit range: values reach both far ends (not clipped, not wrapped).
    values = collect(random_integers(100, low=-(2**63), high=2**63 - 1, seed=1))
    assert min(values) < -(2**62)
    assert max(values) > 2**62
    # And the very top of it, inclusive: every value of a 3-wide range shows up.
    top = collect(random_integers(300, low=2**63 - 3, high=2**63 - 1, seed=1))
    assert set(top) == {2**63 - 3, 2**63 - 2, 2**63 - 1}
    bottom = collect(random_integers(300, low=-(2**63), high=-(2**63) + 2, seed=1))
    assert set(bottom) == {-(2**63), -(2**63) + 1, -(2**63) + 2}
    assert all(type(v) is int for v in values)


def test_random_integers_count_zero_completes_empty() -> None:
    assert collect(random_integers(0)) == []


def test_random_integers_is_cold_each_subscription_restarts_with_seed() -> None:
    source = random_integers(50, seed=42)
    assert collect(source) == collect(source)


def test_random_integers_unseeded_subscriptions_are_independent() -> None:
    source = random_integers(50)
    assert collect(source) != collect(source)


def test_random_integers_different_seeds_differ() -> None:
    assert collect(random_integers(50, seed=1)) != collect(random_integers(50, seed=2))


def test_random_integers_sequence_does_not_depend_on_demand_chunking() -> None:
    whole = RecordingSubscriber[int](initial=1000)
    random_integers(1000, seed=9).pipe(controlled()).subscribe(whole)
    one_by_one = RecordingSubscriber[int]()
    random_integers(1000, seed=9).pipe(controlled()).subscribe(one_by_one)
    for _ in range(1000):
        one_by_one.request(1)
    odd = RecordingSubscriber[int]()
    random_integers(1000, seed=9).pipe(controlled()).subscribe(odd)
    for size in (1, 7, 8191, 3):
        odd.request(size)
    assert whole.values == one_by_one.values == odd.values
    assert whole.values == collect(random_integers(1000, seed=9))


def test_random_integers_sequence_spans_chunks_identically() -> None:
    n = 2 * CHUNK_SIZE + 10
    plain = collect(random_integers(n, seed=4))
    probe = RecordingSubscriber[int]()
    random_integers(n, seed=4).pipe(controlled()).subscribe(probe)
    for size in (CHUNK_SIZE - 1, 2, CHUNK_SIZE, 100):
        probe.request(size)
    assert probe.values == plain


def test_random_integers_endless_stops_on_take() -> None:
    assert len(collect(random_integers().pipe(ops.take(5)))) == 5


def test_random_integers_endless_stops_when_disposed_from_on_next() -> None:
    seen: list[int] = []
    holder: list[reactivex.abc.DisposableBase] = []

    def on_next(value: int) -> None:
        seen.append(value)
        if len(seen) == 3:
            holder[0].dispose()

    scheduler = TestScheduler()
    holder.append(random_integers().subscribe(on_next, scheduler=scheduler))
    scheduler.start()
    assert len(seen) == 3


def test_random_integers_composes_with_reactivex_operators() -> None:
    source = random_integers(100, seed=1).pipe(
        ops.map(lambda v: v * 2), ops.filter(lambda v: v % 4 == 0), ops.count()
    )
    expected = sum(1 for v in collect(random_integers(100, seed=1)) if (v * 2) % 4 == 0)
    assert source.run() == expected


def test_random_integers_runs_on_a_given_scheduler_in_virtual_time() -> None:
    scheduler = TestScheduler()
    observer = scheduler.start(lambda: random_integers(3, low=1, high=1))
    assert observer.messages == [
        ReactiveTest.on_next(200, 1),
        ReactiveTest.on_next(200, 1),
        ReactiveTest.on_next(200, 1),
        ReactiveTest.on_completed(200),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"count": -1}, ValueError, r"^count must be >= 0 or None, got -1$"),
        ({"count": 1.5}, TypeError, r"^count must be an int, got float$"),
        ({"count": True}, TypeError, r"^count must be an int, got bool$"),
        ({"low": 5, "high": 4}, ValueError, r"^low must be <= high, got low=5, high=4$"),
        ({"low": "0"}, TypeError, r"^low must be an int, got str$"),
        ({"high": False}, TypeError, r"^high must be an int, got bool$"),
        (
            {"high": 2**63},
            ValueError,
            r"^low and high must fit in a signed 64-bit integer, got \[0, 9223372036854775808\]$",
        ),
        ({"seed": -2}, ValueError, r"^seed must be >= 0 or None, got -2$"),
        ({"seed": 1.0}, TypeError, r"^seed must be an int, got float$"),
    ],
)
def test_random_integers_rejects_bad_arguments_at_the_call(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        random_integers(**kwargs)  # type: ignore[arg-type]


def test_random_integers_accepts_numpy_integers_but_not_bool() -> None:
    import numpy as np

    assert collect(random_integers(np.int64(3), seed=np.int64(1))) == collect(
        random_integers(3, seed=1)
    )
    with pytest.raises(TypeError, match=r"^count must be an int, got bool$"):
        random_integers(True)


def test_random_integers_small_count_draws_only_the_count() -> None:
    source = random_integers(3, seed=1)
    assert len(collect(source)) == 3
    assert source.generated == 3
    assert source.streams == 1


def test_from_iterable_reads_only_against_demand() -> None:
    from rxrand import controlled, from_iterable
    from rxrand.testing import RecordingSubscriber

    read: list[int] = []

    def numbers() -> Iterator[int]:
        for value in range(100):
            read.append(value)
            yield value

    probe = RecordingSubscriber[int]()
    from_iterable(numbers()).pipe(controlled()).subscribe(probe)
    assert read == []
    probe.request(3)
    assert probe.values == [0, 1, 2]
    assert read == [0, 1, 2, 3]  # one ahead, to know whether the stream ends there
    probe.request(200)
    probe.expect_completed()
    assert len(probe.values) == 100


def test_from_iterable_pushed_yields_between_bursts() -> None:
    import itertools

    from rxrand import from_iterable

    # A plain subscription of an endless iterator: take() stops it, because the disposable
    # exists before the first item and each burst is its own scheduled action.
    taken = from_iterable(itertools.count()).pipe(ops.take(1000), ops.to_list()).run()
    assert taken == list(range(1000))


def test_from_iterable_error_reaches_on_error() -> None:
    from rxrand import from_iterable

    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("broken iterator")

    errors: list[Exception] = []
    values: list[int] = []
    from_iterable(broken()).subscribe(values.append, errors.append)
    assert values == [1]
    assert [str(e) for e in errors] == ["broken iterator"]


def test_from_iterable_rejects_a_non_iterable_when_called() -> None:
    from rxrand import from_iterable

    with pytest.raises(TypeError, match=r"^from_iterable\(\) takes an iterable, got int$"):
        from_iterable(5)  # type: ignore[arg-type]


def test_from_iterable_loses_no_item_read_before_a_failure() -> None:
    from rxrand import controlled, from_iterable
    from rxrand.testing import RecordingSubscriber

    def two_then_fail() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("after two")

    probe = RecordingSubscriber[int]()
    from_iterable(two_then_fail()).pipe(controlled()).subscribe(probe)
    probe.request(1)
    assert probe.values == [1]
    assert probe.errors == []  # the item read ahead (2) is not lost, and nothing failed yet
    probe.request(5)
    assert probe.values == [1, 2]
    assert str(probe.expect_error(ValueError)) == "after two"


class _RecordingLink:
    """Stands in for a CreditLink: records what each burst reports as emitted."""

    def __init__(self) -> None:
        self.ended: list[int] = []

    def begin(self) -> None:
        return None

    def end(self, emitted: int) -> None:
        self.ended.append(emitted)

    def dispose(self) -> None:
        return None


class _Digits(PullEmitter[int]):
    def __init__(self, observer: reactivex.abc.ObserverBase[int]) -> None:
        super().__init__(signals_of(observer))
        self._next = 0

    def next_items(self, n: int) -> list[int]:
        items = list(range(self._next, min(self._next + n, 10)))
        self._next += len(items)
        self.done = self._next == 10
        return items


@pytest.mark.parametrize(
    ("stop_at", "raise_at", "reported"),
    [(None, None, 10), (3, None, 4), (None, 3, 3), (0, None, 1), (None, 0, 0)],
)
def test_a_burst_reports_exactly_the_items_whose_on_next_returned(
    stop_at: int | None, raise_at: int | None, reported: int
) -> None:
    """The count the credit link gets: a stop from inside on_next (rule 3.13) ends the
    burst after that item, which counts; an on_next that raises does not count its item."""
    seen: list[int] = []
    emitter: list[_Digits] = []

    def on_next(value: int) -> None:
        if value == raise_at:
            raise RuntimeError("subscriber broke rule 2.13")
        seen.append(value)
        if value == stop_at:
            emitter[0].stop()

    observer = reactivex.Observer[int](on_next)
    emitter.append(_Digits(observer))
    link = _RecordingLink()
    emitter[0]._link = link  # type: ignore[assignment]
    if raise_at is None:
        assert emitter[0]._burst(10) == reported
    else:
        with pytest.raises(RuntimeError):
            emitter[0]._burst(10)
    assert link.ended == [reported]
    assert seen == list(range(reported))
