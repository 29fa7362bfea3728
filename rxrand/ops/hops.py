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
from ..core.channel import CreditLink, demand_channel_of, emit_burst
from ..core.demand import (
    UNBOUNDED,
    add_demand,
    positive_count,
    refuse_none_error,
    refuse_none_subscription,
)
from ..core.fusion import as_items
from ..sources.integers import EMIT_BURST
from .controlled import Controlled, ControlledSubscription, refuse_subscriber_without_controlled

__all__ = ["observe_on", "subscribe_on"]

_T = TypeVar("_T")

DEFAULT_PREFETCH: Final = 128


class _Downstream(Generic[_T]):
    """The downstream half of a hop: its observer, its credit, its link to the channel."""

    def __init__(self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None):
        self.observer = observer
        channel = demand_channel_of(scheduler)
        self.link: CreditLink | None = None
        self.channel = channel
        #: Downstream credit not yet used (UNBOUNDED with no channel: a plain observer).
        self.credit = 0 if channel is not None else UNBOUNDED
        self.lock = threading.Lock()
        self.done = False

    def attach(self, producer: Any) -> None:
        if self.channel is not None:
            self.link = self.channel.attach(producer)
            self.link.start()

    def emit(self, items: Sequence[_T]) -> None:
        """Send ``items`` downstream as one burst (the caller keeps them within credit)."""
        emit_burst(self.link, self.observer.on_next, items, self.is_done)

    def is_done(self) -> bool:
        return self.done

    def terminate(self, error: Exception | None) -> None:
        if self.done:
            return
        self.done = True
        if error is None:
            self.observer.on_completed()
        else:
            self.observer.on_error(error)
        self.detach()

    def detach(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            link.dispose()


@final
class _ObserveOn(Generic[_T]):
    """One subscription of :func:`observe_on`: a prefetch queue drained on the scheduler."""

    def __init__(
        self,
        downstream: _Downstream[_T],
        scheduler: abc.SchedulerBase,
        prefetch: int,
    ) -> None:
        self._down = downstream
        self._scheduler = scheduler
        self._prefetch = prefetch
        self._limit = max(1, prefetch - prefetch // 4)
        self._queue: deque[_T] = deque()
        self._terminal: list[Exception | None] = []
        self._upstream: ControlledSubscription[_T] | None = None
        self._started = False
        self._consumed = 0
        self._lock = threading.Lock()
        self._wip = 0

    # -- upstream: a bulk subscriber of controlled(capacity=prefetch) -----------------

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        if self._upstream is not None or self._terminal:
            subscription.cancel()  # rule 2.5: one upstream subscription
            return
        self._upstream = subscription
        if self._down.channel is None or self._down.credit:
            self._start()

    def on_next(self, value: _T) -> None:
        self.on_next_batch([value])

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        with self._lock:
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

    # -- downstream: a pull producer of the downstream channel ------------------------

    def request(self, n: int) -> None:
        with self._down.lock:
            self._down.credit = add_demand(self._down.credit, n)
        self._start()
        self._schedule()

    def _start(self) -> None:
        upstream = self._upstream
        if not self._started and upstream is not None:
            self._started = True
            upstream.request(self._prefetch)

    def dispose(self) -> None:
        self._down.done = True
        upstream = self._upstream
        if upstream is not None:
            upstream.cancel()
        self._down.detach()

    # -- the drain, on the scheduler --------------------------------------------------

    def _schedule(self) -> None:
        with self._lock:
            self._wip += 1
            if self._wip > 1:
                return
        self._scheduler.schedule(self._drain)

    def _drain(self, _: abc.SchedulerBase, __: Any = None) -> None:
        down = self._down
        while True:
            while not down.done:
                with self._lock:
                    queued = len(self._queue)
                with down.lock:
                    credit = down.credit
                if not queued or not credit:
                    break
                take = min(queued, credit, EMIT_BURST)
                with self._lock:
                    items = [self._queue.popleft() for _ in range(take)]
                if credit < UNBOUNDED:
                    with down.lock:
                        down.credit -= take
                down.emit(items)
                self._consumed += take
                upstream = self._upstream
                if self._consumed >= self._limit and upstream is not None:
                    # Top up what was used, as RxJava's observeOn does at 3/4.
                    consumed, self._consumed = self._consumed, 0
                    upstream.request(consumed)
            if self._terminal and not down.done:
                with self._lock:
                    empty = not self._queue
                error = self._terminal[0]
                if error is not None or empty:
                    down.terminate(error)
            with self._lock:
                self._wip -= 1
                if self._wip == 0:
                    return
                self._wip = 1


@final
class _SubscribeOn(Generic[_T]):
    """One subscription of :func:`subscribe_on`: requests hop to the scheduler, items pass."""

    def __init__(self, downstream: _Downstream[_T], scheduler: abc.SchedulerBase) -> None:
        self._down = downstream
        self._scheduler = scheduler
        self._upstream: ControlledSubscription[_T] | None = None
        self._early = 0
        # A scheduler may run each action on a thread of its own (NewThreadScheduler).
        self._lock = threading.Lock()

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        with self._lock:
            second = self._upstream is not None or self._down.done
            if not second:
                self._upstream = subscription
            early = self._early if self._down.channel is not None else UNBOUNDED
        if second:
            subscription.cancel()  # rule 2.5: one upstream subscription
            return
        if early:
            subscription.request(early)  # already on the scheduler

    def on_next(self, value: _T) -> None:
        self._down.emit([value])

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        # Delivered on the scheduler, inside the request that asked for it.
        self._down.emit(as_items(batch))

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

    def request(self, n: int) -> None:
        self._scheduler.schedule(self._request_here, n)

    def _request_here(self, _: abc.SchedulerBase, n: int | None) -> None:
        assert n is not None
        with self._lock:
            upstream = self._upstream
            if upstream is None:
                self._early = add_demand(self._early, n)
        if upstream is not None:
            upstream.request(n)

    def dispose(self) -> None:
        self._down.done = True
        upstream = self._upstream
        if upstream is not None:
            self._scheduler.schedule(lambda *_: upstream.cancel())
        self._down.detach()


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
            down: _Downstream[_T] = _Downstream(observer, subscribe_scheduler)
            hop = _ObserveOn(down, scheduler, size)
            down.attach(hop)
            inner = down.channel.inner if down.channel is not None else subscribe_scheduler
            Controlled(source, size, Overflow.ERROR).subscribe(hop, scheduler=inner)
            return Disposable(hop.dispose)

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
            down: _Downstream[_T] = _Downstream(observer, subscribe_scheduler)
            hop = _SubscribeOn(down, scheduler)
            down.attach(hop)
            upstream = Controlled(source, EMIT_BURST, Overflow.ERROR)

            def subscribe_there(_: abc.SchedulerBase, __: Any = None) -> None:
                if not down.done:
                    upstream.subscribe(hop, scheduler=scheduler)

            scheduler.schedule(subscribe_there)
            return Disposable(hop.dispose)

        return Observable(subscribe)

    return operator
