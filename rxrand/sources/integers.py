"""Pull sources: ``random_integers``, the cold Observable of uniform random integers, and
``from_iterable``, real backpressure for any iterable or generator.

Both are built on :class:`PullEmitter`, one per subscription, which emits in
one of two ways:

* **pulled**, under a request operator (a :class:`~rxrand.core.channel.DemandChannel`
  came as the subscribe-time scheduler): it attaches to the channel and emits
  only against credit, in bursts bracketed by its credit link;
* **pushed**, anywhere else, like any cold Observable, but **one burst per
  scheduled action**: after each burst it reschedules itself on the scheduler
  it was given, so that a dispose queued on that same scheduler (what
  ``ops.subscribe_on`` does) always gets its turn, and an endless source can
  be stopped.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, Final, TypeVar, cast, final

import numpy as np

# Imported with this module: numpy 2 loads numpy.random lazily, on first use, which
# cost the server's first client about 10 ms before its first integer.
from numpy.random import default_rng
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable
from reactivex.scheduler import CurrentThreadScheduler

from ..core.channel import demand_channel_of
from ..core.demand import as_count, sub_demand
from ..core.producer import Producer, Signals, ignore, signals_of

__all__ = [
    "CHUNK_SIZE",
    "PULL_BURST",
    "FromIterable",
    "IntegerChunks",
    "PullEmitter",
    "RandomIntegers",
    "from_iterable",
    "random_integers",
]

_T = TypeVar("_T")

CHUNK_SIZE: Final = 8192
"""Integers are generated this many at a time (one numpy call), or fewer when fewer are left.

It bounds what is generated ahead of demand: at most one chunk per subscription.
"""

#: Most items a pull source emits in one burst (against credit). Each burst costs its
#: bracket (two locks in the request operator); a cancel still cuts a burst short at
#: the item being emitted, so a longer one delays nothing. 1024 rather than 256: 1-2 %
#: more items per second in the peers benchmark (CPython 3.12, 3.13).
PULL_BURST: Final = 1024

#: Most items one scheduled action pushes (no demand to count): a burst long
#: enough that rescheduling costs nothing per item, short enough that a
#: dispose queued on the same scheduler waits for at most this many.
PUSH_BURST: Final = 4096

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass; random_integers(True) is almost surely a mistake.
    number = as_count(value)
    if number is None:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return number


class PullEmitter(Producer[_T]):
    """One subscription of a pull source. Subclasses say what the next items are.

    Contract for subclasses: :meth:`next_items` returns at most ``n`` items,
    an empty list only at the end, and sets ``self.done`` when it knows that
    nothing follows (so that completion needs no further demand, rule 1.5).
    It raises when the source fails; or, having read some items before the
    failure, returns them and sets ``self.failure``: the error follows them
    at once, without further demand (rule 1.4).

    Credit, link, bracket and stop flag are the :class:`~rxrand.core.producer.Producer`'s;
    no lock: credit is granted by the request operator's drain and spent by the emit loop
    that runs inside that same ``request``.
    """

    __slots__ = ("_pushing", "done", "failure", "finite")

    def __init__(self, signals: Signals[_T]) -> None:
        super().__init__(signals)
        self._pushing = SerialDisposable()
        self.done = False
        self.failure: Exception | None = None
        #: Set by a subclass that knows its stream ends (see CreditLink.finite).
        self.finite = False

    def next_items(self, n: int) -> list[_T]:
        raise NotImplementedError

    # -- wiring ------------------------------------------------------------------

    def subscribe(self, scheduler: abc.SchedulerBase | None) -> abc.DisposableBase:
        """Start pulled (under a demand channel) or pushed; returns the subscription."""
        stop = Disposable(self.stop)
        if demand_channel_of(scheduler) is not None:
            if self.done:
                self.terminate(None)  # rule 1.5: an empty stream completes without demand
            elif self.attach(scheduler, finite=self.finite):
                self.open()
            return stop
        target = scheduler or CurrentThreadScheduler.singleton()
        # Scheduled, as reactivex's from_iterable does, so that the
        # subscription's disposable is in place before the first item.
        self._pushing.disposable = target.schedule(self._push_burst)
        return CompositeDisposable(self._pushing, stop)

    def _release(self) -> None:
        self._pushing.dispose()

    # -- pulled ------------------------------------------------------------------------

    def _on_credit(self) -> None:
        """Emit up to the credit, a burst at a time."""
        while self._credit > 0 and not self._stopped and not self.done:
            emitted = self._burst(min(self._credit, PULL_BURST))
            self._credit = sub_demand(self._credit, emitted)  # one call fewer than spend()
            if not emitted:
                break

    # -- pushed ------------------------------------------------------------------------

    def _push_burst(self, scheduler: abc.SchedulerBase, _: Any = None) -> None:
        if self._stopped:
            return
        try:
            self._burst(PUSH_BURST)
        except Exception as error:
            if not self.terminate(error):
                raise  # a terminal signal raised: nobody is left to tell
            return
        if not self._stopped:
            # Yield: the next burst queues behind whatever the scheduler holds.
            self._pushing.disposable = scheduler.schedule(self._push_burst)

    # -- both ----------------------------------------------------------------------

    def _burst(self, n: int) -> int:
        """Emit up to ``n`` items, and the end if they were the last; returns how many."""
        try:
            items = self.next_items(n)
        except Exception as error:
            # Signalled inside the bracket of an empty burst, as a completion would be.
            self.failure = error
            items = []
        if not items:
            self.done = True
        failure = self.failure
        if failure is not None:
            return self.emit(items, failure)  # rule 1.4, right after the items read before it
        if self.done:
            return self.emit(items, None)  # rule 1.5: no further demand needed
        return self.emit(items)


def _raise(error: Exception) -> None:
    raise error


class _PullObservable(Observable[_T]):
    """An Observable whose subscriptions are :class:`PullEmitter` s."""

    def emitter(self, signals: Signals[_T]) -> PullEmitter[_T]:
        raise NotImplementedError

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | abc.OnNext[_T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """As ``Observable.subscribe``; under a request operator, without a wrapper per item.

        reactivex wraps every observer in an ``AutoDetachObserver``, a call
        per item. Under a demand channel it is not needed: the emitter never
        signals after its terminal signal or after a dispose, and the
        request operator releases the chain when it ends. Elsewhere the
        ordinary path is kept. The emitter takes the three callbacks (reactivex's
        operators subscribe with callbacks), reactivex's defaults for the missing ones.
        """
        if demand_channel_of(scheduler) is None:
            return super().subscribe(on_next, on_error, on_completed, scheduler=scheduler)
        observer: Any = on_next
        if callable(getattr(observer, "on_next", None)):
            signals = signals_of(observer)
        else:
            signals = Signals(
                cast("Callable[[_T], None] | None", on_next) or ignore,
                on_error or _raise,
                on_completed or ignore,
            )
        return self.emitter(signals).subscribe(scheduler)

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self.emitter(signals_of(observer)).subscribe(scheduler)


# -- random_integers -------------------------------------------------------------------------


@final
class _Tally:
    """How many integers an Observable's subscriptions drew from numpy, in all."""

    __slots__ = ("generated", "streams")

    def __init__(self) -> None:
        self.generated = 0
        self.streams = 0


#: An empty array that holds no buffer: what a used-up or released chunk becomes.
_NO_INTEGERS: Final[np.ndarray[Any, np.dtype[np.int64]]] = np.empty(0, dtype=np.int64)


@functools.lru_cache(maxsize=64)
def _narrowest(low: int, high: int) -> type[np.signedinteger[Any]]:
    """The smallest signed integer type that holds [low, high] and the width high - low.

    Cached: it is asked once per subscription (per connection, on the server), and
    two ``np.iinfo`` cost about 3.5 us (timeit).
    """
    for kind in (np.int16, np.int32):
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max and high - low <= info.max:
            return kind
    return np.int64


@final
class IntegerChunks:
    """A sequence of integers on [low, high], generated a chunk at a time.

    The sequence depends only on the seed and the count, never on how it is
    consumed: every chunk has ``CHUNK_SIZE`` integers (the last one of a
    finite count only what is left), and readers take exact slices of it.
    """

    __slots__ = ("_array", "_dtype", "_high", "_left", "_low", "_pos", "_rng", "_tally")

    def __init__(
        self, low: int, high: int, seed: int | None, count: int | None, tally: _Tally
    ) -> None:
        self._rng = default_rng(seed)
        self._low = low
        self._high = high
        self._left = count  # not yet generated; None: endless
        self._tally = tally
        self._dtype = _narrowest(low, high)
        self._array: np.ndarray[Any, np.dtype[np.signedinteger[Any]]] = np.empty(0, dtype=np.int64)
        self._pos = 0

    @property
    def finite(self) -> bool:
        """Whether the sequence has a count (it ends)."""
        return self._left is not None

    @property
    def exhausted(self) -> bool:
        """Every integer of a finite count has been read."""
        return self._left == 0 and self._pos == len(self._array)

    def _refill(self) -> bool:
        size = CHUNK_SIZE if self._left is None else min(CHUNK_SIZE, self._left)
        if size == 0:
            return False
        drawn = self._rng.integers(self._low, self._high, size=size, dtype=np.int64, endpoint=True)
        # Drawn as int64 (the seeded sequence does not depend on the range's
        # width), held in the narrowest type the range allows: a connection
        # that waits on a slow reader keeps 16 KiB instead of 64 for the
        # default range.
        self._array = drawn if self._dtype is np.int64 else drawn.astype(self._dtype)
        if self._left is not None:
            self._left -= size
        self._tally.generated += size
        self._pos = 0
        return True

    def release(self) -> None:
        """Let go of the chunk in hand and of the generator: nothing more will be read."""
        self._array = _NO_INTEGERS
        self._left = 0
        self._pos = 0

    def next_list(self, n: int) -> list[int]:
        """The next integers as Python ints: at most n (stops at a chunk end); [] at the end."""
        if self._pos == len(self._array) and not self._refill():
            return []
        # Converted a burst at a time: a whole chunk of Python ints would be
        # about 300 KiB held per subscription.
        start = self._pos
        end = min(start + n, len(self._array))
        self._pos = end
        items: list[int] = self._array[start:end].tolist()
        return items

    def next_array(self, n: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The next ``min(n, left)`` integers as one int64 array; empty at the end.

        What is left of the chunk in hand comes first; the rest is drawn at once, in one
        call of the generator, not a chunk at a time. numpy's bounded integers are a
        stream that does not depend on how it is cut into calls, so the sequence is the
        same as the per-item path's: it depends only on the seed. No chunk is kept
        (a bulk consumer takes what it asked for), and the array is int64, the index type
        an encoding table takes without a conversion.
        """
        array, start = self._array, self._pos
        held = len(array) - start
        if held >= n:
            self._pos = start + n
            return array[start : start + n].astype(np.int64)
        size = n - held if self._left is None else min(n - held, self._left)
        # The chunk in hand is used up: let go of it (a view would keep its buffer alive).
        self._array = _NO_INTEGERS
        self._pos = 0
        if size <= 0:
            return array[start:].astype(np.int64)
        drawn = self._rng.integers(self._low, self._high, size=size, dtype=np.int64, endpoint=True)
        if self._left is not None:
            self._left -= size
        self._tally.generated += size
        if held:
            return np.concatenate((array[start:], drawn))
        return drawn


@final
class _IntegerEmitter(PullEmitter[int]):
    __slots__ = ("_chunks",)

    def __init__(self, signals: Signals[int], chunks: IntegerChunks) -> None:
        super().__init__(signals)
        self._chunks = chunks
        self.done = chunks.exhausted
        self.finite = chunks.finite

    def _release(self) -> None:
        super()._release()
        self._chunks.release()

    def next_items(self, n: int) -> list[int]:
        items = self._chunks.next_list(n)
        if self._chunks.exhausted:
            self.done = True
        return items


@final
class RandomIntegers(_PullObservable[int]):
    """The cold Observable returned by :func:`random_integers`; :class:`~rxrand.Fusable`."""

    def __init__(self, count: int | None, low: int, high: int, seed: int | None) -> None:
        self._count = count
        self._low = low
        self._high = high
        self._seed = seed
        self._tally = _Tally()
        super().__init__()

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

    @property
    def generated(self) -> int:
        """Integers drawn from numpy by all subscriptions so far (whole chunks)."""
        return self._tally.generated

    @property
    def streams(self) -> int:
        """Streams opened so far: one per subscription (pulled, pushed or fused)."""
        return self._tally.streams

    def new_chunks(self) -> IntegerChunks:
        """A fresh generator positioned at the start of this Observable's sequence."""
        self._tally.streams += 1
        return IntegerChunks(self._low, self._high, self._seed, self._count, self._tally)

    def emitter(self, signals: Signals[int]) -> PullEmitter[int]:
        return _IntegerEmitter(signals, self.new_chunks())

    def open_batches(self) -> IntegerBatches:
        """Fusable: this subscription's integers as numpy arrays (the fused path)."""
        return IntegerBatches(self.new_chunks(), self._low, self._high)

    def __repr__(self) -> str:
        return (
            f"random_integers({self._count!r}, low={self._low!r}, "
            f"high={self._high!r}, seed={self._seed!r})"
        )


@final
class IntegerBatches:
    """One subscription's random integers in bulk: a :class:`~rxrand.BatchSource` of arrays."""

    __slots__ = ("_chunks", "_closed", "high", "low", "taken")

    def __init__(self, chunks: IntegerChunks, low: int, high: int) -> None:
        self._chunks = chunks
        self._closed = False
        self.low = low
        self.high = high
        #: Integers handed out so far (generated on demand: never more).
        self.taken = 0

    @property
    def exhausted(self) -> bool:
        """No more integers will come: the count is reached, or it was closed."""
        return self._closed or self._chunks.exhausted

    def take(self, n: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The next ``min(n, left)`` integers; empty once exhausted."""
        if self._closed or n <= 0:
            return np.empty(0, dtype=np.int64)
        taken = self._chunks.next_array(n)
        self.taken += len(taken)
        return taken

    def close(self) -> None:
        """Cancel: nothing more is taken or generated; the chunk in hand is let go."""
        self._closed = True
        self._chunks.release()


def random_integers(
    count: int | None = None,
    *,
    low: int = 0,
    high: int = 10_000,
    seed: int | None = None,
) -> RandomIntegers:
    """A cold Observable of ``count`` uniform random integers on ``[low, high]``.

    Each subscription gets its own stream from the beginning. With a seed,
    every subscription yields the same sequence, whatever the demand pattern.
    Under :func:`rxrand.controlled` integers are emitted only as they are
    requested (numpy generates them a chunk at a time: at most one chunk
    ahead); a plain ``subscribe`` emits them all and completes, like any
    cold Observable, a burst of 4096 per scheduled action::

        random_integers(3, seed=1):  -a-b-c-|

    Args:
        count: How many integers; ``None`` means endless.
        low: Smallest value (inclusive).
        high: Largest value (inclusive), as in ``random.randint(low, high)``.
        seed: Makes the stream reproducible; ``None`` takes fresh entropy
            for every subscription.

    Returns:
        An ``Observable[int]`` (a :class:`RandomIntegers`).

    Raises:
        TypeError: an argument is not an integer (numpy integers are fine;
            ``bool`` is refused).
        ValueError: ``count`` or ``seed`` is negative, ``low > high``, or a
            bound does not fit in 64 bits.
    """
    if count is not None:
        count = _check_int("count", count)
        if count < 0:
            raise ValueError(f"count must be >= 0 or None, got {count}")
    low = _check_int("low", low)
    high = _check_int("high", high)
    if low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    if low < _INT64_MIN or high > _INT64_MAX:
        raise ValueError(f"low and high must fit in a signed 64-bit integer, got [{low}, {high}]")
    if seed is not None:
        seed = _check_int("seed", seed)
        if seed < 0:
            raise ValueError(f"seed must be >= 0 or None, got {seed}")
    return RandomIntegers(count, low, high, seed)


# -- from_iterable ----------------------------------------------------------------------------

_NOTHING: Final[Any] = object()


@final
class _IterableEmitter(PullEmitter[_T]):
    """Reads the iterator only against credit, one item ahead to know where it ends."""

    __slots__ = ("_ahead", "_iterator")

    def __init__(self, signals: Signals[_T], iterable: Iterable[_T]) -> None:
        super().__init__(signals)
        # A sized iterable says it is empty without being read (rule 1.5: an
        # empty stream completes without demand); a generator cannot.
        self.done = isinstance(iterable, Sized) and len(iterable) == 0
        self.finite = isinstance(iterable, Sized)
        self._iterator: Iterator[_T] = iter(iterable)
        self._ahead: Any = _NOTHING

    def next_items(self, n: int) -> list[_T]:
        items: list[_T] = []
        if self._ahead is not _NOTHING:
            items.append(self._ahead)
            self._ahead = _NOTHING
        try:
            items.extend(itertools.islice(self._iterator, n - len(items)))
            if len(items) < n:
                self.done = True
                return items
            # Rule 1.5: learn now whether this was the last, so that on_completed
            # needs no further request (like the reference's hasNext()).
            self._ahead = next(self._iterator, _NOTHING)
        except Exception as failure:
            if not items:
                raise
            # The items read before the failure go out first, then the error.
            self.failure = failure
            return items
        if self._ahead is _NOTHING:
            self.done = True
        return items


@final
class FromIterable(_PullObservable[_T]):
    """The Observable returned by :func:`from_iterable`."""

    def __init__(self, iterable: Iterable[_T]) -> None:
        self._iterable = iterable
        super().__init__()

    def emitter(self, signals: Signals[_T]) -> PullEmitter[_T]:
        return _IterableEmitter(signals, self._iterable)

    def __repr__(self) -> str:
        return f"from_iterable({self._iterable!r})"


def from_iterable(iterable: Iterable[_T]) -> FromIterable[_T]:
    """An Observable over ``iterable`` that reads it only as items are requested.

    Unlike ``reactivex.from_iterable``, which iterates to the end as soon as
    it is subscribed, this one is a pull source: under :func:`rxrand.controlled`
    the iterator (a generator, a file, ``itertools.count()``) is advanced only
    against demand, one item ahead so that completion needs no extra request.
    Each subscription calls ``iter(iterable)`` anew: a list or a range replays,
    a generator or an iterator is consumed once (give an object whose
    ``__iter__`` makes a new generator for a cold, replayable source). An
    empty sized iterable completes without demand; an empty generator
    completes at the first request, since only running it can tell.

    A sized iterable (a list, a range) is known to end: a stage that swallows
    its whole input (``count``, ``to_list``, ``last``...) is given all of it,
    and completes under ``request(1)``. A generator's end is unknown: such a
    stage parks it at demand + capacity, as for an endless source (wrap a
    generator of known length in a sized object, or request more).

    ::

        from_iterable(count()):   under request(2) ... request(1):  (0,1)---2

    Args:
        iterable: Anything ``iter()`` accepts.

    Returns:
        An ``Observable`` (a :class:`FromIterable`).

    Raises:
        TypeError: ``iterable`` is not iterable.
    """
    try:
        iter(iterable)
    except TypeError:
        raise TypeError(
            f"from_iterable() takes an iterable, got {type(iterable).__name__}"
        ) from None
    return FromIterable(iterable)
