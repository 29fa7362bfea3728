"""Thread hops that keep demand: ``rxrand.observe_on`` and ``rxrand.subscribe_on``.

reactivex's own ``ops.observe_on`` and ``ops.subscribe_on`` cannot carry the
demand channel: ``observe_on`` queues whatever arrives (unbounded) and
``subscribe_on`` subscribes the source with its own scheduler, so the source
never sees the request operator. Under ``controlled()`` they still work, in
push mode: what the source emits beyond demand waits in the request
operator's bounded buffer, and credit runs ahead of delivery by at most its
capacity (see ``_controlled``). These two keep real demand across the hop:

* :func:`observe_on` (RxJava's ``observeOn``/``publishOn``): items are
  emitted downstream on ``scheduler``; upstream is asked for at most
  ``prefetch`` items ahead and topped up when three quarters are used, so
  the source never runs more than ``prefetch`` items ahead of downstream
  demand;
* :func:`subscribe_on` (RxJava's ``subscribeOn`` with ``requestOn``): the
  subscription *and every request* run on ``scheduler``, so the source
  subscribes and generates there, only what downstream asked for.

Each is a :class:`~rxrand.core.channel.PullProducer` of the downstream channel
(its bursts are bracketed, so swallowed items are accounted as usual) and a
bulk subscriber of an inner ``controlled()`` upstream.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, TypeVar, final

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from ..core.buffer import Overflow
from ..core.channel import demand_channel_of
from ..core.demand import (
    DrainInbox,
    add_demand,
    positive_count,
    refuse_none_error,
    refuse_none_subscription,
)
from ..core.fusion import as_items
from ..core.producer import EMIT_BURST, Outlet, signals_of
from .controlled import Controlled, ControlledSubscription, refuse_subscriber_without_controlled

__all__ = ["observe_on", "subscribe_on"]

_T = TypeVar("_T")

DEFAULT_PREFETCH: Final = 128


def _outlet(
    observer: abc.ObserverBase[_T],
    subscribe_scheduler: abc.SchedulerBase | None,
    on_request: Callable[[int], None],
    on_stop: Callable[[], None],
) -> Outlet[_T]:
    """The downstream side of a hop, attached to the downstream demand channel if there is
    one; not yet open."""
    down = Outlet(signals_of(observer), on_request=on_request, on_stop=on_stop)
    down.attach(subscribe_scheduler)
    return down


@final
class _ObserveOn(Generic[_T]):
    """One subscription of :func:`observe_on`: a prefetch queue drained on the scheduler.

    The drain is claimed through a :class:`~rxrand.core.demand.DrainInbox` (RxJava's
    queue-drain, as in the request operator): whoever brings news (items, credit, the
    end) claims it, one drain runs at a time on the scheduler, and news that comes while
    it runs makes it look again. The queue is guarded by the inbox's lock.
    """

    def __init__(
        self,
        observer: abc.ObserverBase[_T],
        subscribe_scheduler: abc.SchedulerBase | None,
        scheduler: abc.SchedulerBase,
        prefetch: int,
    ) -> None:
        self._down = _outlet(observer, subscribe_scheduler, self._requested, self._cancel)
        self._scheduler = scheduler
        self._prefetch = prefetch
        self._limit = max(1, prefetch - prefetch // 4)
        self._queue: deque[_T] = deque()
        self._terminal: list[Exception | None] = []
        self._upstream: ControlledSubscription[_T] | None = None
        self._started = False
        self._consumed = 0
        self._inbox = DrainInbox()

    def open(self) -> abc.DisposableBase:
        """Downstream credit may come now (all of it, downstream of a plain observer)."""
        self._down.open()
        return Disposable(self._down.stop)

    # -- upstream: a bulk subscriber of controlled(capacity=prefetch) -----------------

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        if self._upstream is not None or self._terminal:
            subscription.cancel()  # rule 2.5: one upstream subscription
            return
        self._upstream = subscription
        if self._down.credit:
            self._start()

    def on_next(self, value: _T) -> None:
        self.on_next_batch([value])

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        with self._inbox.lock:
            self._queue.extend(as_items(batch))
        self._schedule()

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
        self._upstream = None  # rules 2.3/2.4: done; no top-up nor cancel reaches it now
        self._terminal.append(error)
        self._schedule()

    def on_completed(self) -> None:
        self._upstream = None  # as in on_error
        self._terminal.append(None)
        self._schedule()

    # -- downstream: the outlet's news --------------------------------------------------

    def _requested(self, n: int) -> None:
        self._start()
        self._schedule()

    def _start(self) -> None:
        upstream = self._upstream
        if not self._started and upstream is not None:
            self._started = True
            upstream.request(self._prefetch)

    def _cancel(self) -> None:
        upstream = self._upstream
        if upstream is not None:
            upstream.cancel()

    # -- the drain, on the scheduler --------------------------------------------------

    def _schedule(self) -> None:
        if self._inbox.claim():
            self._scheduler.schedule(self._drain)

    def _drain(self, _: abc.SchedulerBase, __: Any = None) -> None:
        down = self._down
        inbox = self._inbox
        queue = self._queue
        while True:
            while not down.stopped:
                with inbox.lock:
                    take = min(len(queue), down.credit, EMIT_BURST)
                    items = [queue.popleft() for _ in range(take)]
                if not take:
                    break
                down.spend(take)
                down.emit(items)
                self._consumed += take
                upstream = self._upstream
                if self._consumed >= self._limit and upstream is not None:
                    # Top up what was used, as RxJava's observeOn does at 3/4.
                    consumed, self._consumed = self._consumed, 0
                    upstream.request(consumed)
            if self._terminal and not down.stopped:
                with inbox.lock:
                    empty = not queue
                error = self._terminal[0]
                if error is not None or empty:
                    down.terminate(error)
            if inbox.release():
                return


@final
class _SubscribeOn(Generic[_T]):
    """One subscription of :func:`subscribe_on`: requests hop to the scheduler, items pass."""

    def __init__(
        self,
        observer: abc.ObserverBase[_T],
        subscribe_scheduler: abc.SchedulerBase | None,
        scheduler: abc.SchedulerBase,
    ) -> None:
        self._scheduler = scheduler
        self._upstream: ControlledSubscription[_T] | None = None
        self._early = 0
        # A scheduler may run each action on a thread of its own (NewThreadScheduler).
        self._lock = threading.Lock()
        self._down = _outlet(observer, subscribe_scheduler, self._requested, self._cancel)

    def open(self) -> abc.DisposableBase:
        """Downstream credit may come now (all of it, downstream of a plain observer)."""
        self._down.open()
        return Disposable(self._down.stop)

    @property
    def stopped(self) -> bool:
        """Downstream cancelled, or the stream ended."""
        return self._down.stopped

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        with self._lock:
            second = self._upstream is not None or self._down.stopped
            if not second:
                self._upstream = subscription
            early, self._early = self._early, 0
        if second:
            subscription.cancel()  # rule 2.5: one upstream subscription
            return
        if early:
            subscription.request(early)  # already on the scheduler

    def on_next(self, value: _T) -> None:
        self._deliver([value])

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        # Delivered on the scheduler, inside the request that asked for it. A copy: the
        # outlet's burst is its own (a cancel empties it), the batch is upstream's.
        self._deliver(list(as_items(batch)))

    def _deliver(self, items: list[_T]) -> None:
        self._down.spend(len(items))
        self._down.emit(items)

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
        self._let_go()
        self._down.terminate(error)

    def on_completed(self) -> None:
        self._let_go()
        self._down.terminate(None)

    def _let_go(self) -> None:
        """Rules 2.3/2.4: the upstream is done; a cancel from downstream must not reach it."""
        with self._lock:
            self._upstream = None

    def _requested(self, n: int) -> None:
        self._scheduler.schedule(self._request_here, n)

    def _request_here(self, _: abc.SchedulerBase, n: int | None) -> None:
        assert n is not None
        with self._lock:
            upstream = self._upstream
            if upstream is None:
                self._early = add_demand(self._early, n)
        if upstream is not None:
            upstream.request(n)

    def _cancel(self) -> None:
        upstream = self._upstream
        if upstream is not None:
            self._scheduler.schedule(lambda *_: upstream.cancel())


def _inner(scheduler: abc.SchedulerBase | None) -> abc.SchedulerBase | None:
    """The scheduler to subscribe upstream with: the one the downstream channel stands for."""
    channel = demand_channel_of(scheduler)
    return channel.inner if channel is not None else scheduler


def _check_scheduler(scheduler: object) -> None:
    if not isinstance(scheduler, abc.SchedulerBase):
        raise TypeError(f"scheduler must be a reactivex scheduler, got {type(scheduler).__name__}")


def observe_on(
    scheduler: abc.SchedulerBase, prefetch: int = DEFAULT_PREFETCH
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Emit on ``scheduler``, keeping demand: the source runs at most ``prefetch`` items ahead.

    ::

        source:   -a-b-c-d-e-|      (a pull source, on the subscribing thread)
        observe_on(pool, prefetch=2)
        output:   --a-b-c-d-e-|     (on a pool thread; upstream asked for 2, then topped up)

    Args:
        scheduler: Where items and terminal signals are delivered.
        prefetch: Most items asked of upstream ahead of downstream demand.

    Returns:
        An operator for ``Observable.pipe``.

    Raises:
        TypeError: prefetch is not an int, or scheduler not a scheduler.
        ValueError: prefetch < 1.
    """
    size = positive_count("prefetch", prefetch)
    _check_scheduler(scheduler)

    def operator(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            if demand_channel_of(subscribe_scheduler) is None and (
                refuse_subscriber_without_controlled(observer, "rxrand.observe_on")
            ):
                return Disposable()
            hop = _ObserveOn(observer, subscribe_scheduler, scheduler, size)
            disposable = hop.open()
            Controlled(source, size, Overflow.ERROR).subscribe(
                hop, scheduler=_inner(subscribe_scheduler)
            )
            return disposable

        return Observable(subscribe)

    return operator


def subscribe_on(scheduler: abc.SchedulerBase) -> Callable[[Observable[_T]], Observable[_T]]:
    """Subscribe, and request, on ``scheduler``: the source generates there, only on demand.

    ::

        source:   -a-b-c-|          (subscribed and pulled on a scheduler thread)
        subscribe_on(thread)
        output:   -a-b-c-|          (as requested, delivered from that thread)

    Args:
        scheduler: Where the subscription and every request run.

    Returns:
        An operator for ``Observable.pipe``.

    Raises:
        TypeError: scheduler is not a reactivex scheduler.
    """
    _check_scheduler(scheduler)

    def operator(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            if demand_channel_of(subscribe_scheduler) is None and (
                refuse_subscriber_without_controlled(observer, "rxrand.subscribe_on")
            ):
                return Disposable()
            hop = _SubscribeOn(observer, subscribe_scheduler, scheduler)
            disposable = hop.open()
            upstream = Controlled(source, EMIT_BURST, Overflow.ERROR)

            def subscribe_there(_: abc.SchedulerBase, __: Any = None) -> None:
                if not hop.stopped:
                    upstream.subscribe(hop, scheduler=scheduler)

            scheduler.schedule(subscribe_there)
            return disposable

        return Observable(subscribe)

    return operator
