"""rxrand.net.hangup: a hang-up is noticed without reading the connection's input."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys

import pytest

from rxrand.net.hangup import HangupWatcher

from .test_socket_observer import tcp_pair

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(__import__("select"), "epoll"), reason="needs select.epoll"),
]


def _watch_until(client_action: str) -> tuple[list[str], bytes]:
    async def scenario() -> tuple[list[str], bytes]:
        loop = asyncio.get_running_loop()
        watcher = HangupWatcher.create(loop)
        assert watcher is not None
        seen: list[str] = []
        with tcp_pair() as (server, client):
            client.sendall(b"unread input")
            watcher.watch(server.fileno(), lambda: seen.append("hangup"))
            await asyncio.sleep(0.05)
            assert seen == []  # input waiting is not a hang-up
            if client_action == "reset":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
            else:
                client.shutdown(socket.SHUT_WR)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            try:
                unread = server.recv(100)
            except ConnectionResetError:
                unread = b"(reset)"
            watcher.close()
        return seen, unread

    return asyncio.run(scenario())


def test_hangup_watcher_calls_back_once_when_the_client_resets() -> None:
    seen, _ = _watch_until("reset")
    assert seen == ["hangup"]


def test_hangup_watcher_half_close_is_no_hangup_and_nothing_is_read() -> None:
    seen, unread = _watch_until("shutdown")
    assert seen == []  # the client only said it sends no more: the stream goes on
    assert unread == b"unread input"  # the watcher read nothing


def test_hangup_watcher_unwatched_socket_is_forgotten() -> None:
    async def scenario() -> list[str]:
        watcher = HangupWatcher.create(asyncio.get_running_loop())
        assert watcher is not None
        seen: list[str] = []
        with tcp_pair() as (server, client):
            watcher.watch(server.fileno(), lambda: seen.append("hangup"))
            watcher.unwatch(server.fileno())
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            await asyncio.sleep(0.1)
        watcher.close()
        return seen

    assert asyncio.run(scenario()) == []


def test_hangup_watcher_is_none_without_epoll(monkeypatch: pytest.MonkeyPatch) -> None:
    import rxrand.net.hangup

    monkeypatch.delattr(rxrand.net.hangup.select, "epoll")

    async def scenario() -> object:
        return HangupWatcher.create(asyncio.get_running_loop())

    assert asyncio.run(scenario()) is None
    assert sys.modules["select"] is rxrand.net.hangup.select
