"""The client: asks the server for COUNT integers and consumes them with demand.

``python examples/tcp_client.py COUNT`` (or ``rxrand-client COUNT``). The
integers come through rxrand end to end: :func:`~rxrand.socket_lines` reads
the socket only against demand, :func:`~rxrand.controlled` carries the
demand, and this module's subscriber asks for more only as it writes what it
got (or, with ``--rate N``, only N per second). Between the two, TCP flow
control tells the server to stop, and the server then stops generating.

The checks are sans-I/O (:class:`IntegerStreamChecker`): exactly COUNT
well-formed integers in [0, 10000], then a clean close, or a one-line reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import socket
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, Final, final

from ..core.demand import refuse_none_error, refuse_none_subscription
from ..net.errors import ConnectionLost
from ..net.socket_source import LineTooLongError, socket_lines
from ..net.wire import PROMPT
from ..ops.controlled import ControlledSubscription, controlled

__all__ = ["ClientError", "IntegerStreamChecker", "fetch", "main"]

#: Integers requested ahead when no rate is set (replenished as they are written).
WINDOW: Final = 8192
#: How often the rate limiter grants demand.
TICK: Final = 0.05
HIGHEST: Final = 10_000
_PROMPT_LINE: Final = PROMPT.rstrip(b"\r\n")


class ClientError(Exception):
    """Why the stream was not exactly what was asked for; ``str()`` is the one-line reason."""


@final
class IntegerStreamChecker:
    """The client's side of the protocol, sans I/O: the prompt, then COUNT integers, then EOF."""

    __slots__ = ("count", "prompted", "received")

    def __init__(self, count: int) -> None:
        self.count = count
        self.prompted = False
        self.received = 0

    def prompt(self, line: bytes) -> None:
        """The first line: it must be the server's question."""
        if line != _PROMPT_LINE:
            raise ClientError(f"unexpected greeting from the server: {_show(line)}")
        self.prompted = True

    def values(self, lines: Sequence[bytes]) -> list[int]:
        """Integer lines, checked: digits only, in [0, 10000], no more than COUNT in all."""
        for index, line in enumerate(lines):
            if not line.isdigit() or len(line) > 5:
                number = self.received + index + 1
                if line.startswith(b"error:"):
                    raise ClientError(f"the server said: {_show(line)}")
                if number > self.count:
                    raise ClientError(f"more than the {self.count} integers asked for")
                raise ClientError(f"malformed line {number}: {_show(line)}")
        if self.received + len(lines) > self.count:
            raise ClientError(f"more than the {self.count} integers asked for")
        values = [int(line) for line in lines]
        if values and max(values) > HIGHEST:
            bad = next(value for value in values if value > HIGHEST)
            raise ClientError(f"integer {bad} out of range [0, {HIGHEST}]")
        self.received += len(values)
        return values

    def closed(self) -> None:
        """The server closed: fine only after exactly COUNT integers."""
        if not self.prompted:
            raise ClientError("the server closed the connection before asking")
        if self.received < self.count:
            raise ClientError(
                f"cut short: the connection closed after {self.received} of {self.count} integers"
            )


def _show(line: bytes) -> str:
    text = line[:200].decode("ascii", "backslashreplace")
    return text + ("..." if len(line) > 200 else "")


@final
class _Consumer:
    """A bulk subscriber: writes what arrives, then asks for more (or ticks at a rate)."""

    def __init__(
        self,
        sock: socket.socket,
        checker: IntegerStreamChecker,
        write: Callable[[list[int]], None],
        rate: float | None,
        done: asyncio.Future[int],
    ) -> None:
        self._sock = sock
        self._checker = checker
        self._write = write
        self._rate = rate
        self._done = done
        self._loop = asyncio.get_running_loop()
        self._subscription: ControlledSubscription[bytes] | None = None
        self._tokens = 0.0
        self._ticker: asyncio.TimerHandle | None = None

    # -- subscriber ------------------------------------------------------------------

    def on_subscribe(self, subscription: ControlledSubscription[bytes]) -> None:
        refuse_none_subscription(subscription)
        if self._subscription is not None or self._done.done():
            subscription.cancel()  # rule 2.5: one subscription at a time
            return
        self._subscription = subscription
        subscription.request(1)  # the prompt

    def on_next(self, line: bytes) -> None:
        self.on_next_batch([line])

    def on_next_batch(self, lines: Sequence[bytes]) -> None:
        if self._done.done():
            return
        try:
            if not self._checker.prompted:
                self._checker.prompt(lines[0])
                self._send_count()
                lines = lines[1:]
            if lines:
                self._write(self._checker.values(lines))
                if self._rate is None:
                    self._request(len(lines))
        except ClientError as error:
            self._fail(error)
        except OSError as error:  # writing the output
            self._fail(ClientError(f"cannot write the output: {error}"))

    def on_error(self, error: Exception) -> None:
        refuse_none_error(error)
        # Rule 2.4: the subscription is over; rule 2.3: no call on it from in here.
        self._subscription = None
        if isinstance(error, ConnectionLost):
            self._fail(ClientError(f"connection lost: {error}"))
        elif isinstance(error, LineTooLongError):
            number = self._checker.received + 1
            self._fail(ClientError(f"malformed line {number}: {error}"))
        else:
            self._fail(ClientError(f"{type(error).__name__}: {error}"))

    def on_completed(self) -> None:
        self._subscription = None  # rules 2.3/2.4, as in on_error
        try:
            self._checker.closed()
        except ClientError as error:
            self._fail(error)
            return
        self._stop_ticking()
        if not self._done.done():
            self._done.set_result(self._checker.received)

    # -- demand ------------------------------------------------------------------------

    def _send_count(self) -> None:
        try:
            self._sock.send(b"%d\n" % self._checker.count)
        except OSError as error:
            raise ClientError(f"cannot send the count: {error}") from None
        if self._rate is None:
            # COUNT + 1: one line more than asked for shows an over-long stream; EOF
            # is seen without it.
            self._request(min(WINDOW, self._checker.count + 1))
        else:
            self._tick()

    def _request(self, n: int) -> None:
        if self._subscription is not None and n > 0:
            self._subscription.request(n)

    def _tick(self) -> None:
        """Grant rate x TICK integers of demand, then again after TICK: a token bucket."""
        assert self._rate is not None
        self._tokens += self._rate * TICK
        whole = int(self._tokens)
        self._tokens -= whole
        self._request(whole)
        self._ticker = self._loop.call_later(TICK, self._tick)

    def _stop_ticking(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _fail(self, error: ClientError) -> None:
        self._stop_ticking()
        if self._subscription is not None:
            self._subscription.cancel()
        if not self._done.done():
            self._done.set_exception(error)


async def fetch(
    host: str,
    port: int,
    count: int,
    write: Callable[[list[int]], None],
    *,
    rate: float | None = None,
    connect_timeout: float = 10.0,
) -> int:
    """Ask the server for ``count`` integers and hand them to ``write`` as they arrive.

    Args:
        host: The server's address.
        port: Its port.
        count: How many integers to ask for.
        write: Called with each batch of integers, in order.
        rate: At most this many integers per second (demand, not sleeps);
            ``None``: as fast as ``write`` takes them.
        connect_timeout: Seconds to wait for the connection.

    Returns:
        ``count``, once exactly that many arrived and the server closed.

    Raises:
        ClientError: with a one-line reason (refused, cut short, malformed,
            an error line from the server, connection lost).
    """
    loop = asyncio.get_running_loop()
    try:
        sock = await asyncio.wait_for(
            loop.run_in_executor(None, socket.create_connection, (host, port)),
            connect_timeout,
        )
    except TimeoutError:
        raise ClientError(f"cannot connect to {host}:{port}: timed out") from None
    except OSError as error:
        reason = error.strerror.lower() if error.strerror else str(error)
        raise ClientError(f"cannot connect to {host}:{port}: {reason}") from None
    with sock:
        sock.setblocking(False)
        done: asyncio.Future[int] = loop.create_future()
        consumer = _Consumer(sock, IntegerStreamChecker(count), write, rate, done)
        subscription = socket_lines(sock).pipe(controlled()).subscribe(consumer)
        try:
            return await done
        finally:
            subscription.cancel()


def _progress_bar(count: int, enabled: bool, to_stdout: bool) -> Any:
    """A tqdm bar on stderr, or None: stderr not a terminal, the integers going to the same
    terminal (the bar would be torn by them), --quiet, or tqdm not installed."""
    if not enabled or not sys.stderr.isatty() or (to_stdout and sys.stdout.isatty()):
        return None
    try:
        tqdm = importlib.import_module("tqdm")
    except ImportError:
        return None
    return tqdm.tqdm(total=count, unit="int", unit_scale=True, file=sys.stderr, leave=False)


def _parse_args(argv: Sequence[str] | None, prog: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Ask an rxrand server for COUNT random integers and consume them with "
            "backpressure; exit 0 only if exactly COUNT well-formed integers arrived."
        ),
    )
    parser.add_argument("count", type=int, metavar="COUNT", help="how many integers to ask for")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=1234, help="server port (default: %(default)s)")
    parser.add_argument(
        "--rate", type=float, default=None, help="consume at most N integers per second"
    )
    parser.add_argument("--output", default=None, help="write the integers here (default: stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error(f"COUNT must be >= 0, got {args.count}")
    if not 0 < args.port <= 65535:
        parser.error(f"--port must be from 1 to 65535, got {args.port}")
    if args.rate is not None and not args.rate > 0:
        parser.error(f"--rate must be > 0, got {args.rate}")
    return args


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Entry point of ``examples/tcp_client.py`` and ``rxrand-client``; returns the exit status."""
    args = _parse_args(argv, prog)
    name = prog or (sys.argv[0].rsplit("/", 1)[-1] if sys.argv[0] else "rxrand-client")
    with contextlib.ExitStack() as stack:
        out: IO[bytes]
        if args.output is None:
            out = sys.stdout.buffer
        else:
            try:
                out = stack.enter_context(open(args.output, "wb"))
            except OSError as error:
                print(f"{name}: cannot open {args.output}: {error.strerror}", file=sys.stderr)
                return 1
        bar = _progress_bar(args.count, not args.quiet, args.output is None)
        if bar is not None:
            stack.callback(bar.close)

        def write(values: list[int]) -> None:
            out.write(b"".join(b"%d\n" % value for value in values))
            if bar is not None:
                bar.update(len(values))

        try:
            asyncio.run(fetch(args.host, args.port, args.count, write, rate=args.rate))
        except ClientError as error:
            if bar is not None:
                bar.close()
            print(f"{name}: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            print(f"{name}: interrupted", file=sys.stderr)
            return 130
        with contextlib.suppress(BrokenPipeError):
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
