"""Fusion: the bulk protocol a source offers and a subscriber accepts.

Operator fusion in RxJava's spirit (``requestFusion``), cut down to what a
Python stream needs. When nothing sits between a source and the request
operator, and the source can hand out items in bulk (:class:`Fusable`), and
the subscriber can take them in bulk (:class:`BulkSubscriber`), the request
operator skips the per-item path entirely: its drain loop takes batches from
the source within demand and hands each to ``on_next_batch``. The contract
does not change: demand is still counted in items and never exceeded,
``on_completed`` still follows the last batch, ``request``/``cancel`` work as
on the per-item path.

The request operator imports no particular source: ``random_integers``
offers batches (numpy arrays) by implementing :class:`Fusable`, and any other
source may do the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["BatchSource", "BulkSubscriber", "Fusable", "ReadyBatchSource", "as_items"]

_T_co = TypeVar("_T_co", covariant=True)
_T_contra = TypeVar("_T_contra", contravariant=True)


def as_items(batch: Any) -> list[Any]:
    """A batch as a list of Python values: a numpy array's ``tolist()`` (operators expect
    ints), any other batch as a list (what a producer's burst counts exactly)."""
    if type(batch) is list:
        return batch
    tolist = getattr(batch, "tolist", None)
    if tolist is not None:
        items: list[Any] = tolist()
        return items
    return list(batch)


class BatchSource(Protocol[_T_co]):
    """One subscription's items, taken in bulk by the request operator's drain."""

    def take(self, n: int) -> Sequence[_T_co]:
        """The next ``min(n, left)`` items; empty only once exhausted or closed."""
        ...

    @property
    def exhausted(self) -> bool:
        """No more items will come (the end was reached, or it was closed)."""
        ...

    def close(self) -> None:
        """Cancel: nothing more is produced."""
        ...


class ReadyBatchSource(BatchSource[_T_co], Protocol):
    """A batch source whose items arrive on their own (a socket), not when asked for.

    ``take(n)`` may come back empty before the end: what is wanted is then
    remembered, and the source calls the ``wake`` given to :meth:`on_ready`
    (from the thread where the items arrived) once something can be taken or
    the end is known. The request operator never polls it. A source that ends
    with an error is exhausted with :attr:`error` set.
    """

    def on_ready(self, wake: Callable[[], None]) -> None:
        """Register the request operator's wake-up (once, before the first take)."""
        ...

    @property
    def error(self) -> Exception | None:
        """Why the source ended early, once exhausted; ``None`` for a clean end."""
        ...


@runtime_checkable
class Fusable(Protocol[_T_co]):
    """A source that can hand out its items in bulk (one independent stream per call)."""

    def open_batches(self) -> BatchSource[_T_co]: ...


class BulkSubscriber(Protocol[_T_contra]):
    """A Reactive Streams subscriber that also takes items a batch at a time.

    ``on_next_batch`` gets a non-empty sequence: a numpy array on the fused
    path, a list otherwise. Batches never exceed the demand requested.
    """

    def on_subscribe(self, subscription: Any) -> None: ...

    def on_next(self, value: _T_contra) -> None: ...

    def on_next_batch(self, batch: Sequence[_T_contra]) -> None: ...

    def on_error(self, error: Exception) -> None: ...

    def on_completed(self) -> None: ...
