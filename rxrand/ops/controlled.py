"""``controlled()``: the request(n) operator, a Reactive Streams publisher over any Observable.

:class:`Controlled` is the publisher; each subscription is one of two kinds:

* :class:`~rxrand.ops.fused.FusedSubscription` when the source offers batches
  (:class:`~rxrand.core.fusion.Fusable`) and the subscriber takes them
  (``on_next_batch``): the fused path, no Observable chain at all;
* :class:`~rxrand.ops.pull.PullSubscription` otherwise: the upstream chain is
  subscribed with a demand channel as its scheduler, pull sources emit against
  credit, pushed items wait in a bounded buffer.

Both are :class:`~rxrand.ops.subscription.ControlledSubscription`, the type a
subscriber's ``on_subscribe`` gets. A plain reactivex observer gets unbounded demand
(rule 3.17, as RxJava's ``Flowable`` gives a plain consumer), so the publisher composes
with every reactivex operator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar, cast, final, overload

from reactivex import Observable, abc

from ..core.buffer import BoundedBuffer, BufferOverflowError, Overflow
from ..core.channel import demand_channel_of
from ..core.demand import UNBOUNDED, positive_count
from ..core.fusion import Fusable
from .fused import FusedSubscription
from .inlet import UpstreamIgnoredCancelError
from .pull import PullSubscription
from .subscription import ControlledSubscription, ignore

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_RUN_AHEAD",
    "BufferOverflowError",
    "Controlled",
    "ControlledSubscription",
    "Overflow",
    "Subscriber",
    "UpstreamIgnoredCancelError",
    "controlled",
]

_T = TypeVar("_T")
_T_in = TypeVar("_T_in", contravariant=True)

DEFAULT_CAPACITY: Final = 1024
"""Items that may wait for demand in ``controlled()``'s buffer, unless ``capacity=`` says."""
DEFAULT_RUN_AHEAD: Final = 1024
"""Most items a source may run ahead of demand while its items vanish on the way (a
``filter``, a ``zip``'s queue, a thread hop), unless ``prefetch=`` says; never more than
the capacity."""


class Subscriber(Protocol[_T_in]):
    """A Reactive Streams subscriber (``org.reactivestreams.Subscriber``)."""

    def on_subscribe(self, subscription: ControlledSubscription[Any]) -> None: ...

    def on_next(self, value: _T_in) -> None: ...

    def on_error(self, error: Exception) -> None: ...

    def on_completed(self) -> None: ...


def _raise(error: Exception) -> None:
    # Same default as reactivex: an error nobody listens for is not swallowed.
    raise error


@final
class Controlled(Observable[_T]):
    """A publisher with Reactive Streams demand; also a reactivex ``Observable``.

    Subscribe a Reactive Streams subscriber (anything with ``on_subscribe``)
    or callbacks with ``on_subscribe=`` to control demand with
    ``request(n)``. A plain reactivex observer gets unbounded demand, so the
    result composes with every reactivex operator.
    """

    def __init__(
        self,
        source: Observable[_T],
        capacity: int,
        overflow: Overflow,
        on_drop: Callable[[_T], None] | None = None,
        prefetch: int | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.capacity = capacity
        self.overflow = overflow
        self.on_drop = on_drop
        self.prefetch = min(capacity, DEFAULT_RUN_AHEAD) if prefetch is None else prefetch

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | Subscriber[_T] | abc.OnNext[_T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        on_subscribe: Callable[[ControlledSubscription[_T]], None] | None = None,
        scheduler: abc.SchedulerBase | None = None,
    ) -> ControlledSubscription[_T]:
        """Subscribe; ``on_subscribe`` is called first (rule 1.9) and may call ``request``.

        A subscriber with ``on_next_batch`` (a :class:`~rxrand.BulkSubscriber`)
        gets items in batches, straight from the source when it is
        :class:`~rxrand.Fusable` (the fused path).

        Raises:
            TypeError: nothing to subscribe (rule 1.9: a null subscriber).
        """
        if on_next is None and on_error is None and on_completed is None and on_subscribe is None:
            raise TypeError("subscribe() needs a subscriber, an observer or callbacks (rule 1.9)")
        on_batch = None
        if callable(getattr(on_next, "on_next", None)):
            observer: Any = on_next
            subscribe_hook = getattr(observer, "on_subscribe", None)
            on_subscribe = subscribe_hook if callable(subscribe_hook) else None
            batch_hook = getattr(observer, "on_next_batch", None)
            on_batch = batch_hook if callable(batch_hook) else None
            on_next, on_error, on_completed = (
                observer.on_next,
                observer.on_error,
                observer.on_completed,
            )
        outer = demand_channel_of(scheduler)
        subscription: ControlledSubscription[_T]
        # isinstance(self.source, Fusable), without the runtime Protocol machinery
        # (~6 us a call, timed with timeit: once per subscription, so per connection).
        open_batches = getattr(self.source, "open_batches", None) if on_batch is not None else None
        if on_batch is not None and callable(open_batches) and outer is None:
            subscription = FusedSubscription(
                on_batch,
                on_error or _raise,
                on_completed or ignore,
                cast(Fusable[_T], self.source).open_batches(),
            )
        else:
            subscription = PullSubscription(
                cast(Callable[[_T], None], on_next or ignore),
                on_error or _raise,
                on_completed or ignore,
                on_batch,
                BoundedBuffer(self.capacity, self.overflow, self.on_drop),
                scheduler,
                self.prefetch,
            )
        defer = False
        try:
            if on_subscribe is not None:
                on_subscribe(subscription)
            elif outer is not None:
                # A controlled() inside another one's chain: the outer credit
                # becomes our demand, and our deliveries are bursts of the
                # outer channel, so demand keeps flowing back to the source.
                cast(PullSubscription[_T], subscription)._nest_in(outer)
            else:
                # A plain reactivex observer: unbounded demand (rule 3.17), as
                # RxJava's Flowable gives a plain consumer.
                behind = _subscriber_behind(on_error)
                if behind is not None and on_error is not None:
                    # It would never get on_subscribe (rule 1.9) and get all there is:
                    # say so at once, through on_error (where reactivex puts an
                    # exception from subscribe, and which reaches it through `merge`).
                    subscription.cancel()
                    on_error(TypeError(_operators_after_controlled(behind)))
                    return subscription
                subscription.request(UNBOUNDED)
                defer = True
        except BaseException:
            subscription.cancel()
            raise
        subscription._start(self.source, defer)
        return subscription

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self.subscribe(observer, scheduler=scheduler)


#: Where a plain observer keeps what it forwards errors to: reactivex's AutoDetachObserver
#: (``_on_error``), its Observer (``_handler_on_error``), a ScheduledObserver (``observer``).
_FORWARD_ATTRIBUTES: Final = ("_on_error", "_handler_on_error", "observer", "_observer")
#: Most objects looked at while following a plain observer's error path.
_SEARCH_LIMIT: Final = 64


def _subscriber_behind(on_error: object) -> object | None:
    """The Reactive Streams subscriber (it has ``on_subscribe``) that a plain observer feeds.

    A subscriber subscribed through reactivex operators placed after ``controlled()`` reaches
    it as a plain observer: no ``on_subscribe``, unbounded demand. Errors must reach the
    subscriber, so it is found by following the error handler through reactivex's observers
    and the closures its operators make (``ops.map``, ``ops.observe_on``, ``ops.buffer...``).
    Once per subscription, on the unbounded path only.
    """
    todo: list[object] = [on_error]
    seen: set[int] = set()
    while todo and len(seen) < _SEARCH_LIMIT:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        owner = getattr(node, "__self__", None)
        if owner is not None:
            node = owner  # a bound method: look at its object
        if callable(getattr(node, "on_subscribe", None)):
            return node
        for name in _FORWARD_ATTRIBUTES:
            forward = getattr(node, name, None)
            if forward is not None:
                todo.append(forward)
        for cell in getattr(node, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(content) or callable(getattr(content, "on_error", None)):
                todo.append(content)
    return None


def _operators_after_controlled(subscriber: object) -> str:
    return (
        f"{type(subscriber).__name__} is a Reactive Streams subscriber (it has on_subscribe), "
        "subscribed through reactivex operators placed after controlled(): they drop the "
        "subscription and would feed it unbounded items; put the operators before "
        "controlled(), e.g. source.pipe(ops.map(f), controlled()).subscribe(subscriber)"
    )


def refuse_subscriber_without_controlled(observer: abc.ObserverBase[Any], operator: str) -> bool:
    """For rxrand's operators that keep demand only up to a ``controlled()`` after them.

    Subscribed without one (no demand channel), they give unbounded demand, which suits a
    plain observer; a Reactive Streams subscriber behind ``observer`` would get no
    ``on_subscribe`` and every item. Then it is told, through ``on_error``, what to write.

    Returns:
        Whether the subscriber was refused (then nothing must be subscribed).
    """
    subscriber = _subscriber_behind(observer.on_error)
    if subscriber is None:
        return False
    observer.on_error(
        TypeError(
            f"{type(subscriber).__name__} is a Reactive Streams subscriber (it has "
            f"on_subscribe), subscribed to {operator}() with no controlled() after it: nothing "
            "gives it a subscription, and it would get unbounded items; end the chain with "
            f"controlled(), e.g. source.pipe({operator}(...), controlled()).subscribe(subscriber)"
        )
    )
    return True


@overload
def controlled(
    capacity: int = DEFAULT_CAPACITY,
    overflow: Overflow = Overflow.ERROR,
    *,
    on_drop: None = None,
    prefetch: int | None = None,
) -> Callable[[Observable[_T]], Controlled[_T]]: ...


@overload
def controlled(
    capacity: int = DEFAULT_CAPACITY,
    overflow: Overflow = Overflow.ERROR,
    *,
    on_drop: Callable[[_T], None],
    prefetch: int | None = None,
) -> Callable[[Observable[_T]], Controlled[_T]]: ...


def controlled(
    capacity: int = DEFAULT_CAPACITY,
    overflow: Overflow = Overflow.ERROR,
    *,
    on_drop: Callable[[_T], None] | None = None,
    prefetch: int | None = None,
) -> Callable[[Observable[_T]], Controlled[_T]]:
    """The request(n) operator: turn an Observable into a demand-driven publisher.

    ::

        source:    -a-b-c-d-|         (a cold pull source: generated on demand)
        request:   2-----1---2        (demand, as marbles)
        output:    (ab)--c---(d|)

    Pull sources (``random_integers``, :func:`rxrand.from_iterable`, through
    any chain of ordinary operators) generate nothing until requested. Push
    sources are held in a buffer of ``capacity`` items; when it is full,
    ``overflow`` decides.

    Args:
        capacity: Most items held for a subscriber beyond its demand (and the
            most credit granted at once under unbounded demand).
        overflow: What to do when the buffer is full.
        on_drop: Called with each item the overflow policy drops (it must not
            call back into the subscription).
        prefetch: How far a source may run ahead of demand while its items
            vanish between source and operator (a ``filter``, a ``zip``'s
            queue, a thread hop), before it is parked; at most ``capacity``.
            Default: ``min(capacity, DEFAULT_RUN_AHEAD)``, so that a large
            buffer does not also let a source run far ahead of a thread hop.

    Returns:
        An operator for ``Observable.pipe``.

    Raises:
        TypeError: capacity or prefetch is not an int, overflow not an
            :class:`Overflow`, or on_drop not callable.
        ValueError: capacity < 1, prefetch < 1 or prefetch > capacity.
    """
    size = positive_count("capacity", capacity)
    ahead = None if prefetch is None else positive_count("prefetch", prefetch)
    if ahead is not None and ahead > size:
        raise ValueError(f"prefetch must be <= capacity ({size}), got {ahead}")
    if not isinstance(overflow, Overflow):
        raise TypeError(f"overflow must be an Overflow, got {type(overflow).__name__}")
    if on_drop is not None and not callable(on_drop):
        raise TypeError(f"on_drop must be callable, got {type(on_drop).__name__}")

    def operator(source: Observable[_T]) -> Controlled[_T]:
        return Controlled(source, size, overflow, on_drop, ahead)

    return operator
