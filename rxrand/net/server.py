"""The random-integer TCP server: the seed's Twisted server, rebuilt on rxrand.

Each connection: send the prompt, read one count line, then stream that many
integers through ``random_integers(count).pipe(controlled())`` into a
:class:`~rxrand.SocketObserver`, which asks for more only when the kernel has
drained. Bad input gets an ``error:`` line and the prompt again; bounds
(line length, idle time, count) close or refuse misbehaving clients without
disturbing anyone else.

Run it with ``python examples/tcp_server.py`` (or ``python -m rxrand``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, final

import reactivex.operators as ops
from reactivex import Observable

from ..ops.controlled import ControlledSubscription
from ..sources.integers import random_integers
from .connection_stream import ConnectionStream
from .errors import ConnectionLost, connection_lost, out_of_resources, translate_os_error
from .hangup import HangupWatcher
from .interest import LoopInterest
from .kernel import acked_bytes, make_kernel_aware, unsent_bytes
from .protocol import (
    Abort,
    Action,
    CloseNow,
    ConnectionLostEvent,
    Data,
    Drained,
    Event,
    Phase,
    ProtocolLimits,
    Send,
    ServerProtocol,
    ShutdownRequested,
    ShutdownWrite,
    StartStream,
    StopStream,
    Tick,
)
from .sender import Sender
from .socket_observer import SocketObserver
from .wire import MAX_LINE_LENGTH

__all__ = [
    "MAX_IDLE_TIMEOUT",
    "MIN_IDLE_TIMEOUT",
    "Connection",
    "RandomIntegerServer",
    "ServerConfig",
]

log = logging.getLogger("rxrand.server")

_RECV_SIZE: Final = 4096
_ACCEPTS_PER_WAKEUP: Final = 64
#: Pause before accepting again when the process is out of file descriptors.
_ACCEPT_BACKOFF_SECONDS: Final = 0.1
#: At most one "accept failed" log line per this many seconds (with a count of the rest).
_ACCEPT_LOG_INTERVAL: Final = 1.0
#: Without a hang-up watcher, a streaming connection reads one chunk per this many seconds.
_FALLBACK_READ_PAUSE: Final = 0.1
#: On shutdown, how long connections get to send their last line and error line.
_SHUTDOWN_GRACE: Final = 0.5
#: SO_LINGER on, 0 seconds: close() sends a reset.
_LINGER_ABORT: Final = struct.pack("ii", 1, 0)
#: The bounds of ``ServerConfig.idle_timeout`` (seconds), checked by the command line.
MIN_IDLE_TIMEOUT: Final = 0.1
MAX_IDLE_TIMEOUT: Final = 86_400.0
_LOW: Final = 0
_HIGH: Final = 10_000


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What ``python examples/tcp_server.py`` is told on its command line."""

    host: str = "127.0.0.1"
    port: int = 1234
    max_count: int = 10**9
    idle_timeout: float = 60.0
    seed: int | None = None
    max_line: int = MAX_LINE_LENGTH
    backlog: int = 1024
    #: Route every integer through an ``ops.map`` (the per-item path), for benchmarks.
    per_item: bool = False
    #: Server processes sharing the port (``--workers``); more than 1 runs a supervisor.
    workers: int = 1
    #: The event loop: ``"asyncio"`` or ``"uvloop"`` (``--loop``).
    loop: str = "asyncio"
    #: Listen with SO_REUSEPORT, so that several processes share the port (set for workers).
    reuse_port: bool = False


def _identity(value: int) -> int:
    return value


@final
class Connection:
    """One client, driven: the :class:`~rxrand.net.protocol.ServerProtocol` decides, this does I/O.

    It reads when the protocol says so, feeds it bytes, time and the
    client's acknowledged bytes, and carries out its actions through one
    :class:`~rxrand.net.sender.Sender` (the only writer of the socket). While
    streaming it does not read at all: a reset is seen by the server's
    :class:`~rxrand.net.hangup.HangupWatcher`, or, where there is none, by
    reads on a budget of one ``recv`` per ``_FALLBACK_READ_PAUSE``.

    Its two helpers have one job each: a
    :class:`~rxrand.net.interest.LoopInterest` keeps the loop's registrations
    (reader, hang-up watch, timer) as the protocol wants them, and a
    :class:`~rxrand.net.connection_stream.ConnectionStream` runs the stream the
    protocol starts and stops. The connection itself only drives: events in,
    actions out, one step at a time.
    """

    def __init__(
        self,
        server: RandomIntegerServer,
        sock: socket.socket,
        peer: str,
    ) -> None:
        self._server = server
        self._loop = server.loop
        self._sock = sock
        self._fd = sock.fileno()
        self.peer = peer
        self._protocol = ServerProtocol(server.limits, self._loop.time())
        self._sender = Sender(sock, self._loop, on_lost=self._on_lost)
        self._stream = ConnectionStream(
            sock, self._sender, self._loop, on_drained=self._on_drained, on_event=self._feed
        )
        self._interest = LoopInterest(
            self._loop,
            self._fd,
            server.watcher,
            on_readable=self._on_readable,
            on_hangup=self._on_hangup,
            on_timer=self._on_timer,
        )
        self._events: deque[Event] = deque()
        self._stepping = False
        self._closed = False
        self._input_eof = False
        self._read_pause: asyncio.TimerHandle | None = None
        self._opened = time.monotonic()

    @property
    def count(self) -> int | None:
        return self._protocol.count

    @property
    def close_reason(self) -> str | None:
        return self._protocol.close_reason if self._closed else None

    @property
    def phase(self) -> Phase:
        return Phase.CLOSED if self._closed else self._protocol.phase

    @property
    def observer(self) -> SocketObserver[int] | None:
        """The stream's writer, once the client asked for a count."""
        return self._stream.observer

    @property
    def subscription(self) -> ControlledSubscription[int] | None:
        """The stream's subscription, once the client asked for a count."""
        return self._stream.subscription

    @property
    def bytes_sent(self) -> int:
        """Every byte the kernel accepted: prompt, error lines and stream."""
        return self._sender.bytes_sent

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._stream.configured(make_kernel_aware(self._sock))
        log.info("open peer=%s", self.peer)
        self._step(self._protocol.start())

    def close(self, reason: str) -> None:
        """Close now and forget the connection (a reset if a stream is cut). Idempotent."""
        if not self._closed:
            self._feed(CloseNow(reason))

    def shutdown(self) -> None:
        """The server is going down: end politely (bounded), as the protocol says."""
        self._feed(ShutdownRequested())

    def buffered(self) -> tuple[int, int | None]:
        """(bytes held in user space, unsent bytes in the kernel or ``None`` if unknown)."""
        held = max(self._sender.pending, self._stream.held_bytes)
        if self._closed:
            return held, None
        return held, unsent_bytes(self._sock)

    # -- the driver loop -----------------------------------------------------------

    def _feed(self, event: Event) -> None:
        self._events.append(event)
        if self._stepping:
            return  # the loop below picks it up: actions never nest
        self._step([])

    def _step(self, actions: list[Action]) -> None:
        self._stepping = True
        try:
            while True:
                for action in actions:
                    if self._closed:
                        break
                    self._do(action)
                if self._closed:
                    self._events.clear()
                    return
                if not self._events:
                    protocol = self._protocol
                    if protocol.awaiting_drain and not self._sender.pending:
                        self._events.append(Drained())
                    else:
                        break
                actions = self._protocol.handle(self._events.popleft(), self._loop.time())
            self._sync()
        finally:
            self._stepping = False

    def _do(self, action: Action) -> None:
        if isinstance(action, Send):
            self._sender.write(action.data)
        elif isinstance(action, StartStream):
            log.debug("peer=%s asked for %d integers", self.peer, action.count)
            self._stream.start(self._server.source(action.count))
        elif isinstance(action, StopStream):
            self._stream.stop()
        elif isinstance(action, ShutdownWrite):
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError as error:
                lost = connection_lost(error, "shutdown failed")
                self._events.append(ConnectionLostEvent(lost.reason))
        elif isinstance(action, Abort):
            self._release(action.reason, abort=True)
        else:
            self._release(action.reason, abort=False)

    def _sync(self) -> None:
        """Make reads, the hang-up watch and the timer match what the protocol wants."""
        protocol = self._protocol
        quiet = protocol.phase is Phase.STREAMING or protocol.phase is Phase.ENDING
        interest = self._interest
        read = protocol.reading
        if not read and quiet and not interest.can_watch:
            # No hang-up watcher: read on a budget, so a flood costs little.
            read = not self._input_eof and self._read_pause is None
        interest.set(read=read, watch=quiet, deadline=protocol.deadline)

    # -- I/O callbacks ---------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(_RECV_SIZE)
        except OSError as error:
            lost = translate_os_error(error)
            if lost is not None:
                self._feed(ConnectionLostEvent(lost.reason))
            return
        if not self._protocol.reading:
            # A budget read while streaming: input is thrown away, slowly.
            if not data:
                self._input_eof = True  # half-closed (nc -N): the stream goes on
            else:
                self._read_pause = self._loop.call_later(
                    _FALLBACK_READ_PAUSE, self._resume_budget_reads
                )
        self._feed(Data(data))

    def _resume_budget_reads(self) -> None:
        self._read_pause = None
        if not self._closed and not self._stepping:
            self._sync()

    def _on_drained(self) -> None:
        if self._protocol.awaiting_drain:
            self._feed(Drained())

    def _on_lost(self, lost: ConnectionLost) -> None:
        self._feed(ConnectionLostEvent(lost.reason))

    def _on_hangup(self) -> None:
        error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if not self._closed else 0
        reason = os.strerror(error) if error else "hang-up"
        self._feed(ConnectionLostEvent(reason))

    def _on_timer(self) -> None:
        acked = 0
        if self._protocol.phase is Phase.STREAMING:
            acked = acked_bytes(self._sock, self._sender.bytes_sent)
        self._feed(Tick(acked))

    # -- the end -------------------------------------------------------------------------

    def _release(self, reason: str, *, abort: bool) -> None:
        self._closed = True
        self._interest.release()
        if self._read_pause is not None:
            self._read_pause.cancel()
            self._read_pause = None
        self._stream.release()
        self._sender.close()
        if abort:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        self._sock.close()
        self._server.forget(self)
        if not log.isEnabledFor(logging.INFO):
            return  # the counters cost a dozen calls per connection: only for a log line
        stats = self._stream.stats
        log.info(
            "close peer=%s count=%s sent=%d bytes=%d duration=%.3fs paused=%d reason=%s",
            self.peer,
            self._protocol.count,
            stats.items_written if stats else 0,
            self._sender.bytes_sent,
            time.monotonic() - self._opened,
            stats.kernel_full if stats else 0,
            reason,
        )


@final
class _LogLimiter:
    """At most one log line per ``interval`` seconds; counts what it held back."""

    __slots__ = ("_interval", "_next", "suppressed")

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = -math.inf
        self.suppressed = 0

    def allow(self, now: float) -> int | None:
        """``None``: stay quiet; else log now, mentioning the count held back since."""
        if now < self._next:
            self.suppressed += 1
            return None
        held_back, self.suppressed = self.suppressed, 0
        self._next = now + self._interval
        return held_back


def format_address(address: object) -> str:
    """``host:port``, with IPv6 hosts in brackets (``[::1]:1234``)."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        if ":" in str(host):
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    return str(address)


@final
class RandomIntegerServer:
    """The server: accepts on one listening socket, one :class:`Connection` per client."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        source: Callable[[int], Observable[int]] | None = None,
    ) -> None:
        self.config = config
        self.loop = asyncio.get_running_loop()
        self.limits = ProtocolLimits(
            idle_timeout=config.idle_timeout, max_count=config.max_count, max_line=config.max_line
        )
        self._source = source
        self._listener: socket.socket | None = None
        self._accepting = False
        self._accept_log = _LogLimiter(_ACCEPT_LOG_INTERVAL)
        #: Sees resets of streaming connections, which do not read (None: read on a budget).
        self.watcher: HangupWatcher | None = None
        self.connections: set[Connection] = set()
        self.accepted = 0
        self._all_closed: asyncio.Event | None = None

    def source(self, count: int) -> Observable[int]:
        """The stream one client gets: ``random_integers(count)`` unless overridden."""
        if self._source is not None:
            return self._source(count)
        stream = random_integers(count, low=_LOW, high=_HIGH, seed=self.config.seed)
        if self.config.per_item:
            return stream.pipe(ops.map(_identity))
        return stream

    @property
    def address(self) -> tuple[str, int]:
        if self._listener is None:
            raise RuntimeError("the server is not listening")
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> tuple[str, int]:
        """Bind and listen; returns the address (the real port when port 0 was asked).

        ``host=""`` binds every interface: IPv6 and IPv4 on one dual-stack
        socket where the system has one, else IPv4's 0.0.0.0.
        """
        if self.config.host == "":
            dual = socket.has_dualstack_ipv6()
            listener = socket.create_server(
                ("::" if dual else "0.0.0.0", self.config.port),
                family=socket.AF_INET6 if dual else socket.AF_INET,
                backlog=self.config.backlog,
                reuse_port=self.config.reuse_port,
                dualstack_ipv6=dual,
            )
            listener.setblocking(False)
        else:
            infos = socket.getaddrinfo(
                self.config.host,
                self.config.port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE,
            )
            family, kind, proto, _, address = infos[0]
            listener = socket.socket(family, kind, proto)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if self.config.reuse_port:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                listener.bind(address)
                listener.listen(self.config.backlog)
                listener.setblocking(False)
            except BaseException:
                listener.close()
                raise
        self._listener = listener
        if self.watcher is None:
            self.watcher = HangupWatcher.create(self.loop)
        self._resume_accepting()
        log.info("listening on %s", format_address(listener.getsockname()))
        return self.address

    def _resume_accepting(self) -> None:
        if self._listener is not None and not self._accepting:
            self._accepting = True
            self.loop.add_reader(self._listener.fileno(), self._on_acceptable)

    def _pause_accepting(self) -> None:
        if self._listener is not None and self._accepting:
            self._accepting = False
            self.loop.remove_reader(self._listener.fileno())

    def _on_acceptable(self) -> None:
        listener = self._listener
        assert listener is not None
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._accept_failed(error)
                return
            self.accepted += 1
            peer = format_address(address)
            connection = Connection(self, sock, peer)
            self.connections.add(connection)
            try:
                connection.start()
            except Exception:
                log.exception("could not start connection from %s", peer)
                connection.close("setup failed")

    def _accept_failed(self, error: OSError) -> None:
        exhausted = out_of_resources(error)
        if exhausted:
            # Out of descriptors: don't spin; clients wait in the backlog.
            self._pause_accepting()
            self.loop.call_later(_ACCEPT_BACKOFF_SECONDS, self._resume_accepting)
        held_back = self._accept_log.allow(self.loop.time())
        if held_back is None:
            return
        more = f"; {held_back} more since the last report" if held_back else ""
        if exhausted:
            log.warning("accept failed (%s)%s; pausing accepts briefly", error, more)
        else:
            log.warning("accept failed: %s%s", error, more)

    def forget(self, connection: Connection) -> None:
        """``connection`` has closed: it is no longer counted (the shutdown waits for none)."""
        self.connections.discard(connection)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()

    def _stop_listening(self) -> None:
        self._pause_accepting()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def shutdown(self, grace: float = _SHUTDOWN_GRACE) -> None:
        """Stop accepting; let every connection end politely for up to ``grace`` seconds.

        Streams are cut short by the truncation rule (the line begun is
        finished, then an ``error:`` line); whatever is still not done after
        ``grace`` is closed (a reset where a line would be cut), as by
        :meth:`close`.
        """
        self._stop_listening()
        self._all_closed = asyncio.Event()
        for connection in list(self.connections):
            connection.shutdown()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), grace)
        self.close()

    def close(self) -> None:
        """Stop accepting, cancel every stream and close every connection now."""
        self._stop_listening()
        for connection in list(self.connections):
            connection.close("server shutdown")
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
