"""What reaches the request operator from upstream: items, the end, and burst brackets.

:class:`UpstreamInlet` is the upstream observer of a
:class:`~rxrand.ops.pull.PullSubscription`, and the
:class:`~rxrand.core.channel.CreditOwner` its pull producers report to. It records
news; it never signals the subscriber but for one case, the burst slot below, and never
writes the drain's state:

* items go into the buffer (``offer``), or into the burst slot;
* the upstream's end, or an overflow, is recorded in the inbox (``terminate``); the
  drain signals it;
* the pull producers' bursts update the :class:`~rxrand.core.ledger.CreditLedger`.

**The burst slot.** Pull sources emit against credit in bursts bracketed by their
:class:`~rxrand.core.channel.CreditLink`. Items that arrive *on the bursting thread
during the burst* are counted as they come, without a lock: a list append, or, when the
drain granted the credit on this very stack (its :class:`GrantWindow` is open), delivered
on the spot within the demand it allowed (still serial, rule 1.3; within demand, rule
1.1). Items from any other thread take the locked path into the buffer. The bursting
thread holds an ``RLock`` of the inlet for the length of the burst, and ``on_next`` asks
the lock (``threading.RLock._is_owned``, which ``threading.Condition`` relies on too):
comparing ``threading.get_ident()`` allocates an int per item.

**Credit within the window.** At the end of a burst on the drain's stack that used its
credit up, with the window still owed items (a ``filter`` dropped some), the inlet asks
the window for the drain's next grant (``GrantWindow.replan``, computed by the drain
under the lock the inlet holds) and requests it of the only producer, whose running emit
loop reads it (rule 3.3).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Final, Generic, Protocol, TypeVar, cast, final

from reactivex import abc

from ..core.buffer import BoundedBuffer, BufferOverflowError
from ..core.channel import CreditLink, DemandChannel
from ..core.demand import COMPLETE, Complete, DrainInbox, refuse_none_error
from ..core.ledger import CreditLedger
from .subscription import ignore
from .upstream import UpstreamLink

__all__ = ["UpstreamIgnoredCancelError", "UpstreamInlet"]

_T = TypeVar("_T")

#: Calls from an upstream that keeps emitting after it was cancelled, before it is told to
#: stop by an exception (see ``_push``): items a thread hop still carried are not an error.
_IGNORED_CANCEL_LIMIT: Final = 1024

_get_ident = threading.get_ident

#: Items delivered on the spot per count down: CPython caches the ints up to 256, so
#: counting allocates nothing.
COUNTDOWN: Final = 256


class _OwnedLock(Protocol):
    """A ``threading.RLock`` as the inlet uses it: ``_is_owned`` is the standard library's
    (``threading.Condition`` relies on it), missing from typeshed."""

    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def _is_owned(self) -> bool: ...


class UpstreamIgnoredCancelError(RuntimeError):
    """Raised into an upstream that keeps emitting after it was cancelled, or overflowed.

    reactivex cannot always reach a source that emits in a loop (for example
    ``ops.subscribe_on`` around an endless synchronous source: the loop runs
    before the disposable exists, and disposal is scheduled on another thread).
    Raising from ``on_next`` is how such a loop learns that nobody listens:
    reactivex's sources, and rxrand's, end on it.
    """

    def __init__(self) -> None:
        super().__init__(
            "the stream has ended (cancelled, or over capacity); the source kept emitting"
        )


@final
class UpstreamInlet(Generic[_T]):
    """The upstream observer and credit owner of one pull subscription."""

    __slots__ = (
        "_arrived",
        "_budget",
        "_budget_spent",
        "_budget_start",
        "_buffer",
        "_burst_items",
        "_burst_limit",
        "_burst_link",
        "_burst_owner",
        "_direct",
        "_ignored",
        "_inbox",
        "_room",
        "_run_drain",
        "_upstream",
        "channel",
        "grants",
        "ledger",
    )

    def __init__(
        self,
        inbox: DrainInbox,
        buffer: BoundedBuffer[_T],
        upstream: UpstreamLink,
        scheduler: abc.SchedulerBase | None,
        run_drain: Callable[[], None],
        room: Callable[[], int],
    ) -> None:
        self._inbox = inbox
        self._buffer = buffer
        self._upstream = upstream
        #: Runs the drain loop; called by whoever claimed it.
        self._run_drain = run_drain
        #: The demand the drain has not met yet (under the inbox lock): room in the buffer.
        self._room = room
        #: What pull sources find as their scheduler, and attach to.
        self.channel = DemandChannel(scheduler, self)
        #: What was granted to the pull producers and what became of it (under the lock).
        self.ledger = CreditLedger(self.channel)
        self._ignored = 0
        # -- the burst slot: claimed under the lock, then written by the thread that holds it --
        # Held by the bursting thread while the burst holds the slot (see on_next).
        self._burst_owner = cast(_OwnedLock, threading.RLock())
        #: The link whose burst holds the slot (None: the slot is free).
        self._burst_link: CreditLink | None = None
        self._burst_items: list[_T] = []
        self._burst_limit = 2 * buffer.capacity
        self._arrived = 0
        # The direct-delivery countdown of the burst in progress (see on_next).
        self._budget = 0
        self._budget_start = 0
        self._budget_spent = 0
        # Where the burst in progress delivers on the spot (the grant window's target).
        self._direct: Callable[[_T], None] = ignore
        #: The drain's grant window: where items on its own stack go.
        self.grants: GrantWindow[_T] = GrantWindow()

    @property
    def bursting(self) -> bool:
        """A burst holds the slot (the caller holds the inbox lock)."""
        return self._burst_link is not None

    def clear(self) -> None:
        """The stream is over: drop what waits for the drain (rule 3.13)."""
        with self._inbox.lock:
            self.grants.clear()

    # -- the upstream observer ------------------------------------------------------------

    def on_next(self, value: _T) -> None:
        # The bursting thread? Asked of the RLock the burst holds: 14 ns on CPython 3.12,
        # where comparing threading.get_ident() costs 34 (an int allocated per call).
        if self._burst_owner._is_owned():
            # Emitted by a pull source on this very stack: no lock needed.
            budget = self._budget
            if budget:
                # The drain is on this stack and this item is within demand:
                # deliver it now (still serial, rule 1.3; within demand, 1.1).
                self._budget = budget - 1
                self._direct(value)
                return
            if self._budget_start and self._refill():
                self._budget -= 1
                self._direct(value)
                return
            # Beyond the budget, or a burst on a hop's thread: the burst's
            # owner hands the list over when the burst ends.
            items = self._burst_items
            items.append(value)
            if len(items) > self._burst_limit:
                self._spill()
            return
        self._push(value)

    def _refill(self) -> bool:
        """The countdown ran out on the drain's stack: the next COUNTDOWN of the window."""
        self._budget_spent += self._budget_start
        budget = min(self.grants.budget - self._budget_spent, COUNTDOWN)
        self._budget = self._budget_start = budget if budget > 0 else 0
        return budget > 0

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)  # rule 2.13
        self._terminate(error)

    def on_completed(self) -> None:
        self._terminate(COMPLETE)

    def _terminate(self, terminal: Exception | Complete) -> None:
        with self._inbox.lock:
            if self._inbox.cancelled or not self._inbox.terminate_locked(terminal):
                return
            claimed = self._inbox.claim_locked()
        self._upstream.ended()
        if claimed:
            self._run_drain()

    def _push(self, value: _T) -> None:
        """An item from outside any burst on this thread: a push source, or a thread hop."""
        inbox = self._inbox
        overflow: BufferOverflowError | None = None
        with inbox.lock:
            if inbox.closed:
                self._ignored += 1
                overflowed = isinstance(inbox.terminal, BufferOverflowError)
                if overflowed or self._ignored > _IGNORED_CANCEL_LIMIT:
                    # A source that pushes on after it was disposed for an overflow
                    # ignores the dispose (or cannot be reached by it yet): stop it now,
                    # on its own stack. After a cancel, a thread hop may still carry a
                    # few items: those are let through, up to a limit.
                    raise UpstreamIgnoredCancelError
                return
            # A swallowed item came late, outside any burst: the chain holds items
            # and delivers them later (a thread hop, a delay).
            self.ledger.arrived_outside_bursts()
            overflow = self._offer_locked((value,))
            claimed = inbox.claim_locked()
        if overflow is not None:
            self._upstream.dispose()
        if claimed:
            self._run_drain()

    def _spill(self) -> None:
        """A burst expanded far beyond its credit (flat_map of a push source): buffer it now."""
        with self._inbox.lock:
            items, self._burst_items = self._burst_items, []
            self._arrived += len(items)
            overflow = self._offer_locked(items)
        if overflow is not None:
            self._upstream.dispose()

    def offer(self, items: Iterable[_T], awaited: int) -> BufferOverflowError | None:
        """Buffer ``items`` with ``awaited`` of them wanted; an overflow is recorded as the
        end and returned, so that the caller disposes upstream once it has let go of the
        lock (which it holds)."""
        overflow = self._buffer.offer_all(items, awaited)
        if overflow is not None:
            self._inbox.terminate_locked(overflow)
        return overflow

    def _offer_locked(self, items: Iterable[_T]) -> BufferOverflowError | None:
        return self.offer(items, self._room())

    # -- the credit owner: the pull producers' news, through their links --------------------

    def link_attached(self, link: CreditLink) -> None:
        with self._inbox.lock:
            bursting = self._burst_link if self._burst_owner._is_owned() else None
            self.ledger.attached(link, bursting)
            claimed = self._inbox.claim_locked()
        if claimed:
            self._run_drain()

    def link_detached(self, link: CreditLink) -> None:
        with self._inbox.lock:
            self.ledger.detached(link)
            claimed = self._inbox.claim_locked()
        if claimed:
            self._run_drain()

    def burst_begin(self, link: CreditLink) -> bool:
        ident = _get_ident()
        with self._inbox.lock:
            if self._burst_link is not None:
                # Another burst holds the slot (or this is one inside another on
                # this thread): its items take the locked path, uncounted.
                return False
            self._burst_owner.acquire()  # free: only the slot's holder takes it
            self._burst_link = link
            self._arrived = 0
            grants = self.grants
            if ident == grants.thread:
                # On the drain's own stack: items within demand go straight to
                # the subscriber. Counted down COUNTDOWN at a time (see _refill).
                self._direct = grants.direct
                self._budget = min(grants.budget, COUNTDOWN)
                self._budget_start = self._budget
            return True

    def burst_end(self, link: CreditLink, emitted: int, bracketed: bool) -> None:
        plan: list[tuple[CreditLink, int]] = []
        claimed = False
        overflow: BufferOverflowError | None = None
        with self._inbox.lock:
            self.ledger.emitted(link, emitted)
            if not bracketed:
                return
            self._burst_owner.release()
            self._burst_link = None
            direct = self._budget_spent + self._budget_start - self._budget
            self._budget = self._budget_start = self._budget_spent = 0
            self._direct = ignore
            items = self._burst_items
            if items:
                self._burst_items = []
            self.ledger.burst_arrived(link, emitted, direct + len(items) + self._arrived)
            grants = self.grants
            if _get_ident() == grants.thread:
                # On the drain's stack: it takes the items when its grant is done.
                grants.record(direct, items)
                if items or link.credit or len(self.channel.links) != 1:
                    return
                # The only producer used its credit up, the window has demand left: the
                # drain's next grant now, read by the running emit loop (rule 3.3).
                plan = grants.replan()
            else:
                # A burst on another thread (a hop, a loop): hand the items to the drain.
                # They came before the end, even one the burst itself signalled (a producer
                # completes inside its last burst): only a cancel or an error, which cut
                # ahead, drop them.
                inbox = self._inbox
                if items and not inbox.cancelled and not isinstance(inbox.terminal, Exception):
                    overflow = self._offer_locked(items)
                claimed = inbox.claim_locked()
        for each, share in plan:
            each.producer.request(share)
        if overflow is not None:
            self._upstream.dispose()
        if claimed:
            self._run_drain()


abc.ObserverBase.register(UpstreamInlet)


def _no_plan() -> list[tuple[CreditLink, int]]:
    return []


@final
class GrantWindow(Generic[_T]):
    """The drain's grant in progress: where items that bursts emit on its own stack go.

    Opened and closed by the drain around ``producer.request(n)``; used by the bursts
    that run inside that call, on the same thread (the inlet checks the thread), so it
    needs no lock but for :meth:`take_collected` and :meth:`clear`, which the inlet's
    lock guards.
    """

    __slots__ = ("_collected", "_sent", "budget", "direct", "replan", "thread")

    def __init__(self) -> None:
        #: The thread that holds the window open (0: closed).
        self.thread = 0
        #: Items bursts may still deliver on the spot.
        self.budget = 0
        #: Where those go: the subscriber's on_next, or the drain's batch.
        self.direct: Callable[[_T], None] = ignore
        #: The drain's next grant within the window (the caller holds the lock), for a
        #: burst that used its credit up; none: the drain grants between bursts only.
        self.replan: Callable[[], list[tuple[CreditLink, int]]] = _no_plan
        self._sent = 0
        self._collected: list[_T] = []

    def open(
        self,
        direct: Callable[[_T], None],
        budget: int,
        replan: Callable[[], list[tuple[CreditLink, int]]] | None = None,
    ) -> None:
        """Up to ``budget`` items emitted on this stack go to ``direct``; the rest are
        collected for the drain. ``replan``: see :attr:`replan`."""
        self.direct = direct
        self.budget = budget
        self.replan = replan or _no_plan
        self._sent = 0
        self.thread = _get_ident()

    def record(self, direct: int, items: list[_T]) -> None:
        """A burst on this stack ended: ``direct`` items went on the spot, ``items`` did not."""
        self.budget -= direct
        self._sent += direct
        if items:
            if self._collected:
                self._collected.extend(items)
            else:
                self._collected = items

    def close(self) -> int:
        """The grant is over: how many items went straight to ``direct``."""
        self.thread = 0
        self.budget = 0
        self.direct = ignore
        self.replan = _no_plan
        return self._sent

    def take_collected(self) -> list[_T]:
        """Items emitted during the grants, past the budget (the caller holds the lock)."""
        items, self._collected = self._collected, []
        return items

    def clear(self) -> None:
        """Drop the collected items (the caller holds the lock)."""
        self._collected = []
