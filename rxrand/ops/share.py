"""``rxrand.share()``: multicast with demand, at the pace of the slowest subscriber.

reactivex's ``ops.share()`` subscribes its source once, with the scheduler of
whoever subscribed first: under ``controlled()`` that is the first
subscriber's demand channel, so later subscribers get items only when the
first one asks, and nothing once it cancels. ``rxrand.share()`` keeps
Reactive Streams demand for every subscriber instead (RxJava's
``publish().refCount()``):

* the source is subscribed once, when the first subscriber comes, and
  cancelled when the last one leaves;
* it is asked for items only as far as *every* subscriber has credit: the
  demand upstream is the minimum over subscribers (a plain reactivex
  observer counts as unbounded);
* each item goes to every subscriber present when it arrives (hot: a late
  subscriber gets what comes after it joined).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, final

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from ..core.buffer import Overflow
from ..core.channel import CreditLink, demand_channel_of, emit_burst
from ..core.demand import UNBOUNDED, add_demand, refuse_none_error, refuse_none_subscription
from ..core.fusion import as_items
from ..sources.integers import EMIT_BURST
from .controlled import Controlled, ControlledSubscription, refuse_subscriber_without_controlled

__all__ = ["share"]

_T = TypeVar("_T")


@final
class _Member(Generic[_T]):
    """One subscriber of the shared stream: its observer, its credit, its channel link."""

    def __init__(self, hub: _Hub[_T], observer: abc.ObserverBase[_T]) -> None:
        self.hub = hub
        self.observer = observer
        self.credit = 0
        self.link: CreditLink | None = None
        self.gone = False

    def request(self, n: int) -> None:
        """PullProducer: the subscriber's channel grants credit."""
        with self.hub.lock:
            self.credit = add_demand(self.credit, n)
        self.hub.pump()

    def emit(self, items: Sequence[_T]) -> None:
        emit_burst(self.link, self.observer.on_next, items, self.is_gone)

    def is_gone(self) -> bool:
        return self.gone

    def leave(self) -> None:
        if not self.gone:
            self.gone = True
            link, self.link = self.link, None
            if link is not None:
                link.dispose()
            self.hub.leave(self)


@final
class _Hub(Generic[_T]):
    """The one upstream subscription and the members it feeds."""

    def __init__(self, share: _Shared[_T]) -> None:
        self.share = share
        self.lock = threading.Lock()
        self.members: list[_Member[_T]] = []
        self.upstream: ControlledSubscription[_T] | None = None
        #: Items asked of upstream and not yet arrived.
        self.outstanding = 0
        self.pumping = False
        #: Its last member left, or upstream ended: nobody may join it any more.
        self.closed = False

    # -- members -----------------------------------------------------------------------

    def join(self, member: _Member[_T]) -> bool:
        """Add ``member``; False if the hub closed meanwhile (the caller makes a new one)."""
        with self.lock:
            if self.closed:
                return False
            self.members.append(member)
            return True

    def leave(self, member: _Member[_T]) -> None:
        with self.lock:
            if member in self.members:
                self.members.remove(member)
            last = not self.members
            upstream = self.upstream if last else None
            if last:
                self.upstream = None
                self.closed = True
        if last:
            self.share.forget_hub(self)  # after our lock: the share's is taken first elsewhere
        if upstream is not None:
            upstream.cancel()
        elif not last:
            self.pump()  # the slowest may have left

    def pump(self) -> None:
        """Ask upstream for what every member can take and has not been asked for yet."""
        with self.lock:
            upstream = self.upstream
            if upstream is None or not self.members:
                return
            floor = min(member.credit for member in self.members)
            want = floor - self.outstanding if floor < UNBOUNDED else EMIT_BURST
            if floor >= UNBOUNDED and self.outstanding >= EMIT_BURST:
                want = 0
            if want <= 0:
                return
            self.outstanding += want
        upstream.request(want)

    # -- upstream: a bulk subscriber of controlled() ----------------------------------------

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        with self.lock:
            second = self.upstream is not None
            if not second:
                self.upstream = subscription
        if second:
            subscription.cancel()  # rule 2.5: one upstream subscription

    def on_next(self, value: _T) -> None:
        self.on_next_batch([value])

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        items = as_items(batch)
        with self.lock:
            self.outstanding -= len(items)
            members = list(self.members)
            for member in members:
                if member.credit < UNBOUNDED:
                    member.credit -= len(items)
        for member in members:
            member.emit(items)
        self.pump()

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
        for member in self._end():
            member.observer.on_error(error)

    def on_completed(self) -> None:
        for member in self._end():
            member.observer.on_completed()

    def _end(self) -> list[_Member[_T]]:
        with self.lock:
            members, self.members = self.members, []
            self.upstream = None
            self.closed = True
        self.share.forget_hub(self)
        for member in members:
            member.gone = True
            link, member.link = member.link, None
            if link is not None:
                link.dispose()
        return members


@final
class _Shared(Observable[_T]):
    def __init__(self, source: Observable[_T]) -> None:
        super().__init__()
        self._source = source
        self._hub: _Hub[_T] | None = None
        self._lock = threading.Lock()

    def forget_hub(self, hub: _Hub[_T]) -> None:
        """``hub`` is over (its last member left, or upstream ended): the next subscriber
        connects anew, as ``share()`` does after the last one left."""
        with self._lock:
            if self._hub is hub:
                self._hub = None

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        if demand_channel_of(scheduler) is None and refuse_subscriber_without_controlled(
            observer, "rxrand.share"
        ):
            return Disposable()
        channel = demand_channel_of(scheduler)
        with self._lock:
            # Joined under the share's lock: a hub whose last member just left (closed,
            # not yet forgotten) is replaced, never joined.
            hub = self._hub
            first = hub is None or hub.closed
            if first:
                hub = self._hub = _Hub(self)
            assert hub is not None
            member = _Member(hub, observer)
            if channel is None:
                member.credit = UNBOUNDED
            if not hub.join(member):
                hub = self._hub = _Hub(self)
                first = True
                member = _Member(hub, observer)
                if channel is None:
                    member.credit = UNBOUNDED
                hub.join(member)
        if channel is not None:
            member.link = channel.attach(member)
        if first:
            inner = channel.inner if channel is not None else scheduler
            Controlled(self._source, EMIT_BURST, Overflow.ERROR).subscribe(hub, scheduler=inner)
        if member.link is not None:
            member.link.start()
        else:
            hub.pump()
        return Disposable(member.leave)


def share() -> Callable[[Observable[_T]], Observable[_T]]:
    """Multicast ``source`` with demand: upstream goes at the pace of the slowest subscriber.

    ::

        source:        -a-b-c-d-|      (a pull source, subscribed once)
        subscriber 1:  request(3) ... request(1)
        subscriber 2:  request(2) ... request(9)
        both get:      a, b, then c, d once both asked for them

    Returns:
        An operator for ``Observable.pipe``.
    """

    def operator(source: Observable[_T]) -> Observable[_T]:
        return _Shared(source)

    return operator
