"""The socket source: the lines a connected socket receives, read only against demand.

The other half of the socket Observer. Demand flows from the subscriber to
the kernel, one way: ``request(n)`` -> credit -> the source watches the socket
for reading -> ``recv``. With no credit left the source stops watching the
socket, the kernel's receive buffer fills, TCP's window closes, and the
sender's kernel-aware writer (:class:`~rxrand.SocketObserver`) stops asking
its source for more. Nothing here grows without bound: at most one ``recv``
of :data:`RECV_BYTES` plus one unfinished line is held per connection.

Lines are cut by the sans-I/O :class:`~rxrand.net.LineDecoder` (a length guard
included); the socket is only read and never closed here: it belongs to the
caller.

**The bulk path** (the mirror of the server's fused path, see
:mod:`rxrand.core.fusion`): when the subscriber of
``socket_lines(sock).pipe(controlled())`` takes batches (``on_next_batch``),
the source is :class:`~rxrand.core.Fusable`: the
request operator's drain takes :class:`LineBlock` batches from a
:class:`_BlockReader`, each the whole lines of what ``recv`` brought, cut at
the demand (``len(block)`` lines, never more than requested). No Python call
per line: one ``recv_into`` of up to :data:`BULK_RECV_BYTES`, one ``rfind``
and one numpy count per batch (and a scan for the n-th line end when demand
cuts one). The rest is the same: read only while demand is unmet, at most one ``recv`` plus
one unfinished line held, ``max_length`` guards the unfinished line.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, final, overload

import numpy as np
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from ..core.producer import MORE, BurstEnd
from ..sources.loop_producer import LoopProducer, call_in_loop, loop_or_error
from .errors import ConnectionLost, translate_os_error
from .wire import MAX_LINE_LENGTH, EndOfInput, Line, LineDecoder, LineTooLong

__all__ = [
    "BULK_RECV_BYTES",
    "RECV_BYTES",
    "LineBlock",
    "LineTooLongError",
    "SocketLines",
    "UnterminatedLineError",
    "socket_lines",
]

RECV_BYTES: Final = 64 * 1024
"""Most bytes one ``recv`` takes.

With at most one unfinished line, the bound on what a connection holds in user space.
"""
BULK_RECV_BYTES: Final = 256 * 1024
"""Most bytes one ``recv`` takes on the bulk path (one Python cycle per this many bytes)."""


class LineTooLongError(ValueError):
    """The peer sent a line longer than the limit: the stream ends with this error.

    What :func:`~rxrand.socket_lines` signals through ``on_error`` when its decoder returns
    the :class:`~rxrand.net.wire.LineTooLong` event.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"the peer sent a line longer than {limit} bytes")
        self.limit = limit


class UnterminatedLineError(ValueError):
    """The peer closed in the middle of a line (``socket_lines(..., unterminated=False)``).

    By the protocol's truncation rule that is a stream cut short: ``b"33"``
    without its line end may be the start of ``b"3301"``.
    """

    def __init__(self, tail: bytes) -> None:
        shown = tail[:20].decode("ascii", "backslashreplace") + ("..." if len(tail) > 20 else "")
        super().__init__(f"the peer closed inside a line: {shown!r} has no line end")
        self.tail = tail


@final
class _LineReader(LoopProducer[bytes]):
    """One subscription: credit in, lines out, the socket read only while credit is left.

    Credit, the burst bracket, the re-entry guard, the stop flag and terminate-then-detach
    are the producer base's (:class:`~rxrand.core.producer.LockedProducer`); this class
    decodes, and watches the socket while credit is left.
    """

    __slots__ = ("_decoder", "_fd", "_last", "_reading", "_sock", "_unterminated")

    def __init__(
        self,
        sock: socket.socket,
        observer: abc.ObserverBase[bytes],
        loop: asyncio.AbstractEventLoop,
        max_length: int,
        unterminated: bool,
    ) -> None:
        super().__init__(observer, loop)
        self._sock = sock
        self._fd = sock.fileno()
        self._decoder = LineDecoder(max_length)
        self._unterminated = unterminated
        self._last = 0x0A  # the last byte received: nothing yet is a line's end
        self._reading = False

    # -- the loop's side -------------------------------------------------------------------

    def _on_credit(self) -> None:
        """Emit the decoded lines that credit allows; watch the socket while credit is left.

        Runs as the base's turn (never re-entrantly: a request from inside ``on_next``
        adds credit, and this loop reads it again, rule 3.3).
        """
        self._emit_decoded()
        with self._lock:
            wanted = self._credit > 0 and not self._stopped
        if wanted and not self._reading:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)
        elif not wanted:
            self._pause()

    def _on_stop(self) -> None:
        self._pause()

    def _pause(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _emit_decoded(self) -> None:
        decoder = self._decoder
        while True:
            with self._lock:
                if self._stopped:
                    return
                budget = self._credit
            if budget == 0:
                return
            lines: list[bytes] = []
            end: BurstEnd = MORE
            while len(lines) < budget:  # rule 1.1: within credit
                event = decoder.next_event()
                if isinstance(event, Line):
                    lines.append(event.content)
                    continue
                if isinstance(event, EndOfInput):
                    end = None  # rule 1.5: the end needs no further credit
                elif isinstance(event, LineTooLong):
                    end = LineTooLongError(event.limit)
                break  # NEED_DATA or the end
            emitted = self.emit(lines) if lines else 0
            self.spend(emitted)
            if end is not MORE:
                # After the burst, not inside it: the lines before an error reach the
                # subscriber (controlled() lets an upstream error cut ahead of what waits).
                self.terminate(end)
                return
            if emitted < budget:
                return  # NEED_DATA, or stopped

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(RECV_BYTES)
        except OSError as error:
            lost = translate_os_error(error)
            if lost is not None:
                self.terminate(lost)
            return
        if data:
            self._last = data[-1]
        elif self._decoder.buffered and self._last != 0x0A and not self._unterminated:
            # The peer closed inside a line: the lines before it go out as far as
            # credit allows, then the stream is cut short (the truncation rule).
            self._turn()
            self.terminate(UnterminatedLineError(self._decoder.tail()))
            return
        self._decoder.receive_data(data)
        self._turn()


_LF: Final = 0x0A


@final
class LineBlock(Sequence[bytes]):
    """Whole lines as they arrived, line ends included: one batch of the bulk path.

    ``data`` holds ``len(block)`` complete lines, each ending with ``\\n``
    (``\\r\\n`` or ``\\n`` as the peer sent them). A bulk subscriber reads
    ``data`` at C speed (numpy, ``bytes.translate``); indexing splits it into
    the lines the per-item path would have given (without line ends), for
    code that wants them one by one.
    """

    __slots__ = ("_count", "_lines", "data")

    def __init__(self, data: bytes, count: int) -> None:
        self.data = data
        self._count = count
        self._lines: list[bytes] | None = None

    def __len__(self) -> int:
        """Lines in ``data``."""
        return self._count

    def lines(self) -> list[bytes]:
        """The lines without their line ends (split once, on first use)."""
        if self._lines is None:
            pieces = self.data.split(b"\n")
            pieces.pop()
            self._lines = [line[:-1] if line.endswith(b"\r") else line for line in pieces]
        return self._lines

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        return self.lines()[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.lines())

    def __repr__(self) -> str:
        return f"LineBlock({self._count} lines, {len(self.data)} bytes)"


_NO_LINES: Final[tuple[bytes, ...]] = ()
#: Bytes of a mask searched by hand (np.flatnonzero) once the n-th True is known to be in them.
_SCAN: Final = 2048


def _nth_true(mask: np.ndarray[Any, np.dtype[np.bool_]], n: int, total: int) -> int:
    """Where the ``n``-th True of ``mask`` is (``1 <= n <= total``, ``total`` its Trues).

    ``np.flatnonzero`` of a whole 256 KiB mask, to use one index of it, took a
    third of the client's CPU (about 300 us per cut, measured). Counting is
    cheap: one guess by the density of Trues (lines of a stream are much alike,
    so the guess is usually within a few lines), then bisection by counts, then
    ``flatnonzero`` over at most :data:`_SCAN` bytes.
    """
    size = len(mask)
    # The n-th True is in mask[lo:hi]; `below` Trues come before lo.
    left = max(0, size * n // total - _SCAN // 2)
    right = min(size, left + _SCAN)
    before = int(np.count_nonzero(mask[:left]))
    within = int(np.count_nonzero(mask[left:right]))
    if before >= n:
        lo, below, hi = 0, 0, left
    elif before + within >= n:
        lo, below, hi = left, before, right
    else:
        lo, below, hi = right, before + within, size
    while hi - lo > _SCAN:
        middle = (lo + hi) // 2
        counted = below + int(np.count_nonzero(mask[lo:middle]))
        if counted >= n:
            hi = middle
        else:
            lo, below = middle, counted
    return lo + int(np.flatnonzero(mask[lo:hi])[n - below - 1])


@final
class _BlockReader:
    """The bulk path's batch source (a :class:`~rxrand.core.fusion.ReadyBatchSource` of lines).

    One owner per piece of state: ``take`` (the drain, any thread) and
    ``_on_readable`` (the loop) meet only under ``_lock``, where the whole
    lines held, the unfinished line, the unmet demand and the end are kept;
    only the loop adds or removes the socket's reader and fills the receive
    buffer. The socket is read while demand is unmet and no whole line is
    held, so at most one ``recv`` plus one unfinished line is held, and with
    no demand TCP's window closes.

    No allocation per batch beyond the batch itself: ``recv_into`` one
    reused buffer (after the unfinished line), one ``bytes`` of its whole
    lines, counted into a reused mask. (Fresh 256 KiB buffers per ``recv``
    made the allocator map and unmap memory: a third of the client's CPU.)
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_cut",
        "_eof",
        "_error",
        "_fd",
        "_held",
        "_lines",
        "_lock",
        "_loop",
        "_mask",
        "_max_length",
        "_pos",
        "_reading",
        "_sock",
        "_tail",
        "_unterminated",
        "_view",
        "_wake",
        "_waking",
        "_wanted",
    )

    def __init__(
        self,
        sock: socket.socket | None,
        loop: asyncio.AbstractEventLoop | None,
        max_length: int,
        unterminated: bool,
        error: Exception | None = None,
    ) -> None:
        self._sock = sock
        self._fd = sock.fileno() if sock is not None else -1
        self._loop = loop
        self._max_length = max_length
        self._unterminated = unterminated
        self._lock = threading.Lock()
        self._lines = b""  # whole lines received and not yet taken, from _pos
        self._pos = 0
        self._tail = b""  # the unfinished line
        self._wanted = 0  # demand the last take could not meet
        self._eof = False
        self._cut: Exception | None = None  # the end found at a line too long
        self._error = error
        self._closed = error is not None
        self._reading = False  # the loop's alone, as are _buffer and _view
        self._wake: Callable[[], None] | None = None
        self._waking = False  # the loop's: inside _on_readable's call of _wake
        # Made on the first recv: the unfinished line (at most max_length + 1) + one recv.
        self._buffer = bytearray()
        self._view = memoryview(self._buffer)
        self._mask = np.empty(0, np.bool_)  # under _lock: the line ends of _lines
        self._held = -1  # under _lock: whole lines in _lines[_pos:] (-1: not counted yet)

    # -- ReadyBatchSource (the drain, any thread) ------------------------------------------

    def on_ready(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    @property
    def exhausted(self) -> bool:
        return self._closed

    @property
    def error(self) -> Exception | None:
        return self._error

    def take(self, n: int) -> Sequence[bytes]:
        """Up to ``n`` whole lines held now; none (and the socket watched) if none is held."""
        with self._lock:
            if self._closed or n <= 0:
                return _NO_LINES
            lines, start = self._lines, self._pos
            block: LineBlock | None = None
            if len(lines) > start:
                size = len(lines)
                if self._held < 0:
                    # Once per recv, however many takes cut it: numpy, not bytes.count
                    # (~15 us against ~270 us for 256 KiB, measured).
                    if len(self._mask) < size:
                        self._mask = np.empty(max(size, BULK_RECV_BYTES), np.bool_)
                    ends = np.equal(np.frombuffer(lines, np.uint8), _LF, out=self._mask[:size])
                    self._held = int(np.count_nonzero(ends))
                count = self._held
                end = size
                if count > n:
                    # Demand cuts the batch (the request operator's batches are smaller
                    # than a recv): find the n-th line end.
                    end = start + _nth_true(self._mask[start:size], n, count) + 1
                    count = n
                self._held -= count
                block = LineBlock(
                    lines if start == 0 and end == len(lines) else lines[start:end], count
                )
                self._pos = end
            elif self._eof and self._tail and self._cut is None:
                # The unterminated last line, accepted (unterminated=True).
                block = LineBlock(self._tail + b"\n", 1)
                self._tail = b""
            self._wanted = n - (len(block) if block is not None else 0)
            self._settle_locked()
        if self._loop is not None and not self._waking:
            # (While _on_readable wakes the drain, it settles the reading itself once the
            # drain is done: not once per take, with an epoll_ctl pair per recv.)
            call_in_loop(self._loop, self._sync_reading)
        return block if block is not None else _NO_LINES

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lines = self._tail = b""
            self._pos = 0
        if self._loop is not None:
            call_in_loop(self._loop, self._sync_reading)

    # -- the loop's side ---------------------------------------------------------------------

    def _settle_locked(self) -> None:
        """At the end of input, once no whole line is left: complete, or fail on a cut line."""
        if not self._eof or self._closed or len(self._lines) > self._pos:
            return
        if self._cut is not None:
            self._error = self._cut
        elif self._tail and self._unterminated:
            return  # a line for the next take
        elif self._tail:
            self._error = UnterminatedLineError(self._tail)
        self._closed = True
        self._lines = self._tail = b""
        self._pos = 0

    def _sync_reading(self) -> None:
        with self._lock:
            wanted = self._wanted > 0 and not self._closed and not self._eof
            wanted = wanted and len(self._lines) <= self._pos
        loop = self._loop
        assert loop is not None
        if wanted and not self._reading:
            self._reading = True
            loop.add_reader(self._fd, self._on_readable)
        elif not wanted and self._reading:
            self._reading = False
            loop.remove_reader(self._fd)

    def _on_readable(self) -> None:
        assert self._sock is not None
        with self._lock:
            tail = self._tail
        kept = len(tail)
        if not self._buffer:
            self._buffer = bytearray(self._max_length + 2 + BULK_RECV_BYTES)
            self._view = memoryview(self._buffer)
        buffer, view = self._buffer, self._view
        buffer[:kept] = tail
        try:
            received = self._sock.recv_into(view[kept : kept + BULK_RECV_BYTES])
        except OSError as error:
            lost = translate_os_error(error)
            if lost is None:
                return
            with self._lock:
                if not self._closed:
                    self._closed, self._error = True, lost
                    self._lines = self._tail = b""
        else:
            end = kept + received
            whole = buffer.rfind(b"\n", 0, end) + 1 if received else 0
            with self._lock:
                if self._closed:
                    return
                if not received:
                    self._eof = True
                else:
                    if whole:
                        lines = view[:whole].tobytes()
                        if len(self._lines) > self._pos:  # lines still held: keep them first
                            lines = self._lines[self._pos :] + lines
                        self._lines, self._pos, self._held = lines, 0, -1
                        tail = view[whole:end].tobytes()
                    else:
                        tail = tail + view[kept:end].tobytes()
                    self._tail = tail
                    if len(tail) > self._max_length + 1:
                        # Longer than the limit already (one byte more for a "\r"): the
                        # whole lines before it are still taken, then the stream fails.
                        self._tail = b""
                        self._eof, self._cut = True, LineTooLongError(self._max_length)
                self._settle_locked()
        # The drain first: on this thread it takes the lines at once, and the reader
        # stays registered (no epoll_ctl pair per recv); if it runs elsewhere, reading
        # pauses below until it has taken them.
        if self._wake is not None:
            self._waking = True
            try:
                self._wake()
            finally:
                self._waking = False
        self._sync_reading()


@final
class SocketLines(Observable[bytes]):
    """The Observable returned by :func:`socket_lines` (one subscription per socket)."""

    def __init__(
        self,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop | None,
        max_length: int,
        unterminated: bool = True,
    ) -> None:
        self._sock = sock
        self._loop = loop
        self._max_length = max_length
        self._unterminated = unterminated
        self._subscribed = False
        super().__init__()

    def _claim(self) -> tuple[asyncio.AbstractEventLoop | None, Exception | None]:
        """The loop to read on, or the error for the subscriber (rule 1.9: no raise)."""
        if self._subscribed:
            return None, RuntimeError("socket_lines() can be subscribed once: bytes read are gone")
        self._subscribed = True
        loop = loop_or_error(self._loop, "socket_lines()")
        if isinstance(loop, RuntimeError):
            return None, loop
        if self._sock.fileno() < 0:
            return None, ConnectionLost("the socket is closed")
        return loop, None

    def open_batches(self) -> _BlockReader:
        """The bulk path (:class:`~rxrand.Fusable`): :class:`LineBlock` batches, within demand."""
        loop, error = self._claim()
        if error is not None:
            return _BlockReader(None, None, self._max_length, self._unterminated, error)
        return _BlockReader(self._sock, loop, self._max_length, self._unterminated)

    def _subscribe_core(
        self, observer: abc.ObserverBase[bytes], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        loop, error = self._claim()
        if error is not None:
            observer.on_error(error)
            return Disposable()
        assert loop is not None
        reader = _LineReader(self._sock, observer, loop, self._max_length, self._unterminated)
        return reader.start(scheduler)


def socket_lines(
    sock: socket.socket,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    max_length: int = MAX_LINE_LENGTH,
    unterminated: bool = True,
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
    return SocketLines(sock, loop, max_length, bool(unterminated))
