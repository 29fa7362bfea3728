"""What one connection has registered with the event loop: its reader, hang-up watch and timer.

The server's :class:`~rxrand.net.server.Connection` asks its protocol what it
wants (read or not, be told of a hang-up or not, be woken at a deadline) and
hands the answer to :meth:`LoopInterest.set`, which adds and removes the loop's
registrations so that they match, each at most once, and :meth:`LoopInterest.clear`
removes every one when the connection closes. Keeping the registrations in one
place is what makes "a closed connection leaves nothing registered" checkable
at a glance.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import final

from ..core.producer import ignore
from .hangup import HangupWatcher

__all__ = ["LoopInterest"]


@final
class LoopInterest:
    """One file descriptor's reader, hang-up watch and timer, kept as asked.

    Args:
        loop: The event loop.
        fd: The connection's file descriptor.
        watcher: The server's hang-up watcher (``None``: there is none here).
        on_readable: Called when the socket is readable, while reading is asked for.
        on_hangup: Called once when the peer hangs up, while watching is asked for.
        on_timer: Called once at the deadline last asked for.
    """

    __slots__ = (
        "_fd",
        "_loop",
        "_on_hangup",
        "_on_readable",
        "_on_timer",
        "_reading",
        "_timer",
        "_timer_at",
        "_watcher",
        "_watching",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        watcher: HangupWatcher | None,
        *,
        on_readable: Callable[[], None],
        on_hangup: Callable[[], None],
        on_timer: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._watcher = watcher
        self._on_readable = on_readable
        self._on_hangup = on_hangup
        self._on_timer = on_timer
        self._reading = False
        self._watching = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    @property
    def can_watch(self) -> bool:
        """Whether hang-ups can be seen without reading (there is a watcher)."""
        return self._watcher is not None

    def set(self, *, read: bool, watch: bool, deadline: float) -> None:
        """Register what is asked for, unregister the rest (``deadline`` ``inf``: no timer)."""
        watcher = self._watcher
        if watch and watcher is not None:
            if not self._watching:
                self._watching = True
                watcher.watch(self._fd, self._hung_up)
        elif self._watching:
            self._watching = False
            if watcher is not None:
                watcher.unwatch(self._fd)
        if read != self._reading:
            self._reading = read
            if read:
                self._loop.add_reader(self._fd, self._on_readable)
            else:
                self._loop.remove_reader(self._fd)
        if deadline != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = deadline
            if math.isfinite(deadline):
                self._timer = self._loop.call_at(deadline, self._fired)

    def clear(self) -> None:
        """Unregister everything (the connection closes)."""
        self.set(read=False, watch=False, deadline=math.inf)

    def release(self) -> None:
        """The connection is closed: unregister everything and let go of its callbacks.

        They are the connection's bound methods: kept, they would make a cycle that holds the
        connection (its stream, its chunk of integers) until the garbage collector runs.
        """
        self.clear()
        self._on_readable = self._on_hangup = self._on_timer = ignore

    def _hung_up(self) -> None:
        self._watching = False  # the watcher calls back once, and forgets the descriptor
        self._on_hangup()

    def _fired(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        self._on_timer()
