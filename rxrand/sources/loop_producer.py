"""A pull producer that lives on an event loop: credit from any thread, work on the loop.

What the socket source and :func:`~rxrand.from_async_iterable` share: both
read something only the loop may touch (a socket watched by the loop, an
async iterator), both take credit from a request operator's
:class:`~rxrand.DemandChannel` (or unbounded credit when subscribed plainly),
and both hand their work to the loop's thread when credit or a cancel comes
from elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from reactivex import abc
from reactivex.disposable import Disposable

from ..core.channel import CreditLink, demand_channel_of
from ..core.demand import UNBOUNDED, add_demand

__all__ = ["LoopProducer", "loop_or_error"]

_T = TypeVar("_T")


class LoopProducer(Generic[_T]):
    """Base of one subscription: subclasses do the work in :meth:`_on_credit` and :meth:`_on_stop`.

    Contract for subclasses: both hooks run on the loop's thread; credit is
    read and spent under ``self._lock``; emissions are bracketed by
    ``self._link`` when there is one (pulled), and not otherwise (pushed).
    """

    __slots__ = ("_credit", "_link", "_lock", "_loop", "_observer", "_stopped")

    def __init__(self, observer: abc.ObserverBase[_T], loop: asyncio.AbstractEventLoop) -> None:
        self._observer = observer
        self._loop = loop
        self._lock = threading.Lock()
        self._credit = 0
        self._link: CreditLink | None = None
        self._stopped = False

    def start(self, scheduler: abc.SchedulerBase | None) -> abc.DisposableBase:
        """Attach to the demand channel, or take unbounded credit without one."""
        channel = demand_channel_of(scheduler)
        if channel is None:
            self.request(UNBOUNDED)  # subscribed plainly: as fast as the loop allows
        else:
            self._link = channel.attach(self)
            self._link.start()
        return Disposable(self.stop)

    # -- PullProducer (any thread) -------------------------------------------------------

    def request(self, n: int) -> None:
        with self._lock:
            self._credit = add_demand(self._credit, n)
        self._in_loop(self._on_credit)

    def stop(self) -> None:
        """Dispose (any thread): nothing more is read or emitted."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._link is not None:
            self._link.dispose()
        self._in_loop(self._on_stop)

    # -- for subclasses ----------------------------------------------------------------------

    def _on_credit(self) -> None:
        raise NotImplementedError

    def _on_stop(self) -> None:
        raise NotImplementedError

    def _spend(self, n: int) -> None:
        with self._lock:
            if self._credit < UNBOUNDED:
                self._credit -= n

    def _in_loop(self, callback: Callable[[], None]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            callback()
            return
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed: nobody is left to read for
            pass


def loop_or_error(
    loop: asyncio.AbstractEventLoop | None, what: str
) -> asyncio.AbstractEventLoop | RuntimeError:
    """``loop``, else the running loop, else the error for the subscriber (rule 1.9: no raise)."""
    if loop is not None:
        return loop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return RuntimeError(
            f"{what} needs an event loop: subscribe on the loop's thread, or pass loop="
        )
