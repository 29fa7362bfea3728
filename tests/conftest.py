"""Shared fixtures: a server on an ephemeral loopback port, and blocking test clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from reactivex import Observable

from rxrand.net import PROMPT
from rxrand.server import RandomIntegerServer, ServerConfig

_R = TypeVar("_R")


class RunningServer:
    """A RandomIntegerServer on its own event loop thread, bound to 127.0.0.1:0."""

    def __init__(
        self,
        config: ServerConfig,
        source: Callable[[int], Observable[int]] | None = None,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server: RandomIntegerServer = self.call(
            lambda: RandomIntegerServer(config, source=source)
        )
        self.host, self.port = self.call(self.server.start)

    def call(self, function: Callable[[], _R], timeout: float = 10.0) -> _R:
        """Run ``function`` on the server's loop and return its result."""
        future: Future[_R] = Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as error:
                future.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., RunningServer]]:
    servers: list[RunningServer] = []

    def make(
        source: Callable[[int], Observable[int]] | None = None, **options: Any
    ) -> RunningServer:
        config = ServerConfig(**{"host": "127.0.0.1", "port": 0, **options})
        server = RunningServer(config, source)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def read_until_closed(sock: socket.socket, limit: int = 1 << 30) -> bytes:
    chunks = []
    total = 0
    while total < limit:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_prompt(sock: socket.socket) -> None:
    assert read_exactly(sock, len(PROMPT)) == PROMPT


# -- helpers shared by the test modules ------------------------------------------------------


def wait_until(condition: Callable[[], object], timeout: float = 2.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.001)
    return bool(condition())


@contextlib.contextmanager
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running on a daemon thread, stopped and closed afterwards."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def on_loop(loop: asyncio.AbstractEventLoop, function: Callable[[], Any]) -> Any:
    """Call ``function`` on ``loop``'s thread and return its result."""

    async def run() -> Any:
        return function()

    return asyncio.run_coroutine_threadsafe(run(), loop).result(10)


@contextlib.contextmanager
def tcp_pair(
    *, server_sndbuf: int | None = None, client_rcvbuf: int | None = None
) -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of one loopback TCP connection, closed afterwards."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        server, _ = listener.accept()
    if server_sndbuf is not None:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, server_sndbuf)
    if client_rcvbuf is not None:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, client_rcvbuf)
    try:
        yield server, client
    finally:
        server.close()
        client.close()
