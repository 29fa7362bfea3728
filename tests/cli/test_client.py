"""The socket source (reads only against demand) and the client built on it, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import reactivex.operators as ops
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import Observable

from rxrand import ConnectionLost, LineTooLongError, controlled, random_integers, socket_lines
from rxrand.cli.client import TICK, ClientError, IntegerStreamChecker, fetch, main
from rxrand.net import BULK_RECV_BYTES, KERNEL_BUDGET, PROMPT, RECV_BYTES, WINDOW_BYTES
from rxrand.sources import CHUNK_SIZE, RandomIntegers
from rxrand.testing import RecordingSubscriber

from ..conftest import RunningServer, loop_in_thread, on_loop

ROOT = Path(__file__).resolve().parents[2]

# -- the checker, sans I/O --------------------------------------------------------------------


def test_checker_accepts_exactly_count_integers_then_close() -> None:
    checker = IntegerStreamChecker(3)
    checker.prompt(PROMPT.rstrip(b"\r\n"))
    assert checker.values([b"0", b"10000"]) == [0, 10000]
    assert checker.values([b"42"]) == [42]
    checker.closed()


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([b"12x"], r"^malformed line 1: 12x$"),
        ([b"1", b""], r"^malformed line 2: $"),
        ([b"-1"], r"^malformed line 1: -1$"),
        ([b" 7"], r"^malformed line 1:  7$"),
        ([b"10001"], r"^integer 10001 out of range \[0, 10000\]$"),
        ([b"1", b"2", b"3"], r"^more than the 2 integers asked for$"),
        ([b"error: no"], r"^the server said: error: no$"),
    ],
)
def test_checker_rejects_what_is_not_asked_for(lines: list[bytes], reason: str) -> None:
    checker = IntegerStreamChecker(2)
    checker.prompt(PROMPT.rstrip(b"\r\n"))
    with pytest.raises(ClientError, match=reason):
        checker.values(lines)


def test_checker_cut_short_and_bad_greeting() -> None:
    checker = IntegerStreamChecker(5)
    with pytest.raises(ClientError, match=r"^unexpected greeting from the server: hello$"):
        checker.prompt(b"hello")
    with pytest.raises(ClientError, match=r"^the server closed the connection before asking$"):
        checker.closed()
    checker.prompt(PROMPT.rstrip(b"\r\n"))
    checker.values([b"1", b"2"])
    with pytest.raises(
        ClientError, match=r"^cut short: the connection closed after 2 of 5 integers$"
    ):
        checker.closed()


_odd_lines = st.sampled_from(
    [b"", b"0", b"00", b"010", b"7", b"10000", b"10001", b"99999", b"000000", b"123456", b"1\r2"]
)
_lines = st.one_of(
    st.integers(0, 10_000).map(lambda value: b"%d" % value), _odd_lines, st.binary(max_size=6)
)


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(st.tuples(_lines, st.sampled_from([b"\r\n", b"\n"])), min_size=1, max_size=40),
    mixed=st.booleans(),
    limit=st.integers(1, 60),
)
def test_checker_block_agrees_with_values_line_by_line(
    lines: list[tuple[bytes, bytes]], mixed: bool, limit: int
) -> None:
    """The bulk path's vectorised checks say what the per-line checks say, byte for byte."""
    ending = lines[0][1]
    data = b"".join(line + (end if mixed else ending) for line, end in lines)
    assert_block_agrees_with_values(data, limit)


def assert_block_agrees_with_values(data: bytes, limit: int) -> None:
    count = data.count(b"\n")
    pieces = data.split(b"\n")[:-1]
    reference = IntegerStreamChecker(limit)
    reference.prompt(PROMPT.rstrip(b"\r\n"))
    bulk = IntegerStreamChecker(limit)
    bulk.prompt(PROMPT.rstrip(b"\r\n"))
    try:
        values = reference.values([piece.removesuffix(b"\r") for piece in pieces])
    except ClientError as error:
        with pytest.raises(ClientError, match=f"^{re.escape(str(error))}$"):
            bulk.block(data, count, parse=True)
        return
    assert bulk.block(data, count, parse=True) == (
        b"".join(b"%d\n" % value for value in values),
        values,
    )
    assert bulk.received == reference.received


# Odd lines for long blocks; "1\r2\n3" is two lines, one with a "\r" in the middle, so that
# a "\r\n" block holds as many "\r" as "\n" but not in pairs.
_odd_in_a_block = _odd_lines | st.sampled_from(
    [b"01", b"007", b"100000", b"x", b" 1", b"\r", b"1\r\r", b"1\r2\n3", b"10\r\n"]
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(0, 10_000), min_size=4, max_size=40),
    odd=_odd_in_a_block,
    ending=st.sampled_from([b"\r\n", b"\n"]),
)
def test_checker_block_finds_one_odd_line_anywhere(
    values: list[int], odd: bytes, ending: bytes
) -> None:
    """Blocks long enough for the vectorised path, one odd line at the start, the end, between."""
    size = len(values)
    for where in sorted({0, 1, 2, size // 2, size - 2, size - 1, size}):
        lines = [b"%d" % value for value in values]
        lines.insert(where, odd)
        assert_block_agrees_with_values(b"".join(line + ending for line in lines), len(lines) + 1)


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"])
def test_checker_block_takes_what_servers_send_without_the_line_by_line_path(
    ending: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the line-by-line path")

    monkeypatch.setattr(IntegerStreamChecker, "_slowly", refuse)
    values = [10000, 0, 7, 10000, 10000, 42, 0, 0, 9999, 1000, 10000, 5, 0, 10000]
    data = b"".join(b"%d" % value + ending for value in values)
    checker = IntegerStreamChecker(len(values))
    checker.prompt(PROMPT.rstrip(b"\r\n"))
    lines = b"".join(b"%d\n" % value for value in values)
    assert checker.block(data, len(values), parse=True) == (lines, values)


def test_checker_block_fast_path_output() -> None:
    checker = IntegerStreamChecker(6)
    checker.prompt(PROMPT.rstrip(b"\r\n"))
    assert checker.block(b"0\r\n10000\r\n42\r\n", 3) == (b"0\n10000\n42\n", [])
    assert checker.block(b"7\n8\n9\n", 3, parse=True) == (b"7\n8\n9\n", [7, 8, 9])
    with pytest.raises(ClientError, match=r"^more than the 6 integers asked for$"):
        checker.block(b"1\n", 1)


@pytest.mark.parametrize(
    ("before", "expected"),
    [("", "1"), ("os.environ['OPENBLAS_NUM_THREADS'] = '4'\n", "4"), ("import numpy\n", "None")],
)
def test_client_program_starts_numpy_without_a_blas_thread_pool(before: str, expected: str) -> None:
    """main() tells numpy's BLAS to start no pool, unless numpy is loaded or the user chose."""
    code = (
        "import os, sys\n"
        "os.environ.pop('OPENBLAS_NUM_THREADS', None)\n"
        f"{before}"
        "loaded = 'numpy' in sys.modules\n"
        "import rxrand.client\n"
        "print(('numpy' in sys.modules) != loaded)\n"
        "try:\n"
        "    rxrand.client.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(os.environ.get('OPENBLAS_NUM_THREADS'), rxrand.client.fetch.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "False"  # rxrand.client's names load on first use: no numpy yet
    assert lines[-1] == f"{expected} rxrand.cli.client"


# -- socket_lines ------------------------------------------------------------------------------


def settle(loop: asyncio.AbstractEventLoop, rounds: int = 20) -> None:
    for _ in range(rounds):
        on_loop(loop, lambda: None)
        time.sleep(0.002)


def fill(sock: socket.socket) -> int:
    """Write empty lines until the kernel refuses more; returns how many (one byte each)."""
    sock.setblocking(False)
    block = b"\n" * 65536
    total = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            total += sock.send(block)
    return total


def test_socket_lines_reads_only_against_demand() -> None:
    reader, writer = socket.socketpair()
    with reader, writer, loop_in_thread() as loop:
        reader.setblocking(False)
        probe: RecordingSubscriber[bytes] = RecordingSubscriber()
        on_loop(loop, lambda: socket_lines(reader).pipe(controlled()).subscribe(probe))
        written = fill(writer)
        assert written > RECV_BYTES  # the kernel's buffers, full
        probe.request(2)
        settle(loop)
        probe.expect_values(b"", b"")
        # One recv at most was taken: the peer can write no more than that (no read-ahead).
        more = fill(writer)
        assert more <= RECV_BYTES
        lines = written + more
        probe.request(lines - 2)
        settle(loop, 100)
        probe.expect_count(lines).expect_no_terminal()
        # Everything was read; with no demand left, reading stopped again: the peer fills
        # the kernel's buffers once more and then cannot write.
        assert fill(writer) > RECV_BYTES
        settle(loop)
        assert fill(writer) == 0


def test_socket_lines_completes_on_close_with_the_unterminated_last_line() -> None:
    reader, writer = socket.socketpair()
    with reader, loop_in_thread() as loop:
        reader.setblocking(False)
        writer.sendall(b"7\r\n42\n5")
        writer.close()
        probe: RecordingSubscriber[bytes] = RecordingSubscriber(initial=1)
        on_loop(loop, lambda: socket_lines(reader).pipe(controlled()).subscribe(probe))
        settle(loop)
        probe.expect_values(b"7").expect_no_terminal()
        probe.request(5)
        settle(loop)
        probe.expect_values(b"7", b"42", b"5").expect_completed()


def test_socket_lines_line_too_long_is_an_error() -> None:
    reader, writer = socket.socketpair()
    with reader, writer, loop_in_thread() as loop:
        reader.setblocking(False)
        writer.sendall(b"1\n" + b"9" * 2000 + b"\n")
        probe: RecordingSubscriber[bytes] = RecordingSubscriber(initial=5)
        on_loop(loop, lambda: socket_lines(reader).pipe(controlled()).subscribe(probe))
        settle(loop)
        probe.expect_values(b"1")
        probe.expect_error(LineTooLongError, match=r"^the peer sent a line longer than 1024 bytes$")


def test_socket_lines_reset_is_connection_lost() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
    with client, loop_in_thread() as loop:
        client.setblocking(False)
        probe: RecordingSubscriber[bytes] = RecordingSubscriber(initial=5)
        on_loop(loop, lambda: socket_lines(client).pipe(controlled()).subscribe(probe))
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.close()  # linger 0: RST
        settle(loop)
        probe.expect_error(ConnectionLost)


def test_socket_lines_subscribed_once() -> None:
    reader, writer = socket.socketpair()
    with reader, writer, loop_in_thread() as loop:
        reader.setblocking(False)
        lines = socket_lines(reader)
        first: RecordingSubscriber[bytes] = RecordingSubscriber()
        second: RecordingSubscriber[bytes] = RecordingSubscriber()
        on_loop(loop, lambda: lines.pipe(controlled()).subscribe(first))
        on_loop(loop, lambda: lines.pipe(controlled()).subscribe(second))
        second.expect_error(RuntimeError, match=r"^socket_lines\(\) can be subscribed once")
        first.expect_no_terminal()


# -- the client against servers ---------------------------------------------------------------


def run_fetch(port: int, count: int, **options: Any) -> list[int]:
    got: list[int] = []
    asyncio.run(fetch("127.0.0.1", port, count, got.extend, **options))
    return got


def test_client_gets_exactly_what_the_server_sends(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server(seed=1)
    assert (
        run_fetch(server.port, 50_000) == random_integers(50_000, seed=1).pipe(ops.to_list()).run()
    )
    assert run_fetch(server.port, 0) == []


def test_client_reports_the_servers_error_line(make_server: Callable[..., RunningServer]) -> None:
    server = make_server(max_count=10)
    with pytest.raises(ClientError, match=r"^the server said: error: 11 is above the maximum"):
        run_fetch(server.port, 11)


def test_client_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(
        ClientError, match=rf"^cannot connect to 127.0.0.1:{port}: connection refused$"
    ):
        run_fetch(port, 5)


@contextlib.contextmanager
def fake_server(reply: bytes) -> Iterator[int]:
    """A server that sends the prompt, reads the count, sends ``reply`` and closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(PROMPT)
            conn.recv(100)
            conn.sendall(reply)
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(10)
        listener.close()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"1\r\n2\r\n", r"^cut short: the connection closed after 2 of 3 integers$"),
        (b"1\r\n2x\r\n3\r\n", r"^malformed line 2: 2x$"),
        (b"1\r\n2\r\n3\r\n4\r\n", r"^more than the 3 integers asked for$"),
        (b"1\r\n" + b"7" * 2000, r"^malformed line 2: the peer sent a line longer than 1024"),
        # Issue 18, item 2: "33" may be the start of "3301" (the truncation rule).
        (
            b"11\r\n22\r\n33",
            r"^cut short: the connection closed inside line 3 \(33 without its line end\)$",
        ),
        (b"11\n22\n33\r", r"^cut short: the connection closed inside line 3 "),
    ],
)
def test_client_fails_with_a_reason(reply: bytes, reason: str) -> None:
    with fake_server(reply) as port, pytest.raises(ClientError, match=reason):
        run_fetch(port, 3)


def test_client_cli_exit_status_and_output(
    make_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = make_server(seed=1)
    output = tmp_path / "ints.txt"
    command = [sys.executable, str(ROOT / "examples" / "tcp_client.py")]
    done = subprocess.run(
        [*command, "5", "--port", str(server.port), "--output", str(output)],
        capture_output=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, b"")  # no bar: stderr is not a terminal
    assert output.read_bytes() == b"4732\n5118\n7552\n9505\n348\n"
    failed = subprocess.run(
        [*command, "5", "--port", str(server.port), "--host", "127.0.0.1", "--rate", "0"],
        capture_output=True,
        timeout=60,
    )
    assert failed.returncode == 2
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    refused = subprocess.run([*command, "5", "--port", str(port)], capture_output=True, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.decode().splitlines() == [
        f"tcp_client.py: cannot connect to 127.0.0.1:{port}: connection refused"
    ]


def test_client_rate_limits_consumption_through_demand(
    make_server: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client at 1000 integers/s asking for 10**9: the server generates only a window ahead
    of what the client has consumed, and its thread stays idle."""
    sources: list[RandomIntegers] = []

    def source(count: int) -> Observable[int]:
        sources.append(random_integers(count))
        return sources[-1]

    server = make_server(source=source)
    sockets: list[socket.socket] = []
    connect = socket.create_connection

    def recording_connect(*args: Any, **kwargs: Any) -> socket.socket:
        sockets.append(connect(*args, **kwargs))
        return sockets[-1]

    monkeypatch.setattr(socket, "create_connection", recording_connect)
    consumed: list[int] = [0]
    stop = threading.Event()

    def write(values: list[int]) -> None:
        consumed[0] += len(values)
        if stop.is_set():
            raise OSError("stopped by the test")

    def client() -> None:
        with contextlib.suppress(ClientError):
            asyncio.run(fetch("127.0.0.1", server.port, 10**9, write, rate=1000))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    time.sleep(0.5)  # connect, fill the buffers
    cpu_before = server.call(time.thread_time)
    time.sleep(1.5)
    cpu = server.call(time.thread_time) - cpu_before
    generated = sources[0].generated
    rcvbuf = sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    stop.set()
    thread.join(10)
    # The window: one chunk not yet encoded; encoded bytes in user space and in the
    # server's kernel; the client's receive buffer and its one recv (the bulk path's);
    # one tick of demand. Each integer line is at least 3 bytes.
    window = CHUNK_SIZE + (WINDOW_BYTES + KERNEL_BUDGET + rcvbuf + BULK_RECV_BYTES) // 3
    window += int(1000 * TICK)
    assert 1500 <= consumed[0] <= 2500
    assert generated - consumed[0] <= window, (generated, consumed[0], window)
    assert cpu < 0.075, f"server thread used {cpu:.3f} s of CPU in 1.5 s"


def test_client_progress_bar_only_on_a_terminal(
    make_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    pytest.importorskip("tqdm", reason="the bar comes with the [client] extra")
    pty = pytest.importorskip("pty")
    termios = pytest.importorskip("termios")
    server = make_server(seed=1)
    command = [sys.executable, str(ROOT / "examples" / "tcp_client.py"), "20000"]
    command += ["--port", str(server.port), "--output", str(tmp_path / "ints.txt")]

    def stderr_on_a_terminal(*options: str) -> bytes:
        master, slave = pty.openpty()
        termios.tcsetwinsize(slave, (24, 100))  # a new pseudo-terminal has 0 columns
        process = subprocess.Popen([*command, *options], stderr=slave)
        os.close(slave)
        chunks = []
        with open(master, "rb", buffering=0) as terminal, contextlib.suppress(OSError):
            while chunk := terminal.read(4096):  # EIO once the client has exited
                chunks.append(chunk)
        assert process.wait(60) == 0
        return b"".join(chunks)

    assert b"%|" in stderr_on_a_terminal()
    assert stderr_on_a_terminal("--quiet") == b""


@contextlib.contextmanager
def silent_server(prompt: bool) -> Iterator[int]:
    """A server that sends the prompt (or not), then nothing, until the client goes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            if prompt:
                conn.sendall(PROMPT)
            conn.settimeout(10)
            with contextlib.suppress(OSError):
                while conn.recv(100):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(15)
        listener.close()


@pytest.mark.parametrize("prompt", [True, False])
def test_client_times_out_when_the_server_sends_nothing(prompt: bool) -> None:
    """Issue 18, item 3: no byte for --timeout seconds while integers are owed: a reason."""
    started = time.monotonic()
    with (
        silent_server(prompt) as port,
        pytest.raises(ClientError, match=r"^timed out: nothing from the server for 0.3 s$"),
    ):
        run_fetch(port, 3, timeout=0.3)
    assert time.monotonic() - started < 5


def test_client_rate_pauses_are_not_silence(make_server: Callable[..., RunningServer]) -> None:
    """With --rate the server owes nothing between ticks: a short timeout does not fire."""
    server = make_server(seed=1)
    assert len(run_fetch(server.port, 30, rate=50, timeout=0.2)) == 30


def test_client_cli_timeout_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18, items 3 and 4: --timeout exits 1 with one line; --help names the extra."""
    command = [sys.executable, str(ROOT / "examples" / "tcp_client.py")]
    with silent_server(True) as port:
        done = subprocess.run(
            [*command, "5", "--port", str(port), "--timeout", "0.3"],
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        "tcp_client.py: timed out: nothing from the server for 0.3 s"
    ]
    with pytest.raises(SystemExit):
        main(["--help"], prog="rxrand-client")
    shown = " ".join(capsys.readouterr().out.split())
    assert "pip install 'rxrand[client]'" in shown
    assert "--timeout SECONDS" in shown
    assert "(default: 30)" in shown


def test_client_cli_closed_pipe_ends_quietly(make_server: Callable[..., RunningServer]) -> None:
    """Issue 18, item 4: ``tcp_client.py 1000000 | head -3`` ends quietly (141, like seq)."""
    server = make_server(seed=1)
    command = [sys.executable, str(ROOT / "examples" / "tcp_client.py"), "1000000"]
    process = subprocess.Popen(
        [*command, "--port", str(server.port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    head = [process.stdout.readline() for _ in range(3)]
    process.stdout.close()
    try:
        status = process.wait(60)
    finally:
        process.kill()
    assert head == [b"4732\n", b"5118\n", b"7552\n"]
    assert (status, process.stderr.read()) == (141, b"")
    process.stderr.close()
