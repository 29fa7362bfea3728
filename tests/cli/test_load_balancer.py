"""The example L4 load-balancer configs (examples/load-balancer/): checked, then run.

Each config is used as shipped, with only its addresses swapped for loopback ones: two
servers on 127.0.0.1 behind it, clients get their exact seeded streams through it, and
both servers serve. Skipped where HAProxy or nginx is not installed.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import reactivex.operators as ops

from rxrand import random_integers

from ..conftest import RunningServer, read_prompt, read_until_closed

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "load-balancer"
SEEDS = (11, 12)  # a different stream per server tells which one served
COUNT = 20_000
NGINX_STREAM = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def loopback_config(name: str, front: int, backends: list[int]) -> str:
    """The example config with its listen address and its two hosts made loopback ones."""
    text = (EXAMPLES / name).read_text()
    hosts = iter(backends)
    text, swapped = re.subn(r"10\.0\.0\.1\d:1234", lambda _: f"127.0.0.1:{next(hosts)}", text)
    assert swapped == len(backends)
    text, listens = re.subn(r"(bind|listen) :?1234", rf"\1 127.0.0.1:{front}", text)
    assert listens == 1
    return text


@pytest.fixture
def two_servers(make_server: Callable[..., RunningServer]) -> list[RunningServer]:
    return [make_server(seed=seed) for seed in SEEDS]


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the load balancer did not listen")


@pytest.fixture
def balancer(
    request: pytest.FixtureRequest, two_servers: list[RunningServer], tmp_path: Path
) -> Iterator[tuple[int, list[RunningServer]]]:
    kind: str = request.param
    front = free_port()
    config = tmp_path / ("lb.cfg" if kind == "haproxy" else "lb.conf")
    name = "haproxy.cfg" if kind == "haproxy" else "nginx.conf"
    config.write_text(loopback_config(name, front, [s.port for s in two_servers]))
    if kind == "haproxy":
        command = ["haproxy", "-db", "-f", str(config)]
    else:
        command = [
            "nginx",
            "-c",
            str(config),
            "-g",
            f"daemon off; pid {tmp_path}/nginx.pid; error_log stderr warn;",
        ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(front, process)
        yield front, two_servers
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def have(kind: str) -> bool:
    if kind == "nginx":
        return shutil.which("nginx") is not None and NGINX_STREAM.exists()
    return shutil.which(kind) is not None


BALANCERS = [
    pytest.param(kind, marks=pytest.mark.skipif(not have(kind), reason=f"{kind} not installed"))
    for kind in ("haproxy", "nginx")
]


@pytest.mark.parametrize("kind", BALANCERS)
def test_load_balancer_example_config_is_valid(kind: str, tmp_path: Path) -> None:
    if kind == "haproxy":
        command = ["haproxy", "-c", "-f", str(EXAMPLES / "haproxy.cfg")]
    else:
        command = ["nginx", "-t", "-c", str(EXAMPLES / "nginx.conf"), "-g", f"pid {tmp_path}/p;"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("balancer", BALANCERS, indirect=True)
def test_load_balancer_spreads_clients_and_streams_pass_through_exactly(
    balancer: tuple[int, list[RunningServer]],
) -> None:
    front, _ = balancer
    streams = {
        seed: b"".join(
            b"%d\r\n" % value
            for value in random_integers(COUNT, seed=seed).pipe(ops.to_list()).run()
        )
        for seed in SEEDS
    }
    served = []
    for _ in range(6):
        with socket.create_connection(("127.0.0.1", front), timeout=10) as sock:
            read_prompt(sock)
            sock.sendall(b"%d\n" % COUNT)
            data = read_until_closed(sock)
        served += [seed for seed, stream in streams.items() if data == stream]
    assert len(served) == 6  # every stream came through whole and exact
    assert set(served) == set(SEEDS)  # from both servers


@pytest.mark.parametrize("name", ["haproxy.cfg", "nginx.conf"])
def test_load_balancer_deployment_page_shows_the_example_config_as_shipped(name: str) -> None:
    lines = (EXAMPLES / name).read_text().splitlines()
    while lines[0].startswith("#"):
        lines.pop(0)  # the header comment says how to check it; the page says so too
    page = (EXAMPLES.parent.parent / "docs" / "deployment.md").read_text()
    assert "\n".join(lines) in page
