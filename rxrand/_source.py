"""``random_integers``: the cold Observable of uniform random integers."""

from __future__ import annotations

from typing import Any, Final, cast, final

import numpy as np
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler import CurrentThreadScheduler

from ._channel import demand_channel_of

__all__ = ["CHUNK_SIZE", "RandomIntegers", "random_integers"]

#: Integers are generated this many at a time (one numpy call). It is the
#: bound on what is generated ahead of demand: at most one chunk.
CHUNK_SIZE: Final = 8192

#: Most items one produce() call emits in push mode. Kept at 256 on purpose:
#: CPython caches the ints up to 256, so counting a burst allocates nothing.
EMIT_BURST: Final = 256

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass; random_integers(True) is almost surely a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


@final
class IntegerChunks:
    """An endless sequence of integers on [low, high], generated a chunk at a time.

    The sequence depends only on the seed, never on how it is consumed: every
    chunk has ``CHUNK_SIZE`` integers, and readers take exact slices of it.
    """

    __slots__ = ("_array", "_high", "_list", "_low", "_pos", "_rng")

    def __init__(self, low: int, high: int, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)
        self._low = low
        self._high = high
        self._array: np.ndarray[Any, np.dtype[np.int64]] = np.empty(0, dtype=np.int64)
        self._list: list[int] | None = []
        self._pos = 0

    def _refill(self) -> None:
        self._array = self._rng.integers(
            self._low, self._high, size=CHUNK_SIZE, dtype=np.int64, endpoint=True
        )
        self._list = None
        self._pos = 0

    def next_list(self, n: int) -> list[int]:
        """The next integers as Python ints: at least 1, at most n (stops at a chunk end)."""
        if self._pos == len(self._array):
            self._refill()
        items = self._list
        if items is None:
            items = self._list = self._array.tolist()
        start = self._pos
        end = min(start + n, len(items))
        self._pos = end
        return items[start:end]

    def next_array(self, n: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The next integers as an int64 array: at least 1, at most n (stops at a chunk end)."""
        if self._pos == len(self._array):
            self._refill()
        start = self._pos
        end = min(start + n, len(self._array))
        self._pos = end
        return self._array[start:end]


@final
class _Emitter:
    """One subscription's integers: pushed in a loop, or pulled through a demand channel."""

    __slots__ = ("_chunks", "_completed", "_observer", "_remaining", "_stopped")

    def __init__(self, observer: abc.ObserverBase[int], chunks: IntegerChunks, count: int | None):
        self._observer = observer
        self._chunks = chunks
        self._remaining = count
        self._stopped = False
        self._completed = False

    def stop(self) -> None:
        self._stopped = True

    def complete_if_done(self) -> bool:
        if self._remaining == 0 and not self._completed:
            self._completed = True
            self._observer.on_completed()
        return self._completed

    def produce(self, n: int) -> int:
        """PullProducer: emit up to n integers, completing as soon as the count is reached."""
        emitted = 0
        on_next = self._observer.on_next
        chunks = self._chunks
        while emitted < n and not self._stopped:
            remaining = self._remaining
            if remaining is not None:
                if remaining == 0:
                    break
                want = min(n - emitted, remaining)
            else:
                want = n - emitted
            batch = chunks.next_list(want)
            if remaining is not None:
                self._remaining = remaining - len(batch)
            for value in batch:
                # Rule 3.12/3.13 upstream: a dispose from inside on_next stops
                # at this item, not at the end of the batch. (mypy cannot see
                # that on_next may set the flag.)
                if self._stopped:
                    return emitted  # type: ignore[unreachable]
                on_next(value)
                emitted += 1
        if not self._stopped:
            self.complete_if_done()
        return emitted

    def run(self) -> None:
        """Push mode: emit everything (or until disposed), like any cold Observable."""
        try:
            while not self._stopped and not self._completed:
                self.produce(EMIT_BURST)
        except Exception as error:
            self._stopped = True
            self._observer.on_error(error)


def _raise(error: Exception) -> None:
    raise error


def _ignore(*_: object) -> None:
    return None


@final
class _Callbacks:
    """An observer made of callbacks (reactivex's defaults when one is missing)."""

    __slots__ = ("on_completed", "on_error", "on_next")

    def __init__(
        self,
        on_next: abc.OnNext[int] | None,
        on_error: abc.OnError | None,
        on_completed: abc.OnCompleted | None,
    ) -> None:
        self.on_next = on_next or _ignore
        self.on_error = on_error or _raise
        self.on_completed = on_completed or _ignore


@final
class RandomIntegers(Observable[int]):
    """The cold Observable returned by :func:`random_integers`."""

    def __init__(self, count: int | None, low: int, high: int, seed: int | None) -> None:
        self._count = count
        self._low = low
        self._high = high
        self._seed = seed
        super().__init__(self._subscribe_integers)

    @property
    def low(self) -> int:
        return self._low

    @property
    def high(self) -> int:
        return self._high

    @property
    def length(self) -> int | None:
        """How many integers each subscription gets (``None``: endless)."""
        return self._count

    def new_chunks(self) -> IntegerChunks:
        """A fresh generator positioned at the start of this Observable's sequence."""
        return IntegerChunks(self._low, self._high, self._seed)

    def subscribe(
        self,
        on_next: abc.ObserverBase[int] | abc.OnNext[int] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """As ``Observable.subscribe``; under a request operator, without a wrapper per item.

        reactivex wraps every observer in an ``AutoDetachObserver``, a call
        per integer. Under a demand channel it is not needed: the emitter
        never signals after its terminal signal or after a dispose, and the
        request operator releases the chain when it ends. Elsewhere the
        ordinary path is kept.
        """
        if demand_channel_of(scheduler) is None:
            return super().subscribe(on_next, on_error, on_completed, scheduler=scheduler)
        observer: Any = on_next
        if not callable(getattr(observer, "on_next", None)):
            observer = _Callbacks(cast("abc.OnNext[int] | None", on_next), on_error, on_completed)
        return self._subscribe_integers(observer, scheduler)

    def _subscribe_integers(
        self, observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        emitter = _Emitter(observer, self.new_chunks(), self._count)
        stop = Disposable(emitter.stop)
        channel = demand_channel_of(scheduler)
        if channel is not None:
            # Pull mode: nothing is generated until the channel pulls.
            if emitter.complete_if_done():
                return stop
            return CompositeDisposable(channel.attach(emitter), stop)

        def action(_: abc.SchedulerBase, __: Any = None) -> None:
            emitter.run()

        # Scheduled on the trampoline, as reactivex's from_iterable does, so
        # that the subscription's disposable is in place before the first
        # item: ops.take(n) can then stop an endless stream.
        target = scheduler or CurrentThreadScheduler.singleton()
        return CompositeDisposable(target.schedule(action), stop)

    def __repr__(self) -> str:
        return (
            f"random_integers({self._count!r}, low={self._low!r}, "
            f"high={self._high!r}, seed={self._seed!r})"
        )


def random_integers(
    count: int | None = None,
    *,
    low: int = 0,
    high: int = 10_000,
    seed: int | None = None,
) -> Observable[int]:
    """A cold Observable of ``count`` uniform random integers on ``[low, high]``.

    Each subscription gets its own stream from the beginning. With a seed,
    every subscription yields the same sequence, whatever the demand pattern.
    Under :func:`rxrand.controlled` integers are generated only as they are
    requested (at most one chunk of ``CHUNK_SIZE`` ahead); a plain
    ``subscribe`` emits them all and completes, like any cold Observable::

        random_integers(3, seed=1):  -a-b-c-|

    Args:
        count: How many integers; ``None`` means endless.
        low: Smallest value (inclusive).
        high: Largest value (inclusive), as in ``random.randint(low, high)``.
        seed: Makes the stream reproducible; ``None`` takes fresh entropy
            for every subscription.

    Returns:
        An ``Observable[int]``.

    Raises:
        TypeError: an argument is not an int (``bool`` is refused too).
        ValueError: ``count`` or ``seed`` is negative, ``low > high``, or a
            bound does not fit in 64 bits.
    """
    if count is not None and _check_int("count", count) < 0:
        raise ValueError(f"count must be >= 0 or None, got {count}")
    _check_int("low", low)
    _check_int("high", high)
    if low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    if low < _INT64_MIN or high > _INT64_MAX:
        raise ValueError(f"low and high must fit in a signed 64-bit integer, got [{low}, {high}]")
    if seed is not None and _check_int("seed", seed) < 0:
        raise ValueError(f"seed must be >= 0 or None, got {seed}")
    return RandomIntegers(count, low, high, seed)
