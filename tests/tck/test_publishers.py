"""The Reactive Streams publisher rules (``verification.py``), applied to every rxrand publisher.

Pull sources, generated only as they are requested: ``random_integers`` alone, through ordinary
operators, cut from an endless stream by ``take``, merged, and under a nested ``controlled()``.

Push sources, buffered within the operator's capacity until requested: ``from_iterable``,
``reactivex.range``, and a hot ``Subject``. A Subject loses what is pushed before anyone
subscribes, so each subscription gets its own Subject, fed once ``controlled()`` has subscribed to
it: from a thread of its own (which the suite joins before every "nothing more arrives" check),
once for each :class:`~rxrand.Overflow` strategy, and synchronously on the subscribing thread.
Its items arrive whatever the demand, so the buffer holds ``n`` of them: only then is it a
publisher of exactly ``n`` items. The buffer never overflows here, so one overflow strategy
stands for all; what each one does when the buffer overflows is checked in
``test_demand_state_machine.py`` and ``test_controlled.py``.

The fused path and bulk delivery run the same suite through a bulk subscriber
(``on_next_batch``): every batch is checked against the outstanding demand, then replayed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import ClassVar

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.scheduler import EventLoopScheduler, ThreadPoolScheduler
from reactivex.subject import Subject

import rxrand
from rxrand import Overflow, controlled, random_integers
from rxrand.ops import Controlled

from ..composition import concat_map
from .verification import PublisherVerification

SEED = 20_240_601


class PublisherFailedError(RuntimeError):
    """The failure that the failed publishers signal."""


def _fail(value: int) -> int:
    raise PublisherFailedError(f"failed at {value}")


def _double(value: int) -> int:
    return value * 2


def _keep(_: int) -> bool:
    return True


def _increment(value: int) -> int:
    return value + 1


def _zero(_: int) -> int:
    return 0


def _first(pair: tuple[int, int]) -> int:
    return pair[0]


def _single(value: int) -> Observable[int]:
    return rxrand.from_iterable([value])


def _failing_single(value: int) -> Observable[int]:
    return rxrand.from_iterable([_fail(value)])


@functools.cache
def _seeded_integers(n: int) -> tuple[int, ...]:
    """What ``random_integers(n, seed=SEED)`` emits to a plain, unbounded subscriber."""
    collected: list[int] = []
    random_integers(n, seed=SEED).subscribe(collected.append)
    return tuple(collected)


# -- pull sources ------------------------------------------------------------------------


class TestRandomIntegers(PublisherVerification):
    no_failed_publisher_reason = (
        "random_integers(...) has no failure mode; the operator chains below cover on_error"
    )

    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(n, seed=SEED).pipe(controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return _seeded_integers(n)


class TestRandomIntegersThroughOperators(PublisherVerification):
    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(n, seed=SEED).pipe(
            ops.map(_double),
            ops.filter(_keep),
            controlled(),
        )

    def create_failed_publisher(self) -> Controlled[int]:
        return random_integers(3, seed=SEED).pipe(ops.map(_fail), controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return [value * 2 for value in _seeded_integers(n)]


class TestRandomIntegersFused(TestRandomIntegers):
    """The fused path: batches (numpy arrays) straight from the generator, within demand."""

    bulk = True
    expect_fused = True


class TestRandomIntegersThroughOperatorsInBatches(TestRandomIntegersThroughOperators):
    """Bulk delivery of items that came one by one through operators: lists, within demand."""

    bulk = True


class TestZippedRandomIntegers(PublisherVerification):
    """Two pull sources behind a zip: credit goes round-robin, neither runs ahead unbounded."""

    def create_publisher(self, n: int) -> Controlled[int]:
        return reactivex.zip(
            random_integers(n, seed=SEED), random_integers(seed=SEED + 1).pipe(ops.map(_zero))
        ).pipe(ops.map(_first), controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return reactivex.zip(
            random_integers(3, seed=SEED), random_integers(seed=SEED).pipe(ops.map(_fail))
        ).pipe(ops.map(_first), controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return _seeded_integers(n)


class TestConcatMappedPullSources(PublisherVerification):
    """Inner pull sources of a concat_map attach to the same channel and share its credit.

    ``concat_map`` from ``tests/composition.py``: ``ops.concat_map`` where reactivex has it
    (>= 4.1), else ``map`` + ``merge(max_concurrent=1)``, which is what it is.
    """

    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(n, seed=SEED).pipe(concat_map(_single), controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return random_integers(3, seed=SEED).pipe(concat_map(_failing_single), controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return _seeded_integers(n)


class TestPullFromIterable(PublisherVerification):
    """rxrand.from_iterable: the iterator is advanced only against demand."""

    def create_publisher(self, n: int) -> Controlled[int]:
        return rxrand.from_iterable(range(n)).pipe(controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return rxrand.from_iterable(_fail(value) for value in range(1)).pipe(controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return range(n)


class _Generated:
    """An iterable whose every ``iter()`` runs a new generator: a cold generator source."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Iterator[int]:
        yield from range(self.n)


class TestPullFromGenerator(PublisherVerification):
    """rxrand.from_iterable over generators: run lazily, one item ahead at most."""

    def create_publisher(self, n: int) -> Controlled[int]:
        return rxrand.from_iterable(_Generated(n)).pipe(controlled())

    def test_rule_1_5_empty_publisher_completes_without_demand(self) -> None:
        # Only running a generator tells that it is empty: completion comes with the
        # first request, before any item (and without one).
        subscriber = self.subscribe(self.publisher(0))
        assert [signal.kind for signal in subscriber.signals] == ["on_subscribe"]
        subscriber.request(1)
        subscriber.await_completion()
        assert [signal.kind for signal in subscriber.signals] == ["on_subscribe", "on_completed"]
        self.verify()

    def create_failed_publisher(self) -> Controlled[int]:
        def failing() -> Iterator[int]:
            raise PublisherFailedError("generator failed")
            yield 1  # a generator, failing as it starts

        return rxrand.from_iterable(failing()).pipe(controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return range(n)


_POOL = ThreadPoolScheduler(2)


class TestObserveOnPool(PublisherVerification):
    """rxrand.observe_on: items hop to a pool thread, demand hops back (prefetch 4)."""

    quiet_seconds = 0.05

    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(n, seed=SEED).pipe(
            rxrand.observe_on(_POOL, prefetch=4), controlled()
        )

    def create_failed_publisher(self) -> Controlled[int]:
        return random_integers(3, seed=SEED).pipe(
            ops.map(_fail), rxrand.observe_on(_POOL), controlled()
        )

    def expected_elements(self, n: int) -> Sequence[int]:
        return _seeded_integers(n)


class TestSubscribeOnEventLoop(PublisherVerification):
    """rxrand.subscribe_on: the source subscribes and generates on another thread, on demand."""

    quiet_seconds = 0.05

    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(n, seed=SEED).pipe(
            rxrand.subscribe_on(EventLoopScheduler()), controlled()
        )

    def create_failed_publisher(self) -> Controlled[int]:
        return random_integers(3, seed=SEED).pipe(
            ops.map(_fail), rxrand.subscribe_on(EventLoopScheduler()), controlled()
        )

    def expected_elements(self, n: int) -> Sequence[int]:
        return _seeded_integers(n)


class TestShared(PublisherVerification):
    """rxrand.share() with one subscriber: a multicast still honours that subscriber's demand."""

    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(n, seed=SEED).pipe(rxrand.share(), controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return random_integers(3, seed=SEED).pipe(ops.map(_fail), rxrand.share(), controlled())

    def test_rule_1_11_each_subscription_has_its_own_demand(self) -> None:
        # A multicast on purpose: two subscriptions share one upstream, which goes at the
        # pace of the slower one (documented); each still gets no more than it asked for.
        publisher = self.publisher(20)
        first = self.subscribe(publisher)
        second = self.subscribe(publisher)
        first.request(2)
        second.request(10)
        self.settle()
        assert (len(first.items), len(second.items)) == (2, 2)
        first.request(8)
        self.settle()
        assert (len(first.items), len(second.items)) == (10, 10)
        assert first.items == second.items
        self.verify()

    def expected_elements(self, n: int) -> Sequence[int]:
        return _seeded_integers(n)


class TestEndlessRandomIntegersTakeN(PublisherVerification):
    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(seed=SEED).pipe(ops.take(n), controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return random_integers(seed=SEED).pipe(ops.map(_fail), ops.take(3), controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        # The seeded sequence does not depend on the count: a longer one starts the same.
        return _seeded_integers(n)


class TestMergedRandomIntegers(PublisherVerification):
    """Two pull sources behind one ``controlled()``: each pull is shared between them."""

    def create_publisher(self, n: int) -> Controlled[int]:
        return reactivex.merge(
            random_integers(n // 2, seed=SEED),
            random_integers(n - n // 2, seed=SEED + 1),
        ).pipe(controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        # The failing branch needs no demand to fail.
        return reactivex.merge(
            random_integers(3, seed=SEED), reactivex.throw(PublisherFailedError("merged"))
        ).pipe(controlled())


class TestNestedControlled(PublisherVerification):
    """A ``controlled()`` inside another one's chain forwards the outer demand to the source."""

    def create_publisher(self, n: int) -> Controlled[int]:
        return random_integers(n, seed=SEED).pipe(controlled(), ops.map(_increment), controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return random_integers(3, seed=SEED).pipe(ops.map(_fail), controlled(), controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return [value + 1 for value in _seeded_integers(n)]


# -- push sources ------------------------------------------------------------------------


class TestFromIterable(PublisherVerification):
    def create_publisher(self, n: int) -> Controlled[int]:
        return reactivex.from_iterable(range(n)).pipe(controlled())

    def create_failed_publisher(self) -> Controlled[int]:
        return reactivex.from_iterable(_fail(value) for value in range(1)).pipe(controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return range(n)


class TestRange(PublisherVerification):
    no_failed_publisher_reason = "reactivex.range(...) has no failure mode"

    def create_publisher(self, n: int) -> Controlled[int]:
        return reactivex.range(n).pipe(controlled())

    def expected_elements(self, n: int) -> Sequence[int]:
        return range(n)


class SubjectVerification(PublisherVerification):
    """A hot Subject per subscription, fed ``0..n-1`` once ``controlled()`` subscribed to it."""

    overflow: ClassVar[Overflow]
    #: Feed from a thread of its own (joined by ``settle``) rather than the subscribing thread.
    threaded: ClassVar[bool]

    def _fed_subject(self, n: int, error: Exception | None = None) -> Observable[int]:
        def subscribe(
            observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            subject: Subject[int] = Subject()
            link = subject.subscribe(observer)

            def feed() -> None:
                for value in range(n):
                    subject.on_next(value)
                if error is None:
                    subject.on_completed()
                else:
                    subject.on_error(error)

            if self.threaded:
                self.start_thread(feed, name="subject-feeder")
            else:
                feed()
            return link

        return reactivex.create(subscribe)

    def create_publisher(self, n: int) -> Controlled[int]:
        # A buffer for all n: the Subject pushes them whatever the demand.
        return self._fed_subject(n).pipe(controlled(capacity=max(n, 1), overflow=self.overflow))

    def create_failed_publisher(self) -> Controlled[int]:
        failed = self._fed_subject(0, PublisherFailedError("subject failed"))
        return failed.pipe(controlled(overflow=self.overflow))

    def expected_elements(self, n: int) -> Sequence[int]:
        return range(n)


class TestSubjectFedOnSubscribe(SubjectVerification):
    overflow = Overflow.ERROR
    threaded = False


class TestSubjectFedFromThread(SubjectVerification):
    overflow = Overflow.ERROR
    threaded = True
