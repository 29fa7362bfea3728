"""The random-integer TCP server: the seed's Twisted server, rebuilt on rxrand.

Each connection: send the prompt, read one count line, then stream that many
integers through ``random_integers(count).pipe(controlled())`` into a
:class:`~rxrand.SocketObserver`, which asks for more only when the kernel has
drained. Bad input gets an ``error:`` line and the prompt again; bounds
(line length, idle time, count) close or refuse misbehaving clients without
disturbing anyone else.

Run it with ``python examples/tcp_server.py`` (or ``python -m rxrand.server``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, final

import reactivex.operators as ops
from reactivex import Observable

from ._controlled import ControlledSubscription, controlled
from ._errors import ConnectionLost, out_of_resources, translate_os_error
from ._eventloop import EVENT_LOOPS, LoopUnavailable, event_loop_factory, run_on
from ._socket import SocketObserver, configure_stream_socket, unsent_bytes
from ._source import random_integers
from ._supervisor import LOG_FORMAT, Supervisor, reuse_port_available, workers_from_text
from ._wire import (
    MAX_LINE_LENGTH,
    NEED_DATA,
    PROMPT,
    BadCount,
    EndOfInput,
    Line,
    LineDecoder,
    LineTooLong,
    error_line,
    parse_count,
)

__all__ = ["Connection", "RandomIntegerServer", "ServerConfig", "main"]

log = logging.getLogger("rxrand.server")

_RECV_SIZE: Final = 4096
_ACCEPTS_PER_WAKEUP: Final = 64
#: After the last byte, how long to wait for the client's EOF before closing.
_LINGER_SECONDS: Final = 5.0
#: Input read and thrown away while closing, before giving up on a polite close.
_LINGER_DISCARD_BYTES: Final = 1 << 20
#: Pause before accepting again when the process is out of file descriptors.
_ACCEPT_BACKOFF_SECONDS: Final = 0.1
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


class _Phase(enum.Enum):
    ASKING = "asking"  # prompt sent, waiting for a count
    STREAMING = "streaming"
    CLOSING = "closing"  # last bytes going out, then waiting (bounded) for the client's EOF
    CLOSED = "closed"


@final
class Connection:
    """One client: prompt, count, stream, close. Lives on the server's event loop."""

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
        self._config = server.config
        self._decoder = LineDecoder(self._config.max_line)
        self._phase = _Phase.ASKING
        self._out = bytearray()  # prompt and error lines the kernel has not taken yet
        self._reading = False
        self._writing = False
        self._closing_reason = ""
        self._discarded = 0
        self._opened = time.monotonic()
        self._last_activity = self._opened
        self._timer: asyncio.TimerHandle | None = None
        self._progress_mark = -1
        self.count: int | None = None
        self.observer: SocketObserver[int] | None = None
        self.subscription: ControlledSubscription[int] | None = None
        self.close_reason: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        configure_stream_socket(self._sock)
        log.info("open peer=%s", self.peer)
        self._send(PROMPT)
        self._resume_reading()
        self._arm_timer(self._config.idle_timeout)

    def close(self, reason: str) -> None:
        """Close now: cancel the stream, release the socket. Idempotent."""
        if self._phase is _Phase.CLOSED:
            return
        self._phase = _Phase.CLOSED
        self.close_reason = reason
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.observer is not None:
            self.observer.close()
        self._pause_reading()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)
        self._sock.close()
        self._server._forget(self)
        stats = self.observer.stats if self.observer is not None else None
        log.info(
            "close peer=%s count=%s sent=%d bytes=%d duration=%.3fs paused=%d reason=%s",
            self.peer,
            self.count,
            stats.items_written if stats else 0,
            stats.bytes_sent if stats else 0,
            time.monotonic() - self._opened,
            stats.kernel_full if stats else 0,
            reason,
        )

    def buffered(self) -> tuple[int, int | None]:
        """(bytes held in user space, unsent bytes in the kernel or ``None`` if unknown)."""
        held = len(self._out) + (self.observer.held_bytes if self.observer is not None else 0)
        if self._phase is _Phase.CLOSED:
            return held, None
        return held, unsent_bytes(self._sock)

    # -- input -----------------------------------------------------------------------

    def _resume_reading(self) -> None:
        if not self._reading and self._phase is not _Phase.CLOSED:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)

    def _pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(_RECV_SIZE)
        except OSError as error:
            lost = translate_os_error(error)
            if lost is not None:
                self.close(f"lost ({lost.reason})")
            return
        if self._phase is _Phase.CLOSING:
            self._discarded += len(data)
            if not data or self._discarded > _LINGER_DISCARD_BYTES:
                self.close(self._closing_reason)
            return
        if self._phase is _Phase.STREAMING:
            if not data:
                # Half-close after the count (nc -N): keep streaming.
                self._pause_reading()
            return  # anything sent after the count is ignored
        self._decoder.receive_data(data)
        self._process_lines()

    def _process_lines(self) -> None:
        # Input waits while replies are still queued: a client that sends bad
        # lines without reading cannot make the server buffer replies.
        while self._phase is _Phase.ASKING and not self._out:
            event = self._decoder.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, EndOfInput):
                self.close("client closed before a count")
                return
            if isinstance(event, LineTooLong):
                self._send(
                    error_line(
                        f"line longer than {event.limit} bytes without a line end; "
                        "expected a whole number and a line end; closing"
                    )
                )
                self._close_gracefully("line too long")
                return
            assert isinstance(event, Line)
            # The idle clock counts from the last complete line, not the last
            # byte: a client trickling a byte a second (slowloris) is idle too.
            self._last_activity = time.monotonic()
            try:
                count = parse_count(event.content, self._config.max_count)
            except BadCount as error:
                self._send(error_line(str(error)) + PROMPT)
                continue
            self._start_stream(count)
            return
        if self._out:
            self._pause_reading()

    # -- output of protocol lines ----------------------------------------------------

    def _send(self, data: bytes) -> None:
        self._out += data
        self._flush_out(resume=False)

    def _flush_out(self, *, resume: bool) -> None:
        if self._phase is _Phase.CLOSED:
            return
        try:
            sent = self._sock.send(self._out)
        except OSError as error:
            lost = translate_os_error(error)
            if lost is not None:
                self.close(f"lost ({lost.reason})")
                return
            sent = 0
        del self._out[:sent]
        if self._out:
            if not self._writing:
                self._writing = True
                self._loop.add_writer(self._fd, self._on_out_writable)
            return
        if self._phase is _Phase.CLOSING:
            self._shutdown_output()
        elif resume and self._phase is _Phase.ASKING:
            # Replies drained: take input again, starting with what is buffered.
            self._resume_reading()
            self._process_lines()

    def _on_out_writable(self) -> None:
        self._writing = False
        self._loop.remove_writer(self._fd)
        self._flush_out(resume=True)

    def _close_gracefully(self, reason: str) -> None:
        """Send what is queued, then FIN, then wait (bounded) for the client's EOF.

        Closing with unread input would make the kernel send a reset, which
        can destroy our last bytes (an error line, the end of the stream)
        before the client reads them. So input is read and thrown away until
        the client closes, for at most ``_LINGER_SECONDS`` and
        ``_LINGER_DISCARD_BYTES``.
        """
        if self._phase in (_Phase.CLOSING, _Phase.CLOSED):
            return
        self._phase = _Phase.CLOSING
        self._closing_reason = reason
        self._arm_timer(_LINGER_SECONDS)
        self._resume_reading()
        if not self._out:
            self._shutdown_output()

    def _shutdown_output(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close(self._closing_reason)

    # -- the stream -------------------------------------------------------------------

    def _start_stream(self, count: int) -> None:
        self.count = count
        self._phase = _Phase.STREAMING
        log.debug("peer=%s asked for %d integers", self.peer, count)
        observer: SocketObserver[int] = SocketObserver(
            self._sock, loop=self._loop, on_finished=self._stream_finished
        )
        self.observer = observer
        self.subscription = self._server.source(count).pipe(controlled()).subscribe(observer)

    def _stream_finished(self, error: BaseException | None) -> None:
        if self._phase is not _Phase.STREAMING:
            return
        if error is None:
            self._close_gracefully("completed")
        elif isinstance(error, ConnectionLost):
            self.close(f"lost ({error.reason})")
        else:
            self.close(f"stream error ({type(error).__name__}: {error})")

    # -- timeouts ------------------------------------------------------------------------

    def _arm_timer(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay, self._on_timer)

    def _progress(self) -> int:
        return self.observer.stats.bytes_sent if self.observer is not None else 0

    def _on_timer(self) -> None:
        self._timer = None
        if self._phase is _Phase.CLOSED:
            return
        if self._phase is _Phase.CLOSING:
            self.close(self._closing_reason)
            return
        timeout = self._config.idle_timeout
        now = time.monotonic()
        progress = self._progress()
        if self._phase is _Phase.STREAMING and progress != self._progress_mark:
            # A client that reads, however slowly, is not idle.
            self._progress_mark = progress
            self._arm_timer(timeout)
            return
        idle_for = now - self._last_activity
        if idle_for < timeout:
            self._arm_timer(timeout - idle_for)
            return
        if self._phase is _Phase.ASKING and not self._out:
            # Best effort: say why, then close regardless.
            with contextlib.suppress(OSError):
                self._sock.send(error_line(f"no complete line within {timeout:g} seconds; closing"))
        self.close("idle timeout")


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
        self._source = source
        self._listener: socket.socket | None = None
        self._accepting = False
        self.connections: set[Connection] = set()
        self.accepted = 0

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
        """Bind and listen; returns the address (the real port when port 0 was asked)."""
        infos = socket.getaddrinfo(
            self.config.host, self.config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
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
        self._resume_accepting()
        host, port = self.address
        log.info("listening on %s:%d", host, port)
        return host, port

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
                if out_of_resources(error):
                    # Out of descriptors: don't spin; clients wait in the backlog.
                    log.warning("accept failed (%s); pausing accepts briefly", error)
                    self._pause_accepting()
                    self.loop.call_later(_ACCEPT_BACKOFF_SECONDS, self._resume_accepting)
                else:
                    log.warning("accept failed: %s", error)
                return
            self.accepted += 1
            peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
            connection = Connection(self, sock, peer)
            self.connections.add(connection)
            try:
                connection.start()
            except Exception:
                log.exception("could not start connection from %s", peer)
                connection.close("setup failed")

    def _forget(self, connection: Connection) -> None:
        self.connections.discard(connection)

    def close(self) -> None:
        """Stop accepting, cancel every stream and close every connection."""
        self._pause_accepting()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for connection in list(self.connections):
            connection.close("server shutdown")


def _parse_args(argv: Sequence[str] | None, prog: str | None = None) -> tuple[ServerConfig, str]:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve random integers over TCP with backpressure: the client is asked "
            "how many it wants, and gets that many, one per line."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=1234, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--max-count",
        type=int,
        default=10**9,
        help="largest count a client may ask for (default: %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="close a client that sends nothing for this many seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed every stream (reproducible, for testing)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default: %(default)s)",
    )
    parser.add_argument(
        "--per-item",
        action="store_true",
        help="route each integer through an ops.map (the general path), for benchmarks",
    )
    parser.add_argument(
        "--workers",
        default="1",
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT, Linux); 'auto' = one per "
        "usable core (default: %(default)s)",
    )
    parser.add_argument(
        "--loop",
        default="asyncio",
        choices=EVENT_LOOPS,
        help="event loop; uvloop needs pip install 'rxrand[uvloop]' (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535, got {args.port}")
    if args.max_count < 0:
        parser.error(f"--max-count must be >= 0, got {args.max_count}")
    if not args.idle_timeout > 0:
        parser.error(f"--idle-timeout must be > 0, got {args.idle_timeout}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    try:
        workers = workers_from_text(args.workers)
        event_loop_factory(args.loop)
    except (ValueError, LoopUnavailable) as error:
        parser.error(str(error))
    if workers > 1 and not reuse_port_available():
        parser.error(
            "--workers above 1 needs SO_REUSEPORT load balancing, which only Linux has; "
            "here, run one server per port behind a load balancer"
        )
    config = ServerConfig(
        host=args.host,
        port=args.port,
        max_count=args.max_count,
        idle_timeout=args.idle_timeout,
        seed=args.seed,
        per_item=args.per_item,
        workers=workers,
        loop=args.loop,
    )
    return config, args.log_level


async def serve(
    config: ServerConfig,
    *,
    on_listening: Callable[[tuple[str, int]], None] | None = None,
) -> None:
    """Run the server until SIGINT or SIGTERM, then shut down cleanly.

    Args:
        config: what to serve, where.
        on_listening: called with the address once the server listens.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = RandomIntegerServer(config)
    address = server.start()
    if on_listening is not None:
        on_listening(address)
    try:
        await stop.wait()
    finally:
        log.info("shutting down: %d connection(s) open", len(server.connections))
        server.close()


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Entry point of ``examples/tcp_server.py`` and ``rxrand-server``; returns the exit status.

    ``prog`` names the program in usage and error lines (default: the script's name).
    """
    config, level = _parse_args(argv, prog)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        if config.workers == 1
        else LOG_FORMAT,
        stream=sys.stderr,
    )
    if config.workers > 1:
        return Supervisor(config, log_level=level).run()
    try:
        run_on(config.loop, serve(config))
    except OSError as error:
        log.error("cannot serve on %s:%d: %s", config.host, config.port, error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
