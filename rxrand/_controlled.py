"""``controlled()``: the request(n) operator, a Reactive Streams publisher over any Observable.

Design (after the Reactive Streams reference ``AsyncIterablePublisher`` and
RxJava's queue-drain): every signal to the subscriber is sent by one drain
loop, entered by whoever finds it idle (``request``, an upstream item, a
terminal signal) and left only when there is nothing more to do. Whoever
finds it busy records its news (a request, an item in the bounded buffer)
and sets ``_missed``; the loop picks that up before it exits. So signals are
serialised (rule 1.3) and ``request`` from inside ``on_next`` only adds to a
counter, never recurses (rule 3.3).

Cold sources that know about demand (``random_integers``, a nested
``controlled()``) are pulled through the :class:`~rxrand._channel.DemandChannel`
that this operator passes upstream as the subscribe-time scheduler: the loop
asks them for at most the outstanding demand. Everything else (Subjects,
timers, ``from_iterable``) pushes, and what arrives without demand waits in a
buffer of fixed capacity with an explicit :class:`Overflow` policy.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Generic, Protocol, TypeVar, cast, final

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable
from reactivex.scheduler import CurrentThreadScheduler

from ._channel import DemandChannel, demand_channel_of
from ._demand import UNBOUNDED, add_demand, check_request
from ._fused import IntegerBatches, batches_for
from ._source import EMIT_BURST

__all__ = [
    "BufferOverflowError",
    "Controlled",
    "ControlledSubscription",
    "Overflow",
    "Subscriber",
    "controlled",
]

_T = TypeVar("_T")
_T_in = TypeVar("_T_in", contravariant=True)


def _never() -> bool:
    return False


DEFAULT_CAPACITY: Final = 1024


class Overflow(enum.Enum):
    """What the request operator does when a push source outruns demand and the buffer is full."""

    #: Signal :class:`BufferOverflowError` through ``on_error`` and cancel upstream.
    ERROR = "error"
    #: Drop the oldest buffered item to make room for the new one.
    DROP_OLDEST = "drop_oldest"
    #: Drop the new item; the buffer keeps what it has.
    DROP_NEWEST = "drop_newest"
    #: The new item replaces the newest buffered one, so the latest value is
    #: never lost (RxJava's ``onBackpressureLatest`` when the capacity is 1).
    KEEP_LATEST = "keep_latest"


class BufferOverflowError(RuntimeError):
    """A push source emitted more than the buffer holds while there was no demand."""

    def __init__(self, capacity: int) -> None:
        super().__init__(
            f"buffer overflow: the source pushed more than capacity={capacity} items "
            "beyond demand (request more, raise the capacity, or pick another Overflow)"
        )
        self.capacity = capacity


class Subscriber(Protocol[_T_in]):
    """A Reactive Streams subscriber (``org.reactivestreams.Subscriber``)."""

    def on_subscribe(self, subscription: ControlledSubscription[Any]) -> None: ...

    def on_next(self, value: _T_in) -> None: ...

    def on_error(self, error: Exception) -> None: ...

    def on_completed(self) -> None: ...


class _Complete:
    __slots__ = ()


_COMPLETE: Final = _Complete()


def _raise(error: Exception) -> None:
    # Same default as reactivex: an error nobody listens for is not swallowed.
    raise error


def _ignore(*_: object) -> None:
    return None


@final
class ControlledSubscription(abc.DisposableBase, Generic[_T]):
    """One subscriber's link to a controlled publisher: ``request(n)`` and ``cancel()``.

    Thread-safe: ``request`` and ``cancel`` may be called from any thread,
    including from inside the subscriber's own callbacks. It is also the
    ``Disposable`` that ``subscribe`` returns: ``dispose()`` is ``cancel()``.
    """

    __slots__ = (
        "__weakref__",
        "_batches",
        "_buffer",
        "_cancelled",
        "_capacity",
        "_channel",
        "_connecting",
        "_defer_start",
        "_delivered",
        "_demand",
        "_detach",
        "_emitting",
        "_fusable",
        "_lock",
        "_missed",
        "_on_completed",
        "_on_error",
        "_on_next",
        "_overflow",
        "_pull_budget",
        "_pull_lock",
        "_pulled",
        "_pulling",
        "_request_error",
        "_requested",
        "_sink",
        "_terminal",
        "_upstream",
        "dropped",
    )

    def __init__(
        self,
        on_next: Callable[[_T], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
        capacity: int,
        overflow: Overflow,
        scheduler: abc.SchedulerBase | None,
    ) -> None:
        self._on_next: Callable[[_T], None] = on_next
        self._on_error: Callable[[Exception], None] = on_error
        self._on_completed: Callable[[], None] = on_completed
        self._sink: Callable[[_T], None] | None = None
        self._capacity = capacity
        self._overflow = overflow
        self._lock = threading.Lock()
        self._buffer: deque[_T] = deque()
        # Written under the lock by anyone; folded into _demand by the drain loop.
        self._requested = 0
        self._request_error: Exception | None = None
        # Owned by the drain loop alone.
        self._demand = 0
        self._terminal: Exception | _Complete | None = None
        self._cancelled = False
        # Held from construction until subscribe() has finished wiring, so
        # that nothing is delivered before on_subscribe returns (rule 1.9).
        self._emitting = True
        self._missed = False
        # Held by the drain loop while it pulls: items arriving on its own
        # stack during that time may be delivered directly. _is_owned() asks
        # "is it this thread?" without allocating (threading.get_ident does).
        self._pull_lock = threading.RLock()
        self._pulling: Callable[[], bool] = self._pull_lock._is_owned  # type: ignore[attr-defined]
        self._pull_budget = 0
        self._upstream: abc.DisposableBase | None = None
        self._detach: abc.DisposableBase | None = None
        self._connecting = False
        self._defer_start = False
        self._channel = DemandChannel(scheduler, self._on_attach)
        self._delivered = 0
        self._pulled = 0
        #: Items dropped by the overflow policy so far.
        self.dropped = 0
        # The fused path: set by Controlled.subscribe when the source can hand
        # out integers in bulk, taken by fuse() during on_subscribe.
        self._fusable: Observable[Any] | None = None
        self._batches: IntegerBatches | None = None

    # -- the Reactive Streams subscription ------------------------------------

    def request(self, n: int) -> None:
        """Add n to the demand (rule 3.8); the publisher may then send up to that many items.

        Never raises: ``n <= 0`` is signalled through ``on_error`` (rule 3.9),
        demand saturates at 2**63-1, which means unbounded (rule 3.17), and a
        request after cancel or completion does nothing (rule 3.6).
        """
        error = check_request(n)
        with self._lock:
            if self._cancelled:
                return
            if error is not None:
                if self._request_error is None:
                    self._request_error = error
            else:
                self._requested = add_demand(self._requested, n)
            if self._emitting:
                self._missed = True
                return
            self._emitting = True
        sink = self._sink
        if sink is None:
            self._drain()
            return
        # The subscriber declared what its on_next amounts to while it is in
        # its own request() (an append): call that directly, one call less per
        # item on the hot path. Restored unless cancel replaced it meanwhile.
        regular = self._on_next
        self._on_next = sink
        try:
            self._drain()
        finally:
            if self._on_next is sink:
                self._on_next = regular

    def cancel(self) -> None:
        """Stop the stream: no more signals (rule 3.12), idempotent (rule 3.7), thread-safe (3.5).

        Cancels upstream at once, so a cold source stops generating, and drops
        the references to the subscriber (rule 3.13).
        """
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            self._buffer.clear()
            drop_now = not self._emitting
            if drop_now:
                self._emitting = True
            else:
                self._missed = True
            self._pulling = _never  # the fast path in _upstream_next closes for good
        self._dispose_upstream()
        if drop_now:
            self._release()

    def dispose(self) -> None:
        """``reactivex`` spelling of :meth:`cancel`."""
        self.cancel()

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled

    @property
    def delivered(self) -> int:
        """Items handed to the subscriber so far."""
        batches = self._batches
        return self._delivered + (batches.taken if batches is not None else 0)

    @property
    def pulled(self) -> int:
        """Items asked of pull sources so far: what was generated on demand."""
        batches = self._batches
        return self._pulled + (batches.taken if batches is not None else 0)

    def fuse(self) -> IntegerBatches | None:
        """Switch to the fused path: the subscriber takes integers in bulk.

        Only possible from ``on_subscribe``, and only when the source is
        ``random_integers`` itself with nothing in between. The subscriber
        then calls ``take(n)`` on the result instead of ``request(n)``:
        demand is still counted in integers and never exceeded, the
        integers are the same, and ``cancel()`` still stops everything.

        Returns:
            The batches to take from, or ``None`` (stay on the per-item path).
        """
        source, self._fusable = self._fusable, None
        if source is None or self._cancelled:
            return None
        self._batches = batches_for(source)
        return self._batches

    @property
    def pending(self) -> int:
        """Demand not yet met, as of the last drain (``UNBOUNDED`` when unbounded)."""
        return self._demand

    # -- wiring -----------------------------------------------------------------

    def _connect(self, source: Observable[_T]) -> None:
        if self._cancelled:
            return
        # Pull sources attach while the chain is still being subscribed; their
        # first pull waits until it is wired, so that a ``take`` in between
        # can already stop them.
        self._connecting = True
        try:
            upstream = _subscribe_bare(source, self, self._channel)
        except Exception as error:
            self._upstream_error(error)
            return
        finally:
            self._connecting = False
        with self._lock:
            self._upstream = upstream
            cancelled: bool = self._cancelled
            ended = cancelled or self._terminal is not None
        if ended:  # meanwhile cancelled, or upstream already terminated
            self._dispose_upstream()
        if cancelled:
            return
        if self._defer_start:
            # Unbounded demand from an operator downstream (ops.take...): start
            # on the trampoline, as reactivex's own sources do, so that the
            # chain holds its disposables before the first item and can stop
            # an endless source.
            CurrentThreadScheduler.singleton().schedule(self._start_deferred)
        else:
            self._schedule_drain()

    def _start_deferred(self, _: abc.SchedulerBase, __: object = None) -> None:
        self._schedule_drain()

    def _on_attach(self) -> None:
        if not self._connecting:
            self._schedule_drain()

    def _dispose_upstream(self) -> None:
        with self._lock:
            upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.dispose()

    def _release(self) -> None:
        """Rule 3.13: forget the subscriber once cancelled or terminated."""
        self._on_next = _ignore
        self._on_error = _ignore
        self._on_completed = _ignore
        self._buffer.clear()
        detach, self._detach = self._detach, None
        if detach is not None:
            detach.dispose()
        if self._batches is not None:
            self._batches.close()

    # -- upstream signals ---------------------------------------------------------

    def _upstream_next(self, value: _T) -> None:
        if self._pull_budget > 0 and self._pulling():
            # Emitted synchronously inside our own pull: the drain loop is on
            # this very stack, so delivering here is still serial (rule 1.3),
            # and the budget never exceeds the demand (rule 1.1).
            self._pull_budget -= 1
            self._on_next(value)
            return
        overflowed = False
        with self._lock:
            if self._cancelled or self._terminal is not None:
                return
            buffer = self._buffer
            if len(buffer) < self._capacity:
                buffer.append(value)
            else:
                overflow = self._overflow
                if overflow is Overflow.ERROR:
                    self._terminal = BufferOverflowError(self._capacity)
                    overflowed = True
                elif overflow is Overflow.DROP_OLDEST:
                    buffer.popleft()
                    buffer.append(value)
                    self.dropped += 1
                elif overflow is Overflow.DROP_NEWEST:
                    self.dropped += 1
                else:
                    buffer[-1] = value
                    self.dropped += 1
            if self._emitting:
                self._missed = True
                claimed = False
            else:
                self._emitting = claimed = True
        if overflowed:
            self._dispose_upstream()
        if claimed:
            self._drain()

    def _upstream_error(self, error: Exception) -> None:
        self._upstream_terminal(error)

    def _upstream_completed(self) -> None:
        self._upstream_terminal(_COMPLETE)

    def _upstream_terminal(self, terminal: Exception | _Complete) -> None:
        with self._lock:
            if self._cancelled or self._terminal is not None:
                return
            self._terminal = terminal
            self._pulling = _never  # the fast path in _upstream_next closes for good
            if self._emitting:
                self._missed = True
                claimed = False
            else:
                self._emitting = claimed = True
        # A finished upstream needs no subscription: let it go now, so that a
        # `take` in the chain stops the source at once (what reactivex's
        # AutoDetachObserver would do).
        self._dispose_upstream()
        if claimed:
            self._drain()

    def _schedule_drain(self) -> None:
        with self._lock:
            if self._emitting:
                self._missed = True
                return
            self._emitting = True
        self._drain()

    # -- the drain loop -----------------------------------------------------------

    def _drain(self) -> None:
        """Deliver what can be delivered; the caller holds the emitter role (_emitting)."""
        lock = self._lock
        buffer = self._buffer
        demand = self._demand
        # True after a pull that made no progress: don't pull again until news arrives.
        stalled = False
        try:
            while True:
                batch: list[_T] | None = None
                terminal: Exception | _Complete | None = None
                with lock:
                    if self._missed:
                        self._missed = False
                        stalled = False
                    if self._requested:
                        demand = add_demand(demand, self._requested)
                        self._requested = 0
                    if self._cancelled:
                        # The emitter role is never given back: the stream is over.
                        break
                    if self._request_error is not None:
                        # Rule 3.9: an illegal request ends the stream with on_error.
                        terminal = self._request_error
                    elif isinstance(self._terminal, Exception):
                        terminal = self._terminal
                    elif buffer and demand:
                        if demand >= len(buffer):
                            batch = list(buffer)
                            buffer.clear()
                        else:
                            batch = [buffer.popleft() for _ in range(demand)]
                    elif not buffer and self._terminal is _COMPLETE:
                        terminal = _COMPLETE
                    elif not (
                        demand
                        and not stalled
                        and self._terminal is None
                        and self._channel.has_producers
                    ):
                        # Nothing to do: leave, unless news arrived meanwhile.
                        if not self._missed:
                            self._emitting = False
                            return
                        continue
                if terminal is not None:
                    self._finish(terminal)
                    return
                if batch is not None:
                    demand = self._deliver(batch, demand)
                else:
                    demand, stalled = self._pull(demand)
        finally:
            self._demand = demand
        self._release()

    def _deliver(self, batch: list[_T], demand: int) -> int:
        on_next = self._on_next
        sent = 0
        try:
            for value in batch:
                if self._cancelled:
                    break
                on_next(value)
                sent += 1
        except Exception as error:
            self._subscriber_failed(error)
        self._delivered += sent
        return demand if demand >= UNBOUNDED else demand - sent

    def _pull(self, demand: int) -> tuple[int, bool]:
        """Ask the pull sources for up to min(demand, capacity) items; deliver what comes.

        Returns the demand left and whether the pull made no progress at all.
        """
        # Bursts of at most EMIT_BURST (256): CPython caches ints up to 256,
        # so the per-item budget countdown allocates nothing.
        want = min(demand, self._capacity, EMIT_BURST)
        self._pull_budget = want
        self._pull_lock.acquire()
        emitted = 0
        try:
            emitted = self._channel.pull(want)
        except Exception as error:
            # Thrown through the source's emit loop: a subscriber broke rule
            # 2.13, or the source itself failed. Either way it ends the stream.
            self._subscriber_failed(error)
        finally:
            self._pull_lock.release()
            sent = want - self._pull_budget
            self._pull_budget = 0
        self._pulled += emitted
        self._delivered += sent
        left = demand if demand >= UNBOUNDED else demand - sent
        return left, emitted == 0 and sent == 0

    def _subscriber_failed(self, error: Exception) -> None:
        with self._lock:
            if self._terminal is None or self._terminal is _COMPLETE:
                self._terminal = error
            self._missed = True
        self._dispose_upstream()

    def _finish(self, terminal: Exception | _Complete) -> None:
        """Deliver the one terminal signal (rules 1.6/1.7), then let go of everything."""
        with self._lock:
            self._cancelled = True
        on_error, on_completed = self._on_error, self._on_completed
        self._release()
        self._dispose_upstream()
        if isinstance(terminal, Exception):
            on_error(terminal)
        else:
            on_completed()


@final
class Controlled(Observable[_T]):
    """A publisher with Reactive Streams demand; also a reactivex ``Observable``.

    Subscribe a Reactive Streams subscriber (anything with ``on_subscribe``)
    or callbacks with ``on_subscribe=`` to control demand with
    ``request(n)``. A plain reactivex observer gets unbounded demand, so the
    result composes with every reactivex operator.
    """

    def __init__(self, source: Observable[_T], capacity: int, overflow: Overflow) -> None:
        super().__init__()
        self.source = source
        self.capacity = capacity
        self.overflow = overflow

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

        Raises:
            TypeError: nothing to subscribe (rule 1.9: a null subscriber).
        """
        if on_next is None and on_error is None and on_completed is None and on_subscribe is None:
            raise TypeError("subscribe() needs a subscriber, an observer or callbacks (rule 1.9)")
        sink = None
        if callable(getattr(on_next, "on_next", None)):
            observer: Any = on_next
            # Private to rxrand's own subscribers (the socket Observer): an
            # on_next that is a plain append while they are in request().
            sink = getattr(observer, "_request_sink", None)
            subscribe_hook = getattr(observer, "on_subscribe", None)
            on_subscribe = subscribe_hook if callable(subscribe_hook) else None
            on_next, on_error, on_completed = (
                observer.on_next,
                observer.on_error,
                observer.on_completed,
            )
        subscription: ControlledSubscription[_T] = ControlledSubscription(
            cast(Callable[[_T], None], on_next or _ignore),
            on_error or _raise,
            on_completed or _ignore,
            self.capacity,
            self.overflow,
            scheduler,
        )
        subscription._sink = sink
        outer = demand_channel_of(scheduler)
        try:
            if on_subscribe is not None:
                subscription._fusable = self.source
                on_subscribe(subscription)
                subscription._fusable = None
            elif outer is not None:
                # A controlled() inside another one's chain: forward its pulls
                # as requests, so demand keeps flowing back to the source.
                subscription._detach = outer.attach(_Forward(subscription))
            else:
                # A plain reactivex observer: unbounded demand (rule 3.17), as
                # RxJava's Flowable gives a plain consumer.
                subscription.request(UNBOUNDED)
                subscription._defer_start = True
        except BaseException:
            subscription.cancel()
            raise
        # on_subscribe has returned: from now on items may flow (rule 1.9).
        subscription._drain()
        if subscription._batches is None:
            subscription._connect(self.source)
        return subscription

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self.subscribe(observer, scheduler=scheduler)


@final
class _Inlet(abc.ObserverBase[_T]):
    """The request operator's upstream observer: the subscription's three bound methods.

    A real ``ObserverBase`` (some reactivex sources test for one), whose
    methods are shadowed by instance attributes: a signal costs one call.
    """

    def __init__(self, subscription: ControlledSubscription[_T]) -> None:
        self.on_next = subscription._upstream_next  # type: ignore[method-assign]
        self.on_error = subscription._upstream_error  # type: ignore[method-assign]
        self.on_completed = subscription._upstream_completed  # type: ignore[method-assign]

    # Never called: shadowed by the instance attributes above.
    def on_next(self, value: _T) -> None:  # pragma: no cover
        raise AssertionError("shadowed")

    def on_error(self, error: Exception) -> None:  # pragma: no cover
        raise AssertionError("shadowed")

    def on_completed(self) -> None:  # pragma: no cover
        raise AssertionError("shadowed")


def _subscribe_bare(
    source: Observable[_T], subscription: ControlledSubscription[_T], channel: DemandChannel
) -> abc.DisposableBase:
    """Subscribe upstream without reactivex's AutoDetachObserver around our inlet.

    That wrapper drops signals after a terminal one and disposes upstream on
    error; the drain loop does both itself, and the wrapper would cost a call
    per item on the hot path. What ``Observable.subscribe`` does besides is
    kept: the current-thread trampoline around the subscription, so that a
    synchronous source (``from_iterable``) starts only once the disposable
    exists and can be stopped. Sources that override ``subscribe`` get it.
    """
    inlet = _Inlet(subscription)
    if type(source).subscribe is not Observable.subscribe:
        return source.subscribe(inlet, scheduler=channel)
    holder = SingleAssignmentDisposable()

    def set_disposable(_: abc.SchedulerBase | None = None, __: object = None) -> None:
        result: Any = source._subscribe_core(inlet, channel)
        if isinstance(result, abc.DisposableBase) or hasattr(result, "dispose"):
            holder.disposable = result
        elif callable(result):
            holder.disposable = Disposable(result)
        else:
            holder.disposable = Disposable()

    trampoline = CurrentThreadScheduler.singleton()
    if trampoline.schedule_required():
        trampoline.schedule(set_disposable)
    else:
        set_disposable()
    return holder


@final
class _Forward:
    """PullProducer that turns an outer channel's pull into an inner request."""

    __slots__ = ("_subscription",)

    def __init__(self, subscription: ControlledSubscription[Any]) -> None:
        self._subscription = subscription

    def produce(self, n: int) -> int:
        before = self._subscription.delivered
        self._subscription.request(n)
        return self._subscription.delivered - before


def controlled(
    capacity: int = DEFAULT_CAPACITY, overflow: Overflow = Overflow.ERROR
) -> Callable[[Observable[_T]], Controlled[_T]]:
    """The request(n) operator: turn an Observable into a demand-driven publisher.

    ::

        source:    -a-b-c-d-|         (a cold pull source: generated on demand)
        request:   2-----1---2        (demand, as marbles)
        output:    (ab)--c---(d|)

    Pull sources (``random_integers``, through any chain of ordinary
    operators) generate nothing until requested. Push sources are held in a
    buffer of ``capacity`` items; when it is full, ``overflow`` decides.

    Args:
        capacity: Most items held for a subscriber without demand; also caps
            the burst pulled from a source at once (itself at most 256).
        overflow: What to do when the buffer is full.

    Returns:
        An operator for ``Observable.pipe``.

    Raises:
        TypeError: capacity is not an int, or overflow not an :class:`Overflow`.
        ValueError: capacity < 1.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError(f"capacity must be an int, got {type(capacity).__name__}")
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    if not isinstance(overflow, Overflow):
        raise TypeError(f"overflow must be an Overflow, got {type(overflow).__name__}")

    def operator(source: Observable[_T]) -> Controlled[_T]:
        return Controlled(source, capacity, overflow)

    return operator
