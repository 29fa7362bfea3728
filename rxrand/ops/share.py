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
from ..core.channel import demand_channel_of
from ..core.demand import UNBOUNDED, refuse_none_error, refuse_none_subscription
from ..core.fusion import as_items
from ..core.producer import EMIT_BURST, Outlet, signals_of
from .controlled import Controlled, ControlledSubscription, refuse_subscriber_without_controlled

__all__ = ["share"]

_T = TypeVar("_T")


@final
class _Hub(Generic[_T]):
    """The one upstream subscription and the members it feeds.

    Each member is an :class:`~rxrand.core.producer.Outlet` whose credit is guarded by the
    hub's lock, so that :meth:`pump` reads every member's credit at once.
    """

    def __init__(self, share: _Shared[_T]) -> None:
        self.share = share
        self.lock = threading.Lock()
        self.members: list[Outlet[_T]] = []
        self.upstream: ControlledSubscription[_T] | None = None
        #: Items asked of upstream and not yet arrived.
        self.outstanding = 0
        #: Its last member left, or upstream ended: nobody may join it any more.
        self.closed = False

    # -- members -----------------------------------------------------------------------

    def member(self, observer: abc.ObserverBase[_T]) -> Outlet[_T]:
        """A new member for ``observer`` (not yet joined): its credit asks upstream for
        more, its cancel leaves."""
        member: Outlet[_T]

        def leave() -> None:
            self.leave(member)

        member = Outlet(
            signals_of(observer), on_request=self._requested, on_stop=leave, lock=self.lock
        )
        return member

    def _requested(self, n: int) -> None:
        self.pump()

    def join(self, member: Outlet[_T]) -> bool:
        """Add ``member``; False if the hub closed meanwhile (the caller makes a new one)."""
        with self.lock:
            if self.closed:
                return False
            self.members.append(member)
            return True

    def leave(self, member: Outlet[_T]) -> None:
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
        n = len(items)
        with self.lock:
            self.outstanding -= n
            members = list(self.members)
            for member in members:
                member.spend_locked(n)
        for member in members:
            member.emit(items.copy())  # a member's burst is its own: a cancel empties it
        self.pump()

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
        self._end(error)

    def on_completed(self) -> None:
        self._end(None)

    def _end(self, error: Exception | None) -> None:
        with self.lock:
            members, self.members = self.members, []
            self.upstream = None
            self.closed = True
        self.share.forget_hub(self)
        for member in members:
            member.terminate(error)


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
            member = hub.member(observer)
            if not hub.join(member):
                hub = self._hub = _Hub(self)
                first = True
                member = hub.member(observer)
                hub.join(member)
        member.attach(scheduler)
        if first:
            inner = channel.inner if channel is not None else scheduler
            Controlled(self._source, EMIT_BURST, Overflow.ERROR).subscribe(hub, scheduler=inner)
        member.open()  # a plain observer: unbounded credit, and a pump
        return Disposable(member.stop)


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
