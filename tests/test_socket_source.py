"""Loop-driven pull sources under any demand: from the loop's own thread and from others."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import Observable

from rxrand import controlled, from_async_iterable, socket_lines
from rxrand.testing import RecordingSubscriber

LINES = 6000


@contextlib.contextmanager
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
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
    async def run() -> Any:
        return function()

    return asyncio.run_coroutine_threadsafe(run(), loop).result(10)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


@contextlib.contextmanager
def line_source(kind: str, count: int) -> Iterator[Observable[bytes]]:
    """``count`` lines ``b"0"``, ``b"1"``, ... from a closed peer, or from an async generator."""
    if kind == "socket":
        reader, writer = socket.socketpair()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        payload = b"".join(b"%d\r\n" % value for value in range(count))
        sender = threading.Thread(target=lambda: (writer.sendall(payload), writer.close()))
        sender.start()
        reader.setblocking(False)
        try:
            yield socket_lines(reader)
        finally:
            sender.join(10)
            reader.close()
    else:

        async def generate() -> AsyncIterator[bytes]:
            for value in range(count):
                yield b"%d" % value

        yield from_async_iterable(generate())


requests = st.lists(
    st.tuples(st.sampled_from(["loop", "thread"]), st.integers(min_value=1, max_value=2500)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["socket", "async"]),
    capacity=st.integers(min_value=1, max_value=64),
    schedule=requests,
)
def test_loop_source_never_overflows_under_any_demand(
    kind: str, capacity: int, schedule: list[tuple[str, int]]
) -> None:
    """Issue 18, item 1: request(n) granted on the loop's thread overflowed socket_lines."""
    with loop_in_thread() as loop, line_source(kind, LINES) as source:
        probe = RecordingSubscriber[bytes]()
        on_loop(loop, lambda: source.pipe(controlled(capacity)).subscribe(probe))
        requested = 0
        for where, n in schedule:
            if where == "loop":
                on_loop(loop, lambda n=n: probe.request(n))
            else:
                helper = threading.Thread(target=probe.request, args=(n,))
                helper.start()
                helper.join(10)
            requested += n
            expected = min(requested, LINES)
            assert wait_for(lambda expected=expected: len(probe.values) >= expected or probe.errors)
            assert not probe.errors, probe.errors
            # Rule 1.1: never more than requested.
            assert len(probe.values) == expected
        time.sleep(0.01)
        assert len(probe.values) == min(requested, LINES)
        assert probe.values == [b"%d" % value for value in range(len(probe.values))]
        on_loop(loop, probe.cancel)


def test_socket_lines_large_request_from_the_loop_does_not_overflow() -> None:
    """The issue's reproduction: request(10), a pause, request(20000) from a coroutine."""
    with loop_in_thread() as loop, line_source("socket", 50_000) as source:
        probe = RecordingSubscriber[bytes](initial=10)
        on_loop(loop, lambda: source.pipe(controlled()).subscribe(probe))
        assert wait_for(lambda: len(probe.values) == 10)
        time.sleep(0.3)
        on_loop(loop, lambda: probe.request(20_000))
        assert wait_for(lambda: len(probe.values) >= 20_010 or bool(probe.errors))
        assert not probe.errors, probe.errors
        assert len(probe.values) == 20_010
        on_loop(loop, probe.cancel)
