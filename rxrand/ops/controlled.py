"""``controlled()``: the request(n) operator, a Reactive Streams publisher over any Observable.

The pieces, each with one job:

* :class:`~rxrand.core.demand.DrainInbox`: the news (requests, cancel) under one
  lock, and who owns the drain loop (RxJava's queue-drain);
* :class:`~rxrand.core.buffer.BoundedBuffer`: items that arrived without demand,
  at most ``capacity``, with an :class:`Overflow` policy;
* the **drain loop** (:meth:`ControlledSubscription._drain`): the only code
  that signals the subscriber and the only writer of delivery state (demand
  left, items delivered). ``request``, ``cancel`` and upstream signals only
  record news and claim the loop if it is idle (rules 1.3, 3.3);
* the **upstream link**: a ``SingleAssignmentDisposable`` created before the
  upstream subscription starts, so that cancel and overflow reach a source
  that emits everything inside ``subscribe`` (what reactivex's
  ``AutoDetachObserver`` does for the same reason);
* :class:`~rxrand.core.ledger.CreditLedger`: what the drain granted to pull
  sources through the :class:`~rxrand.core.channel.DemandChannel`, what of it
  is still in flight, and what vanished on the way (sans I/O, tested alone).

Credit accounting. Pull sources emit against credit, in bursts bracketed by
their :class:`~rxrand.core.channel.CreditLink`. Items that arrive *on the
bursting thread during the burst* are counted as they come (the fast path:
delivered on the spot within demand, or a list append; no lock). Items the
operators in between swallowed (a ``filter``, a ``zip`` waiting for its
partner, a ``concat_map``'s queue, a thread hop) are counted per producer as
``swallowed``: they may be gone (filter) or still coming (a hop). They are
written off when it is safe:

* a burst in which something arrived proves the stages deliver on the spot,
  so what that producer swallowed before is gone; its siblings (the other
  side of a ``zip``) are written off as many as arrived;
* a producer attached inside another's burst is a ``flat_map`` or
  ``concat_map`` inner source made of one swallowed outer item: that item is
  written off the outer producer;
* once an item arrives late, outside any burst (``ops.observe_on``,
  ``ops.delay``), the chain holds items: from then on only arrivals write
  anything off, one for one.

A producer is granted credit only while what it swallowed stays under the
demand still open plus ``capacity``. So a ``zip`` with ``never()`` stops its
source after at most ``demand + capacity`` items, a selective ``filter``
keeps its source going, and items that come late from a hop always fit the
buffer (it holds what demand awaits plus ``capacity``). The price, in the
README: a stage that swallows more than ``capacity`` items in a row with
nothing getting through parks its source until demand grows, unless the
source knows that it ends (a finite ``random_integers``, a sized iterable):
then, once nothing is buffered nor in flight, it is given more a round of
``capacity`` at a time, so that a reducer (``count``, ``reduce``,
``to_list``, ``last``...) completes under ``request(1)`` (see ``_supply``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar, cast, final, overload

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable
from reactivex.scheduler import CurrentThreadScheduler

from ..core.buffer import BoundedBuffer, BufferOverflowError, Overflow
from ..core.channel import CreditLink, DemandChannel, demand_channel_of
from ..core.demand import (
    UNBOUNDED,
    DrainInbox,
    add_demand,
    positive_count,
    refuse_none_error,
    sub_demand,
)
from ..core.fusion import BatchSource, Fusable
from ..core.ledger import CreditLedger
from ..sources.integers import EMIT_BURST

__all__ = [
    "DEFAULT_CAPACITY",
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
#: Most items one fused batch carries (demand permitting).
FUSED_BATCH: Final = 1 << 14
#: Most credit granted to pull sources at once under bounded demand (at least the capacity).
GRANT: Final = 4096
#: Calls from an upstream that keeps emitting after it was disposed, before it
#: is told to stop by an exception (see ``_push_next``).
_IGNORED_CANCEL_LIMIT: Final = 1024

_get_ident = threading.get_ident


class Subscriber(Protocol[_T_in]):
    """A Reactive Streams subscriber (``org.reactivestreams.Subscriber``)."""

    def on_subscribe(self, subscription: ControlledSubscription[Any]) -> None: ...

    def on_next(self, value: _T_in) -> None: ...

    def on_error(self, error: Exception) -> None: ...

    def on_completed(self) -> None: ...


class UpstreamIgnoredCancelError(RuntimeError):
    """Raised into an upstream that keeps emitting after it was cancelled.

    reactivex cannot always reach a source that emits in a loop (for example
    ``ops.subscribe_on`` around an endless synchronous source: the loop runs
    before the disposable exists). Raising from ``on_next`` is how such a
    loop learns that nobody listens: reactivex's sources end on it.
    """

    def __init__(self) -> None:
        super().__init__("the subscription was cancelled; the source kept emitting")


class _Complete:
    __slots__ = ()


_COMPLETE: Final = _Complete()


def _batch_terminal(batches: BatchSource[Any]) -> Exception | _Complete:
    """How an exhausted batch source ended: its ``error`` (ReadyBatchSource), else completion."""
    error = getattr(batches, "error", None)
    return error if isinstance(error, Exception) else _COMPLETE


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
        "_arrived",
        "_batches",
        "_budget",
        "_budget_start",
        "_buffer",
        "_burst_items",
        "_burst_limit",
        "_burst_link",
        "_burst_thread",
        "_capacity",
        "_channel",
        "_collected",
        "_connecting",
        "_delivered",
        "_demand",
        "_direct",
        "_direct_sent",
        "_grant",
        "_grant_budget",
        "_grant_thread",
        "_ignored",
        "_inbox",
        "_ledger",
        "_on_batch",
        "_on_completed",
        "_on_error",
        "_on_next",
        "_outer_link",
        "_terminal",
        "_upstream",
        "_upstream_ended",
        "_upstream_is_publisher",
    )

    def __init__(
        self,
        on_next: Callable[[_T], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
        on_batch: Callable[[Sequence[_T]], None] | None,
        buffer: BoundedBuffer[_T],
        scheduler: abc.SchedulerBase | None,
        batches: BatchSource[_T] | None = None,
    ) -> None:
        self._on_next = on_next
        self._on_error = on_error
        self._on_completed = on_completed
        self._on_batch = on_batch
        self._inbox = DrainInbox()
        # Owned from construction until subscribe() has finished wiring, so
        # that nothing is delivered before on_subscribe returns (rule 1.9).
        self._inbox.claim()
        self._buffer = buffer
        self._capacity = buffer.capacity
        self._grant = max(GRANT, buffer.capacity)
        self._channel = DemandChannel(scheduler, self)
        # What was granted to pull producers and what became of it (under the inbox lock).
        self._ledger = CreditLedger(self._channel)
        # Exists before the upstream subscription runs (see the module doc).
        self._upstream = SingleAssignmentDisposable()
        # Rules 2.3/2.4: a publisher upstream (one with its own subscribe) that
        # ended needs no cancel, and must get none from inside its terminal signal.
        self._upstream_is_publisher = False
        self._upstream_ended = False
        self._outer_link: CreditLink | None = None
        # The fused path: batches straight from a Fusable source, for a bulk subscriber.
        self._batches = batches
        if batches is not None:
            on_ready = getattr(batches, "on_ready", None)
            if callable(on_ready):  # a ReadyBatchSource wakes the drain, not polled
                on_ready(self._batches_ready)
        self._connecting = False
        # -- shared, under the inbox lock --
        self._terminal: Exception | _Complete | None = None
        self._burst_link: CreditLink | None = None
        self._ignored = 0
        # -- the burst slot: written by the thread that holds it --
        self._burst_thread = 0
        self._burst_items: list[_T] = []
        self._burst_limit = 2 * self._capacity
        # -- owned by the drain --
        self._demand = 0
        self._delivered = 0
        self._grant_thread = 0
        self._grant_budget = 0
        self._direct_sent = 0
        # Where an item within demand goes on the spot, during a grant (see _supply).
        self._direct: Callable[[_T], None] = _ignore
        self._collected: list[_T] = []
        # -- the burst slot's direct-delivery countdown (see _upstream_next) --
        self._budget = 0
        self._budget_start = 0
        self._arrived = 0

    # -- the Reactive Streams subscription ------------------------------------

    def request(self, n: int) -> None:
        """Add n to the demand (rule 3.8); the publisher may then send up to that many items.

        Never raises: ``n <= 0`` is signalled through ``on_error`` (rule 3.9),
        demand saturates at 2**63-1, which means unbounded (rule 3.17), and a
        request after cancel or completion does nothing (rule 3.6). Any
        integer type is accepted (``operator.index``), ``bool`` is not.
        """
        if self._inbox.request(n):
            self._drain()

    def cancel(self) -> None:
        """Stop the stream: no more signals (rule 3.12), idempotent (rule 3.7), thread-safe (3.5).

        Cancels upstream at once, so a cold source stops generating, and drops
        the references to the subscriber (rule 3.13).
        """
        claimed = self._inbox.cancel()
        if claimed is None:
            return
        self._upstream.dispose()
        if claimed:
            self._release()

    def dispose(self) -> None:
        """``reactivex`` spelling of :meth:`cancel`."""
        self.cancel()

    @property
    def is_cancelled(self) -> bool:
        """True once cancelled or terminated: no more signals will come."""
        return self._inbox.cancelled

    @property
    def delivered(self) -> int:
        """Items handed to the subscriber so far."""
        return self._delivered

    @property
    def pulled(self) -> int:
        """Items pull sources emitted against this subscription's credit so far."""
        return self._ledger.pulled

    @property
    def pending(self) -> int:
        """Demand not yet met, as of the last drain (``UNBOUNDED`` when unbounded)."""
        return self._demand

    @property
    def dropped(self) -> int:
        """Items dropped by the overflow policy so far."""
        return self._buffer.dropped

    @property
    def fused(self) -> bool:
        """Whether items come in batches straight from the source (the fused path)."""
        return self._batches is not None

    # -- wiring (by Controlled.subscribe) ----------------------------------------

    def _nest_in(self, outer: DemandChannel) -> None:
        """A controlled() inside another one's chain: the outer credit becomes our demand."""
        link = self._outer_link = outer.attach(_Forward(self))
        link.start()

    def _start(self, source: Observable[_T], defer: bool) -> None:
        """on_subscribe has returned: let the drain run (rule 1.9), then connect upstream."""
        if defer:
            # Unbounded demand from a plain observer (ops.take...): start on
            # the trampoline, as reactivex's own sources do, so that the chain
            # downstream holds its disposables before the first item and can
            # stop an endless source.
            CurrentThreadScheduler.singleton().schedule(self._start_deferred, source)
        else:
            self._go(source)

    def _start_deferred(self, _: abc.SchedulerBase, source: Observable[_T] | None) -> None:
        assert source is not None
        self._go(source)

    def _go(self, source: Observable[_T]) -> None:
        # Gives up the drain held since construction (or runs it, if news came).
        self._drain()
        if self._batches is None and not self._inbox.cancelled:
            # No credit while the chain is being subscribed: a source's first
            # burst waits until the upstream disposable is in place, so that a
            # `take` in between stops it at the item it needs, not at the
            # burst's end. (Pushed items may flow meanwhile.)
            self._connecting = True
            try:
                self._connect(source)
            except Exception as error:
                self._upstream_terminal(error)
            finally:
                self._connecting = False
            if self._inbox.claim():
                self._drain()

    def _connect(self, source: Observable[_T]) -> None:
        inlet = cast(abc.ObserverBase[_T], _Inlet(self))
        channel = self._channel
        if type(source).subscribe is not Observable.subscribe:
            # A source with its own subscribe (rxrand's): it emits nothing
            # inside subscribe, so the disposable can be stored on return.
            self._upstream_is_publisher = True
            self._upstream.disposable = source.subscribe(inlet, scheduler=channel)
            return
        upstream = self._upstream

        def set_disposable(_: abc.SchedulerBase | None = None, __: object = None) -> None:
            # What Observable.subscribe does, minus the AutoDetachObserver
            # around the inlet (a call per item; the drain does its job).
            result: Any = source._subscribe_core(inlet, channel)
            if isinstance(result, abc.DisposableBase) or hasattr(result, "dispose"):
                upstream.disposable = result
            elif callable(result):
                upstream.disposable = Disposable(result)
            else:
                upstream.disposable = Disposable()

        trampoline = CurrentThreadScheduler.singleton()
        if trampoline.schedule_required():
            trampoline.schedule(set_disposable)
        else:
            set_disposable()

    def _release(self) -> None:
        """Rule 3.13: forget the subscriber once cancelled or terminated (the drain stays owned)."""
        self._on_next = _ignore
        self._on_error = _ignore
        self._on_completed = _ignore
        self._on_batch = None
        with self._inbox.lock:
            self._buffer.clear()
            self._collected = []
        outer, self._outer_link = self._outer_link, None
        if outer is not None:
            outer.dispose()
        if self._batches is not None:
            self._batches.close()
        # Break the subscription <-> channel cycle now rather than at the next full
        # garbage collection: a producer still holding its link talks to nobody.
        self._channel.close()

    # -- the credit ledger (called through the channel) ---------------------------

    def _link_attached(self, link: CreditLink) -> None:
        ident = _get_ident()
        with self._inbox.lock:
            bursting = self._burst_link if self._burst_thread == ident else None
            self._ledger.attached(link, bursting)
            claimed = self._inbox.claim_locked()
        if claimed:
            self._drain()

    def _link_detached(self, link: CreditLink) -> None:
        with self._inbox.lock:
            self._ledger.detached(link)
            claimed = self._inbox.claim_locked()
        if claimed:
            self._drain()

    def _burst_begin(self, link: CreditLink) -> bool:
        ident = _get_ident()
        with self._inbox.lock:
            if self._burst_thread:
                # Another burst holds the slot (or this is one inside another on
                # this thread): its items take the locked path, uncounted.
                return False
            self._burst_thread = ident
            self._burst_link = link
            self._arrived = 0
            if ident == self._grant_thread:
                # On the drain's own stack: items within demand go straight to
                # the subscriber. At most EMIT_BURST at a time, so that the
                # countdown stays in CPython's cached small ints.
                self._budget = min(self._grant_budget, EMIT_BURST)
                self._budget_start = self._budget
            return True

    def _burst_end(self, link: CreditLink, emitted: int, bracketed: bool) -> None:
        claimed = False
        overflow: BufferOverflowError | None = None
        with self._inbox.lock:
            self._ledger.emitted(link, emitted)
            if not bracketed:
                return
            self._burst_thread = 0
            self._burst_link = None
            direct = self._budget_start - self._budget
            self._budget = self._budget_start = 0
            items = self._burst_items
            if items:
                self._burst_items = []
            self._ledger.burst_arrived(link, emitted, direct + len(items) + self._arrived)
            if _get_ident() == self._grant_thread:
                self._grant_budget -= direct
                self._direct_sent += direct
                if items:
                    if self._collected:
                        self._collected.extend(items)
                    else:
                        self._collected = items
                return
            # A burst on another thread (a hop): hand the items to the drain.
            if items and not self._inbox.cancelled and self._terminal is None:
                overflow = self._offer_locked(items)
            claimed = self._inbox.claim_locked()
        if overflow is not None:
            self._upstream.dispose()
        if claimed:
            self._drain()

    def _offer_locked(self, items: Iterable[_T]) -> BufferOverflowError | None:
        """Buffer ``items``; on overflow the error becomes the terminal signal, returned so
        that the caller disposes upstream once it has let go of the lock. Caller holds it."""
        overflow = self._buffer.offer_all(items, self._awaited())
        if overflow is not None and self._terminal is None:
            self._terminal = overflow
        return overflow

    def _awaited(self) -> int:
        """Demand the drain has not met yet (as last written by it): room in the buffer.

        Items that arrive while the drain is busy elsewhere are wanted, not
        excess; only what goes beyond demand counts against the capacity. With
        unbounded demand that is bounded too: at most one more capacity.
        """
        demand = self._demand
        # Credit lifted past the swallow cap to a finite source may come back
        # late through a hop: it was granted, so it has room (bounded by the
        # source's length).
        return (demand if demand < UNBOUNDED else self._capacity) + self._ledger.lifted

    def _batches_ready(self) -> None:
        """A :class:`~rxrand.core.fusion.ReadyBatchSource` has items (or its end): run the drain."""
        if self._inbox.claim():
            self._drain()

    # -- upstream signals -----------------------------------------------------------

    def _upstream_next(self, value: _T) -> None:
        # (_get_ident stays a global: as a default-argument "local" it cost 30 to 50 more
        # machine instructions per item on CPython 3.11, counted with callgrind. What is
        # left of this check is mostly the int that get_ident allocates per call.)
        if self._burst_thread == _get_ident():
            # Emitted by a pull source on this very stack: no lock needed.
            budget = self._budget
            if budget:
                # The drain is on this stack and this item is within demand:
                # deliver it now (still serial, rule 1.3; within demand, 1.1).
                self._budget = budget - 1
                self._direct(value)
                return
            # Beyond the budget, or a burst on a hop's thread: the burst's
            # owner hands the list over when the burst ends.
            items = self._burst_items
            items.append(value)
            if len(items) > self._burst_limit:
                self._spill()
            return
        self._push_next(value)

    def _spill(self) -> None:
        """A burst expanded far beyond its credit (flat_map of a push source): buffer it now."""
        with self._inbox.lock:
            items, self._burst_items = self._burst_items, []
            self._arrived += len(items)
            overflow = self._offer_locked(items)
        if overflow is not None:
            self._upstream.dispose()

    def _push_next(self, value: _T) -> None:
        overflow: BufferOverflowError | None = None
        with self._inbox.lock:
            if self._inbox.cancelled or self._terminal is not None:
                self._ignored += 1
                if self._ignored > _IGNORED_CANCEL_LIMIT:
                    raise UpstreamIgnoredCancelError
                return
            # A swallowed item came late, outside any burst: the chain holds items
            # and delivers them later (a thread hop, a delay).
            self._ledger.arrived_outside_bursts()
            overflow = self._offer_locked((value,))
            claimed = self._inbox.claim_locked()
        if overflow is not None:
            self._upstream.dispose()
        if claimed:
            self._drain()

    def _upstream_error(self, error: Exception) -> None:
        refuse_none_error(error)
        self._upstream_terminal(error)

    def _upstream_completed(self) -> None:
        self._upstream_terminal(_COMPLETE)

    def _upstream_terminal(self, terminal: Exception | _Complete) -> None:
        with self._inbox.lock:
            if self._inbox.cancelled or self._terminal is not None:
                return
            self._terminal = terminal
            self._upstream_ended = True
            claimed = self._inbox.claim_locked()
        if not self._upstream_is_publisher:
            # A finished reactivex chain needs no subscription: let it go now
            # (AutoDetachObserver's job), so that a `take` in the chain stops
            # the source at once. A publisher ended on its own (rule 2.3).
            self._upstream.dispose()
        if claimed:
            self._drain()

    # -- the drain loop -----------------------------------------------------------

    def _drain(self) -> None:
        """Deliver what can be delivered. The caller owns the drain (DrainInbox.claim)."""
        inbox = self._inbox
        lock = inbox.lock
        batches = self._batches
        while True:
            with lock:
                inbox.consume_missed()
                requested = inbox.take_requested()
                if requested:
                    self._demand = add_demand(self._demand, requested)
                if inbox.cancelled:
                    break  # the drain stays owned for good: the stream is over
                if batches is not None and batches.exhausted and self._terminal is None:
                    # Rule 1.5: no demand needed to complete (or to fail).
                    self._terminal = _batch_terminal(batches)
                terminal = inbox.error or self._terminal
                buffered = len(self._buffer)
                bursting = self._burst_thread != 0
            demand = self._demand
            if isinstance(terminal, Exception):
                # Rule 3.9 errors and upstream errors cut ahead of buffered items.
                self._finish(terminal)
                return
            if buffered and demand:
                with lock:
                    batch = self._buffer.take(min(demand, FUSED_BATCH))
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
        """Bring more items within demand: a fused batch, or credit for pull sources.

        Returns whether anything happened that the loop should look at.
        """
        if self._connecting:
            return False
        batches = self._batches
        if batches is not None:
            taken = batches.take(min(demand, FUSED_BATCH))
            got = len(taken)
            with self._inbox.lock:
                self._ledger.pulled_in_bulk(got)
            if got:
                self._deliver(taken)
            if batches.exhausted:
                with self._inbox.lock:
                    if self._terminal is None:
                        self._terminal = _batch_terminal(batches)
                return True
            # Nothing yet from a source whose batches arrive on their own (a
            # socket): it calls _batches_ready when they do; no spinning here.
            return got > 0
        capacity = self._capacity
        ledger = self._ledger
        with self._inbox.lock:
            if demand >= UNBOUNDED:
                room = capacity - ledger.outstanding
            else:
                # Credit comes in grants of up to GRANT (or the capacity, if larger):
                # every grant costs a plan and a few locks, so not 256 at a time.
                room = min(demand - ledger.outstanding - len(self._buffer), self._grant)
            if room <= 0:
                return False
            plan = ledger.grant(room, capacity, idle=not self._buffer and not self._burst_thread)
        if not plan:
            return False
        # Items within demand go on the spot: to the subscriber's on_next, or
        # into one batch for a bulk subscriber (handed over once the grant is
        # done). Not while older items wait in the buffer, nor when each
        # delivery must be bracketed as a burst of an outer channel (a nested
        # controlled()).
        on_the_spot = not self._buffer and self._outer_link is None
        self._grant_budget = demand if on_the_spot else 0
        self._direct_sent = 0
        batch: list[_T] | None = None
        if self._on_batch is not None:
            batch = []
            self._direct = batch.append
        else:
            self._direct = self._on_next
        self._grant_thread = _get_ident()
        try:
            for link, share in plan:
                if not link.detached:
                    link.producer.request(share)
        except Exception as error:
            # Thrown through a source's emit loop: the subscriber broke rule
            # 2.13, or the source itself failed. It ends the stream.
            self._fail(error)
        finally:
            self._grant_thread = 0
            self._grant_budget = 0
            self._direct = _ignore
            if batch is None:
                sent = self._direct_sent
                self._delivered += sent
                self._demand = sub_demand(self._demand, sent)
        if batch:
            self._deliver(batch)
        with self._inbox.lock:
            items, self._collected = self._collected, []
        if items:
            self._deliver_or_buffer(items)
        return True

    def _deliver_or_buffer(self, items: list[_T]) -> None:
        """Items a pull source emitted on the drain's own stack during a grant, past the budget.

        They were emitted against credit, so they are within demand: the buffer
        holds them as awaited items, never as excess (what ``_spill`` and
        ``_burst_end`` tell it too). Offered as excess, a grant of more than
        ``capacity`` + the direct budget overflowed a socket source whose demand
        came from the event loop's own thread (issue 18, item 1).
        """
        with self._inbox.lock:
            awaited = self._awaited()
            if not len(self._buffer):
                take = min(self._demand, len(items))
                if take == len(items):
                    direct, rest = items, []
                else:
                    direct, rest = items[:take], items[take:]
                if self._demand < UNBOUNDED:
                    awaited -= take  # delivered below, before anything else
            else:
                direct, rest = [], items
            overflow = self._buffer.offer_all(rest, awaited) if rest else None
            if overflow is not None and self._terminal is None:
                self._terminal = overflow
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
                on_next = self._on_next
                inbox = self._inbox
                for value in batch:
                    if inbox.cancelled:  # rule 3.12: cancel from inside on_next
                        break
                    on_next(value)
                    sent += 1
        except Exception as error:
            self._fail(error)
        finally:
            if outer is not None:
                outer.end(sent)
        self._delivered += sent
        self._demand = sub_demand(self._demand, sent)

    def _fail(self, error: Exception) -> None:
        with self._inbox.lock:
            if self._terminal is None or self._terminal is _COMPLETE:
                self._terminal = error
        self._upstream.dispose()

    def _finish(self, terminal: Exception | _Complete) -> None:
        """Deliver the one terminal signal (rules 1.6/1.7), then let go of everything."""
        with self._inbox.lock:
            self._inbox.close_locked()
        on_error, on_completed = self._on_error, self._on_completed
        self._release()
        if not (self._upstream_ended and self._upstream_is_publisher):
            self._upstream.dispose()
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

    def __init__(
        self,
        source: Observable[_T],
        capacity: int,
        overflow: Overflow,
        on_drop: Callable[[_T], None] | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.capacity = capacity
        self.overflow = overflow
        self.on_drop = on_drop

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
        # isinstance(self.source, Fusable), without the runtime Protocol machinery
        # (~6 us a call, timed with timeit: once per subscription, so per connection).
        open_batches = getattr(self.source, "open_batches", None) if on_batch is not None else None
        batches = cast(Fusable[_T], self.source).open_batches() if callable(open_batches) else None
        subscription: ControlledSubscription[_T] = ControlledSubscription(
            cast(Callable[[_T], None], on_next or _ignore),
            on_error or _raise,
            on_completed or _ignore,
            on_batch,
            BoundedBuffer(self.capacity, self.overflow, self.on_drop),
            scheduler,
            batches,
        )
        outer = demand_channel_of(scheduler)
        defer = False
        try:
            if on_subscribe is not None:
                on_subscribe(subscription)
            elif outer is not None:
                # A controlled() inside another one's chain: the outer credit
                # becomes our demand, and our deliveries are bursts of the
                # outer channel, so demand keeps flowing back to the source.
                subscription._nest_in(outer)
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


@final
class _Inlet(Generic[_T]):
    """The request operator's upstream observer: the subscription's three bound methods.

    An ``abc.ObserverBase`` by registration (some reactivex sources test for one), not by
    inheritance: its signals are instance attributes, a call each, and no class in its MRO
    may define the same names. CPython 3.12+ specialises ``observer.on_next(value)`` on an
    instance attribute, but not on one that shadows a method of the class: every item then
    took the generic lookup (about 200 machine instructions per item on 3.12 and 3.13,
    counted with callgrind; what kept the per-item path from getting faster there).
    """

    def __init__(self, subscription: ControlledSubscription[_T]) -> None:
        self.on_next: Callable[[_T], None] = subscription._upstream_next
        self.on_error: Callable[[Exception], None] = subscription._upstream_error
        self.on_completed: Callable[[], None] = subscription._upstream_completed


abc.ObserverBase.register(_Inlet)


@final
class _Forward:
    """PullProducer for a nested ``controlled()``: outer credit becomes inner demand."""

    __slots__ = ("_subscription",)

    def __init__(self, subscription: ControlledSubscription[Any]) -> None:
        self._subscription = subscription

    def request(self, n: int) -> None:
        self._subscription.request(n)


@overload
def controlled(
    capacity: int = DEFAULT_CAPACITY,
    overflow: Overflow = Overflow.ERROR,
    *,
    on_drop: None = None,
) -> Callable[[Observable[_T]], Controlled[_T]]: ...


@overload
def controlled(
    capacity: int = DEFAULT_CAPACITY,
    overflow: Overflow = Overflow.ERROR,
    *,
    on_drop: Callable[[_T], None],
) -> Callable[[Observable[_T]], Controlled[_T]]: ...


def controlled(
    capacity: int = DEFAULT_CAPACITY,
    overflow: Overflow = Overflow.ERROR,
    *,
    on_drop: Callable[[_T], None] | None = None,
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
        capacity: Most items held for a subscriber beyond its demand; also
            how far a source may run ahead of demand when its items vanish
            between source and operator, before it is parked (and the most
            credit granted at once under unbounded demand).
        overflow: What to do when the buffer is full.
        on_drop: Called with each item the overflow policy drops (it must not
            call back into the subscription).

    Returns:
        An operator for ``Observable.pipe``.

    Raises:
        TypeError: capacity is not an int, overflow not an :class:`Overflow`,
            or on_drop not callable.
        ValueError: capacity < 1.
    """
    size = positive_count("capacity", capacity)
    if not isinstance(overflow, Overflow):
        raise TypeError(f"overflow must be an Overflow, got {type(overflow).__name__}")
    if on_drop is not None and not callable(on_drop):
        raise TypeError(f"on_drop must be callable, got {type(on_drop).__name__}")

    def operator(source: Observable[_T]) -> Controlled[_T]:
        return Controlled(source, size, overflow, on_drop)

    return operator
