"""The credit ledger: what a request operator granted its pull producers, and what became of it.

Sans I/O, and not thread-safe by itself: the request operator calls it under its lock. It
keeps, for one subscription:

* ``outstanding``: credit granted and not yet emitted (the sum of the links' credit);
* ``pulled``: items the producers emitted against it;
* per producer, ``swallowed``: items it emitted that did not arrive (a ``filter`` dropped
  them, a ``zip`` holds them for their partner, a thread hop still carries them), written
  off when it is safe (see :meth:`CreditLedger.burst_arrived`);
* ``late``: whether items ever arrived outside a burst (a hop or a delay holds items), after
  which nothing swallowed is written off any more, only counted back as items arrive;
* ``lifted``: credit granted past the swallow cap to producers that end, so that a stage
  that swallows its whole input (``count``, ``reduce``, ``to_list``) completes under
  ``request(1)``.

Invariants (tested with hypothesis): ``outstanding`` is the sum of the attached links'
credit and never negative; a grant never exceeds the room asked for (but for the lifted
rounds, of ``capacity`` each); ``swallowed`` is never negative, and a write-off never takes
more than was swallowed.
"""

from __future__ import annotations

from typing import final

from .channel import CreditLink, DemandChannel
from .demand import UNBOUNDED

__all__ = ["CreditLedger"]


@final
class CreditLedger:
    """Credit accounting for one request operator's subscription (the caller holds its lock)."""

    __slots__ = ("_channel", "late", "lifted", "outstanding", "pulled")

    def __init__(self, channel: DemandChannel) -> None:
        self._channel = channel
        #: Credit granted to pull producers and not yet emitted.
        self.outstanding = 0
        #: Items pull producers emitted against the credit, so far.
        self.pulled = 0
        #: Items have arrived outside any burst: the chain holds items (a hop, a delay).
        self.late = False
        #: Credit granted past the swallow cap, to producers that end (see :meth:`grant`).
        self.lifted = 0

    def attached(self, link: CreditLink, bursting: CreditLink | None) -> None:
        """``link`` was attached inside the burst of ``bursting`` (on its thread), if any.

        A flat_map or concat_map made an inner source of one of the outer items (the next
        one of a concat_map starts when the previous inner completes, inside its burst).
        That item did not vanish: it became this producer. Parented to the outermost source.
        """
        if bursting is None:
            return
        parent = bursting
        while parent.parent is not None:
            parent = parent.parent
        link.parent = parent
        parent.spawns = True
        if parent.swallowed:
            parent.swallowed -= 1

    def detached(self, link: CreditLink) -> None:
        """``link``'s producer is done: its credit returns."""
        self.outstanding -= link.credit
        link.credit = 0

    def emitted(self, link: CreditLink, count: int) -> None:
        """``link``'s producer emitted ``count`` items (a burst ended), against its credit."""
        used = min(count, link.credit)
        link.credit -= used
        self.outstanding -= used
        self.pulled += count

    def pulled_in_bulk(self, count: int) -> None:
        """A fused batch of ``count`` items was taken straight from the source."""
        self.pulled += count

    def burst_arrived(self, link: CreditLink, emitted: int, arrived: int) -> None:
        """A bracketed burst of ``emitted`` items ended; ``arrived`` of them (or older ones)
        reached the operator during it.

        A burst in which something arrived proves the stages deliver on the spot: what
        that producer swallowed before is gone, and its siblings (the other side of a
        zip) are written off as many as arrived. Once items arrive late, outside any
        burst, what arrives in a burst may be old: count exactly, write nothing off.
        """
        if self.late:
            left = link.swallowed + emitted - arrived
            link.swallowed = left if left > 0 else 0
        elif arrived:
            link.swallowed = 0
            for other in self._channel.links:
                if other.swallowed and other is not link and not link.descends_from(other):
                    other.swallowed = other.swallowed - arrived if other.swallowed > arrived else 0
        else:
            link.swallowed += emitted

    def arrived_outside_bursts(self) -> None:
        """An item arrived late, outside any burst: one swallowed item per producer came back.

        From now on the chain is known to hold items, and nothing is written off.
        """
        for link in self._channel.links:
            if link.swallowed:
                link.swallowed -= 1
                self.late = True

    def grant(
        self, room: int, capacity: int, *, idle: bool, prefetch: int | None = None
    ) -> list[tuple[CreditLink, int]]:
        """Credit for the producers: at most ``room`` in all, recorded as outstanding.

        A producer whose items vanish on the way (a zip waiting on never(), a thread hop's
        queue) runs at most ``prefetch`` items (``capacity`` if not given) ahead of what
        demand can take; the others keep going. The prefetch is its own bound, at most the
        capacity, so that a large buffer does not also let a source run far ahead of a
        thread hop (RxJava's ``observeOn`` prefetch, 128, plays the same part).
        When none may have any and the operator is ``idle`` (nothing buffered,
        nothing in flight, no burst, no late items), everything granted was swallowed by
        a stage that needs its whole input before it emits (count, reduce, to_list...;
        Reactor's reduce requests unbounded upstream for this reason): producers that end
        are given more, a round of ``capacity`` at a time (``lifted``), so that whatever
        passes fits the buffer. A producer with no known end stays parked: a reducer of an
        endless stream never emits, and a zip with never() would queue forever.
        """
        ahead = capacity if prefetch is None else prefetch
        plan = self._channel.plan(room, room + ahead)
        if not plan and idle and not self.outstanding and not self.late:
            plan = self._channel.plan(capacity, UNBOUNDED, finite_only=True)
            for _, share in plan:
                self.lifted += share
        for link, share in plan:
            link.credit += share
            self.outstanding += share
        return plan
