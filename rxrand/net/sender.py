"""The one writer of a socket: a queue of bytes, partial writes, one writer registration.

Everything a connection sends (the prompt, error lines, the stream) goes
through one :class:`Sender`, so that bytes leave in the order they were
written and the file descriptor has one writer callback registered with the
loop at most, never two objects racing to register theirs.

Memory: what the kernel does not take at once is copied into one buffer per
connection, allocated on the first partial write and reused after (a fresh
64 KiB ``bytes`` per write cycle fragmented the C heap: RSS crept up by
~30 KiB per stalled connection). It starts at the smallest of a few sizes
that holds the tail and only grows, to the next size, when a tail does not
fit: a stalled slow reader typically leaves ~9 KiB unsent per cycle, so it
keeps a 16 KiB buffer rather than a whole window's 68 KiB (at most three
long-lived allocations per connection, so no fragmentation either).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Final, final

from .errors import ConnectionLost, translate_os_error
from .window import WINDOW_BYTES

__all__ = ["BUFFER_SIZES", "SEND_BUFFER_BYTES", "Sender", "WriterBusyError"]

#: Largest capacity of the per-connection buffer: a window, the longest line, some room.
SEND_BUFFER_BYTES: Final = WINDOW_BYTES + 4096
#: The capacities the buffer takes, smallest first; it moves up only when a tail does not fit.
BUFFER_SIZES: Final = (16 * 1024, 32 * 1024, SEND_BUFFER_BYTES)

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
        "_buffer",
        "_bytes_sent",
        "_closed",
        "_end",
        "_extra",
        "_extra_bytes",
        "_fd",
        "_kernel_full",
        "_line_open",
        "_loop",
        "_max_held_bytes",
        "_on_lost",
        "_on_ready",
        "_registered",
        "_sends",
        "_sock",
        "_start",
        "_view",
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
        self._buffer: bytearray | None = None
        self._view: memoryview | None = None
        self._start = 0
        self._end = 0
        # Writes that did not fit the buffer (an item larger than a window).
        self._extra: list[bytes] = []
        self._extra_bytes = 0
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
        self._max_held_bytes = 0

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
        return self._max_held_bytes

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
        return self._end - self._start + self._extra_bytes

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, data: bytes | bytearray | memoryview) -> bool:
        """Send ``data`` after what is queued; True if all of it is in the kernel now."""
        if self._closed or not data:
            return not self._closed and not self.pending
        if self._end == self._start and not self._extra:
            sent = self._send(data)
            if sent < 0:
                return False
            if sent == len(data):
                return True
            self._kernel_full += 1
            self._keep(memoryview(data)[sent:])
        else:
            self._keep(memoryview(data))
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
        if not self._line_open:
            self._start = self._end = 0
            self._drop_extra()
            return
        buffer = self._buffer
        if buffer is not None and self._end > self._start:
            found = buffer.find(b"\n", self._start, self._end)
            if found >= 0:
                self._end = found + 1
                self._drop_extra()
                return
        kept: list[bytes] = []
        for chunk in self._extra:
            found = chunk.find(b"\n")
            if found >= 0:
                kept.append(chunk[: found + 1])
                break
            kept.append(chunk)
        self._extra = kept
        self._extra_bytes = sum(map(len, kept))

    def _drop_extra(self) -> None:
        self._extra.clear()
        self._extra_bytes = 0

    def close(self) -> None:
        """Write nothing more; drop what is queued; unregister. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._start = self._end = 0
        self._drop_extra()
        self._on_ready = _nothing
        self._on_lost = _ignore_lost
        if self._registered:
            self._registered = False
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._fd)
        if self._view is not None:
            self._view.release()
            self._view = None
        self._buffer = None

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
        """Bytes the buffer holds now (0 before the first partial write)."""
        return 0 if self._buffer is None else len(self._buffer)

    def _fits(self, size: int) -> bool:
        """Whether ``size`` more bytes fit the buffer, after growing it if need be."""
        queued = self._end - self._start
        needed = queued + size
        capacity = self.capacity
        if needed <= capacity:
            return True
        if needed > SEND_BUFFER_BYTES:
            return False
        grown = bytearray(next(each for each in BUFFER_SIZES if each >= needed))
        if queued:
            assert self._view is not None
            grown[:queued] = self._view[self._start : self._end]
        if self._view is not None:
            self._view.release()
        self._buffer = grown
        self._view = memoryview(grown)
        self._start, self._end = 0, queued
        return True

    def _keep(self, rest: memoryview) -> None:
        size = len(rest)
        if self._extra or not self._fits(size):
            self._extra.append(bytes(rest))
            self._extra_bytes += size
        else:
            view = self._view
            assert view is not None
            if self._end + size > len(view):
                # Move what is queued to the front: same length, no reallocation.
                length = self._end - self._start
                view[:length] = view[self._start : self._end]
                self._start, self._end = 0, length
            view[self._end : self._end + size] = rest
            self._end += size
        held = self.pending
        if held > self._max_held_bytes:
            self._max_held_bytes = held

    def _wait(self) -> None:
        if not self._registered:
            self._registered = True
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        while self._end > self._start or self._extra:
            if self._end > self._start:
                view = self._view
                assert view is not None
                sent = self._send(view[self._start : self._end])
                if sent < 0:
                    return
                self._start += sent
                if self._start < self._end:
                    self._kernel_full += 1
                    return  # still registered: wait for the next writable
                self._start = self._end = 0
            elif len(self._extra[0]) <= SEND_BUFFER_BYTES:
                self._refill()
            else:
                chunk = self._extra[0]
                sent = self._send(chunk)
                if sent < 0:
                    return
                self._extra_bytes -= sent
                if sent < len(chunk):
                    self._extra[0] = chunk[sent:]
                    self._kernel_full += 1
                    return
                del self._extra[0]
        self._registered = False
        self._loop.remove_writer(self._fd)
        self._on_ready()

    def _refill(self) -> None:
        """Move queued writes into the (empty) buffer, as many as fit: one send for many."""
        extra = self._extra
        fitted = self._fits(len(extra[0]))
        assert fitted
        view = self._view
        assert view is not None
        end = 0
        taken = 0
        while taken < len(extra) and end + len(extra[taken]) <= len(view):
            chunk = extra[taken]
            view[end : end + len(chunk)] = chunk
            end += len(chunk)
            taken += 1
        del extra[:taken]
        self._extra_bytes -= end
        self._start, self._end = 0, end

    def _lose(self, lost: ConnectionLost) -> None:
        self.lost = lost
        callback = self._on_lost
        self.close()
        callback(lost)
