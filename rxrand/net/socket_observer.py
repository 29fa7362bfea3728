"""The socket Observer: writes a stream into a TCP socket and requests more when the kernel drains.

Data flows one way (items -> encoder -> :class:`~rxrand.net.sender.Sender` ->
kernel), demand flows back one way (kernel has room ->
:class:`~rxrand.KernelWindow` -> ``request(n)``). The observer itself only
adapts: it takes items (one by one or in batches, on any thread), hands them
to the loop once per burst, and asks the window how many more to request.

Where Linux lets it see into the kernel, the unsent bytes queued there stay
under a small budget too:

* ``TCP_NOTSENT_LOWAT`` makes "writable" mean "fewer than ``NOTSENT_LOWAT``
  unsent bytes queued", instead of "the 4 MB send buffer has room";
* ``SIOCOUTQNSD`` reads the unsent bytes, and each request is sized from the
  room left under ``KERNEL_BUDGET`` and the largest encoded item seen.

The kernel queries live in :mod:`rxrand.net.kernel`; where they cannot see
into the kernel (not Linux), the writer's own partial writes are the signal.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, final, overload

from ..core.demand import refuse_none_error, refuse_none_subscription
from ..ops.controlled import ControlledSubscription
from .encode import Batch, BatchEncoder, batch_encoder
from .errors import ConnectionLost
from .kernel import make_kernel_aware, set_notsent_lowat, unsent_bytes
from .sender import Sender
from .window import KERNEL_BUDGET, WINDOW_BYTES, KernelWindow
from .wire import encode_int_line

__all__ = ["SocketObserver", "WriterStats"]

_T = TypeVar("_T")

#: Request-and-write rounds one fused-path connection may run per event-loop turn (see
#: ``_cycle``); one on the per-item path, where a round takes milliseconds.
ROUNDS_PER_TURN: Final = 4

log = logging.getLogger("rxrand.socket")


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


class _State(enum.Enum):
    WAITING = "waiting"  # no subscription yet
    ACTIVE = "active"
    COMPLETING = "completing"  # upstream completed, flushing the rest
    DONE = "done"


@final
class SocketObserver(Generic[_T]):
    """A Reactive Streams subscriber that writes items into a non-blocking TCP socket.

    Contract:
        * Requests an initial window once subscribed (rule 2.1) and more only
          after the bytes it holds are in the kernel and the kernel has room
          again. Cancels a second subscription (rule 2.5). Its ``on_*``
          methods return normally (rule 2.13), but for ``on_subscribe(None)``
          and ``on_error(None)``: ``TypeError``, nothing else changed.
        * Lives on the event loop's thread; items (one by one through
          ``on_next``, or in batches through ``on_next_batch``) may arrive on
          any thread, and are handed to the loop once per burst.
        * ``on_finished(error)`` is called once when the stream is over:
          ``None`` after completion once every byte is in the kernel, the
          stream's exception after ``on_error``, or :class:`ConnectionLost`.
          The socket itself belongs to the caller, who closes it.

    Args:
        sock: The connected socket; or pass ``sender`` to share one
            :class:`~rxrand.net.sender.Sender` with other writers of the socket.
        encoder: Per item (``Callable[[T], bytes]``) or a batch encoder; the
            default writes integers as ``b"%d\\r\\n"``.
        kernel_aware: The result of :func:`configure_stream_socket` (and of
            reading :func:`unsent_bytes`) when the caller has configured the
            socket already; ``None`` (the default) configures it here.
    """

    __slots__ = (
        "_base_bytes",
        "_base_full",
        "_base_sends",
        "_cycle_handle",
        "_encoder",
        "_fused",
        "_in_request",
        "_inbox",
        "_items_received",
        "_kernel_aware",
        "_loop",
        "_loop_thread",
        "_lowat",
        "_on_finished",
        "_owns_sender",
        "_pending_items",
        "_requested",
        "_sender",
        "_sock",
        "_state",
        "_subscription",
        "_values",
        "_wake_scheduled",
        "_window",
        "_written",
    )

    # Without an encoder the items are integers: SocketObserver[str]() is a type error.
    @overload
    def __init__(
        self: SocketObserver[int],
        sock: socket.socket,
        *,
        sender: Sender | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        window_bytes: int = WINDOW_BYTES,
        kernel_budget: int = KERNEL_BUDGET,
        on_finished: Callable[[BaseException | None], None] | None = None,
        kernel_aware: bool | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        sock: socket.socket,
        *,
        sender: Sender | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        encoder: Callable[[_T], bytes] | BatchEncoder[_T],
        window_bytes: int = WINDOW_BYTES,
        kernel_budget: int = KERNEL_BUDGET,
        on_finished: Callable[[BaseException | None], None] | None = None,
        kernel_aware: bool | None = None,
    ) -> None: ...

    def __init__(
        self,
        sock: socket.socket,
        *,
        sender: Sender | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        encoder: Callable[[_T], bytes] | BatchEncoder[_T] = encode_int_line,  # type: ignore[assignment]
        window_bytes: int = WINDOW_BYTES,
        kernel_budget: int = KERNEL_BUDGET,
        on_finished: Callable[[BaseException | None], None] | None = None,
        kernel_aware: bool | None = None,
    ) -> None:
        self._window = KernelWindow(window_bytes, kernel_budget)
        #: The TCP_NOTSENT_LOWAT set on the socket (configure_stream_socket's, at first).
        self._lowat = self._window.lowat
        self._sock = sock
        self._loop = loop or asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._encoder: BatchEncoder[Any] = batch_encoder(encoder)
        if kernel_aware is None:
            kernel_aware = make_kernel_aware(sock)
        self._kernel_aware = kernel_aware
        self._owns_sender = sender is None
        self._sender = (
            sender if sender is not None else Sender(sock, self._loop, on_lost=self._lost)
        )
        self._base_bytes = self._sender.bytes_sent
        self._base_sends = self._sender.sends
        self._base_full = self._sender.kernel_full
        self._on_finished = on_finished
        self._state = _State.WAITING
        self._subscription: ControlledSubscription[_T] | None = None
        # Filled from any thread (append only), emptied on the loop.
        self._values: list[_T] = []
        self._inbox: list[Batch[_T]] = []
        self._wake_scheduled = False
        self._items_received = 0
        self._requested = 0
        self._written = 0
        self._pending_items = 0
        self._fused = False
        self._in_request = False
        self._cycle_handle: asyncio.Handle | None = None

    @property
    def kernel_aware(self) -> bool:
        """Whether TCP_NOTSENT_LOWAT and SIOCOUTQNSD are in use on this socket."""
        return self._kernel_aware

    @property
    def held_bytes(self) -> int:
        """Encoded bytes held in user space right now (items not yet encoded at their size)."""
        unencoded = len(self._values) + sum(map(len, self._inbox))
        return self._sender.pending + unencoded * self._window.item_size

    @property
    def finished(self) -> bool:
        return self._state is _State.DONE

    @property
    def fused(self) -> bool:
        """Whether integers travel in chunks (the fused path) rather than one by one."""
        return self._fused

    @property
    def stats(self) -> WriterStats:
        sender = self._sender
        return WriterStats(
            items_requested=self._requested,
            items_written=self._written,
            bytes_sent=sender.bytes_sent - self._base_bytes,
            sends=sender.sends - self._base_sends,
            kernel_full=sender.kernel_full - self._base_full,
            max_held_bytes=sender.max_held_bytes,
        )

    # -- Reactive Streams subscriber -------------------------------------------

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        if self._subscription is not None or self._state is not _State.WAITING:
            subscription.cancel()  # rule 2.5: one subscription at a time
            return
        self._subscription = subscription
        self._state = _State.ACTIVE
        self._sender.claim(self._on_ready)
        # The fused path: integers come as numpy arrays through on_next_batch.
        self._fused = subscription.fused
        if not self._fused:
            # Item by item, a wide window is a long loop turn (about 2 ms per 64 KiB of
            # encoded items): the window stays at most 1.5 windows, and one round per turn.
            window = self._window
            self._window = KernelWindow(
                window.window_bytes, window.kernel_budget, open_budget=window.kernel_budget
            )
        # The initial window is requested from the loop, once subscribe() has
        # returned and the whole chain is wired. From another thread (a hop
        # before the socket) the loop may be idle: call_soon would neither be
        # safe nor wake it, and the first request would wait for an unrelated event.
        if threading.get_ident() == self._loop_thread:
            self._schedule_cycle()
        else:
            self._loop.call_soon_threadsafe(self._schedule_cycle)

    def on_next(self, value: _T) -> None:
        # The hot path of the per-item route: one append (safe from any
        # thread: the list is only ever consumed from its head, on the loop).
        self._values.append(value)
        if not self._in_request:
            self._wake()

    def on_next_batch(self, batch: Batch[_T]) -> None:
        """Bulk delivery: a non-empty batch (a numpy int array on the fused path)."""
        self._inbox.append(batch)
        if not self._in_request:
            self._wake()

    def _wake(self) -> None:
        """Items arrived outside our own request(): get the loop to write them, once per burst."""
        if threading.get_ident() != self._loop_thread:
            if not self._wake_scheduled:
                self._wake_scheduled = True
                self._loop.call_soon_threadsafe(self._woken)
            return
        self._woken()

    def _woken(self) -> None:
        self._wake_scheduled = False
        if self._state is _State.ACTIVE or self._state is _State.COMPLETING:
            self._schedule_cycle()
        elif self._state is _State.DONE:
            self._values.clear()  # nothing is written after close
            self._inbox.clear()

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
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
        """Stop at once: cancel the subscription, write nothing more. Idempotent.

        A shared sender keeps what is queued (its owner decides, see
        :meth:`~rxrand.net.sender.Sender.finish_line`); an own one drops it.
        """
        if self._state is _State.DONE:
            return
        self._state = _State.DONE
        self._teardown()

    # -- the write cycle -------------------------------------------------------------

    def _schedule_cycle(self) -> None:
        if self._cycle_handle is None:
            self._cycle_handle = self._loop.call_soon(self._cycle)

    def _on_ready(self) -> None:
        """The sender emptied its queue, or the kernel has room again."""
        if self._pending_items:
            self._written += self._pending_items
            self._pending_items = 0
        if self._cycle_handle is None:
            self._cycle()

    def _cycle(self) -> None:
        """Write what arrived; while the kernel has room, request what fits and write it.

        At most :data:`ROUNDS_PER_TURN` rounds of request-and-write per loop turn: one
        endless fast stream must not starve the other connections, yet a loop turn (a
        poll, a handle, a context) costs as much Python as a round, so one round per turn
        would spend a third of the fast path's interpreter time on the loop.
        """
        self._cycle_handle = None
        rounds = 0
        arrived = True
        while True:
            if self._state is _State.DONE or not self._write_arrived():
                return
            if self._state is _State.COMPLETING:
                self._finish(None)
                return
            if not arrived:
                return  # what was asked for comes later, through on_next and a new cycle
            if rounds == (ROUNDS_PER_TURN if self._fused else 1):
                self._schedule_cycle()
                return
            unsent = unsent_bytes(self._sock) if self._kernel_aware else None
            if self._window.kernel_full(unsent):
                self._sender.wait_writable()
                return
            window = self._window
            want = window.items_to_request(unsent, self._requested - self._items_received)
            if window.lowat != self._lowat:
                # The window opened, widened or closed: the kernel's mark follows it.
                self._lowat = window.lowat
                set_notsent_lowat(self._sock, self._lowat)
            if want <= 0:
                if window.kernel_full(unsent):
                    self._sender.wait_writable()  # a wide window closed: wait for the mark
                return  # else the items already asked for will fill the room
            subscription = self._subscription
            if subscription is None:
                return
            self._requested += want
            self._in_request = True
            try:
                subscription.request(want)
            finally:
                self._in_request = False
            arrived = bool(self._values or self._inbox) or self._state is not _State.ACTIVE
            rounds += 1

    def _write_arrived(self) -> bool:
        """Encode and send what arrived; True once the sender's queue is empty."""
        sender = self._sender
        if sender.pending:
            return False
        while self._inbox or self._values:
            if self._inbox:
                batch = self._inbox.pop(0)
            else:
                values = self._values
                count = len(values)
                batch = values[:count]
                del values[:count]  # appends from another thread meanwhile stay
            if not len(batch):
                continue
            try:
                data, largest = self._encoder.encode_batch(batch)
            except Exception as error:
                self._fail(error)
                return False
            count = len(batch)
            self._items_received += count
            self._window.saw_item_size(largest)
            if sender.write(data):
                self._written += count
            else:
                if self._state is _State.DONE or sender.closed:
                    return False
                self._pending_items += count
                return False
        return True

    # -- endings ---------------------------------------------------------------------

    def _lost(self, lost: ConnectionLost) -> None:
        self._fail(lost)

    def _fail(self, error: BaseException) -> None:
        if self._state is _State.DONE:
            return
        if isinstance(error, ConnectionLost):
            log.debug("connection lost: %s", error)
        else:
            log.error("stream failed", exc_info=error)
        self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        self._state = _State.DONE
        callback = self._on_finished
        self._teardown()
        if callback is not None:
            callback(error)

    def _teardown(self) -> None:
        # Nothing may outlive a closed connection: no reference back to the
        # owner (a cycle would wait for the garbage collector, holding a
        # chunk of integers and a send buffer per connection meanwhile).
        self._on_finished = None
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.cancel()
        if self._cycle_handle is not None:
            self._cycle_handle.cancel()
            self._cycle_handle = None
        self._values.clear()
        self._inbox.clear()
        sender = self._sender
        if self._owns_sender:
            sender.close()
        else:
            sender.release(self._on_ready)


def _nothing() -> None:
    return None
