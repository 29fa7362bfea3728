"""The bounded buffer for items that arrive without demand, and its :class:`Overflow` policy.

No I/O and no reactivex. A push source (a Subject, a timer, an operator that
expands one item into several) cannot be paused; what it sends beyond demand
waits here, never more than ``capacity`` items. When the buffer is full the
policy decides, as RxJava's ``onBackpressure*`` operators do:

================  ===============================================================
``Overflow``      RxJava
================  ===============================================================
``ERROR``         ``onBackpressureBuffer(capacity)`` (signals an overflow error)
``DROP_OLDEST``   ``onBackpressureBuffer(capacity, null, DROP_OLDEST)``
``DROP_NEWEST``   ``onBackpressureBuffer(capacity, null, DROP_LATEST)``; with
                  capacity 1 close to ``onBackpressureDrop``
``KEEP_LATEST``   ``onBackpressureLatest`` when the capacity is 1
================  ===============================================================
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final, Generic, TypeVar, final

__all__ = ["BoundedBuffer", "BufferOverflowError", "Overflow"]

_T = TypeVar("_T")


class Overflow(enum.Enum):
    """What the request operator does when a push source outruns demand and the buffer is full."""

    #: Signal :class:`BufferOverflowError` through ``on_error`` and cancel upstream.
    ERROR = "error"
    #: Drop the oldest buffered item to make room for the new one.
    DROP_OLDEST = "drop_oldest"
    #: Drop the new item; the buffer keeps what it has.
    DROP_NEWEST = "drop_newest"
    #: The new item replaces the newest buffered one, so the latest value is
    #: never lost (RxJava's ``onBackpressureLatest`` when the capacity is 1).
    KEEP_LATEST = "keep_latest"


#: What :class:`BufferOverflowError` tells the user to do: the README's fix first.
PUSH_SOURCE_ADVICE: Final = (
    "it pushes whatever the demand (reactivex.range, reactivex.from_iterable, a Subject): "
    "generate on demand with a pull source such as rxrand.from_iterable(...) "
    "or rxrand.random_integers(...) instead, or request more, "
    "or pass controlled(capacity=...) or another Overflow"
)


class BufferOverflowError(RuntimeError):
    """A push source emitted more than the buffer holds while there was no demand."""

    def __init__(self, capacity: int, advice: str | None = None) -> None:
        super().__init__(
            f"buffer overflow: the source pushed more than capacity={capacity} items "
            f"beyond demand; {PUSH_SOURCE_ADVICE if advice is None else advice}"
        )
        self.capacity = capacity


@final
class BoundedBuffer(Generic[_T]):
    """A FIFO of at most ``capacity`` items with an overflow policy. Not thread-safe by itself."""

    __slots__ = ("_items", "_on_drop", "_overflow", "capacity", "dropped")

    def __init__(
        self,
        capacity: int,
        overflow: Overflow,
        on_drop: Callable[[_T], None] | None = None,
    ) -> None:
        self.capacity = capacity
        self._overflow = overflow
        self._on_drop = on_drop
        self._items: deque[_T] = deque()
        #: Items dropped by the policy so far.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, value: _T, awaited: int = 0) -> BufferOverflowError | None:
        """Add ``value``, applying the policy when full; the error to signal for ``ERROR``.

        ``awaited`` items are wanted already (demand the drain has not met
        yet): they wait for delivery, not for demand, and do not count against
        the capacity.
        """
        items = self._items
        if len(items) < self.capacity + awaited:
            items.append(value)
            return None
        overflow = self._overflow
        if overflow is Overflow.ERROR:
            return BufferOverflowError(self.capacity)
        if overflow is Overflow.DROP_OLDEST:
            lost = items.popleft()
            items.append(value)
        elif overflow is Overflow.DROP_NEWEST:
            lost = value
        else:
            lost = items[-1]
            items[-1] = value
        self.dropped += 1
        if self._on_drop is not None:
            self._on_drop(lost)
        return None

    def offer_all(self, values: Iterable[_T], awaited: int = 0) -> BufferOverflowError | None:
        """:meth:`offer` each value in order; stops at the first error."""
        for value in values:
            error = self.offer(value, awaited)
            if error is not None:
                return error
        return None

    def take(self, n: int) -> list[_T]:
        """Remove and return the oldest ``min(n, len)`` items."""
        items = self._items
        if n >= len(items):
            batch = list(items)
            items.clear()
            return batch
        return [items.popleft() for _ in range(n)]

    def clear(self) -> None:
        self._items.clear()
