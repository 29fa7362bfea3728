"""--loop {asyncio,uvloop}: the loop choice, and a clear error when uvloop is missing."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import reactivex.operators as ops

from rxrand import random_integers
from rxrand.cli.server import _parse_args
from rxrand.net import EVENT_LOOPS, LoopUnavailable, event_loop_factory
from rxrand.net.eventloop import run_on

from ..conftest import read_prompt, read_until_closed

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
SERVER = (sys.executable, str(ROOT / "examples" / "tcp_server.py"))
MISSING = (
    "--loop uvloop needs the uvloop package, which is not installed: "
    "pip install 'rxrand[uvloop]' (or use --loop asyncio)"
)


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import uvloop`` fail, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "uvloop", None)


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_event_loop_factory_asyncio_is_the_default_loop() -> None:
    assert EVENT_LOOPS == ("asyncio", "uvloop")
    assert event_loop_factory("asyncio") is None
    assert run_on("asyncio", loop_module()).startswith("asyncio")


def test_event_loop_factory_unknown_name_is_a_value_error() -> None:
    with pytest.raises(
        ValueError, match=r"^event loop must be one of asyncio, uvloop, got 'trio'$"
    ):
        event_loop_factory("trio")


@pytest.mark.usefixtures("no_uvloop")
def test_event_loop_factory_missing_uvloop_is_a_clear_error() -> None:
    with pytest.raises(LoopUnavailable, match=rf"^{re.escape(MISSING)}$"):
        event_loop_factory("uvloop")


@pytest.mark.usefixtures("no_uvloop")
def test_run_on_missing_uvloop_raises_without_leaving_the_coroutine_unawaited() -> None:
    coroutine = loop_module()
    with pytest.raises(LoopUnavailable):
        run_on("uvloop", coroutine)
    assert coroutine.cr_frame is None  # closed, so no "never awaited" warning


@pytest.mark.usefixtures("no_uvloop")
def test_server_args_missing_uvloop_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse_args(["--loop", "uvloop"])
    assert exit_info.value.code == 2
    assert MISSING in capsys.readouterr().err


def test_server_args_unknown_loop_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse_args(["--loop", "trio"])
    assert "invalid choice: 'trio'" in capsys.readouterr().err


def test_run_on_uvloop_runs_a_uvloop_loop() -> None:
    pytest.importorskip("uvloop")
    assert run_on("uvloop", loop_module()).startswith("uvloop")


def test_server_process_on_uvloop_serves_the_seeded_stream() -> None:
    pytest.importorskip("uvloop")
    process = subprocess.Popen(
        [*SERVER, "--port", "0", "--loop", "uvloop", "--seed", "3"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        port = None
        while port is None:
            line = process.stderr.readline()
            assert line, "the server exited before listening"
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            read_prompt(sock)
            sock.sendall(b"100000\n")
            data = read_until_closed(sock)
        expected = random_integers(100_000, seed=3).pipe(ops.to_list()).run()
        assert data == b"".join(b"%d\r\n" % value for value in expected)
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
