"""The fused path: batches straight from a :class:`~rxrand.core.fusion.Fusable` source.

When the source offers batches (``random_integers``, a socket source) and the subscriber
takes them (``on_next_batch``), no Observable chain runs at all: the drain takes up to
the demand from the source's :class:`~rxrand.core.fusion.BatchSource` and hands it over
in one call. So this subscription needs no buffer, no credit ledger and no burst slot:
the source is asked for exactly what demand allows (rule 1.1), when it allows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar, final

from ..core.demand import COMPLETE, Complete
from ..core.fusion import BatchSource
from .subscription import ControlledSubscription

__all__ = ["FUSED_BATCH", "FusedSubscription"]

_T = TypeVar("_T")

#: Most items one fused batch carries (demand permitting).
FUSED_BATCH: Final = 1 << 14


def batch_terminal(batches: BatchSource[Any]) -> Exception | Complete:
    """How an exhausted batch source ended: its ``error`` (ReadyBatchSource), else completion."""
    error = getattr(batches, "error", None)
    return error if isinstance(error, Exception) else COMPLETE


@final
class FusedSubscription(ControlledSubscription[_T]):
    """A subscription fed in batches by a batch source, for a bulk subscriber."""

    __slots__ = ("_batches", "_pulled")

    def __init__(
        self,
        on_batch: Callable[[Sequence[_T]], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
        batches: BatchSource[_T],
    ) -> None:
        super().__init__(_refuse_item, on_error, on_completed, on_batch)
        self._batches = batches
        self._pulled = 0
        on_ready = getattr(batches, "on_ready", None)
        if callable(on_ready):  # a ReadyBatchSource wakes the drain, not polled
            on_ready(self._batches_ready)

    @property
    def pulled(self) -> int:
        """Items taken from the source so far."""
        return self._pulled

    @property
    def fused(self) -> bool:
        return True

    def _start(self, source: Any, defer: bool) -> None:
        # Gives up the drain held since construction (or runs it, if news came).
        self._drain()

    def _batches_ready(self) -> None:
        """The batch source has items (or its end): run the drain."""
        if self._inbox.claim():
            self._drain()

    def _release_upstream(self) -> None:
        self._batches.close()

    def _drain(self) -> None:
        inbox = self._inbox
        lock = inbox.lock
        batches = self._batches
        while True:
            with lock:
                if self._read_news_locked():
                    break  # cancelled: the drain stays owned for good, the stream is over
                if batches.exhausted:
                    # Rule 1.5: no demand needed to complete (or to fail).
                    inbox.terminate_locked(batch_terminal(batches))
                terminal = inbox.error or inbox.terminal
            if terminal is not None:
                self._finish(terminal)
                return
            demand = self._demand
            if demand:
                taken = batches.take(min(demand, FUSED_BATCH))
                if len(taken):
                    self._pulled += len(taken)
                    self._deliver(taken)
                    continue
                if batches.exhausted:
                    continue
                # Nothing yet from a source whose batches come on their own (a socket):
                # it calls _batches_ready when they do; no spinning here.
            with lock:
                if inbox.release_locked():
                    return
        self._release()

    def _deliver(self, batch: Sequence[_T]) -> None:
        if self._inbox.cancelled:
            return  # rule 3.12: nothing after a cancel, not even a batch already taken
        on_batch = self._on_batch
        assert on_batch is not None
        try:
            on_batch(batch)
        except Exception as error:
            # Rule 2.13: the subscriber broke the contract; it ends the stream.
            with self._inbox.lock:
                self._inbox.fail_locked(error)
            return
        self._count_delivered(len(batch))


def _refuse_item(value: object) -> None:
    raise AssertionError("the fused path delivers batches only")
