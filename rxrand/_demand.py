"""Demand accounting: the saturating counter behind ``request(n)``.

No I/O and no reactivex here: this module is the arithmetic that the Reactive
Streams rules ask of a subscription, kept apart so that it can be read and
tested on its own.
"""

from __future__ import annotations

from typing import Final, final

__all__ = ["UNBOUNDED", "Demand", "check_request"]

#: Rule 3.17: a demand of 2**63-1 (Java's ``Long.MAX_VALUE``) or more is
#: "effectively unbounded". The counter saturates here and is never
#: decremented once it gets here.
UNBOUNDED: Final = 2**63 - 1


def check_request(n: object) -> ValueError | TypeError | None:
    """Return the error that ``request(n)`` must signal, or ``None`` if n is valid.

    Rule 3.9: a non-positive request is signalled through ``on_error`` (the
    caller delivers the returned exception), never raised from ``request``.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        return TypeError(f"request(n) takes an int, got {type(n).__name__}")
    if n <= 0:
        return ValueError(f"request(n) needs n > 0 (rule 3.9), got {n}")
    return None


@final
class Demand:
    """A saturating count of items requested but not yet delivered.

    Not thread-safe by itself: the owner serialises access (the controlled
    subscription lets only its drain loop touch it).
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = 0

    @property
    def pending(self) -> int:
        """Items that may still be delivered; ``UNBOUNDED`` once saturated."""
        return self._pending

    @property
    def unbounded(self) -> bool:
        return self._pending >= UNBOUNDED

    def add(self, n: int) -> None:
        """Rule 3.8: demand is additive. Rule 3.17: it saturates, never overflows."""
        self._pending = min(self._pending + n, UNBOUNDED)

    def take(self, n: int) -> None:
        """Account for n delivered items (n must not exceed ``pending``)."""
        if self._pending < UNBOUNDED:
            self._pending -= n

    def __repr__(self) -> str:
        shown = "unbounded" if self.unbounded else str(self._pending)
        return f"Demand({shown})"
