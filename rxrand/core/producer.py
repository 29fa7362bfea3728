"""The producer base: one subscription's emitting side, written once for every producer.

Each producer in rxrand is one subscription that emits against credit: a pull source's
emitter (:class:`~rxrand.sources.integers.PullEmitter`), a producer that lives on an event
loop (:class:`~rxrand.sources.loop_producer.LoopProducer`), the downstream side of a thread
hop and each subscriber of ``share()`` (both an :class:`Outlet`). They keep the same four
things, and :class:`Producer` keeps them:

* **credit**, through :func:`~rxrand.core.demand.add_demand` and
  :func:`~rxrand.core.demand.sub_demand` (saturating at ``UNBOUNDED``, never decremented
  there);
* **the link**: the :class:`~rxrand.core.channel.CreditLink` of the request operator's
  demand channel when there is one (the producer is *pulled*), else :data:`NO_LINK`, whose
  bracket counts nothing (*pushed*, or a plain observer downstream);
* **the burst bracket** (:meth:`Producer.emit`): ``link.begin()``, the items, ``link.end(n)``
  with ``n`` the items whose ``on_next`` returned, counted from what is left when the loop
  stops early rather than per item (no counter on the per-item path);
* **the stop flag**, and **terminate-then-detach**: the one terminal signal first, then the
  link lets go (its credit returns to the owner), then the producer's resources.

Who writes the credit. :class:`Producer` takes no lock: its credit is granted and spent on
one thread at a time (a pull source: granted by the request operator's drain, spent by the
emit loop that runs inside that same ``request``). :class:`LockedProducer` is for credit
granted on one thread and spent on another (an event loop, a hop's scheduler, a shared
upstream): both under one lock, which may be shared (a share's members use their hub's).

The Reactive Streams rules implemented here (each number is also written beside its line):

====  ==========================================================================
1.1   a burst stays within credit: its caller sizes it from the credit, then spends it
1.3   signals go out on the producer's turn: one emit loop at a time (``_turn``)
1.4   a failure is signalled with ``on_error`` (:meth:`Producer.terminate`)
1.5   completion is signalled with ``on_completed``, needing no further demand
1.6   a terminal signal cancels: the link detaches after it
1.7   one terminal signal, and nothing after it (``_claim_stop``)
1.8   after a cancel, emission stops at the next item, even inside a burst
3.3   ``request`` from inside ``on_next`` does not recurse: the running turn sees the credit
3.5   ``stop`` is idempotent and takes no time worth waiting for
3.7   a second ``stop`` does nothing
3.8   credit is additive (``add_demand``)
3.13  a stopped producer lets go of its resources once (``_release``)
3.17  credit saturates at ``UNBOUNDED`` and is then never spent (``sub_demand``)
====  ==========================================================================
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from operator import length_hint as _length_hint
from typing import Any, Final, Generic, NamedTuple, TypeVar, final

from reactivex import abc

from .channel import CreditLink, demand_channel_of
from .demand import UNBOUNDED, add_demand, sub_demand

__all__ = [
    "EMIT_BURST",
    "MORE",
    "NO_LINK",
    "BurstEnd",
    "LockedProducer",
    "NoLink",
    "Outlet",
    "Producer",
    "Signals",
    "ignore",
    "signals_of",
]

_T = TypeVar("_T")

#: Most items one burst of a thread hop or a share emits, and what their request
#: operator upstream holds: small, so that a hop keeps few items in flight. (Pull
#: sources emit up to ``rxrand.sources.integers.PULL_BURST`` at a time.)
EMIT_BURST: Final = 256


@final
class NoLink:
    """The link of a producer that no demand channel counts: every call does nothing."""

    __slots__ = ()

    def start(self) -> None:
        return None

    def begin(self) -> None:
        return None

    def end(self, emitted: int) -> None:
        return None

    def dispose(self) -> None:
        return None


#: The one :class:`NoLink`.
NO_LINK: Final = NoLink()

_NO_ITEMS: Final[list[Any]] = []


def ignore(*_: object) -> None:
    """Where a signal goes once nobody listens (rule 3.13): one no-op for every callback."""


class _More(enum.Enum):
    """The end of a burst that is not the end of the stream."""

    MORE = enum.auto()


#: :meth:`Producer.emit`'s ``end`` when more may follow.
MORE: Final = _More.MORE

#: How a burst ends (:meth:`Producer.emit`'s ``end``): :data:`MORE` (items may follow),
#: ``None`` (completed) or the error that ends the stream.
BurstEnd = Exception | _More | None


class Signals(NamedTuple, Generic[_T]):
    """A subscriber's three signals, as the callables a producer calls.

    Callables and not an observer: reactivex's operators subscribe with callbacks, and an
    object around them would cost one more call per item.
    """

    on_next: Callable[[_T], None]
    on_error: Callable[[Exception], None]
    on_completed: Callable[[], None]


def signals_of(observer: abc.ObserverBase[_T]) -> Signals[_T]:
    """``observer``'s three signals (its bound methods)."""
    return Signals(observer.on_next, observer.on_error, observer.on_completed)


class Producer(Generic[_T]):
    """One subscription's emitting side: credit, link, burst bracket, stop flag.

    Subclasses fill in the hooks, each called on the producer's own terms:

    * :meth:`_on_credit`: credit came; emit what it allows. Called by :meth:`request` on the
      producer's turn, never re-entrantly: a ``request`` made from inside ``on_next`` only
      adds credit, so the hook re-reads the credit until it cannot go on;
    * :meth:`_release`: let go of resources; called once, at the first of a cancel and a
      terminal signal.
    """

    __slots__ = (
        "_burst_items",
        "_burst_left",
        "_burst_rest",
        "_busy",
        "_credit",
        "_link",
        "_on_completed",
        "_on_error",
        "_on_next",
        "_stopped",
    )

    def __init__(self, signals: Signals[_T]) -> None:
        self._on_next, self._on_error, self._on_completed = signals
        self._credit = 0
        self._link: CreditLink | NoLink = NO_LINK
        self._stopped = False
        self._busy = False
        # The burst in progress (its list and the iterator over it), so that a stop can cut
        # it short; and what was left of it when it was cut.
        self._burst_items: list[_T] = _NO_ITEMS
        self._burst_rest: Iterator[_T] | None = None
        self._burst_left = 0

    @property
    def credit(self) -> int:
        """Credit granted and not yet spent (``UNBOUNDED``: no limit)."""
        return self._credit

    @property
    def stopped(self) -> bool:
        """Cancelled, or terminated: nothing more goes out."""
        return self._stopped

    # -- wiring ------------------------------------------------------------------------------

    def attach(self, scheduler: abc.SchedulerBase | None, *, finite: bool = False) -> bool:
        """Attach to the demand channel ``scheduler`` is, if it is one; True if attached.

        No credit comes before :meth:`open`. ``finite``: the producer knows that it ends
        (see :attr:`~rxrand.core.channel.CreditLink.finite`).
        """
        channel = demand_channel_of(scheduler)
        if channel is None:
            return False
        self._link = channel.attach(self, finite=finite)
        return True

    def open(self) -> None:
        """The producer is ready for credit: its channel's, which may come before this
        returns; without a channel (a plain observer downstream), unbounded credit at once."""
        link = self._link
        if link is NO_LINK:
            self.request(UNBOUNDED)
        else:
            link.start()

    # -- credit ------------------------------------------------------------------------------

    def request(self, n: int) -> None:
        """PullProducer: add ``n`` to the credit, then emit what it allows on this turn."""
        self._grant(n)
        self._turn()

    def _grant(self, n: int) -> None:
        self._credit = add_demand(self._credit, n)  # rules 3.8, 3.17

    def spend(self, n: int) -> None:
        """``n`` items went out: take them off the credit (unbounded credit stays so)."""
        self._credit = sub_demand(self._credit, n)  # rule 3.17

    def _turn(self) -> None:
        """Run :meth:`_on_credit`, unless it is running on this stack already."""
        if self._busy:
            return  # rule 3.3: the running turn re-reads the credit
        self._busy = True  # rule 1.3: one emit loop at a time
        try:
            self._on_credit()
        finally:
            self._busy = False

    def _on_credit(self) -> None:
        return None

    # -- signals -----------------------------------------------------------------------------

    def emit(self, items: list[_T], end: Exception | _More | None = MORE) -> int:
        """Send ``items`` to ``on_next`` as one burst; returns how many ``on_next`` took.

        The caller keeps the burst within credit (rule 1.1) and spends what this returns;
        ``items`` is the producer's to empty (a stop cuts the burst short by emptying it).
        A stop, from inside ``on_next`` or from another thread, ends the burst after the
        item being emitted; an item whose ``on_next`` raised is not counted, and the error
        propagates after the bracket ends.
        ``end``: these are the last items; the terminal signal (``None``: completed) goes
        out after them, inside the bracket, so that what it sets off (a ``concat``
        subscribing its next source) belongs to this burst.
        """
        link = self._link
        link.begin()
        on_next = self._on_next
        sent = total = len(items) if not self._stopped else 0
        rest = iter(items)
        # A burst may start inside another of this producer's (a share member's subscriber
        # asks for more from inside on_next, and upstream delivers at once): kept aside,
        # and cut on the way out if a stop came meanwhile.
        outer_items, outer_rest, outer_left = self._burst_items, self._burst_rest, self._burst_left
        self._burst_items = items
        self._burst_rest = rest
        self._burst_left = 0
        try:
            try:
                if total:
                    # No per-item check of the stop flag (about 55 machine instructions per
                    # item, callgrind, CPython 3.11 and 3.12): a stop empties the list under
                    # this loop (_cut), and the list iterator ends after the current item.
                    for value in rest:
                        on_next(value)
                    sent = total - self._burst_left  # rules 1.8, 3.12
            except BaseException:
                sent = total - self._burst_left - _length_hint(rest) - 1
                raise
            finally:
                self._burst_items, self._burst_rest = outer_items, outer_rest
                self._burst_left = outer_left
                if outer_items and self._stopped:
                    self._cut()
            if end is not MORE:
                self._signal_end(end)
        finally:
            link.end(sent)
            if self._stopped:
                link.dispose()  # rule 1.6: after the burst's count, so the owner has it first
        return sent

    def _cut(self) -> None:
        """Stopped: the burst in progress (if any) ends after the item being emitted."""
        rest = self._burst_rest
        if rest is not None:
            self._burst_left = _length_hint(rest)
            self._burst_items.clear()

    def terminate(self, error: Exception | None) -> bool:
        """Signal the end (``None``: completed), then detach; False if stopped already."""
        if not self._signal_end(error):
            return False
        self._link.dispose()  # rule 1.6: terminated is cancelled; the credit link lets go
        return True

    def _signal_end(self, error: Exception | None) -> bool:
        """The one terminal signal, without the detach (inside a burst, its end detaches)."""
        if not self._claim_stop():
            return False  # rule 1.7: one terminal signal; none after a cancel
        try:
            if error is None:
                self._on_completed()  # rule 1.5
            else:
                self._on_error(error)  # rule 1.4
        finally:
            self._release()  # rule 3.13
        return True

    def stop(self) -> None:
        """Cancel (any thread): nothing more goes out; the link detaches, resources go."""
        if not self._claim_stop():
            return  # rule 3.7
        self._link.dispose()
        self._release()  # rule 3.13

    def _claim_stop(self) -> bool:
        """Set the stop flag, and cut the burst in progress; True for the caller that set it."""
        if self._stopped:
            return False
        self._stopped = True
        self._cut()
        return True

    def _release(self) -> None:
        return None


class LockedProducer(Producer[_T]):
    """A producer whose credit is granted on one thread and spent on another, under a lock.

    ``lock`` guards the credit and the stop flag; pass one to share it (a share's members
    use their hub's, so that the hub reads every member's credit at once). Subclasses read
    and write both under ``self._lock``.
    """

    __slots__ = ("_lock",)

    def __init__(self, signals: Signals[_T], lock: threading.Lock | None = None) -> None:
        super().__init__(signals)
        self._lock = lock if lock is not None else threading.Lock()

    def _grant(self, n: int) -> None:
        with self._lock:
            self._credit = add_demand(self._credit, n)  # rules 3.8, 3.17

    def spend(self, n: int) -> None:
        with self._lock:
            self._credit = sub_demand(self._credit, n)  # rule 3.17

    def spend_locked(self, n: int) -> None:
        """:meth:`spend`, for a caller that holds the lock already."""
        self._credit = sub_demand(self._credit, n)

    def _claim_stop(self) -> bool:
        with self._lock:
            if self._stopped:
                return False
            self._stopped = True
        self._cut()
        return True


@final
class Outlet(LockedProducer[_T]):
    """A producer fed from elsewhere: the downstream side of a thread hop, a share's member.

    Whoever feeds it reads :attr:`credit`, spends it and calls :meth:`emit`; it learns of
    new credit through ``on_request(n)`` (called after the credit is added, on the
    requesting thread) and of a cancel through ``on_stop()`` (once, also after a terminal
    signal).
    """

    __slots__ = ("_on_request", "_on_stop")

    def __init__(
        self,
        signals: Signals[_T],
        *,
        on_request: Callable[[int], None],
        on_stop: Callable[[], None] = ignore,
        lock: threading.Lock | None = None,
    ) -> None:
        super().__init__(signals, lock)
        self._on_request = on_request
        self._on_stop = on_stop

    def request(self, n: int) -> None:
        self._grant(n)
        self._on_request(n)

    def _release(self) -> None:
        self._on_stop()
