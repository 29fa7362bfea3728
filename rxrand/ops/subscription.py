"""The Reactive Streams subscription that ``controlled()`` hands its subscriber.

:class:`ControlledSubscription` is the facade: ``request(n)``, ``cancel()``, the counters,
and the one terminal signal. How items come is its subclasses' job:

* :class:`~rxrand.ops.pull.PullSubscription`: from any Observable, through a buffer,
  with credit for pull sources (the general path);
* :class:`~rxrand.ops.fused.FusedSubscription`: batches straight from a
  :class:`~rxrand.core.fusion.Fusable` source to a bulk subscriber (the fused path).

Both follow one discipline (RxJava's queue-drain, the Reactive Streams reference's
``AsyncIterablePublisher``): ``request``, ``cancel`` and upstream news are recorded in
a :class:`~rxrand.core.demand.DrainInbox` under its lock, and whoever claims the drain
runs the drain loop, the only code that signals the subscriber (rules 1.3, 3.3) and
the only writer of the demand, the delivery count and what is signalled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from reactivex import abc

from ..core.demand import Complete, DrainInbox, add_demand, sub_demand
from ..core.producer import ignore

__all__ = ["ControlledSubscription", "ignore"]

_T = TypeVar("_T")


class ControlledSubscription(abc.DisposableBase, Generic[_T]):
    """One subscriber's link to a controlled publisher: ``request(n)`` and ``cancel()``.

    Thread-safe: ``request`` and ``cancel`` may be called from any thread,
    including from inside the subscriber's own callbacks. It is also the
    ``Disposable`` that ``subscribe`` returns: ``dispose()`` is ``cancel()``.
    """

    __slots__ = (
        "__weakref__",
        "_delivered",
        "_demand",
        "_inbox",
        "_on_batch",
        "_on_completed",
        "_on_error",
        "_on_next",
    )

    def __init__(
        self,
        on_next: Callable[[_T], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
        on_batch: Callable[[Sequence[_T]], None] | None,
    ) -> None:
        self._on_next = on_next
        self._on_error = on_error
        self._on_completed = on_completed
        self._on_batch = on_batch
        self._inbox = DrainInbox()
        # Owned from construction until subscribe() has finished wiring, so
        # that nothing is delivered before on_subscribe returns (rule 1.9).
        self._inbox.claim()
        # -- owned by the drain (written under the inbox lock, so that upstream
        # threads asking how much room the buffer has read a settled value) --
        self._demand = 0
        self._delivered = 0

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
        self._cancel_upstream()
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
    def pending(self) -> int:
        """Demand not yet met, as of the last drain (``UNBOUNDED`` when unbounded)."""
        return self._demand

    @property
    def pulled(self) -> int:
        """Items taken from pull sources against this subscription's credit so far."""
        raise NotImplementedError

    @property
    def dropped(self) -> int:
        """Items dropped by the overflow policy so far."""
        return 0

    @property
    def fused(self) -> bool:
        """Whether items come in batches straight from the source (the fused path)."""
        return False

    # -- what the subclasses provide -------------------------------------------------

    def _start(self, source: Any, defer: bool) -> None:
        """``on_subscribe`` has returned: let the drain run (rule 1.9), and connect."""
        raise NotImplementedError

    def _drain(self) -> None:
        """Deliver what can be delivered. The caller owns the drain (``DrainInbox.claim``)."""
        raise NotImplementedError

    def _cancel_upstream(self) -> None:
        """Cancel whatever feeds this subscription (called once, by :meth:`cancel`)."""

    def _release_upstream(self) -> None:
        """The stream is over: let go of what feeds it (called once, by :meth:`_release`)."""

    def _end_upstream(self) -> None:
        """A terminal signal goes out: end the upstream as the rules say (rules 2.3, 2.4)."""

    def _read_news_locked(self) -> bool:
        """The drain looks at its news (the caller holds the lock): the demand added since
        it last looked (rule 3.8) becomes its own. Returns whether it was cancelled."""
        inbox = self._inbox
        inbox.consume_missed()
        requested = inbox.take_requested()
        if requested:
            self._demand = add_demand(self._demand, requested)
        return inbox.cancelled

    # -- the end ---------------------------------------------------------------------

    def _release(self) -> None:
        """Rule 3.13: forget the subscriber once cancelled or terminated (the drain stays owned)."""
        self._on_next = ignore
        self._on_error = ignore
        self._on_completed = ignore
        self._on_batch = None
        self._release_upstream()

    def _finish(self, terminal: Exception | Complete) -> None:
        """Deliver the one terminal signal (rules 1.6/1.7), then let go of everything."""
        with self._inbox.lock:
            self._inbox.close_locked()
        on_error, on_completed = self._on_error, self._on_completed
        self._release()
        self._end_upstream()
        if isinstance(terminal, Exception):
            on_error(terminal)
        else:
            on_completed()

    def _count_delivered(self, sent: int) -> None:
        """``sent`` items went to the subscriber: the drain's counters, under the lock."""
        if sent:
            with self._inbox.lock:
                self._delivered += sent
                self._demand = sub_demand(self._demand, sent)  # rule 3.17 inside
