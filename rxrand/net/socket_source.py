"""The socket source: the lines a connected socket receives, read only against demand.

The other half of the socket Observer. Demand flows from the subscriber to
the kernel, one way: ``request(n)`` -> credit -> the source watches the socket
for reading -> ``recv``. With no credit left the source stops watching the
socket, the kernel's receive buffer fills, TCP's window closes, and the
sender's kernel-aware writer (:class:`~rxrand.SocketObserver`) stops asking
its source for more. Nothing here grows without bound: at most one ``recv``
of :data:`RECV_BYTES` plus one unfinished line is held per connection.

Lines are cut by the sans-I/O :class:`~rxrand.LineDecoder` (a length guard
included); the socket is only read and never closed here: it belongs to the
caller.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final, final

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from ..sources.loop_producer import LoopProducer, loop_or_error
from .errors import ConnectionLost, translate_os_error
from .wire import MAX_LINE_LENGTH, EndOfInput, Line, LineDecoder, LineTooLong

__all__ = ["RECV_BYTES", "LineTooLongError", "SocketLines", "socket_lines"]

#: Most bytes one ``recv`` takes: with at most one unfinished line, the bound on
#: what a connection holds in user space.
RECV_BYTES: Final = 64 * 1024


class LineTooLongError(ValueError):
    """The peer sent a line longer than the limit: the stream ends with this error."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the peer sent a line longer than {limit} bytes")
        self.limit = limit


@final
class _LineReader(LoopProducer[bytes]):
    """One subscription: credit in, lines out, the socket read only while credit is left."""

    __slots__ = ("_decoder", "_emitting", "_fd", "_reading", "_sock")

    def __init__(
        self,
        sock: socket.socket,
        observer: abc.ObserverBase[bytes],
        loop: asyncio.AbstractEventLoop,
        max_length: int,
    ) -> None:
        super().__init__(observer, loop)
        self._sock = sock
        self._fd = sock.fileno()
        self._decoder = LineDecoder(max_length)
        self._reading = False
        self._emitting = False

    # -- the loop's side -------------------------------------------------------------------

    def _on_credit(self) -> None:
        self._pump()

    def _on_stop(self) -> None:
        self._pause()

    def _pause(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _pump(self) -> None:
        """Emit the decoded lines that credit allows; watch the socket while credit is left."""
        if self._emitting:
            return  # a request from inside on_next: the running pump sees the credit
        self._emitting = True
        try:
            self._emit_decoded()
        finally:
            self._emitting = False
        with self._lock:
            wanted = self._credit > 0 and not self._stopped
        if wanted and not self._reading:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)
        elif not wanted:
            self._pause()

    def _emit_decoded(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                budget = self._credit
            if budget == 0:
                return
            emitted = 0
            ended = False
            terminal: Exception | None = None
            link = self._link
            if link is not None:
                link.begin()
            try:
                while emitted < budget and not self._stopped:
                    event = self._decoder.next_event()
                    if isinstance(event, Line):
                        emitted += 1
                        self._observer.on_next(event.content)
                        continue
                    if isinstance(event, EndOfInput):
                        ended = True
                    elif isinstance(event, LineTooLong):
                        ended, terminal = True, LineTooLongError(event.limit)
                    break  # NEED_DATA or the end
            finally:
                self._spend(emitted)
                if link is not None:
                    link.end(emitted)
            if ended:
                self._finish(terminal)
                return
            if emitted < budget:
                return  # NEED_DATA (or stopped)

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(RECV_BYTES)
        except OSError as error:
            lost = translate_os_error(error)
            if lost is not None:
                self._finish(lost)
            return
        self._decoder.receive_data(data)
        self._pump()

    def _finish(self, error: Exception | None) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._pause()
        if error is None:
            self._observer.on_completed()
        else:
            self._observer.on_error(error)
        if self._link is not None:
            self._link.dispose()


@final
class SocketLines(Observable[bytes]):
    """The Observable returned by :func:`socket_lines` (one subscription per socket)."""

    def __init__(
        self, sock: socket.socket, loop: asyncio.AbstractEventLoop | None, max_length: int
    ) -> None:
        self._sock = sock
        self._loop = loop
        self._max_length = max_length
        self._subscribed = False
        super().__init__()

    def _subscribe_core(
        self, observer: abc.ObserverBase[bytes], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        if self._subscribed:
            observer.on_error(
                RuntimeError("socket_lines() can be subscribed once: bytes read are gone")
            )
            return Disposable()
        self._subscribed = True
        loop = loop_or_error(self._loop, "socket_lines()")
        if isinstance(loop, RuntimeError):
            observer.on_error(loop)
            return Disposable()
        if self._sock.fileno() < 0:
            observer.on_error(ConnectionLost("the socket is closed"))
            return Disposable()
        reader = _LineReader(self._sock, observer, loop, self._max_length)
        return reader.start(scheduler)


def socket_lines(
    sock: socket.socket,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    max_length: int = MAX_LINE_LENGTH,
) -> SocketLines:
    """The lines a connected non-blocking socket receives, as a demand-driven Observable.

    Under :func:`rxrand.controlled` the socket is read only while there is
    outstanding demand: with none, the source stops reading, and TCP flow
    control stops the sender. Each item is a line's bytes without its line
    end (``\\n`` or ``\\r\\n``); the peer's close completes the stream (an
    unterminated last line is still a line); a reset ends it with
    :class:`~rxrand.ConnectionLost`, a line over ``max_length`` bytes with
    :class:`LineTooLongError`::

        peer sends:  b"7\\r\\n42\\r\\n5\\r\\n" then closes
        request:     1-----2
        lines:       7-----(42,5,|)

    Args:
        sock: A connected socket, set non-blocking; it stays the caller's.
        loop: The event loop that watches it; default: the running loop
            where it is subscribed.
        max_length: Longest line accepted, line end excluded.

    Returns:
        An ``Observable[bytes]`` that can be subscribed once.
    """
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("socket_lines() needs a stream socket")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be an int >= 1, got {max_length!r}")
    return SocketLines(sock, loop, max_length)
