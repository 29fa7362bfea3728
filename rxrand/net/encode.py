"""Encoders: items to bytes, a batch at a time, chosen by what the batch is.

Rule 1: no I/O here. The socket writer hands a batch (a numpy int array from
the fused path, or a list of items) to a :class:`BatchEncoder` and gets the
bytes and the size of the largest encoded item back (the kernel window sizes
its requests by it).

* :data:`INT_LINES` encodes integers as ``b"%d\\r\\n"``: numpy integer arrays
  (and lists of ints that fit in int64) by table for narrow ranges
  (:class:`~rxrand.LineTable`, about 5 ns an integer) and by vectorised digit
  arithmetic for any other range (about 20 ns an integer for 5 digits), never
  one Python call per integer;
* any other callable is applied per item (:class:`PerItem`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol, TypeVar, cast, final, runtime_checkable

import numpy as np

from .line_table import LineTable
from .wire import encode_int_line

__all__ = [
    "INT_LINES",
    "Batch",
    "BatchEncoder",
    "IntLines",
    "PerItem",
    "batch_encoder",
    "encode_int_array",
]

_T = TypeVar("_T")
_T_in = TypeVar("_T_in", contravariant=True)

_IntArray = np.ndarray[Any, np.dtype[np.integer[Any]]]
#: A batch: a sequence of items, or a numpy array of them (the fused path).
Batch = Sequence[_T] | np.ndarray[Any, Any]

#: 10**1 .. 10**19: the number of digits of m is 1 + how many of these are <= m.
_POW10: Final = np.array([10**k for k in range(1, 20)], dtype=np.uint64)
_POW10_SIGNED: Final = _POW10[:18].astype(np.int64)
_DEFAULT_LOW: Final = 0
_DEFAULT_HIGH: Final = 10_000


@runtime_checkable
class BatchEncoder(Protocol[_T_in]):
    """Encodes a non-empty batch of items at once."""

    def encode_batch(self, batch: Batch[_T_in]) -> tuple[bytes, int]:
        """The encoded bytes, and the length of the longest encoded item (an upper bound)."""
        ...


def encode_int_array(values: _IntArray) -> tuple[bytes, int]:
    """``b"%d\\r\\n"`` for every integer of a numpy array, vectorised, for any int64/uint64.

    Lines are laid out right-aligned in a fixed-width matrix padded with NUL
    bytes, one digit column at a time, then the padding is dropped with one
    ``translate``: a handful of numpy passes per digit, no Python per item.
    """
    count = len(values)
    negative: np.ndarray[Any, np.dtype[np.bool_]] | None = None
    magnitude: np.ndarray[Any, Any]
    if values.dtype.kind == "u":
        magnitude = values.astype(np.uint64, copy=False)
        digits = np.searchsorted(_POW10, magnitude, side="right") + 1
    else:
        signed = values.astype(np.int64, copy=False)
        below = signed < 0
        if below.any():
            negative = below
            # Two's complement negation in uint64: right even for -2**63.
            unsigned = signed.astype(np.uint64)
            magnitude = np.where(below, ~unsigned + np.uint64(1), unsigned)
            digits = np.searchsorted(_POW10, magnitude, side="right") + 1
        else:
            magnitude = signed
            digits = np.searchsorted(_POW10_SIGNED, magnitude, side="right") + 1
    most = int(digits.max())
    sign = 0 if negative is None else 1
    width = most + sign + 2
    out = np.zeros((count, width), dtype=np.uint8)
    out[:, -2] = 0x0D
    out[:, -1] = 0x0A
    rest = magnitude.copy()
    for place in range(most):
        digit = (rest % 10).astype(np.uint8)
        digit += 0x30
        if place:
            digit[digits <= place] = 0  # no leading zeros: padding
        out[:, width - 3 - place] = digit
        rest //= 10
    if negative is not None:
        rows = np.nonzero(negative)[0]
        out[rows, width - 3 - digits[rows]] = 0x2D
    return out.tobytes().translate(None, b"\0"), width


@final
class IntLines:
    """Integers as ``b"%d\\r\\n"`` lines: callable per item, and a batch at a time.

    Args:
        low: With ``high``, the range the integers are known to be in: a
            narrow one gets a (shared, bounded) table. Without, the default
            range [0, 10000] gets the table and anything else is vectorised.
        high: See ``low``.
    """

    __slots__ = ("_high", "_low", "_table")

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        if low is None or high is None:
            low, high = _DEFAULT_LOW, _DEFAULT_HIGH
        self._low = low
        self._high = high
        self._table = LineTable.for_range(low, high)

    @property
    def table(self) -> LineTable | None:
        return self._table

    def __call__(self, value: int) -> bytes:
        return encode_int_line(value)

    def encode_batch(self, batch: Batch[int]) -> tuple[bytes, int]:
        if isinstance(batch, np.ndarray):
            array: np.ndarray[Any, Any] = batch
        else:
            try:
                array = np.array(batch)
            except (OverflowError, ValueError):
                return _encode_each(encode_int_line, batch)
        if array.dtype.kind not in "iu" or array.ndim != 1:
            # Floats, bools, big ints, anything else: exactly what the per-item encoder does.
            return _encode_each(encode_int_line, batch)
        table = self._table
        if table is not None and array.min() >= self._low:
            # One reduction, not two: a value above the range is an index past the table's
            # end, which numpy's take refuses (its default mode is "raise").
            try:
                return table.encode(array), table.width
            except IndexError:
                pass
        return encode_int_array(array)


@final
class PerItem(BatchEncoder[_T]):
    """A per-item encoder (``Callable[[T], bytes]``) applied to each item of a batch."""

    __slots__ = ("_encode",)

    def __init__(self, encode: Callable[[_T], bytes]) -> None:
        self._encode = encode

    def encode_batch(self, batch: Batch[_T]) -> tuple[bytes, int]:
        return _encode_each(self._encode, batch)


def _encode_each(encode: Callable[[Any], bytes], batch: Batch[Any]) -> tuple[bytes, int]:
    items = batch.tolist() if isinstance(batch, np.ndarray) else batch
    parts = list(map(encode, items))
    return b"".join(parts), max(map(len, parts), default=0)


INT_LINES: Final = IntLines()
"""The default encoder: integers as ``b"%d\r\n"``."""


def batch_encoder(encoder: Callable[[_T], bytes] | BatchEncoder[_T]) -> BatchEncoder[_T]:
    """The bulk form of ``encoder``: itself if it has one, :data:`INT_LINES` for
    :func:`~rxrand.encode_int_line`, else :class:`PerItem`."""
    if encoder is encode_int_line:
        return INT_LINES  # type: ignore[return-value]
    # What isinstance(encoder, BatchEncoder) checks, without the runtime Protocol
    # machinery (~6 us a call, timed with timeit; once per connection on the server).
    if callable(getattr(encoder, "encode_batch", None)):
        return cast(BatchEncoder[_T], encoder)
    return PerItem(cast(Callable[[_T], bytes], encoder))
