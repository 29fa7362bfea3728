"""rxrand.net.kernel: what the kernel still holds for a TCP socket, and its low-water mark."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

import rxrand.net.kernel
from rxrand.net import NOTSENT_LOWAT
from rxrand.net.kernel import (
    KernelGauge,
    acked_bytes,
    configure_stream_socket,
    lift_notsent_lowat,
    make_kernel_aware,
    unsent_bytes,
)

from .test_socket_observer import tcp_pair

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux kernel queries"),
]


def _fill(sock: socket.socket) -> int:
    sock.setblocking(False)
    written = 0
    try:
        while True:
            written += sock.send(b"x" * 65536)
    except BlockingIOError:
        return written


def test_kernel_unsent_bytes_is_what_the_peer_has_not_taken() -> None:
    with tcp_pair() as (server, client):
        assert unsent_bytes(server) == 0
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        written = _fill(server)
        time.sleep(0.05)
        unsent = unsent_bytes(server)
        assert unsent is not None
        assert 0 < unsent <= written
        client.setblocking(False)
        drained = 0
        deadline = time.monotonic() + 5
        while unsent_bytes(server) and time.monotonic() < deadline:
            try:
                drained += len(client.recv(1 << 20))
            except BlockingIOError:
                time.sleep(0.001)
        assert unsent_bytes(server) == 0
        assert drained <= written


def test_kernel_unsent_bytes_is_none_for_a_socket_it_cannot_query() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        a.close()
        assert unsent_bytes(a) is None  # a closed socket: the ioctl fails, no exception


def test_kernel_configure_sets_nodelay_and_the_low_water_mark_then_lift_raises_it() -> None:
    with tcp_pair() as (server, _client):
        assert configure_stream_socket(server) is True
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        lowat = socket.TCP_NOTSENT_LOWAT  # type: ignore[attr-defined]
        assert server.getsockopt(socket.IPPROTO_TCP, lowat) == NOTSENT_LOWAT
        lift_notsent_lowat(server)
        assert server.getsockopt(socket.IPPROTO_TCP, lowat) > 1 << 30


def test_kernel_make_kernel_aware_says_whether_the_queue_can_be_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tcp_pair() as (server, _client):
        assert make_kernel_aware(server) is True
        monkeypatch.setattr(rxrand.net.kernel, "fcntl", None)
        assert make_kernel_aware(server) is False


def test_kernel_acked_bytes_counts_what_the_client_acknowledged_with_fallbacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The idle clock's progress: TCP_INFO, else SIOCOUTQ, else what the kernel accepted."""
    with tcp_pair() as (server, _client):
        server.setblocking(False)
        written = 0
        try:
            while True:
                written += server.send(b"x" * 65536)
        except BlockingIOError:
            pass
        time.sleep(0.05)  # acknowledgements come back
        exact = acked_bytes(server, written)
        assert 0 < exact < written  # the client read nothing: part is still unacknowledged
        monkeypatch.setattr(rxrand.net.kernel, "_TCP_INFO", None)
        assert acked_bytes(server, written) == exact  # written - SIOCOUTQ
        monkeypatch.setattr(rxrand.net.kernel, "fcntl", None)
        assert acked_bytes(server, written) == written  # the portable approximation


def test_kernel_import_rxrand_works_without_fcntl() -> None:
    """The Rx core is portable; only the kernel queries need POSIX, and they degrade."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name in ('fcntl', 'termios'):\n"
        "            raise ImportError('no ' + name + ' here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.modules.pop('fcntl', None)\n"
        "import rxrand, rxrand.server\n"
        "import reactivex.operators as ops\n"
        "assert 'fcntl' not in sys.modules\n"
        "assert rxrand.random_integers(3, seed=1).pipe(ops.count()).run() == 3\n"
        "import socket\n"
        "a, b = socket.socketpair()\n"
        "assert rxrand.net.unsent_bytes(a) is None\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


@pytest.mark.skipif(not hasattr(socket, "TCP_NOTSENT_LOWAT"), reason="no TCP_NOTSENT_LOWAT here")
def test_kernel_gauge_moves_the_mark_and_reads_unsent_bytes_only_when_aware() -> None:
    with tcp_pair() as (server, _):
        gauge = KernelGauge(server, configure_stream_socket(server))
        assert gauge.unsent() == 0
        gauge.follow(4 * NOTSENT_LOWAT)
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT) == 4 * NOTSENT_LOWAT
        assert KernelGauge(server, aware=False).unsent() is None
