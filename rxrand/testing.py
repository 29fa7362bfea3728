"""Testing helpers: demand written as marbles, and a recording subscriber.

reactivex's marble tests draw what a source emits and what comes out. Here
demand goes on the diagram too::

    source:  random_integers(5, low=0, high=9, seed=7)   (a pull source)
    demand:  "--2-----1-x"     request(2) at frame 2, request(1) at 8, cancel at 10
    ruler:   "0123456789012"
    output:  "--(8,4)-----6"

Each frame of the output is one character: ``-`` for nothing, the value, ``|``
for completion, ``#`` for an error, and ``(a,b)`` for several signals in the
same frame (unlike reactivex's parser, a group takes one frame).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, final

from reactivex import Observable
from reactivex.notification import Notification, OnCompleted, OnError, OnNext
from reactivex.observable.marbles import parse
from reactivex.testing import TestScheduler
from typing_extensions import TypeVar

from .core.demand import refuse_none_error, refuse_none_subscription
from .ops.controlled import (
    DEFAULT_CAPACITY,
    Controlled,
    ControlledSubscription,
    Overflow,
    controlled,
)

__all__ = ["RecordingSubscriber", "demand_diagram", "render_marbles"]

# A default, so that ``RecordingSubscriber(initial=2)`` needs no annotation (PEP 696).
_T = TypeVar("_T", default=Any)

CANCEL = "x"


def render_marbles(
    events: list[tuple[int, Notification[Any]]],
    symbols: Mapping[Any, str] | None = None,
) -> str:
    """Draw (frame, notification) pairs as a one-character-per-frame diagram."""
    if not events:
        return ""
    by_frame: dict[int, list[str]] = {}
    for frame, notification in events:
        if isinstance(notification, OnNext):
            value = notification.value
            symbol = symbols.get(value, str(value)) if symbols else str(value)
        elif isinstance(notification, OnError):
            symbol = "#"
        else:
            symbol = "|"
        by_frame.setdefault(frame, []).append(symbol)
    out = []
    for frame in range(max(by_frame) + 1):
        signals = by_frame.get(frame)
        if not signals:
            out.append("-")
        elif len(signals) == 1:
            out.append(signals[0])
        else:
            out.append("(" + ",".join(signals) + ")")
    return "".join(out)


def demand_diagram(
    source: Observable[_T],
    demand: str,
    *,
    lookup: Mapping[str, int] | None = None,
    symbols: Mapping[Any, str] | None = None,
    capacity: int = DEFAULT_CAPACITY,
    overflow: Overflow = Overflow.ERROR,
    timespan: float = 0.1,
    horizon: int = 1000,
) -> str:
    """Subscribe to ``source`` under ``controlled()`` in virtual time, drive demand from a diagram.

    Args:
        source: Any Observable (cold marbles from ``reactivex.from_marbles``
            run in the same virtual time), or a :class:`Controlled` already.
        demand: A diagram whose values are request sizes (digits, or names
            from ``lookup``) and ``x`` for cancel.
        lookup: Names for large requests, e.g. ``{"a": 8192}``.
        symbols: How to draw values in the output (default ``str``).
        capacity: Buffer capacity of the request operator.
        overflow: Overflow policy of the request operator.
        timespan: Virtual seconds per frame; the default is that of
            ``reactivex.from_marbles``, so cold sources line up.
        horizon: Frames to run before stopping an endless stream.

    Returns:
        The output diagram (see :func:`render_marbles`).
    """
    scheduler = TestScheduler()
    publisher: Controlled[_T] = (
        source
        if isinstance(source, Controlled)
        else source.pipe(controlled(capacity=capacity, overflow=overflow))
    )
    events: list[tuple[int, Notification[Any]]] = []
    holder: list[ControlledSubscription[_T]] = []

    def frame() -> int:
        return round(float(scheduler.clock) / timespan)

    def record(notification: Notification[Any]) -> None:
        events.append((frame(), notification))

    def subscribe(*_: Any) -> None:
        publisher.subscribe(
            lambda value: record(OnNext(value)),
            lambda error: record(OnError(error)),
            lambda: record(OnCompleted()),
            on_subscribe=holder.append,
            scheduler=scheduler,
        )

    scheduler.schedule_absolute(0.0, subscribe)
    names: dict[str | float, Any] | None = None if lookup is None else dict(lookup.items())
    for time, notification in parse(demand, timespan=timespan, lookup=names):
        if not isinstance(notification, OnNext):
            raise ValueError(f"demand diagrams hold request sizes and {CANCEL!r} only: {demand!r}")
        action = _demand_action(holder, notification.value)
        scheduler.schedule_absolute(scheduler.to_seconds(time), action)
    scheduler.advance_to(horizon * timespan)
    return render_marbles(events, symbols)


def _demand_action(holder: list[ControlledSubscription[_T]], value: object) -> Callable[..., None]:
    if value == CANCEL:

        def cancel(*_: Any) -> None:
            holder[0].cancel()

        return cancel
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a demand marble must be a request size or {CANCEL!r}, got {value!r}")

    def request(*_: Any) -> None:
        holder[0].request(value)

    return request


@dataclass
class _Record(Generic[_T]):
    values: list[_T] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    completions: int = 0
    threads: set[int] = field(default_factory=set)


@final
class RecordingSubscriber(Generic[_T]):
    """A Reactive Streams subscriber that records every signal (StepVerifier-style checks).

    ::

        probe = RecordingSubscriber(initial=2)
        random_integers(5, seed=1).pipe(controlled()).subscribe(probe)
        assert len(probe.values) == 2
        probe.request(3)
        assert probe.completed
    """

    def __init__(
        self,
        initial: int = 0,
        *,
        on_value: Callable[[RecordingSubscriber[_T], _T], None] | None = None,
    ) -> None:
        self._initial = initial
        self._on_value = on_value
        self._lock = threading.Lock()
        self._record: _Record[_T] = _Record()
        self.subscription: ControlledSubscription[_T] | None = None
        self.signals: list[str] = []

    # subscriber side
    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        if self.subscription is not None:
            subscription.cancel()  # rule 2.5: keep the first subscription, refuse the second
            return
        self.signals.append("subscribe")
        self.subscription = subscription
        if self._initial:
            subscription.request(self._initial)

    def on_next(self, value: _T) -> None:
        with self._lock:
            self._record.values.append(value)
            self._record.threads.add(threading.get_ident())
        self.signals.append("next")
        if self._on_value is not None:
            self._on_value(self, value)

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
        self._record.errors.append(error)
        self.signals.append("error")

    def on_completed(self) -> None:
        self._record.completions += 1
        self.signals.append("completed")

    # test side
    def request(self, n: int) -> None:
        assert self.subscription is not None, "not subscribed"
        self.subscription.request(n)

    def cancel(self) -> None:
        assert self.subscription is not None, "not subscribed"
        self.subscription.cancel()

    @property
    def values(self) -> list[_T]:
        return list(self._record.values)

    @property
    def errors(self) -> list[Exception]:
        return list(self._record.errors)

    @property
    def completed(self) -> bool:
        return self._record.completions > 0

    @property
    def terminated(self) -> bool:
        return self._record.completions > 0 or bool(self._record.errors)

    def expect_values(self, *expected: _T) -> RecordingSubscriber[_T]:
        """Assert the values so far, in order."""
        assert self.values == list(expected), f"values {self.values} != {list(expected)}"
        return self

    def expect_count(self, n: int) -> RecordingSubscriber[_T]:
        assert len(self._record.values) == n, f"{len(self._record.values)} values, expected {n}"
        return self

    def expect_completed(self) -> RecordingSubscriber[_T]:
        assert self._record.completions == 1, f"{self._record.completions} completions"
        assert not self._record.errors, f"unexpected errors {self._record.errors}"
        return self

    def expect_error(self, kind: type[Exception], match: str | None = None) -> Exception:
        assert len(self._record.errors) == 1, f"errors: {self._record.errors}"
        error = self._record.errors[0]
        assert isinstance(error, kind), f"{error!r} is not a {kind.__name__}"
        if match is not None:
            assert re.search(match, str(error)), f"{error} does not match {match!r}"
        return error

    def expect_no_terminal(self) -> RecordingSubscriber[_T]:
        assert not self.terminated, f"terminated: {self.signals[-3:]}"
        return self
