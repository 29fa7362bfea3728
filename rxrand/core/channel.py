"""The demand channel: how credit from ``request(n)`` reaches pull sources through operators.

reactivex hands the scheduler given at subscribe time down through every
operator's ``subscribe`` to the source (``ops.map``, ``ops.filter``,
``ops.scan``, ``ops.take``, ``concat``, ``merge``, ``zip``, ``flat_map``...
all forward it, and so do the subscriptions they make later: the next source
of a ``concat``, the inner sources of a ``flat_map``, a ``repeat`` or
``retry``). The request operator subscribes upstream with a
:class:`DemandChannel` as that scheduler. A pull source (``random_integers``,
:func:`rxrand.from_iterable`, a nested ``controlled()``) finds it there and
*attaches* a :class:`PullProducer`; any other source sees an ordinary
scheduler and pushes as usual.

Demand is **credit**, not a one-off pull (the Reactive Streams model):

* the channel grants a producer credit with ``producer.request(n)``; the
  producer may emit up to its credit, now or later, on any thread;
* the producer brackets each burst of emissions with :meth:`CreditLink.begin`
  and :meth:`CreditLink.end`, which is how the owner learns what was emitted
  and what of it arrived on the same stack;
* credit granted and not yet emitted is *in flight*: never granted again;
* with several producers (``merge``, ``zip``) credit is handed out round-robin,
  never more than asked for in all, and only to producers that have used up
  what they had: a producer that cannot deliver now (one side of a ``zip``
  waiting for a ``never()``) is not asked again until it has emitted.

What the owner does with the bracket counts (items that vanished inside a
``filter`` or a ``zip`` queue) is its business: see ``_controlled``.

Why the scheduler and not a context variable or a side table: the scheduler
is the one value reactivex itself threads through the whole operator chain,
per subscription, including subscriptions that happen later and on other
threads. The channel behaves as the scheduler it replaces: with a scheduler
given by the user everything is delegated to it; without one, immediate work
goes to the current-thread trampoline and timed work to the timeout
scheduler, which are the defaults reactivex's own sources pick when they get
``None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Protocol, TypeVar, final

from reactivex import abc, typing
from reactivex.scheduler import CurrentThreadScheduler, TimeoutScheduler
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = [
    "CreditLink",
    "CreditOwner",
    "DemandChannel",
    "PullProducer",
    "demand_channel_of",
]

_TState = TypeVar("_TState")

#: Most credit granted at once to a producer whose items become producers.
SPAWN_GRANT: Final = 16


class PullProducer(Protocol):
    """A source that emits only against credit (Twisted's pull producer, generalised)."""

    def request(self, n: int) -> None:
        """Add ``n`` to this producer's credit; it may then emit up to its credit in all.

        Emissions go out in bursts, each between ``link.begin()`` and
        ``link.end(count)`` of the :class:`CreditLink` that ``attach`` returned.
        Called by the channel's owner only, never re-entrantly.
        """
        ...


class CreditOwner(Protocol):
    """What a channel reports to the subscription that owns it (the request operator)."""

    def link_attached(self, link: CreditLink) -> None: ...

    def burst_begin(self, link: CreditLink) -> bool: ...

    def burst_end(self, link: CreditLink, emitted: int, bracketed: bool) -> None: ...

    def link_detached(self, link: CreditLink) -> None: ...


@final
class _NoOwner:
    """The owner of a closed channel: late news goes nowhere."""

    __slots__ = ()

    def link_attached(self, link: CreditLink) -> None:
        return None

    def burst_begin(self, link: CreditLink) -> bool:
        return False

    def burst_end(self, link: CreditLink, emitted: int, bracketed: bool) -> None:
        return None

    def link_detached(self, link: CreditLink) -> None:
        return None


_NO_OWNER: Final = _NoOwner()


@final
class CreditLink(abc.DisposableBase):
    """One producer's connection to a channel: its credit, its burst brackets, its detach."""

    __slots__ = (
        "_bracketed",
        "_channel",
        "credit",
        "detached",
        "finite",
        "parent",
        "producer",
        "spawns",
        "swallowed",
    )

    def __init__(self, channel: DemandChannel, producer: PullProducer, finite: bool) -> None:
        self._channel = channel
        self.producer = producer
        #: Whether the producer knows that it ends (a finite count, a sized
        #: iterable): what a stage swallows of it is bounded by its length.
        self.finite = finite
        #: Credit granted and not yet emitted (written under the owner's lock).
        self.credit = 0
        #: Items this producer emitted that vanished on the way and were not
        #: yet written off (owner's bookkeeping, under its lock).
        self.swallowed = 0
        #: The producer whose burst this one was attached in (a flat_map's
        #: outer source, for its inner ones), if any.
        self.parent: CreditLink | None = None
        #: Whether this producer's items became producers (a flat_map's outer source).
        self.spawns = False
        self.detached = False
        # Whether the burst in progress holds the owner's burst slot. A producer's bursts
        # never overlap (one at a time, on whatever thread), so one attribute will do.
        self._bracketed = False

    def start(self) -> None:
        """The producer holds its link now: credit may come, even before this returns."""
        self._channel.owner.link_attached(self)

    def begin(self) -> None:
        """A burst of emissions starts on this thread."""
        self._bracketed = self._channel.owner.burst_begin(self)

    def end(self, emitted: int) -> None:
        """The burst is over: ``emitted`` items went downstream."""
        bracketed, self._bracketed = self._bracketed, False
        self._channel.owner.burst_end(self, emitted, bracketed)

    def descends_from(self, other: CreditLink) -> bool:
        """Whether ``other`` is this link's parent, or its parent's, and so on."""
        parent = self.parent
        while parent is not None:
            if parent is other:
                return True
            parent = parent.parent
        return False

    def dispose(self) -> None:
        """Detach: the producer is done (completed, failed or disposed); its credit returns."""
        if not self.detached:
            self.detached = True
            self._channel.detach(self)


@final
class DemandChannel(PeriodicScheduler):
    """A scheduler that also carries credit from a request operator to its pull sources.

    Created by the request operator, one per subscription. Sources attach to
    it with :meth:`attach`; the owner hands out credit with :meth:`grant`.
    """

    __slots__ = ("_inner", "_next", "links", "owner")

    def __init__(self, inner: abc.SchedulerBase | None, owner: CreditOwner) -> None:
        super().__init__()
        self._inner = inner
        self.owner = owner
        self.links: list[CreditLink] = []
        self._next = 0

    @property
    def inner(self) -> abc.SchedulerBase | None:
        """The scheduler this channel stands in for (``None``: reactivex's defaults)."""
        return self._inner

    # -- credit ------------------------------------------------------------------

    def attach(self, producer: PullProducer, *, finite: bool = False) -> CreditLink:
        """Register a pull producer; its link brackets bursts and detaches it when disposed.

        No credit comes until the producer, having stored the link, calls
        :meth:`CreditLink.start`. A ``finite`` producer knows that it ends: a
        stage that swallows all of it (a reducer) may be given all of it.
        """
        link = CreditLink(self, producer, finite)
        self.links.append(link)
        return link

    def detach(self, link: CreditLink) -> None:
        """Forget ``link`` (its producer is done), and tell the owner."""
        try:
            self.links.remove(link)
        except ValueError:
            return
        self.owner.link_detached(link)

    def close(self) -> None:
        """The owner is gone (its subscription ended): late news from producers goes nowhere.

        Breaks the owner <-> channel cycle at once rather than at the next full garbage
        collection, so that a producer still holding its link keeps nothing alive.
        """
        self.owner = _NO_OWNER
        self.links = []

    def plan(
        self, n: int, swallow_limit: int, *, finite_only: bool = False
    ) -> list[tuple[CreditLink, int]]:
        """Split ``n`` credit round-robin over the producers that may have some.

        A producer may have credit when it has none in flight, and when what
        it emitted that vanished on the way (``swallowed``) is under
        ``swallow_limit``; its share keeps it under. Never more than ``n`` in
        all; an empty plan when no producer may have credit. With
        ``finite_only``, only producers that know they end are considered. The caller (the
        owner, under its lock) adds each share to the link's credit, then
        calls :meth:`PullProducer.request` outside the lock.
        """
        links = self.links
        if len(links) == 1 and not finite_only:
            # One producer, the usual chain (and a filter's many small grants): the same
            # plan, without the round-robin's lists.
            link = links[0]
            if link.credit or link.detached or link.swallowed >= swallow_limit or n <= 0:
                return []
            give = min(n, swallow_limit - link.swallowed)
            self._next = 1
            return [(link, min(give, SPAWN_GRANT) if link.spawns else give)]
        idle = [
            link
            for link in links
            if link.credit == 0
            and not link.detached
            and link.swallowed < swallow_limit
            and (link.finite or not finite_only)
        ]
        if not idle or n <= 0:
            return []
        start = self._next % len(idle)
        order = idle[start:] + idle[:start]
        share = max(1, n // len(order))
        plan = []
        for link in order:
            if n <= 0:
                break
            give = min(share, n, swallow_limit - link.swallowed)
            if link.spawns:
                # Each item of an outer source becomes a source: a few at a time, so that
                # the inner ones supply the demand (a switch_map drops all but the last
                # inner source of a burst: granted `share`, it would make `share` of them).
                give = min(give, SPAWN_GRANT)
            plan.append((link, give))
            n -= give
        self._next = start + len(plan)
        if len(plan) > 1:
            # Inner sources (a flat_map's, a switch_map's) are asked before their outer
            # source: asked after it, they may be gone before they emit anything (a
            # switch_map drops its inner source at the next outer item), round after
            # round, while the outer source runs on.
            plan.sort(key=_outer_last)
        return plan

    # -- scheduler: delegate ---------------------------------------------------------

    def _immediate(self) -> abc.SchedulerBase:
        return self._inner or CurrentThreadScheduler.singleton()

    def _timed(self) -> abc.SchedulerBase:
        return self._inner or TimeoutScheduler.singleton()

    @property
    def now(self) -> datetime:
        return self._timed().now

    def _keep(self, action: abc.ScheduledAction[_TState]) -> abc.ScheduledAction[_TState]:
        """``action``, called with this channel as its scheduler rather than the inner one.

        reactivex hands an action the scheduler that runs it, and operators subscribe with
        that one (``on_error_resume_next``, ``expand``, ``generate``...): given the inner
        scheduler, the source they subscribe would no longer see the channel, and push.
        """

        def run(_: abc.SchedulerBase, state: _TState | None = None) -> abc.DisposableBase | None:
            return action(self, state)

        return run

    def schedule(
        self, action: abc.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        return self._immediate().schedule(self._keep(action), state)

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: abc.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        if self._inner is None and self.to_seconds(duetime) <= 0:
            return self._immediate().schedule(self._keep(action), state)
        return self._timed().schedule_relative(duetime, self._keep(action), state)

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: abc.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        return self._timed().schedule_absolute(duetime, self._keep(action), state)

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


def _outer_last(share: tuple[CreditLink, int]) -> bool:
    return share[0].parent is None


def demand_channel_of(scheduler: abc.SchedulerBase | None) -> DemandChannel | None:
    """The demand channel a source was subscribed with, if any."""
    return scheduler if isinstance(scheduler, DemandChannel) else None
