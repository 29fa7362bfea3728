"""Loop-driven pull sources under any demand: from the loop's own thread and from others."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import Observable

from rxrand import LineTooLongError, controlled, from_async_iterable, socket_lines
from rxrand.net import LineBlock, UnterminatedLineError
from rxrand.net.socket_source import _nth_true
from rxrand.testing import RecordingSubscriber

from ..conftest import loop_in_thread, on_loop, wait_until

LINES = 6000


class BulkRecorder(RecordingSubscriber[bytes]):
    """Takes batches (the bulk path); records each line, and each batch's size."""

    def __init__(self, initial: int = 0) -> None:
        super().__init__(initial=initial)
        self.batches: list[int] = []

    def on_next_batch(self, batch: Sequence[bytes]) -> None:
        assert isinstance(batch, LineBlock), type(batch)
        self.batches.append(len(batch))
        for line in batch:
            self.on_next(line)


def recorder(kind: str, initial: int = 0) -> RecordingSubscriber[bytes]:
    return BulkRecorder(initial) if kind == "bulk" else RecordingSubscriber[bytes](initial=initial)


@contextlib.contextmanager
def line_source(kind: str, count: int) -> Iterator[Observable[bytes]]:
    """``count`` lines ``b"0"``, ``b"1"``, ... from a closed peer, or from an async generator."""
    if kind in ("socket", "bulk"):
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
    kind=st.sampled_from(["socket", "bulk", "async"]),
    capacity=st.integers(min_value=1, max_value=64),
    schedule=requests,
)
def test_loop_source_never_overflows_under_any_demand(
    kind: str, capacity: int, schedule: list[tuple[str, int]]
) -> None:
    """Issue 18, item 1: request(n) granted on the loop's thread overflowed socket_lines."""
    with loop_in_thread() as loop, line_source(kind, LINES) as source:
        probe = recorder(kind)
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
            assert wait_until(
                lambda expected=expected: len(probe.values) >= expected or probe.errors, 5.0
            )
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
        assert wait_until(lambda: len(probe.values) == 10, 5.0)
        time.sleep(0.3)
        on_loop(loop, lambda: probe.request(20_000))
        assert wait_until(lambda: len(probe.values) >= 20_010 or bool(probe.errors), 5.0)
        assert not probe.errors, probe.errors
        assert len(probe.values) == 20_010
        on_loop(loop, probe.cancel)


@contextlib.contextmanager
def peer_sends(payload: bytes) -> Iterator[Observable[bytes]]:
    reader, writer = socket.socketpair()
    with reader, writer:
        writer.sendall(payload)
        writer.shutdown(socket.SHUT_WR)
        reader.setblocking(False)
        yield socket_lines(reader, unterminated=False)


def test_socket_lines_bulk_batches_are_whole_lines_within_demand() -> None:
    payload = b"".join(b"%d\r\n" % value for value in range(1000)) + b"7\n"
    with loop_in_thread() as loop, peer_sends(payload) as source:
        probe = BulkRecorder(initial=10)
        subscription = on_loop(loop, lambda: source.pipe(controlled()).subscribe(probe))
        assert subscription.fused
        assert wait_until(lambda: len(probe.values) == 10, 5.0)
        time.sleep(0.02)
        assert len(probe.values) == 10  # rule 1.1, the batch cut at the demand
        on_loop(loop, lambda: probe.request(5000))
        assert wait_until(lambda: probe.terminated, 5.0)
        probe.expect_completed()
    assert probe.values == [b"%d" % value for value in range(1000)] + [b"7"]
    assert sum(probe.batches) == 1001


@pytest.mark.parametrize("kind", ["socket", "bulk"])
def test_socket_lines_unterminated_last_line_is_a_stream_cut_short(kind: str) -> None:
    """Issue 18, item 2: ``11\\r\\n22\\r\\n33`` then FIN; ``33`` may be the start of ``3301``."""
    with loop_in_thread() as loop, peer_sends(b"11\r\n22\r\n33") as source:
        probe = recorder(kind, initial=10)
        on_loop(loop, lambda: source.pipe(controlled()).subscribe(probe))
        assert wait_until(lambda: probe.terminated, 5.0)
    error = probe.expect_error(UnterminatedLineError, match=r"^the peer closed inside a line")
    assert isinstance(error, UnterminatedLineError)
    assert error.tail == b"33"
    assert probe.values == [b"11", b"22"]


def test_socket_lines_bulk_line_too_long_after_the_whole_lines() -> None:
    with loop_in_thread() as loop, peer_sends(b"1\r\n" + b"7" * 2000) as source:
        probe = BulkRecorder(initial=10)
        on_loop(loop, lambda: source.pipe(controlled()).subscribe(probe))
        assert wait_until(lambda: probe.terminated, 5.0)
    probe.expect_error(LineTooLongError)
    assert probe.values == [b"1"]


def test_socket_lines_bulk_reads_only_against_demand() -> None:
    """With no demand left the bulk path stops reading: the peer's sends back up."""
    reader, writer = socket.socketpair()
    with reader, writer, loop_in_thread() as loop:
        reader.setblocking(False)
        writer.setblocking(False)
        probe = BulkRecorder(initial=3)
        on_loop(loop, lambda: socket_lines(reader).pipe(controlled()).subscribe(probe))
        sent = 0
        with contextlib.suppress(BlockingIOError):
            for _ in range(10_000):
                sent += writer.send(b"1\n" * 32768)
        assert wait_until(lambda: len(probe.values) == 3, 5.0)
        time.sleep(0.05)
        with contextlib.suppress(BlockingIOError):
            for _ in range(10_000):
                sent += writer.send(b"1\n" * 32768)
        assert len(probe.values) == 3
        assert sent < 64 * 1024 * 1024  # the writer was stopped, not drained
        on_loop(loop, probe.cancel)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=40_000),
    density=st.sampled_from([0.0005, 0.01, 0.15, 0.5, 1.0]),
    clustered=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    pick=st.floats(min_value=0.0, max_value=1.0),
)
def test_socket_lines_nth_line_end_is_what_flatnonzero_finds(
    size: int, density: float, clustered: bool, seed: int, pick: float
) -> None:
    """The cut of a batch at the demand: the n-th line end, found by counts and bisection."""
    rng = np.random.default_rng(seed)
    if clustered:  # the guess by density is far off: the bisection finds it
        mask = np.zeros(size, np.bool_)
        start = int(rng.integers(size))
        mask[start : start + int(rng.integers(1, 6000))] = True
    else:
        mask = rng.random(size) < density
    ends = np.flatnonzero(mask)
    if not len(ends):
        return
    for n in {1, len(ends), 1 + int(pick * (len(ends) - 1))}:
        assert _nth_true(mask, n, len(ends)) == ends[n - 1]
