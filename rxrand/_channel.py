"""The demand channel: how ``request(n)`` reaches a cold source through operators.

reactivex hands the scheduler given at subscribe time down through every
operator's ``subscribe`` to the source (``ops.map``, ``ops.filter``,
``ops.scan``, ``ops.take``, ``concat``, ``merge``... all forward it). The
request operator subscribes upstream with a :class:`DemandChannel` as that
scheduler. A source that knows about channels (``random_integers``, or a
nested ``controlled()``) finds it there and attaches a :class:`PullProducer`
instead of pushing: from then on it emits only what the channel pulls. Any
other source sees an ordinary scheduler and pushes as usual; the request
operator then buffers it within a bound.

Why the scheduler and not a context variable or a side table: the scheduler
is the one value reactivex itself threads through the whole operator chain,
per subscription, including subscriptions that happen later (``concat``,
``repeat``, ``retry``) and on other threads. The channel behaves as the
scheduler it replaces: with a scheduler given by the user everything is
delegated to it; without one, immediate work goes to the current-thread
trampoline and timed work to the timeout scheduler, which are the defaults
reactivex's own sources pick when they get ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar, final

from reactivex import abc, typing
from reactivex.disposable import Disposable
from reactivex.scheduler import CurrentThreadScheduler, TimeoutScheduler
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = ["DemandChannel", "PullProducer", "demand_channel_of"]

_TState = TypeVar("_TState")


class PullProducer(Protocol):
    """A source that emits only when pulled (Twisted's pull producer, one unit per resume)."""

    def produce(self, n: int) -> int:
        """Emit at most ``n`` items synchronously, then return how many were emitted.

        Returning 0 tells the puller that nothing can be had synchronously
        right now; the producer may still emit later, or complete.
        """
        ...


@final
class DemandChannel(PeriodicScheduler):
    """A scheduler that also carries demand from a request operator to its sources.

    Created by the request operator, one per subscription. Sources attach to
    it with :meth:`attach`; the request operator calls :meth:`pull`.
    """

    __slots__ = ("_inner", "_on_attach", "_producers")

    def __init__(
        self,
        inner: abc.SchedulerBase | None,
        on_attach: Callable[[], None],
    ) -> None:
        super().__init__()
        self._inner = inner
        self._on_attach = on_attach
        self._producers: list[PullProducer] = []

    # -- demand ------------------------------------------------------------

    @property
    def has_producers(self) -> bool:
        return bool(self._producers)

    def attach(self, producer: PullProducer) -> abc.DisposableBase:
        """Register a pull producer; disposing the result detaches it."""
        self._producers.append(producer)

        def detach() -> None:
            try:
                self._producers.remove(producer)
            except ValueError:
                pass

        self._on_attach()
        return Disposable(detach)

    def pull(self, n: int) -> int:
        """Ask the attached producers for items; return how many they emitted.

        With several producers (``merge``, ``zip``) each is asked for its
        share, so that one pull never makes more than ``n`` items in all.
        """
        producers = self._producers
        if len(producers) == 1:
            return producers[0].produce(n)
        emitted = 0
        share = max(1, n // max(1, len(producers)))
        for producer in tuple(producers):
            emitted += producer.produce(share)
        return emitted

    # -- scheduler: delegate ------------------------------------------------

    def _immediate(self) -> abc.SchedulerBase:
        return self._inner or CurrentThreadScheduler.singleton()

    def _timed(self) -> abc.SchedulerBase:
        return self._inner or TimeoutScheduler.singleton()

    @property
    def now(self) -> datetime:
        return self._timed().now

    def schedule(
        self, action: abc.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        return self._immediate().schedule(action, state)

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: abc.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        if self._inner is None and self.to_seconds(duetime) <= 0:
            return self._immediate().schedule(action, state)
        return self._timed().schedule_relative(duetime, action, state)

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: abc.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        return self._timed().schedule_absolute(duetime, action, state)

    def schedule_periodic(
        self,
        period: typing.RelativeTime,
        action: typing.ScheduledPeriodicAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        inner: Any = self._inner
        if isinstance(inner, abc.PeriodicSchedulerBase):
            return inner.schedule_periodic(period, action, state)
        return super().schedule_periodic(period, action, state)


def demand_channel_of(scheduler: abc.SchedulerBase | None) -> DemandChannel | None:
    """The demand channel a source was subscribed with, if any."""
    return scheduler if isinstance(scheduler, DemandChannel) else None
