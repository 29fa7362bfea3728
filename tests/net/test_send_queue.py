"""rxrand.net.send_queue: bytes waiting for the kernel, sans I/O (no socket here)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxrand.net.send_queue import BUFFER_SIZES, SEND_BUFFER_BYTES, SendQueue


def drain(queue: SendQueue, per_send: int) -> bytes:
    """What a kernel taking at most ``per_send`` bytes a send would receive, in order."""
    out = bytearray()
    while not queue.empty:
        head = queue.head()
        taken = bytes(head[:per_send])
        out += taken
        queue.consumed(len(taken))
    return bytes(out)


@settings(max_examples=60, deadline=None)
@given(
    writes=st.lists(st.integers(1, 3 * SEND_BUFFER_BYTES), min_size=1, max_size=8),
    per_send=st.integers(509, 2 * SEND_BUFFER_BYTES),
)
def test_send_queue_gives_every_byte_in_order_whatever_the_kernel_takes(
    writes: list[int], per_send: int
) -> None:
    queue = SendQueue()
    expected = b"".join(bytes([65 + index % 26]) * size for index, size in enumerate(writes))
    for index, size in enumerate(writes):
        queue.keep(bytes([65 + index % 26]) * size)
    assert queue.pending == len(expected)
    assert queue.capacity <= SEND_BUFFER_BYTES
    assert drain(queue, per_send) == expected
    assert queue.pending == 0


def test_send_queue_reuses_its_buffer_across_cycles() -> None:
    queue = SendQueue()
    queue.keep(b"x" * 1000)
    head = queue.head()
    assert isinstance(head, memoryview)
    buffer = head.obj
    queue.consumed(1000)
    queue.keep(b"y" * 1000)
    again = queue.head()
    assert isinstance(again, memoryview)
    assert again.obj is buffer  # no allocation per write cycle
    assert queue.capacity == BUFFER_SIZES[0]


def test_send_queue_grows_one_size_at_a_time_and_keeps_huge_writes_aside() -> None:
    queue = SendQueue()
    capacities = []
    for size in (10_000, 10_000, 30_000, 100_000):
        queue.keep(b"z" * size)
        capacities.append(queue.capacity)
    assert capacities == [BUFFER_SIZES[0], BUFFER_SIZES[1], BUFFER_SIZES[2], BUFFER_SIZES[2]]
    assert queue.max_held == 150_000


@pytest.mark.parametrize(
    ("queued", "line_open", "kept"),
    [
        (b"34\r\n56\r\n", False, b""),  # the kernel ended on a line end: drop it all
        (b"34\r\n56\r\n", True, b"34\r\n"),  # the rest of the begun line, and no more
        (b"4", True, b"4"),  # no line end queued: all of it belongs to the begun line
    ],
)
def test_send_queue_finish_line_keeps_only_the_rest_of_a_begun_line(
    queued: bytes, line_open: bool, kept: bytes
) -> None:
    queue = SendQueue()
    queue.keep(queued)
    queue.finish_line(line_open)
    assert drain(queue, 1 << 20) == kept


def test_send_queue_finish_line_reaches_into_writes_kept_aside() -> None:
    queue = SendQueue()
    queue.keep(b"1" * (SEND_BUFFER_BYTES + 10) + b"\r\n99\r\n")  # too big for the buffer
    queue.finish_line(True)
    assert drain(queue, 1 << 20) == b"1" * (SEND_BUFFER_BYTES + 10) + b"\r\n"


def test_send_queue_release_drops_everything_and_the_buffer() -> None:
    queue = SendQueue()
    queue.keep(b"x" * 100)
    queue.release()
    assert queue.empty
    assert queue.capacity == 0
