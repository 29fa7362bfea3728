"""The socket Observer: writes a stream into a TCP socket and requests more when the kernel drains.

Data flows one way (items -> encoder -> ``send``), demand flows back one way
(kernel has room -> ``request(n)``). The writer holds at most one window of
encoded bytes in user space, and, where Linux lets it see into the kernel,
keeps the bytes queued there but not yet sent under a small budget too:

* ``TCP_NOTSENT_LOWAT`` makes "writable" mean "fewer than ``NOTSENT_LOWAT``
  unsent bytes queued", instead of "the 4 MB send buffer has room";
* ``SIOCOUTQNSD`` reads the unsent bytes, and each request is sized from the
  room left under ``KERNEL_BUDGET`` and the largest encoded item size seen
  (7 bytes for the default encoding).

Per connection, then: user space <= ``WINDOW_BYTES`` (+ one item), kernel
unsent bytes <= ``NOTSENT_LOWAT + WINDOW_BYTES`` <= ``KERNEL_BUDGET``. Where
the two options are missing the writer still never holds more than one
window, and the kernel buffers up to its ``SO_SNDBUF``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import logging
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, final

import numpy as np

from ._controlled import ControlledSubscription
from ._errors import ConnectionLost, translate_os_error
from ._fused import LineTable
from ._wire import encode_int_line

__all__ = [
    "KERNEL_BUDGET",
    "NOTSENT_LOWAT",
    "WINDOW_BYTES",
    "SocketObserver",
    "WriterStats",
    "configure_stream_socket",
    "unsent_bytes",
]

_T = TypeVar("_T")

log = logging.getLogger("rxrand.socket")

#: Most encoded bytes held in user space per connection (one request's worth).
WINDOW_BYTES: Final = 64 * 1024
#: TCP_NOTSENT_LOWAT: the socket reports writable below this many unsent bytes.
NOTSENT_LOWAT: Final = 32 * 1024
#: A request never brings the kernel's unsent bytes above this.
KERNEL_BUDGET: Final = NOTSENT_LOWAT + WINDOW_BYTES
#: Linux ioctl: bytes in the send queue not yet sent (linux/sockios.h).
SIOCOUTQNSD: Final = 0x894B
#: Assumed largest encoded item before any was seen (``b"10000\r\n"`` is 7).
_INITIAL_ITEM_SIZE: Final = 8

_DEFAULT_HIGH: Final = 10_000
_DEFAULT_LINES: Final = LineTable(0, _DEFAULT_HIGH)

_TCP_NOTSENT_LOWAT: Final[int | None] = getattr(socket, "TCP_NOTSENT_LOWAT", None)
_INT: Final = struct.Struct("i")


def _concatenate(parts: list[Any]) -> Any:
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    return [item for part in parts for item in part]


def configure_stream_socket(sock: socket.socket, lowat: int = NOTSENT_LOWAT) -> bool:
    """Make ``sock`` non-blocking, ``TCP_NODELAY``, and kernel-aware where possible.

    Returns:
        Whether ``TCP_NOTSENT_LOWAT`` could be set.
    """
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _TCP_NOTSENT_LOWAT is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, lowat)
    except OSError:
        return False
    return True


def unsent_bytes(sock: socket.socket) -> int | None:
    """Bytes queued in the kernel and not yet sent (``SIOCOUTQNSD``); ``None`` if unknown."""
    try:
        raw = fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, b"\0\0\0\0")
    except OSError:
        return None
    value: int = _INT.unpack(raw)[0]
    return value


@dataclass(slots=True)
class WriterStats:
    """Per-connection counters, read by the server's log and the tests."""

    #: Items asked of the publisher (sum of request(n)).
    items_requested: int = 0
    #: Items whose bytes the kernel has accepted.
    items_written: int = 0
    #: Bytes the kernel has accepted.
    bytes_sent: int = 0
    #: ``send`` calls.
    sends: int = 0
    #: Times the writer had to wait for the kernel to drain (the seed's "pausing").
    kernel_full: int = 0
    #: Most bytes held in user space at once.
    max_held_bytes: int = 0


class _State(enum.Enum):
    WAITING = "waiting"  # no subscription yet
    ACTIVE = "active"
    COMPLETING = "completing"  # upstream completed, flushing the rest
    DONE = "done"


@final
class SocketObserver(Generic[_T]):
    """A Reactive Streams subscriber that writes items into a non-blocking TCP socket.

    Contract:
        * Requests an initial window in ``on_subscribe`` (rule 2.1) and more
          only after the bytes it holds are in the kernel and the kernel has
          room again. Cancels a second subscription (rule 2.5). Its ``on_*``
          methods return normally (rule 2.13).
        * Must be used on the event loop's thread; items that arrive on
          another thread are handed to the loop.
        * ``on_finished(error)`` is called once when the stream is over:
          ``None`` after completion once every byte is in the kernel, the
          stream's exception after ``on_error``, or :class:`ConnectionLost`.
          The socket itself belongs to the caller, who closes it.
    """

    __slots__ = (
        "_batches",
        "_cycle_handle",
        "_encode",
        "_fd",
        "_fused",
        "_in_request",
        "_item_size",
        "_items_received",
        "_kernel_aware",
        "_kernel_budget",
        "_loop",
        "_loop_thread",
        "_on_finished",
        "_pending",
        "_pending_items",
        "_sock",
        "_state",
        "_subscription",
        "_values",
        "_window",
        "_writer_registered",
        "stats",
    )

    def __init__(
        self,
        sock: socket.socket,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        encoder: Callable[[_T], bytes] = encode_int_line,  # type: ignore[assignment]
        window_bytes: int = WINDOW_BYTES,
        kernel_budget: int = KERNEL_BUDGET,
        on_finished: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        if window_bytes < 1:
            raise ValueError(f"window_bytes must be >= 1, got {window_bytes}")
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = loop or asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._encode = encoder
        self._window = window_bytes
        self._kernel_budget = kernel_budget
        self._kernel_aware = configure_stream_socket(sock) and unsent_bytes(sock) is not None
        self._on_finished = on_finished
        self._state = _State.WAITING
        self._subscription: ControlledSubscription[_T] | None = None
        self._values: list[_T] = []
        self._pending: memoryview | None = None
        self._pending_items = 0
        self._items_received = 0
        self._item_size = _INITIAL_ITEM_SIZE
        self._batches: list[Sequence[_T]] = []
        self._fused = False
        self._in_request = False
        self._cycle_handle: asyncio.Handle | None = None
        self._writer_registered = False
        self.stats = WriterStats()

    @property
    def kernel_aware(self) -> bool:
        """Whether TCP_NOTSENT_LOWAT and SIOCOUTQNSD are in use on this socket."""
        return self._kernel_aware

    @property
    def held_bytes(self) -> int:
        """Encoded bytes held in user space right now."""
        pending = len(self._pending) if self._pending is not None else 0
        # Items not yet encoded count at the largest encoded size seen.
        held = len(self._values) + sum(map(len, self._batches))
        return pending + held * self._item_size

    @property
    def finished(self) -> bool:
        return self._state is _State.DONE

    @property
    def fused(self) -> bool:
        """Whether integers travel in chunks (the fused path) rather than one by one."""
        return self._fused

    # -- Reactive Streams subscriber -------------------------------------------

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        if self._subscription is not None or self._state is _State.DONE:
            subscription.cancel()  # rule 2.5: one subscription at a time
            return
        self._subscription = subscription
        self._state = _State.ACTIVE
        self._fused = subscription.fused
        # The initial window is requested from the loop, once subscribe() has
        # returned and the whole chain is wired.
        self._schedule_cycle()

    def on_next(self, value: _T) -> None:
        # The hot path of the per-item route: one append. Safe from any thread,
        # because the list is never replaced, only consumed from its head on
        # the loop (see _flush). Encoding happens a window at a time.
        self._values.append(value)
        if not self._in_request:
            self._wake()

    def on_next_batch(self, batch: Sequence[_T]) -> None:
        """Bulk delivery (see ``rxrand.BulkSubscriber``): one hand-over per batch, any thread."""
        self._batches.append(batch)
        if not self._in_request:
            self._wake()

    def _wake(self) -> None:
        """An item arrived outside our own request(): get the loop to flush it."""
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._wake)
            return
        if self._state is _State.ACTIVE:
            self._schedule_cycle()
        else:
            self._values.clear()  # nothing is written after close
            self._batches.clear()

    def on_error(self, error: Exception) -> None:
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.on_error, error)
            return
        if self._state is _State.DONE:
            return
        self._subscription = None
        self._fail(error)

    def on_completed(self) -> None:
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.on_completed)
            return
        if self._state is not _State.ACTIVE:
            return
        self._state = _State.COMPLETING
        self._subscription = None
        if not self._in_request:
            self._schedule_cycle()

    # -- control by the owner ---------------------------------------------------

    def close(self) -> None:
        """Stop at once: cancel the subscription, write nothing more. Idempotent."""
        if self._state is _State.DONE:
            return
        self._state = _State.DONE
        self._teardown()

    # -- the write cycle -------------------------------------------------------------

    def _schedule_cycle(self) -> None:
        if self._cycle_handle is None and not self._writer_registered:
            self._cycle_handle = self._loop.call_soon(self._cycle)

    def _cycle(self) -> None:
        """Flush what is held; if the kernel has room, request what fits. One pass per loop turn."""
        self._cycle_handle = None
        if self._state is _State.DONE:
            return
        if not self._flush():
            return
        if self._state is _State.COMPLETING:
            self._finish(None)
            return
        room = self._room()
        if room is None:
            return
        subscription = self._subscription
        if subscription is None:
            return
        # Sized by the largest item seen, so that a window of requested items
        # never holds more than `room` bytes (given items no larger than before).
        held = len(self._values) + sum(map(len, self._batches))
        outstanding = self.stats.items_requested - self._items_received - held
        want = max(1, room // self._item_size) - outstanding
        if want <= 0:
            return  # the items already asked for will fill the room
        self.stats.items_requested += want
        self._in_request = True
        try:
            subscription.request(want)
        finally:
            self._in_request = False
        if self._values or self._batches or self._state is not _State.ACTIVE:
            # Yield to the loop between write cycles: one endless fast
            # stream must not starve the other connections.
            self._schedule_cycle()

    def _room(self) -> int | None:
        """Bytes that may be requested now, or ``None`` after arranging to wait for the kernel."""
        if not self._kernel_aware:
            return self._window
        unsent = unsent_bytes(self._sock)
        if unsent is None:
            return self._window
        if unsent >= NOTSENT_LOWAT:
            # With TCP_NOTSENT_LOWAT, writable means unsent < NOTSENT_LOWAT again.
            self.stats.kernel_full += 1
            self._wait_writable()
            return None
        return min(self._window, self._kernel_budget - unsent)

    def _flush(self) -> bool:
        """Send what is held; True once nothing is left in user space."""
        if self._pending is None:
            values = self._values
            count = len(values)
            if count:
                batch: Any = values[:count]
                del values[:count]  # appends from another thread meanwhile stay
            elif self._batches:
                batches = self._batches
                taken = len(batches)
                parts = batches[:taken]
                del batches[:taken]
                batch = parts[0] if taken == 1 else _concatenate(parts)
                count = len(batch)
            else:
                return True
            try:
                data = self._encode_batch(batch)
            except Exception as error:
                self._fail(error)
                return False
            self._items_received += count
            self._pending = memoryview(data)
            self._pending_items = count
            if len(data) > self.stats.max_held_bytes:
                self.stats.max_held_bytes = len(data)
        pending = self._pending
        try:
            sent = self._sock.send(pending)
        except OSError as error:
            lost = translate_os_error(error)
            if lost is not None:
                self._fail(lost)
                return False
            sent = 0
        self.stats.sends += 1
        self.stats.bytes_sent += sent
        if sent < len(pending):
            self._pending = pending[sent:]
            self.stats.kernel_full += 1
            self._wait_writable()
            return False
        pending.release()
        self._pending = None
        self.stats.items_written += self._pending_items
        self._pending_items = 0
        return True

    def _encode_batch(self, values: Any) -> bytes:
        """Encode a window of items at once: by table for default integers, else one by one."""
        if self._encode is encode_int_line and len(values):
            array = values if isinstance(values, np.ndarray) else np.array(values)
            if array.dtype.kind == "i" and array.min() >= 0 and array.max() <= _DEFAULT_HIGH:
                self._item_size = max(self._item_size, _DEFAULT_LINES.width)
                return _DEFAULT_LINES.encode(array)
        parts = list(map(self._encode, values))
        largest = max(map(len, parts))
        if largest > self._item_size:
            self._item_size = largest
        return b"".join(parts)

    def _wait_writable(self) -> None:
        if not self._writer_registered:
            self._writer_registered = True
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        self._loop.remove_writer(self._fd)
        self._writer_registered = False
        self._cycle()

    # -- endings ---------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        if self._state is _State.DONE:
            return
        if isinstance(error, ConnectionLost):
            log.debug("connection lost on fd %d: %s", self._fd, error)
        else:
            log.error("stream failed on fd %d", self._fd, exc_info=error)
        self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        self._state = _State.DONE
        self._teardown()
        callback, self._on_finished = self._on_finished, None
        if callback is not None:
            callback(error)

    def _teardown(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.cancel()
        if self._cycle_handle is not None:
            self._cycle_handle.cancel()
            self._cycle_handle = None
        if self._writer_registered:
            self._writer_registered = False
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._fd)
        self._values.clear()
        self._batches.clear()
        if self._pending is not None:
            self._pending.release()
            self._pending = None
