"""Table encoding of integer lines, for the fused path.

On the fused path (see :mod:`rxrand.core.fusion`) integers reach the socket Observer as
numpy arrays; :class:`LineTable` turns a whole array into ``b"%d\\r\\n"``
lines at C speed.
"""

from __future__ import annotations

import functools
from typing import Any, Final, final

import numpy as np

__all__ = ["LineTable"]

#: Largest range that gets an encoding table (the default [0, 10000] has 10,001).
#: Building one takes ~2 ms on the loop; wider ranges are encoded arithmetically
#: (rxrand.net.encode.encode_int_array), never by a table built on the hot path.
_MAX_TABLE_VALUES: Final = 1 << 14
#: Tables kept at once (each at most 16,384 lines of <= 22 bytes: 352 KiB).
_TABLES_CACHED: Final = 8

_IntArray = np.ndarray[Any, np.dtype[np.int64]]


@final
class LineTable:
    """Encodes arrays of integers as ``b"%d\\r\\n"`` lines, by table lookup.

    Every line of the range is laid out in a fixed-width ``S{w}`` array padded
    with NUL bytes; encoding is one ``take`` and one ``translate`` that drops
    the padding, both at C speed (about 10 ns an integer here, against ~90 ns
    for ``b"".join`` over a table of bytes).
    """

    __slots__ = ("_low", "_table", "width")

    def __init__(self, low: int, high: int) -> None:
        lines = [b"%d\r\n" % value for value in range(low, high + 1)]
        width = max(map(len, lines))
        table: np.ndarray[Any, Any] = np.array(lines, dtype=f"S{width}")
        if width <= 8:
            # Rows of exactly 8 bytes, taken as one uint64 each: numpy's take copies a
            # machine word per item instead of an odd-sized record (about 10 % faster).
            table = np.array(lines, dtype="S8").view(np.uint64)
        self._table = table
        #: The longest encoded line, in bytes.
        self.width = width
        self._low = low

    @staticmethod
    @functools.lru_cache(maxsize=_TABLES_CACHED)
    def for_range(low: int, high: int) -> LineTable | None:
        """A (shared) table for [low, high], or ``None`` if the range is too wide for one."""
        if high - low + 1 > _MAX_TABLE_VALUES:
            return None
        return LineTable(low, high)

    def encode(self, values: _IntArray) -> bytes:
        if self._low:
            # In int64: the offset of a narrow dtype's value may not fit that dtype.
            values = values.astype(np.int64) - self._low
        encoded: bytes = self._table.take(values).tobytes()
        return encoded.translate(None, b"\0")
