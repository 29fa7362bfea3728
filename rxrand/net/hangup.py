"""The hang-up watcher: lets a streaming connection stop reading its input.

While a connection streams, its input is not read (a client that keeps sending must not
make the server buffer), yet a client that hangs up must be noticed at once. One
``select.epoll`` per server watches every streaming socket for ``EPOLLRDHUP``/``EPOLLHUP``
and is itself watched by the event loop. Where ``select.epoll`` is missing,
:meth:`HangupWatcher.create` answers ``None`` and the server reads a little now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import Callable
from typing import Any, final

__all__ = ["HangupWatcher"]


@final
class HangupWatcher:
    """Tells when a peer resets or closes, without reading its input (Linux ``epoll``).

    A streaming connection does not read (so a client that floods input is
    pushed back by TCP flow control, at no CPU cost); one ``epoll`` file
    descriptor per server watches every such socket for ``EPOLLRDHUP``
    (the peer half-closed: the stream goes on) and ``EPOLLHUP``/``EPOLLERR``
    (reset or failed: ``on_hangup`` is called). :meth:`create` returns
    ``None`` where ``select.epoll`` is missing; the server then reads with a
    budget instead.
    """

    __slots__ = ("_callbacks", "_epoll", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, epoll: Any) -> None:
        self._loop = loop
        self._epoll = epoll
        self._callbacks: dict[int, Callable[[], None]] = {}
        loop.add_reader(epoll.fileno(), self._on_events)

    @staticmethod
    def create(loop: asyncio.AbstractEventLoop) -> HangupWatcher | None:
        epoll_type = getattr(select, "epoll", None)
        if epoll_type is None or not hasattr(select, "EPOLLRDHUP"):
            return None
        return HangupWatcher(loop, epoll_type())

    def watch(self, fd: int, on_hangup: Callable[[], None]) -> None:
        """Call ``on_hangup`` once when ``fd`` is reset or fails; idempotent."""
        if fd in self._callbacks:
            return
        self._epoll.register(fd, select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR)
        self._callbacks[fd] = on_hangup

    def unwatch(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        self._callbacks.clear()

    def _on_events(self) -> None:
        for fd, mask in self._epoll.poll(0):
            if mask & (select.EPOLLHUP | select.EPOLLERR):
                callback = self._callbacks.pop(fd, None)
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.unregister(fd)
                if callback is not None:
                    callback()
            elif mask & select.EPOLLRDHUP:
                # Half-closed (``nc -N``): the stream goes on; only a reset matters now.
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.modify(fd, select.EPOLLHUP | select.EPOLLERR)
