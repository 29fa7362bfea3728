"""The write cycle: what arrived goes to the kernel, and more is asked for while it has room.

One job, on the event loop's thread: take the items that arrived (a list of
values, a list of batches), encode them, hand the bytes to the
:class:`~rxrand.net.sender.Sender`, and while the kernel has room ask the
:class:`~rxrand.net.window.KernelWindow` how many more to request, then request
them through the ``request`` callable it was given. It knows nothing of
Reactive Streams: :class:`~rxrand.SocketObserver` (the subscriber facade) owns
the subscription and the stream's state, fills the two arrival lists (append
only, from any thread) and tells the cycle when to run, when upstream completed
and when to stop; the cycle tells it back through ``on_flushed`` (everything
after completion is in the kernel) and ``on_error`` (an item could not be
encoded).

Why the split is here: the facade's methods run once per item (``on_next``)
and must stay an append and a flag test; the pacing (kernel queries, the
low-water mark, the rounds per loop turn) runs once per request and is where
the policy lives. Each can now be read, and changed, without the other.

Rounds: at most :data:`ROUNDS_PER_TURN` rounds of request-and-write per loop
turn on the fused path. One endless fast stream must not starve the other
connections, yet a loop turn (a poll, a handle, a context) costs as much Python
as a round, so one round per turn would spend a third of the fast path's
interpreter time on the loop. Item by item, a wide window is a long loop turn
(about 2 ms per 64 KiB of encoded items): the window then stays at most 1.5
windows, and one round per turn.

A batch that arrives inside the cycle's own request is written at once
(:meth:`WriteCycle.write_batch`): encoded while the source's array is still in
the CPU cache, and let go of before the next one is drawn. A round of a wide
window is several batches; holding them all (about 400 KiB of arrays) until the
request returned made the C heap grow and shrink by that much each round (glibc
gives its top back to the kernel): 60,000-90,000 page faults per 5e7 integers,
about a tenth of the fused path's CPU (sys 0.14-0.17 s against 0.05-0.07 s now).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, final

from ..core.producer import ignore
from .encode import Batch, BatchEncoder
from .kernel import KernelGauge
from .sender import Sender
from .window import KernelWindow

__all__ = ["ROUNDS_PER_TURN", "LoopWake", "WriteCycle", "WriterStats"]

_T = TypeVar("_T")

#: Request-and-write rounds one fused-path connection may run per event-loop turn (see
#: :meth:`WriteCycle.run`); one on the per-item path, where a round takes milliseconds.
ROUNDS_PER_TURN: Final = 4


@dataclass(slots=True)
class WriterStats:
    """Per-stream counters, read by the server's log and the tests."""

    #: Items asked of the publisher (sum of request(n)).
    items_requested: int = 0
    #: Items whose bytes the kernel has accepted.
    items_written: int = 0
    #: Bytes of the stream the kernel has accepted.
    bytes_sent: int = 0
    #: ``send`` calls.
    sends: int = 0
    #: Times the writer had to wait for the kernel to drain (the seed's "pausing").
    kernel_full: int = 0
    #: Most bytes held in user space at once.
    max_held_bytes: int = 0


@final
class LoopWake:
    """Calls ``target`` on the loop's thread: at once there, else once per burst.

    From another thread, the first :meth:`__call__` schedules ``target`` with
    ``call_soon_threadsafe`` (which also wakes an idle loop); the calls that follow
    before it ran are folded into that one.
    """

    __slots__ = ("_loop", "_scheduled", "_target", "_thread")

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Callable[[], None]) -> None:
        self._loop = loop
        self._target = target
        self._thread = threading.get_ident()
        self._scheduled = False

    def __call__(self) -> None:
        if threading.get_ident() == self._thread:
            self._target()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        self._scheduled = False
        self._target()


def _refuse_request(_: int) -> bool:
    return False


@final
class WriteCycle(Generic[_T]):
    """Encodes what arrived, sends it, and requests more while the kernel has room.

    Contract:
        * Runs on the loop's thread; :attr:`values` and :attr:`batches` may be appended
          to from any thread (they are only ever consumed from their head).
        * Requests only once the sender's queue is empty, never beyond the window.
        * After :meth:`stop` it writes nothing, requests nothing and calls nothing back.

    Args:
        sock: The socket (for the kernel queries; the ``sender`` writes it).
        sender: The socket's one writer; the cycle claims its writer slot in :meth:`start`.
        loop: The event loop the cycle runs on.
        encoder: Turns a batch of items into bytes.
        window: The pacing policy (replaced in :meth:`start` for the per-item path).
        kernel_aware: Whether the kernel's unsent bytes can be read (``SIOCOUTQNSD``).
        request: Asks upstream for ``n`` more items; returns False if there is no
            subscription to ask. Items may arrive inside the call.
        on_flushed: Called once :meth:`complete` was called and every byte is in the kernel.
        on_error: Called with the exception when an item could not be encoded.
    """

    __slots__ = (
        "_base",
        "_completing",
        "_encoder",
        "_fused",
        "_gauge",
        "_handle",
        "_loop",
        "_on_error",
        "_on_flushed",
        "_pending_items",
        "_received",
        "_request",
        "_requested",
        "_sender",
        "_stopped",
        "_window",
        "_written",
        "batches",
        "values",
    )

    def __init__(
        self,
        sock: socket.socket,
        sender: Sender,
        loop: asyncio.AbstractEventLoop,
        encoder: BatchEncoder[Any],
        window: KernelWindow,
        *,
        kernel_aware: bool,
        request: Callable[[int], bool],
        on_flushed: Callable[[], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self._sender = sender
        self._loop = loop
        self._encoder = encoder
        self._window = window
        # The socket's TCP_NOTSENT_LOWAT is configure_stream_socket's (the window's) at first.
        self._gauge = KernelGauge(sock, kernel_aware, window.lowat)
        self._request = request
        self._on_flushed = on_flushed
        self._on_error = on_error
        #: Items that arrived one by one (appended from any thread, emptied here).
        self.values: list[_T] = []
        #: Batches that arrived (appended from any thread, emptied here).
        self.batches: list[Batch[_T]] = []
        self._fused = False
        self._completing = False
        self._stopped = False
        self._handle: asyncio.Handle | None = None
        self._requested = 0
        self._received = 0
        self._written = 0
        self._pending_items = 0
        # The shared sender's counters when this stream began.
        self._base = (sender.bytes_sent, sender.sends, sender.kernel_full)

    @property
    def stats(self) -> WriterStats:
        """This stream's counters (the sender's, since the cycle was made)."""
        sender = self._sender
        bytes_sent, sends, kernel_full = self._base
        return WriterStats(
            items_requested=self._requested,
            items_written=self._written,
            bytes_sent=sender.bytes_sent - bytes_sent,
            sends=sender.sends - sends,
            kernel_full=sender.kernel_full - kernel_full,
            max_held_bytes=sender.max_held_bytes,
        )

    @property
    def kernel_aware(self) -> bool:
        """Whether the kernel's unsent bytes are read (and its low-water mark moved)."""
        return self._gauge.aware

    @property
    def fused(self) -> bool:
        """Whether items come in large batches (set by :meth:`start`)."""
        return self._fused

    @property
    def held_bytes(self) -> int:
        """Encoded bytes held in user space (items not yet encoded at their size)."""
        unencoded = len(self.values) + sum(map(len, self.batches))
        return self._sender.pending + unencoded * self._window.item_size

    def start(self, *, fused: bool) -> None:
        """Take the sender's writer slot; ``fused``: items come in large batches."""
        self._fused = fused
        if not fused:
            window = self._window
            self._window = KernelWindow(
                window.window_bytes, window.kernel_budget, open_budget=window.kernel_budget
            )
        self._sender.claim(self._on_ready)

    def schedule(self) -> None:
        """Run the cycle on the loop's next turn (once, however often it is asked)."""
        if self._handle is None and not self._stopped:
            self._handle = self._loop.call_soon(self.run)

    def complete(self) -> None:
        """Upstream completed: write what arrived, then call ``on_flushed``."""
        self._completing = True

    def stop(self) -> None:
        """Write nothing more, drop what arrived, give the writer slot back. Idempotent."""
        self._stopped = True
        # The owner's bound methods go: a cycle through them waits for the garbage collector.
        self._on_flushed = ignore
        self._on_error = ignore
        self._request = _refuse_request
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.values.clear()
        self.batches.clear()
        self._sender.release(self._on_ready)

    def write_batch(self, batch: Batch[_T]) -> None:
        """A batch arrived inside the cycle's own request (on the loop's thread): write it now.

        Behind anything still waiting (queued bytes, earlier items) it waits its turn.
        """
        if self._sender.pending or self.batches or self.values or self._stopped:
            self.batches.append(batch)
        else:
            self._write(batch)

    def arrived(self) -> None:
        """Items were appended outside a request: write them soon (on the loop's thread)."""
        if self._stopped:
            self.values.clear()  # nothing is written after stop
            self.batches.clear()
        else:
            self.schedule()

    # -- the cycle --------------------------------------------------------------------

    def _on_ready(self) -> None:
        """The sender emptied its queue, or the kernel has room again."""
        if self._pending_items:
            self._written += self._pending_items
            self._pending_items = 0
        if self._handle is None:
            self.run()

    def run(self) -> None:
        """Write what arrived; while the kernel has room, request what fits and write it."""
        self._handle = None
        rounds = 0
        arrived = True
        # A stream's first turn is one round: a burst of new streams each sends its first
        # bytes before any of them takes four rounds (time to first byte).
        most = ROUNDS_PER_TURN if self._fused and self._requested else 1
        window = self._window
        while True:
            if self._stopped or not self._write_arrived():
                return
            if self._completing:
                self._on_flushed()
                return
            if not arrived:
                return  # what was asked for comes later, through the facade and a new run
            if rounds == most:
                self.schedule()
                return
            unsent = self._gauge.unsent()
            if window.kernel_full(unsent):
                self._sender.wait_writable()
                return
            want = window.items_to_request(unsent, self._requested - self._received)
            # The window opened, widened or closed: the kernel's mark follows it.
            self._gauge.follow(window.lowat)
            if want <= 0:
                if window.kernel_full(unsent):
                    self._sender.wait_writable()  # a wide window closed: wait for the mark
                return  # else the items already asked for will fill the room
            self._requested += want
            received = self._received
            if not self._request(want):
                self._requested -= want
                return
            arrived = (
                self._received != received
                or bool(self.values or self.batches)
                or self._completing
                or self._stopped
            )
            rounds += 1

    def _write_arrived(self) -> bool:
        """Encode and send what arrived; True once the sender's queue is empty."""
        if self._sender.pending:
            return False
        batches = self.batches
        values = self.values
        while batches or values:
            if batches:
                batch = batches.pop(0)
            else:
                count = len(values)
                batch = values[:count]
                del values[:count]  # appends from another thread meanwhile stay
            if len(batch) and not self._write(batch):
                return False
        return True

    def _write(self, batch: Batch[_T]) -> bool:
        """Encode and send one non-empty batch; True if the kernel took all of it."""
        try:
            data, largest = self._encoder.encode_batch(batch)
        except Exception as error:
            self._on_error(error)
            return False
        count = len(batch)
        self._received += count
        self._window.saw_item_size(largest)
        sender = self._sender
        if sender.write(data):
            self._written += count
            return True
        if not (self._stopped or sender.closed):
            self._pending_items += count
        return False
