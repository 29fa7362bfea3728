"""The general path of ``controlled()``: any Observable, a buffer, and credit for pull sources.

The pieces, each with one job:

* :class:`~rxrand.ops.subscription.ControlledSubscription`: the facade, ``request``
  and ``cancel`` recorded in a :class:`~rxrand.core.demand.DrainInbox`;
* :class:`~rxrand.ops.upstream.UpstreamLink`: subscribing the upstream, and ending it;
* :class:`~rxrand.ops.inlet.UpstreamInlet`: what comes from upstream (items into the
  buffer or the burst slot, the end into the inbox, the producers' bursts into the
  :class:`~rxrand.core.ledger.CreditLedger`);
* :class:`~rxrand.core.buffer.BoundedBuffer`: items that arrived without demand,
  at most ``capacity``, with an :class:`~rxrand.core.buffer.Overflow` policy;
* :class:`PullSubscription`'s **drain loop**: the only code that signals the
  subscriber and the only writer of the demand, the delivery count, and what is
  signalled (rules 1.3, 3.3).

Credit accounting. Pull sources emit against credit, in bursts bracketed by their
:class:`~rxrand.core.channel.CreditLink`. Items that arrive *on the bursting thread
during the burst* are counted as they come (the inlet's burst slot: delivered on the
spot within demand, or a list append; no lock). Items the operators in between
swallowed (a ``filter``, a ``zip`` waiting for its partner, a ``concat_map``'s queue, a
thread hop) are counted per producer as ``swallowed``: they may be gone (filter) or
still coming (a hop). The ledger writes them off when it is safe (see
:meth:`~rxrand.core.ledger.CreditLedger.burst_arrived`). Credit written off is granted
again within the same grant window, up to what the window may still deliver: by the drain
between bursts, or, for the only producer, at the end of the burst that used its credit
up (the inlet asks the window; the producer's emit loop reads the new credit, rule 3.3).
So a ``filter`` costs no turn of the drain loop per grant, and its source never emits
past demand.

A producer is granted credit only while what it swallowed stays under the demand still
open plus ``prefetch`` (at most ``capacity``). So a ``zip`` with ``never()`` stops its
source after at most ``demand + prefetch`` items, a selective ``filter`` keeps its
source going, and items that come late from a hop always fit the buffer (it holds what
demand awaits plus ``capacity``). The price, in the guide: a stage that swallows more
than ``prefetch`` items in a row with nothing getting through parks its source until
demand grows, unless the source knows that it ends (a finite ``random_integers``, a
sized iterable): then, once nothing is buffered nor in flight, it is given more a round
of ``capacity`` at a time, so that a reducer (``count``, ``reduce``, ``to_list``,
``last``...) completes under ``request(1)`` (see :meth:`PullSubscription._supply`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import length_hint
from typing import Any, Final, TypeVar, cast, final

from reactivex import Observable, abc
from reactivex.scheduler import CurrentThreadScheduler

from ..core.buffer import BoundedBuffer
from ..core.channel import CreditLink, DemandChannel
from ..core.demand import UNBOUNDED, DrainInbox
from .fused import FUSED_BATCH
from .inlet import UpstreamInlet
from .subscription import ControlledSubscription
from .upstream import UpstreamLink

__all__ = ["GRANT", "PullSubscription"]

_T = TypeVar("_T")

#: Most credit granted to pull sources at once under bounded demand (at least the capacity).
GRANT: Final = 4096


@final
class PullSubscription(ControlledSubscription[_T]):
    """A subscription fed by an Observable: pushed items buffered, pull sources credited."""

    __slots__ = (
        "_buffer",
        "_capacity",
        "_grant",
        "_inlet",
        "_outer_link",
        "_prefetch",
        "_upstream",
    )

    def __init__(
        self,
        on_next: Callable[[_T], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
        on_batch: Callable[[Sequence[_T]], None] | None,
        buffer: BoundedBuffer[_T],
        scheduler: abc.SchedulerBase | None,
        prefetch: int,
    ) -> None:
        super().__init__(on_next, on_error, on_completed, on_batch)
        self._buffer = buffer
        self._capacity = buffer.capacity
        self._prefetch = prefetch
        self._grant = max(GRANT, buffer.capacity)
        self._upstream = UpstreamLink()
        self._inlet = UpstreamInlet(
            self._inbox, buffer, self._upstream, scheduler, self._drain, self._room
        )
        self._outer_link: CreditLink | None = None

    @property
    def pulled(self) -> int:
        """Items pull sources emitted against this subscription's credit so far."""
        return self._inlet.ledger.pulled

    @property
    def dropped(self) -> int:
        return self._buffer.dropped

    # -- wiring (by Controlled.subscribe) ----------------------------------------

    def _nest_in(self, outer: DemandChannel) -> None:
        """A controlled() inside another one's chain: the outer credit becomes our demand."""
        link = self._outer_link = outer.attach(_Forward(self))
        link.start()

    def _start(self, source: Any, defer: bool) -> None:
        if defer:
            # Unbounded demand from a plain observer (ops.take...): start on
            # the trampoline, as reactivex's own sources do, so that the chain
            # downstream holds its disposables before the first item and can
            # stop an endless source.
            CurrentThreadScheduler.singleton().schedule(lambda _, __: self._go(source))
        else:
            self._go(source)

    def _go(self, source: Observable[_T]) -> None:
        # Gives up the drain held since construction (or runs it, if news came).
        self._drain()
        if not self._inbox.cancelled:
            inlet = self._inlet
            self._upstream.connect(source, cast(abc.ObserverBase[_T], inlet), inlet.channel)
            if self._inbox.claim():
                self._drain()

    # -- the end -----------------------------------------------------------------------

    def _cancel_upstream(self) -> None:
        self._upstream.dispose()

    def _end_upstream(self) -> None:
        self._upstream.release()

    def _release_upstream(self) -> None:
        with self._inbox.lock:
            self._buffer.clear()
        self._inlet.clear()
        outer, self._outer_link = self._outer_link, None
        if outer is not None:
            outer.dispose()
        # Break the subscription <-> channel cycle now rather than at the next full
        # garbage collection: a producer still holding its link talks to nobody.
        self._inlet.channel.close()

    def _fail(self, error: Exception) -> None:
        """The subscriber or a source raised through a delivery: it ends the stream."""
        with self._inbox.lock:
            self._inbox.fail_locked(error)
        self._upstream.dispose()

    def _room(self) -> int:
        """Demand the drain has not met yet: room in the buffer (the caller holds the lock).

        Items that arrive while the drain is busy elsewhere are wanted, not
        excess; only what goes beyond demand counts against the capacity. With
        unbounded demand that is bounded too: at most one more capacity.
        """
        demand = self._demand
        # Credit lifted past the swallow cap to a finite source may come back
        # late through a hop: it was granted, so it has room (bounded by the
        # source's length).
        return (demand if demand < UNBOUNDED else self._capacity) + self._inlet.ledger.lifted

    # -- the drain loop -----------------------------------------------------------

    def _drain(self) -> None:
        inbox = self._inbox
        lock = inbox.lock
        buffer = self._buffer
        inlet = self._inlet
        while True:
            with lock:
                if self._read_news_locked():
                    break  # cancelled: the drain stays owned for good, the stream is over
                terminal = inbox.error or inbox.terminal
                buffered = len(buffer)
                bursting = inlet.bursting
            demand = self._demand
            if isinstance(terminal, Exception):
                # Rule 3.9 errors and upstream errors cut ahead of buffered items.
                self._finish(terminal)
                return
            if buffered and demand:
                with lock:
                    batch = buffer.take(min(demand, FUSED_BATCH))
                self._deliver(batch)
                continue
            if terminal is not None and not buffered and not bursting:
                self._finish(terminal)
                return
            if demand and terminal is None and self._supply(demand):
                continue
            with lock:
                if inbox.release_locked():
                    return
        self._release()

    def _supply(self, demand: int) -> bool:
        """Grant credit to the pull sources, within demand. Returns whether anything happened
        that the loop should look at."""
        if self._upstream.connecting:
            return False  # no credit before the upstream disposable exists
        with self._inbox.lock:
            plan = self._plan_locked(demand)
        if not plan:
            return False
        # Items within demand go on the spot: to on_next, or into one batch for a bulk
        # subscriber. Not while older items wait in the buffer, nor when each delivery
        # is a burst of an outer channel (a nested controlled()).
        on_the_spot = not self._buffer and self._outer_link is None
        batch: list[_T] | None = [] if self._on_batch is not None else None
        grants = self._inlet.grants
        regrant = on_the_spot and demand < UNBOUNDED
        direct = batch.append if batch is not None else self._on_next
        grants.open(direct, demand if on_the_spot else 0, self._replan_locked if regrant else None)
        try:
            while plan:
                for link, share in plan:
                    if not link.detached:
                        link.producer.request(share)
                if not regrant:
                    break
                with self._inbox.lock:
                    plan = self._replan_locked()
        except Exception as error:
            # Thrown through a source's emit loop: the subscriber broke rule
            # 2.13, or the source itself failed. It ends the stream.
            self._fail(error)
        finally:
            sent = grants.close()
            if batch is None:
                self._count_delivered(sent)
        if batch:
            self._deliver(batch)
        with self._inbox.lock:
            items = grants.take_collected()
        if items:
            self._deliver_or_buffer(items)
        return True

    def _plan_locked(self, demand: int) -> list[tuple[CreditLink, int]]:
        """Credit for the pull sources, within ``demand`` (the caller holds the lock)."""
        buffer = self._buffer
        ledger = self._inlet.ledger
        if demand >= UNBOUNDED:
            room = self._capacity - ledger.outstanding
        else:
            # Credit comes in grants of up to GRANT (or the capacity, if larger):
            # every grant costs a plan and a few locks, so not 256 at a time.
            room = min(demand - ledger.outstanding - len(buffer), self._grant)
        if room <= 0:
            return []
        idle = not buffer and not self._inlet.bursting
        return ledger.grant(room, self._capacity, idle=idle, prefetch=self._prefetch)

    def _replan_locked(self) -> list[tuple[CreditLink, int]]:
        """More credit inside an open grant window, up to what it may still deliver: items
        vanished on the way (a filter), demand is left. Not a round of the drain loop per
        grant (a filter that keeps half needs about ten per request)."""
        inbox = self._inbox
        if inbox.closed or inbox.error is not None or self._buffer or self._inlet.bursting:
            return []  # nor after older items that wait in the buffer (rule 1.3 order)
        return self._plan_locked(self._inlet.grants.budget)

    def _deliver_or_buffer(self, items: list[_T]) -> None:
        """Items a pull source emitted on the drain's stack during a grant, past the budget:
        within demand, so buffered as awaited items, never as excess (an overflow)."""
        with self._inbox.lock:
            awaited = self._room()
            demand = self._demand
            if not len(self._buffer):
                take = min(demand, len(items))
                direct, rest = (items, []) if take == len(items) else (items[:take], items[take:])
                if demand < UNBOUNDED:
                    awaited -= take  # delivered below, before anything else
            else:
                direct, rest = [], items
            overflow = self._inlet.offer(rest, awaited) if rest else None
        if overflow is not None:
            self._upstream.dispose()
        if direct:
            self._deliver(direct)

    def _deliver(self, batch: Sequence[_T]) -> None:
        """Hand ``batch`` (at most the demand) to the subscriber; the drain alone calls this."""
        if self._inbox.cancelled:
            return  # rule 3.12: nothing after a cancel, not even a batch already taken
        sent = 0
        outer = self._outer_link
        if outer is not None:
            outer.begin()
        try:
            on_batch = self._on_batch
            if on_batch is not None:
                on_batch(batch)
                sent = len(batch)
            else:
                sent, failure = _send_each(self._on_next, batch, self._inbox)
                if failure is not None:
                    raise failure
        except Exception as error:
            self._fail(error)
        finally:
            if outer is not None:
                outer.end(sent)
        self._count_delivered(sent)


def _send_each(
    on_next: Callable[[_T], None], batch: Sequence[_T], inbox: DrainInbox
) -> tuple[int, Exception | None]:
    """Hand ``batch`` to ``on_next`` item by item, until a cancel (rule 3.12) or an error.

    Returns how many items ``on_next`` took, and what it raised. Counted from what is left
    when the loop stops early, not by a counter per item (an int allocated per item past
    256).
    """
    rest = iter(batch)
    sent = len(batch)
    try:
        for value in rest:
            if inbox.cancelled:  # rule 3.12: cancel from inside on_next
                return sent - length_hint(rest) - 1, None
            on_next(value)
    except Exception as failure:
        return sent - length_hint(rest) - 1, failure  # the item that raised, and after
    return sent, None


@final
class _Forward:
    """PullProducer for a nested ``controlled()``: outer credit becomes inner demand."""

    __slots__ = ("_subscription",)

    def __init__(self, subscription: PullSubscription[Any]) -> None:
        self._subscription = subscription

    def request(self, n: int) -> None:
        self._subscription.request(n)
