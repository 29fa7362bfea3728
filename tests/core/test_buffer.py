"""rxrand.core.buffer: the bounded buffer of the push fallback, and its overflow policies."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxrand import BufferOverflowError, Overflow
from rxrand.core import BoundedBuffer

operations = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.integers(0, 5)),  # (offer, awaited)
        st.tuples(st.just("take"), st.integers(0, 6)),
    ),
    max_size=60,
)


def model_offer(
    items: deque[int], value: int, capacity: int, awaited: int, overflow: Overflow
) -> tuple[bool, int | None]:
    """(overflowed, dropped value) for one offer, as the policy documents it."""
    if len(items) < capacity + awaited:
        items.append(value)
        return False, None
    if overflow is Overflow.ERROR:
        return True, None
    if overflow is Overflow.DROP_OLDEST:
        lost = items.popleft()
        items.append(value)
        return False, lost
    if overflow is Overflow.DROP_NEWEST:
        return False, value
    lost = items[-1]
    items[-1] = value
    return False, lost


@given(
    ops=operations,
    capacity=st.integers(1, 4),
    overflow=st.sampled_from(list(Overflow)),
)
def test_buffer_follows_its_policy_and_grows_only_within_capacity_plus_awaited(
    ops: list[tuple[str, int]], capacity: int, overflow: Overflow
) -> None:
    dropped: list[int] = []
    buffer = BoundedBuffer[int](capacity, overflow, dropped.append)
    model: deque[int] = deque()
    model_dropped: list[int] = []
    value = 0
    for op, n in ops:
        if op == "offer":
            before = len(buffer)
            error = buffer.offer(value, awaited=n)
            overflowed, lost = model_offer(model, value, capacity, n, overflow)
            assert (error is not None) == overflowed
            if error is not None:
                assert isinstance(error, BufferOverflowError)
                assert error.capacity == capacity
            if lost is not None:
                model_dropped.append(lost)
            assert len(buffer) == before or len(buffer) <= capacity + n  # grows only within
            value += 1
        else:
            assert buffer.take(n) == [model.popleft() for _ in range(min(n, len(model)))]
        assert len(buffer) == len(model)
    assert dropped == model_dropped
    assert buffer.dropped == len(model_dropped)


def test_buffer_offer_all_stops_at_the_first_overflow() -> None:
    buffer = BoundedBuffer[int](2, Overflow.ERROR)
    error = buffer.offer_all(range(5))
    assert isinstance(error, BufferOverflowError)
    assert buffer.take(10) == [0, 1]


def test_buffer_awaited_items_do_not_count_against_the_capacity() -> None:
    buffer = BoundedBuffer[int](1, Overflow.ERROR)
    assert buffer.offer_all(range(4), awaited=3) is None
    assert buffer.offer(4, awaited=3) is not None
    assert len(buffer) == 4


def test_buffer_clear_empties_it_and_keeps_the_drop_count() -> None:
    buffer = BoundedBuffer[int](1, Overflow.DROP_NEWEST)
    buffer.offer_all([1, 2, 3])
    buffer.clear()
    assert len(buffer) == 0
    assert buffer.dropped == 2


@pytest.mark.parametrize("overflow", list(Overflow))
def test_buffer_overflow_values_are_documented_strings(overflow: Overflow) -> None:
    assert Overflow(overflow.value) is overflow
    assert overflow.value == overflow.name.lower()
