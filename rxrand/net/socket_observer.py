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

Two pieces, one job each. :class:`SocketObserver` is the Reactive Streams
facade: it holds the subscription and the stream's state (waiting, active,
completing, done), takes items on any thread and hands them to the loop once
per burst, and ends the stream once. The pacing, encoding and writing live in
:class:`~rxrand.net.write_cycle.WriteCycle`, which asks the facade for more
through one method (``request``) and answers through two (``on_flushed``,
``on_error``). The facade writes into the cycle only by appending to its two
arrival lists, so that ``on_next`` stays one append and one flag test: the
per-item path's cost is unchanged by the split.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, final, overload

from ..core.demand import refuse_none_error, refuse_none_subscription
from ..ops.controlled import ControlledSubscription
from .encode import Batch, BatchEncoder, batch_encoder
from .errors import ConnectionLost
from .kernel import make_kernel_aware
from .sender import Sender
from .window import KERNEL_BUDGET, WINDOW_BYTES, KernelWindow
from .wire import encode_int_line
from .write_cycle import LoopWake, WriteCycle, WriterStats

__all__ = ["SocketObserver", "WriterStats"]

_T = TypeVar("_T")

log = logging.getLogger("rxrand.socket")


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
        "_cycle",
        "_in_request",
        "_loop",
        "_loop_thread",
        "_on_finished",
        "_owns_sender",
        "_push",
        "_push_batch",
        "_sender",
        "_state",
        "_subscription",
        "_wake",
        "_write_batch",
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
        window = KernelWindow(window_bytes, kernel_budget)
        self._loop = loop or asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        if kernel_aware is None:
            kernel_aware = make_kernel_aware(sock)
        self._owns_sender = sender is None
        self._sender = (
            sender if sender is not None else Sender(sock, self._loop, on_lost=self._fail)
        )
        self._on_finished = on_finished
        self._state = _State.WAITING
        self._subscription: ControlledSubscription[_T] | None = None
        self._cycle: WriteCycle[_T] = WriteCycle(
            sock,
            self._sender,
            self._loop,
            batch_encoder(encoder),
            window,
            kernel_aware=kernel_aware,
            request=self._request,
            on_flushed=self._finish,
            on_error=self._fail,
        )
        # The cycle's arrival lists (appended to from any thread) and its eager write.
        self._push = self._cycle.values.append
        self._push_batch = self._cycle.batches.append
        self._write_batch = self._cycle.write_batch
        self._wake = LoopWake(self._loop, self._cycle.arrived)
        self._in_request = False

    @property
    def kernel_aware(self) -> bool:
        """Whether TCP_NOTSENT_LOWAT and SIOCOUTQNSD are in use on this socket."""
        return self._cycle.kernel_aware

    @property
    def held_bytes(self) -> int:
        """Encoded bytes held in user space right now (items not yet encoded at their size)."""
        return self._cycle.held_bytes

    @property
    def finished(self) -> bool:
        return self._state is _State.DONE

    @property
    def fused(self) -> bool:
        """Whether integers travel in chunks (the fused path) rather than one by one."""
        return self._cycle.fused

    @property
    def stats(self) -> WriterStats:
        return self._cycle.stats

    # -- Reactive Streams subscriber -------------------------------------------

    def on_subscribe(self, subscription: ControlledSubscription[_T]) -> None:
        refuse_none_subscription(subscription)
        if self._subscription is not None or self._state is not _State.WAITING:
            subscription.cancel()  # rule 2.5: one subscription at a time
            return
        self._subscription = subscription
        self._state = _State.ACTIVE
        # The fused path: integers come as numpy arrays through on_next_batch.
        self._cycle.start(fused=subscription.fused)
        # The initial window is requested from the loop, once subscribe() has
        # returned and the whole chain is wired. From another thread (a hop
        # before the socket) the loop may be idle: call_soon would neither be
        # safe nor wake it, and the first request would wait for an unrelated event.
        if threading.get_ident() == self._loop_thread:
            self._cycle.schedule()
        else:
            self._loop.call_soon_threadsafe(self._cycle.schedule)

    def on_next(self, value: _T) -> None:
        # The hot path of the per-item route: one append (safe from any
        # thread: the list is only ever consumed from its head, on the loop).
        self._push(value)
        if not self._in_request:
            self._wake()

    def on_next_batch(self, batch: Batch[_T]) -> None:
        """Bulk delivery: a non-empty batch (a numpy int array on the fused path)."""
        if self._in_request and threading.get_ident() == self._loop_thread:
            self._write_batch(batch)  # inside our own request: written at once
            return
        self._push_batch(batch)
        if not self._in_request:
            self._wake()

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
        self._cycle.complete()
        if not self._in_request:
            self._cycle.schedule()

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

    # -- what the write cycle asks of the facade ------------------------------------

    def _request(self, n: int) -> bool:
        """Ask upstream for ``n`` more (items arriving meanwhile wait for the cycle)."""
        subscription = self._subscription
        if subscription is None:
            return False
        self._in_request = True
        try:
            subscription.request(n)
        finally:
            self._in_request = False
        return True

    # -- endings ---------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        if self._state is _State.DONE:
            return
        if isinstance(error, ConnectionLost):
            log.debug("connection lost: %s", error)
        else:
            log.error("stream failed", exc_info=error)
        self._finish(error)

    def _finish(self, error: BaseException | None = None) -> None:
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
        self._cycle.stop()
        if self._owns_sender:
            self._sender.close()
