"""Batch encoders: by table, vectorised for any range, per item; chosen by what comes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rxrand.net import INT_LINES, IntLines, LineTable, encode_int_array, encode_int_line
from rxrand.net.encode import PerItem, batch_encoder

INT64 = np.iinfo(np.int64)


def reference(values: list[int]) -> bytes:
    return b"".join(b"%d\r\n" % value for value in values)


@given(arrays(np.int64, st.integers(1, 300), elements=st.integers(INT64.min, INT64.max)))
def test_encode_vectorised_matches_the_format_for_any_int64(values: np.ndarray) -> None:
    data, largest = encode_int_array(values)
    assert data == reference(values.tolist())
    assert largest >= max(len(b"%d\r\n" % v) for v in values.tolist())


def test_encode_vectorised_edges() -> None:
    edges = [INT64.min, INT64.min + 1, -(10**18), -10, -9, -1, 0, 1, 9, 10, 99, 100, INT64.max]
    assert encode_int_array(np.array(edges, dtype=np.int64))[0] == reference(edges)
    big = np.array([0, 2**64 - 1, 10**19], dtype=np.uint64)
    assert encode_int_array(big)[0] == reference([0, 2**64 - 1, 10**19])


@pytest.mark.parametrize(("low", "high"), [(0, 10_000), (-5, 5), (10**12, 10**12 + 100)])
def test_encode_int_lines_for_a_range_uses_a_table_when_narrow(low: int, high: int) -> None:
    encoder = IntLines(low, high)
    assert encoder.table is not None
    values = np.random.default_rng(1).integers(low, high, 1000, endpoint=True)
    assert encoder.encode_batch(values)[0] == reference(values.tolist())


def test_encode_any_range_gets_the_bulk_path_without_a_table() -> None:
    """Finding 7 / issue: any [low, high] is encoded in bulk, not only [0, 10000]."""
    encoder = IntLines(0, 10**9)
    assert encoder.table is None
    values = np.random.default_rng(2).integers(0, 10**9, 5000, endpoint=True)
    assert encoder.encode_batch(values)[0] == reference(values.tolist())


def test_encode_int_lines_takes_lists_and_odd_items_like_the_per_item_encoder() -> None:
    for batch in ([1, 2, 10_000], [2**70, 1], [True, 2], [-3, 4]):
        assert INT_LINES.encode_batch(batch)[0] == b"".join(map(encode_int_line, batch))
    for bad in (["x"], [1.5, 2.0]):
        with pytest.raises(TypeError):
            INT_LINES.encode_batch(bad)


def test_encode_chosen_by_type_not_identity() -> None:
    assert batch_encoder(encode_int_line) is INT_LINES
    custom = IntLines(1, 6)
    assert batch_encoder(custom) is custom
    per_item = batch_encoder(lambda v: b"<%d>" % v)
    assert isinstance(per_item, PerItem)
    assert per_item.encode_batch(np.array([1, 22])) == (b"<1><22>", 4)


def test_encode_table_cache_is_bounded_and_wide_ranges_get_no_table() -> None:
    """Finding 6: at most 8 tables kept, none built for more than 16,384 values."""
    assert LineTable.for_range(0, 1 << 20) is None
    for low in range(20):
        LineTable.for_range(low, low + 100)
    assert LineTable.for_range.cache_info().currsize <= 8  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "values",
    [[0, 10_001], [10_000, 10_001, 5], [2**40, 3], [-1, 10_000], [0, -(2**62)]],
)
def test_encode_int_lines_values_outside_the_table_are_encoded_exactly(values: list[int]) -> None:
    data, width = INT_LINES.encode_batch(np.array(values, dtype=np.int64))
    assert data == b"".join(b"%d\r\n" % v for v in values)
    assert width >= max(len(b"%d\r\n" % v) for v in values)
