"""Demand accounting: the saturating arithmetic behind ``request(n)``, and the drain's inbox.

No I/O and no reactivex here: this module is what the Reactive Streams rules
ask of a subscription's bookkeeping, kept apart so that it can be read and
tested on its own.

:class:`DrainInbox` is RxJava's queue-drain in Python: whoever brings news
(a request, a cancel, an item, a terminal signal) records it under one lock
and tries to *claim* the drain. Exactly one caller wins and runs the drain
loop; the others only leave a ``missed`` mark, which the winner picks up
before it lets go. So every signal to the subscriber is sent by one thread
at a time (rule 1.3) and ``request`` from inside ``on_next`` never recurses
(rule 3.3). The lock guards only the news; the drain's own state is written
by the drain alone.
"""

from __future__ import annotations

import operator
import threading
from typing import Final, final

__all__ = [
    "COMPLETE",
    "UNBOUNDED",
    "Complete",
    "DrainInbox",
    "add_demand",
    "as_count",
    "check_request",
    "positive_count",
    "refuse_none_error",
    "refuse_none_subscription",
]

UNBOUNDED: Final = 2**63 - 1
"""Rule 3.17: a demand of 2**63-1 (Java's ``Long.MAX_VALUE``) or more is "effectively unbounded".

The demand counter saturates here and is never decremented once it gets here.
"""


@final
class Complete:
    """The type of :data:`COMPLETE`: a stream's normal end, as a value (beside an exception)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "COMPLETE"


COMPLETE: Final = Complete()
"""A completed stream's terminal signal, recorded as news like an error is."""


def as_count(value: object) -> int | None:
    """``value`` as an int if it is an integer of any kind (``operator.index``), else ``None``.

    numpy integers are accepted; ``bool`` is refused, because ``True`` where a
    count is expected is almost surely a mistake.
    """
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def positive_count(name: str, value: object) -> int:
    """An argument that must be an integer >= 1 (a capacity, a prefetch), checked when passed.

    Raises:
        TypeError: not an integer (``bool`` included).
        ValueError: below 1.
    """
    count = as_count(value)
    if count is None:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if count < 1:
        raise ValueError(f"{name} must be >= 1, got {count}")
    return count


def check_request(n: object) -> ValueError | TypeError | None:
    """Return the error that ``request(n)`` must signal, or ``None`` if n is valid.

    Rule 3.9: a non-positive request is signalled through ``on_error`` (the
    caller delivers the returned exception), never raised from ``request``.
    """
    count = as_count(n)
    if count is None:
        return TypeError(f"request(n) takes an int, got {type(n).__name__}")
    if count <= 0:
        return ValueError(f"request(n) needs n > 0 (rule 3.9), got {count}")
    return None


def refuse_none_subscription(subscription: object) -> None:
    """Rule 2.13, adapted: a subscriber refuses ``on_subscribe(None)`` and changes nothing.

    Raises:
        TypeError: ``subscription`` is None.
    """
    if subscription is None:
        raise TypeError("on_subscribe(None): a subscription is required (rule 2.13)")


def refuse_none_error(error: object) -> None:
    """Rule 2.13, adapted: ``on_error(None)`` is refused and changes nothing.

    (``None`` as an *element* is an ordinary Python value: ``on_next(None)`` stays allowed.)

    Raises:
        TypeError: ``error`` is None.
    """
    if error is None:
        raise TypeError("on_error(None): an exception is required (rule 2.13)")


def add_demand(pending: int, n: int) -> int:
    """Rule 3.8: demand is additive. Rule 3.17: it saturates at ``UNBOUNDED``, never overflows."""
    total = pending + n
    return total if total < UNBOUNDED else UNBOUNDED


def sub_demand(pending: int, n: int) -> int:
    """Demand left after ``n`` deliveries; unbounded demand stays unbounded (rule 3.17)."""
    return pending if pending >= UNBOUNDED else pending - n


@final
class DrainInbox:
    """The news a subscription's drain loop has not read yet, and who owns the loop.

    ``lock`` guards every field here. ``claim()`` returns True to exactly one
    caller until that caller's ``release()`` returns True (nothing missed).
    """

    __slots__ = ("_busy", "_missed", "cancelled", "error", "lock", "requested", "terminal")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: Demand added since the drain last looked (saturating).
        self.requested = 0
        #: The first illegal request (rule 3.9), delivered as on_error.
        self.error: Exception | None = None
        #: Set once by cancel(); never cleared (rules 3.5-3.7).
        self.cancelled = False
        #: How the stream ends, as recorded by whoever learnt it first (the upstream's
        #: terminal signal, a buffer overflow, a failing subscriber); the drain signals it.
        self.terminal: Exception | Complete | None = None
        self._busy = False
        self._missed = False

    def request(self, n: int) -> bool:
        """Record ``request(n)``; True if the caller now owns the drain."""
        error = check_request(n)
        with self.lock:
            if self.cancelled:
                return False  # rule 3.6: a no-op after cancel
            if error is not None:
                if self.error is None:
                    self.error = error
            else:
                self.requested = add_demand(self.requested, operator.index(n))
            return self.claim_locked()

    def cancel(self) -> bool | None:
        """Record a cancel. ``None`` if it was already cancelled (rule 3.7), else claim()."""
        with self.lock:
            if self.cancelled:
                return None
            self.cancelled = True
            return self.claim_locked()

    @property
    def closed(self) -> bool:
        """Cancelled, or its end recorded: items arriving now are not wanted."""
        return self.cancelled or self.terminal is not None

    def terminate_locked(self, terminal: Exception | Complete) -> bool:
        """Record how the stream ends, unless that is known already; True if it was not.

        The caller holds the lock. The first end recorded wins (rule 1.7: one terminal
        signal), but for :meth:`fail_locked`.
        """
        if self.terminal is not None:
            return False
        self.terminal = terminal
        return True

    def fail_locked(self, error: Exception) -> None:
        """Record ``error`` as the end, in place of a completion not yet signalled.

        For a subscriber that raised (rule 2.13): what it was about to get no longer
        matters. The caller holds the lock.
        """
        if self.terminal is None or self.terminal is COMPLETE:
            self.terminal = error

    def claim(self) -> bool:
        """Ask for the drain; True if the caller now owns it, else the owner will look again."""
        with self.lock:
            return self.claim_locked()

    def claim_locked(self) -> bool:
        """:meth:`claim`, for a caller that holds the lock already."""
        if self._busy:
            self._missed = True
            return False
        self._busy = True
        return True

    def close_locked(self) -> None:
        """The stream is over (a terminal signal goes out): nothing more is recorded, as
        after a cancel (rules 1.6, 1.7). The caller holds the lock."""
        self.cancelled = True

    def take_requested(self) -> int:
        """The demand added since the last call (caller holds the lock)."""
        n, self.requested = self.requested, 0
        return n

    def release(self) -> bool:
        """Let go of the drain, unless news arrived meanwhile (then keep it: return False)."""
        with self.lock:
            return self.release_locked()

    def release_locked(self) -> bool:
        """:meth:`release`, for a caller that holds the lock already."""
        if self._missed:
            self._missed = False
            return False
        self._busy = False
        return True

    def consume_missed(self) -> None:
        """The drain is about to look at everything (caller holds the lock)."""
        self._missed = False
