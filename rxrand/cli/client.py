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
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, Final, final

import numpy as np

from ..core.demand import refuse_none_error, refuse_none_subscription
from ..net.errors import ConnectionLost
from ..net.socket_source import LineBlock, LineTooLongError, UnterminatedLineError, socket_lines
from ..net.wire import PROMPT
from ..ops.controlled import ControlledSubscription, controlled

__all__ = ["ClientError", "IntegerStreamChecker", "OutputClosed", "fetch", "main"]

#: Integers requested ahead when no rate is set (replenished as they are written):
#: a few bulk ``recv`` s' worth, so that the socket is read without pause.
WINDOW: Final = 1 << 17
#: Seconds without a byte, while the server owes integers, before the client gives up.
DEFAULT_TIMEOUT: Final = 30.0
#: How often the rate limiter grants demand.
TICK: Final = 0.05
HIGHEST: Final = 10_000
_MAX_DIGITS: Final = 5
#: Blocks shorter than this are checked line by line.
_SMALL: Final = 16
_LF: Final = 0x0A
_ZERO: Final = 0x30
#: ``b"\r\n"`` read as one 16-bit word in this machine's byte order.
_CRLF: Final = int(np.frombuffer(b"\r\n", np.uint16)[0])
#: The block's one ``translate``: digits and ``\n`` stay, ``\r`` goes (deleted), any other
#: byte becomes :data:`_FOREIGN`.
_FOREIGN: Final = b"\xff"
_TO_OUTPUT: Final = bytes(
    byte if byte == _LF or 0x30 <= byte <= 0x39 else _FOREIGN[0] for byte in range(256)
)
_HIGHEST_LINE: Final = b"%d\n" % HIGHEST
_PROMPT_LINE: Final = PROMPT.rstrip(b"\r\n")


class ClientError(Exception):
    """Why the stream was not exactly what was asked for; ``str()`` is the one-line reason."""


@final
class IntegerStreamChecker:
    """The client's side of the protocol, sans I/O: the prompt, then COUNT integers, then EOF."""

    __slots__ = ("_scratch", "count", "prompted", "received")

    def __init__(self, count: int) -> None:
        self.count = count
        self.prompted = False
        self.received = 0
        self._scratch = np.empty(0, np.bool_)

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

    def block(self, data: bytes, count: int, parse: bool = False) -> tuple[bytes, list[int]]:
        """``count`` whole lines at once (the bulk path), checked as :meth:`values` checks them.

        Returns the integers as ``b"%d\\n"`` lines, and (with ``parse``) as
        ints. One ``bytes.translate`` makes the output (``\\r`` dropped, any byte
        but a digit or ``\\n`` marked), then a few numpy passes over byte masks
        of it (a block fits the CPU's cache): no Python call per line and no
        line positions. Anything unusual (a bad line, leading zeros, too many
        lines, mixed line ends) goes through :meth:`values`, line by line, for
        the exact reason and the canonical output.

        Raises:
            ClientError: as :meth:`values` does.
        """
        size = len(data)
        if (
            not count
            or self.received + count > self.count
            or size < _SMALL  # the masks' shifted views need a few bytes
            or data[-1:] != b"\n"
        ):
            return self._slowly(data, parse)
        # The output at once: the one pass that every block needs anyway.
        out = data.translate(_TO_OUTPUT, b"\r")
        if _FOREIGN in out:
            return self._slowly(data, parse)
        carriages = size - len(out)
        if carriages:
            # All "\r\n" (mixed line ends go the slow way): as many "\r" as lines, and as
            # many b"\r\n" pairs, counted as 16-bit words at even and at odd offsets.
            if carriages != count:
                return self._slowly(data, parse)
            raw = np.frombuffer(data, np.uint8)
            even = raw[: size & ~1].view(np.uint16)
            odd = raw[1 : 1 + ((size - 1) & ~1)].view(np.uint16)
            pairs = self._bools(size)[: len(even)]
            pairs_found = int(np.count_nonzero(np.equal(even, _CRLF, out=pairs)))
            pairs = pairs[: len(odd)]
            if pairs_found + int(np.count_nonzero(np.equal(odd, _CRLF, out=pairs))) != count:
                return self._slowly(data, parse)
        # From here on, only digits and "\n" in `out`, which ends with "\n".
        size = len(out)
        raw = np.frombuffer(out, np.uint8)
        # Four masks, each at a multiple of 64 bytes: the 64-bit view of one below is
        # aligned (unaligned, numpy takes a path twice as slow).
        step = (size + 63) & ~63
        scratch = self._bools(4 * step)
        lf, pair, spare, window = (scratch[k * step : k * step + size] for k in range(4))
        np.equal(raw, _LF, out=lf)
        if out[0] == _LF or int(np.count_nonzero(lf)) != count:
            return self._slowly(data, parse)
        # No empty line: "\n" pairs, counted from the Trues of lf[:-1] | lf[1:].
        pair = np.logical_or(lf[:-1], lf[1:], out=pair[: size - 1])
        if int(np.count_nonzero(pair)) != 2 * count - 1:
            return self._slowly(data, parse)
        # window[p]: a "\n" in out[p : p + 5]; where not, 5 digits start (10000, or a fault).
        triple = np.logical_or(pair[:-1], lf[2:], out=spare[: size - 2])
        window = np.logical_or(triple[:-2], triple[2:], out=window[: size - 4])
        # zero[p - 1]: a line that starts at p with a "0" and a digit after it (not canonical).
        zero = np.equal(raw[1:-1], _ZERO, out=spare[: size - 2])
        np.logical_and(zero, lf[:-2], out=zero)
        np.greater(zero, lf[2:], out=zero)  # and not "\n" after it
        if (out[0] == _ZERO and out[1] != _LF) or True in zero[size - 5 :].tolist():
            return self._slowly(data, parse)
        # Both are rare (10000 is one line in 10,001): one scan finds them, each checked by hand.
        fine = np.greater(window[1:], zero[: size - 5], out=pair[: size - 5])
        starts = [index + 1 for index in _rare(fine)]
        if not window[0]:
            starts.append(0)
        for start in starts:
            if out[start : start + _MAX_DIGITS + 1] != _HIGHEST_LINE:
                return self._slowly(data, parse)
        self.received += count
        values: list[int] = []
        if parse:
            values = [int(line) for line in out.split()]
        return out, values

    def _bools(self, size: int) -> Any:
        """At least ``size`` reused bools: fresh 256 KiB temporaries per block made the
        allocator map and unmap memory, costing more system time than the checks."""
        if len(self._scratch) < size:
            self._scratch = np.empty(max(size, 1 << 20), np.bool_)
        return self._scratch

    def _slowly(self, data: bytes, parse: bool) -> tuple[bytes, list[int]]:
        lines = [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")[:-1]]
        values = self.values(lines)
        return b"".join([b"%d\n" % value for value in values]), values if parse else []

    def closed(self) -> None:
        """The server closed: fine only after exactly COUNT integers."""
        if not self.prompted:
            raise ClientError("the server closed the connection before asking")
        if self.received < self.count:
            raise ClientError(
                f"cut short: the connection closed after {self.received} of {self.count} integers"
            )


_ALL_SET: Final = 0x0101010101010101


def _rare(mask: Any) -> list[int]:
    """Where a bool array is False, when that is rare: the words of 8 first.

    ``np.flatnonzero`` over every byte costs as much as the whole check; over the
    array seen as 64-bit words it costs an eighth, and the few words that differ
    are looked into one by one.
    """
    whole = len(mask) // 8 * 8
    positions = [whole + index for index, value in enumerate(mask[whole:].tolist()) if not value]
    for word in (mask[:whole].view(np.uint64) != _ALL_SET).nonzero()[0].tolist():
        start = 8 * word
        bits = mask[start : start + 8].tolist()
        positions += [start + bit for bit, value in enumerate(bits) if not value]
    return positions


def _show(line: bytes) -> str:
    text = line[:200].decode("ascii", "backslashreplace")
    return text + ("..." if len(line) > 200 else "")


class OutputClosed(ClientError):
    """The output's reader went away (``| head -3``): the client ends quietly."""


#: A sink for the bulk path: a block of ``b"%d\n"`` lines, and how many.
LinesSink = Callable[[bytes, int], None]


@final
class _Consumer:
    """A bulk subscriber: writes what arrives, then asks for more (or ticks at a rate)."""

    def __init__(
        self,
        sock: socket.socket,
        checker: IntegerStreamChecker,
        write: Callable[[list[int]], None] | None,
        write_lines: LinesSink | None,
        rate: float | None,
        timeout: float | None,
        done: asyncio.Future[int],
    ) -> None:
        self._sock = sock
        self._checker = checker
        self._write = write
        self._write_lines = write_lines
        self._rate = rate
        self._timeout = timeout
        self._done = done
        self._loop = asyncio.get_running_loop()
        self._subscription: ControlledSubscription[bytes] | None = None
        self._tokens = 0.0
        self._ticker: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        # Lines asked for and lines received (the prompt included): the gap is the
        # demand the server owes; only while it owes any does silence count.
        self._asked = 0
        self._got = 0
        self._heard = self._loop.time()

    # -- subscriber ------------------------------------------------------------------

    def on_subscribe(self, subscription: ControlledSubscription[bytes]) -> None:
        refuse_none_subscription(subscription)
        if self._subscription is not None or self._done.done():
            subscription.cancel()  # rule 2.5: one subscription at a time
            return
        self._subscription = subscription
        self._request(1)  # the prompt
        if self._timeout is not None:
            self._watchdog = self._loop.call_later(self._timeout / 4, self._watch)

    def on_next(self, line: bytes) -> None:
        self.on_next_batch([line])

    def on_next_batch(self, lines: Sequence[bytes]) -> None:
        if self._done.done():
            return
        self._got += len(lines)
        self._heard = self._loop.time()
        try:
            if not self._checker.prompted:
                self._checker.prompt(lines[0])
                self._send_count()
                lines = lines[1:]
            count = len(lines)
            if not count:
                return
            if isinstance(lines, LineBlock):
                # The bulk path: checked and passed on without a Python call per line.
                block, values = self._checker.block(lines.data, count, self._write is not None)
            else:
                values = self._checker.values(lines)
                block = b"".join([b"%d\n" % value for value in values])
            if self._write_lines is not None:
                self._write_lines(block, count)
            if self._write is not None:
                self._write(values)
            if self._rate is None:
                self._request(count)
        except ClientError as error:
            self._fail(error)
        except BrokenPipeError:
            self._fail(OutputClosed("the output was closed"))
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
        elif isinstance(error, UnterminatedLineError):
            number = self._checker.received + 1
            self._fail(
                ClientError(
                    f"cut short: the connection closed inside line {number} "
                    f"({_show(error.tail)} without its line end)"
                )
            )
        else:
            self._fail(ClientError(f"{type(error).__name__}: {error}"))

    def on_completed(self) -> None:
        self._subscription = None  # rules 2.3/2.4, as in on_error
        try:
            self._checker.closed()
        except ClientError as error:
            self._fail(error)
            return
        self._stop_timers()
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
            if self._asked == self._got:
                self._heard = self._loop.time()  # the server owed nothing until now
            self._asked += n
            self._subscription.request(n)

    def _tick(self) -> None:
        """Grant rate x TICK integers of demand, then again after TICK: a token bucket."""
        assert self._rate is not None
        self._tokens += self._rate * TICK
        whole = int(self._tokens)
        self._tokens -= whole
        self._request(whole)
        self._ticker = self._loop.call_later(TICK, self._tick)

    def _watch(self) -> None:
        """--timeout: fail once the server owed lines and sent none for that long."""
        assert self._timeout is not None
        if self._done.done():
            return
        silent = self._loop.time() - self._heard
        if self._asked > self._got and silent >= self._timeout:
            self._fail(ClientError(f"timed out: nothing from the server for {self._timeout:g} s"))
            return
        self._watchdog = self._loop.call_later(self._timeout / 4, self._watch)

    def _stop_timers(self) -> None:
        for timer in (self._ticker, self._watchdog):
            if timer is not None:
                timer.cancel()
        self._ticker = self._watchdog = None

    def _fail(self, error: ClientError) -> None:
        self._stop_timers()
        if self._subscription is not None:
            self._subscription.cancel()
        if not self._done.done():
            self._done.set_exception(error)


async def fetch(
    host: str,
    port: int,
    count: int,
    write: Callable[[list[int]], None] | None = None,
    *,
    write_lines: LinesSink | None = None,
    rate: float | None = None,
    connect_timeout: float = 10.0,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> int:
    """Ask the server for ``count`` integers and hand them to ``write`` as they arrive.

    The lines come on the bulk path (:class:`~rxrand.LineBlock` batches, checked
    with numpy); demand is still counted in integers.

    Args:
        host: The server's address.
        port: Its port.
        count: How many integers to ask for.
        write: Called with each batch of integers, in order.
        write_lines: Called with each batch as ``b"%d\\n"`` lines and their
            number, in order (the fast sink: no int per line is made).
        rate: At most this many integers per second (demand, not sleeps);
            ``None``: as fast as the sinks take them.
        connect_timeout: Seconds to wait for the connection.
        timeout: Fail when the server owes lines and sends none for this many
            seconds; ``None``: wait for ever.

    Returns:
        ``count``, once exactly that many arrived and the server closed.

    Raises:
        ClientError: with a one-line reason (refused, cut short, malformed,
            an error line from the server, connection lost, timed out);
            :class:`OutputClosed` when a sink raised ``BrokenPipeError``.
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
        checker = IntegerStreamChecker(count)
        consumer = _Consumer(sock, checker, write, write_lines, rate, timeout, done)
        lines = socket_lines(sock, unterminated=False)  # the truncation rule
        subscription = lines.pipe(controlled()).subscribe(consumer)
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
            "backpressure; exit 0 only if exactly COUNT well-formed integers arrived, "
            "each with its line end, followed by the server's close."
        ),
        epilog=(
            "Exit status: 0 on success, 1 with a one-line reason on stderr, 2 for bad "
            "arguments, 130 on Ctrl+C, 141 (quietly, like cat or seq) when the reader of "
            "stdout goes away, as in '| head -3'. The progress bar needs the client extra: "
            "pip install 'rxrand[client]' (it brings tqdm)."
        ),
    )
    parser.add_argument("count", type=int, metavar="COUNT", help="how many integers to ask for")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=1234, help="server port (default: %(default)s)")
    parser.add_argument(
        "--rate", type=float, default=None, help="consume at most N integers per second"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=(
            "give up (exit 1) when the server owes integers and sends nothing for this "
            "long; 0: wait for ever (default: %(default)g)"
        ),
    )
    parser.add_argument("--output", default=None, help="write the integers here (default: stdout)")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (shown on a terminal with the client extra: pip install "
        "'rxrand[client]')",
    )
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error(f"COUNT must be >= 0, got {args.count}")
    if not 0 < args.port <= 65535:
        parser.error(f"--port must be from 1 to 65535, got {args.port}")
    if args.rate is not None and not args.rate > 0:
        parser.error(f"--rate must be > 0, got {args.rate}")
    if not args.timeout >= 0:
        parser.error(f"--timeout must be >= 0, got {args.timeout}")
    return args


#: Exit status when stdout's reader goes away: 128 + SIGPIPE, what cat and seq give.
EXIT_PIPE: Final = 141


def _silence_stdout() -> None:
    """After a broken pipe: nothing more reaches the closed pipe (nor a message at exit)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


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
                # The default buffer: blocks of lines larger than it go straight to
                # write(2), not copied into it first.
                out = stack.enter_context(open(args.output, "wb"))
            except OSError as error:
                print(f"{name}: cannot open {args.output}: {error.strerror}", file=sys.stderr)
                return 1
        bar = _progress_bar(args.count, not args.quiet, args.output is None)
        if bar is not None:
            stack.callback(bar.close)

        def write_lines(block: bytes, count: int) -> None:
            out.write(block)
            if bar is not None:
                bar.update(count)

        timeout = args.timeout or None
        try:
            asyncio.run(
                fetch(
                    args.host,
                    args.port,
                    args.count,
                    write_lines=write_lines,
                    rate=args.rate,
                    timeout=timeout,
                )
            )
            out.flush()
        except (OutputClosed, BrokenPipeError):
            if bar is not None:
                bar.close()
            if args.output is None:
                _silence_stdout()
            return EXIT_PIPE
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
