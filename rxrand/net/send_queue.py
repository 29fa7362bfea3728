"""What a connection has written and the kernel has not taken yet: sans I/O.

Rule 1: nothing here touches a socket. :class:`~rxrand.net.sender.Sender` sends what
:meth:`SendQueue.head` gives, tells :meth:`SendQueue.consumed` how much the kernel took, and
:meth:`SendQueue.keep` the rest of a write the kernel did not take; the queue keeps the
order, the memory bound and the truncation rule, and is tested with bytes alone.

Memory: what the kernel does not take at once is copied into one buffer per connection,
allocated on the first partial write and reused after (a fresh 64 KiB ``bytes`` per write
cycle fragmented the C heap: RSS crept up by ~30 KiB per stalled connection). It starts at
the smallest of a few sizes that holds the tail and only grows, to the next size, when a
tail does not fit: a stalled slow reader typically leaves ~9 KiB unsent per cycle, so it
keeps a 16 KiB buffer rather than a whole window's 68 KiB (at most three long-lived
allocations per connection, so no fragmentation either). A write larger than the biggest
buffer waits as its own ``bytes``, in order.
"""

from __future__ import annotations

from typing import Final, final

from .window import WINDOW_BYTES

__all__ = ["BUFFER_SIZES", "SEND_BUFFER_BYTES", "SendQueue"]

#: Largest capacity of the per-connection buffer: a window, the longest line, some room.
SEND_BUFFER_BYTES: Final = WINDOW_BYTES + 4096
#: The capacities the buffer takes, smallest first; it moves up only when a tail does not fit.
BUFFER_SIZES: Final = (16 * 1024, 32 * 1024, SEND_BUFFER_BYTES)


@final
class SendQueue:
    """Bytes waiting for the kernel, in order, within a bounded buffer."""

    __slots__ = (
        "_buffer",
        "_end",
        "_extra",
        "_extra_bytes",
        "_head_is_buffer",
        "_max_held",
        "_start",
        "_view",
    )

    def __init__(self) -> None:
        self._buffer: bytearray | None = None
        self._view: memoryview | None = None
        self._start = 0
        self._end = 0
        # Writes that did not fit the buffer (an item larger than a window).
        self._extra: list[bytes] = []
        self._extra_bytes = 0
        self._head_is_buffer = True
        self._max_held = 0

    @property
    def pending(self) -> int:
        """Bytes queued."""
        return self._end - self._start + self._extra_bytes

    @property
    def empty(self) -> bool:
        return self._end == self._start and not self._extra

    @property
    def capacity(self) -> int:
        """Bytes the buffer holds now (0 before the first :meth:`keep`)."""
        return 0 if self._buffer is None else len(self._buffer)

    @property
    def max_held(self) -> int:
        """The most bytes queued at once."""
        return self._max_held

    def keep(self, rest: bytes | bytearray | memoryview) -> None:
        """Queue ``rest`` after what is queued (copied: the caller may reuse its memory)."""
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
        if held > self._max_held:
            self._max_held = held

    def head(self) -> memoryview | bytes:
        """What to send next (not empty unless the queue is): as much as one send may take."""
        if self._end == self._start and self._extra:
            if len(self._extra[0]) <= SEND_BUFFER_BYTES:
                self._refill()
            else:
                self._head_is_buffer = False
                return self._extra[0]
        self._head_is_buffer = True
        view = self._view
        if view is None:
            return b""
        return view[self._start : self._end]

    def consumed(self, sent: int) -> None:
        """The kernel took ``sent`` bytes of the last :meth:`head`."""
        if self._head_is_buffer:
            self._start += sent
            if self._start == self._end:
                self._start = self._end = 0
            return
        chunk = self._extra[0]
        self._extra_bytes -= sent
        if sent < len(chunk):
            self._extra[0] = chunk[sent:]
        else:
            del self._extra[0]

    def finish_line(self, line_open: bool) -> None:
        """Drop what is queued, except the rest of a line the kernel has begun.

        The truncation rule: a line is either not sent at all or sent whole. ``line_open``:
        the last byte the kernel took was not a line end.
        """
        if not line_open:
            self.clear()
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

    def clear(self) -> None:
        """Drop everything queued (the buffer stays, for reuse)."""
        self._start = self._end = 0
        self._drop_extra()

    def release(self) -> None:
        """Drop everything and let go of the buffer: nothing more will be queued."""
        self.clear()
        if self._view is not None:
            self._view.release()
            self._view = None
        self._buffer = None

    def _drop_extra(self) -> None:
        self._extra.clear()
        self._extra_bytes = 0

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
