"""One connection's stream: the writer slot handed over and back, its end as protocol events."""

from __future__ import annotations

import asyncio
import socket

import pytest
import reactivex
from reactivex import Observable

from rxrand import ConnectionLost, random_integers
from rxrand.net import Sender
from rxrand.net.connection_stream import ConnectionStream
from rxrand.net.kernel import make_kernel_aware
from rxrand.net.protocol import ConnectionLostEvent, Event, StreamEnded
from rxrand.net.sender import WriterBusyError

from ..conftest import tcp_pair

pytestmark = pytest.mark.timeout(60)


def run_stream(source: Observable[int]) -> tuple[list[Event], bytes]:
    async def scenario() -> tuple[list[Event], bytes]:
        loop = asyncio.get_running_loop()
        events: list[Event] = []
        with tcp_pair() as (server, client):
            sender = Sender(server, loop)
            stream = ConnectionStream(
                server, sender, loop, on_drained=lambda: None, on_event=events.append
            )
            stream.configured(make_kernel_aware(server))
            stream.start(source)
            for _ in range(200):
                if events:
                    break
                await asyncio.sleep(0.01)
            server.shutdown(socket.SHUT_WR)
            client.settimeout(5)
            data = b""
            while chunk := client.recv(65536):
                data += chunk
            return events, data

    return asyncio.run(scenario())


def test_connection_stream_completed_is_stream_ended_without_error() -> None:
    events, data = run_stream(random_integers(1000, seed=3))
    assert events == [StreamEnded()]
    assert data.count(b"\r\n") == 1000


def test_connection_stream_failed_is_stream_ended_with_the_error() -> None:
    events, _ = run_stream(reactivex.throw(ValueError("bad")))
    assert events == [StreamEnded("ValueError: bad")]


def test_connection_stream_lost_connection_is_a_connection_lost_event() -> None:
    events, _ = run_stream(reactivex.throw(ConnectionLost("reset by peer")))
    assert events == [ConnectionLostEvent("reset by peer")]


def test_connection_stream_holds_the_writer_slot_for_the_connection_between_streams() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with tcp_pair() as (server, _):
            sender = Sender(server, loop)
            stream = ConnectionStream(
                server, sender, loop, on_drained=lambda: None, on_event=lambda _: None
            )
            with pytest.raises(WriterBusyError):
                sender.claim(lambda: None)
            stream.start(random_integers(10**6, seed=1))
            stream.stop()
            with pytest.raises(WriterBusyError):
                sender.claim(lambda: None)
            stream.close()

    asyncio.run(scenario())
