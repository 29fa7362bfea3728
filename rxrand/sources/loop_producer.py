"""A pull producer that lives on an event loop: credit from any thread, work on the loop.

What the socket source and :func:`~rxrand.from_async_iterable` share: both
read something only the loop may touch (a socket watched by the loop, an
async iterator), both take credit from a request operator's
:class:`~rxrand.core.DemandChannel` (or unbounded credit when subscribed plainly),
and both hand their work to the loop's thread when credit or a cancel comes
from elsewhere. Credit, link, bracket and stop flag are the
:class:`~rxrand.core.producer.LockedProducer`'s.

:func:`call_in_loop` is the one way rxrand asks "am I on the loop?": by the loop running
in this thread (``asyncio.get_running_loop()``), which is right wherever the loop was
created and whatever other loop another thread runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from reactivex import abc
from reactivex.disposable import Disposable

from ..core.producer import LockedProducer, signals_of

__all__ = ["LoopProducer", "call_in_loop", "loop_or_error", "running_loop"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def call_in_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[[*_Ts], object], *args: *_Ts
) -> None:
    """Call ``callback(*args)`` on ``loop``'s thread: now if this thread runs ``loop``, else soon.

    Nothing happens once the loop is closed: nobody is left to call for.
    """
    if running_loop() is loop:
        callback(*args)
        return
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop is closed
        pass


class LoopProducer(LockedProducer[_T]):
    """Base of one subscription: subclasses do the work in :meth:`_on_credit` and :meth:`_on_stop`.

    Contract for subclasses: both hooks run on the loop's thread, :meth:`_on_credit` never
    re-entrantly; credit is read and spent under ``self._lock``; emissions are bracketed by
    ``self._link`` (a :data:`~rxrand.core.producer.NO_LINK` when pushed: its bracket counts
    nothing), or go through :meth:`emit`, which brackets them.
    """

    __slots__ = ("_loop", "_observer")

    def __init__(self, observer: abc.ObserverBase[_T], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(signals_of(observer))
        #: For subclasses that signal the observer themselves (rxrand.net's line reader).
        self._observer = observer
        self._loop = loop

    def start(self, scheduler: abc.SchedulerBase | None) -> abc.DisposableBase:
        """Attach to the demand channel, or take unbounded credit without one (subscribed
        plainly: as fast as the loop allows)."""
        self.attach(scheduler)
        self.open()
        return Disposable(self.stop)

    # -- PullProducer (any thread) -------------------------------------------------------

    def request(self, n: int) -> None:
        self._grant(n)
        call_in_loop(self._loop, self._turn)

    # -- for subclasses ----------------------------------------------------------------------

    def _on_stop(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        call_in_loop(self._loop, self._on_stop)

    def _spend(self, n: int) -> None:
        self.spend(n)


def loop_or_error(
    loop: asyncio.AbstractEventLoop | None, what: str
) -> asyncio.AbstractEventLoop | RuntimeError:
    """``loop``, else the running loop, else the error for the subscriber (rule 1.9: no raise)."""
    if loop is not None:
        return loop
    running = running_loop()
    if running is not None:
        return running
    return RuntimeError(
        f"{what} needs an event loop: subscribe on the loop's thread, or pass loop="
    )
