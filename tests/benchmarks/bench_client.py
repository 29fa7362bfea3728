"""The measuring client for bench_server.py: protocol sessions that count lines at C speed.

Every byte after the greeting is received into one reusable 1 MiB ``bytearray`` with
``recv_into`` and checked by four vectorized numpy counts over a zero-copy view (about
0.5 ms per MiB, no per-line Python work; ``bytes.count`` alone is slower): the number
of ``\\n`` must equal the requested count exactly, every ``\\n`` must have its ``\\r``,
no byte may be outside ``0-9\\r\\n``, the stream must end with ``\\r\\n`` and then EOF,
and the first 64 KiB of lines are parsed one by one (canonical decimal, in [0, 10000]).

Throughput modes run in their own process so the harness's GIL is not in the way:

    python bench_client.py fast --port P --count N
    python bench_client.py many --port P --clients 100 --count 100000
    python bench_client.py slow --port P --count N --rate 200000 --seconds 15

Each prints one JSON object on stdout. The harness imports the module for the light,
in-process sessions (readiness probes, aborted clients, the soak).

**The receiving side, side by side** (issue 18): how fast ``rxrand-client`` writes COUNT
integers to a file, against a bare ``recv_into``-to-file loop (:data:`BARE_READER`: no checks)
and ``nc > file`` when nc is installed, all against one ``examples/tcp_server.py``, in
interleaved rounds (the order rotating by one per round). Each figure is a whole process's
wall time, start-up included, as a user would time it; every output file is checked
(line count) after its run, outside the timing::

    python tests/benchmarks/bench_client.py compare --count 30000000 --rounds 5

It prints the medians (wall time, and each process's user + system CPU, which a busy machine
disturbs less) and the ratio bare/client (median of per-round ratios, [min-max]).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

GREETING = b"how many random integers do you want?\r\n"
BUFSIZE = 1 << 20
SAMPLE_BYTES = 64 * 1024
_LF, _CR, _ZERO, _NINE = 10, 13, 48, 57
_MAX_VALUE = 10000


class ProtocolError(Exception):
    """The server broke the wire protocol (bad greeting, early close, ...)."""


@dataclass
class Tally:
    """Streaming checks over everything received after the greeting."""

    verify: bool = True
    lines: int = 0
    nbytes: int = 0
    carriage_returns: int = 0
    foreign_chunks: int = 0
    tail: bytes = b""
    sample: bytearray = field(default_factory=bytearray)

    def feed(self, buf: bytearray, n: int) -> int:
        """Account for ``buf[:n]``; return the number of complete lines in it."""
        view = np.frombuffer(buf, np.uint8, n)
        lines = int(np.count_nonzero(view == _LF))
        self.lines += lines
        self.nbytes += n
        if self.verify:
            crs = int(np.count_nonzero(view == _CR))
            self.carriage_returns += crs
            # CR and LF are the only bytes allowed below "0", and none above "9".
            below = int(np.count_nonzero(view < _ZERO))
            if below != lines + crs or np.count_nonzero(view > _NINE):
                self.foreign_chunks += 1
            if len(self.sample) < SAMPLE_BYTES:
                self.sample += buf[: min(n, SAMPLE_BYTES - len(self.sample))]
        self.tail = (self.tail + bytes(buf[max(0, n - 2) : n]))[-2:]
        return lines

    def problems(self, expected: int) -> list[str]:
        """Return what is wrong with the stream, given that ``expected`` lines were asked."""
        found: list[str] = []
        if self.lines != expected:
            found.append(f"expected {expected} lines, got {self.lines}")
        if not self.verify:
            return found
        if self.carriage_returns != self.lines:
            found.append(f"{self.lines} LF but {self.carriage_returns} CR")
        if self.foreign_chunks:
            found.append(f"bytes outside 0-9 CR LF in {self.foreign_chunks} chunks")
        if expected and self.tail != b"\r\n":
            found.append(f"stream ends with {self.tail!r}")
        *complete, _ = bytes(self.sample).split(b"\r\n")
        for raw in complete:
            if not raw.isdigit() or b"%d" % int(raw) != raw or int(raw) > _MAX_VALUE:
                found.append(f"bad line {raw[:20]!r}")
                break
        return found


def open_session(host: str, port: int, timeout: float = 10.0) -> socket.socket:
    """Connect and read exactly the greeting (never more, so no integer byte is lost)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        got = b""
        while len(got) < len(GREETING):
            data = sock.recv(len(GREETING) - len(got))
            if not data:
                raise ProtocolError(f"closed during greeting after {got!r}")
            got += data
        if got != GREETING:
            raise ProtocolError(f"bad greeting {got!r}")
    except BaseException:
        sock.close()
        raise
    return sock


def reset_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the kernel sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


def fast(host: str, port: int, count: int, timeout: float, verify: bool = True) -> dict[str, Any]:
    """Ask for ``count`` integers and read them as fast as possible.

    ``rate`` is integers per second from sending the count line to receiving the last line;
    the read then continues to EOF to prove nothing follows.
    """
    tally = Tally(verify=verify)
    buf = bytearray(BUFSIZE)
    first = last = None
    cpu0 = cpu1 = 0.0
    eof = False
    error = None
    deadline = time.monotonic() + timeout
    t_send = time.perf_counter()
    try:
        with open_session(host, port) as sock:
            t_send, cpu0 = time.perf_counter(), time.process_time()
            sock.sendall(b"%d\r\n" % count)
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                n = sock.recv_into(buf)
                if not n:
                    eof = True
                    break
                if first is None:
                    first = time.perf_counter()
                tally.feed(buf, n)
                if last is None and tally.lines >= count:
                    last, cpu1 = time.perf_counter(), time.process_time()
    except (OSError, ProtocolError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    if count == 0 and eof:
        last, cpu1 = time.perf_counter(), time.process_time()
    problems = tally.problems(count)
    if not eof and error is None:
        problems.append("no EOF")
    if error:
        problems.append(error)
    elapsed = (last - t_send) if last is not None else None
    return {
        "ok": not problems,
        "count": count,
        "lines": tally.lines,
        "bytes": tally.nbytes,
        "ttfb_s": (first - t_send) if first is not None else None,
        "elapsed_s": elapsed,
        "rate": count / elapsed if elapsed else None,
        "cpu_s": cpu1 - cpu0 if last is not None else None,
        "problems": problems,
    }


@dataclass
class _Conn:
    sock: socket.socket
    tally: Tally
    t_send: float = 0.0
    first: float | None = None
    last: float | None = None
    done: bool = False
    error: str | None = None


def many(
    host: str, port: int, clients: int, count: int, timeout: float, verify: bool = True
) -> dict[str, Any]:
    """``clients`` sessions that each ask for ``count`` integers at the same moment.

    All connections are opened and greeted first; then every count line is sent in one
    tight loop, and a selector reads all sockets until each has reached EOF.
    """
    deadline = time.monotonic() + timeout
    conns: list[_Conn] = []
    try:
        for _ in range(clients):
            conns.append(_Conn(open_session(host, port), Tally(verify=verify)))
    except (OSError, ProtocolError) as exc:
        for c in conns:
            c.sock.close()
        return {"ok": False, "problems": [f"connect #{len(conns)}: {exc}"], "clients": clients}
    sel = selectors.DefaultSelector()
    request = b"%d\r\n" % count
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
    cpu0 = time.process_time()
    for c in conns:
        c.t_send = time.perf_counter()
        c.sock.send(request)
    buf = bytearray(BUFSIZE)
    pending = len(conns)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            try:
                n = c.sock.recv_into(buf)
            except BlockingIOError:
                continue
            except OSError as exc:
                c.error, n = f"{type(exc).__name__}: {exc}", 0
            now = time.perf_counter()
            if n:
                if c.first is None:
                    c.first = now
                c.tally.feed(buf, n)
                if c.last is None and c.tally.lines >= count:
                    c.last = now
                continue
            c.done = True
            pending -= 1
            sel.unregister(c.sock)
            c.sock.close()
    cpu = time.process_time() - cpu0
    for c in conns:
        if not c.done:
            sel.unregister(c.sock)
            c.sock.close()
            c.error = c.error or "timeout"
    sel.close()
    exact = 0
    problems: list[str] = []
    for i, c in enumerate(conns):
        p = c.tally.problems(count) + ([c.error] if c.error else [])
        if p:
            problems.append(f"client {i}: {'; '.join(p)}")
        else:
            exact += 1
    ends = [c.last for c in conns if c.last is not None]
    span = (max(ends) - min(c.t_send for c in conns)) if ends else None
    ttfbs = [c.first - c.t_send for c in conns if c.first is not None]
    total = sum(c.tally.lines for c in conns)
    return {
        "ok": exact == clients,
        "clients": clients,
        "count": count,
        "exact": exact,
        "lines": total,
        "elapsed_s": span,
        "rate": total / span if span else None,
        "cpu_s": cpu,
        "ttfb_max_s": max(ttfbs) if ttfbs else None,
        "ttfb_median_s": sorted(ttfbs)[len(ttfbs) // 2] if ttfbs else None,
        "problems": problems[:5],
    }


def slow(host: str, port: int, count: int, rate: float, seconds: float) -> dict[str, Any]:
    """Read at most ``rate`` bytes per second for ``seconds``, then reset the connection."""
    tally = Tally(verify=False)
    buf = bytearray(64 * 1024)
    error = None
    try:
        sock = open_session(host, port)
    except (OSError, ProtocolError) as exc:
        return {"ok": False, "problems": [str(exc)]}
    try:
        sock.sendall(b"%d\r\n" % count)
        t0 = time.monotonic()
        while (now := time.monotonic()) - t0 < seconds:
            allowed = int(rate * (now - t0)) - tally.nbytes
            if allowed <= 0:
                time.sleep(0.01)
                continue
            sock.settimeout(max(0.01, seconds - (now - t0)))
            try:
                n = sock.recv_into(buf, min(allowed, len(buf)))
            except TimeoutError:
                continue
            if not n:
                error = "EOF before the end"
                break
            tally.feed(buf, n)
        elapsed = time.monotonic() - t0
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - t0
    finally:
        reset_close(sock)
    return {
        "ok": error is None,
        "bytes": tally.nbytes,
        "lines": tally.lines,
        "read_rate": tally.nbytes / elapsed if elapsed else None,
        "problems": [error] if error else [],
    }


def abort(host: str, port: int, count: int, read_bytes: int, timeout: float = 10.0) -> float:
    """Ask for ``count`` integers, read ``read_bytes`` of them, then reset.

    Returns:
        ``time.monotonic()`` right after the reset.
    """
    with open_session(host, port, timeout) as sock:
        sock.sendall(b"%d\r\n" % count)
        buf = bytearray(min(read_bytes, BUFSIZE))
        got = 0
        while got < read_bytes:
            n = sock.recv_into(buf)
            if not n:
                break
            got += n
        reset_close(sock)
    return time.monotonic()


def send_raw(host: str, port: int, payload: bytes, timeout: float = 10.0) -> tuple[bytes, str]:
    """Send ``payload`` after the greeting; wait for a first reply line, EOF or reset.

    Returns:
        What arrived, and how the wait ended: ``"line"``, ``"eof"``, ``"reset"`` or
        ``"timeout"`` (the server neither answered nor closed).
    """
    out = bytearray()
    with open_session(host, port, timeout) as sock:
        try:
            sock.sendall(payload)
            while b"\n" not in out:
                data = sock.recv(65536)
                if not data:
                    return bytes(out), "eof"
                out += data
        except ConnectionResetError:
            return bytes(out), "reset"
        except TimeoutError:
            return bytes(out), "timeout"
        except BrokenPipeError:
            return bytes(out), "reset"
    return bytes(out), "line"


#: The floor, as its own small program (no numpy, no rxrand: only what a bare loop needs):
#: read the prompt, send the count, then ``recv_into`` one reused 1 MiB buffer and write
#: it out. No checks at all (the harness counts the lines afterwards); the prompt is not
#: written, so the file holds the ``\r\n`` lines as received.
BARE_READER = """
import socket, sys
host, port, count, output = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with socket.create_connection((host, port)) as sock, open(output, "wb") as out:
    greeting = b""
    while not greeting.endswith(b"\\n"):
        greeting += sock.recv(1)
    sock.sendall(b"%d\\r\\n" % count)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while n := sock.recv_into(buf):
        out.write(view[:n])
"""


ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


def _lines_in(path: str) -> int:
    lines = 0
    with open(path, "rb") as data:
        while block := data.read(BUFSIZE):
            lines += block.count(b"\n")
    return lines


def compare(count: int, rounds: int, timeout: float) -> dict[str, Any]:
    """rxrand-client, the bare reader and ``nc > file`` against one examples/tcp_server.py."""
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = _free_port()
    server = subprocess.Popen(
        [python, str(ROOT / "examples" / "tcp_server.py"), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workdir = tempfile.mkdtemp(prefix="bench_client_")
    out = os.path.join(workdir, "out")
    client_options = ["--quiet", "--port", str(port), "--output", out]
    commands: dict[str, tuple[list[str], str | None, int]] = {
        "rxrand-client": (
            [python, str(ROOT / "examples" / "tcp_client.py"), str(count), *client_options],
            None,
            count,
        ),
        "bare": (
            [python, "-c", BARE_READER, "127.0.0.1", str(port), str(count), out],
            None,
            count,
        ),
    }
    if shutil.which("nc"):
        # -N: half-close after the count (the server still sends every integer).
        commands["nc"] = (["nc", "-N", "127.0.0.1", str(port)], out, count + 1)
    times: dict[str, list[float]] = {name: [] for name in commands}
    # Each process's user + system CPU: less sensitive to a busy machine than its wall time.
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    problems: list[str] = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                open_session("127.0.0.1", port).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        names = list(commands)
        for round_ in range(rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                argv, stdout_path, lines = commands[name]
                with contextlib.ExitStack() as stack:
                    stdout = (
                        stack.enter_context(open(stdout_path, "wb"))
                        if stdout_path
                        else subprocess.DEVNULL
                    )
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    started = time.perf_counter()
                    done = subprocess.run(
                        argv,
                        input=b"%d\n" % count,
                        stdout=stdout,
                        stderr=subprocess.PIPE,
                        env=env,
                        timeout=timeout,
                        check=False,
                    )
                    elapsed = time.perf_counter() - started
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(
                    after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                )
                got = _lines_in(out)
                if done.returncode != 0 or got != lines:
                    problems.append(
                        f"{name} round {round_}: exit {done.returncode}, {got} lines, "
                        f"{done.stderr[-200:]!r}"
                    )
                times[name].append(elapsed)
                os.unlink(out)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratios = [b / c for b, c in zip(times["bare"], times["rxrand-client"], strict=True)]
    result: dict[str, Any] = {
        "ok": not problems,
        "count": count,
        "rounds": rounds,
        "seconds": times,
        "median_s": medians,
        "cpu_s": cpu,
        "median_cpu_s": {name: statistics.median(values) for name, values in cpu.items()},
        "median_rate": {name: count / value for name, value in medians.items()},
        "ratio_client_to_bare": {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        },
        "problems": problems,
    }
    if "nc" in times:
        to_nc = [n / c for n, c in zip(times["nc"], times["rxrand-client"], strict=True)]
        result["ratio_client_to_nc"] = {
            "median": statistics.median(to_nc),
            "min": min(to_nc),
            "max": max(to_nc),
        }
    return result


def _report(result: dict[str, Any]) -> str:
    lines = [f"{result['count']:,} integers to a file, {result['rounds']} interleaved rounds"]
    lines.append("| reader | median s | M integers/s | CPU user+sys s | all rounds (s) |")
    lines.append("|---|---:|---:|---:|---|")
    for name, median in result["median_s"].items():
        shown = ", ".join(f"{value:.2f}" for value in result["seconds"][name])
        rate = result["median_rate"][name] / 1e6
        cpu = result["median_cpu_s"][name]
        lines.append(f"| {name} | {median:.3f} | {rate:.1f} | {cpu:.3f} | {shown} |")
    for key in ("ratio_client_to_bare", "ratio_client_to_nc"):
        if key in result:
            ratio = result[key]
            lines.append(
                f"{key}: {ratio['median']:.2f}x [{ratio['min']:.2f}-{ratio['max']:.2f}]"
                " (speed, per-round)"
            )
    if result["problems"]:
        lines.append("problems: " + "; ".join(result["problems"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="measuring client for bench_server.py")
    parser.add_argument("mode", choices=["fast", "many", "slow", "compare"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="the server's (not for compare)")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=5, help="compare: interleaved rounds")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200_000, help="slow: bytes per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="slow: how long to read")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-verify", action="store_true", help="only count lines")
    args = parser.parse_args(argv)
    if args.mode == "compare":
        result = compare(args.count, args.rounds, args.timeout)
        print(_report(result), file=sys.stderr)
    elif args.mode == "fast":
        result = fast(args.host, args.port, args.count, args.timeout, not args.no_verify)
    elif args.mode == "many":
        result = many(
            args.host, args.port, args.clients, args.count, args.timeout, not args.no_verify
        )
    else:
        result = slow(args.host, args.port, args.count, args.rate, args.seconds)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
