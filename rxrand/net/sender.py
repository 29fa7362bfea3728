"""The one writer of a socket: partial writes, one writer registration, one writer slot.

Everything a connection sends (the prompt, error lines, the stream) goes
through one :class:`Sender`, so that bytes leave in the order they were
written and the file descriptor has one writer callback registered with the
loop at most, never two objects racing to register theirs. What the kernel
does not take at once waits in a :class:`~rxrand.net.send_queue.SendQueue`
(sans I/O: the order, the memory bound, the truncation rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Final, final

from .errors import ConnectionLost, translate_os_error
from .send_queue import BUFFER_SIZES, SEND_BUFFER_BYTES, SendQueue

__all__ = ["BUFFER_SIZES", "SEND_BUFFER_BYTES", "Sender", "WriterBusyError"]

_NEWLINE: Final = 0x0A


class WriterBusyError(RuntimeError):
    """A second writer tried to claim a :class:`Sender` whose writer slot is held."""


def _nothing() -> None:
    return None


def _ignore_lost(_: ConnectionLost) -> None:
    return None


@final
class Sender:
    """Owns a non-blocking socket's writes, on the event loop's thread.

    Contract:
        * :meth:`write` never blocks and never drops a byte: what the kernel
          does not take now is kept and sent, in order, when the socket is
          writable again.
        * One writer at a time holds the writer slot (:meth:`claim`, :meth:`release`):
          its ``on_ready`` is called once the queue has emptied after a wait, or
          when a :meth:`wait_writable` wait ends. A second claimant is refused with
          :class:`WriterBusyError` (trio's conflict detection), never silently
          takes the slot over.
        * ``on_lost`` (given at construction) is called once, with the
          :class:`ConnectionLost`, when a send fails for good; the sender writes
          nothing after that.
        * The counters (:attr:`bytes_sent`, :attr:`sends`, :attr:`kernel_full`,
          :attr:`max_held_bytes`) are the sender's own: read-only outside it.
    """

    __slots__ = (
        "_bytes_sent",
        "_closed",
        "_fd",
        "_kernel_full",
        "_line_open",
        "_loop",
        "_on_lost",
        "_on_ready",
        "_queue",
        "_registered",
        "_sends",
        "_sock",
        "lost",
    )

    def __init__(
        self,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        on_lost: Callable[[ConnectionLost], None] = _ignore_lost,
    ) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = loop or asyncio.get_running_loop()
        self._queue = SendQueue()
        self._registered = False
        self._closed = False
        # The last byte handed to the kernel was not a line end.
        self._line_open = False
        self._on_ready: Callable[[], None] = _nothing
        self._on_lost = on_lost
        self.lost: ConnectionLost | None = None
        self._bytes_sent = 0
        self._sends = 0
        self._kernel_full = 0

    @property
    def bytes_sent(self) -> int:
        """Bytes the kernel has accepted."""
        return self._bytes_sent

    @property
    def sends(self) -> int:
        """``send`` calls made."""
        return self._sends

    @property
    def kernel_full(self) -> int:
        """Waits for room: partial sends, and :meth:`wait_writable` calls."""
        return self._kernel_full

    @property
    def max_held_bytes(self) -> int:
        """The most bytes held in user space at once."""
        return self._queue.max_held

    def claim(self, on_ready: Callable[[], None]) -> None:
        """Take the writer slot: ``on_ready`` is called when the socket can take more.

        Raises:
            WriterBusyError: another writer holds the slot (it must :meth:`release` it).
        """
        holder = self._on_ready
        if holder is not _nothing and holder != on_ready:
            raise WriterBusyError(
                f"the sender's writer slot is held by {holder!r}; it must release it first"
            )
        self._on_ready = on_ready

    def release(self, on_ready: Callable[[], None]) -> None:
        """Give the writer slot back; nothing happens unless ``on_ready`` holds it."""
        if self._on_ready == on_ready:
            self._on_ready = _nothing

    @property
    def pending(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        return self._queue.pending

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, data: bytes | bytearray | memoryview) -> bool:
        """Send ``data`` after what is queued; True if all of it is in the kernel now."""
        if self._closed or not data:
            return not self._closed and not self.pending
        queue = self._queue
        if queue.empty:
            sent = self._send(data)
            if sent < 0:
                return False
            if sent == len(data):
                return True
            self._kernel_full += 1
            queue.keep(memoryview(data)[sent:])
        else:
            queue.keep(data)
        self._wait()
        return False

    def wait_writable(self) -> None:
        """Call ``on_ready`` when the socket is writable (the kernel has room again).

        Counted in :attr:`kernel_full`: the writer waits because the kernel holds enough.
        """
        if not self._closed:
            self._kernel_full += 1
            self._wait()

    def finish_line(self) -> None:
        """Drop what is queued, except the rest of a line the kernel has begun.

        The truncation rule: a line is either not sent at all or sent whole.
        """
        self._queue.finish_line(self._line_open)

    def close(self) -> None:
        """Write nothing more; drop what is queued; unregister. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.release()
        self._on_ready = _nothing
        self._on_lost = _ignore_lost
        if self._registered:
            self._registered = False
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._fd)

    # -- internals -----------------------------------------------------------------

    def _send(self, data: bytes | bytearray | memoryview) -> int:
        """One ``send``; the count taken, or -1 once the connection is lost."""
        try:
            sent = self._sock.send(data)
        except OSError as error:
            lost = translate_os_error(error)
            if lost is not None:
                self._lose(lost)
                return -1
            sent = 0
        self._sends += 1
        if sent:
            self._bytes_sent += sent
            self._line_open = data[sent - 1] != _NEWLINE
        return sent

    @property
    def capacity(self) -> int:
        """Bytes the send buffer holds now (0 before the first partial write)."""
        return self._queue.capacity

    def _wait(self) -> None:
        if not self._registered:
            self._registered = True
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        queue = self._queue
        while not queue.empty:
            data = queue.head()
            sent = self._send(data)
            if sent < 0:
                return
            queue.consumed(sent)
            if sent < len(data):
                self._kernel_full += 1
                return  # still registered: wait for the next writable
        self._registered = False
        self._loop.remove_writer(self._fd)
        self._on_ready()

    def _lose(self, lost: ConnectionLost) -> None:
        self.lost = lost
        callback = self._on_lost
        self.close()
        callback(lost)
