"""Demand accounting: the saturating arithmetic behind ``request(n)``.

No I/O and no reactivex here: this module is the arithmetic that the Reactive
Streams rules ask of a subscription, kept apart so that it can be read and
tested on its own.
"""

from __future__ import annotations

from typing import Final

__all__ = ["UNBOUNDED", "add_demand", "check_request"]

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


def add_demand(pending: int, n: int) -> int:
    """Rule 3.8: demand is additive. Rule 3.17: it saturates at ``UNBOUNDED``, never overflows."""
    total = pending + n
    return total if total < UNBOUNDED else UNBOUNDED
