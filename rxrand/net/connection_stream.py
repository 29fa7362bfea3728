"""One connection's stream: started from the count, written by a socket Observer, stopped once.

The server's :class:`~rxrand.net.server.Connection` drives the protocol (it
reads, feeds :class:`~rxrand.net.protocol.ServerProtocol` and carries out its
actions); the life of the stream it starts is this module's one job. It
subscribes a :class:`~rxrand.SocketObserver` to the stream, hands the socket's
one :class:`~rxrand.net.sender.Sender` between the connection (who waits for
its prompt and error lines to drain) and the observer, applies the truncation
rule when the stream is stopped early, and reports the stream's end as the
protocol's own events. The connection asks it through three methods
(:meth:`ConnectionStream.start`, :meth:`~ConnectionStream.stop`,
:meth:`~ConnectionStream.close`) and hears back through one callable.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import final

from reactivex import Observable

from ..core.producer import ignore
from ..ops.controlled import ControlledSubscription, controlled
from .errors import ConnectionLost
from .kernel import lift_notsent_lowat
from .protocol import ConnectionLostEvent, Event, StreamEnded
from .sender import Sender
from .socket_observer import SocketObserver, WriterStats

__all__ = ["ConnectionStream"]


@final
class ConnectionStream:
    """The stream of one connection, from its count to its end.

    Contract:
        * Between streams the ``sender``'s writer slot belongs to ``on_drained`` (the
          connection waits for its own lines to drain); while a stream runs, to its observer.
        * :meth:`start` at most once; ``on_event`` gets one :class:`StreamEnded` or
          :class:`ConnectionLostEvent` when the stream ends on its own, none after
          :meth:`stop` or :meth:`close`.

    Args:
        sock: The connection's socket.
        sender: The socket's one writer, shared with the connection.
        loop: The event loop.
        on_drained: The connection's writer callback (it holds the slot between streams).
        on_event: Where the stream's end goes, as a protocol event.
    """

    __slots__ = (
        "_kernel_aware",
        "_loop",
        "_on_drained",
        "_on_event",
        "_sender",
        "_sock",
        "observer",
        "subscription",
    )

    def __init__(
        self,
        sock: socket.socket,
        sender: Sender,
        loop: asyncio.AbstractEventLoop,
        *,
        on_drained: Callable[[], None],
        on_event: Callable[[Event], None],
    ) -> None:
        self._sock = sock
        self._sender = sender
        self._loop = loop
        self._on_drained = on_drained
        self._on_event = on_event
        self._kernel_aware = False
        #: The stream's writer, once started.
        self.observer: SocketObserver[int] | None = None
        #: The stream's subscription, once started.
        self.subscription: ControlledSubscription[int] | None = None
        sender.claim(on_drained)

    @property
    def held_bytes(self) -> int:
        """Encoded bytes the stream holds in user space (0 before it starts)."""
        return 0 if self.observer is None else self.observer.held_bytes

    @property
    def stats(self) -> WriterStats | None:
        """The stream's counters, once started."""
        return None if self.observer is None else self.observer.stats

    def configured(self, kernel_aware: bool) -> None:
        """The socket was configured once for the connection: whether it is kernel-aware."""
        self._kernel_aware = kernel_aware

    def start(self, source: Observable[int]) -> None:
        """Write ``source`` into the socket, asking for more as the kernel drains."""
        self._sender.release(self._on_drained)  # the stream's observer writes now
        observer: SocketObserver[int] = SocketObserver(
            self._sock,
            sender=self._sender,
            loop=self._loop,
            on_finished=self._finished,
            kernel_aware=self._kernel_aware,
        )
        self.observer = observer
        self.subscription = source.pipe(controlled()).subscribe(observer)

    def stop(self) -> None:
        """An early end: cancel, and of what is queued keep only the rest of the line begun."""
        self.close()
        self._sender.claim(self._on_drained)
        self._sender.finish_line()
        if self._kernel_aware:
            # What is left (the rest of a line, an error line) is bounded: the
            # kernel takes it now even from a reader who stopped reading.
            lift_notsent_lowat(self._sock)

    def close(self) -> None:
        """Cancel the stream, write nothing more of it. Idempotent."""
        if self.observer is not None:
            self.observer.close()

    def release(self) -> None:
        """The connection is closed: cancel, and let go of the connection's callbacks (kept,
        they would make a cycle that only the garbage collector breaks)."""
        self.close()
        self._on_drained = ignore
        self._on_event = ignore

    def _finished(self, error: BaseException | None) -> None:
        self._sender.claim(self._on_drained)
        if error is None:
            self._on_event(StreamEnded())
        elif isinstance(error, ConnectionLost):
            self._on_event(ConnectionLostEvent(error.reason))
        else:
            self._on_event(StreamEnded(f"{type(error).__name__}: {error}"))
