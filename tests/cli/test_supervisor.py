"""--workers N: worker processes on one port, supervised; real processes over 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import reactivex.operators as ops

from rxrand import random_integers
from rxrand.cli.server import _parse_args
from rxrand.cli.supervisor import MAX_RESTARTS, RestartBudget, usable_cores, workers_from_text

from ..conftest import read_exactly, read_prompt, read_until_closed

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
SERVER = (sys.executable, str(ROOT / "examples" / "tcp_server.py"))
SEED = 7
COUNT = 100
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+) with (\d+) workers \(pids ([\d ]+)\)")


# -- no processes ----------------------------------------------------------------------


def test_workers_from_text_takes_a_whole_number() -> None:
    assert workers_from_text("1") == 1
    assert workers_from_text("3") == 3


def test_workers_from_text_auto_is_the_usable_cores() -> None:
    assert workers_from_text("auto") == usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5", ""])
def test_workers_from_text_rejects_anything_else(text: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^--workers must be a whole number >= 1 or 'auto', got {text!r}$"
    ):
        workers_from_text(text)


def test_server_args_workers_and_loop_reach_the_config() -> None:
    config, _ = _parse_args(["--workers", "2", "--port", "0"])
    assert (config.workers, config.loop, config.reuse_port) == (2, "asyncio", False)
    assert _parse_args([])[0].workers == 1


def test_server_args_bad_workers_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse_args(["--workers", "0"])
    assert exit_info.value.code == 2
    assert "--workers must be a whole number >= 1 or 'auto', got '0'" in capsys.readouterr().err


def test_server_args_several_workers_without_reuseport_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(SystemExit) as exit_info:
        _parse_args(["--workers", "2"])
    assert exit_info.value.code == 2
    assert "--workers above 1 needs SO_REUSEPORT load balancing" in capsys.readouterr().err
    assert _parse_args(["--workers", "1"])[0].workers == 1  # one worker needs nothing


def test_restart_budget_allows_limit_restarts_per_window() -> None:
    budget = RestartBudget(limit=3, window=10.0)
    assert [budget.allow(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert not budget.allow(9.9)  # the refused one was not recorded
    assert budget.allow(10.0)  # the first restart left the window
    assert not budget.allow(10.5)


def test_restart_budget_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"^limit must be >= 0, got -1$"):
        RestartBudget(limit=-1)
    with pytest.raises(ValueError, match=r"^window must be > 0, got 0$"):
        RestartBudget(window=0)


# -- real processes ----------------------------------------------------------------------


class Supervised:
    """``examples/tcp_server.py --workers N`` in a subprocess, its log lines gathered."""

    def __init__(self, *args: str, workers: int = 2) -> None:
        self.process = subprocess.Popen(
            [
                *SERVER,
                "--port",
                "0",
                "--workers",
                str(workers),
                *args,
            ],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        found = self.wait_for(LISTENING, timeout=30)
        self.port = int(found.group(1))
        self.worker_pids = {int(pid) for pid in found.group(3).split()}
        assert len(self.worker_pids) == workers

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # EOF marker
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 10) -> re.Match[str]:
        """The first log line matching ``pattern`` (searching from the start)."""
        return self.wait_for_nth(pattern, 1, timeout)

    def wait_for_nth(
        self, pattern: re.Pattern[str] | str, n: int, timeout: float = 10
    ) -> re.Match[str]:
        """The ``n``-th log line matching ``pattern``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in map(re.compile(pattern).search, self.lines) if m]
                if len(found) >= n:
                    return found[n - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == ""):
                    raise AssertionError(f"no {n} log lines match {pattern!r}:\n{self.log()}")
                self._changed.wait(left)

    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def pid_serving(self, sock: socket.socket) -> int:
        """The pid of the worker that logged the opening of ``sock``'s connection."""
        local_port = sock.getsockname()[1]
        found = self.wait_for(rf"\[(\d+)\]: open peer=127\.0\.0\.1:{local_port}\b")
        return int(found.group(1))

    def request(self, count: int = COUNT) -> tuple[int, bytes]:
        """(pid of the worker that served it, the bytes received) for one whole request."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            read_prompt(sock)
            sock.sendall(b"%d\n" % count)
            data = read_until_closed(sock)
            return self.pid_serving(sock), data

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def seeded_lines(count: int) -> bytes:
    values = random_integers(count, seed=SEED).pipe(ops.to_list()).run()
    return b"".join(b"%d\r\n" % value for value in values)


@pytest.fixture(scope="module")
def supervised() -> Iterator[Supervised]:
    server = Supervised("--seed", str(SEED))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served_by(supervised: Supervised) -> dict[int, list[bytes]]:
    """Requests until every worker has served some (the kernel picks by a hash: bounded tries)."""
    got: dict[int, list[bytes]] = {}
    for _ in range(200):
        pid, data = supervised.request()
        got.setdefault(pid, []).append(data)
        if set(got) == supervised.worker_pids and min(map(len, got.values())) >= 2:
            break
    return got


def test_supervisor_every_worker_serves(
    supervised: Supervised, served_by: dict[int, list[bytes]]
) -> None:
    assert set(served_by) == supervised.worker_pids
    assert supervised.process.pid not in served_by
    assert all(pid_alive(pid) for pid in supervised.worker_pids)


def test_supervisor_seed_gives_the_same_stream_in_every_worker(
    served_by: dict[int, list[bytes]],
) -> None:
    expected = seeded_lines(COUNT)
    for pid, streams in served_by.items():
        assert streams == [expected] * len(streams), pid


def test_supervisor_restarts_a_worker_that_dies(
    supervised: Supervised, served_by: dict[int, list[bytes]]
) -> None:
    victim = min(supervised.worker_pids)
    os.kill(victim, signal.SIGKILL)
    supervised.wait_for(rf"worker \d+ \(pid {victim}\) exited \(killed by SIGKILL\)")
    found = supervised.wait_for(r"worker \d+ restarted as pid (\d+)")
    replacement = int(found.group(1))
    supervised.wait_for(rf"worker \d+ \(pid {replacement}\) is serving again", timeout=30)
    survivors = (supervised.worker_pids - {victim}) | {replacement}
    seen: set[int] = set()
    for _ in range(200):
        pid, data = supervised.request()
        assert data == seeded_lines(COUNT)
        seen.add(pid)
        if seen == survivors:
            break
    assert seen == survivors
    assert supervised.process.poll() is None


def stream_on_every_worker(server: Supervised) -> list[socket.socket]:
    """One endless stream being read on each worker (extra connections closed)."""
    streams: dict[int, socket.socket] = {}
    for _ in range(200):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        pid = server.pid_serving(sock)
        if pid in streams:
            sock.close()
            continue
        read_prompt(sock)
        sock.sendall(b"1000000000\n")
        assert len(read_exactly(sock, 10_000)) == 10_000
        streams[pid] = sock
        if set(streams) == server.worker_pids:
            break
    assert set(streams) == server.worker_pids
    return list(streams.values())


STOP_SIGNALS = [
    signal.SIGTERM,
    pytest.param(signal.SIGINT, marks=pytest.mark.slow),
    pytest.param(signal.SIGHUP, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_supervisor_stops_every_worker_and_exits_0_within_1s_on_signal(signum: int) -> None:
    server = Supervised()
    try:
        streams = stream_on_every_worker(server)
        started = time.monotonic()
        server.process.send_signal(signum)
        assert server.process.wait(timeout=10) == 0
        assert time.monotonic() - started < 1.0
        for sock in streams:
            sock.settimeout(10)
            read_until_closed(sock)  # the stream was cancelled: the connection ends
            sock.close()
        assert not any(pid_alive(pid) for pid in server.worker_pids)
        server.stop()
        assert server.log().count("reason=server shutdown") == len(server.worker_pids)
    finally:
        server.stop()


def test_supervisor_gives_up_after_too_many_restarts() -> None:
    server = Supervised()
    try:
        pids = set(server.worker_pids)
        victim = min(pids)
        for restart in range(1, MAX_RESTARTS + 1):
            os.kill(victim, signal.SIGKILL)
            victim = int(server.wait_for_nth(r"restarted as pid (\d+)", restart).group(1))
            pids.add(victim)
        os.kill(victim, signal.SIGKILL)  # one death too many
        assert server.process.wait(timeout=10) == 1
        server.stop()
        assert f"died after {MAX_RESTARTS} restarts within 10 s: giving up" in server.log()
        assert not any(pid_alive(pid) for pid in pids)
    finally:
        server.stop()


def test_supervisor_port_taken_by_another_program_exits_1_with_the_reason() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = subprocess.run(
            [*SERVER, "--port", str(port), "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}: [Errno 98] Address already in use" in done.stderr
    assert "worker" not in done.stderr  # refused before any worker started
